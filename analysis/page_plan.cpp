// One pass over pv_mem_meta against every PT_LOAD page: states, invalid flags,
// coverage, tweak reuse. pvdecrypt and pvinspect verify share this code.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>
#include <system_error>
#include <thread>
#include <tuple>
#include <unordered_map>

#include "analysis/page_plan.hpp"
#include "analysis/pages.hpp"
#include "format/elf.hpp"

namespace pvdump::analysis {
using namespace format;

namespace detail {

// Guest memory shares no file bytes with the headers, the notes, the PV
// sections or other memory: where two parts overlap, one of them is forged.
// The first overlap, as a diagnostic at the memory part's offset.
static std::optional<Diagnostic> file_overlap(const CoreFile& dump) {
    struct Part {
        std::uint64_t begin, end;
        std::string what;
    };
    auto end_of = [](std::uint64_t off, std::uint64_t size) {
        std::uint64_t e;
        return add_overflows(off, size, e) ? ~std::uint64_t(0) : e;
    };
    std::vector<Part> memory, other;
    unsigned last_ph = 0;
    for (const LoadSegment& l : dump.loads()) {
        last_ph = std::max(last_ph, l.index);
        if (l.filesz)
            memory.push_back({l.offset, end_of(l.offset, l.filesz),
                              "program header " + std::to_string(l.index) + " (PT_LOAD, guest address " + hex(l.paddr) + ")"});
    }
    other.push_back({0, 64, "the ELF header"});
    other.push_back({dump.phoff(), end_of(dump.phoff(), 56 * (std::uint64_t(last_ph) + 1)), "the program header table"});
    if (dump.shoff()) other.push_back({dump.shoff(), end_of(dump.shoff(), 64 * (dump.sections().size() + 1)), "the section header table"});
    if (dump.note_offset()) other.push_back({*dump.note_offset(), end_of(*dump.note_offset(), dump.note_size()), "the PT_NOTE segment"});
    for (const Section& s : dump.sections())
        if (s.size) other.push_back({s.offset, end_of(s.offset, s.size), "section '" + s.name + "'"});
    auto overlap = [](const Part& m, const Part& o) {
        return Diagnostic{Diagnostic::Severity::Error, m.what, m.begin,
                          m.what + " [offset " + hex(m.begin) + ", size " + hex(m.end - m.begin) + "] overlaps " + o.what +
                              " [offset " + hex(o.begin) + ", size " + hex(o.end - o.begin) + "] in the file"};
    };
    std::sort(memory.begin(), memory.end(), [](const Part& a, const Part& b) { return a.begin < b.begin; });
    for (std::size_t i = 0; i < memory.size(); ++i) {
        if (i > 0 && memory[i].begin < memory[i - 1].end) return overlap(memory[i], memory[i - 1]);
        for (const Part& o : other)
            if (memory[i].begin < o.end && o.begin < memory[i].end) return overlap(memory[i], o);
    }
    return std::nullopt;
}

PageIndex::PageIndex(const CoreFile& dump) : PageIndex(*make(dump, nullptr)) {}

std::optional<PageIndex> PageIndex::make(const CoreFile& dump, Diagnostics* sink) {
    auto problem = [&](Diagnostic d) -> std::optional<PageIndex> {
        if (!sink) fail(ErrorCode::Format, d.message);
        sink->report(std::move(d));
        return std::nullopt;
    };
    PageIndex idx(&dump);
    const std::optional<Bytes> meta = dump.section_bytes("pv_mem_meta", sink);
    if (!meta) return std::nullopt;
    idx.meta_ = *meta;
    idx.meta_offset_ = dump.section("pv_mem_meta")->offset;
    for (const LoadSegment& l : dump.loads()) {
        if (l.paddr % kPageSize || l.memsz % kPageSize)
            return problem({Diagnostic::Severity::Error, "program header " + std::to_string(l.index) + " (PT_LOAD)",
                            dump.phoff() + std::uint64_t(l.index) * elf::Phdr::kSize,
                            "program header " + std::to_string(l.index) + " (PT_LOAD): guest range " + hex(l.paddr) +
                                " + " + hex(l.memsz) + " is not made of whole 4 KiB pages"});
        idx.blocks_.push_back({l.paddr, l.memsz / kPageSize, l.offset, l.filesz / kPageSize});
        idx.total_pages_ += l.memsz / kPageSize;
    }
    std::sort(idx.blocks_.begin(), idx.blocks_.end(), [](const Block& a, const Block& b) { return a.paddr < b.paddr; });
    if (std::optional<Diagnostic> d = file_overlap(dump)) return problem(std::move(*d));
    return idx;
}

}  // namespace detail

const char* severity_name(Severity s) {
    switch (s) {
    case Severity::Note: return "note";
    case Severity::Warning: return "warning";
    case Severity::Error: return "error";
    }
    return "?";
}

bool PagePlan::has_error() const {
    for (auto& f : findings)
        if (f.severity == Severity::Error) return true;
    return false;
}
bool PagePlan::has_warning() const {
    for (auto& f : findings)
        if (f.severity == Severity::Warning) return true;
    return false;
}

namespace {

struct Collector {
    PagePlan& plan;
    std::size_t max;
    // Errors are never dropped in favour of notes: the cap applies per severity.
    std::size_t per_severity[3] = {0, 0, 0};
    void add(Severity s, const char* rule, std::optional<std::uint64_t> paddr, std::string msg) {
        auto& n = per_severity[int(s)];
        if (n >= max) {
            ++plan.findings_dropped;
            return;
        }
        ++n;
        plan.findings.push_back({s, rule, paddr, std::move(msg)});
    }
};

std::string page_name(std::uint64_t paddr) { return "page at guest address " + hex(paddr); }

std::uint64_t mix(const std::uint8_t* t) {
    std::uint64_t a, b;
    std::memcpy(&a, t, 8);
    std::memcpy(&b, t + 8, 8);
    std::uint64_t x = a ^ (b * 0x9e3779b97f4a7c15ull);
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 29;
    return x;
}

struct TweakKey {
    std::uint64_t a, b;
    bool operator==(const TweakKey&) const = default;
};
struct TweakHash {
    std::size_t operator()(const TweakKey& k) const { return std::size_t(k.a * 0x9e3779b97f4a7c15ull ^ k.b); }
};

// Encrypted pages have an ordinary tweak component; the others a special one
// (first four bytes 0xff, classify_component() says which state).
inline bool special_component(const std::uint8_t* c) {
    std::uint32_t w;
    std::memcpy(&w, c, 4);
    return w == 0xffffffffu;
}

// The pages that have a tweak component: a prefix of each block, since
// components are indexed by guest address. One pass visits them in block
// order, cut into contiguous slices, one per thread; what lies past the end
// of pv_mem_meta is counted afterwards, on the calling thread. Every covered
// page of every block is checked for tweak reuse (until 2026-12 the check
// stopped at the first page without a component, which skipped the later
// blocks of a dump whose blocks overlap in guest address; opening a dump
// strictly refuses such overlaps, a lenient parse does not).
std::uint64_t covered_pages(const detail::Block& b, std::uint64_t entries) {
    const std::uint64_t first = b.paddr / kPageSize;
    return first >= entries ? 0 : std::min(b.pages, entries - first);
}

struct Slice {
    std::uint64_t begin = 0, end = 0;  // positions among the covered pages, in block order
};

// Calls fn(block index, page within block, paddr) for the covered pages of `s`.
template <class Fn>
void for_each_covered(const detail::PageIndex& idx, const std::vector<std::uint64_t>& covered, Slice s, Fn&& fn) {
    std::uint64_t at = 0;
    for (std::size_t bi = 0; bi < covered.size() && at < s.end; ++bi) {
        const std::uint64_t lo = std::max(s.begin, at), hi = std::min(s.end, at + covered[bi]);
        const detail::Block& b = idx.blocks()[bi];
        for (std::uint64_t g = lo; g < hi; ++g) fn(bi, g - at, b.paddr + (g - at) * kPageSize);
        at += covered[bi];
    }
}

// Tweak reuse in memory independent of the dump's size: a table of two bits
// per hash slot (seen, seen twice) finds candidate duplicates during the page
// pass, an exact map over the (few) candidates confirms them in a second.
// 16 slots per page, at most 2^26 (16 MiB): a very large guest only gets
// more candidates for the exact pass. With several threads the slots are set
// with atomic ORs.
class TweakTable {
public:
    explicit TweakTable(std::uint64_t pages) {
        while (bits_ < pages * 16 && bits_ < (std::uint64_t(1) << 26)) bits_ <<= 1;
        words_.assign(bits_ / 32, 0);
    }
    std::uint64_t slot(const std::uint8_t* tweak) const { return mix(tweak) & (bits_ - 1); }
    void prefetch(std::uint64_t h) const { __builtin_prefetch(&words_[h / 32], 1); }
    // Marks the slot seen; true when it had been seen before.
    template <bool kShared>
    bool add(std::uint64_t h) {
        const unsigned at = unsigned(h % 32) * 2;
        const std::uint64_t seen = 1ull << at, twice = 2ull << at;
        if constexpr (kShared) {
            // Two single-bit ORs (a bit test-and-set, then a plain locked OR),
            // not one that must return both bits (a compare-and-swap loop).
            std::atomic_ref<std::uint64_t> w(words_[h / 32]);
            if (!(w.fetch_or(seen, std::memory_order_relaxed) & seen)) return false;
            w.fetch_or(twice, std::memory_order_relaxed);
            return true;
        } else {
            std::uint64_t& w = words_[h / 32];
            const bool before = w & seen;
            w |= before ? seen | twice : seen;
            return before;
        }
    }
    bool twice(std::uint64_t h) const { return (words_[h / 32] >> (unsigned(h % 32) * 2 + 1) & 1) != 0; }

private:
    std::uint64_t bits_ = 1u << 16;
    std::vector<std::uint64_t> words_;
};

// An encrypted page's tweak, for the exact pass.
struct Candidate {
    std::uint64_t paddr;
    std::uint8_t tweak[16];
};

// A candidate's tweak as two words, for sorting (exact_tweak_pass_sorted).
struct Entry {
    std::uint64_t a, b;
    std::uint32_t index;  // into the slice's candidates, then into all of them (page order)
};
bool entry_less(const Entry& x, const Entry& y) {
    return std::tie(x.a, x.b, x.index) < std::tie(y.a, y.b, y.index);  // within a group: page order
}

// One thread's share of the page pass: counts and findings of its slice (in
// page order, capped per severity as the plan's are), tagged by block.
struct Share {
    PageCounts counts;
    std::vector<std::pair<std::size_t, Finding>> findings;
    std::size_t per_severity[3] = {0, 0, 0};
    std::uint64_t dropped = 0;
    bool repeat = false;             // a tweak slot was hit twice
    std::vector<Candidate> candidates;  // the exact pass
    std::vector<Entry> sorted;        // the candidates' tweaks, sorted (exact_tweak_pass_sorted)
    bool candidates_overflow = false;
    std::exception_ptr error;

