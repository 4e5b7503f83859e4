// Random access to guest physical memory, whatever holds it: a plain vmcore,
// a sealed dump decrypted page by page, a generated guest.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace pvdump::format {

class MemoryView {
public:
    virtual ~MemoryView() = default;
    // True when every byte of [paddr, paddr+size) is backed by the dump.
    virtual bool contains(std::uint64_t paddr, std::uint64_t size) const = 0;
    // Copies guest physical memory; throws Error(Format) naming the address
    // when part of the range is not in the dump.
    virtual void read(std::uint64_t paddr, std::span<std::uint8_t> out) const = 0;

    std::uint64_t read_be64(std::uint64_t paddr) const;
    std::uint32_t read_be32(std::uint64_t paddr) const;
    std::vector<std::uint8_t> read_bytes(std::uint64_t paddr, std::uint64_t size) const;
};

}  // namespace pvdump::format
