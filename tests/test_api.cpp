// libpvdump's public API (include/pvdump/pvdump.hpp) against the golden
// vectors, through the shared library only: this test links libpvdump.so and
// includes no internal header, as an embedding program would.
#include <sys/stat.h>

#include <doctest/doctest.h>
#include <pvdump/pvdump.hpp>

#include <algorithm>
#include <filesystem>
#include <functional>

#include "support/util.hpp"

using namespace testutil;
namespace api = pvdump::api;

namespace {

std::vector<std::uint8_t> golden_cck() { return read_file(key("cck.bin")); }

api::ErrorCode code_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const api::Error& e) {
        CHECK(std::string(e.what()).find('\n') == std::string::npos);
        return e.code();
    }
    FAIL("no pvdump::api::Error thrown");
    return api::ErrorCode::Internal;
}

void check_registers(const api::Registers& r, const testjson::Value& j) {
    CHECK(r.psw[0] == j["psw"][0].u64());
    CHECK(r.psw[1] == j["psw"][1].u64());
    for (unsigned i = 0; i < 16; ++i) {
        CHECK(r.gprs[i] == j["gprs"][i].u64());
        CHECK(r.acrs[i] == j["acrs"][i].u64());
        CHECK(r.crs[i] == j["ctrs"][i].u64());
    }
    CHECK(r.prefix == j["prefix"].u64());
    CHECK(r.fpc == j["fpc"].u64());
    CHECK(r.todpreg == j["todpreg"].u64());
    CHECK(r.cpu_timer == j["timer"].u64());
    CHECK(r.clock_comparator == j["todcmp"].u64());
    for (unsigned i = 0; i < 32; ++i) CHECK(r.vrs[i] == u128(j["vrs"][i].str));
    for (unsigned i = 0; i < 16; ++i) {
        const auto v = u128(j["vrs"][i].str);
        std::uint64_t f = 0;
        for (int b = 0; b < 8; ++b) f = (f << 8) | v[b];
        CHECK(r.fpr(i) == f);
    }
    CHECK(r.gsd == j["gsd"].u64());
    CHECK(r.gssm == j["gssm"].u64());
    CHECK(r.gs_epl_a == j["gs_epl_a"].u64());
}


}  // namespace

TEST_CASE("api: version is project(VERSION)") {
    CHECK(std::string(api::version()) == PVDUMP_VERSION);
}

TEST_CASE("api: info without the key") {
    const auto j = vector_json("basic");
    api::SealedDump d = api::SealedDump::open(data("basic.pvdump"));
    const api::DumpInfo i = d.info();
    CHECK(d.is_protected());
    CHECK_FALSE(d.authenticated());
    CHECK(i.kind == api::DumpKind::Protected);
    CHECK(i.file_size == j["layout"]["file_size"].u64());
    CHECK(i.cpus == j["cpus"].size());
    CHECK(i.memory_size == j["mem_size"].u64());
    REQUIRE(i.blocks.size() == 1);
    CHECK(i.blocks[0].address == 0);
    CHECK(i.blocks[0].size == j["mem_size"].u64());
    CHECK(i.pages.encrypted == j["page_state_counts"]["enc"].u64());
    CHECK(i.pages.shared == j["page_state_counts"]["shared"].u64());
    CHECK(i.pages.zero == j["page_state_counts"]["zero"].u64());
    CHECK(i.pages.total == j["mem_size"].u64() / 4096);
    CHECK(i.page_states_valid);
    // Registers and memory need the key.
    CHECK(code_of([&] { (void)d.cpus(); }) == api::ErrorCode::Usage);
    CHECK(code_of([&] { (void)d.read_memory(0, 16); }) == api::ErrorCode::Usage);
}

TEST_CASE("api: authenticate, registers, memory") {
    const auto j = vector_json("basic");
    api::SealedDump d = api::SealedDump::open(data("basic.pvdump"));
    std::vector<std::uint8_t> cck = golden_cck();
    const std::vector<std::uint8_t> copy = cck;

    SUBCASE("a wrong key, a short key") {
        CHECK(code_of([&] { d.authenticate_with_key_file(key("wrong-cck.bin")); }) == api::ErrorCode::Auth);
        CHECK(code_of([&] { d.authenticate(cck.data(), 31); }) == api::ErrorCode::Usage);
        CHECK(code_of([&] { d.authenticate(nullptr, 32); }) == api::ErrorCode::Usage);
        CHECK_FALSE(d.authenticated());
    }
    SUBCASE("the right key, as bytes and as a file") {
        if (copy[0] % 2) d.authenticate(cck);
        else d.authenticate_with_key_file(key("cck.bin"));
        CHECK(cck == copy);  // the caller's buffer is left alone
        CHECK(d.authenticated());
        const std::vector<api::Cpu> cpus = d.cpus();
        REQUIRE(cpus.size() == j["cpus"].size());
        for (std::size_t i = 0; i < cpus.size(); ++i) {
            CAPTURE(i);
            CHECK(cpus[i].index == i);
            check_registers(cpus[i].registers, j["cpus"][i]);
            CHECK(cpus[i].has_osii == j["cpus"][i]["has_osii"].b);
        }
        // The whole of guest memory, page by page, is the golden plaintext.
        const std::vector<std::uint8_t> plain = read_file(data("basic.plain"));
        REQUIRE(plain.size() == j["mem_size"].u64());
        CHECK(d.contains(0, plain.size()));
        CHECK_FALSE(d.contains(plain.size() - 8, 16));
        std::vector<std::uint8_t> mem = d.read_memory(0, plain.size());
        CHECK(mem == plain);
        // Unaligned reads across page boundaries.
        std::uint8_t buf[100];
        d.read_memory(0x1fff0, buf, sizeof buf);
        CHECK(std::equal(buf, buf + sizeof buf, plain.begin() + 0x1fff0));
        CHECK(code_of([&] { (void)d.read_memory(plain.size() - 8, 16); }) == api::ErrorCode::Format);
    }
}

