// makedumpfile's kdump-compressed vmcore ("KDUMP   ", disk_dump_header version 6,
// as makedumpfile 1.7 writes it), big-endian for s390x, 64-bit offsets throughout:
//
//   block 0            disk_dump_header
//   block 1..          kdump_sub_header (phys_base, dump level, 64-bit pfns), then the
//                      ELF notes (PRPSINFO, every CPU's PRSTATUS and s390x register
//                      notes, VMCOREINFO) exactly as the ELF vmcore's PT_NOTE holds them
//   bitmap blocks      1st bitmap (pages that exist), 2nd bitmap (pages dumped)
//   descriptors        one page_desc per page of the 2nd bitmap, in pfn order
//   page data          the shared zero page, then each page compressed, or raw when
//                      compression does not shrink it
//
// Dump level bit 1 works as in makedumpfile 1.7: a zero page keeps its bit in the 2nd
// bitmap and its descriptor points at one shared zero page (so readers such as crash
// see zeros, not an excluded page); bits 2-16 clear the page's bit.
//
// Pages arrive once, in ascending address order, so nothing is known in advance about
// how many survive the dump level: the descriptor area is reserved for every existing
// page and what stays unused is a hole. The writer's memory is one bitmap block and a
// few buffers, whatever the guest's size.
//
// Output goes through OutputFile (temporary 0600 file, renamed on commit), or as
// makedumpfile's flattened format (-F: a header, then (offset, size, data) records),
// which is what a stream such as `-o -` can carry; `makedumpfile -R` turns it back
// into the normal file.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "format/bytes.hpp"
#include "format/output_file.hpp"
#include "format/pv.hpp"
#include "format/vmcore_writer.hpp"

namespace pvdump::format {

enum class KdumpCompression { None, Zlib, Lzo, Snappy, Zstd };
// "zstd" | "lzo" | "snappy" | "zlib" | "none"; Error(InvalidArgument) otherwise.
KdumpCompression parse_kdump_compression(std::string_view name);
const char* kdump_compression_name(KdumpCompression c);

// makedumpfile's constants (diskdump_mod.h / makedumpfile.h).
namespace kdump {
constexpr char kSignature[8] = {'K', 'D', 'U', 'M', 'P', ' ', ' ', ' '};
constexpr std::uint32_t kHeaderVersion = 6;
constexpr std::uint32_t kBlockSize = 4096;
constexpr std::uint32_t kFlagZlib = 0x01, kFlagLzo = 0x02, kFlagSnappy = 0x04, kFlagIncomplete = 0x08,
                        kFlagZstd = 0x20;
constexpr std::size_t kHeaderSize = 464;     // sizeof(struct disk_dump_header), s390x
constexpr std::size_t kSubHeaderSize = 104;  // sizeof(struct kdump_sub_header), version 6
constexpr std::size_t kPageDescSize = 24;    // sizeof(page_desc_t)
// disk_dump_header field offsets (64-bit big-endian ABI).
constexpr std::size_t kOffUtsname = 12, kUtsField = 65, kOffTimestamp = 408, kOffStatus = 424,
                      kOffBlockSize = 428, kOffSubHdrSize = 432, kOffBitmapBlocks = 436, kOffMaxMapnr = 440,
                      kOffTotalRamBlocks = 444, kOffDeviceBlocks = 448, kOffWrittenBlocks = 452,
                      kOffCurrentCpu = 456, kOffNrCpus = 460;
// kdump_sub_header field offsets.
constexpr std::size_t kSubPhysBase = 0, kSubDumpLevel = 8, kSubSplit = 12, kSubStartPfn = 16, kSubEndPfn = 24,
                      kSubOffVmcoreinfo = 32, kSubSizeVmcoreinfo = 40, kSubOffNote = 48, kSubSizeNote = 56,
                      kSubOffEraseinfo = 64, kSubSizeEraseinfo = 72, kSubStartPfn64 = 80, kSubEndPfn64 = 88,
                      kSubMaxMapnr64 = 96;
// The flattened format (makedumpfile -F).
constexpr char kFlatSignature[] = "makedumpfile";
constexpr std::size_t kFlatHeaderSize = 4096;
std::uint32_t flag_for(KdumpCompression c);
}  // namespace kdump

// Worker side: compresses one 4 KiB page the way makedumpfile does (zlib level
// Z_BEST_SPEED, lzo1x_1, snappy, zstd level 1); a page that does not shrink is stored
// raw (flags 0). One per thread: it holds the compressor's state and output buffer.
class KdumpPageCompressor {
public:
    explicit KdumpPageCompressor(KdumpCompression c);
    ~KdumpPageCompressor();
    KdumpPageCompressor(const KdumpPageCompressor&) = delete;
    KdumpPageCompressor& operator=(const KdumpPageCompressor&) = delete;

