#include "producer/guest_memmap.hpp"

#include <algorithm>
#include <cstring>

#include "format/error.hpp"
#include "producer/random.hpp"

namespace pvdump::producer {
namespace {

constexpr std::uint64_t kPageSize = 4096;
constexpr std::uint64_t kSectionPfns = std::uint64_t{1} << (28 - 12);  // 256 MiB sections
constexpr std::uint64_t kSectionsPerRoot = kPageSize / 32;             // SIZE(mem_section) 32
constexpr std::uint64_t kMiB = 1 << 20;
constexpr std::uint64_t kSegTableSpan = std::uint64_t{1} << 31;        // 2048 segment entries of 1 MiB

// Where things sit in the tables area.
constexpr std::uint64_t kHighMemoryVar = GuestMemmap::kTablesPhys;          // u64 high_memory
constexpr std::uint64_t kUtsName = GuestMemmap::kTablesPhys + 0x100;        // init_uts_ns.name
constexpr std::uint64_t kRoots = GuestMemmap::kTablesPhys + 0x1000;         // mem_section root array
constexpr std::uint64_t kSectionPages = GuestMemmap::kTablesPhys + 0x2000;  // struct mem_section pages

// Linux 6.1 page flag bits (enum pageflags) and values the generated VMCOREINFO publishes.
constexpr std::uint64_t kPgUptodate = 1 << 2, kPgLru = 1 << 4, kPgSlab = 1 << 9, kPgReserved = 1 << 12,
                        kPgPrivate = 1 << 13, kPgHead = 1 << 16, kPgSwapbacked = 1 << 19;
constexpr std::uint32_t kBuddyMapcount = 0xffffff7f;  // PAGE_BUDDY_MAPCOUNT_VALUE -129
constexpr std::uint8_t kTranshugeDtor = 3;            // TRANSHUGE_PAGE_DTOR
constexpr std::uint64_t kTailMapping = 0x400;         // TAIL_MAPPING (POISON_POINTER_DELTA 0 on s390x)

std::uint64_t align_up(std::uint64_t v, std::uint64_t a) { return (v + a - 1) / a * a; }

struct Layout {
    std::uint64_t root_pages, r3, seg_tables, seg_first, tables_end;
};
Layout layout(std::uint64_t sections, std::uint64_t memmap_bytes) {
    Layout l{};
    l.root_pages = (sections + kSectionsPerRoot - 1) / kSectionsPerRoot;
    l.r3 = align_up(kSectionPages + l.root_pages * kPageSize, 0x4000);
    l.seg_tables = (memmap_bytes + kSegTableSpan - 1) / kSegTableSpan;
    l.seg_first = l.r3 + 0x8000;  // after the identity map's segment table at r3 + 0x4000
    l.tables_end = l.seg_first + l.seg_tables * 0x4000;
    return l;
}

}  // namespace

std::optional<GuestMemmap> GuestMemmap::plan(const std::vector<format::MemoryRange>& blocks, std::uint64_t seed) {
    if (blocks.empty()) return std::nullopt;
    GuestMemmap m;
    m.blocks_ = blocks;
    m.seed_ = seed;
    const std::uint64_t end = blocks.back().paddr + blocks.back().size;
    m.max_pfn_ = (end + kPageSize - 1) / kPageSize;
    const std::uint64_t memmap_bytes = align_up(m.max_pfn_ * kStructPage, kMiB);
    m.sections_ = (m.max_pfn_ + kSectionPfns - 1) / kSectionPfns;
    const Layout l = layout(m.sections_, memmap_bytes);
    if (l.tables_end > kTablesEnd || m.sections_ > kPageSize / 8) return std::nullopt;
    const format::MemoryRange& first = blocks.front();
    if (first.paddr != 0 || first.size < kMemmapPhys + memmap_bytes) return std::nullopt;
    if (kVmemmap + memmap_bytes > (std::uint64_t{1} << 42)) return std::nullopt;  // one region-third table
    m.memmap_pn_ = kMemmapPhys / kPageSize;
    m.memmap_pages_ = memmap_bytes / kPageSize;
    return m;
}

std::vector<std::pair<std::uint64_t, std::vector<std::uint8_t>>> GuestMemmap::fixed_pages(
    const std::string& osrelease) const {
    std::vector<std::pair<std::uint64_t, std::vector<std::uint8_t>>> pages;
    auto page_at = [&](std::uint64_t paddr) -> std::uint8_t* {
        for (auto& [a, b] : pages)
            if (a == paddr) return b.data();
        pages.emplace_back(paddr, std::vector<std::uint8_t>(kPageSize, 0));
        return pages.back().second.data();
    };
    auto put64 = [&](std::uint64_t paddr, std::uint64_t v) {
        format::store_be64(page_at(paddr & ~(kPageSize - 1)) + (paddr & (kPageSize - 1)), v);
    };
    const std::uint64_t end = blocks_.back().paddr + blocks_.back().size;
    put64(kHighMemoryVar, end);
    // struct new_utsname: six 65-byte strings.
    std::uint8_t* uts = page_at(kUtsName & ~(kPageSize - 1)) + (kUtsName & (kPageSize - 1));
    const char* fields[6] = {"Linux", "pvseal-generated", osrelease.c_str(), "#1 SMP", "s390x", "(none)"};
    for (int i = 0; i < 6; ++i) std::strncpy(reinterpret_cast<char*>(uts + 65 * i), fields[i], 64);

    const std::uint64_t memmap_bytes = memmap_pages_ * kPageSize;
    const Layout l = layout(sections_, memmap_bytes);
    // mem_section: roots -> pages of struct mem_section.
    page_at(kRoots);
    for (std::uint64_t r = 0; r < l.root_pages; ++r) put64(kRoots + 8 * r, kSectionPages + r * kPageSize);
    for (std::uint64_t nr = 0; nr < sections_; ++nr) {
        const std::uint64_t first = nr * kSectionPfns, last = first + kSectionPfns;
        bool ram = false;
        for (const auto& b : blocks_) ram = ram || (b.paddr / kPageSize < last && (b.paddr + b.size) / kPageSize > first);
        const std::uint64_t at = kSectionPages + nr * 32;
        page_at(at & ~(kPageSize - 1));
        // Encoded memmap (the struct page of pfn 0 of this section, minus the
        // section's first pfn's offset) | PRESENT | HAS_MEM_MAP | ONLINE | EARLY.
        if (ram) put64(at, kVmemmap | 0xf);
    }
    // swapper_pg_dir: a region-third table (TT=01 in every entry); entries for
    // the vmemmap point to segment tables whose entries are EDAT1 1 MiB frames.
    for (std::uint64_t t = 0; t < 4; ++t) page_at(l.r3 + t * kPageSize);
    for (std::uint64_t i = 0; i < 2048; ++i) put64(l.r3 + 8 * i, 0x20 | 0x04);
    // Entry 0: the identity map of the first 2 GiB, 1 MiB frames (what the
    // kernel maps with EDAT1). Its full length (TL=3) is also what
    // makedumpfile takes as the length of the top table.
    const std::uint64_t ident = l.r3 + 0x4000;
    for (std::uint64_t t = 0; t < 4; ++t) page_at(ident + t * kPageSize);
    for (std::uint64_t i = 0; i < 2048; ++i) put64(ident + 8 * i, i * kMiB < end ? (i * kMiB) | 0x400 : 0x20);
    put64(l.r3, ident | 0x04 | 0x3);
    for (std::uint64_t s = 0; s < l.seg_tables; ++s) {
        const std::uint64_t st = l.seg_first + s * 0x4000;
        for (std::uint64_t t = 0; t < 4; ++t) page_at(st + t * kPageSize);
        for (std::uint64_t i = 0; i < 2048; ++i) put64(st + 8 * i, 0x20);
        const std::uint64_t va = kVmemmap + s * kSegTableSpan;
        put64(l.r3 + 8 * ((va >> 31) & 0x7ff), st | 0x04 | 0x3);  // TT=01, TF=0, TL=3
        for (std::uint64_t i = 0; i < 2048; ++i) {
            const std::uint64_t off = s * kSegTableSpan + i * kMiB;
            if (off >= memmap_bytes) break;
            put64(st + 8 * (((va + i * kMiB) >> 20) & 0x7ff), (kMemmapPhys + off) | 0x400);
        }
    }
    std::sort(pages.begin(), pages.end());
    return pages;
}

std::string GuestMemmap::vmcoreinfo() const {
    const std::uint64_t memmap_bytes = memmap_pages_ * kPageSize;
    const Layout l = layout(sections_, memmap_bytes);
    auto h = [](std::uint64_t v) { return pvdump::hex(v).substr(2); };  // SYMBOL() values: hex without 0x
    std::string s;
    s += "SYMBOL(init_uts_ns)=" + h(kUtsName) + "\n";
    s += "OFFSET(uts_namespace.name)=0\n";
    s += "SYMBOL(swapper_pg_dir)=" + h(l.r3) + "\n";
    s += "SYMBOL(_stext)=100000\n";
    s += "SYMBOL(mem_section)=" + h(kRoots) + "\n";
    s += "LENGTH(mem_section)=2048\n";
    s += "SIZE(mem_section)=32\n";
    s += "OFFSET(mem_section.section_mem_map)=0\n";
    s += "NUMBER(SECTION_SIZE_BITS)=28\n";
    s += "NUMBER(MAX_PHYSMEM_BITS)=46\n";
    s += "SIZE(page)=64\n";
    s += "OFFSET(page.flags)=0\n";
    s += "OFFSET(page._refcount)=52\n";
    s += "OFFSET(page.mapping)=24\n";
    s += "OFFSET(page.lru)=8\n";
    s += "OFFSET(page._mapcount)=48\n";
    s += "OFFSET(page.private)=40\n";
    s += "OFFSET(page.compound_dtor)=16\n";
    s += "OFFSET(page.compound_order)=17\n";
    s += "OFFSET(page.compound_head)=8\n";
    s += "LENGTH(zone.free_area)=11\n";
    s += "NUMBER(PG_lru)=4\n";
    s += "NUMBER(PG_private)=13\n";
    s += "NUMBER(PG_swapcache)=10\n";
    s += "NUMBER(PG_swapbacked)=19\n";
    s += "NUMBER(PG_slab)=9\n";
    s += "NUMBER(PG_head_mask)=65536\n";
    s += "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129\n";
    s += "NUMBER(HUGETLB_PAGE_DTOR)=2\n";
    s += "NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)=-257\n";
    s += "SYMBOL(high_memory)=" + h(kHighMemoryVar) + "\n";
    return s;
}

bool GuestMemmap::in_ram(std::uint64_t pfn) const {
    const std::uint64_t a = pfn * kPageSize;
    auto it = std::upper_bound(blocks_.begin(), blocks_.end(), a,
                               [](std::uint64_t x, const format::MemoryRange& b) { return x < b.paddr; });
    if (it == blocks_.begin()) return false;
    --it;
    return a - it->paddr < it->size;
}

bool GuestMemmap::reserved(std::uint64_t pfn) const {
    if (covers(pfn)) return true;
    return std::binary_search(reserved_.begin(), reserved_.end(), pfn);
}

bool GuestMemmap::ordinary_group(std::uint64_t first, std::uint64_t count) const {
    const std::uint64_t a = first * kPageSize, e = (first + count) * kPageSize;
    bool one_block = false;
    for (const auto& b : blocks_) one_block = one_block || (a >= b.paddr && e <= b.paddr + b.size);
    if (!one_block) return false;
    if (first < memmap_pn_ + memmap_pages_ && first + count > memmap_pn_) return false;
    auto it = std::lower_bound(reserved_.begin(), reserved_.end(), first);
    return it == reserved_.end() || *it >= first + count;
}

GuestMemmap::Role GuestMemmap::role(std::uint64_t pfn) const {
    if (pfn >= max_pfn_ || !in_ram(pfn)) return Role::Hole;
    if (reserved(pfn)) return Role::Reserved;
    const std::uint64_t g9 = pfn >> 9, g3 = pfn >> 3;
    if (mix64(seed_ * 0x9e3779b97f4a7c15ull ^ mix64(g9 ^ 0x7468700000000000ull)) % 16 == 0 && ordinary_group(g9 << 9, 512))
        return (pfn & 511) ? Role::ThpTail : Role::ThpHead;
    if (mix64(seed_ * 0x9e3779b97f4a7c15ull ^ mix64(g3 ^ 0x6672656500000000ull)) % 8 == 0 && ordinary_group(g3 << 3, 8))
        return (pfn & 7) ? Role::FreeTail : Role::FreeHead;
    const std::uint64_t h = mix64(seed_ * 0x9e3779b97f4a7c15ull ^ mix64(pfn ^ 0x6d656d6d61700000ull));
    const unsigned u = unsigned(h % 100);
    if (u < 28) return Role::Free;
    if (u < 48) return ((h >> 32) % 5 == 0) ? Role::CachePrivate : Role::Cache;
    if (u < 62) return Role::Anon;
    if (u < 74) return Role::Slab;
    return Role::Kernel;
}

void GuestMemmap::fill(std::uint64_t pn, std::uint8_t* out) const {
    std::memset(out, 0, kPageSize);
    const std::uint64_t first_pfn = (pn - memmap_pn_) * (kPageSize / kStructPage);
    for (std::uint64_t k = 0; k < kPageSize / kStructPage; ++k) {
        const std::uint64_t pfn = first_pfn + k;
        std::uint8_t* p = out + k * kStructPage;
        std::uint64_t flags = 0, mapping = 0, priv = 0, lru_next = 0, lru_prev = 0;
        std::uint32_t refcount = 1, mapcount = 0xffffffff;
        const std::uint64_t fake = mix64(seed_ ^ pfn);  // pointers into the kernel's identity map
        const std::uint64_t kptr = 0x1000000 + (fake % 0x100000) * 64;
        switch (role(pfn)) {
        case Role::Hole:
        case Role::Reserved: flags = kPgReserved; break;
        case Role::Kernel: break;
        case Role::Slab:
            flags = kPgSlab;
            mapping = 0;
            lru_next = kptr;
            break;
        case Role::Cache:
        case Role::CachePrivate:
            flags = kPgLru | kPgUptodate;
            mapping = kptr;  // struct address_space
            mapcount = (fake & 1) ? 0 : 0xffffffff;
            lru_next = page_vaddr(pfn ^ 1);
            lru_prev = page_vaddr(pfn ^ 2);
            if (role(pfn) == Role::CachePrivate) {
                flags |= kPgPrivate;
                priv = kptr + 32;  // buffer heads
            }
            break;
        case Role::Anon:
            flags = kPgLru | kPgUptodate | kPgSwapbacked;
            mapping = kptr | 1;  // anon_vma | PAGE_MAPPING_ANON
            mapcount = 0;
            lru_next = page_vaddr(pfn ^ 1);
            lru_prev = page_vaddr(pfn ^ 2);
            break;
        case Role::ThpHead:
            flags = kPgLru | kPgUptodate | kPgSwapbacked | kPgHead;
            mapping = kptr | 1;
            mapcount = 0;
            lru_next = page_vaddr(pfn ^ 512);
            lru_prev = page_vaddr(pfn ^ 1024);
            break;
        case Role::ThpTail: {
            const std::uint64_t head = pfn & ~std::uint64_t{511};
            lru_next = page_vaddr(head) | 1;  // compound_head
            mapping = kTailMapping;
            refcount = 0;
            if (pfn == head + 1) {
                p[16] = kTranshugeDtor;
                p[17] = 9;  // compound_order
            }
            break;
        }
        case Role::Free:
        case Role::FreeHead:
            mapcount = kBuddyMapcount;
            refcount = 0;
            priv = role(pfn) == Role::FreeHead ? 3 : 0;  // the buddy order
            lru_next = page_vaddr(pfn ^ 64);               // free_area list
            lru_prev = page_vaddr(pfn ^ 128);
            break;
        case Role::FreeTail: refcount = 0; break;
        }
        format::store_be64(p + 0, flags);
        format::store_be64(p + 8, lru_next);
        if (role(pfn) != Role::ThpTail || pfn != (pfn & ~std::uint64_t{511}) + 1) format::store_be64(p + 16, lru_prev);
        format::store_be64(p + 24, mapping);
        format::store_be64(p + 40, priv);
        format::store_be32(p + 48, mapcount);
        format::store_be32(p + 52, refcount);
    }
}

}  // namespace pvdump::producer
