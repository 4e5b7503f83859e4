// Errors carry a typed code that the tools map to documented exit codes.
#pragma once
#include <stdexcept>
#include <string>

namespace pvdump {

// The exit code of every tool is the numeric value of the code.
enum class ErrorCode : int {
    Internal = 1,        // a bug or an unexpected library failure
    Usage = 2,           // bad command line, bad key file
    Io = 3,              // cannot read / write / create a file, disk full
    Format = 4,          // the input is malformed, truncated or not what it claims
    Auth = 5,            // authentication failed: wrong key or tampered blob
    Verify = 6,          // a verification error (invalid page state, missing tweak, ...)
    VerifyWarning = 7,   // pvinspect verify: only warnings were found
    Exists = 8,          // the output exists and --force was not given
    Interrupted = 130,   // SIGINT / SIGTERM
};

const char* error_code_name(ErrorCode code) noexcept;

class Error : public std::runtime_error {
public:
    Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
    ErrorCode code() const noexcept { return code_; }

private:
    ErrorCode code_;
};

[[noreturn]] inline void fail(ErrorCode code, const std::string& message) { throw Error(code, message); }

// "0x1a2b" formatting for messages (format/bytes.cpp, with hex_fixed and to_hex).
std::string hex(unsigned long long value);

}  // namespace pvdump
