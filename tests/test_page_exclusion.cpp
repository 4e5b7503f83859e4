// Dump levels 2..16 (analysis/page_exclusion): on the real Debian 12 s390x
// guest the excluded page frames equal, pfn by pfn, what Debian's makedumpfile
// 1.7.2 excluded at the same level (tests/data/levels/, made by
// tests/tools/levels-fixture.sh); VMCOREINFO lacking a needed field is
// Error(Format) naming it; DAT translation with EDAT1/EDAT2 large frames and
// the rules' order on a synthetic memmap.
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "analysis/kernel_log.hpp"
#include "analysis/page_exclusion.hpp"
#include "format/bytes.hpp"
#include "format/core_file.hpp"
#include "format/error.hpp"

using namespace pvdump;
using analysis::PageExclusion;

namespace {

struct Expected {
    std::map<std::string, std::uint64_t> counts;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> runs;
};

Expected load_expected(unsigned level) {
    const std::string path = PVDUMP_TEST_DATA "/levels/makedumpfile-d" + std::to_string(level) + ".txt";
    std::ifstream in(path);
    REQUIRE_MESSAGE(in, "missing " << path);
    Expected e;
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("# counts ", 0) == 0) {
            std::istringstream s(line.substr(9));
            std::string k;
            std::uint64_t v;
            while (s >> k >> v) e.counts[k] = v;
        } else if (!line.empty() && line[0] != '#') {
            std::istringstream s(line);
            std::uint64_t a, b;
            s >> std::hex >> a >> b;
            REQUIRE_MESSAGE(s, "bad line in " << path << ": " << line);
            e.runs.emplace_back(a, b);
        }
    }
    REQUIRE_MESSAGE(!e.runs.empty(), path << " lists no excluded pages");
    return e;
}

std::set<std::uint64_t> expand(const std::vector<std::pair<std::uint64_t, std::uint64_t>>& runs) {
    std::set<std::uint64_t> s;
    for (auto [a, b] : runs)
        for (std::uint64_t p = a; p < b; ++p) s.insert(p);
    return s;
}

// "pfn 0x12 (+3 more)" lists for a failure message.
std::string list(const std::vector<std::uint64_t>& pfns) {
    std::ostringstream o;
    for (std::size_t i = 0; i < pfns.size() && i < 40; ++i) o << (i ? " " : "") << std::hex << "0x" << pfns[i];
    if (pfns.size() > 40) o << std::dec << " (+" << pfns.size() - 40 << " more)";
    return o.str();
}

const std::string kRealGuest = PVDUMP_BIN_DIR "/realguest.vmcore";

// ---- a synthetic guest ------------------------------------------------------------
class VecMemory : public format::MemoryView {
public:
    explicit VecMemory(std::uint64_t size) : bytes_(size, 0) {}
    bool contains(std::uint64_t paddr, std::uint64_t size) const override {
        return paddr <= bytes_.size() && size <= bytes_.size() - paddr;
    }
    void read(std::uint64_t paddr, std::span<std::uint8_t> out) const override {
        if (!contains(paddr, out.size())) throw Error(ErrorCode::Format, "test memory: read outside");
        std::copy_n(bytes_.begin() + std::ptrdiff_t(paddr), out.size(), out.begin());
    }
    void put64(std::uint64_t paddr, std::uint64_t v) { format::store_be64(bytes_.data() + paddr, v); }
    void put32(std::uint64_t paddr, std::uint32_t v) { format::store_be32(bytes_.data() + paddr, v); }
    void put8(std::uint64_t paddr, std::uint8_t v) { bytes_[paddr] = v; }

private:
    std::vector<std::uint8_t> bytes_;
};

// 16 MiB of guest memory (4096 pfns, one 16 MiB section), its struct pages
// (64 bytes each, 256 KiB) mapped at a vmemmap address through DAT tables:
// region-third table -> segment table -> either 4 KiB pages or EDAT1 1 MiB
// frames, or an EDAT2 2 GiB region-third frame.
struct SynthGuest {
    enum class Map { Pages4K, Edat1, Edat2 };
    static constexpr std::uint64_t kMem = 16 << 20;
    static constexpr std::uint64_t kPfns = kMem / 4096;
    static constexpr std::uint64_t kHighMemory = kMem;                // identity map ends here
    static constexpr std::uint64_t kVmemmap = 0x3c0000000;            // 15 GiB: region-third index 7
    static constexpr std::uint64_t kMemmapPhys = 0x800000;            // the struct pages, 8 MiB
    static constexpr std::uint64_t kR3 = 0x100000, kSeg = 0x104000, kPt = 0x108000;
    static constexpr std::uint64_t kSymHighMemory = 0x10000, kSymSections = 0x10100, kSymRoots = 0x10200;

