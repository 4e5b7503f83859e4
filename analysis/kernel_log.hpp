// The guest kernel's log (what `dmesg` or crash's `log` show), read from guest
// physical memory with nothing but the kernel's VMCOREINFO: no vmlinux, no
// debug info. Works over any MemoryView (a plain vmcore, a sealed dump that is
// decrypted page by page, a generated guest).
//
// Everything read from guest memory is untrusted: every structure size, offset,
// pointer and loop count is checked against sanity limits, and malformed input
// ends in Error(ErrorCode::Format) naming what was wrong and where. A record
// whose descriptor or data block is inconsistent is skipped and counted, the
// way crash and the kernel's own reader skip it.
//
// Address translation (virtual -> physical), s390x only:
//   * Linux < 6.10: the kernel image lives inside the identity mapping, so a
//     symbol's value is its physical address. KERNELOFFSET (the KASLR shift)
//     is already included in the published SYMBOL() values and is not applied
//     again.
//   * Linux >= 6.10 publishes IDENTITYBASE, KERNELOFFSET and KERNELOFFPHYS:
//     an address at or above KERNELOFFSET is in the kernel image and maps to
//     addr - KERNELOFFSET + KERNELOFFPHYS; anything below is in the identity
//     mapping and maps to addr - IDENTITYBASE (the kernel's __pa()).
//   * IDENTITYBASE alone (no KERNELOFFPHYS) is applied to every address.
// vmalloc/module addresses would need page tables; the log never lives there.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "format/memory_view.hpp"
#include "guest/s390.hpp"

namespace pvdump::analysis {


// Parsed "KEY=VALUE" lines. Values are kept as text; the typed lookups follow
// the kernel's conventions: SYMBOL() and KERNELOFFSET-like keys are hex without
// "0x", OFFSET()/SIZE()/LENGTH()/NUMBER() are signed decimal.
struct VmcoreInfo {
    std::map<std::string, std::string, std::less<>> entries;

    // Throws Error(Format) when the text is larger than kMaxVmcoreInfoSize.
    // Lines without '=' are ignored; the first occurrence of a key wins.
    static VmcoreInfo parse(std::string_view text);

    std::optional<std::string> value(std::string_view key) const;
    std::optional<std::uint64_t> symbol(std::string_view name) const;  // SYMBOL(name)
    std::optional<std::int64_t> offset(std::string_view member) const;  // OFFSET(struct.member)
    std::optional<std::int64_t> size(std::string_view type) const;      // SIZE(type)
    std::optional<std::int64_t> length(std::string_view name) const;    // LENGTH(name)
    std::optional<std::int64_t> number(std::string_view name) const;    // NUMBER(name)
    std::optional<std::uint64_t> hex(std::string_view key) const;       // e.g. KERNELOFFSET
    std::optional<std::int64_t> decimal(std::string_view key) const;

    // The same, but a missing or malformed entry is Error(Format) naming the key.
    std::uint64_t require_symbol(std::string_view name) const;
    std::uint64_t require_offset(std::string_view member) const;
    std::uint64_t require_size(std::string_view type) const;
};

// Kernel virtual -> guest physical, as described at the top of this file.
struct KernelAddressMap {
    std::uint64_t identity_base = 0;
    std::uint64_t kernel_offset = 0;                  // KERNELOFFSET
    std::optional<std::uint64_t> kernel_offset_phys;  // KERNELOFFPHYS (>= 6.10)

    static KernelAddressMap from(const VmcoreInfo& info);
    // Throws Error(Format) naming `what` when the address cannot be translated.
    std::uint64_t to_phys(std::uint64_t vaddr, std::string_view what) const;
};

struct LogRecord {
    std::uint64_t seq = 0;
    std::uint64_t ts_nsec = 0;
    std::uint8_t level = 0;     // 0 (emerg) .. 7 (debug)
    std::uint8_t facility = 0;  // 0 kernel, 1 user (/dev/kmsg), ...
    std::uint8_t flags = 0;     // LOG_NEWLINE 0x2, LOG_CONT 0x8 (kernel's enum printk_info_flags)
    // Caller: bit 31 set = CPU number, clear = task id (printk caller_id).
    std::optional<std::uint32_t> caller_id;
    std::string text;  // raw bytes as stored, may contain '\n' (multi-line record)
    std::string subsystem, device;  // dev_printk_info, empty when absent
};

enum class KernelLogSource { PrintkRingbuffer, LogBuf };

struct KernelLog {
    KernelLogSource source = KernelLogSource::PrintkRingbuffer;
    std::vector<LogRecord> records;
    // Descriptors between tail and head that are reserved, reusable or reused
    // (not a readable record; normal for the oldest and the newest slots).
    std::uint64_t not_committed = 0;
    // Committed records whose data block is invalid (bad lpos, wrong block id):
    // skipped, as the kernel's reader skips them.
    std::uint64_t invalid = 0;
    // Records whose text was shorter in the data ring than text_len said.
    std::uint64_t truncated = 0;
};

// Reads the log described by VMCOREINFO: the lockless printk ringbuffer of
// Linux >= 5.10 (SYMBOL(prb)), or the older variable-length record buffer
// (SYMBOL(log_buf), 3.5 .. 5.9). Throws Error(Format) when VMCOREINFO describes
// neither, or the structures are malformed or not in the dump.
KernelLog read_kernel_log_detailed(const format::MemoryView& mem, const VmcoreInfo& info);
// The records only, oldest first.
std::vector<LogRecord> read_kernel_log(const format::MemoryView& mem, const VmcoreInfo& info);

struct LogFormat {
    bool timestamps = true;    // "[    1.234567] "
    bool show_caller = false;  // "[    T1] " / "[    C0] " (crash log -c, dmesg --caller)
    bool show_level = false;   // "<6>" right before the text (crash log -m)
    bool show_dict = false;    // SUBSYSTEM= / DEVICE= continuation lines (crash log -d)
};

// One record as crash's `log` prints it: "[%5llu.%06lu] " then the text. A
// newline inside the text continues on a new line indented by the prefix
// width; control characters other than tab become '.'. No trailing newline.
std::string format_log_record(const LogRecord& record, const LogFormat& fmt = {});
// All records, one per line, each line ending with '\n'.
std::string format_kernel_log(std::span<const LogRecord> records, const LogFormat& fmt = {});

}  // namespace pvdump::analysis
