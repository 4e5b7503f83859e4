#include "format/kdump_writer.hpp"

#include <lzo/lzo1x.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "format/error.hpp"

namespace pvdump::format {
namespace {
constexpr std::uint64_t kPage = kdump::kBlockSize;
std::uint64_t align_up(std::uint64_t v, std::uint64_t a) { return (v + a - 1) / a * a; }
}  // namespace

KdumpCompression parse_kdump_compression(std::string_view name) {
    if (name == "zstd") return KdumpCompression::Zstd;
    if (name == "lzo") return KdumpCompression::Lzo;
    if (name == "snappy") return KdumpCompression::Snappy;
    if (name == "zlib") return KdumpCompression::Zlib;
    if (name == "none") return KdumpCompression::None;
    fail(ErrorCode::InvalidArgument, "unknown compression '" + std::string(name) + "' (zstd, lzo, snappy, zlib or none)");
}

const char* kdump_compression_name(KdumpCompression c) {
    switch (c) {
    case KdumpCompression::None: return "none";
    case KdumpCompression::Zlib: return "zlib";
    case KdumpCompression::Lzo: return "lzo";
    case KdumpCompression::Snappy: return "snappy";
    case KdumpCompression::Zstd: return "zstd";
    }
    return "?";
}

std::uint32_t kdump::flag_for(KdumpCompression c) {
    switch (c) {
    case KdumpCompression::None: return 0;
    case KdumpCompression::Zlib: return kFlagZlib;
    case KdumpCompression::Lzo: return kFlagLzo;
    case KdumpCompression::Snappy: return kFlagSnappy;
    case KdumpCompression::Zstd: return kFlagZstd;
    }
    return 0;
}

// ---- worker side --------------------------------------------------------------------
struct KdumpPageCompressor::State {
    KdumpCompression c;
    std::vector<std::uint8_t> out;
    std::vector<std::uint8_t> lzo_work;
    ZSTD_CCtx* zstd = nullptr;
    ~State() { ZSTD_freeCCtx(zstd); }
};

KdumpPageCompressor::KdumpPageCompressor(KdumpCompression c) : state_(std::make_unique<State>()) {
    state_->c = c;
    std::size_t cap = kPage;
    switch (c) {
    case KdumpCompression::None: break;
    case KdumpCompression::Zlib: cap = compressBound(kPage); break;
    case KdumpCompression::Lzo: {
        static std::once_flag once;
        static int lzo_status = LZO_E_OK;
        std::call_once(once, [] { lzo_status = lzo_init(); });
        if (lzo_status != LZO_E_OK) fail(ErrorCode::Internal, "lzo_init failed");
        cap = kPage + kPage / 16 + 64 + 3;
        state_->lzo_work.resize(LZO1X_1_MEM_COMPRESS);
        break;
    }
    case KdumpCompression::Snappy: cap = snappy_max_compressed_length(kPage); break;
    case KdumpCompression::Zstd:
        cap = ZSTD_compressBound(kPage);
        state_->zstd = ZSTD_createCCtx();
        if (!state_->zstd) fail(ErrorCode::Internal, "ZSTD_createCCtx failed");
        break;
    }
    state_->out.resize(cap);
}

KdumpPageCompressor::~KdumpPageCompressor() = default;

KdumpPageCompressor::Stored KdumpPageCompressor::compress(const std::uint8_t* page) {
    State& s = *state_;
    std::size_t n = 0;
    bool ok = false;
    switch (s.c) {
    case KdumpCompression::None: break;
    case KdumpCompression::Zlib: {
        uLongf len = uLongf(s.out.size());
        ok = compress2(s.out.data(), &len, page, kPage, Z_BEST_SPEED) == Z_OK;
        n = len;
        break;
    }
    case KdumpCompression::Lzo: {
        lzo_uint len = 0;
        ok = lzo1x_1_compress(page, kPage, s.out.data(), &len, s.lzo_work.data()) == LZO_E_OK;
        n = len;
        break;
    }
    case KdumpCompression::Snappy: {
        std::size_t len = s.out.size();
        ok = snappy_compress(reinterpret_cast<const char*>(page), kPage, reinterpret_cast<char*>(s.out.data()),
                             &len) == SNAPPY_OK;
        n = len;
        break;
    }
    case KdumpCompression::Zstd: {
        const std::size_t r = ZSTD_compressCCtx(s.zstd, s.out.data(), s.out.size(), page, kPage, 1);
        ok = !ZSTD_isError(r);
        n = r;
        break;
    }
    }
    // As makedumpfile: a page that does not shrink is stored as it is.
    if (ok && n < kPage) return {Bytes(s.out.data(), n), kdump::flag_for(s.c)};
    return {Bytes(page, kPage), 0};
}

void kdump_encode_page(KdumpPageCompressor& compressor, unsigned dump_level, std::uint64_t paddr,
                       const std::uint8_t* page, bool is_zero, bool excluded, KdumpBatch& batch) {
    if (excluded) {
        batch.pages.push_back({paddr, 0, 0, KdumpBatch::Fate::Excluded});
        return;
    }
    if (is_zero && (dump_level & 1)) {
        batch.pages.push_back({paddr, 0, 0, KdumpBatch::Fate::Zero});
        return;
    }
    const KdumpPageCompressor::Stored st = compressor.compress(page);
    batch.pages.push_back({paddr, std::uint32_t(st.data.size()), st.flags, KdumpBatch::Fate::Stored});
    batch.data.insert(batch.data.end(), st.data.begin(), st.data.end());
}

// ---- writer side --------------------------------------------------------------------
struct KdumpWriter::Impl {
    OutputFile& out;
    KdumpHeaderInfo info;
    bool flat;
    KdumpStats& stats;

