// pvinspect: triage of a PV dump before and after decryption.
//   info    DUMP               what the file is, its layout and page states (no key)
//   verify  DUMP --key CCK     authenticate everything, every page-state finding
//   cpus    DUMP --key CCK     decrypted vCPU state beside the hypervisor's view
//   dmesg   DUMP --key CCK     the guest kernel log, as crash's `log` prints it
// cpus and dmesg also read a plain vmcore, without a key. Every command has --json.
#include <iostream>
#include <optional>

#include <CLI/CLI.hpp>

#include "decryptor/dump.hpp"
#include "analysis/cpus.hpp"
#include "analysis/inspect.hpp"
#include "analysis/provenance.hpp"
#include "decryptor/verify.hpp"
#include "analysis/kernel_log.hpp"
#include "tools/common.hpp"
#include "tools/inspect_reports.hpp"
#include "tools/kdump_inspect.hpp"
#include "format/kdump_reader.hpp"
#include "format/xts.hpp"

using namespace pvdump;
using analysis::ContainerKind;

namespace {

constexpr const char* kTool = "pvinspect";

// ---- info -------------------------------------------------------------------------

int cmd_info(const std::string& path, bool json) {
    if (format::is_kdump_file(path)) return tools::kdump_info(kTool, path, json);
    const analysis::InfoReport r = analysis::inspect_info(path);
    const auto e = tools::make_emitter(json);
    tools::emit_info(*e, r);
    e->finish(std::cout);
    std::cout.flush();
    if (r.error) {
        std::cerr << kTool << ": error: " << *r.error << "\n";
        return tools::exit_code(ErrorCode::Format);
    }
    return 0;
}

// ---- verify -------------------------------------------------------------------------

int cmd_verify(const std::string& path, const std::string& key, bool json) {
    decryptor::SealedDump dump = decryptor::SealedDump::open(path);
    decryptor::VerifyReport r;
    {
        format::SecretBytes cck = tools::load_key(kTool, key);
        r = decryptor::inspect_verify(dump, cck.view());
        cck.wipe();
    }
    const auto e = tools::make_emitter(json);
    tools::emit_verify(*e, path, r, format::xts_selected_name());  // the guest structures' pages were decrypted
    e->finish(std::cout);
    std::cout.flush();
    if (r.auth_error) std::cerr << kTool << ": error: " << *r.auth_error << "\n";
    const std::optional<ErrorCode> outcome = r.outcome();
    return outcome ? tools::exit_code(*outcome) : tools::kExitOk;
}

// ---- cpus ------------------------------------------------------------------------------

// A dump without PV sections that is ciphertext cannot be read as a vmcore.
void refuse_disallowed(const format::CoreFile& dump) {
    if (dump.is_pv()) return;
    const analysis::InfoReport info = analysis::inspect_info(dump);
    if (info.kind == ContainerKind::DumpDisallowed)
        fail(ErrorCode::Format, "'" + dump.name() + "' is not a PV dump and its memory looks like ciphertext: " +
                                    tools::kDisallowedExplanation);
}

// Structures read from shared (host-supplied) pages: one warning line each on
// stderr (the first 20, then a count).
void warn_host_supplied(const std::vector<analysis::HostSupplied>& host) {
    std::size_t shown = 0;
    for (const auto& h : host) {
        if (++shown > 20) break;
        std::cerr << kTool << ": warning: " << h.message() << "\n";
    }
    if (host.size() > 20) std::cerr << kTool << ": warning: ... and " << host.size() - 20 << " more pages\n";
}

int cmd_cpus(const std::string& path, const std::string& key, bool json, const tools::report::TextOptions& text) {
    decryptor::SealedDump sealed = decryptor::SealedDump::open(path);
    const format::CoreFile& dump = sealed.file();
    analysis::CpusReport r;
    std::vector<analysis::HostSupplied> host;
    if (dump.is_pv()) {
        if (key.empty())
            fail(ErrorCode::Usage, "'" + path + "' is a PV dump: its CPU states are encrypted, give --key CCK");
        format::SecretBytes cck = tools::load_key(kTool, key);
        sealed.unlock(cck.view());
        cck.wipe();
        const auto records = sealed.cpus();
        std::vector<std::pair<unsigned, std::uint32_t>> prefixes;
        for (const auto& c : records) prefixes.emplace_back(c.index, c.state.prefix);
        host = analysis::shared_prefix_pages(prefixes, analysis::PageOrigins(sealed.pages()));
        r = analysis::compare_cpus(records);
    } else {
        refuse_disallowed(dump);
        if (!key.empty()) std::cerr << kTool << ": note: '" << path << "' is not a PV dump; the key is not needed\n";
        r = analysis::plain_cpus(dump);
    }
    const auto e = tools::make_emitter(json, text);
    tools::emit_cpus(*e, path, r, host);
    e->finish(std::cout);
    std::cout.flush();
    warn_host_supplied(host);
    return 0;
}

// ---- dmesg -------------------------------------------------------------------------------

// `aes_impl` is set to the AES-256-XTS implementation when the pages are decrypted.
analysis::KernelLogReport elf_kernel_log(const std::string& path, const std::string& key,
                                         std::vector<analysis::HostSupplied>& host, std::optional<std::string>& aes_impl) {
    decryptor::SealedDump sealed = decryptor::SealedDump::open(path);
    const format::CoreFile& dump = sealed.file();
    analysis::KernelLogReport r;
    if (dump.is_pv()) {
        if (key.empty())
            fail(ErrorCode::Usage, "'" + path + "' is a PV dump: its memory is encrypted, give --key CCK");
        format::SecretBytes cck = tools::load_key(kTool, key);
        sealed.unlock(cck.view());
        cck.wipe();
        auto mem = sealed.memory();
        // A PV dump's clear notes come from the hypervisor: only the guest's own VMCOREINFO counts.
        analysis::TracedMemory traced(*mem);
        r = analysis::dump_kernel_log(traced, std::nullopt, &traced);
        host = analysis::host_supplied(traced, analysis::PageOrigins(sealed.pages()));
        aes_impl = format::xts_selected_name();
    } else {
        refuse_disallowed(dump);
        if (!key.empty()) std::cerr << kTool << ": note: '" << path << "' is not a PV dump; the key is not needed\n";
        r = analysis::dump_kernel_log(*dump.plain_memory(), dump.vmcoreinfo_note());
    }
    return r;
}

int cmd_dmesg(const std::string& path, const std::string& key, bool json, const tools::report::TextOptions& text) {
    std::vector<analysis::HostSupplied> host;  // a kdump file is decrypted: no page origins to trace
    std::optional<std::string> aes_impl;       // set when pages were decrypted (a PV dump)
    const analysis::KernelLogReport r = format::is_kdump_file(path) ? tools::kdump_kernel_log(kTool, path, key)
                                                                    : elf_kernel_log(path, key, host, aes_impl);
    const auto e = tools::make_emitter(json, text);
    tools::emit_dmesg(*e, path, r, host, aes_impl);
    e->finish(std::cout);
    std::cout.flush();
    warn_host_supplied(host);
    if (r.log.invalid || r.log.truncated)
        std::cerr << kTool << ": note: " << r.log.invalid << " damaged records skipped, " << r.log.truncated
                  << " records truncated\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Triage an IBM Z Protected Virtualization (Secure Execution) guest dump before and after\n"
                 "decryption: what the file is and whether it is whole (no key needed), whether everything\n"
                 "authenticates, the vCPUs beside the hypervisor's view, and the guest kernel log.",
                 kTool};
    app.require_subcommand(1);
    app.set_version_flag("-V,--version", std::string("pvinspect (pvdump) ") + PVDUMP_VERSION);
    std::string dump, key;
    bool json = false, diff_only = false;
    bool no_ts = false, show_level = false, show_caller = false, show_dict = false;

