// The guest kernel log: VMCOREINFO lookup, the printk ringbuffer generator and
// reader (round trips, both rings wrapping, garbage), the pre-5.10 log_buf
// layout, and the real Debian 12 s390x guest.
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "analysis/kernel_log.hpp"
#include "format/core_file.hpp"
#include "format/bytes.hpp"
#include "format/error.hpp"
#include "guest/s390.hpp"
#include "producer/guest_printk.hpp"

using namespace pvdump;
using analysis::LogRecord;
using analysis::VmcoreInfo;

namespace {

// Guest memory held in a vector, starting at guest physical `base`.
class VecMemory : public format::MemoryView {
public:
    VecMemory(std::uint64_t base, std::uint64_t size) : base_(base), bytes_(size, 0) {}
    bool contains(std::uint64_t paddr, std::uint64_t size) const override {
        return paddr >= base_ && paddr - base_ <= bytes_.size() && size <= bytes_.size() - (paddr - base_);
    }
    void read(std::uint64_t paddr, std::span<std::uint8_t> out) const override {
        if (!contains(paddr, out.size())) throw Error(ErrorCode::Format, "test memory: read outside");
        std::copy_n(bytes_.begin() + std::ptrdiff_t(paddr - base_), out.size(), out.begin());
    }
    std::uint8_t* at(std::uint64_t paddr) { return bytes_.data() + (paddr - base_); }
    void put(std::uint64_t paddr, std::span<const std::uint8_t> b) { std::copy(b.begin(), b.end(), at(paddr)); }
    void put64(std::uint64_t paddr, std::uint64_t v) { format::store_be64(at(paddr), v); }
    std::vector<std::uint8_t>& bytes() { return bytes_; }
    const std::vector<std::uint8_t>& bytes() const { return bytes_; }

private:
    std::uint64_t base_;
    std::vector<std::uint8_t> bytes_;
};

// A plain s390x ELF vmcore read straight from the file: the PT_LOADs only
// (the real guest's headers are checked by format/ tests, not here).
class ElfFileMemory : public format::MemoryView {
public:
    explicit ElfFileMemory(const std::string& path) : file_(path, std::ios::binary) {
        if (!file_) throw Error(ErrorCode::Io, "cannot open " + path);
        std::uint8_t eh[64];
        file_.read(reinterpret_cast<char*>(eh), sizeof eh);
        const std::uint64_t phoff = format::load_be64(eh + 0x20);
        const std::uint16_t phentsize = format::load_be16(eh + 0x36), phnum = format::load_be16(eh + 0x38);
        for (unsigned i = 0; i < phnum; ++i) {
            std::uint8_t ph[56];
            file_.seekg(std::streamoff(phoff + std::uint64_t(i) * phentsize));
            file_.read(reinterpret_cast<char*>(ph), sizeof ph);
            if (format::load_be32(ph) != 1) continue;  // PT_LOAD
            loads_.push_back({format::load_be64(ph + 8), format::load_be64(ph + 24), format::load_be64(ph + 32)});
        }
    }
    bool contains(std::uint64_t paddr, std::uint64_t size) const override { return find(paddr, size) != nullptr; }
    void read(std::uint64_t paddr, std::span<std::uint8_t> out) const override {
        const Load* l = find(paddr, out.size());
        if (!l) throw Error(ErrorCode::Format, "real guest: read outside");
        file_.seekg(std::streamoff(l->offset + (paddr - l->paddr)));
        file_.read(reinterpret_cast<char*>(out.data()), std::streamsize(out.size()));
    }

private:
    struct Load {
        std::uint64_t offset, paddr, filesz;
    };
    const Load* find(std::uint64_t paddr, std::uint64_t size) const {
        for (const auto& l : loads_)
            if (paddr >= l.paddr && paddr - l.paddr <= l.filesz && size <= l.filesz - (paddr - l.paddr)) return &l;
        return nullptr;
    }
    mutable std::ifstream file_;
    std::vector<Load> loads_;
};

std::vector<producer::PrintkLine> make_lines(std::size_t n, std::uint32_t seed = 1) {
    std::mt19937 rng(seed);
    std::vector<producer::PrintkLine> lines;
    std::uint64_t ts = 0;
    for (std::size_t i = 0; i < n; ++i) {
        producer::PrintkLine l;
        ts += 1000 + rng() % 5000000;
        l.ts_nsec = ts;
        const std::size_t len = 1 + rng() % 120;
        l.text = "line " + std::to_string(i) + ":";
        while (l.text.size() < len) l.text += char('a' + rng() % 26);
        l.level = std::uint8_t(rng() % 8);
        l.facility = std::uint8_t(i % 3 == 0 ? 1 : 0);
        l.caller_id = (i % 2) ? 0x80000000u | std::uint32_t(i % 4) : std::uint32_t(i + 1);
        lines.push_back(std::move(l));
    }
    return lines;
}

// A guest with the log region at `base`, the VMCOREINFO note at 0x10000 and
// the lowcore pointer at 0xe0c.
struct Guest {
    VecMemory mem;
    producer::GuestPrintk klog;
    std::string vmcoreinfo;
};

constexpr std::uint64_t kRegion = 0x20000;

Guest make_guest(std::span<const producer::PrintkLine> lines, const producer::PrintkConfig& cfg = {}) {
    const std::uint64_t size = producer::printk_region_size(cfg);
    Guest g{VecMemory(0, kRegion + size + 0x1000), producer::build_guest_printk(kRegion, size, lines, cfg), ""};
    g.vmcoreinfo = "OSRELEASE=6.1.0-test\nPAGESIZE=4096\n" + g.klog.vmcoreinfo_text() + "KERNELOFFSET=0\n";
    const auto note = guest::build_vmcoreinfo_note(g.vmcoreinfo);
    g.mem.put(0x10000, note);
    g.mem.put64(guest::kLowcoreVmcoreInfo, 0x10000);
    g.klog.overlay(0, g.mem.bytes());
    return g;
}

void check_records(const std::vector<LogRecord>& got, std::span<const producer::PrintkLine> lines,
                   std::size_t first) {
    REQUIRE(got.size() == lines.size() - first);
    for (std::size_t i = 0; i < got.size(); ++i) {
        const auto& want = lines[first + i];
        INFO("record " << i << " (line " << first + i << ")");
        CHECK(got[i].seq == first + i);
        CHECK(got[i].ts_nsec == want.ts_nsec);
        CHECK(got[i].text == want.text);
        CHECK(got[i].level == want.level);
        CHECK(got[i].facility == want.facility);
        CHECK(got[i].flags == 0x2);  // LOG_NEWLINE
        REQUIRE(got[i].caller_id.has_value());
        CHECK(*got[i].caller_id == want.caller_id);
    }
}

std::vector<LogRecord> read_guest(const Guest& g) {
    auto text = guest::find_vmcoreinfo(g.mem);
    REQUIRE(text.has_value());
    return analysis::read_kernel_log(g.mem, VmcoreInfo::parse(*text));
}

template <typename F>
std::string format_error(F&& f) {
    try {
        f();
    } catch (const Error& e) {
        CHECK(e.code() == ErrorCode::Format);
        return e.what();
    }
    FAIL("no pvdump::Error thrown");
    return {};
}

}  // namespace

