#!/usr/bin/env bash
# Cross builds only (tests/run-s390x.sh): the tools built for the target (run
# under qemu-user) and the host's native build write the same bytes. pvdecrypt's
# vmcore of every golden vector that decrypts, pvseal's sealed dumps (generated
# guest and raw image, --deterministic), and pvinspect's reports must not depend
# on the host's byte order.
# Usage: same_as_native.sh CROSS_BUILD_DIR NATIVE_BUILD_DIR TEST_DATA_DIR
# Exit 77 (CTest: skipped) when the native build has no tools to compare with.
set -u
B=$1
N=$2
D=$3
NAME=same-as-native
for t in pvdecrypt pvseal pvinspect; do
    if [ ! -x "$N/$t" ] || head -c 4 "$N/$t" | grep -q '^#!'; then
        echo "SKIPPED: no native build to compare with ($N/$t missing; run tests/run.sh, or set PVDUMP_NATIVE_BUILD)"
        exit 77
    fi
done
# shellcheck source=../cli/lib.bash
. "$(dirname "$0")/../cli/lib.bash"
same() {  # same WHAT FILE_A FILE_B: byte-identical (and say the size and hash)
    if cmp "$2" "$3"; then
        echo "ok: $1 ($(stat -c %s "$2") bytes, sha256 $(sha256sum <"$2" | cut -c1-16)...)"
        passes=$((passes + 1))
    else
        echo "FAIL: $1: $2 and $3 differ"
        fails=$((fails + 1))
    fi
}
both() {  # both TAG TOOL ARGS...: run the target's and the native TOOL; T/TAG.{target,native}.{out,err}
    local tag=$1 tool=$2; shift 2
    local a=() b=()
    for x in "$@"; do a+=("${x//@OUT@/$T/$tag.target}"); b+=("${x//@OUT@/$T/$tag.native}"); done
    "$B/$tool" "${a[@]}" >"$T/$tag.target.out" 2>"$T/$tag.target.err"; check "$tag ($tool, target)" 0 $?
    "$N/$tool" "${b[@]}" >"$T/$tag.native.out" 2>"$T/$tag.native.err"; check "$tag ($tool, native)" 0 $?
}

# Golden vectors: the vmcore, written to a file and streamed.
for v in basic overlap-osii; do
    both "$v.vmcore" pvdecrypt "$D/$v.pvdump" -k "$KEYS/cck.bin" -o @OUT@ -q
    same "$v: vmcore from the target's pvdecrypt == native" "$T/$v.vmcore.target" "$T/$v.vmcore.native"
    both "$v.stream" pvdecrypt "$D/$v.pvdump" -k "$KEYS/cck.bin" -o - -q -j 2
    same "$v: streamed vmcore (-o -) == native file" "$T/$v.stream.target.out" "$T/$v.vmcore.native"
    both "$v.info" pvinspect info "$D/$v.pvdump" --json
    same "$v: pvinspect info --json == native" "$T/$v.info.target.out" "$T/$v.info.native.out"
    both "$v.cpus" pvinspect cpus "$D/$v.pvdump" --key "$KEYS/cck.bin" --json
    same "$v: pvinspect cpus --json == native" "$T/$v.cpus.target.out" "$T/$v.cpus.native.out"
done

# pvseal: a generated guest (memory, lowcores, VMCOREINFO, printk ring) and a raw
# image, every Ultravisor secret from the same DRBG seed.
both gen pvseal --generate 16M --cpus 3 --osii-cpu 1 --cck "$KEYS/cck.bin" -o @OUT@ --deterministic cross -q
same "generated guest: sealed dump from the target's pvseal == native" "$T/gen.target" "$T/gen.native"
both raw pvseal --guest "$D/basic.plain" --cpus 2 --cck "$KEYS/cck.bin" -o @OUT@ --deterministic cross -q
same "raw image: sealed dump from the target's pvseal == native" "$T/raw.target" "$T/raw.native"
both gen.vmcore pvdecrypt "$T/gen.native" -k "$KEYS/cck.bin" -o @OUT@ -q
same "generated guest: vmcore == native" "$T/gen.vmcore.target" "$T/gen.vmcore.native"
both gen.dmesg pvinspect dmesg "$T/gen.vmcore.native"
same "generated guest: pvinspect dmesg == native" "$T/gen.dmesg.target.out" "$T/gen.dmesg.native.out"
expect "generated guest: dmesg is not empty" test -s "$T/gen.dmesg.native.out"

# kdump-compressed output (dump level 31 reads struct pages through VMCOREINFO):
# the consumer tests (makedumpfile, crash, libkdumpfile) run on the native build's
# file, so the target's file must be the same bytes.
for c in zstd none; do
    both "gen.kdump-$c" pvdecrypt "$T/gen.native" -k "$KEYS/cck.bin" --format kdump -d 31 --compress "$c" -o @OUT@ -q
    # The header's timestamp (16 bytes at 408: when it was written) is the one field that may differ.
    for f in "$T/gen.kdump-$c.target" "$T/gen.kdump-$c.native"; do
        head -c 16 /dev/zero | dd of="$f" bs=1 seek=408 conv=notrunc status=none
    done
    same "generated guest: kdump (-d 31, $c) == native" "$T/gen.kdump-$c.target" "$T/gen.kdump-$c.native"
done
both gen.kdump.info pvinspect info "$T/gen.kdump-zstd.native" --json
same "generated guest: pvinspect info --json of the kdump file == native" "$T/gen.kdump.info.target.out" "$T/gen.kdump.info.native.out"

finish
