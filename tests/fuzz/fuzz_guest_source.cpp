// Fuzz target: what pvseal reads from the host operator's guest file. The file
// may be a plain s390x ELF vmcore (any bytes after the magic) or a raw memory
// image with RAM blocks given by --block; both parsers, the page classifier
// and the size/--block option parsers must refuse bad input with a
// pvdump::Error and never crash.
//
// Input: byte 0 picks the mode; the rest is the guest file (modes 0, 1) or an
// option string (mode 2).
//   mode 0: the rest is handed to open_guest_file as is (ELF or raw).
//   mode 1: byte 1 = CPU count, bytes 2..25 = up to 3 (start, size) pairs in
//           pages (16-bit each), the rest is a raw image.
//   mode 2: the rest is text for parse_size and parse_block.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz/fuzz_common.hpp"
#include "producer/guest_source.hpp"

using fuzzing::expect_clean;

namespace {

// The bytes as a file that open() can name (no disk involved).
struct MemFile {
    int fd = -1;
    std::string path;
    MemFile(const std::uint8_t* data, std::size_t size) {
        fd = memfd_create("fuzz-guest", MFD_CLOEXEC);
        if (fd < 0) return;
        std::size_t done = 0;
        while (done < size) {
            const ssize_t n = write(fd, data + done, size - done);
            if (n <= 0) break;
            done += std::size_t(n);
        }
        path = "/proc/self/fd/" + std::to_string(fd);
    }
    ~MemFile() {
        if (fd >= 0) close(fd);
    }
};

// Reads and classifies the first and the last few pages of every block.
void walk(const pvdump::producer::GuestSource& g) {
    using namespace pvdump::producer;
    (void)g.description();
    (void)g.cpus();
    (void)g.memory_size();
    std::vector<std::uint8_t> buf(4 * 4096);
    std::vector<PageInfo> info(4);
    for (const auto& b : g.blocks()) {
        const std::uint64_t pages = b.size / 4096;
        const std::uint64_t n = pages < 4 ? pages : 4;
        for (std::uint64_t first : {std::uint64_t(0), pages - n}) {
            g.read_pages(b.paddr + first * 4096, pvdump::format::MutableBytes(buf.data(), n * 4096),
                         std::span<PageInfo>(info.data(), n));
            g.classify_pages(b.paddr + first * 4096, std::span<PageInfo>(info.data(), n));
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace pvdump;
    using namespace pvdump::producer;
    if (size < 1) return 0;
    const std::uint8_t mode = data[0] % 3;
    ++data, --size;
    if (mode == 2) {
        const std::string text(reinterpret_cast<const char*>(data), size);
        expect_clean([&] { (void)parse_size(text); });
        expect_clean([&] { (void)parse_block(text); });
        return 0;
    }
    unsigned cpus = 1;
    std::vector<format::MemoryRange> blocks;
    if (mode == 1) {
        if (size < 26) return 0;
        cpus = data[0] % 70;
        for (int i = 0; i < 3; ++i) {
            const std::uint64_t start = (std::uint64_t(data[1 + 8 * i]) << 8 | data[2 + 8 * i]) * 4096;
            const std::uint64_t pages = std::uint64_t(data[3 + 8 * i]) << 8 | data[4 + 8 * i];
            // Byte 5..8 of each pair scale the start far up, to reach 64-bit ends.
            const std::uint64_t shift = data[5 + 8 * i] % 64;
            if (pages) blocks.push_back({shift > 40 ? start << (shift - 28) : start, pages * 4096});
        }
        data += 26, size -= 26;
    }
    MemFile file(data, size);
    if (file.fd < 0) return 0;
    expect_clean([&] {
        auto guest = mode == 0 ? open_guest_file(file.path, 2, {}, 1) : open_raw_image({file.path, cpus, blocks, 7});
        walk(*guest);
    });
    return 0;
}
