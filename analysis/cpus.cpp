// CPU views: the authoritative state beside the hypervisor's, field by field.
#include "analysis/cpus.hpp"

namespace pvdump::analysis {
using namespace format;

namespace {

std::vector<std::pair<std::string, std::string>> fields_of(const CpuState& s) {
    std::vector<std::pair<std::string, std::string>> f;
    f.emplace_back("psw.mask", hex_fixed(s.psw[0], 16));
    f.emplace_back("psw.addr", hex_fixed(s.psw[1], 16));
    f.emplace_back("prefix", hex_fixed(s.prefix, 8));
    f.emplace_back("fpc", hex_fixed(s.fpc, 8));
    f.emplace_back("todpreg", hex_fixed(s.todpreg, 8));
    f.emplace_back("cpu_timer", hex_fixed(s.timer, 16));
    f.emplace_back("clock_comparator", hex_fixed(s.todcmp, 16));
    for (int i = 0; i < 16; ++i) f.emplace_back("gpr" + std::to_string(i), hex_fixed(s.gprs[i], 16));
    for (int i = 0; i < 16; ++i) f.emplace_back("cr" + std::to_string(i), hex_fixed(s.ctrs[i], 16));
    for (int i = 0; i < 16; ++i) f.emplace_back("acr" + std::to_string(i), hex_fixed(s.acrs[i], 8));
    for (int i = 0; i < 32; ++i) f.emplace_back("vr" + std::to_string(i), "0x" + to_hex(Bytes(s.vrs[i].data(), 16)));
    f.emplace_back("gsd", hex_fixed(s.gsd, 16));
    f.emplace_back("gssm", hex_fixed(s.gssm, 16));
    f.emplace_back("gs_epl_a", hex_fixed(s.gs_epl_a, 16));
    return f;
}

}  // namespace

std::vector<std::string> cpu_field_names() {
    std::vector<std::string> names;
    for (auto& [n, v] : fields_of(CpuState{})) names.push_back(n);
    return names;
}

CpusReport compare_cpus(const std::vector<CpuRecord>& records) {
    CpusReport r;
    r.pv = true;
    for (const CpuRecord& rec : records) {
        CpuComparison c;
        c.index = rec.index;
        c.has_osii = rec.has_osii;
        const auto truth = fields_of(rec.state), hv = fields_of(rec.hypervisor);
        for (std::size_t i = 0; i < truth.size(); ++i) {
            const bool differs = truth[i].second != hv[i].second;
            c.fields.push_back({truth[i].first, truth[i].second, hv[i].second, differs});
            c.differing += differs;
        }
        r.cpus.push_back(std::move(c));
    }
    return r;
}

CpusReport plain_cpus(const CoreFile& vmcore) {
    CpusReport r;
    for (const CpuNotes& n : vmcore.cpus()) {
        CpuComparison c;
        c.index = n.index;
        for (auto& [name, v] : fields_of(n.clear)) c.fields.push_back({name, v, "", false});
        r.cpus.push_back(std::move(c));
    }
    if (r.cpus.empty()) fail(ErrorCode::Format, "'" + vmcore.name() + "' has no CPU notes (no NT_PRSTATUS)");
    return r;
}

std::string osii_sentence(const CpuComparison& c) {
    const std::string cpu = "CPU " + std::to_string(c.index);
    if (c.has_osii)
        return cpu + " was stopped while the hypervisor was emulating an instruction for it (has_osii): its registers "
                     "may hold partial results of that instruction, so the dump also carries the hypervisor's own view, "
                     "shown beside it.";
    return cpu + " was not stopped in the middle of an instruction the hypervisor emulates (has_osii is clear): "
                 "its decrypted state is the one to trust.";
}

}  // namespace pvdump::analysis
