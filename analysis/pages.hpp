// Internal to decryptor/: the PT_LOAD pages of a sealed dump and their tweak
// components, shared by the page plan, the page-by-page memory view and the
// parallel decryption.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
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
    // Lenient: the first problem (Error(Format) in the constructor) goes to
    // `sink` and the result is empty; with a null sink it throws.
    static std::optional<PageIndex> make(const format::CoreFile& dump, format::Diagnostics* sink);

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
        std::uint64_t offset, size;
        if (component_range(paddr_begin, paddr_end, offset, size)) dump_->release(offset, size);
    }
    // The file range of the components of [paddr_begin, paddr_end) that
    // pv_mem_meta has (contiguous: it is indexed by page address), starting
    // with paddr_begin's; false when it has none of them. For reading them
    // without the mapping.
    bool component_range(std::uint64_t paddr_begin, std::uint64_t paddr_end, std::uint64_t& offset,
                         std::uint64_t& size) const {
        const std::uint64_t entries = meta_.size() / format::kTweakSize;
        const std::uint64_t first = std::min(paddr_begin / format::kPageSize, entries);
        const std::uint64_t last = std::min((paddr_end + format::kPageSize - 1) / format::kPageSize, entries);
        if (last <= first) return false;
        offset = meta_offset_ + first * format::kTweakSize;
        size = (last - first) * format::kTweakSize;
        return true;
    }

private:
    explicit PageIndex(const format::CoreFile* dump) : dump_(dump), file_(dump->bytes()) {}
    const format::CoreFile* dump_;
    format::Bytes file_;
    format::Bytes meta_;
    std::uint64_t meta_offset_ = 0;  // file offset of pv_mem_meta
    std::vector<Block> blocks_;  // sorted by address
    std::uint64_t total_pages_ = 0;
};

// pv_mem_meta read in file order without the mapping: entries come from
// CoreFile::read_at (pread on an opened file) in windows of 64 KiB, so a pass
// over every page neither faults the section in nor grows the resident set.
class ComponentCursor {
public:
    explicit ComponentCursor(const PageIndex& idx) : idx_(idx) {}
    // As PageIndex::component(paddr); valid until the next call.
    const std::uint8_t* at(std::uint64_t paddr) {
        const std::uint64_t i = paddr / format::kPageSize;
        if (i >= lo_ && i < hi_) return buf_.data() + (i - lo_) * format::kTweakSize;
        std::uint64_t offset, size;
        if (!idx_.component_range(paddr, paddr + kWindow * format::kPageSize, offset, size)) return nullptr;
        buf_.resize(size);
        idx_.dump().read_at(offset, format::MutableBytes(buf_.data(), buf_.size()));
        lo_ = i;
        hi_ = i + size / format::kTweakSize;
        return buf_.data();
    }

private:
    static constexpr std::uint64_t kWindow = 4096;  // entries: 64 KiB
    const PageIndex& idx_;
    std::vector<std::uint8_t> buf_;
    std::uint64_t lo_ = 0, hi_ = 0;
};

inline void make_tweak(const std::uint8_t* component, const std::uint8_t* nonce, std::uint8_t out[16]) {
    // Two 8-byte ORs, not a byte loop: the tweak is read back as two 8-byte
    // words right away (hashing), and byte stores cannot forward to them.
    std::uint64_t c[2], n[2];
    std::memcpy(c, component, 16);
    std::memcpy(n, nonce, 16);
    c[0] |= n[0];
    c[1] |= n[1];
    std::memcpy(out, c, 16);
}

}  // namespace pvdump::analysis::detail
