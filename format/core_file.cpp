#include "format/core_file.hpp"

#include <algorithm>
#include <cstring>

#include "format/elf.hpp"

namespace pvdump::format {
namespace {

using elf::Ehdr;
using elf::Nhdr;
using elf::Phdr;
using elf::Shdr;

// Sanity bounds: far above anything real, low enough that an absurd header
// cannot make us allocate or loop for long.
constexpr std::uint64_t kMaxProgramHeaders = 1u << 24;
constexpr std::uint64_t kMaxNotes = 1u << 22;

std::string pstr(unsigned i) { return "program header " + std::to_string(i); }

// The one place a problem becomes either an exception (strict) or a finding.
void report_or_fail(Diagnostics* sink, Diagnostic d) {
    if (!sink) fail(ErrorCode::Format, d.message);
    sink->report(std::move(d));
}

// Checks the note at `pos` of the notes area; "" and its header in `h` when
// it lies inside, else why not.
std::string check_note(const Reader& r, std::uint64_t pos, std::size_t count, Nhdr& h) {
    const std::uint64_t size = r.size(), at = r.base() + pos;
    if (count >= kMaxNotes) return "PT_NOTE segment holds more than 4M notes";
    if (size - pos < Nhdr::kSize)
        return "note header at offset " + hex(at) + " is cut short (" + std::to_string(size - pos) +
               " bytes left in PT_NOTE)";
    h = Nhdr::decode(r, pos);
    // pos < size and both sizes are 32-bit: these sums cannot wrap.
    if (!range_fits(pos + h.name_offset(), h.namesz, size) || !range_fits(pos + h.desc_offset(), h.descsz, size))
        return "note at offset " + hex(at) + " (type " + hex(h.type) + ", namesz " + std::to_string(h.namesz) +
               ", descsz " + std::to_string(h.descsz) + ") runs past the end of the PT_NOTE segment (ends at " +
               hex(r.base() + size) + ")";
    return {};
}

}  // namespace

std::vector<Note> parse_notes(Bytes area, std::uint64_t file_offset, Diagnostics* sink) {
    std::vector<Note> notes;
    Reader r(area, "PT_NOTE segment", file_offset);
    std::uint64_t pos = 0;
    while (pos < area.size()) {
        Nhdr h;
        if (std::string why = check_note(r, pos, notes.size(), h); !why.empty()) {
            report_or_fail(sink, {Diagnostic::Severity::Error, "note", file_offset + pos, std::move(why)});
            break;  // lenient: the notes before it
        }
        Note n;
        const Bytes name = r.sub(pos + h.name_offset(), h.namesz, "note name");
        const char* nm = reinterpret_cast<const char*>(name.data());
        n.name.assign(nm, strnlen(nm, name.size()));
        n.type = h.type;
        n.desc = r.sub(pos + h.desc_offset(), h.descsz, "note descriptor");
        n.offset = file_offset + pos;
        notes.push_back(std::move(n));
        pos = std::min<std::uint64_t>(pos + h.total_size(), area.size());
    }
    return notes;
}

CoreFile CoreFile::open(const std::string& path, Diagnostics* sink) {
    auto map = std::make_shared<MappedFile>(path);
    CoreFile f;
    f.name_ = path;
    f.bytes_ = map->bytes();
    f.map_ = std::move(map);
    f.index(sink);
    return f;
}

CoreFile CoreFile::parse(Bytes bytes, std::string name, Diagnostics* sink) {
    CoreFile f;
    f.name_ = std::move(name);
    f.bytes_ = bytes;
    f.index(sink);
    return f;
}

void CoreFile::problem(std::string field, std::uint64_t offset, std::string message) {
    report_or_fail(sink_, {Diagnostic::Severity::Error, std::move(field), offset, std::move(message)});
    damaged_ = true;
}

void CoreFile::index(Diagnostics* sink) {
    sink_ = sink;
    const Reader file(bytes_, "file '" + name_ + "'");
    Ehdr eh;
    if (index_header(file, eh)) {
        if (const std::optional<std::uint64_t> n = read_program_header_count(file, eh)) {
            phnum_ = *n;
            index_program_headers(file);
        }
        check_overlaps();
        if (shoff_ != 0 && eh.shnum != 0) index_sections(file, eh);
    }
    sink_ = nullptr;
}

// False when nothing further can be read: too short, or not ELF64 big-endian.
bool CoreFile::index_header(const Reader& file, Ehdr& eh) {
    if (bytes_.size() < Ehdr::kSize) {
        problem("ELF header", 0, "'" + name_ + "' is " + std::to_string(bytes_.size()) +
                                     " bytes, too short for an ELF header (64 bytes)");
        return false;
    }
    eh = Ehdr::decode(file);
    if (!eh.magic_ok) {
        problem("e_ident", 0, "'" + name_ + "' is not an ELF file (bad magic at offset 0)");
        return false;
    }
    if (eh.ei_class != elf::ELFCLASS64) {
        problem("EI_CLASS", Ehdr::kClass, "ELF header: EI_CLASS is " + std::to_string(eh.ei_class) + ", expected ELFCLASS64 (2)");
        return false;
    }
    if (eh.ei_data != elf::ELFDATA2MSB) {
        problem("EI_DATA", Ehdr::kData,
                "ELF header: EI_DATA is " + std::to_string(eh.ei_data) + ", expected big-endian ELFDATA2MSB (2)");
        return false;
    }
    // Lenient: the other fields are still where ELF64 puts them.
    if (eh.type != elf::ET_CORE)
        problem("e_type", Ehdr::kType, "ELF header: e_type is " + std::to_string(eh.type) + ", expected ET_CORE (4)");
    if (eh.machine != elf::EM_S390)
        problem("e_machine", Ehdr::kMachine, "ELF header: e_machine is " + std::to_string(eh.machine) + ", expected EM_S390 (22)");
    phoff_ = eh.phoff;
    shoff_ = eh.shoff;
    ehsize_ = eh.ehsize;  // QEMU writes 8: never trusted
    e_phnum_ = eh.phnum;
    e_shnum_ = eh.shnum;
    has_elf_header_ = true;
    return true;
}

// The number of program headers, or nullopt when it cannot be known (or is absurd).
std::optional<std::uint64_t> CoreFile::read_program_header_count(const Reader& file, const Ehdr& eh) {
    std::uint64_t phnum = eh.phnum;
    if (phnum == elf::PN_XNUM) {
        // The real count is in section 0's sh_info; section 0 must lie in the file.
        if (shoff_ == 0 || eh.shentsize != Shdr::kSize) {
            problem("e_phnum", Ehdr::kPhnum, "ELF header: e_phnum is PN_XNUM but there is no section 0 to hold the count");
            return std::nullopt;
        }
        // A checked sub-span: e_shoff near 2^64 must not wrap into the ELF header.
        const std::string field = "section 0 sh_info (program header count)";
        if (std::string why = file.overrun(shoff_, Shdr::kSize, field); !why.empty()) {
            problem(field, shoff_, std::move(why));
            return std::nullopt;
        }
        phnum = Shdr::decode(Reader(file.sub(shoff_, Shdr::kSize, field), file.what(), shoff_), 0).info;
    }
    if (phnum == 0) {
        problem("e_phnum", Ehdr::kPhnum, "ELF header: no program headers (e_phnum 0)");
        return std::nullopt;
    }
    if (eh.phentsize != Phdr::kSize)  // lenient: read 56-byte entries all the same
        problem("e_phentsize", Ehdr::kPhentsize, "ELF header: e_phentsize is " + std::to_string(eh.phentsize) + ", expected 56");
    if (phnum > kMaxProgramHeaders) {
        problem("e_phnum", Ehdr::kPhnum, "ELF header: " + std::to_string(phnum) + " program headers is absurd");
        return std::nullopt;
    }
    return phnum;
}

void CoreFile::index_program_headers(const Reader& file) {
    std::uint64_t inside = phnum_;  // entries that lie in the file
    if (!range_fits(phoff_, phnum_ * Phdr::kSize, bytes_.size())) {
        problem("program header table", phoff_,
                "program header table [offset " + hex(phoff_) + ", " + std::to_string(phnum_) +
                    " entries] runs past end of file (size " + hex(bytes_.size()) + ")");
        inside = phoff_ <= bytes_.size() ? (bytes_.size() - phoff_) / Phdr::kSize : 0;
        if (inside == 0) return;
    }
    const Reader table(file.sub(phoff_, inside * Phdr::kSize, "program header table"), file.what(), phoff_);
    for (unsigned i = 0; i < inside; ++i) {
        const Phdr ph = Phdr::decode(table, std::uint64_t(i) * Phdr::kSize);
        if (ph.type == elf::PT_NOTE) index_note_segment(file, i, ph);
        else if (ph.type == elf::PT_LOAD) index_load(i, ph);
    }
}

void CoreFile::index_note_segment(const Reader& file, unsigned i, const Phdr& ph) {
    const std::uint64_t at = phoff_ + std::uint64_t(i) * Phdr::kSize;
    if (!range_fits(ph.offset, ph.filesz, bytes_.size())) {
        problem(pstr(i) + " (PT_NOTE)", at, pstr(i) + " (PT_NOTE) [offset " + hex(ph.offset) + ", size " + hex(ph.filesz) +
                                                "] runs past end of file (size " + hex(bytes_.size()) + ")");
        if (!note_offset_) note_offset_ = ph.offset, note_size_ = ph.filesz;  // lenient: what it says
        return;
    }
    if (note_offset_) {
        problem(pstr(i) + " (PT_NOTE)", at, pstr(i) + ": a second PT_NOTE segment (only one is supported)");
        return;
    }
    note_offset_ = ph.offset;
    note_size_ = ph.filesz;
    const std::size_t before = sink_ ? sink_->all().size() : 0;
    notes_ = parse_notes(file.sub(ph.offset, ph.filesz, "PT_NOTE segment"), ph.offset, sink_);
    if (sink_ && sink_->all().size() > before) damaged_ = true;  // lenient: a malformed note, the notes before it
}

// Lenient: the segment is kept whatever is wrong with it (in_file says
// whether its bytes are there), so that the report shows what it claims.
void CoreFile::index_load(unsigned i, const Phdr& ph) {
    const std::uint64_t at = phoff_ + std::uint64_t(i) * Phdr::kSize;
    LoadSegment s{i, ph.offset, ph.filesz, ph.memsz, ph.paddr, ph.vaddr, ph.flags, ph.align};
    s.in_file = range_fits(s.offset, s.filesz, bytes_.size());
    if (s.filesz > s.memsz)
        problem(pstr(i) + " p_filesz", at + Phdr::kFilesz,
                pstr(i) + " (PT_LOAD): p_filesz " + hex(s.filesz) + " exceeds p_memsz " + hex(s.memsz));
    if (!s.in_file)
        problem(pstr(i) + " (PT_LOAD)", at,
                pstr(i) + " (PT_LOAD, guest address " + hex(s.paddr) + ") [offset " + hex(s.offset) + ", size " +
                    hex(s.filesz) + "] runs past end of file (size " + hex(bytes_.size()) + ")");
    std::uint64_t end;
    if (add_overflows(s.paddr, s.memsz, end))
        problem(pstr(i) + " p_memsz", at + Phdr::kMemsz,
                pstr(i) + " (PT_LOAD): guest range " + hex(s.paddr) + " + " + hex(s.memsz) + " overflows 64 bits");
    loads_.push_back(s);
}

// Memory ranges must not overlap: one address, one page.
void CoreFile::check_overlaps() {
    std::vector<LoadSegment> sorted = loads_;
    std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.paddr < b.paddr; });
    for (std::size_t i = 1; i < sorted.size(); ++i) {
        std::uint64_t prev_end;
        if (add_overflows(sorted[i - 1].paddr, sorted[i - 1].memsz, prev_end)) prev_end = ~std::uint64_t(0);
        if (sorted[i].paddr < prev_end)
            problem(pstr(sorted[i].index) + " p_paddr", phoff_ + std::uint64_t(sorted[i].index) * Phdr::kSize + Phdr::kPaddr,
                    pstr(sorted[i].index) + " (PT_LOAD at guest address " + hex(sorted[i].paddr) + ") overlaps " +
                        pstr(sorted[i - 1].index));
    }
}

