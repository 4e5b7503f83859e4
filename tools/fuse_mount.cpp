#include "tools/fuse_mount.hpp"

#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>

#include "format/crypto.hpp"
#include "format/error.hpp"
#include "tools/exit_code.hpp"

#ifdef PVDUMP_HAVE_FUSE
#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#endif

namespace pvdump::tools {

namespace {
std::atomic<bool> g_syslog{false};
int g_ready_fd = -1;
constexpr const char* kFileName = "dump.elf";
}  // namespace

void log_line(const std::string& line) {
    if (g_syslog.load()) syslog(LOG_ERR, "%s", line.c_str());
    else std::cerr << "pvdecrypt: " << line << "\n" << std::flush;
}

void check_mount_point(const MountOptions& o) {
    struct stat st {};
    if (stat(o.dir.c_str(), &st) != 0)
        fail(ErrorCode::Io, "cannot mount on '" + o.dir + "': " + std::strerror(errno));
    if (!S_ISDIR(st.st_mode)) fail(ErrorCode::Io, "cannot mount on '" + o.dir + "': not a directory");
    if (o.allow_other && getuid() != 0) {
        bool permitted = false;
        std::ifstream conf("/etc/fuse.conf");
        std::string line;
        while (std::getline(conf, line)) {
            const auto b = line.find_first_not_of(" \t");
            if (b != std::string::npos && line.compare(b, 16, "user_allow_other") == 0) permitted = true;
        }
        if (!permitted)
            fail(ErrorCode::Usage,
                 "--allow-other: /etc/fuse.conf does not permit it for users other than root (it needs a "
                 "'user_allow_other' line)");
    }
}

std::optional<int> fork_daemon() {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) fail(ErrorCode::Io, std::string("cannot create a pipe: ") + std::strerror(errno));
    std::cout.flush();
    std::cerr.flush();
    const pid_t pid = fork();
    if (pid < 0) fail(ErrorCode::Io, std::string("cannot fork: ") + std::strerror(errno));
    if (pid == 0) {
        close(p[0]);
        g_ready_fd = p[1];
        return std::nullopt;
    }
    close(p[1]);
    char c;
    ssize_t n;
    do n = read(p[0], &c, 1);
    while (n < 0 && errno == EINTR);
    close(p[0]);
    if (n == 1) return 0;  // mounted and detached
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return exit_code(ErrorCode::Internal);
}

void detach_daemon() {
    if (g_ready_fd < 0) return;
    setsid();
    if (chdir("/") != 0) {
    }
    openlog("pvdecrypt", LOG_PID, LOG_DAEMON);
    g_syslog.store(true);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        if (null > 2) close(null);
    }
    const char ok = 0;
    if (write(g_ready_fd, &ok, 1) != 1) {
    }
    close(g_ready_fd);
    g_ready_fd = -1;
}

#ifdef PVDUMP_HAVE_FUSE
bool mount_supported() { return true; }

