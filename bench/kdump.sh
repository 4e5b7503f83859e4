#!/usr/bin/env bash
# bench/kdump.sh (also: bench/run.sh --kdump): pvdecrypt --format kdump against
# pvdecrypt's ELF output, measured in the same run. Per guest (the real example
# guest, and a generated one of --size, default 4G) and per variant (ELF; kdump
# -d 1 with each compressor; kdump -d 31 when this build has levels 2-16),
# interleaved rounds, medians with min-max: wall time, the ratio to ELF's median,
# the output's apparent and allocated size and the allocated-size ratio to ELF.
# Inputs are warmed (cat > /dev/null) and their page-cache residency (fincore)
# recorded before each round. Outputs go to --out-dir and are deleted after use.
#
# Usage: bench/kdump.sh [--size 4G] [--runs 3] [--threads 2] [--build-dir DIR]
#                       [--cache-dir DIR] [--out-dir DIR] [--record FILE|none]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZE=4G RUNS=3 THREADS=2
BUILD_DIR=$ROOT/build-bench CACHE_DIR=$ROOT/bench/.cache OUT_DIR= RECORD=$ROOT/bench/last-run-kdump.md
while (($#)); do
    case $1 in
    --size) SIZE=${2:?}; shift 2 ;;
    --runs) RUNS=${2:?}; shift 2 ;;
    --threads) THREADS=${2:?}; shift 2 ;;
    --build-dir) BUILD_DIR=${2:?}; shift 2 ;;
    --cache-dir) CACHE_DIR=${2:?}; shift 2 ;;
    --out-dir) OUT_DIR=${2:?}; shift 2 ;;
    --record) RECORD=${2:?}; shift 2 ;;
    -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/kdump.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
