// pvinspect verify: completion data, every CPU blob, key sanity, page plan.
#include "decryptor/verify.hpp"

#include "analysis/inspect.hpp"
#include "analysis/provenance.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>

#include <openssl/crypto.h>

namespace pvdump::decryptor {
using namespace format;

bool VerifyReport::has_error() const {
    return std::any_of(findings.begin(), findings.end(), [](const Finding& f) { return f.severity == Severity::Error; });
}
bool VerifyReport::has_warning() const {
    return std::any_of(findings.begin(), findings.end(), [](const Finding& f) { return f.severity == Severity::Warning; });
}
std::optional<ErrorCode> VerifyReport::outcome() const {
    if (auth_error) return ErrorCode::Auth;
    if (has_error()) return ErrorCode::Verify;
    if (has_warning()) return ErrorCode::VerifyWarning;
    return std::nullopt;
}

namespace {

bool all_zero(Bytes b) {
    return std::all_of(b.begin(), b.end(), [](std::uint8_t x) { return x == 0; });
}

// Key sanity: what a real Ultravisor never produces. Never puts key bytes in a message.
void check_keys(const CoreFile& dump, const Keys& keys, std::vector<Finding>& out) {
    const Bytes xts = keys.xts_key.view();
    if (xts.size() == kXtsKeySize) {
        if (CRYPTO_memcmp(xts.data(), xts.data() + 32, 32) == 0)
            out.push_back({Severity::Warning, "xts-key-halves-equal", std::nullopt,
                           std::string("the XTS key's two 32-byte halves are equal") +
                               (all_zero(xts) ? " (and all zero)" : "") +
                               ": XTS then gives no protection beyond ECB tweaking, and no real Ultravisor draws such a key "
                               "(suspicious: a test or forged dump?)"});
    }
    if (all_zero(Bytes(keys.nonce.data(), keys.nonce.size())))
        out.push_back({Severity::Note, "nonce-zero", std::nullopt,
                       "the tweak nonce in the completion data is all zeros: every page's tweak is its component alone"});
    const Bytes c = dump.section_bytes("pv_compl");
    if (c.size() >= kComplAadSize && (!all_zero(c.subspan(8, 8)) || !all_zero(c.subspan(92, 4))))
        out.push_back({Severity::Note, "compl-reserved-bytes", std::nullopt,
                       "section 'pv_compl': reserved bytes of the completion data header are not zero (ignored)"});
}

// The guest structures that pvinspect dmesg, pvdecrypt's VMCOREINFO note and
// crash rely on (absolute lowcore pointers, VMCOREINFO, os_info, the printk
// ring, each CPU's lowcore) must not come from shared pages, which the host
// supplies in clear: a warning for each one that does. When the guest
// publishes no readable VMCOREINFO / log, nothing was taken from those reads
// and nothing is said (a test vector's shared page 0 with null pointers).
void check_provenance(const CoreFile& dump, const Keys& keys, const std::vector<std::pair<unsigned, std::uint32_t>>& prefixes,
                      std::vector<Finding>& findings) {
    Diagnostics layout;  // the page plan reports the malformed PT_LOADs / pv_mem_meta itself
    const std::optional<PageIndex> index = PageIndex::make(dump, &layout);
    if (!index) return;
    const analysis::PageOrigins origins(*index);
    const auto mem = sealed_memory(dump, keys);
    analysis::TracedMemory traced(*mem);
    Diagnostics unread;  // no readable VMCOREINFO / log: nothing was taken from those reads
    const bool used =
        lenient(&unread, "kernel log", [&] { return analysis::dump_kernel_log(traced, std::nullopt, &traced); }).has_value();
    if (used)
        for (const auto& h : analysis::host_supplied(traced, origins))
            findings.push_back({Severity::Warning, "host-supplied-structure", h.paddr, h.message()});
    for (const auto& h : analysis::shared_prefix_pages(prefixes, origins))
        findings.push_back({Severity::Warning, "host-supplied-structure", h.paddr, h.message()});
}

}  // namespace

namespace {

using IvUsers = std::map<std::string, std::string>;  // IV hex -> which blob used it first

// One CPU's encrypted state: a finding for each problem, the prefix of an authenticated one.
void check_cpu_blob(const CoreFile& dump, const Keys& keys, const CpuNotes& c, IvUsers& ivs, CpuAuth& a, VerifyReport& r,
                    std::vector<std::pair<unsigned, std::uint32_t>>& prefixes) {
    const std::string cpu = "CPU " + std::to_string(c.index);
    const Note& n = *c.pv_cpu_data;
    Diagnostics problems;
    const std::optional<CpuDumpBlob> blob =
        parse_cpu_dump(Reader(n.desc, cpu + " NT_S390_PV_CPU_DATA note at offset " + hex(n.offset), n.offset), &problems);
    if (!blob) {
        a.error = problems.first_error()->message;
        r.findings.push_back({Severity::Error, "cpu-format", std::nullopt, a.error});
        return;
    }
    auto [it, fresh] = ivs.emplace(to_hex(blob->iv), cpu + "'s state");
    if (!fresh)
        r.findings.push_back({Severity::Warning, "iv-reuse", std::nullopt,
                              cpu + ": its encrypted state uses the same GCM IV as " + it->second +
                                  " (an Ultravisor never reuses an IV: a copied or replayed blob?)"});
    const std::optional<CpuState> st = try_open_cpu_dump(*blob, keys.dump_key.view());
    if (!st) {
        a.error = cpu_auth_failure(c.index);
        r.findings.push_back({Severity::Error, "cpu-auth", std::nullopt, a.error});
        if (!r.auth_error) r.auth_error = a.error;
        return;
    }
    prefixes.emplace_back(c.index, st->prefix);
    a.authenticated = true;
    a.has_osii = st->has_osii;
    if (st->has_osii)
        r.findings.push_back({Severity::Note, "cpu-osii", std::nullopt,
                              cpu + " was stopped while the hypervisor emulated an instruction for it (has_osii): "
                                    "its registers may hold partial instruction results"});
    bool prefix_in_memory = false;
    for (const auto& l : dump.loads())
        if (st->prefix >= l.paddr && std::uint64_t(st->prefix) + 2 * kPageSize <= l.paddr + l.memsz) prefix_in_memory = true;
    if (!prefix_in_memory)
        r.findings.push_back({Severity::Warning, "cpu-prefix-outside-memory", std::uint64_t(st->prefix),
                              cpu + ": its prefix " + hex(st->prefix) +
                                  " does not point to 8 KiB of guest memory in the dump (its lowcore is missing)"});
}

// `pages` is called once, after the CPU checks (its errors come last).
VerifyReport verify_unlocked(const CoreFile& dump, const Keys& keys, const std::function<const PageIndex&()>& pages,
                             std::size_t max_findings) {
    VerifyReport r;
    r.completion_authenticated = true;
    check_keys(dump, keys, r.findings);

    // Every CPU blob, each on its own: one failing does not hide the others.
    IvUsers ivs;
    {
        const Bytes c = dump.section_bytes("pv_compl");
        ivs.emplace(to_hex(c.subspan(kComplIvOff, kGcmIvSize)), "the completion data");
    }
    const std::vector<CpuNotes> cpus = dump.cpus();
    std::vector<std::pair<unsigned, std::uint32_t>> prefixes;  // of the authenticated CPUs
    if (cpus.empty())
        r.findings.push_back({Severity::Error, "cpu-none", std::nullopt, "the dump has no CPU notes (no NT_PRSTATUS)"});
    for (const CpuNotes& c : cpus) {
        CpuAuth a;
        a.index = c.index;
        const std::string cpu = "CPU " + std::to_string(c.index);
        if (!c.pv_cpu_data) {
            a.error = cpu + " has no NT_S390_PV_CPU_DATA note (its encrypted state is missing)";
            r.findings.push_back({Severity::Error, "cpu-missing", std::nullopt, a.error});
            r.cpus.push_back(a);
            continue;
        }
        check_cpu_blob(dump, keys, c, ivs, a, r, prefixes);
        r.cpus.push_back(a);
    }

    check_provenance(dump, keys, prefixes, r.findings);

    PagePlan plan = page_plan(pages(), &keys.nonce, max_findings, /*check_zero_content=*/true, /*threads=*/0);
    r.counts = plan.counts;
    r.meta_covers_all = plan.meta_covers_all;
    r.findings_dropped = plan.findings_dropped;
    for (auto& f : plan.findings) r.findings.push_back(std::move(f));
    return r;
}

}  // namespace

VerifyReport inspect_verify(SealedDump& dump, Bytes cck, std::size_t max_findings) {
    dump.unlock(cck);  // Error(Format) not PV, Error(Auth) completion data
    return verify_unlocked(dump.file(), dump.keys(), [&]() -> const PageIndex& { return dump.pages(); }, max_findings);
}

VerifyReport inspect_verify(const CoreFile& dump, Bytes cck, std::size_t max_findings) {
    const Keys keys = open_keys(dump, cck);
    std::optional<PageIndex> pages;
    return verify_unlocked(dump, keys, [&]() -> const PageIndex& { return pages.emplace(dump); }, max_findings);
}

}  // namespace pvdump::decryptor
