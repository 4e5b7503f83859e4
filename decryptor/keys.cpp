// Key derivation and the CPU states of a sealed dump.
#include <openssl/crypto.h>

#include "decryptor/dump.hpp"

namespace pvdump::decryptor {
using namespace format;

Keys::~Keys() { OPENSSL_cleanse(nonce.data(), nonce.size()); }

Keys open_keys(const CoreFile& dump, Bytes cck) {
    if (!dump.is_pv()) {
        std::string msg = "'" + dump.name() + "' has no 'pv_compl' section: it is not a PV dump";
        if (!dump.section_error().empty())
            msg += " (its section table is unreadable: " + dump.section_error() + ")";
        else
            msg += " (a plain vmcore, or QEMU's fallback when the image does not allow dumping: run 'pvinspect info')";
        fail(ErrorCode::Format, msg);
    }
    const Section* s = dump.section("pv_compl");
    CompletionBlob blob = parse_completion(Reader(dump.section_bytes("pv_compl"), "section 'pv_compl'", s->offset));
    Keys k;
    k.dump_key = derive_dump_key(cck, blob.seed);
    CompletionSecrets secrets = open_completion(blob, k.dump_key.view());
    k.nonce = secrets.nonce;
    k.xts_key = std::move(secrets.xts_key);
    return k;
}

std::vector<CpuRecord> cpu_states(const CoreFile& dump, Bytes dump_key) {
    std::vector<CpuRecord> out;
    for (const CpuNotes& c : dump.cpus()) {
        if (!c.pv_cpu_data)
            fail(ErrorCode::Format, "CPU " + std::to_string(c.index) + " has no NT_S390_PV_CPU_DATA note (its encrypted state is missing)");
        const Note& n = *c.pv_cpu_data;
        const std::string where = "CPU " + std::to_string(c.index) + " NT_S390_PV_CPU_DATA note at offset " + hex(n.offset);
        CpuDumpBlob blob = parse_cpu_dump(Reader(n.desc, where, n.offset));
        CpuState st = open_cpu_dump(blob, dump_key, c.index);
        out.push_back({c.index, st, c.clear, st.has_osii});
    }
    if (out.empty()) fail(ErrorCode::Format, "'" + dump.name() + "' has no CPU notes (no NT_PRSTATUS)");
    // A CPU blob before any NT_PRSTATUS belongs to no CPU group: dropping it
    // would silently lose a vCPU (the notes are not authenticated).
    for (const Note& n : dump.notes()) {
        if (n.name == "CORE" && n.type == NT_PRSTATUS_) break;
        if (n.name == "LINUX" && n.type == NT_S390_PV_CPU_DATA_)
            fail(ErrorCode::Format, "NT_S390_PV_CPU_DATA note at offset " + hex(n.offset) +
                                        " belongs to no CPU (no NT_PRSTATUS before it)");
    }
    return out;
}

}  // namespace pvdump::decryptor
