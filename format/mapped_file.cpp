#include "format/mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace pvdump::format {

MappedFile::MappedFile(const std::string& path) : path_(path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(ErrorCode::Io, "cannot open '" + path + "': " + std::strerror(errno));
    struct stat st {};
    if (fstat(fd, &st) != 0) {
        int e = errno;
        ::close(fd);
        fail(ErrorCode::Io, "cannot stat '" + path + "': " + std::strerror(e));
    }
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
        ::close(fd);
        fail(ErrorCode::Io, "'" + path + "' is not a regular file");
    }
    size_ = std::uint64_t(st.st_size);
    if (size_ > 0) {
        void* p = mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, 0);
        // A direct-I/O FUSE file (pvdecrypt --mount's dump.elf) refuses
        // MAP_SHARED; a private read-only mapping reads the same bytes.
        if (p == MAP_FAILED && errno == ENODEV) p = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            ::close(fd);
            fail(ErrorCode::Io, "cannot map '" + path + "': " + std::strerror(e));
        }
        data_ = static_cast<const std::uint8_t*>(p);
    }
    fd_ = fd;
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : path_(std::move(other.path_)), fd_(other.fd_), data_(other.data_), size_(other.size_) {
    other.fd_ = -1;
    other.data_ = nullptr;
    other.size_ = 0;
}

MappedFile::~MappedFile() {
    if (data_) munmap(const_cast<std::uint8_t*>(data_), size_);
    if (fd_ >= 0) ::close(fd_);
}

void MappedFile::advise_sequential() const {
    if (fd_ >= 0) posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
}

namespace {
// The page-aligned span covering [offset, offset+size) inside the mapping.
bool page_span(std::uint64_t offset, std::uint64_t size, std::uint64_t file_size, std::uint64_t& start, std::uint64_t& len) {
    if (size == 0 || !range_fits(offset, size, file_size)) return false;
    const std::uint64_t page = std::uint64_t(sysconf(_SC_PAGESIZE));
    start = offset / page * page;
    len = offset + size - start;
    return true;
}
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
}  // namespace

void MappedFile::prefetch(std::uint64_t offset, std::uint64_t size) const {
    std::uint64_t start, len;
    if (!data_ || !page_span(offset, size, size_, start, len)) return;
    // Older kernels do not know POPULATE_READ: then the faults just happen on access.
    madvise(const_cast<std::uint8_t*>(data_) + start, len, MADV_POPULATE_READ);
}

void MappedFile::release(std::uint64_t offset, std::uint64_t size) const {
    // A page fault maps up to 64 KiB of cached neighbours too (fault-around):
    // pages next to the range, already released by a neighbour's pass, come
    // back with it. Dropping a margin on both sides keeps them from piling up
    // (another reader of the margin just faults its page in again).
    constexpr std::uint64_t kFaultAround = 64 * 1024;
    const std::uint64_t lo = offset > kFaultAround ? offset - kFaultAround : 0;
    const std::uint64_t hi = std::min(size_, range_fits(offset, size, size_) ? offset + size + kFaultAround : size_);
    std::uint64_t start, len;
    if (!data_ || hi <= lo || !page_span(lo, hi - lo, size_, start, len)) return;
    madvise(const_cast<std::uint8_t*>(data_) + start, len, MADV_DONTNEED);
}

void MappedFile::read_at(std::uint64_t offset, MutableBytes out) const {
    if (!range_fits(offset, out.size(), size_))
        fail(ErrorCode::Format, "read of " + hex(out.size()) + " bytes at offset " + hex(offset) + " runs past end of '" + path_ + "'");
    int err = 0;
    const std::size_t done = pread_full(fd_, offset, out.data(), out.size(), err);
    if (err) fail(ErrorCode::Io, "cannot read '" + path_ + "' at offset " + hex(offset + done) + ": " + std::strerror(err));
    if (done < out.size()) fail(ErrorCode::Io, "'" + path_ + "' shrank while being read (offset " + hex(offset + done) + ")");
}

std::size_t pread_full(int fd, std::uint64_t offset, std::uint8_t* out, std::size_t size, int& err) {
    err = 0;
    std::size_t done = 0;
    while (done < size) {
        const ssize_t n = ::pread(fd, out + done, size - done, off_t(offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            err = errno;
            break;
        }
        if (n == 0) break;
        done += std::size_t(n);
    }
    return done;
}

}  // namespace pvdump::format