OUT_DIR=${OUT_DIR:-$CACHE_DIR/out}
log() { printf '[bench-kdump %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
mkdir -p "$CACHE_DIR" "$OUT_DIR"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pvdump-bench-kdump.XXXXXX")
trap 'rm -rf "$TMP"; rm -f "$OUT_DIR"/bench-kdump.out "$OUT_DIR"/.bench-kdump.out.tmp-* 2>/dev/null; true' EXIT

if [[ ! -x $BUILD_DIR/pvdecrypt || ! -x $BUILD_DIR/pvseal ]]; then
    log "building the tools (Release) in $BUILD_DIR"
    cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$BUILD_DIR" -j"$(nproc)" --target pvdecrypt pvseal >/dev/null
PVD=$BUILD_DIR/pvdecrypt PVS=$BUILD_DIR/pvseal

# Inputs (cached): the example guest sealed with the example key; a generated guest.
KEY=$CACHE_DIR/example.cck
install -m 0600 "$ROOT/examples/example.cck" "$KEY"
if [[ ! -s $CACHE_DIR/example-guest.pvdump ]]; then
    log "sealing the example guest"
    zstd -d -q -f "$ROOT/examples/s390x-debian12-guest.vmcore.zst" -o "$TMP/guest.vmcore"
    "$PVS" --guest "$TMP/guest.vmcore" --cck "$KEY" -o "$CACHE_DIR/example-guest.pvdump" -q
    rm -f "$TMP/guest.vmcore"
fi
GEN=$CACHE_DIR/generated-$SIZE-kdump.pvdump
if [[ ! -s $GEN ]]; then
    log "generating a $SIZE guest"
    "$PVS" --generate "$SIZE" --seed 7 --cpus 2 --cck "$KEY" -o "$GEN" -q
fi

# -d 31 only when this build applies levels 2-16.
LEVELS="1"
if "$PVD" "$CACHE_DIR/example-guest.pvdump" -k "$KEY" --format kdump -d 31 -o "$OUT_DIR/bench-kdump.out" \
    --force -q 2>"$TMP/d31.err"; then
    LEVELS="1 31"
else
    D31_NOTE=$(head -1 "$TMP/d31.err")
fi
rm -f "$OUT_DIR/bench-kdump.out"

VARIANTS=(elf)
for l in $LEVELS; do for c in zstd lzo snappy zlib none; do VARIANTS+=("kdump:$l:$c"); done; done

RESULTS=$TMP/results  # input variant round wall user sys rss_kib apparent allocated
: >"$RESULTS"
run_one() {  # input-name input-file variant round
    local name=$1 in=$2 v=$3 r=$4 out=$OUT_DIR/bench-kdump.out args=()
    if [[ $v == elf ]]; then args=(); else IFS=: read -r _ l c <<<"$v"; args=(--format kdump -d "$l" --compress "$c"); fi
    rm -f "$out"
    cat "$in" >/dev/null
    /usr/bin/time -f '%e %U %S %M' -o "$TMP/time" "$PVD" "$in" -k "$KEY" -o "$out" -j "$THREADS" -q "${args[@]}"
    echo "$name $v $r $(cat "$TMP/time") $(stat -c '%s' "$out") $(($(stat -c '%b' "$out") * 512))" >>"$RESULTS"
    rm -f "$out"
}
FINCORE=$TMP/fincore
for r in $(seq 1 "$RUNS"); do
    for pair in "example:$CACHE_DIR/example-guest.pvdump" "generated-$SIZE:$GEN"; do
        name=${pair%%:*} in=${pair#*:}
        cat "$in" >/dev/null
        echo "round $r $name: $(fincore -n -o RES,SIZE "$in" | tr -s ' ')" >>"$FINCORE"
        for v in "${VARIANTS[@]}"; do
            log "round $r/$RUNS $name $v"
            run_one "$name" "$in" "$v" "$r"
        done
    done
done

med() {  # input variant column -> "median min max"
    awk -v n="$1" -v v="$2" -v c="$3" '$1 == n && $2 == v { print $c }' "$RESULTS" | sort -g |
        awk '{ a[NR] = $1 } END { m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; print m, a[1], a[NR] }'
}
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
{
    echo "# bench/kdump.sh: pvdecrypt --format kdump vs ELF output"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($(uptime | sed 's/.*load average/load average/')), -j $THREADS, $RUNS rounds, medians (min-max)."
    [[ -n ${D31_NOTE:-} ]] && echo "-d 31 not measured: $D31_NOTE"
    echo
    echo "| guest | output | wall s | × ELF wall | apparent | allocated | × ELF allocated | peak RSS |"
    echo "|---|---|---|---|---|---|---|---|"
    for name in example "generated-$SIZE"; do
        read -r ew _ _ <<<"$(med "$name" elf 4)"
        read -r ea _ _ <<<"$(med "$name" elf 9)"
        for v in "${VARIANTS[@]}"; do
            read -r w wmin wmax <<<"$(med "$name" "$v" 4)"
            read -r ap _ _ <<<"$(med "$name" "$v" 8)"
            read -r al _ _ <<<"$(med "$name" "$v" 9)"
            read -r rss _ _ <<<"$(med "$name" "$v" 7)"
            label=$v
            [[ $v == kdump:* ]] && { IFS=: read -r _ l c <<<"$v"; label="kdump -d $l $c"; }
            printf '| %s | %s | %.2f (%.2f-%.2f) | %.2f | %s | %s | %.3f | %s |\n' "$name" "$label" "$w" "$wmin" "$wmax" \
                "$(awk -v a="$w" -v b="$ew" 'BEGIN { print a / b }')" "$(mib "$ap")" "$(mib "$al")" \
                "$(awk -v a="$al" -v b="$ea" 'BEGIN { print a / b }')" "$(mib "$((rss * 1024))")"
        done
    done
    echo
    echo "Goals (issue 11): zstd -d 1 wall ≤ 1.5× ELF at -j 2; output ≤ 0.5× the ELF's allocated size on a guest with text pages."
    for name in example "generated-$SIZE"; do
        read -r ew _ _ <<<"$(med "$name" elf 4)"
        read -r ea _ _ <<<"$(med "$name" elf 9)"
        read -r w _ _ <<<"$(med "$name" kdump:1:zstd 4)"
        read -r al _ _ <<<"$(med "$name" kdump:1:zstd 9)"
        awk -v n="$name" -v w="$w" -v ew="$ew" -v al="$al" -v ea="$ea" 'BEGIN {
            printf "- %s: wall %.2f× ELF (%s), allocated %.3f× ELF (%s)\n", n, w / ew, (w <= 1.5 * ew) ? "PASS" : "FAIL",
                   al / ea, (al <= 0.5 * ea) ? "PASS" : "FAIL" }'
    done
    echo
    echo '<details><summary>Every run (guest, output, round, wall s, user s, sys s, peak RSS KiB, apparent bytes, allocated bytes) and input residency</summary>'
    echo
    echo '```'
    cat "$RESULTS" "$FINCORE"
    echo '```'
    echo '</details>'
} >"$TMP/md"
cat "$TMP/md"
[[ $RECORD != none ]] && cp "$TMP/md" "$RECORD" && log "recorded in $RECORD"
exit 0
