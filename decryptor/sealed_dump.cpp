// SealedDump, its page producer and the pipeline's input end: see sealed_dump.hpp.
#include "decryptor/sealed_dump.hpp"

#include <fcntl.h>
#include <sys/uio.h>
#include <climits>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "format/crypto.hpp"

namespace pvdump::decryptor {
using namespace format;
using pipeline::PageFill;

void PageInput::Reader::read_scattered(std::uint64_t offset, std::span<const iovec> to) {
    for (const iovec& v : to) {
        auto* dst = static_cast<std::uint8_t*>(v.iov_base);
        const std::uint8_t* got = read(offset, v.iov_len, dst);
        if (got != dst) std::memcpy(dst, got, v.iov_len);
        offset += v.iov_len;
    }
}

// ---- the default cipher and input ------------------------------------------------
namespace {

class XtsPageCipher final : public PageCipher {
public:
    explicit XtsPageCipher(Bytes key) : xts_(key, XtsCipher::Mode::Decrypt) {}
    void decrypt(const std::uint8_t tweak[16], const std::uint8_t* in, std::uint8_t* out) override {
        xts_.process(tweak, in, out, kPageSize);
    }

private:
    XtsCipher xts_;
};

// Pages are read straight from the mapping (no copy), mapped in one go before
// and dropped from the resident set after.
class MappedInput final : public PageInput {
public:
    explicit MappedInput(const CoreFile& file) : file_(file) {}
    class MappedReader final : public Reader {
    public:
        explicit MappedReader(const CoreFile& file) : file_(file) {}
        const std::uint8_t* read(std::uint64_t offset, std::uint64_t size, std::uint8_t*) override {
            file_.prefetch(offset, size);
            return file_.bytes().data() + offset;
        }

    private:
        const CoreFile& file_;
    };
    std::unique_ptr<Reader> reader() const override { return std::make_unique<MappedReader>(file_); }
    void release(std::uint64_t offset, std::uint64_t size) const override { file_.release(offset, size); }
    void advise_sequential() const override { file_.advise_sequential(); }
    const char* name() const override { return "mmap"; }

private:
    const CoreFile& file_;
};

// Pages are read with pread into the caller's buffer; see pread_input().
class PreadInput final : public PageInput {
public:
    PreadInput(const CoreFile& file, bool drop_behind) : file_(file), fd_(file.fd()), drop_(drop_behind) {
        if (fd_ < 0) fail(ErrorCode::Internal, "pread input without an opened file");
        if (const Section* m = file.section("pv_mem_meta")) {
            meta_lo_ = m->offset;
            meta_hi_ = m->offset + m->size;  // checked against the file size by the index
        }
    }
    class PReader final : public Reader {
    public:
        explicit PReader(const PreadInput& in) : in_(in) {}
        const std::uint8_t* read(std::uint64_t offset, std::uint64_t size, std::uint8_t* scratch) override {
            in_.read(offset, scratch, size);
            return scratch;
        }
        void read_scattered(std::uint64_t offset, std::span<const iovec> to) override { in_.readv(offset, to); }

    private:
        const PreadInput& in_;
    };
    std::unique_ptr<Reader> reader() const override { return std::make_unique<PReader>(*this); }
    void release(std::uint64_t offset, std::uint64_t size) const override {
        if (drop_ && size) posix_fadvise(fd_, off_t(offset), off_t(size), POSIX_FADV_DONTNEED);
    }
    void advise_sequential() const override {
        posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
        sequential_ = true;
    }
    const char* name() const override { return drop_ ? "pread-drop" : "pread"; }

    // A read the page cache can serve at once (RWF_NOWAIT) is all there is to
    // it; only one that would wait for the disk announces the window ahead.
    // Announcing a cached range is not free (the kernel looks up every page:
    // ~30 ms of CPU per GiB), so a warm dump is read without any.
    void read(std::uint64_t offset, std::uint8_t* out, std::uint64_t size) const {
        std::uint64_t done = 0;
        if (nowait_.load(std::memory_order_relaxed)) {
            struct iovec v = {out, std::size_t(size)};
            const ssize_t n = ::preadv2(fd_, &v, 1, off_t(offset), RWF_NOWAIT);
            if (n > 0) done = std::uint64_t(n);
            else if (n < 0 && (errno == EOPNOTSUPP || errno == EINVAL)) nowait_.store(false, std::memory_order_relaxed);
            if (done == size) return;
        }
        ahead(offset, size);
        read_exact(offset + done, out + done, size - done);
    }

