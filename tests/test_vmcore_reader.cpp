// VmcoreReader without FUSE: every byte it reads equals what `pvdecrypt -o`
// writes (sequential, 10,000 random reads across page, chunk and segment
// boundaries and past the end, several threads at once, a cache far smaller
// than the dump), and a dump that changes under it fails reads with
// Error(Io) while the reader keeps serving what it can.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <random>
#include <thread>

#include "decryptor/vmcore_reader.hpp"
#include "tools/cck.hpp"
#include "support/util.hpp"

using namespace pvdump;
using namespace testutil;

namespace {

format::SecretBytes cck() { return tools::load_cck(key("cck.bin")); }

std::vector<std::uint8_t> file_output(const std::string& dump, const std::string& out, bool force = false) {
    decryptor::DecryptRequest req;
    req.dump_path = dump;
    req.output_path = out;
    req.force = force;
    req.options.threads = 2;
    auto k = cck();
    decryptor::decrypt_dump(req, k.view());
    return read_file(out);
}

std::unique_ptr<decryptor::VmcoreReader> open_reader(const std::string& dump, std::uint64_t cache = 1 << 20,
                                                     unsigned threads = 2, bool force = false) {
    decryptor::ReaderOptions o;
    o.cache_bytes = cache;
    o.threads = threads;
    auto k = cck();
    return decryptor::VmcoreReader::open(dump, k.view(), force, o);
}

// Offsets worth hitting: the end of the headers, every segment's start and
// end, page and 64 KiB chunk boundaries, the end of the file.
std::vector<std::uint64_t> interesting_offsets(const std::vector<std::uint8_t>& elf) {
    std::vector<std::uint64_t> v = {0, 63, 64, elf.size() - 1, elf.size(), elf.size() + 1, elf.size() + 4096};
    const std::uint16_t phnum = std::uint16_t(elf[56] << 8 | elf[57]);
    auto be64 = [&](std::size_t at) {
        std::uint64_t x = 0;
        for (int i = 0; i < 8; ++i) x = x << 8 | elf[at + i];
        return x;
    };
    for (std::uint16_t i = 0; i < phnum; ++i) {
        const std::size_t ph = 64 + 56 * std::size_t(i);
        const std::uint64_t off = be64(ph + 8), filesz = be64(ph + 32);
        v.push_back(off);
        v.push_back(off + filesz);
        for (std::uint64_t a = off; a < off + filesz; a += 65536) v.push_back(a);
    }
    return v;
}

#if defined(PVDUMP_TEST_EMULATED)
// Under qemu-user every AES round is emulated: 10,000 reads of up to 300 KB take
// two minutes there, and the four concurrent readers' 6,000 took most of the
// test's 55 s. The native build runs all of them.
constexpr int kRandomReads = 1500;
constexpr int kConcurrentReads = 300;  // per reader
#else
constexpr int kRandomReads = 10000;
constexpr int kConcurrentReads = 1500;
#endif

// `count` reads at random offsets/lengths (a third at or next to an
// interesting offset), each compared with the file's bytes.
// read_pinned's pieces, gathered into out (which must hold `len` bytes).
std::size_t pinned_read(decryptor::VmcoreReader& r, std::uint64_t off, std::size_t len, std::uint8_t* out,
                        format::SecretBytes& fallback) {
    std::size_t gathered = 0;
    int calls = 0;
    const std::size_t n = r.read_pinned(off, len, fallback, [&](std::span<const iovec> pieces) {
        ++calls;
        for (const iovec& v : pieces) {
            std::memcpy(out + gathered, v.iov_base, v.iov_len);
            gathered += v.iov_len;
        }
    });
    if (calls != 1 || gathered != n) return ~std::size_t(0);  // fn once, with exactly the bytes counted
    return n;
}

void random_reads(decryptor::VmcoreReader& r, const std::vector<std::uint8_t>& want, unsigned seed, int count,
                  int* failures, bool pinned = false) {
    format::SecretBytes fallback;
    std::mt19937_64 rng(seed);
    const auto spots = interesting_offsets(want);
    std::vector<std::uint8_t> buf(300000);
    for (int i = 0; i < count; ++i) {
        std::uint64_t off;
        switch (rng() % 3) {
        case 0: off = spots[rng() % spots.size()] - std::min<std::uint64_t>(rng() % 5000, spots[0]); break;
        case 1: off = spots[rng() % spots.size()] + rng() % 3; break;
        default: off = rng() % (want.size() + 8192);
        }
        if (off > want.size() + 8192) off = rng() % want.size();
        const std::size_t len = rng() % 4 == 0 ? 1 + rng() % buf.size() : 1 + rng() % 20000;
        const std::size_t got = pinned ? pinned_read(r, off, len, buf.data(), fallback) : r.read(off, len, buf.data());
        const std::size_t expect = off >= want.size() ? 0 : std::min<std::uint64_t>(len, want.size() - off);
        if (got != expect || (expect && std::memcmp(buf.data(), want.data() + off, expect) != 0)) ++*failures;
    }
}

}  // namespace

