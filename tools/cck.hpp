// The CCK file loader, shared by pvseal and the owner's tools.
#pragma once
#include <string>

#include "format/crypto.hpp"

namespace pvdump::tools {

// Loads a CCK file: exactly 32 bytes (Error(Usage) otherwise). Sets
// `group_readable` when the file's mode lets group or others read it.
format::SecretBytes load_cck(const std::string& path, bool* group_readable = nullptr);

}  // namespace pvdump::tools
