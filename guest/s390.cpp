// s390 guest facts: see s390.hpp.
#include "guest/s390.hpp"

#include <algorithm>
#include <cstring>

#include "format/bytes.hpp"
#include "format/error.hpp"

namespace pvdump::guest {
namespace {

using format::MemoryView;
constexpr std::size_t kOsInfoPageSize = 4096;  // os_info is one page

// ---- VMCOREINFO lookup --------------------------------------------------------
bool plausible_vmcoreinfo(std::string_view text) {
    if (text.empty() || text.find('=') == std::string_view::npos) return false;
    return std::all_of(text.begin(), text.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u == '\n' || u == '\t' || (u >= 0x20 && u < 0x7f);
    });
}

std::string trim_nuls(std::string s) {
    while (!s.empty() && s.back() == '\0') s.pop_back();
    return s;
}

std::uint64_t read_be64_at(const MemoryView& mem, std::uint64_t paddr) {
    std::uint8_t b[8];
    mem.read(paddr, b);
    return format::load_be64(b);
}

std::vector<std::uint8_t> read_checked(const MemoryView& mem, std::uint64_t paddr, std::uint64_t size) {
    std::uint64_t end;
    if (format::add_overflows(paddr, size, end) || !mem.contains(paddr, size)) return {};
    std::vector<std::uint8_t> out(size);
    mem.read(paddr, out);
    return out;
}

// An ELF note named VMCOREINFO at `addr`: Elf64_Nhdr (namesz, descsz, type),
// the name padded to 4, then the text.
std::optional<std::string> vmcoreinfo_from_note(const MemoryView& mem, std::uint64_t addr) {
    const auto head = read_checked(mem, addr, 12 + 12);
    if (head.empty()) return std::nullopt;
    const std::uint32_t namesz = format::load_be32(head.data());
    const std::uint32_t descsz = format::load_be32(head.data() + 4);
    static constexpr char kName[] = "VMCOREINFO";  // namesz includes the NUL
    if (namesz != sizeof kName || descsz == 0 || descsz > kMaxVmcoreInfoSize) return std::nullopt;
    if (!std::equal(kName, kName + sizeof kName, head.begin() + 12)) return std::nullopt;
    const auto desc = read_checked(mem, addr + 24, descsz);
    if (desc.empty()) return std::nullopt;
    std::string text = trim_nuls(std::string(desc.begin(), desc.end()));
    if (!plausible_vmcoreinfo(text)) return std::nullopt;
    return text;
}

bool csum_matches(std::uint32_t stored, std::uint32_t computed) {
    if (stored == computed) return true;
    // Implementations of csum_partial may differ in how they carry, never in
    // the folded 16-bit one's-complement value.
    auto fold = [](std::uint32_t s) {
        s = (s & 0xffff) + (s >> 16);
        s = (s & 0xffff) + (s >> 16);
        return s == 0xffff ? 0u : s;
    };
    return fold(stored) == fold(computed);
}

// os_info (arch/s390/include/asm/os_info.h), packed, one page:
//   u64 magic "OSINFOSZ" @0, u32 csum @8 (over bytes 12..4095), u16 version_major
//   @12, u16 version_minor @14, crashkernel addr/size @16/@24, then entries of
//   20 bytes from @32: u64 addr (or value), u64 size, u32 csum (over the data).
std::optional<std::string> vmcoreinfo_from_os_info(const MemoryView& mem, std::uint64_t addr) {
    constexpr std::uint64_t kPage = 4096;
    constexpr std::uint64_t kMagic = 0x4f53494e464f535aULL;
    if (addr == 0 || addr % kPage != 0) return std::nullopt;
    const auto page = read_checked(mem, addr, kPage);
    if (page.empty() || format::load_be64(page.data()) != kMagic) return std::nullopt;
    if (!csum_matches(format::load_be32(page.data() + 8),
                      s390_csum_partial(std::span(page).subspan(12))))
        return std::nullopt;
    if (format::load_be16(page.data() + 12) != 1) return std::nullopt;  // the only major version
    const std::uint64_t e_addr = format::load_be64(page.data() + 32);
    const std::uint64_t e_size = format::load_be64(page.data() + 40);
    const std::uint32_t e_csum = format::load_be32(page.data() + 48);
    if (e_addr == 0 || e_size == 0 || e_size > kMaxVmcoreInfoSize) return std::nullopt;
    const auto bytes = read_checked(mem, e_addr, e_size);
    if (bytes.empty() || !csum_matches(e_csum, s390_csum_partial(bytes))) return std::nullopt;
    // The entry holds the bare text; accept a whole note there too.
    if (auto from_note = vmcoreinfo_from_note(mem, e_addr)) return from_note;
    std::string text = trim_nuls(std::string(bytes.begin(), bytes.end()));
    if (!plausible_vmcoreinfo(text)) return std::nullopt;
    return text;
}

}  // namespace

