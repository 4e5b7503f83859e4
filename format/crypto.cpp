#include "format/crypto.hpp"

#include "format/xts_x86.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <cstring>

namespace pvdump::format {
namespace {

[[noreturn]] void openssl_fail(const char* what) {
    unsigned long e = ERR_get_error();
    char buf[256] = "unknown";
    if (e) ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    fail(ErrorCode::Internal, std::string("OpenSSL: ") + what + " failed: " + buf);
}

struct CtxFree {
    void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;

CipherCtx new_ctx() {
    CipherCtx ctx(EVP_CIPHER_CTX_new());
    if (!ctx) openssl_fail("EVP_CIPHER_CTX_new");
    return ctx;
}

int as_int(std::size_t n) {
    if (n > 0x7fffffff) fail(ErrorCode::Internal, "crypto buffer too large");
    return int(n);
}

}  // namespace

// ---- SecretBytes ------------------------------------------------------------
SecretBytes::SecretBytes(std::size_t size) : data_(new std::uint8_t[size]()), size_(size) {}
SecretBytes::SecretBytes(Bytes bytes) : SecretBytes(bytes.size()) {
    if (!bytes.empty()) std::memcpy(data_.get(), bytes.data(), bytes.size());
}
SecretBytes::SecretBytes(SecretBytes&& other) noexcept : data_(std::move(other.data_)), size_(other.size_) {
    other.size_ = 0;
}
SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
    if (this != &other) {
        wipe();
        data_ = std::move(other.data_);
        size_ = other.size_;
        other.size_ = 0;
    }
    return *this;
}
SecretBytes::~SecretBytes() { wipe(); }
void SecretBytes::wipe() {
    if (data_ && size_) OPENSSL_cleanse(data_.get(), size_);
}

// ---- HKDF -------------------------------------------------------------------
SecretBytes hkdf_sha512(Bytes ikm, Bytes salt, Bytes info, std::size_t length) {
    std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> pctx(EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr),
                                                                     EVP_PKEY_CTX_free);
    if (!pctx) openssl_fail("EVP_PKEY_CTX_new_id(HKDF)");
    if (EVP_PKEY_derive_init(pctx.get()) <= 0 || EVP_PKEY_CTX_set_hkdf_md(pctx.get(), EVP_sha512()) <= 0 ||
        EVP_PKEY_CTX_set1_hkdf_salt(pctx.get(), salt.data(), as_int(salt.size())) <= 0 ||
        EVP_PKEY_CTX_set1_hkdf_key(pctx.get(), ikm.data(), as_int(ikm.size())) <= 0 ||
        EVP_PKEY_CTX_add1_hkdf_info(pctx.get(), info.data(), as_int(info.size())) <= 0)
        openssl_fail("HKDF setup");
    SecretBytes out(length);
    std::size_t len = length;
    if (EVP_PKEY_derive(pctx.get(), out.data(), &len) <= 0 || len != length) openssl_fail("HKDF derive");
    return out;
}

SecretBytes derive_dump_key(Bytes cck, Bytes seed) {
    if (cck.size() != kCckSize) fail(ErrorCode::InvalidArgument, "the CCK must be exactly 32 bytes, got " + std::to_string(cck.size()));
    Bytes info(reinterpret_cast<const std::uint8_t*>(kDumpKeyInfo), sizeof kDumpKeyInfo - 1);
    return hkdf_sha512(cck, seed, info, kDumpKeySize);
}

// ---- GCM --------------------------------------------------------------------
namespace {

// A context with key, IV and AAD set, ready for the payload in either direction.
CipherCtx gcm_begin(const char* what, Bytes key, Bytes iv, Bytes aad, Bytes tag, std::size_t in_size,
                    std::size_t out_size, bool encrypt) {
    if (key.size() != 32 || iv.size() != kGcmIvSize || tag.size() != kGcmTagSize || in_size != out_size)
        fail(ErrorCode::Internal, std::string(what) + ": bad argument sizes");
    auto ctx = new_ctx();
    const int enc = encrypt ? 1 : 0;
    int len = 0;
    if (EVP_CipherInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr, enc) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, as_int(iv.size()), nullptr) != 1 ||
        EVP_CipherInit_ex(ctx.get(), nullptr, nullptr, key.data(), iv.data(), enc) != 1)
        openssl_fail("GCM init");
    if (!aad.empty() && EVP_CipherUpdate(ctx.get(), nullptr, &len, aad.data(), as_int(aad.size())) != 1)
        openssl_fail("GCM aad");
    return ctx;
}

}  // namespace

