// libpvdump: open IBM Z Protected Virtualization (Secure Execution) guest
// dumps from your own program.
//
//   #include <pvdump/pvdump.hpp>
//
//   pvdump::api::SealedDump dump = pvdump::api::SealedDump::open("guest.pvdump");
//   pvdump::api::DumpInfo info = dump.info();             // no key needed
//   dump.authenticate_with_key_file("owner.cck");          // throws Error(Auth) on a wrong key
//   for (const pvdump::api::Cpu& cpu : dump.cpus()) ...    // decrypted registers
//   std::vector<std::uint8_t> page = dump.read_memory(0x10000, 4096);
//   dump.decrypt_to("guest.vmcore");                       // plain s390x ELF vmcore
//
// This header is the whole public interface: it includes only the standard
// library, and its types are its own (the implementation is hidden behind a
// pointer), so programs built against one 0.x release keep working with the
// next as long as the SONAME (libpvdump.so.0) is unchanged. See docs/api.md.
// Needs C++17.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(PVDUMP_API_BUILD)
#define PVDUMP_API __attribute__((visibility("default")))
#else
#define PVDUMP_API
#endif

namespace pvdump::api {

// The numeric values are the pvdump tools' exit codes (README, man pages).
enum class ErrorCode : int {
    Internal = 1,      // a bug or an unexpected library failure
    Usage = 2,         // bad argument: key not 32 bytes, call out of order
    Io = 3,            // cannot read / write a file, disk full
    Format = 4,        // malformed, truncated, or not an s390x dump
    Auth = 5,          // wrong key, or tampered completion / CPU data
    Verify = 6,        // invalid page state, missing tweak component, tweak reuse
    Exists = 8,        // decrypt_to: the output exists and overwrite was not set
    // Never thrown: the library installs no signal handler, and the tools'
    // handler ends the process by the signal itself. Kept so that programs
    // naming it still compile.
    Interrupted [[deprecated("never thrown: a signal ends the process")]] = 130
};

// Everything the library throws on bad input is an Error (std::bad_alloc aside).
// what() is one line naming the file part and the offset or guest address.
class PVDUMP_API Error : public std::runtime_error {
public:
    Error(ErrorCode code, const std::string& message);
    ~Error() override;
    ErrorCode code() const noexcept { return code_; }

private:
    ErrorCode code_;
};

// "0.1.0", and the git commit the library was built from ("" when unknown).
PVDUMP_API const char* version();
PVDUMP_API const char* git_commit();

enum class DumpKind {
    Protected,       // a sealed PV dump (QEMU dump-guest-memory of a protected guest, or pvseal)
    Plain,           // an ordinary s390x ELF vmcore (nothing to decrypt)
    DumpDisallowed,  // QEMU's fallback when the image forbids dumping: ciphertext nobody can decrypt
};

struct MemoryBlock {
    std::uint64_t address = 0;  // guest physical address of the first byte
    std::uint64_t size = 0;     // bytes
};

struct PageCounts {  // sealed dumps: pages by their pv_mem_meta state
    std::uint64_t total = 0, encrypted = 0, zero = 0, shared = 0, invalid = 0, missing = 0;
};

// What anyone can see without the key.
struct DumpInfo {
    std::string path;
    std::uint64_t file_size = 0;
    DumpKind kind = DumpKind::Protected;
    unsigned cpus = 0;
    std::uint64_t memory_size = 0;     // sum of the blocks' sizes
    std::vector<MemoryBlock> blocks;   // sorted by address
    PageCounts pages;                  // Protected only
    bool page_states_valid = true;     // Protected only: no invalid or missing page state
};

// One vCPU's registers, as the s390x architecture names them.
struct PVDUMP_API Registers {
    std::array<std::uint64_t, 2> psw{};    // mask, address
    std::array<std::uint64_t, 16> gprs{};
    std::array<std::uint32_t, 16> acrs{};  // access registers
    std::array<std::uint64_t, 16> crs{};   // control registers
    std::uint32_t prefix = 0;
    std::uint32_t fpc = 0;
    std::uint32_t todpreg = 0;
    std::uint64_t cpu_timer = 0;
    std::uint64_t clock_comparator = 0;
    // 32 vector registers, 16 bytes each, big-endian as stored; the leftmost 8
    // bytes of vrs[0..15] are the floating-point registers (see fpr()).
    std::array<std::array<std::uint8_t, 16>, 32> vrs{};
    std::uint64_t gsd = 0, gssm = 0, gs_epl_a = 0;  // guarded-storage control block

