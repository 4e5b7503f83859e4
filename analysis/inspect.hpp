// pvinspect's library for what needs no key (verify: decryptor/verify.hpp;
// CPU views: analysis/cpus.hpp).
//
//   inspect_info()     no key: what the file is (PV dump, plain vmcore, or
//                      QEMU's fallback when the image forbids dumping), its
//                      layout, CPUs, memory blocks, sections and page states.
//   dump_kernel_log()  the guest's kernel log via its VMCOREINFO.
//
// Everything here returns reports; nothing prints.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "analysis/kernel_log.hpp"
#include "analysis/page_plan.hpp"
#include "format/core_file.hpp"
#include "format/memory_view.hpp"

namespace pvdump::analysis {

// ---- info (no key) ----------------------------------------------------------------

enum class ContainerKind {
    PvDump,          // a sealed PV dump v1 (has a 'pv_compl' section)
    PlainVmcore,     // an ordinary s390x ELF vmcore
    DumpDisallowed,  // QEMU's fallback: no PV sections, memory is ciphertext
    Unreadable,      // the ELF structure could not be indexed (see InfoReport::error)
};
// Stable ids used in --json: "pv-dump", "plain-vmcore", "dump-disallowed", "unreadable".
const char* container_kind_id(ContainerKind kind);

struct MemoryBlockInfo {
    unsigned phdr = 0;  // program header index
    std::uint64_t paddr = 0, memsz = 0, offset = 0, filesz = 0;
    bool in_file = true;  // [offset, offset + filesz) lies inside the file
};

struct SectionInfo {
    std::string name;
    std::uint64_t offset = 0, size = 0;
    bool in_file = true;
};

// Why a dump without PV sections is, or is not, taken for ciphertext.
struct CiphertextEvidence {
    std::uint64_t pages_sampled = 0;   // pages looked at (spread over all blocks, page 0 always)
    std::uint64_t zero_pages = 0;      // sampled pages that are all zeros
    std::uint64_t random_pages = 0;    // non-zero sampled pages with byte entropy >= 7.5 bits
    double mean_entropy = 0;           // over the non-zero sampled pages, bits per byte
    bool lowcore_readable = false;     // guest page 0 is in the dump
    bool lowcore_sane = false;         // page 0 looks like an s390 lowcore (mostly zeros, low entropy)
    bool vmcoreinfo_found = false;     // lowcore 0xe0c / os_info lead to a VMCOREINFO
    std::vector<format::Diagnostic> vmcoreinfo_problems;  // when not: the faults that ended a way (field: which)
    unsigned pv_cpu_notes = 0;         // NT_S390_PV_CPU_DATA notes although there is no 'pv_compl'
};

struct InfoReport {
    std::string path;
    std::uint64_t file_size = 0;
    ContainerKind kind = ContainerKind::Unreadable;
    // Set when the file could only be read in part (truncated, malformed): the
    // first problem the lenient index found; the rest of the report holds what
    // the headers still tell.
    std::optional<std::string> error;
    // Every problem of the ELF structure (field, file offset, message), in the order
    // found: errors of a damaged file, and warnings (an unreadable section table).
    std::vector<format::Diagnostic> parse_findings;
    std::uint64_t described_size = 0;  // end of the furthest part the headers describe

    std::uint16_t e_ehsize = 0;
    std::uint64_t phoff = 0, shoff = 0;
    std::uint64_t phnum = 0;
    std::optional<std::uint64_t> note_offset;
    std::uint64_t note_size = 0;

    unsigned cpus = 0;            // NT_PRSTATUS notes
    unsigned cpus_pv_data = 0;    // of them with an NT_S390_PV_CPU_DATA note
    std::vector<MemoryBlockInfo> blocks;  // in program header order
    std::uint64_t memory_size = 0;        // sum of p_memsz
    std::optional<std::uint64_t> memory_offset;  // file offset of the first PT_LOAD
    std::vector<SectionInfo> sections;    // without the null section
    std::string section_error;            // why the section table is unreadable, if it is
    bool vmcoreinfo_note = false;         // a VMCOREINFO note in the ELF notes

    // PV dumps only.
    std::optional<std::uint32_t> compl_version, compl_length;
    std::uint64_t meta_needed = 0;  // bytes of pv_mem_meta the memory needs
    std::optional<PagePlan> plan;   // page_plan(dump, nullptr): states, coverage, findings without the key

    // Dumps without PV sections only.
    std::optional<CiphertextEvidence> evidence;
};

// Indexes `path` (CoreFile's lenient mode) and describes it. A damaged file
// (truncated, malformed) still gets a report of what its headers say, with
// `error` and `parse_findings` set; Error(Io) when it cannot be read at all.
InfoReport inspect_info(const std::string& path);
// The same for a file already indexed.
InfoReport inspect_info(const format::CoreFile& dump);

// ---- kernel log ---------------------------------------------------------------------

struct KernelLogReport {
    std::string vmcoreinfo_source;  // "VMCOREINFO note" or "guest memory (lowcore 0xe0c / os_info 0xe18)"
    std::optional<std::string> osrelease;
    KernelLog log;
};
// The kernel log of guest memory `mem`; a plain vmcore's VMCOREINFO note is
// preferred when `vmcoreinfo_note` is given. Error(Format) when the guest
// publishes no VMCOREINFO or its log cannot be read.
// With `labels` (a TracedMemory over `mem`, see provenance.hpp), the reads are
// filed under "VMCOREINFO ..." and "printk ring buffer ..." as they happen.
class ReadLabels;
KernelLogReport dump_kernel_log(const format::MemoryView& mem, const std::optional<std::string>& vmcoreinfo_note,
                                ReadLabels* labels = nullptr);

}  // namespace pvdump::analysis
