// A guest of `size` bytes for the fuzz targets whose every byte is host-chosen:
// it reads as zeros except where the input placed bytes, so any pointer below
// `size` leads somewhere readable and only the reader's own limits stop it.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <span>
#include <vector>

#include "format/error.hpp"
#include "format/memory_view.hpp"

namespace fuzzing {

class SparseMemory final : public pvdump::format::MemoryView {
public:
    static constexpr std::uint64_t kPage = 4096;
    explicit SparseMemory(std::uint64_t size) : size_(size) {}
    void place(std::uint64_t addr, const std::uint8_t* p, std::size_t n) {
        for (std::size_t i = 0; i < n && addr + i < size_; ++i) {
            auto& page = pages_[(addr + i) / kPage];
            if (page.empty()) page.resize(kPage);
            page[(addr + i) % kPage] = p[i];
        }
    }
    bool contains(std::uint64_t paddr, std::uint64_t size) const override {
        return paddr <= size_ && size <= size_ - paddr;
    }
    void read(std::uint64_t paddr, std::span<std::uint8_t> out) const override {
        if (!contains(paddr, out.size())) pvdump::fail(pvdump::ErrorCode::Format, "guest address out of the fuzz guest");
        std::size_t done = 0;
        while (done < out.size()) {
            const std::uint64_t a = paddr + done;
            const std::size_t n = std::size_t(std::min<std::uint64_t>(out.size() - done, kPage - a % kPage));
            auto it = pages_.find(a / kPage);
            if (it == pages_.end())
                std::memset(out.data() + done, 0, n);
            else
                std::memcpy(out.data() + done, it->second.data() + a % kPage, n);
            done += n;
        }
    }

private:
    std::uint64_t size_;
    std::map<std::uint64_t, std::vector<std::uint8_t>> pages_;
};

}  // namespace fuzzing
