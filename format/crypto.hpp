// The PV dump crypto suite v1 over OpenSSL EVP: HKDF-SHA512, AES-256-GCM,
// AES-256-XTS with one data unit per 4 KiB page. Key material lives only in
// SecretBytes, which wipes itself.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "format/bytes.hpp"
#include "format/xts.hpp"

typedef struct evp_cipher_ctx_st EVP_CIPHER_CTX;

namespace pvdump::format {

// A heap buffer for key material: never copied implicitly, wiped with
// OPENSSL_cleanse when destroyed or reassigned.
class SecretBytes {
public:
    SecretBytes() = default;
    explicit SecretBytes(std::size_t size);
    explicit SecretBytes(Bytes bytes);
    SecretBytes(const SecretBytes&) = delete;
    SecretBytes& operator=(const SecretBytes&) = delete;
    SecretBytes(SecretBytes&& other) noexcept;
    SecretBytes& operator=(SecretBytes&& other) noexcept;
    ~SecretBytes();

    std::uint8_t* data() { return data_.get(); }
    const std::uint8_t* data() const { return data_.get(); }
    std::size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    Bytes view() const { return {data_.get(), size_}; }
    MutableBytes mut() { return {data_.get(), size_}; }
    SecretBytes clone() const { return SecretBytes(view()); }
    void wipe();

private:
    std::unique_ptr<std::uint8_t[]> data_;
    std::size_t size_ = 0;
};

inline constexpr std::size_t kPageSize = 4096;
inline constexpr std::size_t kCckSize = 32;
inline constexpr std::size_t kDumpKeySize = 32;
inline constexpr std::size_t kXtsKeySize = 64;
inline constexpr std::size_t kTweakSize = 16;
inline constexpr std::size_t kGcmIvSize = 12;
inline constexpr std::size_t kGcmTagSize = 16;
inline constexpr char kDumpKeyInfo[] = "IBM Z Ultravisor Dump";

// HKDF-SHA512 (extract and expand).
SecretBytes hkdf_sha512(Bytes ikm, Bytes salt, Bytes info, std::size_t length);
// Dump key = HKDF-SHA512(CCK, seed, "IBM Z Ultravisor Dump", 32).
SecretBytes derive_dump_key(Bytes cck, Bytes seed);

// AES-256-GCM. open() returns false when the tag does not verify (the output
// is then wiped); it throws only on library failure.
bool gcm_open(Bytes key, Bytes iv, Bytes aad, Bytes ciphertext, Bytes tag, MutableBytes plaintext);
void gcm_seal(Bytes key, Bytes iv, Bytes aad, Bytes plaintext, MutableBytes ciphertext, MutableBytes tag);

// AES-256-XTS with the key set once; each call processes one data unit with
// its own 16-byte tweak. Not thread-safe: give each worker (thread) its own;
// objects are independent, so any number may run in parallel.
// The implementation (format/xts.hpp) is xts_selected_impl() unless given;
// every one produces the same bytes.
class XtsCipher {
public:
    enum class Mode { Encrypt, Decrypt };
    XtsCipher(Bytes key64, Mode mode);
    // impl must be supported (xts_impl_supported), else Error(InvalidArgument).
    XtsCipher(Bytes key64, Mode mode, XtsImpl impl);
    XtsCipher(const XtsCipher&) = delete;
    XtsCipher& operator=(const XtsCipher&) = delete;
    XtsCipher(XtsCipher&&) noexcept;
    XtsCipher& operator=(XtsCipher&&) noexcept;
    ~XtsCipher();

    // in and out may be the same buffer (but must not overlap otherwise);
    // size is normally one page. Sizes that are not a multiple of 16 bytes
    // (ciphertext stealing) always go through OpenSSL.
    void process(const std::uint8_t tweak[kTweakSize], const std::uint8_t* in, std::uint8_t* out,
                 std::size_t size = kPageSize);

    XtsImpl impl() const { return impl_; }

private:
    struct CtxDeleter {
        void operator()(EVP_CIPHER_CTX* ctx) const;
    };
    std::unique_ptr<EVP_CIPHER_CTX, CtxDeleter> ctx_;
    // The vector implementations' key schedules (format/xts_x86.hpp), 64-byte
    // aligned inside schedule_; empty for OpenSSL.
    SecretBytes schedule_;
    std::uint8_t* aligned_schedule_ = nullptr;
    XtsImpl impl_ = XtsImpl::OpenSSL;
    bool decrypt_ = false;
};

// Cryptographically strong random bytes (OpenSSL's RNG).
void random_bytes(MutableBytes out);

// SHA-256 of a byte range, as lower-case hex (tests and reports).
std::string sha256_hex(Bytes bytes);

}  // namespace pvdump::format
