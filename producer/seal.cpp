#include "producer/seal.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "format/output_file.hpp"
#include "format/qemu_writer.hpp"
#include "producer/random.hpp"
#include "producer/ultravisor.hpp"

namespace pvdump::producer {

using format::kPageSize;
using format::kTweakSize;

namespace {

struct Batch {
    std::uint64_t paddr;
    std::size_t pages;
};

// Batches in address order, computed from an index so that no per-guest
// table is needed.
class Batches {
public:
    Batches(const std::vector<format::MemoryRange>& blocks, std::size_t batch_pages)
        : blocks_(blocks), batch_pages_(batch_pages) {
        for (const auto& b : blocks) {
            first_.push_back(count_);
            count_ += (b.size / kPageSize + batch_pages - 1) / batch_pages;
        }
    }
    std::uint64_t count() const { return count_; }
    Batch at(std::uint64_t i) const {
        const std::size_t blk = std::size_t(std::upper_bound(first_.begin(), first_.end(), i) - first_.begin() - 1);
        const auto& b = blocks_[blk];
        const std::uint64_t first_page = (i - first_[blk]) * batch_pages_;
        const std::uint64_t pages = std::min<std::uint64_t>(batch_pages_, b.size / kPageSize - first_page);
        return {b.paddr + first_page * kPageSize, std::size_t(pages)};
    }

private:
    const std::vector<format::MemoryRange>& blocks_;
    std::size_t batch_pages_;
    std::vector<std::uint64_t> first_;
    std::uint64_t count_ = 0;
};

struct Counts {
    std::uint64_t encrypted = 0, swapped = 0, zero = 0, shared = 0;
    void add(const Counts& o) {
        encrypted += o.encrypted;
        swapped += o.swapped;
        zero += o.zero;
        shared += o.shared;
    }
};

// One worker's buffers and cipher context, reused for every batch it does.
struct Worker {
    Worker(const Ultravisor& uv, std::size_t batch_pages)
        : exporter(uv.exporter()), data(batch_pages * kPageSize), info(batch_pages), comps(batch_pages * kTweakSize) {}
    Ultravisor::Exporter exporter;
    std::vector<std::uint8_t> data;
    std::vector<PageInfo> info;
    std::vector<std::uint8_t> comps;
    Counts counts;
    Batch batch{};

    void run(const GuestSource& guest, const Ultravisor& uv, Batch b) {
        batch = b;
        guest.read_pages(b.paddr, format::MutableBytes(data.data(), b.pages * kPageSize), std::span(info.data(), b.pages));
        for (std::size_t i = 0; i < b.pages; ++i) {
            const std::uint64_t paddr = b.paddr + i * kPageSize;
            exporter.export_page(paddr, info[i], data.data() + i * kPageSize, comps.data() + i * kTweakSize);
            switch (info[i].kind) {
            case PageKind::Zero: ++counts.zero; break;
            case PageKind::Shared: ++counts.shared; break;
            case PageKind::Data:
                ++counts.encrypted;
                if (uv.swapped_out(paddr / kPageSize)) ++counts.swapped;
                break;
            }
        }
    }

