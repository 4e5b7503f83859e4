// Which AES-256-XTS implementation XtsCipher runs, chosen at run time.
//
//   openssl      OpenSSL EVP (AES-NI on x86, CPACF on s390x): the fallback on every
//                CPU, the oracle of the tests, and the only path for data units
//                whose size is not a multiple of 16 bytes (ciphertext stealing).
//   vaes-avx512  the project's own VAES + VPCLMULQDQ code, 4 blocks per zmm register.
//   vaes-avx2    the same with ymm registers (2 blocks each), for VAES CPUs
//                without AVX-512.
//
// The default is the fastest one the CPU supports (CPUID); the environment
// variable PVDUMP_AES=auto|openssl|vaes|vaes-avx512|vaes-avx2 forces one ("vaes":
// the best vector one), so tests and the benchmark can compare them.
#pragma once
#include <string>

namespace pvdump::format {

enum class XtsImpl { OpenSSL, VaesAvx2, VaesAvx512 };

// "openssl", "vaes-avx2", "vaes-avx512".
const char* xts_impl_name(XtsImpl impl) noexcept;
// True when this build and this CPU (and its OS, for the register state) can run it.
bool xts_impl_supported(XtsImpl impl) noexcept;
// The fastest supported implementation.
XtsImpl xts_best_impl() noexcept;
// The implementation new XtsCipher objects use: PVDUMP_AES, else the best one.
// Throws Error(InvalidArgument) naming the variable when its value is unknown or names an
// implementation this CPU cannot run. Read once per process.
XtsImpl xts_selected_impl();
// xts_impl_name(xts_selected_impl()), or "invalid PVDUMP_AES"; never throws.
const char* xts_selected_name() noexcept;
// One line for --version and reports, e.g. "vaes-avx512 (CPU: AES-NI VAES
// VPCLMULQDQ AVX512F AVX512BW AVX512VL AVX2)"; never throws (a bad PVDUMP_AES
// is described instead).
std::string xts_impl_description();

}  // namespace pvdump::format
