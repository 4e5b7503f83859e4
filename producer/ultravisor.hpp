// A simulated Ultravisor: the part of IBM Z firmware that owns a secure
// guest's keys. It answers the four dump calls KVM makes on QEMU's behalf
// (docs/format.md §1): DUMP_INIT (0x400), DUMP_CPU (0x402), DUMP_CONF_STOR_STATE
// (0x401) and DUMP_COMPLETE (0x403), and it exports (encrypts) pages.
//
// It holds the CCK and every key in format::SecretBytes and never hands one
// out: pages are exported through an Exporter, which encrypts but cannot be
// asked for its key. Everything is wiped when the Ultravisor goes away.
//
// Tweak scheme of this simulation (a real UV's components are opaque; a
// decryptor must only OR them with the nonce):
//   nonce (fresh at DUMP_INIT):  8 random bytes, top bit of byte 0 clear || 8 zero bytes
//   freshly exported page:       component = 0^8 || page number (u64 BE)
//                                tweak     = nonce[0..7] || page number
//   page exported earlier        component = 7F FF FF FF FF FF FF FF || page number
//   (swapped out before the dump, tweak = the component itself: it already has
//   not re-encrypted):           every bit any nonce can have, so the OR with
//                                this dump's nonce gives back the tweak the page
//                                was encrypted with when it was swapped out.
//   zero page:                   FF FF FF FF 0^10 00 01 (| 04 when mapped)
//   shared page:                 FF FF FF FF 0^10 00 02 (| 04 when mapped)
// The XTS key is the guest's export key, drawn once per guest (so pages
// swapped out earlier need no re-encryption) and never with equal halves.
// Tweaks are unique within a dump: the page number is in bytes 8..15.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "format/crypto.hpp"
#include "format/pv.hpp"
#include "producer/guest_source.hpp"
#include "producer/random.hpp"

namespace pvdump::producer {

struct UltravisorConfig {
    // The SE header's "dumping allowed" control (PCF bit 34). When false,
    // DUMP_INIT fails and QEMU falls back to a plain dump.
    bool dump_allowed = true;
    // One in this many secure pages counts as swapped out before the dump
    // (exported earlier, keeping its earlier tweak). 0: none.
    unsigned swapped_one_in = 16;
};

class Ultravisor {
public:
    // Copies the CCK (exactly 32 bytes, else Error(Usage)). `rng` must
    // outlive the Ultravisor.
    Ultravisor(format::Bytes cck, RandomSource& rng, UltravisorConfig config = {});
    Ultravisor(const Ultravisor&) = delete;
    Ultravisor& operator=(const Ultravisor&) = delete;
    ~Ultravisor();

    // 0x400: fresh seed, completion IV and nonce; derives the dump key.
    // Returns false (and changes nothing) when the image forbids dumping.
    bool dump_init();
    bool dump_in_progress() const { return in_progress_; }

    // 0x402: the encrypted CPU state (1568 bytes) of one vCPU, with a fresh IV.
    // `has_osii` in the state becomes dump_flags 0x8000.
    std::vector<std::uint8_t> dump_cpu(const format::CpuState& state);

    // Whether the page with this number was swapped out before the dump.
    bool swapped_out(std::uint64_t page_number) const;

    // 0x401 for one page: its 16-byte tweak component.
    void storage_state(std::uint64_t paddr, PageInfo info, std::uint8_t component[format::kTweakSize]) const;

    // Exports pages for one worker: its own XTS context (set up once).
    class Exporter {
    public:
        // In place: encrypts a secure page with its tweak, zero-fills a zero
        // page, leaves a shared page in clear. Writes the page's component.
        void export_page(std::uint64_t paddr, PageInfo info, std::uint8_t* page,
                         std::uint8_t component[format::kTweakSize]);

    private:
        friend class Ultravisor;
        Exporter(const Ultravisor& uv, format::Bytes key, const std::array<std::uint8_t, 16>& nonce);
        const Ultravisor* uv_;
        format::XtsCipher cipher_;
        std::array<std::uint8_t, 16> nonce_;
    };
    Exporter exporter() const;

    // 0x403: the completion data (288 bytes, docs/format.md §5). Ends the dump:
    // the dump key and seed are wiped, a new dump may be started.
    std::vector<std::uint8_t> dump_complete();

private:
    void draw_nonce();

    RandomSource& rng_;
    UltravisorConfig config_;
    format::SecretBytes cck_;         // 32
    format::SecretBytes export_key_;  // 64: the guest's XTS export key
    std::array<std::uint8_t, 16> nonce_{};
    std::uint64_t swap_salt_ = 0;
    bool in_progress_ = false;
    format::SecretBytes seed_;      // 64, per dump
    format::SecretBytes dump_key_;  // 32, per dump
    std::array<std::uint8_t, format::kGcmIvSize> compl_iv_{};
};

}  // namespace pvdump::producer
