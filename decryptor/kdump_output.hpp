// pvdecrypt --format kdump: the sealed dump's pages decrypted, filtered by the dump
// level and compressed on the worker threads, then written in address order by one
// writer into makedumpfile's kdump-compressed format (format/kdump_writer.hpp).
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "decryptor/dump.hpp"
#include "analysis/page_exclusion.hpp"
#include "format/kdump_writer.hpp"

namespace pvdump::decryptor {
using analysis::PageExclusion;

// Error(Usage) unless 0..31 (makedumpfile's -d bits).
void check_dump_level(unsigned level);

// The header fields pvdecrypt can tell from the guest: utsname from init_uts_ns
// (through VMCOREINFO) when it reads back as "Linux", else OSRELEASE only.
void fill_kdump_utsname(format::KdumpHeaderInfo& info, const format::MemoryView& memory);

// Decrypts every page into a KdumpWriter on `out` (not committed); `exclusion`
// (levels 2-16) may be null.
format::KdumpStats decrypt_memory_kdump(const format::CoreFile& dump, const Keys& keys,
                                        const format::KdumpHeaderInfo& info, format::OutputFile& out,
                                        const DecryptOptions& options, bool flattened,
                                        const PageExclusion* exclusion);

// The whole kdump end of decrypt_dump: header fields from the guest, then the pages.
// Levels 2-16 need the guest's VMCOREINFO and struct page array: when they cannot
// be read, Error(Format) names what is missing, or, with request.fallback, the
// dump is written at level 1 and `fallback` says why.
KdumpOutcome write_kdump(const format::CoreFile& dump, const Keys& keys, const std::vector<format::CpuState>& cpus,
                               const std::vector<format::MemoryRange>& ranges,
                               const std::optional<std::string>& vmcoreinfo, const format::MemoryView& memory,
                               format::OutputFile& out, const DecryptOptions& options, const KdumpRequest& request);

}  // namespace pvdump::decryptor
