// Hardening: a dump comes from a host the owner does not control. Every region
// of a sealed dump is broken in turn (table below) and pvdecrypt must answer
// with the exact exit code and a message naming the part (and offset or page),
// leave no output or temporary file, and never touch its input. Then faults:
// a full disk / file size limit, SIGINT/SIGTERM mid-way, offsets past 4 GiB,
// and key hygiene.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <thread>

#include "analysis/page_plan.hpp"
#include "decryptor/dump.hpp"
#include "tools/cck.hpp"
#include "tools/exit_code.hpp"
#include "fuzz/mini_dump.hpp"
#include "support/util.hpp"

extern char** environ;

using namespace pvdump;
using namespace pvdump::format;
using namespace testutil;

namespace {

using Buf = std::vector<std::uint8_t>;

void put16(Buf& b, std::uint64_t off, std::uint16_t v) { store_be16(b.data() + off, v); }
void put32(Buf& b, std::uint64_t off, std::uint32_t v) { store_be32(b.data() + off, v); }
void put64(Buf& b, std::uint64_t off, std::uint64_t v) { store_be64(b.data() + off, v); }
void flip(Buf& b, std::uint64_t off) { b.at(off) ^= 0x01; }

// Whole-file read in one call (istreambuf iteration is slow under -O0 + ASan).
Buf slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary | std::ios::ate);
    if (!f) throw std::runtime_error("cannot read " + path);
    Buf b(std::size_t(f.tellg()));
    f.seekg(0);
    f.read(reinterpret_cast<char*>(b.data()), std::streamsize(b.size()));
    return b;
}

std::string file_sha(const std::string& path) { return sha256_hex(slurp(path)); }

// Where the parts of the pristine basic.pvdump are, found once.
struct Basic {
    Buf bytes;
    std::uint64_t phoff, shoff, note_ph, load_ph, note_off, note_size, mem_off, mem_size;
    std::uint64_t meta_off, meta_size, compl_off, str_off;
    std::uint64_t sec_meta, sec_compl, sec_str;  // section header offsets
    std::vector<std::uint64_t> prstatus;         // note header offsets, per CPU
    std::vector<std::uint64_t> pv_note;          // NT_S390_PV_CPU_DATA note header offsets
    std::vector<std::uint64_t> pv_desc;          // ... and their descriptors
    std::vector<std::uint64_t> timer;            // NT_S390_TIMER note header offsets

    Basic() : bytes(slurp(data("basic.pvdump"))) {
        CoreFile f = CoreFile::parse(bytes);
        phoff = f.phoff();
        shoff = f.shoff();
        note_ph = phoff;
        load_ph = phoff + 56;
        note_off = *f.note_offset();
        note_size = f.note_size();
        mem_off = f.loads().at(0).offset;
        mem_size = f.loads().at(0).filesz;
        for (const auto& s : f.sections()) {
            const std::uint64_t hdr = shoff + 64 * s.index;
            if (s.name == "pv_mem_meta") meta_off = s.offset, meta_size = s.size, sec_meta = hdr;
            if (s.name == "pv_compl") compl_off = s.offset, sec_compl = hdr;
            if (s.name == ".shstrtab") str_off = s.offset, sec_str = hdr;
        }
        for (const auto& n : f.notes()) {
            if (n.name == "CORE" && n.type == NT_PRSTATUS_) prstatus.push_back(n.offset);
            if (n.name == "LINUX" && n.type == NT_S390_TIMER_) timer.push_back(n.offset);
            if (n.name == "LINUX" && n.type == NT_S390_PV_CPU_DATA_) {
                pv_note.push_back(n.offset);
                pv_desc.push_back(std::uint64_t(n.desc.data() - bytes.data()));
            }
        }
        REQUIRE(prstatus.size() == 2);
        REQUIRE(pv_note.size() == 2);
    }
    // The first page in the dump with a given state ('e', 'z', 's').
    std::uint64_t page(char state, int nth = 0) const {
        const std::string s = vector_json("basic")["page_states"].str;
        for (std::size_t i = 0; i < s.size(); ++i)
            if (s[i] == state && nth-- == 0) return i;
        FAIL("no such page");
        return 0;
    }
};

const Basic& basic() {
    static const Basic b;
    return b;
}

struct Case {
    std::string name;
    std::function<void(Buf&)> mutate;
    int code;                            // expected exit code, 0 = decrypts
    std::vector<std::string> fragments;  // each must appear in the message
    bool cli = false;                    // also run through the pvdecrypt binary
    bool force = false;                  // pvdecrypt --force (write despite page errors)
};

struct Outcome {
    int code;
    std::string message;
};

Outcome decrypt_in_process(const std::string& in, const std::string& out, bool force = false) {
    static const SecretBytes cck = tools::load_cck(key("cck.bin"));
    decryptor::DecryptRequest req;
    req.dump_path = in;
    req.output_path = out;
    req.force = force;
    req.options.threads = 2;
    try {
        decryptor::decrypt_dump(req, cck.view());
        return {0, ""};
    } catch (const Error& e) {
        return {tools::exit_code(e.code()), e.what()};
    }
}

std::string pvdecrypt_cmd(const std::string& in, const std::string& out, const std::string& cck = key("cck.bin")) {
    return bin("pvdecrypt") + " '" + in + "' -k '" + cck + "' -o '" + out + "'";
}

