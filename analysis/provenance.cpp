#include "analysis/provenance.hpp"

#include "format/bytes.hpp"
#include "format/pv.hpp"
#include "guest/s390.hpp"

namespace pvdump::analysis {
using namespace format;

const char* page_origin_name(PageOrigin origin) {
    switch (origin) {
    case PageOrigin::Exported: return "exported";
    case PageOrigin::Shared: return "shared";
    case PageOrigin::Zero: return "zero";
    case PageOrigin::Unverified: return "unverified";
    }
    return "unverified";
}

PageOrigin PageOrigins::at(std::uint64_t paddr) const {
    const std::uint8_t* c = index_.component(paddr & ~std::uint64_t(kPageSize - 1));
    if (!c || !index_.find(paddr)) return PageOrigin::Unverified;
    switch (classify_component(c).state) {
    case PageState::Encrypted: return PageOrigin::Exported;
    case PageState::Shared: return PageOrigin::Shared;
    case PageState::Zero: return PageOrigin::Zero;
    case PageState::Invalid: return PageOrigin::Unverified;
    }
    return PageOrigin::Unverified;
}

void TracedMemory::note(const std::string& structure, std::uint64_t paddr) const {
    if (seen_.size() >= kMaxPages) return;
    if (seen_.emplace(structure, paddr / kPageSize).second) reads_.push_back({structure, paddr});
}

void TracedMemory::read(std::uint64_t paddr, std::span<std::uint8_t> out) const {
    inner_.read(paddr, out);  // throws for memory not in the dump: nothing to note then
    if (out.empty()) return;
    const std::uint64_t last = paddr + (out.size() - 1);
    if (paddr >= guest::kLowcoreVmcoreInfo && last < guest::kLowcoreOsInfo + 8) {
        note("absolute lowcore (VMCOREINFO and os_info pointers at 0xe0c/0xe18)", paddr);
        return;
    }
    for (std::uint64_t a = paddr;;) {
        note(label_, a);
        const std::uint64_t next = (a | (kPageSize - 1)) + 1;
        if (next == 0 || next > last) break;
        a = next;
    }
}

std::string HostSupplied::message() const {
    return structure + " at guest address " + hex(paddr) +
           ": read from a shared page (the host supplied it in clear and could have chosen it)";
}

std::vector<HostSupplied> host_supplied(const TracedMemory& traced, const PageOrigins& origins) {
    std::vector<HostSupplied> out;
    for (const auto& r : traced.reads())
        if (origins.at(r.paddr) == PageOrigin::Shared) out.push_back({r.structure, r.paddr});
    return out;
}

std::vector<HostSupplied> shared_prefix_pages(const std::vector<std::pair<unsigned, std::uint32_t>>& cpu_prefixes,
                                              const PageOrigins& origins) {
    std::vector<HostSupplied> out;
    for (const auto& [cpu, prefix] : cpu_prefixes)
        for (std::uint64_t a = prefix; a < std::uint64_t(prefix) + 2 * kPageSize; a += kPageSize)
            if (origins.at(a) == PageOrigin::Shared)
                out.push_back({"CPU " + std::to_string(cpu) + "'s lowcore (prefix area)", a});
    return out;
}

}  // namespace pvdump::analysis