TEST_CASE("VMCOREINFO text parses into typed lookups") {
    const auto info = VmcoreInfo::parse(
        "OSRELEASE=6.1.0-50-s390x\nSYMBOL(prb)=e63e08\nOFFSET(printk_info.text_len)=16\n"
        "SIZE(printk_info)=88\nLENGTH(printk_info_device)=48\nNUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129\n"
        "KERNELOFFSET=0\nno equals sign here\nSYMBOL(bad)=xyz\nSYMBOL(prb)=ffff\n");
    CHECK(info.value("OSRELEASE") == "6.1.0-50-s390x");
    CHECK(info.symbol("prb") == 0xe63e08u);  // the first occurrence wins
    CHECK(info.offset("printk_info.text_len") == 16);
    CHECK(info.size("printk_info") == 88);
    CHECK(info.length("printk_info_device") == 48);
    CHECK(info.number("PAGE_BUDDY_MAPCOUNT_VALUE") == -129);
    CHECK(info.hex("KERNELOFFSET") == 0u);
    CHECK_FALSE(info.symbol("bad").has_value());
    CHECK_FALSE(info.symbol("log_buf").has_value());
    const auto msg = format_error([&] { info.require_offset("prb_desc.state_var"); });
    CHECK(msg.find("OFFSET(prb_desc.state_var)") != std::string::npos);
    CHECK_THROWS_AS(VmcoreInfo::parse(std::string((1u << 20) + 1, 'x')), Error);
}

