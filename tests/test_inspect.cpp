// pvinspect: info, verify, cpus and dmesg against the golden vectors, pvseal
// dumps with planted faults, and the real guest; JSON output parsed back.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "decryptor/dump.hpp"
#include "tools/cck.hpp"
#include "analysis/cpus.hpp"
#include "analysis/inspect.hpp"
#include "decryptor/verify.hpp"
#include "format/crypto.hpp"
#include "producer/guest_source.hpp"
#include "producer/seal.hpp"
#include "support/util.hpp"
#include "tools/report.hpp"

using namespace pvdump;
using namespace pvdump::format;
using namespace testutil;

namespace {

const char* const kVectors[] = {"basic",
                                "overlap-osii",
                                "corrupt-compl-tag",
                                "corrupt-cpu-tag",
                                "corrupt-meta-short",
                                "corrupt-state-reserved",
                                "corrupt-state-zero-shared",
                                "corrupt-truncate"};

std::string pvinspect(const std::string& args) { return bin("pvinspect") + " " + args; }
std::string q(const std::string& path) { return "'" + path + "'"; }
std::string cck_arg() { return " --key " + q(key("cck.bin")); }

testjson::Value parse_json(const RunResult& r) {
    INFO("stdout: " << r.out << "\nstderr: " << r.err);
    try {
        return testjson::parse(r.out);
    } catch (const std::exception& e) {
        FAIL("output is not JSON: " << e.what());
        throw;
    }
}

std::string hex_u64(std::uint64_t v, int digits = 16) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%0*llx", digits, static_cast<unsigned long long>(v));
    return buf;
}

void write_file(const std::string& path, const std::vector<std::uint8_t>& bytes) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    REQUIRE(f.good());
}

// The page-state counts a vector's dump really has now: the recorded counts,
// adjusted for the one page a corrupt-state vector made invalid.
struct Counts {
    std::uint64_t enc, zero, shared, invalid, missing;
};
Counts expected_counts(const std::string& name, const testjson::Value& j) {
    Counts c{j["page_state_counts"]["enc"].u64(), j["page_state_counts"]["zero"].u64(),
             j["page_state_counts"]["shared"].u64(), 0, 0};
    if (name == "corrupt-meta-short") return {0, 0, 0, 0, j["pages"].u64()};
    if (!j["corrupted_page"].is_null()) {
        const char was = j["page_states"].str.at(j["corrupted_page"].u64());
        (was == 'e' ? c.enc : was == 'z' ? c.zero : c.shared) -= 1;
        c.invalid = 1;
    }
    return c;
}

// Indexes of the first two pages of state `s` in a vector.
std::pair<std::uint64_t, std::uint64_t> two_pages(const testjson::Value& j, char s) {
    const std::string& st = j["page_states"].str;
    const auto a = st.find(s);
    const auto b = st.find(s, a + 1);
    REQUIRE(b != std::string::npos);
    return {a, b};
}

// A copy of a vector's dump with some pv_mem_meta components replaced.
std::string planted_copy(const TempDir& tmp, const std::string& name, const std::string& out_name,
                         const std::vector<std::pair<std::uint64_t, std::array<std::uint8_t, 16>>>& components) {
    auto bytes = read_file(data(name + ".pvdump"));
    const auto j = vector_json(name);
    const std::uint64_t meta = j["layout"]["pv_mem_meta_offset"].u64();
    for (const auto& [page, comp] : components) std::memcpy(bytes.data() + meta + 16 * page, comp.data(), 16);
    const std::string path = tmp / out_name;
    write_file(path, bytes);
    return path;
}
std::array<std::uint8_t, 16> component_of(const std::string& name, std::uint64_t page) {
    const auto bytes = read_file(data(name + ".pvdump"));
    const std::uint64_t meta = vector_json(name)["layout"]["pv_mem_meta_offset"].u64();
    std::array<std::uint8_t, 16> c{};
    std::memcpy(c.data(), bytes.data() + meta + 16 * page, 16);
    return c;
}
std::array<std::uint8_t, 16> special(std::uint8_t byte15, std::uint8_t byte14 = 0, std::uint8_t byte4 = 0) {
    std::array<std::uint8_t, 16> c{0xff, 0xff, 0xff, 0xff};
    c[4] = byte4;
    c[14] = byte14;
    c[15] = byte15;
    return c;
}

SecretBytes test_cck() { return tools::load_cck(key("cck.bin")); }

// A generated guest sealed by pvseal's library.
std::string seal_generated(const TempDir& tmp, const std::string& name, bool dump_allowed,
                           std::vector<std::string> log_lines = {}, std::optional<unsigned> osii_cpu = std::nullopt) {
    producer::GeneratedGuestOptions g;
    g.size = 8u << 20;
    g.cpus = 2;
    g.seed = 7;
    g.log_lines = std::move(log_lines);
    auto guest = producer::generate_guest(g);
    producer::SealOptions o;
    o.output_path = tmp / name;
    o.dump_allowed = dump_allowed;
    o.osii_cpu = osii_cpu;
    o.threads = 2;
    auto cck = test_cck();
    producer::seal(*guest, cck.view(), o);
    return o.output_path;
}

std::string realguest_path() { return std::string(PVDUMP_BIN_DIR) + "/realguest.vmcore"; }
bool have_realguest() {
    if (std::filesystem::exists(realguest_path())) return true;
    MESSAGE("skipped: " << realguest_path() << " is missing (the CTest fixture 'realguest' unpacks it)");
    return false;
}

}  // namespace

