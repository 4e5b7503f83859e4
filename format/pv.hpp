// The v1 structures of a PV dump: completion data, CPU dump, page states, and
// the vCPU register state shared by the clear notes and the encrypted blob.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "format/bytes.hpp"
#include "format/crypto.hpp"
#include "format/diagnostics.hpp"

namespace pvdump::format {

// ---- note types -----------------------------------------------------------
inline constexpr std::uint32_t NT_PRSTATUS_ = 1;
inline constexpr std::uint32_t NT_FPREGSET_ = 2;
inline constexpr std::uint32_t NT_PRPSINFO_ = 3;
inline constexpr std::uint32_t NT_S390_TIMER_ = 0x301;
inline constexpr std::uint32_t NT_S390_TODCMP_ = 0x302;
inline constexpr std::uint32_t NT_S390_TODPREG_ = 0x303;
inline constexpr std::uint32_t NT_S390_CTRS_ = 0x304;
inline constexpr std::uint32_t NT_S390_PREFIX_ = 0x305;
inline constexpr std::uint32_t NT_S390_VXRS_LOW_ = 0x309;
inline constexpr std::uint32_t NT_S390_VXRS_HIGH_ = 0x30a;
inline constexpr std::uint32_t NT_S390_GS_CB_ = 0x30b;
inline constexpr std::uint32_t NT_S390_PV_CPU_DATA_ = 0x30e;

inline constexpr std::size_t kPrstatusSize = 336;
inline constexpr std::size_t kFpregsetSize = 136;
inline constexpr std::size_t kPrpsinfoSize = 136;

// Field offsets of the s390x note descriptors (docs/format.md §4), the one
// place both the encoders (qemu_cpu_notes, vmcore_cpu_notes) and the decoder
// (apply_cpu_note) take them from. Other fields are written as zero.
struct PrstatusLayout {  // struct elf_prstatus, 336 bytes
    static constexpr std::size_t kPid = 32;    // pr_pid
    static constexpr std::size_t kPsw = 112;   // pr_reg: psw mask, psw address
    static constexpr std::size_t kGprs = 128;  // 16 x 8
    static constexpr std::size_t kAcrs = 256;  // 16 x 4
};
struct FpregsetLayout {  // s390_fp_regs, 136 bytes
    static constexpr std::size_t kFpc = 0;   // 4 bytes, then 4 of padding
    static constexpr std::size_t kFprs = 8;  // 16 x 8
};
struct GsCbLayout {  // guarded-storage control block, 32 bytes
    static constexpr std::size_t kSize = 32;
    static constexpr std::size_t kGsd = 8, kGssm = 16, kGsEplA = 24;
};
struct PrpsinfoLayout {  // struct elf_prpsinfo, 136 bytes
    static constexpr std::size_t kSname = 1;   // pr_sname
    static constexpr std::size_t kFname = 40;  // pr_fname[16]
};

// ---- completion data v1 -----------------------------------------------------
inline constexpr std::size_t kComplSize = 288;
inline constexpr std::size_t kComplAadSize = 96;
inline constexpr std::size_t kComplCtSize = 176;  // 96..271
inline constexpr std::size_t kComplSeedOff = 16, kComplSeedSize = 64;
inline constexpr std::size_t kComplIvOff = 80;
inline constexpr std::size_t kComplTagOff = 272;
// offsets inside the decrypted part (blob offset minus 96)
inline constexpr std::size_t kComplNonceOff = 0;
inline constexpr std::size_t kComplXtsKeyOff = 16;

// Parsed but still encrypted completion data; spans point into the dump.
struct CompletionBlob {
    std::uint32_t version;
    std::uint32_t length;
    Bytes seed;        // 64
    Bytes iv;          // 12
    Bytes aad;         // 96
    Bytes ciphertext;  // 176
    Bytes tag;         // 16
};
// Checks version and length; `where` names the blob in messages.
CompletionBlob parse_completion(Reader blob);

struct CompletionSecrets {
    std::array<std::uint8_t, kTweakSize> nonce{};  // not secret on its own, but wiped too
    SecretBytes xts_key;                           // 64 bytes, key1 || key2
    CompletionSecrets() = default;
    CompletionSecrets(CompletionSecrets&&) = default;
    CompletionSecrets& operator=(CompletionSecrets&&) = default;
    ~CompletionSecrets();
};
// Authenticates and decrypts; throws Error(Auth) naming the completion data.
CompletionSecrets open_completion(const CompletionBlob& blob, Bytes dump_key);

// ---- CPU state ------------------------------------------------------------
struct CpuState {
    std::array<std::uint64_t, 16> gprs{};
    std::array<std::uint64_t, 2> psw{};
    std::uint32_t prefix = 0;
    std::uint32_t fpc = 0;
    std::uint32_t todpreg = 0;
    std::uint64_t timer = 0;
    std::uint64_t todcmp = 0;
    std::array<std::uint32_t, 16> acrs{};
    std::array<std::uint64_t, 16> ctrs{};
    // 32 vector registers, 16 bytes each, big-endian as stored; the first 8
    // bytes of vrs[0..15] are the floating-point registers.
    std::array<std::array<std::uint8_t, 16>, 32> vrs{};
    std::uint64_t gsd = 0, gssm = 0, gs_epl_a = 0;
    bool has_osii = false;

