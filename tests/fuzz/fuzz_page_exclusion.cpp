// Fuzz target: dump levels 2..16 (analysis::PageExclusion) on guest memory
// where every byte is host-chosen: the VMCOREINFO text, the mem_section
// tables, swapper_pg_dir and its DAT tables, the struct pages. Memory is a
// 64 MiB guest that reads as zeros except where the input places bytes; the
// dump level is taken from the input too.
//
// Input: u8 dump level (mod 32), u16 (big-endian) length L, L bytes of
// VMCOREINFO text, then chunks of u16 page number (mod 16384), u16 length n,
// n bytes placed at that page (they may run on into the next pages).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "analysis/page_exclusion.hpp"
#include "format/error.hpp"
#include "fuzz/fuzz_common.hpp"
#include "fuzz/sparse_memory.hpp"

using fuzzing::expect_clean;

namespace {

constexpr std::uint64_t kPage = fuzzing::SparseMemory::kPage;
constexpr std::uint64_t kGuestSize = std::uint64_t(64) << 20;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace pvdump;
    if (size < 3) return 0;
    const unsigned level = data[0] % 32;
    const std::size_t text_len = std::min<std::size_t>(std::size_t(data[1]) << 8 | data[2], size - 3);
    const std::string text(reinterpret_cast<const char*>(data + 3), text_len);
    fuzzing::SparseMemory mem(kGuestSize);
    std::size_t at = 3 + text_len;
    while (at + 4 <= size) {
        const std::uint64_t page = (std::uint64_t(data[at]) << 8 | data[at + 1]) % (kGuestSize / kPage);
        const std::size_t n = std::min<std::size_t>(std::size_t(data[at + 2]) << 8 | data[at + 3], size - at - 4);
        mem.place(page * kPage, data + at + 4, n);
        at += 4 + n;
    }
    expect_clean([&] {
        const auto ex = analysis::PageExclusion::build(mem, text, level, kGuestSize / kPage);
        std::uint64_t n = 0;
        for (const auto& [first, end] : ex.excluded_runs()) {
            if (first >= end || end > kGuestSize / kPage) __builtin_trap();  // runs must be proper
            n += end - first;
        }
        if (n != ex.excluded_count()) __builtin_trap();  // every excluded page counted once
    });
    return 0;
}
