// Test helpers: reading files, temporary directories, running the tools.
#pragma once
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "support/json.hpp"

namespace testutil {

inline std::string data(const std::string& name) { return std::string(PVDUMP_TEST_DATA) + "/" + name; }
// tests/data's keys copied with mode 0600 at configure time (git keeps 0644).
inline std::string key(const std::string& name) { return std::string(PVDUMP_TEST_KEYS) + "/" + name; }
inline std::string bin(const std::string& name) { return std::string(PVDUMP_BIN_DIR) + "/" + name; }

// The file's bytes, read in 64 KiB pieces (the tests read outputs of hundreds
// of MiB: a character iterator cost seconds per file, most of some tests' time).
inline std::vector<std::uint8_t> read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error("cannot read " + path);
    std::vector<std::uint8_t> v;
    std::error_code ec;
    if (const auto size = std::filesystem::file_size(path, ec); !ec) v.reserve(size);
    std::vector<char> piece(1 << 16);
    while (f.read(piece.data(), std::streamsize(piece.size())) || f.gcount() > 0)
        v.insert(v.end(), piece.data(), piece.data() + f.gcount());
    if (f.bad()) throw std::runtime_error("cannot read " + path);
    return v;
}
inline std::string read_text(const std::string& path) {
    auto v = read_file(path);
    return std::string(v.begin(), v.end());
}
inline testjson::Value vector_json(const std::string& name) { return testjson::parse(read_text(data(name + ".json"))); }

inline std::vector<std::uint8_t> from_hex(const std::string& h) {
    std::string s = h.rfind("0x", 0) == 0 ? h.substr(2) : h;
    std::vector<std::uint8_t> out;
    for (std::size_t i = 0; i + 1 < s.size(); i += 2) out.push_back(std::uint8_t(std::stoul(s.substr(i, 2), nullptr, 16)));
    return out;
}
// "0x..." 128-bit value as 16 big-endian bytes (leading zeros restored).
inline std::array<std::uint8_t, 16> u128(const std::string& h) {
    std::string s = h.rfind("0x", 0) == 0 ? h.substr(2) : h;
    s = std::string(32 - s.size(), '0') + s;
    std::array<std::uint8_t, 16> out{};
    for (int i = 0; i < 16; ++i) out[i] = std::uint8_t(std::stoul(s.substr(2 * i, 2), nullptr, 16));
    return out;
}

// A fresh directory under the build tree, removed at scope exit.
struct TempDir {
    std::filesystem::path path;
    TempDir() {
        std::string tmpl = std::string(PVDUMP_BIN_DIR) + "/tmp-test-XXXXXX";
        std::vector<char> b(tmpl.begin(), tmpl.end());
        b.push_back(0);
        if (!mkdtemp(b.data())) throw std::runtime_error("mkdtemp");
        path = b.data();
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string operator/(const std::string& n) const { return (path / n).string(); }
    std::size_t entries() const {
        std::size_t n = 0;
        for (auto& e : std::filesystem::directory_iterator(path)) (void)e, ++n;
        return n;
    }
};

struct RunResult {
    int exit_code;
    std::string out, err;
};
// Runs a shell command line, capturing stdout and stderr.
inline RunResult run(const std::string& cmd) {
    TempDir d;
    std::string full = cmd + " >" + (d / "out") + " 2>" + (d / "err") + " </dev/null";
    int st = std::system(full.c_str());
    RunResult r;
    r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r.out = read_text(d / "out");
    r.err = read_text(d / "err");
    return r;
}

// Bytes allocated to the files process `pid` has open under directory `dir`
// (found through /proc/PID/fd, so unnamed O_TMPFILE files count too).
inline std::uint64_t open_bytes_under(pid_t pid, const std::string& dir) {
    std::uint64_t total = 0;
    std::error_code ec;
    const std::string canon = std::filesystem::weakly_canonical(dir, ec).string();
    for (auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
        std::error_code ec2;
        const std::string target = std::filesystem::read_symlink(e.path(), ec2).string();
        if (ec2 || target.rfind(canon + "/", 0) != 0) continue;
        struct stat st {};
        if (stat(e.path().c_str(), &st) == 0 && S_ISREG(st.st_mode)) total += std::uint64_t(st.st_blocks) * 512;
    }
    return total;
}

}  // namespace testutil
