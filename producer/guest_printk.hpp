// A guest kernel log for generated guests: a printk ringbuffer laid out in
// guest memory exactly as a Linux 6.1 s390x kernel keeps it (the lockless
// ringbuffer of kernel/printk/printk_ringbuffer.h, big-endian, 64-bit), and
// the VMCOREINFO lines that describe it, with the names and values a 6.1
// kernel publishes. analysis::read_kernel_log() reads it back.
//
// How a producer uses it, for a guest of any size written page by page:
//
//   auto klog = build_guest_printk(0x2000000, printk_region_size(), lines);
//   vmcoreinfo_text += klog.vmcoreinfo_text();        // SYMBOL(prb)=... etc.
//   for each guest page at paddr:  fill page; klog.overlay(paddr, page);
//
// The region [base, base + printk_region_size(cfg)) belongs to the log; the
// generator never writes outside it. Addresses are 6.1 s390x ones with
// nokaslr: kernel virtual == guest physical, so SYMBOL(prb) is the physical
// address of the `prb` pointer inside the region (publish KERNELOFFSET=0).
//
// To make the guest's VMCOREINFO findable the way s390 Linux does it, place
// guest::build_vmcoreinfo_note(text) (guest/s390.hpp) somewhere in guest memory and store its physical
// address as a big-endian u64 at absolute 0xe0c (lowcore vmcore_info).
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pvdump::producer {

struct PrintkLine {
    std::uint64_t ts_nsec = 0;   // local_clock() at printk time; keep it increasing
    std::string text;            // no trailing newline; may hold '\n' (one multi-line record)
    std::uint8_t level = 6;      // 0..7, KERN_INFO by default
    std::uint8_t facility = 0;   // 0 kernel, 1 user (/dev/kmsg)
    std::uint32_t caller_id = 0; // task id, or 0x80000000 | cpu
};

struct PrintkConfig {
    // Text data ring of 2^data_size_bits bytes (CONFIG_LOG_BUF_SHIFT; 17 on
    // Debian's 6.1 s390x kernel), 2^desc_count_bits descriptors (the kernel
    // uses data_size_bits - 5).
    unsigned data_size_bits = 17;
    unsigned desc_count_bits = 12;
};

// Bytes the region needs for this configuration (about 590 KiB by default).
std::uint64_t printk_region_size(const PrintkConfig& cfg = {});

struct GuestPrintk {
    std::uint64_t base = 0;                     // guest physical address of bytes[0]
    std::vector<std::uint8_t> bytes;            // the region's whole content
    std::vector<std::string> vmcoreinfo_lines;  // "SYMBOL(prb)=e63e08", ... (no '\n')
    // Index (in the input lines) of the oldest line still readable: lines
    // before it were overwritten, as a real kernel overwrites them, when the
    // data ring or the descriptor ring wrapped.
    std::size_t first_kept = 0;

    // The lines, each ending in '\n', ready to append to a VMCOREINFO text.
    std::string vmcoreinfo_text() const;
    // Copies the part of the region that overlaps [paddr, paddr + out.size())
    // into the matching bytes of `out` and leaves the rest of `out` alone.
    void overlay(std::uint64_t paddr, std::span<std::uint8_t> out) const;
};

// Logs `lines` in order into a fresh ringbuffer placed at region_base, the way
// printk() would, wrapping both rings when they fill. Throws Error(Usage) when
// the configuration is out of range (data_size_bits 6..30, desc_count_bits
// 2..24), region_base is not 8-aligned, region_size is smaller than
// printk_region_size(cfg), or a line is too long (more than 65535 bytes, or a
// block larger than half the data ring).
GuestPrintk build_guest_printk(std::uint64_t region_base, std::uint64_t region_size,
                               std::span<const PrintkLine> lines, const PrintkConfig& cfg = {});

}  // namespace pvdump::producer
