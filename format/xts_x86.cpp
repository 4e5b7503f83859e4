// AES-256-XTS with VAES + VPCLMULQDQ (see xts_x86.hpp).
//
// XTS (IEEE 1619): T_0 = AES-256-Enc(key2, tweak), T_{j+1} = T_j * x in
// GF(2^128) with the block read as a little-endian 128-bit integer and the
// reduction x^128 = x^7 + x^2 + x + 1 (0x87); block j of the data unit is
// C_j = AES-256(key1, P_j ^ T_j) ^ T_j (decryption: the inverse cipher).
//
// A vector register holds the tweaks of consecutive blocks, one per 128-bit
// lane (4 per zmm, 2 per ymm). Several registers are in flight per loop
// iteration so that the AES rounds of independent blocks overlap and the
// instruction latency is hidden; after each iteration every lane's tweak is
// multiplied by x^k (k = blocks per iteration) with one carry-less multiply:
// shifting the 128-bit value left by k bits carries the top k bits out, and
// those, times 0x87, are folded back into the low bits.
//
// The final XOR with the tweak is folded into the last round key
// (AESENCLAST/AESDECLAST end with "XOR round key").
#include "format/xts_x86.hpp"

#if PVDUMP_XTS_X86

// GCC 12's AVX-512 headers initialise their "undefined" vectors from
// themselves, which -Wuninitialized reports in every caller (GCC bug 105593).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <cpuid.h>
#include <immintrin.h>
#include <openssl/crypto.h>

#include <cstring>

#define PVDUMP_TARGET_AES __attribute__((target("aes,pclmul,sse4.1")))
#define PVDUMP_TARGET_AVX2 __attribute__((target("aes,pclmul,sse4.1,avx,avx2,vaes,vpclmulqdq")))
#define PVDUMP_TARGET_AVX512 \
    __attribute__((target("aes,pclmul,sse4.1,avx,avx2,avx512f,avx512bw,avx512vl,vaes,vpclmulqdq")))
#define PVDUMP_INLINE inline __attribute__((always_inline))

namespace pvdump::format::xts_x86 {
namespace {

constexpr std::size_t kBlock = 16;

// ---- CPU ----------------------------------------------------------------------
// CPUID directly (GCC's and clang's __builtin_cpu_supports do not all know
// "vaes" and "vpclmulqdq"), and XCR0 for the register state the OS saves.
struct CpuFeatures {
    bool avx2 = false;    // AES-NI, PCLMULQDQ, SSE4.1, AVX, AVX2, VAES, VPCLMULQDQ; ymm state enabled
    bool avx512 = false;  // and AVX-512 F/BW/VL; zmm state enabled
};

std::uint64_t read_xcr0() noexcept {
    std::uint32_t lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (std::uint64_t(hi) << 32) | lo;
}

CpuFeatures detect() noexcept {
    CpuFeatures f;
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    const bool aes = c & (1u << 25), pclmul = c & (1u << 1), sse41 = c & (1u << 19);
    const bool osxsave = c & (1u << 27), avx = c & (1u << 28);
    if (!(aes && pclmul && sse41 && osxsave && avx)) return f;
    const std::uint64_t xcr0 = read_xcr0();
    if ((xcr0 & 0x6) != 0x6) return f;  // xmm and ymm state
    if (__get_cpuid_max(0, nullptr) < 7) return f;
    __cpuid_count(7, 0, a, b, c, d);
    const bool avx2 = b & (1u << 5), vaes = c & (1u << 9), vpclmulqdq = c & (1u << 10);
    const bool avx512f = b & (1u << 16), avx512bw = b & (1u << 30), avx512vl = b & (1u << 31);
    f.avx2 = avx2 && vaes && vpclmulqdq;
    f.avx512 = f.avx2 && avx512f && avx512bw && avx512vl && (xcr0 & 0xe0) == 0xe0;  // opmask, zmm0-15 high, zmm16-31
    return f;
}

const CpuFeatures& cpu() noexcept {
    static const CpuFeatures f = detect();
    return f;
}

// ---- key schedule (AES-NI) ------------------------------------------------------
// AES-256 key expansion: even round keys take SubWord(RotWord(w)) ^ rcon of
// the previous odd key's last word, odd ones SubWord(w) of the previous even
// key's last word; each new word is the XOR of the four words 8 positions back.
PVDUMP_TARGET_AES PVDUMP_INLINE __m128i fold_words(__m128i k, __m128i g) {
    k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
    k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
    k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
    return _mm_xor_si128(k, g);
}

PVDUMP_TARGET_AES void expand_256(const std::uint8_t* key, __m128i rk[kRoundKeys]) {
    rk[0] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(key));
    rk[1] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(key + 16));
#define PVDUMP_EXPAND_PAIR(i, rcon)                                                                         \
    rk[i] = fold_words(rk[i - 2], _mm_shuffle_epi32(_mm_aeskeygenassist_si128(rk[i - 1], rcon), 0xff));   \
    rk[i + 1] = fold_words(rk[i - 1], _mm_shuffle_epi32(_mm_aeskeygenassist_si128(rk[i], 0), 0xaa));
    PVDUMP_EXPAND_PAIR(2, 0x01)
    PVDUMP_EXPAND_PAIR(4, 0x02)
    PVDUMP_EXPAND_PAIR(6, 0x04)
    PVDUMP_EXPAND_PAIR(8, 0x08)
    PVDUMP_EXPAND_PAIR(10, 0x10)
    PVDUMP_EXPAND_PAIR(12, 0x20)
    rk[14] = fold_words(rk[12], _mm_shuffle_epi32(_mm_aeskeygenassist_si128(rk[13], 0x40), 0xff));
#undef PVDUMP_EXPAND_PAIR
}

