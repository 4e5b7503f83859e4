#include "format/elf.hpp"

#include <cstring>

namespace pvdump::format::elf {

Ehdr Ehdr::decode(const Reader& r) {
    Ehdr h;
    const Bytes ident = r.sub(0, 16, "e_ident");
    h.magic_ok = std::memcmp(ident.data(), "\x7f" "ELF", 4) == 0;
    h.ei_class = ident[kClass];
    h.ei_data = ident[kData];
    h.ei_version = ident[kIdentVersion];
    h.type = r.u16(kType, "e_type");
    h.machine = r.u16(kMachine, "e_machine");
    h.version = r.u32(kVersion, "e_version");
    h.entry = r.u64(kEntry, "e_entry");
    h.phoff = r.u64(kPhoff, "e_phoff");
    h.shoff = r.u64(kShoff, "e_shoff");
    h.flags = r.u32(kFlags, "e_flags");
    h.ehsize = r.u16(kEhsize, "e_ehsize");
    h.phentsize = r.u16(kPhentsize, "e_phentsize");
    h.phnum = r.u16(kPhnum, "e_phnum");
    h.shentsize = r.u16(kShentsize, "e_shentsize");
    h.shnum = r.u16(kShnum, "e_shnum");
    h.shstrndx = r.u16(kShstrndx, "e_shstrndx");
    return h;
}

void Ehdr::encode(Writer& w) const {
    const MutableBytes ident = w.sub(0, 16, "e_ident");
    std::memset(ident.data(), 0, ident.size());
    std::memcpy(ident.data(), "\x7f" "ELF", 4);
    ident[kClass] = ei_class;
    ident[kData] = ei_data;
    ident[kIdentVersion] = ei_version;
    w.u16(kType, type, "e_type");
    w.u16(kMachine, machine, "e_machine");
    w.u32(kVersion, version, "e_version");
    w.u64(kEntry, entry, "e_entry");
    w.u64(kPhoff, phoff, "e_phoff");
    w.u64(kShoff, shoff, "e_shoff");
    w.u32(kFlags, flags, "e_flags");
    w.u16(kEhsize, ehsize, "e_ehsize");
    w.u16(kPhentsize, phentsize, "e_phentsize");
    w.u16(kPhnum, phnum, "e_phnum");
    w.u16(kShentsize, shentsize, "e_shentsize");
    w.u16(kShnum, shnum, "e_shnum");
    w.u16(kShstrndx, shstrndx, "e_shstrndx");
}

Phdr Phdr::decode(const Reader& table, std::uint64_t at) {
    const Reader r(table.sub(at, kSize, "program header"), table.what(), table.base() + at);
    Phdr p;
    p.type = r.u32(kType, "p_type");
    p.flags = r.u32(kFlags, "p_flags");
    p.offset = r.u64(kOffset, "p_offset");
    p.vaddr = r.u64(kVaddr, "p_vaddr");
    p.paddr = r.u64(kPaddr, "p_paddr");
    p.filesz = r.u64(kFilesz, "p_filesz");
    p.memsz = r.u64(kMemsz, "p_memsz");
    p.align = r.u64(kAlign, "p_align");
    return p;
}

void Phdr::encode(Writer& table, std::uint64_t at) const {
    Writer w(table.sub(at, kSize, "program header"), "program header");
    w.u32(kType, type, "p_type");
    w.u32(kFlags, flags, "p_flags");
    w.u64(kOffset, offset, "p_offset");
    w.u64(kVaddr, vaddr, "p_vaddr");
    w.u64(kPaddr, paddr, "p_paddr");
    w.u64(kFilesz, filesz, "p_filesz");
    w.u64(kMemsz, memsz, "p_memsz");
    w.u64(kAlign, align, "p_align");
}

Shdr Shdr::decode(const Reader& table, std::uint64_t at) {
    const Reader r(table.sub(at, kSize, "section header"), table.what(), table.base() + at);
    Shdr s;
    s.name = r.u32(kName, "sh_name");
    s.type = r.u32(kType, "sh_type");
    s.flags = r.u64(kFlags, "sh_flags");
    s.addr = r.u64(kAddr, "sh_addr");
    s.offset = r.u64(kOffset, "sh_offset");
    s.size = r.u64(kSectionSize, "sh_size");
    s.link = r.u32(kLink, "sh_link");
    s.info = r.u32(kInfo, "sh_info");
    s.addralign = r.u64(kAddralign, "sh_addralign");
    s.entsize = r.u64(kEntsize, "sh_entsize");
    return s;
}

void Shdr::encode(Writer& table, std::uint64_t at) const {
    Writer w(table.sub(at, kSize, "section header"), "section header");
    w.u32(kName, name, "sh_name");
    w.u32(kType, type, "sh_type");
    w.u64(kFlags, flags, "sh_flags");
    w.u64(kAddr, addr, "sh_addr");
    w.u64(kOffset, offset, "sh_offset");
    w.u64(kSectionSize, size, "sh_size");
    w.u32(kLink, link, "sh_link");
    w.u32(kInfo, info, "sh_info");
    w.u64(kAddralign, addralign, "sh_addralign");
    w.u64(kEntsize, entsize, "sh_entsize");
}

Nhdr Nhdr::decode(const Reader& area, std::uint64_t at) {
    const Reader r(area.sub(at, kSize, "note header"), area.what(), area.base() + at);
    return {r.u32(kNamesz, "note namesz"), r.u32(kDescsz, "note descsz"), r.u32(kType, "note type")};
}

void Nhdr::encode(Writer& area, std::uint64_t at) const {
    Writer w(area.sub(at, kSize, "note header"), "note header");
    w.u32(kNamesz, namesz, "note namesz");
    w.u32(kDescsz, descsz, "note descsz");
    w.u32(kType, type, "note type");
}

}  // namespace pvdump::format::elf