// ---- info ------------------------------------------------------------------------------

TEST_CASE("info reports every vector's page-state counts and layout without a key") {
    for (const char* name : kVectors) {
        CAPTURE(name);
        if (std::string(name) == "corrupt-truncate") continue;  // its own test below
        const auto j = vector_json(name);
        const auto& lay = j["layout"];
        const Counts want = expected_counts(name, j);

        const analysis::InfoReport r = analysis::inspect_info(data(std::string(name) + ".pvdump"));
        CHECK_FALSE(r.error);
        CHECK(r.kind == analysis::ContainerKind::PvDump);
        CHECK(r.cpus == j["cpus"].size());
        CHECK(r.cpus_pv_data == j["cpus"].size());
        CHECK(r.memory_size == j["mem_size"].u64());
        REQUIRE(r.blocks.size() == 1);
        CHECK(r.memory_offset == lay["memory_offset"].u64());
        CHECK(r.e_ehsize == lay["e_ehsize"].u64());
        CHECK(r.phoff == lay["phoff"].u64());
        CHECK(r.shoff == lay["shoff"].u64());
        CHECK(r.note_offset == lay["note_offset"].u64());
        CHECK(r.note_size == lay["note_size"].u64());
        CHECK(r.file_size == lay["file_size"].u64());
        REQUIRE(r.plan);
        CHECK(r.plan->counts.total == j["pages"].u64());
        CHECK(r.plan->counts.encrypted == want.enc);
        CHECK(r.plan->counts.zero == want.zero);
        CHECK(r.plan->counts.shared == want.shared);
        CHECK(r.plan->counts.invalid == want.invalid);
        CHECK(r.plan->counts.missing == want.missing);
        CHECK(r.plan->meta_covers_all == (want.missing == 0));

        // The same through the tool's JSON.
        const RunResult run_r = run(pvinspect("info --json " + q(data(std::string(name) + ".pvdump"))));
        CHECK(run_r.exit_code == 0);
        const auto o = parse_json(run_r);
        CHECK(o["tool"].str == "pvinspect");
        CHECK(o["command"].str == "info");
        CHECK(o["kind"].str == "pv-dump");
        CHECK(o["error"].is_null());
        CHECK(o["file_size"].u64() == lay["file_size"].u64());
        CHECK(o["elf"]["e_ehsize"].u64() == lay["e_ehsize"].u64());
        CHECK(o["elf"]["phoff"].u64() == lay["phoff"].u64());
        CHECK(o["elf"]["shoff"].u64() == lay["shoff"].u64());
        CHECK(o["elf"]["note_offset"].u64() == lay["note_offset"].u64());
        CHECK(o["elf"]["note_size"].u64() == lay["note_size"].u64());
        CHECK(o["cpus"]["count"].u64() == j["cpus"].size());
        CHECK(o["memory"]["size"].u64() == j["mem_size"].u64());
        CHECK(o["memory"]["offset"].u64() == lay["memory_offset"].u64());
        CHECK(o["memory"]["blocks"][0]["paddr"].str == "0x0");
        CHECK(o["memory"]["blocks"][0]["size"].u64() == j["mem_size"].u64());
        std::map<std::string, const testjson::Value*> sections;
        for (const auto& s : o["sections"].arr) sections[s["name"].str] = &s;
        REQUIRE(sections.count("pv_mem_meta"));
        REQUIRE(sections.count("pv_compl"));
        REQUIRE(sections.count(".shstrtab"));
        CHECK((*sections["pv_mem_meta"])["offset"].u64() == lay["pv_mem_meta_offset"].u64());
        if (std::string(name) != "corrupt-meta-short")  // the one whose section was shrunk
            CHECK((*sections["pv_mem_meta"])["size"].u64() == lay["pv_mem_meta_size"].u64());
        else
            CHECK((*sections["pv_mem_meta"])["size"].u64() == 0);
        CHECK((*sections["pv_compl"])["offset"].u64() == lay["pv_compl_offset"].u64());
        CHECK((*sections["pv_compl"])["size"].u64() == 288);
        CHECK((*sections[".shstrtab"])["offset"].u64() == lay["shstrtab_offset"].u64());
        const auto& pv = o["pv"];
        CHECK(pv["completion"]["version"].u64() == 1);
        CHECK(pv["completion"]["length"].u64() == 288);
        CHECK(pv["mem_meta_needed"].u64() == j["pages"].u64() * 16);
        CHECK(pv["mem_meta_covers_all"].b == (want.missing == 0));
        CHECK(pv["pages"]["total"].u64() == j["pages"].u64());
        CHECK(pv["pages"]["encrypted"].u64() == want.enc);
        CHECK(pv["pages"]["zero"].u64() == want.zero);
        CHECK(pv["pages"]["shared"].u64() == want.shared);
        CHECK(pv["pages"]["invalid"].u64() == want.invalid);
        CHECK(pv["pages"]["missing"].u64() == want.missing);
        CHECK(pv["has_osii"].str == "unknown-without-key");
        if (!j["corrupted_page"].is_null()) {
            bool named = false;
            for (const auto& f : pv["findings"].arr)
                named |= f["rule"].str == "state-invalid" && f["paddr"].str == hex(j["corrupted_page"].u64() * 4096);
            CHECK(named);
        }
    }
}

