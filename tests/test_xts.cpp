// The AES-256-XTS implementations against OpenSSL EVP (the oracle): random
// keys, tweaks, sizes and alignments, in place and not; the golden vectors
// through the tools with each implementation forced by PVDUMP_AES; how a bad
// PVDUMP_AES is refused, and what --version reports.
//
// Cases whose name contains "vector" need a VAES CPU: without one they print
// "SKIPPED:" (the CTest entries test_xts_vaes_* then show as skipped).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>

#include "format/core_file.hpp"
#include "format/crypto.hpp"
#include "format/error.hpp"
#include "support/util.hpp"

using namespace pvdump;
using namespace pvdump::format;
using namespace testutil;

namespace {

constexpr XtsImpl kVectorImpls[] = {XtsImpl::VaesAvx512, XtsImpl::VaesAvx2};
constexpr XtsImpl kAllImpls[] = {XtsImpl::OpenSSL, XtsImpl::VaesAvx512, XtsImpl::VaesAvx2};

// The vector implementations this CPU runs. PVDUMP_TEST_XTS_IMPL=NAME keeps
// one of them: CTest runs the vector cases once per implementation
// (test_xts_vaes_avx2, test_xts_vaes_avx512), so that one the CPU lacks shows
// as skipped while the other shows as passed.
std::vector<XtsImpl> supported_vector_impls() {
    const char* only = std::getenv("PVDUMP_TEST_XTS_IMPL");
    std::vector<XtsImpl> v;
    for (XtsImpl i : kVectorImpls) {
        const std::string name = xts_impl_name(i);  // a std::string: doctest prints a char* as an address
        if (only && name != only) continue;
        if (xts_impl_supported(i)) v.push_back(i);
        else MESSAGE("SKIPPED: " << name << ": this CPU (or build) cannot run it");
    }
    return v;
}

std::vector<std::uint8_t> random_vec(std::mt19937_64& rng, std::size_t n) {
    std::vector<std::uint8_t> v(n);
    for (auto& b : v) b = std::uint8_t(rng());
    return v;
}

// A 64-byte XTS key whose halves differ (OpenSSL refuses equal ones to encrypt).
SecretBytes random_key(std::mt19937_64& rng) {
    SecretBytes k(kXtsKeySize);
    do {
        for (std::size_t i = 0; i < k.size(); ++i) k.data()[i] = std::uint8_t(rng());
    } while (std::memcmp(k.data(), k.data() + 32, 32) == 0);
    return k;
}

std::vector<std::uint8_t> crypt(XtsImpl impl, XtsCipher::Mode mode, Bytes key, const std::uint8_t* tweak,
                                const std::vector<std::uint8_t>& in) {
    XtsCipher c(key, mode, impl);
    CHECK(c.impl() == impl);
    std::vector<std::uint8_t> out(in.size());
    c.process(tweak, in.data(), out.data(), in.size());
    return out;
}

const char* mode_name(XtsCipher::Mode m) { return m == XtsCipher::Mode::Encrypt ? "encrypt" : "decrypt"; }

}  // namespace

