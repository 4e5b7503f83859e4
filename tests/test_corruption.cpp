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

#include "decryptor/dump.hpp"
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

std::string file_sha(const std::string& path) { return sha256_hex(read_file(path)); }

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

    Basic() : bytes(read_file(data("basic.pvdump"))) {
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
};

struct Outcome {
    int code;
    std::string message;
};

Outcome decrypt_in_process(const std::string& in, const std::string& out, bool force = false) {
    static const SecretBytes cck = decryptor::load_cck(data("cck.bin"));
    decryptor::DecryptRequest req;
    req.dump_path = in;
    req.output_path = out;
    req.force = force;
    req.options.threads = 2;
    try {
        decryptor::decrypt_dump(req, cck.view());
        return {0, ""};
    } catch (const Error& e) {
        return {int(e.code()), e.what()};
    }
}

std::string pvdecrypt_cmd(const std::string& in, const std::string& out, const std::string& key = data("cck.bin")) {
    return bin("pvdecrypt") + " '" + in + "' -k '" + key + "' -o '" + out + "'";
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
            encode_program_header(b.data() + at + 112, {1, 0, offset, paddr, paddr, size, size, 0});
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

        check_outcome(c, decrypt_in_process(in, out));
        std::size_t left = 0;
        for (auto& e : std::filesystem::directory_iterator(tmp.path / "out")) (void)e, ++left;
        CHECK(left == (c.code == 0 ? 1u : 0u));
        std::filesystem::remove(out);
        CHECK(file_sha(in) == before);

        if (c.cli) {
            auto r = run(pvdecrypt_cmd(in, out) + " -q");
            CHECK(r.exit_code == c.code);
            CHECK(r.out.empty());
            // One line: "pvdecrypt: error: <message>".
            CHECK(r.err.rfind("pvdecrypt: error: ", 0) == 0);
            CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
            for (const auto& f : c.fragments) CHECK(r.err.find(f) != std::string::npos);
            left = 0;
            for (auto& e : std::filesystem::directory_iterator(tmp.path / "out")) (void)e, ++left;
            CHECK(left == 0);
            CHECK(file_sha(in) == before);
        }
    }
}
