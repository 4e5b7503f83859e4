// The owner path against the independent golden vectors: keys, registers,
// page states, memory, and the written vmcore parsed back with libelf.
#include <doctest/doctest.h>
#include <gelf.h>
#include <libelf.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <cstring>

#include "decryptor/dump.hpp"
#include "tools/cck.hpp"
#include "support/util.hpp"

using namespace pvdump;
using namespace pvdump::format;
using namespace testutil;

namespace {

SecretBytes key_file(const std::string& name) { return tools::load_cck(data(name)); }

void check_cpu(const CpuState& s, const testjson::Value& j) {
    CHECK(s.psw[0] == j["psw"][0].u64());
    CHECK(s.psw[1] == j["psw"][1].u64());
    for (int i = 0; i < 16; ++i) {
        CHECK(s.gprs[i] == j["gprs"][i].u64());
        CHECK(s.acrs[i] == j["acrs"][i].u64());
        CHECK(s.ctrs[i] == j["ctrs"][i].u64());
    }
    CHECK(s.fpc == j["fpc"].u64());
    CHECK(s.prefix == j["prefix"].u64());
    CHECK(s.timer == j["timer"].u64());
    CHECK(s.todcmp == j["todcmp"].u64());
    CHECK(s.todpreg == j["todpreg"].u64());
    for (int i = 0; i < 32; ++i) CHECK(s.vrs[i] == u128(j["vrs"][i].str));
    CHECK(s.gsd == j["gsd"].u64());
    CHECK(s.gssm == j["gssm"].u64());
    CHECK(s.gs_epl_a == j["gs_epl_a"].u64());
    CHECK(s.has_osii == j["has_osii"].b);
}

std::string pages_string(const CoreFile& dump) {
    std::string out;
    auto meta = dump.section_bytes("pv_mem_meta");
    for (const auto& l : dump.loads())
        for (std::uint64_t a = l.paddr; a < l.paddr + l.memsz; a += kPageSize) {
            auto pc = classify_component(meta.data() + 16 * (a / kPageSize));
            out += pc.state == PageState::Encrypted ? 'e' : pc.state == PageState::Zero ? 'z' : pc.state == PageState::Shared ? 's' : '!';
        }
    return out;
}

struct ElfCore {
    int fd = -1;
    Elf* elf = nullptr;
    explicit ElfCore(const std::string& path) {
        elf_version(EV_CURRENT);
        fd = open(path.c_str(), O_RDONLY);
        REQUIRE(fd >= 0);
        elf = elf_begin(fd, ELF_C_READ, nullptr);
        REQUIRE(elf != nullptr);
    }
    ~ElfCore() {
        elf_end(elf);
        close(fd);
    }
};

struct ParsedNote {
    std::string name;
    std::uint32_t type;
    std::vector<std::uint8_t> desc;
};

std::vector<ParsedNote> libelf_notes(ElfCore& core) {
    std::vector<ParsedNote> out;
    std::size_t n = 0;
    REQUIRE(elf_getphdrnum(core.elf, &n) == 0);
    for (std::size_t i = 0; i < n; ++i) {
        GElf_Phdr ph;
        REQUIRE(gelf_getphdr(core.elf, int(i), &ph) != nullptr);
        if (ph.p_type != PT_NOTE) continue;
        Elf_Data* d = elf_getdata_rawchunk(core.elf, ph.p_offset, ph.p_filesz, ELF_T_NHDR);
        REQUIRE(d != nullptr);
        std::size_t off = 0, name_off, desc_off;
        GElf_Nhdr nh;
        while ((off = gelf_getnote(d, off, &nh, &name_off, &desc_off)) > 0) {
            const char* base = static_cast<const char*>(d->d_buf);
            out.push_back({std::string(base + name_off, strnlen(base + name_off, nh.n_namesz)), nh.n_type,
                           std::vector<std::uint8_t>(base + desc_off, base + desc_off + nh.n_descsz)});
        }
    }
    return out;
}

}  // namespace

TEST_CASE("dump key, XTS key and nonce match the vectors' known answers") {
    for (const char* name : {"basic", "overlap-osii"}) {
        CAPTURE(name);
        auto j = vector_json(name);
        auto dump = CoreFile::open(data(std::string(name) + ".pvdump"));
        auto cck = key_file("cck.bin");
        CHECK(sha256_hex(cck.view()) == j["cck_sha256"].str);
        auto seed = from_hex(j["seed"].str);
        CHECK(to_hex(derive_dump_key(cck.view(), seed).view()) == j["dump_key"].str);
        auto keys = decryptor::open_keys(dump, cck.view());
        CHECK(to_hex(keys.dump_key.view()) == j["dump_key"].str);
        CHECK(to_hex(keys.xts_key.view()) == j["xts_key"].str);
        CHECK(to_hex(keys.nonce) == j["nonce"].str);
    }
}

