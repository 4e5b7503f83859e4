#!/usr/bin/env bash
# A kdump output interrupted (SIGINT) or out of space (a 1 MiB tmpfs, when this
# environment may mount one) leaves nothing behind; pvinspect on a truncated or
# corrupted kdump file gives one clear error line and exit code 4 (README table).
B=$1 S=$2
. "$S/tests/kdump/lib.bash"
fails=0
check() {  # check WHAT EXPECTED_RC ACTUAL_RC [STDERR_FILE PATTERN]
    local ok=1
    [[ $2 == "$3" ]] || ok=0
    if [[ -n ${4:-} ]]; then
        [[ $(wc -l <"$4") == 1 ]] || ok=0
        grep -q -- "$5" "$4" || ok=0
    fi
    if ((ok)); then echo "ok: $1"; else echo "FAIL: $1: exit $3 (expected $2): $(cat "${4:-/dev/null}")"; fails=$((fails + 1)); fi
}
ours 1 zstd "$T/good.kdump" || die "pvdecrypt --format kdump failed"
"$B/pvinspect" info "$T/good.kdump" >"$T/info.txt" 2>"$T/err"
check "pvinspect info on a good file" 0 $?
grep -q "Dump level *1 (excludes zero pages)" "$T/info.txt" || { cat "$T/info.txt"; die "info shows no dump level"; }
size=$(stat -c %s "$T/good.kdump")

# Truncated: inside the bitmaps, inside the descriptors, inside the page data.
for cut in 9000 30000 $((size / 2)) $((size - 100)); do
    head -c "$cut" "$T/good.kdump" >"$T/cut.kdump"
    "$B/pvinspect" info "$T/cut.kdump" >/dev/null 2>"$T/err"
    check "info on the file truncated to $cut bytes" 4 $? "$T/err" "cut.kdump"
    "$B/pvinspect" dmesg "$T/cut.kdump" >/dev/null 2>"$T/err"
    rc=$?
    # dmesg reads only the log's pages: a cut past them may still read the log.
    [[ $rc == 0 ]] || check "dmesg on the file truncated to $cut bytes" 4 $rc "$T/err" "cut.kdump"
done
# Corrupted: the block size, the bitmap size, a descriptor, a compressed page.
corrupt() {  # corrupt OFFSET HEXBYTES
    cp "$T/good.kdump" "$T/bad.kdump"
    printf "$(echo "$2" | sed 's/../\\x&/g')" | dd of="$T/bad.kdump" bs=1 seek="$1" conv=notrunc status=none
}
corrupt 428 00000200
"$B/pvinspect" info "$T/bad.kdump" >/dev/null 2>"$T/err"
check "info with block_size 512" 4 $? "$T/err" "block_size"
corrupt 436 7fffffff
"$B/pvinspect" info "$T/bad.kdump" >/dev/null 2>"$T/err"
check "info with a huge bitmap_blocks" 4 $? "$T/err" "bad.kdump"
# The first descriptor (after header, sub header and bitmaps) and its data.
sub=$(od -An -tu4 --endian=big -j 432 -N 4 "$T/good.kdump" | tr -d ' ')
bm=$(od -An -tu4 --endian=big -j 436 -N 4 "$T/good.kdump" | tr -d ' ')
desc=$(((1 + sub + bm) * 4096))
corrupt $((desc + 8)) 00002000
"$B/pvinspect" info "$T/bad.kdump" >/dev/null 2>"$T/err"
check "info with a descriptor of 8192 bytes" 4 $? "$T/err" "descriptor"
data=$(od -An -tu8 --endian=big -j "$desc" -N 8 "$T/good.kdump" | tr -d ' ')
# The first stored (compressed) page: the second descriptor's data.
data2=$(od -An -tu8 --endian=big -j $((desc + 24)) -N 8 "$T/good.kdump" | tr -d ' ')
corrupt $((data2 + 4)) ffffffffffffffff
"$B/pvinspect" info "$T/bad.kdump" >/dev/null 2>"$T/err"
check "info with a damaged compressed page (data at $data2; zero page at $data)" 4 $? "$T/err" "decompress"
# A flattened (-F) file is named as such.
"$B/pvdecrypt" "$T/guest.pvdump" -k "$T/key.cck" --format kdump -F -o - -q >"$T/flat.kdump"
check "pvdecrypt -F -o -" 0 $?
"$B/pvinspect" info "$T/flat.kdump" >/dev/null 2>"$T/err"
check "info on a flattened file" 4 $? "$T/err" "makedumpfile -R"
# -o - without -F is refused before any work.
"$B/pvdecrypt" "$T/guest.pvdump" -k "$T/key.cck" --format kdump -o - >/dev/null 2>"$T/err"
check "kdump to standard output without -F" 2 $? "$T/err" "add -F"

# SIGINT mid-write: nothing in the output directory afterwards.
mkdir "$T/int"
"$B/pvdecrypt" "$T/guest.pvdump" -k "$T/key.cck" --format kdump -d 0 --compress zlib -j 1 -o "$T/int/out.kdump" -q 2>"$T/err" &
pid=$!
sleep 0.3
kill -INT $pid
wait $pid
rc=$?
if [[ $rc == 0 ]]; then
    echo "FAIL: pvdecrypt finished before SIGINT (0.3 s): the interruption was not tested"; fails=$((fails + 1))
else
    check "SIGINT mid-write: exit 130" 130 $rc
    [[ -z $(ls -A "$T/int") ]] && echo "ok: SIGINT left nothing" || { echo "FAIL: SIGINT left $(ls -A "$T/int")"; fails=$((fails + 1)); }
fi
# ENOSPC on a 1 MiB tmpfs (root only; skipped with a note otherwise).
mkdir "$T/small"
if mount -t tmpfs -o size=1m tmpfs "$T/small" 2>/dev/null; then
    ours 1 zstd "$T/small/out.kdump" 2>"$T/err"
    check "ENOSPC: exit 3 naming the disk full" 3 $? "$T/err" "No space left on device"
    [[ -z $(ls -A "$T/small") ]] && echo "ok: ENOSPC left nothing" || { echo "FAIL: ENOSPC left $(ls -A "$T/small")"; fails=$((fails + 1)); }
    umount "$T/small"
else
    echo "note: no tmpfs mount allowed here: the ENOSPC case is not run"
fi
echo "kdump corruption: $fails failed"
exit $((fails > 0))
