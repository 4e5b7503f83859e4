#include "format/vmcore_writer.hpp"

#include <cstring>

namespace pvdump::format {
namespace {
constexpr std::uint64_t kAlign = 4096;
std::uint64_t align_up(std::uint64_t v, std::uint64_t a) { return (v + a - 1) / a * a; }
}  // namespace

void encode_elf_header(std::uint8_t out[64], const ElfHeaderFields& f) {
    std::memset(out, 0, 64);
    std::memcpy(out, "\x7f" "ELF", 4);
    out[4] = 2;  // ELFCLASS64
    out[5] = 2;  // ELFDATA2MSB
    out[6] = 1;  // EV_CURRENT
    store_be16(out + 16, 4);   // ET_CORE
    store_be16(out + 18, 22);  // EM_S390
    store_be32(out + 20, 1);
    store_be64(out + 32, f.phoff);
    store_be64(out + 40, f.shoff);
    store_be16(out + 52, f.ehsize);
    store_be16(out + 54, 56);
    store_be16(out + 56, f.phnum);
    store_be16(out + 58, f.shnum ? 64 : 0);
    store_be16(out + 60, f.shnum);
    store_be16(out + 62, f.shstrndx);
}

void encode_program_header(std::uint8_t out[56], const ProgramHeaderFields& f) {
    store_be32(out, f.type);
    store_be32(out + 4, f.flags);
    store_be64(out + 8, f.offset);
    store_be64(out + 16, f.vaddr);
    store_be64(out + 24, f.paddr);
    store_be64(out + 32, f.filesz);
    store_be64(out + 40, f.memsz);
    store_be64(out + 48, f.align);
}

std::vector<std::uint8_t> encode_notes(const std::vector<NoteBlob>& notes) {
    std::vector<std::uint8_t> out;
    for (const NoteBlob& n : notes) {
        const std::size_t namesz = n.name.size() + 1;
        const std::size_t at = out.size();
        out.resize(at + 12 + align_up(namesz, 4) + align_up(n.desc.size(), 4), 0);
        store_be32(out.data() + at, std::uint32_t(namesz));
        store_be32(out.data() + at + 4, std::uint32_t(n.desc.size()));
        store_be32(out.data() + at + 8, n.type);
        std::memcpy(out.data() + at + 12, n.name.c_str(), namesz);
        if (!n.desc.empty()) std::memcpy(out.data() + at + 12 + align_up(namesz, 4), n.desc.data(), n.desc.size());
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

    const std::uint64_t phnum = 1 + ranges.size();
    const bool xnum = phnum >= 0xffff;
    const std::uint64_t phoff = 64;
    const std::uint64_t shoff = xnum ? phoff + phnum * 56 : 0;
    const std::uint64_t note_off = phoff + phnum * 56 + (xnum ? 64 : 0);
    std::uint64_t mem_off = align_up(note_off + note_bytes.size(), kAlign);

    head_.assign(mem_off, 0);
    ElfHeaderFields eh;
    eh.phoff = phoff;
    eh.shoff = shoff;
    eh.phnum = xnum ? 0xffff : std::uint16_t(phnum);
    eh.shnum = xnum ? 1 : 0;
    encode_elf_header(head_.data(), eh);
    if (xnum) store_be32(head_.data() + shoff + 44, std::uint32_t(phnum));  // section 0 sh_info

    encode_program_header(head_.data() + phoff,
                          {4, 0, note_off, 0, 0, note_bytes.size(), note_bytes.size(), 0});
    std::uint64_t off = mem_off;
    for (std::size_t i = 0; i < ranges.size(); ++i) {
        offsets_.push_back(off);
        encode_program_header(head_.data() + phoff + 56 * (i + 1),
                              {1, 7, off, ranges[i].paddr, ranges[i].paddr, ranges[i].size, ranges[i].size, kAlign});
        off = align_up(off + ranges[i].size, kAlign);
    }
    std::memcpy(head_.data() + note_off, note_bytes.data(), note_bytes.size());
    file_size_ = ranges.empty() ? mem_off : offsets_.back() + ranges.back().size;
}

}  // namespace pvdump::format
