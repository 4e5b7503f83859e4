#include "format/kdump_reader.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <lzo/lzo1x.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include <bit>
#include <cstring>
#include <mutex>

#include "format/error.hpp"

namespace pvdump::format {
namespace {
constexpr std::uint64_t kPage = kdump::kBlockSize;
constexpr std::uint64_t kRankPiece = 512;  // bitmap bytes per rank entry (4096 pages)

std::string field_text(const std::uint8_t* p, std::size_t n) {
    std::size_t len = 0;
    while (len < n && p[len]) ++len;
    return std::string(reinterpret_cast<const char*>(p), len);
}

std::uint64_t popcount_bytes(const std::uint8_t* p, std::size_t n) {
    std::uint64_t c = 0;
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        std::uint64_t v;
        std::memcpy(&v, p + i, 8);
        c += std::uint64_t(std::popcount(v));
    }
    for (; i < n; ++i) c += std::uint64_t(std::popcount(unsigned(p[i])));
    return c;
}
}  // namespace

bool is_kdump_signature(Bytes head) {
    return head.size() >= 8 && std::memcmp(head.data(), kdump::kSignature, 8) == 0;
}
bool is_flattened_signature(Bytes head) {
    return head.size() >= 16 && std::memcmp(head.data(), kdump::kFlatSignature, 12) == 0 && head[12] == 0;
}

bool is_kdump_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    std::uint8_t head[16] = {};
    const ssize_t n = ::pread(fd, head, sizeof head, 0);
    ::close(fd);
    if (n != ssize_t(sizeof head)) return false;
    return is_kdump_signature(Bytes(head, 16)) || is_flattened_signature(Bytes(head, 16));
}

KdumpFile::KdumpFile(const std::string& path) : name_(path) {
    file_.emplace(path);
    bytes_ = file_->bytes();
    parse();
}

KdumpFile::KdumpFile(Bytes bytes, std::string name, std::optional<MappedFile>) : bytes_(bytes), name_(std::move(name)) {
    parse();
}

KdumpFile KdumpFile::from_bytes(Bytes bytes, std::string name) { return KdumpFile(bytes, std::move(name), std::nullopt); }

