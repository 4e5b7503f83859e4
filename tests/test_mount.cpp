// pvdecrypt --mount through the kernel: the mounted dump.elf against
// `pvdecrypt -o FILE` byte for byte (whole file, 10,000 random preads, 4
// parallel readers), gdb-multiarch and pvinspect dmesg on the mounted file,
// refusals with file output's exit codes, daemon and foreground life cycle,
// a dump changing under the mount, and no key bytes left in any file.
// Exits 77 (CTest: skipped) with the reason when FUSE cannot be used here.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <random>
#include <regex>
#include <thread>

#include "decryptor/dump.hpp"
#include "tools/cck.hpp"
#include "support/util.hpp"

using namespace pvdump;
using namespace testutil;
namespace fs = std::filesystem;

namespace {

std::string why_no_fuse() {
#ifndef PVDUMP_TEST_FUSE
    return "pvdecrypt was built without FUSE 3 (libfuse3-dev not found)";
#else
#ifdef PVDUMP_TEST_CROSS
    return "a cross build (run under an emulator such as qemu-user, which cannot serve FUSE)";
#endif
    if (access("/dev/fuse", R_OK | W_OK) != 0) return "/dev/fuse is missing or not usable";
    if (run("command -v fusermount3").exit_code != 0) return "fusermount3 is not installed (Debian package fuse3)";
    return "";
#endif
}

// Before doctest runs anything: skip the whole program when FUSE is not there.
const bool g_checked = [] {
    const std::string why = why_no_fuse();
    if (!why.empty()) {
        std::cout << "SKIPPED: " << why << std::endl;
        std::_Exit(77);
    }
    return true;
}();

std::string q(const std::string& s) { return "'" + s + "'"; }
std::string pvdecrypt() { return bin("pvdecrypt"); }

bool is_mounted(const std::string& dir) {
    const std::string canon = fs::weakly_canonical(dir).string();
    const std::string mounts = read_text("/proc/self/mounts");
    return mounts.find(" " + canon + " ") != std::string::npos;
}

// Gone, or a zombie (exited; its new parent has not reaped it yet).
bool process_gone(int pid) {
    std::error_code ec;
    const std::string stat_path = "/proc/" + std::to_string(pid) + "/stat";
    if (!fs::exists(stat_path, ec)) return true;
    std::string s;
    try {
        s = read_text(stat_path);
    } catch (...) {
        return true;
    }
    const auto close = s.rfind(')');
    return close != std::string::npos && close + 2 < s.size() && s[close + 2] == 'Z';
}

bool wait_until(const std::function<bool()>& cond, int seconds = 20) {
    for (int i = 0; i < seconds * 20; ++i) {
        if (cond()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return cond();
}

// A daemon mount of `dump` on a fresh directory; unmounted at scope exit.
struct DaemonMount {
    TempDir tmp;
    std::string dir = tmp / "mnt";
    RunResult result;
    int pid = -1;
    DaemonMount(const std::string& dump, const std::string& extra = "") {
        fs::create_directory(dir);
        result = run(pvdecrypt() + " " + q(dump) + " -k " + key("cck.bin") + " --mount " + q(dir) + " " + extra);
        std::smatch m;
        if (std::regex_search(result.err, m, std::regex("; process ([0-9]+),"))) pid = std::stoi(m[1]);
    }
    std::string file() const { return dir + "/dump.elf"; }
    void unmount() {
        if (is_mounted(dir)) {
            auto r = run(pvdecrypt() + " --umount " + q(dir));
            CHECK(r.exit_code == 0);
        }
        if (pid > 0) CHECK(wait_until([&] { return process_gone(pid); }));
        pid = -1;
    }
    ~DaemonMount() {
        if (is_mounted(dir)) run("fusermount3 -u " + q(dir));
        if (pid > 0) wait_until([&] { return process_gone(pid); });
    }
};

std::vector<std::uint8_t> read_all(const std::string& path) {
    int fd = open(path.c_str(), O_RDONLY);
    REQUIRE(fd >= 0);
    std::vector<std::uint8_t> out;
    std::vector<std::uint8_t> buf(1 << 20);
    for (;;) {
        ssize_t n = read(fd, buf.data(), buf.size());
        REQUIRE(n >= 0);
        if (n == 0) break;
        out.insert(out.end(), buf.begin(), buf.begin() + n);
    }
    close(fd);
    return out;
}

// Offsets worth hitting: headers' end, each PT_LOAD's start/end, 64 KiB steps, EOF.
std::vector<std::uint64_t> interesting_offsets(const std::vector<std::uint8_t>& elf) {
    std::vector<std::uint64_t> v = {0, 64, elf.size() - 1, elf.size(), elf.size() + 1};
    const std::uint16_t phnum = std::uint16_t(elf[56] << 8 | elf[57]);
    auto be64 = [&](std::size_t at) {
        std::uint64_t x = 0;
        for (int i = 0; i < 8; ++i) x = x << 8 | elf[at + i];
        return x;
    };
    for (std::uint16_t i = 0; i < phnum; ++i) {
        const std::uint64_t off = be64(64 + 56 * std::size_t(i) + 8), filesz = be64(64 + 56 * std::size_t(i) + 32);
        v.push_back(off);
        v.push_back(off + filesz);
        for (std::uint64_t a = off; a < off + filesz; a += 65536 * 7) v.push_back(a);
    }
    return v;
}

// preads of the mounted file at random offsets/lengths against the file output; returns mismatches.
int random_preads(const std::string& path, const std::vector<std::uint8_t>& want, unsigned seed, int count) {
    int fd = open(path.c_str(), O_RDONLY);
    if (fd < 0) return count;
    std::mt19937_64 rng(seed);
    const auto spots = interesting_offsets(want);
    std::vector<std::uint8_t> buf(1 << 18);
    int bad = 0;
    for (int i = 0; i < count; ++i) {
        std::uint64_t off;
        switch (rng() % 3) {
        case 0: {
            const std::uint64_t s = spots[rng() % spots.size()], back = rng() % 5000;
            off = s > back ? s - back : 0;
            break;
        }
        case 1: off = spots[rng() % spots.size()] + rng() % 3; break;
        default: off = rng() % (want.size() + 8192);
        }
        const std::size_t len = rng() % 8 == 0 ? 1 + rng() % buf.size() : 1 + rng() % 20000;
        const ssize_t got = pread(fd, buf.data(), len, off_t(off));
        const std::size_t expect = off >= want.size() ? 0 : std::min<std::uint64_t>(len, want.size() - off);
        if (got != ssize_t(expect) || (expect && std::memcmp(buf.data(), want.data() + off, expect) != 0)) ++bad;
    }
    close(fd);
    return bad;
}

std::vector<std::uint8_t> file_output(const std::string& dump, const std::string& out, const std::string& extra = "") {
    auto r = run(pvdecrypt() + " " + q(dump) + " -k " + key("cck.bin") + " -o " + q(out) + " " + extra);
    REQUIRE(r.exit_code == 0);
    return read_file(out);
}

std::string seal_generated(const TempDir& tmp) {
    const std::string out = tmp / "gen.pvdump";
    auto r = run(bin("pvseal") + " --generate 6148K --block 0:3M --block 0x500000:2M --block 0x1000000:1028K --cck " +
                 key("cck.bin") + " -o " + q(out) + " --deterministic mount-test -q");
    REQUIRE(r.exit_code == 0);
    return out;
}

// A process started here in the foreground (-f), its stderr in a file.
struct Foreground {
    int pid = -1;
    std::string err_path;
    Foreground(const std::vector<std::string>& argv, const std::string& err) : err_path(err) {
        pid = fork();
        if (pid == 0) {
            int fd = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
            dup2(fd, 2);
            int null = open("/dev/null", O_RDWR);
            dup2(null, 0);
            dup2(null, 1);
            std::vector<char*> a;
            for (auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
            a.push_back(nullptr);
            execv(a[0], a.data());
            _exit(127);
        }
    }
    int stop(int sig) {
        kill(pid, sig);
        int st = 0;
        waitpid(pid, &st, 0);
        pid = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    ~Foreground() {
        if (pid > 0) stop(SIGTERM);
    }
};

std::string gdb_regs(const std::string& core, int threads) {
    std::string cmd = "timeout 120 gdb-multiarch -nx -batch -ex 'set architecture s390:64-bit' -ex 'core-file " + core + "'";
    for (int t = 1; t <= threads; ++t) cmd += " -ex 'thread " + std::to_string(t) + "' -ex 'info registers'";
    auto r = run(cmd);
    REQUIRE(r.exit_code == 0);
    // gdb names the core file once; the rest must be identical.
    std::string out = r.out;
    for (std::size_t at; (at = out.find(core)) != std::string::npos;) out.replace(at, core.size(), "CORE");
    return out;
}

}  // namespace

TEST_CASE("mount: golden vectors and a 3-segment guest read exactly as pvdecrypt -o writes them") {
    TempDir tmp;
    const std::string generated = seal_generated(tmp);
    for (const std::string& dump : {data("basic.pvdump"), data("overlap-osii.pvdump"), generated}) {
        CAPTURE(dump);
        const auto want = file_output(dump, tmp / "out.elf");
        fs::remove(tmp / "out.elf");
        DaemonMount m(dump, "--cache 2M");
        REQUIRE(m.result.exit_code == 0);
        CAPTURE(m.result.err);
        REQUIRE(m.pid > 0);
        CHECK(is_mounted(m.dir));
        struct stat st {};
        REQUIRE(stat(m.file().c_str(), &st) == 0);
        CHECK((st.st_mode & 07777) == 0400);
        CHECK(S_ISREG(st.st_mode));
        CHECK(std::uint64_t(st.st_size) == want.size());
        std::vector<std::string> names;
        for (auto& e : fs::directory_iterator(m.dir)) names.push_back(e.path().filename().string());
        CHECK(names == std::vector<std::string>{"dump.elf"});
        CHECK(open(m.file().c_str(), O_WRONLY) == -1);
        CHECK(read_all(m.file()) == want);
        CHECK(random_preads(m.file(), want, 7, 10000) == 0);
        int bad[4] = {0, 0, 0, 0};
        std::vector<std::thread> readers;
        for (int t = 0; t < 4; ++t)
            readers.emplace_back([&, t] {
                bad[t] = random_preads(m.file(), want, 50 + unsigned(t), 1000);
                if (read_all(m.file()) != want) ++bad[t];
            });
        for (auto& t : readers) t.join();
        CHECK(bad[0] + bad[1] + bad[2] + bad[3] == 0);
        const int pid = m.pid;
        m.unmount();
        CHECK_FALSE(is_mounted(m.dir));
        CHECK(process_gone(pid));
        CHECK(fs::is_empty(m.dir));
    }
}

TEST_CASE("mount: the vmcore is cmp-equal, as a user checks it") {
    TempDir tmp;
    const std::string out = tmp / "out.elf";
    file_output(data("basic.pvdump"), out);
    DaemonMount m(data("basic.pvdump"));
    REQUIRE(m.result.exit_code == 0);
    CHECK(run("cmp " + q(m.file()) + " " + q(out)).exit_code == 0);
    // gdb-multiarch reads the same registers from the mounted file.
    if (run("command -v gdb-multiarch").exit_code == 0) CHECK(gdb_regs(m.file(), 2) == gdb_regs(out, 2));
    m.unmount();
}

TEST_CASE("mount: a bad dump is refused with file output's exit code and message, nothing is mounted") {
    TempDir tmp;
    struct Case {
        const char* dump;
        const char* key_name;
    };
    for (const Case c : {Case{"corrupt-compl-tag", "cck.bin"}, Case{"corrupt-cpu-tag", "cck.bin"},
                         Case{"corrupt-meta-short", "cck.bin"}, Case{"corrupt-state-reserved", "cck.bin"},
                         Case{"corrupt-state-zero-shared", "cck.bin"}, Case{"corrupt-truncate", "cck.bin"},
                         Case{"basic", "wrong-cck.bin"}}) {
        CAPTURE(c.dump);
        const std::string dump = data(std::string(c.dump) + ".pvdump");
        auto file = run(pvdecrypt() + " " + q(dump) + " -k " + key(c.key_name) + " -o " + q(tmp / "x.elf"));
        const std::string dir = tmp / "mnt";
        fs::create_directories(dir);
        for (const char* mode : {"", "-f"}) {
            auto mount = run(pvdecrypt() + " " + q(dump) + " -k " + key(c.key_name) + " --mount " + q(dir) + " " + mode);
            CHECK(file.exit_code != 0);
            CHECK(mount.exit_code == file.exit_code);
            CHECK(mount.err == file.err);
            CHECK_FALSE(is_mounted(dir));
            CHECK(fs::is_empty(dir));
        }
        CHECK_FALSE(fs::exists(tmp / "x.elf"));
    }
    // --force mounts what file output writes with --force.
    const std::string dump = data("corrupt-state-reserved.pvdump");
    const auto want = file_output(dump, tmp / "forced.elf", "--force");
    DaemonMount m(dump, "--force");
    REQUIRE(m.result.exit_code == 0);
    CHECK(read_all(m.file()) == want);
    m.unmount();
}

TEST_CASE("mount: options and mount points that cannot work are usage or I/O errors") {
    TempDir tmp;
    auto r = run(pvdecrypt() + " " + data("basic.pvdump") + " -k " + key("cck.bin") + " --mount " + q(tmp / "nodir"));
    CHECK(r.exit_code == 3);
    CHECK(r.err.find("cannot mount on") != std::string::npos);
    r = run(pvdecrypt() + " " + data("basic.pvdump") + " -k " + key("cck.bin") + " --mount " + q(tmp.path.string()) +
            " -o " + q(tmp / "x"));
    CHECK(r.exit_code == 2);
    r = run(pvdecrypt() + " " + data("basic.pvdump") + " -k " + key("cck.bin") + " --mount " + q(tmp.path.string()) +
            " --cache 12K");
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("at least 1 MiB") != std::string::npos);
    r = run(pvdecrypt() + " --umount " + q(tmp.path.string()));
    CHECK(r.exit_code == 3);
    CHECK(fs::is_empty(tmp.path));
}

TEST_CASE("mount: in the foreground, SIGINT and SIGTERM unmount cleanly; fusermount3 -u ends a daemon") {
    for (const int sig : {SIGINT, SIGTERM}) {
        CAPTURE(sig);
        TempDir tmp;
        const std::string dir = tmp / "mnt";
        fs::create_directory(dir);
        Foreground p({pvdecrypt(), data("basic.pvdump"), "-k", key("cck.bin"), "--mount", dir, "-f"}, tmp / "err");
        REQUIRE(wait_until([&] { return fs::exists(dir + "/dump.elf"); }));
        CHECK(read_all(dir + "/dump.elf").size() == fs::file_size(dir + "/dump.elf"));
        CHECK(p.stop(sig) == 0);
        CHECK_FALSE(is_mounted(dir));
        CHECK(fs::is_empty(dir));
        CHECK(read_text(tmp / "err").find("pvdecrypt: mounted '") != std::string::npos);
    }
    DaemonMount m(data("basic.pvdump"));
    REQUIRE(m.result.exit_code == 0);
    REQUIRE(m.pid > 0);
    CHECK(run("fusermount3 -u " + q(m.dir)).exit_code == 0);
    CHECK(wait_until([&] { return process_gone(m.pid); }));
    CHECK(fs::is_empty(m.dir));
}

TEST_CASE("mount: a dump that shrinks under the mount fails reads with EIO and a message, the mount keeps serving") {
    TempDir tmp;
    const std::string copy = tmp / "copy.pvdump";
    fs::copy_file(data("basic.pvdump"), copy);
    const auto want = file_output(copy, tmp / "out.elf");
    const std::string dir = tmp / "mnt";
    fs::create_directory(dir);
    Foreground p({pvdecrypt(), copy, "-k", key("cck.bin"), "--mount", dir, "-f", "--cache", "1M"}, tmp / "err");
    REQUIRE(wait_until([&] { return fs::exists(dir + "/dump.elf"); }));
    const std::string file = dir + "/dump.elf";
    int fd = open(file.c_str(), O_RDONLY);
    REQUIRE(fd >= 0);
    std::vector<std::uint8_t> buf(4096);
    const off_t mem = off_t(want.size() - (4u << 20));
    REQUIRE(pread(fd, buf.data(), 4096, 0) == 4096);
    REQUIRE(truncate(copy.c_str(), 200000) == 0);
    errno = 0;
    CHECK(pread(fd, buf.data(), 4096, mem + (3 << 20)) == -1);
    CHECK(errno == EIO);
    // Still serving: the headers read, the file still stats.
    REQUIRE(pread(fd, buf.data(), 4096, 0) == 4096);
    CHECK(std::memcmp(buf.data(), want.data(), 4096) == 0);
    close(fd);
    struct stat st {};
    CHECK(stat(file.c_str(), &st) == 0);
    CHECK(kill(p.pid, 0) == 0);
    CHECK(p.stop(SIGTERM) == 0);
    const std::string err = read_text(tmp / "err");
    CAPTURE(err);
    CHECK(err.find("failed with EIO: the dump '" + copy + "' changed size since it was opened") != std::string::npos);
    CHECK(fs::is_empty(dir));
}

TEST_CASE("mount: the real guest, sealed by pvseal; gdb-multiarch and pvinspect dmesg open the mounted file") {
    const std::string real = bin("realguest.vmcore");
    if (!fs::exists(real)) {
        MESSAGE("skipped: " << real << " is missing (the CTest fixture 'realguest' unpacks it)");
        return;
    }
    TempDir tmp;
    const std::string sealed = tmp / "real.pvdump";
    auto s = run(bin("pvseal") + " --guest " + q(real) + " --cck " + key("cck.bin") + " -o " + q(sealed) + " -j 2 -q");
    REQUIRE(s.exit_code == 0);
    const std::string out = tmp / "out.elf";
    auto d = run(pvdecrypt() + " " + q(sealed) + " -k " + key("cck.bin") + " -o " + q(out) + " -q");
    REQUIRE(d.exit_code == 0);
    DaemonMount m(sealed);
    REQUIRE(m.result.exit_code == 0);
    CHECK(run("cmp " + q(m.file()) + " " + q(out)).exit_code == 0);
    // Random reads against the file output, without holding 256 MiB twice.
    {
        int fa = open(m.file().c_str(), O_RDONLY), fb = open(out.c_str(), O_RDONLY);
        REQUIRE(fa >= 0);
        REQUIRE(fb >= 0);
        const std::uint64_t size = fs::file_size(out);
        std::mt19937_64 rng(3);
        std::vector<std::uint8_t> a(70000), b(70000);
        int bad = 0;
        for (int i = 0; i < 2000; ++i) {
            const std::uint64_t off = rng() % (size + 4096);
            const std::size_t len = 1 + rng() % a.size();
            const ssize_t na = pread(fa, a.data(), len, off_t(off)), nb = pread(fb, b.data(), len, off_t(off));
            if (na != nb || (na > 0 && std::memcmp(a.data(), b.data(), std::size_t(na)) != 0)) ++bad;
        }
        CHECK(bad == 0);
        close(fa);
        close(fb);
    }
    auto dm = run(bin("pvinspect") + " dmesg " + q(m.file()));
    auto df = run(bin("pvinspect") + " dmesg " + q(out));
    CHECK(dm.exit_code == 0);
    CHECK(dm.out == df.out);
    CHECK(dm.out.find("PVDUMP-TEST-MARKER 2a30d76148898ef3") != std::string::npos);
    if (run("command -v gdb-multiarch").exit_code == 0) CHECK(gdb_regs(m.file(), 3) == gdb_regs(out, 3));
    m.unmount();
}

namespace {
// Every regular file under root (not crossing into other filesystems, such as
// a mount still served), that holds any of the needles.
std::vector<std::string> files_holding(const std::string& root, const std::vector<std::vector<std::uint8_t>>& needles,
                                       std::uint64_t skip_size) {
    std::vector<std::string> hits;
    struct stat rst {};
    if (stat(root.c_str(), &rst) != 0) return hits;
    std::error_code ec;
    fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
    for (; it != end; it.increment(ec)) {
        if (ec) break;
        struct stat st {};
        if (lstat(it->path().c_str(), &st) != 0) continue;
        if (st.st_dev != rst.st_dev) {
            if (S_ISDIR(st.st_mode)) it.disable_recursion_pending();
            continue;
        }
        if (!S_ISREG(st.st_mode) || st.st_size == 0 || std::uint64_t(st.st_size) == skip_size) continue;
        int fd = open(it->path().c_str(), O_RDONLY | O_NOFOLLOW);
        if (fd < 0) continue;
        void* p = mmap(nullptr, std::size_t(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        if (p == MAP_FAILED) continue;
        for (auto& n : needles)
            if (memmem(p, std::size_t(st.st_size), n.data(), n.size())) {
                hits.push_back(it->path().string());
                break;
            }
        munmap(p, std::size_t(st.st_size));
    }
    return hits;
}
}  // namespace

TEST_CASE("mount: after mounting and reading, the key bytes are in no file under /tmp or the build tree") {
    // A key of its own (the test CCK is compiled into the fuzz targets): a
    // fresh CCK, a guest sealed with it, mounted, read whole, unmounted.
    TempDir tmp;
    const std::string cck_path = tmp / "fresh.cck", sealed = tmp / "fresh.pvdump";
    REQUIRE(run(bin("pvseal") + " --make-cck " + q(cck_path)).exit_code == 0);
    REQUIRE(run(bin("pvseal") + " --generate 2M --cck " + q(cck_path) + " -o " + q(sealed) + " -q").exit_code == 0);
    auto cck = tools::load_cck(cck_path);
    auto dump = format::CoreFile::open(sealed);
    auto keys = decryptor::open_keys(dump, cck.view());
    std::vector<std::vector<std::uint8_t>> needles = {
        {cck.data(), cck.data() + cck.size()},
        {keys.dump_key.data(), keys.dump_key.data() + keys.dump_key.size()},
        {keys.xts_key.data(), keys.xts_key.data() + 32},
        {keys.xts_key.data() + 32, keys.xts_key.data() + 64}};
    {
        const std::string dir = tmp / "mnt";
        fs::create_directory(dir);
        auto r = run(pvdecrypt() + " " + q(sealed) + " -k " + q(cck_path) + " --mount " + q(dir));
        REQUIRE(r.exit_code == 0);
        std::smatch m;
        REQUIRE(std::regex_search(r.err, m, std::regex("; process ([0-9]+),")));
        CHECK(read_all(dir + "/dump.elf").size() == fs::file_size(dir + "/dump.elf"));
        CHECK(run(pvdecrypt() + " --umount " + q(dir)).exit_code == 0);
        CHECK(wait_until([&] { return process_gone(std::stoi(m[1])); }));
    }
    // The key file itself is 32 bytes and skipped; anything else holding a
    // key is a leak.
    std::vector<std::string> hits = files_holding("/tmp", needles, 32);
    auto more = files_holding(PVDUMP_BIN_DIR, needles, 32);
    hits.insert(hits.end(), more.begin(), more.end());
    for (auto& h : hits) MESSAGE("key bytes found in " << h);
    CHECK(hits.empty());
}