TEST_CASE("VmcoreReader reads exactly what pvdecrypt -o writes: golden vectors and a 3-segment guest") {
    TempDir tmp;
    const std::string generated = tmp / "gen.pvdump";
    {
        auto r = run(bin("pvseal") + " --generate 6148K --block 0:3M --block 0x500000:2M --block 0x1000000:1028K --cck " +
                     key("cck.bin") + " -o " + generated + " --deterministic reader-test -q");
        REQUIRE(r.exit_code == 0);
    }
    for (const std::string& dump : {data("basic.pvdump"), data("overlap-osii.pvdump"), generated}) {
        CAPTURE(dump);
        const auto want = file_output(dump, tmp / "out.elf");
        std::filesystem::remove(tmp / "out.elf");
        auto r = open_reader(dump);
        REQUIRE(r->size() == want.size());
        CHECK(r->cache_bytes() == (1u << 20));

        // Sequential, in odd-sized pieces.
        std::vector<std::uint8_t> got(want.size() + 100);
        std::size_t at = 0;
        while (at < want.size()) {
            const std::size_t n = r->read(at, 77777, got.data() + at);
            REQUIRE(n > 0);
            at += n;
        }
        CHECK(at == want.size());
        CHECK(r->read(at, 100, got.data() + at) == 0);
        CHECK(std::memcmp(got.data(), want.data(), want.size()) == 0);

        int failures = 0;
        random_reads(*r, want, 1, kRandomReads, &failures);
        CHECK(failures == 0);

        // Four readers at once.
        int f[4] = {0, 0, 0, 0};
        std::vector<std::thread> readers;
        for (unsigned t = 0; t < 4; ++t) readers.emplace_back([&, t] { random_reads(*r, want, 100 + t, kConcurrentReads, &f[t]); });
        for (auto& t : readers) t.join();
        CHECK(f[0] + f[1] + f[2] + f[3] == 0);
        const auto st = r->stats();
        CHECK(st.fills + st.readahead_fills > 0);
        CHECK(st.hits > 0);
    }
}

