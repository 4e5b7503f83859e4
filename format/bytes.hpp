// Big-endian field access and a bounds-checked view over bytes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "format/error.hpp"

namespace pvdump::format {

using Bytes = std::span<const std::uint8_t>;
using MutableBytes = std::span<std::uint8_t>;

inline std::uint16_t load_be16(const std::uint8_t* p) { return std::uint16_t((p[0] << 8) | p[1]); }
inline std::uint32_t load_be32(const std::uint8_t* p) {
    return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
}
inline std::uint64_t load_be64(const std::uint8_t* p) {
    return (std::uint64_t(load_be32(p)) << 32) | load_be32(p + 4);
}
inline void store_be16(std::uint8_t* p, std::uint16_t v) { p[0] = std::uint8_t(v >> 8); p[1] = std::uint8_t(v); }
inline void store_be32(std::uint8_t* p, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = std::uint8_t(v >> (24 - 8 * i));
}
inline void store_be64(std::uint8_t* p, std::uint64_t v) {
    store_be32(p, std::uint32_t(v >> 32));
    store_be32(p + 4, std::uint32_t(v));
}

// a + b, or nullopt-like failure reported through the bool.
inline bool add_overflows(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
    return __builtin_add_overflow(a, b, &out);
}
inline bool mul_overflows(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
    return __builtin_mul_overflow(a, b, &out);
}

// True when [offset, offset+size) lies inside [0, limit), without overflow.
inline bool range_fits(std::uint64_t offset, std::uint64_t size, std::uint64_t limit) {
    return offset <= limit && size <= limit - offset;
}

// A checked view: every read names the field it reads, so a failure says what
// was being read, where, and how large the view is. `base` is the view's
// offset in its file, used only for messages.
class Reader {
public:
    Reader(Bytes bytes, std::string what, std::uint64_t base = 0)
        : bytes_(bytes), what_(std::move(what)), base_(base) {}

    std::size_t size() const { return bytes_.size(); }
    Bytes bytes() const { return bytes_; }
    const std::string& what() const { return what_; }
    std::uint64_t base() const { return base_; }

    void require(std::uint64_t offset, std::uint64_t size, std::string_view field) const;
    // The message require() would throw, or "" when [offset, offset+size) is inside.
    std::string overrun(std::uint64_t offset, std::uint64_t size, std::string_view field) const;
    std::uint8_t u8(std::uint64_t offset, std::string_view field) const {
        require(offset, 1, field);
        return bytes_[offset];
    }
    std::uint16_t u16(std::uint64_t offset, std::string_view field) const {
        require(offset, 2, field);
        return load_be16(bytes_.data() + offset);
    }
    std::uint32_t u32(std::uint64_t offset, std::string_view field) const {
        require(offset, 4, field);
        return load_be32(bytes_.data() + offset);
    }
    std::uint64_t u64(std::uint64_t offset, std::string_view field) const {
        require(offset, 8, field);
        return load_be64(bytes_.data() + offset);
    }
    Bytes sub(std::uint64_t offset, std::uint64_t size, std::string_view field) const {
        require(offset, size, field);
        return bytes_.subspan(offset, size);
    }

private:
    Bytes bytes_;
    std::string what_;
    std::uint64_t base_;
};

// The checked counterpart of Reader for encoders: every store is bounds-checked
// against the view (a failure is a bug in the caller: Error(Internal)).
class Writer {
public:
    Writer(MutableBytes bytes, std::string_view what) : bytes_(bytes), what_(what) {}
    std::size_t size() const { return bytes_.size(); }
    void require(std::uint64_t offset, std::uint64_t size, std::string_view field) const;
    void u8(std::uint64_t offset, std::uint8_t v, std::string_view field) {
        require(offset, 1, field);
        bytes_[offset] = v;
    }
    void u16(std::uint64_t offset, std::uint16_t v, std::string_view field) {
        require(offset, 2, field);
        store_be16(bytes_.data() + offset, v);
    }
    void u32(std::uint64_t offset, std::uint32_t v, std::string_view field) {
        require(offset, 4, field);
        store_be32(bytes_.data() + offset, v);
    }
    void u64(std::uint64_t offset, std::uint64_t v, std::string_view field) {
        require(offset, 8, field);
        store_be64(bytes_.data() + offset, v);
    }
    void put(std::uint64_t offset, Bytes v, std::string_view field);
    MutableBytes sub(std::uint64_t offset, std::uint64_t size, std::string_view field) {
        require(offset, size, field);
        return bytes_.subspan(offset, size);
    }

private:
    MutableBytes bytes_;
    std::string_view what_;
};

// Lower-case hex digits of every byte, no prefix ("00ff...").
std::string to_hex(Bytes bytes);
// "0x" and exactly `digits` hex digits, zero-padded ("0x0000000000001000").
std::string hex_fixed(std::uint64_t value, int digits);

// True when every byte is zero (word at a time; size a multiple of 8).
inline bool is_all_zero(const std::uint8_t* p, std::size_t size) {
    std::uint64_t acc = 0;
    for (std::size_t i = 0; i < size; i += 8) {
        std::uint64_t v;
        std::memcpy(&v, p + i, 8);
        acc |= v;
    }
    return acc == 0;
}

}  // namespace pvdump::format
