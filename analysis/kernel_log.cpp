// The guest kernel log from VMCOREINFO alone. See kernel_log.hpp for what is
// handled; the layouts below are the ones the kernel publishes in VMCOREINFO
// (kernel/printk/printk.c log_buf_vmcoreinfo_setup), read with the offsets it
// publishes, never with compiled-in struct layouts, except where the kernel
// publishes nothing (the facility/flags/level bytes, documented below).
#include "analysis/kernel_log.hpp"

#include <algorithm>
#include <charconv>
#include <cinttypes>
#include <cstdio>

#include "format/bytes.hpp"
#include "format/error.hpp"

namespace pvdump::analysis {
namespace {

using format::MemoryView;

std::string hx(std::uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
    return buf;
}

[[noreturn]] void bad(const std::string& msg) { fail(ErrorCode::Format, "kernel log: " + msg); }

// ---- sanity limits (guest memory is untrusted) -------------------------------
constexpr unsigned kMaxDescCountBits = 24;    // 16 Mi records; the kernel's largest log has far fewer
constexpr unsigned kMinDataSizeBits = 4;      // one block needs the 8-byte id
constexpr unsigned kMaxDataSizeBits = 31;     // log_buf_len is an int in the kernel
constexpr std::uint64_t kMaxStructSize = 4096;
constexpr std::uint64_t kMaxTotalText = 256u << 20;  // bytes of text returned, all records
constexpr std::uint64_t kMaxLogBufLen = 1ull << 31;

// prb_desc.state_var: the top two bits are the state, the rest the id.
constexpr unsigned kDescFlagsShift = 62;
constexpr std::uint64_t kDescIdMask = (std::uint64_t{1} << kDescFlagsShift) - 1;
enum DescState : unsigned { Reserved = 0, Committed = 1, Finalized = 2, Reusable = 3 };
// Data-less block markers (lpos values with bit 0 set).
constexpr std::uint64_t kNoLpos = 0x3;

// A read-through cache of 64 KiB chunks, so that walking thousands of
// descriptors costs a few MemoryView reads (each may decrypt pages) while the
// memory used stays bounded whatever the ringbuffer claims about its size.
class CachedMemory {
public:
    explicit CachedMemory(const MemoryView& mem) : mem_(mem) {}

    void read(std::uint64_t paddr, std::span<std::uint8_t> out, std::string_view what) {
        if (out.empty()) return;
        std::uint64_t end;
        if (format::add_overflows(paddr, out.size(), end) || !mem_.contains(paddr, out.size()))
            bad(std::string(what) + " [" + hx(paddr) + ", +" + hx(out.size()) + "] is not in the dump");
        std::size_t done = 0;
        while (done < out.size()) {
            const std::uint64_t at = paddr + done;
            const std::uint64_t chunk = at / kChunk;
            const std::uint64_t in_chunk = at % kChunk;
            const std::size_t n = std::size_t(std::min<std::uint64_t>(out.size() - done, kChunk - in_chunk));
            if (const auto* c = chunk_at(chunk))
                std::copy_n(c->data() + in_chunk, n, out.data() + done);
            else
                mem_.read(at, out.subspan(done, n));  // chunk only partly in the dump
            done += n;
        }
    }
    bool contains(std::uint64_t paddr, std::uint64_t size) const { return mem_.contains(paddr, size); }
    std::uint64_t be64(std::uint64_t paddr, std::string_view what) {
        std::uint8_t b[8];
        read(paddr, b, what);
        return format::load_be64(b);
    }
    std::uint32_t be32(std::uint64_t paddr, std::string_view what) {
        std::uint8_t b[4];
        read(paddr, b, what);
        return format::load_be32(b);
    }
    std::uint16_t be16(std::uint64_t paddr, std::string_view what) {
        std::uint8_t b[2];
        read(paddr, b, what);
        return format::load_be16(b);
    }
    std::uint8_t u8(std::uint64_t paddr, std::string_view what) {
        std::uint8_t b[1];
        read(paddr, b, what);
        return b[0];
    }
    std::string text(std::uint64_t paddr, std::uint64_t size, std::string_view what) {
        std::string s(size, '\0');
        read(paddr, {reinterpret_cast<std::uint8_t*>(s.data()), s.size()}, what);
        return s;
    }

private:
    static constexpr std::uint64_t kChunk = 64 * 1024;
    static constexpr std::size_t kMaxChunks = 256;  // 16 MiB at most