    std::uint64_t max_mapnr = 0;
    std::uint64_t bitmap_bytes = 0;  // one bitmap, block-aligned
    std::uint64_t off_bitmap = 0, off_desc = 0, off_data = 0;
    std::uint32_t sub_hdr_blocks = 0;
    std::vector<std::uint8_t> header;

    // Where the next page must be.
    std::size_t range = 0;
    std::uint64_t range_page = 0;

    // 2nd bitmap: the block being filled.
    std::vector<std::uint8_t> bitmap_block = std::vector<std::uint8_t>(kPage, 0);
    std::uint64_t bitmap_block_index = 0;
    bool bitmap_block_dirty = false;

    // Descriptors and data, coalesced into large writes.
    std::vector<std::uint8_t> desc_buf;
    std::uint64_t desc_buf_at = 0;
    std::vector<std::uint8_t> data_buf;
    std::uint64_t data_buf_at = 0;
    std::uint64_t data_end = 0;  // where the next page's data goes

    // Single-threaded add_page.
    std::unique_ptr<KdumpPageCompressor> compressor;
    KdumpBatch one;

    Impl(OutputFile& o, const KdumpHeaderInfo& i, bool f, KdumpStats& s) : out(o), info(i), flat(f), stats(s) {}

    // A positional write: pwrite for a file, one (offset, size) record for -F.
    void place(Bytes data, std::uint64_t offset) {
        if (data.empty()) return;
        if (!flat) {
            out.pwrite_all(data, offset);
            return;
        }
        std::uint8_t rec[16];
        store_be64(rec, offset);
        store_be64(rec + 8, data.size());
        out.write_all(Bytes(rec, 16));
        out.write_all(data);
    }

