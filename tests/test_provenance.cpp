// Trust boundaries: a host that marks the lowcore page shared can plant a
// lowcore of its own, pointing to a VMCOREINFO of its own, and so steer
// pvinspect dmesg, pvdecrypt's VMCOREINFO note and crash. pvinspect verify,
// dmesg and cpus must say so, naming the structure and the guest address;
// a guest whose structures are all exported says nothing.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>

#include "analysis/provenance.hpp"
#include "decryptor/dump.hpp"
#include "decryptor/verify.hpp"
#include "format/bytes.hpp"
#include "format/core_file.hpp"
#include "format/output_file.hpp"
#include "producer/guest_source.hpp"
#include "producer/seal.hpp"
#include "support/util.hpp"

using namespace pvdump;
using namespace pvdump::format;
using namespace testutil;

namespace {

constexpr std::uint64_t kPlantedNote = 0x7000;  // a free page of the generated guest
const std::string kTrueRelease = "6.1.0-pvseal-generated";
const std::string kPlantedRelease = "6.1.0-planted-by-host!";  // same length

// A generated guest as a malicious host presents it: page 0 (the absolute
// lowcore) is shared and its 0xe0c pointer leads to a planted copy of the
// VMCOREINFO note in another shared page; optionally CPU 0's prefix page is
// shared too. Every other page is the generated guest's own.
class PlantingHost final : public producer::GuestSource {
public:
    PlantingHost(std::unique_ptr<producer::GuestSource> inner, bool share_prefix)
        : inner_(std::move(inner)), share_prefix_(share_prefix) {
        std::vector<producer::PageInfo> info(1);
        planted_.resize(kPageSize);
        inner_->read_pages(0x5000, planted_, info);  // the true VMCOREINFO note
        auto it = std::search(planted_.begin(), planted_.end(), kTrueRelease.begin(), kTrueRelease.end());
        REQUIRE(it != planted_.end());
        std::copy(kPlantedRelease.begin(), kPlantedRelease.end(), it);
    }
    std::string description() const override { return "planting host over " + inner_->description(); }
    const std::vector<MemoryRange>& blocks() const override { return inner_->blocks(); }
    const std::vector<CpuState>& cpus() const override { return inner_->cpus(); }
    void read_pages(std::uint64_t paddr, MutableBytes out, std::span<producer::PageInfo> info) const override {
        inner_->read_pages(paddr, out, info);
        for (std::size_t i = 0; i < info.size(); ++i) {
            const std::uint64_t a = paddr + i * kPageSize;
            std::uint8_t* page = out.data() + i * kPageSize;
            if (a == 0) {
                store_be64(page + 0xe0c, kPlantedNote);
                info[i] = {producer::PageKind::Shared, true};
            } else if (a == kPlantedNote) {
                std::memcpy(page, planted_.data(), kPageSize);
                info[i] = {producer::PageKind::Shared, true};
            } else if (share_prefix_ && a == producer::made_up_prefix(0)) {
                info[i] = {producer::PageKind::Shared, true};
            }
        }
    }

private:
    std::unique_ptr<producer::GuestSource> inner_;
    bool share_prefix_;
    std::vector<std::uint8_t> planted_;
};

std::unique_ptr<producer::GuestSource> small_guest() {
    producer::GeneratedGuestOptions g;
    g.size = 8 << 20;
    g.cpus = 2;
    g.seed = 5;
    g.log_lines = {"the guest's own line"};
    return producer::generate_guest(g);
}

void seal_to(const producer::GuestSource& guest, const std::string& out) {
    const std::vector<std::uint8_t> cck = read_file(key("cck.bin"));
    producer::SealOptions o;
    o.output_path = out;
    o.deterministic_seed = "provenance";
    o.threads = 1;
    producer::seal(guest, Bytes(cck.data(), cck.size()), o);
}

std::string inspect(const std::string& args) { return bin("pvinspect") + " " + args; }

}  // namespace