TEST_CASE("s390 csum_partial: 32-bit words, end-around carry, zero-padded tail") {
    const std::uint8_t a[] = {0, 1, 0, 1};
    CHECK(guest::s390_csum_partial(a) == 0x00010001u);
    const std::uint8_t b[] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2};
    CHECK(guest::s390_csum_partial(b) == 0x00000002u);
    const std::uint8_t c[] = {0x12};
    CHECK(guest::s390_csum_partial(c) == 0x12000000u);
}

TEST_CASE("kernel address translation: 6.1 identity, 6.10+ image and identity map") {
    analysis::KernelAddressMap old61 = analysis::KernelAddressMap::from(VmcoreInfo::parse("KERNELOFFSET=0\n"));
    CHECK(old61.to_phys(0xe63e08, "x") == 0xe63e08u);
    const auto new610 = analysis::KernelAddressMap::from(VmcoreInfo::parse(
        "IDENTITYBASE=3ffc0000000\nKERNELOFFSET=3ffe0000000\nKERNELOFFPHYS=1c00000\n"));
    CHECK(new610.to_phys(0x3ffe0123000, "image") == 0x1d23000u);
    CHECK(new610.to_phys(0x3ffc0002000, "heap") == 0x2000u);
    CHECK(format_error([&] { new610.to_phys(0x1000, "prb"); }).find("identity map base") != std::string::npos);
}

TEST_CASE("generated printk ringbuffer reads back line by line") {
    auto lines = make_lines(60);
    lines[7].text = "first line\nsecond line";  // one record, two lines
    lines[8].text = "";                           // an empty record (data-less block)
    lines[9].text = std::string("ctl\x01\x7f") + "\xc3\xa9";
    const Guest g = make_guest(lines);
    CHECK(g.klog.first_kept == 0);

    const auto text = guest::find_vmcoreinfo(g.mem);
    REQUIRE(text.has_value());
    CHECK(*text == g.vmcoreinfo);
    const auto log = analysis::read_kernel_log_detailed(g.mem, VmcoreInfo::parse(*text));
    CHECK(log.source == analysis::KernelLogSource::PrintkRingbuffer);
    CHECK(log.invalid == 0);
    CHECK(log.truncated == 0);
    CHECK(log.not_committed == 1);  // the initial descriptor (reusable), as in a real kernel
    check_records(log.records, lines, 0);

    // Formatting, as crash's `log` prints.
    LogRecord r;
    r.ts_nsec = 1382078611;
    r.text = "Linux version 6.1.0";
    CHECK(analysis::format_log_record(r) == "[    1.382078] Linux version 6.1.0");
    r.ts_nsec = 123456789012345678ull;
    CHECK(analysis::format_log_record(r) == "[123456789.012345] Linux version 6.1.0");
    CHECK(analysis::format_log_record(log.records[7]).ends_with("first line\n               second line"));
    CHECK(analysis::format_log_record(log.records[8]).size() == std::string("[    0.000000] ").size());
    CHECK(analysis::format_log_record(log.records[9]).ends_with("ctl..\xc3\xa9"));
    analysis::LogFormat all{.show_caller = true, .show_level = true};
    r.caller_id = 0x80000002u;
    r.level = 6;
    r.ts_nsec = 0;
    CHECK(analysis::format_log_record(r, all) == "[    0.000000] [    C2] <6>Linux version 6.1.0");
    const auto whole = analysis::format_kernel_log(log.records);
    CHECK(std::count(whole.begin(), whole.end(), '\n') == 61);
}