    std::vector<std::uint8_t> make_header(bool complete) const {
        std::vector<std::uint8_t> h(kPage, 0);
        std::memcpy(h.data(), kdump::kSignature, 8);
        store_be32(h.data() + 8, kdump::kHeaderVersion);
        const std::string* uts[6] = {&info.sysname, &info.nodename, &info.release,
                                     &info.version, &info.machine,  &info.domainname};
        for (int k = 0; k < 6; ++k)
            std::memcpy(h.data() + kdump::kOffUtsname + k * kdump::kUtsField, uts[k]->data(),
                        std::min<std::size_t>(uts[k]->size(), kdump::kUtsField - 1));
        store_be64(h.data() + kdump::kOffTimestamp, std::uint64_t(info.timestamp));
        std::uint32_t status = kdump::flag_for(info.compression);
        if (!complete) status |= kdump::kFlagIncomplete;
        store_be32(h.data() + kdump::kOffStatus, status);
        store_be32(h.data() + kdump::kOffBlockSize, kdump::kBlockSize);
        store_be32(h.data() + kdump::kOffSubHdrSize, sub_hdr_blocks);
        store_be32(h.data() + kdump::kOffBitmapBlocks, std::uint32_t(2 * bitmap_bytes / kPage));
        store_be32(h.data() + kdump::kOffMaxMapnr, std::uint32_t(std::min<std::uint64_t>(max_mapnr, 0xffffffffu)));
        store_be32(h.data() + kdump::kOffNrCpus, std::uint32_t(info.cpus.size()));
        return h;
    }

    // max_mapnr and the bitmap size from the ranges, which must be ascending
    // and page-aligned.
    void size_bitmaps() {
        std::uint64_t prev_end = 0;
        for (const MemoryRange& r : info.ranges) {
            if (r.paddr % kPage || r.size % kPage || r.paddr < prev_end)
                fail(ErrorCode::Internal, "kdump writer: memory ranges are not ascending and page-aligned");
            prev_end = r.paddr + r.size;
            stats.pages_total += r.size / kPage;
        }
        max_mapnr = prev_end / kPage;
        bitmap_bytes = align_up(std::max<std::uint64_t>(1, (max_mapnr + 7) / 8), kPage);
    }

    // Notes exactly as the ELF vmcore's PT_NOTE; vmcoreinfo_desc_at is where
    // VMCOREINFO's desc is in them.
    std::vector<std::uint8_t> make_notes(std::uint64_t& vmcoreinfo_desc_at) const {
        std::vector<NoteBlob> notes;
        notes.push_back({"CORE", NT_PRPSINFO_, prpsinfo_desc()});
        for (std::size_t i = 0; i < info.cpus.size(); ++i) {
            auto cpu_notes = vmcore_cpu_notes(info.cpus[i], std::uint32_t(i + 1));
            notes.insert(notes.end(), cpu_notes.begin(), cpu_notes.end());
        }
        vmcoreinfo_desc_at = encode_notes(notes).size() + 12 + align_up(sizeof("VMCOREINFO"), 4);
        if (info.vmcoreinfo)
            notes.push_back({"VMCOREINFO", 0, std::vector<std::uint8_t>(info.vmcoreinfo->begin(), info.vmcoreinfo->end())});
        return encode_notes(notes);
    }

    // Where the bitmaps, descriptors and page data go, after a sub header
    // holding `note_size` bytes of notes.
    void lay_out(std::uint64_t note_size) {
        sub_hdr_blocks = std::uint32_t(align_up(kdump::kSubHeaderSize + note_size, kPage) / kPage);
        off_bitmap = (1 + std::uint64_t(sub_hdr_blocks)) * kPage;
        off_desc = off_bitmap + 2 * bitmap_bytes;
        off_data = align_up(off_desc + stats.pages_total * kdump::kPageDescSize, kPage);
        data_end = off_data;
        desc_buf_at = off_desc;
        data_buf_at = off_data;
        if (info.dump_level & 1) {
            // The one zero page every excluded zero page's descriptor points at.
            data_buf.assign(kPage, 0);
            data_end += kPage;
        }
    }

