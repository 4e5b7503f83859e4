// bench/pread_loop: the bare loop issue 13 measured pvdecrypt against, as a
// reference row of bench/run.sh. N threads take the file's 1 MiB pieces in
// turn, pread each into a buffer of their own and (unless --no-aes) decrypt
// every 4 KiB page of it in place with pvdump's XtsCipher (the AES pvdecrypt
// runs) under a fixed key. No page states, no checks, no output: the least
// any decryptor of the file must do. Prints the seconds taken.
//
// usage: pread_loop FILE THREADS [--no-aes]
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "format/crypto.hpp"
#include "format/page_pipeline.hpp"

int main(int argc, char** argv) {
    if (argc < 3 || std::atoi(argv[2]) < 1) {
        std::fprintf(stderr, "usage: pread_loop FILE THREADS [--no-aes]\n");
        return 2;
    }
    const int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
    struct stat st {};
    if (fd < 0 || fstat(fd, &st) != 0) {
        std::fprintf(stderr, "pread_loop: cannot open %s: %s\n", argv[1], std::strerror(errno));
        return 1;
    }
    const unsigned threads = unsigned(std::atoi(argv[2]));
    const bool aes = !(argc > 3 && std::strcmp(argv[3], "--no-aes") == 0);
    constexpr std::uint64_t kPiece = 1 << 20;
    const std::uint64_t pieces = std::uint64_t(st.st_size) / kPiece;
    std::uint8_t key[64];
    for (int i = 0; i < 64; ++i) key[i] = std::uint8_t(i * 13 + 7);  // halves differ (OpenSSL's rule)
    bool failed = false;
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            pvdump::format::XtsCipher xts(pvdump::format::Bytes(key, sizeof key),
                                          pvdump::format::XtsCipher::Mode::Decrypt);
            // Page-aligned, as pvdecrypt's batches: a std::vector of 1 MiB starts
            // 16 bytes past a page (glibc's mmap'd chunk), where the kernel's copy
            // runs 5x slower on this machine class (format/page_pipeline.hpp).
            pvdump::format::pipeline::PageBuffer buf(kPiece);
            std::uint8_t tweak[16] = {};
            for (std::uint64_t i = t; i < pieces; i += threads) {
                if (pread(fd, buf.data(), kPiece, off_t(i * kPiece)) != ssize_t(kPiece)) {
                    failed = true;
                    return;
                }
                if (!aes) continue;
                for (std::uint64_t p = 0; p < kPiece; p += 4096) {
                    std::memcpy(tweak, &i, sizeof i);
                    tweak[8] = std::uint8_t(p >> 12);
                    xts.process(tweak, buf.data() + p, buf.data() + p);
                }
            }
        });
    for (auto& th : pool) th.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (failed) {
        std::fprintf(stderr, "pread_loop: a read of %s came back short\n", argv[1]);
        return 1;
    }
    std::printf("%.3f\n", s);
    return 0;
}
