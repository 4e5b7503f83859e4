#include "producer/printk_hook.hpp"

#include <cstdio>

#include "producer/guest_printk.hpp"

namespace pvdump::producer {

std::vector<std::string> default_log_lines(std::uint64_t seed) {
    char marker[64];
    std::snprintf(marker, sizeof marker, "PVSEAL-GENERATED-GUEST seed=%llu", static_cast<unsigned long long>(seed));
    return {
        "Linux version 6.1.0-pvseal-generated (pvseal) #1 SMP",
        "setup: Linux is running under KVM in 64-bit mode",
        "prot_virt: Reserving 98MB as ultravisor base storage",
        "Kernel command line: console=ttysclp0 nokaslr panic=-1",
        "Run /init as init process",
        marker,
    };
}

PrintkImage build_printk_image(std::uint64_t base, const std::vector<std::string>& lines, std::uint64_t seed) {
    const std::vector<std::string> use = lines.empty() ? default_log_lines(seed) : lines;
    std::vector<PrintkLine> records;
    std::uint64_t ts = 0;
    for (const std::string& l : use) {
        ts += 1000000 + 7919 * records.size();  // increasing, about a millisecond apart
        PrintkLine r;
        r.ts_nsec = ts;
        r.text = l;
        records.push_back(std::move(r));
    }
    GuestPrintk klog = build_guest_printk(base, printk_region_size(), records);
    return {std::move(klog.bytes), klog.vmcoreinfo_text()};
}

}  // namespace pvdump::producer
