#include "format/qemu_writer.hpp"

#include <cstring>

#include "format/bytes.hpp"
#include "format/elf.hpp"

namespace pvdump::format {

namespace {

using elf::Phdr;
using elf::Shdr;
constexpr std::uint64_t kNoteHeader = elf::Nhdr::kSize, kNoteName = 8;  // "CORE"/"LINUX" + NUL, padded to 8

std::uint64_t checked_add(std::uint64_t a, std::uint64_t b, const char* what) {
    std::uint64_t r;
    if (add_overflows(a, b, r)) fail(ErrorCode::InvalidArgument, std::string("QEMU layout: ") + what + " overflows 64 bits");
    return r;
}

// The descriptor sizes of qemu_cpu_notes(), in its order.
constexpr std::uint64_t kClearDescSizes[] = {kPrstatusSize, kFpregsetSize, 4, 128, 8, 8, 4, 128, 256, 32};

void encode_section_header(Writer& w, std::uint64_t at, std::uint32_t name, std::uint32_t type, std::uint64_t offset,
                           std::uint64_t size) {
    Shdr sh;
    sh.name = name;
    sh.type = type;
    sh.offset = offset;
    sh.size = size;
    sh.encode(w, at);
}

}  // namespace

std::vector<std::uint8_t> qemu_shstrtab(bool pv_sections) {
    static constexpr char kPv[] = "\0pv_mem_meta\0pv_compl\0\0\0\0.shstrtab";  // + implicit NUL = 35
    static constexpr char kPlain[] = "\0.shstrtab";                          // + implicit NUL = 11
    if (pv_sections) return {kPv, kPv + sizeof(kPv)};
    return {kPlain, kPlain + sizeof(kPlain)};
}

QemuLayout::QemuLayout(QemuLayoutParams params) : p_(std::move(params)) {
    if (p_.cpus == 0) fail(ErrorCode::InvalidArgument, "QEMU layout: a guest needs at least one CPU");
    if (p_.blocks.empty()) fail(ErrorCode::InvalidArgument, "QEMU layout: a guest needs at least one RAM block");
    std::uint64_t prev_end = 0;
    for (std::size_t i = 0; i < p_.blocks.size(); ++i) {
        const MemoryRange& b = p_.blocks[i];
        const std::string name = "RAM block " + std::to_string(i) + " [" + hex(b.paddr) + ", size " + hex(b.size) + "]";
        if (b.size == 0) fail(ErrorCode::InvalidArgument, name + " is empty");
        if (b.paddr % kPageSize || b.size % kPageSize) fail(ErrorCode::InvalidArgument, name + " is not 4 KiB aligned");
        if (i > 0 && b.paddr < prev_end)
            fail(ErrorCode::InvalidArgument, name + " overlaps or precedes the block before it (which ends at " + hex(prev_end) + ")");
        prev_end = checked_add(b.paddr, b.size, "block end");
    }
    if (phnum() > 0xffffffffull) fail(ErrorCode::InvalidArgument, "QEMU layout: too many RAM blocks for ELF (sh_info is 32 bits)");

    for (std::uint64_t s : kClearDescSizes) cpu_note_size_ += kNoteHeader + kNoteName + s;
    if (p_.pv_cpu_notes) cpu_note_size_ += kNoteHeader + kNoteName + ((p_.cpu_dump_size + 3) & ~3ull);
    std::uint64_t total_notes;
    if (mul_overflows(cpu_note_size_, p_.cpus, total_notes)) fail(ErrorCode::InvalidArgument, "QEMU layout: notes overflow 64 bits");
    note_size_ = total_notes;
    note_offset_ = phoff() + Phdr::kSize * phnum();
    memory_offset_ = checked_add(note_offset_, note_size_, "memory offset");

    std::uint64_t off = memory_offset_;
    for (const MemoryRange& b : p_.blocks) {
        block_offsets_.push_back(off);
        off = checked_add(off, b.size, "memory end");
        memory_size_ += b.size;
    }
    std::uint64_t end = off;
    if (p_.pv_sections) {
        const std::uint64_t mib = (prev_end + kMiB - 1) / kMiB;  // highest address, whole MiB up
        if (mul_overflows(mib, p_.mem_state_per_mib, meta_size_)) fail(ErrorCode::InvalidArgument, "QEMU layout: pv_mem_meta overflows");
        meta_offset_ = end;
        end = checked_add(end, meta_size_, "pv_mem_meta end");
        compl_offset_ = end;
        end = checked_add(end, p_.completion_size, "pv_compl end");
    }
    shstrtab_ = qemu_shstrtab(p_.pv_sections);
    shstrtab_offset_ = end;
    file_size_ = checked_add(end, shstrtab_.size(), "file size");
}

std::uint64_t QemuLayout::pv_cpu_desc_offset(std::size_t cpu) const {
    if (!p_.pv_cpu_notes || cpu >= p_.cpus) fail(ErrorCode::Internal, "QEMU layout: no PV CPU note for CPU " + std::to_string(cpu));
    return note_offset_ + cpu_note_size_ * (cpu + 1) - ((p_.cpu_dump_size + 3) & ~3ull);
}

std::uint64_t QemuLayout::file_offset_of(std::uint64_t paddr) const {
    for (std::size_t i = 0; i < p_.blocks.size(); ++i) {
        const MemoryRange& b = p_.blocks[i];
        if (paddr >= b.paddr && paddr - b.paddr < b.size) return block_offsets_[i] + (paddr - b.paddr);
    }
    fail(ErrorCode::Internal, "QEMU layout: guest address " + hex(paddr) + " is in no RAM block");
}

std::vector<std::uint8_t> QemuLayout::encode_headers() const {
    std::vector<std::uint8_t> out(note_offset_, 0);
    Writer w(out, "QEMU headers");
    const bool xnum = phnum() >= elf::PN_XNUM;
    elf::Ehdr eh;
    eh.phoff = phoff();
    eh.shoff = shoff();
    eh.ehsize = kQemuEhsize;
    eh.phnum = xnum ? elf::PN_XNUM : std::uint16_t(phnum());
    eh.shentsize = Shdr::kSize;
    eh.shnum = shnum();
    eh.shstrndx = shstrndx();
    eh.encode(w);

    // [0] null; with PN_XNUM its sh_info carries the real program header count.
    Shdr s0;
    if (xnum) s0.info = std::uint32_t(phnum());
    s0.encode(w, shoff());
    const std::uint64_t sh1 = shoff() + Shdr::kSize;
    if (p_.pv_sections) {
        encode_section_header(w, sh1, 1, elf::SHT_PROGBITS, meta_offset_, meta_size_);
        encode_section_header(w, sh1 + Shdr::kSize, 13, elf::SHT_PROGBITS, compl_offset_, p_.completion_size);
        encode_section_header(w, sh1 + 2 * Shdr::kSize, 25, elf::SHT_STRTAB, shstrtab_offset_, shstrtab_.size());
    } else {
        encode_section_header(w, sh1, 1, elf::SHT_STRTAB, shstrtab_offset_, shstrtab_.size());
    }

    Phdr note;
    note.type = elf::PT_NOTE;
    note.offset = note_offset_;
    note.filesz = note.memsz = note_size_;
    note.encode(w, phoff());
    for (std::size_t i = 0; i < p_.blocks.size(); ++i) {
        const MemoryRange& b = p_.blocks[i];
        Phdr load;  // QEMU writes p_flags 0 and p_align 0
        load.type = elf::PT_LOAD;
        load.offset = block_offsets_[i];
        load.vaddr = load.paddr = b.paddr;
        load.filesz = load.memsz = b.size;
        load.encode(w, phoff() + Phdr::kSize * (i + 1));
    }
    return out;
}

std::vector<std::uint8_t> QemuLayout::encode_notes(const std::vector<CpuState>& clear,
                                                   const std::vector<std::vector<std::uint8_t>>& pv_blobs) const {
    if (clear.size() != p_.cpus) fail(ErrorCode::Internal, "QEMU layout: CPU count differs from the layout's");
    if (p_.pv_cpu_notes && pv_blobs.size() != p_.cpus) fail(ErrorCode::Internal, "QEMU layout: one PV CPU blob per CPU needed");
    std::vector<NoteBlob> notes;
    for (std::size_t i = 0; i < clear.size(); ++i) {
        // QEMU's pr_pid is the CPU index + 1.
        std::vector<NoteBlob> cpu = qemu_cpu_notes(clear[i], std::uint32_t(i + 1));
        for (NoteBlob& n : cpu) notes.push_back(std::move(n));
        if (p_.pv_cpu_notes) {
            if (pv_blobs[i].size() != p_.cpu_dump_size)
                fail(ErrorCode::Internal, "QEMU layout: PV CPU blob " + std::to_string(i) + " has the wrong size");
            notes.push_back({"LINUX", NT_S390_PV_CPU_DATA_, pv_blobs[i]});
        }
    }
    std::vector<std::uint8_t> out = format::encode_notes(notes);
    if (out.size() != note_size_)
        fail(ErrorCode::Internal, "QEMU layout: notes are " + std::to_string(out.size()) + " bytes, the layout expects " +
                                      std::to_string(note_size_));
    return out;
}

}  // namespace pvdump::format
