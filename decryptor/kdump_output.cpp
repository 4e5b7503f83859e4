#include "decryptor/kdump_output.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

#include "analysis/kernel_log.hpp"
#include "analysis/pages.hpp"

namespace pvdump::decryptor {
namespace detail = analysis::detail;
using analysis::KernelAddressMap;
using analysis::VmcoreInfo;
using analysis::PageExclusionCounts;
using analysis::kMaxDumpLevel;
using analysis::kDumpLevelZero;
using namespace format;

void check_dump_level(unsigned level) {
    if (level > kMaxDumpLevel) fail(ErrorCode::Usage, "dump level " + std::to_string(level) + " is not 0..31");
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
    } catch (const Error&) {
        // The header's names are informational: a guest whose VMCOREINFO or
        // init_uts_ns cannot be read gets OSRELEASE (or nothing).
    }
}

namespace {
constexpr std::uint64_t kChunkPages = 256;  // 1 MiB of guest per work item
struct Chunk {
    std::size_t block;
    std::uint64_t first_page, pages;
};
}  // namespace

KdumpStats decrypt_memory_kdump(const CoreFile& dump, const Keys& keys, const KdumpHeaderInfo& info, OutputFile& out,
                                const DecryptOptions& options, bool flattened, const PageExclusion* exclusion) {
    detail::PageIndex idx(dump);
    dump.advise_sequential();
    const auto& blocks = idx.blocks();
    std::vector<Chunk> chunks;
    for (std::size_t i = 0; i < blocks.size(); ++i)
        for (std::uint64_t p = 0; p < blocks[i].pages; p += kChunkPages)
            chunks.push_back({i, p, std::min(kChunkPages, blocks[i].pages - p)});

    KdumpWriter writer(out, info, flattened);

    unsigned threads = options.threads ? options.threads : std::max(1u, std::thread::hardware_concurrency());
    threads = std::max<unsigned>(1, std::min<std::size_t>(threads, std::max<std::size_t>(1, chunks.size())));
    const std::uint64_t total_bytes = idx.total_pages() * kPageSize;
    const std::size_t window = std::size_t(threads) * 4;  // batches in flight: memory bounded

    std::mutex mu;
    std::condition_variable writer_cv, window_cv;
    std::map<std::size_t, KdumpBatch> ready;
    std::vector<KdumpBatch> spare;
    std::size_t next = 0, written = 0;
    bool stop = false;
    std::exception_ptr error;
    std::atomic<std::uint64_t> done_bytes{0};

    auto record_error = [&] {
        std::lock_guard lk(mu);
        if (!error) error = std::current_exception();
        stop = true;
        writer_cv.notify_all();
        window_cv.notify_all();
    };

    auto worker = [&] {
        try {
            auto mem = sealed_memory(dump, keys);
            KdumpPageCompressor compressor(info.compression);
            std::vector<std::uint8_t> page(kPageSize);
            for (;;) {
                std::size_t ci;
                KdumpBatch batch;
                {
                    std::unique_lock lk(mu);
                    window_cv.wait(lk, [&] { return stop || next >= chunks.size() || next < written + window; });
                    if (stop || next >= chunks.size()) return;
                    ci = next++;
                    if (!spare.empty()) {
                        batch = std::move(spare.back());
                        spare.pop_back();
                    }
                }
                if (interrupted()) {
                    record_error();  // no exception: the writer sees `stop` and check_interrupted() throws
                    return;
                }
                batch.clear();
                const Chunk& ch = chunks[ci];
                const detail::Block& b = blocks[ch.block];
                const std::uint64_t in_off = b.offset + ch.first_page * kPageSize;
                const std::uint64_t in_len =
                    ch.first_page < b.present ? std::min(ch.pages, b.present - ch.first_page) * kPageSize : 0;
                dump.prefetch(in_off, in_len);
                for (std::uint64_t k = 0; k < ch.pages; ++k) {
                    const std::uint64_t paddr = b.paddr + (ch.first_page + k) * kPageSize;
                    mem->read(paddr, page);  // holes (zero / invalid with --force) read as zeros
                    const bool zero = is_all_zero(page.data(), kPageSize);
                    const bool excluded = exclusion && exclusion->excluded(paddr / kPageSize);
                    kdump_encode_page(compressor, info.dump_level, paddr, page.data(), zero, excluded, batch);
                }
                dump.release(in_off, in_len);
                idx.release_components(b.paddr + ch.first_page * kPageSize,
                                       b.paddr + (ch.first_page + ch.pages) * kPageSize);
                done_bytes.fetch_add(ch.pages * kPageSize);
                bool wake;
                {
                    std::lock_guard lk(mu);
                    ready.emplace(ci, std::move(batch));
                    wake = ci == written;
                }
                if (wake) writer_cv.notify_all();
            }
        } catch (...) {
            record_error();
        }
    };

    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) pool.emplace_back(worker);
    auto report = [&] {
        if (options.progress) options.progress(done_bytes.load(), total_bytes);
    };
    try {
        for (;;) {
            KdumpBatch batch;
            {
                std::unique_lock lk(mu);
                writer_cv.wait_for(lk, std::chrono::milliseconds(200),
                                   [&] { return stop || written == chunks.size() || ready.count(written); });
                if (stop || written == chunks.size()) break;
                auto it = ready.find(written);
                if (it == ready.end()) {
                    lk.unlock();
                    report();
                    if (interrupted()) record_error();
                    continue;
                }
                batch = std::move(it->second);
                ready.erase(it);
            }
            writer.append(batch);  // outside the lock: workers keep going
            {
                std::lock_guard lk(mu);
                ++written;
                spare.push_back(std::move(batch));
            }
            window_cv.notify_all();
            report();
        }
    } catch (...) {
        record_error();
    }
    for (auto& t : pool) t.join();
    if (error) std::rethrow_exception(error);
    check_interrupted();
    writer.finish();
    report();
    return writer.stats();
}

