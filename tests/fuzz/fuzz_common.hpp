// What the fuzz targets share: swallowing the errors that are the expected
// answer to bad input, and reading a few pages of every block of a memory view.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "format/bytes.hpp"
#include "format/core_file.hpp"
#include "format/error.hpp"
#include "format/memory_view.hpp"

namespace fuzzing {

// pvdump::Error is the clean way to refuse input; anything else (a crash, a
// sanitizer report, another exception) is a finding.
template <class F>
void expect_clean(F&& f) {
    try {
        f();
    } catch (const pvdump::Error&) {
    }
}

// Reads the first `pages` pages of every PT_LOAD, in steps just short of a page
// so that reads straddle page ends, each `extra` bytes longer than a page.
inline void probe_memory(const pvdump::format::MemoryView& mem, const std::vector<pvdump::format::LoadSegment>& loads,
                         std::uint64_t pages, std::uint64_t step_short, std::size_t extra) {
    std::vector<std::uint8_t> buf(4096 + extra);
    for (const auto& l : loads) {
        for (std::uint64_t off = 0; off < l.memsz && off < pages * 4096; off += 4096 - step_short) {
            std::uint64_t at;
            if (pvdump::format::add_overflows(l.paddr, off, at)) break;
            if (mem.contains(at, buf.size()))
                mem.read(at, buf);
            else
                expect_clean([&] { mem.read(at, std::span<std::uint8_t>(buf.data(), extra)); });
        }
    }
}

}  // namespace fuzzing
