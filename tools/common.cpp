#include "tools/common.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>

#include "tools/cck.hpp"
#include "format/output_file.hpp"
#include "tools/version.hpp"

namespace pvdump::tools {

std::string exit_code_help() {
    return "Exit codes:\n"
           "  0    success\n"
           "  1    internal error\n"
           "  2    usage error (bad option, bad key file)\n"
           "  3    I/O error (cannot read or write a file, disk full)\n"
           "  4    format error (malformed, truncated or not a PV dump)\n"
           "  5    authentication failed (wrong key, or tampered completion/CPU data)\n"
           "  6    verification failed (invalid page state, missing tweak, tweak reuse)\n"
           "  7    verification warnings only (pvinspect verify)\n"
           "  8    output exists (use --force)\n"
           "  130  ended by SIGINT (143: SIGTERM, 129: SIGHUP): the process dies by the\n"
           "       signal (a shell shows 128 + its number); no output is left behind\n";
}

int run_tool(const char* tool, int argc, char** argv, CLI::App& app, const std::function<int()>& body) {
    app.footer(exit_code_help());
    // One version for every tool: project(VERSION) and the git commit (tools/version.hpp),
    // then the AES-256-XTS implementation this CPU runs (format/xts.hpp).
    app.set_version_flag("-V,--version",
                         version_line(tool) + "\nAES-256-XTS: " + format::xts_impl_description());
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::cerr << tool << ": error: " << e.what() << " (see --help)\n";
        return exit_code(ErrorCode::Usage);
    }
    format::install_interrupt_handlers();
    try {
        return body();
    } catch (const Error& e) {
        std::cerr << tool << ": error: " << e.what() << "\n";
        return exit_code(e.code());
    } catch (const std::bad_alloc&) {
        std::cerr << tool << ": error: out of memory\n";
        return exit_code(ErrorCode::Internal);
    } catch (const std::exception& e) {
        std::cerr << tool << ": internal error: " << e.what() << "\n";
        return exit_code(ErrorCode::Internal);
    }
}

format::SecretBytes load_key(const char* tool, const std::string& path) {
    bool loose = false;
    format::SecretBytes cck = load_cck(path, &loose);
    if (loose)
        std::cerr << tool << ": warning: the key file '" << path << "' is readable by group or others (chmod 600 it)\n";
    return cck;
}

std::string human_bytes(std::uint64_t bytes) {
    static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = double(bytes);
    int u = 0;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        ++u;
    }
    char buf[32];
    if (u == 0 || std::fabs(v - std::round(v)) < 0.05)
        std::snprintf(buf, sizeof buf, "%.0f %s", v, units[u]);
    else
        std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
    return buf;
}

Progress::Progress(const char* tool, Mode mode)
    : tool_(tool), enabled_(mode == Mode::On || (mode == Mode::Auto && isatty(STDERR_FILENO))),
      start_(std::chrono::steady_clock::now()), last_(start_) {}

Progress::~Progress() { finish(); }

void Progress::update(std::uint64_t done, std::uint64_t total) {
    if (!enabled_) return;
    auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(250) && done < total) return;
    last_ = now;
    const double secs = std::chrono::duration<double>(now - start_).count();
    const double rate = secs > 0 ? double(done) / secs : 0;
    const double left = rate > 0 ? double(total - done) / rate : 0;
    std::fprintf(stderr, "\r%s: %s / %s  %5.1f%%  %s/s  %3.0fs left ", tool_, human_bytes(done).c_str(),
                 human_bytes(total).c_str(), total ? 100.0 * double(done) / double(total) : 100.0,
                 human_bytes(std::uint64_t(rate)).c_str(), left);
    std::fflush(stderr);
    shown_ = true;
}

void Progress::finish() {
    if (shown_) {
        std::fputs("\n", stderr);
        shown_ = false;
    }
}

void add_progress_flags(CLI::App& app, bool& progress, bool& quiet) {
    auto* p = app.add_flag("--progress", progress, "Show progress on stderr even when it is not a terminal");
    auto* q = app.add_flag("-q,--quiet", quiet, "No progress and no summary line");
    p->excludes(q);
}

Progress::Mode progress_mode(bool progress, bool quiet) {
    if (quiet) return Progress::Mode::Off;
    if (progress) return Progress::Mode::On;
    return Progress::Mode::Auto;
}

}  // namespace pvdump::tools
