// Output files that never look complete before they are: data goes to an
// unnamed file (O_TMPFILE, mode 0600) in the target directory, which is
// fsync'ed and linked in as the target only on commit(); until then no
// directory entry exists, so even SIGKILL leaves nothing behind. Where the
// filesystem has no O_TMPFILE, a hidden named temporary (.NAME.tmp-XXXXXX) is
// used and renamed on commit; destroying an uncommitted OutputFile removes
// it, and so do SIGINT/SIGTERM (SIGKILL cannot).
#pragma once
#include <sys/uio.h>

#include <span>
#include <cstdint>
#include <string>
#include <vector>

#include "format/bytes.hpp"

namespace pvdump::format {

// SIGINT, SIGTERM and SIGHUP remove the named temporaries of live OutputFiles,
// then end the process by that signal (default action, re-raised): there is
// no error to handle and nothing to poll. SIGPIPE and SIGXFSZ are ignored, so
// a closed pipe or a file size limit is an Error(Io). The tools install this;
// the library (libpvdump) does not.
void install_interrupt_handlers();

class OutputFile {
public:
    // path "-" writes to standard output, and an existing device or FIFO
    // (/dev/null) is written directly: streaming, no seeks, no rename.
    // Without `overwrite`, an existing target is refused with Error(Exists).
    OutputFile(const std::string& path, bool overwrite);
    OutputFile(const OutputFile&) = delete;
    OutputFile& operator=(const OutputFile&) = delete;
    ~OutputFile();

    bool is_stream() const { return stream_; }
    const std::string& path() const { return path_; }
    int fd() const { return fd_; }
    // True when the filesystem lacked O_TMPFILE and a named temporary is used.
    bool uses_named_temp() const { return !temp_.empty() && !committed_; }

    // Positional write of all bytes (file only); throws Error(Io) with errno text.
    void pwrite_all(Bytes data, std::uint64_t offset);
    // Sequential write of all bytes (file or stream).
    void write_all(Bytes data);
    // Sequential write of the pieces, in order, with writev (file or stream);
    // the pieces are used up (advanced past what was written).
    void writev_all(std::span<iovec> pieces);
    // Writes `count` zero bytes sequentially (streams; files seek instead).
    void write_zeros(std::uint64_t count);
    // Asks the kernel to start writing a range back now (file only; a hint).
    void start_writeback(std::uint64_t offset, std::uint64_t size);
    // Sets the final size (file only; creates trailing holes).
    void set_size(std::uint64_t size);
    // fsync + rename; after this the target exists with all data.
    void commit();

private:
    std::string path_;
    std::string temp_;
    int fd_ = -1;
    bool stream_ = false;
    bool owns_stream_ = false;  // a device or FIFO we opened (not stdout)
    bool committed_ = false;
    std::uint64_t position_ = 0;
};

// Writes a whole small file atomically with the given mode (keys: 0600).
void write_file_atomic(const std::string& path, Bytes data, unsigned mode, bool overwrite);
// Reads a whole small file (bounded by max_size; larger is Error(Format)).
std::vector<std::uint8_t> read_small_file(const std::string& path, std::uint64_t max_size);

}  // namespace pvdump::format