    // Writes the batch's memory and its components. Runs of 16 zero pages
    // (64 KiB) and more stay holes; shorter ones are written (export_page
    // zeroed them), so the file gets few large writes, not one per data run.
    void write_positional(format::OutputFile& out, const format::QemuLayout& layout, bool pv) const {
        constexpr std::size_t kMinHolePages = 16;
        const std::uint64_t base = layout.file_offset_of(batch.paddr);
        auto zero_run_end = [&](std::size_t k) {
            while (k < batch.pages && info[k].kind == PageKind::Zero) ++k;
            return k;
        };
        std::size_t i = 0;
        while (i < batch.pages) {
            const std::size_t z = zero_run_end(i);
            if (z - i >= kMinHolePages || z == batch.pages) {
                i = z;
                continue;
            }
            std::size_t j = z;  // extend the write over zero runs too short to be holes
            while (j < batch.pages) {
                const std::size_t zj = zero_run_end(j);
                if (zj > j && (zj - j >= kMinHolePages || zj == batch.pages)) break;
                j = zj > j ? zj : j + 1;
            }
            out.pwrite_all(format::Bytes(data.data() + i * kPageSize, (j - i) * kPageSize), base + i * kPageSize);
            out.start_writeback(base + i * kPageSize, (j - i) * kPageSize);
            i = j;
        }
        if (pv)
            out.pwrite_all(format::Bytes(comps.data(), batch.pages * kTweakSize), layout.component_offset(batch.paddr));
    }
};

class Progress {
public:
    Progress(const SealOptions& o, std::uint64_t total) : fn_(o.progress), total_(total) {}
    void add(std::uint64_t bytes) {
        const std::uint64_t now = done_ += bytes;
        if (!fn_) return;
        std::unique_lock lock(mutex_, std::try_to_lock);
        if (lock.owns_lock()) fn_(now, total_);
    }
    void finish() {
        if (!fn_) return;
        std::lock_guard lock(mutex_);
        fn_(total_, total_);
    }

private:
    const std::function<void(std::uint64_t, std::uint64_t)>& fn_;
    std::uint64_t total_;
    std::atomic<std::uint64_t> done_{0};
    std::mutex mutex_;
};

// Runs fn(worker, index) for every index in [0, count) on the workers; the
// first exception stops the others and is rethrown here.
template <class Fn>
void parallel_for(std::vector<Worker>& workers, std::uint64_t count, Fn fn) {
    std::atomic<std::uint64_t> next{0};
    std::atomic<bool> stop{false};
    std::exception_ptr error;
    std::mutex error_mutex;
    auto body = [&](Worker& w) {
        try {
            for (std::uint64_t i; !stop && (i = next++) < count;) fn(w, i);
        } catch (...) {
            std::lock_guard lock(error_mutex);
            if (!error) error = std::current_exception();
            stop = true;
        }
    };
    if (workers.size() == 1) {
        body(workers[0]);
    } else {
        std::vector<std::jthread> threads;
        for (Worker& w : workers) threads.emplace_back(body, std::ref(w));
    }
    if (error) std::rethrow_exception(error);
}

void write_memory_positional(const GuestSource& guest, const Ultravisor& uv, const format::QemuLayout& layout,
                             format::OutputFile& out, std::vector<Worker>& workers, const Batches& batches,
                             Progress& progress, bool pv) {
    parallel_for(workers, batches.count(), [&](Worker& w, std::uint64_t i) {
        format::check_interrupted();
        w.run(guest, uv, batches.at(i));
        w.write_positional(out, layout, pv);
        progress.add(w.batch.pages * kPageSize);
    });
}

// Streams: rounds of one batch per worker, computed in parallel, written in order.
void write_memory_stream(const GuestSource& guest, const Ultravisor& uv, format::OutputFile& out,
                         std::vector<Worker>& workers, const Batches& batches, Progress& progress) {
    for (std::uint64_t first = 0; first < batches.count(); first += workers.size()) {
        format::check_interrupted();
        const std::size_t n = std::size_t(std::min<std::uint64_t>(workers.size(), batches.count() - first));
        std::exception_ptr error;
        std::mutex error_mutex;
        {
            std::vector<std::jthread> threads;
            for (std::size_t k = 0; k < n; ++k)
                threads.emplace_back([&, k] {
                    try {
                        workers[k].run(guest, uv, batches.at(first + k));
                    } catch (...) {
                        std::lock_guard lock(error_mutex);
                        if (!error) error = std::current_exception();
                    }
                });
        }
        if (error) std::rethrow_exception(error);
        for (std::size_t k = 0; k < n; ++k) {
            out.write_all(format::Bytes(workers[k].data.data(), workers[k].batch.pages * kPageSize));
            progress.add(workers[k].batch.pages * kPageSize);
        }
    }
}

// pv_mem_meta for a stream: a classify-only pass in address order; entries
// of addresses outside every block are zero, as in QEMU's zeroed buffer.
void write_mem_meta_stream(const GuestSource& guest, const Ultravisor& uv, const format::QemuLayout& layout,
                           format::OutputFile& out, std::size_t batch_pages) {
    std::vector<PageInfo> info(batch_pages);
    std::vector<std::uint8_t> comps(batch_pages * kTweakSize);
    std::uint64_t written = 0;  // bytes of pv_mem_meta so far
    for (const auto& b : layout.blocks()) {
        const std::uint64_t at = 16 * (b.paddr / kPageSize);
        out.write_zeros(at - written);
        written = at;
        for (std::uint64_t p = 0; p < b.size / kPageSize; p += batch_pages) {
            format::check_interrupted();
            const std::size_t n = std::size_t(std::min<std::uint64_t>(batch_pages, b.size / kPageSize - p));
            const std::uint64_t paddr = b.paddr + p * kPageSize;
            guest.classify_pages(paddr, std::span(info.data(), n));
            for (std::size_t i = 0; i < n; ++i) uv.storage_state(paddr + i * kPageSize, info[i], comps.data() + i * kTweakSize);
            out.write_all(format::Bytes(comps.data(), n * kTweakSize));
            written += n * kTweakSize;
        }
    }
    out.write_zeros(layout.mem_meta_size() - written);
}

}  // namespace

format::CpuState hypervisor_view_mid_emulation(const format::CpuState& truth) {
    format::CpuState hv = truth;
    hv.has_osii = false;
    hv.psw[1] = truth.psw[1] + 4;  // already past the intercepted instruction
    hv.gprs[1] = truth.gprs[1] ^ 0x00000000ffff0000ull;
    hv.gprs[2] = truth.gprs[2] + 0x1000;
    hv.gprs[3] = 0;
    return hv;
}

SealResult seal(const GuestSource& guest, format::Bytes cck, const SealOptions& options) {
    const std::vector<format::CpuState>& truth = guest.cpus();
    if (truth.empty()) fail(ErrorCode::Usage, "the guest has no CPU");
    if (options.osii_cpu && *options.osii_cpu >= truth.size())
        fail(ErrorCode::Usage, "--osii-cpu " + std::to_string(*options.osii_cpu) + ": the guest has " +
                                   std::to_string(truth.size()) + " CPUs (0.." + std::to_string(truth.size() - 1) + ")");
    const std::size_t batch_pages = std::max<std::size_t>(1, options.batch_pages);

    std::unique_ptr<RandomSource> rng = make_random(options.deterministic_seed);
    Ultravisor uv(cck, *rng, UltravisorConfig{options.dump_allowed, options.swapped_one_in});
    // QEMU: dump init first; if the UV refuses, a dump without PV sections.
    const bool pv = uv.dump_init();

    format::QemuLayoutParams params;
    params.cpus = truth.size();
    params.blocks = guest.blocks();
    params.pv_sections = pv;
    params.pv_cpu_notes = true;  // a PV guest: QEMU writes the note even when init failed
    const format::QemuLayout layout(params);

    // Per vCPU: the UV's blob of the true state, the hypervisor's clear view.
    std::vector<format::CpuState> clear;
    std::vector<std::vector<std::uint8_t>> blobs;
    for (std::size_t i = 0; i < truth.size(); ++i) {
        format::CpuState state = truth[i];
        state.has_osii = options.osii_cpu && *options.osii_cpu == i;
        clear.push_back(state.has_osii ? hypervisor_view_mid_emulation(state) : state);
        clear.back().has_osii = false;
        // Dump init failed: QEMU leaves the descriptor unfilled (zeros here).
        blobs.push_back(pv ? uv.dump_cpu(state) : std::vector<std::uint8_t>(layout.params().cpu_dump_size, 0));
    }
    std::vector<std::uint8_t> head = layout.encode_headers();
    const std::vector<std::uint8_t> notes = layout.encode_notes(clear, blobs);
    head.insert(head.end(), notes.begin(), notes.end());

    unsigned threads = options.threads ? options.threads : std::max(1u, std::thread::hardware_concurrency());
    const Batches batches(layout.blocks(), batch_pages);
    threads = unsigned(std::max<std::uint64_t>(1, std::min<std::uint64_t>(threads, batches.count())));
    std::vector<Worker> workers;
    workers.reserve(threads);
    for (unsigned i = 0; i < threads; ++i) workers.emplace_back(uv, batch_pages);

    format::OutputFile out(options.output_path, options.overwrite);
    Progress progress(options, layout.memory_size());
    if (out.is_stream()) {
        out.write_all(head);
        write_memory_stream(guest, uv, out, workers, batches, progress);
        if (pv) write_mem_meta_stream(guest, uv, layout, out, batch_pages);
    } else {
        out.pwrite_all(head, 0);
        write_memory_positional(guest, uv, layout, out, workers, batches, progress, pv);
    }
    progress.finish();

    std::vector<std::uint8_t> tail;
    if (pv) tail = uv.dump_complete();
    tail.insert(tail.end(), layout.shstrtab().begin(), layout.shstrtab().end());
    if (out.is_stream()) {
        out.write_all(tail);
    } else {
        out.pwrite_all(tail, pv ? layout.compl_offset() : layout.shstrtab_offset());
        out.set_size(layout.file_size());
    }
    out.commit();

    SealResult r;
    r.pv = pv;
    r.cpus = truth.size();
    r.blocks = layout.blocks().size();
    r.memory_bytes = layout.memory_size();
    r.file_size = layout.file_size();
    Counts total;
    for (const Worker& w : workers) total.add(w.counts);
    r.pages_encrypted = total.encrypted;
    r.pages_swapped = total.swapped;
    r.pages_zero = total.zero;
    r.pages_shared = total.shared;
    r.memory_offset = layout.memory_offset();
    r.mem_meta_offset = layout.mem_meta_offset();
    r.mem_meta_size = layout.mem_meta_size();
    r.compl_offset = layout.compl_offset();
    r.threads = threads;
    return r;
}

}  // namespace pvdump::producer
