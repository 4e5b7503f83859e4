// pvdecrypt --mount: a VmcoreReader served as DIR/dump.elf over FUSE 3, and
// the daemon plumbing around it (fork before the key is read, detach once the
// mount is ready, clean unmount on SIGINT/SIGTERM/SIGHUP or fusermount3 -u).
#pragma once
#include <functional>
#include <optional>
#include <string>

#include "decryptor/vmcore_reader.hpp"

namespace pvdump::tools {

// Whether this pvdecrypt was built with FUSE 3.
bool mount_supported();

struct MountOptions {
    std::string dir;
    bool allow_other = false;
};

// Checks that DIR can be mounted on and that --allow-other is permitted
// (root, or 'user_allow_other' in /etc/fuse.conf). Error(Usage)/Error(Io).
void check_mount_point(const MountOptions& options);

// Without --foreground: forks. The parent returns the exit code to leave
// with once the child is ready (0) or has failed (its exit code); the child
// gets std::nullopt and goes on. The parent never reads the key.
std::optional<int> fork_daemon();
// In the child, once the mount is up: new session, cwd /, stdio to
// /dev/null, messages to syslog; then the parent exits 0.
void detach_daemon();

// Serves `reader` at DIR/dump.elf (mode 0400, the vmcore's exact size) until
// DIR is unmounted (fusermount3 -u, pvdecrypt --umount) or SIGINT/SIGTERM/
// SIGHUP arrives, which unmounts. `on_ready` runs once the mount is up.
// Read errors are EIO for the reader and one line on stderr (syslog once
// detached). Error(Io) when DIR cannot be mounted.
void serve_mount(decryptor::VmcoreReader& reader, const MountOptions& options, const std::function<void()>& on_ready);

// pvdecrypt --umount DIR: fusermount3 -u DIR (umount2 as root without it).
void unmount(const std::string& dir);

// One line for the log: stderr in the foreground, syslog once detached.
void log_line(const std::string& line);

}  // namespace pvdump::tools
