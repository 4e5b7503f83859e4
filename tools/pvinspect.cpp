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
#include "tools/json.hpp"

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

void json_header(tools::JsonWriter& j, const char* command, const std::string& path) {
    j.field("tool", kTool).field("version", PVDUMP_VERSION).field("command", command).field("path", path);
}

void json_finding(tools::JsonWriter& j, const analysis::Finding& f) {
    j.begin_object();
    j.field("severity", analysis::severity_name(f.severity)).field("rule", f.rule);
    if (f.paddr) j.field("paddr", hex(*f.paddr));
    else j.null_field("paddr");
    j.field("message", f.message);
    j.end_object();
}

void json_pages(tools::JsonWriter& j, const analysis::PageCounts& c) {
    j.key("pages").begin_object();
    j.field("total", c.total).field("encrypted", c.encrypted).field("zero", c.zero).field("shared", c.shared);
    j.field("mapped", c.mapped).field("invalid", c.invalid).field("missing", c.missing);
    j.end_object();
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

void json_info(std::ostream& os, const analysis::InfoReport& r) {
    tools::JsonWriter j(os);
    j.begin_object();
    json_header(j, "info", r.path);
    j.field("kind", analysis::container_kind_id(r.kind)).field("kind_description", kind_text(r));
    if (r.error) j.field("error", *r.error);
    else j.null_field("error");
    j.field("file_size", r.file_size).field("described_size", r.described_size);
    j.key("elf").begin_object();
    j.field("e_ehsize", unsigned(r.e_ehsize)).field("phoff", r.phoff).field("phnum", r.phnum).field("shoff", r.shoff);
    if (r.note_offset) j.field("note_offset", *r.note_offset);
    else j.null_field("note_offset");
    j.field("note_size", r.note_size);
    j.end_object();
    j.key("cpus").begin_object().field("count", r.cpus).field("with_pv_state", r.cpus_pv_data).end_object();
    j.key("memory").begin_object();
    j.field("size", r.memory_size);
    if (r.memory_offset) j.field("offset", *r.memory_offset);
    else j.null_field("offset");
    j.key("blocks").begin_array();
    for (const auto& b : r.blocks) {
        j.begin_object();
        j.field("phdr", b.phdr).field("paddr", hex(b.paddr)).field("size", b.memsz).field("offset", b.offset);
        j.field("file_size", b.filesz).field("in_file", b.in_file);
        j.end_object();
    }
    j.end_array();
    j.end_object();
    j.key("sections").begin_array();
    for (const auto& s : r.sections)
        j.begin_object().field("name", s.name).field("offset", s.offset).field("size", s.size).field("in_file", s.in_file).end_object();
    j.end_array();
    if (r.section_error.empty()) j.null_field("section_error");
    else j.field("section_error", r.section_error);
    j.field("vmcoreinfo_note", r.vmcoreinfo_note);
    if (r.plan || r.compl_version) {
        j.key("pv").begin_object();
        j.key("completion").begin_object();
        if (r.compl_version) j.field("version", *r.compl_version).field("length", *r.compl_length);
        else j.null_field("version").null_field("length");
        j.end_object();
        j.field("mem_meta_needed", r.meta_needed);
        if (r.plan) {
            j.field("mem_meta_covers_all", r.plan->meta_covers_all);
            json_pages(j, r.plan->counts);
            j.key("findings").begin_array();
            for (const auto& f : r.plan->findings) json_finding(j, f);
            j.end_array();
            j.field("findings_dropped", r.plan->findings_dropped);
        }
        j.field("has_osii", "unknown-without-key");
        j.end_object();
    } else {
        j.null_field("pv");
    }
    if (r.evidence) {
        const auto& e = *r.evidence;
        j.key("memory_content").begin_object();
        j.field("pages_sampled", e.pages_sampled).field("zero_pages", e.zero_pages).field("random_pages", e.random_pages);
        j.field("mean_entropy", e.mean_entropy).field("lowcore_readable", e.lowcore_readable);
        j.field("lowcore_sane", e.lowcore_sane).field("vmcoreinfo_found", e.vmcoreinfo_found);
        j.field("pv_cpu_notes", e.pv_cpu_notes);
        j.end_object();
    } else {
        j.null_field("memory_content");
    }
    if (r.kind == ContainerKind::DumpDisallowed) j.field("explanation", kDisallowedExplanation);
    else j.null_field("explanation");
    j.end_object();
}

int cmd_info(const std::string& path, bool json) {
    const analysis::InfoReport r = analysis::inspect_info(path);
    if (json) json_info(std::cout, r);
    else print_info(std::cout, r);
    std::cout.flush();
    if (r.error) {
        std::cerr << kTool << ": error: " << *r.error << "\n";
        return int(ErrorCode::Format);
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
    const int code = outcome ? int(*outcome) : 0;
    std::size_t errors = 0, warnings = 0, notes = 0;
    for (const auto& f : r.findings) (f.severity == Severity::Error ? errors : f.severity == Severity::Warning ? warnings : notes)++;
    std::size_t cpus_ok = 0;
    for (const auto& c : r.cpus) cpus_ok += c.authenticated;

    if (json) {
        tools::JsonWriter j(std::cout);
        j.begin_object();
        json_header(j, "verify", path);
        j.field("result", verify_result(r)).field("exit_code", code);
        j.field("completion_authenticated", r.completion_authenticated);
        j.key("cpus").begin_array();
        for (const auto& c : r.cpus) {
            j.begin_object().field("index", c.index).field("authenticated", c.authenticated).field("has_osii", c.has_osii);
            if (c.error.empty()) j.null_field("error");
            else j.field("error", c.error);
            j.end_object();
        }
        j.end_array();
        json_pages(j, r.counts);
        j.field("mem_meta_covers_all", r.meta_covers_all);
        j.key("summary").begin_object().field("errors", errors).field("warnings", warnings).field("notes", notes).end_object();
        j.key("findings").begin_array();
        for (const auto& f : r.findings) json_finding(j, f);
        j.end_array();
        j.field("findings_dropped", r.findings_dropped);
        j.end_object();
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

void json_host_supplied(tools::JsonWriter& j, const std::vector<analysis::HostSupplied>& host) {
    j.key("host_supplied").begin_array();
    for (const auto& h : host)
        j.begin_object().field("structure", h.structure).field("paddr", h.paddr).field("message", h.message()).end_object();
    j.end_array();
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
        host = analysis::shared_prefix_pages(prefixes, analysis::PageOrigins(dump));
        r = analysis::compare_cpus(records);
    } else {
        refuse_disallowed(dump);
        if (!key.empty()) std::cerr << kTool << ": note: '" << path << "' is not a PV dump; the key is not needed\n";
        r = analysis::plain_cpus(dump);
    }
    if (json) {
        tools::JsonWriter j(std::cout);
        j.begin_object();
        json_header(j, "cpus", path);
        j.field("pv", r.pv);
        json_host_supplied(j, host);
        j.key("cpus").begin_array();
        for (const auto& c : r.cpus) {
            j.begin_object().field("index", c.index);
            if (r.pv) j.field("has_osii", c.has_osii).field("osii_explanation", analysis::osii_sentence(c));
            else j.null_field("has_osii").null_field("osii_explanation");
            j.field("differing", c.differing);
            j.key("fields").begin_array();
            for (const auto& f : c.fields) {
                j.begin_object().field("name", f.name).field("value", f.value);
                if (r.pv) j.field("hypervisor", f.hypervisor);
                else j.null_field("hypervisor");
                j.field("differs", f.differs).end_object();
            }
            j.end_array();
            j.end_object();
        }
        j.end_array();
        j.end_object();
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

int cmd_dmesg(const std::string& path, const std::string& key, bool json, const analysis::LogFormat& fmt) {
    decryptor::SealedDump sealed = decryptor::SealedDump::open(path);
    const format::CoreFile& dump = sealed.file();
    analysis::KernelLogReport r;
    std::vector<analysis::HostSupplied> host;
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
        host = analysis::host_supplied(traced, analysis::PageOrigins(dump));
    } else {
        refuse_disallowed(dump);
        if (!key.empty()) std::cerr << kTool << ": note: '" << path << "' is not a PV dump; the key is not needed\n";
        r = analysis::dump_kernel_log(*dump.plain_memory(), dump.vmcoreinfo_note());
    }
    const auto& log = r.log;
    if (json) {
        tools::JsonWriter j(std::cout);
        j.begin_object();
        json_header(j, "dmesg", path);
        j.field("vmcoreinfo_source", r.vmcoreinfo_source);
        json_host_supplied(j, host);
        if (r.osrelease) j.field("osrelease", *r.osrelease);
        else j.null_field("osrelease");
        j.field("log_format", log.source == analysis::KernelLogSource::PrintkRingbuffer ? "printk-ringbuffer" : "log-buf");
        j.field("not_committed", log.not_committed).field("invalid", log.invalid).field("truncated", log.truncated);
        j.key("records").begin_array();
        for (const auto& rec : log.records) {
            j.begin_object();
            j.field("seq", rec.seq).field("ts_nsec", rec.ts_nsec).field("level", unsigned(rec.level));
            j.field("facility", unsigned(rec.facility));
            if (auto c = caller_text(rec)) j.field("caller", *c);
            else j.null_field("caller");
            j.field("text", rec.text).field("subsystem", rec.subsystem).field("device", rec.device);
            j.end_object();
        }
        j.end_array();
        j.end_object();
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
                tools::JsonWriter j(std::cout);
                j.begin_object();
                json_header(j, info->parsed() ? "info" : verify->parsed() ? "verify" : cpus->parsed() ? "cpus" : "dmesg", dump);
                j.key("error").begin_object();
                j.field("code", int(e.code())).field("name", error_code_name(e.code())).field("message", e.what());
                j.end_object();
                j.end_object();
                std::cout.flush();
            }
            throw;
        }
    });
}
