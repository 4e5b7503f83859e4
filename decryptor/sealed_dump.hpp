// One sealed dump, opened once per run: the mapped file and its ELF index, the
// page index (PT_LOADs and pv_mem_meta), and once unlocked with the CCK the
// keys. Verification, decryption and inspection all take it, so nothing is
// opened, indexed or derived twice.
//
// Lifetimes: SealedDump owns everything it hands out references to; every
// reference, view, PageDecryptor, DecryptSource and memory() view must not
// outlive it. SealedDump itself may be moved (its parts live on the heap, so
// references stay valid across a move).
//
// Replaceable parts (for other inputs and ciphers):
//   PageInput   where the ciphertext and the tweak components come from
//               (default: pread into worker-owned buffers, pread_input(); the
//               mapping, mapped_input(), with PVDUMP_INPUT=mmap).
//   PageCipher  the per-page transform (default: OpenSSL AES-256-XTS).
#pragma once
#include <sys/uio.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "analysis/pages.hpp"
#include "decryptor/dump.hpp"
#include "format/core_file.hpp"
#include "format/page_pipeline.hpp"

namespace pvdump::decryptor {

using analysis::detail::Block;
using analysis::detail::PageIndex;

// Decrypts one page under its 16-byte tweak. One per thread (contexts are not shared).
class PageCipher {
public:
    virtual ~PageCipher() = default;
    // in and out may be the same buffer.
    virtual void decrypt(const std::uint8_t tweak[16], const std::uint8_t* in, std::uint8_t* out) = 0;
};
// Makes a PageCipher for the 64-byte XTS key.
using PageCipherFactory = std::function<std::unique_ptr<PageCipher>(format::Bytes xts_key)>;
std::unique_ptr<PageCipher> make_xts_page_cipher(format::Bytes xts_key);

// Where the dump's bytes come from: memory pages and their pv_mem_meta components.
class PageInput {
public:
    class Reader {  // one per thread
    public:
        virtual ~Reader() = default;
        // The file's bytes [offset, offset + size): either a pointer into a
        // mapping (valid while the input lives) or `scratch` (size bytes)
        // filled by a read. Error(Io) when the file cannot be read (it shrank).
        virtual const std::uint8_t* read(std::uint64_t offset, std::uint64_t size, std::uint8_t* scratch) = 0;
        // The file's bytes from `offset` on, copied into the pieces in order
        // (one preadv where the input can; by default a read per piece).
        virtual void read_scattered(std::uint64_t offset, std::span<const iovec> to);
    };
    virtual ~PageInput() = default;
    virtual std::unique_ptr<Reader> reader() const = 0;
    // A range is done with, in file order per region (memory, pv_mem_meta):
    // drop it from the resident set if mapped, from the page cache if asked to.
    virtual void release(std::uint64_t /*offset*/, std::uint64_t /*size*/) const {}
    // The whole file will be read in order (from now on, read ahead).
    virtual void advise_sequential() const {}
    virtual const char* name() const = 0;  // "pread", "mmap", ...
};

// The dump's bytes read with pread into the caller's buffer (for the
// pipeline: the worker's batch, one pread per item; for the mount: the cache
// slot), never through the mapping: a file that shrinks under it fails the
// read with Error(Io) where a mapping would SIGBUS, and its pages never count
// against the resident set. After advise_sequential(), a read that misses the
// page cache (preadv2 RWF_NOWAIT comes back short) announces the next 16 MiB
// of memory (or 64 KiB of pv_mem_meta) with POSIX_FADV_WILLNEED ahead of the
// readers; a warm dump is read without hints. With drop_behind, released ranges are dropped from
// the page cache (POSIX_FADV_DONTNEED): a cold dump then leaves no trace in
// the cache, but a warm one is cold for the next reader (bench/README.md).
// `file` must be an opened file (fd() >= 0).
std::unique_ptr<PageInput> pread_input(const format::CoreFile& file, bool drop_behind = false);
// The CoreFile's mapping: pages are read in place (prefetched with
// MADV_POPULATE_READ, dropped with MADV_DONTNEED after use). The only input
// for parsed bytes (CoreFile::parse).
std::unique_ptr<PageInput> mapped_input(const format::CoreFile& file);
// What a SealedDump reads with: pread_input() for an opened file, unless the
// environment says PVDUMP_INPUT=mmap (mapped_input) or =pread-drop
// (pread_input with drop_behind); mapped_input for parsed bytes. Error(Usage)
// on another value.
std::unique_ptr<PageInput> default_input(const format::CoreFile& file);

// Non-owning view of what decrypting pages needs; valid while its owner lives.
struct SealedView {
    const format::CoreFile* file;
    const PageIndex* pages;
    const Keys* keys;
    const PageInput* input;
    const PageCipherFactory* cipher;
    bool shared_as_zero = false;  // shared (host-supplied) pages read as zeros
};

class SealedDump {
public:
    // Opens (maps) and indexes `path`: Error(Io) / Error(Format).
    static SealedDump open(const std::string& path);
    explicit SealedDump(format::CoreFile file);
    SealedDump(SealedDump&&) noexcept;
    SealedDump& operator=(SealedDump&&) noexcept;
    ~SealedDump();

