// The owner's side: keys, CPU states, page plan, memory decryption.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "analysis/cpus.hpp"
#include "analysis/page_plan.hpp"
#include "format/core_file.hpp"
#include "format/crypto.hpp"
#include "format/kdump_writer.hpp"
#include "format/memory_view.hpp"
#include "format/output_file.hpp"
#include "format/pv.hpp"
#include "format/vmcore_writer.hpp"
#include "analysis/provenance.hpp"

namespace pvdump::decryptor {

// The no-key types the owner's API hands back (analysis/).
using analysis::CpuRecord;
using analysis::Finding;
using analysis::PageCounts;
using analysis::PagePlan;
using analysis::Severity;
using analysis::page_plan;
using analysis::severity_name;

struct Keys {
    format::SecretBytes dump_key;               // 32 bytes
    format::SecretBytes xts_key;                // 64 bytes
    std::array<std::uint8_t, 16> nonce{};
    Keys() = default;
    Keys(Keys&&) = default;
    Keys& operator=(Keys&&) = default;
    ~Keys();
};
// CCK + seed -> dump key -> completion data. Error(Format) when the dump is
// not a PV dump or the completion data is malformed; Error(Auth) on a wrong
// key or a tampered completion blob.
Keys open_keys(const format::CoreFile& dump, format::Bytes cck);

// Every NT_S390_PV_CPU_DATA, authenticated and decrypted. Error(Auth) names the CPU.
std::vector<CpuRecord> cpu_states(const format::CoreFile& dump, format::Bytes dump_key);

// Guest memory of a sealed dump, decrypted page by page on demand. `dump` and
// `keys` must outlive the view (SealedDump::memory() is the same over a SealedDump).
std::unique_ptr<format::MemoryView> sealed_memory(const format::CoreFile& dump, const Keys& keys);

struct DecryptOptions {
    unsigned threads = 0;  // 0 = one per core
    // Called now and then with bytes of memory done (from one thread at a time).
    std::function<void(std::uint64_t done, std::uint64_t total)> progress;
};
class SealedDump;  // decryptor/sealed_dump.hpp
// Decrypts every PT_LOAD into `out` at the layout's offsets (zero pages and
// pages that decrypt to zeros are left as holes in a file; streams write them).
// `dump` must be unlocked.
void decrypt_memory(const SealedDump& dump, const format::VmcoreLayout& layout, format::OutputFile& out,
                    const DecryptOptions& options);

// --format kdump (decryptor/kdump_output.hpp).
struct KdumpRequest {
    format::KdumpCompression compression = format::KdumpCompression::Zstd;
    unsigned dump_level = 1;  // makedumpfile's -d bits
    bool flattened = false;   // makedumpfile -F records (the only form a stream takes)
    bool fallback = false;    // --force: levels 2-16 that cannot be applied fall back to level 1
};
struct KdumpOutcome {
    format::KdumpStats stats;
    unsigned level = 1;        // the dump level written
    std::string fallback;      // why levels 2-16 were not applied (empty: they were, or not asked)
    std::uint64_t cache = 0, cache_private = 0, user = 0, free = 0, other = 0;  // excluded by levels 2-16
};

struct DecryptResult {
    std::vector<CpuRecord> cpus;
    PagePlan plan;
    bool vmcoreinfo_found = false;
    std::uint64_t memory_bytes = 0;
    std::size_t blocks = 0;
    std::optional<KdumpOutcome> kdump;  // --format kdump
    // VMCOREINFO (and the lowcore pointers to it) read from shared pages: the
    // vmcore's VMCOREINFO note then carries host-supplied bytes.
    std::vector<analysis::HostSupplied> host_supplied;
};
struct DecryptRequest {
    std::string dump_path;
    std::string output_path;  // "-" = stdout
    bool overwrite = false;
    bool force = false;       // write even when the page plan has errors
    bool shared_as_zero = false;  // write shared (host-supplied) pages as zeros
    DecryptOptions options;
    std::optional<KdumpRequest> kdump;  // set: a kdump-compressed file instead of ELF
};
// Every check pvdecrypt runs before it writes (keys, CPU states, page plan,
// the size claim), and the vmcore's layout: what file output and the mount
// (VmcoreReader) share. Throws what decrypt_dump throws; `force` lets page
// plan errors through (such pages become zeros).
// Unlocks `dump` with the CCK (its keys then live in it).
struct CheckedDump {
    DecryptResult result;
    std::optional<format::VmcoreLayout> layout;
    std::optional<std::string> vmcoreinfo;  // the guest's, as the layout's note holds it
    std::vector<format::CpuState> states;   // decrypted, in note order
    std::vector<format::MemoryRange> ranges;
};
CheckedDump check_dump(SealedDump& dump, const std::string& path, format::Bytes cck, bool force, unsigned threads = 0);

// The whole owner path: open, authenticate, verify, decrypt, write, commit.
DecryptResult decrypt_dump(const DecryptRequest& request, format::Bytes cck);

}  // namespace pvdump::decryptor
