// Internal to decryptor/: the PT_LOAD pages of a sealed dump and their tweak
// components, shared by the page plan, the page-by-page memory view and the
// parallel decryption.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "format/core_file.hpp"

namespace pvdump::analysis::detail {

struct Block {
    std::uint64_t paddr;     // page-aligned
    std::uint64_t pages;     // memsz / 4096
    std::uint64_t offset;    // file offset of the first page
    std::uint64_t present;   // pages backed by the file (filesz / 4096)
};

class PageIndex {
public:
    // Checks page alignment of every PT_LOAD; reads pv_mem_meta in place.
    explicit PageIndex(const format::CoreFile& dump);

    const std::vector<Block>& blocks() const { return blocks_; }
    std::uint64_t total_pages() const { return total_pages_; }
    // The page's 16-byte component, or nullptr when pv_mem_meta does not cover it.
    const std::uint8_t* component(std::uint64_t paddr) const {
        const std::uint64_t idx = paddr / format::kPageSize;
        if (idx >= meta_.size() / format::kTweakSize) return nullptr;
        return meta_.data() + idx * format::kTweakSize;
    }
    // The block holding paddr, or nullptr.
    const Block* find(std::uint64_t paddr) const {
        auto it = std::upper_bound(blocks_.begin(), blocks_.end(), paddr,
                                   [](std::uint64_t a, const Block& b) { return a < b.paddr; });
        if (it == blocks_.begin()) return nullptr;
        --it;
        return (paddr - it->paddr) / format::kPageSize < it->pages ? &*it : nullptr;
    }
    format::Bytes file() const { return file_; }
    const format::CoreFile& dump() const { return *dump_; }
    std::uint64_t meta_size() const { return meta_.size(); }
    // Drops the components of [paddr_begin, paddr_end) from the resident set
    // once a pass is done with them: pv_mem_meta is read in place and would
    // otherwise stay mapped whole (4 GiB for a 1 TiB guest).
    void release_components(std::uint64_t paddr_begin, std::uint64_t paddr_end) const {
        const std::uint64_t entries = meta_.size() / format::kTweakSize;
        const std::uint64_t first = std::min(paddr_begin / format::kPageSize, entries);
        const std::uint64_t last = std::min((paddr_end + format::kPageSize - 1) / format::kPageSize, entries);
        if (last > first)
            dump_->release(meta_offset_ + first * format::kTweakSize, (last - first) * format::kTweakSize);
    }

private:
    const format::CoreFile* dump_;
    format::Bytes file_;
    format::Bytes meta_;
    std::uint64_t meta_offset_ = 0;  // file offset of pv_mem_meta
    std::vector<Block> blocks_;  // sorted by address
    std::uint64_t total_pages_ = 0;
};

inline void make_tweak(const std::uint8_t* component, const std::uint8_t* nonce, std::uint8_t out[16]) {
    for (int i = 0; i < 16; ++i) out[i] = component[i] | nonce[i];
}

}  // namespace pvdump::analysis::detail
