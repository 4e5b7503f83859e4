// pvinspect's reports: each emit_NAME() sets the document's members in the
// documented order and registers the text lines, which read only the document
// (tools/report.hpp). The lines are the static functions beside each emitter.
#include "tools/inspect_reports.hpp"

#include <cstdio>
#include <iomanip>
#include <memory>
#include <ostream>

#include "format/bytes.hpp"
#include "tools/common.hpp"
#include "tools/exit_code.hpp"

namespace pvdump::tools {

const char* const kDisallowedExplanation =
    "The Secure Execution image probably did not allow dumping (bit 34 of the plaintext control flags, PCF, in its "
    "SE header), so the Ultravisor refused to start a dump and QEMU fell back to a plain dump of guest memory as the "
    "hypervisor sees it: the guest's pages are still encrypted under keys only the Ultravisor held, and nobody, not "
    "even the owner with the CCK, can decrypt them. Rebuild the image with dumping allowed and take the dump again.";

namespace {

using analysis::ContainerKind;
using analysis::Severity;
using report::Emitter;
using report::TextOptions;
using report::View;

std::string plural(std::uint64_t n, const char* one, const char* many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
}

// "  Label           value" with the value column aligned.
void row(std::ostream& out, const std::string& label, const std::string& value, int indent = 2) {
    out << std::string(std::size_t(indent), ' ');
    if (value.empty()) out << label << "\n";
    else out << std::left << std::setw(18 - indent) << label << value << "\n";
}

void header_not_shown(const View& d) {
    for (const char* key : {"tool", "version", "command", "path"}) d.not_shown(key);
}

// ---- shared parts -----------------------------------------------------------------

Json json_finding(const analysis::Finding& f) {
    return {{"severity", analysis::severity_name(f.severity)},
            {"rule", f.rule},
            {"paddr", f.paddr ? Json(hex(*f.paddr)) : Json(nullptr)},
            {"message", f.message}};
}

Json json_findings(const std::vector<analysis::Finding>& findings) {
    Json a = Json::array();
    for (const auto& f : findings) a.push_back(json_finding(f));
    return a;
}

Json json_pages(const analysis::PageCounts& c) {
    return {{"total", c.total},   {"encrypted", c.encrypted}, {"zero", c.zero},      {"shared", c.shared},
            {"mapped", c.mapped}, {"invalid", c.invalid},     {"missing", c.missing}};
}

Json json_host_supplied(const std::vector<analysis::HostSupplied>& host) {
    Json a = Json::array();
    for (const auto& h : host) a.push_back({{"structure", h.structure}, {"paddr", hex(h.paddr)}, {"message", h.message()}});
    return a;
}

std::string pages_line(const View& c) {
    std::string s = plural(c.u64("total"), "page", "pages") + ": " + std::to_string(c.u64("encrypted")) +
                    " encrypted, " + std::to_string(c.u64("zero")) + " zero, " + std::to_string(c.u64("shared")) +
                    " shared, " + std::to_string(c.u64("mapped")) + " mapped, " + std::to_string(c.u64("invalid")) +
                    " invalid";
    if (const std::uint64_t missing = c.u64("missing")) s += ", " + std::to_string(missing) + " without a tweak component";
    return s;
}

// One finding a line: severity, rule, guest address, message; columns aligned.
void print_finding(std::ostream& out, const View& f) {
    out << std::left << std::setw(8) << f.str("severity") << std::setw(26) << f.str("rule") << std::setw(12)
        << (f.has("paddr") ? f.str("paddr") : std::string("-")) << f.str("message") << "\n";
}

}  // namespace

std::unique_ptr<Emitter> make_emitter(bool json, const TextOptions& options) {
    if (json) return std::make_unique<report::JsonEmitter>();
    return std::make_unique<report::TextEmitter>(options);
}

void emit_header(Emitter& e, const char* command, const std::string& path) {
    e.field("tool", "pvinspect");
    e.field("version", PVDUMP_VERSION);
    e.field("command", command);
    e.field("path", path);
}

void emit_error(Emitter& e, const char* command, const std::string& path, const Error& error) {
    emit_header(e, command, path);
    e.field("error", {{"code", exit_code(error.code())}, {"name", error_code_name(error.code())}, {"message", error.what()}});
}

// ---- info -------------------------------------------------------------------------

namespace {

std::string kind_text(const analysis::InfoReport& r) {
    switch (r.kind) {
    case ContainerKind::PvDump:
        return "PV dump v1: a Protected Virtualization (Secure Execution) dump sealed by the Ultravisor; decrypt it "
               "with pvdecrypt and the guest's CCK";
    case ContainerKind::PlainVmcore:
        return std::string("plain s390x vmcore (no PV sections)") +
               (r.vmcoreinfo_note                            ? ", with a VMCOREINFO note"
                : r.evidence && r.evidence->vmcoreinfo_found ? ", the guest publishes VMCOREINFO"
                                                             : ", no VMCOREINFO found");
    case ContainerKind::DumpDisallowed:
        return "ELF core without PV sections whose memory looks like ciphertext: QEMU's fallback when dumping was "
               "not allowed";
    case ContainerKind::Unreadable: return "unreadable ELF core";
    }
    return "?";
}

// "pvinspect info: PATH", Kind, File size, Problem.
void info_file(std::ostream& out, const View& d, const TextOptions&) {
    out << d.str("tool") << " " << d.str("command") << ": " << d.str("path") << "\n";
    d.not_shown("version");
    d.not_shown("vmcoreinfo_note");  // kind_description says it
    if (d.has("error") && d.str("kind") == "pv-dump") {
        row(out, "Kind", "PV dump v1, damaged (see below)");
        d.not_shown("kind_description");  // a damaged PV dump's row says so instead
    } else {
        d.not_shown("kind");  // kind_description says it in words
        row(out, "Kind", d.str("kind_description"));
    }
    const std::uint64_t file_size = d.u64("file_size"), described = d.u64("described_size");
    std::string size = std::to_string(file_size) + " bytes (" + human_bytes(file_size) + ")";
    if (described > file_size) {
        const std::uint64_t missing = described - file_size;
        char pct[32];
        std::snprintf(pct, sizeof pct, "%.1f%%", 100.0 * double(missing) / double(described));
        size += ", but its headers describe " + std::to_string(described) + " bytes: " + std::to_string(missing) +
                " bytes (" + pct + ") are missing, the file was cut short";
    }
    row(out, "File size", size);
    if (!d.has("error")) {
        d.not_shown("parse_findings");  // at most warnings, which section_error shows
        return;
    }
    row(out, "Problem", d.str("error"));
    row(out, "ELF problems", plural(d.count("parse_findings"), "finding", "findings") + " (field, file offset)");
    for (const View& f : d.items("parse_findings"))
        out << "    " << (f.str("severity") == "error" ? "error   " : "warning ") << f.str("field") << " at "
            << hex(f.u64("offset")) << ": " << f.str("message") << "\n";
}

// ELF layout, Notes, CPUs.
void info_layout(std::ostream& out, const View& d, const TextOptions&) {
    const View elf = d.at("elf");
    const std::uint64_t ehsize = elf.u64("e_ehsize");
    row(out, "ELF layout", "e_ehsize " + std::to_string(ehsize) + (ehsize == 8 ? " (as QEMU writes it)" : "") +
                               ", program headers at " + hex(elf.u64("phoff")) + " (" +
                               std::to_string(elf.u64("phnum")) + "), section headers at " + hex(elf.u64("shoff")));
    if (elf.has("note_offset"))
        row(out, "Notes", "offset " + hex(elf.u64("note_offset")) + ", size " + hex(elf.u64("note_size")));
    else
        elf.not_shown("note_size");  // no notes to show
    const View cpus = d.at("cpus");
    const std::uint64_t count = cpus.u64("count"), pv_data = cpus.u64("with_pv_state");
    std::string line = std::to_string(count);
    if (d.str("kind") == "pv-dump")
        line += pv_data == count ? (count == 1 ? ", with its encrypted state" : ", each with its encrypted state")
                                 : ", " + std::to_string(pv_data) + " with an encrypted state";
    row(out, "CPUs", line);
}

// Memory and its blocks.
void info_memory(std::ostream& out, const View& d, const TextOptions&) {
    const View mem = d.at("memory");
    const auto blocks = mem.items("blocks");
    row(out, "Memory", human_bytes(mem.u64("size")) + " in " + plural(blocks.size(), "block", "blocks") +
                           (mem.has("offset") ? ", from file offset " + hex(mem.u64("offset")) : std::string()));
    for (std::size_t i = 0; i < blocks.size(); ++i) {
        const View& b = blocks[i];
        b.not_shown("phdr");  // the row's number counts the blocks, not the program headers
        const std::uint64_t paddr = b.addr("paddr"), size = b.u64("size");
        std::string v = "guest " + hex(paddr) + "-" + hex(paddr + size - (size ? 1 : 0)) + " (" + human_bytes(size) +
                        "), file offset " + hex(b.u64("offset")) + ", " + hex(b.u64("file_size")) + " bytes in the file";
        if (!b.flag("in_file")) v += " (NOT all in the file)";
        row(out, "block " + std::to_string(i), v, 4);
    }
}

// One section's row; pv_mem_meta and pv_compl say what the pv object knows of them.
void info_section(std::ostream& out, const View& s, const View& d) {
    std::string v = "offset " + hex(s.u64("offset")) + ", size " + hex(s.u64("size"));
    const std::string& name = s.str("name");
    if (name == "pv_mem_meta" && d.has("pv") && d.at("pv").u64("mem_meta_needed"))
        v += " (the memory needs " + hex(d.at("pv").u64("mem_meta_needed")) + ")";
    if (name == "pv_compl" && d.has("pv") && d.at("pv").at("completion").has("version")) {
        const View c = d.at("pv").at("completion");
        v += ", completion data version " + std::to_string(c.u64("version")) + ", length " +
             std::to_string(c.has("length") ? c.u64("length") : 0);
    }
    if (!s.flag("in_file")) v += " (NOT in the file)";
    row(out, name, v, 4);
}

void info_sections(std::ostream& out, const View& d, const TextOptions&) {
    const auto sections = d.items("sections");
    if (!sections.empty()) {
        row(out, "Sections", "");
        for (const auto& s : sections) info_section(out, s, d);
        d.not_shown("section_error");  // the table was read
    } else if (d.has("section_error")) {
        row(out, "Sections", "unreadable: " + d.str("section_error"));
    } else {
        row(out, "Sections", "none");
    }
}

// The page plan: tweak coverage, page states, findings (the first 10).
void info_plan(std::ostream& out, const View& d, const TextOptions&) {
    if (!d.has("pv")) return;
    const View pv = d.at("pv");
    pv.not_shown("mem_meta_needed");  // info_section shows it (a pv_mem_meta row)
    pv.not_shown("completion");       // info_section shows it (a pv_compl row)
    if (!pv.contains("mem_meta_covers_all")) {
        pv.not_shown("has_osii");  // no page plan: the rows below are left out
        return;
    }
    const View pages = pv.at("pages");
    row(out, "Tweak coverage", pv.flag("mem_meta_covers_all") ? "pv_mem_meta covers every page"
                                                              : "pv_mem_meta does NOT cover every page (" +
                                                                    std::to_string(pages.u64("missing")) +
                                                                    " without a component)");
    row(out, "Page states", pages_line(pages));
    pv.str("has_osii");  // always "unknown-without-key", which the row says in words
    row(out, "has_osii", "cannot be known without the key: the flag is inside the encrypted CPU states "
                         "(pvinspect cpus DUMP --key CCK)");
    const auto findings = pv.items("findings");
    std::size_t n[3] = {0, 0, 0};
    for (const auto& f : findings) {
        const std::string& s = f.str("severity");
        ++n[s == "error" ? 0 : s == "warning" ? 1 : 2];
    }
    row(out, "Findings", findings.empty()
                             ? std::string("none without the key (authentication and tweak reuse need it: pvinspect verify)")
                             : plural(n[0], "error", "errors") + ", " + plural(n[1], "warning", "warnings") + ", " +
                                   plural(n[2], "note", "notes") + " without the key");
    const std::uint64_t dropped = pv.u64("findings_dropped");
    for (std::size_t i = 0; i < findings.size(); ++i) {
        if (i == 10) {
            out << "    ... and " << (findings.size() - 10 + dropped) << " more (pvinspect verify lists them all)\n";
            break;
        }
        out << "    ";
        print_finding(out, findings[i]);
    }
}

// What the memory looks like (files without PV sections), and what happened.
void info_content(std::ostream& out, const View& d, const TextOptions&) {
    if (d.has("memory_content")) {
        const View e = d.at("memory_content");
        const std::uint64_t sampled = e.u64("pages_sampled"), zero = e.u64("zero_pages");
        char mean[16];
        std::snprintf(mean, sizeof mean, "%.2f", e.number("mean_entropy"));
        row(out, "Memory content",
            std::to_string(sampled) + " pages sampled: " + std::to_string(zero) + " zero, " +
                std::to_string(e.u64("random_pages")) + " of the other " + std::to_string(sampled - zero) +
                " look random (mean " + mean + " bits/byte)");
        if (!e.flag("lowcore_readable")) e.not_shown("lowcore_sane");  // false: there is no page 0 to judge
        row(out, "Lowcore", !e.flag("lowcore_readable") ? "guest page 0 is not in the dump"
                            : e.flag("lowcore_sane")    ? "page 0 looks like an s390 lowcore"
                                                        : "page 0 does not look like an s390 lowcore");
        e.not_shown("vmcoreinfo_found");  // kind_description says it
        if (e.contains("vmcoreinfo_problems"))
            for (const View& p : e.items("vmcoreinfo_problems"))
                row(out, "VMCOREINFO", "not found through the " + p.str("field") + ": " + p.str("message"));
        if (const std::uint64_t notes = e.u64("pv_cpu_notes"))
            row(out, "PV notes", std::to_string(notes) + " NT_S390_PV_CPU_DATA notes, but no 'pv_compl' section");
    }
    if (d.has("explanation")) row(out, "What happened", d.str("explanation"));
}

Json info_pv(const analysis::InfoReport& r) {
    if (!r.plan && !r.compl_version) return nullptr;
    Json pv;
    pv["completion"] = {{"version", json_opt(r.compl_version)}, {"length", json_opt(r.compl_length)}};
    pv["mem_meta_needed"] = r.meta_needed;
    if (r.plan) {
        pv["mem_meta_covers_all"] = r.plan->meta_covers_all;
        pv["pages"] = json_pages(r.plan->counts);
        pv["findings"] = json_findings(r.plan->findings);
        pv["findings_dropped"] = r.plan->findings_dropped;
    }
    pv["has_osii"] = "unknown-without-key";
    return pv;
}

Json info_memory_content(const analysis::InfoReport& r) {
    if (!r.evidence) return nullptr;
    const auto& e = *r.evidence;
    Json out = {{"pages_sampled", e.pages_sampled}, {"zero_pages", e.zero_pages},
                {"random_pages", e.random_pages},   {"mean_entropy", e.mean_entropy},
                {"lowcore_readable", e.lowcore_readable}, {"lowcore_sane", e.lowcore_sane},
                {"vmcoreinfo_found", e.vmcoreinfo_found}, {"pv_cpu_notes", e.pv_cpu_notes}};
    if (!e.vmcoreinfo_problems.empty()) {  // only when a way ended in a fault: other documents stay as they were
        Json& problems = out["vmcoreinfo_problems"] = Json::array();
        for (const auto& d : e.vmcoreinfo_problems) problems.push_back({{"field", d.field}, {"message", d.message}});
    }
    return out;
}

Json info_parse_findings(const analysis::InfoReport& r) {
    Json out = Json::array();
    for (const auto& d : r.parse_findings)
        out.push_back({{"severity", d.severity == format::Diagnostic::Severity::Error ? "error" : "warning"},
                       {"field", d.field},
                       {"offset", d.offset},
                       {"message", d.message}});
    return out;
}

Json info_blocks(const analysis::InfoReport& r) {
    Json blocks = Json::array();
    for (const auto& b : r.blocks)
        blocks.push_back({{"phdr", b.phdr}, {"paddr", hex(b.paddr)}, {"size", b.memsz}, {"offset", b.offset},
                          {"file_size", b.filesz}, {"in_file", b.in_file}});
    return blocks;
}

}  // namespace

void emit_info(Emitter& e, const analysis::InfoReport& r) {
    emit_header(e, "info", r.path);
    e.field("kind", analysis::container_kind_id(r.kind));
    e.field("kind_description", kind_text(r));
    e.field("error", json_opt(r.error));
    e.field("parse_findings", info_parse_findings(r));
    e.field("file_size", r.file_size);
    e.field("described_size", r.described_size);
    e.text(info_file);
    e.field("elf", {{"e_ehsize", unsigned(r.e_ehsize)}, {"phoff", r.phoff}, {"phnum", r.phnum}, {"shoff", r.shoff},
                    {"note_offset", json_opt(r.note_offset)}, {"note_size", r.note_size}});
    e.field("cpus", {{"count", r.cpus}, {"with_pv_state", r.cpus_pv_data}});
    e.text(info_layout);
    e.field("memory", {{"size", r.memory_size}, {"offset", json_opt(r.memory_offset)}, {"blocks", info_blocks(r)}});
    e.text(info_memory);
    Json sections = Json::array();
    for (const auto& s : r.sections)
        sections.push_back({{"name", s.name}, {"offset", s.offset}, {"size", s.size}, {"in_file", s.in_file}});
    e.field("sections", std::move(sections));
    e.field("section_error", r.section_error.empty() ? Json(nullptr) : Json(r.section_error));
    e.text(info_sections);
    e.field("vmcoreinfo_note", r.vmcoreinfo_note);
    e.field("pv", info_pv(r));
    e.text(info_plan);
    e.field("memory_content", info_memory_content(r));
    e.field("explanation", r.kind == ContainerKind::DumpDisallowed ? Json(kDisallowedExplanation) : Json(nullptr));
    e.text(info_content);
}

// ---- verify -----------------------------------------------------------------------

namespace {

const char* verify_result(const decryptor::VerifyReport& r) {
    if (r.auth_error) return "auth-failed";
    if (r.has_error()) return "errors";
    if (r.has_warning()) return "warnings";
    for (const auto& f : r.findings)
        if (f.severity == Severity::Note) return "notes";
    return "clean";
}

// Every finding, then the summary line.
void verify_text(std::ostream& out, const View& d, const TextOptions&) {
    header_not_shown(d);
    d.not_shown("exit_code");            // the process's exit code
    d.not_shown("mem_meta_covers_all");  // a component missing is a finding of its own
    d.not_shown("aes_impl");             // pvinspect --version names it
    for (const auto& f : d.items("findings")) print_finding(out, f);
    const View summary = d.at("summary");
    out << "verify: " << d.str("result") << ": " << plural(summary.u64("errors"), "error", "errors") << ", "
        << plural(summary.u64("warnings"), "warning", "warnings") << ", "
        << plural(summary.u64("notes"), "note", "notes");
    if (const std::uint64_t dropped = d.u64("findings_dropped")) out << " (" << dropped << " more not listed)";
    const auto cpus = d.items("cpus");
    std::size_t ok = 0;
    for (const auto& c : cpus) {
        ok += c.flag("authenticated");
        c.not_shown("index");     // the failing ones are findings (cpu-auth, cpu-format)
        c.not_shown("has_osii");  // a cpu-osii note when set
        c.not_shown("error");     // the cpu-auth / cpu-format finding's message
    }
    out << (d.flag("completion_authenticated") ? "; completion data and " : "; ") << ok << " of "
        << plural(cpus.size(), "CPU state", "CPU states") << " authenticated; " << pages_line(d.at("pages")) << "\n";
}

}  // namespace

void emit_verify(Emitter& e, const std::string& path, const decryptor::VerifyReport& r, const std::string& aes_impl) {
    const std::optional<ErrorCode> outcome = r.outcome();
    std::size_t errors = 0, warnings = 0, notes = 0;
    for (const auto& f : r.findings)
        (f.severity == Severity::Error ? errors : f.severity == Severity::Warning ? warnings : notes)++;
    emit_header(e, "verify", path);
    e.field("result", verify_result(r));
    e.field("exit_code", outcome ? exit_code(*outcome) : kExitOk);
    e.field("completion_authenticated", r.completion_authenticated);
    Json cpus = Json::array();
    for (const auto& c : r.cpus)
        cpus.push_back({{"index", c.index}, {"authenticated", c.authenticated}, {"has_osii", c.has_osii},
                        {"error", c.error.empty() ? Json(nullptr) : Json(c.error)}});
    e.field("cpus", std::move(cpus));
    e.field("pages", json_pages(r.counts));
    e.field("mem_meta_covers_all", r.meta_covers_all);
    e.field("summary", {{"errors", errors}, {"warnings", warnings}, {"notes", notes}});
    e.field("findings", json_findings(r.findings));
    e.field("findings_dropped", r.findings_dropped);
    e.field("aes_impl", aes_impl);
    e.text(verify_text);
}

// ---- cpus -------------------------------------------------------------------------

namespace {

void cpu_text(std::ostream& out, const View& c, bool pv, const TextOptions& o) {
    const std::uint64_t differing = c.u64("differing");
    if (pv) {
        out << "CPU " << c.u64("index") << ": has_osii " << (c.flag("has_osii") ? "set" : "clear") << ", "
            << plural(differing, "field differs", "fields differ") << " from the hypervisor's view\n";
        out << "  " << c.str("osii_explanation") << "\n";
        out << "  " << std::left << std::setw(18) << "field" << std::setw(36) << "decrypted (authoritative)"
            << "hypervisor view\n";
    } else {
        out << "CPU " << c.u64("index") << " (plain vmcore: the registers from its notes)\n";
        c.not_shown("has_osii");          // null: a plain vmcore has no such flag
        c.not_shown("osii_explanation");  // null
    }
    if (o.diff_only && differing == 0) out << "  (no field differs)\n";
    for (const auto& f : c.items("fields")) {
        if (o.diff_only && !f.flag("differs")) {
            f.not_shown();  // --diff-only leaves it out
            continue;
        }
        out << "  " << std::left << std::setw(18) << f.str("name");
        if (pv) {
            const bool differs = f.flag("differs");
            out << std::setw(36) << f.str("value") << (differs ? std::setw(36) : std::setw(0)) << f.str("hypervisor")
                << (differs ? "DIFFERS" : "");
        } else {
            out << f.str("value");
            f.not_shown("hypervisor");  // null
            f.not_shown("differs");     // false
        }
        out << "\n";
    }
}

void cpus_text(std::ostream& out, const View& d, const TextOptions& o) {
    header_not_shown(d);
    d.not_shown("host_supplied");  // warnings on stderr, with --json too
    const bool pv = d.flag("pv");
    const auto cpus = d.items("cpus");
    for (std::size_t i = 0; i < cpus.size(); ++i) {
        if (i) out << "\n";
        cpu_text(out, cpus[i], pv, o);
    }
}

}  // namespace

void emit_cpus(Emitter& e, const std::string& path, const analysis::CpusReport& r,
               const std::vector<analysis::HostSupplied>& host) {
    emit_header(e, "cpus", path);
    e.field("pv", r.pv);
    e.field("host_supplied", json_host_supplied(host));
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
    e.field("cpus", std::move(cpus));
    e.text(cpus_text);
}

// ---- dmesg ------------------------------------------------------------------------

namespace {

std::optional<std::string> caller_text(const analysis::LogRecord& rec) {
    if (!rec.caller_id) return std::nullopt;
    const std::uint32_t id = *rec.caller_id;
    // Appended, not "C" + std::to_string(...): GCC 12 at -O3 warns falsely
    // (-Wrestrict, GCC bug 105651) on the insert that operator+ inlines.
    std::string text(1, id & 0x80000000u ? 'C' : 'T');
    text += std::to_string(id & 0x7fffffffu);
    return text;
}

// The record as format_kernel_log() takes it, back from the document.
analysis::LogRecord log_record(const View& v) {
    analysis::LogRecord rec;
    rec.seq = v.u64("seq");
    rec.ts_nsec = v.u64("ts_nsec");
    rec.level = std::uint8_t(v.u64("level"));
    rec.facility = std::uint8_t(v.u64("facility"));
    if (v.has("caller")) {
        const std::string& c = v.str("caller");  // "T<pid>" or "C<cpu>"
        rec.caller_id = std::uint32_t(std::stoul(c.substr(1))) | (c[0] == 'C' ? 0x80000000u : 0u);
    }
    rec.text = v.str("text");
    rec.subsystem = v.str("subsystem");
    rec.device = v.str("device");
    return rec;
}

// As crash's `log` prints it (analysis::format_kernel_log).
void dmesg_text(std::ostream& out, const View& d, const TextOptions& o) {
    header_not_shown(d);
    d.not_shown("host_supplied");  // warnings on stderr, with --json too
    for (const char* key : {"invalid", "truncated"}) d.not_shown(key);  // a note on stderr when not 0
    for (const char* key : {"vmcoreinfo_source", "osrelease", "log_format", "not_committed", "aes_impl"})
        d.not_shown(key);  // the text is the log alone, as crash prints it
    std::vector<analysis::LogRecord> records;
    for (const auto& v : d.items("records")) records.push_back(log_record(v));
    analysis::LogFormat fmt;
    fmt.timestamps = o.timestamps;
    fmt.show_level = o.show_level;
    fmt.show_caller = o.show_caller;
    fmt.show_dict = o.show_dict;
    out << analysis::format_kernel_log(records, fmt);
}

}  // namespace

void emit_dmesg(Emitter& e, const std::string& path, const analysis::KernelLogReport& r,
                const std::vector<analysis::HostSupplied>& host, const std::optional<std::string>& aes_impl) {
    const auto& log = r.log;
    emit_header(e, "dmesg", path);
    e.field("vmcoreinfo_source", r.vmcoreinfo_source);
    e.field("host_supplied", json_host_supplied(host));
    e.field("osrelease", json_opt(r.osrelease));
    e.field("log_format", log.source == analysis::KernelLogSource::PrintkRingbuffer ? "printk-ringbuffer" : "log-buf");
    e.field("not_committed", log.not_committed);
    e.field("invalid", log.invalid);
    e.field("truncated", log.truncated);
    Json records = Json::array();
    for (const auto& rec : log.records)
        records.push_back({{"seq", rec.seq},
                           {"ts_nsec", rec.ts_nsec},
                           {"level", unsigned(rec.level)},
                           {"facility", unsigned(rec.facility)},
                           {"caller", json_opt(caller_text(rec))},
                           {"text", rec.text},
                           {"subsystem", rec.subsystem},
                           {"device", rec.device}});
    e.field("records", std::move(records));
    e.field("aes_impl", json_opt(aes_impl));
    e.text(dmesg_text);
}

}  // namespace pvdump::tools
