#include "format/output_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <vector>

namespace pvdump::format {
namespace {

// Temporary files to remove if a signal arrives. A fixed array: the handler
// may only touch async-signal-safe state.
constexpr int kMaxTemps = 8;
char g_temps[kMaxTemps][4096];
std::atomic<bool> g_temp_used[kMaxTemps];

// SIGINT, SIGTERM, SIGHUP: remove the named temporaries (an O_TMPFILE output
// has no name to remove), then die by the signal itself, so that the parent
// sees it (a shell reports 128 + the signal: 130, 143, 129). There is no
// "interrupted" error to poll for: the handler never returns.
extern "C" void on_signal(int sig) {
    for (int i = 0; i < kMaxTemps; ++i)
        if (g_temp_used[i].load()) unlink(g_temps[i]);
    // Restore the default action and re-raise, so the exit status says which
    // signal ended us (after the temporaries are gone).
    signal(sig, SIG_DFL);
    raise(sig);
}

int register_temp(const std::string& path) {
    if (path.size() >= sizeof g_temps[0]) return -1;
    for (int i = 0; i < kMaxTemps; ++i) {
        if (!g_temp_used[i].load()) {
            std::memcpy(g_temps[i], path.c_str(), path.size() + 1);
            g_temp_used[i].store(true);
            return i;
        }
    }
    return -1;
}

void unregister_temp(const std::string& path) {
    for (int i = 0; i < kMaxTemps; ++i)
        if (g_temp_used[i].load() && path == g_temps[i]) g_temp_used[i].store(false);
}

[[noreturn]] void io_fail(const std::string& what, const std::string& path, int err) {
    fail(ErrorCode::Io, what + " '" + path + "': " + std::strerror(err));
}

std::string dir_of(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}
std::string base_of(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Creates `.NAME.tmp-XXXXXX` (mode 0600) beside `path`; returns its fd.
int make_named_temp(const std::string& path, std::string& temp) {
    std::string tmpl = dir_of(path) + "/." + base_of(path) + ".tmp-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    // mkstemp creates the file 0600 (owner only).
    int fd = mkostemp(buf.data(), O_CLOEXEC);
    if (fd < 0) io_fail("cannot create a temporary file next to", path, errno);
    temp = buf.data();
    return fd;
}

// Gives the unnamed (O_TMPFILE) file open as `fd` the name `path`, which must
// not exist. Through /proc/self/fd, which needs no privilege (AT_EMPTY_PATH
// needs CAP_DAC_READ_SEARCH). Returns false with errno set.
bool link_unnamed(int fd, const std::string& path) {
    const std::string proc = "/proc/self/fd/" + std::to_string(fd);
    if (linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW) == 0) return true;
    if (errno == ENOENT && access("/proc/self/fd", F_OK) != 0)
        return linkat(fd, "", AT_FDCWD, path.c_str(), AT_EMPTY_PATH) == 0;
    return false;
}

}  // namespace

void install_interrupt_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGHUP, &sa, nullptr);
    // A closed pipe on `-o -` is an I/O error, not a silent death.
    signal(SIGPIPE, SIG_IGN);
    // Past RLIMIT_FSIZE, write() fails with EFBIG (a clean I/O error that
    // removes the temporary) instead of SIGXFSZ killing us mid-file.
    signal(SIGXFSZ, SIG_IGN);
}

OutputFile::OutputFile(const std::string& path, bool overwrite) : path_(path) {
    if (path == "-") {
        stream_ = true;
        fd_ = STDOUT_FILENO;
        return;
    }
    struct stat st {};
    if (stat(path.c_str(), &st) == 0) {
        if (S_ISDIR(st.st_mode)) fail(ErrorCode::Io, "output '" + path + "' is a directory");
        if (!S_ISREG(st.st_mode)) {
            // A device or a pipe (/dev/null, a FIFO): written in order, never
            // replaced by a rename.
            fd_ = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
            if (fd_ < 0) io_fail("cannot open", path, errno);
            stream_ = true;
            owns_stream_ = true;
            return;
        }
        if (!overwrite) fail(ErrorCode::Exists, "output '" + path + "' exists (use --force to replace it)");
    }
    // An unnamed file in the target directory (O_TMPFILE): until commit()
    // links it in, no directory entry exists, so nothing is left behind even
    // by SIGKILL or a power cut. Mode 0600: plaintext never goes wider.
    fd_ = ::open(dir_of(path).c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
    if (fd_ >= 0) return;
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL && errno != ENOSYS)
        io_fail("cannot create a temporary file next to", path, errno);
    // The filesystem has no O_TMPFILE (NFS, FUSE, older kernels): a named,
    // hidden temporary, removed on error and on SIGINT/SIGTERM (not SIGKILL).
    fd_ = make_named_temp(path, temp_);
    register_temp(temp_);
}

OutputFile::~OutputFile() {
    if (stream_) {
        if (owns_stream_ && fd_ >= 0) ::close(fd_);
        return;
    }
    if (fd_ >= 0) ::close(fd_);
    if (!committed_ && !temp_.empty()) {
        unlink(temp_.c_str());
        unregister_temp(temp_);
    }
}

