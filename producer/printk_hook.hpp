// The generated guest's kernel log: where pvseal asks for a printk ring buffer
// image. The ring buffer itself (the kernel's lockless prb layout, its
// VMCOREINFO offsets) is producer/guest_printk.*, written by someone else;
// this file adapts it to the generated guest (records about 1 ms apart,
// KERN_INFO, the default ring sizes of Debian 6.1 s390x).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace pvdump::producer {

struct PrintkImage {
    std::vector<std::uint8_t> bytes;  // placed at the guest address given to build_printk_image
    std::string vmcoreinfo;           // "KEY=VALUE\n" lines for VMCOREINFO (SYMBOL(prb)=..., OFFSET(...)=...)
};

// Lines of the default kernel log (a boot excerpt and a marker line).
std::vector<std::string> default_log_lines(std::uint64_t seed);

// The ring buffer image holding `lines` (default_log_lines when empty),
// based at guest physical address `base`.
PrintkImage build_printk_image(std::uint64_t base, const std::vector<std::string>& lines, std::uint64_t seed);

}  // namespace pvdump::producer