TEST_CASE("info text is plain words: counts, coverage, and has_osii unknowable without the key") {
    const RunResult r = run(pvinspect("info " + q(data("basic.pvdump"))));
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("PV dump v1") != std::string::npos);
    CHECK(r.out.find("1024 pages: 767 encrypted, 150 zero, 107 shared") != std::string::npos);
    CHECK(r.out.find("pv_mem_meta covers every page") != std::string::npos);
    CHECK(r.out.find("cannot be known without the key") != std::string::npos);
    CHECK(r.out.find("CPUs            2") != std::string::npos);
    CHECK(r.err.empty());
}

TEST_CASE("info on a truncated dump says what its headers tell, then fails with a format error (exit 4)") {
    const auto j = vector_json("corrupt-truncate");
    const std::string path = data("corrupt-truncate.pvdump");
    const std::uint64_t actual = std::filesystem::file_size(path);

    const analysis::InfoReport r = analysis::inspect_info(path);
    REQUIRE(r.error);
    CHECK(r.error->find("runs past end of file") != std::string::npos);
    CHECK(r.kind == analysis::ContainerKind::PvDump);  // its encrypted CPU notes say so
    CHECK(r.file_size == actual);
    CHECK(r.described_size == j["layout"]["file_size"].u64());
    CHECK(r.cpus == j["cpus"].size());
    REQUIRE(r.blocks.size() == 1);
    CHECK_FALSE(r.blocks[0].in_file);
    CHECK(r.memory_size == j["mem_size"].u64());

    const RunResult t = run(pvinspect("info " + q(path)));
    CHECK(t.exit_code == 4);
    CHECK(t.out.find("the file was cut short") != std::string::npos);
    CHECK(t.out.find(std::to_string(j["layout"]["file_size"].u64() - actual) + " bytes") != std::string::npos);
    CHECK(t.err.find("pvinspect: error: ") != std::string::npos);
    CHECK(t.err.find("runs past end of file") != std::string::npos);

    const RunResult js = run(pvinspect("info --json " + q(path)));
    CHECK(js.exit_code == 4);
    const auto o = parse_json(js);
    CHECK(o["kind"].str == "pv-dump");
    CHECK(o["error"].str.find("runs past end of file") != std::string::npos);
    CHECK(o["described_size"].u64() == j["layout"]["file_size"].u64());
    CHECK(o["file_size"].u64() == actual);
    CHECK(o["memory"]["blocks"][0]["in_file"].b == false);
    CHECK(o["cpus"]["count"].u64() == 2);
}

TEST_CASE("info explains QEMU's fallback when the image did not allow dumping") {
    TempDir tmp;
    const std::string path = seal_generated(tmp, "disallowed.core", false);
    const analysis::InfoReport r = analysis::inspect_info(path);
    CHECK_FALSE(r.error);
    CHECK(r.kind == analysis::ContainerKind::DumpDisallowed);
    REQUIRE(r.evidence);
    CHECK_FALSE(r.evidence->lowcore_sane);
    CHECK(r.evidence->random_pages * 2 >= r.evidence->pages_sampled - r.evidence->zero_pages);
    CHECK_FALSE(r.plan);

    const RunResult t = run(pvinspect("info " + q(path)));
    CHECK(t.exit_code == 0);
    CHECK(t.out.find("did not allow dumping") != std::string::npos);
    CHECK(t.out.find("PCF") != std::string::npos);
    CHECK(t.out.find("34") != std::string::npos);
    CHECK(t.out.find("QEMU fell back to a plain dump") != std::string::npos);
    CHECK(t.out.find("nobody") != std::string::npos);

    const auto o = parse_json(run(pvinspect("info --json " + q(path))));
    CHECK(o["kind"].str == "dump-disallowed");
    CHECK(o["pv"].is_null());
    CHECK(o["explanation"].str.find("PCF") != std::string::npos);
    CHECK(o["memory_content"]["lowcore_sane"].b == false);

    // Reading it as a vmcore would print garbage: cpus and dmesg refuse with the reason.
    const RunResult d = run(pvinspect("dmesg " + q(path)));
    CHECK(d.exit_code == 4);
    CHECK(d.err.find("did not allow dumping") != std::string::npos);
    CHECK(d.out.empty());
}

TEST_CASE("info tells plain vmcores from the fallback: a decrypted guest and the real guest") {
    TempDir tmp;
    const std::string sealed = seal_generated(tmp, "gen.pvdump", true);
    decryptor::DecryptRequest req;
    req.dump_path = sealed;
    req.output_path = tmp / "gen.vmcore";
    auto cck = test_cck();
    decryptor::decrypt_dump(req, cck.view());
    const auto o = parse_json(run(pvinspect("info --json " + q(req.output_path))));
    CHECK(o["kind"].str == "plain-vmcore");
    CHECK(o["vmcoreinfo_note"].b == true);
    CHECK(o["explanation"].is_null());

    if (have_realguest()) {
        const analysis::InfoReport r = analysis::inspect_info(realguest_path());
        CHECK(r.kind == analysis::ContainerKind::PlainVmcore);
        CHECK(r.cpus == 3);
        CHECK(r.memory_size == 256u << 20);
        REQUIRE(r.evidence);
        CHECK(r.evidence->lowcore_sane);
        CHECK(r.evidence->vmcoreinfo_found);
        CHECK_FALSE(r.section_error.empty());  // the little-endian .shstrtab header, tolerated
    }
}