TEST_CASE("a shared lowcore page with a planted VMCOREINFO: verify warns (exit 7), dmesg and cpus name it") {
    TempDir d;
    const std::string dump = d / "planted.pvdump";
    seal_to(PlantingHost(small_guest(), true), dump);
    const std::string k = key("cck.bin");

    // The library: each structure and its guest address, as warnings.
    const CoreFile f = CoreFile::open(dump);
    const std::vector<std::uint8_t> cck = read_file(k);
    const decryptor::VerifyReport v = decryptor::inspect_verify(f, Bytes(cck.data(), cck.size()));
    std::vector<std::pair<std::string, std::uint64_t>> host;
    for (const auto& x : v.findings)
        if (x.rule == "host-supplied-structure") {
            CHECK(x.severity == analysis::Severity::Warning);
            host.emplace_back(x.message, x.paddr.value_or(~0ull));
        }
    REQUIRE(host.size() == 3);
    CHECK(host[0].second == 0xe0c);
    CHECK(host[0].first.find("absolute lowcore") != std::string::npos);
    CHECK(host[1].second == kPlantedNote);
    CHECK(host[1].first.find("VMCOREINFO") != std::string::npos);
    CHECK(host[2].second == producer::made_up_prefix(0));
    CHECK(host[2].first.find("CPU 0's lowcore") != std::string::npos);
    CHECK(v.outcome() == ErrorCode::VerifyWarning);

    // The tools.
    auto r = run(inspect("verify " + dump + " -k " + k));
    CHECK(r.exit_code == 7);
    CHECK(r.out.find("host-supplied-structure") != std::string::npos);
    CHECK(r.out.find("0x7000: read from a shared page") != std::string::npos);

    // dmesg follows the planted note (that is the attack) and says where it came from.
    r = run(inspect("dmesg " + dump + " -k " + k + " --json"));
    REQUIRE(r.exit_code == 0);
    const testjson::Value j = testjson::parse(r.out);
    CHECK(j["osrelease"].str == kPlantedRelease);
    REQUIRE(j["host_supplied"].size() == 2);
    CHECK(j["host_supplied"][0]["paddr"].str == "0xe0c");
    CHECK(j["host_supplied"][1]["paddr"].str == "0x7000");
    CHECK(r.err.find("warning: VMCOREINFO (the note or os_info it was found through) at guest address 0x7000") !=
          std::string::npos);

    r = run(inspect("cpus " + dump + " -k " + k));
    CHECK(r.exit_code == 0);
    CHECK(r.err.find("warning: CPU 0's lowcore (prefix area) at guest address 0x10000: read from a shared page") !=
          std::string::npos);
    CHECK(r.err.find("CPU 1") == std::string::npos);
}

TEST_CASE("a guest whose structures are all exported: no host-supplied warning anywhere") {
    TempDir d;
    const std::string dump = d / "honest.pvdump";
    const auto guest = small_guest();
    seal_to(*guest, dump);
    const std::string k = key("cck.bin");
    auto r = run(inspect("verify " + dump + " -k " + k));
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("host-supplied") == std::string::npos);
    r = run(inspect("dmesg " + dump + " -k " + k + " --json"));
    REQUIRE(r.exit_code == 0);
    const testjson::Value j = testjson::parse(r.out);
    CHECK(j["osrelease"].str == kTrueRelease);
    CHECK(j["host_supplied"].size() == 0);
    CHECK(r.err.empty());
    r = run(inspect("cpus " + dump + " -k " + k));
    CHECK(r.exit_code == 0);
    CHECK(r.err.empty());
}

