// One pass over pv_mem_meta against every PT_LOAD page: states, invalid flags,
// coverage, tweak reuse. pvdecrypt and pvinspect verify share this code.
#include <cstring>
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

// Tweak reuse in memory independent of the dump's size: a bitmap of hashes
// finds candidate duplicates in a first pass, an exact map over the (few)
// candidates confirms them in a second.
void check_tweak_reuse(const detail::PageIndex& idx, const std::uint8_t* nonce, Collector& out) {
    std::uint64_t bits = 1u << 16;
    const std::uint64_t pages = std::min(idx.total_pages(), idx.meta_size() / kTweakSize);  // with a component
    // 16 slots per page, at most 2^26 (16 MiB of two bits each): memory stays
    // bounded, a very large guest only gets more candidates for the exact
    // second pass.
    while (bits < pages * 16 && bits < (std::uint64_t(1) << 26)) bits <<= 1;
    // Two bits per slot in one table (seen, seen twice): one cache miss per
    // page, not two; and the slots of 64 pages at a time are prefetched
    // before they are touched (the table is far larger than the CPU's caches).
    std::vector<std::uint64_t> table(bits / 32, 0);
    std::uint64_t candidates = 0;
    auto for_each_encrypted = [&](auto&& fn) {
        std::uint8_t tweak[16];
        detail::ComponentCursor meta(idx);
        for (const auto& b : idx.blocks())
            for (std::uint64_t p = 0; p < b.pages; ++p) {
                const std::uint64_t paddr = b.paddr + p * kPageSize;
                const std::uint8_t* c = meta.at(paddr);
                // Blocks are sorted and components indexed by address: past the
                // end of pv_mem_meta no later page has one (p_memsz may be ~2^64).
                if (!c) return;
                if (classify_component(c).state != PageState::Encrypted) continue;
                detail::make_tweak(c, nonce, tweak);
                fn(paddr, tweak);
            }
    };
    // fn(slot, paddr, tweak) for every encrypted page, in page order, 64 at a
    // time after their table words were prefetched.
    auto for_each_slot = [&](auto&& fn) {
        constexpr std::size_t kAhead = 64;
        struct Entry {
            std::uint64_t slot, paddr;
            std::uint8_t tweak[16];
        } batch[kAhead];
        std::size_t n = 0;
        auto flush = [&] {
            for (std::size_t i = 0; i < n; ++i) fn(batch[i].slot, batch[i].paddr, batch[i].tweak);
            n = 0;
        };
        for_each_encrypted([&](std::uint64_t paddr, const std::uint8_t* t) {
            Entry& e = batch[n];
            e.slot = mix(t) & (bits - 1);
            e.paddr = paddr;
            std::memcpy(e.tweak, t, 16);
            __builtin_prefetch(&table[e.slot / 32], 1);
            if (++n == kAhead) flush();
        });
        flush();
    };
    for_each_slot([&](std::uint64_t h, std::uint64_t, const std::uint8_t*) {
        std::uint64_t& w = table[h / 32];
        const unsigned at = unsigned(h % 32) * 2;
        const std::uint64_t e = w >> at & 3;  // bit 0 seen, bit 1 seen twice
        if (e == 1) ++candidates;
        w |= (e ? 3ull : 1ull) << at;
    });
    auto twice = [&](std::uint64_t h) { return (table[h / 32] >> (unsigned(h % 32) * 2 + 1) & 1) != 0; };
    if (candidates == 0) return;
    constexpr std::uint64_t kMaxCandidates = 1u << 18;  // ~12 MiB of exact entries
    std::unordered_map<TweakKey, std::uint64_t, TweakHash> first;
    bool incomplete = false;
    for_each_slot([&](std::uint64_t h, std::uint64_t paddr, const std::uint8_t* t) {
        if (!twice(h)) return;
        TweakKey k;
        std::memcpy(&k.a, t, 8);
        std::memcpy(&k.b, t + 8, 8);
        auto it = first.find(k);
        if (it != first.end()) {
            out.add(Severity::Error, "tweak-reuse", paddr,
                    page_name(paddr) + ": its XTS tweak is the same as the page at " + hex(it->second) +
                        "'s (tweak reuse: pages may have been moved or replayed)");
        } else if (first.size() < kMaxCandidates) {
            first.emplace(k, paddr);
        } else {
            incomplete = true;
        }
    });
    if (incomplete)
        out.add(Severity::Note, "tweak-reuse-incomplete", std::nullopt,
                "tweak reuse check incomplete: too many candidate pages to compare in bounded memory");
}

}  // namespace