TEST_CASE("every CPU's decrypted registers match the vectors") {
    for (const char* name : {"basic", "overlap-osii"}) {
        CAPTURE(name);
        auto j = vector_json(name);
        auto dump = CoreFile::open(data(std::string(name) + ".pvdump"));
        auto cck = key_file("cck.bin");
        auto keys = decryptor::open_keys(dump, cck.view());
        auto cpus = decryptor::cpu_states(dump, keys.dump_key.view());
        REQUIRE(cpus.size() == j["cpus"].size());
        for (std::size_t i = 0; i < cpus.size(); ++i) {
            CAPTURE(i);
            CHECK(cpus[i].index == i);
            check_cpu(cpus[i].state, j["cpus"][i]);
        }
        if (std::string(name) == "overlap-osii") {
            CHECK(cpus[1].has_osii);
            CHECK_FALSE(cpus[0].has_osii);
            CHECK(cpus[1].hypervisor != cpus[1].state);  // decoy clear notes
        }
    }
}

TEST_CASE("page states and counts match the vectors") {
    for (const char* name : {"basic", "overlap-osii"}) {
        CAPTURE(name);
        auto j = vector_json(name);
        auto dump = CoreFile::open(data(std::string(name) + ".pvdump"));
        CHECK(pages_string(dump) == j["page_states"].str);
        auto plan = analysis::page_plan(dump, nullptr);
        CHECK(plan.counts.encrypted == j["page_state_counts"]["enc"].u64());
        CHECK(plan.counts.zero == j["page_state_counts"]["zero"].u64());
        CHECK(plan.counts.shared == j["page_state_counts"]["shared"].u64());
        CHECK(plan.counts.invalid == 0);
        CHECK(plan.counts.total == j["pages"].u64());
        CHECK(plan.meta_covers_all);
        CHECK_FALSE(plan.has_error());
    }
}

TEST_CASE("decrypted memory equals the recorded plaintext, page by page") {
    for (const char* name : {"basic", "overlap-osii"}) {
        CAPTURE(name);
        auto j = vector_json(name);
        TempDir tmp;
        decryptor::DecryptRequest req;
        req.dump_path = data(std::string(name) + ".pvdump");
        req.output_path = tmp / "out.vmcore";
        auto cck = key_file("cck.bin");
        auto r = decryptor::decrypt_dump(req, cck.view());
        CHECK(r.memory_bytes == j["mem_size"].u64());
        CHECK(r.blocks == 1);

        struct stat st {};
        REQUIRE(stat(req.output_path.c_str(), &st) == 0);
        CHECK((st.st_mode & 0777) == 0600);

        auto out = CoreFile::open(req.output_path);
        REQUIRE(out.loads().size() == 1);
        const auto& l = out.loads()[0];
        CHECK(l.offset % 4096 == 0);
        CHECK(l.align == 4096);
        CHECK(l.flags == 7);
        CHECK(l.paddr == 0);
        CHECK(l.vaddr == 0);
        CHECK(l.filesz == j["mem_size"].u64());
        Bytes mem = out.bytes().subspan(l.offset, l.filesz);
        CHECK(sha256_hex(mem) == j["plain_sha256"].str);
        if (std::string(name) == "basic") {
            auto plain = read_file(data("basic.plain"));
            REQUIRE(plain.size() == mem.size());
            for (std::size_t p = 0; p < plain.size() / 4096; ++p) {
                CAPTURE(p);
                REQUIRE(std::memcmp(plain.data() + p * 4096, mem.data() + p * 4096, 4096) == 0);
            }
        }
    }
}

