// The page plan: one pass over pv_mem_meta against every PT_LOAD page of a
// sealed dump (page states, invalid flags, coverage, and with the nonce tweak
// reuse). Needs no key; pvinspect info, pvinspect verify and pvdecrypt share it.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "format/core_file.hpp"

namespace pvdump::analysis {

namespace detail {
class PageIndex;
}

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
// tweaks are checked for reuse as well (needs the key). The pages are cut
// into contiguous slices checked on `threads` threads (0: one per core, with
// slices of at least 64 Ki pages); the result does not depend on the count.
// `check_zero_content` also reads every zero-flagged page to note those whose
// bytes are not zero (harmless; pvinspect verify reports it, pvdecrypt skips
// the extra reads).
PagePlan page_plan(const format::CoreFile& dump, const std::array<std::uint8_t, 16>* nonce,
                   std::size_t max_findings = 1000, bool check_zero_content = true, unsigned threads = 1);
// The same over a page index already built (analysis/pages.hpp).
PagePlan page_plan(const detail::PageIndex& pages, const std::array<std::uint8_t, 16>* nonce,
                   std::size_t max_findings = 1000, bool check_zero_content = true, unsigned threads = 1);

}  // namespace pvdump::analysis
