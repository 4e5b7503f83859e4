#!/usr/bin/env bash
# SIGINT / SIGTERM end pvdecrypt and pvseal by the signal itself (the shell's
# 128 + signal: 130, 143), promptly even when blocked writing to a full pipe,
# and leave no output file and no temporary behind.
# Usage: signals.sh BUILD_DIR TEST_DATA_DIR
set -u
B=$1
D=$2
SEAL=$B/pvseal
DEC=$B/pvdecrypt
NAME=signals
# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

wchar() { sed -n 's/^wchar: //p' "/proc/$1/io" 2>/dev/null || echo 0; }

# blocked_on_pipe WHAT SIGNAL EXPECTED_RC CMD...: runs CMD with stdout on a FIFO
# this shell holds open and never reads; once CMD is stuck in a write to the
# full pipe (its written-bytes count has stopped moving for 0.2 s; a write
# blocked part-way is not counted yet) it gets SIGNAL and must be gone within 2 s.
blocked_on_pipe() {
    local what=$1 sig=$2 rc=$3
    shift 3
    rm -f "$T/fifo"
    mkfifo "$T/fifo"
    exec 3<>"$T/fifo"
    "$@" >"$T/fifo" 2>"$T/err" &
    local pid=$! i w=0 prev=-1 still=0
    for ((i = 0; i < 500 && still < 10; i++)); do  # up to 10 s to fill the pipe
        w=$(wchar $pid)
        if [ "$w" -gt 0 ] && [ "$w" = "$prev" ]; then still=$((still + 1)); else still=0; fi
        prev=$w
        sleep 0.02
    done
    expect "$what: stuck writing to the full pipe" test $still -ge 10
    expect "$what: still running" kill -0 $pid
    local t0=$SECONDS
    kill -"$sig" $pid
    timeout 5 tail --pid=$pid -f /dev/null
    wait $pid
    check "$what: SIG$sig gives exit status" "$rc" $?
    expect "$what: gone within 2 s" test $((SECONDS - t0)) -le 2
    expect "$what: nothing on stderr" test ! -s "$T/err"
    exec 3<&-
}

blocked_on_pipe "pvdecrypt -o -" TERM 143 "$DEC" "$D/basic.pvdump" -k "$KEYS/cck.bin" -o - -q
blocked_on_pipe "pvdecrypt -o -" INT 130 "$DEC" "$D/basic.pvdump" -k "$KEYS/cck.bin" -o - -q
blocked_on_pipe "pvseal -o -" TERM 143 "$SEAL" --generate 8M --cck "$KEYS/cck.bin" -o - -q --deterministic sig
blocked_on_pipe "pvseal -o -" INT 130 "$SEAL" --generate 8M --cck "$KEYS/cck.bin" -o - -q --deterministic sig

# mid_file WHAT SIGNAL EXPECTED_RC DIR CMD...: CMD writes a file into DIR; once
# it has written 4 MiB it is stopped, sent SIGNAL and continued (so the signal
# lands mid-file, however fast the machine), and DIR must then be empty.
mid_file() {
    local what=$1 sig=$2 rc=$3 dir=$4
    shift 4
    "$@" 2>"$T/err" &
    local pid=$! i
    for ((i = 0; i < 1000; i++)); do  # up to 10 s to get going
        [ "$(wchar $pid)" -ge $((4 << 20)) ] && break
        sleep 0.01
    done
    kill -STOP $pid
    expect "$what: stopped mid-file" kill -0 $pid
    kill -"$sig" $pid
    kill -CONT $pid
    wait $pid
    check "$what: SIG$sig gives exit status" "$rc" $?
    expect "$what: no file and no temporary left in the directory" test -z "$(ls -A "$dir")"
}

"$SEAL" --generate 256M --cck "$KEYS/cck.bin" -o "$T/big.pvdump" -q --deterministic sig 2>"$T/err"
check "seal a 256 MiB guest to decrypt" 0 $?
for sig in INT TERM; do
    rc=143
    [ $sig = INT ] && rc=130
    mkdir "$T/dec-$sig" "$T/seal-$sig"
    mid_file "pvdecrypt -o FILE" $sig $rc "$T/dec-$sig" "$DEC" "$T/big.pvdump" -k "$KEYS/cck.bin" -o "$T/dec-$sig/out.vmcore" -j 1 -q
    mid_file "pvseal -o FILE" $sig $rc "$T/seal-$sig" "$SEAL" --generate 512M --cck "$KEYS/cck.bin" -o "$T/seal-$sig/out.pvdump" -j 1 -q
done
rm -f "$T/big.pvdump"

finish