std::vector<Case> cases() {
    const Basic& B = basic();
    const std::uint64_t fsize = B.bytes.size();
    const std::uint64_t u64max = ~std::uint64_t(0);
    const std::uint64_t cpu0 = B.pv_desc[0], cpu1 = B.pv_desc[1];
    const std::uint64_t bad_page = B.page('z', 3);
    const std::string bad_page_hex = hex(bad_page * 4096);
    auto trunc = [](std::uint64_t n) { return [n](Buf& b) { b.resize(n); }; };
    auto component = [&](std::uint64_t page, std::uint8_t byte14, std::uint8_t byte15) {
        return [=, &B](Buf& b) {
            std::uint8_t* c = b.data() + B.meta_off + 16 * page;
            std::memset(c, 0xff, 4);
            std::memset(c + 4, 0, 10);
            c[14] = byte14;
            c[15] = byte15;
        };
    };
    // Appends a copy of the program header table with one more PT_LOAD and
    // points e_phoff at it.
    auto extra_load = [&](std::uint64_t paddr, std::uint64_t offset, std::uint64_t size) {
        return [=, &B](Buf& b) {
            const std::uint64_t at = b.size();
            b.insert(b.end(), B.bytes.begin() + std::ptrdiff_t(B.phoff), B.bytes.begin() + std::ptrdiff_t(B.phoff + 112));
            b.resize(at + 168, 0);
            Writer w(b, "extra program header");
            elf::Phdr ph;
            ph.type = elf::PT_LOAD;
            ph.offset = offset;
            ph.vaddr = ph.paddr = paddr;
            ph.filesz = ph.memsz = size;
            ph.encode(w, at + 112);
            put64(b, 32, at);
            put16(b, 56, 3);
        };
    };

    std::vector<Case> v = {
        // ---- the untouched dump decrypts ---------------------------------------
        {"pristine", [](Buf&) {}, 0, {}},
        {"e_ehsize ignored", [](Buf& b) { put16(b, 52, 0); }, 0, {}},

        // ---- ELF header ---------------------------------------------------------
        {"empty file", trunc(0), 4, {"too short for an ELF header"}, true},
        {"header cut at 63 bytes", trunc(63), 4, {"63 bytes", "too short for an ELF header"}},
        {"magic", [](Buf& b) { b[1] = 'X'; }, 4, {"not an ELF file", "bad magic at offset 0"}, true},
        {"EI_CLASS 32-bit", [](Buf& b) { b[4] = 1; }, 4, {"EI_CLASS is 1", "ELFCLASS64"}},
        {"EI_DATA little-endian", [](Buf& b) { b[5] = 1; }, 4, {"EI_DATA is 1", "big-endian"}},
        {"e_type ET_EXEC", [](Buf& b) { put16(b, 16, 2); }, 4, {"e_type is 2", "ET_CORE"}},
        {"e_machine x86-64", [](Buf& b) { put16(b, 18, 62); }, 4, {"e_machine is 62", "EM_S390"}, true},
        {"e_phoff at end of file", [=](Buf& b) { put64(b, 32, fsize); }, 4,
         {"program header table", hex(fsize), "runs past end of file"}},
        {"e_phoff near 2^64", [](Buf& b) { put64(b, 32, ~std::uint64_t(0) - 8); }, 4,
         {"program header table", "0xfffffffffffffff7", "runs past end of file"}},
        {"e_phnum 0", [](Buf& b) { put16(b, 56, 0); }, 4, {"no program headers"}},
        {"e_phnum too large", [](Buf& b) { put16(b, 56, 0xfffe); }, 4, {"program header 75 (PT_LOAD)"}},
        {"e_phnum PN_XNUM, section 0 sh_info = 2", [&](Buf& b) { put16(b, 56, 0xffff); put32(b, B.shoff + 44, 2); }, 0, {}},
        {"e_phnum PN_XNUM, section 0 sh_info = 0", [](Buf& b) { put16(b, 56, 0xffff); }, 4, {"no program headers"}},
        {"e_phnum PN_XNUM, section 0 sh_info huge", [&](Buf& b) { put16(b, 56, 0xffff); put32(b, B.shoff + 44, 0xffffffff); },
         4, {"4294967295 program headers"}},
        {"e_phnum PN_XNUM, no section table", [](Buf& b) { put16(b, 56, 0xffff); put64(b, 40, 0); }, 4,
         {"PN_XNUM", "no section 0"}},
        {"e_phnum PN_XNUM, section 0 past the end", [=](Buf& b) { put16(b, 56, 0xffff); put64(b, 40, fsize - 8); }, 4,
         {"section 0 sh_info", "runs past the end"}},
        {"e_phentsize 32", [](Buf& b) { put16(b, 54, 32); }, 4, {"e_phentsize is 32", "expected 56"}},
        {"e_shoff past the end", [=](Buf& b) { put64(b, 40, fsize); }, 4,
         {"no 'pv_compl' section", "section header table", "runs past end of file"}, true},
        {"e_shoff near 2^64", [](Buf& b) { put64(b, 40, ~std::uint64_t(0) - 63); }, 4,
         {"section header table", "runs past end of file"}},
        {"e_shnum 0", [](Buf& b) { put16(b, 60, 0); }, 4, {"no 'pv_compl' section", "not a PV dump"}},
        {"e_shnum 2 (e_shstrndx outside)", [](Buf& b) { put16(b, 60, 2); }, 4, {"e_shstrndx 3 is not a section"}},
        {"e_shnum huge", [](Buf& b) { put16(b, 60, 0xffff); }, 4, {"section table is unreadable", "sh_name"}},
        {"e_shstrndx out of range", [](Buf& b) { put16(b, 62, 9); }, 4, {"e_shstrndx 9 is not a section"}},
        {"e_shstrndx names pv_compl", [](Buf& b) { put16(b, 62, 2); }, 4, {"no 'pv_compl' section"}},
        {"e_shentsize 40", [](Buf& b) { put16(b, 58, 40); }, 4, {"e_shentsize is 40", "expected 64"}},

        // ---- program headers -----------------------------------------------------
        {"PT_NOTE p_type -> PT_NULL", [&](Buf& b) { put32(b, B.note_ph, 0); }, 4, {"no CPU notes"}},
        {"PT_LOAD p_type -> PT_NULL", [&](Buf& b) { put32(b, B.load_ph, 0); }, 4, {"no PT_LOAD"}},
        {"PT_NOTE p_offset past the end", [&](Buf& b) { put64(b, B.note_ph + 8, fsize); }, 4,
         {"program header 0 (PT_NOTE)", "runs past end of file"}},
        {"PT_NOTE p_filesz 2^64-1", [&](Buf& b) { put64(b, B.note_ph + 32, u64max); }, 4,
         {"program header 0 (PT_NOTE)", "size 0xffffffffffffffff", "runs past end of file"}},
        {"PT_NOTE p_filesz cut into the last note", [&](Buf& b) { put64(b, B.note_ph + 32, B.note_size - 4); }, 4,
         {"runs past the end of the PT_NOTE segment"}},
        {"PT_NOTE p_filesz cuts a note header", [&](Buf& b) { put64(b, B.note_ph + 32, 6); }, 4,
         {"note header at offset " + hex(B.note_off), "cut short"}},
        {"PT_LOAD p_offset past the end", [&](Buf& b) { put64(b, B.load_ph + 8, fsize - 4096); }, 4,
         {"program header 1 (PT_LOAD", "runs past end of file"}, true},
        {"PT_LOAD p_offset 2^64-1", [&](Buf& b) { put64(b, B.load_ph + 8, u64max); }, 4,
         {"program header 1 (PT_LOAD", "offset 0xffffffffffffffff", "runs past end of file"}},
        {"PT_LOAD p_filesz 2^64-1", [&](Buf& b) { put64(b, B.load_ph + 32, u64max); }, 4,
         {"program header 1 (PT_LOAD)", "p_filesz 0xffffffffffffffff exceeds p_memsz"}},
        {"PT_LOAD p_filesz one page short", [&](Buf& b) { put64(b, B.load_ph + 32, B.mem_size - 4096); }, 6,
         {"memory from 0x3ff000", "not in the file"}},
        {"PT_LOAD p_filesz one byte short", [&](Buf& b) { put64(b, B.load_ph + 32, B.mem_size - 1); }, 6,
         {"memory from 0x3ff000", "not in the file"}},
        {"PT_LOAD p_memsz 2^64-1", [&](Buf& b) { put64(b, B.load_ph + 40, u64max); }, 4,
         {"program header 1 (PT_LOAD)", "not made of whole 4 KiB pages"}},
        {"PT_LOAD p_memsz near 2^64, page-aligned", [&](Buf& b) { put64(b, B.load_ph + 40, u64max - 4095); }, 6,
         {"pv_mem_meta", "no tweak component", "0x400000"}},
        {"PT_LOAD p_memsz 1 TiB", [&](Buf& b) { put64(b, B.load_ph + 40, std::uint64_t(1) << 40); }, 6,
         {"pv_mem_meta", "no tweak component"}},
        {"PT_LOAD p_memsz near 2^64, --force", [&](Buf& b) { put64(b, B.load_ph + 40, u64max - 4095); }, 4,
         {"PT_LOADs claim 0xfffffffffffff000 bytes of guest memory", "more than a " + hex(fsize) + "-byte dump can describe"},
         true, true},
        {"PT_LOAD p_memsz 1 TiB, --force", [&](Buf& b) { put64(b, B.load_ph + 40, std::uint64_t(1) << 40); }, 4,
         {"PT_LOADs claim 0x10000000000 bytes"}, false, true},
        {"pv_mem_meta one entry short, --force: a hole", [&](Buf& b) { put64(b, B.sec_meta + 32, B.meta_size - 16); }, 0, {},
         true, true},
        {"PT_LOAD p_memsz < p_filesz", [&](Buf& b) { put64(b, B.load_ph + 40, 4096); }, 4, {"exceeds p_memsz"}},
        {"PT_LOAD p_paddr unaligned", [&](Buf& b) { put64(b, B.load_ph + 24, 0x800); }, 4,
         {"program header 1 (PT_LOAD)", "guest range 0x800", "whole 4 KiB pages"}, true},
        {"PT_LOAD p_paddr + p_memsz overflows", [&](Buf& b) { put64(b, B.load_ph + 24, u64max - 4095); }, 4,
         {"program header 1 (PT_LOAD)", "overflows 64 bits"}},
        {"PT_LOAD p_paddr beyond pv_mem_meta", [&](Buf& b) { put64(b, B.load_ph + 24, 1ull << 30); }, 6,
         {"pv_mem_meta", "0x40000000", "no tweak component"}},
        {"PT_LOAD p_offset overlaps the headers", [&](Buf& b) { put64(b, B.load_ph + 8, 0); }, 4,
         {"program header 1 (PT_LOAD", "overlaps"}},
        {"PT_LOAD p_offset overlaps pv_mem_meta", [&](Buf& b) { put64(b, B.load_ph + 8, B.meta_off - B.mem_size + 4096); }, 4,
         {"program header 1 (PT_LOAD", "overlaps", "pv_mem_meta"}},
        {"two PT_LOADs overlap in guest memory", extra_load(0x200000, 0, 0x1000), 4,
         {"program header 2 (PT_LOAD at guest address 0x200000) overlaps program header 1"}},
        {"two PT_LOADs share file bytes", extra_load(0x400000, 6088, 0x1000), 4,
         {"program header 2 (PT_LOAD", "overlaps", "program header 1"}},

        // ---- notes -------------------------------------------------------------------
        {"note namesz 2^32-1", [&](Buf& b) { put32(b, B.note_off, 0xffffffff); }, 4,
         {"note at offset " + hex(B.note_off), "namesz 4294967295", "runs past the end of the PT_NOTE segment"}, true},
        {"note descsz 2^32-1", [&](Buf& b) { put32(b, B.note_off + 4, 0xffffffff); }, 4,
         {"note at offset " + hex(B.note_off), "descsz 4294967295", "runs past the end of the PT_NOTE segment"}},
        {"CPU 1 NT_S390_PV_CPU_DATA descsz 2^32-1", [&](Buf& b) { put32(b, B.pv_note[1] + 4, 0xffffffff); }, 4,
         {"note at offset " + hex(B.pv_note[1]), "type 0x30e"}},
        {"clear register note too short (8-byte TIMER as CTRS)", [&](Buf& b) { put32(b, B.timer[0] + 8, NT_S390_CTRS_); }, 4,
         {"note at offset " + hex(B.timer[0]), "NT_S390_CTRS descriptor", "runs past the end"}},
        {"CPU 0 NT_S390_PV_CPU_DATA missing (type changed)", [&](Buf& b) { put32(b, B.pv_note[0] + 8, 0x3ff); }, 4,
         {"CPU 0 has no NT_S390_PV_CPU_DATA note"}, true},
        {"CPU 1 NT_S390_PV_CPU_DATA under the name CORE", [&](Buf& b) { std::memcpy(b.data() + B.pv_note[1] + 12, "CORE", 5); }, 4,
         {"CPU 1 has no NT_S390_PV_CPU_DATA note"}},
        {"CPU 0 NT_PRSTATUS renamed: its blob belongs to no CPU", [&](Buf& b) { b[B.prstatus[0] + 12 + 3] = 'X'; }, 4,
         {"NT_S390_PV_CPU_DATA note at offset " + hex(B.pv_note[0]), "no CPU"}},
        {"CPU 1 NT_PRSTATUS renamed: CPU 0 gets two blobs", [&](Buf& b) { b[B.prstatus[1] + 12 + 3] = 'X'; }, 4,
         {"CPU 0: second NT_S390_PV_CPU_DATA note at offset " + hex(B.pv_note[1])}},
        {"CPU 0 blob 3 bytes long", [&](Buf& b) { put32(b, B.pv_note[0] + 4, 1565); }, 4,
         {"CPU 0 NT_S390_PV_CPU_DATA note at offset " + hex(B.pv_note[0]), "1565 bytes", "v1 is 1568"}},
        // CPU 1's blob is the last note: the segment shrinks with it.
        {"CPU 1 blob 4 bytes short", [&](Buf& b) {
             put32(b, B.pv_note[1] + 4, 1564);
             put64(b, B.note_ph + 32, B.note_size - 4);
         }, 4, {"CPU 1 NT_S390_PV_CPU_DATA note at offset " + hex(B.pv_note[1]), "1564 bytes", "v1 is 1568"}},
        {"CPU 1 blob 2 bytes", [&](Buf& b) {
             put32(b, B.pv_note[1] + 4, 2);
             put64(b, B.note_ph + 32, B.pv_desc[1] + 4 - B.note_off);
         }, 4, {"CPU 1 NT_S390_PV_CPU_DATA note", "CPU dump version", "runs past the end"}},

        // ---- CPU dump blob (AAD = version, len, iv, reserved; then ciphertext, tag) --
        {"CPU 0 blob version 2", [=](Buf& b) { put32(b, cpu0, 2); }, 4, {"CPU 0 NT_S390_PV_CPU_DATA", "unsupported CPU dump version 2"}, true},
        {"CPU 0 blob len 1567", [=](Buf& b) { put32(b, cpu0 + 4, 1567); }, 4, {"CPU 0 NT_S390_PV_CPU_DATA", "length field 1567"}},
        {"CPU 0 blob iv", [=](Buf& b) { flip(b, cpu0 + 8); }, 5, {"CPU 0", "authentication", "NT_S390_PV_CPU_DATA"}},
        {"CPU 0 blob reserved (AAD)", [=](Buf& b) { flip(b, cpu0 + 20); }, 5, {"CPU 0", "authentication"}},
        {"CPU 0 blob reserved, last AAD byte", [=](Buf& b) { flip(b, cpu0 + 31); }, 5, {"CPU 0", "authentication"}},
        {"CPU 0 blob ciphertext (gprs)", [=](Buf& b) { flip(b, cpu0 + 32); }, 5, {"CPU 0", "authentication"}, true},
        {"CPU 1 blob ciphertext (dump_flags)", [=](Buf& b) { flip(b, cpu1 + 1536); }, 5, {"CPU 1", "authentication"}},
        {"CPU 1 blob tag", [=](Buf& b) { flip(b, cpu1 + 1567); }, 5, {"CPU 1", "authentication"}},

        // ---- section table and string table ------------------------------------
        {"pv_compl sh_name out of range", [&](Buf& b) { put32(b, B.sec_compl, 1000); }, 4,
         {"no 'pv_compl' section", "section 2: sh_name 1000 is outside the string table (35 bytes)"}, true},
        {"pv_compl renamed", [&](Buf& b) { b[B.str_off + 13 + 3] = 'X'; }, 4, {"no 'pv_compl' section", "not a PV dump"}},
        {"pv_mem_meta renamed", [&](Buf& b) { b[B.str_off + 1 + 3] = 'X'; }, 4, {"no section 'pv_mem_meta'"}},
        {"pv_compl offset past the end", [&](Buf& b) { put64(b, B.sec_compl + 24, fsize); }, 4,
         {"section 'pv_compl'", hex(fsize), "runs past end of file"}},
        {"pv_compl size 2^64-1", [&](Buf& b) { put64(b, B.sec_compl + 32, u64max); }, 4,
         {"section 'pv_compl'", "size 0xffffffffffffffff", "runs past end of file"}},
        {"pv_compl size 100", [&](Buf& b) { put64(b, B.sec_compl + 32, 100); }, 4, {"section 'pv_compl' is 100 bytes", "needs 288"}},
        {"pv_compl size 0", [&](Buf& b) { put64(b, B.sec_compl + 32, 0); }, 4, {"section 'pv_compl'", "completion data version", "runs past"}},
        {".shstrtab offset past the end", [&](Buf& b) { put64(b, B.sec_str + 24, fsize); }, 4,
         {"no 'pv_compl' section", "section string table", "runs past end of file"}},
        {".shstrtab size 2^64-1", [&](Buf& b) { put64(b, B.sec_str + 32, u64max); }, 4,
         {"no 'pv_compl' section", "section string table", "runs past end of file"}},
        {".shstrtab without its final NUL", [&](Buf& b) { put64(b, B.sec_str + 32, 34); }, 0, {}},
        {"pv_mem_meta sh_name out of range", [&](Buf& b) { put32(b, B.sec_meta, 35); }, 4, {"sh_name 35 is outside the string table"}},

        // ---- completion data (AAD 0..95: version, len, reserved, seed, iv, reserved) --
        {"pv_compl version 2", [&](Buf& b) { put32(b, B.compl_off, 2); }, 4, {"section 'pv_compl'", "unsupported completion data version 2"}, true},
        {"pv_compl len 289", [&](Buf& b) { put32(b, B.compl_off + 4, 289); }, 4, {"section 'pv_compl'", "length field is 289"}},
        {"pv_compl reserved @8 (AAD)", [&](Buf& b) { flip(b, B.compl_off + 8); }, 5, {"section 'pv_compl'", "authentication of the completion data failed"}},
        {"pv_compl seed", [&](Buf& b) { flip(b, B.compl_off + 16); }, 5, {"section 'pv_compl'", "authentication"}},
        {"pv_compl seed, last byte", [&](Buf& b) { flip(b, B.compl_off + 79); }, 5, {"section 'pv_compl'", "authentication"}},
        {"pv_compl iv", [&](Buf& b) { flip(b, B.compl_off + 80); }, 5, {"section 'pv_compl'", "authentication"}, true},
        {"pv_compl reserved @92 (AAD)", [&](Buf& b) { flip(b, B.compl_off + 92); }, 5, {"section 'pv_compl'", "authentication"}},
        {"pv_compl encrypted nonce", [&](Buf& b) { flip(b, B.compl_off + 96); }, 5, {"section 'pv_compl'", "authentication"}},
        {"pv_compl encrypted XTS key", [&](Buf& b) { flip(b, B.compl_off + 150); }, 5, {"section 'pv_compl'", "authentication"}},
        {"pv_compl encrypted reserved", [&](Buf& b) { flip(b, B.compl_off + 271); }, 5, {"section 'pv_compl'", "authentication"}},
        {"pv_compl tag", [&](Buf& b) { flip(b, B.compl_off + 272); }, 5, {"section 'pv_compl'", "authentication"}},
        {"pv_compl tag, last byte", [&](Buf& b) { flip(b, B.compl_off + 287); }, 5, {"section 'pv_compl'", "authentication"}},

        // ---- pv_mem_meta: size and contents ---------------------------------------
        {"pv_mem_meta one entry short", [&](Buf& b) { put64(b, B.sec_meta + 32, B.meta_size - 16); }, 6,
         {"section 'pv_mem_meta' is 0x3ff0 bytes", "pages from guest address 0x3ff000 on have no tweak component"}, true},
        {"pv_mem_meta half an entry short", [&](Buf& b) { put64(b, B.sec_meta + 32, B.meta_size - 8); }, 6,
         {"section 'pv_mem_meta' is 0x3ff8 bytes", "guest address 0x3ff000"}},
        {"pv_mem_meta empty", [&](Buf& b) { put64(b, B.sec_meta + 32, 0); }, 6,
         {"section 'pv_mem_meta' is 0x0 bytes", "guest address 0x0", "999 more"}},
        {"pv_mem_meta size 2^64-1", [&](Buf& b) { put64(b, B.sec_meta + 32, u64max); }, 4,
         {"section 'pv_mem_meta'", "runs past end of file"}},
        {"pv_mem_meta offset past the end", [&](Buf& b) { put64(b, B.sec_meta + 24, fsize - 100); }, 4,
         {"section 'pv_mem_meta'", "runs past end of file"}},
        {"pv_mem_meta larger than needed", [&](Buf& b) { put64(b, B.sec_meta + 32, B.meta_size + 288); }, 0, {}},
        {"page state: reserved flag bit 0x08", component(bad_page, 0, 0x09), 6,
         {"page at guest address " + bad_page_hex, "invalid page state", "reserved flag bits"}, true},
        {"page state: byte 14 not zero", component(bad_page, 1, 0x01), 6,
         {"page at guest address " + bad_page_hex, "byte 14"}},
        {"page state: zero and shared", component(bad_page, 0, 0x03), 6,
         {"page at guest address " + bad_page_hex, "zero and shared"}},
        {"page state: mapped alone", component(bad_page, 0, 0x04), 6,
         {"page at guest address " + bad_page_hex, "mapped flag without zero or shared"}},
        {"page state: no flag", component(bad_page, 0, 0x00), 6, {"page at guest address " + bad_page_hex, "invalid page state"}},
        {"page state: reserved bytes 4-13 are ignored",
         [&](Buf& b) { b[B.meta_off + 16 * B.page('z') + 7] = 0x5a; }, 0, {}},
        {"tweak reuse", [&](Buf& b) {
             std::memcpy(b.data() + B.meta_off + 16 * B.page('e', 1), b.data() + B.meta_off + 16 * B.page('e', 0), 16);
         }, 6, {"page at guest address " + hex(B.page('e', 1) * 4096), "tweak reuse", hex(B.page('e', 0) * 4096)}},

        // ---- the file cut short at several points ---------------------------------
        {"truncated in the section headers", trunc(100), 4, {"program header table", "runs past end of file (size 0x64)"}},
        {"truncated in the program headers", trunc(B.phoff + 60), 4, {"program header table", "runs past end of file"}},
        {"truncated in the notes", trunc(B.note_off + 1000), 4, {"program header 0 (PT_NOTE)", "runs past end of file"}},
        {"truncated after the first memory page", trunc(B.mem_off + 4096), 4,
         {"program header 1 (PT_LOAD, guest address 0x0)", "runs past end of file"}, true},
        {"truncated in the middle of memory", trunc(B.mem_off + B.mem_size / 2), 4,
         {"program header 1 (PT_LOAD", "runs past end of file"}},
        {"truncated in pv_mem_meta", trunc(B.meta_off + 100), 4, {"runs past end of file"}},
        {"truncated in pv_compl", trunc(B.compl_off + 200), 4, {"runs past end of file"}},
        {"truncated in .shstrtab", trunc(fsize - 3), 4, {"no 'pv_compl' section", "section string table", "runs past end of file"}},
    };
    return v;
}