TEST_CASE("the vmcore's notes, read back with libelf, carry the decrypted registers in crash's order") {
    auto j = vector_json("overlap-osii");
    TempDir tmp;
    decryptor::DecryptRequest req;
    req.dump_path = data("overlap-osii.pvdump");
    req.output_path = tmp / "out.vmcore";
    auto cck = key_file("cck.bin");
    decryptor::decrypt_dump(req, cck.view());

    ElfCore core(req.output_path);
    GElf_Ehdr eh;
    REQUIRE(gelf_getehdr(core.elf, &eh) != nullptr);
    CHECK(eh.e_ident[EI_CLASS] == ELFCLASS64);
    CHECK(eh.e_ident[EI_DATA] == ELFDATA2MSB);
    CHECK(eh.e_type == ET_CORE);
    CHECK(eh.e_machine == EM_S390);
    GElf_Phdr ph0;
    REQUIRE(gelf_getphdr(core.elf, 0, &ph0) != nullptr);
    CHECK(ph0.p_type == PT_NOTE);

    auto notes = libelf_notes(core);
    const std::uint32_t order[] = {NT_PRSTATUS_,   NT_FPREGSET_, NT_S390_TIMER_,    NT_S390_TODCMP_, NT_S390_TODPREG_,
                                   NT_S390_CTRS_,  NT_S390_PREFIX_, NT_S390_VXRS_LOW_, NT_S390_VXRS_HIGH_, NT_S390_GS_CB_};
    const std::size_t ncpu = j["cpus"].size();
    REQUIRE(notes.size() == 1 + ncpu * 10);  // PRPSINFO + 10 per CPU (no VMCOREINFO in a synthetic guest)
    CHECK(notes[0].type == NT_PRPSINFO_);
    CHECK(notes[0].name == "CORE");
    CHECK(notes[0].desc.size() == kPrpsinfoSize);
    for (std::size_t c = 0; c < ncpu; ++c) {
        CAPTURE(c);
        const auto& jc = j["cpus"][c];
        for (int k = 0; k < 10; ++k) {
            const auto& n = notes[1 + c * 10 + k];
            CHECK(n.type == order[k]);
            CHECK(n.name == (k < 2 ? "CORE" : "LINUX"));
        }
        const auto& pr = notes[1 + c * 10].desc;
        REQUIRE(pr.size() == kPrstatusSize);
        CHECK(load_be64(&pr[112]) == jc["psw"][0].u64());
        CHECK(load_be64(&pr[120]) == jc["psw"][1].u64());
        for (int i = 0; i < 16; ++i) {
            CHECK(load_be64(&pr[128 + 8 * i]) == jc["gprs"][i].u64());
            CHECK(load_be32(&pr[256 + 4 * i]) == jc["acrs"][i].u64());
        }
        const auto& fp = notes[1 + c * 10 + 1].desc;
        CHECK(load_be32(&fp[0]) == jc["fpc"].u64());
        for (int i = 0; i < 16; ++i) {
            auto vr = u128(jc["vrs"][i].str);
            CHECK(std::memcmp(&fp[8 + 8 * i], vr.data(), 8) == 0);
            CHECK(std::memcmp(&notes[1 + c * 10 + 7].desc[8 * i], vr.data() + 8, 8) == 0);
            auto hi = u128(jc["vrs"][16 + i].str);
            CHECK(std::memcmp(&notes[1 + c * 10 + 8].desc[16 * i], hi.data(), 16) == 0);
            CHECK(load_be64(&notes[1 + c * 10 + 5].desc[8 * i]) == jc["ctrs"][i].u64());
        }
        CHECK(load_be64(notes[1 + c * 10 + 2].desc.data()) == jc["timer"].u64());
        CHECK(load_be64(notes[1 + c * 10 + 3].desc.data()) == jc["todcmp"].u64());
        CHECK(load_be32(notes[1 + c * 10 + 4].desc.data()) == jc["todpreg"].u64());
        CHECK(load_be32(notes[1 + c * 10 + 6].desc.data()) == jc["prefix"].u64());
        const auto& gs = notes[1 + c * 10 + 9].desc;
        CHECK(load_be64(&gs[8]) == jc["gsd"].u64());
        CHECK(load_be64(&gs[16]) == jc["gssm"].u64());
        CHECK(load_be64(&gs[24]) == jc["gs_epl_a"].u64());
    }
}

TEST_CASE("a wrong CCK fails authentication of the completion data and leaves nothing behind") {
    TempDir tmp;
    decryptor::DecryptRequest req;
    req.dump_path = data("basic.pvdump");
    req.output_path = tmp / "out.vmcore";
    auto cck = key_file("wrong-cck.bin");
    try {
        decryptor::decrypt_dump(req, cck.view());
        FAIL("decryption with the wrong key succeeded");
    } catch (const Error& e) {
        CHECK(e.code() == ErrorCode::Auth);
        CHECK(std::string(e.what()).find("pv_compl") != std::string::npos);
    }
    CHECK(tmp.entries() == 0);
}