bool gcm_open(Bytes key, Bytes iv, Bytes aad, Bytes ciphertext, Bytes tag, MutableBytes plaintext) {
    auto ctx = gcm_begin("gcm_open", key, iv, aad, tag, ciphertext.size(), plaintext.size(), false);
    int len = 0;
    if (EVP_DecryptUpdate(ctx.get(), plaintext.data(), &len, ciphertext.data(), as_int(ciphertext.size())) != 1)
        openssl_fail("GCM decrypt");
    if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, as_int(tag.size()),
                            const_cast<std::uint8_t*>(tag.data())) != 1)
        openssl_fail("GCM set tag");
    int fin = 0;
    if (EVP_DecryptFinal_ex(ctx.get(), plaintext.data() + len, &fin) != 1) {
        ERR_clear_error();
        OPENSSL_cleanse(plaintext.data(), plaintext.size());
        return false;
    }
    return true;
}

void gcm_seal(Bytes key, Bytes iv, Bytes aad, Bytes plaintext, MutableBytes ciphertext, MutableBytes tag) {
    auto ctx = gcm_begin("gcm_seal", key, iv, aad, tag, plaintext.size(), ciphertext.size(), true);
    int len = 0;
    if (EVP_EncryptUpdate(ctx.get(), ciphertext.data(), &len, plaintext.data(), as_int(plaintext.size())) != 1)
        openssl_fail("GCM encrypt");
    int fin = 0;
    if (EVP_EncryptFinal_ex(ctx.get(), ciphertext.data() + len, &fin) != 1) openssl_fail("GCM final");
    if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, as_int(tag.size()), tag.data()) != 1)
        openssl_fail("GCM get tag");
}

// ---- XTS --------------------------------------------------------------------
void XtsCipher::CtxDeleter::operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }

XtsCipher::XtsCipher(Bytes key64, Mode mode) : XtsCipher(key64, mode, xts_selected_impl()) {}

XtsCipher::XtsCipher(Bytes key64, Mode mode, XtsImpl impl)
    : ctx_(EVP_CIPHER_CTX_new()), impl_(impl), decrypt_(mode == Mode::Decrypt) {
    if (!ctx_) openssl_fail("EVP_CIPHER_CTX_new");
    if (key64.size() != kXtsKeySize) fail(ErrorCode::Internal, "XTS key must be 64 bytes");
    if (!xts_impl_supported(impl))
        fail(ErrorCode::InvalidArgument, std::string("AES implementation ") + xts_impl_name(impl) + " cannot run on this CPU");
    // OpenSSL's context always: the path for other sizes, and its key checks
    // (the two halves must differ to encrypt) hold for every implementation.
    int enc = mode == Mode::Encrypt ? 1 : 0;
    if (EVP_CipherInit_ex(ctx_.get(), EVP_aes_256_xts(), nullptr, key64.data(), nullptr, enc) != 1) {
        if (enc)
            fail(ErrorCode::Internal, "OpenSSL refused the XTS key (its two halves must differ to encrypt)");
        openssl_fail("XTS init");
    }
    if (impl_ != XtsImpl::OpenSSL) {
        schedule_ = SecretBytes(xts_x86::kScheduleSize + 63);
        const auto addr = reinterpret_cast<std::uintptr_t>(schedule_.data());
        aligned_schedule_ = schedule_.data() + ((64 - addr % 64) % 64);
        xts_x86::expand_keys(key64.data(), decrypt_, aligned_schedule_);
    }
}
XtsCipher::XtsCipher(XtsCipher&&) noexcept = default;
XtsCipher& XtsCipher::operator=(XtsCipher&&) noexcept = default;
XtsCipher::~XtsCipher() = default;

void XtsCipher::process(const std::uint8_t tweak[kTweakSize], const std::uint8_t* in, std::uint8_t* out,
                        std::size_t size) {
    // OpenSSL refuses data units over 2^20 blocks; so does every implementation.
    constexpr std::size_t kMaxUnit = std::size_t(16) << 20;
    if (impl_ != XtsImpl::OpenSSL && size % 16 == 0 && size != 0 && size <= kMaxUnit) {
        if (impl_ == XtsImpl::VaesAvx512) xts_x86::crypt_avx512(aligned_schedule_, decrypt_, tweak, in, out, size);
        else xts_x86::crypt_avx2(aligned_schedule_, decrypt_, tweak, in, out, size);
        return;
    }
    // Only the IV changes per data unit: the key schedule stays in the context.
    if (EVP_CipherInit_ex(ctx_.get(), nullptr, nullptr, nullptr, tweak, -1) != 1) openssl_fail("XTS set tweak");
    int len = 0;
    if (EVP_CipherUpdate(ctx_.get(), out, &len, in, as_int(size)) != 1 || std::size_t(len) != size)
        openssl_fail("XTS update");
}

void random_bytes(MutableBytes out) {
    if (RAND_bytes(out.data(), as_int(out.size())) != 1) openssl_fail("RAND_bytes");
}

std::string sha256_hex(Bytes bytes) {
    unsigned char md[32];
    unsigned int len = 0;
    if (EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr) != 1) openssl_fail("SHA-256");
    return to_hex(Bytes(md, len));
}

}  // namespace pvdump::format