void check_outcome(const Case& c, const Outcome& o) {
    CAPTURE(o.message);
    CHECK(o.code == c.code);
    for (const auto& f : c.fragments) {
        CAPTURE(f);
        CHECK(o.message.find(f) != std::string::npos);
    }
}

}  // namespace

TEST_CASE("every corrupted region of a sealed dump fails with its exit code and a message naming it") {
    const auto all = cases();
    TempDir tmp;
    const std::string in = tmp / "in.pvdump";
    std::filesystem::create_directory(tmp / "out");
    const std::string out = tmp / "out/out.vmcore";
    // PVDUMP_CASE=text runs only the cases whose name contains it (debugging).
    const char* only = std::getenv("PVDUMP_CASE");
    for (const Case& c : all) {
        if (only && c.name.find(only) == std::string::npos) continue;
        CAPTURE(c.name);
        Buf b = basic().bytes;
        c.mutate(b);
        std::filesystem::remove(in);
        { std::ofstream(in, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size())); }
        chmod(in.c_str(), 0444);
        const std::string before = sha256_hex(b);

        check_outcome(c, decrypt_in_process(in, out, c.force));
        std::size_t left = 0;
        for (auto& e : std::filesystem::directory_iterator(tmp.path / "out")) (void)e, ++left;
        CHECK(left == (c.code == 0 ? 1u : 0u));
        std::filesystem::remove(out);
        CHECK(file_sha(in) == before);

        if (c.cli) {
            auto r = run(pvdecrypt_cmd(in, out) + " -q" + (c.force ? " --force" : ""));
            CHECK(r.exit_code == c.code);
            CHECK(r.out.empty());
            if (c.code == 0) {
                std::filesystem::remove(out);
                continue;
            }
            // One line: "pvdecrypt: error: <message>".
            CHECK(r.err.rfind("pvdecrypt: error: ", 0) == 0);
            CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
            for (const auto& f : c.fragments) CHECK(r.err.find(f) != std::string::npos);
            left = 0;
            for (auto& e : std::filesystem::directory_iterator(tmp.path / "out")) (void)e, ++left;
            CHECK(left == 0);
            CHECK(file_sha(in) == before);
            // Streamed: not one byte of a vmcore before the error.
            r = run(pvdecrypt_cmd(in, "-") + " -q" + (c.force ? " --force" : ""));
            CHECK(r.exit_code == c.code);
            CHECK(r.out.empty());
        }
        // pvinspect reads the same broken file without crashing or an internal error.
        if (std::getenv("PVDUMP_INSPECT_ALL") || c.cli) {
            for (const std::string& sub : std::vector<std::string>{"info", "verify -k " + key("cck.bin")}) {
                auto r = run(bin("pvinspect") + " " + sub + " '" + in + "'");
                CAPTURE(sub);
                CAPTURE(r.err);
                CHECK(r.exit_code != tools::exit_code(ErrorCode::Internal));
                CHECK(r.exit_code < 128);
            }
        }
    }
}