std::uint32_t s390_csum_partial(std::span<const std::uint8_t> bytes, std::uint32_t sum) {
    std::uint64_t acc = sum;
    std::size_t i = 0;
    for (; i + 4 <= bytes.size(); i += 4) acc += format::load_be32(bytes.data() + i);
    if (i < bytes.size()) {
        std::uint8_t tail[4] = {0, 0, 0, 0};
        std::copy(bytes.begin() + std::ptrdiff_t(i), bytes.end(), tail);
        acc += format::load_be32(tail);
    }
    while (acc >> 32) acc = (acc & 0xffffffffu) + (acc >> 32);  // end-around carry
    return std::uint32_t(acc);
}

std::optional<std::string> find_vmcoreinfo(const MemoryView& mem, format::Diagnostics* why) {
    // Each way is tried on its own: garbage behind one pointer (or a page that
    // cannot be read) must not hide the other. Its fault is kept in `why`.
    format::Diagnostics unused;
    format::Diagnostics* sink = why ? why : &unused;
    auto way = [&](std::uint64_t lowcore, std::string_view field, auto&& from) {
        return format::lenient(sink, field, [&]() -> std::optional<std::string> {
                   if (!mem.contains(lowcore, 8)) return std::nullopt;
                   return from(mem, read_be64_at(mem, lowcore));
               }).value_or(std::nullopt);
    };
    if (auto t = way(kLowcoreVmcoreInfo, "VMCOREINFO note pointer (lowcore 0xe0c)", vmcoreinfo_from_note)) return t;
    return way(kLowcoreOsInfo, "os_info pointer (lowcore 0xe18)", vmcoreinfo_from_os_info);
}

std::vector<std::uint8_t> build_vmcoreinfo_note(std::string_view text) {
    static constexpr char kName[] = "VMCOREINFO";  // namesz 11 with the NUL
    const std::size_t namesz = sizeof(kName), name_pad = (namesz + 3) & ~std::size_t(3);
    const std::size_t desc_pad = (text.size() + 3) & ~std::size_t(3);
    std::vector<std::uint8_t> n(12 + name_pad + desc_pad, 0);
    format::store_be32(n.data(), std::uint32_t(namesz));
    format::store_be32(n.data() + 4, std::uint32_t(text.size()));
    format::store_be32(n.data() + 8, 0);
    std::memcpy(n.data() + 12, kName, namesz);
    std::memcpy(n.data() + 12 + name_pad, text.data(), text.size());
    return n;
}

std::vector<std::uint8_t> build_os_info(std::uint64_t vmcoreinfo_addr, format::Bytes note) {
    std::vector<std::uint8_t> p(kOsInfoPageSize, 0);
    std::memcpy(p.data(), "OSINFOSZ", 8);
    format::store_be16(p.data() + 12, 1);  // version_major
    format::store_be16(p.data() + 14, 1);  // version_minor
    // entry[0] (VMCOREINFO) at 32: addr u64, size u64, csum u32 (packed).
    format::store_be64(p.data() + 32, vmcoreinfo_addr);
    format::store_be64(p.data() + 40, note.size());
    format::store_be32(p.data() + 48, s390_csum_partial(note));
    format::store_be32(p.data() + 8, s390_csum_partial(format::Bytes(p.data() + 12, kOsInfoPageSize - 12)));
    return p;
}

}  // namespace pvdump::guest
