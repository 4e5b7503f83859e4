// Byte order: what pvdump writes must not depend on the host's. These run on
// every host (x86-64 natively, s390x under qemu-user from tests/run-s390x.sh)
// and pin values computed once, so a host-order read or write shows up as a
// failure on the other byte order. tests/cross/same_as_native.sh compares whole
// files between the two builds.
#include <doctest/doctest.h>

#include <bit>
#include <vector>

#include "format/crypto.hpp"
#include "producer/guest_source.hpp"

using namespace pvdump;

namespace {
constexpr std::uint64_t kPage = 4096;

std::string host_order() { return std::endian::native == std::endian::big ? "big-endian" : "little-endian"; }
}  // namespace

TEST_CASE("a generated guest's memory is the same bytes on every host (random pages stored little-endian)") {
    // pvseal --generate filled its random pages with host-order 64-bit words:
    // on s390x the same seed sealed a different guest than on x86.
    producer::GeneratedGuestOptions o;
    o.size = 4 * 1024 * 1024;
    o.cpus = 2;
    o.seed = 7;
    auto g = producer::generate_guest(o);
    std::vector<std::uint8_t> mem(o.size);
    std::vector<producer::PageInfo> info(o.size / kPage);
    g->read_pages(0, mem, info);
    std::size_t kinds[3] = {};
    for (const auto& i : info) ++kinds[int(i.kind)];
    MESSAGE("host " << host_order() << ": data " << kinds[0] << ", zero " << kinds[1] << ", shared " << kinds[2]);
    CHECK(kinds[0] == 829);
    CHECK(kinds[1] == 112);
    CHECK(kinds[2] == 83);
    CHECK(format::sha256_hex(mem) == "82644114bb10e8afd2d8020fd347fc19bfdf5367a4470155a1a0b4080a97e14b");
}