PVDUMP_TARGET_AES void expand_keys_aesni(const std::uint8_t* key64, bool decrypt, std::uint8_t* schedule) {
    __m128i rk[kRoundKeys];
    expand_256(key64, rk);
    for (std::size_t r = 0; r < kRoundKeys; ++r) {
        // The equivalent inverse cipher: round keys in reverse order, the
        // inner ones through InvMixColumns.
        __m128i k = rk[r];
        if (decrypt) {
            k = rk[kRoundKeys - 1 - r];
            if (r != 0 && r != kRoundKeys - 1) k = _mm_aesimc_si128(k);
        }
        for (std::size_t copy = 0; copy < kDataKeyStride / kBlock; ++copy)
            _mm_storeu_si128(reinterpret_cast<__m128i*>(schedule + r * kDataKeyStride + copy * kBlock), k);
    }
    expand_256(key64 + 32, rk);
    for (std::size_t r = 0; r < kRoundKeys; ++r)
        _mm_storeu_si128(reinterpret_cast<__m128i*>(schedule + kTweakKeyOffset + r * kBlock), rk[r]);
    OPENSSL_cleanse(rk, sizeof rk);
}

// T_0 = AES-256-Enc(key2, tweak).
PVDUMP_TARGET_AES PVDUMP_INLINE __m128i first_tweak(const std::uint8_t* schedule, const std::uint8_t* tweak) {
    const std::uint8_t* rk = schedule + kTweakKeyOffset;
    __m128i t = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(tweak)),
                              _mm_loadu_si128(reinterpret_cast<const __m128i*>(rk)));
    for (std::size_t r = 1; r < kRoundKeys - 1; ++r)
        t = _mm_aesenc_si128(t, _mm_loadu_si128(reinterpret_cast<const __m128i*>(rk + r * kBlock)));
    return _mm_aesenclast_si128(t, _mm_loadu_si128(reinterpret_cast<const __m128i*>(rk + (kRoundKeys - 1) * kBlock)));
}

// The tweaks of `lanes` consecutive blocks starting with t, lane i = t * x^i.
PVDUMP_TARGET_AES PVDUMP_INLINE void consecutive_tweaks(__m128i t, std::uint64_t* out, int lanes) {
    std::uint64_t lo = std::uint64_t(_mm_cvtsi128_si64(t));
    std::uint64_t hi = std::uint64_t(_mm_extract_epi64(t, 1));
    for (int i = 0; i < lanes; ++i) {
        out[2 * i] = lo;
        out[2 * i + 1] = hi;
        const std::uint64_t carry = hi >> 63;
        hi = (hi << 1) | (lo >> 63);
        lo = (lo << 1) ^ (0x87 & (0 - carry));
    }
}

