// pvinspect's library: info, verify, cpus and the kernel log of a dump.
#include "analysis/inspect.hpp"

#include "analysis/pages.hpp"
#include "analysis/provenance.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>

#include <openssl/crypto.h>

#include "format/elf.hpp"

namespace pvdump::analysis {
using namespace format;

namespace {

constexpr std::uint64_t kPhdrSize = elf::Phdr::kSize, kShdrSize = elf::Shdr::kSize;

std::uint64_t end_of(std::uint64_t offset, std::uint64_t size) {
    std::uint64_t e;
    return add_overflows(offset, size, e) ? ~std::uint64_t(0) : e;
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
    Diagnostics why;
    ev.vmcoreinfo_found = guest::find_vmcoreinfo(*mem, &why).has_value();
    if (!ev.vmcoreinfo_found) ev.vmcoreinfo_problems = why.all();
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

namespace {

// What the index alone tells, damaged or not: layout, CPUs, blocks, sections,
// and the end of the furthest part the headers describe.
void describe_layout(const CoreFile& dump, InfoReport& r) {
    r.path = dump.name();
    r.file_size = dump.file_size();
    r.e_ehsize = dump.ehsize();
    r.phoff = dump.phoff();
    r.shoff = dump.shoff();
    r.phnum = dump.e_phnum();
    r.note_offset = dump.note_offset();
    r.note_size = dump.note_size();
    r.section_error = dump.section_error();
    r.vmcoreinfo_note = dump.vmcoreinfo_note().has_value();
    if (!dump.has_elf_header()) return;  // too short, or not ELF64 big-endian: nothing to tell
    r.described_size = std::max<std::uint64_t>(64, end_of(r.phoff, dump.program_header_count() * kPhdrSize));
    if (r.shoff && dump.e_shnum()) r.described_size = std::max(r.described_size, end_of(r.shoff, dump.e_shnum() * kShdrSize));
    if (r.note_offset) r.described_size = std::max(r.described_size, end_of(*r.note_offset, r.note_size));
    for (const auto& l : dump.loads()) {
        r.blocks.push_back({l.index, l.paddr, l.memsz, l.offset, l.filesz, l.in_file});
        if (!r.memory_offset) r.memory_offset = l.offset;
        r.described_size = std::max(r.described_size, end_of(l.offset, l.filesz));
    }
    r.memory_size = dump.memory_size();
    for (const auto& s : dump.sections()) {
        r.sections.push_back({s.name, s.offset, s.size, range_fits(s.offset, s.size, dump.file_size())});
        r.described_size = std::max(r.described_size, end_of(s.offset, s.size));
    }
    for (const auto& n : dump.notes()) {
        if (n.name == "CORE" && n.type == NT_PRSTATUS_) ++r.cpus;
        if (n.name == "LINUX" && n.type == NT_S390_PV_CPU_DATA_) ++r.cpus_pv_data;
    }
}

}  // namespace

InfoReport inspect_info(const CoreFile& dump) {
    InfoReport r;
    describe_layout(dump, r);
    if (!dump.is_pv()) {
        r.evidence = look_at_memory(dump);
        r.kind = classify_plain(*r.evidence, r.vmcoreinfo_note);
        return r;
    }
    r.kind = ContainerKind::PvDump;
    Diagnostics problems;  // the first one is the report's error: what stops the page plan
    const std::optional<Bytes> compl_bytes = dump.section_bytes("pv_compl", &problems);
    if (compl_bytes) {
        if (compl_bytes->size() >= 8) {
            r.compl_version = load_be32(compl_bytes->data());
            r.compl_length = load_be32(compl_bytes->data() + 4);
        }
        for (const auto& l : dump.loads())
            r.meta_needed = std::max(r.meta_needed, (l.paddr + l.memsz) / kPageSize * kTweakSize);
        if (const std::optional<detail::PageIndex> pages = detail::PageIndex::make(dump, &problems))
            r.plan = page_plan(*pages, nullptr, 1000, /*check_zero_content=*/true, /*threads=*/0);
    }
    if (const Diagnostic* d = problems.first_error()) r.error = d->message;
    return r;
}

InfoReport inspect_info(const std::string& path) {
    Diagnostics findings;
    const CoreFile dump = CoreFile::open(path, &findings);  // lenient: a damaged file still gets its report
    if (!dump.damaged()) {
        InfoReport r = inspect_info(dump);
        r.parse_findings = findings.all();  // warnings only (an unreadable section table)
        return r;
    }
    InfoReport r;
    describe_layout(dump, r);
    r.error = findings.first_error()->message;
    r.parse_findings = findings.all();
    // Its sections, or encrypted CPU states even when the sections are gone, tell a PV dump.
    r.kind = dump.is_pv() || r.cpus_pv_data > 0 ? ContainerKind::PvDump : ContainerKind::Unreadable;
    return r;
}

// ---- kernel log ------------------------------------------------------------------------

namespace {

KernelLogReport log_through(const MemoryView& mem, const VmcoreInfo& info, std::string source) {
    KernelLogReport r;
    r.log = read_kernel_log_detailed(mem, info);
    r.vmcoreinfo_source = std::move(source);
    r.osrelease = info.value("OSRELEASE");
    return r;
}

}  // namespace

KernelLogReport dump_kernel_log(const MemoryView& mem, const std::optional<std::string>& vmcoreinfo_note,
                                ReadLabels* labels) {
    auto label = [&](std::string_view structure) {
        if (labels) labels->begin(structure);
    };
    label("the printk ring buffer (prb, descriptors, info and text rings)");
    Diagnostics note_problems;  // the note may be stale or foreign: then the guest's own is tried
    if (vmcoreinfo_note)
        if (std::optional<KernelLogReport> r = lenient(&note_problems, "VMCOREINFO note", [&] {
                return log_through(mem, VmcoreInfo::parse(*vmcoreinfo_note), "VMCOREINFO note");
            }))
            return std::move(*r);
    label("VMCOREINFO (the note or os_info it was found through)");
    std::optional<std::string> text = guest::find_vmcoreinfo(mem);
    if (!text) {
        if (const Diagnostic* d = note_problems.first_error()) fail(ErrorCode::Format, d->message);
        fail(ErrorCode::Format,
             "the guest publishes no VMCOREINFO (neither the pointer at lowcore 0xe0c nor os_info at 0xe18 leads to "
             "one): its kernel log cannot be found without it");
    }
    VmcoreInfo info = VmcoreInfo::parse(*text);
    label("the printk ring buffer (prb, descriptors, info and text rings)");
    return log_through(mem, info, "guest memory (lowcore 0xe0c / os_info 0xe18)");
}

}  // namespace pvdump::analysis
