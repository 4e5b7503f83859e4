// Fuzz target: the project's own AES-256-XTS (format/xts_x86.*) against
// OpenSSL EVP. Input: one flags byte (bit 0: decrypt, bit 1: AVX2 rather than
// AVX-512, bit 2: in place), the 64-byte key, the 16-byte tweak, then the data
// unit (any length: the whole-block sizes take the vector code, the others
// OpenSSL's ciphertext stealing). Both must give the same bytes, or both
// refuse (pvdump::Error); the vector result must also decrypt back with the
// other direction. Any difference aborts. On a CPU without VAES only OpenSSL
// runs and the target checks nothing but the fallback.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "format/crypto.hpp"
#include "format/error.hpp"

namespace {

using pvdump::format::XtsCipher;
using pvdump::format::XtsImpl;

// Runs one direction into out; false when the cipher refused (pvdump::Error).
bool run(XtsImpl impl, XtsCipher::Mode mode, const std::uint8_t* key, const std::uint8_t* tweak,
         const std::vector<std::uint8_t>& in, bool in_place, std::vector<std::uint8_t>& out) {
    try {
        XtsCipher c(pvdump::format::Bytes(key, pvdump::format::kXtsKeySize), mode, impl);
        out = in;
        if (in_place) c.process(tweak, out.data(), out.data(), out.size());
        else c.process(tweak, in.data(), out.data(), in.size());
        return true;
    } catch (const pvdump::Error&) {
        return false;
    }
}

[[noreturn]] void finding(const char* what, std::size_t size) {
    std::fprintf(stderr, "fuzz_xts: %s (data unit of %zu bytes)\n", what, size);
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    constexpr std::size_t kHead = 1 + pvdump::format::kXtsKeySize + pvdump::format::kTweakSize;
    if (size < kHead) return 0;
    const std::uint8_t flags = data[0];
    const std::uint8_t* key = data + 1;
    const std::uint8_t* tweak = key + pvdump::format::kXtsKeySize;
    const std::vector<std::uint8_t> in(data + kHead, data + size);
    const auto mode = flags & 1 ? XtsCipher::Mode::Decrypt : XtsCipher::Mode::Encrypt;
    const auto back = flags & 1 ? XtsCipher::Mode::Encrypt : XtsCipher::Mode::Decrypt;
    XtsImpl impl = flags & 2 ? XtsImpl::VaesAvx2 : XtsImpl::VaesAvx512;
    if (!pvdump::format::xts_impl_supported(impl)) impl = pvdump::format::xts_best_impl();

    std::vector<std::uint8_t> want, got, round;
    const bool ok_want = run(XtsImpl::OpenSSL, mode, key, tweak, in, false, want);
    const bool ok_got = run(impl, mode, key, tweak, in, flags & 4, got);
    if (ok_want != ok_got) finding("one implementation refused what the other accepted", in.size());
    if (!ok_got) return 0;
    if (got != want) finding("the vector implementation differs from OpenSSL", in.size());
    // Back again (encrypting may be refused: equal key halves).
    if (run(impl, back, key, tweak, got, flags & 4, round) && round != in)
        finding("the round trip does not give the input back", in.size());
    return 0;
}