void OutputFile::pwrite_all(Bytes data, std::uint64_t offset) {
    if (stream_) fail(ErrorCode::Internal, "positional write on a stream");
    const std::uint8_t* p = data.data();
    std::size_t left = data.size();
    while (left > 0) {
        ssize_t n = ::pwrite(fd_, p, left, off_t(offset));
        if (n < 0) {
            if (errno == EINTR) continue;
            io_fail("cannot write", path_, errno);
        }
        p += n;
        left -= std::size_t(n);
        offset += std::uint64_t(n);
    }
}

void OutputFile::write_all(Bytes data) {
    const std::uint8_t* p = data.data();
    std::size_t left = data.size();
    while (left > 0) {
        ssize_t n = ::write(fd_, p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            io_fail("cannot write", stream_ ? std::string("standard output") : path_, errno);
        }
        p += n;
        left -= std::size_t(n);
    }
    position_ += data.size();
}

void OutputFile::writev_all(std::span<iovec> left) {
    std::size_t first = 0;
    while (first < left.size()) {
        const int count = int(std::min<std::size_t>(left.size() - first, IOV_MAX));
        const ssize_t n = ::writev(fd_, left.data() + first, count);
        if (n < 0) {
            if (errno == EINTR) continue;
            io_fail("cannot write", stream_ ? std::string("standard output") : path_, errno);
        }
        position_ += std::uint64_t(n);
        for (std::size_t done = std::size_t(n); done > 0;) {
            iovec& v = left[first];
            const std::size_t take = std::min(done, v.iov_len);
            v.iov_base = static_cast<std::uint8_t*>(v.iov_base) + take;
            v.iov_len -= take;
            done -= take;
            if (v.iov_len == 0) ++first;
        }
        while (first < left.size() && left[first].iov_len == 0) ++first;
    }
}

void OutputFile::write_zeros(std::uint64_t count) {
    static const std::uint8_t zeros[65536] = {};
    if (!stream_) {
        position_ += count;
        if (lseek(fd_, off_t(position_), SEEK_SET) < 0) io_fail("cannot seek in", path_, errno);
        return;
    }
    while (count > 0) {
        const std::size_t n = std::size_t(std::min<std::uint64_t>(count, sizeof zeros));
        write_all(Bytes(zeros, n));
        count -= n;
    }
}

void OutputFile::start_writeback(std::uint64_t offset, std::uint64_t size) {
    if (stream_ || fd_ < 0) return;
    sync_file_range(fd_, off_t(offset), off_t(size), SYNC_FILE_RANGE_WRITE);
}

void OutputFile::set_size(std::uint64_t size) {
    if (stream_) return;
    if (ftruncate(fd_, off_t(size)) != 0) io_fail("cannot set the size of", path_, errno);
}

void OutputFile::commit() {
    if (stream_) {
        committed_ = true;
        return;
    }
    if (fsync(fd_) != 0) io_fail("cannot flush", path_, errno);
    if (temp_.empty()) {
        // Unnamed file: link it in. Over an existing target (--force) it is
        // linked under a hidden name and renamed over the target, so the
        // target is replaced atomically by a complete file.
        if (!link_unnamed(fd_, path_)) {
            if (errno != EEXIST) io_fail("cannot link the output file as", path_, errno);
            for (int attempt = 0;; ++attempt) {
                char suffix[32];
                std::snprintf(suffix, sizeof suffix, ".tmp-%d-%d", int(getpid()), attempt);
                temp_ = dir_of(path_) + "/." + base_of(path_) + suffix;
                if (link_unnamed(fd_, temp_)) break;
                if (errno != EEXIST || attempt > 100) io_fail("cannot link the output file beside", path_, errno);
            }
            register_temp(temp_);
            if (rename(temp_.c_str(), path_.c_str()) != 0) {
                const int e = errno;
                unlink(temp_.c_str());
                unregister_temp(temp_);
                io_fail("cannot rename the temporary file to", path_, e);
            }
            unregister_temp(temp_);
            temp_.clear();
        }
    }
    if (::close(fd_) != 0) {
        fd_ = -1;
        io_fail("cannot close", path_, errno);
    }
    fd_ = -1;
    if (!temp_.empty()) {
        if (rename(temp_.c_str(), path_.c_str()) != 0) io_fail("cannot rename the temporary file to", path_, errno);
        unregister_temp(temp_);
    }
    committed_ = true;
    // Make the rename itself durable.
    int dfd = ::open(dir_of(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        ::close(dfd);
    }
}

void write_file_atomic(const std::string& path, Bytes data, unsigned mode, bool overwrite) {
    OutputFile out(path, overwrite);
    if (out.is_stream()) fail(ErrorCode::InvalidArgument, "this file cannot be written to standard output");
    out.write_all(data);
    if (fchmod(out.fd(), mode_t(mode)) != 0) io_fail("cannot set the mode of", path, errno);
    out.commit();
}

std::vector<std::uint8_t> read_small_file(const std::string& path, std::uint64_t max_size) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) io_fail("cannot open", path, errno);
    std::vector<std::uint8_t> out;
    std::uint8_t buf[4096];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            ::close(fd);
            io_fail("cannot read", path, e);
        }
        if (n == 0) break;
        out.insert(out.end(), buf, buf + n);
        if (out.size() > max_size) {
            ::close(fd);
            fail(ErrorCode::Format, "'" + path + "' is larger than " + std::to_string(max_size) + " bytes");
        }
    }
    ::close(fd);
    return out;
}

}  // namespace pvdump::format
