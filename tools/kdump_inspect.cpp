// pvinspect on a kdump-compressed file (pvdecrypt --format kdump, makedumpfile):
// info (text and --json) and the kernel log's memory view.
#include "tools/kdump_inspect.hpp"

#include <iomanip>
#include <iostream>
#include <memory>

#include "format/kdump_reader.hpp"
#include "tools/common.hpp"
#include "tools/report.hpp"

namespace pvdump::tools {
namespace {

// NT_PRSTATUS notes in the sub header's notes: one per CPU.
std::uint64_t count_prstatus(const std::vector<std::uint8_t>& notes) {
    std::uint64_t n = 0, at = 0;
    auto up4 = [](std::uint64_t v) { return (v + 3) / 4 * 4; };
    while (at + 12 <= notes.size()) {
        const std::uint64_t namesz = format::load_be32(notes.data() + at);
        const std::uint64_t descsz = format::load_be32(notes.data() + at + 4);
        const std::uint32_t type = format::load_be32(notes.data() + at + 8);
        const std::uint64_t next = at + 12 + up4(namesz) + up4(descsz);
        if (next > notes.size()) break;
        if (type == 1) ++n;  // NT_PRSTATUS
        at = next;
    }
    return n;
}

std::string level_text(std::int32_t level) {
    static const char* names[] = {"zero", "cache", "private cache", "user", "free"};
    std::string s = std::to_string(level);
    std::string parts;
    for (int b = 0; b < 5; ++b)
        if (level & (1 << b)) parts += std::string(parts.empty() ? "" : ", ") + names[b];
    return s + (parts.empty() ? " (every page kept)" : " (excludes " + parts + " pages)");
}

void row(std::ostream& out, const std::string& label, const std::string& value) {
    out << "  " << std::left << std::setw(16) << label << value << "\n";
}

using report::View;

// What the text shows of the document: the path, then one row per property.
void kdump_text(std::ostream& out, const View& d, const report::TextOptions&) {
    for (const char* key : {"tool", "version", "command", "kind", "description"})
        d.not_shown(key);  // the Format row says what the file is
    out << d.str("path") << "\n";
    const View k = d.at("kdump");
    for (const char* key : {"incomplete", "phys_base", "max_mapnr"})
        k.not_shown(key);  // incomplete: the error on stderr; the others are for programs
    row(out, "Format", "kdump-compressed vmcore (makedumpfile \"KDUMP\", header version " +
                           std::to_string(k.u64("header_version")) + ")");
    row(out, "Compression", k.str("compression"));
    row(out, "Dump level", level_text(std::int32_t(k.i64("dump_level"))));
    const View u = k.at("utsname");
    const std::string& node = u.str("nodename");
    row(out, "Kernel", u.str("sysname") + " " + u.str("release") + " " + u.str("version") + " (" + u.str("machine") +
                           (node.empty() ? "" : ", node " + node) + ")");
    row(out, "CPUs", std::to_string(k.u64("nr_cpus")) + " (" + std::to_string(k.u64("prstatus_notes")) +
                         " NT_PRSTATUS notes)");
    row(out, "VMCOREINFO", k.has("vmcoreinfo_bytes") ? std::to_string(k.u64("vmcoreinfo_bytes")) + " bytes" : "none");
    const View p = k.at("pages");
    p.not_shown("raw");  // stored minus compressed
    row(out, "Memory", human_bytes(p.u64("present") * 4096) + ": " + std::to_string(p.u64("present")) + " pages, " +
                           std::to_string(p.u64("kept")) + " kept, " + std::to_string(p.u64("excluded")) + " excluded");
    row(out, "Stored", std::to_string(p.u64("stored")) + " pages (" + std::to_string(p.u64("compressed")) +
                           " compressed), " + std::to_string(p.u64("zero_shared")) + " zero pages share one, " +
                           human_bytes(k.u64("page_data_bytes")) + " of page data");
}

}  // namespace

void emit_kdump_info(report::Emitter& e, const char* tool, const std::string& path, const format::KdumpFileInfo& in) {
    const char* compression = in.compression ? format::kdump_compression_name(*in.compression) : "mixed";
    const std::uint64_t excluded = in.pages_present - std::min(in.pages_present, in.pages_dumped);
    const std::uint64_t stored = in.pages_dumped - in.pages_shared_zero;
    e.field("tool", tool);
    e.field("version", PVDUMP_VERSION);
    e.field("command", "info");
    e.field("path", path);
    e.field("kind", "kdump");
    e.field("description", "kdump-compressed vmcore (makedumpfile format)");
    Json kj;
    kj["header_version"] = in.header_version;
    kj["compression"] = compression;
    kj["dump_level"] = in.dump_level;
    kj["incomplete"] = in.incomplete;
    kj["nr_cpus"] = in.nr_cpus;
    kj["prstatus_notes"] = count_prstatus(in.notes);
    kj["utsname"] = Json{{"sysname", in.sysname}, {"nodename", in.nodename}, {"release", in.release},
                         {"version", in.version}, {"machine", in.machine}};
    kj["phys_base"] = hex(in.phys_base);
    kj["max_mapnr"] = in.max_mapnr;
    kj["vmcoreinfo_bytes"] = in.vmcoreinfo ? Json(in.vmcoreinfo->size()) : Json(nullptr);
    kj["pages"] = Json{{"present", in.pages_present},
                       {"kept", in.pages_dumped},
                       {"stored", stored},
                       {"zero_shared", in.pages_shared_zero},
                       {"excluded", excluded},
                       {"compressed", in.pages_compressed},
                       {"raw", stored - std::min(stored, in.pages_compressed)}};
    kj["page_data_bytes"] = in.data_bytes;
    e.field("kdump", std::move(kj));
    e.text(kdump_text);
}

int kdump_info(const char* tool, const std::string& path, bool json) {
    format::KdumpFile k(path);
    k.scan_pages(/*decompress=*/true);  // every descriptor and every page's data is checked
    const format::KdumpFileInfo& in = k.info();
    const auto e = json ? std::unique_ptr<report::Emitter>(std::make_unique<report::JsonEmitter>())
                        : std::unique_ptr<report::Emitter>(std::make_unique<report::TextEmitter>(report::TextOptions{}));
    emit_kdump_info(*e, tool, path, in);
    e->finish(std::cout);
    std::cout.flush();
    if (in.incomplete) {
        std::cerr << tool << ": error: '" << path
                  << "' is marked incomplete (DUMP_DH_COMPRESSED_INCOMPLETE): its writer did not finish\n";
        return exit_code(ErrorCode::Format);
    }
    return 0;
}

analysis::KernelLogReport kdump_kernel_log(const char* tool, const std::string& path, const std::string& key) {
    format::KdumpFile k(path);
    if (!key.empty()) std::cerr << tool << ": note: '" << path << "' is a decrypted kdump file; the key is not needed\n";
    return analysis::dump_kernel_log(k, k.info().vmcoreinfo);
}

}  // namespace pvdump::tools
