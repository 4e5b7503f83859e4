// libpvdump: the public API (include/pvdump/pvdump.hpp) over the internal
// libraries. This is the only file that knows both sides: when the internals
// change, this file adapts and the public header stays as it is.
#include "pvdump/pvdump.hpp"

#include <algorithm>
#include <new>
#include <optional>

#include "analysis/inspect.hpp"
#include "decryptor/dump.hpp"
#include "format/core_file.hpp"
#include "format/error.hpp"
#include "tools/cck.hpp"
#include "tools/version.hpp"

namespace pvdump::api {

namespace {

namespace fmt = pvdump::format;
namespace dec = pvdump::decryptor;
namespace ana = pvdump::analysis;

// The internal error categories as the public codes (whose values are the
// tools' exit codes: tools/exit_code.hpp chooses the same numbers).
api::ErrorCode to_api(pvdump::ErrorCode code) {
    switch (code) {
    case pvdump::ErrorCode::Internal: return ErrorCode::Internal;
    case pvdump::ErrorCode::Usage:
    case pvdump::ErrorCode::InvalidArgument: return ErrorCode::Usage;
    case pvdump::ErrorCode::Io: return ErrorCode::Io;
    case pvdump::ErrorCode::Format: return ErrorCode::Format;
    case pvdump::ErrorCode::Auth: return ErrorCode::Auth;
    case pvdump::ErrorCode::Verify:
    case pvdump::ErrorCode::VerifyWarning: return ErrorCode::Verify;
    case pvdump::ErrorCode::Exists: return ErrorCode::Exists;
    }
    return ErrorCode::Internal;
}

[[noreturn]] void rethrow_as_api() {
    try {
        throw;
    } catch (const api::Error&) {
        throw;
    } catch (const pvdump::Error& e) {
        throw api::Error(to_api(e.code()), e.what());
    } catch (const std::bad_alloc&) {
        throw;
    } catch (const std::exception& e) {
        throw api::Error(ErrorCode::Internal, e.what());
    }
}

// Runs f, turning internal errors into api::Error (the internal types never
// cross the library boundary: they are hidden symbols).
template <class F>
auto guarded(F&& f) -> decltype(f()) {
    try {
        return f();
    } catch (...) {
        rethrow_as_api();
    }
}

Registers to_api(const fmt::CpuState& s) {
    Registers r;
    r.psw = s.psw;
    r.gprs = s.gprs;
    r.acrs = s.acrs;
    r.crs = s.ctrs;
    r.prefix = s.prefix;
    r.fpc = s.fpc;
    r.todpreg = s.todpreg;
    r.cpu_timer = s.timer;
    r.clock_comparator = s.todcmp;
    r.vrs = s.vrs;
    r.gsd = s.gsd;
    r.gssm = s.gssm;
    r.gs_epl_a = s.gs_epl_a;
    return r;
}

PageCounts to_api(const dec::PageCounts& c) {
    PageCounts p;
    p.total = c.total;
    p.encrypted = c.encrypted;
    p.zero = c.zero;
    p.shared = c.shared;
    p.invalid = c.invalid;
    p.missing = c.missing;
    return p;
}

}  // namespace

Error::Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
Error::~Error() = default;

const char* version() { return pvdump::version_number(); }
const char* git_commit() { return pvdump::git_commit(); }

std::uint64_t Registers::fpr(unsigned n) const {
    if (n >= 16) throw Error(ErrorCode::Usage, "fpr(" + std::to_string(n) + "): there are 16 floating-point registers");
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | vrs[n][i];
    return v;
}

bool Registers::operator==(const Registers& o) const {
    return psw == o.psw && gprs == o.gprs && acrs == o.acrs && crs == o.crs && prefix == o.prefix && fpc == o.fpc &&
           todpreg == o.todpreg && cpu_timer == o.cpu_timer && clock_comparator == o.clock_comparator && vrs == o.vrs &&
           gsd == o.gsd && gssm == o.gssm && gs_epl_a == o.gs_epl_a;
}

struct SealedDump::Impl {
    std::string path;
    fmt::CoreFile dump;
    std::optional<dec::Keys> keys;     // after authenticate()
    fmt::SecretBytes cck;              // for decrypt_to (wiped with the Impl)
    std::vector<dec::CpuRecord> cpus;  // authenticated, decrypted
    std::unique_ptr<fmt::MemoryView> memory;  // sealed (after authenticate()) or plain

    Impl(std::string p, fmt::CoreFile d) : path(std::move(p)), dump(std::move(d)) {}

