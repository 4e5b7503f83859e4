// Dump levels 2..16: which guest pages makedumpfile would leave out of a dump,
// decided from the guest kernel's own `struct page` array, found and read
// through VMCOREINFO alone (no vmlinux, no debug info).
//
// The level bits have makedumpfile's meaning:
//    1  zero pages             (content only: not decided here, see below)
//    2  non-private cache      (page cache / swap cache, not PG_private, not anonymous)
//    4  all cache              (as 2, PG_private ones too)
//    8  user data              (anonymous pages, hugetlbfs pages)
//   16  free pages             (buddy allocator: PAGE_BUDDY_MAPCOUNT_VALUE in _mapcount
//                               or PG_buddy; the block's order in page.private)
// and, whenever the array is read (any of 2..16), hwpoisoned pages (PG_hwpoison,
// when the kernel exports it) and logically offline pages
// (PAGE_OFFLINE_MAPCOUNT_VALUE: balloon, virtio-mem) are excluded too, as
// makedumpfile 1.7 does. The rules, their order (a free block is never also
// counted as cache, a compound page is decided by its head and excluded whole,
// tail pages are skipped) and the memory model (SPARSEMEM with or without
// SPARSEMEM_EXTREME, or FLATMEM) follow makedumpfile 1.7.2, the version Debian
// 12 ships; tests/data/levels/ holds what that makedumpfile decided for the real
// example guest and the tests compare pfn by pfn.
//
// Zero pages (bit 1) need the page contents, which the writer has anyway, so
// they are not decided here; levels 0 and 1 read nothing and exclude nothing.
//
// Address translation (s390x): symbols are kernel image or identity-mapped
// addresses (KernelAddressMap, as the kernel log uses). A pointer at or above
// the value of `high_memory` (the vmemmap, where SPARSEMEM_VMEMMAP puts the
// struct pages) is translated through the kernel's DAT tables from
// SYMBOL(swapper_pg_dir): region-first/second/third, segment and page tables,
// with EDAT1 1 MiB segment frames and EDAT2 2 GiB region-third frames.
//
// Everything read from guest memory is untrusted: an address that does not
// translate or is not in the dump, a section table that describes no memory,
// or an implausible size ends in Error(Format) naming what and where. When
// VMCOREINFO is missing, or lacks something a level needs, build() throws
// Error(Format) naming the missing field (e.g. "NUMBER(PG_lru)"); the caller
// decides whether to fall back to level 1.
//
// Memory: one bit per page frame (32 MiB per TiB of guest), the struct page
// array is streamed 512 entries at a time, never loaded whole.
#pragma once
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "format/memory_view.hpp"

namespace pvdump::analysis {

inline constexpr unsigned kDumpLevelZero = 1;
inline constexpr unsigned kDumpLevelCache = 2;
inline constexpr unsigned kDumpLevelCachePrivate = 4;
inline constexpr unsigned kDumpLevelUser = 8;
inline constexpr unsigned kDumpLevelFree = 16;
inline constexpr unsigned kMaxDumpLevel = 31;

// Pages excluded, by reason (each page counted once, under the first rule
// that excluded it; only pages that are in the dump are counted).
struct PageExclusionCounts {
    std::uint64_t cache = 0;          // non-private cache pages (levels 2 and 4)
    std::uint64_t cache_private = 0;  // private cache pages (level 4)
    std::uint64_t user = 0;           // anonymous and hugetlbfs pages (level 8)
    std::uint64_t free = 0;           // free pages of the buddy allocator (level 16)
    std::uint64_t hwpoison = 0;       // PG_hwpoison pages (any of levels 2..16)
    std::uint64_t offline = 0;        // logically offline pages (any of levels 2..16)
    // Page frames above the last memory section that has a struct page array:
    // makedumpfile shortens the dump to end there (e.g. memory beyond mem=).
    std::uint64_t beyond_memmap = 0;
    std::uint64_t total() const { return cache + cache_private + user + free + hwpoison + offline + beyond_memmap; }
};

class PageExclusion {
public:
    // `level` 0..31 (bit 1 is ignored here, see above); `max_pfn` the number of
    // 4 KiB page frames the dump spans (the highest guest physical address / 4096,
    // rounded up). Throws Error(InvalidArgument) for a level above 31, Error(Format) as
    // described above.
    static PageExclusion build(const format::MemoryView& memory, std::string_view vmcoreinfo, unsigned level,
                               std::uint64_t max_pfn);

    // True when the page frame is to be left out (false beyond max_pfn).
    bool excluded(std::uint64_t pfn) const {
        return pfn < max_pfn_ && (bits_[pfn >> 6] >> (pfn & 63)) & 1;
    }
    unsigned level() const { return level_; }
    std::uint64_t max_pfn() const { return max_pfn_; }
    const PageExclusionCounts& counts() const { return counts_; }
    std::uint64_t excluded_count() const { return counts_.total(); }
    // True when the struct page array was read (level has any of bits 2..16).
    bool scanned() const { return scanned_; }
    // Runs of excluded page frames, [first, end) each, in order.
    std::vector<std::pair<std::uint64_t, std::uint64_t>> excluded_runs() const;

private:
    PageExclusion() = default;
    friend class PageScanner;
    unsigned level_ = 0;
    std::uint64_t max_pfn_ = 0;
    bool scanned_ = false;
    PageExclusionCounts counts_;
    std::vector<std::uint64_t> bits_;
};

}  // namespace pvdump::analysis