    const format::CoreFile& file() const { return *file_; }
    // Built on first use (page alignment, overlaps checked: Error(Format));
    // call once before sharing the dump between threads.
    const PageIndex& pages() const;
    // CCK -> keys, completion data authenticated: Error(Format) when not a PV
    // dump, Error(Auth) on a wrong key or tampered completion data.
    void unlock(format::Bytes cck);
    bool unlocked() const { return keys_ != nullptr; }
    const Keys& keys() const;  // Error(Internal) before unlock()
    // Every CPU's state, authenticated and decrypted (needs unlock()).
    std::vector<CpuRecord> cpus() const;
    // Guest memory, decrypted page by page on demand (needs unlock()); one
    // reader at a time per view: make one per thread.
    std::unique_ptr<format::MemoryView> memory() const;

    void set_input(std::unique_ptr<PageInput> input);
    const PageInput& input() const { return *input_; }
    void set_cipher(PageCipherFactory factory);
    // Shared pages (supplied by the host in clear, see analysis/provenance.hpp)
    // read as zeros everywhere: decryption, memory(), the mount.
    void set_shared_as_zero(bool on) { shared_as_zero_ = on; }
    bool shared_as_zero() const { return shared_as_zero_; }
    SealedView view() const;

private:
    std::unique_ptr<format::CoreFile> file_;
    mutable std::unique_ptr<PageIndex> pages_;
    std::unique_ptr<Keys> keys_;
    std::unique_ptr<PageInput> input_;
    std::unique_ptr<PageCipherFactory> cipher_;
    bool shared_as_zero_ = false;
};

// Worker-local page producer: its own cipher context and input reader.
// Random access: page() for any page of any block, from any thread that owns
// this PageDecryptor (make one per thread). Batches: pages().
class PageDecryptor {
public:
    explicit PageDecryptor(const SealedView& dump);
    // Page p of block b into out (4096 bytes). Zero pages, and with --force
    // invalid or missing ones, are Hole: out is left as it was.
    format::pipeline::PageFill page(const Block& b, std::uint64_t p, std::uint8_t* out);
    // Pages [first, first + n) of block b into out (n pages): one read for
    // their components, one for the pages; with scan_zero, pages of zeros
    // are marked Zero. Everything comes through the dump's PageInput.
    void pages(const Block& b, std::uint64_t first, std::uint64_t n, std::uint8_t* out,
               format::pipeline::PageFill* fill, bool scan_zero);
    // The same into separate buffers of `per` pages each (outs[i] gets pages
    // [first + i * per, ...)): still one read for the components and one
    // (scattered) for the pages.
    void pages_scattered(const Block& b, std::uint64_t first, std::uint64_t n, std::span<std::uint8_t* const> outs,
                         std::uint64_t per, format::pipeline::PageFill* fill);

private:
    SealedView d_;
    std::unique_ptr<PageCipher> cipher_;
    std::unique_ptr<PageInput::Reader> reader_;
    std::vector<std::uint8_t> components_;  // the batch's pv_mem_meta entries, when read
    struct Out;  // where page k of a batch goes
    void pages_to(const Block& b, std::uint64_t first, std::uint64_t n, const Out& out,
                  format::pipeline::PageFill* fill, bool scan_zero);
    format::pipeline::PageFill transform(const Block& b, std::uint64_t p, const std::uint8_t* component,
                                         const std::uint8_t* in, std::uint8_t* out);
};

// The pipeline's input end for a sealed dump: items are the plan's
// (work_plan()), pages come from a PageDecryptor per worker.
class DecryptSource final : public format::pipeline::PageSource {
public:
    DecryptSource(const SealedView& dump, const format::pipeline::WorkPlan& plan) : d_(dump), plan_(plan) {}
    std::unique_ptr<Worker> make_worker() const override;
    void release(std::uint64_t first, std::uint64_t end) const override;

private:
    SealedView d_;
    const format::pipeline::WorkPlan& plan_;
};

// The dump's blocks (in address order) cut into 1 MiB items.
format::pipeline::WorkPlan work_plan(const PageIndex& pages);
inline constexpr std::uint64_t kDecryptItemPages = 256;

// Decrypts every page of `dump` through the pipeline into `sink` (file,
// stream, or any other sink). Needs unlock().
void decrypt_pages(const SealedDump& dump, format::pipeline::PageSink& sink, const DecryptOptions& options);

}  // namespace pvdump::decryptor
