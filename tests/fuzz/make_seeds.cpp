// Writes the seed corpus of the fuzz targets (tests/fuzz/corpus/). Not built
// by CMake; run by hand after a format change (see tests/fuzz/README.md):
//   c++ -std=c++20 -I. -Itests tests/fuzz/make_seeds.cpp BUILD/libpvproducer.a \
//       BUILD/libpvdecryptor.a BUILD/libpvanalysis.a BUILD/libpvguest.a \
//       BUILD/libpvkeyfile.a BUILD/libpvformat.a -lcrypto -lpthread -o /tmp/make_seeds
//   /tmp/make_seeds tests/data tests/fuzz/corpus
#include <fstream>
#include <iostream>

#include "decryptor/dump.hpp"
#include "tools/cck.hpp"
#include "fuzz/mini_dump.hpp"
#include "guest/s390.hpp"
#include "producer/guest_printk.hpp"

using namespace pvdump;
using namespace pvdump::format;

namespace {

void save(const std::string& path, const std::vector<std::uint8_t>& b) {
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
    std::cout << path << " " << b.size() << "\n";
}

// A plain vmcore of `mem` at guest 0 with the CPUs' clear registers.
std::vector<std::uint8_t> plain_vmcore(const std::vector<std::uint8_t>& mem, const std::vector<CpuState>& cpus,
                                       const std::optional<std::string>& vmcoreinfo) {
    VmcoreLayout layout(cpus, {{0, mem.size()}}, vmcoreinfo);
    std::vector<std::uint8_t> out = layout.head();
    out.resize(layout.range_offset(0));
    out.insert(out.end(), mem.begin(), mem.end());
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) return 2;
    const std::string data = argv[1], out = argv[2];
    CoreFile basic = CoreFile::open(data + "/basic.pvdump");
    // Sealed: basic's first pages (states s e e z ...) in one or two blocks.
    const auto tiny = minidump::relayout(basic, {{0, 4, 0, 0}}).flat();
    const auto two = minidump::relayout(basic, {{0, 2, 0, 0}, {0x100000, 2, 0, 4}}).flat();
    const auto one = minidump::relayout(basic, {{0x2000, 1, 0, 1}}).flat();
    for (const char* t : {"fuzz_decrypt", "fuzz_core_index"}) {
        save(out + "/" + t + "/sealed-4-pages", tiny);
        save(out + "/" + t + "/sealed-2-blocks", two);
        save(out + "/" + t + "/sealed-1-page-at-0x2000", one);
    }

    // Plain: a guest whose lowcore points (0xe0c) to a VMCOREINFO note that
    // describes a small printk ringbuffer, as Linux 6.1 lays it out.
    producer::PrintkConfig cfg;
    cfg.data_size_bits = 9;
    cfg.desc_count_bits = 3;
    std::vector<producer::PrintkLine> lines;
    for (int i = 0; i < 12; ++i)
        lines.push_back({std::uint64_t(1000000 * (i + 1)), "line " + std::to_string(i) + (i == 5 ? "\nsecond" : ""),
                         std::uint8_t(i % 8), 0, std::uint32_t(i)});
    const std::uint64_t base = 0x3000;
    auto klog = producer::build_guest_printk(base, producer::printk_region_size(cfg), lines, cfg);
    std::string text = "OSRELEASE=6.1.0-fuzz\nPAGESIZE=4096\nKERNELOFFSET=0\n" + klog.vmcoreinfo_text();
    auto note = guest::build_vmcoreinfo_note(text);
    std::vector<std::uint8_t> mem(base + klog.bytes.size() + 4096 - (base + klog.bytes.size()) % 4096, 0);
    klog.overlay(0, mem);
    std::copy(note.begin(), note.end(), mem.begin() + 0x1000);
    store_be64(mem.data() + 0xe0c, 0x1000);
    auto keys = decryptor::open_keys(basic, tools::load_cck(data + "/cck.bin").view());
    std::vector<CpuState> cpus;
    for (auto& c : decryptor::cpu_states(basic, keys.dump_key.view())) cpus.push_back(c.state);
    const auto printk = plain_vmcore(mem, cpus, text);
    save(out + "/fuzz_plain_vmcore/printk-ringbuffer", printk);
    save(out + "/fuzz_core_index/plain-printk", printk);
    std::vector<std::uint8_t> small(basic.bytes().begin() + std::ptrdiff_t(basic.loads()[0].offset),
                                    basic.bytes().begin() + std::ptrdiff_t(basic.loads()[0].offset + 8192));
    save(out + "/fuzz_plain_vmcore/no-vmcoreinfo", plain_vmcore(small, cpus, std::nullopt));
    return 0;
}