TEST_CASE("TracedMemory files reads by structure and page; PageOrigins follows pv_mem_meta") {
    const CoreFile f = CoreFile::open(data("basic.pvdump"));
    const analysis::PageOrigins origins(f);
    // basic's first pages: shared, encrypted, encrypted, zero (tests/data/README.md).
    CHECK(origins.at(0x0) == analysis::PageOrigin::Shared);
    CHECK(origins.at(0x1fff) == analysis::PageOrigin::Exported);
    CHECK(origins.at(0x3000) == analysis::PageOrigin::Zero);
    CHECK(origins.at(0x400000) == analysis::PageOrigin::Unverified);  // past the 4 MiB of memory

    auto mem = f.plain_memory();  // ciphertext, but the tracing does not care
    analysis::TracedMemory t(*mem);
    std::vector<std::uint8_t> buf(5000);
    t.begin("thing A");
    t.read(0x0ff0, buf);  // pages 1 and 2
    t.read(0x1800, std::span<std::uint8_t>(buf.data(), 8));  // page 1 again: not repeated
    t.begin("thing B");
    t.read(0x0e0c, std::span<std::uint8_t>(buf.data(), 8));  // the lowcore pointer, whatever the label
    t.read(0x0010, std::span<std::uint8_t>(buf.data(), 8));
    REQUIRE(t.reads().size() == 5);
    CHECK(t.reads()[0].structure == "thing A");
    CHECK(t.reads()[0].paddr == 0x0ff0);
    CHECK(t.reads()[1].paddr == 0x1000);
    CHECK(t.reads()[2].paddr == 0x2000);
    CHECK(t.reads()[3].structure.find("absolute lowcore") == 0);
    CHECK(t.reads()[4].structure == "thing B");
    const auto host = analysis::host_supplied(t, origins);
    REQUIRE(host.size() == 3);  // page 0 reads: 0xff0 (A), 0xe0c (lowcore), 0x10 (B); page 1 is exported
    CHECK(host[0].paddr == 0x0ff0);
    CHECK(host[1].paddr == 0x0e0c);
    CHECK(host[2].paddr == 0x0010);
}

TEST_CASE("pvdecrypt names a host-supplied VMCOREINFO; --shared-as-zero writes every shared page as zeros, the rest unchanged") {
    TempDir d;
    const std::string dump = d / "planted.pvdump";
    seal_to(PlantingHost(small_guest(), false), dump);
    const std::string k = key("cck.bin");
    const std::string plain = d / "plain.vmcore", zeroed = d / "zeroed.vmcore";

    auto r = run(bin("pvdecrypt") + " " + dump + " -k " + k + " -o " + plain);
    REQUIRE(r.exit_code == 0);
    CHECK(r.err.find("pvdecrypt: warning: absolute lowcore (VMCOREINFO and os_info pointers at 0xe0c/0xe18) at guest "
                     "address 0xe0c: read from a shared page") != std::string::npos);
    CHECK(r.err.find("at guest address 0x7000: read from a shared page (the host supplied it in clear and could have "
                     "chosen it); the vmcore's VMCOREINFO note is built from it") != std::string::npos);
    CHECK(r.err.find(" shared, ") != std::string::npos);

    r = run(bin("pvdecrypt") + " " + dump + " -k " + k + " -o " + zeroed + " --shared-as-zero");
    REQUIRE(r.exit_code == 0);
    CHECK(r.err.find(" shared written as zeros, ") != std::string::npos);
    CHECK(r.err.find("read from a shared page") == std::string::npos);  // the planted lowcore reads as zeros now

    const CoreFile sealed = CoreFile::open(dump);
    const analysis::PageOrigins origins(sealed);
    const CoreFile a = CoreFile::open(plain), b = CoreFile::open(zeroed);
    CHECK(a.vmcoreinfo_note().has_value());
    CHECK(a.vmcoreinfo_note()->find(kPlantedRelease) != std::string::npos);  // what the host planted
    CHECK_FALSE(b.vmcoreinfo_note().has_value());
    const auto ma = a.plain_memory(), mb = b.plain_memory();
    std::vector<std::uint8_t> pa(kPageSize), pb(kPageSize);
    const std::vector<std::uint8_t> zeros(kPageSize, 0);
    std::uint64_t shared = 0, other = 0;
    for (const auto& l : sealed.loads()) {
        for (std::uint64_t off = 0; off < l.memsz; off += kPageSize) {
            const std::uint64_t at = l.paddr + off;
            ma->read(at, pa);
            mb->read(at, pb);
            if (origins.at(at) == analysis::PageOrigin::Shared) {
                ++shared;
                if (pb != zeros) FAIL_CHECK("shared page at " << at << " is not zeros with --shared-as-zero");
            } else {
                ++other;
                if (pa != pb) FAIL_CHECK("page at " << at << " differs with --shared-as-zero although it is not shared");
            }
        }
    }
    CHECK(shared > 2);  // page 0, the planted note, and the generated guest's own shared pages
    CHECK(other > shared);
}
