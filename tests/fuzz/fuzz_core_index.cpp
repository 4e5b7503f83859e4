// Fuzz target: the ELF index of an untrusted dump. CoreFile::parse on arbitrary
// bytes, then everything that reads the index without a key: the CPU note
// groups, the VMCOREINFO note, the section contents, the completion data
// parser and the page plan; and the lenient index (a Diagnostics sink), which
// must not throw on any input and must call a file damaged exactly when it
// reported an error. pvdump::Error is the expected answer to bad input;
// anything else (another exception, a crash, a sanitizer report, a hang) is a
// finding.
#include <cstddef>
#include <cstdint>

#include "decryptor/dump.hpp"
#include "format/core_file.hpp"
#include "fuzz/fuzz_common.hpp"
#include "format/pv.hpp"

using fuzzing::expect_clean;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace pvdump;
    using namespace pvdump::format;
    expect_clean([&] {
        CoreFile f = CoreFile::parse(Bytes(data, size), "fuzz");
        expect_clean([&] {
            for (const CpuNotes& c : f.cpus())
                if (c.pv_cpu_data) expect_clean([&] { parse_cpu_dump(Reader(c.pv_cpu_data->desc, "cpu")); });
        });
        expect_clean([&] { (void)f.vmcoreinfo_note(); });
        expect_clean([&] { (void)f.memory_size(); });
        expect_clean([&] {
            if (const Section* s = f.section("pv_compl"))
                parse_completion(Reader(f.section_bytes("pv_compl"), "pv_compl", s->offset));
        });
        expect_clean([&] {
            std::array<std::uint8_t, 16> nonce{};
            nonce[0] = 0x5a;
            analysis::PagePlan plan = analysis::page_plan(f, &nonce, 8);
            (void)plan.has_error();
        });
    });
    {
        Diagnostics sink;
        const CoreFile f = CoreFile::parse(Bytes(data, size), "fuzz", &sink);  // no try: lenient never throws Format
        if (f.damaged() != (sink.first_error() != nullptr)) __builtin_trap();
        expect_clean([&] { (void)f.cpus(); });
        expect_clean([&] { (void)f.memory_size(); });
    }
    return 0;
}
