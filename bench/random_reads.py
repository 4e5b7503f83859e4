#!/usr/bin/env python3
"""Random 4 KiB preads of FILE for SECONDS seconds; prints 'READS SECONDS'.

bench/run.sh uses it on the mounted vmcore (pvdecrypt --mount): each read lands
on a page-aligned offset drawn uniformly from the whole file, so with a guest
larger than the mount's cache nearly every read decrypts a page.
usage: random_reads.py FILE SECONDS [SEED]
"""
import os
import random
import sys
import time


def main() -> int:
    path, seconds = sys.argv[1], float(sys.argv[2])
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    fd = os.open(path, os.O_RDONLY)
    try:
        pages = os.fstat(fd).st_size // 4096
        if pages == 0:
            print(f"random_reads.py: {path} is smaller than a page", file=sys.stderr)
            return 1
        reads = 0
        start = time.monotonic()
        deadline = start + seconds
        while True:
            for _ in range(256):
                if len(os.pread(fd, 4096, rng.randrange(pages) * 4096)) != 4096:
                    print(f"random_reads.py: short read from {path}", file=sys.stderr)
                    return 1
            reads += 256
            now = time.monotonic()
            if now >= deadline:
                break
        print(reads, f"{now - start:.3f}")
    finally:
        os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