TEST_CASE("api: decrypt_to writes pvdecrypt's vmcore, which opens as a plain dump") {
    TempDir tmp;
    const std::string out = tmp / "basic.vmcore";
    const auto j = vector_json("basic");
    {
        api::SealedDump d = api::SealedDump::open(data("basic.pvdump"));
        CHECK(code_of([&] { (void)d.decrypt_to(out); }) == api::ErrorCode::Usage);  // not authenticated
        d.authenticate(golden_cck());
        const api::DecryptSummary s = d.decrypt_to(out);
        CHECK(s.cpus == j["cpus"].size());
        CHECK(s.memory_size == j["mem_size"].u64());
        CHECK(s.blocks == 1);
        CHECK(s.pages.encrypted == j["page_state_counts"]["enc"].u64());
        struct stat st {};
        REQUIRE(stat(out.c_str(), &st) == 0);
        CHECK((st.st_mode & 0777) == 0600);
        CHECK(code_of([&] { (void)d.decrypt_to(out); }) == api::ErrorCode::Exists);
        api::DecryptOptions o;
        o.overwrite = true;
        o.threads = 1;
        std::uint64_t last = 0;
        o.progress = [&](std::uint64_t done, std::uint64_t) { last = done; };
        d.decrypt_to(out, o);
        CHECK(last == j["mem_size"].u64());
    }
    api::SealedDump v = api::SealedDump::open(out);
    CHECK_FALSE(v.is_protected());
    CHECK(v.info().kind == api::DumpKind::Plain);
    const auto cpus = v.cpus();  // no key needed
    REQUIRE(cpus.size() == j["cpus"].size());
    for (std::size_t i = 0; i < cpus.size(); ++i) {
        check_registers(cpus[i].registers, j["cpus"][i]);
        CHECK(cpus[i].hypervisor == cpus[i].registers);
    }
    CHECK(v.read_memory(0, j["mem_size"].u64()) == read_file(data("basic.plain")));
    CHECK(code_of([&] { v.authenticate(golden_cck()); }) == api::ErrorCode::Format);
    CHECK(code_of([&] { (void)v.decrypt_to(tmp / "again"); }) == api::ErrorCode::Format);
}

TEST_CASE("api: bad input is an api::Error with the tools' exit code") {
    CHECK(code_of([] { (void)api::SealedDump::open("/nonexistent/dump"); }) == api::ErrorCode::Io);
    CHECK(code_of([] { (void)api::SealedDump::open(data("basic.plain")); }) == api::ErrorCode::Format);
    CHECK(code_of([] { (void)api::SealedDump::open(data("corrupt-truncate.pvdump")).authenticate(golden_cck()); }) !=
          api::ErrorCode::Internal);
    api::SealedDump c = api::SealedDump::open(data("corrupt-cpu-tag.pvdump"));
    CHECK(code_of([&] { c.authenticate(golden_cck()); }) == api::ErrorCode::Auth);
    api::SealedDump t = api::SealedDump::open(data("corrupt-compl-tag.pvdump"));
    CHECK(code_of([&] { t.authenticate(golden_cck()); }) == api::ErrorCode::Auth);
    CHECK_THROWS_AS(api::Registers().fpr(16), api::Error);
}

TEST_CASE("api: invalid page states stop decrypt_to unless forced") {
    TempDir tmp;
    const std::string out = tmp / "z.vmcore";
    api::SealedDump d = api::SealedDump::open(data("corrupt-state-zero-shared.pvdump"));
    CHECK_FALSE(d.info().page_states_valid);
    CHECK(d.info().pages.invalid > 0);
    d.authenticate(golden_cck());
    CHECK(code_of([&] { (void)d.decrypt_to(out); }) == api::ErrorCode::Verify);
    CHECK_FALSE(std::filesystem::exists(out));  // nothing left behind
    api::DecryptOptions o;
    o.force = true;
    CHECK(d.decrypt_to(out, o).pages.invalid > 0);
    CHECK(std::filesystem::exists(out));
}