KdumpOutcome write_kdump(const CoreFile& dump, const Keys& keys, const std::vector<CpuState>& cpus,
                         const std::vector<MemoryRange>& ranges, const std::optional<std::string>& vmcoreinfo,
                         const MemoryView& memory, OutputFile& out, const DecryptOptions& options,
                         const KdumpRequest& request) {
    check_dump_level(request.dump_level);
    KdumpOutcome outcome;
    outcome.level = request.dump_level;
    std::optional<PageExclusion> exclusion;
    if (request.dump_level & ~kDumpLevelZero) {
        const std::string level = "dump level " + std::to_string(request.dump_level);
        try {
            if (!vmcoreinfo)
                fail(ErrorCode::Format, level + " reads the guest's struct page array through VMCOREINFO, and the "
                                                "guest publishes none (lowcore 0xe0c / os_info 0xe18 are empty)");
            const std::uint64_t max_pfn = ranges.empty() ? 0 : (ranges.back().paddr + ranges.back().size) / kPageSize;
            exclusion.emplace(PageExclusion::build(memory, *vmcoreinfo, request.dump_level, max_pfn));
            const PageExclusionCounts& c = exclusion->counts();
            outcome.cache = c.cache;
            outcome.cache_private = c.cache_private;
            outcome.user = c.user;
            outcome.free = c.free;
            outcome.other = c.hwpoison + c.offline + c.beyond_memmap;
        } catch (const Error& e) {
            if (e.code() != ErrorCode::Format) throw;
            if (!request.fallback)
                fail(ErrorCode::Format, std::string(e.what()) + " (needed for " + level +
                                            "; --force writes the dump at level 1 instead)");
            outcome.fallback = e.what();
            outcome.level = request.dump_level & kDumpLevelZero;
        }
    }
    KdumpHeaderInfo info;
    info.cpus = cpus;
    info.vmcoreinfo = vmcoreinfo;
    info.ranges = ranges;
    info.dump_level = outcome.level;
    info.compression = request.compression;
    info.phys_base = 0;  // s390x: the kernel's physical base is 0 (makedumpfile's value too)
    info.timestamp = std::int64_t(std::time(nullptr));
    fill_kdump_utsname(info, memory);
    outcome.stats = decrypt_memory_kdump(dump, keys, info, out, options, request.flattened,
                                         exclusion ? &*exclusion : nullptr);
    return outcome;
}

}  // namespace pvdump::decryptor