TEST_CASE("data ring wrap-around at every position keeps the newest lines") {
    // A 1 KiB data ring with plenty of descriptors: the data ring wraps, at
    // every possible offset as lines are added one at a time.
    const producer::PrintkConfig cfg{.data_size_bits = 10, .desc_count_bits = 8};
    const auto lines = make_lines(300, 7);
    std::size_t wrapped_runs = 0;
    for (std::size_t n = 1; n <= lines.size(); ++n) {
        const std::span<const producer::PrintkLine> some(lines.data(), n);
        const Guest g = make_guest(some, cfg);
        const auto got = read_guest(g);
        INFO("n=" << n << " first_kept=" << g.klog.first_kept);
        check_records(got, some, g.klog.first_kept);
        // What is kept fits in the ring; one line more would not have.
        std::uint64_t blocks = 0;
        for (std::size_t i = g.klog.first_kept; i < n; ++i) blocks += (8 + some[i].text.size() + 7) / 8 * 8;
        CHECK(blocks <= 1024);
        if (g.klog.first_kept > 0) {
            ++wrapped_runs;
            const auto& prev = some[g.klog.first_kept - 1];
            CHECK(blocks + (8 + prev.text.size() + 7) / 8 * 8 > 1024 - 128);  // a wrap gap is < one block
        }
    }
    CHECK(wrapped_runs > 250);
}

TEST_CASE("descriptor ring wrap-around keeps exactly the last 2^count_bits lines") {
    const producer::PrintkConfig cfg{.data_size_bits = 16, .desc_count_bits = 4};
    const auto lines = make_lines(100, 3);
    const Guest g = make_guest(lines, cfg);
    CHECK(g.klog.first_kept == 84);
    check_records(read_guest(g), lines, 84);
    // And both rings at once.
    const producer::PrintkConfig both{.data_size_bits = 9, .desc_count_bits = 3};
    const auto many = make_lines(500, 11);
    for (std::size_t n : {7u, 8u, 9u, 31u, 257u, 500u}) {
        const std::span<const producer::PrintkLine> some(many.data(), n);
        std::vector<producer::PrintkLine> shortlines(some.begin(), some.end());
        for (auto& l : shortlines) l.text.resize(std::min<std::size_t>(l.text.size(), 200));
        const Guest gb = make_guest(shortlines, both);
        INFO("n=" << n);
        CHECK(n - gb.klog.first_kept <= 8);
        check_records(read_guest(gb), shortlines, gb.klog.first_kept);
    }
}

TEST_CASE("a block ending exactly at the end of the data ring (newer kernels) is read in place") {
    // 6.1 never writes such a block (it wraps it to the start); newer kernels
    // do. Move the only record's block so that it ends at the ring's end; on
    // this first wrap its next lpos is 2^64, i.e. 0.
    const producer::PrintkConfig cfg{.data_size_bits = 9, .desc_count_bits = 3};
    std::vector<producer::PrintkLine> one(1);
    one[0].ts_nsec = 42000;
    one[0].text = "perfect fit";  // block of 24 bytes
    Guest g = make_guest(one, cfg);
    const std::uint64_t ring = kRegion + 0x10, descs = kRegion + 0x80;
    const std::uint64_t data = format::load_be64(g.mem.at(ring + 56));
    const std::uint64_t id = format::load_be64(g.mem.at(descs)) & ((std::uint64_t{1} << 62) - 1);
    const std::uint64_t begin = format::load_be64(g.mem.at(descs + 8)) + 512 - 24;
    g.mem.put64(descs + 8, begin);
    g.mem.put64(descs + 16, begin + 24);
    std::fill_n(g.mem.at(data), 512, 0);
    g.mem.put64(data + 512 - 24, id);
    std::copy_n(one[0].text.data(), one[0].text.size(), g.mem.at(data + 512 - 16));
    const auto got = read_guest(g);
    REQUIRE(got.size() == 1);
    CHECK(got[0].text == "perfect fit");
}