// ---- faults -------------------------------------------------------------------
namespace {

std::size_t entries(const std::string& dir) {
    std::size_t n = 0;
    for (auto& e : std::filesystem::directory_iterator(dir)) (void)e, ++n;
    return n;
}

std::string sh_quote(const std::string& s) { return "'" + s + "'"; }

// A 256 MiB sealed dump made of holes: basic's keys and CPU blobs, fresh
// unique tweak components, all pages "encrypted" (they decrypt to noise,
// which is written: the run takes a while, and is interrupted mid-way).
void write_big_dump(const std::string& path, std::uint64_t pages) {
    const Buf src = slurp(data("basic.pvdump"));
    CoreFile f = CoreFile::parse(src);
    minidump::Load l{0, pages, 0, 0, true};
    minidump::relayout(f, {l}).write(path);
}

}  // namespace

TEST_CASE("a file size limit (EFBIG, SIGXFSZ ignored) and a full disk fail cleanly with exit 3") {
    TempDir tmp;
    const std::string out = tmp / "out.vmcore";
    // 1024 KiB limit, 4 MiB output.
    auto r = run("bash -c " + sh_quote("ulimit -f 1024; exec " + pvdecrypt_cmd(data("basic.pvdump"), out)));
    CHECK(r.exit_code == 3);
    CHECK(r.err.find(out) != std::string::npos);
    CHECK(r.err.find("File too large") != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(tmp.entries() == 0);

    // Standard output on a full device.
    r = run("bash -c " + sh_quote(pvdecrypt_cmd(data("basic.pvdump"), "-") + " >/dev/full"));
    CHECK(r.exit_code == 3);
    CHECK(r.err.find("cannot write 'standard output'") != std::string::npos);
    CHECK(r.err.find("No space left on device") != std::string::npos);

    // A small filesystem, when this environment lets us mount one.
    std::filesystem::create_directory(tmp / "small");
    if (std::system(("mount -t tmpfs -o size=1m tmpfs " + (tmp / "small") + " 2>/dev/null").c_str()) == 0) {
        r = run(pvdecrypt_cmd(data("basic.pvdump"), tmp / "small/out.vmcore"));
        CHECK(r.exit_code == 3);
        CHECK(r.err.find(tmp / "small/out.vmcore") != std::string::npos);
        CHECK(r.err.find("No space left on device") != std::string::npos);
        CHECK(entries(tmp / "small") == 0);
        CHECK(std::system(("umount " + (tmp / "small")).c_str()) == 0);
    } else {
        MESSAGE("no tmpfs mount allowed here: the small-filesystem case is skipped (RLIMIT_FSIZE and /dev/full cover ENOSPC/EFBIG)");
    }
}

TEST_CASE("SIGINT or SIGTERM in the middle of decryption leaves no output and no temporary file") {
    TempDir tmp;
    const std::string in = tmp / "big.pvdump";
    write_big_dump(in, 65536);  // 256 MiB of guest memory, a few MiB on disk
    for (int sig : {SIGINT, SIGTERM}) {
        CAPTURE(sig);
        const std::string dir = tmp / ("out" + std::to_string(sig));
        std::filesystem::create_directory(dir);
        const std::string out = dir + "/out.vmcore";
        std::vector<std::string> args = {bin("pvdecrypt"), in, "-k", key("cck.bin"), "-o", out, "-j", "1", "-q"};
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 2, (dir + ".err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        pid_t pid = -1;
        REQUIRE(posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ) == 0);
        posix_spawn_file_actions_destroy(&fa);
        // Wait until 32 MiB of decrypted memory are in the temporary file.
        bool midway = false;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (!midway && std::chrono::steady_clock::now() < deadline) {
            midway = open_bytes_under(pid, dir) > (32u << 20);
            if (!midway) std::this_thread::sleep_for(std::chrono::microseconds(500));
        }
        CHECK(midway);
        kill(pid, sig);
        int status = 0;
        REQUIRE(waitpid(pid, &status, 0) == pid);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            MESSAGE("pvdecrypt finished before the signal arrived: nothing to check");
            continue;
        }
        // The handler removes the temporary, then re-raises: the shell sees 128+sig.
        CHECK(WIFSIGNALED(status));
        if (WIFSIGNALED(status)) CHECK(WTERMSIG(status) == sig);
        CHECK(entries(dir) == 0);
    }
}

