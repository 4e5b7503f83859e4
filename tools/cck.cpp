// The CCK file loader, shared by pvseal (which seals with the key) and the
// owner's tools (which open with it).
#include "tools/cck.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "format/error.hpp"

namespace pvdump::tools {
using namespace format;

SecretBytes load_cck(const std::string& path, bool* group_readable) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(ErrorCode::Usage, "cannot open the CCK file '" + path + "': " + std::strerror(errno));
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        fail(ErrorCode::Usage, "the CCK file '" + path + "' is not a regular file");
    }
    if (group_readable) *group_readable = (st.st_mode & (S_IRGRP | S_IROTH)) != 0;
    SecretBytes key(kCckSize + 1);  // one extra byte tells a long file from an exact one
    std::size_t got = 0;
    while (got < key.size()) {
        ssize_t n = ::read(fd, key.data() + got, key.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int e = errno;
            ::close(fd);
            fail(ErrorCode::Usage, "cannot read the CCK file '" + path + "': " + std::strerror(e));
        }
        if (n == 0) break;
        got += std::size_t(n);
    }
    ::close(fd);
    if (got != kCckSize || std::uint64_t(st.st_size) != kCckSize)
        fail(ErrorCode::Usage, "the CCK file '" + path + "' holds " + std::to_string(st.st_size) +
                                   " bytes; a Customer Communication Key is exactly 32 bytes");
    return SecretBytes(Bytes(key.data(), kCckSize));
}

}  // namespace pvdump::tools
