#include "format/bytes.hpp"

namespace pvdump::format {

std::string Reader::overrun(std::uint64_t offset, std::uint64_t size, std::string_view field) const {
    if (range_fits(offset, size, bytes_.size())) return {};
    return what_ + ": " + std::string(field) + " [offset " + hex(base_ + offset) + ", size " + hex(size) +
           "] runs past the end of " + what_ + " (size " + hex(bytes_.size()) + ")";
}

void Reader::require(std::uint64_t offset, std::uint64_t size, std::string_view field) const {
    if (range_fits(offset, size, bytes_.size())) return;
    fail(ErrorCode::Format, overrun(offset, size, field));
}

void Writer::require(std::uint64_t offset, std::uint64_t size, std::string_view field) const {
    if (range_fits(offset, size, bytes_.size())) return;
    fail(ErrorCode::Internal, std::string(what_) + ": encoding " + std::string(field) + " [offset " + hex(offset) +
                                  ", size " + hex(size) + "] runs past the end of the buffer (size " +
                                  hex(bytes_.size()) + ")");
}

void Writer::put(std::uint64_t offset, Bytes v, std::string_view field) {
    require(offset, v.size(), field);
    if (!v.empty()) std::memcpy(bytes_.data() + offset, v.data(), v.size());
}

// The one hex formatter: hex(), hex_fixed() and to_hex() all end here.
namespace {
constexpr char kDigits[] = "0123456789abcdef";
}  // namespace

std::string to_hex(Bytes bytes) {
    std::string s;
    s.reserve(bytes.size() * 2);
    for (auto b : bytes) {
        s.push_back(kDigits[b >> 4]);
        s.push_back(kDigits[b & 15]);
    }
    return s;
}

std::string hex_fixed(std::uint64_t value, int digits) {
    std::string s;
    do {
        s.push_back(kDigits[value & 15]);
        value >>= 4;
    } while (value != 0);
    while (int(s.size()) < digits) s.push_back('0');
    s += "x0";
    return std::string(s.rbegin(), s.rend());
}

}  // namespace pvdump::format

namespace pvdump {

std::string hex(unsigned long long value) { return format::hex_fixed(value, 0); }

}  // namespace pvdump::format