TEST_CASE("the page plan is the same on any number of threads: counts, findings in page order, caps") {
    // Four RAM blocks with holes between them, every page encrypted with a
    // tweak of its own; then invalid states, notes, tweak reuse across blocks,
    // a block whose file part is short (p_filesz < p_memsz) and a pv_mem_meta
    // cut short inside block 2 (block 3 lies wholly past it) are written into
    // the dump, spread so that slice boundaries fall inside blocks and on them.
    const CoreFile src = CoreFile::open(data("basic.pvdump"));
    const std::uint64_t b1 = 65536, b2 = 131072, b3 = 196608;  // first page frames
    const std::vector<minidump::Load> loads = {{0, 3000, 0, 0, true},
                                              {b1 * 4096, 2000, 0, 0, true},
                                              {b2 * 4096, 1500, 0, 0, true},
                                              {b3 * 4096, 50, 0, 0, true}};
    TempDir tmp;
    const std::string path = tmp / "plan.pvdump";
    minidump::relayout(src, loads).write(path);
    std::uint64_t meta_off = 0, meta_sec = 0, phoff = 0;
    {
        const CoreFile f = CoreFile::open(path);
        phoff = f.phoff();
        for (const auto& sec : f.sections())
            if (sec.name == "pv_mem_meta") meta_off = sec.offset, meta_sec = f.shoff() + 64 * sec.index;
    }
    REQUIRE(meta_off != 0);
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    REQUIRE(fd >= 0);
    auto component = [&](std::uint64_t pfn, std::array<std::uint8_t, 16> c) {
        REQUIRE(::pwrite(fd, c.data(), 16, off_t(meta_off + 16 * pfn)) == 16);
    };
    auto special = [](std::uint8_t flags, std::uint8_t reserved = 0) {
        std::array<std::uint8_t, 16> c{0xff, 0xff, 0xff, 0xff};
        c[6] = reserved;
        c[15] = flags;
        return c;
    };
    auto read_component = [&](std::uint64_t pfn) {
        std::array<std::uint8_t, 16> c{};
        REQUIRE(::pread(fd, c.data(), 16, off_t(meta_off + 16 * pfn)) == 16);
        return c;
    };
    auto put_be64 = [&](std::uint64_t off, std::uint64_t v) {
        std::array<std::uint8_t, 8> b{};
        store_be64(b.data(), v);
        REQUIRE(::pwrite(fd, b.data(), 8, off_t(off)) == 8);
    };
    const std::vector<std::uint64_t> invalid = {5, 999, 2999, b1, b1 + 464, b2 + 10, b2 + 600};
    for (std::uint64_t pfn : invalid) component(pfn, special(0x03));  // zero and shared both set
    const std::vector<std::uint64_t> notes = {1500, 1502, 1503, b1 + 64, b2 + 28};
    for (std::uint64_t pfn : notes) component(pfn, special(0x01, 7));  // zero, a reserved byte set
    component(1501, special(0x06));                                   // shared and mapped
    component(b1 + 964, special(0x01));
    // Tweak reuse: a page of block 0 copied into block 1 and block 2, one of block 1 into block 2.
    component(b1 + 1464, read_component(10));
    component(b2 + 300, read_component(10));
    component(b2 + 400, read_component(b1 + 4));
    // Block 1's file part ends after 1200 of its 2000 pages.
    put_be64(phoff + 56 * 2 + 32, 1200 * 4096);
    // pv_mem_meta ends 700 pages into block 2.
    put_be64(meta_sec + 32, (b2 + 700) * 16);
    ::close(fd);

    // What the plan must say, in page order, worked out here from the layout.
    struct Expect {
        analysis::Severity severity;
        std::string rule;
        std::uint64_t pfn;
    };
    std::vector<Expect> expect = {{analysis::Severity::Error, "meta-short", b2 + 700}};
    auto state = [&](std::uint64_t pfn) {
        for (std::uint64_t p : invalid)
            if (p == pfn) expect.push_back({analysis::Severity::Error, "state-invalid", pfn});
        for (std::uint64_t p : notes)
            if (p == pfn) expect.push_back({analysis::Severity::Note, "state-reserved-bytes", pfn});
    };
    for (std::uint64_t p = 0; p < 3000; ++p) state(p);
    expect.push_back({analysis::Severity::Error, "memory-truncated", b1 + 1200});
    for (std::uint64_t p = b1; p < b1 + 2000; ++p) state(p);
    for (std::uint64_t p = b2; p < b2 + 700; ++p) state(p);
    for (std::uint64_t p = b2 + 700; p < b2 + 1500; ++p) expect.push_back({analysis::Severity::Error, "meta-missing", p});
    for (std::uint64_t p = b3; p < b3 + 50; ++p) expect.push_back({analysis::Severity::Error, "meta-missing", p});
    for (std::uint64_t p : {b1 + 1464, b2 + 300, b2 + 400}) expect.push_back({analysis::Severity::Error, "tweak-reuse", p});

    const CoreFile dump = CoreFile::open(path);
    const std::array<std::uint8_t, 16> nonce{1, 2, 3};
    for (std::size_t cap : {std::size_t(1000), std::size_t(3)}) {
        CAPTURE(cap);
        // The expected findings under the cap: the first `cap` of each severity.
        std::vector<Expect> kept;
        std::size_t per[3] = {0, 0, 0};
        for (const Expect& e : expect)
            if (per[int(e.severity)]++ < cap) kept.push_back(e);
        const analysis::PagePlan one = analysis::page_plan(dump, &nonce, cap, true, 1);
        CHECK(one.counts.total == 6550);
        CHECK(one.counts.missing == 850);
        CHECK(one.counts.invalid == invalid.size());
        CHECK(one.counts.zero == notes.size() + 1);
        CHECK(one.counts.shared == 1);
        CHECK(one.counts.mapped == 1);
        CHECK(one.counts.encrypted == 6550 - 850 - invalid.size() - notes.size() - 2);
        CHECK_FALSE(one.meta_covers_all);
        CHECK(one.findings_dropped == expect.size() - kept.size());
        REQUIRE(one.findings.size() == kept.size());
        for (std::size_t i = 0; i < kept.size(); ++i) {
            CAPTURE(i);
            CHECK(one.findings[i].severity == kept[i].severity);
            CHECK(one.findings[i].rule == kept[i].rule);
            CHECK(one.findings[i].paddr == kept[i].pfn * 4096);
        }
        if (cap == 1000)
            CHECK(one.findings.back().message.find("the same as the page at " + hex(std::uint64_t(b1 + 4) * 4096)) !=
                  std::string::npos);
        // 19 threads: 300 pages a slice, one boundary exactly between blocks 0 and 1.
        for (unsigned threads : {2u, 3u, 5u, 16u, 19u, 22u, 0u}) {
            CAPTURE(threads);
            const analysis::PagePlan many = analysis::page_plan(dump, &nonce, cap, true, threads);
            CHECK(many.counts.total == one.counts.total);
            CHECK(many.counts.encrypted == one.counts.encrypted);
            CHECK(many.counts.zero == one.counts.zero);
            CHECK(many.counts.shared == one.counts.shared);
            CHECK(many.counts.mapped == one.counts.mapped);
            CHECK(many.counts.invalid == one.counts.invalid);
            CHECK(many.counts.missing == one.counts.missing);
            CHECK(many.meta_covers_all == one.meta_covers_all);
            CHECK(many.findings_dropped == one.findings_dropped);
            REQUIRE(many.findings.size() == one.findings.size());
            for (std::size_t i = 0; i < one.findings.size(); ++i) {
                CAPTURE(i);
                CHECK(many.findings[i].severity == one.findings[i].severity);
                CHECK(many.findings[i].rule == one.findings[i].rule);
                CHECK(many.findings[i].paddr == one.findings[i].paddr);
                CHECK(many.findings[i].message == one.findings[i].message);
            }
        }
    }
}

