// pvdecrypt --format kdump: the sealed dump's pages decrypted, filtered by the dump
// level and compressed on the worker threads, then written in address order by one
// writer into makedumpfile's kdump-compressed format (format/kdump_writer.hpp).
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "decryptor/dump.hpp"
#include "format/kdump_writer.hpp"

namespace pvdump::decryptor {

// The dump levels this build can apply: bit 1 (zero pages) needs no kernel
// knowledge. Error(Usage) names the bits it cannot exclude yet.
void check_dump_level(unsigned level);

// The header fields pvdecrypt can tell from the guest: utsname from init_uts_ns
// (through VMCOREINFO) when it reads back as "Linux", else OSRELEASE only.
void fill_kdump_utsname(format::KdumpHeaderInfo& info, const format::MemoryView& memory);

// Decrypts every page into a KdumpWriter on `out` (not committed).
format::KdumpStats decrypt_memory_kdump(const format::CoreFile& dump, const Keys& keys,
                                        const format::KdumpHeaderInfo& info, format::OutputFile& out,
                                        const DecryptOptions& options, bool flattened);

// The whole kdump end of decrypt_dump: header fields from the guest, then the pages.
format::KdumpStats write_kdump(const format::CoreFile& dump, const Keys& keys, const std::vector<format::CpuState>& cpus,
                               const std::vector<format::MemoryRange>& ranges,
                               const std::optional<std::string>& vmcoreinfo, const format::MemoryView& memory,
                               format::OutputFile& out, const DecryptOptions& options, const KdumpRequest& request);

}  // namespace pvdump::decryptor
