// A read-only memory mapping of a whole file (the input is never opened for writing).
#pragma once
#include <cstdint>
#include <string>

#include "format/bytes.hpp"

namespace pvdump::format {

class MappedFile {
public:
    // Throws Error(Io) naming the path when it cannot be opened or mapped.
    explicit MappedFile(const std::string& path);
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    MappedFile(MappedFile&& other) noexcept;
    MappedFile& operator=(MappedFile&&) = delete;
    ~MappedFile();

    Bytes bytes() const { return {data_, size_}; }
    std::uint64_t size() const { return size_; }
    const std::string& path() const { return path_; }
    // Hints the kernel that a range will be read sequentially / soon.
    void advise_sequential() const;

private:
    std::string path_;
    const std::uint8_t* data_ = nullptr;
    std::uint64_t size_ = 0;
};

}  // namespace pvdump::format