    std::uint64_t fpr(int n) const { return load_be64(vrs[n].data()); }
    bool operator==(const CpuState&) const = default;
};

inline constexpr std::size_t kCpuDumpSize = 1568;
inline constexpr std::size_t kCpuAadSize = 32;
inline constexpr std::size_t kCpuCtSize = 1520;  // 32..1551
inline constexpr std::size_t kCpuTagOff = 1552;
inline constexpr std::uint16_t kDumpFlagHasOsii = 0x8000;

struct CpuDumpBlob {
    std::uint32_t version;
    std::uint32_t length;
    Bytes iv, aad, ciphertext, tag;
};
// Strict: Error(Format) at the first problem.
CpuDumpBlob parse_cpu_dump(Reader blob);
// Lenient (cf. CoreFile::open): the problem goes to `sink` (field, file offset,
// the message the strict form throws) and the result is empty; with a null
// sink it throws as the strict form does.
std::optional<CpuDumpBlob> parse_cpu_dump(Reader blob, Diagnostics* sink);
// Authenticates and decrypts; `cpu` is the CPU's index for messages.
// Error(Auth) with cpu_auth_failure(cpu) when the tag does not match.
CpuState open_cpu_dump(const CpuDumpBlob& blob, Bytes dump_key, unsigned cpu);
// The same without throwing: empty when authentication fails (its only failure).
std::optional<CpuState> try_open_cpu_dump(const CpuDumpBlob& blob, Bytes dump_key);
// The message of that failure for CPU `cpu`.
std::string cpu_auth_failure(unsigned cpu);
// The producer side: the 1568-byte blob of a state (reserved bytes zero).
std::vector<std::uint8_t> seal_cpu_dump(const CpuState& state, Bytes dump_key, Bytes iv12);
// The plaintext layout (1520 bytes placed at blob offset 32): encode/decode.
std::vector<std::uint8_t> encode_cpu_plaintext(const CpuState& state);
CpuState decode_cpu_plaintext(Bytes plaintext1520);

// ---- clear notes <-> CpuState ---------------------------------------------
struct NoteBlob {
    std::string name;  // "CORE", "LINUX", "VMCOREINFO"
    std::uint32_t type;
    std::vector<std::uint8_t> desc;
};
// The clear per-CPU notes in QEMU's order: PRSTATUS, FPREGSET, PREFIX, CTRS,
// TIMER, TODCMP, TODPREG, VXRS_LOW, VXRS_HIGH, GS_CB.
std::vector<NoteBlob> qemu_cpu_notes(const CpuState& state, std::uint32_t pid);
// The order zgetdump writes into a decrypted vmcore (docs/format.md §7): PRSTATUS,
// FPREGSET, TIMER, TODCMP, TODPREG, CTRS, PREFIX, VXRS_LOW, VXRS_HIGH, GS_CB.
std::vector<NoteBlob> vmcore_cpu_notes(const CpuState& state, std::uint32_t pid);
std::vector<std::uint8_t> prpsinfo_desc();
// Applies one clear note to a state (unknown types are ignored); returns
// false when the type is not a register note. Sizes are checked.
bool apply_cpu_note(CpuState& state, std::uint32_t type, Reader desc);

// ---- page states ------------------------------------------------------------
enum class PageState : std::uint8_t { Encrypted, Zero, Shared, Invalid };
struct PageClass {
    PageState state;
    bool mapped = false;
    bool reserved_nonzero = false;  // bytes 4..13 of a special component (ignored)
    const char* invalid_reason = nullptr;
};
PageClass classify_component(const std::uint8_t component[kTweakSize]);
const char* page_state_name(PageState s);

}  // namespace pvdump::format