PagePlan page_plan(const CoreFile& dump, const std::array<std::uint8_t, 16>* nonce, std::size_t max_findings,
                   bool check_zero_content) {
    return page_plan(detail::PageIndex(dump), nonce, max_findings, check_zero_content);
}

PagePlan page_plan(const detail::PageIndex& idx, const std::array<std::uint8_t, 16>* nonce, std::size_t max_findings,
                   bool check_zero_content) {
    PagePlan plan;
    Collector out{plan, max_findings};
    static const std::uint8_t zeros[kPageSize] = {};
    std::uint8_t page[kPageSize];
    detail::ComponentCursor meta(idx);  // pread, not the mapping
    // One summary line for a short pv_mem_meta, before the per-page findings.
    std::uint64_t needed = 0;
    for (const auto& b : idx.blocks()) needed = std::max(needed, (b.paddr / kPageSize + b.pages) * kTweakSize);
    if (idx.meta_size() < needed) {
        const std::uint64_t first = idx.meta_size() / kTweakSize * kPageSize;
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
    for (const auto& b : idx.blocks()) {
        if (b.present < b.pages)
            out.add(Severity::Error, "memory-truncated", b.paddr + b.present * kPageSize,
                    "PT_LOAD at guest address " + hex(b.paddr) + ": memory from " + hex(b.paddr + b.present * kPageSize) +
                        " on is not in the file (p_filesz < p_memsz)");
        for (std::uint64_t p = 0; p < b.pages; ++p) {
            const std::uint64_t paddr = b.paddr + p * kPageSize;
            ++plan.counts.total;
            const std::uint8_t* c = meta.at(paddr);
            if (!c) {
                // This page and every later one of the block lie past the end of
                // pv_mem_meta: count them at once, since p_memsz comes from the
                // untrusted file and may be ~2^64 (one finding per page, capped).
                const std::uint64_t rest = b.pages - p;
                plan.counts.missing += rest;
                plan.counts.total += rest - 1;
                plan.meta_covers_all = false;
                for (std::uint64_t k = 0; k < rest; ++k) {
                    if (out.per_severity[int(Severity::Error)] >= out.max) {
                        plan.findings_dropped += rest - k;
                        break;
                    }
                    const std::uint64_t a = paddr + k * kPageSize;
                    out.add(Severity::Error, "meta-missing", a,
                            page_name(a) + " has no tweak component: section 'pv_mem_meta' (" + hex(idx.meta_size()) +
                                " bytes) ends before entry " + hex(a / kPageSize));
                }
                break;
            }
            const PageClass pc = classify_component(c);
            if (pc.mapped) ++plan.counts.mapped;
            if (pc.reserved_nonzero)
                out.add(Severity::Note, "state-reserved-bytes", paddr,
                        page_name(paddr) + ": reserved bytes 4-13 of its special tweak component are not zero (ignored)");
            switch (pc.state) {
            case PageState::Encrypted: ++plan.counts.encrypted; break;
            case PageState::Shared: ++plan.counts.shared; break;
            case PageState::Zero:
                ++plan.counts.zero;
                if (check_zero_content && p < b.present && (idx.dump().read_at(b.offset + p * kPageSize, page), std::memcmp(page, zeros, kPageSize) != 0))
                    out.add(Severity::Note, "zero-page-not-zero", paddr,
                            page_name(paddr) + " is flagged zero but its bytes in the file are not (harmless: written as zeros)");
                break;
            case PageState::Invalid:
                ++plan.counts.invalid;
                out.add(Severity::Error, "state-invalid", paddr,
                        page_name(paddr) + " has an invalid page state: " + pc.invalid_reason + " (component " +
                            to_hex(Bytes(c, kTweakSize)) + ")");
                break;
            }
        }
    }
    if (nonce) check_tweak_reuse(idx, nonce->data(), out);
    return plan;
}

}  // namespace pvdump::analysis