// ---- verify --------------------------------------------------------------------------

TEST_CASE("verify: clean dumps exit 0, notes are listed but do not fail") {
    const RunResult b = run(pvinspect("verify " + q(data("basic.pvdump")) + cck_arg()));
    CHECK(b.exit_code == 0);
    CHECK(b.out.find("verify: clean: 0 errors, 0 warnings, 0 notes") != std::string::npos);
    CHECK(b.out.find("2 of 2 CPU states authenticated") != std::string::npos);

    // overlap-osii: junk in zero pages and reserved bytes, and a has_osii CPU: notes only.
    const RunResult o = run(pvinspect("verify " + q(data("overlap-osii.pvdump")) + cck_arg()));
    CHECK(o.exit_code == 0);
    CHECK(o.out.find("cpu-osii") != std::string::npos);
    CHECK(o.out.find("zero-page-not-zero") != std::string::npos);
    CHECK(o.out.find("verify: notes: 0 errors, 0 warnings") != std::string::npos);

    const auto jo = parse_json(run(pvinspect("verify --json " + q(data("overlap-osii.pvdump")) + cck_arg())));
    CHECK(jo["result"].str == "notes");
    CHECK(jo["exit_code"].u64() == 0);
    CHECK(jo["completion_authenticated"].b);
    REQUIRE(jo["cpus"].size() == 3);
    CHECK(jo["cpus"][1]["has_osii"].b);
    CHECK_FALSE(jo["cpus"][0]["has_osii"].b);
    for (const auto& c : jo["cpus"].arr) CHECK(c["authenticated"].b);
    CHECK(jo["summary"]["errors"].u64() == 0);
    CHECK(jo["summary"]["notes"].u64() == jo["findings"].size());
    const auto j = vector_json("overlap-osii");
    CHECK(jo["pages"]["encrypted"].u64() == j["page_state_counts"]["enc"].u64());

    // A fresh pvseal dump, has_osii CPU included.
    TempDir tmp;
    const std::string sealed = seal_generated(tmp, "gen.pvdump", true, {}, 1u);
    const RunResult g = run(pvinspect("verify " + q(sealed) + cck_arg()));
    CHECK(g.exit_code == 0);
    CHECK(g.out.find("CPU 1 was stopped") != std::string::npos);
}

TEST_CASE("verify finds each fault planted in the corrupt vectors") {
    struct Case {
        const char* name;
        int code;
        const char* text;  // in stdout + stderr
    } cases[] = {
        {"corrupt-compl-tag", 5, "authentication of the completion data failed"},
        {"corrupt-cpu-tag", 5, "CPU 0: authentication"},
        {"corrupt-meta-short", 6, "no tweak component"},
        {"corrupt-state-reserved", 6, "invalid page state"},
        {"corrupt-state-zero-shared", 6, "zero and shared"},
        {"corrupt-truncate", 4, "runs past end of file"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.name);
        const auto j = vector_json(c.name);
        const RunResult r = run(pvinspect("verify " + q(data(std::string(c.name) + ".pvdump")) + cck_arg()));
        CAPTURE(r.out);
        CAPTURE(r.err);
        CHECK(r.exit_code == c.code);
        CHECK((r.out + r.err).find(c.text) != std::string::npos);
        if (!j["corrupted_page"].is_null()) {
            const std::string addr = hex(j["corrupted_page"].u64() * 4096);
            CHECK(r.out.find("error   state-invalid             " + addr) != std::string::npos);
            const auto o = parse_json(run(pvinspect("verify --json " + q(data(std::string(c.name) + ".pvdump")) + cck_arg())));
            CHECK(o["result"].str == "errors");
            CHECK(o["exit_code"].u64() == 6);
            bool found = false;
            for (const auto& f : o["findings"].arr)
                found |= f["severity"].str == "error" && f["rule"].str == "state-invalid" && f["paddr"].str == addr &&
                         f["message"].str.find(addr) != std::string::npos;
            CHECK(found);
        }
    }
    // The CPU blob failing does not hide the rest: the other CPU and the pages were checked.
    const auto o = parse_json(run(pvinspect("verify --json " + q(data("corrupt-cpu-tag.pvdump")) + cck_arg())));
    CHECK(o["result"].str == "auth-failed");
    CHECK(o["exit_code"].u64() == 5);
    CHECK_FALSE(o["cpus"][0]["authenticated"].b);
    CHECK(o["cpus"][1]["authenticated"].b);
    CHECK(o["pages"]["total"].u64() == 256);
    // The completion data failing ends it: a JSON error document and exit 5.
    const RunResult ct = run(pvinspect("verify --json " + q(data("corrupt-compl-tag.pvdump")) + cck_arg()));
    CHECK(ct.exit_code == 5);
    const auto e = parse_json(ct);
    CHECK(e["error"]["code"].u64() == 5);
    CHECK(e["error"]["message"].str.find("pv_compl") != std::string::npos);
}

TEST_CASE("verify with the wrong key fails authentication (exit 5)") {
    const RunResult r = run(pvinspect("verify " + q(data("basic.pvdump")) + " --key " + q(key("wrong-cck.bin"))));
    CHECK(r.exit_code == 5);
    CHECK(r.err.find("pv_compl") != std::string::npos);
    CHECK(r.err.find("authentication") != std::string::npos);
}

