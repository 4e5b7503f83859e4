// Read-only access to a kdump-compressed vmcore (makedumpfile's "KDUMP   " format,
// big-endian s390x; what pvdecrypt --format kdump and makedumpfile write). Every
// field is bounds-checked against the file: a truncated or corrupted file is one
// Error(Format) naming the field and its offset, never a crash.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "format/bytes.hpp"
#include "format/kdump_writer.hpp"
#include "format/mapped_file.hpp"
#include "format/memory_view.hpp"

namespace pvdump::format {

// True when `head` starts with the kdump signature / the flattened-format signature.
bool is_kdump_signature(Bytes head);
bool is_flattened_signature(Bytes head);
// Reads the first bytes of a file and tells whether it is a kdump (or flattened) file.
// False when the file cannot be read (the caller's own open reports that).
bool is_kdump_file(const std::string& path);

struct KdumpFileInfo {
    std::uint32_t header_version = 0;
    std::uint32_t status = 0;
    std::uint32_t block_size = 0;
    std::uint32_t sub_hdr_blocks = 0;
    std::uint32_t bitmap_blocks = 0;
    std::uint32_t nr_cpus = 0;
    std::string sysname, nodename, release, version, machine;
    std::int64_t timestamp = 0;
    std::uint64_t phys_base = 0;
    std::int32_t dump_level = 0;
    std::uint64_t max_mapnr = 0;
    std::optional<KdumpCompression> compression;  // none when status names several or an unknown one
    bool incomplete = false;
    std::uint64_t pages_present = 0;  // 1st bitmap
    std::uint64_t pages_dumped = 0;   // 2nd bitmap
    std::uint64_t pages_compressed = 0;  // filled by scan_pages()
    std::uint64_t pages_shared_zero = 0; // scan_pages(): descriptors sharing one zero page (dump level bit 1)
    std::uint64_t data_bytes = 0;        // scan_pages(): stored page data, shared data counted once
    std::uint64_t offset_desc = 0;
    std::optional<std::string> vmcoreinfo;
    std::vector<std::uint8_t> notes;  // the ELF notes of the sub header
};

class KdumpFile final : public MemoryView {
public:
    // Error(Io) when the file cannot be opened, Error(Format) when it is not a
    // well-formed kdump file (a flattened file is named as such: makedumpfile -R).
    explicit KdumpFile(const std::string& path);
    // The same from bytes in memory (fuzzing); `bytes` must outlive the object.
    static KdumpFile from_bytes(Bytes bytes, std::string name);

    const KdumpFileInfo& info() const { return info_; }
    bool present(std::uint64_t pfn) const;  // 1st bitmap
    bool dumped(std::uint64_t pfn) const;   // 2nd bitmap
    // Decompresses a dumped page into out (4096 bytes); false when not dumped.
    bool read_page(std::uint64_t pfn, std::uint8_t* out) const;
    // The stored descriptor of a dumped page: (offset, size, flags).
    struct Desc {
        std::uint64_t offset;
        std::uint32_t size, flags;
    };
    std::optional<Desc> desc(std::uint64_t pfn) const;
    // Checks every descriptor (and decompresses every page when `decompress`),
    // counting compressed pages into info().pages_compressed.
    void scan_pages(bool decompress);

    // MemoryView: a page is readable when dumped, or when it exists and the dump
    // level excludes nothing but zero pages (then it reads as zeros).
    bool contains(std::uint64_t paddr, std::uint64_t size) const override;
    void read(std::uint64_t paddr, std::span<std::uint8_t> out) const override;

private:
    KdumpFile(Bytes bytes, std::string name, std::optional<MappedFile> file);
    void parse();
    std::uint64_t rank(std::uint64_t pfn) const;  // dumped pages before pfn
    void read_page_at(std::uint64_t offset, std::uint8_t* out) const;  // 4096 raw bytes

    std::optional<MappedFile> file_;
    Bytes bytes_;
    std::string name_;
    KdumpFileInfo info_;
    std::uint64_t off_bitmap1_ = 0, off_bitmap2_ = 0, bitmap_len_ = 0;
    std::vector<std::uint64_t> rank_base_;  // dumped pages before each 512-byte bitmap piece
    mutable std::vector<std::uint8_t> cache_;
    mutable std::uint64_t cached_pfn_ = ~std::uint64_t(0);
};

}  // namespace pvdump::format
