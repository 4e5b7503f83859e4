// s390 guest facts, shared by the producer (which writes them into generated
// guests) and the readers (which follow them in dumped memory): the absolute
// lowcore pointers to VMCOREINFO (0xe0c) and os_info (0xe18), the os_info page
// (arch/s390/include/asm/os_info.h) and its checksum, and the VMCOREINFO ELF
// note. Nothing here needs a key or knows the container format.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "format/bytes.hpp"
#include "format/diagnostics.hpp"
#include "format/memory_view.hpp"

namespace pvdump::guest {

// Absolute lowcore fields (s390x) that lead to VMCOREINFO.
inline constexpr std::uint64_t kLowcoreVmcoreInfo = 0xe0c;  // -> VMCOREINFO ELF note
inline constexpr std::uint64_t kLowcoreOsInfo = 0xe18;      // -> os_info page
// VMCOREINFO larger than this is treated as garbage (real ones are ~3-5 KiB).
inline constexpr std::uint64_t kMaxVmcoreInfoSize = 1u << 20;

// The VMCOREINFO text of the dumped kernel, found through the absolute lowcore:
// first the note pointer at 0xe0c, then os_info (pointer at 0xe18, magic
// "OSINFOSZ", checksum, entry 0 = address and size of the VMCOREINFO text).
// nullopt when neither leads to a valid VMCOREINFO; never throws for bad
// content (bad pointers, sizes, checksums just mean "not found there"). A way
// that ends in a fault of the input (a pointer to unreadable memory, a note
// that does not fit) reports it to `why`, if given.
std::optional<std::string> find_vmcoreinfo(const format::MemoryView& mem, format::Diagnostics* why = nullptr);

// The s390 checksum used by os_info (csum_partial: the 32-bit one's-complement
// sum of big-endian words, a short tail padded with zeros). Exposed for the
// generator and tests.
std::uint32_t s390_csum_partial(std::span<const std::uint8_t> bytes, std::uint32_t sum = 0);

// The s390 os_info page (v1.1): magic "OSINFOSZ", checksum over bytes
// 12..4095, entry 0 = VMCOREINFO (address, size, checksum of the note).
std::vector<std::uint8_t> build_os_info(std::uint64_t vmcoreinfo_addr, format::Bytes vmcoreinfo_note);
// An ELF note named VMCOREINFO (type 0) holding `text`.
std::vector<std::uint8_t> build_vmcoreinfo_note(std::string_view text);

}  // namespace pvdump::guest