TEST_CASE("vector: VAES XTS equals OpenSSL on random keys, tweaks, sizes and alignments") {
    std::mt19937_64 rng(0x13'5eed);
    for (XtsImpl impl : supported_vector_impls()) {
        CAPTURE(std::string(xts_impl_name(impl)));
        for (int round = 0; round < 300; ++round) {
            CAPTURE(round);
            const SecretBytes key = random_key(rng);
            const auto tweak = random_vec(rng, kTweakSize);
            // Whole pages most of the time; any multiple of 16 up to 3 pages otherwise
            // (every tail: 1-3 leftover blocks, fewer blocks than one loop iteration).
            const std::size_t size = round % 3 == 0 ? kPageSize : 16 * (1 + rng() % 768);
            CAPTURE(size);
            const std::size_t misalign = rng() % 64;
            std::vector<std::uint8_t> buf = random_vec(rng, size + misalign);
            const std::vector<std::uint8_t> in(buf.begin() + long(misalign), buf.end());
            for (auto mode : {XtsCipher::Mode::Encrypt, XtsCipher::Mode::Decrypt}) {
                CAPTURE(mode_name(mode));
                const auto want = crypt(XtsImpl::OpenSSL, mode, key.view(), tweak.data(), in);
                REQUIRE(crypt(impl, mode, key.view(), tweak.data(), in) == want);
                // Unaligned input and output, and in place.
                XtsCipher c(key.view(), mode, impl);
                std::vector<std::uint8_t> out(size + 64);
                c.process(tweak.data(), buf.data() + misalign, out.data() + (63 - misalign), size);
                REQUIRE(std::memcmp(out.data() + (63 - misalign), want.data(), size) == 0);
                std::vector<std::uint8_t> inplace = in;
                c.process(tweak.data(), inplace.data(), inplace.data(), size);
                REQUIRE(inplace == want);
            }
        }
    }
}

TEST_CASE("vector: one cipher object serves page after page with changing tweaks, like a worker") {
    std::mt19937_64 rng(7);
    for (XtsImpl impl : supported_vector_impls()) {
        CAPTURE(std::string(xts_impl_name(impl)));
        const SecretBytes key = random_key(rng);
        for (auto mode : {XtsCipher::Mode::Encrypt, XtsCipher::Mode::Decrypt}) {
            XtsCipher mine(key.view(), mode, impl), oracle(key.view(), mode, XtsImpl::OpenSSL);
            const auto pages = random_vec(rng, 64 * kPageSize);
            std::vector<std::uint8_t> a(pages.size()), b(pages.size());
            for (std::size_t p = 0; p < 64; ++p) {
                std::uint8_t tweak[kTweakSize] = {};
                store_be64(tweak + 8, p * 0x1000);  // a page number, as the format's tweaks hold
                if (p % 5 == 0) tweak[0] = 0xff;     // and high bits set: carries in the GF(2^128) doubling
                mine.process(tweak, pages.data() + p * kPageSize, a.data() + p * kPageSize);
                oracle.process(tweak, pages.data() + p * kPageSize, b.data() + p * kPageSize);
            }
            CHECK(a == b);
            CHECK(a != pages);
        }
    }
}

TEST_CASE("vector: encrypt with one implementation, decrypt with another") {
    std::mt19937_64 rng(11);
    for (XtsImpl impl : supported_vector_impls()) {
        CAPTURE(std::string(xts_impl_name(impl)));
        for (int round = 0; round < 20; ++round) {
            const SecretBytes key = random_key(rng);
            const auto tweak = random_vec(rng, kTweakSize);
            const auto plain = random_vec(rng, kPageSize);
            const auto sealed = crypt(impl, XtsCipher::Mode::Encrypt, key.view(), tweak.data(), plain);
            CHECK(sealed != plain);
            CHECK(crypt(XtsImpl::OpenSSL, XtsCipher::Mode::Decrypt, key.view(), tweak.data(), sealed) == plain);
            const auto sealed2 = crypt(XtsImpl::OpenSSL, XtsCipher::Mode::Encrypt, key.view(), tweak.data(), plain);
            CHECK(crypt(impl, XtsCipher::Mode::Decrypt, key.view(), tweak.data(), sealed2) == plain);
        }
    }
}

TEST_CASE("vector: sizes that are not whole blocks go to OpenSSL (ciphertext stealing), equal results") {
    std::mt19937_64 rng(3);
    for (XtsImpl impl : supported_vector_impls()) {
        CAPTURE(std::string(xts_impl_name(impl)));
        for (std::size_t size : {17u, 31u, 100u, 4095u, 4097u}) {
            CAPTURE(size);
            const SecretBytes key = random_key(rng);
            const auto tweak = random_vec(rng, kTweakSize);
            const auto in = random_vec(rng, size);
            for (auto mode : {XtsCipher::Mode::Encrypt, XtsCipher::Mode::Decrypt})
                CHECK(crypt(impl, mode, key.view(), tweak.data(), in) ==
                      crypt(XtsImpl::OpenSSL, mode, key.view(), tweak.data(), in));
        }
        // Below one block XTS has no answer: both refuse the same way.
        const SecretBytes key = random_key(rng);
        std::uint8_t tweak[kTweakSize] = {}, b[15] = {};
        XtsCipher c(key.view(), XtsCipher::Mode::Decrypt, impl);
        CHECK_THROWS_AS(c.process(tweak, b, b, sizeof b), Error);
    }
}

TEST_CASE("vector: equal key halves: every implementation refuses to encrypt and decrypts like OpenSSL") {
    std::mt19937_64 rng(5);
    SecretBytes key(kXtsKeySize);
    for (std::size_t i = 0; i < 32; ++i) key.data()[i] = key.data()[i + 32] = std::uint8_t(rng());
    const auto tweak = random_vec(rng, kTweakSize);
    const auto in = random_vec(rng, kPageSize);
    const auto want = crypt(XtsImpl::OpenSSL, XtsCipher::Mode::Decrypt, key.view(), tweak.data(), in);
    for (XtsImpl impl : supported_vector_impls()) {
        CAPTURE(std::string(xts_impl_name(impl)));
        CHECK_THROWS_AS(XtsCipher(key.view(), XtsCipher::Mode::Encrypt, impl), Error);
        CHECK(crypt(impl, XtsCipher::Mode::Decrypt, key.view(), tweak.data(), in) == want);
    }
}

TEST_CASE("vector: several threads, one cipher each, give the single-threaded bytes") {
    std::mt19937_64 rng(9);
    const auto impls = supported_vector_impls();
    if (impls.empty()) return;
    const SecretBytes key = random_key(rng);
    const auto pages = random_vec(rng, 256 * kPageSize);
    std::vector<std::uint8_t> want(pages.size());
    {
        XtsCipher c(key.view(), XtsCipher::Mode::Decrypt, XtsImpl::OpenSSL);
        for (std::size_t p = 0; p < 256; ++p) {
            std::uint8_t tweak[kTweakSize] = {};
            store_be64(tweak + 8, p);
            c.process(tweak, pages.data() + p * kPageSize, want.data() + p * kPageSize);
        }
    }
    std::vector<std::uint8_t> got(pages.size());
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            XtsCipher c(key.view(), XtsCipher::Mode::Decrypt, impls[t % impls.size()]);
            for (std::size_t p = t; p < 256; p += 4) {
                std::uint8_t tweak[kTweakSize] = {};
                store_be64(tweak + 8, p);
                c.process(tweak, pages.data() + p * kPageSize, got.data() + p * kPageSize);
            }
        });
    for (auto& th : threads) th.join();
    CHECK(got == want);
}