    // read() into several buffers: one preadv2 when the page cache has it all.
    void readv(std::uint64_t offset, std::span<const iovec> to) const {
        std::uint64_t size = 0;
        for (const iovec& v : to) size += v.iov_len;
        std::uint64_t done = 0;
        if (nowait_.load(std::memory_order_relaxed) && to.size() <= IOV_MAX) {
            const ssize_t n = ::preadv2(fd_, to.data(), int(to.size()), off_t(offset), RWF_NOWAIT);
            if (n > 0) done = std::uint64_t(n);
            else if (n < 0 && (errno == EOPNOTSUPP || errno == EINVAL)) nowait_.store(false, std::memory_order_relaxed);
            if (done == size) return;
        }
        ahead(offset, size);
        std::uint64_t at = 0;  // the rest, piece by piece
        for (const iovec& v : to) {
            const std::uint64_t lo = std::max(at, done), hi = at + v.iov_len;
            if (lo < hi) read_exact(offset + lo, static_cast<std::uint8_t*>(v.iov_base) + (lo - at), hi - lo);
            at = hi;
        }
    }

    void read_exact(std::uint64_t offset, std::uint8_t* out, std::uint64_t size) const {
        int err = 0;
        const std::uint64_t done = format::pread_full(fd_, offset, out, std::size_t(size), err);
        if (err)
            fail(ErrorCode::Io, "cannot read the dump '" + file_.name() + "' at offset " + hex(offset + done) + ": " +
                                    std::strerror(err));
        if (done < size)
            fail(ErrorCode::Io, "the dump '" + file_.name() + "' ends at offset " + hex(offset + done) +
                                    ", before the data it described when it was opened (it shrank)");
    }

private:
    const CoreFile& file_;
    int fd_;
    bool drop_;
    mutable bool sequential_ = false;  // set before the readers start
    mutable std::atomic<bool> nowait_{true};  // preadv2(RWF_NOWAIT) works here
    std::uint64_t meta_lo_ = 0, meta_hi_ = 0;

    // Read-ahead for a reader in file order: memory and pv_mem_meta are two
    // sequential streams; each is announced `window` ahead, in steps of half
    // a window (each page is announced once, with few calls).
    struct Ahead {
        std::mutex mu;
        std::uint64_t to = 0;
    };
    mutable Ahead memory_, meta_;
    static constexpr std::uint64_t kMemoryWindow = 16u << 20, kMetaWindow = 64u << 10;