    VecMemory mem{kMem};
    Map map;

    explicit SynthGuest(Map m) : map(m) {
        // swapper_pg_dir: a region-third table (TT=01), entries invalid by default.
        for (unsigned i = 0; i < 2048; ++i) mem.put64(kR3 + i * 8, 0x20 | (1 << 2));
        for (unsigned i = 0; i < 2048; ++i) mem.put64(kSeg + i * 8, 0x20);
        const std::uint64_t r3x = (kVmemmap >> 31) & 0x7ff;
        if (map == Map::Edat2) {
            // A 2 GiB frame at physical 0 covers [kVmemmap & ~2G, +2G): the memmap
            // virtual offset inside it must land on kMemmapPhys.
            const std::uint64_t frame = 0;
            mem.put64(kR3 + r3x * 8, frame | 0x400 | (1 << 2) | 3);
        } else {
            mem.put64(kR3 + r3x * 8, kSeg | (1 << 2) | 3);  // TT=01, TF=0, TL=3
            const std::uint64_t sx = (kVmemmap >> 20) & 0x7ff;
            if (map == Map::Edat1) {
                mem.put64(kSeg + sx * 8, kMemmapPhys | 0x400);  // 1 MiB frame
            } else {
                mem.put64(kSeg + sx * 8, kPt);
                for (unsigned i = 0; i < 256; ++i) mem.put64(kPt + i * 8, 0x400);  // invalid
                for (unsigned i = 0; i < 64; ++i) mem.put64(kPt + i * 8, kMemmapPhys + i * 4096);  // 256 KiB
            }
        }
        mem.put64(kSymHighMemory, kHighMemory);
        // SPARSEMEM_EXTREME: the root array (SYMBOL(mem_section)) -> section 0.
        mem.put64(kSymRoots, kSymSections);
        mem.put64(kSymSections, memmap_vaddr() | 0x3);  // present + has mem_map
    }
    std::uint64_t memmap_vaddr() const {
        // For EDAT2 the memmap sits at the virtual address whose offset in its
        // 2 GiB frame (at physical 0) is kMemmapPhys.
        return map == Map::Edat2 ? (kVmemmap & ~std::uint64_t{0x7fffffff}) + kMemmapPhys : kVmemmap;
    }
    std::uint64_t page(std::uint64_t pfn) const { return kMemmapPhys + pfn * 64; }
    void set(std::uint64_t pfn, std::uint64_t flags, std::uint64_t mapping = 0, std::uint32_t mapcount = 0xffffffff,
             std::uint64_t priv = 0) {
        mem.put64(page(pfn) + 0, flags);
        mem.put64(page(pfn) + 24, mapping);
        mem.put32(page(pfn) + 48, mapcount);
        mem.put64(page(pfn) + 40, priv);
    }
    void compound(std::uint64_t head, unsigned order, std::uint8_t dtor, std::uint64_t flags, std::uint64_t mapping) {
        set(head, flags | kHead, mapping);
        mem.put8(page(head + 1) + 16, dtor);
        mem.put8(page(head + 1) + 17, std::uint8_t(order));
        for (std::uint64_t t = 1; t < (std::uint64_t{1} << order); ++t) mem.put64(page(head + t) + 8, (page(head) | 1));
    }
    static constexpr std::uint64_t kLru = 1 << 4, kSlab = 1 << 9, kSwapcache = 1 << 10, kPrivate = 1 << 13,
                                   kSwapbacked = 1 << 19, kHead = 1 << 16;