TEST_CASE("an implementation the CPU cannot run is refused, not run") {
    for (XtsImpl impl : kAllImpls) {
        if (xts_impl_supported(impl)) continue;
        SecretBytes key(kXtsKeySize);
        key.data()[0] = 1;
        CHECK_THROWS_AS(XtsCipher(key.view(), XtsCipher::Mode::Decrypt, impl), Error);
    }
    CHECK(xts_impl_supported(XtsImpl::OpenSSL));
    CHECK(xts_impl_supported(xts_best_impl()));
}

// ---- through the tools ------------------------------------------------------------
namespace {

std::string env_run(const std::string& aes, const std::string& cmd) { return "PVDUMP_AES=" + aes + " " + cmd; }

// SHA-256 of the PT_LOAD contents of a written vmcore.
std::string memory_sha(const std::string& path) {
    auto core = CoreFile::open(path);
    REQUIRE(core.loads().size() == 1);
    const auto& l = core.loads()[0];
    return sha256_hex(core.bytes().subspan(l.offset, l.filesz));
}

}  // namespace

TEST_CASE("vector: every golden vector decrypts byte-identically through each implementation") {
    auto impls = supported_vector_impls();
    impls.insert(impls.begin(), XtsImpl::OpenSSL);
    for (const char* name : {"basic", "overlap-osii"}) {
        CAPTURE(name);
        const auto j = vector_json(name);
        TempDir tmp;
        std::vector<std::uint8_t> first;
        for (XtsImpl impl : impls) {
            CAPTURE(std::string(xts_impl_name(impl)));
            const std::string out = tmp / (std::string(xts_impl_name(impl)) + ".vmcore");
            const auto r = run(env_run(xts_impl_name(impl), bin("pvdecrypt") + " -q -k " + key("cck.bin") + " -o " +
                                                                out + " " + data(std::string(name) + ".pvdump")));
            CHECK(r.exit_code == 0);
            CHECK(memory_sha(out) == j["plain_sha256"].str);
            const auto whole = read_file(out);
            if (first.empty()) first = whole;
            else CHECK(whole == first);  // the whole vmcore, not only the memory
        }
    }
}

