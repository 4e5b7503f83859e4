// Where the guest structures pvdump reads came from (see docs: README,
// "Trust boundaries"). In a sealed dump every guest page is in one of three
// states: exported by the Ultravisor (encrypted in the dump: the guest's own
// bytes, kept confidential though not authenticated), flagged zero, or
// shared: handed over by the host in clear, so the host could have chosen
// every byte. The lowcore pointers, VMCOREINFO, os_info and the printk ring
// steer pvinspect, pvdecrypt's VMCOREINFO note, crash and drgn; when any of
// them lies in a shared page, the owner should know, and this says where.
#pragma once
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "analysis/pages.hpp"
#include "format/core_file.hpp"
#include "format/memory_view.hpp"

namespace pvdump::analysis {

enum class PageOrigin {
    Exported,    // secure page, exported encrypted by the Ultravisor
    Shared,      // shared with the host: dumped in clear, host-supplied
    Zero,        // flagged zero: reads as zeros whatever the file holds
    Unverified,  // invalid state or no pv_mem_meta entry (only with --force)
};
// "exported", "shared", "zero", "unverified".
const char* page_origin_name(PageOrigin origin);

// Page states of a sealed dump, from pv_mem_meta (no key needed).
class PageOrigins {
public:
    // Error(Format) when the PT_LOADs or pv_mem_meta are malformed.
    explicit PageOrigins(const format::CoreFile& sealed) : index_(sealed) {}
    // From an index already built (a copy of its block list; pv_mem_meta stays in place).
    explicit PageOrigins(const detail::PageIndex& index) : index_(index) {}
    PageOrigin at(std::uint64_t paddr) const;

private:
    detail::PageIndex index_;
};

// Told which structure the reads that follow belong to.
class ReadLabels {
public:
    virtual ~ReadLabels() = default;
    virtual void begin(std::string_view structure) = 0;
};

// A MemoryView that remembers, per structure, which pages were read (and the
// first address read in each). Reads of the absolute lowcore's VMCOREINFO and
// os_info pointers (0xe0c..0xe1f) are always filed as "absolute lowcore".
// Bounded: at most kMaxPages distinct (structure, page) pairs are kept.
class TracedMemory final : public format::MemoryView, public ReadLabels {
public:
    static constexpr std::size_t kMaxPages = 1u << 20;
    struct Read {
        std::string structure;
        std::uint64_t paddr;  // first address read in the page
    };
    explicit TracedMemory(const format::MemoryView& inner) : inner_(inner) {}
    void begin(std::string_view structure) override { label_ = structure; }
    bool contains(std::uint64_t paddr, std::uint64_t size) const override { return inner_.contains(paddr, size); }
    void read(std::uint64_t paddr, std::span<std::uint8_t> out) const override;
    const std::vector<Read>& reads() const { return reads_; }

private:
    void note(const std::string& structure, std::uint64_t paddr) const;
    const format::MemoryView& inner_;
    std::string label_ = "guest memory";
    mutable std::vector<Read> reads_;
    mutable std::set<std::pair<std::string, std::uint64_t>> seen_;  // (structure, page)
};

// A structure read (in part) from a shared page.
struct HostSupplied {
    std::string structure;
    std::uint64_t paddr;  // the first address read in that page
    // One line: "<structure> at guest address 0x...: read from a shared page (the host supplied it in clear and could have chosen it)".
    std::string message() const;
};
// The reads of `traced` that lie in shared pages, in read order.
std::vector<HostSupplied> host_supplied(const TracedMemory& traced, const PageOrigins& origins);

// Per-CPU lowcores (8 KiB at each prefix) that lie in shared pages.
std::vector<HostSupplied> shared_prefix_pages(const std::vector<std::pair<unsigned, std::uint32_t>>& cpu_prefixes,
                                              const PageOrigins& origins);

}  // namespace pvdump::analysis
