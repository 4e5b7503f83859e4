// The file layout QEMU >= 7.2 `dump-guest-memory` writes for an s390x guest
// (docs/format.md §3), computed up front so that memory can be written with
// pwrite at fixed offsets by parallel workers:
//
//   ELF header (64 bytes, e_ehsize 8 as QEMU writes it)
//   section headers at 64: [0] null, [1] pv_mem_meta, [2] pv_compl, [3] .shstrtab
//   program headers: PT_NOTE, then one PT_LOAD per RAM block (p_flags, p_align 0)
//   notes: per CPU CORE PRSTATUS, FPREGSET; LINUX PREFIX, CTRS, TIMER, TODCMP,
//          TODPREG, VXRS_LOW, VXRS_HIGH, GS_CB, PV_CPU_DATA
//   memory, the blocks back to back
//   pv_mem_meta, pv_compl, .shstrtab
//
// Without PV sections (a plain guest, or a PV guest whose image forbids
// dumping) QEMU 7.2 still writes a section table: [0] null and [1] .shstrtab.
//
// pv_mem_meta size: QEMU sizes it as (total RAM / 1 MiB) * 4096 and places the
// states of a block at (block start / 1 MiB) * 4096, i.e. it indexes by guest
// physical address. For one block at 0 of whole MiBs both agree. With holes
// between blocks QEMU's size is too small for its own indexing (it would write
// past its buffer), and a block that is not a whole number of MiB would lose its
// last pages; so we size the section by the highest guest address, rounded up to
// a whole MiB: ceil(max_end / 1 MiB) * 4096. Identical to QEMU for the usual
// single block at 0; covering every page in every other case.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "format/elf.hpp"
#include "format/pv.hpp"
#include "format/vmcore_writer.hpp"

namespace pvdump::format {

inline constexpr std::uint64_t kMiB = 1024 * 1024;
inline constexpr std::uint64_t kMemStatePerMiB = 4096;  // v1 conf_dump_storage_state_len
inline constexpr std::uint16_t kQemuEhsize = 8;  // what QEMU 7.2 writes

struct QemuLayoutParams {
    std::size_t cpus = 1;
    std::vector<MemoryRange> blocks;  // sorted by address, page-aligned, not overlapping
    // PV sections (pv_mem_meta, pv_compl). False when the UV refused DUMP_INIT.
    bool pv_sections = true;
    // One NT_S390_PV_CPU_DATA note per CPU: QEMU writes it for every PV guest,
    // even when dump init failed (its descriptor is then left unfilled).
    bool pv_cpu_notes = true;
    std::uint64_t cpu_dump_size = kCpuDumpSize;
    std::uint64_t mem_state_per_mib = kMemStatePerMiB;
    std::uint64_t completion_size = kComplSize;
};

class QemuLayout {
public:
    // Throws Error(InvalidArgument) for blocks that are empty, unaligned, unsorted or
    // overlapping, and for counts the ELF format cannot express.
    explicit QemuLayout(QemuLayoutParams params);

    const QemuLayoutParams& params() const { return p_; }
    const std::vector<MemoryRange>& blocks() const { return p_.blocks; }

    std::uint64_t shoff() const { return elf::Ehdr::kSize; }  // right after the ELF header
    std::uint16_t shnum() const { return p_.pv_sections ? 4 : 2; }
    std::uint16_t shstrndx() const { return shnum() - 1; }
    std::uint64_t phoff() const { return shoff() + elf::Shdr::kSize * shnum(); }
    std::uint64_t phnum() const { return 1 + p_.blocks.size(); }
    std::uint64_t note_offset() const { return note_offset_; }
    std::uint64_t note_size() const { return note_size_; }
    std::uint64_t cpu_note_size() const { return cpu_note_size_; }
    // Offset of CPU i's NT_S390_PV_CPU_DATA descriptor (pv_cpu_notes only).
    std::uint64_t pv_cpu_desc_offset(std::size_t cpu) const;
    std::uint64_t memory_offset() const { return memory_offset_; }
    std::uint64_t memory_size() const { return memory_size_; }
    std::uint64_t block_offset(std::size_t i) const { return block_offsets_.at(i); }
    // File offset of guest physical address `paddr` (which must lie in a block).
    std::uint64_t file_offset_of(std::uint64_t paddr) const;

    std::uint64_t mem_meta_offset() const { return meta_offset_; }
    std::uint64_t mem_meta_size() const { return meta_size_; }
    // File offset of the tweak component of the page at `paddr`.
    std::uint64_t component_offset(std::uint64_t paddr) const { return meta_offset_ + 16 * (paddr / kPageSize); }
    std::uint64_t compl_offset() const { return compl_offset_; }
    std::uint64_t compl_size() const { return p_.pv_sections ? p_.completion_size : 0; }
    std::uint64_t shstrtab_offset() const { return shstrtab_offset_; }
    const std::vector<std::uint8_t>& shstrtab() const { return shstrtab_; }
    std::uint64_t file_size() const { return file_size_; }

    // Bytes [0, note_offset): ELF header, section headers, program headers.
    std::vector<std::uint8_t> encode_headers() const;
    // The notes area, from each CPU's clear notes (qemu_cpu_notes order) and
    // its PV CPU blob (cpu_dump_size bytes; ignored without pv_cpu_notes).
    // Throws Error(Internal) when the result does not have note_size() bytes.
    std::vector<std::uint8_t> encode_notes(const std::vector<CpuState>& clear,
                                           const std::vector<std::vector<std::uint8_t>>& pv_blobs) const;

private:
    QemuLayoutParams p_;
    std::uint64_t cpu_note_size_ = 0, note_offset_ = 0, note_size_ = 0;
    std::uint64_t memory_offset_ = 0, memory_size_ = 0;
    std::vector<std::uint64_t> block_offsets_;
    std::uint64_t meta_offset_ = 0, meta_size_ = 0, compl_offset_ = 0, shstrtab_offset_ = 0, file_size_ = 0;
    std::vector<std::uint8_t> shstrtab_;
};

// QEMU's section string table: with PV sections each name padded to 12 bytes,
// "\0pv_mem_meta\0pv_compl\0\0\0\0.shstrtab\0" (35 bytes); without, "\0.shstrtab\0".
std::vector<std::uint8_t> qemu_shstrtab(bool pv_sections);

}  // namespace pvdump::format