    void ahead(std::uint64_t offset, std::uint64_t size) const {
        if (!sequential_) return;
        const bool meta = offset >= meta_lo_ && offset < meta_hi_;
        Ahead& a = meta ? meta_ : memory_;
        const std::uint64_t window = meta ? kMetaWindow : kMemoryWindow;
        const std::uint64_t end = offset + size;
        std::uint64_t from, to;
        {
            std::lock_guard lk(a.mu);
            // A reader far behind or ahead of the mark (another region) restarts it.
            if (a.to > end + 2 * window || a.to + 2 * window < end) a.to = end;
            if (a.to >= end + window / 2) return;
            from = std::max(a.to, end);
            to = end + window;
            if (meta) to = std::min(to, meta_hi_);
            a.to = to;
        }
        if (to > from) posix_fadvise(fd_, off_t(from), off_t(to - from), POSIX_FADV_WILLNEED);
    }
};

}  // namespace

std::unique_ptr<PageCipher> make_xts_page_cipher(Bytes xts_key) { return std::make_unique<XtsPageCipher>(xts_key); }
std::unique_ptr<PageInput> mapped_input(const CoreFile& file) { return std::make_unique<MappedInput>(file); }
std::unique_ptr<PageInput> pread_input(const CoreFile& file, bool drop_behind) {
    return std::make_unique<PreadInput>(file, drop_behind);
}

std::unique_ptr<PageInput> default_input(const CoreFile& file) {
    if (file.fd() < 0) return mapped_input(file);
    const char* env = std::getenv("PVDUMP_INPUT");
    const std::string want = env ? env : "";
    if (want.empty() || want == "pread") return pread_input(file);
    if (want == "pread-drop") return pread_input(file, true);
    if (want == "mmap") return mapped_input(file);
    fail(ErrorCode::Usage, "PVDUMP_INPUT='" + want + "' is not one of pread, pread-drop, mmap");
}

// ---- SealedDump -------------------------------------------------------------------

SealedDump SealedDump::open(const std::string& path) { return SealedDump(CoreFile::open(path)); }

SealedDump::SealedDump(CoreFile file)
    : file_(std::make_unique<CoreFile>(std::move(file))),
      input_(default_input(*file_)),
      cipher_(std::make_unique<PageCipherFactory>(make_xts_page_cipher)) {}
SealedDump::SealedDump(SealedDump&&) noexcept = default;
SealedDump& SealedDump::operator=(SealedDump&&) noexcept = default;
SealedDump::~SealedDump() = default;

const PageIndex& SealedDump::pages() const {
    if (!pages_) pages_ = std::make_unique<PageIndex>(*file_);
    return *pages_;
}

void SealedDump::unlock(Bytes cck) { keys_ = std::make_unique<Keys>(open_keys(*file_, cck)); }

const Keys& SealedDump::keys() const {
    if (!keys_) fail(ErrorCode::Internal, "the dump's keys are needed before the CCK was given");
    return *keys_;
}

std::vector<CpuRecord> SealedDump::cpus() const { return cpu_states(*file_, keys().dump_key.view()); }

void SealedDump::set_input(std::unique_ptr<PageInput> input) { input_ = std::move(input); }
void SealedDump::set_cipher(PageCipherFactory factory) { *cipher_ = std::move(factory); }

SealedView SealedDump::view() const {
    return {file_.get(), &pages(), &keys(), input_.get(), cipher_.get(), shared_as_zero_};
}

// ---- PageDecryptor ------------------------------------------------------------------

PageDecryptor::PageDecryptor(const SealedView& d)
    : d_(d), cipher_((*d.cipher)(d.keys->xts_key.view())), reader_(d.input->reader()) {}

// Invalid or missing pages (only reached with --force) become holes.
PageFill PageDecryptor::transform(const Block& b, std::uint64_t p, const std::uint8_t* c, const std::uint8_t* in,
                                  std::uint8_t* out) {
    if (!c || p >= b.present) return PageFill::Hole;
    switch (classify_component(c).state) {
    case PageState::Encrypted: {
        std::uint8_t tweak[16];
        analysis::detail::make_tweak(c, d_.keys->nonce.data(), tweak);
        cipher_->decrypt(tweak, in, out);
        return PageFill::Data;
    }
    case PageState::Shared:
        if (d_.shared_as_zero) return PageFill::Hole;
        if (in != out) std::memcpy(out, in, kPageSize);
        return PageFill::Data;
    case PageState::Zero:
    case PageState::Invalid: return PageFill::Hole;
    }
    return PageFill::Hole;
}

PageFill PageDecryptor::page(const Block& b, std::uint64_t p, std::uint8_t* out) {
    PageFill fill;
    pages(b, p, 1, out, &fill, false);
    return fill;
}

struct PageDecryptor::Out {
    std::uint8_t* const* bases;
    std::uint64_t per;  // pages per base
    std::uint8_t* page(std::uint64_t k) const { return bases[k / per] + (k % per) * kPageSize; }
};

void PageDecryptor::pages(const Block& b, std::uint64_t first, std::uint64_t n, std::uint8_t* out, PageFill* fill,
                          bool scan_zero) {
    pages_to(b, first, n, Out{&out, std::max<std::uint64_t>(n, 1)}, fill, scan_zero);
}

void PageDecryptor::pages_scattered(const Block& b, std::uint64_t first, std::uint64_t n,
                                    std::span<std::uint8_t* const> outs, std::uint64_t per, PageFill* fill) {
    if (per == 0 || outs.size() < (n + per - 1) / per)
        fail(ErrorCode::Internal, "pages_scattered: fewer buffers than the pages need");
    pages_to(b, first, n, Out{outs.data(), per}, fill, false);
}

void PageDecryptor::pages_to(const Block& b, std::uint64_t first, std::uint64_t n, const Out& out, PageFill* fill,
                             bool scan_zero) {
    // The components first (pv_mem_meta is indexed by page address: the
    // batch's entries are one range), then the pages, each in one read.
    const std::uint64_t paddr = b.paddr + first * kPageSize;
    std::uint64_t coff = 0, csize = 0;
    const std::uint8_t* comps = nullptr;
    std::uint64_t covered = 0;  // pages of the batch with a component
    if (d_.pages->component_range(paddr, paddr + n * kPageSize, coff, csize)) {  // starts at paddr's entry
        if (components_.size() < csize) components_.resize(csize);
        comps = reader_->read(coff, csize, components_.data());
        covered = csize / kTweakSize;
    }
    const std::uint64_t present = first < b.present ? std::min(n, b.present - first) : 0;
    const std::uint64_t in_offset = b.offset + first * kPageSize;
    // Pages are decrypted in place: where they were read to.
    const std::uint8_t* in = nullptr;  // contiguous input (one buffer), or null: in place, scattered
    if (present && out.per >= n) {
        in = reader_->read(in_offset, present * kPageSize, out.bases[0]);
    } else if (present) {
        std::vector<iovec> to;
        for (std::uint64_t k = 0; k < present; k += out.per)
            to.push_back({out.page(k), std::size_t(std::min(out.per, present - k) * kPageSize)});
        reader_->read_scattered(in_offset, to);
    }
    for (std::uint64_t k = 0; k < n; ++k) {
        std::uint8_t* o = out.page(k);
        const std::uint8_t* src = k < present ? (in ? in + k * kPageSize : o) : o;
        fill[k] = transform(b, first + k, k < covered ? comps + k * kTweakSize : nullptr, src, o);
        if (scan_zero && fill[k] == PageFill::Data && is_all_zero(o, kPageSize)) fill[k] = PageFill::Zero;
    }
}

// ---- the pipeline's input end -----------------------------------------------------------

namespace {

class DecryptWorker final : public pipeline::PageSource::Worker {
public:
    explicit DecryptWorker(const SealedView& d) : d_(d), dec_(d) {}
    void fill(const pipeline::WorkItem& item, pipeline::Batch& batch, bool scan_zero) override {
        const Block& b = d_.pages->blocks()[item.block];
        dec_.pages(b, item.first_page, item.pages, batch.data.data(), batch.fill.data(), scan_zero);
    }

private:
    SealedView d_;
    PageDecryptor dec_;
};

}  // namespace

std::unique_ptr<pipeline::PageSource::Worker> DecryptSource::make_worker() const {
    return std::make_unique<DecryptWorker>(d_);
}

// A run of items of one block is one range of the file and of pv_mem_meta.
void DecryptSource::release(std::uint64_t first, std::uint64_t end) const {
    for (std::uint64_t i = first; i < end;) {
        const pipeline::WorkItem a = plan_.at(i);
        std::uint64_t j = i;
        while (j + 1 < end && plan_.at(j + 1).block == a.block) ++j;
        const pipeline::WorkItem z = plan_.at(j);
        const Block& blk = d_.pages->blocks()[a.block];
        const std::uint64_t lo = a.first_page, hi = z.first_page + z.pages;
        const std::uint64_t present_hi = std::min(hi, blk.present);
        if (present_hi > lo) d_.input->release(blk.offset + lo * kPageSize, (present_hi - lo) * kPageSize);
        std::uint64_t coff, csize;
        if (d_.pages->component_range(blk.paddr + lo * kPageSize, blk.paddr + hi * kPageSize, coff, csize))
            d_.input->release(coff, csize);
        i = j + 1;
    }
}

pipeline::WorkPlan work_plan(const PageIndex& pages) {
    std::vector<MemoryRange> ranges;
    for (const Block& b : pages.blocks()) ranges.push_back({b.paddr, b.pages * kPageSize});
    return pipeline::WorkPlan(std::move(ranges), kDecryptItemPages);
}

void decrypt_pages(const SealedDump& dump, pipeline::PageSink& sink, const DecryptOptions& options) {
    const SealedView view = dump.view();
    const pipeline::WorkPlan plan = work_plan(*view.pages);
    const DecryptSource source(view, plan);
    view.input->advise_sequential();
    pipeline::PipelineOptions po;
    po.threads = options.threads;
    if (options.progress)
        po.progress = [&](std::uint64_t done, std::uint64_t total) { options.progress(done * kPageSize, total * kPageSize); };
    pipeline::run_pipeline(plan, source, sink, po);
}

// ---- memory, page by page ---------------------------------------------------------

namespace {

class SealedMemory final : public MemoryView {
public:
    explicit SealedMemory(const SealedView& d) : d_(d), dec_(d) {}
    bool contains(std::uint64_t paddr, std::uint64_t size) const override {
        if (size == 0) return d_.pages->find(paddr) != nullptr;
        std::uint64_t last;
        if (add_overflows(paddr, size - 1, last)) return false;
        for (std::uint64_t a = paddr & ~std::uint64_t(kPageSize - 1); a <= last; a += kPageSize) {
            if (!d_.pages->find(a)) return false;
            if (a > last - kPageSize) break;
        }
        return true;
    }
    void read(std::uint64_t paddr, std::span<std::uint8_t> out) const override {
        for (std::uint64_t done = 0; done < out.size();) {
            const std::uint64_t a = paddr + done;
            const std::uint64_t page = a & ~std::uint64_t(kPageSize - 1);
            const Block* b = d_.pages->find(page);
            if (!b) fail(ErrorCode::Format, "guest address " + hex(a) + " is not in the dump");
            if (page != cached_page_) {
                if (dec_.page(*b, (page - b->paddr) / kPageSize, cache_) == PageFill::Hole) std::memset(cache_, 0, kPageSize);
                cached_page_ = page;
            }
            const std::uint64_t off = a - page;
            const std::uint64_t n = std::min<std::uint64_t>(out.size() - done, kPageSize - off);
            std::memcpy(out.data() + done, cache_ + off, n);
            done += n;
        }
    }

private:
    SealedView d_;
    mutable PageDecryptor dec_;
    mutable std::uint8_t cache_[kPageSize];
    mutable std::uint64_t cached_page_ = ~std::uint64_t(0);
};

// sealed_memory() over a CoreFile and Keys the caller owns: the index, input
// and cipher factory live here.
class OwningSealedMemory final : public MemoryView {
public:
    OwningSealedMemory(const CoreFile& file, const Keys& keys)
        : pages_(file), input_(default_input(file)), cipher_(make_xts_page_cipher),
          mem_(SealedView{&file, &pages_, &keys, input_.get(), &cipher_}) {}
    bool contains(std::uint64_t paddr, std::uint64_t size) const override { return mem_.contains(paddr, size); }
    void read(std::uint64_t paddr, std::span<std::uint8_t> out) const override { mem_.read(paddr, out); }

private:
    PageIndex pages_;
    std::unique_ptr<PageInput> input_;
    PageCipherFactory cipher_;
    SealedMemory mem_;
};

}  // namespace

std::unique_ptr<MemoryView> SealedDump::memory() const { return std::make_unique<SealedMemory>(view()); }

std::unique_ptr<MemoryView> sealed_memory(const CoreFile& dump, const Keys& keys) {
    return std::make_unique<OwningSealedMemory>(dump, keys);
}

}  // namespace pvdump::decryptor
