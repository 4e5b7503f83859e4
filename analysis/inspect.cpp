// pvinspect's library: info, verify, cpus and the kernel log of a dump.
#include "analysis/inspect.hpp"

#include "analysis/provenance.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>

#include <openssl/crypto.h>

#include "format/elf.hpp"
#include "format/mapped_file.hpp"

namespace pvdump::analysis {
using namespace format;

namespace {

using elf::PT_LOAD;
using elf::PT_NOTE;
constexpr std::uint64_t kPhdrSize = elf::Phdr::kSize, kShdrSize = elf::Shdr::kSize;

std::uint64_t end_of(std::uint64_t offset, std::uint64_t size) {
    std::uint64_t e;
    return add_overflows(offset, size, e) ? ~std::uint64_t(0) : e;
}

// ---- what the headers of an unindexable file still tell --------------------------

// CoreFile refuses a file as soon as one part is out of bounds; for triage we
// read every header field that is inside the file and mark what is not.
void probe_headers(Bytes file, InfoReport& r) {
    if (file.size() < 64 || std::memcmp(file.data(), "\x7f" "ELF", 4) != 0 || file[4] != 2 || file[5] != 2) return;
    Reader f(file, "file '" + r.path + "'");
    r.phoff = f.u64(32, "e_phoff");
    r.shoff = f.u64(40, "e_shoff");
    r.e_ehsize = f.u16(52, "e_ehsize");
    r.phnum = f.u16(56, "e_phnum");
    const std::uint64_t shnum = f.u16(60, "e_shnum");
    const std::uint16_t shstrndx = f.u16(62, "e_shstrndx");
    r.described_size = 64;
    if (r.phnum != elf::PN_XNUM) r.described_size = std::max(r.described_size, end_of(r.phoff, r.phnum * kPhdrSize));
    r.described_size = std::max(r.described_size, end_of(r.shoff, shnum * kShdrSize));

    // Sections first: their names tell a PV dump.
    if (r.shoff && shnum && shnum < 4096 && range_fits(r.shoff, shnum * kShdrSize, file.size()) && shstrndx < shnum) {
        const std::uint64_t so = r.shoff + std::uint64_t(shstrndx) * kShdrSize;
        const std::uint64_t str_off = f.u64(so + 24, "sh_offset"), str_size = f.u64(so + 32, "sh_size");
        const bool strtab_ok = range_fits(str_off, str_size, file.size());
        for (std::uint64_t i = 1; i < shnum; ++i) {
            const std::uint64_t o = r.shoff + i * kShdrSize;
            SectionInfo s;
            const std::uint32_t name_idx = f.u32(o, "sh_name");
            s.offset = f.u64(o + 24, "sh_offset");
            s.size = f.u64(o + 32, "sh_size");
            s.in_file = range_fits(s.offset, s.size, file.size());
            if (strtab_ok && name_idx < str_size) {
                const char* nm = reinterpret_cast<const char*>(file.data() + str_off + name_idx);
                s.name.assign(nm, strnlen(nm, str_size - name_idx));
            } else {
                s.name = "section " + std::to_string(i);
            }
            r.described_size = std::max(r.described_size, end_of(s.offset, s.size));
            r.sections.push_back(std::move(s));
        }
    }
    for (const auto& s : r.sections)
        if (s.name == "pv_compl") r.kind = ContainerKind::PvDump;

    if (r.phnum == elf::PN_XNUM || !range_fits(r.phoff, r.phnum * kPhdrSize, file.size())) return;
    for (unsigned i = 0; i < r.phnum; ++i) {
        const std::uint64_t o = r.phoff + std::uint64_t(i) * kPhdrSize;
        const std::uint32_t type = f.u32(o, "p_type");
        const std::uint64_t off = f.u64(o + 8, "p_offset"), filesz = f.u64(o + 32, "p_filesz");
        r.described_size = std::max(r.described_size, end_of(off, filesz));
        if (type == PT_NOTE && !r.note_offset) {
            r.note_offset = off;
            r.note_size = filesz;
            if (!range_fits(off, filesz, file.size())) continue;
            try {
                for (const Note& n : parse_notes(file.subspan(off, filesz), off)) {
                    if (n.name == "CORE" && n.type == NT_PRSTATUS_) ++r.cpus;
                    if (n.name == "LINUX" && n.type == NT_S390_PV_CPU_DATA_) ++r.cpus_pv_data;
                    if (n.name == "VMCOREINFO") r.vmcoreinfo_note = true;
                }
            } catch (const Error&) {
                // the note area is malformed: the CPU count stays what was read
            }
        } else if (type == PT_LOAD) {
            MemoryBlockInfo b;
            b.phdr = i;
            b.offset = off;
            b.filesz = filesz;
            b.paddr = f.u64(o + 24, "p_paddr");
            b.memsz = f.u64(o + 40, "p_memsz");
            b.in_file = range_fits(off, filesz, file.size());
            if (!r.memory_offset) r.memory_offset = off;
            r.memory_size += b.memsz;
            r.blocks.push_back(b);
        }
    }
}

// ---- ciphertext or memory? ------------------------------------------------------

double byte_entropy(const std::uint8_t* p, std::size_t n) {
    std::array<std::uint32_t, 256> count{};
    for (std::size_t i = 0; i < n; ++i) ++count[p[i]];
    double h = 0;
    for (std::uint32_t c : count)
        if (c) {
            const double q = double(c) / double(n);
            h -= q * std::log2(q);
        }
    return h;
}

constexpr double kRandomEntropy = 7.5;  // 4 KiB of ciphertext scores ~7.95; kernel text ~6, page tables far less
constexpr std::uint64_t kSamplePages = 1024;

CiphertextEvidence look_at_memory(const CoreFile& dump) {
    CiphertextEvidence ev;
    for (const auto& n : dump.notes())
        if (n.name == "LINUX" && n.type == NT_S390_PV_CPU_DATA_) ++ev.pv_cpu_notes;
    std::unique_ptr<MemoryView> mem = dump.plain_memory();
    // Page-aligned pages of all blocks, page 0 first (the absolute lowcore).
    std::vector<std::uint64_t> pages;
    std::uint64_t total = 0;
    for (const auto& l : dump.loads()) total += l.memsz / kPageSize;
    const std::uint64_t step = std::max<std::uint64_t>(1, total / kSamplePages);
    std::uint64_t k = 0;
    for (const auto& l : dump.loads())
        for (std::uint64_t p = 0; p < l.memsz / kPageSize; ++p, ++k)
            if (k % step == 0) pages.push_back(l.paddr + p * kPageSize);
    std::vector<std::uint8_t> page(kPageSize);
    double entropy_sum = 0;
    ev.lowcore_readable = mem->contains(0, kPageSize);
    if (ev.lowcore_readable) {
        mem->read(0, page);
        const auto zeros = std::uint64_t(std::count(page.begin(), page.end(), 0));
        ev.lowcore_sane = zeros >= kPageSize / 4 && byte_entropy(page.data(), kPageSize) < 6.0;
    }
    for (std::uint64_t a : pages) {
        mem->read(a, page);
        ++ev.pages_sampled;
        if (std::all_of(page.begin(), page.end(), [](std::uint8_t b) { return b == 0; })) {
            ++ev.zero_pages;
            continue;
        }
        const double h = byte_entropy(page.data(), kPageSize);
        entropy_sum += h;
        if (h >= kRandomEntropy) ++ev.random_pages;
    }
    const std::uint64_t nonzero = ev.pages_sampled - ev.zero_pages;
    ev.mean_entropy = nonzero ? entropy_sum / double(nonzero) : 0;
    try {
        ev.vmcoreinfo_found = guest::find_vmcoreinfo(*mem).has_value();
    } catch (const Error&) {
        ev.vmcoreinfo_found = false;
    }
    return ev;
}

ContainerKind classify_plain(const CiphertextEvidence& ev, bool vmcoreinfo_note) {
    if (vmcoreinfo_note || ev.vmcoreinfo_found) return ContainerKind::PlainVmcore;
    if (ev.pv_cpu_notes > 0) return ContainerKind::DumpDisallowed;
    const std::uint64_t nonzero = ev.pages_sampled - ev.zero_pages;
    if (nonzero > 0 && !ev.lowcore_sane && ev.random_pages * 2 >= nonzero) return ContainerKind::DumpDisallowed;
    return ContainerKind::PlainVmcore;
}

}  // namespace

const char* container_kind_id(ContainerKind kind) {
    switch (kind) {
    case ContainerKind::PvDump: return "pv-dump";
    case ContainerKind::PlainVmcore: return "plain-vmcore";
    case ContainerKind::DumpDisallowed: return "dump-disallowed";
    case ContainerKind::Unreadable: return "unreadable";
    }
    return "?";
}

InfoReport inspect_info(const CoreFile& dump) {
    InfoReport r;
    r.path = dump.name();
    r.file_size = dump.file_size();
    r.e_ehsize = dump.ehsize();
    r.phoff = dump.phoff();
    r.shoff = dump.shoff();
    r.note_offset = dump.note_offset();
    r.note_size = dump.note_size();
    r.section_error = dump.section_error();
    r.vmcoreinfo_note = dump.vmcoreinfo_note().has_value();
    r.phnum = dump.bytes().size() >= 58 ? load_be16(dump.bytes().data() + 56) : 0;
    r.described_size = std::max<std::uint64_t>(64, end_of(r.phoff, r.phnum * kPhdrSize));
    if (r.note_offset) r.described_size = std::max(r.described_size, end_of(*r.note_offset, r.note_size));
    for (const auto& l : dump.loads()) {
        r.blocks.push_back({l.index, l.paddr, l.memsz, l.offset, l.filesz, true});
        if (!r.memory_offset) r.memory_offset = l.offset;
        r.described_size = std::max(r.described_size, end_of(l.offset, l.filesz));
    }
    r.memory_size = dump.memory_size();
    for (const auto& s : dump.sections()) {
        SectionInfo si{s.name, s.offset, s.size, range_fits(s.offset, s.size, dump.file_size())};
        r.described_size = std::max(r.described_size, end_of(s.offset, s.size));
        r.sections.push_back(si);
    }
    if (!dump.sections().empty()) r.described_size = std::max(r.described_size, end_of(r.shoff, (r.sections.size() + 1) * kShdrSize));
    for (const auto& n : dump.notes()) {
        if (n.name == "CORE" && n.type == NT_PRSTATUS_) ++r.cpus;
        if (n.name == "LINUX" && n.type == NT_S390_PV_CPU_DATA_) ++r.cpus_pv_data;
    }

    if (!dump.is_pv()) {
        r.evidence = look_at_memory(dump);
        r.kind = classify_plain(*r.evidence, r.vmcoreinfo_note);
        return r;
    }
    r.kind = ContainerKind::PvDump;
    try {
        const Bytes compl_bytes = dump.section_bytes("pv_compl");
        if (compl_bytes.size() >= 8) {
            r.compl_version = load_be32(compl_bytes.data());
            r.compl_length = load_be32(compl_bytes.data() + 4);
        }
        for (const auto& l : dump.loads())
            r.meta_needed = std::max(r.meta_needed, (l.paddr + l.memsz) / kPageSize * kTweakSize);
        r.plan = page_plan(dump, nullptr);
    } catch (const Error& e) {
        if (e.code() != ErrorCode::Format) throw;
        r.error = e.what();
    }
    return r;
}

InfoReport inspect_info(const std::string& path) {
    try {
        return inspect_info(CoreFile::open(path));
    } catch (const Error& e) {
        if (e.code() != ErrorCode::Format) throw;
        MappedFile map(path);
        InfoReport r;
        r.path = path;
        r.file_size = map.size();
        r.error = e.what();
        probe_headers(map.bytes(), r);
        // Encrypted CPU states tell a PV dump even when its sections are gone.
        if (r.cpus_pv_data > 0) r.kind = ContainerKind::PvDump;
        return r;
    }
}

// ---- kernel log ------------------------------------------------------------------------

KernelLogReport dump_kernel_log(const MemoryView& mem, const std::optional<std::string>& vmcoreinfo_note,
                                ReadLabels* labels) {
    KernelLogReport r;
    auto label = [&](std::string_view structure) {
        if (labels) labels->begin(structure);
    };
    label("the printk ring buffer (prb, descriptors, info and text rings)");
    std::optional<Error> note_failure;
    if (vmcoreinfo_note) {
        try {
            VmcoreInfo info = VmcoreInfo::parse(*vmcoreinfo_note);
            r.log = read_kernel_log_detailed(mem, info);
            r.vmcoreinfo_source = "VMCOREINFO note";
            r.osrelease = info.value("OSRELEASE");
            return r;
        } catch (const Error& e) {
            if (e.code() != ErrorCode::Format) throw;
            note_failure = e;  // the note may be stale or foreign: try the guest's own
        }
    }
    label("VMCOREINFO (the note or os_info it was found through)");
    std::optional<std::string> text = guest::find_vmcoreinfo(mem);
    if (!text) {
        if (note_failure) throw *note_failure;
        fail(ErrorCode::Format,
             "the guest publishes no VMCOREINFO (neither the pointer at lowcore 0xe0c nor os_info at 0xe18 leads to "
             "one): its kernel log cannot be found without it");
    }
    VmcoreInfo info = VmcoreInfo::parse(*text);
    label("the printk ring buffer (prb, descriptors, info and text rings)");
    r.log = read_kernel_log_detailed(mem, info);
    r.vmcoreinfo_source = "guest memory (lowcore 0xe0c / os_info 0xe18)";
    r.osrelease = info.value("OSRELEASE");
    return r;
}

}  // namespace pvdump::analysis
