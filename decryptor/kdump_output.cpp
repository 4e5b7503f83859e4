#include "decryptor/kdump_output.hpp"

#include <algorithm>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>

#include "analysis/kernel_log.hpp"

namespace pvdump::decryptor {
using analysis::KernelAddressMap;
using analysis::VmcoreInfo;
using analysis::PageExclusionCounts;
using analysis::kMaxDumpLevel;
using analysis::kDumpLevelZero;
using namespace format;

void check_dump_level(unsigned level) {
    if (level > kMaxDumpLevel) fail(ErrorCode::InvalidArgument, "dump level " + std::to_string(level) + " is not 0..31");
}

void fill_kdump_utsname(KdumpHeaderInfo& info, const MemoryView& memory) {
    if (!info.vmcoreinfo) return;
    try {
        const VmcoreInfo vi = VmcoreInfo::parse(*info.vmcoreinfo);
        if (auto r = vi.value("OSRELEASE")) info.release = *r;
        const auto sym = vi.symbol("init_uts_ns");
        const auto name_off = vi.offset("uts_namespace.name");
        if (!sym || !name_off) return;
        const std::uint64_t at = KernelAddressMap::from(vi).to_phys(*sym, "init_uts_ns") + std::uint64_t(*name_off);
        if (!memory.contains(at, 6 * 65)) return;
        const std::vector<std::uint8_t> u = memory.read_bytes(at, 6 * 65);
        auto field = [&](int k) {
            const char* p = reinterpret_cast<const char*>(u.data() + k * 65);
            return std::string(p, strnlen(p, 64));
        };
        if (field(0) != "Linux") return;
        info.nodename = field(1);
        info.release = field(2);
        info.version = field(3);
        info.domainname = field(5);
    } catch (const FormatError&) {
        // The header's names are informational: a guest whose VMCOREINFO or
        // init_uts_ns cannot be read gets OSRELEASE (or nothing). Only the
        // input's faults: an I/O error or a bug still ends the run.
    }
}

// ---- the pipeline sink ----------------------------------------------------------------
struct KdumpSink::State {
    KdumpWriter& writer;
    KdumpCompression compression;
    unsigned level;
    const PageExclusion* exclusion;
    std::mutex mu;
    std::vector<std::unique_ptr<KdumpPageCompressor>> idle;  // one per worker, reused
    std::map<std::uint64_t, KdumpBatch> ready;               // by item index, until consume()
};

KdumpSink::KdumpSink(KdumpWriter& writer, KdumpCompression compression, unsigned dump_level,
                     const PageExclusion* exclusion)
    : s_(new State{writer, compression, dump_level, exclusion, {}, {}, {}}) {}
KdumpSink::~KdumpSink() = default;

void KdumpSink::worker_stage(pipeline::Batch& batch) {
    std::unique_ptr<KdumpPageCompressor> c;
    {
        std::lock_guard lk(s_->mu);
        if (!s_->idle.empty()) {
            c = std::move(s_->idle.back());
            s_->idle.pop_back();
        }
    }
    if (!c) c = std::make_unique<KdumpPageCompressor>(s_->compression);
    batch.zero_holes(0, batch.item.pages);  // a hole reads as zeros
    KdumpBatch out;
    out.pages.reserve(batch.item.pages);
    for (std::uint64_t k = 0; k < batch.item.pages; ++k) {
        const std::uint64_t paddr = batch.item.paddr + k * kPageSize;
        const bool excluded = s_->exclusion && s_->exclusion->excluded(paddr / kPageSize);
        kdump_encode_page(*c, s_->level, paddr, batch.page(k), batch.zero(k), excluded, out);
    }
    std::lock_guard lk(s_->mu);
    s_->idle.push_back(std::move(c));
    s_->ready.emplace(batch.item.index, std::move(out));
}

void KdumpSink::consume(pipeline::Batch& batch) {
    KdumpBatch b;
    {
        std::lock_guard lk(s_->mu);
        auto it = s_->ready.find(batch.item.index);
        if (it == s_->ready.end()) fail(ErrorCode::Internal, "kdump sink: batch " + std::to_string(batch.item.index) + " was not staged");
        b = std::move(it->second);
        s_->ready.erase(it);
    }
    s_->writer.append(b);
}

namespace {

// The page exclusion of a dump level above 1. When the guest's structures
// cannot be read for it: Error(Format), or with request.fallback none, the
// reason in outcome.fallback and the dump written at level 1.
std::optional<PageExclusion> build_exclusion(const MemoryView& memory, const std::optional<std::string>& vmcoreinfo,
                                             const std::vector<MemoryRange>& ranges, const KdumpRequest& request,
                                             KdumpOutcome& outcome) {
    const std::string level = "dump level " + std::to_string(request.dump_level);
    Diagnostics why;
    std::optional<PageExclusion> exclusion = lenient(&why, level, [&] {
        if (!vmcoreinfo)
            fail(ErrorCode::Format, level + " reads the guest's struct page array through VMCOREINFO, and the "
                                            "guest publishes none (lowcore 0xe0c / os_info 0xe18 are empty)");
        const std::uint64_t max_pfn = ranges.empty() ? 0 : (ranges.back().paddr + ranges.back().size) / kPageSize;
        return PageExclusion::build(memory, *vmcoreinfo, request.dump_level, max_pfn);
    });
    if (!exclusion) {
        const std::string reason = why.first_error()->message;
        if (!request.fallback)
            fail(ErrorCode::Format, reason + " (needed for " + level + "; --force writes the dump at level 1 instead)");
        outcome.fallback = reason;
        outcome.level = request.dump_level & kDumpLevelZero;
        return std::nullopt;
    }
    const PageExclusionCounts& c = exclusion->counts();
    outcome.cache = c.cache;
    outcome.cache_private = c.cache_private;
    outcome.user = c.user;
    outcome.free = c.free;
    outcome.other = c.hwpoison + c.offline + c.beyond_memmap;
    return exclusion;
}

}  // namespace

KdumpOutcome write_kdump(const SealedDump& dump, const std::vector<CpuState>& cpus,
                         const std::vector<MemoryRange>& ranges, const std::optional<std::string>& vmcoreinfo,
                         OutputFile& out, const DecryptOptions& options, const KdumpRequest& request) {
    const std::unique_ptr<MemoryView> memory_ptr = dump.memory();
    const MemoryView& memory = *memory_ptr;
    check_dump_level(request.dump_level);
    KdumpOutcome outcome;
    outcome.level = request.dump_level;
    std::optional<PageExclusion> exclusion;
    if (request.dump_level & ~kDumpLevelZero) exclusion = build_exclusion(memory, vmcoreinfo, ranges, request, outcome);
    KdumpHeaderInfo info;
    info.cpus = cpus;
    info.vmcoreinfo = vmcoreinfo;
    info.ranges = ranges;
    info.dump_level = outcome.level;
    info.compression = request.compression;
    info.phys_base = 0;  // s390x: the kernel's physical base is 0 (makedumpfile's value too)
    info.timestamp = std::int64_t(std::time(nullptr));
    fill_kdump_utsname(info, memory);
    KdumpWriter writer(out, info, request.flattened);
    KdumpSink sink(writer, request.compression, outcome.level, exclusion ? &*exclusion : nullptr);
    decrypt_pages(dump, sink, options);
    writer.finish();
    outcome.stats = writer.stats();
    return outcome;
}

}  // namespace pvdump::decryptor