    std::uint64_t fpr(unsigned n) const;  // n < 16
    bool operator==(const Registers& other) const;
    bool operator!=(const Registers& other) const { return !(*this == other); }
};

struct Cpu {
    unsigned index = 0;
    // Protected: decrypted and authenticated (the truth). Plain: the notes.
    Registers registers;
    // Protected: the hypervisor's clear view from the notes (not authenticated;
    // it differs from `registers` wherever the Ultravisor hid a value). Plain:
    // equal to `registers`.
    Registers hypervisor;
    // The vCPU was stopped while the hypervisor emulated an instruction for it:
    // its registers may hold partial results of that instruction.
    bool has_osii = false;
};

struct DecryptOptions {
    unsigned threads = 0;    // 0 = one per core
    bool overwrite = false;  // replace an existing output (Error(Exists) otherwise)
    bool force = false;      // write even when page states fail verification (such pages become zeros)
    // Called now and then with bytes of guest memory done, from one thread at a time.
    std::function<void(std::uint64_t done, std::uint64_t total)> progress;
};

struct DecryptSummary {
    unsigned cpus = 0;
    std::uint64_t memory_size = 0;
    std::size_t blocks = 0;
    PageCounts pages;
    bool vmcoreinfo_found = false;  // the vmcore carries the guest's VMCOREINFO note
};

// A dump opened read-only (the file is mapped, never written). Move-only.
// Not thread-safe: use one SealedDump per thread.
class PVDUMP_API SealedDump {
public:
    // Error(Io) when the file cannot be read, Error(Format) when it is not an
    // s390x ELF core file.
    static SealedDump open(const std::string& path);

    SealedDump(SealedDump&&) noexcept;
    SealedDump& operator=(SealedDump&&) noexcept;
    ~SealedDump();  // wipes the keys

    DumpInfo info() const;
    bool is_protected() const;

    // Derives the dump key from the 32-byte Customer Communication Key and the
    // dump's seed, and authenticates the completion data and every CPU blob.
    // Error(Usage) when the key is not 32 bytes, Error(Format) when the dump is
    // not a sealed PV dump, Error(Auth) on a wrong key or tampered data.
    // The library keeps its own copy of the key (wiped by the destructor); the
    // caller's buffer is not touched.
    void authenticate(const std::uint8_t* cck, std::size_t size);
    void authenticate(const std::vector<std::uint8_t>& cck) { authenticate(cck.data(), cck.size()); }
    // Reads the key from a file (exactly 32 bytes; Error(Usage) otherwise).
    void authenticate_with_key_file(const std::string& path);
    bool authenticated() const;

    // Every vCPU. Protected dumps need authenticate() first (Error(Usage) otherwise).
    std::vector<Cpu> cpus() const;

    // Guest physical memory; Protected dumps are decrypted page by page and
    // need authenticate() first. Error(Format) naming the address when part of
    // the range is not in the dump.
    bool contains(std::uint64_t address, std::uint64_t size) const;
    void read_memory(std::uint64_t address, std::uint8_t* out, std::size_t size) const;
    std::vector<std::uint8_t> read_memory(std::uint64_t address, std::size_t size) const;

    // Writes the plain s390x ELF vmcore pvdecrypt writes (mode 0600, atomically:
    // nothing is left behind on failure; "-" is standard output). Verifies every
    // page state first (Error(Verify) unless options.force). Protected only.
    DecryptSummary decrypt_to(const std::string& output, const DecryptOptions& options = {}) const;

private:
    struct Impl;
    explicit SealedDump(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace pvdump::api
