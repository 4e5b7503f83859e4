// The plain s390x ELF vmcore that crash, gdb and drgn open (FORMAT.md §8):
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
// ELF64 big-endian header and program header encoders, shared with the producer.
struct ElfHeaderFields {
    std::uint64_t phoff = 0, shoff = 0;
    std::uint16_t ehsize = 64, phnum = 0, shnum = 0, shstrndx = 0;
};
void encode_elf_header(std::uint8_t out[64], const ElfHeaderFields& f);
struct ProgramHeaderFields {
    std::uint32_t type, flags;
    std::uint64_t offset, vaddr, paddr, filesz, memsz, align;
};
void encode_program_header(std::uint8_t out[56], const ProgramHeaderFields& f);

}  // namespace pvdump::format