    const fmt::MemoryView& mem() const {
        if (!memory)
            throw Error(ErrorCode::Usage, "'" + path + "' is a sealed PV dump: call authenticate() before reading its memory");
        return *memory;
    }
};

SealedDump::SealedDump(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SealedDump::SealedDump(SealedDump&&) noexcept = default;
SealedDump& SealedDump::operator=(SealedDump&&) noexcept = default;
SealedDump::~SealedDump() = default;

SealedDump SealedDump::open(const std::string& path) {
    return guarded([&] {
        auto impl = std::make_unique<Impl>(path, fmt::CoreFile::open(path));
        if (!impl->dump.is_pv()) impl->memory = impl->dump.plain_memory();
        return SealedDump(std::move(impl));
    });
}

bool SealedDump::is_protected() const { return impl_->dump.is_pv(); }

DumpInfo SealedDump::info() const {
    return guarded([&] {
        const ana::InfoReport r = ana::inspect_info(impl_->dump);
        DumpInfo i;
        i.path = impl_->path;
        i.file_size = r.file_size;
        i.kind = r.kind == ana::ContainerKind::PvDump           ? DumpKind::Protected
                 : r.kind == ana::ContainerKind::DumpDisallowed ? DumpKind::DumpDisallowed
                                                                : DumpKind::Plain;
        i.cpus = r.cpus;
        i.memory_size = r.memory_size;
        for (const auto& b : r.blocks) i.blocks.push_back({b.paddr, b.memsz});
        std::sort(i.blocks.begin(), i.blocks.end(),
                  [](const MemoryBlock& a, const MemoryBlock& b) { return a.address < b.address; });
        if (r.plan) {
            i.pages = to_api(r.plan->counts);
            i.page_states_valid = !r.plan->has_error();
        }
        return i;
    });
}

void SealedDump::authenticate(const std::uint8_t* cck, std::size_t size) {
    guarded([&] {
        if (!cck || size != fmt::kCckSize)
            throw Error(ErrorCode::Usage, "the Customer Communication Key must be exactly 32 bytes, not " +
                                              std::to_string(cck ? size : 0));
        Impl& d = *impl_;
        fmt::SecretBytes key(fmt::Bytes(cck, size));
        dec::Keys keys = dec::open_keys(d.dump, key.view());
        std::vector<dec::CpuRecord> cpus = dec::cpu_states(d.dump, keys.dump_key.view());
        d.memory.reset();  // refers to the old keys
        d.keys = std::move(keys);
        d.cpus = std::move(cpus);
        d.cck = std::move(key);
        d.memory = dec::sealed_memory(d.dump, *d.keys);
    });
}

void SealedDump::authenticate_with_key_file(const std::string& path) {
    fmt::SecretBytes key = guarded([&] { return tools::load_cck(path); });
    authenticate(key.data(), key.size());
}

bool SealedDump::authenticated() const { return impl_->keys.has_value(); }

std::vector<Cpu> SealedDump::cpus() const {
    return guarded([&] {
        std::vector<Cpu> out;
        const Impl& d = *impl_;
        if (d.dump.is_pv()) {
            if (!d.keys)
                throw Error(ErrorCode::Usage, "'" + d.path + "' is a sealed PV dump: call authenticate() before cpus()");
            for (const auto& c : d.cpus) out.push_back({c.index, to_api(c.state), to_api(c.hypervisor), c.has_osii});
        } else {
            for (const auto& c : d.dump.cpus()) out.push_back({c.index, to_api(c.clear), to_api(c.clear), false});
        }
        return out;
    });
}

bool SealedDump::contains(std::uint64_t address, std::uint64_t size) const {
    return guarded([&] { return impl_->mem().contains(address, size); });
}

void SealedDump::read_memory(std::uint64_t address, std::uint8_t* out, std::size_t size) const {
    guarded([&] { impl_->mem().read(address, {out, size}); });
}

std::vector<std::uint8_t> SealedDump::read_memory(std::uint64_t address, std::size_t size) const {
    std::vector<std::uint8_t> out(size);
    read_memory(address, out.data(), out.size());
    return out;
}

DecryptSummary SealedDump::decrypt_to(const std::string& output, const DecryptOptions& options) const {
    return guarded([&] {
        const Impl& d = *impl_;
        if (!d.dump.is_pv())
            throw Error(ErrorCode::Format, "'" + d.path + "' is not a sealed PV dump: there is nothing to decrypt");
        if (!d.keys)
            throw Error(ErrorCode::Usage, "'" + d.path + "' is a sealed PV dump: call authenticate() before decrypt_to()");
        dec::DecryptRequest req;
        req.dump_path = d.path;
        req.output_path = output;
        req.overwrite = options.overwrite;
        req.force = options.force;
        req.options.threads = options.threads;
        req.options.progress = options.progress;
        const dec::DecryptResult r = dec::decrypt_dump(req, d.cck.view());
        DecryptSummary s;
        s.cpus = unsigned(r.cpus.size());
        s.memory_size = r.memory_bytes;
        s.blocks = r.blocks;
        s.pages = to_api(r.plan.counts);
        s.vmcoreinfo_found = r.vmcoreinfo_found;
        return s;
    });
}

}  // namespace pvdump::api