    std::string vmcoreinfo(const std::string& drop = "") const {
        std::ostringstream o;
        auto hexs = [](std::uint64_t v) {
            std::ostringstream h;
            h << std::hex << v;
            return h.str();
        };
        const std::vector<std::string> lines = {
            "OSRELEASE=6.1.0-50-s390x", "PAGESIZE=4096",
            "SYMBOL(swapper_pg_dir)=" + hexs(kR3), "SYMBOL(high_memory)=" + hexs(kSymHighMemory),
            "SYMBOL(mem_section)=" + hexs(kSymRoots), "LENGTH(mem_section)=2048", "SIZE(mem_section)=32",
            "OFFSET(mem_section.section_mem_map)=0", "NUMBER(SECTION_SIZE_BITS)=24", "NUMBER(MAX_PHYSMEM_BITS)=46",
            "SIZE(page)=64", "OFFSET(page.flags)=0", "OFFSET(page._refcount)=52", "OFFSET(page.mapping)=24",
            "OFFSET(page.lru)=8", "OFFSET(page._mapcount)=48", "OFFSET(page.private)=40",
            "OFFSET(page.compound_dtor)=16", "OFFSET(page.compound_order)=17", "OFFSET(page.compound_head)=8",
            "LENGTH(zone.free_area)=11", "NUMBER(PG_lru)=4", "NUMBER(PG_private)=13", "NUMBER(PG_swapcache)=10",
            "NUMBER(PG_swapbacked)=19", "NUMBER(PG_slab)=9", "NUMBER(PG_head_mask)=65536",
            "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129", "NUMBER(HUGETLB_PAGE_DTOR)=2",
            "NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)=-257", "KERNELOFFSET=0"};
        // LENGTH(mem_section) 2048 = 2^(46-24) / 128 would say EXTREME; keep it consistent.
        for (const auto& l : lines) {
            if (!drop.empty() && l.rfind(drop + "=", 0) == 0) continue;
            if (l.rfind("LENGTH(mem_section)", 0) == 0) {
                o << "LENGTH(mem_section)=" << ((std::uint64_t{1} << 22) / 128) << "\n";
                continue;
            }
            o << l << "\n";
        }
        return o.str();
    }
};

}  // namespace

TEST_CASE("real guest: every level excludes exactly what makedumpfile 1.7.2 excluded") {
    if (!std::ifstream(kRealGuest)) FAIL("missing " << kRealGuest << " (the realguest fixture unpacks it)");
    const auto core = format::CoreFile::open(kRealGuest);
    const auto mem = core.plain_memory();
    const auto vmcoreinfo = guest::find_vmcoreinfo(*mem);
    REQUIRE(vmcoreinfo);
    const std::uint64_t max_pfn = (256u << 20) / 4096;

    for (unsigned level : {2u, 4u, 8u, 16u, 30u}) {
        CAPTURE(level);
        const Expected want = load_expected(level);
        const auto ex = PageExclusion::build(*mem, *vmcoreinfo, level, max_pfn);
        CHECK(ex.scanned());
        const auto want_set = expand(want.runs);
        const auto got_set = expand(ex.excluded_runs());
        std::vector<std::uint64_t> only_ours, only_theirs;
        std::set_difference(got_set.begin(), got_set.end(), want_set.begin(), want_set.end(),
                            std::back_inserter(only_ours));
        std::set_difference(want_set.begin(), want_set.end(), got_set.begin(), got_set.end(),
                            std::back_inserter(only_theirs));
        CHECK_MESSAGE(only_ours.empty(), "excluded here, kept by makedumpfile: " << list(only_ours));
        CHECK_MESSAGE(only_theirs.empty(), "kept here, excluded by makedumpfile: " << list(only_theirs));
        for (std::uint64_t p = 0; p < max_pfn; ++p)
            if (ex.excluded(p) != bool(got_set.count(p))) FAIL("excluded(" << p << ") disagrees with excluded_runs()");
        // makedumpfile's report counts per reason.
        const auto& c = ex.counts();
        CHECK(c.cache == want.counts.at("cache"));
        CHECK(c.cache_private == want.counts.at("cache_private"));
        CHECK(c.user == want.counts.at("user"));
        CHECK(c.free == want.counts.at("free"));
        CHECK(c.hwpoison == want.counts.at("hwpoison"));
        CHECK(c.offline == want.counts.at("offline"));
        CHECK(ex.excluded_count() == want_set.size());
    }
}

TEST_CASE("real guest: levels 0 and 1 read nothing; level 31 equals level 30 here") {
    if (!std::ifstream(kRealGuest)) FAIL("missing " << kRealGuest);
    const auto core = format::CoreFile::open(kRealGuest);
    const auto mem = core.plain_memory();
    const auto vmcoreinfo = guest::find_vmcoreinfo(*mem);
    REQUIRE(vmcoreinfo);
    for (unsigned level : {0u, 1u}) {
        const auto ex = PageExclusion::build(*mem, "", level, 65536);
        CHECK_FALSE(ex.scanned());
        CHECK(ex.excluded_count() == 0);
        CHECK(ex.excluded_runs().empty());
    }
    const auto a = PageExclusion::build(*mem, *vmcoreinfo, 31, 65536);
    const auto b = PageExclusion::build(*mem, *vmcoreinfo, 30, 65536);
    CHECK(a.excluded_runs() == b.excluded_runs());
    CHECK(a.excluded_count() == 55748);
}