// A section table that cannot be read is dropped (section_error()), strictly
// and in a lenient index of an intact file alike, which are then the same: a
// plain vmcore needs no section table, and QEMU on little-endian hosts writes
// a broken entry. Only a damaged file's lenient index keeps every section
// header that is in the file (unnamed ones as "section N"), for its report.
// A lenient sink gets each problem as a warning.
void CoreFile::index_sections(const Reader& file, const Ehdr& eh) {
    const bool keep_going = sink_ && damaged_;
    std::vector<Diagnostic> problems;
    read_section_table(file, eh, keep_going, problems);
    if (problems.empty()) return;
    if (!keep_going) {
        sections_.clear();
        section_error_ = problems.front().message;
    }
    if (sink_)
        for (Diagnostic& d : problems) sink_->report(std::move(d));
}

void CoreFile::read_section_table(const Reader& file, const Ehdr& eh, bool keep_going, std::vector<Diagnostic>& problems) {
    const auto warn = [&](std::string field, std::uint64_t offset, std::string message) {
        problems.push_back({Diagnostic::Severity::Warning, std::move(field), offset, std::move(message)});
        return keep_going;  // whether to go on
    };
    const std::uint64_t shnum = eh.shnum;
    if (eh.shentsize != Shdr::kSize)
        return (void)warn("e_shentsize", Ehdr::kShentsize, "ELF header: e_shentsize is " + std::to_string(eh.shentsize) + ", expected 64");
    if (!range_fits(shoff_, shnum * Shdr::kSize, bytes_.size()))
        return (void)warn("section header table", shoff_, "section header table [offset " + hex(shoff_) + ", " + std::to_string(shnum) +
                                                              " entries] runs past end of file (size " + hex(bytes_.size()) + ")");
    if (eh.shstrndx >= shnum)
        return (void)warn("e_shstrndx", Ehdr::kShstrndx, "ELF header: e_shstrndx " + std::to_string(eh.shstrndx) +
                                                             " is not a section (" + std::to_string(shnum) + " sections)");
    const Reader table(file.sub(shoff_, shnum * Shdr::kSize, "section header table"), file.what(), shoff_);
    const Shdr strhdr = Shdr::decode(table, std::uint64_t(eh.shstrndx) * Shdr::kSize);
    Bytes strtab;
    if (range_fits(strhdr.offset, strhdr.size, bytes_.size())) strtab = file.sub(strhdr.offset, strhdr.size, ".shstrtab");
    else if (!warn(".shstrtab", shoff_ + std::uint64_t(eh.shstrndx) * Shdr::kSize,
                   "section string table [offset " + hex(strhdr.offset) + ", size " + hex(strhdr.size) +
                       "] runs past end of file (size " + hex(bytes_.size()) + ")"))
        return;
    const bool have_names = strtab.size() == strhdr.size;
    for (unsigned i = 1; i < shnum; ++i) {
        const Shdr sh = Shdr::decode(table, std::uint64_t(i) * Shdr::kSize);
        std::string name = "section " + std::to_string(i);
        if (sh.name < strtab.size()) {
            const char* nm = reinterpret_cast<const char*>(strtab.data() + sh.name);
            name.assign(nm, strnlen(nm, strtab.size() - sh.name));
        } else if (have_names && !warn(name + " sh_name", shoff_ + std::uint64_t(i) * Shdr::kSize,
                                       name + ": sh_name " + std::to_string(sh.name) + " is outside the string table (" +
                                           std::to_string(strtab.size()) + " bytes)")) {
            return;
        }
        sections_.push_back({i, std::move(name), sh.type, sh.offset, sh.size});
    }
}