TEST_CASE("each corrupt vector fails with its own code and message, leaving no output") {
    struct Case {
        const char* name;
        ErrorCode code;
        const char* text;
    } cases[] = {
        {"corrupt-compl-tag", ErrorCode::Auth, "completion data"},
        {"corrupt-cpu-tag", ErrorCode::Auth, "CPU 0"},
        {"corrupt-meta-short", ErrorCode::Verify, "no tweak component"},
        {"corrupt-state-reserved", ErrorCode::Verify, "invalid page state"},
        {"corrupt-state-zero-shared", ErrorCode::Verify, "zero and shared"},
        {"corrupt-truncate", ErrorCode::Format, "runs past end of file"},
    };
    auto cck = key_file("cck.bin");
    for (const auto& c : cases) {
        CAPTURE(c.name);
        auto j = vector_json(c.name);
        TempDir tmp;
        decryptor::DecryptRequest req;
        req.dump_path = data(std::string(c.name) + ".pvdump");
        req.output_path = tmp / "out.vmcore";
        auto before = read_file(req.dump_path);
        try {
            decryptor::decrypt_dump(req, cck.view());
            FAIL("corrupt dump decrypted");
        } catch (const Error& e) {
            CAPTURE(e.what());
            CHECK(e.code() == c.code);
            CHECK(std::string(e.what()).find(c.text) != std::string::npos);
            if (!j["corrupted_page"].is_null()) {
                const std::uint64_t page = j["corrupted_page"].u64();
                CHECK(std::string(e.what()).find(hex(page * 4096)) != std::string::npos);
            }
        }
        CHECK(tmp.entries() == 0);
        CHECK(read_file(req.dump_path) == before);
    }
}

TEST_CASE("output is identical whatever the thread count, and streamed") {
    auto cck = key_file("cck.bin");
    TempDir tmp;
    std::vector<std::vector<std::uint8_t>> outs;
    for (unsigned t : {1u, 2u, 7u}) {
        decryptor::DecryptRequest req;
        req.dump_path = data("overlap-osii.pvdump");
        req.output_path = tmp / ("t" + std::to_string(t));
        req.options.threads = t;
        decryptor::decrypt_dump(req, cck.view());
        outs.push_back(read_file(req.output_path));
    }
    CHECK(outs[0] == outs[1]);
    CHECK(outs[0] == outs[2]);
    auto r = run(bin("pvdecrypt") + " " + data("overlap-osii.pvdump") + " -k " + key("cck.bin") + " -o - -j 2");
    CHECK(r.exit_code == 0);
    CHECK(std::vector<std::uint8_t>(r.out.begin(), r.out.end()) == outs[0]);
}

TEST_CASE("the pread input (default), pread with drop-behind and the mapping write identical vmcores") {
    auto cck = key_file("cck.bin");
    TempDir tmp;
    const std::string generated = tmp / "gen.pvdump";
    REQUIRE(run(bin("pvseal") + " --generate 6148K --block 0:3M --block 0x500000:2M --block 0x1000000:1028K --cck " +
                key("cck.bin") + " -o " + generated + " --deterministic input-test -q")
                .exit_code == 0);
    for (const std::string& dump : {data("basic.pvdump"), data("overlap-osii.pvdump"), generated}) {
        CAPTURE(dump);
        std::vector<std::vector<std::uint8_t>> outs;
        for (const char* input : {"pread", "mmap", "pread-drop"})
            for (const bool kdump : {false, true})
                for (const std::string& out : {std::string(tmp / "out"), std::string("-")}) {
                    CAPTURE(input);
                    CAPTURE(kdump);
                    CAPTURE(out);
                    if (out == "-" && kdump) continue;
                    REQUIRE(setenv("PVDUMP_INPUT", input, 1) == 0);
                    if (out == "-") {
                        auto r = run("PVDUMP_INPUT=" + std::string(input) + " " + bin("pvdecrypt") + " " + dump + " -k " +
                                     key("cck.bin") + " -o - -j 2");
                        REQUIRE(r.exit_code == 0);
                        CHECK(std::vector<std::uint8_t>(r.out.begin(), r.out.end()) == outs.at(0));
                        continue;
                    }
                    decryptor::DecryptRequest req;
                    req.dump_path = dump;
                    req.output_path = out;
                    req.options.threads = 2;
                    if (kdump) req.kdump.emplace();
                    decryptor::decrypt_dump(req, cck.view());
                    outs.push_back(read_file(out));
                    // A kdump header holds the time it was written.
                    if (kdump) std::fill_n(outs.back().begin() + kdump::kOffTimestamp, 8, 0);
                    std::filesystem::remove(out);
                }
        unsetenv("PVDUMP_INPUT");
        REQUIRE(outs.size() == 6);
        for (std::size_t i = 2; i < outs.size(); ++i) CHECK(outs[i] == outs[i % 2]);
        if (dump == data("basic.pvdump")) CHECK(outs[0].size() > 4u << 20);
    }
    // An unknown input is a usage error.
    auto r = run("PVDUMP_INPUT=mmapp " + bin("pvdecrypt") + " " + data("basic.pvdump") + " -k " + key("cck.bin") +
                 " -o /dev/null");
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("PVDUMP_INPUT='mmapp'") != std::string::npos);
}

