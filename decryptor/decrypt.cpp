// Memory decryption: page by page on demand (SealedMemory) and in parallel
// batches for the whole dump (decrypt_memory), plus the whole owner path.
#include <sys/stat.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

#include "decryptor/dump.hpp"
#include "guest/s390.hpp"
#include "analysis/pages.hpp"

namespace pvdump::decryptor {
namespace detail = analysis::detail;
using guest::find_vmcoreinfo;
using namespace format;

namespace {

// What one page of the dump becomes in the output.
enum class PageResult { Data, Hole };

// Decrypts / copies one page into out (4096 bytes). Invalid or missing pages
// (only reached with --force) become holes.
// `in` is the page's bytes from the file (may equal out).
PageResult produce_page(const detail::PageIndex& idx, const detail::Block& b, std::uint64_t p, const Keys& keys,
                        XtsCipher& xts, const std::uint8_t* in, std::uint8_t* out) {
    const std::uint64_t paddr = b.paddr + p * kPageSize;
    const std::uint8_t* c = idx.component(paddr);
    if (!c || p >= b.present) return PageResult::Hole;
    switch (classify_component(c).state) {
    case PageState::Encrypted: {
        std::uint8_t tweak[16];
        detail::make_tweak(c, keys.nonce.data(), tweak);
        xts.process(tweak, in, out, kPageSize);
        return PageResult::Data;
    }
    case PageState::Shared:
        if (in != out) std::memcpy(out, in, kPageSize);
        return PageResult::Data;
    case PageState::Zero:
    case PageState::Invalid: return PageResult::Hole;
    }
    return PageResult::Hole;
}

class SealedMemory final : public MemoryView {
public:
    SealedMemory(const CoreFile& dump, const Keys& keys)
        : idx_(dump), keys_(keys), xts_(keys.xts_key.view(), XtsCipher::Mode::Decrypt) {}
    bool contains(std::uint64_t paddr, std::uint64_t size) const override {
        if (size == 0) return idx_.find(paddr) != nullptr;
        std::uint64_t last;
        if (add_overflows(paddr, size - 1, last)) return false;
        for (std::uint64_t a = paddr & ~std::uint64_t(kPageSize - 1); a <= last; a += kPageSize) {
            if (!idx_.find(a)) return false;
            if (a > last - kPageSize) break;
        }
        return true;
    }
    void read(std::uint64_t paddr, std::span<std::uint8_t> out) const override {
        std::uint64_t done = 0;
        while (done < out.size()) {
            const std::uint64_t a = paddr + done;
            const std::uint64_t page = a & ~std::uint64_t(kPageSize - 1);
            const detail::Block* b = idx_.find(page);
            if (!b) fail(ErrorCode::Format, "guest address " + hex(a) + " is not in the dump");
            if (page != cached_page_) {
                const std::uint64_t p = (page - b->paddr) / kPageSize;
                const std::uint8_t* in = p < b->present ? idx_.file().data() + b->offset + p * kPageSize : cache_;
                if (produce_page(idx_, *b, p, keys_, xts_, in, cache_) == PageResult::Hole) std::memset(cache_, 0, kPageSize);
                cached_page_ = page;
            }
            const std::uint64_t off = a - page;
            const std::uint64_t n = std::min<std::uint64_t>(out.size() - done, kPageSize - off);
            std::memcpy(out.data() + done, cache_ + off, n);
            done += n;
        }
    }

private:
    detail::PageIndex idx_;
    const Keys& keys_;
    mutable XtsCipher xts_;
    mutable std::uint8_t cache_[kPageSize];
    mutable std::uint64_t cached_page_ = ~std::uint64_t(0);
};

}  // namespace

std::unique_ptr<MemoryView> sealed_memory(const CoreFile& dump, const Keys& keys) {
    return std::make_unique<SealedMemory>(dump, keys);
}

// ---- parallel decryption ------------------------------------------------------
namespace {

constexpr std::uint64_t kChunkPages = 256;   // 1 MiB per work item
constexpr std::uint64_t kMinHolePages = 16;  // shorter zero runs are written
constexpr std::size_t kReleaseBatch = 8;      // chunks dropped from the resident set at once
constexpr std::size_t kMaxUnreleased = 16;    // beyond this, a chunk is dropped on its own

struct Chunk {
    std::size_t block;        // index into blocks (sorted)
    std::uint64_t first_page; // within the block
    std::uint64_t pages;
};

}  // namespace

void decrypt_memory(const CoreFile& dump, const Keys& keys, const VmcoreLayout& layout, OutputFile& out,
                    const DecryptOptions& options) {
    detail::PageIndex idx(dump);
    dump.advise_sequential();
    const auto& blocks = idx.blocks();
    if (blocks.size() != layout.ranges().size()) fail(ErrorCode::Internal, "layout does not match the dump's blocks");

    std::vector<Chunk> chunks;  // 1 entry per MiB: 16 bytes per MiB of guest, a few MiB for a TiB guest
    for (std::size_t i = 0; i < blocks.size(); ++i)
        for (std::uint64_t p = 0; p < blocks[i].pages; p += kChunkPages)
            chunks.push_back({i, p, std::min(kChunkPages, blocks[i].pages - p)});

    unsigned threads = options.threads ? options.threads : std::max(1u, std::thread::hardware_concurrency());
    threads = std::max<unsigned>(1, std::min<std::size_t>(threads, std::max<std::size_t>(1, chunks.size())));
    const std::uint64_t total_bytes = idx.total_pages() * kPageSize;

    std::atomic<std::size_t> next{0};
    std::atomic<std::uint64_t> done_bytes{0};
    std::atomic<bool> stop{false};
    std::mutex mu;
    // Wake-ups are targeted: the writer (or, for a file, the waiting main
    // thread) only when what it waits for is there, workers only when the
    // stream window has room. A wake-up per chunk for everyone cost ~10% in
    // context switches.
    std::condition_variable writer_cv, window_cv;
    std::exception_ptr error;
    // Stream mode: finished chunks wait here until the writer takes them in order.
    std::map<std::size_t, std::vector<std::uint8_t>> ready;
    std::vector<std::vector<std::uint8_t>> spare;  // written buffers, for reuse
    std::size_t written = 0;
    const std::size_t window = std::size_t(threads) * 4;
    const bool stream = out.is_stream();

    if (!stream) {
        out.set_size(layout.file_size());
        out.pwrite_all(layout.head(), 0);
    } else {
        out.write_all(layout.head());
    }

    // Finished chunks leave the resident set in batches, from one thread at a
    // time: each release unmaps pages, and with several threads that costs a TLB
    // shootdown on every core, so fewer, larger releases scale better.
    std::vector<std::atomic<bool>> finished(chunks.size());
    std::mutex release_mu;
    std::size_t released = 0;
    std::atomic<std::size_t> released_hint{0};  // `released`, readable without the lock
    auto release_finished = [&](bool all) {
        std::unique_lock lk(release_mu, std::defer_lock);
        if (all) lk.lock();
        else if (!lk.try_lock()) return;
        std::size_t upto = released;
        while (upto < chunks.size() && finished[upto].load()) ++upto;
        if (upto == released || (!all && upto - released < kReleaseBatch)) return;
        for (std::size_t i = released; i < upto;) {
            std::size_t j = i;  // a run of chunks of one block is one range of the file
            while (j + 1 < upto && chunks[j + 1].block == chunks[i].block) ++j;
            const detail::Block& blk = blocks[chunks[i].block];
            const std::uint64_t first = chunks[i].first_page, last = chunks[j].first_page + chunks[j].pages;
            const std::uint64_t present_last = std::min(last, blk.present);
            if (present_last > first)
                dump.release(blk.offset + first * kPageSize, (present_last - first) * kPageSize);
            idx.release_components(blk.paddr + first * kPageSize, blk.paddr + last * kPageSize);
            i = j + 1;
        }
        released = upto;
        released_hint.store(upto);
    };

    // The first error wins; everyone stops and wakes up to see it.
    auto record_error = [&] {
        std::lock_guard lk(mu);
        if (!error) error = std::current_exception();
        stop.store(true);
        writer_cv.notify_all();
        window_cv.notify_all();
    };

    auto worker = [&] {
        try {
            XtsCipher xts(keys.xts_key.view(), XtsCipher::Mode::Decrypt);
            std::vector<std::uint8_t> buf(kChunkPages * kPageSize);
            for (;;) {
                if (stop.load() || interrupted()) return;
                std::size_t ci;
                if (stream) {
                    std::unique_lock lk(mu);
                    window_cv.wait(lk, [&] { return stop.load() || next.load() < written + window; });
                    if (stop.load()) return;
                    ci = next.fetch_add(1);
                } else {
                    ci = next.fetch_add(1);
                }
                if (ci >= chunks.size()) return;
                const Chunk& ch = chunks[ci];
                const detail::Block& b = blocks[ch.block];
                const std::uint64_t base = layout.range_offset(ch.block) + ch.first_page * kPageSize;
                // Pages are read straight from the mapping (no copy), mapped
                // in one go before and dropped from the resident set after.
                const std::uint64_t in_off = b.offset + ch.first_page * kPageSize;
                const std::uint64_t in_len =
                    ch.first_page < b.present ? std::min(ch.pages, b.present - ch.first_page) * kPageSize : 0;
                dump.prefetch(in_off, in_len);
                std::array<bool, kChunkPages> hole{};
                for (std::uint64_t k = 0; k < ch.pages; ++k) {
                    std::uint8_t* page = buf.data() + k * kPageSize;
                    const std::uint8_t* in = k * kPageSize < in_len ? dump.bytes().data() + in_off + k * kPageSize : page;
                    const PageResult r = produce_page(idx, b, ch.first_page + k, keys, xts, in, page);
                    // A stream has no holes: only a file needs to know which pages are zero.
                    hole[k] = r == PageResult::Hole || (!stream && format::is_all_zero(page, kPageSize));
                }
                // Zero runs of 64 KiB and more stay holes; shorter ones are
                // written as zeros (fewer writes, a less fragmented file).
                for (std::uint64_t k = 0; k < ch.pages;) {
                    if (!hole[k]) {
                        ++k;
                        continue;
                    }
                    std::uint64_t end = k;
                    while (end < ch.pages && hole[end]) ++end;
                    if (stream || end - k < kMinHolePages) {
                        std::memset(buf.data() + k * kPageSize, 0, (end - k) * kPageSize);
                        std::fill(hole.begin() + std::ptrdiff_t(k), hole.begin() + std::ptrdiff_t(end), false);
                    }
                    k = end;
                }
                for (std::uint64_t k = 0; k < ch.pages;) {
                    std::uint64_t end = k;
                    while (end < ch.pages && hole[end] == hole[k]) ++end;
                    if (!hole[k] && !stream)
                        out.pwrite_all(Bytes(buf.data() + k * kPageSize, (end - k) * kPageSize), base + k * kPageSize);
                    k = end;
                }
                // Start writeback now, so the final fsync has little left to do.
                if (!stream) out.start_writeback(base, ch.pages * kPageSize);
                finished[ci].store(true);
                if (ci >= released_hint.load() + kMaxUnreleased) {
                    // An earlier chunk is still in progress (a worker stalled in
                    // a write): do not let the finished ones pile up behind it.
                    dump.release(in_off, in_len);
                    idx.release_components(b.paddr + ch.first_page * kPageSize,
                                           b.paddr + (ch.first_page + ch.pages) * kPageSize);
                }
                release_finished(false);
                const bool last = done_bytes.fetch_add(ch.pages * kPageSize) + ch.pages * kPageSize == total_bytes;
                bool wake_writer = last;
                if (stream) {
                    // Hand the buffer to the writer; take a recycled one back
                    // (no fresh 1 MiB allocation per chunk).
                    std::lock_guard lk(mu);
                    buf.resize(ch.pages * kPageSize);
                    ready.emplace(ci, std::move(buf));
                    if (!spare.empty()) {
                        buf = std::move(spare.back());
                        spare.pop_back();
                    } else {
                        buf = std::vector<std::uint8_t>();
                    }
                    buf.resize(kChunkPages * kPageSize);
                    wake_writer = wake_writer || ci == written;
                }
                if (wake_writer) {
                    { std::lock_guard lk(mu); }  // the waiter is either before its check or asleep
                    writer_cv.notify_all();
                }
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
        if (stream) {
            // Writer: chunks in order, padding between ranges as the layout says.
            std::uint64_t pos = layout.head().size();
            std::size_t last_block = SIZE_MAX;
            while (written < chunks.size()) {
                std::vector<std::uint8_t> data;
                {
                    std::unique_lock lk(mu);
                    writer_cv.wait_for(lk, std::chrono::milliseconds(200),
                                       [&] { return stop.load() || ready.count(written); });
                    if (stop.load()) break;
                    auto it = ready.find(written);
                    if (it == ready.end()) {
                        lk.unlock();
                        report();
                        check_interrupted();
                        continue;
                    }
                    data = std::move(it->second);
                    ready.erase(it);
                }
                const Chunk& ch = chunks[written];
                if (ch.block != last_block) {
                    const std::uint64_t off = layout.range_offset(ch.block);
                    if (off > pos) out.write_zeros(off - pos);
                    pos = off;
                    last_block = ch.block;
                }
                out.write_all(data);
                pos += data.size();
                {
                    std::lock_guard lk(mu);
                    ++written;
                    spare.push_back(std::move(data));
                }
                window_cv.notify_all();
                report();
            }
        } else {
            std::unique_lock lk(mu);
            while (!stop.load() && done_bytes.load() < total_bytes) {
                writer_cv.wait_for(lk, std::chrono::milliseconds(200),
                                   [&] { return stop.load() || done_bytes.load() >= total_bytes; });
                lk.unlock();
                report();
                if (interrupted()) stop.store(true);
                lk.lock();
            }
        }
    } catch (...) {
        record_error();
    }
    for (auto& t : pool) t.join();
    release_finished(true);
    if (error) std::rethrow_exception(error);
    check_interrupted();
    report();
}

// ---- the whole owner path -------------------------------------------------------
DecryptResult decrypt_dump(const DecryptRequest& req, Bytes cck) {
    CoreFile dump = CoreFile::open(req.dump_path);
    if (req.output_path != "-") {
        struct stat in_st {}, out_st {};
        if (stat(req.dump_path.c_str(), &in_st) == 0 && stat(req.output_path.c_str(), &out_st) == 0 &&
            in_st.st_dev == out_st.st_dev && in_st.st_ino == out_st.st_ino)
            fail(ErrorCode::Usage, "the output '" + req.output_path + "' is the input dump itself");
    }
    // Refuse an existing output before any expensive work.
    OutputFile out(req.output_path, req.overwrite);

    Keys keys = open_keys(dump, cck);
    if (dump.loads().empty())
        fail(ErrorCode::Format, "'" + req.dump_path + "' has no PT_LOAD segment: the dump holds no guest memory");
    DecryptResult result;
    result.cpus = cpu_states(dump, keys.dump_key.view());
    result.plan = page_plan(dump, &keys.nonce, 1000, /*check_zero_content=*/false);
    if (result.plan.has_error() && !req.force) {
        std::size_t errors = 0;
        const Finding* first = nullptr;
        for (auto& f : result.plan.findings)
            if (f.severity == Severity::Error) {
                if (!first) first = &f;
                ++errors;
            }
        std::string more = errors > 1 ? " (and " + std::to_string(errors - 1) + " more; 'pvinspect verify' lists them)" : "";
        fail(ErrorCode::Verify, first->message + more + "; use --force to write the vmcore anyway");
    }
    // With --force, pages without a tweak component become holes, but p_memsz
    // is untrusted (up to 2^64): no dump of this size can describe more pages
    // than it holds 16-byte components, so a larger claim is refused.
    if (const std::uint64_t pages = detail::PageIndex(dump).total_pages(); pages > dump.file_size() / kTweakSize)
        fail(ErrorCode::Format, "the PT_LOADs claim " + hex(pages * kPageSize) + " bytes of guest memory, more than a " +
                                    hex(dump.file_size()) + "-byte dump can describe (16 bytes of pv_mem_meta per 4 KiB page)");

    auto mem = sealed_memory(dump, keys);
    std::optional<std::string> vmcoreinfo;
    vmcoreinfo = find_vmcoreinfo(*mem);
    result.vmcoreinfo_found = vmcoreinfo.has_value();

    std::vector<CpuState> states;
    for (auto& c : result.cpus) states.push_back(c.state);
    std::vector<MemoryRange> ranges;
    detail::PageIndex idx(dump);
    for (auto& b : idx.blocks()) ranges.push_back({b.paddr, b.pages * kPageSize});
    VmcoreLayout layout(states, ranges, vmcoreinfo);
    result.memory_bytes = idx.total_pages() * kPageSize;
    result.blocks = ranges.size();

    decrypt_memory(dump, keys, layout, out, req.options);
    out.commit();
    return result;
}

}  // namespace pvdump::decryptor