    struct Stored {
        Bytes data;           // the page itself or the compressor's buffer (valid until the next call)
        std::uint32_t flags;  // 0 (raw) or the compression's DUMP_DH_COMPRESSED_* flag
    };
    Stored compress(const std::uint8_t* page);

private:
    struct State;
    std::unique_ptr<State> state_;
};

// A run of pages made ready on a worker thread: what the writer appends in order.
struct KdumpBatch {
    enum class Fate : std::uint8_t {
        Stored,    // `size` bytes of data follow
        Zero,      // excluded by dump level bit 1: kept in the 2nd bitmap, its descriptor
                   // points at the one shared zero page (makedumpfile's pd_zero)
        Excluded,  // excluded by dump level bits 2-16: cleared from the 2nd bitmap
    };
    struct Page {
        std::uint64_t paddr;
        std::uint32_t size;
        std::uint32_t flags;
        Fate fate;
    };
    std::vector<Page> pages;
    std::vector<std::uint8_t> data;  // the kept pages' stored bytes, back to back
    void clear() { pages.clear(); data.clear(); }
};

// Worker side: decides a page's fate (dump level bit 1: zero pages; `excluded` from
// the caller's level 2-16 decision) and compresses the kept ones into `batch`.
void kdump_encode_page(KdumpPageCompressor& compressor, unsigned dump_level, std::uint64_t paddr,
                       const std::uint8_t* page, bool is_zero, bool excluded, KdumpBatch& batch);

struct KdumpHeaderInfo {
    std::vector<CpuState> cpus;
    std::optional<std::string> vmcoreinfo;
    std::vector<MemoryRange> ranges;  // ascending, page-aligned, not overlapping
    unsigned dump_level = 1;
    KdumpCompression compression = KdumpCompression::Zstd;
    std::uint64_t phys_base = 0;
    // new_utsname (each at most 64 characters); `machine` is what crash checks.
    std::string sysname = "Linux", nodename, release, version, machine = "s390x", domainname;
    std::int64_t timestamp = 0;  // seconds since the epoch
};

struct KdumpStats {
    std::uint64_t pages_total = 0;     // pages in the ranges
    std::uint64_t pages_kept = 0;        // stored with their own data
    std::uint64_t pages_zero = 0;        // zero pages excluded by bit 1 (shared zero page)
    std::uint64_t pages_excluded = 0;    // excluded by bits 2-16 (not in the 2nd bitmap)
    std::uint64_t pages_compressed = 0;  // kept pages stored compressed (the rest raw)
    std::uint64_t data_bytes = 0;
};

class KdumpWriter {
public:
    // Writes the headers and the 1st bitmap right away. `flattened`: makedumpfile -F
    // records (the only form a stream accepts; a stream without it is Error(InvalidArgument)).
    KdumpWriter(OutputFile& out, const KdumpHeaderInfo& info, bool flattened);
    ~KdumpWriter();
    KdumpWriter(const KdumpWriter&) = delete;
    KdumpWriter& operator=(const KdumpWriter&) = delete;

    // Appends a batch; pages in ascending address order across calls, each page of
    // the ranges exactly once. Writer thread only.
    void append(const KdumpBatch& batch);
    // Single-threaded convenience: encode + append one page.
    void add_page(std::uint64_t paddr, const std::uint8_t* page, bool is_zero, bool excluded = false);
    // Flushes the last descriptors and bitmap block, then the final header; every
    // page must have been given. Does not commit the OutputFile.
    void finish();
    const KdumpStats& stats() const { return stats_; }

private:
    struct Impl;
    KdumpStats stats_;  // before impl_: Impl fills it while it is constructed
    std::unique_ptr<Impl> impl_;
};

}  // namespace pvdump::format
