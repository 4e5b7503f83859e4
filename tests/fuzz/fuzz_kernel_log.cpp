// Fuzz target: the kernel-log reader and the VMCOREINFO finder on guest memory
// where every byte, and so every pointer, is chosen by the host (a host can
// mark any page shared and fill it). Memory is a 4 GiB guest that reads as
// zeros except where the input places bytes, so any pointer below 4 GiB
// leads somewhere readable and the reader's own limits are what stop it.
//
// Input: u16 (big-endian) length L, L bytes of VMCOREINFO text, then chunks
// of u32 page number (taken modulo 2^20), u16 length n, n bytes placed at
// that page (they may run on into the next pages).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "analysis/kernel_log.hpp"
#include "format/error.hpp"
#include "fuzz/fuzz_common.hpp"
#include "fuzz/sparse_memory.hpp"

using fuzzing::expect_clean;

namespace {

constexpr std::uint64_t kPage = fuzzing::SparseMemory::kPage;
constexpr std::uint64_t kGuestSize = std::uint64_t(1) << 32;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace pvdump;
    if (size < 2) return 0;
    const std::size_t text_len = std::min<std::size_t>(std::size_t(data[0]) << 8 | data[1], size - 2);
    const std::string text(reinterpret_cast<const char*>(data + 2), text_len);
    fuzzing::SparseMemory mem(kGuestSize);
    std::size_t at = 2 + text_len;
    while (at + 6 <= size) {
        const std::uint64_t page = (std::uint64_t(data[at]) << 24 | std::uint64_t(data[at + 1]) << 16 |
                                    std::uint64_t(data[at + 2]) << 8 | data[at + 3]) % (1u << 20);
        const std::size_t n = std::min<std::size_t>(std::size_t(data[at + 4]) << 8 | data[at + 5], size - at - 6);
        mem.place(page * kPage, data + at + 6, n);
        at += 6 + n;
    }
    std::vector<std::string> texts{text};
    if (auto found = guest::find_vmcoreinfo(mem)) texts.push_back(*found);
    for (const auto& t : texts) {
        expect_clean([&] {
            const analysis::VmcoreInfo info = analysis::VmcoreInfo::parse(t);
            const analysis::KernelLog log = analysis::read_kernel_log_detailed(mem, info);
            (void)analysis::format_kernel_log(log.records, {true, true, true, true});
        });
    }
    return 0;
}
