// The owner's side: keys, CPU states, page plan, memory decryption.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "format/core_file.hpp"
#include "format/crypto.hpp"
#include "format/memory_view.hpp"
#include "format/output_file.hpp"
#include "format/pv.hpp"
#include "format/vmcore_writer.hpp"

namespace pvdump::decryptor {

// Loads a CCK file: exactly 32 bytes (Error(Usage) otherwise). Sets
// `group_readable` when the file's mode lets group or others read it.
format::SecretBytes load_cck(const std::string& path, bool* group_readable = nullptr);

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

struct CpuRecord {
    unsigned index;
    format::CpuState state;       // decrypted: the truth
    format::CpuState hypervisor;  // the clear notes: the hypervisor's view
    bool has_osii;
};
// Every NT_S390_PV_CPU_DATA, authenticated and decrypted. Error(Auth) names the CPU.
std::vector<CpuRecord> cpu_states(const format::CoreFile& dump, format::Bytes dump_key);

// ---- page plan / verification ------------------------------------------------
enum class Severity { Note, Warning, Error };
const char* severity_name(Severity s);

struct Finding {
    Severity severity;
    std::string rule;                  // short stable id, e.g. "state-invalid"
    std::optional<std::uint64_t> paddr;
    std::string message;               // one line, names the page and the rule
};

struct PageCounts {
    std::uint64_t total = 0, encrypted = 0, zero = 0, shared = 0, mapped = 0, invalid = 0, missing = 0;
};

struct PagePlan {
    PageCounts counts;
    std::vector<Finding> findings;       // capped; see `findings_dropped`
    std::uint64_t findings_dropped = 0;
    bool meta_covers_all = true;
    bool has_error() const;
    bool has_warning() const;
};
// One pass over pv_mem_meta against every PT_LOAD page. With `nonce`, full
// tweaks are checked for reuse as well (needs the key).
// `check_zero_content` also reads every zero-flagged page to note those whose
// bytes are not zero (harmless; pvinspect verify reports it, pvdecrypt skips
// the extra reads).
PagePlan page_plan(const format::CoreFile& dump, const std::array<std::uint8_t, 16>* nonce,
                   std::size_t max_findings = 1000, bool check_zero_content = true);

// Guest memory of a sealed dump, decrypted page by page on demand.
std::unique_ptr<format::MemoryView> sealed_memory(const format::CoreFile& dump, const Keys& keys);

struct DecryptOptions {
    unsigned threads = 0;  // 0 = one per core
    // Called now and then with bytes of memory done (from one thread at a time).
    std::function<void(std::uint64_t done, std::uint64_t total)> progress;
};
// Decrypts every PT_LOAD into `out` at the layout's offsets (zero pages and
// pages that decrypt to zeros are left as holes in a file; streams write them).
void decrypt_memory(const format::CoreFile& dump, const Keys& keys, const format::VmcoreLayout& layout,
                    format::OutputFile& out, const DecryptOptions& options);

struct DecryptResult {
    std::vector<CpuRecord> cpus;
    PagePlan plan;
    bool vmcoreinfo_found = false;
    std::uint64_t memory_bytes = 0;
    std::size_t blocks = 0;
};
struct DecryptRequest {
    std::string dump_path;
    std::string output_path;  // "-" = stdout
    bool overwrite = false;
    bool force = false;       // write even when the page plan has errors
    DecryptOptions options;
};
// The whole owner path: open, authenticate, verify, decrypt, write, commit.
DecryptResult decrypt_dump(const DecryptRequest& request, format::Bytes cck);

}  // namespace pvdump::decryptor
