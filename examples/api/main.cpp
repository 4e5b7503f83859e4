// The libpvdump example: open a sealed dump, show what it is without the key,
// authenticate with the owner's CCK, print every vCPU's registers and a few
// bytes of guest memory.
//
// Usage: pvdump-api-example DUMP CCK_FILE [ADDRESS]
//   ADDRESS: guest physical address to print 32 bytes of (default 0x10000)
#include <pvdump/pvdump.hpp>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

const char* kind_name(pvdump::api::DumpKind kind) {
    switch (kind) {
    case pvdump::api::DumpKind::Protected: return "protected (sealed PV dump)";
    case pvdump::api::DumpKind::Plain: return "plain s390x vmcore";
    case pvdump::api::DumpKind::DumpDisallowed: return "dump disallowed by the image (ciphertext)";
    }
    return "?";
}

void print_registers(const char* label, const pvdump::api::Registers& r) {
    std::printf("  %s psw %016" PRIx64 " %016" PRIx64 " prefix %08" PRIx32 "\n", label, r.psw[0], r.psw[1], r.prefix);
    for (unsigned i = 0; i < 16; ++i)
        std::printf("  %s gpr%-2u %016" PRIx64 "%s", label, i, r.gprs[i], i % 2 ? "\n" : "");
    for (unsigned i = 0; i < 16; ++i)
        std::printf("  %s cr%-2u  %016" PRIx64 "%s", label, i, r.crs[i], i % 2 ? "\n" : "");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3 || argc > 4) {
        std::fprintf(stderr, "usage: %s DUMP CCK_FILE [ADDRESS]\n", argv[0]);
        return 2;
    }
    const std::uint64_t address = argc == 4 ? std::strtoull(argv[3], nullptr, 0) : 0x10000;
    try {
        std::printf("libpvdump %s%s%s\n", pvdump::api::version(), *pvdump::api::git_commit() ? " git " : "",
                    pvdump::api::git_commit());
        pvdump::api::SealedDump dump = pvdump::api::SealedDump::open(argv[1]);

        const pvdump::api::DumpInfo info = dump.info();
        std::printf("%s: %s, %u CPUs, %" PRIu64 " bytes of memory in %zu blocks\n", info.path.c_str(),
                    kind_name(info.kind), info.cpus, info.memory_size, info.blocks.size());
        if (info.kind == pvdump::api::DumpKind::Protected)
            std::printf("pages: %" PRIu64 " encrypted, %" PRIu64 " shared, %" PRIu64 " zero\n", info.pages.encrypted,
                        info.pages.shared, info.pages.zero);

        if (dump.is_protected()) dump.authenticate_with_key_file(argv[2]);
        for (const pvdump::api::Cpu& cpu : dump.cpus()) {
            std::printf("cpu %u%s\n", cpu.index, cpu.has_osii ? " (has_osii: stopped mid-emulation)" : "");
            print_registers("", cpu.registers);
            if (cpu.hypervisor != cpu.registers)
                std::printf("  the hypervisor's view differs (psw address %016" PRIx64 ")\n", cpu.hypervisor.psw[1]);
        }

        const auto bytes = dump.read_memory(address, 32);
        std::printf("memory %016" PRIx64 ":", address);
        for (std::uint8_t b : bytes) std::printf(" %02x", b);
        std::printf("\n");
    } catch (const pvdump::api::Error& e) {
        std::fprintf(stderr, "pvdump-api-example: error: %s\n", e.what());
        return static_cast<int>(e.code());
    }
    return 0;
}
