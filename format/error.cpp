#include "format/error.hpp"

namespace pvdump {

const char* error_code_name(ErrorCode code) noexcept {
    switch (code) {
    case ErrorCode::Internal: return "internal error";
    case ErrorCode::Usage: return "usage error";
    case ErrorCode::InvalidArgument: return "invalid argument";
    case ErrorCode::Io: return "I/O error";
    case ErrorCode::Format: return "format error";
    case ErrorCode::Auth: return "authentication failed";
    case ErrorCode::Verify: return "verification failed";
    case ErrorCode::VerifyWarning: return "verification warnings";
    case ErrorCode::Exists: return "output exists";
    }
    return "error";
}

}  // namespace pvdump