    std::vector<std::uint8_t> make_sub_header(const std::vector<std::uint8_t>& note_bytes,
                                              std::uint64_t vmcoreinfo_desc_at) const {
        std::vector<std::uint8_t> sub(sub_hdr_blocks * kPage, 0);
        const std::uint64_t off_note = kPage + kdump::kSubHeaderSize;
        store_be64(sub.data() + kdump::kSubPhysBase, info.phys_base);
        store_be32(sub.data() + kdump::kSubDumpLevel, info.dump_level);
        if (info.vmcoreinfo) {
            store_be64(sub.data() + kdump::kSubOffVmcoreinfo, off_note + vmcoreinfo_desc_at);
            store_be64(sub.data() + kdump::kSubSizeVmcoreinfo, info.vmcoreinfo->size());
        }
        store_be64(sub.data() + kdump::kSubOffNote, off_note);
        store_be64(sub.data() + kdump::kSubSizeNote, note_bytes.size());
        store_be64(sub.data() + kdump::kSubMaxMapnr64, max_mapnr);
        std::memcpy(sub.data() + kdump::kSubHeaderSize, note_bytes.data(), note_bytes.size());
        return sub;
    }

    // -F: makedumpfile's flattened-format header, before every record.
    void write_flat_header() {
        std::vector<std::uint8_t> fh(kdump::kFlatHeaderSize, 0);
        std::memcpy(fh.data(), kdump::kFlatSignature, sizeof(kdump::kFlatSignature) - 1);
        store_be64(fh.data() + 16, 1);  // TYPE_FLAT_HEADER
        store_be64(fh.data() + 24, 1);  // VERSION_FLAT_HEADER
        out.write_all(fh);
    }

    // 1st bitmap: every page of the ranges exists. Only blocks with bits are written.
    void write_first_bitmap() {
        std::vector<std::uint8_t> block(kPage);
        const std::uint64_t pfns_per_block = kPage * 8;
        std::size_t ri = 0;
        for (std::uint64_t b = 0; b < bitmap_bytes / kPage; ++b) {
            std::fill(block.begin(), block.end(), 0);
            bool any = false;
            const std::uint64_t lo = b * pfns_per_block, hi = lo + pfns_per_block;
            while (ri < info.ranges.size() && (info.ranges[ri].paddr + info.ranges[ri].size) / kPage <= lo) ++ri;
            for (std::size_t k = ri; k < info.ranges.size() && info.ranges[k].paddr / kPage < hi; ++k) {
                const std::uint64_t s = std::max(lo, info.ranges[k].paddr / kPage);
                const std::uint64_t e = std::min(hi, (info.ranges[k].paddr + info.ranges[k].size) / kPage);
                for (std::uint64_t pfn = s; pfn < e; ++pfn) block[(pfn - lo) / 8] |= std::uint8_t(1u << (pfn % 8));
                any = any || e > s;
            }
            if (any) place(block, off_bitmap + b * kPage);
        }
    }

    void start() {
        if (out.is_stream() && !flat)
            fail(ErrorCode::InvalidArgument,
                 "a kdump-compressed file cannot be written to a stream (it is written out of order): "
                 "use -F (makedumpfile's flattened format; 'makedumpfile -R' restores the file) or a file");
        size_bitmaps();
        std::uint64_t vmcoreinfo_desc_at = 0;
        const std::vector<std::uint8_t> note_bytes = make_notes(vmcoreinfo_desc_at);
        lay_out(note_bytes.size());
        const std::vector<std::uint8_t> sub = make_sub_header(note_bytes, vmcoreinfo_desc_at);
        if (flat) write_flat_header();
        place(make_header(false), 0);
        place(sub, kPage);
        write_first_bitmap();
    }

    void flush_bitmap_block() {
        if (bitmap_block_dirty) place(bitmap_block, off_bitmap + bitmap_bytes + bitmap_block_index * kPage);
        std::fill(bitmap_block.begin(), bitmap_block.end(), 0);
        bitmap_block_dirty = false;
    }
    void flush_descs() {
        place(desc_buf, desc_buf_at);
        desc_buf_at += desc_buf.size();
        desc_buf.clear();
    }
    void flush_data() {
        place(data_buf, data_buf_at);
        data_buf_at += data_buf.size();
        data_buf.clear();
    }