TEST_CASE("verify finds tweak reuse and bad flags planted into pv_mem_meta") {
    TempDir tmp;
    const auto j = vector_json("basic");
    const auto [e1, e2] = two_pages(j, 'e');
    const auto [z1, z2] = two_pages(j, 'z');
    (void)z2;

    SUBCASE("one encrypted page's component copied to another: tweak reuse names the second page") {
        const std::string path = planted_copy(tmp, "basic", "reuse.pvdump", {{e2, component_of("basic", e1)}});
        // Without the key the states are all fine: reuse needs the nonce.
        CHECK(run(pvinspect("info " + q(path))).exit_code == 0);
        const RunResult r = run(pvinspect("verify " + q(path) + cck_arg()));
        CAPTURE(r.out);
        CHECK(r.exit_code == 6);
        CHECK(r.out.find("tweak-reuse") != std::string::npos);
        CHECK(r.out.find("page at guest address " + hex(e2 * 4096) + ": its XTS tweak is the same as the page at " +
                         hex(e1 * 4096)) != std::string::npos);
        const auto o = parse_json(run(pvinspect("verify --json " + q(path) + cck_arg())));
        REQUIRE(o["findings"].size() == 1);
        CHECK(o["findings"][0]["rule"].str == "tweak-reuse");
        CHECK(o["findings"][0]["paddr"].str == hex(e2 * 4096));
    }
    SUBCASE("reserved flag bits, byte 14, and mapped alone make a page invalid") {
        const std::string path = planted_copy(tmp, "basic", "flags.pvdump",
                                              {{e1, special(0x11)}, {e2, special(0x01, 0x80)}, {z1, special(0x04)}});
        const RunResult r = run(pvinspect("verify " + q(path) + cck_arg()));
        CAPTURE(r.out);
        CHECK(r.exit_code == 6);
        for (std::uint64_t p : {e1, e2, z1})
            CHECK(r.out.find("error   state-invalid             " + hex(p * 4096)) != std::string::npos);
        CHECK(r.out.find("reserved flag bits 0xf8") != std::string::npos);
        CHECK(r.out.find("reserved flag byte 14") != std::string::npos);
        CHECK(r.out.find("mapped flag without zero or shared") != std::string::npos);
        CHECK(r.out.find("verify: errors: 3 errors") != std::string::npos);
        // info sees them without the key too, and still exits 0: it describes, verify judges.
        const auto o = parse_json(run(pvinspect("info --json " + q(path))));
        CHECK(o["pv"]["pages"]["invalid"].u64() == 3);
    }
    SUBCASE("non-zero reserved bytes of a zero page are a note: listed, exit 0") {
        const std::string path = planted_copy(tmp, "basic", "note.pvdump", {{z1, special(0x01, 0, 0x5a)}});
        const RunResult r = run(pvinspect("verify " + q(path) + cck_arg()));
        CHECK(r.exit_code == 0);
        CHECK(r.out.find("note    state-reserved-bytes      " + hex(z1 * 4096)) != std::string::npos);
        CHECK(r.out.find("verify: notes:") != std::string::npos);
    }
}

TEST_CASE("verify warns (exit 7) about an XTS key with equal halves and a replayed CPU blob") {
    TempDir tmp;
    auto cck = test_cck();
    SUBCASE("completion data re-sealed with key2 == key1") {
        auto bytes = read_file(data("basic.pvdump"));
        const std::uint64_t off = vector_json("basic")["layout"]["pv_compl_offset"].u64();
        std::uint8_t* c = bytes.data() + off;
        const SecretBytes dump_key = derive_dump_key(cck.view(), Bytes(c + kComplSeedOff, kComplSeedSize));
        SecretBytes plain(kComplCtSize);
        REQUIRE(gcm_open(dump_key.view(), Bytes(c + kComplIvOff, 12), Bytes(c, kComplAadSize), Bytes(c + 96, kComplCtSize),
                         Bytes(c + kComplTagOff, 16), plain.mut()));
        std::memcpy(plain.data() + kComplXtsKeyOff + 32, plain.data() + kComplXtsKeyOff, 32);
        gcm_seal(dump_key.view(), Bytes(c + kComplIvOff, 12), Bytes(c, kComplAadSize), plain.view(),
                 MutableBytes(c + 96, kComplCtSize), MutableBytes(c + kComplTagOff, 16));
        write_file(tmp / "xts.pvdump", bytes);
        const RunResult r = run(pvinspect("verify " + q(tmp / "xts.pvdump") + cck_arg()));
        CAPTURE(r.out);
        CHECK(r.exit_code == 7);
        CHECK(r.out.find("warning xts-key-halves-equal") != std::string::npos);
        CHECK(r.out.find("verify: warnings: 0 errors, 1 warning") != std::string::npos);
    }
    SUBCASE("CPU 0's encrypted state copied over CPU 1's: both authenticate, the IV reuse is flagged") {
        auto bytes = read_file(data("basic.pvdump"));
        const CoreFile dump = CoreFile::open(data("basic.pvdump"));
        const auto cpus = dump.cpus();
        REQUIRE(cpus.size() == 2);
        const Note& a = *cpus[0].pv_cpu_data;
        const Note& b = *cpus[1].pv_cpu_data;
        const std::uint64_t a_desc = std::uint64_t(a.desc.data() - dump.bytes().data());
        const std::uint64_t b_desc = std::uint64_t(b.desc.data() - dump.bytes().data());
        std::memcpy(bytes.data() + b_desc, bytes.data() + a_desc, kCpuDumpSize);
        write_file(tmp / "replay.pvdump", bytes);
        const auto o = parse_json(run(pvinspect("verify --json " + q(tmp / "replay.pvdump") + cck_arg())));
        CHECK(o["exit_code"].u64() == 7);
        CHECK(o["result"].str == "warnings");
        CHECK(o["cpus"][1]["authenticated"].b);
        CHECK(o["findings"][0]["rule"].str == "iv-reuse");
        CHECK(o["findings"][0]["message"].str.find("CPU 1") != std::string::npos);
    }
}