TEST_CASE("missing VMCOREINFO or a field a level needs: Error(Format) naming it") {
    if (!std::ifstream(kRealGuest)) FAIL("missing " << kRealGuest);
    const auto core = format::CoreFile::open(kRealGuest);
    const auto mem = core.plain_memory();
    const std::string full = *guest::find_vmcoreinfo(*mem);
    auto without = [&](const std::string& key) {
        std::string out;
        std::istringstream in(full);
        std::string line;
        bool dropped = false;
        while (std::getline(in, line)) {
            if (line.rfind(key + "=", 0) == 0) {
                dropped = true;
                continue;
            }
            out += line + "\n";
        }
        REQUIRE_MESSAGE(dropped, key << " is not in the real VMCOREINFO");
        return out;
    };
    auto expect_error = [&](const std::string& info, unsigned level, const std::string& needle) {
        CAPTURE(level);
        CAPTURE(needle);
        try {
            (void)PageExclusion::build(*mem, info, level, 65536);
            FAIL("no error");
        } catch (const Error& e) {
            CHECK(e.code() == ErrorCode::Format);
            CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos, std::string(e.what()));
            CHECK(std::string(e.what()).find("dump level " + std::to_string(level)) != std::string::npos);
        }
    };
    expect_error("", 31, "no VMCOREINFO");
    expect_error(without("NUMBER(PG_lru)"), 2, "NUMBER(PG_lru)");
    expect_error(without("NUMBER(PG_private)"), 4, "NUMBER(PG_private)");
    expect_error(without("NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)"), 16, "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)");
    expect_error(without("OFFSET(page.private)"), 16, "OFFSET(page.private)");
    expect_error(without("NUMBER(PG_slab)"), 16, "NUMBER(PG_slab)");
    expect_error(without("SIZE(page)"), 8, "SIZE(page)");
    expect_error(without("OFFSET(page.mapping)"), 8, "OFFSET(page.mapping)");
    expect_error(without("SYMBOL(swapper_pg_dir)"), 8, "SYMBOL(swapper_pg_dir)");
    expect_error(without("SYMBOL(high_memory)"), 16, "SYMBOL(high_memory)");
    expect_error(without("SYMBOL(mem_section)"), 2, "SYMBOL(mem_section)");
    expect_error(without("NUMBER(SECTION_SIZE_BITS)"), 2, "NUMBER(SECTION_SIZE_BITS)");
    expect_error(without("NUMBER(PG_head_mask)"), 8, "NUMBER(PG_head_mask)");
    expect_error(without("OSRELEASE"), 8, "OSRELEASE");
    // What one level needs, another does not: level 8 does without the cache flags.
    CHECK_NOTHROW((void)PageExclusion::build(*mem, without("NUMBER(PG_lru)"), 8, 65536));
    CHECK_NOTHROW((void)PageExclusion::build(*mem, without("NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)"), 2, 65536));
    // Newer page encodings are refused, not guessed.
    expect_error(full + "NUMBER(PAGE_SLAB_MAPCOUNT_VALUE)=-4097\n", 16, "PAGE_SLAB_MAPCOUNT_VALUE");
    try {
        (void)PageExclusion::build(*mem, full, 32, 65536);
        FAIL("no error");
    } catch (const Error& e) {
        CHECK(e.code() == ErrorCode::InvalidArgument);
    }
}

