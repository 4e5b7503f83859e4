// Fuzz target: what pvinspect reads from a plain (decrypted or never
// encrypted) vmcore: CoreFile + plain_memory() reads + cpus(), and the guest
// kernel's VMCOREINFO and log found through guest memory (find_vmcoreinfo,
// VmcoreInfo::parse, read_kernel_log). Guest memory is untrusted input.
// Inputs with the kdump signature go through KdumpFile instead (pvinspect
// info/dmesg on a kdump-compressed file): header, bitmaps, descriptors, every
// page's decompression, and the kernel log through its memory view.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "analysis/kernel_log.hpp"
#include "format/core_file.hpp"
#include "format/kdump_reader.hpp"
#include "fuzz/fuzz_common.hpp"

using fuzzing::expect_clean;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace pvdump;
    using namespace pvdump::format;
    if (is_kdump_signature(Bytes(data, size))) {
        expect_clean([&] {
            KdumpFile k = KdumpFile::from_bytes(Bytes(data, size), "fuzz");
            expect_clean([&] { k.scan_pages(true); });
            std::vector<std::uint8_t> buf(64);
            for (std::uint64_t pfn = 0; pfn < std::min<std::uint64_t>(k.info().max_mapnr, 64); ++pfn)
                expect_clean([&] { if (k.contains(pfn * 4096 + 8, buf.size())) k.read(pfn * 4096 + 8, buf); });
            if (k.info().vmcoreinfo)
                expect_clean([&] {
                    analysis::VmcoreInfo info = analysis::VmcoreInfo::parse(*k.info().vmcoreinfo);
                    (void)analysis::read_kernel_log_detailed(k, info);
                });
        });
        return 0;
    }
    expect_clean([&] {
        CoreFile f = CoreFile::parse(Bytes(data, size), "fuzz");
        expect_clean([&] { (void)f.cpus(); });
        auto mem = f.plain_memory();
        fuzzing::probe_memory(*mem, f.loads(), 8, 5, 16);
        // The note in the file and the one the guest publishes in memory.
        std::vector<std::optional<std::string>> texts{f.vmcoreinfo_note(), guest::find_vmcoreinfo(*mem)};
        for (const auto& text : texts) {
            if (!text) continue;
            expect_clean([&] {
                analysis::VmcoreInfo info = analysis::VmcoreInfo::parse(*text);
                analysis::KernelLog log = analysis::read_kernel_log_detailed(*mem, info);
                (void)analysis::format_kernel_log(log.records, {true, true, true, true});
            });
        }
    });
    return 0;
}