TEST_CASE("memory at file offsets past 4 GiB and guest addresses past 4 GiB (sparse file) decrypts exactly") {
    TempDir tmp;
    const std::string in = tmp / "far.pvdump", out = tmp / "far.vmcore";
    const Buf src = slurp(data("basic.pvdump"));
    CoreFile f = CoreFile::parse(src);
    const std::uint64_t gib = std::uint64_t(1) << 30;
    // basic's first 2 MiB at guest 0, its second 2 MiB at guest 5 GiB; both in
    // the file past 4 GiB; pv_mem_meta (indexed by address) past them.
    minidump::relayout(f, {{0, 512, 4 * gib + 8192, 0}, {5 * gib, 512, 0, 512}}).write(in);
    struct stat st {};
    REQUIRE(stat(in.c_str(), &st) == 0);
    CHECK(std::uint64_t(st.st_size) > 4 * gib);

    const Outcome o = decrypt_in_process(in, out);
    REQUIRE_MESSAGE(o.code == 0, o.message);
    CoreFile v = CoreFile::open(out);
    REQUIRE(v.loads().size() == 2);
    const Buf plain = slurp(data("basic.plain"));
    CHECK(v.loads()[0].paddr == 0);
    CHECK(v.loads()[1].paddr == 5 * gib);
    for (int i = 0; i < 2; ++i) {
        const auto& l = v.loads()[i];
        REQUIRE(l.filesz == 2u << 20);
        CHECK(std::memcmp(v.bytes().data() + l.offset, plain.data() + i * (2u << 20), 2u << 20) == 0);
    }
    // The same through the CLI, streamed.
    auto r = run(pvdecrypt_cmd(in, "-") + " -q");
    CHECK(r.exit_code == 0);
    CHECK(r.out.size() == v.file_size());
}

