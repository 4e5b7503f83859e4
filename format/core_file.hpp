// The index of an s390x ELF core file: a sealed PV dump as QEMU writes it, or
// a plain vmcore. Every offset and size is checked against the file before use.
// One parser, two modes: strict (the default) throws Error(Format) at the first
// problem; lenient (given a Diagnostics sink) records every problem with the
// field and file offset and indexes what is in bounds, for triage.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "format/bytes.hpp"
#include "format/diagnostics.hpp"
#include "format/mapped_file.hpp"
#include "format/memory_view.hpp"
#include "format/pv.hpp"

namespace pvdump::format {

namespace elf {  // format/elf.hpp (not included: tests include <elf.h>, whose macros clash)
struct Ehdr;
struct Phdr;
}  // namespace elf

struct LoadSegment {
    unsigned index;  // program header index
    std::uint64_t offset, filesz, memsz, paddr, vaddr;
    std::uint32_t flags;
    std::uint64_t align;
    bool in_file = true;  // [offset, offset + filesz) is inside the file (false only in a damaged() index)
};

struct Note {
    std::string name;
    std::uint32_t type;
    Bytes desc;
    std::uint64_t offset;  // of the note header in the file
};

struct Section {
    unsigned index;
    std::string name;
    std::uint32_t type;
    std::uint64_t offset, size;
};

// One vCPU as the notes describe it: the clear registers (the hypervisor's
// view in a PV dump, the truth in a plain vmcore) and the PV blob if any.
struct CpuNotes {
    unsigned index;
    CpuState clear;
    std::uint32_t note_types_seen = 0;  // bitmask over kCpuNoteBits
    std::optional<Note> pv_cpu_data;
};

class CoreFile {
public:
    // Opens and indexes; throws Error(Io), and Error(Format) unless `sink` is
    // given: then every problem goes to the sink and what is in bounds is indexed.
    static CoreFile open(const std::string& path, Diagnostics* sink = nullptr);
    // Indexes bytes that outlive the CoreFile (tests, fuzzing).
    static CoreFile parse(Bytes bytes, std::string name = "<memory>", Diagnostics* sink = nullptr);

    // A lenient index that found errors (not just warnings): loads() may hold
    // segments outside the file (LoadSegment::in_file), notes may stop early,
    // and plain_memory() refuses. A strict index is never damaged.
    bool damaged() const { return damaged_; }
    // The ELF header could be read (ELF64, big-endian): false only when damaged().
    bool has_elf_header() const { return has_elf_header_; }

    const std::string& name() const { return name_; }
    Bytes bytes() const { return bytes_; }
    // Copies file bytes; uses pread on an opened file (the mapping's pages
    // then do not count against the resident set), memcpy otherwise.
    void read_at(std::uint64_t offset, MutableBytes out) const;
    // Tells the kernel the file will be read front to back (larger readahead).
    void advise_sequential() const {
        if (map_) map_->advise_sequential();
    }
    // See MappedFile: map a range ahead of use / drop it from the resident set after.
    void prefetch(std::uint64_t offset, std::uint64_t size) const {
        if (map_) map_->prefetch(offset, size);
    }
    void release(std::uint64_t offset, std::uint64_t size) const {
        if (map_) map_->release(offset, size);
    }
    std::uint64_t file_size() const { return bytes_.size(); }
    // The opened file's descriptor (-1 for parsed bytes): for pread and fstat
    // where the mapping must not be touched (a file that shrinks under a
    // mapping turns reads into SIGBUS).
    int fd() const { return map_ ? map_->fd() : -1; }
    std::uint16_t ehsize() const { return ehsize_; }
    std::uint64_t phoff() const { return phoff_; }
    std::uint64_t shoff() const { return shoff_; }
    std::uint16_t e_phnum() const { return e_phnum_; }  // the raw field (PN_XNUM included)
    std::uint16_t e_shnum() const { return e_shnum_; }
    // Entries of the program header table (section 0's sh_info under PN_XNUM;
    // 0 when the count could not be read).
    std::uint64_t program_header_count() const { return phnum_; }

    const std::vector<LoadSegment>& loads() const { return loads_; }
    const std::vector<Note>& notes() const { return notes_; }
    std::optional<std::uint64_t> note_offset() const { return note_offset_; }
    std::uint64_t note_size() const { return note_size_; }
    const std::vector<Section>& sections() const { return sections_; }
    // Why the section table could not be read, if it could not (a plain vmcore
    // does not need one; QEMU on little-endian hosts writes a broken entry):
    // in both modes the table is then dropped, a warning for a lenient sink.
    const std::string& section_error() const { return section_error_; }
    const Section* section(std::string_view name) const;
    bool is_pv() const { return section("pv_compl") != nullptr; }

    // Notes grouped per CPU (each group starts at an NT_PRSTATUS).
    std::vector<CpuNotes> cpus() const;
    // The VMCOREINFO note's text, if the file carries one.
    std::optional<std::string> vmcoreinfo_note() const;
    // Section contents, bounds-checked (throws Error(Format) when absent).
    Bytes section_bytes(std::string_view name) const;
    // The same, lenient: a missing or out-of-file section goes to `sink` (null: throws).
    std::optional<Bytes> section_bytes(std::string_view name, Diagnostics* sink) const;
    // Total guest memory covered by PT_LOADs (memsz).
    std::uint64_t memory_size() const;

    // The guest physical memory of a plain vmcore (filesz bytes from the file,
    // the rest of memsz reads as zero). Error(Format) when damaged().
    std::unique_ptr<MemoryView> plain_memory() const;

private:
    CoreFile() = default;
    void index(Diagnostics* sink);
    bool index_header(const Reader& file, elf::Ehdr& eh);
    std::optional<std::uint64_t> read_program_header_count(const Reader& file, const elf::Ehdr& eh);
    void index_program_headers(const Reader& file);
    void index_note_segment(const Reader& file, unsigned i, const elf::Phdr& ph);
    void index_load(unsigned i, const elf::Phdr& ph);
    void check_overlaps();
    void index_sections(const Reader& file, const elf::Ehdr& eh);
    void read_section_table(const Reader& file, const elf::Ehdr& eh, bool keep_going, std::vector<Diagnostic>& problems);
    // Strict: throws Error(Format, message). Lenient: records it, marks damaged().
    void problem(std::string field, std::uint64_t offset, std::string message);

    std::shared_ptr<MappedFile> map_;
    std::string name_;
    Bytes bytes_;
    std::uint16_t ehsize_ = 0;
    std::uint64_t phoff_ = 0, shoff_ = 0, phnum_ = 0;
    std::uint16_t e_phnum_ = 0, e_shnum_ = 0;
    Diagnostics* sink_ = nullptr;  // during index() only
    bool damaged_ = false;
    bool has_elf_header_ = false;
    std::vector<LoadSegment> loads_;
    std::vector<Note> notes_;
    std::optional<std::uint64_t> note_offset_;
    std::uint64_t note_size_ = 0;
    std::vector<Section> sections_;
    std::string section_error_;
};

// Parses a notes area; throws Error(Format) naming the note's offset, or with
// a sink records that and returns the notes before it.
std::vector<Note> parse_notes(Bytes area, std::uint64_t file_offset, Diagnostics* sink = nullptr);

}  // namespace pvdump::format
