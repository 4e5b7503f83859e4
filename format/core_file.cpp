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
constexpr std::uint64_t kMaxSections = 1u << 16;
constexpr std::uint64_t kMaxNotes = 1u << 22;

std::string pstr(unsigned i) { return "program header " + std::to_string(i); }

}  // namespace

std::vector<Note> parse_notes(Bytes area, std::uint64_t file_offset) {
    std::vector<Note> notes;
    Reader r(area, "PT_NOTE segment", file_offset);
    std::uint64_t pos = 0;
    while (pos < area.size()) {
        if (notes.size() >= kMaxNotes) fail(ErrorCode::Format, "PT_NOTE segment holds more than 4M notes");
        if (area.size() - pos < Nhdr::kSize)
            fail(ErrorCode::Format, "note header at offset " + hex(file_offset + pos) + " is cut short (" +
                                        std::to_string(area.size() - pos) + " bytes left in PT_NOTE)");
        const Nhdr h = Nhdr::decode(r, pos);
        // pos < area.size() and both sizes are 32-bit: these sums cannot wrap.
        const std::uint64_t name_off = pos + h.name_offset(), desc_off = pos + h.desc_offset();
        if (!range_fits(name_off, h.namesz, area.size()) || !range_fits(desc_off, h.descsz, area.size()))
            fail(ErrorCode::Format, "note at offset " + hex(file_offset + pos) + " (type " + hex(h.type) +
                                        ", namesz " + std::to_string(h.namesz) + ", descsz " + std::to_string(h.descsz) +
                                        ") runs past the end of the PT_NOTE segment (ends at " +
                                        hex(file_offset + area.size()) + ")");
        Note n;
        const Bytes name = r.sub(name_off, h.namesz, "note name");
        const char* nm = reinterpret_cast<const char*>(name.data());
        n.name.assign(nm, strnlen(nm, name.size()));
        n.type = h.type;
        n.desc = r.sub(desc_off, h.descsz, "note descriptor");
        n.offset = file_offset + pos;
        notes.push_back(std::move(n));
        pos = std::min<std::uint64_t>(pos + h.total_size(), area.size());
    }
    return notes;
}

CoreFile CoreFile::open(const std::string& path) {
    auto map = std::make_shared<MappedFile>(path);
    CoreFile f;
    f.name_ = path;
    f.bytes_ = map->bytes();
    f.map_ = std::move(map);
    f.index();
    return f;
}

CoreFile CoreFile::parse(Bytes bytes, std::string name) {
    CoreFile f;
    f.name_ = std::move(name);
    f.bytes_ = bytes;
    f.index();
    return f;
}

void CoreFile::index() {
    Reader file(bytes_, "file '" + name_ + "'");
    if (bytes_.size() < Ehdr::kSize)
        fail(ErrorCode::Format, "'" + name_ + "' is " + std::to_string(bytes_.size()) +
                                    " bytes, too short for an ELF header (64 bytes)");
    const Ehdr eh = Ehdr::decode(file);
    if (!eh.magic_ok) fail(ErrorCode::Format, "'" + name_ + "' is not an ELF file (bad magic at offset 0)");
    if (eh.ei_class != elf::ELFCLASS64)
        fail(ErrorCode::Format, "ELF header: EI_CLASS is " + std::to_string(eh.ei_class) + ", expected ELFCLASS64 (2)");
    if (eh.ei_data != elf::ELFDATA2MSB)
        fail(ErrorCode::Format, "ELF header: EI_DATA is " + std::to_string(eh.ei_data) + ", expected big-endian ELFDATA2MSB (2)");
    if (eh.type != elf::ET_CORE)
        fail(ErrorCode::Format, "ELF header: e_type is " + std::to_string(eh.type) + ", expected ET_CORE (4)");
    if (eh.machine != elf::EM_S390)
        fail(ErrorCode::Format, "ELF header: e_machine is " + std::to_string(eh.machine) + ", expected EM_S390 (22)");
    phoff_ = eh.phoff;
    shoff_ = eh.shoff;
    ehsize_ = eh.ehsize;  // QEMU writes 8: never trusted
    std::uint64_t phnum = eh.phnum;

    if (phnum == elf::PN_XNUM) {
        // The real count is in section 0's sh_info; section 0 must lie in the file.
        if (shoff_ == 0 || eh.shentsize != Shdr::kSize)
            fail(ErrorCode::Format, "ELF header: e_phnum is PN_XNUM but there is no section 0 to hold the count");
        // A checked sub-span: e_shoff near 2^64 must not wrap into the ELF header.
        const Reader s0(file.sub(shoff_, Shdr::kSize, "section 0 sh_info (program header count)"), file.what(), shoff_);
        phnum = Shdr::decode(s0, 0).info;
    }
    if (phnum == 0) fail(ErrorCode::Format, "ELF header: no program headers (e_phnum 0)");
    if (eh.phentsize != Phdr::kSize)
        fail(ErrorCode::Format, "ELF header: e_phentsize is " + std::to_string(eh.phentsize) + ", expected 56");
    if (phnum > kMaxProgramHeaders)
        fail(ErrorCode::Format, "ELF header: " + std::to_string(phnum) + " program headers is absurd");
    if (!range_fits(phoff_, phnum * Phdr::kSize, bytes_.size()))
        fail(ErrorCode::Format, "program header table [offset " + hex(phoff_) + ", " + std::to_string(phnum) +
                                    " entries] runs past end of file (size " + hex(bytes_.size()) + ")");
    const Reader table(file.sub(phoff_, phnum * Phdr::kSize, "program header table"), file.what(), phoff_);

    for (unsigned i = 0; i < phnum; ++i) {
        const Phdr ph = Phdr::decode(table, std::uint64_t(i) * Phdr::kSize);
        if (ph.type == elf::PT_NOTE) {
            if (!range_fits(ph.offset, ph.filesz, bytes_.size()))
                fail(ErrorCode::Format, pstr(i) + " (PT_NOTE) [offset " + hex(ph.offset) + ", size " + hex(ph.filesz) +
                                            "] runs past end of file (size " + hex(bytes_.size()) + ")");
            if (note_offset_) fail(ErrorCode::Format, pstr(i) + ": a second PT_NOTE segment (only one is supported)");
            note_offset_ = ph.offset;
            note_size_ = ph.filesz;
            notes_ = parse_notes(file.sub(ph.offset, ph.filesz, "PT_NOTE segment"), ph.offset);
        } else if (ph.type == elf::PT_LOAD) {
            LoadSegment s{i, ph.offset, ph.filesz, ph.memsz, ph.paddr, ph.vaddr, ph.flags, ph.align};
            if (s.filesz > s.memsz)
                fail(ErrorCode::Format, pstr(i) + " (PT_LOAD): p_filesz " + hex(s.filesz) + " exceeds p_memsz " + hex(s.memsz));
            if (!range_fits(s.offset, s.filesz, bytes_.size()))
                fail(ErrorCode::Format, pstr(i) + " (PT_LOAD, guest address " + hex(s.paddr) + ") [offset " + hex(s.offset) +
                                            ", size " + hex(s.filesz) + "] runs past end of file (size " + hex(bytes_.size()) + ")");
            std::uint64_t end;
            if (add_overflows(s.paddr, s.memsz, end))
                fail(ErrorCode::Format, pstr(i) + " (PT_LOAD): guest range " + hex(s.paddr) + " + " + hex(s.memsz) + " overflows 64 bits");
            loads_.push_back(s);
        }
    }
    // Memory ranges must not overlap: one address, one page.
    std::vector<LoadSegment> sorted = loads_;
    std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.paddr < b.paddr; });
    for (std::size_t i = 1; i < sorted.size(); ++i)
        if (sorted[i].paddr < sorted[i - 1].paddr + sorted[i - 1].memsz)
            fail(ErrorCode::Format, pstr(sorted[i].index) + " (PT_LOAD at guest address " + hex(sorted[i].paddr) +
                                        ") overlaps " + pstr(sorted[i - 1].index));

    if (shoff_ != 0 && eh.shnum != 0) {
        try {
            index_sections_checked(eh.shentsize, eh.shnum, eh.shstrndx);
        } catch (const Error& e) {
            sections_.clear();
            section_error_ = e.what();
        }
    }
}

