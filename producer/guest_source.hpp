// What pvseal seals: a guest's RAM blocks, page by page, and its vCPUs.
//
// Three kinds of source:
//  * a raw memory image: guest physical memory from address 0, flat (byte
//    `a` of the file is guest address `a`); with RAM blocks given, only those
//    ranges are guest RAM and the bytes in the holes are ignored. The vCPU
//    registers are made up deterministically from a seed.
//  * a plain s390x ELF vmcore (e.g. QEMU dump-guest-memory of a normal guest):
//    RAM blocks are its PT_LOADs, registers come from its notes.
//  * a generated guest: page content computed from (seed, page number) on
//    demand, so a 16 GiB guest needs no 16 GiB buffer; with an absolute
//    lowcore that points to a VMCOREINFO note (0xe0c) and an os_info page
//    (0xe18), a lowcore per CPU at its prefix, a printk ring buffer, a struct
//    page array (producer/guest_memmap.hpp) and a mix of zero, shared,
//    text-like and random pages.
//
// Every source is read-only and thread-safe: parallel workers call
// read_pages() on disjoint ranges at the same time.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "format/bytes.hpp"
#include "format/pv.hpp"
#include "format/vmcore_writer.hpp"

namespace pvdump::producer {

// How the hypervisor sees a page when it dumps it.
enum class PageKind : std::uint8_t {
    Data,    // a secure page: exported (encrypted) by the Ultravisor
    Zero,    // never touched by the guest: flagged zero, no content in the dump
    Shared,  // shared with the hypervisor: dumped in clear
};
struct PageInfo {
    PageKind kind = PageKind::Data;
    bool mapped = false;  // the "mapped" flag (0x04) of a zero or shared page
};
const char* page_kind_name(PageKind kind);

class GuestMemmap;

class GuestSource {
public:
    virtual ~GuestSource() = default;
    // One line, e.g. "raw image 'mem.img' (64 MiB, 2 CPUs)".
    virtual std::string description() const = 0;
    // Sorted, page-aligned, not overlapping.
    virtual const std::vector<format::MemoryRange>& blocks() const = 0;
    // The true state of every vCPU (has_osii false).
    virtual const std::vector<format::CpuState>& cpus() const = 0;
    // Reads info.size() pages starting at the page-aligned guest address
    // `paddr` (all inside one block) into `out` (4096 bytes per page) and
    // classifies them. Zero pages read as zeros. Thread-safe.
    virtual void read_pages(std::uint64_t paddr, format::MutableBytes out, std::span<PageInfo> info) const = 0;
    // Classifies pages without handing out their content (same rules as
    // read_pages; the default reads them into a scratch buffer).
    virtual void classify_pages(std::uint64_t paddr, std::span<PageInfo> info) const;

    std::uint64_t memory_size() const;
    // A generated guest's struct page array (producer/guest_memmap.hpp), for
    // tests that check what dump levels 2..16 find; null for other sources.
    virtual const GuestMemmap* memmap() const { return nullptr; }
};

// ---- the three sources --------------------------------------------------------

struct RawImageOptions {
    std::string path;
    unsigned cpus = 1;
    std::vector<format::MemoryRange> blocks;  // empty: one block covering the whole image
    std::uint64_t seed = 1;                   // for the made-up registers
};
std::unique_ptr<GuestSource> open_raw_image(const RawImageOptions& options);

// A plain (not sealed) s390x ELF vmcore.
std::unique_ptr<GuestSource> open_vmcore(const std::string& path);

struct GeneratedGuestOptions {
    std::uint64_t size = 64 * 1024 * 1024;    // total RAM
    std::vector<format::MemoryRange> blocks;  // empty: one block [0, size); else their sizes must sum to size
    unsigned cpus = 2;
    std::uint64_t seed = 1;
    // Kernel log lines written into the printk ring buffer (a default set when empty).
    std::vector<std::string> log_lines;
    std::string osrelease = "6.1.0-pvseal-generated";
};
std::unique_ptr<GuestSource> generate_guest(const GeneratedGuestOptions& options);

// A file given with --guest: an ELF vmcore when it starts with the ELF magic,
// a raw memory image otherwise (then `cpus`, `blocks` and `seed` apply).
std::unique_ptr<GuestSource> open_guest_file(const std::string& path, unsigned cpus,
                                             const std::vector<format::MemoryRange>& blocks, std::uint64_t seed);
// True when the file starts with the ELF magic (Error(Io) when unreadable).
bool is_elf_file(const std::string& path);

// ---- pieces shared with tests -------------------------------------------------

// Where made-up guests put CPU i's prefix area (8 KiB, inside the first block).
std::uint32_t made_up_prefix(unsigned cpu);
// Deterministic register contents for CPU `cpu` of a made-up guest.
format::CpuState made_up_cpu(std::uint64_t seed, unsigned cpu, std::uint64_t memory_end);

// Fixed places in a generated guest.
inline constexpr std::uint64_t kGenOsInfoAddr = 0x4000;
inline constexpr std::uint64_t kGenVmcoreinfoAddr = 0x5000;
inline constexpr std::uint64_t kGenPrintkAddr = 0x100000;  // 1 MiB

// os_info, the VMCOREINFO note and the lowcore pointers: guest/s390.hpp.

// "4096", "0x1000", "64K", "64M", "1G", "2T", "64MiB": bytes. Error(Usage) otherwise.
std::uint64_t parse_size(std::string_view text);
// "START:SIZE" with parse_size syntax for both. Error(Usage) otherwise.
format::MemoryRange parse_block(std::string_view text);

}  // namespace pvdump::producer
