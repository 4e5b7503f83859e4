// pvdecrypt: the VM owner's tool. Sealed PV dump + CCK -> plain s390x vmcore.
#include <iostream>
#include <thread>

#include "decryptor/dump.hpp"
#include "tools/common.hpp"

using namespace pvdump;

int main(int argc, char** argv) {
    CLI::App app{"Decrypt an IBM Z Protected Virtualization (Secure Execution) guest dump into a plain s390x\n"
                 "ELF vmcore that crash, gdb and drgn open. Needs the guest's Customer Communication Key.",
                 "pvdecrypt"};
    std::string dump, key, output;
    unsigned threads = 0;
    bool force = false, overwrite = false, progress = false, quiet = false;
    app.add_option("DUMP", dump, "Sealed PV dump (as QEMU dump-guest-memory or pvseal writes it)")->required();
    app.add_option("-k,--key", key, "Customer Communication Key file (exactly 32 bytes)")->required();
    app.add_option("-o,--output", output, "Output vmcore ('-' for standard output)")->required();
    app.add_option("-j,--threads", threads, "Decryption threads (default: one per core)")->check(CLI::Range(1u, 1024u));
    app.add_flag("--force", overwrite,
                 "Replace an existing output, and write the vmcore even when page states fail verification "
                 "(such pages become zeros)");
    tools::add_progress_flags(app, progress, quiet);
    app.set_version_flag("-V,--version", std::string("pvdecrypt (pvdump) ") + PVDUMP_VERSION);

    return tools::run_tool("pvdecrypt", argc, argv, app, [&] {
        force = overwrite;
        format::SecretBytes cck = tools::load_key("pvdecrypt", key);
        tools::Progress bar("pvdecrypt", tools::progress_mode(progress, quiet));
        decryptor::DecryptRequest req;
        req.dump_path = dump;
        req.output_path = output;
        req.overwrite = overwrite;
        req.force = force;
        req.options.threads = threads;
        req.options.progress = [&](std::uint64_t done, std::uint64_t total) { bar.update(done, total); };
        decryptor::DecryptResult r = decryptor::decrypt_dump(req, cck.view());
        cck.wipe();
        bar.finish();

        for (const auto& c : r.cpus)
            if (c.has_osii)
                std::cerr << "pvdecrypt: warning: CPU " << c.index
                          << " was stopped while the hypervisor emulated an instruction for it (has_osii): "
                             "its registers may hold partial instruction results\n";
        std::size_t shown = 0;
        for (const auto& f : r.plan.findings) {
            if (f.severity == analysis::Severity::Note) continue;
            if (++shown > 10) break;
            std::cerr << "pvdecrypt: " << analysis::severity_name(f.severity) << ": " << f.message << "\n";
        }
        if (!r.vmcoreinfo_found)
            std::cerr << "pvdecrypt: note: the guest publishes no VMCOREINFO (lowcore 0xe0c / os_info 0xe18 are "
                         "empty): the vmcore has no VMCOREINFO note\n";
        if (!quiet) {
            const auto& c = r.plan.counts;
            std::cerr << "pvdecrypt: wrote " << (output == "-" ? std::string("standard output") : "'" + output + "'")
                      << ": " << r.cpus.size() << (r.cpus.size() == 1 ? " CPU, " : " CPUs, ")
                      << tools::human_bytes(r.memory_bytes) << " of memory in " << r.blocks
                      << (r.blocks == 1 ? " block" : " blocks") << " (" << c.encrypted << " encrypted, " << c.shared
                      << " shared, " << c.zero << " zero pages)" << (r.vmcoreinfo_found ? ", VMCOREINFO found" : "")
                      << "\n";
        }
        return 0;
    });
}
