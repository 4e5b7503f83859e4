// pvdump's version: the number from project(... VERSION) in CMakeLists.txt and
// the git commit the binaries were built from (generated at build time by
// cmake/pvdump_version.cmake).
#pragma once
#include <string>

namespace pvdump {

// "0.1.0"
const char* version_number();
// "1a2b3c4d5e6f", "1a2b3c4d5e6f-dirty", or "" when not built from git.
const char* git_commit();
// What --version prints: "TOOL (pvdump) 0.1.0 (git 1a2b3c4d5e6f)".
inline std::string version_line(const std::string& tool) {
    std::string line = tool + " (pvdump) " + version_number();
    if (*git_commit()) line += std::string(" (git ") + git_commit() + ")";
    return line;
}

}  // namespace pvdump