TEST_CASE("VmcoreReader::read_pinned: the same bytes in place, and a copy when the cache cannot pin the range") {
    TempDir tmp;
    const std::string dump = data("overlap-osii.pvdump");
    const auto want = file_output(dump, tmp / "out.elf");
    auto r = open_reader(dump);  // 1 MiB: 16 slots of 64 KiB
    std::vector<std::uint8_t> got(want.size() + 100);
    format::SecretBytes fallback;

    // Sequentially in 1 MiB requests (what FUSE sends), then randomly, from 4 threads too.
    for (std::size_t at = 0; at < want.size();) {
        const std::size_t n = pinned_read(*r, at, std::min<std::size_t>(1 << 20, want.size() + 100 - at), got.data() + at,
                                          fallback);
        REQUIRE(n > 0);
        REQUIRE(n != ~std::size_t(0));
        at += n;
    }
    CHECK(std::memcmp(got.data(), want.data(), want.size()) == 0);
    CHECK(pinned_read(*r, want.size(), 10, got.data(), fallback) == 0);
    int failures = 0;
    random_reads(*r, want, 7, kRandomReads / 2, &failures, true);
    CHECK(failures == 0);
    int f[4] = {0, 0, 0, 0};
    std::vector<std::thread> readers;
    for (unsigned t = 0; t < 4; ++t) readers.emplace_back([&, t] { random_reads(*r, want, 200 + t, kConcurrentReads * 2 / 3, &f[t], true); });
    for (auto& t : readers) t.join();
    CHECK(f[0] + f[1] + f[2] + f[3] == 0);

    // 1.5 MiB of memory needs 24 chunks pinned at once, more than the 16
    // slots: it comes back copied into `fallback`, with the same bytes.
    const std::uint64_t before = r->stats().copied_reads;
    REQUIRE(want.size() > (4u << 20));
    const std::uint64_t off = 1u << 20;
    fallback = format::SecretBytes();
    REQUIRE(pinned_read(*r, off, 3u << 19, got.data(), fallback) == (3u << 19));
    CHECK(std::memcmp(got.data(), want.data() + off, 3u << 19) == 0);
    CHECK(r->stats().copied_reads == before + 1);
    CHECK(fallback.size() >= (3u << 19));
}

TEST_CASE("VmcoreReader: no read-ahead threads, and --force output of a vector with a bad page") {
    TempDir tmp;
    const auto want = file_output(data("corrupt-state-reserved.pvdump"), tmp / "out.elf", true);
    auto r = open_reader(data("corrupt-state-reserved.pvdump"), 2 << 20, 1, /*force=*/true);
    std::vector<std::uint8_t> got(want.size());
    REQUIRE(r->read(0, got.size(), got.data()) == want.size());
    CHECK(got == want);
    // Without --force the reader refuses the dump exactly as file output does.
    auto k = cck();
    try {
        decryptor::VmcoreReader::open(data("corrupt-state-reserved.pvdump"), k.view(), false, {});
        FAIL("opened a dump with an invalid page state");
    } catch (const Error& e) {
        CHECK(e.code() == ErrorCode::Verify);
        CHECK(std::string(e.what()).find("page at guest address 0x91000") != std::string::npos);
    }
}

TEST_CASE("VmcoreReader: a dump that shrinks or is modified under the reader fails reads with Error(Io)") {
    TempDir tmp;
    const auto want = file_output(data("basic.pvdump"), tmp / "out.elf");
    for (const bool shrink : {true, false}) {
        CAPTURE(shrink);
        const std::string copy = tmp / "copy.pvdump";
        std::filesystem::copy_file(data("basic.pvdump"), copy, std::filesystem::copy_options::overwrite_existing);
        auto r = open_reader(copy, 1 << 20, 0);
        std::vector<std::uint8_t> buf(8192);
        const std::uint64_t mem = want.size() - (4u << 20);  // the memory starts here
        REQUIRE(r->read(mem, 4096, buf.data()) == 4096);  // cached from now on
        if (shrink) {
            REQUIRE(truncate(copy.c_str(), 100000) == 0);
        } else {
            struct timespec ts[2] = {{0, UTIME_NOW}, {12345, 0}};
            REQUIRE(utimensat(AT_FDCWD, copy.c_str(), ts, 0) == 0);
        }
        try {
            r->read(mem + (2u << 20), 4096, buf.data());
            FAIL("read the memory of a changed dump");
        } catch (const Error& e) {
            CHECK(e.code() == ErrorCode::Io);
            CHECK(std::string(e.what()).find(copy) != std::string::npos);
            CHECK(std::string(e.what()).find(shrink ? "changed size" : "was modified") != std::string::npos);
        }
        // The headers and what is cached still read.
        REQUIRE(r->read(0, 4096, buf.data()) == 4096);
        CHECK(std::memcmp(buf.data(), want.data(), 4096) == 0);
        REQUIRE(r->read(mem, 4096, buf.data()) == 4096);
        CHECK(std::memcmp(buf.data(), want.data() + mem, 4096) == 0);
    }
}

