// format::QemuLayout against QEMU's real layout: the independent golden dump
// (basic.pvdump, QEMU 7.2 PV layout) and the real guest (QEMU 7.2, plain).
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>

#include "format/core_file.hpp"
#include "format/qemu_writer.hpp"
#include "support/util.hpp"

using namespace pvdump;
using namespace pvdump::format;
using namespace testutil;

namespace {

QemuLayout basic_layout() {
    QemuLayoutParams p;
    p.cpus = 2;
    p.blocks = {{0, 4 * kMiB}};
    return QemuLayout(p);
}

struct Shdr {
    std::uint32_t name, type;
    std::uint64_t flags, addr, offset, size;
    std::uint32_t link, info;
    std::uint64_t align, entsize;
};
Shdr shdr(const std::vector<std::uint8_t>& h, std::uint64_t shoff, unsigned i) {
    const std::uint8_t* p = h.data() + shoff + 64 * i;
    return {load_be32(p),      load_be32(p + 4),  load_be64(p + 8),  load_be64(p + 16), load_be64(p + 24),
            load_be64(p + 32), load_be32(p + 40), load_be32(p + 44), load_be64(p + 48), load_be64(p + 56)};
}

}  // namespace

TEST_CASE("QemuLayout: every offset of basic.pvdump (2 CPUs, 4 MiB) equals basic.json's layout") {
    const testjson::Value j = vector_json("basic")["layout"];
    const QemuLayout l = basic_layout();
    CHECK(l.shoff() == j["shoff"].u64());
    CHECK(l.phoff() == j["phoff"].u64());
    CHECK(l.note_offset() == j["note_offset"].u64());
    CHECK(l.note_size() == j["note_size"].u64());
    CHECK(l.memory_offset() == j["memory_offset"].u64());
    CHECK(l.mem_meta_offset() == j["pv_mem_meta_offset"].u64());
    CHECK(l.mem_meta_size() == j["pv_mem_meta_size"].u64());
    CHECK(l.compl_offset() == j["pv_compl_offset"].u64());
    CHECK(l.shstrtab_offset() == j["shstrtab_offset"].u64());
    CHECK(l.file_size() == j["file_size"].u64());
    CHECK(kQemuEhsize == j["e_ehsize"].u64());
}

TEST_CASE("QemuLayout: ELF header, section and program headers are byte-identical to basic.pvdump") {
    const QemuLayout l = basic_layout();
    const std::vector<std::uint8_t> head = l.encode_headers();
    const std::vector<std::uint8_t> golden = read_file(data("basic.pvdump"));
    REQUIRE(head.size() == 432);
    CHECK(std::memcmp(head.data(), golden.data(), head.size()) == 0);
    const std::uint64_t at = l.shstrtab_offset();
    CHECK(std::vector<std::uint8_t>(golden.begin() + long(at), golden.end()) == l.shstrtab());
}

TEST_CASE("QemuLayout: section table and QEMU's padded string table") {
    const QemuLayout l = basic_layout();
    const std::vector<std::uint8_t> h = l.encode_headers();
    CHECK(load_be16(h.data() + 52) == 8);   // e_ehsize as QEMU writes it
    CHECK(load_be16(h.data() + 58) == 64);  // e_shentsize
    CHECK(load_be16(h.data() + 60) == 4);   // e_shnum
    CHECK(load_be16(h.data() + 62) == 3);   // e_shstrndx
    CHECK(load_be64(h.data() + 40) == 64);  // e_shoff

    const char expected[] = "\0pv_mem_meta\0pv_compl\0\0\0\0.shstrtab";
    REQUIRE(l.shstrtab().size() == 35);
    CHECK(std::memcmp(l.shstrtab().data(), expected, 35) == 0);

    const Shdr s0 = shdr(h, 64, 0), s1 = shdr(h, 64, 1), s2 = shdr(h, 64, 2), s3 = shdr(h, 64, 3);
    CHECK(s0.type == 0);
    CHECK(s0.size == 0);
    CHECK(s0.info == 0);
    CHECK(s1.name == 1);
    CHECK(s1.type == 1);  // SHT_PROGBITS
    CHECK(s1.offset == l.mem_meta_offset());
    CHECK(s1.size == 16384);
    CHECK(s2.name == 13);
    CHECK(s2.type == 1);
    CHECK(s2.offset == l.compl_offset());
    CHECK(s2.size == 288);
    CHECK(s3.name == 25);
    CHECK(s3.type == 3);  // SHT_STRTAB
    CHECK(s3.offset == l.shstrtab_offset());
    CHECK(s3.size == 35);
    for (const Shdr& s : {s1, s2, s3}) {
        CHECK(s.flags == 0);
        CHECK(s.align == 0);
        CHECK(s.entsize == 0);
        CHECK(s.link == 0);
    }
    const char* names = reinterpret_cast<const char*>(l.shstrtab().data());
    CHECK(std::string(names + s1.name) == "pv_mem_meta");
    CHECK(std::string(names + s2.name) == "pv_compl");
    CHECK(std::string(names + s3.name) == ".shstrtab");
}

