// pvseal: the host side. Seals a guest's memory and vCPUs into a PV dump laid
// out exactly as QEMU >= 7.2 dump-guest-memory writes it for a protected guest,
// with a simulated Ultravisor holding the keys.
#include <sys/stat.h>

#include <iostream>
#include <optional>

#include <CLI/CLI.hpp>

#include "tools/cck.hpp"
#include "format/crypto.hpp"
#include "format/output_file.hpp"
#include "producer/guest_source.hpp"
#include "producer/seal.hpp"
#include "tools/common.hpp"

using namespace pvdump;

namespace {

int make_cck(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0)
        fail(ErrorCode::Exists, "'" + path + "' exists: --make-cck never replaces a key (every dump sealed under it "
                                "would become unreadable)");
    format::SecretBytes cck(format::kCckSize);
    format::random_bytes(cck.mut());
    // Never replaces a key: losing a CCK loses every dump sealed under it.
    format::write_file_atomic(path, cck.view(), 0600, false);
    std::cerr << "pvseal: wrote a new " << format::kCckSize << "-byte CCK to '" << path << "' (mode 0600)\n";
    return 0;
}

std::string where(const std::string& output) { return output == "-" ? "standard output" : "'" + output + "'"; }

// The command line, as CLI11 fills it.
struct Options {
    std::string guest_path, generate, cck_path, output, make_cck_path, deterministic;
    std::vector<std::string> block_texts;
    std::optional<unsigned> cpus, osii_cpu;
    std::uint64_t seed = 1;
    unsigned threads = 0;
    bool dump_disallowed = false, force = false, progress = false, quiet = false;
};

void add_options(CLI::App& app, Options& o) {
    auto* guest_opt = app.add_option("--guest", o.guest_path, "Guest memory: plain s390x ELF vmcore or raw memory image")
                         ->option_text("FILE");
    auto* gen_opt = app.add_option("--generate", o.generate, "Generate a synthetic guest of SIZE bytes (e.g. 64M, 16G)")
                       ->option_text("SIZE");
    guest_opt->excludes(gen_opt);
    app.add_option("--cck", o.cck_path, "Customer Communication Key file (exactly 32 bytes)")->option_text("FILE");
    app.add_option("-o,--output", o.output, "Sealed dump to write ('-' for standard output)")->option_text("DUMP");
    app.add_option("--cpus", o.cpus, "vCPUs of a raw image or generated guest (default 1 / 2)")->check(CLI::Range(1u, 4096u));
    app.add_option("--block", o.block_texts,
                   "RAM block START:SIZE of a raw image or generated guest, repeatable (holes between blocks)")
        ->option_text("START:SIZE");
    app.add_option("--seed", o.seed, "Seed of the generated content and made-up registers (default 1)");
    app.add_option("--deterministic", o.deterministic,
                   "Draw every Ultravisor key, IV and nonce from a DRBG seeded with this text (tests only)")
        ->option_text("SEED");
    app.add_option("--osii-cpu", o.osii_cpu, "Flag this vCPU as stopped mid-emulation (has_osii)");
    app.add_flag("--dump-disallowed", o.dump_disallowed,
                 "The image forbids dumping: write what QEMU then writes (no PV sections, ciphertext memory)");
    app.add_option("-j,--threads", o.threads, "Encryption threads (default: one per core)")->check(CLI::Range(1u, 1024u));
    app.add_flag("--force", o.force, "Replace an existing output");
    app.add_option("--make-cck", o.make_cck_path, "Write a new random 32-byte CCK to FILE (mode 0600) and exit")
        ->option_text("FILE");
    tools::add_progress_flags(app, o.progress, o.quiet);
}

