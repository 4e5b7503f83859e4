// The plain s390x ELF vmcore that crash, gdb and drgn open (docs/format.md §7):
// ELF header, PT_NOTE then one PT_LOAD per memory range (p_align 4096, RWX),
// notes (PRPSINFO; per CPU PRSTATUS, FPREGSET, TIMER, TODCMP, TODPREG, CTRS,
// PREFIX, VXRS_LOW, VXRS_HIGH, GS_CB; VMCOREINFO), then memory, page-aligned,
// so that zero pages can stay holes.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "format/pv.hpp"

namespace pvdump::format {

struct MemoryRange {
    std::uint64_t paddr;
    std::uint64_t size;
};

class VmcoreLayout {
public:
    VmcoreLayout(const std::vector<CpuState>& cpus, const std::vector<MemoryRange>& ranges,
                 const std::optional<std::string>& vmcoreinfo);

    // Everything before the first memory byte: headers, notes, padding.
    const std::vector<std::uint8_t>& head() const { return head_; }
    // File offset of range i's first byte.
    std::uint64_t range_offset(std::size_t i) const { return offsets_.at(i); }
    const std::vector<MemoryRange>& ranges() const { return ranges_; }
    std::uint64_t file_size() const { return file_size_; }

private:
    std::vector<MemoryRange> ranges_;
    std::vector<std::uint64_t> offsets_;
    std::vector<std::uint8_t> head_;
    std::uint64_t file_size_ = 0;
};

// Encodes notes (name padded to 4, desc padded to 4) into one area.
std::vector<std::uint8_t> encode_notes(const std::vector<NoteBlob>& notes);
}  // namespace pvdump::format
