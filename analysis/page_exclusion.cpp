// Dump levels 2..16 from the guest's struct page array. See page_exclusion.hpp
// for what is decided and why; the comments below say where each rule comes
// from. Offsets, sizes and flag numbers are the ones VMCOREINFO publishes;
// nothing about struct page is compiled in except what makedumpfile also
// assumes (the widths of the fields: flags/mapping/private/compound_head are
// 64-bit words, _mapcount a 32-bit word, compound_order/dtor bytes).
#include "analysis/page_exclusion.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <optional>
#include <string>

#include "analysis/kernel_log.hpp"
#include "format/bytes.hpp"
#include "format/error.hpp"

namespace pvdump::analysis {
namespace {

using format::MemoryView;

constexpr std::uint64_t kPageSize = 4096;
constexpr unsigned kPageShift = 12;
// makedumpfile reads struct pages PGMM_CACHED (512) at a time, aligned to the
// pfn; a compound head in the last slot of such a batch has its order ignored.
constexpr std::uint64_t kBatch = 512;
constexpr std::uint64_t kMaxStructPage = 1024;    // SIZE(page) is 64 on s390x; 1 KiB is plenty
constexpr std::uint64_t kMaxMemSection = 4096;    // SIZE(mem_section) is 16..32
// The kernel's section_mem_map flag bits (SECTION_MARKED_PRESENT is bit 0)
// sit below SECTION_MAP_LAST_BIT (1 << 5 since Linux 5.12); the rest is the
// encoded address of the section's struct pages minus its first pfn's.
constexpr std::uint64_t kSectionMarkedPresent = 1;
constexpr std::uint64_t kSectionMapMask = ~std::uint64_t{0x1f};
constexpr std::uint64_t kPageMappingAnon = 1;  // PAGE_MAPPING_ANON, low bit of page->mapping

std::string hx(std::uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
    return buf;
}

[[noreturn]] void bad(unsigned level, const std::string& msg) {
    fail(ErrorCode::Format, "dump level " + std::to_string(level) + ": " + msg);
}

// ---- what VMCOREINFO must tell --------------------------------------------------
class Needs {
public:
    Needs(const VmcoreInfo& info, unsigned level) : info_(info), level_(level) {}
    unsigned level() const { return level_; }

    [[noreturn]] void missing(const std::string& key, const std::string& why) const {
        bad(level_, "VMCOREINFO lacks " + key + " (needed " + why + ")");
    }
    std::uint64_t symbol(const std::string& name, const std::string& why) const {
        if (auto v = info_.symbol(name)) return *v;
        missing("SYMBOL(" + name + ")", why);
    }
    std::optional<std::uint64_t> offset_opt(const std::string& member, std::uint64_t width,
                                            std::uint64_t struct_size) const {
        auto v = info_.offset(member);
        if (!v) return std::nullopt;
        if (*v < 0 || std::uint64_t(*v) > struct_size || width > struct_size - std::uint64_t(*v))
            bad(level_, "OFFSET(" + member + ")=" + std::to_string(*v) + " does not fit in the structure of " +
                            std::to_string(struct_size) + " bytes");
        return std::uint64_t(*v);
    }
    std::uint64_t offset(const std::string& member, std::uint64_t width, std::uint64_t struct_size,
                         const std::string& why) const {
        if (auto v = offset_opt(member, width, struct_size)) return *v;
        missing("OFFSET(" + member + ")", why);
    }
    std::uint64_t size(const std::string& type, std::uint64_t lo, std::uint64_t hi, const std::string& why) const {
        auto v = info_.size(type);
        if (!v) missing("SIZE(" + type + ")", why);
        if (*v < std::int64_t(lo) || *v > std::int64_t(hi))
            bad(level_, "SIZE(" + type + ")=" + std::to_string(*v) + " is out of range");
        return std::uint64_t(*v);
    }
    // A page flag bit number, 0..63.
    std::optional<unsigned> flag_opt(const std::string& name) const {
        auto v = info_.number(name);
        if (!v) return std::nullopt;
        if (*v < 0 || *v > 63) bad(level_, "NUMBER(" + name + ")=" + std::to_string(*v) + " is not a page flag bit");
        return unsigned(*v);
    }
    unsigned flag(const std::string& name, const std::string& why) const {
        if (auto v = flag_opt(name)) return *v;
        missing("NUMBER(" + name + ")", why);
    }
    std::optional<std::int64_t> number_opt(const std::string& name) const { return info_.number(name); }
    std::int64_t number(const std::string& name, const std::string& why) const {
        if (auto v = info_.number(name)) return *v;
        missing("NUMBER(" + name + ")", why);
    }
    const VmcoreInfo& info() const { return info_; }

private:
    const VmcoreInfo& info_;
    unsigned level_;
};

// ---- kernel virtual memory ----------------------------------------------------
// Kernel virtual -> guest physical. Identity-mapped and kernel-image addresses
// go through KernelAddressMap; anything at or above *high_memory (vmalloc,
// vmemmap, modules) through the DAT tables of swapper_pg_dir.
class KernelMemory {
public:
    KernelMemory(const MemoryView& mem, const Needs& needs) : mem_(mem), needs_(needs) {
        amap_ = KernelAddressMap::from(needs.info());
        const std::uint64_t hm = symbol_phys("high_memory", "to tell identity-mapped from virtually mapped addresses");
        vmalloc_start_ = phys_be64(hm, "high_memory");
    }