namespace {

struct Served {
    decryptor::VmcoreReader* reader;
    struct stat file_st;
    struct stat dir_st;
    std::mutex log_mu;
    std::string last_error;
    std::uint64_t repeated = 0;
};
Served* g_served = nullptr;

void log_read_error(std::uint64_t off, std::size_t size, const std::string& what) {
    std::lock_guard lk(g_served->log_mu);
    // The same failure for every read of a large file would flood the log:
    // each distinct message once, then a count.
    if (what == g_served->last_error) {
        const std::uint64_t n = ++g_served->repeated;
        if ((n & (n - 1)) == 0) log_line("error: " + std::to_string(n) + " more reads failed the same way");
        return;
    }
    g_served->last_error = what;
    g_served->repeated = 0;
    log_line("error: read of " + std::string(kFileName) + " (" + std::to_string(size) + " bytes at offset " +
             std::to_string(off) + ") failed with EIO: " + what);
}

// The low-level API: replies go out from the reader's pinned cache slots
// with fuse_reply_iov (one copy, the kernel's into the caller's buffer);
// the high-level API's read copied every byte into a buffer of its own first.
constexpr fuse_ino_t kFileIno = 2;
constexpr double kTimeout = 3600;

const struct stat* stat_of(fuse_ino_t ino) {
    if (ino == FUSE_ROOT_ID) return &g_served->dir_st;
    if (ino == kFileIno) return &g_served->file_st;
    return nullptr;
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
    if (parent != FUSE_ROOT_ID) {
        fuse_reply_err(req, ENOTDIR);
        return;
    }
    if (std::strcmp(name, kFileName) != 0) {
        struct fuse_entry_param none {};  // ino 0: a negative entry, cached like the positive one
        none.entry_timeout = kTimeout;
        fuse_reply_entry(req, &none);
        return;
    }
    struct fuse_entry_param e {};
    e.ino = kFileIno;
    e.attr = g_served->file_st;
    e.attr_timeout = e.entry_timeout = kTimeout;
    fuse_reply_entry(req, &e);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info*) {
    if (const struct stat* st = stat_of(ino)) fuse_reply_attr(req, st, kTimeout);
    else fuse_reply_err(req, ENOENT);
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info*) {
    if (ino != FUSE_ROOT_ID) {
        fuse_reply_err(req, ENOTDIR);
        return;
    }
    struct Entry {
        const char* name;
        const struct stat* st;
    };
    const Entry entries[] = {{".", &g_served->dir_st}, {"..", &g_served->dir_st}, {kFileName, &g_served->file_st}};
    char buf[512];
    size_t used = 0;
    for (off_t i = std::max<off_t>(off, 0); i < off_t(std::size(entries)); ++i) {
        const size_t room = std::min(size, sizeof buf) - used;
        const size_t need = fuse_add_direntry(req, buf + used, room, entries[i].name, entries[i].st, i + 1);
        if (need > room) break;
        used += need;
    }
    fuse_reply_buf(req, buf, used);
}

void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
    if (ino == FUSE_ROOT_ID) {
        fuse_reply_err(req, EISDIR);
        return;
    }
    if (ino != kFileIno) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
        fuse_reply_err(req, EROFS);
        return;
    }
    // Direct I/O: each read of dump.elf goes to op_read with the caller's
    // length (up to the 1 MiB libfuse 3 negotiates, max_pages 256) and the
    // kernel copies the reply straight into the reader's buffer. Through the
    // page cache instead, the kernel reads ahead 128 KiB at a time (the FUSE
    // bdi's default, which only root can raise), allocates and fills page
    // cache folios and copies them again: `cat` of a 1 GiB guest cost 0.35 s
    // of kernel CPU in cat that way, 0.04 s direct. It also keeps the
    // decrypted guest out of the page cache (RAM, but shared, long-lived and
    // outside the mlock'ed cache); only a MAP_PRIVATE mapping of the file
    // still goes through it (MAP_SHARED fails with ENODEV on a direct-I/O
    // FUSE file: libfuse 3.14 cannot ask for FUSE_DIRECT_IO_ALLOW_MMAP).
    fi->direct_io = 1;
    fuse_reply_open(req, fi);
}

void op_read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, struct fuse_file_info*) {
    if (off < 0) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    // Used only when the cache cannot hold a whole request pinned; decrypted
    // bytes, wiped when replaced and when the thread ends.
    thread_local format::SecretBytes fallback;
    try {
        g_served->reader->read_pinned(std::uint64_t(off), size, fallback, [&](std::span<const iovec> pieces) {
            if (pieces.empty()) fuse_reply_buf(req, nullptr, 0);
            else fuse_reply_iov(req, pieces.data(), int(pieces.size()));
        });
    } catch (const std::exception& e) {
        log_read_error(std::uint64_t(off), size, e.what());
        fuse_reply_err(req, EIO);
    }
}

void op_statfs(fuse_req_t req, fuse_ino_t) {
    struct statvfs sv {};
    sv.f_bsize = 4096;
    sv.f_frsize = 4096;
    sv.f_blocks = (g_served->file_st.st_size + 4095) / 4096;
    sv.f_files = 2;
    sv.f_namemax = 255;
    fuse_reply_statfs(req, &sv);
}

void kick(int) {}

}  // namespace