void CoreFile::read_at(std::uint64_t offset, MutableBytes out) const {
    if (map_) return map_->read_at(offset, out);
    if (!range_fits(offset, out.size(), bytes_.size()))
        fail(ErrorCode::Format, "read of " + hex(out.size()) + " bytes at offset " + hex(offset) + " runs past end of '" + name_ + "'");
    std::memcpy(out.data(), bytes_.data() + offset, out.size());
}

const Section* CoreFile::section(std::string_view name) const {
    for (auto& s : sections_)
        if (s.name == name) return &s;
    return nullptr;
}

Bytes CoreFile::section_bytes(std::string_view name) const {
    return *section_bytes(name, nullptr);
}

std::optional<Bytes> CoreFile::section_bytes(std::string_view name, Diagnostics* sink) const {
    auto problem = [&](std::string field, std::uint64_t offset, std::string message) -> std::optional<Bytes> {
        if (!sink) fail(ErrorCode::Format, message);
        sink->report({Diagnostic::Severity::Error, std::move(field), offset, std::move(message)});
        return std::nullopt;
    };
    const Section* s = section(name);
    if (!s) {
        std::string msg = "no section '" + std::string(name) + "' in '" + name_ + "'";
        if (!section_error_.empty()) msg += " (section table unreadable: " + section_error_ + ")";
        return problem("section '" + std::string(name) + "'", shoff_, std::move(msg));
    }
    if (!range_fits(s->offset, s->size, bytes_.size()))
        return problem("section '" + s->name + "'", s->offset,
                       "section '" + s->name + "' [offset " + hex(s->offset) + ", size " + hex(s->size) +
                           "] runs past end of file (size " + hex(bytes_.size()) + ")");
    return bytes_.subspan(s->offset, s->size);
}