TEST_CASE("vector: pvseal --deterministic writes the same dump with each implementation") {
    auto impls = supported_vector_impls();
    impls.insert(impls.begin(), XtsImpl::OpenSSL);
    TempDir tmp;
    std::vector<std::uint8_t> first;
    for (XtsImpl impl : impls) {
        CAPTURE(std::string(xts_impl_name(impl)));
        const std::string out = tmp / (std::string(xts_impl_name(impl)) + ".pvdump");
        const auto r = run(env_run(xts_impl_name(impl), bin("pvseal") + " -q --generate 8M --cck " + key("cck.bin") +
                                                            " --deterministic xts-test -o " + out));
        CHECK(r.exit_code == 0);
        CHECK(r.err == "");
        const auto whole = read_file(out);
        CHECK(whole.size() > 8u << 20);
        if (first.empty()) first = whole;
        else CHECK(whole == first);
    }
    // And what was sealed decrypts with another implementation than the sealer's.
    if (impls.size() > 1) {
        const auto r = run(env_run("openssl", bin("pvdecrypt") + " -q -k " + key("cck.bin") + " -o " +
                                                  (tmp / "back.vmcore") + " " + (tmp / std::string(xts_impl_name(impls[1])) + ".pvdump")));
        CHECK(r.exit_code == 0);
    }
}

TEST_CASE("PVDUMP_AES: an unknown value or an implementation the CPU lacks is a usage error, nothing written") {
    TempDir tmp;
    std::vector<std::string> bad = {"aes-ni-turbo"};
    for (XtsImpl impl : kAllImpls)
        if (!xts_impl_supported(impl)) bad.push_back(xts_impl_name(impl));
    for (const auto& v : bad) {
        CAPTURE(v);
        const auto r = run(env_run(v, bin("pvdecrypt") + " -q -k " + key("cck.bin") + " -o " + (tmp / "out") + " " +
                                          data("basic.pvdump")));
        CHECK(r.exit_code == 2);
        CHECK(r.err.find("PVDUMP_AES=" + v) != std::string::npos);
        CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
        CHECK(tmp.entries() == 0);
    }
}

TEST_CASE("--version names the AES implementation that runs") {
    for (XtsImpl impl : kAllImpls) {
        if (!xts_impl_supported(impl)) continue;
        CAPTURE(std::string(xts_impl_name(impl)));
        for (const char* tool : {"pvdecrypt", "pvseal", "pvinspect"}) {
            const auto r = run(env_run(xts_impl_name(impl), bin(tool) + " --version"));
            CHECK(r.exit_code == 0);
            CHECK(r.out.find(std::string("\nAES-256-XTS: ") + xts_impl_name(impl) + " (forced by PVDUMP_AES") !=
                  std::string::npos);
        }
    }
    // Unforced: the fastest the CPU runs, chosen by CPUID.
    const auto r = run("env -u PVDUMP_AES " + bin("pvdecrypt") + " --version");
    CHECK(r.out.find(std::string("AES-256-XTS: ") + xts_impl_name(xts_best_impl()) + " (chosen by CPUID") !=
          std::string::npos);
}
