// pvinspect on a kdump-compressed file (pvdecrypt --format kdump, makedumpfile):
// info (text and --json) and the kernel log's memory view.
#include "tools/kdump_inspect.hpp"

#include <iomanip>
#include <iostream>

#include "format/kdump_reader.hpp"
#include "tools/common.hpp"
#include "tools/report_json.hpp"

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

}  // namespace

int kdump_info(const char* tool, const std::string& path, bool json) {
    format::KdumpFile k(path);
    k.scan_pages(/*decompress=*/true);  // every descriptor and every page's data is checked
    const format::KdumpFileInfo& in = k.info();
    const char* compression = in.compression ? format::kdump_compression_name(*in.compression) : "mixed";
    const std::uint64_t excluded = in.pages_present - std::min(in.pages_present, in.pages_dumped);
    const std::uint64_t stored = in.pages_dumped - in.pages_shared_zero;
    const std::uint64_t cpus = count_prstatus(in.notes);
    if (json) {
        Json doc;
        doc["tool"] = tool;
        doc["version"] = PVDUMP_VERSION;
        doc["command"] = "info";
        doc["path"] = path;
        doc["kind"] = "kdump";
        doc["description"] = "kdump-compressed vmcore (makedumpfile format)";
        Json kj;
        kj["header_version"] = in.header_version;
        kj["compression"] = compression;
        kj["dump_level"] = in.dump_level;
        kj["incomplete"] = in.incomplete;
        kj["nr_cpus"] = in.nr_cpus;
        kj["prstatus_notes"] = cpus;
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
        doc["kdump"] = kj;
        write_json(std::cout, doc);
    } else {
        std::cout << path << "\n";
        row(std::cout, "Format", "kdump-compressed vmcore (makedumpfile \"KDUMP\", header version " +
                                     std::to_string(in.header_version) + ")");
        row(std::cout, "Compression", compression);
        row(std::cout, "Dump level", level_text(in.dump_level));
        row(std::cout, "Kernel", in.sysname + " " + in.release + " " + in.version + " (" + in.machine +
                                     (in.nodename.empty() ? "" : ", node " + in.nodename) + ")");
        row(std::cout, "CPUs", std::to_string(in.nr_cpus) + " (" + std::to_string(cpus) + " NT_PRSTATUS notes)");
        row(std::cout, "VMCOREINFO", in.vmcoreinfo ? std::to_string(in.vmcoreinfo->size()) + " bytes" : "none");
        row(std::cout, "Memory", human_bytes(in.pages_present * 4096) + ": " + std::to_string(in.pages_present) +
                                     " pages, " + std::to_string(in.pages_dumped) + " kept, " +
                                     std::to_string(excluded) + " excluded");
        row(std::cout, "Stored", std::to_string(stored) + " pages (" + std::to_string(in.pages_compressed) +
                                     " compressed), " + std::to_string(in.pages_shared_zero) +
                                     " zero pages share one, " + human_bytes(in.data_bytes) + " of page data");
    }
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