std::vector<CpuNotes> CoreFile::cpus() const {
    std::vector<CpuNotes> out;
    for (const Note& n : notes_) {
        if (n.name == "CORE" && n.type == NT_PRSTATUS_) {
            CpuNotes c{};
            c.index = unsigned(out.size());
            out.push_back(std::move(c));
        }
        if (out.empty() || (n.name != "CORE" && n.name != "LINUX")) continue;
        CpuNotes& c = out.back();
        if (n.name == "LINUX" && n.type == NT_S390_PV_CPU_DATA_) {
            if (c.pv_cpu_data)
                fail(ErrorCode::Format, "CPU " + std::to_string(c.index) + ": second NT_S390_PV_CPU_DATA note at offset " + hex(n.offset));
            c.pv_cpu_data = n;
            continue;
        }
        Reader r(n.desc, "note at offset " + hex(n.offset), n.offset);
        if (apply_cpu_note(c.clear, n.type, r) && n.type < 32) c.note_types_seen |= 1u << n.type;
    }
    return out;
}

std::optional<std::string> CoreFile::vmcoreinfo_note() const {
    for (const Note& n : notes_)
        if (n.name == "VMCOREINFO") return std::string(reinterpret_cast<const char*>(n.desc.data()), n.desc.size());
    return std::nullopt;
}

