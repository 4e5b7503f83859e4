// format/elf.hpp: every ELF structure's encode and decode agree with each other
// and with the byte positions of docs/format.md §2, in big-endian byte order on
// any host; CoreFile's PN_XNUM path cannot be steered by an e_shoff that wraps.
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "format/bytes.hpp"
#include "format/core_file.hpp"
#include "format/elf.hpp"
#include "format/pv.hpp"
#include "support/util.hpp"

using namespace pvdump;
using namespace pvdump::format;

namespace {

std::vector<std::uint8_t> be64(std::uint64_t v) {
    std::vector<std::uint8_t> b(8);
    for (int i = 0; i < 8; ++i) b[i] = std::uint8_t(v >> (56 - 8 * i));
    return b;
}

bool bytes_at(const std::vector<std::uint8_t>& buf, std::size_t at, const std::vector<std::uint8_t>& want) {
    return at + want.size() <= buf.size() && std::memcmp(buf.data() + at, want.data(), want.size()) == 0;
}

}  // namespace

TEST_CASE("Ehdr: encode writes the documented offsets big-endian, decode reads them back") {
    elf::Ehdr h;
    h.phoff = 0x0102030405060708ull;
    h.shoff = 0x1112131415161718ull;
    h.ehsize = 8;
    h.phnum = 0xabcd;
    h.shentsize = 64;
    h.shnum = 4;
    h.shstrndx = 3;
    std::vector<std::uint8_t> buf(64, 0xee);
    Writer w(buf, "test");
    h.encode(w);
    CHECK(bytes_at(buf, 0, {0x7f, 'E', 'L', 'F', 2, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
    CHECK(bytes_at(buf, 16, {0x00, 0x04, 0x00, 0x16, 0, 0, 0, 1}));  // ET_CORE, EM_S390, EV_CURRENT
    CHECK(bytes_at(buf, 32, be64(h.phoff)));
    CHECK(bytes_at(buf, 40, be64(h.shoff)));
    CHECK(bytes_at(buf, 52, {0x00, 0x08, 0x00, 0x38, 0xab, 0xcd, 0x00, 0x40, 0x00, 0x04, 0x00, 0x03}));

    const elf::Ehdr d = elf::Ehdr::decode(Reader(buf, "test"));
    CHECK(d.magic_ok);
    CHECK(d.ei_class == elf::ELFCLASS64);
    CHECK(d.ei_data == elf::ELFDATA2MSB);
    CHECK(d.type == elf::ET_CORE);
    CHECK(d.machine == elf::EM_S390);
    CHECK(d.phoff == h.phoff);
    CHECK(d.shoff == h.shoff);
    CHECK(d.ehsize == 8);
    CHECK(d.phentsize == 56);
    CHECK(d.phnum == 0xabcd);
    CHECK(d.shentsize == 64);
    CHECK(d.shnum == 4);
    CHECK(d.shstrndx == 3);
}

TEST_CASE("Phdr, Shdr, Nhdr: round trip at an offset, bytes where docs/format.md puts them") {
    std::vector<std::uint8_t> buf(200, 0);
    Writer w(buf, "test");
    elf::Phdr p{elf::PT_LOAD, 7, 0x1000, 0x2000, 0x3000, 0x4000, 0x5000, 0x1000};
    p.encode(w, 8);
    CHECK(bytes_at(buf, 8, {0, 0, 0, 1, 0, 0, 0, 7}));
    CHECK(bytes_at(buf, 8 + 24, be64(0x3000)));  // p_paddr
    const elf::Phdr pd = elf::Phdr::decode(Reader(buf, "test"), 8);
    CHECK(pd.type == p.type);
    CHECK(pd.flags == p.flags);
    CHECK(pd.offset == p.offset);
    CHECK(pd.vaddr == p.vaddr);
    CHECK(pd.paddr == p.paddr);
    CHECK(pd.filesz == p.filesz);
    CHECK(pd.memsz == p.memsz);
    CHECK(pd.align == p.align);

    elf::Shdr s;
    s.name = 13;
    s.type = elf::SHT_PROGBITS;
    s.offset = 0xdead0000;
    s.size = 288;
    s.info = 0x10000;
    s.encode(w, 100);
    CHECK(bytes_at(buf, 100 + 44, {0x00, 0x01, 0x00, 0x00}));  // sh_info
    const elf::Shdr sd = elf::Shdr::decode(Reader(buf, "test"), 100);
    CHECK(sd.name == 13);
    CHECK(sd.type == elf::SHT_PROGBITS);
    CHECK(sd.offset == 0xdead0000);
    CHECK(sd.size == 288);
    CHECK(sd.info == 0x10000);

    elf::Nhdr n{5, 336, NT_PRSTATUS_};
    n.encode(w, 180);
    CHECK(bytes_at(buf, 180, {0, 0, 0, 5, 0, 0, 1, 0x50, 0, 0, 0, 1}));
    const elf::Nhdr nd = elf::Nhdr::decode(Reader(buf, "test"), 180);
    CHECK(nd.namesz == 5);
    CHECK(nd.descsz == 336);
    CHECK(nd.type == NT_PRSTATUS_);
    CHECK(nd.desc_offset() == 12 + 8);
    CHECK(nd.total_size() == 12 + 8 + 336);
}

TEST_CASE("the bounded reader and writer refuse a structure that does not fit, offsets that wrap included") {
    std::vector<std::uint8_t> buf(100, 0);
    Writer w(buf, "test");
    CHECK_THROWS_AS(elf::Phdr{}.encode(w, 50), Error);
    CHECK_THROWS_AS(elf::Shdr::decode(Reader(buf, "test"), ~std::uint64_t(0) - 31), Error);
    try {
        elf::Phdr::decode(Reader(buf, "file 'x'"), 60);
        FAIL("decoded a program header past the end");
    } catch (const Error& e) {
        CHECK(e.code() == ErrorCode::Format);
        CHECK(std::string(e.what()) ==
              "file 'x': program header [offset 0x3c, size 0x38] runs past the end of file 'x' (size 0x64)");
    }
}

TEST_CASE("hex formatting: one formatter behind hex(), hex_fixed() and to_hex()") {
    CHECK(hex(0) == "0x0");
    CHECK(hex(0xffffffffffffffffull) == "0xffffffffffffffff");
    CHECK(hex_fixed(0x1000, 8) == "0x00001000");
    CHECK(hex_fixed(0x123456789, 4) == "0x123456789");
    const std::uint8_t b[] = {0x00, 0x0f, 0xa5, 0xff};
    CHECK(to_hex(Bytes(b, 4)) == "000fa5ff");
}

// The defect this header fixed: with e_phnum = PN_XNUM, e_shentsize = 64 and
// e_shoff = 2^64 - 32, `e_shoff + 44` wrapped to 12, the e_ident padding was
// taken as the program header count and the file was accepted as a plain vmcore.
TEST_CASE("PN_XNUM with an e_shoff that wraps past 2^64 is a format error, not a program header count") {
    std::vector<std::uint8_t> f =
        testutil::read_file(std::string(PVDUMP_SOURCE_DIR) + "/tests/fuzz/corpus/fuzz_core_index/xnum-shoff-wrap");
    REQUIRE(f.size() == 20480);
    REQUIRE(load_be16(f.data() + 56) == elf::PN_XNUM);
    REQUIRE(load_be64(f.data() + 40) == ~std::uint64_t(31));
    REQUIRE(load_be32(f.data() + 12) == 2);  // the padding holds the real count: the old code accepted it
    try {
        CoreFile::parse(f, "wrap");
        FAIL("accepted a file whose section 0 lies past 2^64");
    } catch (const Error& e) {
        CHECK(e.code() == ErrorCode::Format);
        CHECK(std::string(e.what()) ==
              "file 'wrap': section 0 sh_info (program header count) [offset 0xffffffffffffffe0, size 0x40] "
              "runs past the end of file 'wrap' (size 0x5000)");
    }
    // The same file with e_phnum 2 and no section table is the plain vmcore it was made from.
    store_be16(f.data() + 56, 2);
    store_be64(f.data() + 40, 0);
    const CoreFile ok = CoreFile::parse(f, "fixed");
    CHECK(ok.loads().size() == 1);
    CHECK(ok.cpus().size() == 2);
}

TEST_CASE("PN_XNUM: the count comes from section 0's sh_info when section 0 is in the file") {
    std::vector<std::uint8_t> f =
        testutil::read_file(std::string(PVDUMP_SOURCE_DIR) + "/tests/fuzz/corpus/fuzz_core_index/plain-printk");
    const std::uint64_t shoff = f.size();
    f.resize(f.size() + elf::Shdr::kSize, 0);
    Writer w(f, "test");
    elf::Shdr s0;
    s0.info = 2;
    s0.encode(w, shoff);
    store_be16(f.data() + 56, elf::PN_XNUM);
    store_be16(f.data() + 58, 64);
    store_be64(f.data() + 40, shoff);
    const CoreFile c = CoreFile::parse(f, "xnum");
    CHECK(c.loads().size() == 1);
    CHECK(c.notes().size() > 2);
}

// One parser, two modes: strict throws at the first problem; lenient records
// each one (field, file offset, the strict message) and indexes what is in bounds.
TEST_CASE("CoreFile lenient mode: every problem with its field and offset, what is in bounds still indexed") {
    std::vector<std::uint8_t> f(4096, 0);
    Writer w(f, "test");
    elf::Ehdr h;
    h.machine = 62;  // not EM_S390
    h.phoff = 64;
    h.phnum = 3;
    h.encode(w);
    elf::Phdr{elf::PT_NOTE, 0, 512, 0, 0, 40, 0, 0}.encode(w, 64);
    elf::Phdr{elf::PT_LOAD, 0, 1024, 0, 0, 0x10000, 0x10000, 0}.encode(w, 120);    // past the end of the file
    elf::Phdr{elf::PT_LOAD, 0, 1024, 0, 0x8000, 0xc00, 0x1000, 0}.encode(w, 176);  // overlaps the one before
    elf::Nhdr{5, 8, NT_PRSTATUS_}.encode(w, 512);
    std::memcpy(f.data() + 524, "CORE", 5);
    elf::Nhdr{100, 0, 1}.encode(w, 540);  // its name runs past the PT_NOTE segment

    try {
        CoreFile::parse(f, "bad");
        FAIL("strict mode accepted it");
    } catch (const Error& e) {
        CHECK(e.code() == ErrorCode::Format);
        CHECK(std::string(e.what()) == "ELF header: e_machine is 62, expected EM_S390 (22)");
    }

    Diagnostics sink;
    const CoreFile c = CoreFile::parse(f, "bad", &sink);
    CHECK(c.damaged());
    REQUIRE(sink.all().size() == 4);
    const auto& d = sink.all();
    CHECK(d[0].field == "e_machine");
    CHECK(d[0].offset == 18);
    CHECK(d[0].message == "ELF header: e_machine is 62, expected EM_S390 (22)");
    CHECK(d[1].field == "note");
    CHECK(d[1].offset == 540);
    CHECK(d[1].message == "note at offset 0x21c (type 0x1, namesz 100, descsz 0) runs past the end of the PT_NOTE "
                          "segment (ends at 0x228)");
    CHECK(d[2].field == "program header 1 (PT_LOAD)");
    CHECK(d[2].offset == 120);
    CHECK(d[2].message == "program header 1 (PT_LOAD, guest address 0x0) [offset 0x400, size 0x10000] runs past end "
                          "of file (size 0x1000)");
    CHECK(d[3].field == "program header 2 p_paddr");
    CHECK(d[3].offset == 176 + elf::Phdr::kPaddr);
    CHECK(d[3].message == "program header 2 (PT_LOAD at guest address 0x8000) overlaps program header 1");
    for (const auto& x : d) CHECK(x.severity == Diagnostic::Severity::Error);
    CHECK(sink.first_error() == &d[0]);

    REQUIRE(c.notes().size() == 1);  // the note before the bad one
    CHECK(c.notes()[0].name == "CORE");
    REQUIRE(c.loads().size() == 2);
    CHECK_FALSE(c.loads()[0].in_file);
    CHECK(c.loads()[1].in_file);
    CHECK(c.program_header_count() == 3);
    CHECK_THROWS_AS((void)c.plain_memory(), Error);  // a damaged index is not read as memory
}

TEST_CASE("CoreFile lenient mode on an intact dump indexes exactly what strict mode does") {
    const std::vector<std::uint8_t> f = testutil::read_file(std::string(PVDUMP_TEST_DATA) + "/basic.pvdump");
    const CoreFile strict = CoreFile::parse(f, "basic");
    Diagnostics sink;
    const CoreFile lenient = CoreFile::parse(f, "basic", &sink);
    CHECK(sink.empty());
    CHECK_FALSE(lenient.damaged());
    CHECK(lenient.loads().size() == strict.loads().size());
    CHECK(lenient.notes().size() == strict.notes().size());
    REQUIRE(lenient.sections().size() == strict.sections().size());
    for (std::size_t i = 0; i < strict.sections().size(); ++i) CHECK(lenient.sections()[i].name == strict.sections()[i].name);
}

TEST_CASE("parse_cpu_dump lenient: the strict message in the sink, no throw; strict throws FormatError") {
    std::array<std::uint8_t, 32> key{};
    key[0] = 1;
    CpuState st;
    st.prefix = 0x12000;
    const std::array<std::uint8_t, 12> iv{7, 7, 7};
    std::vector<std::uint8_t> blob = seal_cpu_dump(st, Bytes(key.data(), 32), Bytes(iv.data(), 12));

    SUBCASE("an intact blob: the same result both ways, and it opens") {
        Diagnostics sink;
        const std::optional<CpuDumpBlob> lenient_blob = parse_cpu_dump(Reader(blob, "blob", 0x400), &sink);
        REQUIRE(lenient_blob);
        CHECK(sink.empty());
        const std::optional<CpuState> opened = try_open_cpu_dump(*lenient_blob, Bytes(key.data(), 32));
        REQUIRE(opened);
        CHECK(*opened == st);
    }
    SUBCASE("truncated to 6 bytes: the length field runs past the end") {
        blob.resize(6);
        Diagnostics sink;
        CHECK_FALSE(parse_cpu_dump(Reader(blob, "blob", 0x400), &sink));
        REQUIRE(sink.all().size() == 1);
        const Diagnostic& d = sink.all()[0];
        CHECK(d.field == "CPU dump length");
        CHECK(d.offset == 0x404);
        try {
            (void)parse_cpu_dump(Reader(blob, "blob", 0x400));
            FAIL("strict parse accepted a truncated blob");
        } catch (const FormatError& e) {
            CHECK(std::string(e.what()) == d.message);
        }
    }
    SUBCASE("version 2: reported on the version field with the strict message") {
        blob[3] = 2;
        Diagnostics sink;
        CHECK_FALSE(parse_cpu_dump(Reader(blob, "blob", 0x400), &sink));
        REQUIRE(sink.first_error());
        CHECK(sink.first_error()->field == "CPU dump version");
        CHECK(sink.first_error()->offset == 0x400);
        CHECK(sink.first_error()->message == "blob: unsupported CPU dump version 2 (this tool reads version 1)");
    }
    SUBCASE("a flipped tag bit: try_open_cpu_dump is empty, open_cpu_dump throws Error(Auth) with cpu_auth_failure") {
        blob[kCpuTagOff] ^= 1;
        const CpuDumpBlob parsed = parse_cpu_dump(Reader(blob, "blob"));
        CHECK_FALSE(try_open_cpu_dump(parsed, Bytes(key.data(), 32)));
        try {
            (void)open_cpu_dump(parsed, Bytes(key.data(), 32), 3);
            FAIL("a tampered blob opened");
        } catch (const Error& e) {
            CHECK(e.code() == ErrorCode::Auth);
            CHECK(std::string(e.what()) == cpu_auth_failure(3));
        }
    }
}

TEST_CASE("lenient(): an input fault becomes a finding, every other category passes, a null sink is strict") {
    Diagnostics sink;
    const std::optional<int> r =
        lenient(&sink, "thing", []() -> int { fail(ErrorCode::Format, "thing: bad"); });
    CHECK_FALSE(r);
    REQUIRE(sink.all().size() == 1);
    CHECK(sink.all()[0].field == "thing");
    CHECK(sink.all()[0].message == "thing: bad");
    CHECK(lenient(&sink, "ok", [] { return 5; }) == std::optional<int>(5));
    CHECK(sink.all().size() == 1);
    CHECK_THROWS_AS(lenient(&sink, "io", []() -> int { fail(ErrorCode::Io, "cannot read"); }), Error);
    CHECK(sink.all().size() == 1);
    CHECK_THROWS_AS(lenient(nullptr, "strict", []() -> int { fail(ErrorCode::Format, "bad"); }), FormatError);
}
