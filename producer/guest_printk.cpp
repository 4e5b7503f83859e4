// A Linux 6.1 printk ringbuffer, built by replaying printk()'s bookkeeping on
// a byte image: descriptor ids, logical positions (lpos), wrapping data blocks
// and tail pushing follow kernel/printk/printk_ringbuffer.c so that any reader
// written against the real kernel (crash, makedumpfile, ours) reads it.
#include "producer/guest_printk.hpp"

#include <algorithm>
#include <bit>
#include <cinttypes>
#include <cstdio>
#include <deque>

#include "format/bytes.hpp"
#include "format/error.hpp"

namespace pvdump::producer {
namespace {

[[noreturn]] void usage(const std::string& msg) { throw Error(ErrorCode::Usage, "guest printk: " + msg); }

// Struct sizes and offsets of a 64-bit 6.1 kernel (what its VMCOREINFO says).
constexpr std::uint64_t kSizeRingbuffer = 88;  // desc_ring @0, text_data_ring @48, fail @80
constexpr std::uint64_t kSizeDesc = 24;        // state_var @0, text_blk_lpos {begin @8, next @16}
constexpr std::uint64_t kSizeInfo = 88;        // seq @0 ts @8 text_len @16 facility @18 flags|level @19
                                               // caller_id @20 dev_info @24 (subsystem[16], device[48])
constexpr std::uint64_t kSizeLatchedSeq = 24;  // clear_seq: seqcount @0, val[2] @8

// Region layout: the `prb` pointer, printk_rb_static, clear_seq, then the arrays.
constexpr std::uint64_t kOffPrbVar = 0;
constexpr std::uint64_t kOffRing = 0x10;
constexpr std::uint64_t kOffClearSeq = kOffRing + kSizeRingbuffer;  // 0x68
constexpr std::uint64_t kOffDescs = 0x80;

constexpr unsigned kFlagsShift = 62;
constexpr std::uint64_t kIdMask = (std::uint64_t{1} << kFlagsShift) - 1;
constexpr std::uint64_t kFinalized = std::uint64_t{2} << kFlagsShift;
constexpr std::uint64_t kReusable = std::uint64_t{3} << kFlagsShift;
constexpr std::uint64_t kFailedLpos = 0x1, kNoLpos = 0x3;
constexpr std::uint8_t kLogNewline = 0x2;

std::string hexs(std::uint64_t v) {
    char b[24];
    std::snprintf(b, sizeof b, "%" PRIx64, v);  // the kernel prints SYMBOL() with %lx
    return b;
}

void check_config(const PrintkConfig& cfg) {
    if (cfg.data_size_bits < 6 || cfg.data_size_bits > 30)
        usage("data_size_bits " + std::to_string(cfg.data_size_bits) + " out of range (6..30)");
    if (cfg.desc_count_bits < 2 || cfg.desc_count_bits > 24)
        usage("desc_count_bits " + std::to_string(cfg.desc_count_bits) + " out of range (2..24)");
}

struct Layout {
    std::uint64_t count, data_size, descs, infos, data, total;
    explicit Layout(const PrintkConfig& cfg) {
        count = std::uint64_t{1} << cfg.desc_count_bits;
        data_size = std::uint64_t{1} << cfg.data_size_bits;
        descs = kOffDescs;
        infos = descs + count * kSizeDesc;
        data = infos + count * kSizeInfo;  // multiples of 8: stays aligned
        total = data + data_size;
    }
};

// The kernel's bookkeeping, replayed.
class Ring {
public:
    Ring(std::vector<std::uint8_t>& img, const Layout& l) : img_(img), l_(l) {
        // _DEFINE_PRINTKRB: the last descriptor is the initial head and tail,
        // reusable, without data; the id is computed in unsigned int there,
        // hence a 32-bit value (0xffffefff for 4096 descriptors).
        const std::uint64_t desc0_id = std::uint32_t(0u - (std::uint32_t(l.count) + 1u)) & kIdMask;
        head_id_ = tail_id_ = desc0_id;
        head_lpos_ = tail_lpos_ = 0 - l.data_size;  // BLK0_LPOS
        put_desc(l.count - 1, kReusable | desc0_id, kFailedLpos, kFailedLpos);
        put64(l.infos, 0 - l.count);  // infos[0].seq, so that the first record gets seq 0
    }

