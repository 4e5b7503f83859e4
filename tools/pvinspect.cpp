// pvinspect: triage of a PV dump before and after decryption.
//   info    DUMP               what the file is, its layout and page states (no key)
//   verify  DUMP --key CCK     authenticate everything, every page-state finding
//   cpus    DUMP --key CCK     decrypted vCPU state beside the hypervisor's view
//   dmesg   DUMP --key CCK     the guest kernel log, as crash's `log` prints it
// cpus and dmesg also read a plain vmcore, without a key. Every command has --json.
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>

#include "decryptor/dump.hpp"
#include "analysis/cpus.hpp"
#include "analysis/inspect.hpp"
#include "analysis/provenance.hpp"
#include "decryptor/verify.hpp"
#include "analysis/kernel_log.hpp"
#include "tools/common.hpp"
#include "tools/report_json.hpp"
#include "tools/kdump_inspect.hpp"
#include "format/kdump_reader.hpp"
#include "format/xts.hpp"

using namespace pvdump;
using analysis::ContainerKind;
using analysis::Severity;

namespace {

constexpr const char* kTool = "pvinspect";

std::string plural(std::uint64_t n, const char* one, const char* many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
}

// "  Label           value" with the value column aligned.
void row(std::ostream& out, const std::string& label, const std::string& value, int indent = 2) {
    out << std::string(std::size_t(indent), ' ');
    if (value.empty()) out << label << "\n";
    else out << std::left << std::setw(18 - indent) << label << value << "\n";
}

using tools::Json;

Json json_header(const char* command, const std::string& path) {
    return {{"tool", kTool}, {"version", PVDUMP_VERSION}, {"command", command}, {"path", path}};
}

Json json_finding(const analysis::Finding& f) {
    return {{"severity", analysis::severity_name(f.severity)},
            {"rule", f.rule},
            {"paddr", f.paddr ? Json(hex(*f.paddr)) : Json(nullptr)},
            {"message", f.message}};
}

Json json_pages(const analysis::PageCounts& c) {
    return {{"total", c.total},   {"encrypted", c.encrypted}, {"zero", c.zero},      {"shared", c.shared},
            {"mapped", c.mapped}, {"invalid", c.invalid},     {"missing", c.missing}};
}

Json json_findings(const std::vector<analysis::Finding>& findings) {
    Json a = Json::array();
    for (const auto& f : findings) a.push_back(json_finding(f));
    return a;
}

std::string pages_line(const analysis::PageCounts& c) {
    std::string s = plural(c.total, "page", "pages") + ": " + std::to_string(c.encrypted) + " encrypted, " +
                    std::to_string(c.zero) + " zero, " + std::to_string(c.shared) + " shared, " + std::to_string(c.mapped) +
                    " mapped, " + std::to_string(c.invalid) + " invalid";
    if (c.missing) s += ", " + std::to_string(c.missing) + " without a tweak component";
    return s;
}

// One finding a line: severity, rule, guest address, message; columns aligned.
void print_finding(std::ostream& out, const analysis::Finding& f) {
    out << std::left << std::setw(8) << analysis::severity_name(f.severity) << std::setw(26) << f.rule
        << std::setw(12) << (f.paddr ? hex(*f.paddr) : std::string("-")) << f.message << "\n";
}


const char* kDisallowedExplanation =
    "The Secure Execution image probably did not allow dumping (bit 34 of the plaintext control flags, PCF, in its "
    "SE header), so the Ultravisor refused to start a dump and QEMU fell back to a plain dump of guest memory as the "
    "hypervisor sees it: the guest's pages are still encrypted under keys only the Ultravisor held, and nobody, not "
    "even the owner with the CCK, can decrypt them. Rebuild the image with dumping allowed and take the dump again.";

std::string kind_text(const analysis::InfoReport& r) {
    switch (r.kind) {
    case ContainerKind::PvDump:
        return "PV dump v1: a Protected Virtualization (Secure Execution) dump sealed by the Ultravisor; decrypt it "
               "with pvdecrypt and the guest's CCK";
    case ContainerKind::PlainVmcore:
        return std::string("plain s390x vmcore (no PV sections)") +
               (r.vmcoreinfo_note                        ? ", with a VMCOREINFO note"
                : r.evidence && r.evidence->vmcoreinfo_found ? ", the guest publishes VMCOREINFO"
                                                         : ", no VMCOREINFO found");
    case ContainerKind::DumpDisallowed:
        return "ELF core without PV sections whose memory looks like ciphertext: QEMU's fallback when dumping was "
               "not allowed";
    case ContainerKind::Unreadable: return "unreadable ELF core";
    }
    return "?";
}

// ---- info -------------------------------------------------------------------------

void print_info(std::ostream& out, const analysis::InfoReport& r) {
    out << "pvinspect info: " << r.path << "\n";
    row(out, "Kind", r.error && r.kind == ContainerKind::PvDump ? "PV dump v1, damaged (see below)" : kind_text(r));
    std::string size = std::to_string(r.file_size) + " bytes (" + tools::human_bytes(r.file_size) + ")";
    if (r.described_size > r.file_size) {
        const std::uint64_t missing = r.described_size - r.file_size;
        char pct[32];
        std::snprintf(pct, sizeof pct, "%.1f%%", 100.0 * double(missing) / double(r.described_size));
        size += ", but its headers describe " + std::to_string(r.described_size) + " bytes: " +
                std::to_string(missing) + " bytes (" + pct + ") are missing, the file was cut short";
    }
    row(out, "File size", size);
    if (r.error) row(out, "Problem", *r.error);
    row(out, "ELF layout", "e_ehsize " + std::to_string(r.e_ehsize) + (r.e_ehsize == 8 ? " (as QEMU writes it)" : "") +
                               ", program headers at " + hex(r.phoff) + " (" + std::to_string(r.phnum) +
                               "), section headers at " + hex(r.shoff));
    if (r.note_offset) row(out, "Notes", "offset " + hex(*r.note_offset) + ", size " + hex(r.note_size));
    std::string cpus = std::to_string(r.cpus);
    if (r.kind == ContainerKind::PvDump)
        cpus += r.cpus_pv_data == r.cpus ? (r.cpus == 1 ? ", with its encrypted state" : ", each with its encrypted state")
                                         : ", " + std::to_string(r.cpus_pv_data) + " with an encrypted state";
    row(out, "CPUs", cpus);
    row(out, "Memory", tools::human_bytes(r.memory_size) + " in " + plural(r.blocks.size(), "block", "blocks") +
                           (r.memory_offset ? ", from file offset " + hex(*r.memory_offset) : std::string()));
    for (std::size_t i = 0; i < r.blocks.size(); ++i) {
        const auto& b = r.blocks[i];
        std::string v = "guest " + hex(b.paddr) + "-" + hex(b.paddr + b.memsz - (b.memsz ? 1 : 0)) + " (" +
                        tools::human_bytes(b.memsz) + "), file offset " + hex(b.offset) + ", " + hex(b.filesz) +
                        " bytes in the file";
        if (!b.in_file) v += " (NOT all in the file)";
        row(out, "block " + std::to_string(i), v, 4);
    }
    if (!r.sections.empty()) {
        row(out, "Sections", "");
        for (const auto& s : r.sections) {
            std::string v = "offset " + hex(s.offset) + ", size " + hex(s.size);
            if (s.name == "pv_mem_meta" && r.meta_needed) v += " (the memory needs " + hex(r.meta_needed) + ")";
            if (s.name == "pv_compl" && r.compl_version)
                v += ", completion data version " + std::to_string(*r.compl_version) + ", length " +
                     std::to_string(r.compl_length.value_or(0));
            if (!s.in_file) v += " (NOT in the file)";
            row(out, s.name, v, 4);
        }
    } else if (!r.section_error.empty()) {
        row(out, "Sections", "unreadable: " + r.section_error);
    } else {
        row(out, "Sections", "none");
    }
    if (r.plan) {
        row(out, "Tweak coverage", r.plan->meta_covers_all ? "pv_mem_meta covers every page"
                                                           : "pv_mem_meta does NOT cover every page (" +
                                                                 std::to_string(r.plan->counts.missing) + " without a component)");
        row(out, "Page states", pages_line(r.plan->counts));
        row(out, "has_osii", "cannot be known without the key: the flag is inside the encrypted CPU states "
                             "(pvinspect cpus DUMP --key CCK)");
        std::size_t errors = 0, warnings = 0, notes = 0;
        for (const auto& f : r.plan->findings)
            (f.severity == Severity::Error ? errors : f.severity == Severity::Warning ? warnings : notes)++;
        row(out, "Findings", r.plan->findings.empty()
                                 ? std::string("none without the key (authentication and tweak reuse need it: pvinspect verify)")
                                 : plural(errors, "error", "errors") + ", " + plural(warnings, "warning", "warnings") + ", " +
                                       plural(notes, "note", "notes") + " without the key");
        std::size_t shown = 0;
        for (const auto& f : r.plan->findings) {
            if (++shown > 10) {
                out << "    ... and " << (r.plan->findings.size() - 10 + r.plan->findings_dropped)
                    << " more (pvinspect verify lists them all)\n";
                break;
            }
            out << "    ";
            print_finding(out, f);
        }
    }
    if (r.evidence) {
        const auto& e = *r.evidence;
        const std::uint64_t nonzero = e.pages_sampled - e.zero_pages;
        char mean[16];
        std::snprintf(mean, sizeof mean, "%.2f", e.mean_entropy);
        row(out, "Memory content",
            std::to_string(e.pages_sampled) + " pages sampled: " + std::to_string(e.zero_pages) + " zero, " +
                std::to_string(e.random_pages) + " of the other " + std::to_string(nonzero) +
                " look random (mean " + mean + " bits/byte)");
        row(out, "Lowcore", !e.lowcore_readable ? "guest page 0 is not in the dump"
                            : e.lowcore_sane    ? "page 0 looks like an s390 lowcore"
                                                : "page 0 does not look like an s390 lowcore");
        if (e.pv_cpu_notes)
            row(out, "PV notes", std::to_string(e.pv_cpu_notes) +
                                     " NT_S390_PV_CPU_DATA notes, but no 'pv_compl' section");
        if (r.kind == ContainerKind::DumpDisallowed) row(out, "What happened", kDisallowedExplanation);
    }
}

Json json_info(const analysis::InfoReport& r) {
    Json j = json_header("info", r.path);
    j["kind"] = analysis::container_kind_id(r.kind);
    j["kind_description"] = kind_text(r);
    j["error"] = tools::json_opt(r.error);
    j["file_size"] = r.file_size;
    j["described_size"] = r.described_size;
    j["elf"] = {{"e_ehsize", unsigned(r.e_ehsize)},
                {"phoff", r.phoff},
                {"phnum", r.phnum},
                {"shoff", r.shoff},
                {"note_offset", tools::json_opt(r.note_offset)},
                {"note_size", r.note_size}};
    j["cpus"] = {{"count", r.cpus}, {"with_pv_state", r.cpus_pv_data}};
    Json blocks = Json::array();
    for (const auto& b : r.blocks)
        blocks.push_back({{"phdr", b.phdr}, {"paddr", hex(b.paddr)}, {"size", b.memsz}, {"offset", b.offset},
                          {"file_size", b.filesz}, {"in_file", b.in_file}});
    j["memory"] = {{"size", r.memory_size}, {"offset", tools::json_opt(r.memory_offset)}, {"blocks", std::move(blocks)}};
    Json sections = Json::array();
    for (const auto& s : r.sections)
        sections.push_back({{"name", s.name}, {"offset", s.offset}, {"size", s.size}, {"in_file", s.in_file}});
    j["sections"] = std::move(sections);
    j["section_error"] = r.section_error.empty() ? Json(nullptr) : Json(r.section_error);
    j["vmcoreinfo_note"] = r.vmcoreinfo_note;
    if (r.plan || r.compl_version) {
        Json pv;
        pv["completion"] = {{"version", tools::json_opt(r.compl_version)}, {"length", tools::json_opt(r.compl_length)}};
        pv["mem_meta_needed"] = r.meta_needed;
        if (r.plan) {
            pv["mem_meta_covers_all"] = r.plan->meta_covers_all;
            pv["pages"] = json_pages(r.plan->counts);
            pv["findings"] = json_findings(r.plan->findings);
            pv["findings_dropped"] = r.plan->findings_dropped;
        }
        pv["has_osii"] = "unknown-without-key";
        j["pv"] = std::move(pv);
    } else {
        j["pv"] = nullptr;
    }
    if (r.evidence) {
        const auto& e = *r.evidence;
        j["memory_content"] = {{"pages_sampled", e.pages_sampled}, {"zero_pages", e.zero_pages},
                               {"random_pages", e.random_pages},   {"mean_entropy", e.mean_entropy},
                               {"lowcore_readable", e.lowcore_readable}, {"lowcore_sane", e.lowcore_sane},
                               {"vmcoreinfo_found", e.vmcoreinfo_found}, {"pv_cpu_notes", e.pv_cpu_notes}};
    } else {
        j["memory_content"] = nullptr;
    }
    j["explanation"] = r.kind == ContainerKind::DumpDisallowed ? Json(kDisallowedExplanation) : Json(nullptr);
    return j;
}

int cmd_info(const std::string& path, bool json) {
    if (format::is_kdump_file(path)) return tools::kdump_info(kTool, path, json);
    const analysis::InfoReport r = analysis::inspect_info(path);
    if (json) tools::write_json(std::cout, json_info(r));
    else print_info(std::cout, r);
    std::cout.flush();
    if (r.error) {
        std::cerr << kTool << ": error: " << *r.error << "\n";
        return tools::exit_code(ErrorCode::Format);
    }
    return 0;
}

// ---- verify -------------------------------------------------------------------------

const char* verify_result(const decryptor::VerifyReport& r) {
    if (r.auth_error) return "auth-failed";
    if (r.has_error()) return "errors";
    if (r.has_warning()) return "warnings";
    for (const auto& f : r.findings)
        if (f.severity == Severity::Note) return "notes";
    return "clean";
}

int cmd_verify(const std::string& path, const std::string& key, bool json) {
    decryptor::SealedDump dump = decryptor::SealedDump::open(path);
    decryptor::VerifyReport r;
    {
        format::SecretBytes cck = tools::load_key(kTool, key);
        r = decryptor::inspect_verify(dump, cck.view());
        cck.wipe();
    }
    const std::optional<ErrorCode> outcome = r.outcome();
    const int code = outcome ? tools::exit_code(*outcome) : tools::kExitOk;
    std::size_t errors = 0, warnings = 0, notes = 0;
    for (const auto& f : r.findings) (f.severity == Severity::Error ? errors : f.severity == Severity::Warning ? warnings : notes)++;
    std::size_t cpus_ok = 0;
    for (const auto& c : r.cpus) cpus_ok += c.authenticated;

    if (json) {
        Json j = json_header("verify", path);
        j["result"] = verify_result(r);
        j["exit_code"] = code;
        j["completion_authenticated"] = r.completion_authenticated;
        Json cpus = Json::array();
        for (const auto& c : r.cpus)
            cpus.push_back({{"index", c.index}, {"authenticated", c.authenticated}, {"has_osii", c.has_osii},
                            {"error", c.error.empty() ? Json(nullptr) : Json(c.error)}});
        j["cpus"] = std::move(cpus);
        j["pages"] = json_pages(r.counts);
        j["mem_meta_covers_all"] = r.meta_covers_all;
        j["summary"] = {{"errors", errors}, {"warnings", warnings}, {"notes", notes}};
        j["findings"] = json_findings(r.findings);
        j["findings_dropped"] = r.findings_dropped;
        j["aes_impl"] = format::xts_selected_name();  // the pages of the guest structures were decrypted
        tools::write_json(std::cout, j);
    } else {
        for (const auto& f : r.findings) print_finding(std::cout, f);
        std::cout << "verify: " << verify_result(r) << ": " << plural(errors, "error", "errors") << ", "
                  << plural(warnings, "warning", "warnings") << ", " << plural(notes, "note", "notes");
        if (r.findings_dropped) std::cout << " (" << r.findings_dropped << " more not listed)";
        std::cout << "; completion data and " << cpus_ok << " of " << plural(r.cpus.size(), "CPU state", "CPU states")
                  << " authenticated; " << pages_line(r.counts) << "\n";
    }
    std::cout.flush();
    if (r.auth_error) std::cerr << kTool << ": error: " << *r.auth_error << "\n";
    return code;
}

// ---- cpus ------------------------------------------------------------------------------

// A dump without PV sections that is ciphertext cannot be read as a vmcore.
void refuse_disallowed(const format::CoreFile& dump) {
    if (dump.is_pv()) return;
    const analysis::InfoReport info = analysis::inspect_info(dump);
    if (info.kind == ContainerKind::DumpDisallowed)
        fail(ErrorCode::Format, "'" + dump.name() + "' is not a PV dump and its memory looks like ciphertext: " +
                                    kDisallowedExplanation);
}

// Structures read from shared (host-supplied) pages: one warning line each on
// stderr (the first 20, then a count).
void warn_host_supplied(const std::vector<analysis::HostSupplied>& host) {
    std::size_t shown = 0;
    for (const auto& h : host) {
        if (++shown > 20) break;
        std::cerr << kTool << ": warning: " << h.message() << "\n";
    }
    if (host.size() > 20) std::cerr << kTool << ": warning: ... and " << host.size() - 20 << " more pages\n";
}

Json json_host_supplied(const std::vector<analysis::HostSupplied>& host) {
    Json a = Json::array();
    for (const auto& h : host) a.push_back({{"structure", h.structure}, {"paddr", hex(h.paddr)}, {"message", h.message()}});
    return a;
}

int cmd_cpus(const std::string& path, const std::string& key, bool json, bool diff_only) {
    decryptor::SealedDump sealed = decryptor::SealedDump::open(path);
    const format::CoreFile& dump = sealed.file();
    analysis::CpusReport r;
    std::vector<analysis::HostSupplied> host;
    if (dump.is_pv()) {
        if (key.empty())
            fail(ErrorCode::Usage, "'" + path + "' is a PV dump: its CPU states are encrypted, give --key CCK");
        format::SecretBytes cck = tools::load_key(kTool, key);
        sealed.unlock(cck.view());
        cck.wipe();
        const auto records = sealed.cpus();
        std::vector<std::pair<unsigned, std::uint32_t>> prefixes;
        for (const auto& c : records) prefixes.emplace_back(c.index, c.state.prefix);
        host = analysis::shared_prefix_pages(prefixes, analysis::PageOrigins(sealed.pages()));
        r = analysis::compare_cpus(records);
    } else {
        refuse_disallowed(dump);
        if (!key.empty()) std::cerr << kTool << ": note: '" << path << "' is not a PV dump; the key is not needed\n";
        r = analysis::plain_cpus(dump);
    }
    if (json) {
        Json j = json_header("cpus", path);
        j["pv"] = r.pv;
        j["host_supplied"] = json_host_supplied(host);
        Json cpus = Json::array();
        for (const auto& c : r.cpus) {
            Json fields = Json::array();
            for (const auto& f : c.fields)
                fields.push_back({{"name", f.name}, {"value", f.value},
                                  {"hypervisor", r.pv ? Json(f.hypervisor) : Json(nullptr)}, {"differs", f.differs}});
            cpus.push_back({{"index", c.index},
                            {"has_osii", r.pv ? Json(c.has_osii) : Json(nullptr)},
                            {"osii_explanation", r.pv ? Json(analysis::osii_sentence(c)) : Json(nullptr)},
                            {"differing", c.differing},
                            {"fields", std::move(fields)}});
        }
        j["cpus"] = std::move(cpus);
        tools::write_json(std::cout, j);
        std::cout.flush();
        warn_host_supplied(host);
        return 0;
    }
    auto& out = std::cout;
    for (std::size_t i = 0; i < r.cpus.size(); ++i) {
        const auto& c = r.cpus[i];
        if (i) out << "\n";
        if (r.pv) {
            out << "CPU " << c.index << ": has_osii " << (c.has_osii ? "set" : "clear") << ", "
                << plural(c.differing, "field differs", "fields differ") << " from the hypervisor's view\n";
            out << "  " << analysis::osii_sentence(c) << "\n";
            out << "  " << std::left << std::setw(18) << "field" << std::setw(36) << "decrypted (authoritative)"
                << "hypervisor view\n";
        } else {
            out << "CPU " << c.index << " (plain vmcore: the registers from its notes)\n";
        }
        if (diff_only && c.differing == 0) out << "  (no field differs)\n";
        for (const auto& f : c.fields) {
            if (diff_only && !f.differs) continue;
            out << "  " << std::left << std::setw(18) << f.name;
            if (r.pv)
                out << std::setw(36) << f.value << (f.differs ? std::setw(36) : std::setw(0)) << f.hypervisor
                    << (f.differs ? "DIFFERS" : "");
            else
                out << f.value;
            out << "\n";
        }
    }
    out.flush();
    warn_host_supplied(host);
    return 0;
}

// ---- dmesg -------------------------------------------------------------------------------

std::optional<std::string> caller_text(const analysis::LogRecord& rec) {
    if (!rec.caller_id) return std::nullopt;
    const std::uint32_t id = *rec.caller_id;
    return (id & 0x80000000u ? "C" : "T") + std::to_string(id & 0x7fffffffu);
}

// `aes_impl` is set to the AES-256-XTS implementation when the pages are decrypted.
analysis::KernelLogReport elf_kernel_log(const std::string& path, const std::string& key,
                                         std::vector<analysis::HostSupplied>& host, std::optional<std::string>& aes_impl) {
    decryptor::SealedDump sealed = decryptor::SealedDump::open(path);
    const format::CoreFile& dump = sealed.file();
    analysis::KernelLogReport r;
    if (dump.is_pv()) {
        if (key.empty())
            fail(ErrorCode::Usage, "'" + path + "' is a PV dump: its memory is encrypted, give --key CCK");
        format::SecretBytes cck = tools::load_key(kTool, key);
        sealed.unlock(cck.view());
        cck.wipe();
        auto mem = sealed.memory();
        // A PV dump's clear notes come from the hypervisor: only the guest's own VMCOREINFO counts.
        analysis::TracedMemory traced(*mem);
        r = analysis::dump_kernel_log(traced, std::nullopt, &traced);
        host = analysis::host_supplied(traced, analysis::PageOrigins(sealed.pages()));
        aes_impl = format::xts_selected_name();
    } else {
        refuse_disallowed(dump);
        if (!key.empty()) std::cerr << kTool << ": note: '" << path << "' is not a PV dump; the key is not needed\n";
        r = analysis::dump_kernel_log(*dump.plain_memory(), dump.vmcoreinfo_note());
    }
    return r;
}

int cmd_dmesg(const std::string& path, const std::string& key, bool json, const analysis::LogFormat& fmt) {
    std::vector<analysis::HostSupplied> host;  // a kdump file is decrypted: no page origins to trace
    std::optional<std::string> aes_impl;       // set when pages were decrypted (a PV dump)
    const analysis::KernelLogReport r = format::is_kdump_file(path) ? tools::kdump_kernel_log(kTool, path, key)
                                                                    : elf_kernel_log(path, key, host, aes_impl);
    const auto& log = r.log;
    if (json) {
        Json j = json_header("dmesg", path);
        j["vmcoreinfo_source"] = r.vmcoreinfo_source;
        j["host_supplied"] = json_host_supplied(host);
        j["osrelease"] = tools::json_opt(r.osrelease);
        j["log_format"] = log.source == analysis::KernelLogSource::PrintkRingbuffer ? "printk-ringbuffer" : "log-buf";
        j["not_committed"] = log.not_committed;
        j["invalid"] = log.invalid;
        j["truncated"] = log.truncated;
        Json records = Json::array();
        for (const auto& rec : log.records)
            records.push_back({{"seq", rec.seq},
                               {"ts_nsec", rec.ts_nsec},
                               {"level", unsigned(rec.level)},
                               {"facility", unsigned(rec.facility)},
                               {"caller", tools::json_opt(caller_text(rec))},
                               {"text", rec.text},
                               {"subsystem", rec.subsystem},
                               {"device", rec.device}});
        j["records"] = std::move(records);
        j["aes_impl"] = tools::json_opt(aes_impl);
        tools::write_json(std::cout, j);
    } else {
        std::cout << analysis::format_kernel_log(log.records, fmt);
    }
    std::cout.flush();
    warn_host_supplied(host);
    if (log.invalid || log.truncated)
        std::cerr << kTool << ": note: " << log.invalid << " damaged records skipped, " << log.truncated
                  << " records truncated\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Triage an IBM Z Protected Virtualization (Secure Execution) guest dump before and after\n"
                 "decryption: what the file is and whether it is whole (no key needed), whether everything\n"
                 "authenticates, the vCPUs beside the hypervisor's view, and the guest kernel log.",
                 kTool};
    app.require_subcommand(1);
    app.set_version_flag("-V,--version", std::string("pvinspect (pvdump) ") + PVDUMP_VERSION);
    std::string dump, key;
    bool json = false, diff_only = false;
    bool no_ts = false, show_level = false, show_caller = false, show_dict = false;