    void take(std::uint64_t paddr, Bytes stored, std::uint32_t flags, KdumpBatch::Fate fate) {
        if (range >= info.ranges.size() || paddr != info.ranges[range].paddr + range_page * kPage)
            fail(ErrorCode::Internal, "kdump writer: page " + hex(paddr) + " is out of order");
        if (++range_page == info.ranges[range].size / kPage) {
            ++range;
            range_page = 0;
        }
        if (fate == KdumpBatch::Fate::Excluded) {
            ++stats.pages_excluded;
            return;
        }
        if (fate == KdumpBatch::Fate::Stored && (stored.empty() || stored.size() > kPage))
            fail(ErrorCode::Internal, "kdump writer: page " + hex(paddr) + " has " + std::to_string(stored.size()) +
                                          " bytes of data");
        const std::uint64_t pfn = paddr / kPage;
        const std::uint64_t blk = pfn / (kPage * 8);
        if (blk != bitmap_block_index) {
            flush_bitmap_block();
            bitmap_block_index = blk;
        }
        bitmap_block[(pfn % (kPage * 8)) / 8] |= std::uint8_t(1u << (pfn % 8));
        bitmap_block_dirty = true;

        std::uint8_t d[kdump::kPageDescSize] = {};
        if (fate == KdumpBatch::Fate::Zero) {
            store_be64(d, off_data);
            store_be32(d + 8, std::uint32_t(kPage));
            desc_buf.insert(desc_buf.end(), d, d + sizeof d);
            if (desc_buf.size() >= 64 * 1024) flush_descs();
            ++stats.pages_zero;
            return;
        }
        store_be64(d, data_end);
        store_be32(d + 8, std::uint32_t(stored.size()));
        store_be32(d + 12, flags);
        desc_buf.insert(desc_buf.end(), d, d + sizeof d);
        if (desc_buf.size() >= 64 * 1024) flush_descs();
        data_buf.insert(data_buf.end(), stored.begin(), stored.end());
        data_end += stored.size();
        if (data_buf.size() >= 1024 * 1024) flush_data();
        ++stats.pages_kept;
        if (flags) ++stats.pages_compressed;
        stats.data_bytes += stored.size();
    }
};

KdumpWriter::KdumpWriter(OutputFile& out, const KdumpHeaderInfo& info, bool flattened)
    : impl_(std::make_unique<Impl>(out, info, flattened, stats_)) {
    impl_->start();
}

KdumpWriter::~KdumpWriter() = default;

void KdumpWriter::append(const KdumpBatch& batch) {
    std::uint64_t at = 0;
    for (const KdumpBatch::Page& p : batch.pages) {
        if (p.size > batch.data.size() - at) fail(ErrorCode::Internal, "kdump writer: batch data is short");
        impl_->take(p.paddr, Bytes(batch.data.data() + at, p.size), p.flags, p.fate);
        at += p.size;
    }
}

void KdumpWriter::add_page(std::uint64_t paddr, const std::uint8_t* page, bool is_zero, bool excluded) {
    Impl& m = *impl_;
    if (!m.compressor) m.compressor = std::make_unique<KdumpPageCompressor>(m.info.compression);
    m.one.clear();
    kdump_encode_page(*m.compressor, m.info.dump_level, paddr, page, is_zero, excluded, m.one);
    append(m.one);
}

void KdumpWriter::finish() {
    Impl& m = *impl_;
    if (m.range != m.info.ranges.size())
        fail(ErrorCode::Internal, "kdump writer: finished before page " +
                                      hex(m.info.ranges[m.range].paddr + m.range_page * kPage));
    m.flush_bitmap_block();
    m.flush_descs();
    m.flush_data();
    m.place(m.make_header(true), 0);
    if (m.flat) {
        std::uint8_t end[16];
        store_be64(end, ~std::uint64_t(0));  // END_FLAG_FLAT_HEADER (-1)
        store_be64(end + 8, ~std::uint64_t(0));
        m.out.write_all(Bytes(end, 16));
    } else {
        m.out.set_size(std::max(m.data_end, m.off_data));
    }
}

}  // namespace pvdump::format
