// pvdecrypt: the VM owner's tool. Sealed PV dump + CCK -> plain s390x vmcore.
#include <sys/prctl.h>

#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>

#include "decryptor/dump.hpp"
#include "format/build_config.hpp"
#include "decryptor/kdump_output.hpp"
#include "decryptor/vmcore_reader.hpp"
#include "tools/common.hpp"
#include "tools/fuse_mount.hpp"

using namespace pvdump;

namespace {

// What pvdecrypt says about a checked dump, before the summary line: the same
// for file output and the mount.
void report_findings(const decryptor::DecryptResult& r) {
    for (const auto& c : r.cpus)
        if (c.has_osii)
            std::cerr << "pvdecrypt: warning: CPU " << c.index
                      << " was stopped while the hypervisor emulated an instruction for it (has_osii): "
                         "its registers may hold partial instruction results\n";
    std::size_t shown = 0;
    for (const auto& f : r.plan.findings) {
        if (f.severity == decryptor::Severity::Note) continue;
        if (++shown > 10) break;
        std::cerr << "pvdecrypt: " << decryptor::severity_name(f.severity) << ": " << f.message << "\n";
    }
    for (const auto& h : r.host_supplied)
        std::cerr << "pvdecrypt: warning: " << h.message() << "; the vmcore's VMCOREINFO note is built from it\n";
    if (!r.vmcoreinfo_found)
        std::cerr << "pvdecrypt: note: the guest publishes no VMCOREINFO (lowcore 0xe0c / os_info 0xe18 are "
                     "empty): the vmcore has no VMCOREINFO note\n";
}

// --cache SIZE: 64M, 1G, 1048576 (binary units); Error(Usage) otherwise.
std::uint64_t parse_cache_size(const std::string& text) {
    std::size_t pos = 0;
    unsigned long long v = 0;
    try {
        if (text.empty() || text[0] == '-') throw std::invalid_argument("negative");
        v = std::stoull(text, &pos, 10);
    } catch (const std::exception&) {
        fail(ErrorCode::Usage, "--cache: '" + text + "' is not a size (examples: 64M, 1G)");
    }
    const std::string suffix = text.substr(pos);
    unsigned shift = 0;
    if (suffix == "K" || suffix == "KiB") shift = 10;
    else if (suffix == "M" || suffix == "MiB") shift = 20;
    else if (suffix == "G" || suffix == "GiB") shift = 30;
    else if (!suffix.empty() && suffix != "B") fail(ErrorCode::Usage, "--cache: unknown size suffix in '" + text + "' (use K, M or G)");
    if (shift && v > (~0ull >> shift)) fail(ErrorCode::Usage, "--cache: '" + text + "' is too large");
    return std::uint64_t(v) << shift;
}

std::string contents(const decryptor::DecryptResult& r, bool shared_as_zero = false) {
    const auto& c = r.plan.counts;
    return std::to_string(r.cpus.size()) + (r.cpus.size() == 1 ? " CPU, " : " CPUs, ") +
           tools::human_bytes(r.memory_bytes) + " of memory in " + std::to_string(r.blocks) +
           (r.blocks == 1 ? " block" : " blocks") + " (" + std::to_string(c.encrypted) + " encrypted, " +
           std::to_string(c.shared) + (shared_as_zero ? " shared written as zeros, " : " shared, ") + std::to_string(c.zero) + " zero pages)" +
           (r.vmcoreinfo_found ? ", VMCOREINFO found" : "");
}

// The command line, as CLI11 fills it.
struct Options {
    std::string dump, key, output, mount_dir, umount_dir, cache_text = "64M";
    unsigned threads = 0;
    // --force: replace an existing output (overwrite) and go on past failed
    // verification (force); one flag sets both.
    bool force = false;
    bool progress = false, quiet = false, foreground = false, allow_other = false;
    bool shared_as_zero = false, flatten = false;
    std::string out_format = "elf", compress = "zstd";
    unsigned dump_level = 1;
};

// DUMP, the key, and where the vmcore goes: a file, or a mount and its options.
void add_target_options(CLI::App& app, Options& o) {
    app.add_option("DUMP", o.dump, "Sealed PV dump (as QEMU dump-guest-memory or pvseal writes it)");
    app.add_option("-k,--key", o.key, "Customer Communication Key file (exactly 32 bytes)");
    auto* out_opt = app.add_option("-o,--output", o.output, "Output vmcore ('-' for standard output)");
    auto* mount_opt = app.add_option("--mount", o.mount_dir,
                                     "Instead of writing the vmcore, mount it read-only as DIR/dump.elf (FUSE), "
                                     "decrypted on demand; nothing decrypted is written to disk");
    mount_opt->type_name("DIR")->excludes(out_opt);
    auto* umount_opt = app.add_option("--umount", o.umount_dir, "Unmount a --mount (as fusermount3 -u DIR does)");
    umount_opt->type_name("DIR")->excludes(out_opt)->excludes(mount_opt);
    app.add_flag("-f,--foreground", o.foreground, "With --mount: stay in the foreground (SIGINT/SIGTERM unmount)")
        ->needs(mount_opt);
    app.add_option("--cache", o.cache_text, "With --mount: decrypted-page cache size (default 64M; K, M, G)")
        ->type_name("SIZE")->needs(mount_opt);
    app.add_flag("--allow-other", o.allow_other,
                 "With --mount: let other users (root included) open the file as its mode allows "
                 "(needs root or user_allow_other in /etc/fuse.conf)")
        ->needs(mount_opt);
}

// How the vmcore is made: threads, --force, the output format and its options.
void add_output_options(CLI::App& app, Options& o) {
    app.add_option("-j,--threads", o.threads, "Decryption threads (default: one per core)")->check(CLI::Range(1u, 1024u));
    app.add_flag("--force", o.force,
                 "Replace an existing output, and write the vmcore even when page states fail verification "
                 "(such pages become zeros); with --mount, mount it anyway; with --format kdump, fall back to dump "
                 "level 1 when the guest's VMCOREINFO or struct page array cannot give levels 2-16");
    app.add_option("--format", o.out_format,
                   "Output format: elf (plain ELF vmcore) or kdump (makedumpfile's kdump-compressed format, "
                   "which crash reads)")
        ->check(CLI::IsMember({"elf", "kdump"}))
        ->capture_default_str();
    app.add_option("--compress", o.compress, "kdump page compression: zstd, lzo, snappy, zlib or none")
        ->check(CLI::IsMember({"zstd", "lzo", "snappy", "zlib", "none"}))
        ->capture_default_str();
    app.add_option("-d,--dump-level", o.dump_level,
                   "kdump dump level (makedumpfile -d, bits): 1 zero, 2 cache, 4 private cache, 8 user, 16 free pages "
                   "(31: all of them; 0 keeps every page)")
        ->check(CLI::Range(0u, 31u))
        ->capture_default_str();
    app.add_flag("-F,--flatten", o.flatten,
                 "kdump: write makedumpfile's flattened format (needed for '-o -'; 'makedumpfile -R' restores it)");
    app.add_flag("--shared-as-zero", o.shared_as_zero,
                 "Write shared pages (which the host supplied in clear and could have chosen) as zeros: the "
                 "vmcore then holds only memory the Ultravisor exported");
}

// The combinations CLI11 cannot check itself; Error(Usage) for the first one
// that does not hold.
void check_usage(const CLI::App& app, const Options& o) {
    if (o.dump.empty()) fail(ErrorCode::Usage, "DUMP is required (see --help)");
    if (o.key.empty()) fail(ErrorCode::Usage, "--key is required (see --help)");
    if (o.output.empty() && o.mount_dir.empty()) fail(ErrorCode::Usage, "one of -o/--output and --mount is required (see --help)");
    const bool kdump = o.out_format == "kdump";
    if (!kdump && (app.count("--compress") || app.count("--dump-level") || o.flatten))
        fail(ErrorCode::Usage, "--compress, --dump-level and --flatten apply to --format kdump only");
    if (!o.mount_dir.empty() && (kdump || o.shared_as_zero))
        fail(ErrorCode::Usage, "--mount shows the ELF vmcore as it is: --format kdump and --shared-as-zero "
                               "apply to -o only");
    if (kdump) {
        decryptor::check_dump_level(o.dump_level);
        if (o.output == "-" && !o.flatten)
            fail(ErrorCode::Usage,
                 "--format kdump cannot go to standard output as a plain file (it is written out of order): "
                 "add -F for makedumpfile's flattened format, or give a file");
    }
}

// --mount DIR: serve the decrypted vmcore as DIR/dump.elf until unmounted.
int serve_vmcore(const Options& o) {
    if (!tools::mount_supported())
        fail(ErrorCode::Usage, "this pvdecrypt was built without FUSE 3 (libfuse3-dev): --mount is not available");
    decryptor::ReaderOptions ropts;
    ropts.cache_bytes = parse_cache_size(o.cache_text);
    ropts.threads = o.threads;
    tools::MountOptions mopts;
    mopts.dir = o.mount_dir;
    mopts.allow_other = o.allow_other;
    tools::check_mount_point(mopts);
    // The daemon forks before the key is read: the parent only waits
    // for the mount to be ready (exit 0) or for the child's exit code.
    if (!o.foreground)
        if (auto parent_exit = tools::fork_daemon()) return *parent_exit;
#if !PVDUMP_ASAN  // LeakSanitizer needs a dumpable process
    prctl(PR_SET_DUMPABLE, 0);  // no core dump, no ptrace of the process holding the keys
#endif
    decryptor::DecryptResult r;
    std::unique_ptr<decryptor::VmcoreReader> reader;
    {
        format::SecretBytes cck = tools::load_key("pvdecrypt", o.key);
        reader = decryptor::VmcoreReader::open(o.dump, cck.view(), o.force, ropts, &r);
    }  // the CCK is wiped here; the derived keys live in the reader until unmount
    report_findings(r);
    if (!reader->cache_locked()) std::cerr << "pvdecrypt: note: " << reader->lock_note() << "\n";
    tools::serve_mount(*reader, mopts, [&] {
        if (!o.quiet)
            std::cerr << "pvdecrypt: mounted '" << o.mount_dir << "/dump.elf' (" << reader->size()
                      << " bytes, read-only): " << contents(r) << "; process " << getpid()
                      << ", unmount with 'pvdecrypt --umount " << o.mount_dir << "'\n"
                      << std::flush;
        if (!o.foreground) tools::detach_daemon();
    });
    return 0;
}

// The summary of what was written, unless --quiet.
void report_written(const Options& o, const decryptor::DecryptResult& r) {
    std::cerr << "pvdecrypt: wrote " << (o.output == "-" ? std::string("standard output") : "'" + o.output + "'")
              << ": " << contents(r, o.shared_as_zero) << "\n";
    if (!r.kdump) return;
    const auto& k = *r.kdump;
    std::cerr << "pvdecrypt: kdump (" << o.compress << ", dump level " << k.level << "): "
              << k.stats.pages_kept << " pages stored (" << k.stats.pages_compressed << " compressed), "
              << k.stats.pages_zero << " zero pages excluded";
    if (k.level & ~1u)
        std::cerr << ", " << k.stats.pages_excluded << " excluded by the struct page array (" << k.cache
                  << " cache, " << k.cache_private << " private cache, " << k.user << " user, " << k.free
                  << " free, " << k.other << " other)";
    std::cerr << "; " << tools::human_bytes(k.stats.data_bytes) << " of page data\n";
}

// -o FILE: decrypt into a file (or standard output), ELF or kdump.
int write_vmcore(const Options& o) {
    format::SecretBytes cck = tools::load_key("pvdecrypt", o.key);
    tools::Progress bar("pvdecrypt", tools::progress_mode(o.progress, o.quiet));
    decryptor::DecryptRequest req;
    req.dump_path = o.dump;
    req.output_path = o.output;
    req.overwrite = o.force;
    req.force = o.force;
    req.shared_as_zero = o.shared_as_zero;
    req.options.threads = o.threads;
    if (o.out_format == "kdump")
        req.kdump = decryptor::KdumpRequest{format::parse_kdump_compression(o.compress), o.dump_level, o.flatten, o.force};
    req.options.progress = [&](std::uint64_t done, std::uint64_t total) { bar.update(done, total); };
    decryptor::DecryptResult r = decryptor::decrypt_dump(req, cck.view());
    cck.wipe();
    bar.finish();

    if (r.kdump && !r.kdump->fallback.empty())
        std::cerr << "pvdecrypt: warning: dump level " << o.dump_level << " not applied (" << r.kdump->fallback
                  << "): --force wrote dump level " << r.kdump->level << "\n";
    report_findings(r);
    if (!o.quiet) report_written(o, r);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Decrypt an IBM Z Protected Virtualization (Secure Execution) guest dump into a plain s390x\n"
                 "ELF vmcore that crash, gdb and drgn open. Needs the guest's Customer Communication Key.",
                 "pvdecrypt"};
    Options o;
    add_target_options(app, o);
    add_output_options(app, o);
    tools::add_progress_flags(app, o.progress, o.quiet);
    app.set_version_flag("-V,--version", std::string("pvdecrypt (pvdump) ") + PVDUMP_VERSION);

    return tools::run_tool("pvdecrypt", argc, argv, app, [&] {
        if (!o.umount_dir.empty()) {
            if (!o.dump.empty() || !o.key.empty()) fail(ErrorCode::Usage, "--umount takes only the directory (see --help)");
            tools::unmount(o.umount_dir);
            return 0;
        }
        check_usage(app, o);
        return o.mount_dir.empty() ? write_vmcore(o) : serve_vmcore(o);
    });
}
