// The page pipeline: see page_pipeline.hpp for the ends.
#include "format/page_pipeline.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

#include "format/error.hpp"
#include "format/output_file.hpp"

namespace pvdump::format::pipeline {

namespace {
constexpr std::size_t kReleaseBatch = 8;    // finished items dropped from the resident set at once
constexpr std::size_t kMaxUnreleased = 16;  // beyond this, an item is dropped on its own
constexpr auto kTick = std::chrono::milliseconds(200);  // progress reports while waiting
}  // namespace

unsigned thread_count(unsigned requested, std::uint64_t items) {
    const unsigned want = requested ? requested : std::max(1u, std::thread::hardware_concurrency());
    return unsigned(std::max<std::uint64_t>(1, std::min<std::uint64_t>(want, std::max<std::uint64_t>(1, items))));
}

// ---- plan and batch ------------------------------------------------------------

WorkPlan::WorkPlan(std::vector<MemoryRange> blocks, std::uint64_t item_pages)
    : blocks_(std::move(blocks)), item_pages_(std::max<std::uint64_t>(1, item_pages)) {
    for (const MemoryRange& b : blocks_) {
        first_.push_back(count_);
        const std::uint64_t pages = b.size / kPage;
        count_ += (pages + item_pages_ - 1) / item_pages_;
        total_pages_ += pages;
    }
}

WorkItem WorkPlan::at(std::uint64_t index) const {
    const std::size_t blk = std::size_t(std::upper_bound(first_.begin(), first_.end(), index) - first_.begin() - 1);
    const MemoryRange& b = blocks_[blk];
    WorkItem w;
    w.index = index;
    w.block = blk;
    w.first_page = (index - first_[blk]) * item_pages_;
    w.pages = std::min(item_pages_, b.size / kPage - w.first_page);
    w.paddr = b.paddr + w.first_page * kPage;
    return w;
}

void Batch::zero_holes(std::uint64_t begin, std::uint64_t end) {
    for (std::uint64_t k = begin; k < end; ++k)
        if (fill[k] == PageFill::Hole) {
            std::memset(page(k), 0, kPage);
            fill[k] = PageFill::Zero;
        }
}

// ---- sinks --------------------------------------------------------------------

void FileSink::consume(Batch& b) {
    const std::uint64_t base = offset_of_(b.item), n = b.item.pages;
    auto zero_run_end = [&](std::uint64_t k) {
        while (k < n && b.zero(k)) ++k;
        return k;
    };
    // Runs of data and short zero runs become one write each; long zero runs stay holes.
    for (std::uint64_t i = 0; i < n;) {
        if (const std::uint64_t z = zero_run_end(i); z - i >= kMinHolePages || z == n) {
            i = z;
            continue;
        }
        std::uint64_t j = i;
        while (j < n) {
            const std::uint64_t z = zero_run_end(j);
            if (z > j && z - j >= kMinHolePages) break;
            j = z > j ? z : j + 1;
        }
        b.zero_holes(i, j);
        out_.pwrite_all(Bytes(b.page(i), (j - i) * kPage), base + i * kPage);
        i = j;
    }
    // Start writeback now, so the final fsync has little left to do.
    out_.start_writeback(base, n * kPage);
}

void StreamSink::consume(Batch& b) {
    const std::uint64_t off = offset_of_(b.item);
    if (off > pos_) out_.write_zeros(off - pos_);
    // Runs of data from the batch, holes from one page of zeros: one writev,
    // and the writer (one thread for all workers) does not memset the holes.
    static const std::uint8_t zeros[kPage] = {};
    std::vector<iovec>& v = pieces_;
    v.clear();
    for (std::uint64_t k = 0; k < b.item.pages; ++k) {
        const bool hole = b.fill[k] == PageFill::Hole;
        std::uint8_t* at = hole ? const_cast<std::uint8_t*>(zeros) : b.page(k);
        if (!hole && !v.empty() && static_cast<std::uint8_t*>(v.back().iov_base) + v.back().iov_len == at)
            v.back().iov_len += kPage;
        else
            v.push_back({at, kPage});
    }
    out_.writev_all(v);
    pos_ = std::max(pos_, off) + b.item.pages * kPage;
}

// ---- the run ------------------------------------------------------------------

namespace {

class Run {
public:
    Run(const WorkPlan& plan, const PageSource& source, PageSink& sink, const PipelineOptions& o)
        : plan_(plan), source_(source), sink_(sink), opt_(o), finished_(plan.count()),
          threads_(thread_count(o.threads, plan.count())),
          window_(std::max<std::size_t>(1, o.window_per_thread) * threads_) {}

    void run() {
        {
            std::vector<std::jthread> pool;
            for (unsigned t = 0; t < threads_; ++t) pool.emplace_back([this] { worker(); });
            try {
                wait_until_done();
            } catch (...) {  // forwarded: the workers must be stopped and joined first; rethrown below
                record_error();
            }
        }
        release_finished(true);
        if (error_) std::rethrow_exception(error_);
        report();
    }

private:
    const WorkPlan& plan_;
    const PageSource& source_;
    PageSink& sink_;
    const PipelineOptions& opt_;

    std::mutex mu_;
    // Wake-ups are targeted: the waiting caller only when every batch is done
    // (or on an error), workers only when the window has room. A wake-up per
    // batch for everyone cost ~10% in context switches.
    std::condition_variable done_cv_, window_cv_;
    std::atomic<std::uint64_t> next_{0}, done_pages_{0};
    std::atomic<bool> stop_{false};
    std::exception_ptr error_;
    std::map<std::uint64_t, Batch> ready_;  // ordered sinks: done, waiting for their turn
    std::vector<Batch> spare_;              // consumed batches, for reuse
    std::uint64_t written_ = 0;             // ordered sinks: batches consumed
    bool writing_ = false;                  // ordered sinks: a worker is consuming (under mu_)

