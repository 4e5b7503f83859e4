#include "format/vmcore_writer.hpp"

#include <cstring>

#include "format/elf.hpp"

namespace pvdump::format {
namespace {
constexpr std::uint64_t kAlign = 4096;
std::uint64_t align_up(std::uint64_t v, std::uint64_t a) { return (v + a - 1) / a * a; }
}  // namespace

std::vector<std::uint8_t> encode_notes(const std::vector<NoteBlob>& notes) {
    std::uint64_t total = 0;
    for (const NoteBlob& n : notes)
        total += elf::Nhdr{std::uint32_t(n.name.size() + 1), std::uint32_t(n.desc.size()), n.type}.total_size();
    std::vector<std::uint8_t> out(total, 0);
    Writer w(out, "notes");
    std::uint64_t at = 0;
    for (const NoteBlob& n : notes) {
        const elf::Nhdr h{std::uint32_t(n.name.size() + 1), std::uint32_t(n.desc.size()), n.type};
        h.encode(w, at);
        w.put(at + h.name_offset(), Bytes(reinterpret_cast<const std::uint8_t*>(n.name.c_str()), h.namesz), "note name");
        w.put(at + h.desc_offset(), n.desc, "note descriptor");
        at += h.total_size();
    }
    return out;
}

VmcoreLayout::VmcoreLayout(const std::vector<CpuState>& cpus, const std::vector<MemoryRange>& ranges,
                           const std::optional<std::string>& vmcoreinfo)
    : ranges_(ranges) {
    std::vector<NoteBlob> notes;
    notes.push_back({"CORE", NT_PRPSINFO_, prpsinfo_desc()});
    for (std::size_t i = 0; i < cpus.size(); ++i) {
        auto cpu_notes = vmcore_cpu_notes(cpus[i], std::uint32_t(i + 1));
        notes.insert(notes.end(), cpu_notes.begin(), cpu_notes.end());
    }
    if (vmcoreinfo) notes.push_back({"VMCOREINFO", 0, std::vector<std::uint8_t>(vmcoreinfo->begin(), vmcoreinfo->end())});
    const std::vector<std::uint8_t> note_bytes = encode_notes(notes);

    using elf::Phdr;
    using elf::Shdr;
    const std::uint64_t phnum = 1 + ranges.size();
    const bool xnum = phnum >= elf::PN_XNUM;
    const std::uint64_t phoff = elf::Ehdr::kSize;
    // With PN_XNUM, section 0 follows the program headers and holds the count.
    const std::uint64_t shoff = xnum ? phoff + phnum * Phdr::kSize : 0;
    const std::uint64_t note_off = phoff + phnum * Phdr::kSize + (xnum ? Shdr::kSize : 0);
    std::uint64_t mem_off = align_up(note_off + note_bytes.size(), kAlign);

    head_.assign(mem_off, 0);
    Writer w(head_, "vmcore headers");
    elf::Ehdr eh;
    eh.phoff = phoff;
    eh.shoff = shoff;
    eh.phnum = xnum ? elf::PN_XNUM : std::uint16_t(phnum);
    eh.shnum = xnum ? 1 : 0;
    eh.shentsize = xnum ? Shdr::kSize : 0;
    eh.encode(w);
    if (xnum) {
        Shdr s0;
        s0.info = std::uint32_t(phnum);
        s0.encode(w, shoff);
    }

    Phdr note;
    note.type = elf::PT_NOTE;
    note.offset = note_off;
    note.filesz = note.memsz = note_bytes.size();
    note.encode(w, phoff);
    std::uint64_t off = mem_off;
    for (std::size_t i = 0; i < ranges.size(); ++i) {
        offsets_.push_back(off);
        Phdr load;
        load.type = elf::PT_LOAD;
        load.flags = elf::PF_R | elf::PF_W | elf::PF_X;
        load.offset = off;
        load.vaddr = load.paddr = ranges[i].paddr;
        load.filesz = load.memsz = ranges[i].size;
        load.align = kAlign;
        load.encode(w, phoff + Phdr::kSize * (i + 1));
        off = align_up(off + ranges[i].size, kAlign);
    }
    w.put(note_off, note_bytes, "notes");
    file_size_ = ranges.empty() ? mem_off : offsets_.back() + ranges.back().size;
}

}  // namespace pvdump::format
