#include "producer/guest_source.hpp"

#include <algorithm>
#include <bit>
#include <cctype>
#include <charconv>
#include <array>
#include <cstring>
#include <optional>

#include "format/core_file.hpp"
#include "format/crypto.hpp"
#include "format/mapped_file.hpp"
#include "format/memory_view.hpp"
#include "guest/s390.hpp"
#include "producer/guest_memmap.hpp"
#include "producer/printk_hook.hpp"
#include "producer/random.hpp"

// x86-64: random pages eight words at a time with AVX-512 (64-bit multiplies
// in vector registers), chosen at run time; the same bytes as the scalar loop.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define PVDUMP_FILL_AVX512 1
// GCC 12's AVX-512 headers trip -Wuninitialized in callers (GCC bug 105593).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#else
#define PVDUMP_FILL_AVX512 0
#endif

namespace pvdump::producer {

using format::kPageSize;
using format::MemoryRange;

namespace {

constexpr std::uint64_t kRngStep = 0x2545f4914f6cdd1dull;

struct Rng {
    std::uint64_t state;
    std::uint64_t next() { return mix64(state++ * kRngStep); }
};

#if PVDUMP_FILL_AVX512
// out[i] = mix64((state + i) * kRngStep) for the page's 512 words, as
// little-endian bytes: Rng::next() 512 times, eight lanes at once.
__attribute__((target("avx512f,avx512dq"))) void fill_words_avx512(std::uint64_t state, std::uint8_t* out) {
    const __m512i step = _mm512_set1_epi64(std::int64_t(kRngStep));
    const __m512i golden = _mm512_set1_epi64(std::int64_t(0x9e3779b97f4a7c15ull));
    const __m512i m1 = _mm512_set1_epi64(std::int64_t(0xbf58476d1ce4e5b9ull));
    const __m512i m2 = _mm512_set1_epi64(std::int64_t(0x94d049bb133111ebull));
    const __m512i eight = _mm512_set1_epi64(8);
    __m512i s = _mm512_add_epi64(_mm512_set1_epi64(std::int64_t(state)), _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7));
    for (std::size_t i = 0; i < kPageSize; i += 64) {
        __m512i x = _mm512_add_epi64(_mm512_mullo_epi64(s, step), golden);
        x = _mm512_mullo_epi64(_mm512_xor_si512(x, _mm512_srli_epi64(x, 30)), m1);
        x = _mm512_mullo_epi64(_mm512_xor_si512(x, _mm512_srli_epi64(x, 27)), m2);
        x = _mm512_xor_si512(x, _mm512_srli_epi64(x, 31));
        _mm512_storeu_si512(out + i, x);
        s = _mm512_add_epi64(s, eight);
    }
}

bool cpu_has_avx512dq() {
    static const bool yes = [] {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
    }();
    return yes;
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif

std::string plural(std::size_t n, const char* one, const char* many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
}

std::string mib_text(std::uint64_t bytes) {
    if (bytes % (1024 * 1024) == 0) return std::to_string(bytes / (1024 * 1024)) + " MiB";
    return std::to_string(bytes) + " bytes";
}

void check_blocks(const std::vector<MemoryRange>& blocks, const std::string& what) {
    if (blocks.empty()) fail(ErrorCode::Usage, what + ": no RAM blocks");
    for (std::size_t i = 0; i < blocks.size(); ++i) {
        const MemoryRange& b = blocks[i];
        const std::string name = what + ": RAM block " + hex(b.paddr) + ":" + hex(b.size);
        if (b.size == 0) fail(ErrorCode::Usage, name + " is empty");
        if (b.paddr % kPageSize || b.size % kPageSize) fail(ErrorCode::Usage, name + " is not 4 KiB aligned");
        if (b.paddr + b.size < b.paddr) fail(ErrorCode::Usage, name + " wraps around the address space");
        if (i > 0 && b.paddr < blocks[i - 1].paddr + blocks[i - 1].size)
            fail(ErrorCode::Usage, name + " overlaps the block before it");
    }
}

std::vector<MemoryRange> sorted(std::vector<MemoryRange> blocks) {
    std::sort(blocks.begin(), blocks.end(), [](auto& a, auto& b) { return a.paddr < b.paddr; });
    return blocks;
}

void check_prefixes(const std::vector<MemoryRange>& blocks, unsigned cpus, const std::string& what) {
    if (cpus == 0) fail(ErrorCode::Usage, what + ": a guest needs at least one CPU");
    const std::uint64_t need = std::uint64_t(made_up_prefix(cpus - 1)) + 2 * kPageSize;
    if (blocks.front().paddr != 0 || blocks.front().size < need)
        fail(ErrorCode::Usage, what + ": " + std::to_string(cpus) + " CPUs need the first RAM block to cover [0, " +
                                   hex(need) + ") for their lowcores");
}

// Fills `info` for pages whose content is already in `out`: all-zero pages
// count as never touched (zero state), everything else as secure data.
void classify_by_content(format::MutableBytes out, std::span<PageInfo> info) {
    for (std::size_t i = 0; i < info.size(); ++i)
        info[i] = {format::is_all_zero(out.data() + i * kPageSize, kPageSize) ? PageKind::Zero : PageKind::Data, false};
}

void check_range(const std::vector<MemoryRange>& blocks, std::uint64_t paddr, std::size_t pages, format::MutableBytes out,
                 std::span<PageInfo> info) {
    if (out.size() != pages * kPageSize || info.size() != pages || paddr % kPageSize)
        fail(ErrorCode::Internal, "read_pages: bad buffer sizes or unaligned address " + hex(paddr));
    for (const MemoryRange& b : blocks)
        if (paddr >= b.paddr && paddr - b.paddr < b.size) {
            if (pages * kPageSize > b.size - (paddr - b.paddr))
                fail(ErrorCode::Internal, "read_pages: range at " + hex(paddr) + " crosses the end of its block");
            return;
        }
    fail(ErrorCode::Internal, "read_pages: guest address " + hex(paddr) + " is in no RAM block");
}

// ---- raw memory image -------------------------------------------------------------
class RawImage final : public GuestSource {
public:
    explicit RawImage(const RawImageOptions& o) : file_(o.path), path_(o.path) {
        const std::uint64_t size = file_.size();
        if (size == 0) fail(ErrorCode::Format, "raw image '" + o.path + "' is empty");
        if (size % kPageSize)
            fail(ErrorCode::Format, "raw image '" + o.path + "' is " + std::to_string(size) +
                                        " bytes, not a whole number of 4 KiB pages");
        blocks_ = o.blocks.empty() ? std::vector<MemoryRange>{{0, size}} : sorted(o.blocks);
        check_blocks(blocks_, "raw image '" + o.path + "'");
        const MemoryRange& last = blocks_.back();
        if (last.paddr + last.size > size)
            fail(ErrorCode::Usage, "raw image '" + o.path + "' is " + hex(size) + " bytes, RAM block " + hex(last.paddr) +
                                       ":" + hex(last.size) + " reaches past its end (the image is flat guest physical memory)");
        check_prefixes(blocks_, o.cpus, "raw image '" + o.path + "'");
        for (unsigned i = 0; i < o.cpus; ++i) cpus_.push_back(made_up_cpu(o.seed, i, last.paddr + last.size));
        file_.advise_sequential();
    }
    std::string description() const override {
        return "raw image '" + path_ + "' (" + mib_text(memory_size()) + " in " + plural(blocks_.size(), "block", "blocks") + ", " +
               plural(cpus_.size(), "CPU", "CPUs") + " with made-up registers)";
    }
    const std::vector<MemoryRange>& blocks() const override { return blocks_; }
    const std::vector<format::CpuState>& cpus() const override { return cpus_; }
    void read_pages(std::uint64_t paddr, format::MutableBytes out, std::span<PageInfo> info) const override {
        check_range(blocks_, paddr, info.size(), out, info);
        std::memcpy(out.data(), file_.bytes().data() + paddr, out.size());
        classify_by_content(out, info);
    }

private:
    format::MappedFile file_;
    std::string path_;
    std::vector<MemoryRange> blocks_;
    std::vector<format::CpuState> cpus_;
};

// ---- plain ELF vmcore ---------------------------------------------------------------
class Vmcore final : public GuestSource {
public:
    explicit Vmcore(const std::string& path) : path_(path) {
        format::CoreFile core = format::CoreFile::open(path);
        if (core.is_pv())
            fail(ErrorCode::Usage, "'" + path + "' is a sealed PV dump (it has a pv_compl section); pvseal needs a plain vmcore");
        for (const format::LoadSegment& l : core.loads()) {
            if (l.memsz == 0) continue;
            if (l.paddr % kPageSize || l.memsz % kPageSize)
                fail(ErrorCode::Format, "vmcore '" + path + "': PT_LOAD " + std::to_string(l.index) + " [paddr " +
                                            hex(l.paddr) + ", memsz " + hex(l.memsz) + "] is not 4 KiB aligned");
            blocks_.push_back({l.paddr, l.memsz});
        }
        blocks_ = sorted(std::move(blocks_));
        if (blocks_.empty()) fail(ErrorCode::Format, "vmcore '" + path + "' has no PT_LOAD with memory");
        check_blocks(blocks_, "vmcore '" + path + "'");
        for (const format::CpuNotes& c : core.cpus()) cpus_.push_back(c.clear);
        if (cpus_.empty()) fail(ErrorCode::Format, "vmcore '" + path + "' has no NT_PRSTATUS note: no CPU to seal");
        memory_ = core.plain_memory();
    }
    std::string description() const override {
        return "vmcore '" + path_ + "' (" + mib_text(memory_size()) + " in " + plural(blocks_.size(), "block", "blocks") + ", " +
               plural(cpus_.size(), "CPU", "CPUs") + ")";
    }
    const std::vector<MemoryRange>& blocks() const override { return blocks_; }
    const std::vector<format::CpuState>& cpus() const override { return cpus_; }
    void read_pages(std::uint64_t paddr, format::MutableBytes out, std::span<PageInfo> info) const override {
        check_range(blocks_, paddr, info.size(), out, info);
        memory_->read(paddr, out);
        classify_by_content(out, info);
    }

private:
    std::string path_;
    std::vector<MemoryRange> blocks_;
    std::vector<format::CpuState> cpus_;
    std::unique_ptr<format::MemoryView> memory_;
};

// ---- generated guest -------------------------------------------------------------------
constexpr const char* kWords[] = {
    "the",    "kernel", "page",   "memory", "guest",  "secure", "dump",   "cpu",     "virtio", "block",
    "net",    "s390x",  "zone",   "slab",   "inode",  "dentry", "task",   "sched",   "irq",    "timer",
    "lowcore", "prefix", "ultravisor", "export", "import", "swap", "pte", "pmd", "vma", "mm",
    "init",   "systemd", "journal", "/usr/lib", "/etc/fstab", "eth0", "tty", "console", "0x", "ok",
};
constexpr std::size_t kWordCount = sizeof(kWords) / sizeof(kWords[0]);

class GeneratedGuest final : public GuestSource {
public:
    explicit GeneratedGuest(const GeneratedGuestOptions& o) : seed_(o.seed) {
        if (o.size == 0 || o.size % kPageSize) fail(ErrorCode::Usage, "--generate: size " + hex(o.size) + " is not a whole number of 4 KiB pages");
        blocks_ = o.blocks.empty() ? std::vector<MemoryRange>{{0, o.size}} : sorted(o.blocks);
        check_blocks(blocks_, "generated guest");
        std::uint64_t total = 0;
        for (auto& b : blocks_) total += b.size;
        if (total != o.size)
            fail(ErrorCode::Usage, "--generate " + hex(o.size) + ": the RAM blocks add up to " + hex(total) + ", not to the guest size");
        check_prefixes(blocks_, o.cpus, "generated guest");
        const std::uint64_t end = blocks_.back().paddr + blocks_.back().size;
        for (unsigned i = 0; i < o.cpus; ++i) cpus_.push_back(made_up_cpu(o.seed, i, end));
        build_fixed_pages(o);
    }
    std::string description() const override {
        return "generated guest (seed " + std::to_string(seed_) + ", " + mib_text(memory_size()) + " in " +
               plural(blocks_.size(), "block", "blocks") + ", " + plural(cpus_.size(), "CPU", "CPUs") + ")";
    }
    const std::vector<MemoryRange>& blocks() const override { return blocks_; }
    const std::vector<format::CpuState>& cpus() const override { return cpus_; }
    const GuestMemmap* memmap() const override { return memmap_ ? &*memmap_ : nullptr; }
    void read_pages(std::uint64_t paddr, format::MutableBytes out, std::span<PageInfo> info) const override {
        check_range(blocks_, paddr, info.size(), out, info);
        for (std::size_t i = 0; i < info.size(); ++i) info[i] = page(paddr / kPageSize + i, out.data() + i * kPageSize);
    }
    void classify_pages(std::uint64_t paddr, std::span<PageInfo> info) const override {
        for (std::size_t i = 0; i < info.size(); ++i) info[i] = page(paddr / kPageSize + i, nullptr);
    }

private:
    // The content of one page: fixed pages (lowcores, VMCOREINFO, os_info,
    // printk) first, then a per-page recipe from (seed, page number).
    // `out` may be null: then only the kind is computed.
    PageInfo page(std::uint64_t pn, std::uint8_t* out) const {
        if (auto it = fixed_.find(pn); it != fixed_.end()) {
            if (out) std::memcpy(out, it->second.data(), kPageSize);
            return {PageKind::Data, false};
        }
        if (memmap_ && memmap_->covers(pn)) {  // the struct page array (producer/guest_memmap)
            if (out) memmap_->fill(pn, out);
            return {PageKind::Data, false};
        }
        const std::uint64_t h = mix64(seed_ * 0x100000001b3ull ^ mix64(pn));
        const unsigned r = unsigned(h % 1000);
        Rng rng{h};
        if (r < 150) {  // never touched
            if (out) std::memset(out, 0, kPageSize);
            return {PageKind::Zero, ((h >> 40) & 3) == 0};
        }
        if (r < 250) {  // shared with the hypervisor (I/O buffers): clear
            if (out) fill_random(rng, out);
            return {PageKind::Shared, ((h >> 40) & 1) == 0};
        }
        if (r < 300) {  // touched but zero: encrypted zeros
            if (out) std::memset(out, 0, kPageSize);
            return {PageKind::Data, false};
        }
        if (out && r < 650) fill_text(rng, out);
        else if (out) fill_random(rng, out);
        return {PageKind::Data, false};
    }
    static void fill_random(Rng& rng, std::uint8_t* out) {
#if PVDUMP_FILL_AVX512
        if (cpu_has_avx512dq()) {
            fill_words_avx512(rng.state, out);
            rng.state += kPageSize / 8;
            return;
        }
#endif
        for (std::size_t i = 0; i < kPageSize; i += 8) {
            // Little-endian whatever the host: the same seed, the same guest
            // (a host-order memcpy gave s390x other bytes than x86).
            std::uint64_t v = rng.next();
            if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
            std::memcpy(out + i, &v, 8);
        }
    }
    static void fill_text(Rng& rng, std::uint8_t* out) {
        // Word lengths once, not a strlen per word: this is pvseal's hot loop.
        // Each word padded to 16 bytes: a fixed-size copy inlines to two stores.
        struct Word {
            std::array<char, 16> bytes{};
            std::size_t size = 0;
        };
        static const auto words = [] {
            std::array<Word, kWordCount> t{};
            for (std::size_t i = 0; i < kWordCount; ++i) {
                t[i].size = std::min<std::size_t>(std::strlen(kWords[i]), 16);
                std::memcpy(t[i].bytes.data(), kWords[i], t[i].size);
            }
            return t;
        }();
        // One draw picks four words (16 bits each) and their line breaks: a
        // line breaks after a word once it is longer than 60 + (bits >> 12)
        // characters (separators not counted).
        std::size_t at = 0, line = 0;
        // Fast path: while four words and their separators surely fit (each at
        // most 16 + 1 bytes), no bounds checks; the same bytes as the careful
        // loop below, with the line break chosen without a branch.
        constexpr std::size_t kFourWords = 4 * 17;
        while (at + kFourWords <= kPageSize) {
            const std::uint64_t v = rng.next();
            for (int k = 0; k < 4; ++k) {
                const std::uint32_t bits = std::uint32_t(v >> (16 * k)) & 0xffff;
                const Word& w = words[bits % kWordCount];
                std::memcpy(out + at, w.bytes.data(), 16);  // the tail is overwritten next
                at += w.size;
                line += w.size;
                const bool brk = line > 60 + (bits >> 12);
                out[at++] = brk ? '\n' : ' ';
                line = brk ? 0 : line;
            }
        }
        while (at < kPageSize) {
            const std::uint64_t v = rng.next();
            for (int k = 0; k < 4 && at < kPageSize; ++k) {
                const std::uint32_t bits = std::uint32_t(v >> (16 * k)) & 0xffff;
                const std::size_t w = bits % kWordCount;
                const std::size_t n = std::min(words[w].size, kPageSize - at);
                if (at + 16 <= kPageSize)
                    std::memcpy(out + at, words[w].bytes.data(), 16);  // the tail is overwritten next
                else
                    std::memcpy(out + at, words[w].bytes.data(), n);
                at += n;
                line += n;
                if (at < kPageSize) out[at++] = (line > 60 + (bits >> 12)) ? '\n' : ' ';
                if (out[at - 1] == '\n') line = 0;
            }
        }
    }

    void put(std::uint64_t paddr, format::Bytes bytes) {
        for (std::size_t done = 0; done < bytes.size();) {
            const std::uint64_t a = paddr + done;
            auto& page = fixed_[a / kPageSize];
            if (page.empty()) page.assign(kPageSize, 0);
            const std::size_t n = std::min<std::size_t>(bytes.size() - done, kPageSize - a % kPageSize);
            std::memcpy(page.data() + a % kPageSize, bytes.data() + done, n);
            done += n;
        }
    }
    void put_be64(std::uint64_t paddr, std::uint64_t v) {
        std::uint8_t b[8];
        format::store_be64(b, v);
        put(paddr, b);
    }
    void put_be32(std::uint64_t paddr, std::uint32_t v) {
        std::uint8_t b[4];
        format::store_be32(b, v);
        put(paddr, b);
    }

    void build_fixed_pages(const GeneratedGuestOptions& o) {
        const MemoryRange& first = blocks_.front();
        auto need = [&](std::uint64_t end, const char* what) {
            if (first.paddr != 0 || first.size < end)
                fail(ErrorCode::Usage, std::string("generated guest: the first RAM block must cover [0, ") + hex(end) + ") for " + what);
        };
        // Absolute lowcore (pages 0 and 1), written as zeros apart from the pointers.
        put(0, std::vector<std::uint8_t>(2 * kPageSize, 0));
        // Per-CPU lowcores at the prefixes, with a store-status save area.
        for (unsigned i = 0; i < cpus_.size(); ++i) {
            const format::CpuState& s = cpus_[i];
            const std::uint64_t p = s.prefix;
            put(p, std::vector<std::uint8_t>(2 * kPageSize, 0));
            std::uint8_t cpu_addr[2];
            format::store_be16(cpu_addr, std::uint16_t(i));
            put(p + 0x84, cpu_addr);
            for (int r = 0; r < 16; ++r) put(p + 0x1200 + 8 * r, format::Bytes(s.vrs[r].data(), 8));  // fprs
            for (int r = 0; r < 16; ++r) put_be64(p + 0x1280 + 8 * r, s.gprs[r]);
            put_be64(p + 0x1300, s.psw[0]);
            put_be64(p + 0x1308, s.psw[1]);
            put_be32(p + 0x1318, s.prefix);
            put_be32(p + 0x131c, s.fpc);
            put_be32(p + 0x1324, s.todpreg);
            put_be64(p + 0x1328, s.timer);
            put_be64(p + 0x1330, s.todcmp);
            for (int r = 0; r < 16; ++r) put_be32(p + 0x1340 + 4 * r, s.acrs[r]);
            for (int r = 0; r < 16; ++r) put_be64(p + 0x1380 + 8 * r, s.ctrs[r]);
        }

        // printk ring buffer; it contributes VMCOREINFO lines (SYMBOL(prb), offsets).
        PrintkImage printk = build_printk_image(kGenPrintkAddr, o.log_lines, o.seed);
        need(kGenPrintkAddr + printk.bytes.size(), "the printk ring buffer");
        put(kGenPrintkAddr, printk.bytes);

        std::string info = "OSRELEASE=" + o.osrelease + "\nPAGESIZE=4096\nKERNELOFFSET=0\n" + printk.vmcoreinfo;
        // A struct page array for dump levels 2..16, when the first block has
        // room for it and nothing placed so far is in its way.
        memmap_ = GuestMemmap::plan(blocks_, seed_);
        if (memmap_) {
            const std::uint64_t lo = GuestMemmap::kTablesPhys / kPageSize;
            const auto clash = fixed_.lower_bound(lo);
            if (clash != fixed_.end() && clash->first < GuestMemmap::kMemmapPhys / kPageSize + memmap_->max_pfn() / 64 + 256)
                memmap_.reset();
        }
        if (memmap_) {
            for (auto& [addr, bytes] : memmap_->fixed_pages(o.osrelease)) put(addr, bytes);
            info += memmap_->vmcoreinfo();
        }
        const std::vector<std::uint8_t> note = guest::build_vmcoreinfo_note(info);
        if (note.size() > kGenOsInfoAddr + kPageSize - kGenVmcoreinfoAddr + kPageSize)
            fail(ErrorCode::Internal, "generated guest: VMCOREINFO note too large");
        need(kGenVmcoreinfoAddr + 2 * kPageSize, "VMCOREINFO");
        put(kGenVmcoreinfoAddr, note);
        put(kGenOsInfoAddr, guest::build_os_info(kGenVmcoreinfoAddr, note));
        put_be64(guest::kLowcoreVmcoreInfo, kGenVmcoreinfoAddr);
        put_be64(guest::kLowcoreOsInfo, kGenOsInfoAddr);
        if (memmap_) {
            std::vector<std::uint64_t> pns;
            for (auto& [pn, bytes] : fixed_) pns.push_back(pn);
            memmap_->set_reserved(std::move(pns));
        }
        // Fixed pages must lie in RAM.
        for (auto& [pn, bytes] : fixed_) {
            const std::uint64_t a = pn * kPageSize;
            bool in = false;
            for (auto& b : blocks_) in = in || (a >= b.paddr && a - b.paddr < b.size);
            if (!in) fail(ErrorCode::Usage, "generated guest: fixed page at " + hex(a) + " falls into a hole between RAM blocks");
        }
    }

    std::uint64_t seed_;
    std::vector<MemoryRange> blocks_;
    std::vector<format::CpuState> cpus_;
    std::map<std::uint64_t, std::vector<std::uint8_t>> fixed_;  // page number -> 4096 bytes
    std::optional<GuestMemmap> memmap_;
};

}  // namespace

const char* page_kind_name(PageKind kind) {
    switch (kind) {
    case PageKind::Data: return "data";
    case PageKind::Zero: return "zero";
    case PageKind::Shared: return "shared";
    }
    return "?";
}

std::uint64_t GuestSource::memory_size() const {
    std::uint64_t total = 0;
    for (const MemoryRange& b : blocks()) total += b.size;
    return total;
}

void GuestSource::classify_pages(std::uint64_t paddr, std::span<PageInfo> info) const {
    constexpr std::size_t kChunk = 256;
    std::vector<std::uint8_t> scratch(std::min(info.size(), kChunk) * kPageSize);
    for (std::size_t done = 0; done < info.size();) {
        const std::size_t n = std::min(info.size() - done, kChunk);
        read_pages(paddr + done * kPageSize, format::MutableBytes(scratch.data(), n * kPageSize), info.subspan(done, n));
        done += n;
    }
}

std::unique_ptr<GuestSource> open_raw_image(const RawImageOptions& options) { return std::make_unique<RawImage>(options); }
std::unique_ptr<GuestSource> open_vmcore(const std::string& path) { return std::make_unique<Vmcore>(path); }
std::unique_ptr<GuestSource> generate_guest(const GeneratedGuestOptions& options) {
    return std::make_unique<GeneratedGuest>(options);
}

std::unique_ptr<GuestSource> open_guest_file(const std::string& path, unsigned cpus, const std::vector<MemoryRange>& blocks,
                                             std::uint64_t seed) {
    if (is_elf_file(path)) return open_vmcore(path);
    return open_raw_image({path, cpus, blocks, seed});
}

bool is_elf_file(const std::string& path) {
    format::MappedFile probe(path);
    const format::Bytes b = probe.bytes();
    return b.size() >= 4 && std::memcmp(b.data(), "\x7f" "ELF", 4) == 0;
}

std::uint32_t made_up_prefix(unsigned cpu) { return 0x10000u + 0x2000u * cpu; }

format::CpuState made_up_cpu(std::uint64_t seed, unsigned cpu, std::uint64_t memory_end) {
    Rng rng{mix64(seed ^ 0x6370757374617465ull) + 1000003ull * cpu};
    format::CpuState s;
    for (auto& g : s.gprs) g = rng.next();
    // 64-bit addressing, DAT on, I/O and external interrupts enabled.
    s.psw[0] = 0x0704c00180000000ull;
    s.psw[1] = (rng.next() % std::max<std::uint64_t>(memory_end, 2)) & ~1ull;
    s.prefix = made_up_prefix(cpu);
    s.fpc = std::uint32_t(rng.next()) & 0xf8f8ff77u;
    s.todpreg = std::uint32_t(rng.next() & 0xffff);
    s.timer = rng.next();
    s.todcmp = rng.next();
    for (auto& a : s.acrs) a = std::uint32_t(rng.next());
    for (auto& c : s.ctrs) c = rng.next();
    for (auto& v : s.vrs) {
        format::store_be64(v.data(), rng.next());
        format::store_be64(v.data() + 8, rng.next());
    }
    s.gsd = rng.next();
    s.gssm = rng.next();
    s.gs_epl_a = rng.next();
    return s;
}

std::uint64_t parse_size(std::string_view text) {
    const std::string orig(text);
    auto bad = [&]() -> std::uint64_t { fail(ErrorCode::Usage, "'" + orig + "' is not a size (e.g. 4096, 0x1000, 64M, 1G)"); };
    if (text.empty()) bad();
    int base = 10;
    if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
        base = 16;
        text.remove_prefix(2);
    }
    std::uint64_t value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
    if (ec != std::errc() || ptr == text.data()) bad();
    std::string suffix(ptr, text.data() + text.size());
    for (char& c : suffix) c = char(std::toupper(static_cast<unsigned char>(c)));
    unsigned shift = 0;
    if (suffix.empty() || suffix == "B") shift = 0;
    else if (suffix == "K" || suffix == "KB" || suffix == "KIB") shift = 10;
    else if (suffix == "M" || suffix == "MB" || suffix == "MIB") shift = 20;
    else if (suffix == "G" || suffix == "GB" || suffix == "GIB") shift = 30;
    else if (suffix == "T" || suffix == "TB" || suffix == "TIB") shift = 40;
    else bad();
    if (shift && value > (~0ull >> shift)) fail(ErrorCode::Usage, "size '" + orig + "' does not fit in 64 bits");
    return value << shift;
}

MemoryRange parse_block(std::string_view text) {
    const auto colon = text.find(':');
    if (colon == std::string_view::npos)
        fail(ErrorCode::Usage, "--block '" + std::string(text) + "' is not START:SIZE (e.g. 0:64M or 128M:32M)");
    return {parse_size(text.substr(0, colon)), parse_size(text.substr(colon + 1))};
}

}  // namespace pvdump::producer