// ---- AVX-512: 4 blocks per zmm ------------------------------------------------------
// Each 128-bit lane times x^K (1 <= K <= 56: the carried-out bits times 0x87 stay
// within the low 64 bits).
template <int K>
PVDUMP_TARGET_AVX512 PVDUMP_INLINE __m512i mul_xk(__m512i t, __m512i poly) {
    static_assert(K >= 1 && K <= 56);
    const __m512i top = _mm512_srli_epi64(t, 64 - K);               // the top K bits of each qword
    const __m512i fold = _mm512_clmulepi64_epi128(top, poly, 0x01);  // the high qword's, times 0x87
    return _mm512_ternarylogic_epi64(_mm512_slli_epi64(t, K), _mm512_bslli_epi128(top, 8), fold, 0x96);
}

// Lane i of the result = t * x^i (i = 0..3).
PVDUMP_TARGET_AVX512 PVDUMP_INLINE __m512i lane_tweaks_512(__m128i t, __m512i poly) {
    const __m512i z = _mm512_broadcast_i32x4(t);
    const __m512i shift = _mm512_set_epi64(3, 3, 2, 2, 1, 1, 0, 0);
    const __m512i top = _mm512_srlv_epi64(z, _mm512_sub_epi64(_mm512_set1_epi64(64), shift));  // 0 for shift 0
    const __m512i fold = _mm512_clmulepi64_epi128(top, poly, 0x01);
    return _mm512_ternarylogic_epi64(_mm512_sllv_epi64(z, shift), _mm512_bslli_epi128(top, 8), fold, 0x96);
}

// t[I..N-1] = t[0] * x^(4I): independent products, not a chain (short latency).
template <int I, int N>
PVDUMP_TARGET_AVX512 PVDUMP_INLINE void spread_512(__m512i (&t)[N], __m512i poly) {
    if constexpr (I < N) {
        t[I] = mul_xk<4 * I>(t[0], poly);
        spread_512<I + 1>(t, poly);
    }
}

PVDUMP_TARGET_AVX512 PVDUMP_INLINE __m512i key_512(const std::uint8_t* schedule, std::size_t r) {
    return _mm512_loadu_si512(schedule + r * kDataKeyStride);
}

template <bool Dec>
PVDUMP_TARGET_AVX512 PVDUMP_INLINE __m512i round_512(__m512i b, __m512i k) {
    if constexpr (Dec) return _mm512_aesdec_epi128(b, k);
    else return _mm512_aesenc_epi128(b, k);
}
template <bool Dec>
PVDUMP_TARGET_AVX512 PVDUMP_INLINE __m512i last_512(__m512i b, __m512i k) {
    if constexpr (Dec) return _mm512_aesdeclast_epi128(b, k);
    else return _mm512_aesenclast_epi128(b, k);
}

// One zmm (4 blocks) with its tweaks t, round keys read from the schedule.
template <bool Dec>
PVDUMP_TARGET_AVX512 PVDUMP_INLINE __m512i one_512(const std::uint8_t* schedule, __m512i b, __m512i t) {
    b = _mm512_ternarylogic_epi64(b, t, key_512(schedule, 0), 0x96);
    for (std::size_t r = 1; r < kRoundKeys - 1; ++r) b = round_512<Dec>(b, key_512(schedule, r));
    return last_512<Dec>(b, _mm512_xor_si512(key_512(schedule, kRoundKeys - 1), t));
}

// zmm registers in flight per iteration: 8 x 4 blocks = 512 bytes, so a 4 KiB
// page is 8 iterations and no tail. Registers: 13 inner round keys, 8 data, 8
// tweaks, the polynomial; the first and last round keys are memory operands.
constexpr int kLanes512 = 8;

