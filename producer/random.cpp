#include "producer/random.hpp"

#include <algorithm>
#include <cstring>

namespace pvdump::producer {

namespace {
constexpr char kDrbgSalt[] = "pvseal deterministic drbg v1";
constexpr char kBlockSalt[] = "pvseal drbg block";
constexpr std::size_t kHkdfMax = 255 * 64;  // the most one HKDF-SHA512 expand yields

format::Bytes text_bytes(const char* s, std::size_t n) { return {reinterpret_cast<const std::uint8_t*>(s), n}; }
}  // namespace

void SystemRandom::fill(format::MutableBytes out) { format::random_bytes(out); }

SeededRandom::SeededRandom(const std::string& seed)
    : key_(format::hkdf_sha512(text_bytes(seed.data(), seed.size()), text_bytes(kDrbgSalt, sizeof(kDrbgSalt) - 1),
                               {}, 64)) {}

void SeededRandom::fill(format::MutableBytes out) {
    std::size_t done = 0;
    while (done < out.size()) {
        std::uint8_t info[13] = {'b', 'l', 'o', 'c', 'k'};
        format::store_be64(info + 5, counter_++);
        const std::size_t n = std::min(out.size() - done, kHkdfMax);
        format::SecretBytes block = format::hkdf_sha512(key_.view(), text_bytes(kBlockSalt, sizeof(kBlockSalt) - 1),
                                                             format::Bytes(info, sizeof info), n);
        std::memcpy(out.data() + done, block.data(), n);
        done += n;
    }
}

std::unique_ptr<RandomSource> make_random(const std::string& deterministic_seed) {
    if (deterministic_seed.empty()) return std::make_unique<SystemRandom>();
    return std::make_unique<SeededRandom>(deterministic_seed);
}

}  // namespace pvdump::producer
