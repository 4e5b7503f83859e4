// The host side end to end: a guest source, a simulated Ultravisor and
// QEMU's PV dump layout, written as a stream of page batches.
//
//   DUMP_INIT -> per vCPU DUMP_CPU -> notes -> memory (pages exported by
//   parallel workers, each with its own XTS context, pwrite at offsets fixed
//   up front) -> DUMP_CONF_STOR_STATE (pv_mem_meta) -> DUMP_COMPLETE
//   (pv_compl) -> .shstrtab -> fsync + rename.
//
// Memory use does not depend on the guest's size: a worker holds one batch.
// Output "-" streams to stdout in file order; then pv_mem_meta (which follows
// memory) is computed by a second, classify-only pass over the guest instead
// of being kept in memory.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "format/bytes.hpp"
#include "producer/guest_source.hpp"

namespace pvdump::producer {

struct SealOptions {
    std::string output_path;  // "-" = standard output
    bool overwrite = false;
    unsigned threads = 0;     // 0: one per core
    // 1 MiB per batch, as pvdecrypt's items: with 4 MiB batches two workers'
    // writes into the one file cost twice the kernel time (measured on ext4,
    // 1 GiB guest: sys 0.9-1.9 s against 0.4-0.6 s), and pvseal -j2 took twice as long.
    std::size_t batch_pages = 256;
    // Non-empty: every Ultravisor random draw comes from a DRBG seeded with
    // this text (reproducible test dumps; keys are then guessable).
    std::string deterministic_seed;
    // The vCPU the hypervisor was emulating an instruction for: its blob gets
    // has_osii, and its clear notes show the hypervisor's differing view.
    std::optional<unsigned> osii_cpu;
    // False: the image forbids dumping. QEMU then writes no PV sections, empty
    // PV CPU notes and memory as the hypervisor reads it (exported ciphertext
    // under a key nobody gets).
    bool dump_allowed = true;
    unsigned swapped_one_in = 16;  // secure pages counted as swapped out earlier (0: none)
    // Called now and then, from one thread at a time, with memory bytes done.
    std::function<void(std::uint64_t done, std::uint64_t total)> progress;
};

struct SealResult {
    bool pv = true;  // false: dump disallowed, no PV sections
    std::size_t cpus = 0, blocks = 0;
    std::uint64_t memory_bytes = 0, file_size = 0;
    std::uint64_t pages_encrypted = 0, pages_swapped = 0, pages_zero = 0, pages_shared = 0;
    std::uint64_t memory_offset = 0, mem_meta_offset = 0, mem_meta_size = 0, compl_offset = 0;
    unsigned threads = 0;
};

// The hypervisor's clear view of a vCPU that was mid-emulation: the PSW
// already points past the intercepted instruction and a few GPRs hold partial
// results, so it differs from the state inside the PV blob.
format::CpuState hypervisor_view_mid_emulation(const format::CpuState& truth);

// Seals `guest` under `cck` (32 bytes) into options.output_path. Throws
// pvdump::Error; on failure no output file is left behind.
SealResult seal(const GuestSource& guest, format::Bytes cck, const SealOptions& options);

}  // namespace pvdump::producer