    std::uint64_t symbol_phys(const std::string& name, const std::string& why) const {
        const std::uint64_t v = needs_.symbol(name, why);
        try {
            return amap_.to_phys(v, "SYMBOL(" + name + ")");
        } catch (const FormatError& e) {  // not swallowed: raised again with the dump level's context
            fail_here(std::string(e.what()));
        }
    }

    // Physical address of a kernel pointer, or nullopt when the address does
    // not translate (not mapped, not in the dump).
    std::optional<std::uint64_t> try_phys(std::uint64_t vaddr) {
        if (amap_.kernel_offset_phys && vaddr >= amap_.kernel_offset) return amap_.to_phys(vaddr, "pointer");
        if (vaddr >= amap_.identity_base && vaddr < vmalloc_start_) return vaddr - amap_.identity_base;
        return dat(vaddr);
    }
    std::uint64_t phys(std::uint64_t vaddr, const std::string& what) {
        auto pa = try_phys(vaddr);
        if (!pa) fail_here(what + " at " + hx(vaddr) + ": " + dat_error_);
        return *pa;
    }

    std::uint64_t phys_be64(std::uint64_t paddr, const std::string& what) const {
        std::uint8_t b[8];
        read_phys(paddr, b, what);
        return format::load_be64(b);
    }
    void read_phys(std::uint64_t paddr, std::span<std::uint8_t> out, const std::string& what) const {
        std::uint64_t end;
        if (format::add_overflows(paddr, out.size(), end) || !mem_.contains(paddr, out.size()))
            fail_here(what + " [" + hx(paddr) + ", +" + hx(out.size()) + "] is not in the dump");
        mem_.read(paddr, out);
    }
    // Reads kernel virtual memory, page by page, merging physically contiguous runs.
    void read_virtual(std::uint64_t vaddr, std::span<std::uint8_t> out, const std::string& what) {
        std::size_t done = 0;
        while (done < out.size()) {
            const std::uint64_t va = vaddr + done;
            const std::uint64_t pa = phys(va, what);
            std::size_t n = std::size_t(std::min<std::uint64_t>(out.size() - done, kPageSize - (va & (kPageSize - 1))));
            // Extend while the next pages follow physically.
            while (done + n < out.size()) {
                const std::uint64_t nva = va + n;
                auto npa = try_phys(nva);
                if (!npa || *npa != pa + n) break;
                n += std::size_t(std::min<std::uint64_t>(out.size() - done - n, kPageSize));
            }
            read_phys(pa, out.subspan(done, n), what);
            done += n;
        }
    }
    std::uint64_t virt_be64(std::uint64_t vaddr, const std::string& what) {
        std::uint8_t b[8];
        read_virtual(vaddr, b, what);
        return format::load_be64(b);
    }

private:
    [[noreturn]] void fail_here(const std::string& msg) const { bad(needs_.level(), msg); }