template <bool Dec>
PVDUMP_TARGET_AVX512 void xts_512(const std::uint8_t* schedule, const std::uint8_t* tweak, const std::uint8_t* in,
                                  std::uint8_t* out, std::size_t size) {
    const __m512i poly = _mm512_set1_epi64(0x87);
    __m512i t[kLanes512];
    t[0] = lane_tweaks_512(first_tweak(schedule, tweak), poly);
    spread_512<1>(t, poly);

    std::size_t blocks = size / kBlock;
    if (blocks >= 4 * kLanes512) {
        __m512i k[kRoundKeys - 2];  // rounds 1..13
#pragma GCC unroll 16
        for (std::size_t r = 0; r < kRoundKeys - 2; ++r) k[r] = key_512(schedule, r + 1);
        do {
            __m512i b[kLanes512];
#pragma GCC unroll 16
            for (int i = 0; i < kLanes512; ++i)
                b[i] = _mm512_ternarylogic_epi64(_mm512_loadu_si512(in + 64 * i), t[i], key_512(schedule, 0), 0x96);
#pragma GCC unroll 16
            for (std::size_t r = 0; r < kRoundKeys - 2; ++r) {
#pragma GCC unroll 16
                for (int i = 0; i < kLanes512; ++i) b[i] = round_512<Dec>(b[i], k[r]);
            }
#pragma GCC unroll 16
            for (int i = 0; i < kLanes512; ++i) {
                b[i] = last_512<Dec>(b[i], _mm512_xor_si512(key_512(schedule, kRoundKeys - 1), t[i]));
                _mm512_storeu_si512(out + 64 * i, b[i]);
                t[i] = mul_xk<4 * kLanes512>(t[i], poly);
            }
            in += 64 * kLanes512;
            out += 64 * kLanes512;
            blocks -= 4 * kLanes512;
        } while (blocks >= 4 * kLanes512);
    }
    // The rest, one zmm at a time; t[0] holds the next block's tweaks.
    __m512i tt = t[0];
    while (blocks >= 4) {
        _mm512_storeu_si512(out, one_512<Dec>(schedule, _mm512_loadu_si512(in), tt));
        tt = mul_xk<4>(tt, poly);
        in += 64;
        out += 64;
        blocks -= 4;
    }
    if (blocks) {
        const __mmask64 m = (std::uint64_t(1) << (blocks * kBlock)) - 1;
        _mm512_mask_storeu_epi8(out, m, one_512<Dec>(schedule, _mm512_maskz_loadu_epi8(m, in), tt));
    }
}

// ---- AVX2: 2 blocks per ymm -------------------------------------------------------
template <int K>
PVDUMP_TARGET_AVX2 PVDUMP_INLINE __m256i mul_xk(__m256i t, __m256i poly) {
    static_assert(K >= 1 && K <= 56);
    const __m256i top = _mm256_srli_epi64(t, 64 - K);
    const __m256i fold = _mm256_clmulepi64_epi128(top, poly, 0x01);
    return _mm256_xor_si256(_mm256_xor_si256(_mm256_slli_epi64(t, K), _mm256_bslli_epi128(top, 8)), fold);
}

template <int I, int N>
PVDUMP_TARGET_AVX2 PVDUMP_INLINE void spread_256(__m256i (&t)[N], __m256i poly) {
    if constexpr (I < N) {
        t[I] = mul_xk<2 * I>(t[0], poly);
        spread_256<I + 1>(t, poly);
    }
}

// The low 32 bytes of the 64-byte entry: the round key twice.
PVDUMP_TARGET_AVX2 PVDUMP_INLINE __m256i key_256(const std::uint8_t* schedule, std::size_t r) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(schedule + r * kDataKeyStride));
}

template <bool Dec>
PVDUMP_TARGET_AVX2 PVDUMP_INLINE __m256i round_256(__m256i b, __m256i k) {
    if constexpr (Dec) return _mm256_aesdec_epi128(b, k);
    else return _mm256_aesenc_epi128(b, k);
}
template <bool Dec>
PVDUMP_TARGET_AVX2 PVDUMP_INLINE __m256i last_256(__m256i b, __m256i k) {
    if constexpr (Dec) return _mm256_aesdeclast_epi128(b, k);
    else return _mm256_aesenclast_epi128(b, k);
}

template <bool Dec>
PVDUMP_TARGET_AVX2 PVDUMP_INLINE __m256i one_256(const std::uint8_t* schedule, __m256i b, __m256i t) {
    b = _mm256_xor_si256(_mm256_xor_si256(b, t), key_256(schedule, 0));
    for (std::size_t r = 1; r < kRoundKeys - 1; ++r) b = round_256<Dec>(b, key_256(schedule, r));
    return last_256<Dec>(b, _mm256_xor_si256(key_256(schedule, kRoundKeys - 1), t));
}

// 16 ymm registers: 6 data, 6 tweaks, the polynomial and temporaries; the
// round keys are memory operands.
constexpr int kLanes256 = 6;