TEST_CASE("the generator refuses what no kernel would write") {
    const auto lines = make_lines(3);
    CHECK_THROWS_AS(producer::build_guest_printk(kRegion, 100, lines), Error);
    CHECK_THROWS_AS(producer::build_guest_printk(kRegion + 4, producer::printk_region_size(), lines), Error);
    producer::PrintkConfig tiny{.data_size_bits = 6, .desc_count_bits = 2};
    CHECK_THROWS_AS(producer::build_guest_printk(kRegion, producer::printk_region_size(tiny), lines, tiny), Error);
    CHECK_THROWS_AS(producer::printk_region_size({.data_size_bits = 40}), Error);
}

TEST_CASE("generator VMCOREINFO names match what Linux 6.1 publishes") {
    const auto g = make_guest(make_lines(1));
    const auto info = VmcoreInfo::parse(g.vmcoreinfo);
    CHECK(info.symbol("prb") == kRegion);
    CHECK(info.symbol("printk_rb_static") == kRegion + 0x10);
    CHECK(g.vmcoreinfo.find("SYMBOL(prb)=20000\n") != std::string::npos);  // %lx, no 0x
    CHECK(g.klog.vmcoreinfo_lines.size() == 39);
}

TEST_CASE("a damaged ringbuffer is a clean Format error or a skipped record, never a crash") {
    const auto lines = make_lines(40);
    const producer::PrintkConfig cfg{.data_size_bits = 13, .desc_count_bits = 7};
    const Guest good = make_guest(lines, cfg);
    const auto info = VmcoreInfo::parse(good.vmcoreinfo);
    const std::uint64_t ring = kRegion + 0x10;
    const std::uint64_t descs = kRegion + 0x80;

    SUBCASE("count_bits out of range") {
        Guest g = good;
        format::store_be32(g.mem.at(ring), 60);
        CHECK(format_error([&] { analysis::read_kernel_log(g.mem, info); }).find("count_bits 60") !=
              std::string::npos);
    }
    SUBCASE("descriptor array outside the dump") {
        Guest g = good;
        g.mem.put64(ring + 8, 0x7fff0000);
        CHECK(format_error([&] { analysis::read_kernel_log(g.mem, info); }).find("not in the dump") !=
              std::string::npos);
    }
    SUBCASE("head and tail further apart than the ring") {
        Guest g = good;
        g.mem.put64(ring + 24, 0x123456789);
        CHECK(format_error([&] { analysis::read_kernel_log(g.mem, info); }).find("apart") != std::string::npos);
    }
    SUBCASE("prb pointer into nowhere") {
        Guest g = good;
        g.mem.put64(kRegion, 0xdead00000000);
        CHECK(format_error([&] { analysis::read_kernel_log(g.mem, info); }).find("not in the dump") !=
              std::string::npos);
    }
    SUBCASE("memory truncated in the middle of the data ring") {
        VecMemory cut(0, kRegion + producer::printk_region_size(cfg) - 100);
        std::copy_n(good.mem.bytes().begin(), cut.bytes().size(), cut.bytes().begin());
        CHECK(format_error([&] { analysis::read_kernel_log(cut, info); }).find("prb_data_ring.data") !=
              std::string::npos);
    }
    SUBCASE("a missing VMCOREINFO entry is named") {
        auto partial = info;
        partial.entries.erase("OFFSET(prb_desc.state_var)");
        CHECK(format_error([&] { analysis::read_kernel_log(good.mem, partial); })
                  .find("OFFSET(prb_desc.state_var)") != std::string::npos);
        partial = info;
        partial.entries["OFFSET(printk_info.ts_nsec)"] = "200";
        CHECK(format_error([&] { analysis::read_kernel_log(good.mem, partial); }).find("does not fit") !=
              std::string::npos);
    }
    SUBCASE("bad lpos and overwritten block id skip one record each") {
        Guest g = good;
        g.mem.put64(descs + 5 * 24 + 8, 0x12345);  // record 5: misaligned begin
        const std::uint64_t begin6 = format::load_be64(g.mem.at(descs + 6 * 24 + 8));
        const std::uint64_t data = format::load_be64(g.mem.at(ring + 56));
        g.mem.put64(data + (begin6 & 8191), 0x42);  // record 6: block id overwritten
        const auto log = analysis::read_kernel_log_detailed(g.mem, info);
        CHECK(log.invalid == 2);
        REQUIRE(log.records.size() == 38);
        CHECK(log.records[5].seq == 7);
        CHECK(log.records[5].text == lines[7].text);
    }
    SUBCASE("text_len larger than the block is truncated to the block") {
        Guest g = good;
        format::store_be16(g.mem.at(kRegion + 0x80 + 128 * 24 + 3 * 88 + 16), 0xffff);
        const auto log = analysis::read_kernel_log_detailed(g.mem, info);
        CHECK(log.truncated == 1);
        CHECK(log.records[3].text.starts_with(lines[3].text));
    }
    SUBCASE("random damage in the control structures") {
        std::mt19937 rng(2024);
        const std::uint64_t span = 0x80 + 128 * (24 + 88) + 256;  // header, descs, infos, some data
        int errors = 0, reads = 0;
        for (int round = 0; round < 3000; ++round) {
            Guest g = good;
            const int hits = 1 + int(rng() % 6);
            for (int h = 0; h < hits; ++h) {
                const std::uint64_t at = kRegion + (rng() % span);
                *g.mem.at(at) = std::uint8_t(rng());
            }
            try {
                const auto log = analysis::read_kernel_log_detailed(g.mem, info);
                CHECK(log.records.size() <= 128);
                ++reads;
            } catch (const Error& e) {
                CHECK(e.code() == ErrorCode::Format);
                ++errors;
            }
        }
        CHECK(reads > 0);
        CHECK(errors > 0);
    }
}