    void append(const PrintkLine& line, std::uint64_t seq) {
        const std::uint64_t id = (head_id_ + 1) & kIdMask;
        const std::uint64_t slot = id & (l_.count - 1);
        // desc_reserve: the slot's previous user must be the tail; push it.
        if (((id - l_.count) & kIdMask) == tail_id_) {
            if (!live_.empty() && live_.front().id == tail_id_) drop_oldest();
            tail_id_ = (tail_id_ + 1) & kIdMask;
        }
        head_id_ = id;

        std::uint64_t begin = kNoLpos, next = kNoLpos;
        if (!line.text.empty()) {
            const std::uint64_t size = (8 + line.text.size() + 7) & ~std::uint64_t{7};  // to_blk_size
            begin = head_lpos_;
            next = begin + size;
            const bool wraps = (begin >> bits()) != (next >> bits());  // 6.1: no perfect fit
            if (wraps) next = (next & ~(l_.data_size - 1)) + size;
            // data_push_tail: invalidate the oldest blocks until this one fits.
            while (next - tail_lpos_ > l_.data_size) {
                if (live_.empty()) {  // cannot happen with blocks <= half the ring
                    tail_lpos_ = next - l_.data_size;
                    break;
                }
                drop_oldest();
            }
            const std::uint64_t at = wraps ? 0 : (begin & (l_.data_size - 1));
            put64(l_.data + (begin & (l_.data_size - 1)), id);  // the id also at begin
            put64(l_.data + at, id);
            std::copy(line.text.begin(), line.text.end(), img_.begin() + std::ptrdiff_t(l_.data + at + 8));
            std::fill_n(img_.begin() + std::ptrdiff_t(l_.data + at + 8 + line.text.size()),
                        size - 8 - line.text.size(), 0);
            head_lpos_ = next;
        }
        put_desc(slot, kFinalized | id, begin, next);

        // prb_reserve clears the info and sets seq; printk fills the rest.
        const std::uint64_t in = l_.infos + slot * kSizeInfo;
        std::fill_n(img_.begin() + std::ptrdiff_t(in), kSizeInfo, 0);
        put64(in + 0, seq);
        put64(in + 8, line.ts_nsec);
        format::store_be16(img_.data() + in + 16, std::uint16_t(line.text.size()));
        img_[in + 18] = line.facility;
        img_[in + 19] = std::uint8_t((kLogNewline << 3) | (line.level & 7));  // flags:5 high, level:3 low (BE)
        format::store_be32(img_.data() + in + 20, line.caller_id);
        live_.push_back({id, seq, begin, next});
    }

    // The ring's control fields, written once at the end.
    void finish(std::uint64_t base) {
        const std::uint64_t r = kOffRing;
        format::store_be32(img_.data() + r + 0, std::uint32_t(std::countr_zero(l_.count)));  // count_bits
        put64(r + 8, base + l_.descs);
        put64(r + 16, base + l_.infos);
        put64(r + 24, head_id_);
        put64(r + 32, tail_id_);
        format::store_be32(img_.data() + r + 48, bits());  // size_bits
        put64(r + 56, base + l_.data);
        put64(r + 64, head_lpos_);
        put64(r + 72, tail_lpos_);
        put64(r + 80, 0);  // fail
        put64(kOffPrbVar, base + kOffRing);
    }

    std::uint64_t oldest_seq() const { return live_.empty() ? ~std::uint64_t{0} : live_.front().seq; }

private:
    struct Live {
        std::uint64_t id, seq, begin, next;
    };
    unsigned bits() const { return unsigned(std::countr_zero(l_.data_size)); }
    void put64(std::uint64_t off, std::uint64_t v) { format::store_be64(img_.data() + off, v); }
    void put_desc(std::uint64_t slot, std::uint64_t sv, std::uint64_t begin, std::uint64_t next) {
        const std::uint64_t d = l_.descs + slot * kSizeDesc;
        put64(d, sv);
        put64(d + 8, begin);
        put64(d + 16, next);
    }
    // The oldest record's data is given up: its descriptor becomes reusable
    // (data_make_reusable) and the data tail moves past its block.
    void drop_oldest() {
        const Live& o = live_.front();
        put64(l_.descs + (o.id & (l_.count - 1)) * kSizeDesc, kReusable | o.id);
        if (!(o.begin & 1)) tail_lpos_ = o.next;
        live_.pop_front();
    }