template <bool Dec>
PVDUMP_TARGET_AVX2 void xts_256(const std::uint8_t* schedule, const std::uint8_t* tweak, const std::uint8_t* in,
                                std::uint8_t* out, std::size_t size) {
    const __m256i poly = _mm256_set1_epi64x(0x87);
    alignas(32) std::uint64_t first[4];
    consecutive_tweaks(first_tweak(schedule, tweak), first, 2);
    __m256i t[kLanes256];
    t[0] = _mm256_load_si256(reinterpret_cast<const __m256i*>(first));
    spread_256<1>(t, poly);

    std::size_t blocks = size / kBlock;
    while (blocks >= 2 * kLanes256) {
        __m256i b[kLanes256];
#pragma GCC unroll 16
        for (int i = 0; i < kLanes256; ++i)
            b[i] = _mm256_xor_si256(
                _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + 32 * i)), t[i]),
                key_256(schedule, 0));
#pragma GCC unroll 16
        for (std::size_t r = 1; r < kRoundKeys - 1; ++r) {
#pragma GCC unroll 16
            for (int i = 0; i < kLanes256; ++i) b[i] = round_256<Dec>(b[i], key_256(schedule, r));
        }
#pragma GCC unroll 16
        for (int i = 0; i < kLanes256; ++i) {
            b[i] = last_256<Dec>(b[i], _mm256_xor_si256(key_256(schedule, kRoundKeys - 1), t[i]));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 32 * i), b[i]);
            t[i] = mul_xk<2 * kLanes256>(t[i], poly);
        }
        in += 32 * kLanes256;
        out += 32 * kLanes256;
        blocks -= 2 * kLanes256;
    }
    __m256i tt = t[0];
    while (blocks >= 2) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out),
                            one_256<Dec>(schedule, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in)), tt));
        tt = mul_xk<2>(tt, poly);
        in += 32;
        out += 32;
        blocks -= 2;
    }
    if (blocks) {
        // One block left: the low lane, with AES-NI on an xmm register.
        const __m128i t1 = _mm256_castsi256_si128(tt);
        auto key = [schedule](std::size_t r) {
            return _mm_loadu_si128(reinterpret_cast<const __m128i*>(schedule + r * kDataKeyStride));
        };
        __m128i b = _mm_xor_si128(_mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in)), t1), key(0));
        for (std::size_t r = 1; r < kRoundKeys - 1; ++r) {
            if constexpr (Dec) b = _mm_aesdec_si128(b, key(r));
            else b = _mm_aesenc_si128(b, key(r));
        }
        const __m128i last = _mm_xor_si128(key(kRoundKeys - 1), t1);
        if constexpr (Dec) b = _mm_aesdeclast_si128(b, last);
        else b = _mm_aesenclast_si128(b, last);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out), b);
    }
}

}  // namespace

bool cpu_has_avx512() noexcept { return cpu().avx512; }
bool cpu_has_avx2() noexcept { return cpu().avx2; }

void expand_keys(const std::uint8_t* key64, bool decrypt, std::uint8_t* schedule) noexcept {
    expand_keys_aesni(key64, decrypt, schedule);
}

void crypt_avx512(const std::uint8_t* schedule, bool decrypt, const std::uint8_t* tweak, const std::uint8_t* in,
                  std::uint8_t* out, std::size_t size) noexcept {
    if (decrypt) xts_512<true>(schedule, tweak, in, out, size);
    else xts_512<false>(schedule, tweak, in, out, size);
}

void crypt_avx2(const std::uint8_t* schedule, bool decrypt, const std::uint8_t* tweak, const std::uint8_t* in,
                std::uint8_t* out, std::size_t size) noexcept {
    if (decrypt) xts_256<true>(schedule, tweak, in, out, size);
    else xts_256<false>(schedule, tweak, in, out, size);
}

}  // namespace pvdump::format::xts_x86

#else  // not x86-64: nothing can run, XtsCipher uses OpenSSL.

namespace pvdump::format::xts_x86 {
bool cpu_has_avx512() noexcept { return false; }
bool cpu_has_avx2() noexcept { return false; }
void expand_keys(const std::uint8_t*, bool, std::uint8_t*) noexcept {}
void crypt_avx512(const std::uint8_t*, bool, const std::uint8_t*, const std::uint8_t*, std::uint8_t*,
                  std::size_t) noexcept {}
void crypt_avx2(const std::uint8_t*, bool, const std::uint8_t*, const std::uint8_t*, std::uint8_t*,
                std::size_t) noexcept {}
}  // namespace pvdump::format::xts_x86

#endif
