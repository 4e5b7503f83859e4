#include "producer/ultravisor.hpp"

#include <cstring>

namespace pvdump::producer {

using format::kTweakSize;


Ultravisor::Ultravisor(format::Bytes cck, RandomSource& rng, UltravisorConfig config)
    : rng_(rng), config_(config), export_key_(format::kXtsKeySize) {
    if (cck.size() != format::kCckSize)
        fail(ErrorCode::Usage, "the CCK must be exactly " + std::to_string(format::kCckSize) + " bytes, got " +
                                   std::to_string(cck.size()));
    cck_ = format::SecretBytes(cck);
    // OpenSSL 3 refuses to encrypt with an XTS key whose halves are equal.
    do rng_.fill(export_key_.mut());
    while (std::memcmp(export_key_.data(), export_key_.data() + 32, 32) == 0);
    std::uint8_t salt[8];
    rng_.fill(salt);
    swap_salt_ = format::load_be64(salt);
    draw_nonce();
}

Ultravisor::~Ultravisor() = default;  // SecretBytes wipe themselves

void Ultravisor::draw_nonce() {
    nonce_.fill(0);
    rng_.fill(format::MutableBytes(nonce_.data(), 8));
    nonce_[0] &= 0x7f;  // see the tweak scheme in the header
}

bool Ultravisor::dump_init() {
    if (!config_.dump_allowed) return false;
    if (in_progress_) fail(ErrorCode::Internal, "Ultravisor: DUMP_INIT while a dump is in progress");
    seed_ = format::SecretBytes(format::kComplSeedSize);
    rng_.fill(seed_.mut());
    rng_.fill(compl_iv_);
    draw_nonce();
    dump_key_ = format::derive_dump_key(cck_.view(), seed_.view());
    in_progress_ = true;
    return true;
}

std::vector<std::uint8_t> Ultravisor::dump_cpu(const format::CpuState& state) {
    if (!in_progress_) fail(ErrorCode::Internal, "Ultravisor: DUMP_CPU without DUMP_INIT");
    std::array<std::uint8_t, format::kGcmIvSize> iv{};
    rng_.fill(iv);
    return format::seal_cpu_dump(state, dump_key_.view(), iv);
}

bool Ultravisor::swapped_out(std::uint64_t page_number) const {
    return config_.swapped_one_in != 0 && mix64(page_number ^ swap_salt_) % config_.swapped_one_in == 0;
}

void Ultravisor::storage_state(std::uint64_t paddr, PageInfo info, std::uint8_t c[kTweakSize]) const {
    const std::uint64_t pn = paddr / format::kPageSize;
    std::memset(c, 0, kTweakSize);
    switch (info.kind) {
    case PageKind::Zero:
    case PageKind::Shared:
        std::memset(c, 0xff, 4);
        c[15] = std::uint8_t((info.kind == PageKind::Zero ? 0x01 : 0x02) | (info.mapped ? 0x04 : 0));
        return;
    case PageKind::Data:
        if (swapped_out(pn)) {
            std::memset(c, 0xff, 8);
            c[0] = 0x7f;
        }
        format::store_be64(c + 8, pn);
        return;
    }
}

Ultravisor::Exporter::Exporter(const Ultravisor& uv, format::Bytes key, const std::array<std::uint8_t, 16>& nonce)
    : uv_(&uv), cipher_(key, format::XtsCipher::Mode::Encrypt), nonce_(nonce) {}

Ultravisor::Exporter Ultravisor::exporter() const { return Exporter(*this, export_key_.view(), nonce_); }

void Ultravisor::Exporter::export_page(std::uint64_t paddr, PageInfo info, std::uint8_t* page,
                                       std::uint8_t component[kTweakSize]) {
    uv_->storage_state(paddr, info, component);
    switch (info.kind) {
    case PageKind::Zero: std::memset(page, 0, format::kPageSize); return;
    case PageKind::Shared: return;
    case PageKind::Data: {
        std::uint8_t tweak[kTweakSize];
        for (std::size_t i = 0; i < kTweakSize; ++i) tweak[i] = component[i] | nonce_[i];
        cipher_.process(tweak, page, page);
        return;
    }
    }
}

std::vector<std::uint8_t> Ultravisor::dump_complete() {
    if (!in_progress_) fail(ErrorCode::Internal, "Ultravisor: DUMP_COMPLETE without DUMP_INIT");
    std::vector<std::uint8_t> blob(format::kComplSize, 0);
    format::store_be32(blob.data(), 1);
    format::store_be32(blob.data() + 4, format::kComplSize);
    std::memcpy(blob.data() + format::kComplSeedOff, seed_.data(), format::kComplSeedSize);
    std::memcpy(blob.data() + format::kComplIvOff, compl_iv_.data(), compl_iv_.size());
    format::SecretBytes plain(format::kComplCtSize);  // nonce, XTS key, 96 reserved zero bytes
    std::memset(plain.data(), 0, plain.size());
    std::memcpy(plain.data() + format::kComplNonceOff, nonce_.data(), nonce_.size());
    std::memcpy(plain.data() + format::kComplXtsKeyOff, export_key_.data(), format::kXtsKeySize);
    format::gcm_seal(dump_key_.view(), compl_iv_, format::Bytes(blob.data(), format::kComplAadSize), plain.view(),
                     format::MutableBytes(blob.data() + format::kComplAadSize, format::kComplCtSize),
                     format::MutableBytes(blob.data() + format::kComplTagOff, format::kGcmTagSize));
    seed_.wipe();
    dump_key_.wipe();
    in_progress_ = false;
    return blob;
}

}  // namespace pvdump::producer
