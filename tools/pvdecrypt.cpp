// pvdecrypt: the VM owner's tool. Sealed PV dump + CCK -> plain s390x vmcore.
#include <iostream>
#include <thread>

#include "decryptor/dump.hpp"
#include "decryptor/kdump_output.hpp"
#include "tools/common.hpp"

using namespace pvdump;

int main(int argc, char** argv) {
    CLI::App app{"Decrypt an IBM Z Protected Virtualization (Secure Execution) guest dump into a plain s390x\n"
                 "ELF vmcore that crash, gdb and drgn open. Needs the guest's Customer Communication Key.",
                 "pvdecrypt"};
    std::string dump, key, output;
    unsigned threads = 0;
    bool force = false, overwrite = false, progress = false, quiet = false, shared_as_zero = false;
    app.add_option("DUMP", dump, "Sealed PV dump (as QEMU dump-guest-memory or pvseal writes it)")->required();
    app.add_option("-k,--key", key, "Customer Communication Key file (exactly 32 bytes)")->required();
    app.add_option("-o,--output", output, "Output vmcore ('-' for standard output)")->required();
    app.add_option("-j,--threads", threads, "Decryption threads (default: one per core)")->check(CLI::Range(1u, 1024u));
    app.add_flag("--force", overwrite,
                 "Replace an existing output, and write the vmcore even when page states fail verification "
                 "(such pages become zeros); with --format kdump, fall back to dump level 1 when the guest's VMCOREINFO "
                 "or struct page array cannot give levels 2-16");
    std::string out_format = "elf", compress = "zstd";
    unsigned dump_level = 1;
    bool flatten = false;
    app.add_option("--format", out_format,
                   "Output format: elf (plain ELF vmcore) or kdump (makedumpfile's kdump-compressed format, "
                   "which crash reads)")
        ->check(CLI::IsMember({"elf", "kdump"}))
        ->capture_default_str();
    app.add_option("--compress", compress, "kdump page compression: zstd, lzo, snappy, zlib or none")
        ->check(CLI::IsMember({"zstd", "lzo", "snappy", "zlib", "none"}))
        ->capture_default_str();
    app.add_option("-d,--dump-level", dump_level,
                   "kdump dump level (makedumpfile -d, bits): 1 zero, 2 cache, 4 private cache, 8 user, 16 free pages "
                   "(31: all of them; 0 keeps every page)")
        ->check(CLI::Range(0u, 31u))
        ->capture_default_str();
    app.add_flag("-F,--flatten", flatten,
                 "kdump: write makedumpfile's flattened format (needed for '-o -'; 'makedumpfile -R' restores it)");
    app.add_flag("--shared-as-zero", shared_as_zero,
                 "Write shared pages (which the host supplied in clear and could have chosen) as zeros: the "
                 "vmcore then holds only memory the Ultravisor exported");
    tools::add_progress_flags(app, progress, quiet);
    app.set_version_flag("-V,--version", std::string("pvdecrypt (pvdump) ") + PVDUMP_VERSION);

    return tools::run_tool("pvdecrypt", argc, argv, app, [&] {
        force = overwrite;
        const bool kdump = out_format == "kdump";
        if (!kdump && (app.count("--compress") || app.count("--dump-level") || flatten))
            fail(ErrorCode::Usage, "--compress, --dump-level and --flatten apply to --format kdump only");
        if (kdump) {
            decryptor::check_dump_level(dump_level);
            if (output == "-" && !flatten)
                fail(ErrorCode::Usage,
                     "--format kdump cannot go to standard output as a plain file (it is written out of order): "
                     "add -F for makedumpfile's flattened format, or give a file");
        }
        format::SecretBytes cck = tools::load_key("pvdecrypt", key);
        tools::Progress bar("pvdecrypt", tools::progress_mode(progress, quiet));
        decryptor::DecryptRequest req;
        req.dump_path = dump;
        req.output_path = output;
        req.overwrite = overwrite;
        req.force = force;
        req.shared_as_zero = shared_as_zero;
        req.options.threads = threads;
        if (kdump)
            req.kdump = decryptor::KdumpRequest{format::parse_kdump_compression(compress), dump_level, flatten, force};
        req.options.progress = [&](std::uint64_t done, std::uint64_t total) { bar.update(done, total); };
        decryptor::DecryptResult r = decryptor::decrypt_dump(req, cck.view());
        cck.wipe();
        bar.finish();

        if (r.kdump && !r.kdump->fallback.empty())
            std::cerr << "pvdecrypt: warning: dump level " << dump_level << " not applied (" << r.kdump->fallback
                      << "): --force wrote dump level " << r.kdump->level << "\n";
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
        for (const auto& h : r.host_supplied)
            std::cerr << "pvdecrypt: warning: " << h.message() << "; the vmcore's VMCOREINFO note is built from it\n";
        if (!r.vmcoreinfo_found)
            std::cerr << "pvdecrypt: note: the guest publishes no VMCOREINFO (lowcore 0xe0c / os_info 0xe18 are "
                         "empty): the vmcore has no VMCOREINFO note\n";
        if (!quiet) {
            const auto& c = r.plan.counts;
            std::cerr << "pvdecrypt: wrote " << (output == "-" ? std::string("standard output") : "'" + output + "'")
                      << ": " << r.cpus.size() << (r.cpus.size() == 1 ? " CPU, " : " CPUs, ")
                      << tools::human_bytes(r.memory_bytes) << " of memory in " << r.blocks
                      << (r.blocks == 1 ? " block" : " blocks") << " (" << c.encrypted << " encrypted, " << c.shared
                      << (shared_as_zero ? " shared written as zeros, " : " shared, ") << c.zero << " zero pages)" << (r.vmcoreinfo_found ? ", VMCOREINFO found" : "")
                      << "\n";
            if (r.kdump) {
                const auto& k = *r.kdump;
                std::cerr << "pvdecrypt: kdump (" << compress << ", dump level " << k.level << "): "
                          << k.stats.pages_kept << " pages stored (" << k.stats.pages_compressed << " compressed), "
                          << k.stats.pages_zero << " zero pages excluded";
                if (k.level & ~1u)
                    std::cerr << ", " << k.stats.pages_excluded << " excluded by the struct page array (" << k.cache
                              << " cache, " << k.cache_private << " private cache, " << k.user << " user, " << k.free
                              << " free, " << k.other << " other)";
                std::cerr << "; " << tools::human_bytes(k.stats.data_bytes) << " of page data\n";
            }
        }
        return 0;
    });
}