TEST_CASE("unusable input and output paths are I/O errors (exit 3) that name the path") {
    TempDir tmp;
    struct PathCase {
        std::string in, out, fragment;
    } cases[] = {
        {tmp / "missing.pvdump", tmp / "o.vmcore", "cannot open '" + (tmp / "missing.pvdump") + "'"},
        {tmp.path.string(), tmp / "o.vmcore", "'" + tmp.path.string() + "' is not a regular file"},
        {data("basic.pvdump"), tmp / "no/such/dir/o.vmcore", "cannot create a temporary file next to '" + (tmp / "no/such/dir/o.vmcore") + "'"},
        {data("basic.pvdump"), tmp.path.string(), "output '" + tmp.path.string() + "' is a directory"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.in);
        CAPTURE(c.out);
        auto r = run(pvdecrypt_cmd(c.in, c.out));
        CHECK(r.exit_code == 3);
        CHECK(r.err.find(c.fragment) != std::string::npos);
        CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
        CHECK(tmp.entries() == 0);
    }
}

// ---- key hygiene ----------------------------------------------------------------
TEST_CASE("key hygiene: bad CCK files, loose modes, no key material in any output, 0600, no overwrite, read-only input") {
    TempDir tmp;
    const std::string in = tmp / "in.pvdump";
    std::filesystem::copy_file(data("basic.pvdump"), in);
    chmod(in.c_str(), 0444);
    const std::string in_sha = file_sha(in);
    struct stat in_before {};
    REQUIRE(stat(in.c_str(), &in_before) == 0);
    const Buf cck = slurp(key("cck.bin"));

    SUBCASE("a CCK file that is not exactly 32 bytes is a usage error (exit 2)") {
        for (std::size_t n : {0u, 16u, 31u, 33u, 64u}) {
            CAPTURE(n);
            const std::string key = tmp / ("k" + std::to_string(n));
            Buf k(n, 0x42);
            std::ofstream(key, std::ios::binary).write(reinterpret_cast<const char*>(k.data()), std::streamsize(n));
            chmod(key.c_str(), 0600);
            auto r = run(pvdecrypt_cmd(in, tmp / "out.vmcore", key));
            CHECK(r.exit_code == 2);
            CHECK(r.err.find("exactly 32 bytes") != std::string::npos);
            CHECK(r.err.find(key) != std::string::npos);
        }
        auto r = run(pvdecrypt_cmd(in, tmp / "out.vmcore", tmp / "missing.key"));
        CHECK(r.exit_code == 2);
        r = run(pvdecrypt_cmd(in, tmp / "out.vmcore", tmp.path.string()));
        CHECK(r.exit_code == 2);
        CHECK(r.err.find("not a regular file") != std::string::npos);
        CHECK(!std::filesystem::exists(tmp / "out.vmcore"));
    }
    SUBCASE("a group- or world-readable CCK gets a warning, and still works") {
        const std::string loose = tmp / "loose.key";
        std::filesystem::copy_file(key("cck.bin"), loose);
        chmod(loose.c_str(), 0644);
        auto r = run(pvdecrypt_cmd(in, tmp / "out.vmcore", loose));
        CHECK(r.exit_code == 0);
        CHECK(r.err.find("warning: the key file '" + loose + "' is readable by group or others") != std::string::npos);
        std::filesystem::remove(tmp / "out.vmcore");
        r = run(pvdecrypt_cmd(in, tmp / "out.vmcore"));  // cck.bin is 0600
        CHECK(r.exit_code == 0);
        CHECK(r.err.find("readable by group") == std::string::npos);
    }
    SUBCASE("no key material (CCK, dump key, XTS key; hex or raw) in any tool's output") {
        auto j = vector_json("basic");
        std::vector<Buf> secrets = {cck, from_hex(j["dump_key"].str), from_hex(j["xts_key"].str)};
        std::vector<std::string> needles;
        for (const Buf& s : secrets) {
            needles.push_back(std::string(s.begin(), s.end()));
            std::string h = to_hex(s);
            needles.push_back(h.substr(0, 16));  // any 8 bytes of it, in hex
            needles.push_back(h.substr(h.size() - 16));
            std::transform(h.begin(), h.end(), h.begin(), ::toupper);
            needles.push_back(h.substr(0, 16));
        }
        // 0x-grouped forms of the first 8 bytes ("0x436d220f0e891dd5").
        needles.push_back("0x" + to_hex(Bytes(secrets[0].data(), 8)));
        Buf tampered = slurp(data("basic.pvdump"));
        tampered[basic().compl_off + 100] ^= 1;
        const std::string bad = tmp / "bad.pvdump";
        std::ofstream(bad, std::ios::binary).write(reinterpret_cast<const char*>(tampered.data()), std::streamsize(tampered.size()));
        const std::string k = " -k " + key("cck.bin"), inspect = bin("pvinspect");
        std::vector<std::string> cmds = {
            pvdecrypt_cmd(in, tmp / "o1") + " --progress",
            pvdecrypt_cmd(in, "-"),
            pvdecrypt_cmd(in, tmp / "o2", key("wrong-cck.bin")),
            pvdecrypt_cmd(bad, tmp / "o3"),
            pvdecrypt_cmd(data("overlap-osii.pvdump"), tmp / "o4"),
            pvdecrypt_cmd(data("corrupt-cpu-tag.pvdump"), tmp / "o5"),
        };
        if (std::filesystem::exists(inspect)) {
            for (const char* sub : {"info", "verify", "cpus", "dmesg"})
                for (const char* json : {"", " --json"}) {
                    const std::string key = std::string(sub) == "info" ? "" : k;
                    cmds.push_back(inspect + " " + sub + key + json + " " + in);
                    cmds.push_back(inspect + " " + sub + key + json + " " + bad);
                }
            cmds.push_back(inspect + " verify -k " + key("wrong-cck.bin") + " " + in);
        } else {
            MESSAGE("pvinspect not built: only pvdecrypt checked");
        }
        const std::string seal = bin("pvseal");
        if (std::filesystem::exists(seal)) {
            const std::string sk = " --cck " + key("cck.bin");
            cmds.push_back(seal + " --generate 1M --seed 3 --progress" + sk + " -o " + (tmp / "s1.pvdump"));
            cmds.push_back(seal + " --generate 1M --seed 4" + sk + " -o -");
            cmds.push_back(seal + " --generate 1M --cck " + key("wrong-cck.bin") + " -o " + (tmp / "s1.pvdump"));
        }
        for (const auto& c : cmds) {
            CAPTURE(c);
            auto r = run(c);
            for (std::size_t i = 0; i < needles.size(); ++i) {
                CAPTURE(i);
                CHECK(r.out.find(needles[i]) == std::string::npos);
                CHECK(r.err.find(needles[i]) == std::string::npos);
            }
        }
    }
    SUBCASE("the output is created 0600 whatever the umask, and an existing output is kept without --force") {
        const std::string out = tmp / "out.vmcore";
        auto r = run("umask 000; " + pvdecrypt_cmd(in, out));
        REQUIRE(r.exit_code == 0);
        struct stat st {};
        REQUIRE(stat(out.c_str(), &st) == 0);
        CHECK((st.st_mode & 0777) == 0600);
        const std::string sha = file_sha(out);
        { std::ofstream(out, std::ios::trunc) << "keep me"; }
        r = run(pvdecrypt_cmd(in, out));
        CHECK(r.exit_code == 8);
        CHECK(r.err.find("exists") != std::string::npos);
        CHECK(r.err.find("--force") != std::string::npos);
        CHECK(read_text(out) == "keep me");
        CHECK(tmp.entries() == 2);  // in.pvdump, out.vmcore: no temporary
        r = run(pvdecrypt_cmd(in, out) + " --force");
        CHECK(r.exit_code == 0);
        CHECK(file_sha(out) == sha);
    }
    SUBCASE("the input is never opened for writing") {
        const std::string trace = tmp / "trace";
        auto r = run("strace -f -qq -e trace=open,openat -o " + trace + " " + pvdecrypt_cmd(in, tmp / "out.vmcore"));
        if (r.exit_code == 0 && std::filesystem::exists(trace)) {
            std::istringstream lines(read_text(trace));
            std::string line;
            int opens = 0;
            while (std::getline(lines, line)) {
                if (line.find(in) == std::string::npos) continue;
                ++opens;
                CAPTURE(line);
                CHECK(line.find("O_RDONLY") != std::string::npos);
                CHECK(line.find("O_RDWR") == std::string::npos);
                CHECK(line.find("O_WRONLY") == std::string::npos);
            }
            CHECK(opens >= 1);
        } else {
            MESSAGE("strace unavailable here: checked by content and mtime only");
            std::filesystem::remove(tmp / "out.vmcore");
            r = run(pvdecrypt_cmd(in, tmp / "out.vmcore"));
            CHECK(r.exit_code == 0);
        }
    }
    struct stat in_after {};
    REQUIRE(stat(in.c_str(), &in_after) == 0);
    CHECK(file_sha(in) == in_sha);
    CHECK(in_after.st_mtim.tv_sec == in_before.st_mtim.tv_sec);
    CHECK(in_after.st_mtim.tv_nsec == in_before.st_mtim.tv_nsec);
    CHECK((in_after.st_mode & 0777) == 0444);
}
