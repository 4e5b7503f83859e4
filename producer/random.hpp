// Where the simulated Ultravisor's randomness comes from: OpenSSL's RNG, or a
// seeded deterministic generator for reproducible test dumps.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "format/bytes.hpp"
#include "format/crypto.hpp"

namespace pvdump::producer {

class RandomSource {
public:
    virtual ~RandomSource() = default;
    virtual void fill(format::MutableBytes out) = 0;
    virtual bool deterministic() const = 0;
};

// format::random_bytes (OpenSSL's CSPRNG).
class SystemRandom final : public RandomSource {
public:
    void fill(format::MutableBytes out) override;
    bool deterministic() const override { return false; }
};

// A deterministic byte generator for tests (`--deterministic SEED`): the key
// is HKDF-SHA512(IKM = seed text, salt = "pvseal deterministic drbg v1"), and
// output block n is HKDF-SHA512(IKM = key, salt = "pvseal drbg block",
// info = "block" || n as u64 BE).
// Never use it for a dump that protects anything: anyone who knows the seed
// knows every key.
class SeededRandom final : public RandomSource {
public:
    explicit SeededRandom(const std::string& seed);
    void fill(format::MutableBytes out) override;
    bool deterministic() const override { return true; }

private:
    format::SecretBytes key_;
    std::uint64_t counter_ = 0;
};

// splitmix64's finaliser: a fast, well-mixed 64-bit hash for content
// generation and sampling decisions (not cryptographic).
inline std::uint64_t mix64(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

// SeededRandom when `seed` is non-empty, SystemRandom otherwise.
std::unique_ptr<RandomSource> make_random(const std::string& deterministic_seed);

}  // namespace pvdump::producer
