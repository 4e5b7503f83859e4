#!/usr/bin/env bash
# pvinspect on ELF headers that lie: the exact exit code and error line.
# Usage: elf_headers.sh BUILD_DIR TEST_DATA_DIR
set -u
B=$1
P=$B/pvinspect
NAME=elf_headers
CORPUS=$(cd "$(dirname "$0")/../fuzz/corpus/fuzz_core_index" && pwd)
# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

# e_phnum = PN_XNUM, e_shentsize 64, e_shoff 2^64-32: `e_shoff + 44` used to wrap
# to 12 and read the e_ident padding (2) as the program header count, so this
# was reported as a plain s390x vmcore with exit 0.
f=$CORPUS/xnum-shoff-wrap
"$P" info "$f" >"$T/out" 2>"$T/err"; check "info on PN_XNUM with a wrapping e_shoff" 4 $?
expect "the error names section 0 and its offset" test "$(cat "$T/err")" = \
    "pvinspect: error: file '$f': section 0 sh_info (program header count) [offset 0xffffffffffffffe0, size 0x40] runs past the end of file '$f' (size 0x5000)"
expect "not called a plain vmcore" sh -c "! grep -q 'plain s390x vmcore' '$T/out'"
"$P" cpus "$f" >"$T/out" 2>"$T/err"; check "cpus on it" 4 $?
expect "cpus: nothing on stdout" test ! -s "$T/out"

finish