    const std::vector<std::uint8_t>* chunk_at(std::uint64_t chunk) {
        if (auto it = chunks_.find(chunk); it != chunks_.end()) return &it->second;
        if (!mem_.contains(chunk * kChunk, kChunk)) return nullptr;
        if (chunks_.size() >= kMaxChunks) chunks_.clear();  // simple and bounded
        std::vector<std::uint8_t> bytes(kChunk);
        try {
            mem_.read(chunk * kChunk, bytes);
        } catch (const Error&) {
            // Another page of the chunk cannot be read (e.g. an invalid page
            // in a sealed dump): read only what was asked for, uncached. Not
            // swallowed: if the fault lies in the asked range, that read
            // raises it with its own category.
            return nullptr;
        }
        return &chunks_.emplace(chunk, std::move(bytes)).first->second;
    }

    const MemoryView& mem_;
    std::map<std::uint64_t, std::vector<std::uint8_t>> chunks_;
};

// addr + index * stride, overflow-checked.
std::uint64_t element(std::uint64_t base, std::uint64_t index, std::uint64_t stride, std::string_view what) {
    std::uint64_t off, at;
    if (format::mul_overflows(index, stride, off) || format::add_overflows(base, off, at))
        bad(std::string(what) + " address overflows");
    return at;
}

// A struct layout from VMCOREINFO: its size and member offsets, each checked
// to leave room for the member inside the struct.
class Layout {
public:
    Layout(const VmcoreInfo& info, std::string type, std::optional<std::uint64_t> fallback_size = std::nullopt)
        : info_(info), type_(std::move(type)) {
        if (auto s = info.size(type_)) {
            if (*s <= 0 || std::uint64_t(*s) > kMaxStructSize)
                bad("SIZE(" + type_ + ")=" + std::to_string(*s) + " is out of range");
            size_ = std::uint64_t(*s);
        } else if (fallback_size) {
            size_ = *fallback_size;
        } else {
            bad("VMCOREINFO lacks SIZE(" + type_ + ")");
        }
    }
    std::uint64_t size() const { return size_; }
    std::uint64_t member(std::string_view name, std::uint64_t width) const {
        auto off = optional_member(name, width);
        if (!off) bad("VMCOREINFO lacks OFFSET(" + type_ + "." + std::string(name) + ")");
        return *off;
    }
    std::optional<std::uint64_t> optional_member(std::string_view name, std::uint64_t width) const {
        const std::string key = type_ + "." + std::string(name);
        auto off = info_.offset(key);
        if (!off) return std::nullopt;
        if (*off < 0 || std::uint64_t(*off) > size_ || width > size_ - std::uint64_t(*off))
            bad("OFFSET(" + key + ")=" + std::to_string(*off) + " does not fit in SIZE(" + type_ +
                ")=" + std::to_string(size_));
        return std::uint64_t(*off);
    }

private:
    const VmcoreInfo& info_;
    std::string type_;
    std::uint64_t size_ = 0;
};

// The kernel keeps, right after the u16 text_len of printk_info (and after the
// u16 dict_len of the older printk_log), "u8 facility; u8 flags:5, level:3".
// VMCOREINFO does not publish these, so they are read relative to the
// published field. s390x is big-endian: GCC allocates bit-fields from the most
// significant bit there, so flags is the top five bits and level the low three
// (crash's ">> 5" is the little-endian layout).
void decode_level_byte(std::uint8_t b, LogRecord& r) {
    r.flags = std::uint8_t(b >> 3);
    r.level = std::uint8_t(b & 7);
}

std::string cut_at_nul(std::string s) {
    if (auto z = s.find('\0'); z != std::string::npos) s.resize(z);
    return s;
}

void add_text(std::uint64_t& total, std::uint64_t n) {
    total += n;
    if (total > kMaxTotalText) bad("more than " + std::to_string(kMaxTotalText >> 20) + " MiB of text: refusing");
}

// ---- Linux >= 5.10: the lockless printk ringbuffer ---------------------------

// The VMCOREINFO offsets the ringbuffer walk reads with, checked once.
struct PrbLayout {
    std::uint64_t rb_size = 0, desc_size = 0, pinfo_size = 0;
    std::uint64_t counter = 0;  // OFFSET(atomic_long_t.counter)
    std::uint64_t off_desc_ring = 0, off_text_ring = 0;
    std::uint64_t off_count_bits = 0, off_descs = 0, off_infos = 0, off_head_id = 0, off_tail_id = 0;
    std::uint64_t off_size_bits = 0, off_data = 0;
    std::uint64_t off_state = 0, off_lpos = 0, off_begin = 0, off_next = 0;
    std::uint64_t off_seq = 0, off_ts = 0, off_text_len = 0;
    std::optional<std::uint64_t> off_caller;
    bool has_level = false;
    // dev_printk_info: two NUL-terminated strings, read only when published.
    std::optional<std::uint64_t> off_subsys, off_device;
    std::uint64_t len_subsys = 0, len_device = 0;
};

// printk_info.dev_info's subsystem and device strings, where they fit in
// printk_info.
void dev_info_layout(const VmcoreInfo& info, PrbLayout& l) {
    auto dev = info.offset("printk_info.dev_info");
    if (!dev) return;
    l.len_subsys = std::uint64_t(std::clamp<std::int64_t>(info.length("printk_info_subsystem").value_or(16), 0, 64));
    l.len_device = std::uint64_t(std::clamp<std::int64_t>(info.length("printk_info_device").value_or(48), 0, 64));
    auto sub = info.offset("dev_printk_info.subsystem"), devn = info.offset("dev_printk_info.device");
    auto fits = [&](std::optional<std::int64_t> o, std::uint64_t len) -> std::optional<std::uint64_t> {
        if (!o || *o < 0 || *dev < 0) return std::nullopt;
        const std::uint64_t at = std::uint64_t(*dev) + std::uint64_t(*o);
        if (at > l.pinfo_size || len > l.pinfo_size - at) return std::nullopt;
        return at;
    };
    l.off_subsys = fits(sub, l.len_subsys);
    l.off_device = fits(devn, l.len_device);
}

PrbLayout prb_layout(const VmcoreInfo& info) {
    const Layout rb(info, "printk_ringbuffer", 88);
    const Layout desc_ring(info, "prb_desc_ring", 48);
    const Layout data_ring(info, "prb_data_ring", 32);
    const Layout desc(info, "prb_desc");
    const Layout lpos(info, "prb_data_blk_lpos", 16);
    const Layout pinfo(info, "printk_info");
    PrbLayout l;
    l.rb_size = rb.size();
    l.desc_size = desc.size();
    l.pinfo_size = pinfo.size();
    l.counter = info.offset("atomic_long_t.counter").value_or(0);
    if (l.counter != 0) bad("OFFSET(atomic_long_t.counter) is not 0");  // it is the only member

    l.off_desc_ring = rb.member("desc_ring", desc_ring.size());
    l.off_text_ring = rb.member("text_data_ring", data_ring.size());
    l.off_count_bits = desc_ring.member("count_bits", 4);
    l.off_descs = desc_ring.member("descs", 8);
    l.off_infos = desc_ring.member("infos", 8);
    l.off_head_id = desc_ring.member("head_id", 8);
    l.off_tail_id = desc_ring.member("tail_id", 8);
    l.off_size_bits = data_ring.member("size_bits", 4);
    l.off_data = data_ring.member("data", 8);
    l.off_state = desc.member("state_var", 8);
    l.off_lpos = desc.member("text_blk_lpos", lpos.size());
    l.off_begin = lpos.member("begin", 8);
    l.off_next = lpos.member("next", 8);
    l.off_seq = pinfo.member("seq", 8);
    l.off_ts = pinfo.member("ts_nsec", 8);
    l.off_text_len = pinfo.member("text_len", 2);
    l.off_caller = pinfo.optional_member("caller_id", 4);
    // facility and flags/level follow text_len (see decode_level_byte).
    l.has_level = l.off_text_len + 4 <= pinfo.size();
    dev_info_layout(info, l);
    return l;
}

// The ring in guest memory: where its arrays are, how large, and which
// descriptors are between tail and head.
struct PrbRing {
    std::uint32_t size_bits = 0;
    std::uint64_t count = 0, data_size = 0;
    std::uint64_t descs = 0, infos = 0, data = 0;
    std::uint64_t tail_id = 0, span = 0;