TEST_CASE("VMCOREINFO is found through 0xe0c, else through os_info, else not at all") {
    const std::string text = "OSRELEASE=6.1.0-test\nSYMBOL(prb)=1000\n";
    VecMemory mem(0, 0x40000);
    SUBCASE("nothing there") { CHECK_FALSE(guest::find_vmcoreinfo(mem).has_value()); }
    SUBCASE("note pointer") {
        mem.put(0x20000, guest::build_vmcoreinfo_note(text));
        mem.put64(0xe0c, 0x20000);
        CHECK(guest::find_vmcoreinfo(mem) == text);
        format::store_be32(mem.at(0x20004), 0x7fffffff);  // descsz beyond any sanity
        CHECK_FALSE(guest::find_vmcoreinfo(mem).has_value());
    }
    SUBCASE("os_info fallback, checksums verified") {
        mem.put64(0xe0c, 0xfffffff000);  // points nowhere
        const std::uint64_t os = 0x30000, entry = 0x31000;
        mem.put(entry, std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
        std::uint8_t* p = mem.at(os);
        format::store_be64(p, 0x4f53494e464f535aULL);  // OSINFOSZ
        format::store_be16(p + 12, 1);
        format::store_be16(p + 14, 1);
        format::store_be64(p + 32, entry);
        format::store_be64(p + 40, text.size());
        format::store_be32(p + 48, guest::s390_csum_partial(
                                       std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size())));
        format::store_be32(p + 8, guest::s390_csum_partial(std::span<const std::uint8_t>(p + 12, 4096 - 12)));
        mem.put64(0xe18, os);
        CHECK(guest::find_vmcoreinfo(mem) == text);
        p[14] ^= 1;  // the page checksum no longer matches
        CHECK_FALSE(guest::find_vmcoreinfo(mem).has_value());
        p[14] ^= 1;
        *mem.at(entry + 3) ^= 0x20;  // the entry's checksum no longer matches
        CHECK_FALSE(guest::find_vmcoreinfo(mem).has_value());
    }
}

