// levels_probe VMCORE LEVEL: prints the page frames PageExclusion leaves out of
// a plain ELF vmcore at a dump level, in the format of tests/data/levels/*.txt
// ("# counts ..." then "FIRST END" hex runs), so that tests/levels/*.sh can
// compare it with makedumpfile's choice. A test helper, not a product tool.
#include <cinttypes>
#include <cstdio>
#include <string>

#include "analysis/kernel_log.hpp"
#include "analysis/page_exclusion.hpp"
#include "format/core_file.hpp"
#include "format/error.hpp"
#include "tools/exit_code.hpp"

int main(int argc, char** argv) {
    using namespace pvdump;
    if (argc != 3) {
        std::fprintf(stderr, "usage: levels_probe VMCORE LEVEL\n");
        return 2;
    }
    try {
        const auto core = format::CoreFile::open(argv[1]);
        const auto mem = core.plain_memory();
        const auto vmcoreinfo = guest::find_vmcoreinfo(*mem);
        std::uint64_t max_paddr = 0;
        for (const auto& l : core.loads()) max_paddr = std::max(max_paddr, l.paddr + l.memsz);
        const auto ex = analysis::PageExclusion::build(*mem, vmcoreinfo.value_or(""), unsigned(std::stoul(argv[2])),
                                                        (max_paddr + 4095) / 4096);
        const auto& c = ex.counts();
        std::printf("# counts cache %" PRIu64 " cache_private %" PRIu64 " user %" PRIu64 " free %" PRIu64
                    " hwpoison %" PRIu64 " offline %" PRIu64 "\n",
                    c.cache, c.cache_private, c.user, c.free, c.hwpoison, c.offline);
        for (const auto& [first, end] : ex.excluded_runs()) std::printf("%" PRIx64 " %" PRIx64 "\n", first, end);
        return 0;
    } catch (const Error& e) {
        std::fprintf(stderr, "levels_probe: %s\n", e.what());
        return pvdump::tools::exit_code(e.code());
    }
}
