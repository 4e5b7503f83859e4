// Test helper: re-lays out a sealed PV dump in QEMU's layout with chosen
// PT_LOADs, file offsets and sizes, reusing the source dump's authenticated
// parts (notes with the CPU blobs, pv_compl) so the key still opens it.
// Used for tiny seed dumps (fuzz corpus), dumps whose memory sits past 4 GiB in
// a sparse file, and large dumps made of holes (interrupt tests).
#pragma once
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "format/core_file.hpp"
#include "format/elf.hpp"

namespace minidump {

using pvdump::format::store_be16;
using pvdump::format::store_be32;
using pvdump::format::store_be64;

// A file given as pieces at offsets; the rest reads as zeros (holes on disk).
struct SparseFile {
    std::uint64_t size = 0;
    std::vector<std::pair<std::uint64_t, std::vector<std::uint8_t>>> pieces;

    void put(std::uint64_t offset, std::vector<std::uint8_t> bytes) {
        size = std::max(size, offset + bytes.size());
        pieces.emplace_back(offset, std::move(bytes));
    }
    std::vector<std::uint8_t> flat() const {
        std::vector<std::uint8_t> out(size, 0);
        for (const auto& [off, b] : pieces) std::copy(b.begin(), b.end(), out.begin() + std::ptrdiff_t(off));
        return out;
    }
    void write(const std::string& path) const {
        int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) throw std::runtime_error("cannot create " + path);
        bool ok = ftruncate(fd, off_t(size)) == 0;
        for (const auto& [off, b] : pieces)
            ok = ok && ::pwrite(fd, b.data(), b.size(), off_t(off)) == ssize_t(b.size());
        ::close(fd);
        if (!ok) throw std::runtime_error("cannot write " + path);
    }
};

struct Load {
    std::uint64_t paddr;       // guest address, page-aligned
    std::uint64_t pages;
    std::uint64_t file_offset; // 0: right after the previous part
    // Content and tweak components come from the source dump's pages
    // [src_page, src_page + pages) (its single PT_LOAD at 0). With
    // synthetic, the memory is a hole and the components are fresh
    // (all pages encrypted, a unique tweak each).
    std::uint64_t src_page = 0;
    bool synthetic = false;
};

// meta_offset / compl_offset 0: placed after the previous part.
inline SparseFile relayout(const pvdump::format::CoreFile& src, const std::vector<Load>& loads,
                           std::uint64_t meta_offset = 0) {
    using namespace pvdump::format;
    const auto& sl = src.loads().at(0);
    const Bytes sfile = src.bytes();
    const Bytes smeta = src.section_bytes("pv_mem_meta");
    const Bytes scompl = src.section_bytes("pv_compl");
    const Bytes notes = sfile.subspan(*src.note_offset(), src.note_size());
    static const char strtab[] = "\0pv_mem_meta\0pv_compl\0\0\0\0.shstrtab";  // 35 bytes with the final NUL

    SparseFile f;
    const std::uint64_t shoff = 64, phoff = shoff + 4 * 64, phnum = 1 + loads.size();
    const std::uint64_t note_off = phoff + phnum * 56;
    std::uint64_t pos = note_off + notes.size();
    f.put(note_off, std::vector<std::uint8_t>(notes.begin(), notes.end()));

    std::vector<std::uint64_t> offsets;
    std::uint64_t meta_entries = 0;
    for (const Load& l : loads) {
        const std::uint64_t off = l.file_offset ? l.file_offset : pos;
        offsets.push_back(off);
        if (!l.synthetic) {
            f.put(off, std::vector<std::uint8_t>(sfile.begin() + std::ptrdiff_t(sl.offset + l.src_page * 4096),
                                                 sfile.begin() + std::ptrdiff_t(sl.offset + (l.src_page + l.pages) * 4096)));
        }
        f.size = std::max(f.size, off + l.pages * 4096);
        pos = off + l.pages * 4096;
        meta_entries = std::max(meta_entries, l.paddr / 4096 + l.pages);
    }
    // pv_mem_meta: sized per whole MiB like QEMU's, components by guest address.
    meta_entries = (meta_entries + 255) / 256 * 256;
    const std::uint64_t moff = meta_offset ? meta_offset : pos;
    for (const Load& l : loads) {
        std::vector<std::uint8_t> comps(l.pages * 16, 0);
        for (std::uint64_t p = 0; p < l.pages; ++p) {
            if (l.synthetic) {
                store_be64(comps.data() + 16 * p + 8, (std::uint64_t(0xabcd) << 40) | (l.paddr / 4096 + p));
            } else {
                std::memcpy(comps.data() + 16 * p, smeta.data() + 16 * (l.src_page + p), 16);
            }
        }
        f.put(moff + 16 * (l.paddr / 4096), std::move(comps));
    }
    const std::uint64_t meta_size = meta_entries * 16;
    f.size = std::max(f.size, moff + meta_size);
    const std::uint64_t coff = moff + meta_size, stroff = coff + scompl.size();
    f.put(coff, std::vector<std::uint8_t>(scompl.begin(), scompl.end()));
    f.put(stroff, std::vector<std::uint8_t>(strtab, strtab + 35));

    std::vector<std::uint8_t> head(note_off, 0);
    Writer w(head, "mini dump headers");
    elf::Ehdr eh;
    eh.phoff = phoff;
    eh.shoff = shoff;
    eh.ehsize = 8;  // as QEMU writes it
    eh.phnum = std::uint16_t(phnum);
    eh.shentsize = elf::Shdr::kSize;
    eh.shnum = 4;
    eh.shstrndx = 3;
    eh.encode(w);
    auto shdr = [&](int i, std::uint32_t name, std::uint32_t type, std::uint64_t off, std::uint64_t size) {
        elf::Shdr sh;
        sh.name = name;
        sh.type = type;
        sh.offset = off;
        sh.size = size;
        sh.encode(w, shoff + elf::Shdr::kSize * i);
    };
    shdr(1, 1, 1, moff, meta_size);
    shdr(2, 13, 1, coff, scompl.size());
    shdr(3, 25, 3, stroff, 35);
    elf::Phdr note;
    note.type = elf::PT_NOTE;
    note.offset = note_off;
    note.filesz = note.memsz = notes.size();
    note.encode(w, phoff);
    for (std::size_t i = 0; i < loads.size(); ++i) {
        elf::Phdr load;
        load.type = elf::PT_LOAD;
        load.offset = offsets[i];
        load.vaddr = load.paddr = loads[i].paddr;
        load.filesz = load.memsz = loads[i].pages * 4096;
        load.encode(w, phoff + elf::Phdr::kSize * (i + 1));
    }
    f.put(0, std::move(head));
    return f;
}

}  // namespace minidump
