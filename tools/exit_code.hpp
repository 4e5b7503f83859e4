// The one place where error categories become the tools' exit codes (the
// numbers README, the man pages and `--help` document). The libraries raise
// categories (format/error.hpp); only the tools decide how a process ends.
// A signal (SIGINT, SIGTERM, SIGHUP) is not an exit code: the handler in
// format/output_file.cpp removes temporaries and re-raises it, so the process
// dies by that signal and a shell reports 128 + its number (130, 143, 129).
#pragma once
#include "format/error.hpp"

namespace pvdump::tools {

constexpr int kExitOk = 0;

constexpr int exit_code(ErrorCode code) noexcept {
    switch (code) {
    case ErrorCode::Internal: return 1;
    case ErrorCode::Usage: return 2;
    case ErrorCode::InvalidArgument: return 2;  // a bad option value, as the tools see it
    case ErrorCode::Io: return 3;
    case ErrorCode::Format: return 4;
    case ErrorCode::Auth: return 5;
    case ErrorCode::Verify: return 6;
    case ErrorCode::VerifyWarning: return 7;
    case ErrorCode::Exists: return 8;
    }
    return 1;
}

}  // namespace pvdump::tools