TEST_CASE("pre-5.10 log_buf records, with the end-of-buffer wrap marker") {
    // struct printk_log (packed): ts_nsec @0, len @8, text_len @10, dict_len @12,
    // facility @14, flags:5|level:3 @15; SIZE 16; the text and dict follow.
    const std::uint64_t buf = 0x8000, buf_len = 256;
    VecMemory mem(0, 0x10000);
    mem.put64(0x1000, buf);                       // log_buf
    format::store_be32(mem.at(0x1008), buf_len);  // log_buf_len
    auto rec = [&](std::uint32_t idx, std::uint64_t ts, std::string_view text, std::string_view dict) {
        const std::uint16_t len = std::uint16_t((16 + text.size() + dict.size() + 7) / 8 * 8);
        std::uint8_t* p = mem.at(buf + idx);
        format::store_be64(p, ts);
        format::store_be16(p + 8, len);
        format::store_be16(p + 10, std::uint16_t(text.size()));
        format::store_be16(p + 12, std::uint16_t(dict.size()));
        p[14] = 0;
        p[15] = std::uint8_t((2 << 3) | 4);
        std::copy(text.begin(), text.end(), p + 16);
        std::copy(dict.begin(), dict.end(), p + 16 + text.size());
        return idx + len;
    };
    // Oldest record at 160, then a zero-length marker at 208, then from 0.
    std::uint32_t i = rec(160, 5000, "oldest record here", "");
    CHECK(i == 200);
    i = rec(0, 6000, "after the wrap", std::string("SUBSYSTEM=virtio\0DEVICE=+virtio:v1", 34));
    i = rec(i, 7000000000ull, "newest", "");
    format::store_be32(mem.at(0x100c), 160);  // log_first_idx
    format::store_be32(mem.at(0x1010), i);    // log_next_idx
    const auto info = VmcoreInfo::parse(
        "SYMBOL(log_buf)=1000\nSYMBOL(log_buf_len)=1008\nSYMBOL(log_first_idx)=100c\nSYMBOL(log_next_idx)=1010\n"
        "SIZE(printk_log)=16\nOFFSET(printk_log.ts_nsec)=0\nOFFSET(printk_log.len)=8\n"
        "OFFSET(printk_log.text_len)=10\nOFFSET(printk_log.dict_len)=12\n");
    const auto log = analysis::read_kernel_log_detailed(mem, info);
    CHECK(log.source == analysis::KernelLogSource::LogBuf);
    REQUIRE(log.records.size() == 3);
    CHECK(log.records[0].text == "oldest record here");
    CHECK(log.records[1].text == "after the wrap");
    CHECK(log.records[1].subsystem == "virtio");
    CHECK(log.records[1].device == "+virtio:v1");
    CHECK(log.records[2].level == 4);
    CHECK(analysis::format_log_record(log.records[2]) == "[    7.000000] newest");
    CHECK(analysis::format_log_record(log.records[1], {.show_dict = true}) ==
          "[    0.000006] after the wrap\n               SUBSYSTEM=virtio\n               DEVICE=+virtio:v1");

    // A chain that never reaches log_next_idx is an error, not a hang.
    format::store_be32(mem.at(0x1010), 4);
    CHECK(format_error([&] { analysis::read_kernel_log(mem, info); }).find("log_buf") != std::string::npos);
}

TEST_CASE("VMCOREINFO without any log is a clear error") {
    VecMemory mem(0, 0x1000);
    CHECK(format_error([&] { analysis::read_kernel_log(mem, VmcoreInfo::parse("OSRELEASE=x\n")); })
              .find("neither SYMBOL(prb) nor SYMBOL(log_buf)") != std::string::npos);
}