    std::uint64_t wraps(std::uint64_t lp) const { return lp >> size_bits; }
    std::uint64_t index(std::uint64_t lp) const { return lp & (data_size - 1); }
};

// The whole arrays must be in the dump: a pointer into nowhere is garbage,
// better reported once than as thousands of unreadable records.
void require_array(CachedMemory& mem, std::uint64_t at, std::uint64_t n, std::uint64_t stride, const char* what) {
    std::uint64_t bytes;
    if (format::mul_overflows(n, stride, bytes) || !format::range_fits(at, bytes, ~std::uint64_t{0}))
        bad(std::string(what) + " size overflows");
    // Checked whole (holes between PT_LOADs count), read lazily.
    if (!mem.contains(at, bytes)) bad(std::string(what) + " [" + hx(at) + ", +" + hx(bytes) + "] is not in the dump");
}

PrbRing locate_prb(CachedMemory& mem, const VmcoreInfo& info, const KernelAddressMap& amap, const PrbLayout& l) {
    // struct printk_ringbuffer *prb: SYMBOL(prb) is the pointer variable.
    const std::uint64_t prb_var = amap.to_phys(info.require_symbol("prb"), "SYMBOL(prb)");
    const std::uint64_t rb_va = mem.be64(prb_var, "prb pointer");
    const std::uint64_t rb_pa = amap.to_phys(rb_va, "printk_ringbuffer (*prb)");
    if (!format::range_fits(rb_pa, l.rb_size, ~std::uint64_t{0})) bad("printk_ringbuffer address overflows");
    const std::uint64_t dr = rb_pa + l.off_desc_ring, tr = rb_pa + l.off_text_ring;

    PrbRing ring;
    const std::uint32_t count_bits = mem.be32(dr + l.off_count_bits, "prb_desc_ring.count_bits");
    if (count_bits < 1 || count_bits > kMaxDescCountBits)
        bad("prb_desc_ring.count_bits " + std::to_string(count_bits) + " at " + hx(dr + l.off_count_bits) +
            " is out of range (1.." + std::to_string(kMaxDescCountBits) + ")");
    ring.size_bits = mem.be32(tr + l.off_size_bits, "prb_data_ring.size_bits");
    if (ring.size_bits < kMinDataSizeBits || ring.size_bits > kMaxDataSizeBits)
        bad("prb_data_ring.size_bits " + std::to_string(ring.size_bits) + " at " + hx(tr + l.off_size_bits) +
            " is out of range (" + std::to_string(kMinDataSizeBits) + ".." + std::to_string(kMaxDataSizeBits) + ")");
    ring.count = std::uint64_t{1} << count_bits;
    ring.data_size = std::uint64_t{1} << ring.size_bits;

    ring.descs = amap.to_phys(mem.be64(dr + l.off_descs, "prb_desc_ring.descs"), "prb_desc_ring.descs");
    ring.infos = amap.to_phys(mem.be64(dr + l.off_infos, "prb_desc_ring.infos"), "prb_desc_ring.infos");
    ring.data = amap.to_phys(mem.be64(tr + l.off_data, "prb_data_ring.data"), "prb_data_ring.data");
    require_array(mem, ring.descs, ring.count, l.desc_size, "prb_desc_ring.descs array");
    require_array(mem, ring.infos, ring.count, l.pinfo_size, "prb_desc_ring.infos array");
    require_array(mem, ring.data, ring.data_size, 1, "prb_data_ring.data");

    const std::uint64_t head_id = mem.be64(dr + l.off_head_id + l.counter, "prb_desc_ring.head_id") & kDescIdMask;
    ring.tail_id = mem.be64(dr + l.off_tail_id + l.counter, "prb_desc_ring.tail_id") & kDescIdMask;
    ring.span = (head_id - ring.tail_id) & kDescIdMask;
    if (ring.span >= ring.count)
        bad("prb_desc_ring tail_id " + hx(ring.tail_id) + " and head_id " + hx(head_id) + " are " + hx(ring.span) +
            " apart, the ring has only " + hx(ring.count) + " descriptors");
    return ring;
}

// The printk_info at `in` into r (all but the text); returns text_len.
std::uint16_t read_prb_info(CachedMemory& mem, const PrbLayout& l, std::uint64_t in, LogRecord& r) {
    r.seq = mem.be64(in + l.off_seq, "printk_info.seq");
    r.ts_nsec = mem.be64(in + l.off_ts, "printk_info.ts_nsec");
    const std::uint16_t text_len = mem.be16(in + l.off_text_len, "printk_info.text_len");
    if (l.has_level) {
        r.facility = mem.u8(in + l.off_text_len + 2, "printk_info.facility");
        decode_level_byte(mem.u8(in + l.off_text_len + 3, "printk_info.level"), r);
    }
    if (l.off_caller) r.caller_id = mem.be32(in + *l.off_caller, "printk_info.caller_id");
    if (l.off_subsys) r.subsystem = cut_at_nul(mem.text(in + *l.off_subsys, l.len_subsys, "dev_printk_info.subsystem"));
    if (l.off_device) r.device = cut_at_nul(mem.text(in + *l.off_device, l.len_device, "dev_printk_info.device"));
    return text_len;
}

// Where the text of a block with data lives, as the kernel's get_data()
// decides it: its offset in the data ring and its size (id included).
// False for a block that is not well-formed.
bool prb_text_block(const PrbRing& ring, std::uint64_t begin, std::uint64_t next, std::uint64_t& blk_off,
                    std::uint64_t& blk_size) {
    if (next - begin - 1 < ring.data_size && ring.wraps(begin) == ring.wraps(next - 1)) {
        // Regular block, inside one wrap. (next - 1: newer kernels let a
        // block end exactly at the end of the ring, 6.1 never writes one,
        // so this accepts both. The distance is taken modulo 2^64 because
        // lpos values wrap there, and such a block's next can be 0.)
        blk_off = ring.index(begin);
        blk_size = next - begin;
    } else if (ring.wraps(begin + ring.data_size) == ring.wraps(next)) {
        // Wrapping block: its data starts at the beginning of the ring.
        blk_off = 0;
        blk_size = ring.index(next);
    } else {
        return false;
    }
    return (begin % 8) == 0 && (next % 8) == 0 && blk_size >= 8 && blk_size <= ring.data_size;
}

// The record of descriptor `id`: appended to log.records, or counted as not
// committed or invalid.
void read_prb_record(CachedMemory& mem, const PrbLayout& l, const PrbRing& ring, std::uint64_t id, KernelLog& log,
                     std::uint64_t& total_text) {
    const std::uint64_t slot = id & (ring.count - 1);
    const std::uint64_t d = element(ring.descs, slot, l.desc_size, "prb_desc");
    const std::uint64_t sv = mem.be64(d + l.off_state + l.counter, "prb_desc.state_var");
    const unsigned state = unsigned(sv >> kDescFlagsShift);
    if ((sv & kDescIdMask) != id || (state != Committed && state != Finalized)) {
        ++log.not_committed;
        return;
    }
    const std::uint64_t begin = mem.be64(d + l.off_lpos + l.off_begin, "prb_data_blk_lpos.begin");
    const std::uint64_t next = mem.be64(d + l.off_lpos + l.off_next, "prb_data_blk_lpos.next");
    const std::uint64_t in = element(ring.infos, slot, l.pinfo_size, "printk_info");

    LogRecord r;
    const std::uint16_t text_len = read_prb_info(mem, l, in, r);
    if (begin & 1) {
        // Data-less: an empty record (NO_LPOS), or a failed allocation whose
        // text is lost (FAILED_LPOS), which the kernel's reader skips.
        if (begin == kNoLpos && next == kNoLpos && text_len == 0) {
            log.records.push_back(std::move(r));
        } else {
            ++log.invalid;
        }
        return;
    }
    std::uint64_t blk_off = 0, blk_size = 0;
    // The block starts with the id of the descriptor that owns it; anything
    // else means the data was overwritten (or is garbage).
    if (!prb_text_block(ring, begin, next, blk_off, blk_size) ||
        (mem.be64(ring.data + blk_off, "prb_data_block.id") & kDescIdMask) != id) {
        ++log.invalid;
        return;
    }
    std::uint64_t n = text_len;
    if (n > blk_size - 8) {
        n = blk_size - 8;
        ++log.truncated;
    }
    add_text(total_text, n);
    r.text = mem.text(ring.data + blk_off + 8, n, "printk text");
    log.records.push_back(std::move(r));
}

KernelLog read_printk_ringbuffer(CachedMemory& mem, const VmcoreInfo& info, const KernelAddressMap& amap) {
    KernelLog log;
    log.source = KernelLogSource::PrintkRingbuffer;
    const PrbLayout layout = prb_layout(info);
    const PrbRing ring = locate_prb(mem, info, amap, layout);
    std::uint64_t total_text = 0;
    // Oldest to newest, tail to head inclusive: at most `count` steps.
    for (std::uint64_t step = 0; step <= ring.span; ++step)
        read_prb_record(mem, layout, ring, (ring.tail_id + step) & kDescIdMask, log, total_text);
    return log;
}

// ---- Linux 3.5 .. 5.9: variable-length records in log_buf --------------------

// The VMCOREINFO offsets of struct printk_log, checked once.
struct LogBufLayout {
    std::uint64_t hdr_size = 0;
    std::uint64_t off_ts = 0, off_len = 0, off_text_len = 0, off_fac = 0;
    std::optional<std::uint64_t> off_dict_len, off_caller;
    bool has_level = false;
};

LogBufLayout log_buf_layout(const VmcoreInfo& info) {
    const Layout hdr(info, "printk_log");
    if (hdr.size() < 16) bad("SIZE(printk_log)=" + std::to_string(hdr.size()) + " is too small");
    LogBufLayout l;
    l.hdr_size = hdr.size();
    l.off_ts = hdr.member("ts_nsec", 8);
    l.off_len = hdr.member("len", 2);
    l.off_text_len = hdr.member("text_len", 2);
    l.off_dict_len = hdr.optional_member("dict_len", 2);
    l.off_caller = hdr.optional_member("caller_id", 4);
    // facility, flags/level: right after dict_len (after text_len on kernels
    // that do not publish dict_len).
    l.off_fac = (l.off_dict_len ? *l.off_dict_len : l.off_text_len) + 2;
    l.has_level = l.off_fac + 2 <= hdr.size();
    return l;
}

// log_buf in guest memory, its length and the first and next indexes.
struct LogBuf {
    std::uint64_t buf = 0;
    std::uint32_t buf_len = 0, first = 0, next = 0;
};

LogBuf locate_log_buf(CachedMemory& mem, const VmcoreInfo& info, const KernelAddressMap& amap, std::uint64_t hdr_size) {
    // `static char *log_buf`: SYMBOL(log_buf) is the pointer variable; the
    // length and indexes are u32 variables.
    LogBuf lb;
    const std::uint64_t buf_var = amap.to_phys(info.require_symbol("log_buf"), "SYMBOL(log_buf)");
    lb.buf = amap.to_phys(mem.be64(buf_var, "log_buf pointer"), "log_buf (*log_buf)");
    lb.buf_len = mem.be32(amap.to_phys(info.require_symbol("log_buf_len"), "SYMBOL(log_buf_len)"), "log_buf_len");
    lb.first =
        mem.be32(amap.to_phys(info.require_symbol("log_first_idx"), "SYMBOL(log_first_idx)"), "log_first_idx");
    lb.next = mem.be32(amap.to_phys(info.require_symbol("log_next_idx"), "SYMBOL(log_next_idx)"), "log_next_idx");
    if (lb.buf_len < hdr_size || lb.buf_len > kMaxLogBufLen) bad("log_buf_len " + hx(lb.buf_len) + " is out of range");
    if (lb.first >= lb.buf_len || lb.next >= lb.buf_len)
        bad("log_first_idx " + hx(lb.first) + " / log_next_idx " + hx(lb.next) + " outside log_buf_len " +
            hx(lb.buf_len));
    if (!format::range_fits(lb.buf, lb.buf_len, ~std::uint64_t{0})) bad("log_buf address overflows");
    if (!mem.contains(lb.buf, lb.buf_len))
        bad("log_buf [" + hx(lb.buf) + ", +" + hx(lb.buf_len) + "] is not in the dump");
    return lb;
}

// SUBSYSTEM= and DEVICE= from a record's dictionary, "KEY=value\0KEY=value".
void read_dict(std::string_view dict, LogRecord& r) {
    for (std::size_t pos = 0; pos < dict.size();) {
        std::size_t end = dict.find('\0', pos);
        if (end == std::string::npos) end = dict.size();
        const std::string_view kv(dict.data() + pos, end - pos);
        if (kv.starts_with("SUBSYSTEM=")) r.subsystem = kv.substr(10);
        if (kv.starts_with("DEVICE=")) r.device = kv.substr(7);
        pos = end + 1;
    }
}

// The record at `at`, `len` bytes long (checked to hold the header), into r.
void read_log_record(CachedMemory& mem, const LogBufLayout& l, std::uint64_t at, std::uint16_t len, LogRecord& r,
                     KernelLog& log, std::uint64_t& total_text) {
    r.ts_nsec = mem.be64(at + l.off_ts, "printk_log.ts_nsec");
    std::uint64_t text_len = mem.be16(at + l.off_text_len, "printk_log.text_len");
    std::uint64_t dict_len = l.off_dict_len ? mem.be16(at + *l.off_dict_len, "printk_log.dict_len") : 0;
    if (l.has_level) {
        r.facility = mem.u8(at + l.off_fac, "printk_log.facility");
        decode_level_byte(mem.u8(at + l.off_fac + 1, "printk_log.level"), r);
    }
    if (l.off_caller) r.caller_id = mem.be32(at + *l.off_caller, "printk_log.caller_id");
    const std::uint64_t room = len - l.hdr_size;
    if (text_len > room) {
        text_len = room;
        ++log.truncated;
    }
    dict_len = std::min(dict_len, room - text_len);
    add_text(total_text, text_len + dict_len);
    r.text = mem.text(at + l.hdr_size, text_len, "printk_log text");
    read_dict(mem.text(at + l.hdr_size + text_len, dict_len, "printk_log dict"), r);
}

KernelLog read_log_buf(CachedMemory& mem, const VmcoreInfo& info, const KernelAddressMap& amap) {
    KernelLog log;
    log.source = KernelLogSource::LogBuf;
    const LogBufLayout l = log_buf_layout(info);
    const LogBuf lb = locate_log_buf(mem, info, amap, l.hdr_size);

    // Every record is at least a header long, so this many steps (plus one
    // wrap) reach any index; more means the chain loops.
    const std::uint64_t max_steps = lb.buf_len / l.hdr_size + 2;
    std::uint64_t total_text = 0, seq = 0;
    std::uint32_t idx = lb.first;
    for (std::uint64_t step = 0; idx != lb.next; ++step) {
        if (step > max_steps) bad("log_buf: log_next_idx " + hx(lb.next) + " never reached from " + hx(lb.first));
        if (std::uint64_t(idx) + l.hdr_size > lb.buf_len)
            bad("log_buf: record at " + hx(idx) + " runs past the buffer");
        const std::uint64_t at = lb.buf + idx;
        const std::uint16_t len = mem.be16(at + l.off_len, "printk_log.len");
        if (len == 0) {
            // End-of-buffer marker: the next record is at the start.
            if (idx == 0) bad("log_buf: empty record at index 0");
            idx = 0;
            continue;
        }
        if (len < l.hdr_size || std::uint64_t(idx) + len > lb.buf_len)
            bad("log_buf: record at " + hx(idx) + " has length " + hx(len));
        LogRecord r;
        r.seq = seq++;
        read_log_record(mem, l, at, len, r, log, total_text);
        log.records.push_back(std::move(r));
        idx = std::uint32_t(idx + len);
        if (idx == lb.buf_len) idx = 0;
    }
    return log;
}


template <typename T>
std::optional<T> parse_int(std::string_view s, int base) {
    if (s.starts_with("0x") || s.starts_with("0X")) {
        if (base != 16) return std::nullopt;
        s.remove_prefix(2);
    }
    T v{};
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
    if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
    return v;
}

std::string keyed(std::string_view kind, std::string_view name) {
    std::string k(kind);
    k += '(';
    k += name;
    k += ')';
    return k;
}

}  // namespace

// ---- public -----------------------------------------------------------------


VmcoreInfo VmcoreInfo::parse(std::string_view text) {
    if (text.size() > guest::kMaxVmcoreInfoSize)
        bad("VMCOREINFO of " + std::to_string(text.size()) + " bytes is larger than the 1 MiB limit");
    VmcoreInfo info;
    while (!text.empty()) {
        const std::size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        const std::size_t eq = line.find('=');
        if (eq == std::string_view::npos || eq == 0) continue;
        info.entries.emplace(std::string(line.substr(0, eq)), std::string(line.substr(eq + 1)));
    }
    return info;
}

std::optional<std::string> VmcoreInfo::value(std::string_view key) const {
    if (auto it = entries.find(key); it != entries.end()) return it->second;
    return std::nullopt;
}
std::optional<std::uint64_t> VmcoreInfo::hex(std::string_view key) const {
    auto v = value(key);
    return v ? parse_int<std::uint64_t>(*v, 16) : std::nullopt;
}
std::optional<std::int64_t> VmcoreInfo::decimal(std::string_view key) const {
    auto v = value(key);
    return v ? parse_int<std::int64_t>(*v, 10) : std::nullopt;
}
std::optional<std::uint64_t> VmcoreInfo::symbol(std::string_view name) const { return hex(keyed("SYMBOL", name)); }
std::optional<std::int64_t> VmcoreInfo::offset(std::string_view member) const {
    return decimal(keyed("OFFSET", member));
}
std::optional<std::int64_t> VmcoreInfo::size(std::string_view type) const { return decimal(keyed("SIZE", type)); }
std::optional<std::int64_t> VmcoreInfo::length(std::string_view name) const { return decimal(keyed("LENGTH", name)); }
std::optional<std::int64_t> VmcoreInfo::number(std::string_view name) const { return decimal(keyed("NUMBER", name)); }

std::uint64_t VmcoreInfo::require_symbol(std::string_view name) const {
    if (auto v = symbol(name)) return *v;
    bad("VMCOREINFO lacks a valid " + keyed("SYMBOL", name));
}
std::uint64_t VmcoreInfo::require_offset(std::string_view member) const {
    auto v = offset(member);
    if (!v || *v < 0) bad("VMCOREINFO lacks a valid " + keyed("OFFSET", member));
    return std::uint64_t(*v);
}
std::uint64_t VmcoreInfo::require_size(std::string_view type) const {
    auto v = size(type);
    if (!v || *v <= 0) bad("VMCOREINFO lacks a valid " + keyed("SIZE", type));
    return std::uint64_t(*v);
}

KernelAddressMap KernelAddressMap::from(const VmcoreInfo& info) {
    KernelAddressMap m;
    m.identity_base = info.hex("IDENTITYBASE").value_or(0);
    m.kernel_offset = info.hex("KERNELOFFSET").value_or(0);
    m.kernel_offset_phys = info.hex("KERNELOFFPHYS");
    return m;
}

std::uint64_t KernelAddressMap::to_phys(std::uint64_t vaddr, std::string_view what) const {
    if (kernel_offset_phys && vaddr >= kernel_offset) {
        std::uint64_t pa;
        if (format::add_overflows(vaddr - kernel_offset, *kernel_offset_phys, pa))
            bad(std::string(what) + " address " + hx(vaddr) + " overflows");
        return pa;
    }
    if (vaddr < identity_base)
        bad(std::string(what) + " address " + hx(vaddr) + " is below the identity map base " + hx(identity_base));
    return vaddr - identity_base;
}

KernelLog read_kernel_log_detailed(const MemoryView& mem, const VmcoreInfo& info) {
    CachedMemory cached(mem);
    const auto amap = KernelAddressMap::from(info);
    if (info.symbol("prb")) return read_printk_ringbuffer(cached, info, amap);
    if (info.symbol("log_buf") && info.size("printk_log")) return read_log_buf(cached, info, amap);
    if (info.symbol("log_buf"))
        bad("VMCOREINFO describes a pre-3.5 character log_buf (no SIZE(printk_log)): not supported");
    bad("VMCOREINFO describes no kernel log (neither SYMBOL(prb) nor SYMBOL(log_buf))");
}

std::vector<LogRecord> read_kernel_log(const MemoryView& mem, const VmcoreInfo& info) {
    return read_kernel_log_detailed(mem, info).records;
}

std::string format_log_record(const LogRecord& r, const LogFormat& fmt) {
    std::string out;
    char buf[64];
    if (fmt.timestamps) {
        std::snprintf(buf, sizeof buf, "[%5" PRIu64 ".%06" PRIu64 "] ", r.ts_nsec / 1000000000u,
                      (r.ts_nsec % 1000000000u) / 1000u);
        out += buf;
    }
    if (fmt.show_caller && r.caller_id) {
        const std::uint32_t cid = *r.caller_id;
        char who[16];
        std::snprintf(who, sizeof who, "%c%" PRIu32, (cid & 0x80000000u) ? 'C' : 'T', cid & 0x7fffffffu);
        std::snprintf(buf, sizeof buf, "[%6s] ", who);
        out += buf;
    }
    // Continuation lines line up under the text, as crash indents them.
    const std::string indent(out.size(), ' ');
    if (fmt.show_level) {
        std::snprintf(buf, sizeof buf, "<%x>", unsigned(r.level));
        out += buf;
    }
    for (const char c : r.text) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '\n') {
            out += '\n';
            out += indent;
        } else if (u < 0x20 && c != '\t') {
            out += '.';
        } else if (u == 0x7f) {
            out += '.';
        } else {
            out += c;  // bytes >= 0x80 kept: UTF-8 text stays readable
        }
    }
    if (fmt.show_dict) {
        if (!r.subsystem.empty()) out += "\n" + indent + "SUBSYSTEM=" + r.subsystem;
        if (!r.device.empty()) out += "\n" + indent + "DEVICE=" + r.device;
    }
    return out;
}

std::string format_kernel_log(std::span<const LogRecord> records, const LogFormat& fmt) {
    std::string out;
    for (const auto& r : records) {
        out += format_log_record(r, fmt);
        out += '\n';
    }
    return out;
}

}  // namespace pvdump::analysis