    auto add_common = [&](CLI::App* sub, bool with_key, const char* key_help) {
        sub->add_option("DUMP", dump, "The dump: a sealed PV dump, or a plain s390x vmcore")->required();
        if (with_key) sub->add_option("-k,--key", key, key_help);
        sub->add_flag("--json", json, "Machine-readable output (schema: docs/pvinspect.md)");
    };
    auto* info = app.add_subcommand("info", "What the file is, its layout, CPUs, memory and page states (no key)");
    add_common(info, false, "");
    auto* verify = app.add_subcommand(
        "verify", "Authenticate the completion data and every CPU state, check keys and every page state; exit 0 "
                  "only when clean (notes allowed), 7 on warnings, 6 on errors, 5 when authentication fails");
    add_common(verify, true, "Customer Communication Key file (exactly 32 bytes)");
    verify->get_option("--key")->required();
    auto* cpus = app.add_subcommand("cpus", "Per vCPU, the decrypted state beside the hypervisor's view, differences marked");
    add_common(cpus, true, "Customer Communication Key file (needed for a PV dump, not for a plain vmcore)");
    cpus->add_flag("--diff-only", diff_only, "Show only the fields that differ from the hypervisor's view");
    auto* dmesg = app.add_subcommand("dmesg", "The guest kernel log, as crash's 'log' command prints it");
    add_common(dmesg, true, "Customer Communication Key file (needed for a PV dump, not for a plain vmcore)");
    dmesg->add_flag("-t", no_ts, "Without timestamps (crash: log -t)");
    dmesg->add_flag("-m", show_level, "With each message's log level (crash: log -m)");
    dmesg->add_flag("-c", show_caller, "With the caller (task or CPU) of each message (crash: log -c)");
    dmesg->add_flag("-d", show_dict, "With SUBSYSTEM= and DEVICE= lines (crash: log -d)");

    return tools::run_tool(kTool, argc, argv, app, [&]() -> int {
        try {
            if (info->parsed()) return cmd_info(dump, json);
            if (verify->parsed()) return cmd_verify(dump, key, json);
            if (cpus->parsed()) return cmd_cpus(dump, key, json, diff_only);
            analysis::LogFormat fmt;
            fmt.timestamps = !no_ts;
            fmt.show_level = show_level;
            fmt.show_caller = show_caller;
            fmt.show_dict = show_dict;
            return cmd_dmesg(dump, key, json, fmt);
        } catch (const Error& e) {
            // --json readers get a document on failure too; stderr and the exit code as always.
            if (json) {
                Json j = json_header(info->parsed() ? "info" : verify->parsed() ? "verify" : cpus->parsed() ? "cpus" : "dmesg", dump);
                j["error"] = {{"code", tools::exit_code(e.code())}, {"name", error_code_name(e.code())}, {"message", e.what()}};
                tools::write_json(std::cout, j);
                std::cout.flush();
            }
            throw;
        }
    });
}
