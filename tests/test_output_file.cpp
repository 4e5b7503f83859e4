// The output file has no name until it is complete: it is created unnamed
// (O_TMPFILE) in the target directory and linked in by commit(). So a run
// killed by SIGKILL (no handler can run) leaves no directory entry, on ext4
// and on tmpfs alike.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "format/core_file.hpp"
#include "format/output_file.hpp"
#include "format/vmcore_writer.hpp"
#include "fuzz/mini_dump.hpp"
#include "support/util.hpp"

extern char** environ;

using namespace pvdump::format;
using namespace testutil;

namespace {

std::vector<std::string> names_in(const std::string& dir) {
    std::vector<std::string> v;
    for (auto& e : std::filesystem::directory_iterator(dir)) v.push_back(e.path().filename().string());
    return v;
}

// A tmpfs mounted on `dir` for the scope (needs root; CI runs as root).
struct Tmpfs {
    std::string dir;
    bool mounted = false;
    explicit Tmpfs(const std::string& d) : dir(d) {
        std::filesystem::create_directory(dir);
        mounted = ::mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=64m,mode=0700") == 0;
    }
    ~Tmpfs() {
        if (mounted) ::umount2(dir.c_str(), MNT_DETACH);
    }
};

void check_unnamed_until_commit(const std::string& dir) {
    const std::string path = dir + "/out.bin";
    {
        OutputFile out(path, false);
        const std::vector<std::uint8_t> data(10000, 0xab);
        out.write_all(data);
        CHECK(names_in(dir).empty());  // written, but no name yet
        out.commit();
    }
    REQUIRE(names_in(dir) == std::vector<std::string>{"out.bin"});
    CHECK(read_file(path) == std::vector<std::uint8_t>(10000, 0xab));
    struct stat st {};
    REQUIRE(stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);

    // Replacing an existing file (--force): atomic, nothing else left.
    {
        OutputFile out(path, true);
        out.write_all(std::vector<std::uint8_t>(5, 0x11));
        CHECK(read_file(path).size() == 10000);  // the old file stays whole until commit
        out.commit();
    }
    CHECK(names_in(dir) == std::vector<std::string>{"out.bin"});
    CHECK(read_file(path) == std::vector<std::uint8_t>(5, 0x11));

    // Abandoned (an error before commit): nothing appears.
    {
        OutputFile out(dir + "/other.bin", false);
        out.write_all(std::vector<std::uint8_t>(4096, 1));
    }
    CHECK(names_in(dir) == std::vector<std::string>{"out.bin"});
}

// Starts pvdecrypt on a 256 MiB dump writing into dir, waits until it has
// 32 MiB in its output, then SIGKILLs it. Returns false if it finished first.
bool kill_midway(const std::string& in, const std::string& dir) {
    const std::string out = dir + "/out.vmcore";
    std::vector<std::string> args = {bin("pvdecrypt"), in, "-k", key("cck.bin"), "-o", out, "-j", "1", "-q"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    REQUIRE(posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) == 0);
    bool midway = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!midway && std::chrono::steady_clock::now() < deadline) {
        midway = open_bytes_under(pid, dir) > (32u << 20);
        if (!midway) std::this_thread::sleep_for(std::chrono::microseconds(300));
    }
    kill(pid, SIGKILL);
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    if (WIFEXITED(status)) return false;
    CHECK(WTERMSIG(status) == SIGKILL);
    return midway;
}

}  // namespace

TEST_CASE("an output file has no directory entry until commit (ext4 or whatever the build tree is on)") {
    TempDir tmp;
    check_unnamed_until_commit(tmp.path.string());
}

TEST_CASE("an output file has no directory entry until commit (tmpfs)") {
    TempDir tmp;
    Tmpfs fs(tmp / "tmpfs");
    if (!fs.mounted) {
        MESSAGE("SKIPPED: cannot mount a tmpfs here (needs root): the tmpfs case is not run");
        return;
    }
    check_unnamed_until_commit(fs.dir);
}

TEST_CASE("SIGKILL in the middle of decryption leaves no directory entry, on the build tree's filesystem and on tmpfs") {
    TempDir tmp;
    const std::string in = tmp / "big.pvdump";
    {
        // basic.pvdump's keys and CPUs over 256 MiB of "encrypted" pages (noise
        // once decrypted, so every page is written and the run takes a while).
        const std::vector<std::uint8_t> src = read_file(data("basic.pvdump"));
        CoreFile f = CoreFile::parse(src);
        minidump::relayout(f, {minidump::Load{0, 65536, 0, 0, true}}).write(in);
    }
    const std::string disk_dir = tmp / "disk";
    std::filesystem::create_directory(disk_dir);
    Tmpfs fs(tmp / "tmpfs");
    std::vector<std::string> dirs = {disk_dir};
    if (fs.mounted)
        dirs.push_back(fs.dir);
    else
        MESSAGE("SKIPPED: cannot mount a tmpfs here (needs root): only the build tree's filesystem is checked");
    for (const auto& dir : dirs) {
        CAPTURE(dir);
        const bool killed_midway = kill_midway(in, dir);
        if (!killed_midway) MESSAGE("pvdecrypt finished or was slow to start; the directory is still checked");
        CHECK(killed_midway);
        CHECK(names_in(dir).empty());
    }
}