TEST_CASE("QemuLayout: notes per CPU in QEMU's order, the PV blob where the layout says") {
    QemuLayoutParams p;
    p.cpus = 3;
    p.blocks = {{0, kMiB}};
    const QemuLayout l(p);
    std::vector<CpuState> cpus(3);
    std::vector<std::vector<std::uint8_t>> blobs;
    for (unsigned i = 0; i < 3; ++i) {
        cpus[i].prefix = 0x10000 + 0x2000 * i;
        cpus[i].gprs[15] = 0x1000 + i;
        blobs.emplace_back(kCpuDumpSize, std::uint8_t(0xa0 + i));
    }
    const std::vector<std::uint8_t> area = l.encode_notes(cpus, blobs);
    REQUIRE(area.size() == l.note_size());
    CHECK(l.cpu_note_size() == 2828);
    const std::vector<Note> notes = parse_notes(area, l.note_offset());
    REQUIRE(notes.size() == 33);
    const std::uint32_t order[] = {NT_PRSTATUS_,   NT_FPREGSET_,      NT_S390_PREFIX_,  NT_S390_CTRS_,
                                   NT_S390_TIMER_, NT_S390_TODCMP_,   NT_S390_TODPREG_, NT_S390_VXRS_LOW_,
                                   NT_S390_VXRS_HIGH_, NT_S390_GS_CB_, NT_S390_PV_CPU_DATA_};
    for (unsigned c = 0; c < 3; ++c) {
        for (unsigned k = 0; k < 11; ++k) {
            const Note& n = notes[11 * c + k];
            CHECK(n.type == order[k]);
            CHECK(n.name == (k < 2 ? "CORE" : "LINUX"));
        }
        const Note& prs = notes[11 * c];
        CHECK(load_be32(prs.desc.data() + 32) == c + 1);  // pr_pid = CPU index + 1, as QEMU
        CHECK(load_be64(prs.desc.data() + 128 + 8 * 15) == 0x1000 + c);
        CHECK(load_be32(notes[11 * c + 2].desc.data()) == 0x10000 + 0x2000 * c);
        const Note& pv = notes[11 * c + 10];
        CHECK(pv.desc.size() == kCpuDumpSize);
        CHECK(pv.desc[0] == 0xa0 + c);
        // The descriptor sits where pv_cpu_desc_offset() says (in file offsets).
        CHECK(std::uint64_t(pv.desc.data() - area.data()) + l.note_offset() == l.pv_cpu_desc_offset(c));
    }
}

TEST_CASE("QemuLayout: several blocks with holes: PT_LOADs back to back, pv_mem_meta indexed by address") {
    QemuLayoutParams p;
    p.cpus = 1;
    p.blocks = {{0, 2 * kMiB}, {8 * kMiB, kMiB + 8192}, {0x100000000ull, 3 * kMiB}};
    const QemuLayout l(p);
    CHECK(l.phnum() == 4);
    CHECK(l.memory_size() == 6 * kMiB + 8192);
    CHECK(l.block_offset(0) == l.memory_offset());
    CHECK(l.block_offset(1) == l.memory_offset() + 2 * kMiB);
    CHECK(l.block_offset(2) == l.memory_offset() + 3 * kMiB + 8192);
    CHECK(l.file_offset_of(8 * kMiB + 4096) == l.block_offset(1) + 4096);
    CHECK_THROWS_AS(l.file_offset_of(4 * kMiB), Error);
    // Sized by the highest address (4 GiB + 3 MiB), whole MiB: 4099 MiB * 4096.
    CHECK(l.mem_meta_size() == 4099 * 4096);
    CHECK(l.mem_meta_offset() == l.memory_offset() + l.memory_size());
    CHECK(l.component_offset(0x100000000ull + 4096) == l.mem_meta_offset() + 16 * (0x100001000ull / 4096));
    CHECK(l.component_offset(0x100000000ull + 3 * kMiB - 4096) + 16 <= l.mem_meta_offset() + l.mem_meta_size());

    const std::vector<std::uint8_t> h = l.encode_headers();
    for (unsigned i = 0; i < 3; ++i) {
        const std::uint8_t* ph = h.data() + l.phoff() + 56 * (i + 1);
        CHECK(load_be32(ph) == 1);       // PT_LOAD
        CHECK(load_be32(ph + 4) == 0);   // p_flags 0, as QEMU
        CHECK(load_be64(ph + 8) == l.block_offset(i));
        CHECK(load_be64(ph + 16) == p.blocks[i].paddr);
        CHECK(load_be64(ph + 24) == p.blocks[i].paddr);
        CHECK(load_be64(ph + 32) == p.blocks[i].size);
        CHECK(load_be64(ph + 40) == p.blocks[i].size);
        CHECK(load_be64(ph + 48) == 0);  // p_align 0, as QEMU
    }
    // A block that is not a whole MiB still has every page covered.
    QemuLayoutParams q;
    q.blocks = {{0, kMiB + 4096}};
    CHECK(QemuLayout(q).mem_meta_size() == 2 * 4096);
}