    void add(std::size_t max, std::size_t block, Severity s, const char* rule, std::uint64_t paddr, std::string msg) {
        if (per_severity[int(s)] >= max) {
            ++dropped;
            return;
        }
        ++per_severity[int(s)];
        findings.push_back({block, Finding{s, rule, paddr, std::move(msg)}});
    }
};

struct PassInput {
    const detail::PageIndex& idx;
    const std::vector<std::uint64_t>& covered;
    const std::uint8_t* nonce;  // null: no tweak reuse check
    std::size_t max_findings;
    bool check_zero_content;
};

// States, counts, findings and the first tweak-reuse pass over one slice.
template <bool kShared>
void state_pass(const PassInput& in, Slice slice, TweakTable* table, Share& out) {
    static const std::uint8_t zeros[kPageSize] = {};
    std::uint8_t page[kPageSize];
    detail::ComponentCursor meta(in.idx);  // pread, not the mapping
    // The table is far larger than the CPU's caches: the slots of 64 pages
    // are prefetched before they are touched.
    constexpr std::size_t kAhead = 64;
    std::uint64_t pending[kAhead];
    std::size_t n = 0;
    auto flush = [&] {
        for (std::size_t i = 0; i < n; ++i)
            if (table->add<kShared>(pending[i])) out.repeat = true;
        n = 0;
    };
    for_each_covered(in.idx, in.covered, slice, [&](std::size_t bi, std::uint64_t p, std::uint64_t paddr) {
        const detail::Block& b = in.idx.blocks()[bi];
        ++out.counts.total;
        const std::uint8_t* c = meta.at(paddr);
        if (!c) fail(ErrorCode::Internal, "page plan: no component for a covered page");
        // An encrypted page (the common case) without the call.
        const PageClass pc = special_component(c) ? classify_component(c) : PageClass{PageState::Encrypted};
        if (pc.mapped) ++out.counts.mapped;
        if (pc.reserved_nonzero)
            out.add(in.max_findings, bi, Severity::Note, "state-reserved-bytes", paddr,
                    page_name(paddr) + ": reserved bytes 4-13 of its special tweak component are not zero (ignored)");
        switch (pc.state) {
        case PageState::Encrypted:
            ++out.counts.encrypted;
            if (table) {
                std::uint8_t tweak[16];
                detail::make_tweak(c, in.nonce, tweak);
                pending[n] = table->slot(tweak);
                table->prefetch(pending[n]);
                if (++n == kAhead) flush();
            }
            break;
        case PageState::Shared: ++out.counts.shared; break;
        case PageState::Zero:
            ++out.counts.zero;
            if (in.check_zero_content && p < b.present &&
                (in.idx.dump().read_at(b.offset + p * kPageSize, page), std::memcmp(page, zeros, kPageSize) != 0))
                out.add(in.max_findings, bi, Severity::Note, "zero-page-not-zero", paddr,
                        page_name(paddr) + " is flagged zero but its bytes in the file are not (harmless: written as zeros)");
            break;
        case PageState::Invalid:
            ++out.counts.invalid;
            out.add(in.max_findings, bi, Severity::Error, "state-invalid", paddr,
                    page_name(paddr) + " has an invalid page state: " + pc.invalid_reason + " (component " +
                        to_hex(Bytes(c, kTweakSize)) + ")");
            break;
        }
    });
    if (table) flush();
}

// fn(candidate) for the encrypted pages of a slice whose slot was hit twice,
// in page order (their slots prefetched 64 pages ahead, as in the first
// pass), until fn returns false.
template <class Fn>
void for_each_candidate(const PassInput& in, Slice slice, const TweakTable& table, Fn&& fn) {
    detail::ComponentCursor meta(in.idx);
    constexpr std::size_t kAhead = 64;
    Candidate pending[kAhead];
    std::uint64_t slots[kAhead];
    std::size_t n = 0;
    bool more = true;
    auto flush = [&] {
        for (std::size_t i = 0; i < n && more; ++i)
            if (table.twice(slots[i])) more = fn(pending[i]);
        n = 0;
    };
    for_each_covered(in.idx, in.covered, slice, [&](std::size_t, std::uint64_t, std::uint64_t paddr) {
        if (!more) return;
        const std::uint8_t* c = meta.at(paddr);
        if (!c || special_component(c)) return;  // only encrypted pages have tweaks
        Candidate& k = pending[n];
        k.paddr = paddr;
        detail::make_tweak(c, in.nonce, k.tweak);
        slots[n] = table.slot(k.tweak);
        table.prefetch(slots[n]);
        if (++n == kAhead) flush();
    });
    flush();
}

// Runs fn(slice, share) on `threads` threads (the calling one among them)
// over equal slices of `total` covered pages; the first error is rethrown.
template <class Fn>
void on_slices(std::uint64_t total, std::vector<Share>& shares, Fn&& fn) {
    const std::uint64_t t = shares.size();
    auto slice = [&](std::uint64_t k) { return Slice{total / t * k + std::min(k, total % t), total / t * (k + 1) + std::min(k + 1, total % t)}; };
    auto guarded = [&](std::uint64_t k) {
        try {
            fn(slice(k), shares[k]);
        } catch (...) {  // thread boundary: rethrown on the calling thread below
            shares[k].error = std::current_exception();
        }
    };
    {
        std::vector<std::jthread> pool;
        std::uint64_t started = 1;
        try {
            for (; started < t; ++started) pool.emplace_back(guarded, started);
        } catch (const std::system_error&) {
            // No more threads to be had (a resource limit): the calling
            // thread checks the slices that have none.
        }
        guarded(0);
        for (std::uint64_t k = started; k < t; ++k) guarded(k);
    }
    for (Share& s : shares)
        if (s.error) std::rethrow_exception(s.error);
}

// Slices smaller than this are not worth a thread: with one thread per core
// (threads 0), and with a count asked for (the tests ask for many on small
// dumps, so that slice boundaries fall inside and between blocks).
constexpr std::uint64_t kMinPagesPerThread = 1u << 16;
constexpr std::uint64_t kMinPagesPerAskedThread = 256;
// The exact pass keeps at most this many first occurrences (~12 MiB).
constexpr std::uint64_t kMaxCandidates = 1u << 18;

void exact_tweak_pass(const std::vector<Candidate>& candidates, bool& incomplete,
                      std::unordered_map<TweakKey, std::uint64_t, TweakHash>& first, Collector& out) {
    for (const Candidate& k : candidates) {
        TweakKey key;
        std::memcpy(&key.a, k.tweak, 8);
        std::memcpy(&key.b, k.tweak + 8, 8);
        auto it = first.find(key);
        if (it != first.end()) {
            out.add(Severity::Error, "tweak-reuse", k.paddr,
                    page_name(k.paddr) + ": its XTS tweak is the same as the page at " + hex(it->second) +
                        "'s (tweak reuse: pages may have been moved or replayed)");
        } else if (first.size() < kMaxCandidates) {
            first.emplace(key, k.paddr);
        } else {
            incomplete = true;
        }
    }
}

// The exact pass when every candidate is held (at most kMaxCandidates): the
// candidates sorted by tweak, each group's first page in page order is the
// one a later page repeats; the findings then in page order. The same
// findings as exact_tweak_pass, without a hash map's node per candidate
// (33,000 candidates of a 4 GiB guest: 23 ms on one thread with the map's
// inserts, allocations and frees; measured by perf, with the rest of what runs
// between the plan and the decryption). Each slice sorts its own candidates on
// its thread (sort_candidates); the calling thread merges the sorted runs.
std::vector<Entry> sort_candidates(const std::vector<Candidate>& c) {
    std::vector<Entry> order(c.size());
    for (std::uint32_t i = 0; i < order.size(); ++i) {
        std::memcpy(&order[i].a, c[i].tweak, 8);
        std::memcpy(&order[i].b, c[i].tweak + 8, 8);
        order[i].index = i;
    }
    std::sort(order.begin(), order.end(), entry_less);
    return order;
}

// `shares` hold their candidates (in page order, slice after slice) and the
// candidates' sorted entries (Share::sorted).
void exact_tweak_pass_sorted(const std::vector<Share>& shares, Collector& out) {
    std::size_t n = 0;
    for (const Share& sh : shares) n += sh.candidates.size();
    std::vector<Candidate> all;  // in page order: the slices are
    std::vector<Entry> order;
    all.reserve(n);
    order.reserve(n);
    std::vector<std::size_t> runs{0};  // boundaries of the sorted runs in `order`
    for (const Share& sh : shares) {
        const std::uint32_t base = std::uint32_t(all.size());
        all.insert(all.end(), sh.candidates.begin(), sh.candidates.end());
        for (Entry e : sh.sorted) {
            e.index += base;  // the same offset for the whole run: still sorted
            order.push_back(e);
        }
        if (!sh.sorted.empty()) runs.push_back(order.size());
    }
    // Adjacent runs merged pairwise until one is left.
    while (runs.size() > 2) {
        std::vector<std::size_t> next{0};
        std::size_t i = 0;
        for (; i + 2 < runs.size(); i += 2) {
            std::inplace_merge(order.begin() + std::ptrdiff_t(runs[i]), order.begin() + std::ptrdiff_t(runs[i + 1]),
                               order.begin() + std::ptrdiff_t(runs[i + 2]), entry_less);
            next.push_back(runs[i + 2]);
        }
        if (i + 1 < runs.size()) next.push_back(runs[i + 1]);  // an odd run left over
        runs = std::move(next);
    }
    constexpr std::uint32_t kFirst = ~std::uint32_t(0);
    std::vector<std::uint32_t> first_of(all.size(), kFirst);  // kFirst: the group's first page
    for (std::size_t g = 0; g < order.size();) {
        std::size_t e = g + 1;
        while (e < order.size() && order[e].a == order[g].a && order[e].b == order[g].b) ++e;
        for (std::size_t k = g + 1; k < e; ++k) first_of[order[k].index] = order[g].index;
        g = e;
    }
    for (std::uint32_t i = 0; i < all.size(); ++i)
        if (first_of[i] != kFirst)
            out.add(Severity::Error, "tweak-reuse", all[i].paddr,
                    page_name(all[i].paddr) + ": its XTS tweak is the same as the page at " +
                        hex(all[first_of[i]].paddr) + "'s (tweak reuse: pages may have been moved or replayed)");
}

// The pages of a block past the end of pv_mem_meta: counted at once, since
// p_memsz comes from the untrusted file and may be ~2^64 (one finding per
// page, capped).
void missing_pages(const detail::PageIndex& idx, const detail::Block& b, std::uint64_t covered, PagePlan& plan,
                   Collector& out) {
    const std::uint64_t rest = b.pages - covered;
    if (rest == 0) return;
    plan.counts.missing += rest;
    plan.counts.total += rest;
    plan.meta_covers_all = false;
    for (std::uint64_t k = 0; k < rest; ++k) {
        if (out.per_severity[int(Severity::Error)] >= out.max) {
            plan.findings_dropped += rest - k;
            break;
        }
        const std::uint64_t a = b.paddr + (covered + k) * kPageSize;
        out.add(Severity::Error, "meta-missing", a,
                page_name(a) + " has no tweak component: section 'pv_mem_meta' (" + hex(idx.meta_size()) +
                    " bytes) ends before entry " + hex(a / kPageSize));
    }
}

}  // namespace

PagePlan page_plan(const CoreFile& dump, const std::array<std::uint8_t, 16>* nonce, std::size_t max_findings,
                   bool check_zero_content, unsigned threads) {
    return page_plan(detail::PageIndex(dump), nonce, max_findings, check_zero_content, threads);
}

PagePlan page_plan(const detail::PageIndex& idx, const std::array<std::uint8_t, 16>* nonce, std::size_t max_findings,
                   bool check_zero_content, unsigned threads) {
    PagePlan plan;
    Collector out{plan, max_findings};
    const std::uint64_t entries = idx.meta_size() / kTweakSize;
    // One summary line for a short pv_mem_meta, before the per-page findings.
    std::uint64_t needed = 0;
    for (const auto& b : idx.blocks()) needed = std::max(needed, (b.paddr / kPageSize + b.pages) * kTweakSize);
    if (idx.meta_size() < needed) {
        const std::uint64_t first = entries * kPageSize;
        std::uint64_t first_missing = first;
        for (const auto& b : idx.blocks())
            if (b.paddr + b.pages * kPageSize > first) {
                first_missing = std::max(first, b.paddr);
                break;
            }
        out.add(Severity::Error, "meta-short", first_missing,
                "section 'pv_mem_meta' is " + hex(idx.meta_size()) + " bytes but the memory needs " + hex(needed) +
                    ": pages from guest address " + hex(first_missing) + " on have no tweak component");
    }

    std::vector<std::uint64_t> covered;
    std::uint64_t total = 0;  // covered pages; each block's are at most `entries`, so no overflow in practice
    for (const auto& b : idx.blocks()) {
        covered.push_back(covered_pages(b, entries));
        total = std::min<std::uint64_t>(total + covered.back(), ~std::uint64_t(0) / 2);
    }
    const std::uint64_t t =
        threads ? std::clamp<std::uint64_t>(total / kMinPagesPerAskedThread, 1, std::min(threads, 256u))
                : std::clamp<std::uint64_t>(total / kMinPagesPerThread, 1, std::clamp(std::thread::hardware_concurrency(), 1u, 64u));
    std::vector<Share> shares(t);
    std::optional<TweakTable> table;
    if (nonce) table.emplace(std::min(idx.total_pages(), entries));
    const PassInput in{idx, covered, nonce ? nonce->data() : nullptr, max_findings, check_zero_content};
    TweakTable* tp = table ? &*table : nullptr;
    on_slices(total, shares, [&](Slice s, Share& sh) {
        if (t > 1) state_pass<true>(in, s, tp, sh);
        else state_pass<false>(in, s, tp, sh);
    });

    // In page order: per block, its truncation, its pages' findings, its missing pages.
    std::vector<std::size_t> next(t, 0);
    for (std::size_t bi = 0; bi < idx.blocks().size(); ++bi) {
        const detail::Block& b = idx.blocks()[bi];
        if (b.present < b.pages)
            out.add(Severity::Error, "memory-truncated", b.paddr + b.present * kPageSize,
                    "PT_LOAD at guest address " + hex(b.paddr) + ": memory from " + hex(b.paddr + b.present * kPageSize) +
                        " on is not in the file (p_filesz < p_memsz)");
        for (std::size_t k = 0; k < t; ++k)
            for (auto& f = shares[k].findings; next[k] < f.size() && f[next[k]].first == bi; ++next[k])
                out.add(f[next[k]].second.severity, f[next[k]].second.rule.c_str(), f[next[k]].second.paddr,
                        std::move(f[next[k]].second.message));
        missing_pages(idx, b, covered[bi], plan, out);
    }
    bool repeat = false;
    for (const Share& sh : shares) {
        plan.counts.total += sh.counts.total;
        plan.counts.encrypted += sh.counts.encrypted;
        plan.counts.zero += sh.counts.zero;
        plan.counts.shared += sh.counts.shared;
        plan.counts.mapped += sh.counts.mapped;
        plan.counts.invalid += sh.counts.invalid;
        plan.findings_dropped += sh.dropped;
        repeat = repeat || sh.repeat;
    }
    if (!table || !repeat) return plan;

    // The exact pass over the candidates, in page order; on one thread (and
    // without keeping them all) when there are too many to hold.
    // Each slice keeps at most its share of kMaxCandidates.
    on_slices(total, shares, [&](Slice s, Share& sh) {
        for_each_candidate(in, s, *table, [&](const Candidate& k) {
            if (sh.candidates.size() >= kMaxCandidates / t) {
                sh.candidates_overflow = true;
                return false;
            }
            sh.candidates.push_back(k);
            return true;
        });
        if (!sh.candidates_overflow) sh.sorted = sort_candidates(sh.candidates);
    });
    bool overflow = false;
    for (const Share& sh : shares) overflow = overflow || sh.candidates_overflow;
    bool incomplete = false;
    if (!overflow) {
        exact_tweak_pass_sorted(shares, out);
    } else {
        std::unordered_map<TweakKey, std::uint64_t, TweakHash> first;
        std::vector<Candidate> buf;
        buf.reserve(4096);
        for_each_candidate(in, Slice{0, total}, *table, [&](const Candidate& k) {
            buf.push_back(k);
            if (buf.size() == 4096) {
                exact_tweak_pass(buf, incomplete, first, out);
                buf.clear();
            }
            return true;
        });
        exact_tweak_pass(buf, incomplete, first, out);
    }
    if (incomplete)
        out.add(Severity::Note, "tweak-reuse-incomplete", std::nullopt,
                "tweak reuse check incomplete: too many candidate pages to compare in bounded memory");
    return plan;
}

}  // namespace pvdump::analysis
