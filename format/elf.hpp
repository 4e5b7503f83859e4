// The ELF64 big-endian structures pvdump reads and writes (docs/format.md §2):
// one definition per on-disk structure, each with its decode (through a
// bounds-checked Reader, never a raw `base + k`) and its encode (through a
// bounds-checked Writer). Field access is explicit big-endian byte access, so
// the code is the same on s390x and on little-endian hosts. Used by the reader
// (core_file.cpp) and by both writers (vmcore_writer.cpp, qemu_writer.cpp).
#pragma once
#include <cstdint>

#include "format/bytes.hpp"

namespace pvdump::format::elf {

// ---- constants (the names of <elf.h>, which we do not include) --------------------
inline constexpr std::uint8_t ELFCLASS64 = 2;
inline constexpr std::uint8_t ELFDATA2MSB = 2;
inline constexpr std::uint8_t EV_CURRENT = 1;
inline constexpr std::uint16_t ET_CORE = 4;
inline constexpr std::uint16_t EM_S390 = 22;
// e_phnum when the real count is in section 0's sh_info.
inline constexpr std::uint16_t PN_XNUM = 0xffff;

inline constexpr std::uint32_t PT_LOAD = 1;
inline constexpr std::uint32_t PT_NOTE = 4;
inline constexpr std::uint32_t PF_X = 1, PF_W = 2, PF_R = 4;

inline constexpr std::uint32_t SHT_NULL = 0;
inline constexpr std::uint32_t SHT_PROGBITS = 1;
inline constexpr std::uint32_t SHT_STRTAB = 3;

// ---- ELF header (64 bytes at offset 0) ---------------------------------------------
struct Ehdr {
    static constexpr std::uint64_t kSize = 64;
    // e_ident: magic 0..3, EI_CLASS 4, EI_DATA 5, EI_VERSION 6, padding 7..15.
    static constexpr std::uint64_t kClass = 4, kData = 5, kIdentVersion = 6;
    static constexpr std::uint64_t kType = 16, kMachine = 18, kVersion = 20, kEntry = 24, kPhoff = 32, kShoff = 40,
                                   kFlags = 48, kEhsize = 52, kPhentsize = 54, kPhnum = 56, kShentsize = 58,
                                   kShnum = 60, kShstrndx = 62;

    bool magic_ok = false;  // decode only: bytes 0..3 are "\x7fELF"
    std::uint8_t ei_class = ELFCLASS64, ei_data = ELFDATA2MSB, ei_version = EV_CURRENT;
    std::uint16_t type = ET_CORE, machine = EM_S390;
    std::uint32_t version = 1;
    std::uint64_t entry = 0, phoff = 0, shoff = 0;
    std::uint32_t flags = 0;
    std::uint16_t ehsize = kSize, phentsize = 56, phnum = 0, shentsize = 0, shnum = 0, shstrndx = 0;

    // Reads the 64 bytes at offset 0 of `r` (Error(Format) when shorter).
    static Ehdr decode(const Reader& r);
    // Writes 64 bytes at offset 0 of `w`, magic included.
    void encode(Writer& w) const;
};

// ---- program header (56 bytes) -----------------------------------------------------
struct Phdr {
    static constexpr std::uint64_t kSize = 56;
    static constexpr std::uint64_t kType = 0, kFlags = 4, kOffset = 8, kVaddr = 16, kPaddr = 24, kFilesz = 32,
                                   kMemsz = 40, kAlign = 48;

    std::uint32_t type = 0, flags = 0;
    std::uint64_t offset = 0, vaddr = 0, paddr = 0, filesz = 0, memsz = 0, align = 0;

    // Reads the 56 bytes at `at` of `r` (Error(Format) naming the field otherwise).
    static Phdr decode(const Reader& r, std::uint64_t at);
    void encode(Writer& w, std::uint64_t at) const;
};

// ---- section header (64 bytes) -----------------------------------------------------
struct Shdr {
    static constexpr std::uint64_t kSize = 64;
    static constexpr std::uint64_t kName = 0, kType = 4, kFlags = 8, kAddr = 16, kOffset = 24, kSectionSize = 32,
                                   kLink = 40, kInfo = 44, kAddralign = 48, kEntsize = 56;

    std::uint32_t name = 0, type = SHT_NULL;
    std::uint64_t flags = 0, addr = 0, offset = 0, size = 0;
    std::uint32_t link = 0, info = 0;  // section 0's sh_info: the program header count under PN_XNUM
    std::uint64_t addralign = 0, entsize = 0;

    static Shdr decode(const Reader& r, std::uint64_t at);
    void encode(Writer& w, std::uint64_t at) const;
};

// ---- note header (12 bytes; name and descriptor follow, each padded to 4) ----------
struct Nhdr {
    static constexpr std::uint64_t kSize = 12;
    static constexpr std::uint64_t kNamesz = 0, kDescsz = 4, kType = 8;

    std::uint32_t namesz = 0, descsz = 0, type = 0;

    static Nhdr decode(const Reader& r, std::uint64_t at);
    void encode(Writer& w, std::uint64_t at) const;
    // Offsets of the name and descriptor relative to the header, and the whole
    // note's size, each padded to 4 (64-bit: no overflow for 32-bit sizes).
    static constexpr std::uint64_t pad4(std::uint64_t v) { return (v + 3) & ~std::uint64_t(3); }
    std::uint64_t name_offset() const { return kSize; }
    std::uint64_t desc_offset() const { return kSize + pad4(namesz); }
    std::uint64_t total_size() const { return desc_offset() + pad4(descsz); }
};

}  // namespace pvdump::format::elf
