// The project's own AES-256-XTS for x86-64 (VAES + VPCLMULQDQ), internal to
// format/: XtsCipher (crypto.cpp) is the only user. Every function is compiled
// with a function-level target attribute, so the binary runs on any x86-64 CPU;
// XtsCipher calls them only after cpu_has_*() said yes. On other architectures
// (s390x) PVDUMP_XTS_X86 is 0 and only the stubs below exist.
//
// Scope: whole 16-byte blocks only (no ciphertext stealing); XtsCipher sends
// anything else to OpenSSL. in and out may be the same buffer, but must not
// overlap otherwise.
#pragma once
#include <cstddef>
#include <cstdint>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define PVDUMP_XTS_X86 1
#else
#define PVDUMP_XTS_X86 0
#endif

namespace pvdump::format::xts_x86 {

// The schedule: the data key's 15 round keys (encryption form, or the
// equivalent inverse cipher's for decryption), each stored 4 times (64 bytes,
// one zmm register's worth), then the tweak key's 15 (encryption form, 16
// bytes each). Best 64-byte aligned.
inline constexpr std::size_t kRoundKeys = 15;
inline constexpr std::size_t kDataKeyStride = 64;
inline constexpr std::size_t kTweakKeyOffset = kRoundKeys * kDataKeyStride;
inline constexpr std::size_t kScheduleSize = kTweakKeyOffset + kRoundKeys * 16;

// CPUID (and XCR0, through the compiler's runtime): can the code run here?
bool cpu_has_avx512() noexcept;  // AES-NI, PCLMULQDQ, VAES, VPCLMULQDQ, AVX-512 F/BW/VL
bool cpu_has_avx2() noexcept;    // AES-NI, PCLMULQDQ, VAES, VPCLMULQDQ, AVX2

// key64 = key1 (data) || key2 (tweak); writes kScheduleSize bytes to schedule.
// Needs AES-NI (implied by both cpu_has_* above). Leaves no key material on
// the stack.
void expand_keys(const std::uint8_t* key64, bool decrypt, std::uint8_t* schedule) noexcept;

// One data unit of size bytes (a positive multiple of 16) with the 16-byte tweak.
void crypt_avx512(const std::uint8_t* schedule, bool decrypt, const std::uint8_t* tweak, const std::uint8_t* in,
                  std::uint8_t* out, std::size_t size) noexcept;
void crypt_avx2(const std::uint8_t* schedule, bool decrypt, const std::uint8_t* tweak, const std::uint8_t* in,
                std::uint8_t* out, std::size_t size) noexcept;

}  // namespace pvdump::format::xts_x86