TEST_CASE("QemuLayout: PN_XNUM when there are 0xffff program headers or more") {
    QemuLayoutParams p;
    p.cpus = 1;
    for (std::uint64_t i = 0; i < 0xffff; ++i) p.blocks.push_back({i * 2 * kPageSize, kPageSize});
    const QemuLayout l(p);
    REQUIRE(l.phnum() == 0x10000);
    const std::vector<std::uint8_t> h = l.encode_headers();
    CHECK(load_be16(h.data() + 56) == 0xffff);                      // e_phnum = PN_XNUM
    CHECK(load_be32(h.data() + l.shoff() + 44) == 0x10000);          // section 0 sh_info = real count
    CHECK(load_be32(h.data() + l.phoff() + 56 * 0xffff) == 1);       // last PT_LOAD is there
    CHECK(l.note_offset() == l.phoff() + 56ull * 0x10000);
}

TEST_CASE("QemuLayout: without PV sections QEMU writes [0] null and [1] .shstrtab; matches the real guest") {
    QemuLayoutParams p;
    p.cpus = 3;
    p.blocks = {{0, 256 * kMiB}};
    p.pv_sections = false;
    p.pv_cpu_notes = false;  // the real guest is not a PV guest
    const QemuLayout l(p);
    CHECK(l.shnum() == 2);
    CHECK(l.shstrndx() == 1);
    CHECK(l.phoff() == 192);
    CHECK(l.note_offset() == 304);
    CHECK(l.note_size() == 0xe88);
    CHECK(l.memory_offset() == 0xfb8);  // the real guest's PT_LOAD offset
    CHECK(l.shstrtab_offset() == 0xfb8 + 256 * kMiB);
    const char expected[] = "\0.shstrtab";
    REQUIRE(l.shstrtab().size() == 11);
    CHECK(std::memcmp(l.shstrtab().data(), expected, 11) == 0);

    const std::string real = bin("realguest.vmcore");
    if (!std::filesystem::exists(real)) {
        MESSAGE("skipping the byte comparison: " << real << " is missing (the CTest fixture 'realguest' unpacks it)");
        return;
    }
    const std::vector<std::uint8_t> h = l.encode_headers();
    std::vector<std::uint8_t> g(h.size());
    {
        std::ifstream f(real, std::ios::binary);
        f.read(reinterpret_cast<char*>(g.data()), std::streamsize(g.size()));
    }
    CHECK(std::memcmp(h.data(), g.data(), 64) == 0);                  // ELF header
    CHECK(std::memcmp(h.data() + 64, g.data() + 64, 64) == 0);        // null section
    CHECK(std::memcmp(h.data() + 192, g.data() + 192, 112) == 0);     // PT_NOTE, PT_LOAD
    // Section [1] is little-endian in the real file (dumped on an x86 host).
    const std::uint8_t* s = g.data() + 128;
    std::uint64_t off = 0;
    for (int i = 7; i >= 0; --i) off = (off << 8) | s[24 + i];
    CHECK(off == l.shstrtab_offset());
}

TEST_CASE("QemuLayout: rejects blocks that QEMU could not have written") {
    QemuLayoutParams p;
    p.blocks = {{0, 4096 + 1}};
    CHECK_THROWS_AS(QemuLayout{p}, Error);
    p.blocks = {{0, 2 * kMiB}, {kMiB, kMiB}};
    try {
        QemuLayout l{p};
        FAIL("overlapping blocks accepted");
    } catch (const Error& e) {
        CHECK(e.code() == ErrorCode::InvalidArgument);
        CHECK(std::string(e.what()).find("overlaps") != std::string::npos);
    }
    p.blocks = {};
    CHECK_THROWS_AS(QemuLayout{p}, Error);
    p.blocks = {{0, kMiB}};
    p.cpus = 0;
    CHECK_THROWS_AS(QemuLayout{p}, Error);
}