TEST_CASE("keys: exactly 32 bytes, loose permissions warned about, key material never printed") {
    TempDir tmp;
    std::filesystem::copy_file(key("cck.bin"), tmp / "loose.bin");
    chmod((tmp / "loose.bin").c_str(), 0644);
    const RunResult l = run(pvinspect("verify " + q(data("basic.pvdump")) + " --key " + q(tmp / "loose.bin")));
    CHECK(l.exit_code == 0);
    CHECK(l.err.find("readable by group or others") != std::string::npos);

    write_file(tmp / "short.bin", std::vector<std::uint8_t>(31, 1));
    const RunResult s = run(pvinspect("verify " + q(data("basic.pvdump")) + " --key " + q(tmp / "short.bin")));
    CHECK(s.exit_code == 2);
    CHECK(s.err.find("exactly 32 bytes") != std::string::npos);

    const auto j = vector_json("basic");
    const std::string cck_hex = to_hex(read_file(key("cck.bin")));
    for (const char* cmd : {"verify", "cpus", "dmesg"}) {
        for (const char* fmt : {"", " --json"}) {
            CAPTURE(cmd);
            CAPTURE(fmt);
            const RunResult r = run(pvinspect(std::string(cmd) + fmt + " " + q(data("basic.pvdump")) + cck_arg()));
            const std::string all = r.out + r.err;
            for (const std::string& secret : {j["xts_key"].str, j["xts_key"].str.substr(0, 32), j["dump_key"].str, cck_hex}) {
                std::string upper = secret;
                for (char& ch : upper) ch = char(std::toupper(static_cast<unsigned char>(ch)));
                CHECK(all.find(secret) == std::string::npos);
                CHECK(all.find(upper) == std::string::npos);
            }
        }
    }
}

// ---- cpus -----------------------------------------------------------------------------

TEST_CASE("cpus: overlap-osii's CPU 1 is has_osii and its decoy hypervisor view differs, register by register") {
    const auto j = vector_json("overlap-osii");
    const auto o = parse_json(run(pvinspect("cpus --json " + q(data("overlap-osii.pvdump")) + cck_arg())));
    CHECK(o["pv"].b);
    REQUIRE(o["cpus"].size() == 3);
    const auto& c1 = o["cpus"][1];
    CHECK(c1["index"].u64() == 1);
    CHECK(c1["has_osii"].b);
    CHECK_FALSE(o["cpus"][0]["has_osii"].b);
    CHECK(c1["osii_explanation"].str.find("emulating an instruction") != std::string::npos);
    CHECK(c1["differing"].u64() > 0);
    std::map<std::string, const testjson::Value*> f;
    for (const auto& x : c1["fields"].arr) f[x["name"].str] = &x;
    REQUIRE(f.size() == analysis::cpu_field_names().size());
    const auto& jc = j["cpus"][1];
    // The decrypted values are the vector's, the hypervisor's are the decoys.
    CHECK((*f["psw.addr"])["value"].str == hex_u64(jc["psw"][1].u64()));
    CHECK((*f["prefix"])["value"].str == hex_u64(jc["prefix"].u64(), 8));
    for (int i : {0, 2, 15}) {
        const auto& g = *f["gpr" + std::to_string(i)];
        CHECK(g["value"].str == hex_u64(jc["gprs"][std::size_t(i)].u64()));
        CHECK(g["differs"].b);
        CHECK(g["hypervisor"].str != g["value"].str);
    }
    for (const char* name : {"psw.addr", "prefix", "cr0", "acr1", "cpu_timer"}) {
        CAPTURE(name);
        CHECK((*f[name])["differs"].b);
    }
    CHECK((*f["vr17"])["value"].str == "0x" + std::string(32 - (jc["vrs"][17].str.size() - 2), '0') + jc["vrs"][17].str.substr(2));

    const RunResult t = run(pvinspect("cpus " + q(data("overlap-osii.pvdump")) + cck_arg()));
    CHECK(t.exit_code == 0);
    CHECK(t.out.find("CPU 1: has_osii set") != std::string::npos);
    CHECK(t.out.find("  gpr0              " + hex_u64(jc["gprs"][0].u64())) != std::string::npos);
    CHECK(t.out.find("DIFFERS") != std::string::npos);
}