    // z/Architecture DAT: region-first (bits 0-10), region-second (11-21),
    // region-third (22-32), segment (33-43), page (44-51) indexes; a table's
    // type is in each of its entries (TT, bits 60-61), so the top table's type
    // is read from its first entry, as makedumpfile does.
    std::optional<std::uint64_t> dat(std::uint64_t vaddr) {
        const std::uint64_t seg = vaddr >> 20;
        if (!seg_valid_ || seg != seg_key_) {
            if (!walk_to_segment(vaddr)) return std::nullopt;
        }
        if (seg_large_) return seg_frame_ + (vaddr & 0xfffff);
        const std::uint64_t pte = ptes_[(vaddr >> kPageShift) & 0xff];
        if (pte & 0x400) return dat_fail("page table entry " + hx(pte) + " is invalid");
        if (pte & 0x800) return dat_fail("page table entry " + hx(pte) + " has reserved bit 52 set");
        return (pte & ~std::uint64_t{0xfff}) + (vaddr & 0xfff);
    }
    std::nullopt_t dat_fail(std::string why) {
        dat_error_ = std::move(why);
        return std::nullopt;
    }
    bool read_entry(std::uint64_t paddr, std::uint64_t& entry) {
        if (!mem_.contains(paddr, 8)) {
            dat_error_ = "translation table entry at " + hx(paddr) + " is not in the dump";
            return false;
        }
        std::uint8_t b[8];
        mem_.read(paddr, b);
        entry = format::load_be64(b);
        return true;
    }
    bool walk_to_segment(std::uint64_t vaddr) {
        seg_valid_ = false;
        if (!top_) {
            const std::uint64_t t =
                symbol_phys("swapper_pg_dir", "to translate virtually mapped addresses such as the vmemmap");
            std::uint64_t first;
            if (!read_entry(t, first)) fail_here("swapper_pg_dir: " + dat_error_);
            top_ = t;
            top_type_ = unsigned((first >> 2) & 3);
        }
        // The address must fit the top table: a segment table covers 2 GiB,
        // each region level 11 more bits.
        const unsigned top_bits = 31 + 11 * top_type_;
        if (top_bits < 64 && (vaddr >> top_bits) != 0) {
            dat_error_ = "address is beyond the " + std::to_string(top_bits) + "-bit range of swapper_pg_dir";
            return false;
        }
        std::uint64_t table = *top_;
        for (int type = int(top_type_); type >= 0; --type) {
            const unsigned shift = 20 + 11 * unsigned(type);
            const std::uint64_t index = (vaddr >> shift) & 0x7ff;
            std::uint64_t e;
            if (!read_entry(table + index * 8, e)) return false;
            if (e & 0x20) {
                dat_error_ = "not mapped (invalid " + std::string(type ? "region" : "segment") + " table entry " +
                             hx(e) + ")";
                return false;
            }
            if (((e >> 2) & 3) != unsigned(type)) {
                dat_error_ = "translation table entry " + hx(e) + " has the wrong table type";
                return false;
            }
            if (type > 0) {
                if (type == 1 && (e & 0x400)) {  // EDAT2: a 2 GiB frame in a region-third entry
                    seg_large_ = true;
                    seg_frame_ = (e & ~std::uint64_t{0x7fffffff}) + (vaddr & 0x7fffffff & ~std::uint64_t{0xfffff});
                    seg_key_ = vaddr >> 20;
                    seg_valid_ = true;
                    return true;
                }
                // The next table's index must lie within its offset (TF) and length (TL).
                const std::uint64_t next_quarter = ((vaddr >> (shift - 11)) & 0x7ff) >> 9;
                if (next_quarter < ((e >> 6) & 3) || next_quarter > (e & 3)) {
                    dat_error_ = "outside the length of the next translation table (entry " + hx(e) + ")";
                    return false;
                }
                table = e & ~std::uint64_t{0xfff};
            } else if (e & 0x400) {  // EDAT1: a 1 MiB frame in a segment entry
                seg_large_ = true;
                seg_frame_ = e & ~std::uint64_t{0xfffff};
            } else {
                const std::uint64_t pt = e & ~std::uint64_t{0x7ff};
                std::array<std::uint8_t, 256 * 8> raw;
                if (!mem_.contains(pt, raw.size())) {
                    dat_error_ = "page table at " + hx(pt) + " is not in the dump";
                    return false;
                }
                mem_.read(pt, raw);
                for (unsigned i = 0; i < 256; ++i) ptes_[i] = format::load_be64(raw.data() + i * 8);
                seg_large_ = false;
            }
        }
        seg_key_ = vaddr >> 20;
        seg_valid_ = true;
        return true;
    }