void CoreFile::index_sections_checked(std::uint16_t shentsize, std::uint16_t shnum_field, std::uint16_t shstrndx) {
    Reader file(bytes_, "file '" + name_ + "'");
    if (shentsize != Shdr::kSize) fail(ErrorCode::Format, "ELF header: e_shentsize is " + std::to_string(shentsize) + ", expected 64");
    std::uint64_t shnum = shnum_field;
    if (shnum > kMaxSections) fail(ErrorCode::Format, "too many sections");
    if (!range_fits(shoff_, shnum * Shdr::kSize, bytes_.size()))
        fail(ErrorCode::Format, "section header table [offset " + hex(shoff_) + ", " + std::to_string(shnum) +
                                    " entries] runs past end of file (size " + hex(bytes_.size()) + ")");
    if (shstrndx >= shnum)
        fail(ErrorCode::Format, "ELF header: e_shstrndx " + std::to_string(shstrndx) + " is not a section (" +
                                    std::to_string(shnum) + " sections)");
    const Reader table(file.sub(shoff_, shnum * Shdr::kSize, "section header table"), file.what(), shoff_);
    const Shdr strhdr = Shdr::decode(table, std::uint64_t(shstrndx) * Shdr::kSize);
    if (!range_fits(strhdr.offset, strhdr.size, bytes_.size()))
        fail(ErrorCode::Format, "section string table [offset " + hex(strhdr.offset) + ", size " + hex(strhdr.size) +
                                    "] runs past end of file (size " + hex(bytes_.size()) + ")");
    const Bytes strtab = file.sub(strhdr.offset, strhdr.size, ".shstrtab");
    for (unsigned i = 1; i < shnum; ++i) {
        const Shdr sh = Shdr::decode(table, std::uint64_t(i) * Shdr::kSize);
        Section s;
        s.index = i;
        s.type = sh.type;
        s.offset = sh.offset;
        s.size = sh.size;
        if (sh.name >= strtab.size())
            fail(ErrorCode::Format, "section " + std::to_string(i) + ": sh_name " + std::to_string(sh.name) +
                                        " is outside the string table (" + std::to_string(strtab.size()) + " bytes)");
        const Bytes name = strtab.subspan(sh.name);
        const char* nm = reinterpret_cast<const char*>(name.data());
        s.name.assign(nm, strnlen(nm, name.size()));
        sections_.push_back(std::move(s));
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
    const Section* s = section(name);
    if (!s) {
        std::string msg = "no section '" + std::string(name) + "' in '" + name_ + "'";
        if (!section_error_.empty()) msg += " (section table unreadable: " + section_error_ + ")";
        fail(ErrorCode::Format, msg);
    }
    if (!range_fits(s->offset, s->size, bytes_.size()))
        fail(ErrorCode::Format, "section '" + s->name + "' [offset " + hex(s->offset) + ", size " + hex(s->size) +
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

std::unique_ptr<MemoryView> CoreFile::plain_memory() const { return std::make_unique<PlainMemory>(map_, bytes_, loads_); }

}  // namespace pvdump::format
