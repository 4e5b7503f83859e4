// pvinspect's reports, each emitted once into a report::Emitter (tools/report.hpp),
// which writes it as text or as the JSON document docs/pvinspect.md describes.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "analysis/cpus.hpp"
#include "analysis/inspect.hpp"
#include "analysis/kernel_log.hpp"
#include "analysis/provenance.hpp"
#include "decryptor/verify.hpp"
#include "format/error.hpp"
#include "tools/report.hpp"

namespace pvdump::tools {

// The explanation of a dump-disallowed file (info's "What happened", cpus' and dmesg's refusal).
extern const char* const kDisallowedExplanation;

// The JSON back end for --json, the text back end otherwise.
std::unique_ptr<report::Emitter> make_emitter(bool json, const report::TextOptions& options = {});

// "tool", "version", "command", "path": the start of every document.
void emit_header(report::Emitter& e, const char* command, const std::string& path);

void emit_info(report::Emitter& e, const analysis::InfoReport& r);
// `aes_impl`: the AES-256-XTS implementation that decrypted the pages the checks read.
void emit_verify(report::Emitter& e, const std::string& path, const decryptor::VerifyReport& r,
                 const std::string& aes_impl);
void emit_cpus(report::Emitter& e, const std::string& path, const analysis::CpusReport& r,
               const std::vector<analysis::HostSupplied>& host);
// `aes_impl`: the AES-256-XTS implementation that decrypted the pages, if any were.
void emit_dmesg(report::Emitter& e, const std::string& path, const analysis::KernelLogReport& r,
                const std::vector<analysis::HostSupplied>& host, const std::optional<std::string>& aes_impl);
// The document of a failed command (JSON only: the text goes to stderr as always).
void emit_error(report::Emitter& e, const char* command, const std::string& path, const Error& error);

}  // namespace pvdump::tools