namespace {
// The compression the status flags name; none when they name several.
std::optional<KdumpCompression> compression_of(std::uint32_t status) {
    switch (status & (kdump::kFlagZlib | kdump::kFlagLzo | kdump::kFlagSnappy | kdump::kFlagZstd)) {
    case 0: return KdumpCompression::None;
    case kdump::kFlagZlib: return KdumpCompression::Zlib;
    case kdump::kFlagLzo: return KdumpCompression::Lzo;
    case kdump::kFlagSnappy: return KdumpCompression::Snappy;
    case kdump::kFlagZstd: return KdumpCompression::Zstd;
    default: return std::nullopt;
    }
}

// The signature and disk_dump_header (the first block) into `in`, checked.
void read_disk_dump_header(const Reader& r, Bytes bytes, const std::string& name, KdumpFileInfo& in) {
    if (is_flattened_signature(bytes))
        fail(ErrorCode::Format, "'" + name +
                                    "' is in makedumpfile's flattened format (-F): restore it first with "
                                    "'makedumpfile -R FILE < " + name + "'");
    if (!is_kdump_signature(bytes)) fail(ErrorCode::Format, "'" + name + "' is not a kdump-compressed file (no \"KDUMP   \" signature)");
    r.require(0, kdump::kHeaderSize, "disk_dump_header");
    in.header_version = r.u32(8, "header_version");
    if (in.header_version > 0xffff && (__builtin_bswap32(in.header_version) <= 0xffff))
        fail(ErrorCode::Format, "'" + name + "' is a little-endian kdump file: not an s390x dump");
    if (in.header_version < 6 || in.header_version > 7)
        fail(ErrorCode::Format, "'" + name + "': disk_dump_header version " + std::to_string(in.header_version) +
                                    " is not supported (version 6, as makedumpfile 1.6 and later write)");
    const std::uint8_t* h = bytes.data();
    std::string* uts[5] = {&in.sysname, &in.nodename, &in.release, &in.version, &in.machine};
    for (int k = 0; k < 5; ++k) *uts[k] = field_text(h + kdump::kOffUtsname + k * kdump::kUtsField, kdump::kUtsField);
    in.timestamp = std::int64_t(r.u64(kdump::kOffTimestamp, "timestamp"));
    in.status = r.u32(kdump::kOffStatus, "status");
    in.block_size = r.u32(kdump::kOffBlockSize, "block_size");
    in.sub_hdr_blocks = r.u32(kdump::kOffSubHdrSize, "sub_hdr_size");
    in.bitmap_blocks = r.u32(kdump::kOffBitmapBlocks, "bitmap_blocks");
    in.nr_cpus = r.u32(kdump::kOffNrCpus, "nr_cpus");
    in.incomplete = in.status & kdump::kFlagIncomplete;
    in.compression = compression_of(in.status);
    if (in.block_size != kPage)
        fail(ErrorCode::Format, "'" + name + "': block_size " + std::to_string(in.block_size) +
                                    " at offset 0x1ac is not the s390x page size 4096");
    if (in.sub_hdr_blocks == 0) fail(ErrorCode::Format, "'" + name + "': sub_hdr_size at offset 0x1b0 is 0");
    if (in.bitmap_blocks == 0 || in.bitmap_blocks % 2)
        fail(ErrorCode::Format, "'" + name + "': bitmap_blocks " + std::to_string(in.bitmap_blocks) +
                                    " at offset 0x1b4 is not a positive even number");
}

// The kdump_sub_header (the second block) and the notes and VMCOREINFO it
// points at, into `in`.
void read_sub_header(const Reader& r, std::uint64_t sub_off, KdumpFileInfo& in) {
    const Reader sub(r.sub(sub_off, kdump::kSubHeaderSize, "kdump_sub_header"), r.what(), sub_off);
    in.phys_base = sub.u64(kdump::kSubPhysBase, "phys_base");
    in.dump_level = std::int32_t(sub.u32(kdump::kSubDumpLevel, "dump_level"));
    in.max_mapnr = sub.u64(kdump::kSubMaxMapnr64, "max_mapnr_64");
    const std::uint64_t off_note = sub.u64(kdump::kSubOffNote, "offset_note");
    const std::uint64_t size_note = sub.u64(kdump::kSubSizeNote, "size_note");
    const std::uint64_t off_vi = sub.u64(kdump::kSubOffVmcoreinfo, "offset_vmcoreinfo");
    const std::uint64_t size_vi = sub.u64(kdump::kSubSizeVmcoreinfo, "size_vmcoreinfo");
    if (size_note) {
        const Bytes n = r.sub(off_note, size_note, "ELF notes (offset_note, size_note)");
        in.notes.assign(n.begin(), n.end());
    }
    if (size_vi) {
        const Bytes v = r.sub(off_vi, size_vi, "VMCOREINFO (offset_vmcoreinfo, size_vmcoreinfo)");
        in.vmcoreinfo = std::string(reinterpret_cast<const char*>(v.data()), v.size());
    }
}
}  // namespace

void KdumpFile::parse() {
    const Reader r(bytes_, "kdump file '" + name_ + "'");
    KdumpFileInfo& in = info_;
    read_disk_dump_header(r, bytes_, name_, in);
    const std::uint64_t sub_off = kPage;
    read_sub_header(r, sub_off, in);

    // Bitmaps.
    std::uint64_t blocks = 1 + std::uint64_t(in.sub_hdr_blocks);
    off_bitmap1_ = blocks * kPage;
    bitmap_len_ = std::uint64_t(in.bitmap_blocks) / 2 * kPage;
    off_bitmap2_ = off_bitmap1_ + bitmap_len_;
    r.require(off_bitmap1_, 2 * bitmap_len_, "bitmaps");
    if (in.max_mapnr == 0 || in.max_mapnr > bitmap_len_ * 8)
        fail(ErrorCode::Format, "'" + name_ + "': max_mapnr_64 " + std::to_string(in.max_mapnr) + " at offset " +
                                    hex(sub_off + kdump::kSubMaxMapnr64) + " does not fit the " +
                                    std::to_string(bitmap_len_) + "-byte bitmaps");
    // Only bits below max_mapnr count.
    const std::uint64_t full_bytes = in.max_mapnr / 8;
    rank_base_.clear();
    std::uint64_t dumped = 0;
    for (std::uint64_t at = 0; at < full_bytes; at += kRankPiece) {
        rank_base_.push_back(dumped);
        dumped += popcount_bytes(bytes_.data() + off_bitmap2_ + at, std::min(kRankPiece, full_bytes - at));
    }
    std::uint64_t present = popcount_bytes(bytes_.data() + off_bitmap1_, full_bytes);
    if (in.max_mapnr % 8) {
        const unsigned mask = (1u << (in.max_mapnr % 8)) - 1;
        present += std::uint64_t(std::popcount(unsigned(bytes_[off_bitmap1_ + full_bytes]) & mask));
        if (full_bytes % kRankPiece == 0) rank_base_.push_back(dumped);
        dumped += std::uint64_t(std::popcount(unsigned(bytes_[off_bitmap2_ + full_bytes]) & mask));
    }
    rank_base_.push_back(dumped);
    in.pages_present = present;
    in.pages_dumped = dumped;
    in.offset_desc = off_bitmap2_ + bitmap_len_;
    std::uint64_t desc_bytes;
    if (mul_overflows(dumped, kdump::kPageDescSize, desc_bytes) || !range_fits(in.offset_desc, desc_bytes, bytes_.size()))
        fail(ErrorCode::Format, "'" + name_ + "' is truncated: the " + std::to_string(dumped) +
                                    " page descriptors at offset " + hex(in.offset_desc) + " end past the file's " +
                                    std::to_string(bytes_.size()) + " bytes");
    cache_.assign(kPage, 0);
}