void serve_mount(decryptor::VmcoreReader& reader, const MountOptions& o, const std::function<void()>& on_ready) {
    Served served;
    served.reader = &reader;
    const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    struct stat& f = served.file_st;
    std::memset(&f, 0, sizeof f);
    f.st_mode = S_IFREG | 0400;
    f.st_nlink = 1;
    f.st_size = off_t(reader.size());
    f.st_blocks = (f.st_size + 511) / 512;
    // cat, cp and other readers size their reads by st_blksize (at least
    // 128 KiB): 1 MiB, one full FUSE request per read.
    f.st_blksize = 1 << 20;
    f.st_uid = getuid();
    f.st_gid = getgid();
    f.st_atime = f.st_mtime = f.st_ctime = now;
    struct stat& d = served.dir_st;
    d = f;
    d.st_mode = S_IFDIR | 0500;
    d.st_nlink = 2;
    d.st_size = 0;
    d.st_blocks = 0;
    f.st_ino = kFileIno;
    d.st_ino = FUSE_ROOT_ID;
    g_served = &served;

    // libfuse mallocs a receive buffer per FUSE thread (1 MiB + header, the
    // largest request); with an arena per thread each keeps its freed buffer
    // when the thread goes, and the resident set grew by up to 1 MiB per
    // thread (peak RSS 100 MiB with a 64 MiB cache). One arena reuses them.
    mallopt(M_ARENA_MAX, 1);

    struct fuse_lowlevel_ops ops;
    std::memset(&ops, 0, sizeof ops);
    ops.lookup = op_lookup;
    ops.getattr = op_getattr;
    ops.readdir = op_readdir;
    ops.open = op_open;
    ops.read = op_read;
    ops.statfs = op_statfs;

    // Read-only, checked by the kernel against the 0400 mode; other users
    // (root included) only with --allow-other.
    std::string mount_opts = "ro,default_permissions,fsname=pvdecrypt,subtype=pvdecrypt";
    if (o.allow_other) mount_opts += ",allow_other";
    std::string a0 = "pvdecrypt", a1 = "-o";
    char* argv[] = {a0.data(), a1.data(), mount_opts.data(), nullptr};
    struct fuse_args args = FUSE_ARGS_INIT(3, argv);
    struct fuse_session* fs = fuse_session_new(&args, &ops, sizeof ops, nullptr);
    fuse_opt_free_args(&args);  // the session keeps copies; the parsed list is ours to free
    if (!fs) {
        g_served = nullptr;
        fail(ErrorCode::Io, "cannot set up FUSE for '" + o.dir + "'");
    }
    if (fuse_session_mount(fs, o.dir.c_str()) != 0) {
        fuse_session_destroy(fs);
        g_served = nullptr;
        fail(ErrorCode::Io, "cannot mount on '" + o.dir + "' (is /dev/fuse there, and fusermount3 installed?)");
    }

    // SIGINT/SIGTERM/SIGHUP are taken by this thread with sigtimedwait; the
    // loop thread (and libfuse's workers, which inherit its mask) never see
    // them. It is woken by SIGUSR2 once the session is told to exit.
    sigset_t stop_set;
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGINT);
    sigaddset(&stop_set, SIGTERM);
    sigaddset(&stop_set, SIGHUP);
    sigset_t old_mask;
    pthread_sigmask(SIG_BLOCK, &stop_set, &old_mask);
    struct sigaction sa {};
    sa.sa_handler = kick;  // no SA_RESTART: interrupts the loop's wait
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR2, &sa, nullptr);

    std::atomic<bool> done{false};
    std::thread loop([&] {
        sigset_t usr2;
        sigemptyset(&usr2);
        sigaddset(&usr2, SIGUSR2);
        pthread_sigmask(SIG_UNBLOCK, &usr2, nullptr);
        struct fuse_loop_config* cfg = fuse_loop_cfg_create();
        fuse_loop_cfg_set_clone_fd(cfg, 0);
        fuse_loop_cfg_set_max_threads(cfg, 16);
        fuse_session_loop_mt(fs, cfg);
        fuse_loop_cfg_destroy(cfg);
        done.store(true);
    });

    try {
        if (on_ready) on_ready();
    } catch (...) {
        // on_ready only prints; go on serving.
    }

    bool signalled = false;
    while (!done.load()) {
        struct timespec tick = {0, 200 * 1000 * 1000};
        const int sig = sigtimedwait(&stop_set, nullptr, &tick);
        if (sig > 0) {
            signalled = true;
            break;
        }
    }
    if (signalled) {
        fuse_session_exit(fs);
        while (!done.load()) {
            pthread_kill(loop.native_handle(), SIGUSR2);
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }
    loop.join();
    fuse_session_unmount(fs);
    fuse_session_destroy(fs);
    g_served = nullptr;
    pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
}

#else
bool mount_supported() { return false; }
void serve_mount(decryptor::VmcoreReader&, const MountOptions&, const std::function<void()>&) {
    fail(ErrorCode::Usage, "this pvdecrypt was built without FUSE 3 (libfuse3-dev): --mount is not available");
}
#endif

void unmount(const std::string& dir) {
    struct stat st {};
    if (stat(dir.c_str(), &st) != 0 && errno != ENOTCONN)
        fail(ErrorCode::Io, "cannot unmount '" + dir + "': " + std::strerror(errno));
    pid_t pid = fork();
    if (pid < 0) fail(ErrorCode::Io, std::string("cannot fork: ") + std::strerror(errno));
    if (pid == 0) {
        execlp("fusermount3", "fusermount3", "-u", dir.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && getuid() == 0) {
        if (umount2(dir.c_str(), 0) == 0) return;
        fail(ErrorCode::Io, "cannot unmount '" + dir + "': " + std::strerror(errno));
    }
    fail(ErrorCode::Io, "cannot unmount '" + dir + "': fusermount3 -u failed (not a pvdecrypt mount, or dump.elf is "
                        "still open)");
}

}  // namespace pvdump::tools
