// Random access to the decrypted vmcore without writing it: the exact bytes
// `pvdecrypt -o FILE` writes (ELF header, notes, memory, zero pages as zeros),
// produced on demand. What `pvdecrypt --mount` serves.
//
// Layout and pages come from the same code as file output (VmcoreLayout,
// detail::produce_page). A read decrypts only the 64 KiB chunks it touches;
// decrypted chunks stay in a bounded cache (mlock'ed where RLIMIT_MEMLOCK
// allows, excluded from core dumps, wiped when the reader goes); sequential
// reads are detected and the chunks ahead are decrypted on worker threads.
// The dump is read with pread, never through the mapping after the checks: a
// dump that shrinks or changes under the reader makes reads of memory fail
// with Error(Io), the reader itself keeps working (the headers and what is
// cached still read).
#pragma once
#include <sys/uio.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "decryptor/dump.hpp"
#include "decryptor/sealed_dump.hpp"
#include "format/crypto.hpp"

namespace pvdump::decryptor {

struct ReaderOptions {
    std::uint64_t cache_bytes = std::uint64_t(64) << 20;  // decrypted-chunk cache (at least 1 MiB)
    unsigned threads = 0;                                 // read-ahead workers; 0 = one per core
    bool lock_cache = true;                               // mlock the cache where the limit allows
};

class VmcoreReader {
public:
    // Takes a dump check_dump unlocked and checked, and what it found (the layout).
    VmcoreReader(SealedDump dump, CheckedDump checked, const ReaderOptions& options = {});
    // Opens and checks the dump exactly as `pvdecrypt -o` does (same errors,
    // same exit codes); `result` receives the findings for the caller to report.
    static std::unique_ptr<VmcoreReader> open(const std::string& dump_path, format::Bytes cck, bool force,
                                              const ReaderOptions& options, DecryptResult* result = nullptr);
    VmcoreReader(const VmcoreReader&) = delete;
    VmcoreReader& operator=(const VmcoreReader&) = delete;
    // Stops the workers; wipes the cache, the headers and the keys.
    ~VmcoreReader();

    // The vmcore's size in bytes (what `pvdecrypt -o` writes).
    std::uint64_t size() const;
    // Copies up to `length` bytes at `offset` into `buffer`; returns the count,
    // less than `length` only at the end of the vmcore (0 past it). Safe from
    // several threads at once. Error(Io) naming the dump when it cannot be
    // read or has changed since it was opened.
    std::size_t read(std::uint64_t offset, std::size_t length, std::uint8_t* buffer);
    // The same bytes without the copy: pins the cached chunks the range needs
    // and calls fn with the range as pieces (cache slots, the headers, zeros)
    // in order; the pins are dropped when fn returns, and the pieces are valid
    // only until then. Returns the byte count as read() would (fn gets no
    // pieces past the end). When the cache cannot hold the whole range pinned
    // at once (a cache of a few MiB and many readers), the range is copied
    // into `fallback` (replaced by a larger buffer if shorter, the old one
    // wiped: it holds decrypted memory) and fn gets that one piece.
    std::size_t read_pinned(std::uint64_t offset, std::size_t length, format::SecretBytes& fallback,
                            const std::function<void(std::span<const iovec>)>& fn);

    // The cache as allocated, and whether it is locked in memory (when not,
    // `lock_note()` says why, in one line).
    std::uint64_t cache_bytes() const;
    bool cache_locked() const;
    const std::string& lock_note() const;

    struct Stats {
        std::uint64_t hits = 0, fills = 0, readahead_fills = 0;
        std::uint64_t copied_reads = 0;  // read_pinned ranges that went through `fallback`
    };
    Stats stats() const;

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace pvdump::decryptor
