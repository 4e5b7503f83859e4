// The struct page array of a generated guest, so that dump levels 2..16 have
// something to exclude: laid out as a Linux 6.1 s390x kernel does with
// SPARSEMEM_EXTREME + SPARSEMEM_VMEMMAP, and described in VMCOREINFO with the
// same keys and values that kernel publishes.
//
//   * struct pages (64 bytes each) for every pfn below the end of RAM, backed
//     contiguously at physical kMemmapPhys and mapped at kVmemmap through
//     swapper_pg_dir: a region-third table, segment tables with EDAT1 1 MiB
//     frames;
//   * mem_section: a root array (SYMBOL(mem_section) is its address, as in 6.1)
//     -> pages of 128 struct mem_section (32 bytes), one per 256 MiB section
//     that holds RAM, section_mem_map = encoded memmap | present | has-mem-map;
//   * high_memory (= end of RAM), init_uts_ns (utsname), _stext, so that
//     makedumpfile itself can read the guest too.
//
// What each page frame is, from (seed, pfn): free (the buddy allocator: order 0,
// or aligned order-3 blocks), page cache (some PG_private), anonymous (some in
// order-9 transparent huge pages), slab, other kernel memory; the pages the
// generator fills itself (lowcores, VMCOREINFO, printk, these tables, the
// memmap) are PG_reserved. Page contents do not depend on the role (freed pages
// keep old data, cache pages hold anything).
//
// Deterministic and read-only after construction: thread-safe.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "format/bytes.hpp"
#include "format/vmcore_writer.hpp"

namespace pvdump::producer {

class GuestMemmap {
public:
    static constexpr std::uint64_t kTablesPhys = 0x600000;    // mem_section, utsname, DAT tables
    static constexpr std::uint64_t kTablesEnd = 0x800000;
    static constexpr std::uint64_t kMemmapPhys = 0x800000;    // the struct pages (8 MiB, 1 MiB aligned)
    static constexpr std::uint64_t kVmemmap = 0x20000000000;  // 2 TiB, as high as a 6.1 kernel puts it
    static constexpr std::uint64_t kStructPage = 64;

    enum class Role : std::uint8_t {
        Reserved,      // filled by the generator (kernel image, tables, lowcores, the memmap): PG_reserved
        Kernel,        // other kernel memory
        Slab,          // PG_slab
        Cache,         // page cache on the LRU
        CachePrivate,  // page cache with PG_private (buffer heads)
        Anon,          // anonymous, on the LRU
        ThpHead,       // head of an order-9 anonymous compound page
        ThpTail,
        Free,          // order-0 free page
        FreeHead,      // first page of an order-3 free block
        FreeTail,
        Hole,          // no RAM (a gap between blocks, or past the end)
    };

    // nullopt when the guest is too small (or its first block too short) for
    // the tables and the memmap; the guest then has no memmap in VMCOREINFO.
    static std::optional<GuestMemmap> plan(const std::vector<format::MemoryRange>& blocks, std::uint64_t seed);

    // Pages the generator must hold as fixed pages (tables, utsname), each
    // (page-aligned address, 4096 bytes).
    std::vector<std::pair<std::uint64_t, std::vector<std::uint8_t>>> fixed_pages(const std::string& osrelease) const;
    // VMCOREINFO lines (each ending in '\n').
    std::string vmcoreinfo() const;
    // Tells the memmap which page frames the generator fills itself (sorted
    // page numbers); call once, before any fill().
    void set_reserved(std::vector<std::uint64_t> pns) { reserved_ = std::move(pns); }

    bool covers(std::uint64_t pn) const { return pn >= memmap_pn_ && pn < memmap_pn_ + memmap_pages_; }
    // The content of memmap page `pn` (covers(pn)): 64 struct pages.
    void fill(std::uint64_t pn, std::uint8_t* out) const;
    Role role(std::uint64_t pfn) const;
    std::uint64_t max_pfn() const { return max_pfn_; }

private:
    GuestMemmap() = default;
    bool in_ram(std::uint64_t pfn) const;
    bool ordinary_group(std::uint64_t first, std::uint64_t count) const;  // all RAM, one block, nothing reserved
    bool reserved(std::uint64_t pfn) const;
    std::uint64_t page_vaddr(std::uint64_t pfn) const { return kVmemmap + pfn * kStructPage; }

    std::vector<format::MemoryRange> blocks_;
    std::uint64_t seed_ = 0;
    std::uint64_t max_pfn_ = 0;
    std::uint64_t memmap_pn_ = 0, memmap_pages_ = 0;
    std::uint64_t sections_ = 0;
    std::vector<std::uint64_t> reserved_;
};

}  // namespace pvdump::producer
