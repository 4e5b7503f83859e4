#include "format/memory_view.hpp"

#include "format/bytes.hpp"

namespace pvdump::format {

std::uint64_t MemoryView::read_be64(std::uint64_t paddr) const {
    std::uint8_t b[8];
    read(paddr, b);
    return load_be64(b);
}

std::uint32_t MemoryView::read_be32(std::uint64_t paddr) const {
    std::uint8_t b[4];
    read(paddr, b);
    return load_be32(b);
}

std::vector<std::uint8_t> MemoryView::read_bytes(std::uint64_t paddr, std::uint64_t size) const {
    if (!contains(paddr, size))
        fail(ErrorCode::Format, "guest memory [" + hex(paddr) + ", size " + hex(size) + "] is not in the dump");
    std::vector<std::uint8_t> out(size);
    read(paddr, out);
    return out;
}

}  // namespace pvdump::format