namespace {
// Decrypts as the real cipher does; once armed, the first page it decrypts
// truncates the dump first: the file shrinks in the middle of a chunk's fill,
// after the reader's size check (the window a mapping turns into SIGBUS).
class TruncatingCipher final : public decryptor::PageCipher {
public:
    TruncatingCipher(format::Bytes key, std::atomic<bool>& armed, std::string path)
        : real_(decryptor::make_xts_page_cipher(key)), armed_(armed), path_(std::move(path)) {}
    void decrypt(const std::uint8_t tweak[16], const std::uint8_t* in, std::uint8_t* out) override {
        if (armed_.exchange(false)) REQUIRE(truncate(path_.c_str(), 100000) == 0);
        real_->decrypt(tweak, in, out);
    }

private:
    std::unique_ptr<decryptor::PageCipher> real_;
    std::atomic<bool>& armed_;
    std::string path_;
};
}  // namespace

TEST_CASE("VmcoreReader: a dump truncated in the middle of a fill fails the next read with Error(Io), no SIGBUS") {
    // pv_mem_meta lies after the memory in the file: with the components read
    // from the mapping, the pages after the truncating one raised SIGBUS.
    TempDir tmp;
    const auto want = file_output(data("basic.pvdump"), tmp / "out.elf");
    const std::string copy = tmp / "copy.pvdump";
    std::filesystem::copy_file(data("basic.pvdump"), copy);
    std::atomic<bool> armed{false};
    decryptor::SealedDump dump = decryptor::SealedDump::open(copy);
    dump.set_cipher([&](format::Bytes key) { return std::make_unique<TruncatingCipher>(key, armed, copy); });
    auto k = cck();
    decryptor::CheckedDump checked = decryptor::check_dump(dump, copy, k.view(), false);
    decryptor::ReaderOptions o;
    o.cache_bytes = 1 << 20;
    o.threads = 1;
    decryptor::VmcoreReader r(std::move(dump), std::move(checked), o);
    const std::uint64_t mem = want.size() - (4u << 20);  // the memory starts here
    std::vector<std::uint8_t> buf(4u << 20);
    armed = true;
    try {
        r.read(mem, buf.size(), buf.data());
        FAIL("read all the memory of a dump truncated under the reader");
    } catch (const Error& e) {
        CHECK(e.code() == ErrorCode::Io);
        CHECK(std::string(e.what()).find(copy) != std::string::npos);
        CHECK(std::string(e.what()).find("changed size") != std::string::npos);
    }
    CHECK_FALSE(armed.load());
    CHECK(std::filesystem::file_size(copy) == 100000);
    // The chunk read before the truncation was complete and is served; the
    // headers still read; the rest of the memory keeps failing with Error(Io).
    REQUIRE(r.read(mem, 65536, buf.data()) == 65536);
    CHECK(std::memcmp(buf.data(), want.data() + mem, 65536) == 0);
    REQUIRE(r.read(0, 4096, buf.data()) == 4096);
    CHECK(std::memcmp(buf.data(), want.data(), 4096) == 0);
    CHECK_THROWS_AS(r.read(mem + (2u << 20), 4096, buf.data()), Error);
}

TEST_CASE("VmcoreReader refuses a cache under 1 MiB") {
    auto k = cck();
    decryptor::ReaderOptions o;
    o.cache_bytes = 4096;
    try {
        decryptor::VmcoreReader::open(data("basic.pvdump"), k.view(), false, o);
        FAIL("accepted a 4 KiB cache");
    } catch (const Error& e) {
        CHECK(e.code() == ErrorCode::InvalidArgument);
    }
}