    auto add_common = [&](CLI::App* sub, bool with_key, const char* key_help) {
        sub->add_option("DUMP", dump, "The dump: a sealed PV dump, or a plain s390x vmcore")->required();
        if (with_key) sub->add_option("-k,--key", key, key_help);
        sub->add_flag("--json", json, "Machine-readable output (schema: docs/pvinspect.md)");
    };
    auto* info = app.add_subcommand("info", "What the file is, its layout, CPUs, memory and page states (no key)");
    add_common(info, false, "");
    auto* verify = app.add_subcommand(
        "verify", "Authenticate the completion data and every CPU state, check keys and every page state; exit 0 "
                  "only when clean (notes allowed), 7 on warnings, 6 on errors, 5 when authentication fails");
    add_common(verify, true, "Customer Communication Key file (exactly 32 bytes)");
    verify->get_option("--key")->required();
    auto* cpus = app.add_subcommand("cpus", "Per vCPU, the decrypted state beside the hypervisor's view, differences marked");
    add_common(cpus, true, "Customer Communication Key file (needed for a PV dump, not for a plain vmcore)");
    cpus->add_flag("--diff-only", diff_only, "Show only the fields that differ from the hypervisor's view");
    auto* dmesg = app.add_subcommand("dmesg", "The guest kernel log, as crash's 'log' command prints it");
    add_common(dmesg, true, "Customer Communication Key file (needed for a PV dump, not for a plain vmcore)");
    dmesg->add_flag("-t", no_ts, "Without timestamps (crash: log -t)");
    dmesg->add_flag("-m", show_level, "With each message's log level (crash: log -m)");
    dmesg->add_flag("-c", show_caller, "With the caller (task or CPU) of each message (crash: log -c)");
    dmesg->add_flag("-d", show_dict, "With SUBSYSTEM= and DEVICE= lines (crash: log -d)");

    return tools::run_tool(kTool, argc, argv, app, [&]() -> int {
        try {
            tools::report::TextOptions text;
            text.diff_only = diff_only;
            text.timestamps = !no_ts;
            text.show_level = show_level;
            text.show_caller = show_caller;
            text.show_dict = show_dict;
            if (info->parsed()) return cmd_info(dump, json);
            if (verify->parsed()) return cmd_verify(dump, key, json);
            if (cpus->parsed()) return cmd_cpus(dump, key, json, text);
            return cmd_dmesg(dump, key, json, text);
        } catch (const Error& e) {
            // --json readers get a document on failure too; stderr and the exit code as always.
            if (json) {
                tools::report::JsonEmitter doc;
                tools::emit_error(doc, info->parsed() ? "info" : verify->parsed() ? "verify" : cpus->parsed() ? "cpus" : "dmesg",
                                  dump, e);
                doc.finish(std::cout);
                std::cout.flush();
            }
            throw;
        }
    });
}
