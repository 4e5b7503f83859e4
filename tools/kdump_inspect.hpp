// pvinspect's view of a kdump-compressed file (tools/kdump_inspect.cpp).
#pragma once
#include <string>

#include "analysis/inspect.hpp"
#include "format/kdump_reader.hpp"
#include "tools/report.hpp"

namespace pvdump::tools {

// `pvinspect info` on a kdump file: format, compression, dump level, pages kept and
// excluded; every page is decompressed on the way (a damaged one is Error(Format)).
// Returns the exit code.
int kdump_info(const char* tool, const std::string& path, bool json);
// The report itself, into either back end (tools/report.hpp).
void emit_kdump_info(report::Emitter& e, const char* tool, const std::string& path, const format::KdumpFileInfo& in);
// The guest kernel log read from a kdump file (its VMCOREINFO note first).
analysis::KernelLogReport kdump_kernel_log(const char* tool, const std::string& path, const std::string& key);

}  // namespace pvdump::tools