TEST_CASE("synthetic guest: DAT with 4 KiB pages, EDAT1 and EDAT2 frames; the rules and their order") {
    using M = SynthGuest::Map;
    for (M map : {M::Pages4K, M::Edat1, M::Edat2}) {
        CAPTURE(int(map));
        SynthGuest g(map);
        // Every page starts as a plain kernel page (no flags, _mapcount -1).
        for (std::uint64_t p = 0; p < SynthGuest::kPfns; ++p) g.set(p, 0);
        g.set(100, SynthGuest::kLru, 0x5000);                                   // page cache
        g.set(101, SynthGuest::kLru | SynthGuest::kPrivate, 0x5000);            // private cache
        g.set(102, SynthGuest::kLru | SynthGuest::kSwapbacked, 0x6001);         // anonymous on the LRU: user
        g.set(103, SynthGuest::kSwapcache | SynthGuest::kSwapbacked, 0x7000);   // swap cache
        g.set(104, SynthGuest::kSwapcache, 0x7000);                             // PG_swapcache without swapbacked: kept
        g.set(200, 0, 0, 0xffffff7f, 3);                                        // free block of order 3: 200..207
        g.set(208, SynthGuest::kSlab, 0, 0xffffff7f, 2);                        // slab with buddy-like mapcount: kept
        g.set(210, 0, 0, 0xfffffeff);                                           // offline page
        g.set(220, 0, 0, 0xffffff7f, 40);                                       // buddy order 40: not a buddy order, kept
        g.compound(256, 4, 1, SynthGuest::kLru | SynthGuest::kSwapbacked, 0x8001);  // anon THP 256..271
        g.compound(512, 9, 2, 0, 0x9000);                                       // hugetlbfs page 512..1023
        g.compound(1024, 2, 1, 0, 0);                                           // kernel compound page: kept

        const auto ex = PageExclusion::build(g.mem, g.vmcoreinfo(), 31, SynthGuest::kPfns);
        std::vector<std::pair<std::uint64_t, std::uint64_t>> want = {
            {100, 104}, {200, 208}, {210, 211}, {256, 272}, {512, 1024}};
        CHECK(ex.excluded_runs() == want);
        CHECK(ex.counts().cache == 2);  // 100 and the swap cache page 103
        CHECK(ex.counts().cache_private == 1);
        CHECK(ex.counts().user == 1 + 16 + 512);
        CHECK(ex.counts().free == 8);
        CHECK(ex.counts().offline == 1);

        // Level 2 alone: the private cache page and everything else stays.
        const auto l2 = PageExclusion::build(g.mem, g.vmcoreinfo(), 2, SynthGuest::kPfns);
        std::vector<std::pair<std::uint64_t, std::uint64_t>> want2 = {{100, 101}, {103, 104}, {210, 211}};
        CHECK(l2.excluded_runs() == want2);
        // Level 16 alone: only the free block (and the offline page, as makedumpfile).
        const auto l16 = PageExclusion::build(g.mem, g.vmcoreinfo(), 16, SynthGuest::kPfns);
        std::vector<std::pair<std::uint64_t, std::uint64_t>> want16 = {{200, 208}, {210, 211}};
        CHECK(l16.excluded_runs() == want16);
    }
}

TEST_CASE("synthetic guest: an unmapped memmap is Error(Format) naming the address") {
    SynthGuest g(SynthGuest::Map::Pages4K);
    // Unmap the page table entry of the second memmap page (pfns 64..127).
    g.mem.put64(SynthGuest::kPt + 1 * 8, 0x400);
    try {
        (void)PageExclusion::build(g.mem, g.vmcoreinfo(), 16, SynthGuest::kPfns);
        FAIL("no error");
    } catch (const Error& e) {
        CHECK(e.code() == ErrorCode::Format);
        const std::string msg = e.what();
        CHECK_MESSAGE(msg.find("struct pages from pfn 0x0 at 0x3c0001000") != std::string::npos, msg);
        CHECK_MESSAGE(msg.find("invalid") != std::string::npos, msg);
    }
    // A section table that describes nothing.
    SynthGuest h(SynthGuest::Map::Pages4K);
    h.mem.put64(SynthGuest::kSymSections, 0);
    try {
        (void)PageExclusion::build(h.mem, h.vmcoreinfo(), 8, SynthGuest::kPfns);
        FAIL("no error");
    } catch (const Error& e) {
        CHECK_MESSAGE(std::string(e.what()).find("no present memory section") != std::string::npos, std::string(e.what()));
    }
}

// ---- the generated guest's struct page array (producer/guest_memmap) -------------
#include "producer/guest_memmap.hpp"
#include "producer/guest_source.hpp"

