// pvinspect verify: everything that needs the key, checked without writing
// anything (completion data, every CPU blob, key sanity, the page plan with the
// nonce: the same checks pvdecrypt runs).
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "analysis/page_plan.hpp"
#include "decryptor/dump.hpp"
#include "decryptor/sealed_dump.hpp"

namespace pvdump::decryptor {

// ---- verify (with the key) -----------------------------------------------------------

struct CpuAuth {
    unsigned index = 0;
    bool authenticated = false;
    bool has_osii = false;
    std::string error;  // why it failed, when it did
};

struct VerifyReport {
    // Completion data, CPU and key findings first, then the page plan's.
    std::vector<Finding> findings;
    std::uint64_t findings_dropped = 0;
    PageCounts counts;
    bool meta_covers_all = true;
    bool completion_authenticated = false;
    std::vector<CpuAuth> cpus;
    // The first authentication failure (a CPU blob), if any; the completion
    // data failing is thrown instead, since nothing else can be checked then.
    std::optional<std::string> auth_error;

    bool has_error() const;
    bool has_warning() const;
    // Auth, Verify, VerifyWarning, or nullopt when clean (notes allowed).
    std::optional<ErrorCode> outcome() const;
};

// Authenticates the completion data with `cck` (Error(Auth) when it fails,
// Error(Format) when the dump is not a PV dump), then every CPU blob, checks
// the keys and runs page_plan() with the nonce. `dump` is left unlocked (its
// keys are wiped with it).
VerifyReport inspect_verify(SealedDump& dump, format::Bytes cck, std::size_t max_findings = 1000);
// The same for a file indexed already (the keys are wiped on return).
VerifyReport inspect_verify(const format::CoreFile& dump, format::Bytes cck, std::size_t max_findings = 1000);

}  // namespace pvdump::decryptor