    const MemoryView& mem_;
    const Needs& needs_;
    KernelAddressMap amap_;
    std::uint64_t vmalloc_start_ = 0;
    std::optional<std::uint64_t> top_;
    unsigned top_type_ = 0;
    // One translated megabyte (the memmap is read in order, so one is enough).
    bool seg_valid_ = false;
    std::uint64_t seg_key_ = 0;
    bool seg_large_ = false;
    std::uint64_t seg_frame_ = 0;
    std::array<std::uint64_t, 256> ptes_{};
    std::string dat_error_;
};

struct MemMap {
    std::uint64_t pfn_start, pfn_end;  // [start, end)
    std::uint64_t vaddr;               // struct page of pfn_start
};

std::pair<int, int> kernel_version(const Needs& needs) {
    const auto rel = needs.info().value("OSRELEASE");
    if (!rel) needs.missing("OSRELEASE", "to know the kernel's struct page layout rules");
    int major = 0, minor = 0;
    const char* p = rel->data();
    const char* end = rel->data() + rel->size();
    auto r1 = std::from_chars(p, end, major);
    if (r1.ec != std::errc() || r1.ptr == end || *r1.ptr != '.') bad(needs.level(), "OSRELEASE=" + *rel + " is not a kernel version");
    auto r2 = std::from_chars(r1.ptr + 1, end, minor);
    if (r2.ec != std::errc()) bad(needs.level(), "OSRELEASE=" + *rel + " is not a kernel version");
    return {major, minor};
}

}  // namespace

// ---- the scan -------------------------------------------------------------------
class PageScanner {
public:
    PageScanner(PageExclusion& out, const MemoryView& mem, const VmcoreInfo& info, unsigned level)
        : out_(out), mem_(mem), needs_(info, level), level_(level) {}