namespace {

// Guest physical memory straight from a GuestSource (no sealing).
class SourceView : public format::MemoryView {
public:
    explicit SourceView(const producer::GuestSource& g) : g_(g) {}
    bool contains(std::uint64_t paddr, std::uint64_t size) const override {
        for (const auto& b : g_.blocks())
            if (paddr >= b.paddr && paddr - b.paddr <= b.size && size <= b.size - (paddr - b.paddr)) return true;
        return false;
    }
    void read(std::uint64_t paddr, std::span<std::uint8_t> out) const override {
        if (!contains(paddr, out.size())) throw Error(ErrorCode::Format, "generated guest: read outside RAM");
        std::vector<std::uint8_t> page(4096);
        producer::PageInfo info[1];
        for (std::size_t done = 0; done < out.size();) {
            const std::uint64_t a = paddr + done;
            g_.read_pages(a & ~std::uint64_t{4095}, format::MutableBytes(page.data(), page.size()), info);
            const std::size_t n = std::min<std::size_t>(out.size() - done, 4096 - (a & 4095));
            std::copy_n(page.begin() + std::ptrdiff_t(a & 4095), n, out.begin() + std::ptrdiff_t(done));
            done += n;
        }
    }

private:
    const producer::GuestSource& g_;
};

}  // namespace

TEST_CASE("generated guest: every level excludes exactly the pages the generator made for it") {
    using R = producer::GuestMemmap::Role;
    struct Config {
        const char* name;
        std::uint64_t size;
        std::vector<format::MemoryRange> blocks;
    };
    const std::vector<Config> configs = {
        {"64 MiB", 64u << 20, {}},
        {"two blocks with a hole", 72u << 20, {{0, 40u << 20}, {48u << 20, 32u << 20}}},
        {"300 MiB (two sections)", 300u << 20, {}},
    };
    for (const auto& c : configs) {
        CAPTURE(c.name);
        producer::GeneratedGuestOptions o;
        o.size = c.size;
        o.blocks = c.blocks;
        o.seed = 7;
        const auto g = producer::generate_guest(o);
        const producer::GuestMemmap* mm = g->memmap();
        REQUIRE(mm);
        const SourceView view(*g);
        const auto info = guest::find_vmcoreinfo(view);
        REQUIRE(info);
        const std::uint64_t max_pfn = mm->max_pfn();
        std::map<R, std::uint64_t> roles;
        for (std::uint64_t p = 0; p < max_pfn; ++p) ++roles[mm->role(p)];
        // Something of every kind, so that each level has work.
        for (R r : {R::Free, R::FreeHead, R::Cache, R::CachePrivate, R::Anon, R::ThpHead, R::Slab, R::Kernel, R::Reserved})
            CHECK_MESSAGE(roles[r] > 0, "no page of role " << int(r));
        for (unsigned level : {2u, 4u, 8u, 16u, 31u}) {
            CAPTURE(level);
            const auto ex = PageExclusion::build(view, *info, level, max_pfn);
            std::vector<std::uint64_t> wrong;
            std::uint64_t cache = 0, cache_private = 0, user = 0, free = 0;
            for (std::uint64_t p = 0; p < max_pfn; ++p) {
                const R r = mm->role(p);
                bool want = false;
                if ((level & 16) && (r == R::Free || r == R::FreeHead || r == R::FreeTail)) want = true, ++free;
                if ((level & 6) && r == R::Cache) want = true, ++cache;
                if ((level & 4) && r == R::CachePrivate) want = true, ++cache_private;
                if ((level & 8) && (r == R::Anon || r == R::ThpHead || r == R::ThpTail)) want = true, ++user;
                if (ex.excluded(p) != want) wrong.push_back(p);
            }
            CHECK_MESSAGE(wrong.empty(), "pfns decided otherwise than generated: " << list(wrong));
            CHECK(ex.counts().cache == cache);
            CHECK(ex.counts().cache_private == cache_private);
            CHECK(ex.counts().user == user);
            CHECK(ex.counts().free == free);
        }
    }
}

TEST_CASE("generated guest too small for a memmap: no memmap, levels 2..16 name what is missing") {
    producer::GeneratedGuestOptions o;
    o.size = 8u << 20;  // the tables and the memmap need 9 MiB and more
    const auto g = producer::generate_guest(o);
    CHECK(g->memmap() == nullptr);
    const SourceView view(*g);
    const auto info = guest::find_vmcoreinfo(view);
    REQUIRE(info);
    try {
        (void)PageExclusion::build(view, *info, 31, 2048);
        FAIL("no error");
    } catch (const Error& e) {
        CHECK(e.code() == ErrorCode::Format);
        CHECK_MESSAGE(std::string(e.what()).find("VMCOREINFO lacks SIZE(page)") != std::string::npos, std::string(e.what()));
    }
    CHECK(PageExclusion::build(view, *info, 1, 2048).excluded_count() == 0);
}
