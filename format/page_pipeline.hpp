// The ordered, bounded, parallel page pipeline shared by pvdecrypt and pvseal.
//
// Guest memory (one or more blocks of whole pages) is cut into work items of
// N pages (WorkPlan). Worker threads take items in address order, each with
// a context of its own (cipher contexts, buffers), and fill a Batch: the
// item's 4 KiB pages plus one PageFill per page. The batch then goes to the
// sink. Memory in flight is bounded (one batch per worker, plus a window of
// ready batches when the sink is ordered), whatever the guest's size.
//
// The ends:
//
//   input + transform: PageSource. make_worker() is called once per worker
//     thread and returns a PageSource::Worker that owns everything
//     worker-local (an XTS context, a pread buffer, an Ultravisor exporter);
//     Worker::fill(item, batch, scan_zero) produces the item's pages. How the
//     input is read (mmap, pread into the batch) and what is done to each page
//     (decrypt, encrypt, copy) is the source's business. release(first, end)
//     is called with runs of finished items in order, batched and from one
//     thread at a time, so a mapped input can drop them from the resident set.
//     pvdecrypt's source is decryptor::DecryptSource (decryptor/sealed_dump.hpp),
//     pvseal's is in producer/seal.cpp.
//
//   output: PageSink.
//     ordered() == false: consume(batch) runs on the worker thread, in any
//       order (positional writes: FileSink, a file with holes).
//     ordered() == true: consume(batch) runs strictly in item order, on one
//       worker thread at a time (the one that finished the batch next in
//       turn writes it and those queued behind it; never two at once), for
//       StreamSink (-o -) or a writer that appends, like a kdump-compressed
//       file. Up to `window` batches wait for their turn.
//     worker_stage(batch) runs on the worker thread for every batch before the
//       hand-off, in any order: the place for per-batch CPU work such as
//       compressing pages (keep results in batch.side or a sink-owned slot
//       indexed by batch.item.index).
//     scan_zero() asks the source to mark all-zero pages PageFill::Zero.
//   Each page of a batch: batch.page(k) (4096 bytes), batch.fill[k], and its
//   guest address batch.item.paddr + k * 4096. PageFill::Hole pages hold
//   garbage: they read as zeros (Batch::zero_holes() makes that so in the buffer).
//
//   Random access (no pipeline): a source's Worker can be used on its own, one
//   per thread, to produce any item on demand (decryptor::PageDecryptor does
//   this per page for a mount).
//
// run_pipeline() returns when every item went through the sink, or throws the
// first error of any thread (the others stop). Signals do not pass through it:
// the tools' handler ends the process (format/output_file.hpp). Progress is
// reported from the calling thread.
#pragma once
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <new>
#include <vector>

#include "format/bytes.hpp"
#include "format/vmcore_writer.hpp"  // MemoryRange

namespace pvdump::format {
class OutputFile;
}

namespace pvdump::format::pipeline {

inline constexpr std::uint64_t kPage = 4096;
// Zero runs shorter than this are written as zeros (fewer, larger writes, a
// less fragmented file); longer ones stay holes. 64 KiB.
inline constexpr std::uint64_t kMinHolePages = 16;

// `requested` threads (0: one per core), at least 1, at most one per item.
unsigned thread_count(unsigned requested, std::uint64_t items);

struct WorkItem {
    std::uint64_t index = 0;       // position in address order
    std::size_t block = 0;         // index into the plan's blocks
    std::uint64_t first_page = 0;  // within the block
    std::uint64_t pages = 0;       // 1 .. item_pages
    std::uint64_t paddr = 0;       // guest address of the first page
};

// Blocks of guest memory (page-aligned) cut into items of `item_pages`,
// computed from an index: no per-item table.
class WorkPlan {
public:
    WorkPlan(std::vector<MemoryRange> blocks, std::uint64_t item_pages);
    std::uint64_t count() const { return count_; }
    std::uint64_t item_pages() const { return item_pages_; }
    std::uint64_t total_pages() const { return total_pages_; }
    const std::vector<MemoryRange>& blocks() const { return blocks_; }
    WorkItem at(std::uint64_t index) const;

private:
    std::vector<MemoryRange> blocks_;
    std::uint64_t item_pages_;
    std::vector<std::uint64_t> first_;  // first item index of each block
    std::uint64_t count_ = 0, total_pages_ = 0;
};

enum class PageFill : std::uint8_t {
    Data,  // the buffer holds the page
    Zero,  // the buffer holds the page, and it is all zeros
    Hole,  // nothing was written to the buffer: the page reads as zeros
};

// Page-aligned storage for page buffers that the kernel copies into (pread).
// A buffer that starts 1 to 31 bytes past a page boundary, where glibc puts
// a large malloc'd block (an mmap'd chunk's data follows a 16-byte header),
// made the kernel's copy out of the page cache 5x slower on the AMD EPYC
// machines here (2 threads, 4 GiB: 1.23 s, sys 2.2 s, against 0.23 s and
// 0.44 s from an aligned buffer; offsets of 32 and more are fast).
template <class T>
struct PageAlignedAllocator {
    using value_type = T;
    PageAlignedAllocator() = default;
    template <class U>
    PageAlignedAllocator(const PageAlignedAllocator<U>&) {}
    T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(kPage))); }
    void deallocate(T* p, std::size_t) { ::operator delete(p, std::align_val_t(kPage)); }
    template <class U>
    bool operator==(const PageAlignedAllocator<U>&) const { return true; }
};
using PageBuffer = std::vector<std::uint8_t, PageAlignedAllocator<std::uint8_t>>;