    void run() {
        read_layout();
        KernelMemory kmem(mem_, needs_);
        const std::vector<MemMap> maps = find_memmaps(kmem);
        std::uint64_t memmap_end = 0;
        for (const auto& m : maps) memmap_end = std::max(memmap_end, m.pfn_end);
        for (const auto& m : maps) scan(kmem, m);
        // makedumpfile ends the dump at the last pfn with a struct page.
        for (std::uint64_t pfn = memmap_end; pfn < out_.max_pfn_; ++pfn)
            mark(pfn, out_.counts_.beyond_memmap);
    }

private:
    void read_layout() {
        const auto [major, minor] = kernel_version(needs_);
        if (major < 4 || (major == 4 && minor < 16))
            bad(level_, "Linux " + std::to_string(major) + "." + std::to_string(minor) +
                            " is older than 4.16, whose struct page layout this reader knows");
        // Page encodings newer than makedumpfile 1.7.2 knows (folio flags and
        // page types of Linux 6.6 and later): refuse rather than guess.
        for (const char* k : {"PG_hugetlb", "PAGE_HUGETLB_MAPCOUNT_VALUE", "PAGE_SLAB_MAPCOUNT_VALUE"})
            if (needs_.number_opt(k))
                bad(level_, std::string("VMCOREINFO has NUMBER(") + k +
                                "): the page encodings of Linux 6.6 and later are not supported yet");
        if (auto ps = needs_.info().decimal("PAGESIZE"); !ps || *ps != std::int64_t(kPageSize)) {
            if (!ps) needs_.missing("PAGESIZE", "to read the struct page array");
            bad(level_, "PAGESIZE=" + std::to_string(*ps) + " is not 4096");
        }
        const std::string why_any = "to read the struct page array";
        page_size_ = needs_.size("page", 16, kMaxStructPage, why_any);
        off_flags_ = needs_.offset("page.flags", 8, page_size_, why_any);
        needs_.offset("page._refcount", 4, page_size_, why_any);  // makedumpfile's memmap check
        off_mapping_ = needs_.offset("page.mapping", 8, page_size_, why_any);
        off_mapcount_ = needs_.offset_opt("page._mapcount", 4, page_size_);
        off_private_ = needs_.offset_opt("page.private", 8, page_size_);
        off_compound_head_ = needs_.offset_opt("page.compound_head", 8, page_size_);
        off_compound_order_ = needs_.offset_opt("page.compound_order", 1, page_size_).value_or(0);
        off_compound_dtor_ = needs_.offset_opt("page.compound_dtor", 1, page_size_).value_or(0);
        const auto head = needs_.number("PG_head_mask", "to recognise compound pages");
        if (head <= 0 || (std::uint64_t(head) & (std::uint64_t(head) - 1)))
            bad(level_, "NUMBER(PG_head_mask)=" + std::to_string(head) + " is not a single bit");
        head_mask_ = std::uint64_t(head);

        if (level_ & (kDumpLevelCache | kDumpLevelCachePrivate)) {
            const std::string why = "to find cache pages";
            pg_lru_ = needs_.flag("PG_lru", why);
            pg_swapcache_ = needs_.flag("PG_swapcache", why);
            pg_private_ = needs_.flag("PG_private", why);
            pg_swapbacked_ = needs_.flag_opt("PG_swapbacked");
        }
        if (level_ & kDumpLevelUser) {
            if (auto d = needs_.number_opt("HUGETLB_PAGE_DTOR")) hugetlb_dtor_ = *d;
        }
        if (level_ & kDumpLevelFree) {
            const std::string why = "to find free pages";
            if (!off_private_) needs_.missing("OFFSET(page.private)", why + " (the buddy order)");
            pg_buddy_ = needs_.flag_opt("PG_buddy");
            if (!pg_buddy_) {
                buddy_value_ = needs_.number("PAGE_BUDDY_MAPCOUNT_VALUE", why);
                if (!off_mapcount_) needs_.missing("OFFSET(page._mapcount)", why);
            }
            if (auto n = needs_.info().length("zone.free_area"); n && *n > 0 && *n <= 64) max_order_ = *n;
        }
        // Slab pages are told apart from buddy and offline pages by PG_slab.
        const bool wants_slab = (level_ & kDumpLevelFree) || needs_.number_opt("PAGE_OFFLINE_MAPCOUNT_VALUE");
        if (wants_slab) pg_slab_ = needs_.flag("PG_slab", "to tell slab pages from free and offline pages");
        pg_hwpoison_ = needs_.flag_opt("PG_hwpoison");
        if (off_mapcount_) offline_value_ = needs_.number_opt("PAGE_OFFLINE_MAPCOUNT_VALUE");
    }

    // SPARSEMEM (with or without SPARSEMEM_EXTREME) or FLATMEM, as makedumpfile
    // tells them apart.
    std::vector<MemMap> find_memmaps(KernelMemory& kmem) {
        const VmcoreInfo& info = needs_.info();
        if (info.symbol("node_data") && info.offset("pglist_data.node_mem_map"))
            bad(level_, "VMCOREINFO describes DISCONTIGMEM, which is not supported");
        if (info.symbol("mem_section") || !info.symbol("mem_map")) return sparse_memmaps(kmem);
        // FLATMEM: one array from pfn 0.
        const std::uint64_t sym = kmem.symbol_phys("mem_map", "to find the struct page array");
        const std::uint64_t base = kmem.phys_be64(sym, "mem_map");
        if (base == 0)
            bad(level_, "VMCOREINFO lacks SYMBOL(mem_section) and mem_map is NULL: the struct page array cannot be found");
        return {MemMap{0, out_.max_pfn_, base}};
    }