TEST_CASE("an existing output is refused without --force, and the input is never the output") {
    auto cck = key_file("cck.bin");
    TempDir tmp;
    decryptor::DecryptRequest req;
    req.dump_path = data("basic.pvdump");
    req.output_path = tmp / "exists";
    { std::ofstream(req.output_path) << "keep me"; }
    try {
        decryptor::decrypt_dump(req, cck.view());
        FAIL("overwrote");
    } catch (const Error& e) {
        CHECK(e.code() == ErrorCode::Exists);
    }
    CHECK(read_text(req.output_path) == "keep me");
    req.overwrite = true;
    decryptor::decrypt_dump(req, cck.view());
    CHECK(read_file(req.output_path).size() > 4u << 20);

    std::filesystem::copy_file(data("basic.pvdump"), tmp / "in.pvdump");
    req.dump_path = tmp / "in.pvdump";
    req.output_path = tmp / "in.pvdump";
    try {
        decryptor::decrypt_dump(req, cck.view());
        FAIL("wrote over its input");
    } catch (const Error& e) {
        CHECK(e.code() == ErrorCode::InvalidArgument);
    }
    CHECK(read_file(tmp / "in.pvdump") == read_file(data("basic.pvdump")));
}

TEST_CASE("a device output such as /dev/null is written in place, never replaced") {
    auto cck = key_file("cck.bin");
    decryptor::DecryptRequest req;
    req.dump_path = data("basic.pvdump");
    req.output_path = "/dev/null";
    decryptor::decrypt_dump(req, cck.view());
    struct stat st {};
    REQUIRE(stat("/dev/null", &st) == 0);
    CHECK(S_ISCHR(st.st_mode));
}

TEST_CASE("long runs of zero pages become holes; isolated ones are written as zeros") {
    TempDir tmp;
    // 8 MiB guest: page 0 random, page 1 zero, pages 2-255 random, the last 7 MiB zero.
    std::vector<std::uint8_t> raw(8u << 20, 0);
    std::uint32_t x = 12345;
    for (std::size_t i = 0; i < (1u << 20); ++i) {
        x = x * 1103515245 + 12345;
        raw[i] = std::uint8_t(x >> 16);
    }
    std::memset(raw.data() + 4096, 0, 4096);
    { std::ofstream(tmp / "guest.raw", std::ios::binary).write(reinterpret_cast<const char*>(raw.data()), std::streamsize(raw.size())); }
    std::filesystem::copy_file(key("cck.bin"), tmp / "k");
    std::filesystem::permissions(tmp / "k", std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    auto seal = run(bin("pvseal") + " --guest " + (tmp / "guest.raw") + " --cpus 1 --cck " + (tmp / "k") + " -o " + (tmp / "g.pvdump") + " -q");
    REQUIRE(seal.exit_code == 0);
    auto dec = run(bin("pvdecrypt") + " " + (tmp / "g.pvdump") + " -k " + (tmp / "k") + " -o " + (tmp / "g.vmcore") + " -q");
    REQUIRE(dec.exit_code == 0);
    auto out = CoreFile::open(tmp / "g.vmcore");
    REQUIRE(out.loads().size() == 1);
    Bytes mem = out.bytes().subspan(out.loads()[0].offset, out.loads()[0].filesz);
    REQUIRE(mem.size() == raw.size());
    CHECK(std::memcmp(mem.data(), raw.data(), raw.size()) == 0);
    struct stat st {};
    REQUIRE(stat((tmp / "g.vmcore").c_str(), &st) == 0);
    const std::uint64_t allocated = std::uint64_t(st.st_blocks) * 512;
    CHECK(allocated < (1u << 20) + (256u << 10));  // the 7 MiB of zeros are a hole
    // The isolated zero page at guest 0x1000 is data, the first hole starts after the first MiB.
    int fd = ::open((tmp / "g.vmcore").c_str(), O_RDONLY);
    REQUIRE(fd >= 0);
    const off_t mem_off = off_t(out.loads()[0].offset);
    CHECK(lseek(fd, 0, SEEK_HOLE) >= mem_off + (1 << 20));
    CHECK(lseek(fd, mem_off + (2 << 20), SEEK_DATA) < 0);  // nothing but hole after
    ::close(fd);
}
