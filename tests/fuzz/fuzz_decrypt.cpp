// Fuzz target: the owner's whole path on small sealed dumps, with the test
// key compiled in (seeds derived from tests/data get past authentication, so
// the fuzzer reaches the CPU blobs, the page plan and memory decryption):
// open_keys, cpu_states, page_plan with tweak-reuse check, page-by-page reads
// through sealed_memory, find_vmcoreinfo, and decrypt_dump into a temporary
// directory (OutputFile, parallel decryption, VmcoreLayout, commit).
// pvdump::Error is the expected answer to bad input; anything else is a finding.
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "decryptor/dump.hpp"
#include "analysis/kernel_log.hpp"
#include "format/core_file.hpp"
#include "fuzz/fuzz_common.hpp"
#include "fuzz/fuzz_key.hpp"

namespace {

using fuzzing::expect_clean;

const std::string& work_dir() {
    static const std::string dir = [] {
        const char* base = getenv("TMPDIR");
        std::string tmpl = std::string(base && *base ? base : "/tmp") + "/pvdump-fuzz-XXXXXX";
        std::vector<char> b(tmpl.begin(), tmpl.end());
        b.push_back('\0');
        if (!mkdtemp(b.data())) abort();
        return std::string(b.data());
    }();
    // Registered once `dir` is fully constructed, so the cleanup runs before
    // `dir` is destroyed at exit (registering inside the initializer ran it after).
    static const bool cleanup = (std::atexit([] { std::filesystem::remove_all(work_dir()); }), true);
    (void)cleanup;
    return dir;
}

void write_whole(const std::string& path, const std::uint8_t* data, std::size_t size) {
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) abort();
    if (size && std::fwrite(data, 1, size, f) != size) abort();
    std::fclose(f);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace pvdump;
    using namespace pvdump::format;
    const Bytes cck(pvdump_fuzz::kTestCck.data(), pvdump_fuzz::kTestCck.size());
    bool whole_path = false;
    std::uint64_t memory = 0;
    expect_clean([&] {
        CoreFile f = CoreFile::parse(Bytes(data, size), "fuzz");
        decryptor::Keys keys = decryptor::open_keys(f, cck);
        expect_clean([&] { decryptor::cpu_states(f, keys.dump_key.view()); });
        expect_clean([&] {
            analysis::PagePlan plan = analysis::page_plan(f, &keys.nonce, 8);
            whole_path = true;
            memory = f.memory_size();
        });
        expect_clean([&] {
            auto mem = decryptor::sealed_memory(f, keys);
            fuzzing::probe_memory(*mem, f.loads(), 16, 3, 8);
            (void)guest::find_vmcoreinfo(*mem);
        });
    });
    if (!whole_path) return 0;
    // The whole owner path, through files, as pvdecrypt runs it. --force only
    // for small memories: it writes holes for every page the dump lacks.
    const std::string in = work_dir() + "/in.pvdump", out = work_dir() + "/out.vmcore";
    write_whole(in, data, size);
    decryptor::DecryptRequest req;
    req.dump_path = in;
    req.output_path = out;
    req.overwrite = true;
    req.force = size > 0 && (data[size - 1] & 1) && memory <= (64u << 20);
    req.options.threads = 1 + (size & 1);
    expect_clean([&] { decryptor::decrypt_dump(req, cck); });
    unlink(out.c_str());
    return 0;
}