bool KdumpFile::present(std::uint64_t pfn) const {
    return pfn < info_.max_mapnr && (bytes_[off_bitmap1_ + pfn / 8] >> (pfn % 8) & 1);
}
bool KdumpFile::dumped(std::uint64_t pfn) const {
    return pfn < info_.max_mapnr && (bytes_[off_bitmap2_ + pfn / 8] >> (pfn % 8) & 1);
}

std::uint64_t KdumpFile::rank(std::uint64_t pfn) const {
    const std::uint64_t byte = pfn / 8;
    const std::uint64_t piece = byte / kRankPiece;
    std::uint64_t n = rank_base_[piece];
    n += popcount_bytes(bytes_.data() + off_bitmap2_ + piece * kRankPiece, byte - piece * kRankPiece);
    n += std::uint64_t(std::popcount(unsigned(bytes_[off_bitmap2_ + byte]) & ((1u << (pfn % 8)) - 1)));
    return n;
}

std::optional<KdumpFile::Desc> KdumpFile::desc(std::uint64_t pfn) const {
    if (!dumped(pfn)) return std::nullopt;
    const std::uint64_t at = info_.offset_desc + rank(pfn) * kdump::kPageDescSize;  // checked in parse()
    const std::uint8_t* d = bytes_.data() + at;
    Desc out{load_be64(d), load_be32(d + 8), load_be32(d + 12)};
    auto bad = [&](const std::string& what) {
        fail(ErrorCode::Format, "'" + name_ + "': the descriptor of page " + hex(pfn * kPage) + " at offset " +
                                    hex(at) + " " + what);
    };
    if (out.size == 0 || out.size > kPage) bad("has size " + std::to_string(out.size) + " (1..4096 expected)");
    if (!range_fits(out.offset, out.size, bytes_.size()))
        bad("points past the end of the file (offset " + hex(out.offset) + ", size " + std::to_string(out.size) + ")");
    const std::uint32_t known = kdump::kFlagZlib | kdump::kFlagLzo | kdump::kFlagSnappy | kdump::kFlagZstd;
    if ((out.flags & ~known) || std::popcount(out.flags) > 1) bad("has unknown flags " + hex(out.flags));
    if (out.flags == 0 && out.size != kPage) bad("stores a raw page of " + std::to_string(out.size) + " bytes");
    return out;
}