// The guest to seal: generated (--generate) or read from --guest FILE.
std::unique_ptr<producer::GuestSource> open_guest(const Options& o) {
    std::vector<format::MemoryRange> blocks;
    for (const std::string& b : o.block_texts) blocks.push_back(producer::parse_block(b));
    if (!o.generate.empty()) {
        producer::GeneratedGuestOptions g;
        g.size = producer::parse_size(o.generate);
        g.blocks = blocks;
        g.cpus = o.cpus.value_or(2);
        g.seed = o.seed;
        return producer::generate_guest(g);
    }
    if (producer::is_elf_file(o.guest_path) && (o.cpus || !blocks.empty()))
        fail(ErrorCode::Usage, "'" + o.guest_path + "' is an ELF vmcore: its CPUs and RAM blocks come from its "
                               "notes and PT_LOADs (drop --cpus / --block)");
    return producer::open_guest_file(o.guest_path, o.cpus.value_or(1), blocks, o.seed);
}

void report_sealed(const Options& o, const producer::GuestSource& guest, const producer::SealResult& r) {
    if (r.pv) {
        std::cerr << "pvseal: wrote " << where(o.output) << ": PV dump of " << guest.description() << "; "
                  << r.pages_encrypted << " encrypted (" << r.pages_swapped << " exported earlier), "
                  << r.pages_shared << " shared, " << r.pages_zero << " zero pages; "
                  << tools::human_bytes(r.file_size) << (o.deterministic.empty() ? "" : " (deterministic keys)")
                  << "\n";
    } else {
        std::cerr << "pvseal: wrote " << where(o.output) << ": dumping disallowed by the image, so a plain dump "
                  << "without PV sections as QEMU writes it (memory is ciphertext nobody can decrypt) of "
                  << guest.description() << "; " << tools::human_bytes(r.file_size) << "\n";
    }
}

int seal_guest(const Options& o) {
    if (o.guest_path.empty() && o.generate.empty())
        fail(ErrorCode::Usage, "no guest: give --guest FILE or --generate SIZE (or --make-cck FILE)");
    if (o.cck_path.empty()) fail(ErrorCode::Usage, "--cck is required (create one with --make-cck FILE)");
    if (o.output.empty()) fail(ErrorCode::Usage, "-o/--output is required");
    const std::unique_ptr<producer::GuestSource> guest = open_guest(o);

    format::SecretBytes cck = tools::load_key("pvseal", o.cck_path);
    tools::Progress bar("pvseal", tools::progress_mode(o.progress, o.quiet));
    producer::SealOptions so;
    so.output_path = o.output;
    so.overwrite = o.force;
    so.threads = o.threads;
    so.deterministic_seed = o.deterministic;
    so.osii_cpu = o.osii_cpu;
    so.dump_allowed = !o.dump_disallowed;
    so.progress = [&](std::uint64_t done, std::uint64_t total) { bar.update(done, total); };
    const producer::SealResult r = producer::seal(*guest, cck.view(), so);
    cck.wipe();
    bar.finish();
    if (!o.quiet) report_sealed(o, *guest, r);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Seal a guest's memory and vCPUs into an IBM Z Protected Virtualization (Secure Execution)\n"
                 "dump, byte for byte as QEMU >= 7.2 dump-guest-memory writes it for a protected guest, with a\n"
                 "simulated Ultravisor. pvdecrypt and IBM's zgetdump -k decrypt it with the same CCK.\n\n"
                 "Guests: --guest FILE (an s390x ELF vmcore, recognised by its ELF magic, or else a raw image of\n"
                 "guest physical memory from address 0), or --generate SIZE (a synthetic guest computed page by\n"
                 "page from --seed, with VMCOREINFO, os_info, lowcores and a printk log).",
                 "pvseal"};
    Options o;
    add_options(app, o);
    app.set_version_flag("-V,--version", std::string("pvseal (pvdump) ") + PVDUMP_VERSION);

    return tools::run_tool("pvseal", argc, argv, app, [&]() -> int {
        if (!o.make_cck_path.empty()) return make_cck(o.make_cck_path);
        return seal_guest(o);
    });
}