    std::vector<MemMap> sparse_memmaps(KernelMemory& kmem) {
        const std::string why = "to find the struct page array (SPARSEMEM)";
        const std::uint64_t sym = needs_.symbol("mem_section", why);
        const std::uint64_t ms_size = needs_.size("mem_section", 8, kMaxMemSection, why);
        const std::uint64_t off_map = needs_.offset("mem_section.section_mem_map", 8, ms_size, why);
        const std::int64_t ssb = needs_.number("SECTION_SIZE_BITS", why);
        const std::int64_t mpb = needs_.number("MAX_PHYSMEM_BITS", why);
        if (ssb < std::int64_t(kPageShift) || ssb > 40)
            bad(level_, "NUMBER(SECTION_SIZE_BITS)=" + std::to_string(ssb) + " is out of range");
        if (mpb < ssb || mpb > 64 || mpb - ssb > 40)
            bad(level_, "NUMBER(MAX_PHYSMEM_BITS)=" + std::to_string(mpb) + " is out of range");
        const std::uint64_t per_section = std::uint64_t{1} << (ssb - kPageShift);
        const std::uint64_t num_section = (out_.max_pfn_ + per_section - 1) / per_section;
        const std::uint64_t nr_mem_sections = std::uint64_t{1} << (mpb - ssb);
        const std::uint64_t per_root_extreme = kPageSize / ms_size;
        const auto len = needs_.info().length("mem_section");
        const bool extreme =
            !len || *len == std::int64_t((nr_mem_sections + per_root_extreme - 1) / per_root_extreme);
        const std::uint64_t per_root = extreme ? per_root_extreme : 1;
        const std::uint64_t nr_roots = (num_section + per_root - 1) / per_root;

        // As makedumpfile: first take SYMBOL(mem_section) as the array itself;
        // if no section is present that way (the symbol is a pointer to it,
        // Linux >= 4.15 with SPARSEMEM_EXTREME), follow the pointer.
        auto attempt = [&](std::uint64_t array) -> std::optional<std::vector<MemMap>> {
            std::vector<std::uint64_t> roots;
            if (extreme) {
                roots.resize(nr_roots);
                for (std::uint64_t r = 0; r < nr_roots; ++r) {
                    auto pa = kmem.try_phys(array + r * 8);
                    if (!pa || !mem_.contains(*pa, 8)) return std::nullopt;
                    roots[r] = kmem.phys_be64(*pa, "mem_section root");
                }
            }
            std::vector<MemMap> maps;
            for (std::uint64_t nr = 0; nr < num_section; ++nr) {
                std::uint64_t addr;
                if (extreme) {
                    const std::uint64_t root = roots[nr / per_root];
                    if (root == 0) continue;
                    addr = root + (nr % per_root) * ms_size;
                } else {
                    addr = sym + nr * ms_size;
                }
                auto pa = kmem.try_phys(addr + off_map);
                if (!pa || !mem_.contains(*pa, 8)) continue;  // unreadable: as not present
                const std::uint64_t map = kmem.phys_be64(*pa, "mem_section.section_mem_map");
                if (!(map & kSectionMarkedPresent)) continue;
                const std::uint64_t first = nr * per_section;
                const std::uint64_t memmap = (map & kSectionMapMask) + first * page_size_;  // decode
                maps.push_back({first, std::min(first + per_section, out_.max_pfn_), memmap});
            }
            if (maps.empty()) return std::nullopt;
            return maps;
        };
        if (auto m = attempt(sym)) return *m;
        if (extreme) {
            if (auto pa = kmem.try_phys(sym); pa && mem_.contains(*pa, 8)) {
                if (auto m = attempt(kmem.phys_be64(*pa, "mem_section"))) return *m;
            }
        }
        bad(level_, "mem_section at " + hx(sym) + " describes no present memory section");
    }

