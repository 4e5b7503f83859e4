// What a crash/gdb user does first: load the decrypted vmcore into
// gdb-multiarch and read each CPU's PSW and registers.
#include <doctest/doctest.h>

#include <map>
#include <sstream>

#include "support/util.hpp"

using namespace testutil;

namespace {

// "name  0xVALUE ..." lines of gdb's `info registers`, per thread.
std::vector<std::map<std::string, std::string>> gdb_registers(const std::string& core, std::size_t threads) {
    std::string cmd = "gdb-multiarch -nx -batch -ex 'set architecture s390:64-bit' -ex 'core-file " + core + "'";
    for (std::size_t t = 1; t <= threads; ++t)
        cmd += " -ex 'thread " + std::to_string(t) + "' -ex 'echo @@THREAD\\n' -ex 'info all-registers'";
    auto r = run("timeout 120 " + cmd);
    REQUIRE(r.exit_code == 0);
    std::vector<std::map<std::string, std::string>> out;
    std::istringstream in(r.out);
    std::string line;
    while (std::getline(in, line)) {
        if (line == "@@THREAD") {
            out.emplace_back();
            continue;
        }
        if (out.empty()) continue;
        std::istringstream ls(line);
        std::string name, value;
        ls >> name >> value;
        if (name.empty()) continue;
        // f registers print as a double with "(raw 0x...)" after it.
        auto raw = line.find("(raw ");
        if (raw != std::string::npos) value = line.substr(raw + 5, line.find(')', raw) - raw - 5);
        out.back()[name] = value;
    }
    return out;
}

std::string hex_of(const testjson::Value& v) {
    std::ostringstream s;
    s << "0x" << std::hex << v.u64();
    return s.str();
}

}  // namespace

TEST_CASE("gdb-multiarch loads the decrypted vmcore and shows every CPU's decrypted registers") {
    REQUIRE_MESSAGE(run("command -v gdb-multiarch").exit_code == 0,
                    "gdb-multiarch is not installed (tests/run.sh installs it)");
    auto j = vector_json("overlap-osii");
    TempDir tmp;
    const std::string core = tmp / "core";
    auto dec = run(bin("pvdecrypt") + " " + data("overlap-osii.pvdump") + " -k " + key("cck.bin") + " -o " + core);
    REQUIRE(dec.exit_code == 0);

    const std::size_t ncpu = j["cpus"].size();
    auto regs = gdb_registers(core, ncpu);
    REQUIRE(regs.size() == ncpu);
    for (std::size_t c = 0; c < ncpu; ++c) {
        CAPTURE(c);
        const auto& jc = j["cpus"][c];
        auto& r = regs[c];
        CHECK(r["pswm"] == hex_of(jc["psw"][0]));
        CHECK(r["pswa"] == hex_of(jc["psw"][1]));
        for (int i = 0; i < 16; ++i) {
            CHECK(r["r" + std::to_string(i)] == hex_of(jc["gprs"][i]));
            CHECK(r["acr" + std::to_string(i)] == hex_of(jc["acrs"][i]));
            auto vr = u128(jc["vrs"][i].str);
            std::uint64_t f = 0;
            for (int k = 0; k < 8; ++k) f = f << 8 | vr[k];
            CHECK(std::stoull(r["f" + std::to_string(i)], nullptr, 16) == f);
        }
        CHECK(r["fpc"] == hex_of(jc["fpc"]));
    }
}
