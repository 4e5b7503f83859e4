#include "format/bytes.hpp"

namespace pvdump::format {

void Reader::require(std::uint64_t offset, std::uint64_t size, std::string_view field) const {
    if (range_fits(offset, size, bytes_.size())) return;
    std::string msg = what_ + ": " + std::string(field) + " [offset " + hex(base_ + offset) + ", size " +
                      hex(size) + "] runs past the end of " + what_ + " (size " + hex(bytes_.size()) + ")";
    fail(ErrorCode::Format, msg);
}

std::string to_hex(Bytes bytes) {
    static const char digits[] = "0123456789abcdef";
    std::string s;
    s.reserve(bytes.size() * 2);
    for (auto b : bytes) {
        s.push_back(digits[b >> 4]);
        s.push_back(digits[b & 15]);
    }
    return s;
}

}  // namespace pvdump::format
