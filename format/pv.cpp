#include "format/pv.hpp"

#include <openssl/crypto.h>

#include <cstring>

namespace pvdump::format {

// ---- completion data --------------------------------------------------------
CompletionBlob parse_completion(Reader blob) {
    CompletionBlob c{};
    c.version = blob.u32(0, "completion data version");
    c.length = blob.u32(4, "completion data length");
    if (c.version != 1)
        fail(ErrorCode::Format, "section 'pv_compl': unsupported completion data version " +
                                    std::to_string(c.version) + " (this tool reads version 1)");
    if (blob.size() < kComplSize)
        fail(ErrorCode::Format, "section 'pv_compl' is " + std::to_string(blob.size()) +
                                    " bytes, completion data v1 needs " + std::to_string(kComplSize));
    if (c.length != kComplSize)
        fail(ErrorCode::Format, "section 'pv_compl': completion data length field is " + std::to_string(c.length) +
                                    ", v1 is " + std::to_string(kComplSize));
    c.seed = blob.sub(kComplSeedOff, kComplSeedSize, "seed");
    c.iv = blob.sub(kComplIvOff, kGcmIvSize, "iv");
    c.aad = blob.sub(0, kComplAadSize, "aad");
    c.ciphertext = blob.sub(kComplAadSize, kComplCtSize, "encrypted part");
    c.tag = blob.sub(kComplTagOff, kGcmTagSize, "tag");
    return c;
}

CompletionSecrets::~CompletionSecrets() { OPENSSL_cleanse(nonce.data(), nonce.size()); }

CompletionSecrets open_completion(const CompletionBlob& blob, Bytes dump_key) {
    SecretBytes plain(kComplCtSize);
    if (!gcm_open(dump_key, blob.iv, blob.aad, blob.ciphertext, blob.tag, plain.mut()))
        fail(ErrorCode::Auth,
             "section 'pv_compl': authentication of the completion data failed (wrong CCK, or the dump was tampered with)");
    CompletionSecrets s;
    std::memcpy(s.nonce.data(), plain.data() + kComplNonceOff, kTweakSize);
    s.xts_key = SecretBytes(Bytes(plain.data() + kComplXtsKeyOff, kXtsKeySize));
    return s;
}

// ---- CPU dump ---------------------------------------------------------------
namespace {
// Offsets inside the 1520-byte plaintext (blob offset - 32).
constexpr std::size_t P_GPRS = 0, P_PSW = 128, P_PREFIX = 152, P_FPC = 156, P_TODPREG = 164, P_TIMER = 168,
                      P_TODCMP = 176, P_ACRS = 192, P_CTRS = 256, P_VRS_LO = 384, P_VRS_HI = 640,
                      P_GSD = 1416, P_GSSM = 1424, P_GSEPLA = 1432, P_FLAGS = 1504;
}  // namespace

CpuDumpBlob parse_cpu_dump(Reader blob) {
    return *parse_cpu_dump(std::move(blob), nullptr);
}

std::optional<CpuDumpBlob> parse_cpu_dump(Reader blob, Diagnostics* sink) {
    auto problem = [&](std::string_view field, std::uint64_t offset, std::string message) -> std::optional<CpuDumpBlob> {
        if (!sink) fail(ErrorCode::Format, message);
        sink->report({Diagnostic::Severity::Error, std::string(field), blob.base() + offset, std::move(message)});
        return std::nullopt;
    };
    for (const auto& [offset, field] : {std::pair<std::uint64_t, std::string_view>{0, "CPU dump version"}, {4, "CPU dump length"}})
        if (std::string o = blob.overrun(offset, 4, field); !o.empty()) return problem(field, offset, std::move(o));
    CpuDumpBlob c{};
    c.version = blob.u32(0, "CPU dump version");
    c.length = blob.u32(4, "CPU dump length");
    if (c.version != 1)
        return problem("CPU dump version", 0,
                       blob.what() + ": unsupported CPU dump version " + std::to_string(c.version) + " (this tool reads version 1)");
    if (blob.size() != kCpuDumpSize || c.length != kCpuDumpSize)
        return problem("CPU dump length", 4,
                       blob.what() + ": CPU dump is " + std::to_string(blob.size()) + " bytes (length field " +
                           std::to_string(c.length) + "), v1 is " + std::to_string(kCpuDumpSize));
    // In bounds from here on: the blob is exactly kCpuDumpSize bytes.
    c.iv = blob.sub(8, kGcmIvSize, "iv");
    c.aad = blob.sub(0, kCpuAadSize, "aad");
    c.ciphertext = blob.sub(kCpuAadSize, kCpuCtSize, "encrypted part");
    c.tag = blob.sub(kCpuTagOff, kGcmTagSize, "tag");
    return c;
}

CpuState decode_cpu_plaintext(Bytes p) {
    if (p.size() != kCpuCtSize) fail(ErrorCode::Internal, "CPU plaintext must be 1520 bytes");
    const std::uint8_t* b = p.data();
    CpuState s;
    for (int i = 0; i < 16; ++i) s.gprs[i] = load_be64(b + P_GPRS + 8 * i);
    s.psw[0] = load_be64(b + P_PSW);
    s.psw[1] = load_be64(b + P_PSW + 8);
    s.prefix = load_be32(b + P_PREFIX);
    s.fpc = load_be32(b + P_FPC);
    s.todpreg = load_be32(b + P_TODPREG);
    s.timer = load_be64(b + P_TIMER);
    s.todcmp = load_be64(b + P_TODCMP);
    for (int i = 0; i < 16; ++i) s.acrs[i] = load_be32(b + P_ACRS + 4 * i);
    for (int i = 0; i < 16; ++i) s.ctrs[i] = load_be64(b + P_CTRS + 8 * i);
    for (int i = 0; i < 16; ++i) std::memcpy(s.vrs[i].data(), b + P_VRS_LO + 16 * i, 16);
    for (int i = 0; i < 16; ++i) std::memcpy(s.vrs[16 + i].data(), b + P_VRS_HI + 16 * i, 16);
    s.gsd = load_be64(b + P_GSD);
    s.gssm = load_be64(b + P_GSSM);
    s.gs_epl_a = load_be64(b + P_GSEPLA);
    s.has_osii = (load_be16(b + P_FLAGS) & kDumpFlagHasOsii) != 0;
    return s;
}

std::vector<std::uint8_t> encode_cpu_plaintext(const CpuState& s) {
    std::vector<std::uint8_t> p(kCpuCtSize, 0);
    std::uint8_t* b = p.data();
    for (int i = 0; i < 16; ++i) store_be64(b + P_GPRS + 8 * i, s.gprs[i]);
    store_be64(b + P_PSW, s.psw[0]);
    store_be64(b + P_PSW + 8, s.psw[1]);
    store_be32(b + P_PREFIX, s.prefix);
    store_be32(b + P_FPC, s.fpc);
    store_be32(b + P_TODPREG, s.todpreg);
    store_be64(b + P_TIMER, s.timer);
    store_be64(b + P_TODCMP, s.todcmp);
    for (int i = 0; i < 16; ++i) store_be32(b + P_ACRS + 4 * i, s.acrs[i]);
    for (int i = 0; i < 16; ++i) store_be64(b + P_CTRS + 8 * i, s.ctrs[i]);
    for (int i = 0; i < 16; ++i) std::memcpy(b + P_VRS_LO + 16 * i, s.vrs[i].data(), 16);
    for (int i = 0; i < 16; ++i) std::memcpy(b + P_VRS_HI + 16 * i, s.vrs[16 + i].data(), 16);
    store_be64(b + P_GSD, s.gsd);
    store_be64(b + P_GSSM, s.gssm);
    store_be64(b + P_GSEPLA, s.gs_epl_a);
    store_be16(b + P_FLAGS, s.has_osii ? kDumpFlagHasOsii : 0);
    return p;
}

std::string cpu_auth_failure(unsigned cpu) {
    return "CPU " + std::to_string(cpu) +
           ": authentication of the encrypted CPU state (NT_S390_PV_CPU_DATA) failed: the blob was tampered with";
}

std::optional<CpuState> try_open_cpu_dump(const CpuDumpBlob& blob, Bytes dump_key) {
    SecretBytes plain(kCpuCtSize);
    if (!gcm_open(dump_key, blob.iv, blob.aad, blob.ciphertext, blob.tag, plain.mut())) return std::nullopt;
    return decode_cpu_plaintext(plain.view());
}

CpuState open_cpu_dump(const CpuDumpBlob& blob, Bytes dump_key, unsigned cpu) {
    std::optional<CpuState> state = try_open_cpu_dump(blob, dump_key);
    if (!state) fail(ErrorCode::Auth, cpu_auth_failure(cpu));
    return *state;
}

std::vector<std::uint8_t> seal_cpu_dump(const CpuState& state, Bytes dump_key, Bytes iv12) {
    if (iv12.size() != kGcmIvSize) fail(ErrorCode::Internal, "CPU dump IV must be 12 bytes");
    std::vector<std::uint8_t> blob(kCpuDumpSize, 0);
    store_be32(blob.data(), 1);
    store_be32(blob.data() + 4, kCpuDumpSize);
    std::memcpy(blob.data() + 8, iv12.data(), kGcmIvSize);
    SecretBytes plain(encode_cpu_plaintext(state));
    gcm_seal(dump_key, iv12, Bytes(blob.data(), kCpuAadSize), plain.view(),
             MutableBytes(blob.data() + kCpuAadSize, kCpuCtSize), MutableBytes(blob.data() + kCpuTagOff, kGcmTagSize));
    return blob;
}

// ---- clear notes ------------------------------------------------------------
namespace {

std::vector<std::uint8_t> prstatus(const CpuState& s, std::uint32_t pid) {
    std::vector<std::uint8_t> d(kPrstatusSize, 0);
    Writer w(d, "NT_PRSTATUS");
    w.u32(PrstatusLayout::kPid, pid, "pr_pid");
    w.u64(PrstatusLayout::kPsw, s.psw[0], "psw mask");
    w.u64(PrstatusLayout::kPsw + 8, s.psw[1], "psw address");
    for (int i = 0; i < 16; ++i) w.u64(PrstatusLayout::kGprs + 8 * i, s.gprs[i], "gprs");
    for (int i = 0; i < 16; ++i) w.u32(PrstatusLayout::kAcrs + 4 * i, s.acrs[i], "acrs");
    return d;
}
std::vector<std::uint8_t> fpregset(const CpuState& s) {
    std::vector<std::uint8_t> d(kFpregsetSize, 0);
    Writer w(d, "NT_FPREGSET");
    w.u32(FpregsetLayout::kFpc, s.fpc, "fpc");
    for (int i = 0; i < 16; ++i) w.put(FpregsetLayout::kFprs + 8 * i, Bytes(s.vrs[i].data(), 8), "fprs");
    return d;
}
std::vector<std::uint8_t> be32_desc(std::uint32_t v) {
    std::vector<std::uint8_t> d(4);
    store_be32(d.data(), v);
    return d;
}
std::vector<std::uint8_t> be64_desc(std::uint64_t v) {
    std::vector<std::uint8_t> d(8);
    store_be64(d.data(), v);
    return d;
}
std::vector<std::uint8_t> ctrs(const CpuState& s) {
    std::vector<std::uint8_t> d(128);
    for (int i = 0; i < 16; ++i) store_be64(d.data() + 8 * i, s.ctrs[i]);
    return d;
}
std::vector<std::uint8_t> vxrs_low(const CpuState& s) {
    std::vector<std::uint8_t> d(128);
    for (int i = 0; i < 16; ++i) std::memcpy(d.data() + 8 * i, s.vrs[i].data() + 8, 8);
    return d;
}
std::vector<std::uint8_t> vxrs_high(const CpuState& s) {
    std::vector<std::uint8_t> d(256);
    for (int i = 0; i < 16; ++i) std::memcpy(d.data() + 16 * i, s.vrs[16 + i].data(), 16);
    return d;
}
std::vector<std::uint8_t> gs_cb(const CpuState& s) {
    std::vector<std::uint8_t> d(GsCbLayout::kSize, 0);
    Writer w(d, "NT_S390_GS_CB");
    w.u64(GsCbLayout::kGsd, s.gsd, "gsd");
    w.u64(GsCbLayout::kGssm, s.gssm, "gssm");
    w.u64(GsCbLayout::kGsEplA, s.gs_epl_a, "gs_epl_a");
    return d;
}

}  // namespace

std::vector<NoteBlob> qemu_cpu_notes(const CpuState& s, std::uint32_t pid) {
    return {
        {"CORE", NT_PRSTATUS_, prstatus(s, pid)},
        {"CORE", NT_FPREGSET_, fpregset(s)},
        {"LINUX", NT_S390_PREFIX_, be32_desc(s.prefix)},
        {"LINUX", NT_S390_CTRS_, ctrs(s)},
        {"LINUX", NT_S390_TIMER_, be64_desc(s.timer)},
        {"LINUX", NT_S390_TODCMP_, be64_desc(s.todcmp)},
        {"LINUX", NT_S390_TODPREG_, be32_desc(s.todpreg)},
        {"LINUX", NT_S390_VXRS_LOW_, vxrs_low(s)},
        {"LINUX", NT_S390_VXRS_HIGH_, vxrs_high(s)},
        {"LINUX", NT_S390_GS_CB_, gs_cb(s)},
    };
}

std::vector<NoteBlob> vmcore_cpu_notes(const CpuState& s, std::uint32_t pid) {
    return {
        {"CORE", NT_PRSTATUS_, prstatus(s, pid)},
        {"CORE", NT_FPREGSET_, fpregset(s)},
        {"LINUX", NT_S390_TIMER_, be64_desc(s.timer)},
        {"LINUX", NT_S390_TODCMP_, be64_desc(s.todcmp)},
        {"LINUX", NT_S390_TODPREG_, be32_desc(s.todpreg)},
        {"LINUX", NT_S390_CTRS_, ctrs(s)},
        {"LINUX", NT_S390_PREFIX_, be32_desc(s.prefix)},
        {"LINUX", NT_S390_VXRS_LOW_, vxrs_low(s)},
        {"LINUX", NT_S390_VXRS_HIGH_, vxrs_high(s)},
        {"LINUX", NT_S390_GS_CB_, gs_cb(s)},
    };
}

std::vector<std::uint8_t> prpsinfo_desc() {
    std::vector<std::uint8_t> d(kPrpsinfoSize, 0);
    Writer w(d, "NT_PRPSINFO");
    w.u8(PrpsinfoLayout::kSname, 'R', "pr_sname");
    w.put(PrpsinfoLayout::kFname, Bytes(reinterpret_cast<const std::uint8_t*>("vmlinux"), 7), "pr_fname");
    return d;
}

bool apply_cpu_note(CpuState& s, std::uint32_t type, Reader d) {
    switch (type) {
    case NT_PRSTATUS_:
        d.require(0, kPrstatusSize, "NT_PRSTATUS descriptor");
        s.psw[0] = d.u64(PrstatusLayout::kPsw, "psw");
        s.psw[1] = d.u64(PrstatusLayout::kPsw + 8, "psw");
        for (int i = 0; i < 16; ++i) s.gprs[i] = d.u64(PrstatusLayout::kGprs + 8 * i, "gprs");
        for (int i = 0; i < 16; ++i) s.acrs[i] = d.u32(PrstatusLayout::kAcrs + 4 * i, "acrs");
        return true;
    case NT_FPREGSET_:
        d.require(0, kFpregsetSize, "NT_FPREGSET descriptor");
        s.fpc = d.u32(FpregsetLayout::kFpc, "fpc");
        for (int i = 0; i < 16; ++i)
            std::memcpy(s.vrs[i].data(), d.sub(FpregsetLayout::kFprs + 8 * i, 8, "fprs").data(), 8);
        return true;
    case NT_S390_PREFIX_: s.prefix = d.u32(0, "NT_S390_PREFIX descriptor"); return true;
    case NT_S390_CTRS_:
        for (int i = 0; i < 16; ++i) s.ctrs[i] = d.u64(8 * i, "NT_S390_CTRS descriptor");
        return true;
    case NT_S390_TIMER_: s.timer = d.u64(0, "NT_S390_TIMER descriptor"); return true;
    case NT_S390_TODCMP_: s.todcmp = d.u64(0, "NT_S390_TODCMP descriptor"); return true;
    case NT_S390_TODPREG_: s.todpreg = d.u32(0, "NT_S390_TODPREG descriptor"); return true;
    case NT_S390_VXRS_LOW_:
        for (int i = 0; i < 16; ++i)
            std::memcpy(s.vrs[i].data() + 8, d.sub(8 * i, 8, "NT_S390_VXRS_LOW descriptor").data(), 8);
        return true;
    case NT_S390_VXRS_HIGH_:
        for (int i = 0; i < 16; ++i)
            std::memcpy(s.vrs[16 + i].data(), d.sub(16 * i, 16, "NT_S390_VXRS_HIGH descriptor").data(), 16);
        return true;
    case NT_S390_GS_CB_:
        s.gsd = d.u64(GsCbLayout::kGsd, "NT_S390_GS_CB descriptor");
        s.gssm = d.u64(GsCbLayout::kGssm, "NT_S390_GS_CB descriptor");
        s.gs_epl_a = d.u64(GsCbLayout::kGsEplA, "NT_S390_GS_CB descriptor");
        return true;
    default: return false;
    }
}

// ---- page states ------------------------------------------------------------
PageClass classify_component(const std::uint8_t c[kTweakSize]) {
    PageClass pc{PageState::Encrypted};
    if (!(c[0] == 0xff && c[1] == 0xff && c[2] == 0xff && c[3] == 0xff)) return pc;
    for (int i = 4; i < 14; ++i)
        if (c[i]) pc.reserved_nonzero = true;
    const std::uint8_t flags = c[15];
    const bool zero = flags & 0x01, shared = flags & 0x02;
    pc.mapped = flags & 0x04;
    if (c[14] != 0) {
        pc.state = PageState::Invalid;
        pc.invalid_reason = "reserved flag byte 14 is not zero";
    } else if (flags & 0xf8) {
        pc.state = PageState::Invalid;
        pc.invalid_reason = "reserved flag bits 0xf8 set in byte 15";
    } else if (zero && shared) {
        pc.state = PageState::Invalid;
        pc.invalid_reason = "zero and shared flags both set";
    } else if (!zero && !shared) {
        pc.state = PageState::Invalid;
        pc.invalid_reason = pc.mapped ? "mapped flag without zero or shared" : "special component without zero or shared flag";
    } else {
        pc.state = zero ? PageState::Zero : PageState::Shared;
    }
    return pc;
}

const char* page_state_name(PageState s) {
    switch (s) {
    case PageState::Encrypted: return "encrypted";
    case PageState::Zero: return "zero";
    case PageState::Shared: return "shared";
    case PageState::Invalid: return "invalid";
    }
    return "?";
}

}  // namespace pvdump::format