    std::vector<std::uint8_t>& img_;
    const Layout& l_;
    std::uint64_t head_id_, tail_id_, head_lpos_, tail_lpos_;
    std::deque<Live> live_;
};

std::vector<std::string> vmcoreinfo_for(std::uint64_t base) {
    const std::uint64_t ring = base + kOffRing;
    // Order and spelling of log_buf_vmcoreinfo_setup() in Linux 6.1.
    return {
        "SYMBOL(prb)=" + hexs(base + kOffPrbVar),
        "SYMBOL(printk_rb_static)=" + hexs(ring),
        "SYMBOL(clear_seq)=" + hexs(base + kOffClearSeq),
        "SIZE(printk_ringbuffer)=88",
        "OFFSET(printk_ringbuffer.desc_ring)=0",
        "OFFSET(printk_ringbuffer.text_data_ring)=48",
        "OFFSET(printk_ringbuffer.fail)=80",
        "SIZE(prb_desc_ring)=48",
        "OFFSET(prb_desc_ring.count_bits)=0",
        "OFFSET(prb_desc_ring.descs)=8",
        "OFFSET(prb_desc_ring.infos)=16",
        "OFFSET(prb_desc_ring.head_id)=24",
        "OFFSET(prb_desc_ring.tail_id)=32",
        "SIZE(prb_desc)=24",
        "OFFSET(prb_desc.state_var)=0",
        "OFFSET(prb_desc.text_blk_lpos)=8",
        "SIZE(prb_data_blk_lpos)=16",
        "OFFSET(prb_data_blk_lpos.begin)=0",
        "OFFSET(prb_data_blk_lpos.next)=8",
        "SIZE(printk_info)=88",
        "OFFSET(printk_info.seq)=0",
        "OFFSET(printk_info.ts_nsec)=8",
        "OFFSET(printk_info.text_len)=16",
        "OFFSET(printk_info.caller_id)=20",
        "OFFSET(printk_info.dev_info)=24",
        "SIZE(dev_printk_info)=64",
        "OFFSET(dev_printk_info.subsystem)=0",
        "LENGTH(printk_info_subsystem)=16",
        "OFFSET(dev_printk_info.device)=16",
        "LENGTH(printk_info_device)=48",
        "SIZE(prb_data_ring)=32",
        "OFFSET(prb_data_ring.size_bits)=0",
        "OFFSET(prb_data_ring.data)=8",
        "OFFSET(prb_data_ring.head_lpos)=16",
        "OFFSET(prb_data_ring.tail_lpos)=24",
        "SIZE(atomic_long_t)=8",
        "OFFSET(atomic_long_t.counter)=0",
        "SIZE(latched_seq)=" + std::to_string(kSizeLatchedSeq),
        "OFFSET(latched_seq.val)=8",
    };
}

}  // namespace

std::uint64_t printk_region_size(const PrintkConfig& cfg) {
    check_config(cfg);
    return Layout(cfg).total;
}

std::string GuestPrintk::vmcoreinfo_text() const {
    std::string s;
    for (const auto& l : vmcoreinfo_lines) s += l + "\n";
    return s;
}

void GuestPrintk::overlay(std::uint64_t paddr, std::span<std::uint8_t> out) const {
    const std::uint64_t lo = std::max(paddr, base);
    const std::uint64_t hi = std::min(paddr + out.size(), base + bytes.size());
    if (lo >= hi) return;
    std::copy_n(bytes.begin() + std::ptrdiff_t(lo - base), hi - lo, out.begin() + std::ptrdiff_t(lo - paddr));
}

GuestPrintk build_guest_printk(std::uint64_t region_base, std::uint64_t region_size,
                               std::span<const PrintkLine> lines, const PrintkConfig& cfg) {
    check_config(cfg);
    const Layout layout(cfg);
    if (region_base % 8 != 0) usage("region base 0x" + hexs(region_base) + " is not 8-byte aligned");
    if (region_size < layout.total)
        usage("region of 0x" + hexs(region_size) + " bytes is smaller than the 0x" + hexs(layout.total) + " needed");
    if (region_base > ~std::uint64_t{0} - layout.total) usage("region end overflows");
    for (std::size_t i = 0; i < lines.size(); ++i) {
        const auto& t = lines[i].text;
        if (t.size() > 0xffff) usage("line " + std::to_string(i) + " is longer than 65535 bytes");
        if (8 + t.size() > layout.data_size / 2)
            usage("line " + std::to_string(i) + " does not fit in half of the " + std::to_string(layout.data_size) +
                  "-byte data ring");
        if (lines[i].level > 7) usage("line " + std::to_string(i) + " has level > 7");
    }

    GuestPrintk out;
    out.base = region_base;
    out.bytes.assign(layout.total, 0);
    Ring ring(out.bytes, layout);
    for (std::size_t i = 0; i < lines.size(); ++i) ring.append(lines[i], i);
    ring.finish(region_base);
    out.first_kept = std::size_t(std::min<std::uint64_t>(ring.oldest_seq(), lines.size()));
    out.vmcoreinfo_lines = vmcoreinfo_for(region_base);
    return out;
}

}  // namespace pvdump::producer