struct Batch {
    WorkItem item;
    PageBuffer data;                 // item_pages * 4096, page-aligned
    std::vector<PageFill> fill;      // item_pages
    std::vector<std::uint8_t> side;  // per-batch extra data of the source or sink (tweak components, compressed pages)

    std::uint8_t* page(std::uint64_t k) { return data.data() + k * kPage; }
    const std::uint8_t* page(std::uint64_t k) const { return data.data() + k * kPage; }
    bool zero(std::uint64_t k) const { return fill[k] != PageFill::Data; }
    // Writes zeros over the Hole pages of [begin, end) (they become Zero).
    void zero_holes(std::uint64_t begin, std::uint64_t end);
};

class PageSource {
public:
    class Worker {
    public:
        virtual ~Worker() = default;
        // Fills batch.data / batch.fill for item (batch.item is set already).
        // With scan_zero, pages whose bytes are all zero are marked Zero.
        virtual void fill(const WorkItem& item, Batch& batch, bool scan_zero) = 0;
    };
    virtual ~PageSource() = default;
    virtual std::unique_ptr<Worker> make_worker() const = 0;
    // Items [first, end) are done (in order); called from one thread at a time.
    virtual void release(std::uint64_t /*first*/, std::uint64_t /*end*/) const {}
};

class PageSink {
public:
    virtual ~PageSink() = default;
    virtual bool ordered() const = 0;
    virtual bool scan_zero() const { return false; }
    virtual void worker_stage(Batch& /*batch*/) {}
    virtual void consume(Batch& batch) = 0;
};

// A regular file written positionally at offset_of(item) + k * 4096: zero runs
// of kMinHolePages and more stay holes, shorter ones are written.
class FileSink : public PageSink {
public:
    FileSink(OutputFile& out, std::function<std::uint64_t(const WorkItem&)> offset_of)
        : out_(out), offset_of_(std::move(offset_of)) {}
    bool ordered() const override { return false; }
    bool scan_zero() const override { return true; }
    void consume(Batch& batch) override;

protected:
    OutputFile& out_;
    std::function<std::uint64_t(const WorkItem&)> offset_of_;
};

// A stream in item order; zeros fill any gap up to offset_of(item) (the
// padding between ranges of a layout). Starts at `position` (bytes already written).
class StreamSink : public PageSink {
public:
    StreamSink(OutputFile& out, std::function<std::uint64_t(const WorkItem&)> offset_of, std::uint64_t position)
        : out_(out), offset_of_(std::move(offset_of)), pos_(position) {}
    bool ordered() const override { return true; }
    void consume(Batch& batch) override;

private:
    OutputFile& out_;
    std::function<std::uint64_t(const WorkItem&)> offset_of_;
    std::uint64_t pos_;
    std::vector<iovec> pieces_;  // consume()'s writev list, kept for its capacity
};

struct PipelineOptions {
    unsigned threads = 0;             // 0: one per core (thread_count())
    std::size_t window_per_thread = 4;  // ordered sinks: ready batches per thread at most
    // Called now and then from the calling thread with pages done so far.
    std::function<void(std::uint64_t done_pages, std::uint64_t total_pages)> progress;
};

void run_pipeline(const WorkPlan& plan, const PageSource& source, PageSink& sink, const PipelineOptions& options);

}  // namespace pvdump::format::pipeline
