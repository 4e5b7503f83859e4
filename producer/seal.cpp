#include "producer/seal.hpp"

#include <algorithm>
#include <memory>
#include <mutex>
#include <vector>

#include "format/output_file.hpp"
#include "format/page_pipeline.hpp"
#include "format/qemu_writer.hpp"
#include "producer/random.hpp"
#include "producer/ultravisor.hpp"

namespace pvdump::producer {

using format::kPageSize;
using format::kTweakSize;
namespace pipeline = format::pipeline;

namespace {

struct Counts {
    std::uint64_t encrypted = 0, swapped = 0, zero = 0, shared = 0;
    void add(const Counts& o) {
        encrypted += o.encrypted;
        swapped += o.swapped;
        zero += o.zero;
        shared += o.shared;
    }
};

// The pipeline's input end: guest pages exported by the simulated Ultravisor.
// Each worker has its own exporter (XTS context) and page-info buffer; the
// tweak components of a batch travel in batch.side.
class SealSource final : public pipeline::PageSource {
public:
    SealSource(const GuestSource& guest, const Ultravisor& uv, std::size_t batch_pages)
        : guest_(guest), uv_(uv), batch_pages_(batch_pages) {}
    std::unique_ptr<Worker> make_worker() const override { return std::make_unique<SealWorker>(*this); }
    Counts counts() const {
        std::lock_guard lock(mutex_);
        return total_;
    }

private:
    class SealWorker final : public Worker {
    public:
        explicit SealWorker(const SealSource& s) : s_(s), exporter_(s.uv_.exporter()), info_(s.batch_pages_) {}
        ~SealWorker() override {
            std::lock_guard lock(s_.mutex_);
            s_.total_.add(counts_);
        }
        void fill(const pipeline::WorkItem& item, pipeline::Batch& b, bool) override {
            const std::size_t n = std::size_t(item.pages);
            b.side.resize(n * kTweakSize);
            s_.guest_.read_pages(item.paddr, format::MutableBytes(b.data.data(), n * kPageSize), std::span(info_.data(), n));
            for (std::size_t i = 0; i < n; ++i) {
                const std::uint64_t paddr = item.paddr + i * kPageSize;
                // export_page zeroes a zero page, so the batch holds it as zeros.
                exporter_.export_page(paddr, info_[i], b.page(i), b.side.data() + i * kTweakSize);
                b.fill[i] = info_[i].kind == PageKind::Zero ? pipeline::PageFill::Zero : pipeline::PageFill::Data;
                count(paddr, info_[i].kind);
            }
        }

    private:
        void count(std::uint64_t paddr, PageKind kind) {
            switch (kind) {
            case PageKind::Zero: ++counts_.zero; break;
            case PageKind::Shared: ++counts_.shared; break;
            case PageKind::Data:
                ++counts_.encrypted;
                if (s_.uv_.swapped_out(paddr / kPageSize)) ++counts_.swapped;
                break;
            }
        }
        const SealSource& s_;
        Ultravisor::Exporter exporter_;
        std::vector<PageInfo> info_;
        Counts counts_;
    };

    const GuestSource& guest_;
    const Ultravisor& uv_;
    std::size_t batch_pages_;
    mutable std::mutex mutex_;
    mutable Counts total_;
};

// The file end: memory at its QEMU offsets (long zero runs stay holes), and
// each batch's tweak components at their place in pv_mem_meta.
class SealFileSink final : public pipeline::FileSink {
public:
    SealFileSink(format::OutputFile& out, const format::QemuLayout& layout, bool pv)
        : FileSink(out, [&layout](const pipeline::WorkItem& i) { return layout.file_offset_of(i.paddr); }),
          layout_(layout), pv_(pv) {}
    void consume(pipeline::Batch& b) override {
        FileSink::consume(b);
        if (pv_) out_.pwrite_all(format::Bytes(b.side.data(), b.item.pages * kTweakSize), layout_.component_offset(b.item.paddr));
    }

private:
    const format::QemuLayout& layout_;
    bool pv_;
};

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

    const pipeline::WorkPlan plan(layout.blocks(), batch_pages);
    const unsigned threads = pipeline::thread_count(options.threads, plan.count());
    const SealSource source(guest, uv, batch_pages);
    pipeline::PipelineOptions po;
    po.threads = threads;
    po.window_per_thread = 4;  // streams: 4 MiB waiting per thread at most (1 MiB batches)
    if (options.progress)
        po.progress = [&](std::uint64_t done, std::uint64_t total) { options.progress(done * kPageSize, total * kPageSize); };

    format::OutputFile out(options.output_path, options.overwrite);
    if (out.is_stream()) {
        out.write_all(head);
        // QEMU's layout has memory right after the notes, blocks back to back.
        pipeline::StreamSink sink(out, [](const pipeline::WorkItem&) { return std::uint64_t(0); }, head.size());
        pipeline::run_pipeline(plan, source, sink, po);
        if (pv) write_mem_meta_stream(guest, uv, layout, out, batch_pages);
    } else {
        out.pwrite_all(head, 0);
        SealFileSink sink(out, layout, pv);
        pipeline::run_pipeline(plan, source, sink, po);
    }
    if (options.progress) options.progress(layout.memory_size(), layout.memory_size());

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
    const Counts total = source.counts();
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
