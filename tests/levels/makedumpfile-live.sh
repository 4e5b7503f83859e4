#!/bin/bash
# Runs Debian's makedumpfile (s390x, under qemu-user) on the real example guest
# at dump levels 2, 4, 8, 16 and 30 and checks that PageExclusion (through
# levels_probe) excludes exactly the same page frames, and that the fixture in
# tests/data/levels/ still says the same (so it can be trusted where qemu is
# missing). Then the same on a guest pvseal generates (sealed, decrypted back).
# usage: makedumpfile-live.sh LEVELS_PROBE REALGUEST_VMCORE SOURCE_DIR BUILD_DIR
# Exit 77 (SKIPPED) when qemu-s390x-static is missing or the makedumpfile root
# (PVDUMP_S390X_ROOT, default /var/tmp/pvdump-s390x) cannot be made.
set -euo pipefail
probe=$1 guest=$2 src=$3 build=$4
root=${PVDUMP_S390X_ROOT:-/var/tmp/pvdump-s390x}   # the same root as tests/kdump/
command -v qemu-s390x-static >/dev/null || { echo "SKIPPED: qemu-s390x-static is not installed"; exit 77; }
command -v python3 >/dev/null || { echo "SKIPPED: python3 is not installed"; exit 77; }
if [ ! -x "$root/usr/bin/makedumpfile" ]; then
    # Made here when missing (needs the network); its SKIPPED line says why it cannot be.
    log=$(mktemp)
    rc=0
    "$src/tests/tools/s390x-consumers.sh" "$root" >"$log" 2>&1 || rc=$?
    if [ "$rc" -eq 77 ]; then grep SKIPPED "$log" | tail -1; rm -f "$log"; exit 77; fi
    if [ "$rc" -ne 0 ]; then cat "$log"; rm -f "$log"; echo "FAIL: tests/tools/s390x-consumers.sh $root failed"; exit 1; fi
    rm -f "$log"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 "$src/tests/tools/relayout-vmcore.py" "$guest" "$tmp/guest.vmcore"
fail=0
for d in 2 4 8 16 30; do
    qemu-s390x-static -L "$root" "$root/usr/bin/makedumpfile" -d "$d" --message-level 31 \
        "$tmp/guest.vmcore" "$tmp/d$d.kdump" > "$tmp/d$d.log" 2>&1 || { cat "$tmp/d$d.log"; exit 1; }
    python3 "$src/tests/tools/kdump-excluded.py" "$tmp/d$d.kdump" "$tmp/d$d.log" | grep -v '^# dump_level' > "$tmp/mdf$d.txt"
    rm -f "$tmp/d$d.kdump"
    "$probe" "$guest" "$d" > "$tmp/ours$d.txt"
    if ! diff -u "$tmp/mdf$d.txt" "$tmp/ours$d.txt"; then
        echo "FAIL: -d $d: makedumpfile (-) and PageExclusion (+) differ"
        fail=1
    fi
    if ! diff -u <(grep -v '^# dump_level\|^# makedumpfile' "$src/tests/data/levels/makedumpfile-d$d.txt") "$tmp/mdf$d.txt"; then
        echo "FAIL: -d $d: tests/data/levels/makedumpfile-d$d.txt (-) no longer matches makedumpfile (+)"
        fail=1
    fi
    echo "-d $d: $(head -1 "$tmp/mdf$d.txt"), $(grep -vc '^#' "$tmp/mdf$d.txt") runs: same"
done
# A generated guest (pvseal --generate: its struct page array from
# producer/guest_memmap), sealed and decrypted back: makedumpfile must read
# it the same way too.
"$build/pvseal" --make-cck "$tmp/gen.cck" >/dev/null 2>&1
"$build/pvseal" --generate 320M --cpus 2 --seed 5 --cck "$tmp/gen.cck" -o "$tmp/gen.pvdump" >/dev/null 2>&1
"$build/pvdecrypt" "$tmp/gen.pvdump" --key "$tmp/gen.cck" -o "$tmp/gen.vmcore" >/dev/null 2>&1
rm -f "$tmp/gen.pvdump"
for d in 2 4 8 16 30; do
    qemu-s390x-static -L "$root" "$root/usr/bin/makedumpfile" -d "$d" --message-level 31 \
        "$tmp/gen.vmcore" "$tmp/g$d.kdump" > "$tmp/g$d.log" 2>&1 || { cat "$tmp/g$d.log"; exit 1; }
    python3 "$src/tests/tools/kdump-excluded.py" "$tmp/g$d.kdump" "$tmp/g$d.log" | grep -v '^# dump_level' > "$tmp/gmdf$d.txt"
    rm -f "$tmp/g$d.kdump"
    "$probe" "$tmp/gen.vmcore" "$d" > "$tmp/gours$d.txt"
    if ! cmp -s "$tmp/gmdf$d.txt" "$tmp/gours$d.txt"; then
        diff -u "$tmp/gmdf$d.txt" "$tmp/gours$d.txt" | head -40
        echo "FAIL: generated guest, -d $d: makedumpfile (-) and PageExclusion (+) differ"
        fail=1
    else
        echo "generated guest -d $d: $(head -1 "$tmp/gmdf$d.txt"), $(grep -vc '^#' "$tmp/gmdf$d.txt") runs: same"
    fi
done
exit $fail
