// A read-only memory mapping of a whole file (the input is never opened for writing).
#pragma once
#include <cstdint>
#include <string>

#include "format/bytes.hpp"

namespace pvdump::format {

// pread until `size` bytes are in, the file ends or a read fails (EINTR is
// retried): the number of bytes read, with `err` the errno of a failed read
// (0 when it was the end of the file or all is read). The callers word the error.
std::size_t pread_full(int fd, std::uint64_t offset, std::uint8_t* out, std::size_t size, int& err);

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
    // The open descriptor, for bulk reads with pread: they keep the resident
    // set small where touching the mapping would grow it with the file.
    int fd() const { return fd_; }
    const std::string& path() const { return path_; }
    // Hints the kernel that a range will be read sequentially / soon.
    void advise_sequential() const;
    // Maps a range's pages in one go before it is read (fewer page faults).
    void prefetch(std::uint64_t offset, std::uint64_t size) const;
    // Drops a range's pages from this process's mapping after use: the
    // resident set stays small whatever the file's size (the page cache keeps them).
    void release(std::uint64_t offset, std::uint64_t size) const;
    // pread of a range (checked against the size); Error(Io) on failure.
    void read_at(std::uint64_t offset, MutableBytes out) const;

private:
    std::string path_;
    int fd_ = -1;
    const std::uint8_t* data_ = nullptr;
    std::uint64_t size_ = 0;
};

}  // namespace pvdump::format
