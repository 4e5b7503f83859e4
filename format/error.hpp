// Errors carry a typed category; the tools map categories to their documented
// exit codes in one place (tools/exit_code.hpp), the public API to its own
// codes (api/pvdump.cpp). The libraries never choose an exit code.
#pragma once
#include <stdexcept>
#include <string>

namespace pvdump {

// What went wrong, as a category. The values carry no meaning of their own.
enum class ErrorCode {
    Internal,         // a bug or an unexpected library failure
    Usage,            // the tools' command line or key file is bad (tools/, producer/ options)
    InvalidArgument,  // a library was given a parameter it cannot take (a CCK not 32 bytes,
                      // an unknown compression, a layout that does not fit ELF, ...)
    Io,               // cannot read / write / create a file, disk full
    Format,           // the input is malformed, truncated or not what it claims
    Auth,             // authentication failed: wrong key or tampered blob
    Verify,           // a verification error (invalid page state, missing tweak, ...)
    VerifyWarning,    // pvinspect verify: only warnings were found
    Exists,           // the output exists and --force was not given
};

const char* error_code_name(ErrorCode code) noexcept;

class Error : public std::runtime_error {
public:
    Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
    ErrorCode code() const noexcept { return code_; }

private:
    ErrorCode code_;
};

// Error(Format) has a type of its own, so that a lenient reader can take the
// input's faults at its boundary (format::lenient, format/diagnostics.hpp) and
// let every other category pass, with no catch-and-rethrow by code.
class FormatError : public Error {
public:
    explicit FormatError(const std::string& message) : Error(ErrorCode::Format, message) {}
};

// Raise `code`; ErrorCode::Format as FormatError. Libraries raise through here.
[[noreturn]] inline void fail(ErrorCode code, const std::string& message) {
    if (code == ErrorCode::Format) throw FormatError(message);
    throw Error(code, message);
}

// "0x1a2b" formatting for messages (format/bytes.cpp, with hex_fixed and to_hex).
std::string hex(unsigned long long value);

}  // namespace pvdump