bool KdumpFile::read_page(std::uint64_t pfn, std::uint8_t* out) const {
    const std::optional<Desc> d = desc(pfn);
    if (!d) return false;
    const std::uint8_t* in = bytes_.data() + d->offset;
    bool ok = false;
    switch (d->flags) {
    case 0:
        std::memcpy(out, in, kPage);
        ok = true;
        break;
    case kdump::kFlagZlib: {
        uLongf len = kPage;
        ok = uncompress(out, &len, in, d->size) == Z_OK && len == kPage;
        break;
    }
    case kdump::kFlagLzo: {
        static std::once_flag once;
        std::call_once(once, [] { lzo_init(); });
        lzo_uint len = kPage;
        ok = lzo1x_decompress_safe(in, d->size, out, &len, nullptr) == LZO_E_OK && len == kPage;
        break;
    }
    case kdump::kFlagSnappy: {
        std::size_t len = 0;
        ok = snappy_uncompressed_length(reinterpret_cast<const char*>(in), d->size, &len) == SNAPPY_OK && len == kPage;
        len = kPage;
        ok = ok && snappy_uncompress(reinterpret_cast<const char*>(in), d->size, reinterpret_cast<char*>(out), &len) ==
                       SNAPPY_OK && len == kPage;
        break;
    }
    case kdump::kFlagZstd: {
        const std::size_t r = ZSTD_decompress(out, kPage, in, d->size);
        ok = !ZSTD_isError(r) && r == kPage;
        break;
    }
    }
    if (!ok)
        fail(ErrorCode::Format, "'" + name_ + "': page " + hex(pfn * kPage) + " (data at offset " + hex(d->offset) +
                                    ", " + std::to_string(d->size) + " bytes) does not decompress to 4096 bytes");
    return true;
}

void KdumpFile::scan_pages(bool decompress) {
    std::vector<std::uint8_t> buf(kPage);
    std::uint64_t compressed = 0, bytes = 0;
    // makedumpfile's shared zero page is the first data: the lowest offset, raw,
    // pointed at by more than one descriptor.
    std::uint64_t low = ~std::uint64_t(0), at_low = 0;
    for (std::uint64_t pfn = 0; pfn < info_.max_mapnr; ++pfn) {
        if (!dumped(pfn)) continue;
        const std::optional<Desc> d = desc(pfn);
        if (d->flags) ++compressed;
        bytes += d->size;
        if (d->offset < low) {
            low = d->offset;
            at_low = 0;
        }
        if (d->offset == low && d->flags == 0) ++at_low;
        if (decompress) read_page(pfn, buf.data());
    }
    if (at_low > 1) {
        std::uint8_t first[kPage];
        read_page_at(low, first);
        if (is_all_zero(first, kPage)) {
            info_.pages_shared_zero = at_low;
            bytes -= (at_low - 1) * kPage;
        }
    }
    info_.pages_compressed = compressed;
    info_.data_bytes = bytes;
}

void KdumpFile::read_page_at(std::uint64_t offset, std::uint8_t* out) const {
    if (!range_fits(offset, kPage, bytes_.size())) fail(ErrorCode::Format, "'" + name_ + "': page data at " + hex(offset) + " is past the end");
    std::memcpy(out, bytes_.data() + offset, kPage);
}

bool KdumpFile::contains(std::uint64_t paddr, std::uint64_t size) const {
    const bool zero_only = (info_.dump_level & ~1) == 0;
    std::uint64_t last;
    if (size == 0) size = 1;
    if (add_overflows(paddr, size - 1, last)) return false;
    for (std::uint64_t pfn = paddr / kPage; pfn <= last / kPage; ++pfn)
        if (!dumped(pfn) && !(zero_only && present(pfn))) return false;
    return true;
}

void KdumpFile::read(std::uint64_t paddr, std::span<std::uint8_t> out) const {
    const bool zero_only = (info_.dump_level & ~1) == 0;
    std::uint64_t done = 0;
    while (done < out.size()) {
        const std::uint64_t a = paddr + done;
        const std::uint64_t pfn = a / kPage;
        if (a < paddr) fail(ErrorCode::Format, "guest address range wraps around");
        if (pfn != cached_pfn_) {
            if (!read_page(pfn, cache_.data())) {
                if (!(zero_only && present(pfn)))
                    fail(ErrorCode::Format, "guest address " + hex(a) +
                                                (present(pfn) ? " is excluded from the kdump file (dump level " +
                                                                    std::to_string(info_.dump_level) + ")"
                                                              : " is not in the dump"));
                std::fill(cache_.begin(), cache_.end(), 0);
            }
            cached_pfn_ = pfn;
        }
        const std::uint64_t off = a % kPage;
        const std::uint64_t n = std::min<std::uint64_t>(out.size() - done, kPage - off);
        std::memcpy(out.data() + done, cache_.data() + off, n);
        done += n;
    }
}

}  // namespace pvdump::format