std::uint64_t CoreFile::memory_size() const {
    std::uint64_t total = 0;
    for (auto& l : loads_) total += l.memsz;
    return total;
}

namespace {

class PlainMemory final : public MemoryView {
public:
    PlainMemory(std::shared_ptr<MappedFile> keep, Bytes file, std::vector<LoadSegment> loads)
        : keep_(std::move(keep)), file_(file), loads_(std::move(loads)) {
        std::sort(loads_.begin(), loads_.end(), [](auto& a, auto& b) { return a.paddr < b.paddr; });
    }
    bool contains(std::uint64_t paddr, std::uint64_t size) const override {
        while (size > 0) {
            const LoadSegment* s = find(paddr);
            if (!s) return false;
            const std::uint64_t n = std::min(size, s->paddr + s->memsz - paddr);
            paddr += n;
            size -= n;
        }
        return true;
    }
    void read(std::uint64_t paddr, std::span<std::uint8_t> out) const override {
        std::uint64_t done = 0;
        while (done < out.size()) {
            const LoadSegment* s = find(paddr + done);
            if (!s) fail(ErrorCode::Format, "guest address " + hex(paddr + done) + " is not in the dump");
            const std::uint64_t rel = paddr + done - s->paddr;
            const std::uint64_t n = std::min<std::uint64_t>(out.size() - done, s->memsz - rel);
            for (std::uint64_t k = 0; k < n;) {
                const std::uint64_t at = rel + k;
                if (at < s->filesz) {
                    const std::uint64_t m = std::min(n - k, s->filesz - at);
                    std::memcpy(out.data() + done + k, file_.data() + s->offset + at, m);
                    k += m;
                } else {
                    std::memset(out.data() + done + k, 0, n - k);
                    k = n;
                }
            }
            done += n;
        }
    }

private:
    const LoadSegment* find(std::uint64_t paddr) const {
        auto it = std::upper_bound(loads_.begin(), loads_.end(), paddr, [](std::uint64_t a, auto& s) { return a < s.paddr; });
        if (it == loads_.begin()) return nullptr;
        --it;
        return paddr - it->paddr < it->memsz ? &*it : nullptr;
    }
    std::shared_ptr<MappedFile> keep_;  // the mapping outlives the CoreFile if need be
    Bytes file_;
    std::vector<LoadSegment> loads_;
};

}  // namespace

std::unique_ptr<MemoryView> CoreFile::plain_memory() const {
    if (damaged_) fail(ErrorCode::Format, "'" + name_ + "' is damaged (its headers describe data outside the file): its memory is not read");
    return std::make_unique<PlainMemory>(map_, bytes_, loads_);
}

}  // namespace pvdump::format