TEST_CASE("cpus: a pvseal has_osii CPU differs exactly where the hypervisor was mid-emulation") {
    TempDir tmp;
    const std::string path = seal_generated(tmp, "osii.pvdump", true, {}, 1u);
    auto cck = test_cck();
    const CoreFile dump = CoreFile::open(path);
    auto keys = decryptor::open_keys(dump, cck.view());
    const auto records = decryptor::cpu_states(dump, keys.dump_key.view());
    const auto r = analysis::compare_cpus(records);
    REQUIRE(r.cpus.size() == 2);
    CHECK(r.cpus[0].differing == 0);
    CHECK(r.cpus[1].has_osii);
    CHECK(r.cpus[1].differing > 0);
    const CpuState hv = producer::hypervisor_view_mid_emulation(records[1].state);
    for (const auto& fld : r.cpus[1].fields) {
        if (fld.name == "psw.addr") CHECK(fld.differs == (hv.psw[1] != records[1].state.psw[1]));
        if (fld.name == "gpr3") CHECK(fld.differs == (hv.gprs[3] != records[1].state.gprs[3]));
    }
    const RunResult d = run(pvinspect("cpus --diff-only " + q(path) + cck_arg()));
    CHECK(d.exit_code == 0);
    CHECK(d.out.find("(no field differs)") != std::string::npos);
    CHECK(d.out.find("psw.addr") != std::string::npos);
}

TEST_CASE("cpus on a plain vmcore needs no key; a PV dump without one is a usage error") {
    const RunResult u = run(pvinspect("cpus " + q(data("basic.pvdump"))));
    CHECK(u.exit_code == 2);
    CHECK(u.err.find("--key") != std::string::npos);
    if (!have_realguest()) return;
    const auto o = parse_json(run(pvinspect("cpus --json " + q(realguest_path()))));
    CHECK_FALSE(o["pv"].b);
    REQUIRE(o["cpus"].size() == 3);
    const char* prefixes[] = {"0x0199c000", "0x0199e000", "0x019a2000"};
    for (std::size_t i = 0; i < 3; ++i) {
        bool ok = false;
        for (const auto& x : o["cpus"][i]["fields"].arr)
            if (x["name"].str == "prefix") ok = x["value"].str == prefixes[i] && x["hypervisor"].is_null();
        CHECK(ok);
        CHECK(o["cpus"][i]["has_osii"].is_null());
    }
}

// ---- dmesg -------------------------------------------------------------------------------

TEST_CASE("dmesg: the real guest's boot log ends with the test marker, from the vmcore and sealed by pvseal") {
    if (!have_realguest()) return;
    const RunResult r = run(pvinspect("dmesg " + q(realguest_path())));
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("] Linux version 6.1.0-50-s390x") != std::string::npos);
    const auto last = r.out.rfind('\n', r.out.size() - 2);
    const std::string last_line = r.out.substr(last + 1);
    CHECK(last_line.find("] PVDUMP-TEST-MARKER 2a30d76148898ef3") == 13);  // "[    2.361131] PVDUMP-..."
    CHECK(last_line.rfind("[", 0) == 0);

    const auto o = parse_json(run(pvinspect("dmesg --json " + q(realguest_path()))));
    CHECK(o["osrelease"].str == "6.1.0-50-s390x");
    CHECK(o["log_format"].str == "printk-ringbuffer");
    REQUIRE(o["records"].size() > 10);
    CHECK(o["records"].arr.back()["text"].str.rfind("PVDUMP-TEST-MARKER 2a30d76148898ef3", 0) == 0);
    CHECK(o["records"].arr.back()["facility"].u64() == 1);  // written through /dev/kmsg

    // Sealed with pvseal, read back with the key: the same log, byte for byte.
    TempDir tmp;
    auto guest = producer::open_vmcore(realguest_path());
    producer::SealOptions so;
    so.output_path = tmp / "realguest.pvdump";
    so.threads = 2;
    auto cck = test_cck();
    producer::seal(*guest, cck.view(), so);
    const RunResult s = run(pvinspect("dmesg " + q(so.output_path) + cck_arg()));
    CHECK(s.exit_code == 0);
    CHECK(s.out == r.out);
    const auto os = parse_json(run(pvinspect("dmesg --json " + q(so.output_path) + cck_arg())));
    CHECK(os["vmcoreinfo_source"].str.find("guest memory") != std::string::npos);
}

TEST_CASE("dmesg: a generated guest's log lines print in order, and JSON escapes them properly") {
    const std::vector<std::string> lines = {"first line of the test log",
                                            "quotes \" and backslash \\ and tab\there",
                                            "control \x01 byte and bad UTF-8 \xff end",
                                            "caf\xc3\xa9 UTF-8 stays",
                                            "last line of the test log"};
    TempDir tmp;
    const std::string path = seal_generated(tmp, "log.pvdump", true, lines);
    const RunResult r = run(pvinspect("dmesg " + q(path) + cck_arg()));
    CAPTURE(r.out);
    CHECK(r.exit_code == 0);
    std::size_t at = 0;
    for (const std::string& want : {std::string("] first line of the test log\n"),
                                    std::string("] quotes \" and backslash \\ and tab\there\n"),
                                    std::string("] control . byte"), std::string("] caf\xc3\xa9 UTF-8 stays\n"),
                                    std::string("] last line of the test log\n")}) {
        const auto p = r.out.find(want, at);
        CHECK(p != std::string::npos);
        if (p != std::string::npos) at = p + want.size();
    }
    const std::string tail = "] last line of the test log\n";
    CHECK(r.out.size() > tail.size());
    CHECK(r.out.compare(r.out.size() - tail.size(), tail.size(), tail) == 0);

    const auto o = parse_json(run(pvinspect("dmesg --json " + q(path) + cck_arg())));
    const auto& recs = o["records"].arr;
    REQUIRE(recs.size() == lines.size());
    CHECK(recs[0]["text"].str == lines[0]);
    CHECK(recs[1]["text"].str == lines[1]);
    CHECK(recs[2]["text"].str == "control \x01 byte and bad UTF-8 \xef\xbf\xbd end");
    CHECK(recs[3]["text"].str == lines[3]);
    CHECK(recs[4]["text"].str == lines[4]);
    for (std::size_t i = 1; i < recs.size(); ++i) CHECK(recs[i]["seq"].u64() > recs[i - 1]["seq"].u64());
    CHECK(o["osrelease"].str == "6.1.0-pvseal-generated");

    // The decrypted vmcore gives the same log without a key, through its VMCOREINFO note.
    decryptor::DecryptRequest req;
    req.dump_path = path;
    req.output_path = tmp / "log.vmcore";
    auto cck = test_cck();
    decryptor::decrypt_dump(req, cck.view());
    const RunResult p = run(pvinspect("dmesg " + q(req.output_path)));
    CHECK(p.exit_code == 0);
    CHECK(p.out == r.out);
    const auto op = parse_json(run(pvinspect("dmesg --json " + q(req.output_path))));
    CHECK(op["vmcoreinfo_source"].str == "VMCOREINFO note");
}