    void mark(std::uint64_t pfn, std::uint64_t& counter) {
        if (pfn >= out_.max_pfn_) return;
        std::uint64_t& word = out_.bits_[pfn >> 6];
        const std::uint64_t bit = std::uint64_t{1} << (pfn & 63);
        if (word & bit) return;
        if (!in_dump(pfn)) return;
        word |= bit;
        ++counter;
    }
    bool in_dump(std::uint64_t pfn) {
        // Cached per 2 MiB batch: most batches are wholly in the dump.
        const std::uint64_t batch = pfn / kBatch;
        if (batch != in_dump_batch_) {
            in_dump_batch_ = batch;
            in_dump_whole_ = mem_.contains(batch * kBatch * kPageSize, kBatch * kPageSize);
        }
        return in_dump_whole_ || mem_.contains(pfn * kPageSize, 1);
    }

    bool flag(std::uint64_t flags, std::optional<unsigned> bit) const { return bit && ((flags >> *bit) & 1); }
    bool is_cache(std::uint64_t flags) const {
        if (flag(flags, pg_lru_)) return true;
        // PG_swapcache means swap cache only together with PG_swapbacked (when
        // the kernel has that flag, 4.10 and later).
        return (!pg_swapbacked_ || flag(flags, pg_swapbacked_)) && flag(flags, pg_swapcache_);
    }
    bool is_buddy(std::uint64_t flags, std::uint32_t mapcount) const {
        if (pg_buddy_) return flag(flags, pg_buddy_);
        if (flag(flags, pg_slab_)) return false;
        return std::int32_t(mapcount) == std::int32_t(*buddy_value_);
    }
    bool is_offline(std::uint64_t flags, std::uint32_t mapcount) const {
        if (!offline_value_) return false;
        if (flag(flags, pg_slab_)) return false;
        return std::int32_t(mapcount) == std::int32_t(*offline_value_);
    }

    void scan(KernelMemory& kmem, const MemMap& m) {
        std::vector<std::uint8_t> batch(std::size_t(kBatch * page_size_));
        std::uint64_t have_first = ~std::uint64_t{0}, have_end = 0;
        for (std::uint64_t pfn = m.pfn_start; pfn < m.pfn_end; ++pfn) {
            if (!in_dump(pfn)) continue;
            const std::uint64_t slot = pfn % kBatch;
            if (pfn < have_first || pfn >= have_end) {
                const std::uint64_t n = std::min(kBatch - slot, m.pfn_end - pfn);
                kmem.read_virtual(m.vaddr + (pfn - m.pfn_start) * page_size_,
                                  std::span(batch).subspan(std::size_t(slot * page_size_), std::size_t(n * page_size_)),
                                  "struct pages from pfn " + hx(pfn));
                have_first = pfn;
                have_end = pfn + n;
            }
            const std::uint8_t* p = batch.data() + slot * page_size_;
            const std::uint64_t flags = format::load_be64(p + off_flags_);
            const std::uint64_t mapping = format::load_be64(p + off_mapping_);
            const std::uint32_t mapcount = off_mapcount_ ? format::load_be32(p + *off_mapcount_) : 0;
            const std::uint64_t priv = off_private_ ? format::load_be64(p + *off_private_) : 0;
            const std::uint64_t compound_head = off_compound_head_ ? format::load_be64(p + *off_compound_head_) : 0;

            // A compound head's order and destructor are in the first tail page.
            std::uint64_t order = 0, dtor = 0;
            if (slot < kBatch - 1 && (flags & head_mask_) && pfn + 1 < have_end) {
                const std::uint8_t* tail = p + page_size_;
                if (off_compound_order_) order = tail[off_compound_order_];
                if (off_compound_dtor_) dtor = tail[off_compound_dtor_];
                if (order >= 64 || (pfn & ((std::uint64_t{1} << order) - 1)) != 0) order = 0;
            }
            std::uint64_t nr = std::uint64_t{1} << order;
            std::uint64_t* counter = nullptr;
            const bool anon = mapping & kPageMappingAnon;

            if (compound_head & 1) continue;  // a tail page: decided with its head
            if ((level_ & kDumpLevelFree) && is_buddy(flags, mapcount)) {
                if (priv >= max_order_) continue;  // not a buddy order: keep the page
                nr = std::uint64_t{1} << priv;
                counter = &out_.counts_.free;
            } else if ((level_ & kDumpLevelCache) && is_cache(flags) && !flag(flags, pg_private_) && !anon) {
                counter = &out_.counts_.cache;
            } else if ((level_ & kDumpLevelCachePrivate) && is_cache(flags) && !anon) {
                counter = flag(flags, pg_private_) ? &out_.counts_.cache_private : &out_.counts_.cache;
            } else if ((level_ & kDumpLevelUser) && (anon || (hugetlb_dtor_ && std::int64_t(dtor) == *hugetlb_dtor_))) {
                counter = &out_.counts_.user;
            } else if (flag(flags, pg_hwpoison_)) {
                counter = &out_.counts_.hwpoison;
            } else if (is_offline(flags, mapcount)) {
                counter = &out_.counts_.offline;
            } else {
                continue;
            }
            const std::uint64_t end = std::min(pfn + nr, out_.max_pfn_);
            for (std::uint64_t q = pfn; q < end; ++q) mark(q, *counter);
            pfn += nr - 1;  // the rest of the block is decided
        }
    }