    std::vector<std::atomic<bool>> finished_;
    std::mutex release_mu_;
    std::uint64_t released_ = 0;
    std::atomic<std::uint64_t> released_hint_{0};  // released_, readable without the lock

    unsigned threads_;
    std::size_t window_;

    // The first error wins; everyone stops and wakes up to see it.
    void record_error() {
        std::lock_guard lk(mu_);
        if (!error_) error_ = std::current_exception();
        stop_.store(true);
        done_cv_.notify_all();
        window_cv_.notify_all();
    }

    void report() {
        if (opt_.progress) opt_.progress(done_pages_.load(), plan_.total_pages());
    }

    Batch new_batch() {
        Batch b;
        b.data.resize(plan_.item_pages() * kPage);
        b.fill.resize(plan_.item_pages());
        return b;
    }

    // The next item index, or count() when there is none (or we stop).
    std::uint64_t take_item() {
        if (sink_.ordered()) {
            std::unique_lock lk(mu_);
            window_cv_.wait(lk, [&] { return stop_.load() || next_.load() < written_ + window_; });
            if (stop_.load()) return plan_.count();
        }
        return std::min(next_.fetch_add(1), plan_.count());
    }

    void worker() {
        try {
            std::unique_ptr<PageSource::Worker> w = source_.make_worker();
            Batch batch = new_batch();
            for (;;) {
                if (stop_.load()) return;
                const std::uint64_t i = take_item();
                if (i >= plan_.count()) return;
                batch.item = plan_.at(i);
                w->fill(batch.item, batch, sink_.scan_zero());
                sink_.worker_stage(batch);
                item_read(batch.item);
                if (!sink_.ordered()) sink_.consume(batch);
                hand_off(batch);
            }
        } catch (...) {  // thread boundary: forwarded to run(), which rethrows it after the join
            record_error();
        }
    }

    // The item's input is no longer needed: release it, in order and in batches.
    void item_read(const WorkItem& item) {
        finished_[item.index].store(true);
        // An earlier item is still in progress (a worker stalled in a write):
        // do not let the finished ones pile up behind it.
        if (item.index >= released_hint_.load() + kMaxUnreleased) source_.release(item.index, item.index + 1);
        release_finished(false);
    }

    // Finished items leave the resident set in batches, from one thread at a
    // time: each release unmaps pages, and with several threads that costs a TLB
    // shootdown on every core, so fewer, larger releases scale better.
    void release_finished(bool all) {
        std::unique_lock lk(release_mu_, std::defer_lock);
        if (all) lk.lock();
        else if (!lk.try_lock()) return;
        std::uint64_t upto = released_;
        while (upto < plan_.count() && finished_[upto].load()) ++upto;
        if (upto == released_ || (!all && upto - released_ < kReleaseBatch)) return;
        source_.release(released_, upto);
        released_ = upto;
        released_hint_.store(upto);
    }

    // Counts the batch as done. An ordered sink gets it queued, and the
    // worker whose batch is next in order writes it, and every batch queued
    // after it that is next in turn, before it takes new work: one writer
    // at a time (`writing_`), in item order, and no hand-off to a writer
    // thread (a wake-up and a context switch per batch, on cores the workers
    // need). The worker takes a recycled buffer back: no allocation per batch.
    void hand_off(Batch& batch) {
        const std::uint64_t pages = batch.item.pages;
        if (sink_.ordered()) {
            std::unique_lock lk(mu_);
            const std::uint64_t index = batch.item.index;
            ready_.emplace(index, std::move(batch));
            if (!spare_.empty()) {
                batch = std::move(spare_.back());
                spare_.pop_back();
            } else {
                batch = new_batch();
            }
            if (!writing_) write_ready(lk);
        }
        if (done_pages_.fetch_add(pages) + pages == plan_.total_pages()) {
            { std::lock_guard lk(mu_); }  // the waiter is either before its check or asleep
            done_cv_.notify_all();
        }
    }

    // Ordered sinks: consumes the queued batches that are next in order, with
    // mu_ held on entry and exit (released while writing). An error stops
    // everyone (the caller's catch records it).
    void write_ready(std::unique_lock<std::mutex>& lk) {
        writing_ = true;
        struct Done {
            Run& r;
            ~Done() { r.writing_ = false; }
        } done{*this};
        for (auto it = ready_.find(written_); it != ready_.end() && !stop_.load(); it = ready_.find(written_)) {
            Batch b = std::move(it->second);
            ready_.erase(it);
            lk.unlock();
            try {
                sink_.consume(b);
            } catch (...) {  // relocked for the caller, then rethrown
                lk.lock();
                throw;
            }
            lk.lock();
            ++written_;
            spare_.push_back(std::move(b));
            window_cv_.notify_all();
        }
    }

    // Unordered sinks: the workers consume; wait for them and report progress.
    void wait_until_done() {
        std::unique_lock lk(mu_);
        while (!stop_.load() && done_pages_.load() < plan_.total_pages()) {
            done_cv_.wait_for(lk, kTick, [&] { return stop_.load() || done_pages_.load() >= plan_.total_pages(); });
            lk.unlock();
            report();
            lk.lock();
        }
    }
};

}  // namespace

void run_pipeline(const WorkPlan& plan, const PageSource& source, PageSink& sink, const PipelineOptions& options) {
    if (plan.count() == 0) return;
    Run(plan, source, sink, options).run();
}

}  // namespace pvdump::format::pipeline
