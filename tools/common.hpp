// What the three mains share: error reporting and exit codes,
// human-readable numbers, progress on stderr.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "format/crypto.hpp"
#include "format/error.hpp"
#include "tools/exit_code.hpp"

// CLI11 is included only where arguments are parsed (the mains and
// common.cpp): the header costs 5-7 s of compile time per translation unit.
namespace CLI {
class App;
}

namespace pvdump::tools {

// The exit codes every tool documents in --help.
std::string exit_code_help();

// Runs body; maps pvdump::Error to its exit code (tools/exit_code.hpp) with a
// one-line "TOOL: error: ..." on stderr, CLI11 errors to usage (2), anything else to 1.
int run_tool(const char* tool, int argc, char** argv, CLI::App& app, const std::function<int()>& body);

// Loads a CCK file (exactly 32 bytes, Error(Usage) otherwise) and warns on
// stderr, as "TOOL: warning: ...", when group or others may read it.
format::SecretBytes load_key(const char* tool, const std::string& path);

// "4 MiB", "1.5 GiB"
std::string human_bytes(std::uint64_t bytes);

// Progress on stderr: enabled when stderr is a terminal, unless forced.
class Progress {
public:
    enum class Mode { Auto, On, Off };
    Progress(const char* tool, Mode mode);
    ~Progress();
    bool enabled() const { return enabled_; }
    void update(std::uint64_t done, std::uint64_t total);
    void finish();

private:
    const char* tool_;
    bool enabled_;
    bool shown_ = false;
    std::chrono::steady_clock::time_point start_, last_;
};

// Adds --progress / --quiet to an app; returns the resulting mode.
void add_progress_flags(CLI::App& app, bool& progress, bool& quiet);
Progress::Mode progress_mode(bool progress, bool quiet);

}  // namespace pvdump::tools