    PageExclusion& out_;
    const MemoryView& mem_;
    Needs needs_;
    unsigned level_;

    std::uint64_t page_size_ = 0, off_flags_ = 0, off_mapping_ = 0;
    std::optional<std::uint64_t> off_mapcount_, off_private_, off_compound_head_;
    std::uint64_t off_compound_order_ = 0, off_compound_dtor_ = 0;  // 0: not published (as makedumpfile)
    std::uint64_t head_mask_ = 0;
    std::optional<unsigned> pg_lru_, pg_swapcache_, pg_private_, pg_swapbacked_, pg_slab_, pg_buddy_, pg_hwpoison_;
    std::optional<std::int64_t> buddy_value_, offline_value_, hugetlb_dtor_;
    std::uint64_t max_order_ = 64;
    std::uint64_t in_dump_batch_ = ~std::uint64_t{0};
    bool in_dump_whole_ = false;
};

PageExclusion PageExclusion::build(const MemoryView& memory, std::string_view vmcoreinfo, unsigned level,
                                   std::uint64_t max_pfn) {
    if (level > kMaxDumpLevel)
        throw Error(ErrorCode::InvalidArgument, "dump level " + std::to_string(level) + " is out of range (0..31)");
    if (max_pfn > (std::uint64_t{1} << 52))
        fail(ErrorCode::Format, "dump level: " + hx(max_pfn) + " page frames is more than s390x can address");
    PageExclusion out;
    out.level_ = level;
    out.max_pfn_ = max_pfn;
    out.bits_.assign(std::size_t((max_pfn + 63) / 64), 0);
    if (!(level & (kDumpLevelCache | kDumpLevelCachePrivate | kDumpLevelUser | kDumpLevelFree))) return out;
    if (vmcoreinfo.empty()) bad(level, "the dump has no VMCOREINFO, which levels 2..16 need");
    const VmcoreInfo info = VmcoreInfo::parse(vmcoreinfo);
    out.scanned_ = true;
    PageScanner(out, memory, info, level).run();
    return out;
}

std::vector<std::pair<std::uint64_t, std::uint64_t>> PageExclusion::excluded_runs() const {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> runs;
    std::uint64_t pfn = 0;
    while (pfn < max_pfn_) {
        if (!excluded(pfn)) {
            // Skip whole zero words quickly.
            if ((pfn & 63) == 0 && bits_[pfn >> 6] == 0) {
                pfn += 64;
                continue;
            }
            ++pfn;
            continue;
        }
        const std::uint64_t first = pfn;
        while (pfn < max_pfn_ && excluded(pfn)) ++pfn;
        runs.emplace_back(first, pfn);
    }
    return runs;
}

}  // namespace pvdump::analysis
