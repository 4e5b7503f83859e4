#include "decryptor/vmcore_reader.hpp"

#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "decryptor/sealed_dump.hpp"

namespace pvdump::decryptor {
using namespace format;

namespace {

constexpr std::uint64_t kChunkPages = 16;  // one cache slot: 64 KiB of guest memory
constexpr std::uint64_t kChunkBytes = kChunkPages * kPageSize;
constexpr std::uint32_t kNone = ~std::uint32_t(0);
constexpr std::size_t kStreams = 8;        // sequential readers tracked at once

std::string mib(std::uint64_t bytes) {
    if (bytes == RLIM_INFINITY) return "unlimited";
    if (bytes % (1 << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
    return std::to_string(bytes >> 10) + " KiB";
}

}  // namespace

struct VmcoreReader::Impl {
    std::unique_ptr<SealedDump> dump;
    CheckedDump checked;
    const VmcoreLayout* layout = nullptr;
    std::vector<Block> blocks;                // == layout ranges, in file order
    std::vector<std::uint64_t> chunk_base;    // first global chunk id of each block
    std::vector<std::uint64_t> range_off;     // file offset of each block
    std::uint64_t total_chunks = 0;
    struct stat identity {};

    // The cache: nslots chunks in one anonymous mapping.
    std::uint8_t* arena = nullptr;
    std::size_t arena_bytes = 0;
    std::uint32_t nslots = 0;
    bool locked = false;
    std::string lock_note;

    enum class State : std::uint8_t { Free, Filling, Ready };
    struct Slot {
        std::uint64_t chunk = ~std::uint64_t(0);
        State state = State::Free;
        bool referenced = false;
        bool spent = false;  // a sequential stream has read past it: evict first
        std::uint32_t pins = 0;
    };
    mutable std::mutex mu;
    std::condition_variable cv;  // a fill finished, a pin was dropped
    std::vector<Slot> slots;
    std::unordered_map<std::uint64_t, std::uint32_t> where;  // chunk -> slot
    std::uint32_t hand = 0;                                   // clock eviction
    // Slots a sequential stream has read past, most recent last: they are
    // reused first, so a long `cat` cycles through a few MiB of the cache
    // that stay in the CPU's caches instead of all of it.
    std::vector<std::uint32_t> spent;

    // Read-ahead.
    std::uint64_t window_chunks = 0;
    struct Stream {
        std::uint64_t next_offset = ~std::uint64_t(0);
        std::uint64_t queued_to = 0;  // chunks below this were handed to the workers
    };
    std::array<Stream, kStreams> streams{};
    std::size_t stream_rr = 0;
    std::deque<std::uint64_t> queue;
    std::unordered_set<std::uint64_t> queued;
    std::condition_variable work_cv;
    bool stopping = false;
    std::vector<std::thread> workers;

    // Page decryptors (cipher context + input reader) for fills on the callers' threads.
    std::mutex cipher_mu;
    std::vector<std::unique_ptr<PageDecryptor>> ciphers;

    Stats stats;

    std::uint8_t* slot_data(std::uint32_t s) const { return arena + std::size_t(s) * kChunkBytes; }

    std::unique_ptr<PageDecryptor> take_cipher() {
        {
            std::lock_guard lk(cipher_mu);
            if (!ciphers.empty()) {
                auto c = std::move(ciphers.back());
                ciphers.pop_back();
                return c;
            }
        }
        return std::make_unique<PageDecryptor>(dump->view());
    }
    void give_cipher(std::unique_ptr<PageDecryptor> c) {
        std::lock_guard lk(cipher_mu);
        ciphers.push_back(std::move(c));
    }

    void check_unchanged() const {
        struct stat st {};
        if (fstat(dump->file().fd(), &st) != 0)
            fail(ErrorCode::Io, "cannot stat the dump '" + dump->file().name() + "': " + std::strerror(errno));
        if (st.st_size != identity.st_size)
            fail(ErrorCode::Io, "the dump '" + dump->file().name() + "' changed size since it was opened (" +
                                    std::to_string(identity.st_size) + " -> " + std::to_string(st.st_size) +
                                    " bytes): its memory is no longer served");
        if (st.st_mtim.tv_sec != identity.st_mtim.tv_sec || st.st_mtim.tv_nsec != identity.st_mtim.tv_nsec ||
            st.st_ctim.tv_sec != identity.st_ctim.tv_sec || st.st_ctim.tv_nsec != identity.st_ctim.tv_nsec)
            fail(ErrorCode::Io, "the dump '" + dump->file().name() +
                                    "' was modified since it was opened: its memory is no longer served");
    }

    std::size_t block_of_chunk(std::uint64_t chunk) const {
        auto it = std::upper_bound(chunk_base.begin(), chunk_base.end(), chunk);
        return std::size_t(it - chunk_base.begin()) - 1;
    }

    // Decrypts one chunk into dst (the pages the chunk has; the rest untouched).
    // Ciphertext and components come through pread_input(), never the mapping.
    void fill(std::uint64_t chunk, std::uint8_t* dst, PageDecryptor& pd) const {
        const std::size_t bi = block_of_chunk(chunk);
        const Block& b = blocks[bi];
        const std::uint64_t p0 = (chunk - chunk_base[bi]) * kChunkPages;
        const std::uint64_t n = std::min(kChunkPages, b.pages - p0);
        check_unchanged();
        std::array<pipeline::PageFill, kChunkPages> fills{};
        pd.pages(b, p0, n, dst, fills.data(), false);
        for (std::uint64_t k = 0; k < n; ++k)
            if (fills[k] == pipeline::PageFill::Hole) std::memset(dst + k * kPageSize, 0, kPageSize);
    }

    // A slot to evict (clock), or kNone when every slot is in use.
    std::uint32_t victim() {
        while (!spent.empty()) {
            const std::uint32_t s = spent.back();
            spent.pop_back();
            Slot& sl = slots[s];
            if (sl.spent && sl.state == State::Ready && !sl.pins) return s;
        }
        for (std::uint32_t step = 0; step < 2 * nslots; ++step) {
            const std::uint32_t s = hand;
            hand = (hand + 1) % nslots;
            Slot& sl = slots[s];
            if (sl.state == State::Filling || sl.pins) continue;
            if (sl.state == State::Ready && sl.referenced) {
                sl.referenced = false;
                continue;
            }
            return s;
        }
        return kNone;
    }

    // The slot holding `chunk`, filled (on this thread if need be) and pinned.
    // With `no_wait`, kNone when no slot can be evicted, at once: the caller
    // holds pins already, and waiting for room could wait for itself.
    std::uint32_t acquire(std::uint64_t chunk, bool no_wait = false) {
        std::unique_lock lk(mu);
        for (;;) {
            auto it = where.find(chunk);
            if (it != where.end()) {
                Slot& sl = slots[it->second];
                if (sl.state == State::Ready) {
                    ++sl.pins;
                    sl.referenced = true;
                    sl.spent = false;
                    ++stats.hits;
                    return it->second;
                }
                cv.wait(lk);  // being filled: wait for it (or for its failure)
                continue;
            }
            const std::uint32_t v = victim();
            if (v == kNone) {
                if (no_wait) return kNone;
                cv.wait(lk);
                continue;
            }
            Slot& sl = slots[v];
            if (sl.state == State::Ready) where.erase(sl.chunk);
            sl = Slot{chunk, State::Filling, false, false, 1};
            where[chunk] = v;
            lk.unlock();
            try {
                auto c = take_cipher();
                fill(chunk, slot_data(v), *c);
                give_cipher(std::move(c));
            } catch (...) {  // frees the slot, then rethrows
                lk.lock();
                where.erase(chunk);
                sl = Slot{};
                cv.notify_all();
                throw;
            }
            lk.lock();
            sl.state = State::Ready;
            sl.referenced = true;
            ++stats.fills;
            cv.notify_all();
            return v;
        }
    }

    void unpin(std::uint32_t s) {
        std::lock_guard lk(mu);
        if (--slots[s].pins == 0) cv.notify_all();
    }

    // Called with every read: a read that starts where an earlier one ended
    // continues a stream, and the chunks ahead of it go to the workers.
    void note_read(std::uint64_t offset, std::uint64_t end) {
        std::lock_guard lk(mu);
        Stream* st = nullptr;
        for (auto& s : streams)
            if (s.next_offset == offset) st = &s;
        if (!st) {
            st = &streams[stream_rr];
            stream_rr = (stream_rr + 1) % kStreams;
            *st = Stream{};
            st->next_offset = end;
            return;  // a random read: no read-ahead
        }
        st->next_offset = end;
        // The chunks this read finished are spent: reused before any other.
        for (std::uint64_t c = chunk_at(offset), e = chunk_at(end); c < e; ++c) {
            auto it = where.find(c);
            if (it == where.end()) continue;
            Slot& sl = slots[it->second];
            if (sl.state != State::Ready || sl.spent) continue;
            sl.spent = true;
            sl.referenced = false;
            spent.push_back(it->second);
        }
        if (spent.size() > 2 * std::size_t(nslots)) {  // stale entries (slots reused or hit since): drop them
            std::vector<std::uint32_t> keep;
            std::vector<bool> seen(nslots);
            for (auto s = spent.rbegin(); s != spent.rend(); ++s)  // the most recent entry of each slot
                if (slots[*s].spent && !seen[*s]) {
                    seen[*s] = true;
                    keep.push_back(*s);
                }
            spent.assign(keep.rbegin(), keep.rend());
        }
        if (workers.empty()) return;
        const std::uint64_t first = chunk_at(end);
        if (first >= total_chunks) return;
        const std::uint64_t last = std::min(total_chunks, first + window_chunks);
        std::uint64_t from = std::max(first, st->queued_to);
        // Refill in batches of a quarter window, not chunk by chunk.
        if (st->queued_to > first && st->queued_to - first > window_chunks * 3 / 4) return;
        bool added = false;
        for (std::uint64_t c = from; c < last; ++c) {
            if (where.count(c) || !queued.insert(c).second) continue;
            queue.push_back(c);
            added = true;
        }
        st->queued_to = last;
        if (added) work_cv.notify_all();
    }

    // The global chunk id at a file offset (the next one after a gap);
    // total_chunks past the memory.
    std::uint64_t chunk_at(std::uint64_t offset) const {
        if (offset < range_off.front()) return 0;
        auto it = std::upper_bound(range_off.begin(), range_off.end(), offset);
        const std::size_t i = std::size_t(it - range_off.begin()) - 1;
        const std::uint64_t rel = offset - range_off[i];
        if (rel >= blocks[i].pages * kPageSize) return i + 1 < blocks.size() ? chunk_base[i + 1] : total_chunks;
        return chunk_base[i] + rel / kChunkBytes;
    }

    // Read-ahead takes up to this many queued chunks in a row at once: one
    // read for their components, one preadv for their pages, one lock round.
    // Chunk by chunk, the read-ahead cost 1.6 times the CPU for a `cat`.
    static constexpr std::size_t kRunChunks = 16;

    void worker() {
        pthread_setname_np(pthread_self(), "pvdecrypt-ahead");  // top, perf: tells them from the FUSE threads
        try {
            PageDecryptor xts(dump->view());
            std::vector<std::uint64_t> run;
            for (;;) {
                run.clear();
                {
                    std::unique_lock lk(mu);
                    work_cv.wait(lk, [&] { return stopping || !queue.empty(); });
                    if (stopping) return;
                    do {
                        run.push_back(queue.front());
                        queue.pop_front();
                        queued.erase(run.back());
                    } while (run.size() < kRunChunks && !queue.empty() && queue.front() == run.back() + 1 &&
                             block_of_chunk(run.back() + 1) == block_of_chunk(run.front()));
                }
                fill_ahead(run, xts);
            }
        } catch (...) {  // thread boundary, see below
            // Read-ahead is an optimisation: a worker that cannot run (no
            // cipher context) leaves the reads to decrypt on demand, which
            // raise the same failure in the reading thread.
        }
    }

    // Read-ahead of consecutive chunks of one block: claims a slot for each
    // one missing (never waiting for room: it stops at the first it cannot
    // place), fills them together, publishes them at once. A failure frees
    // the slots and is left to the read that needs the chunk.
    void fill_ahead(const std::vector<std::uint64_t>& run, PageDecryptor& pd) {
        std::vector<std::uint64_t> chunks;
        std::vector<std::uint32_t> got;
        {
            std::lock_guard lk(mu);
            for (std::uint64_t c : run) {
                if (stopping) break;
                if (where.count(c)) {
                    if (got.empty()) continue;  // skip a leading cached chunk, stop at a later one
                    break;
                }
                const std::uint32_t v = victim();
                if (v == kNone) break;
                Slot& sl = slots[v];
                if (sl.state == State::Ready) where.erase(sl.chunk);
                sl = Slot{c, State::Filling, false, false, 0};
                where[c] = v;
                chunks.push_back(c);
                got.push_back(v);
            }
        }
        if (got.empty()) return;
        bool ok = true;
        try {
            std::vector<std::uint8_t*> outs;
            for (std::uint32_t v : got) outs.push_back(slot_data(v));
            const std::size_t bi = block_of_chunk(chunks.front());
            const Block& b = blocks[bi];
            const std::uint64_t p0 = (chunks.front() - chunk_base[bi]) * kChunkPages;
            const std::uint64_t n = std::min<std::uint64_t>(chunks.size() * kChunkPages, b.pages - p0);
            check_unchanged();
            std::vector<pipeline::PageFill> fills(n);
            pd.pages_scattered(b, p0, n, outs, kChunkPages, fills.data());
            for (std::uint64_t k = 0; k < n; ++k)
                if (fills[k] == pipeline::PageFill::Hole)
                    std::memset(outs[k / kChunkPages] + (k % kChunkPages) * kPageSize, 0, kPageSize);
        } catch (...) {  // read-ahead: the read that needs the chunk fails with the reason
            ok = false;
        }
        std::lock_guard lk(mu);
        for (std::size_t i = 0; i < got.size(); ++i) {
            Slot& sl = slots[got[i]];
            if (ok) {
                sl.state = State::Ready;
                sl.referenced = true;
            } else {
                where.erase(chunks[i]);
                sl = Slot{};
            }
        }
        if (ok) stats.readahead_fills += got.size();
        cv.notify_all();
    }

    // What the vmcore holds at `pos`, for at most `max` bytes: a run of the
    // headers, of padding (zeros) or of one chunk.
    struct Span {
        enum class Kind { Head, Zeros, Chunk } kind;
        std::uint64_t n;
        std::uint64_t chunk = 0, within = 0;  // Chunk
    };
    Span locate(std::uint64_t pos, std::uint64_t max) const {
        const auto& head = layout->head();
        if (pos < head.size()) return {Span::Kind::Head, std::min<std::uint64_t>(max, head.size() - pos)};
        auto it = std::upper_bound(range_off.begin(), range_off.end(), pos);
        const std::size_t i = std::size_t(it - range_off.begin()) - 1;
        const std::uint64_t rel = pos - range_off[i];
        const std::uint64_t rsize = blocks[i].pages * kPageSize;
        if (rel >= rsize) {  // padding between ranges
            const std::uint64_t next = i + 1 < range_off.size() ? range_off[i + 1] : layout->file_size();
            return {Span::Kind::Zeros, std::min(max, next - pos)};
        }
        const std::uint64_t within = rel % kChunkBytes;
        const std::uint64_t chunk_len = std::min(kChunkBytes, rsize - (rel - within));
        return {Span::Kind::Chunk, std::min(max, chunk_len - within), chunk_base[i] + rel / kChunkBytes, within};
    }

    std::uint64_t clip(std::uint64_t offset, std::size_t length) const {
        const std::uint64_t size = layout->file_size();
        if (offset >= size) return 0;
        return std::min<std::uint64_t>(length, size - offset);
    }

    std::size_t read(std::uint64_t offset, std::size_t length, std::uint8_t* buf) {
        const std::uint64_t len = clip(offset, length);
        if (len == 0) return 0;
        for (std::uint64_t done = 0; done < len;) {
            const Span sp = locate(offset + done, len - done);
            switch (sp.kind) {
            case Span::Kind::Head: std::memcpy(buf + done, layout->head().data() + offset + done, sp.n); break;
            case Span::Kind::Zeros: std::memset(buf + done, 0, sp.n); break;
            case Span::Kind::Chunk: {
                const std::uint32_t s = acquire(sp.chunk);
                std::memcpy(buf + done, slot_data(s) + sp.within, sp.n);
                unpin(s);
                break;
            }
            }
            done += sp.n;
        }
        note_read(offset, offset + len);
        return std::size_t(len);
    }

    std::size_t read_pinned(std::uint64_t offset, std::size_t length, format::SecretBytes& fallback,
                            const std::function<void(std::span<const iovec>)>& fn) {
        const std::uint64_t len = clip(offset, length);
        if (len == 0) {
            fn({});
            return 0;
        }
        static const std::uint8_t zeros[kChunkBytes] = {};
        std::vector<iovec> pieces;
        std::vector<std::uint32_t> pinned;
        auto unpin_all = [&] {
            for (std::uint32_t s : pinned) unpin(s);
            pinned.clear();
        };
        bool copy = false;
        try {
            for (std::uint64_t done = 0; done < len && !copy;) {
                const Span sp = locate(offset + done, len - done);
                std::uint64_t n = sp.n;
                const std::uint8_t* at = nullptr;
                switch (sp.kind) {
                case Span::Kind::Head: at = layout->head().data() + offset + done; break;
                case Span::Kind::Zeros:
                    n = std::min<std::uint64_t>(n, sizeof zeros);
                    at = zeros;
                    break;
                case Span::Kind::Chunk: {
                    const std::uint32_t s = acquire(sp.chunk, !pinned.empty());
                    if (s == kNone) {
                        copy = true;
                        continue;
                    }
                    pinned.push_back(s);
                    at = slot_data(s) + sp.within;
                    break;
                }
                }
                pieces.push_back({const_cast<std::uint8_t*>(at), std::size_t(n)});
                done += n;
            }
        } catch (...) {  // drops the pins, then rethrows
            unpin_all();
            throw;
        }
        if (copy) {  // the cache cannot hold the whole range pinned: copy it, one chunk at a time
            unpin_all();
            {
                std::lock_guard lk(mu);
                ++stats.copied_reads;
            }
            if (fallback.size() < len) fallback = SecretBytes(std::size_t(len));
            read(offset, std::size_t(len), fallback.data());
            const iovec one{fallback.data(), std::size_t(len)};
            fn({&one, 1});
            return std::size_t(len);
        }
        try {
            fn(pieces);
        } catch (...) {  // drops the pins, then rethrows
            unpin_all();
            throw;
        }
        unpin_all();
        note_read(offset, offset + len);
        return std::size_t(len);
    }
};

VmcoreReader::VmcoreReader(SealedDump dump, CheckedDump checked, const ReaderOptions& options)
    : impl_(std::make_unique<Impl>()) {
    Impl& m = *impl_;
    m.dump = std::make_unique<SealedDump>(std::move(dump));
    m.checked = std::move(checked);
    if (!m.checked.layout) fail(ErrorCode::Internal, "VmcoreReader: no layout");
    if (!m.dump->unlocked()) fail(ErrorCode::Internal, "VmcoreReader: the dump is not unlocked");
    m.layout = &*m.checked.layout;
    if (m.dump->file().fd() < 0) fail(ErrorCode::Internal, "VmcoreReader needs an opened file");
    if (fstat(m.dump->file().fd(), &m.identity) != 0)
        fail(ErrorCode::Io, "cannot stat the dump '" + m.dump->file().name() + "': " + std::strerror(errno));
    m.blocks = m.dump->pages().blocks();
    if (m.blocks.size() != m.layout->ranges().size() || m.blocks.empty())
        fail(ErrorCode::Internal, "layout does not match the dump's blocks");
    for (std::size_t i = 0; i < m.blocks.size(); ++i) {
        m.chunk_base.push_back(m.total_chunks);
        m.range_off.push_back(m.layout->range_offset(i));
        m.total_chunks += (m.blocks[i].pages + kChunkPages - 1) / kChunkPages;
    }
    // Pages and components are read with pread from here on, whatever
    // PVDUMP_INPUT says (a mapping SIGBUSes when the file shrinks under the
    // mount); drop what the checks mapped.
    m.dump->set_input(pread_input(m.dump->file()));
    m.dump->file().release(0, m.dump->file().file_size());

    if (options.cache_bytes < (std::uint64_t(1) << 20))
        fail(ErrorCode::InvalidArgument, "the cache must be at least 1 MiB (got " + std::to_string(options.cache_bytes) + " bytes)");
    if (options.cache_bytes > (std::uint64_t(1) << 40)) fail(ErrorCode::InvalidArgument, "the cache must be at most 1 TiB");
    m.nslots = std::uint32_t(options.cache_bytes / kChunkBytes);
    m.arena_bytes = std::size_t(m.nslots) * kChunkBytes;
    // Aligned to 2 MiB and backed by huge pages where the kernel has them:
    // the kernel pins the slots' pages for every FUSE reply it copies from,
    // and with 4 KiB pages that walk cost more than the AES.
    constexpr std::size_t kHuge = std::size_t(2) << 20;
    void* p = mmap(nullptr, m.arena_bytes + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        fail(ErrorCode::Io, "cannot allocate the " + mib(m.arena_bytes) + " cache: " + std::strerror(errno));
    {
        auto* raw = static_cast<std::uint8_t*>(p);
        const std::size_t lead = (kHuge - reinterpret_cast<std::uintptr_t>(raw) % kHuge) % kHuge;
        if (lead) munmap(raw, lead);
        if (kHuge - lead) munmap(raw + lead + m.arena_bytes, kHuge - lead);
        m.arena = raw + lead;
    }
    madvise(m.arena, m.arena_bytes, MADV_HUGEPAGE);
    madvise(m.arena, m.arena_bytes, MADV_DONTDUMP);  // decrypted memory stays out of core dumps
    madvise(m.arena, m.arena_bytes, MADV_DONTFORK);
    if (options.lock_cache) {
        if (mlock(m.arena, m.arena_bytes) == 0) {
            m.locked = true;
        } else {
            const int e = errno;
            struct rlimit rl {};
            getrlimit(RLIMIT_MEMLOCK, &rl);
            m.lock_note = "cannot lock the " + mib(m.arena_bytes) + " cache in memory (" + std::strerror(e) +
                          "; RLIMIT_MEMLOCK is " + mib(rl.rlim_cur) +
                          "): decrypted pages may be swapped out; raise 'ulimit -l' or use a smaller --cache";
        }
    } else {
        m.lock_note = "the cache is not locked in memory";
    }
    m.slots.resize(m.nslots);
    m.where.reserve(m.nslots);

    unsigned threads = options.threads ? options.threads : std::max(1u, std::thread::hardware_concurrency());
    threads = std::min(threads, 64u);
    // Read ahead up to 8 MiB per stream, within a quarter of the cache.
    m.window_chunks = std::max<std::uint64_t>(1, std::min<std::uint64_t>(m.nslots / 4, (8u << 20) / kChunkBytes));
    m.streams[0].next_offset = 0;  // reading from the start is sequential
    for (unsigned t = 0; t < threads; ++t) m.workers.emplace_back([&m] { m.worker(); });
}

std::unique_ptr<VmcoreReader> VmcoreReader::open(const std::string& dump_path, Bytes cck, bool force,
                                                 const ReaderOptions& options, DecryptResult* result) {
    SealedDump dump = SealedDump::open(dump_path);
    CheckedDump checked = check_dump(dump, dump_path, cck, force, options.threads);
    if (result) *result = checked.result;
    return std::make_unique<VmcoreReader>(std::move(dump), std::move(checked), options);
}

VmcoreReader::~VmcoreReader() {
    Impl& m = *impl_;
    {
        std::lock_guard lk(m.mu);
        m.stopping = true;
    }
    m.work_cv.notify_all();
    m.cv.notify_all();
    for (auto& t : m.workers) t.join();
    if (m.arena) {
        OPENSSL_cleanse(m.arena, m.arena_bytes);
        if (m.locked) munlock(m.arena, m.arena_bytes);
        munmap(m.arena, m.arena_bytes);
    }
    // The headers hold the decrypted CPU registers.
    if (m.layout && !m.layout->head().empty())
        OPENSSL_cleanse(const_cast<std::uint8_t*>(m.layout->head().data()), m.layout->head().size());
    m.ciphers.clear();
    // The SealedDump's keys wipe themselves.
}

std::uint64_t VmcoreReader::size() const { return impl_->layout->file_size(); }
std::size_t VmcoreReader::read(std::uint64_t offset, std::size_t length, std::uint8_t* buffer) {
    return impl_->read(offset, length, buffer);
}
std::size_t VmcoreReader::read_pinned(std::uint64_t offset, std::size_t length, format::SecretBytes& fallback,
                                      const std::function<void(std::span<const iovec>)>& fn) {
    return impl_->read_pinned(offset, length, fallback, fn);
}
std::uint64_t VmcoreReader::cache_bytes() const { return impl_->arena_bytes; }
bool VmcoreReader::cache_locked() const { return impl_->locked; }
const std::string& VmcoreReader::lock_note() const { return impl_->lock_note; }
VmcoreReader::Stats VmcoreReader::stats() const {
    std::lock_guard lk(impl_->mu);
    return impl_->stats;
}

}  // namespace pvdump::decryptor