TEST_CASE("dmesg on a guest without VMCOREINFO fails with a clear format error") {
    const RunResult r = run(pvinspect("dmesg " + q(data("basic.pvdump")) + cck_arg()));
    CHECK(r.exit_code == 4);
    CHECK(r.err.find("publishes no VMCOREINFO") != std::string::npos);
    CHECK(r.out.empty());
}

// ---- the JSON output -------------------------------------------------------------------------

// pvinspect's documents go through nlohmann::ordered_json and tools::json_text.
TEST_CASE("JSON output: escaping, invalid UTF-8, nesting, key order, and a document that parses back") {
    const auto quoted = [](const std::string& text) {
        std::string t = tools::json_text(tools::Json(text));
        return t.substr(0, t.size() - 1);  // without the newline
    };
    CHECK(quoted("a\"b\\c\n\t\x01") == "\"a\\\"b\\\\c\\n\\t\\u0001\"");
    CHECK(quoted("\xff\xc3") == "\"\xef\xbf\xbd\xef\xbf\xbd\"");
    CHECK(quoted("\xed\xa0\x80") == "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");  // a surrogate is not UTF-8
    CHECK(quoted("\xe2\x82\xac") == "\"\xe2\x82\xac\"");
    tools::Json j;
    j["n"] = std::uint64_t(18446744073709551615ull);
    j["neg"] = -3;
    j["t"] = true;
    j["z"] = tools::json_opt(std::optional<int>());
    j["a"] = tools::Json::array({"x", tools::Json::object(), tools::Json::array()});
    j["s"] = "line\nbreak";
    const std::string text = tools::json_text(j);
    const auto v = testjson::parse(text);
    CHECK(v["n"].raw_number == "18446744073709551615");
    CHECK(v["neg"].raw_number == "-3");
    CHECK(v["t"].b);
    CHECK(v["z"].is_null());
    CHECK(v["a"].size() == 3);
    CHECK(v["a"][0].str == "x");
    CHECK(v["s"].str == "line\nbreak");
    CHECK(text.back() == '\n');
    CHECK(text.find("\"n\"") < text.find("\"neg\""));  // keys in the order they were set
    CHECK(text.find("\"neg\"") < text.find("\"s\""));
}

// tools/report.hpp: one emitter, two back ends; the text reads only the document,
// and the check names every member the text neither shows nor leaves out on purpose.
namespace {
void shows_a(std::ostream& out, const tools::report::View& d, const tools::report::TextOptions&) {
    out << "a=" << d.u64("a") << " " << (d.has("b") ? "b" : "no b") << "\n";
}
void leaves_out_c(std::ostream&, const tools::report::View& d, const tools::report::TextOptions&) {
    d.not_shown("c");
}
void emit_sample(tools::report::Emitter& e, bool with_line_for_c) {
    e.field("a", 7);
    e.text(shows_a);
    e.field("b", nullptr);
    e.field("c", tools::Json{{"x", 1}, {"y", tools::Json::array({1, 2})}});
    if (with_line_for_c) e.text(leaves_out_c);
}
}  // namespace

TEST_CASE("report emitter: the same calls make the JSON document and the text, and unshown members are caught") {
    std::ostringstream json, text, unchecked;
    tools::report::JsonEmitter j;
    emit_sample(j, true);
    j.finish(json);
    CHECK(json.str() == tools::json_text(tools::Json::parse(R"({"a": 7, "b": null, "c": {"x": 1, "y": [1, 2]}})")));
    tools::report::TextEmitter t({}, /*check=*/true);
    emit_sample(t, true);
    t.finish(text);
    CHECK(text.str() == "a=7 no b\n");
    // Without the line that accounts for "c", the check names its leaves.
    tools::report::TextEmitter bad({}, /*check=*/true);
    emit_sample(bad, false);
    std::string what;
    try {
        bad.finish(unchecked);
    } catch (const std::logic_error& e) {
        what = e.what();
    }
    CHECK(what == "the text report does not show /c/x /c/y/[]");
    CHECK(unchecked.str() == "a=7 no b\n");  // the text was written before the check
    tools::report::TextEmitter lax({}, /*check=*/false);
    emit_sample(lax, false);
    std::ostringstream lax_out;
    CHECK_NOTHROW(lax.finish(lax_out));
}