TEST_CASE("real Debian 12 s390x guest: VMCOREINFO and the boot log") {
    const std::string path = PVDUMP_BIN_DIR "/realguest.vmcore";
    if (!std::ifstream(path)) FAIL("missing " << path << " (the realguest fixture unpacks it)");
    const ElfFileMemory mem(path);

    const auto text = guest::find_vmcoreinfo(mem);
    REQUIRE(text.has_value());
    const auto info = VmcoreInfo::parse(*text);
    CHECK(info.value("OSRELEASE") == "6.1.0-50-s390x");
    CHECK(info.value("SYMBOL(prb)") == "e63e08");
    CHECK(info.symbol("prb") == 0xe63e08u);
    CHECK(info.hex("KERNELOFFSET") == 0u);

    // Every printk name the generator publishes, the real kernel publishes too,
    // with the same value (addresses aside).
    const auto gen = VmcoreInfo::parse(make_guest(make_lines(1)).vmcoreinfo);
    for (const auto& entry : gen.entries) {
        const std::string& k = entry.first;  // not a structured binding: INFO captures it
        const auto& v = entry.second;
        if (k == "OSRELEASE" || k == "PAGESIZE" || k == "KERNELOFFSET") continue;
        INFO(k);
        REQUIRE(info.value(k).has_value());
        if (!k.starts_with("SYMBOL(")) CHECK(*info.value(k) == v);
    }

    const auto log = analysis::read_kernel_log_detailed(mem, info);
    CHECK(log.invalid == 0);
    CHECK(log.truncated == 0);
    CHECK(log.not_committed == 1);  // the initial, never used descriptor
    REQUIRE(log.records.size() == 147);
    for (std::size_t i = 0; i < log.records.size(); ++i) CHECK(log.records[i].seq == i);
    CHECK(log.records[0].level == 5);  // "Linux version" is KERN_NOTICE
    CHECK(log.records[0].facility == 0);

    std::vector<std::string> lines;
    for (const auto& r : log.records) lines.push_back(analysis::format_log_record(r));
    CHECK(lines[0] ==
          "[    1.382078] Linux version 6.1.0-50-s390x (debian-kernel@lists.debian.org) (gcc-12 (Debian "
          "12.2.0-14+deb12u1) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP Debian 6.1.176-1 (2026-07-02)");
    CHECK(lines[1] == "[    1.382995] setup: Linux is running under KVM in 64-bit mode");
    CHECK(lines[2] == "[    1.386364] setup: The maximum memory size is 256MB");
    CHECK(lines[144] == "[    2.230530]     HOME=/");
    CHECK(lines[145] == "[    2.230539]     TERM=linux");
    CHECK(lines[146] == "[    2.361131] PVDUMP-TEST-MARKER 2a30d76148898ef3 uname=6.1.0-50-s390x cpus=3");
    CHECK(log.records[146].facility == 1);  // written through /dev/kmsg
    CHECK(std::is_sorted(log.records.begin(), log.records.end(),
                         [](const LogRecord& a, const LogRecord& b) { return a.ts_nsec < b.ts_nsec; }));

    // The same through format::CoreFile's plain vmcore view: identical lines.
    const auto core = format::CoreFile::open(path);
    const auto view = core.plain_memory();
    const auto text2 = guest::find_vmcoreinfo(*view);
    REQUIRE(text2.has_value());
    CHECK(*text2 == *text);
    const auto records2 = analysis::read_kernel_log(*view, info);
    CHECK(analysis::format_kernel_log(records2) == analysis::format_kernel_log(log.records));
}

namespace {

// Memory that claims every range and faults on every read past page 0, whose
// pointer at lowcore 0xe0c leads there (the os_info pointer at 0xe18 is null).
class FaultingMemory final : public format::MemoryView {
public:
    bool contains(std::uint64_t, std::uint64_t) const override { return true; }
    void read(std::uint64_t paddr, std::span<std::uint8_t> out) const override {
        if (paddr >= format::kPageSize) fail(ErrorCode::Format, "guest page " + hex(paddr) + " is unreadable");
        std::fill(out.begin(), out.end(), std::uint8_t(0));
        if (paddr == 0xe0c && out.size() == 8) out[6] = 0x20;  // big-endian 0x2000
    }
};

}  // namespace

TEST_CASE("find_vmcoreinfo: a way that ends in a fault is reported with its field, the search goes on") {
    const FaultingMemory mem;
    format::Diagnostics why;
    CHECK_FALSE(guest::find_vmcoreinfo(mem, &why));
    REQUIRE(why.all().size() == 1);
    CHECK(why.all()[0].field == "VMCOREINFO note pointer (lowcore 0xe0c)");
    CHECK(why.all()[0].message == "guest page 0x2000 is unreadable");
    CHECK_FALSE(guest::find_vmcoreinfo(mem));  // without a sink: still "not found", no throw
}
