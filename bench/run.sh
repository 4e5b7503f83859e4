#!/usr/bin/env bash
# bench/run.sh: does pvdecrypt decrypt at storage speed, in constant memory?
#
# One command: builds the tools (Release, in a build dir of its own), makes
# sealed dumps of a few sizes with pvseal (cached between runs), then times,
# per size, in rounds (the CPU-bound runs first, then those that write files):
#   cat DUMP > OUT && sync OUT          the storage baseline (same target fs)
#   pvdecrypt -j 1 / -j N  -> file      (-j 1 and -j N outputs are cmp'd)
#   pvdecrypt -j 1 / 2 / N -> /dev/null (the CPU side, no storage)
#   PVDUMP_AES=openssl pvdecrypt -j N -> /dev/null  (the OpenSSL fallback)
#   bench/pread_loop FILE N [--no-aes]  (reference: the bare pread + XTS loop, and its pread alone)
#   pvseal of the same guest            (the producer, -j N)
#   cat MOUNT/dump.elf > /dev/null      (pvdecrypt --mount, when FUSE works here)
#   random 4 KiB reads of MOUNT/dump.elf for a few seconds (reads per second)
# reads the machine's own AES-256-XTS speed with `openssl speed`, prints one
# table and PASS/FAIL per target of the issue, and writes the table as
# markdown (default bench/last-run.md). See bench/README.md.
#
# Usage: bench/run.sh [--sizes 1G,4G] [--build-dir DIR] [--cache-dir DIR]
#                     [--out-dir DIR] [--runs N] [--threads N]
#                     [--record FILE|none] [--strict]
# shellcheck disable=SC2317 # the table cells and the trap are called indirectly
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZES=1G,4G
BUILD_DIR=$ROOT/build-bench
CACHE_DIR=$ROOT/bench/.cache
OUT_DIR=
RUNS=3
THREADS=$(nproc)
RECORD=$ROOT/bench/last-run.md
STRICT=0
QUIET_WAIT=15

usage() {
    cat <<EOF
Usage: bench/run.sh [options]

Benchmarks pvdecrypt against the storage (cat) and the CPU (openssl speed),
and pvseal against pvdecrypt, on generated sealed dumps; prints a table and
PASS/FAIL per target, and records the table as markdown.

Options:
  --sizes LIST      guest sizes, comma-separated, K/M/G/T binary units
                    (default: $SIZES)
  --build-dir DIR   Release build of the tools, configured and built if
                    needed (default: build-bench/ at the top of the tree)
  --cache-dir DIR   generated dumps and the CCK, kept between runs
                    (default: bench/.cache/)
  --out-dir DIR     where outputs are written (the filesystem under test;
                    default: CACHE_DIR/out). Each output is deleted after use.
  --runs N          rounds per measurement, the median is reported (default: 3)
  --threads N       N of -j N (default: nproc = $(nproc))
  --quiet-wait S    before each measurement, wait up to S seconds for the
                    CPUs to be less than 15% busy with other work (default: 15;
                    0: don't wait). The busy share seen is recorded per run.
  --record FILE     markdown copy of the result (default: bench/last-run.md;
                    'none' for no copy)
  --strict          exit 1 when a target FAILs (default: exit 0 once measured)
  -h, --help        this text
EOF
}

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    printf 'bench/run.sh: error: %s\n' "$*" >&2
    exit 1
}

# bench/run.sh --kdump [bench/kdump.sh options]: the kdump-compressed output's benchmark.
[[ ${1:-} == --kdump ]] && { shift; exec "$(dirname "${BASH_SOURCE[0]}")/kdump.sh" "$@"; }
while (($#)); do
    case $1 in
    --sizes) SIZES=${2:?--sizes needs a value}; shift 2 ;;
    --build-dir) BUILD_DIR=${2:?--build-dir needs a value}; shift 2 ;;
    --cache-dir) CACHE_DIR=${2:?--cache-dir needs a value}; shift 2 ;;
    --out-dir) OUT_DIR=${2:?--out-dir needs a value}; shift 2 ;;
    --runs) RUNS=${2:?--runs needs a value}; shift 2 ;;
    --threads) THREADS=${2:?--threads needs a value}; shift 2 ;;
    --quiet-wait) QUIET_WAIT=${2:?--quiet-wait needs a value}; shift 2 ;;
    --record) RECORD=${2:?--record needs a value}; shift 2 ;;
    --strict) STRICT=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option '$1'" ;;
    esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs: '$RUNS' is not a positive integer"
[[ $THREADS =~ ^[1-9][0-9]*$ ]] || die "--threads: '$THREADS' is not a positive integer"
[[ $QUIET_WAIT =~ ^[0-9]+$ ]] || die "--quiet-wait: '$QUIET_WAIT' is not a number of seconds"
OUT_DIR=${OUT_DIR:-$CACHE_DIR/out}

# ---- helpers --------------------------------------------------------------------

# 512M, 1G, 4GiB, 4096 -> bytes (binary units, as pvseal reads them).
size_bytes() {
    local t=$1 n unit
    [[ $t =~ ^([0-9]+)([KMGT]?)(i?B)?$ ]] || die "'$t' is not a size (examples: 512M, 1G, 4G)"
    n=${BASH_REMATCH[1]} unit=${BASH_REMATCH[2]}
    case $unit in
    K) echo $((n << 10)) ;; M) echo $((n << 20)) ;; G) echo $((n << 30)) ;;
    T) echo $((n << 40)) ;; *) echo "$n" ;;
    esac
}

# Floating point via awk: calc 'EXPR' [VAR=VALUE ...]
calc() {
    local expr=$1 a args=()
    shift
    for a; do args+=(-v "$a"); done
    awk "${args[@]}" "BEGIN { printf \"%s\", $expr }" </dev/null
}

# Installs a Debian package when a command is missing (root or sudo -n only).
ensure() {
    local cmd=$1 pkg=$2
    if [[ -x $cmd ]] || command -v "$cmd" >/dev/null 2>&1; then return 0; fi
    log "'$cmd' is missing: installing package '$pkg'"
    local sudo=()
    ((EUID == 0)) || sudo=(sudo -n)
    "${sudo[@]}" apt-get install -y -q "$pkg" >&2 || die "cannot install '$pkg'; install it and rerun"
}

avail_bytes() { df --output=avail -B1 "$1" | tail -n 1 | tr -d ' '; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/pvdump-bench.XXXXXX")
cleanup() {
    # Only what this script created: its mount, temp dir and outputs.
    if mountpoint -q "$TMP/mnt" 2>/dev/null; then fusermount3 -u "$TMP/mnt" || true; fi
    rm -rf "$TMP"
    [[ -d $OUT_DIR ]] && rm -f "$OUT_DIR"/cat.out "$OUT_DIR"/j1.vmcore "$OUT_DIR"/jN.vmcore \
        "$OUT_DIR"/seal.pvdump "$OUT_DIR"/.*.tmp-* 2>/dev/null
    return 0
}
trap cleanup EXIT
# A sleep that forks nothing: read with a timeout from a fifo nobody writes.
mkfifo "$TMP/tick"
exec {TICK}<>"$TMP/tick"

# ---- 0. prerequisites and disk --------------------------------------------------
ensure /usr/bin/time time
ensure openssl openssl
ensure cmake cmake
ensure cmp diffutils
ensure fincore util-linux

mkdir -p "$CACHE_DIR" "$OUT_DIR"
IFS=, read -r -a SIZE_LIST <<<"$SIZES"
((${#SIZE_LIST[@]})) || die "--sizes is empty"
max_bytes=0 sum_bytes=0
for s in "${SIZE_LIST[@]}"; do
    b=$(size_bytes "$s")
    ((b % 1048576 == 0)) || die "size '$s' is not a whole number of MiB"
    ((b > max_bytes)) && max_bytes=$b
    sum_bytes=$((sum_bytes + b))
done
log "disk: $(df -h --output=target,size,used,avail,pcent "$OUT_DIR" | tail -n 1)"
# Worst case: every dump regenerated, plus two outputs (-j 1 kept for cmp) of
# the largest, plus 1 GiB of slack.
need=$((sum_bytes + 2 * max_bytes + (1 << 30)))
have=$(avail_bytes "$OUT_DIR")
((have >= need)) || die "need about $((need >> 30)) GiB free under '$OUT_DIR' and '$CACHE_DIR', have $((have >> 30)) GiB"

# ---- 1. Release build -----------------------------------------------------------
build_type=
[[ -f $BUILD_DIR/CMakeCache.txt ]] &&
    build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt")
if [[ $build_type != Release ]]; then
    log "configuring a Release build in $BUILD_DIR"
    gen=()
    [[ -f $BUILD_DIR/CMakeCache.txt ]] || ! command -v ninja >/dev/null || gen=(-G Ninja)
    cmake -S "$ROOT" -B "$BUILD_DIR" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release >"$TMP/configure.log" 2>&1 ||
        { cat "$TMP/configure.log" >&2; die "configure failed"; }
fi
log "building pvdecrypt and pvseal in $BUILD_DIR"
cmake --build "$BUILD_DIR" --target pvdecrypt pvseal pread_loop -j "$(nproc)" >"$TMP/build.log" 2>&1 ||
    { tail -n 40 "$TMP/build.log" >&2; die "build failed"; }
PVDECRYPT=$BUILD_DIR/pvdecrypt
PVSEAL=$BUILD_DIR/pvseal
LOOP=$BUILD_DIR/pread_loop # the bare pread + XTS loop (bench/pread_loop.cpp)
[[ -x $PVDECRYPT && -x $PVSEAL && -x $LOOP ]] || die "the build made no pvdecrypt/pvseal/pread_loop in $BUILD_DIR"

# ---- 2. sealed dumps, cached ----------------------------------------------------
CCK=$CACHE_DIR/bench.cck
[[ -f $CCK ]] || "$PVSEAL" --make-cck "$CCK" 2>/dev/null
# The generated guest: 2 vCPUs, one block, seed 1 (pvseal's defaults):
# ~70% encrypted pages, 15% zero, 10% shared, 5% encrypted zeros.
# gen_opts SIZE [SEED]: seed 2 makes a second guest of the same size (other
# bytes, same mix) for the two-process ceiling below.
gen_opts() { printf '%s\n' --generate "$1" --seed "${2:-1}" --cpus 2; }
# A stale dump is one made by another pvseal binary, CCK or option set.
cache_key() {
    { "$PVSEAL" --version; gen_opts "$1" "${2:-1}"; sha256sum <"$PVSEAL"; sha256sum <"$CCK"; } | sha256sum | cut -c1-16
}
dump_for() {
    local size=$1 seed=${2:-1} key path prefix=guest
    ((seed == 1)) || prefix=guest-seed$seed
    key=$(cache_key "$size" "$seed")
    path=$CACHE_DIR/$prefix-$size-$key.pvdump
    if [[ ! -f $path ]]; then
        # One dump per size and seed: an older key's dump is stale, drop it.
        rm -f "$CACHE_DIR/$prefix-$size-"*.pvdump
        log "sealing a $size guest (seed $seed) into $path (cached for later runs)"
        mapfile -t opts < <(gen_opts "$size" "$seed")
        "$PVSEAL" "${opts[@]}" --cck "$CCK" -o "$path" -q ||
            die "pvseal failed to make the $size dump"
    fi
    printf '%s\n' "$path"
}

# ---- 4. the machine's AES-256-XTS speed -----------------------------------------
# openssl speed divides by CPU user time by default: bytes per CPU-second of
# one core, what threads x this figure promises. -elapsed divides by wall time
# instead, and so also shows how busy the machine is.
openssl_xts() {
    openssl speed "$@" -decrypt -evp aes-256-xts -bytes 4096 -seconds 3 2>/dev/null |
        awk '/^AES-256-XTS/ { sub(/k$/, "", $2); printf "%.0f", $2 * 1000 }'
}
log "openssl speed -decrypt -evp aes-256-xts -bytes 4096 -seconds 3 (CPU time, then -elapsed)"
XTS_CPU=$(openssl_xts)
XTS_WALL=$(openssl_xts -elapsed)
# The reference of the issue: N processes at once, the sum of their wall-time rates.
log "openssl speed -multi $THREADS -elapsed -decrypt -evp aes-256-xts -bytes 4096 -seconds 3"
XTS_MULTI=$(openssl_xts -multi "$THREADS" -elapsed)
[[ -n $XTS_CPU && -n $XTS_WALL && -n $XTS_MULTI ]] || die "cannot read the AES-256-XTS figure from openssl speed"
AES_IMPL=$("$PVDECRYPT" --version | sed -n 's/^AES-256-XTS: //p')
[[ -n $AES_IMPL ]] || AES_IMPL="(pvdecrypt --version does not say)"
CPU_FLAGS=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -xE 'aes|avx2|avx512f|avx512vl|vaes|vpclmulqdq|pclmulqdq' | sort | paste -sd' ' -)

# ---- 3. measurements --------------------------------------------------------------
RESULTS=$TMP/results.tsv # kind size round wall user sys maxrss_kib anon_peak_kib busy_pct
: >"$RESULTS"

# Share (%) of all CPUs busy over half a second, from /proc/stat.
cpu_busy() {
    local u1 n1 s1 i1 w1 q1 sq1 st1 u2 n2 s2 i2 w2 q2 sq2 st2 busy idle
    read -r _ u1 n1 s1 i1 w1 q1 sq1 st1 _ </proc/stat
    read -rt 0.5 -u "$TICK" _ || true
    read -r _ u2 n2 s2 i2 w2 q2 sq2 st2 _ </proc/stat
    busy=$(((u2 + n2 + s2 + q2 + sq2 + st2) - (u1 + n1 + s1 + q1 + sq1 + st1)))
    idle=$(((i2 + w2) - (i1 + w1)))
    echo $((100 * busy / (busy + idle > 0 ? busy + idle : 1)))
}
# This machine may be shared (other builds, other benchmarks): wait a while
# for it to be quiet, and record how busy it was.
BUSY=0
wait_quiet() {
    local start=$SECONDS
    BUSY=$(cpu_busy)
    while ((BUSY > 15 && SECONDS - start < QUIET_WAIT)); do
        BUSY=$(cpu_busy)
    done
    ((SECONDS - start < 2)) || log "  waited $((SECONDS - start)) s for other work to finish (CPUs now $BUSY% busy)"
}

# measure KIND SIZE ROUND [--stdout FILE] -- CMD...
# Runs CMD under GNU time (wall, user, sys, peak RSS) while sampling the
# child's RssAnon every 50 ms (peak RSS counts the mmapped dump's page-cache
# pages too; RssAnon is the process's own memory).
measure() {
    local kind=$1 size=$2 round=$3 out=/dev/null
    shift 3
    if [[ $1 == --stdout ]]; then out=$2; shift 2; fi
    [[ $1 == -- ]] && shift
    local tf=$TMP/time.out ef=$TMP/stderr.out
    if [[ -n $WARM ]]; then # the input, read right before the run, and how much of it is cached
        cat "$WARM" >/dev/null
        local pct
        pct=$(cached_pct "$WARM")
        ((pct < ${CACHED_MIN[$size]:-101})) && CACHED_MIN[$size]=$pct
    fi
    wait_quiet
    /usr/bin/time -f '%e %U %S %M' -o "$tf" "$@" >"$out" 2>"$ef" &
    local tpid=$! child='' peak=0 k v state rc=0
    while read -r _ _ state _ 2>/dev/null <"/proc/$tpid/stat" && [[ $state != Z ]]; do
        [[ -n $child ]] || read -r child _ 2>/dev/null <"/proc/$tpid/task/$tpid/children" || true
        if [[ -n $child ]]; then
            while read -r k v _; do
                if [[ $k == RssAnon: ]]; then
                    [[ $v =~ ^[0-9]+$ ]] && ((v > peak)) && peak=$v
                    break
                fi
            done 2>/dev/null <"/proc/$child/status" || true
        fi
        read -rt 0.05 -u "$TICK" _ || true
    done
    wait "$tpid" || rc=$?
    if ((rc != 0)); then
        cat "$ef" >&2
        die "$kind ($size, round $round) failed with exit code $rc: $*"
    fi
    local wall user sys rss
    read -r wall user sys rss < <(tail -n 1 "$tf")
    [[ $rss =~ ^[0-9]+$ ]] || die "$kind ($size, round $round): cannot read GNU time's output: $(tail -n 1 "$tf")"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$size" "$round" "$wall" "$user" "$sys" "$rss" "$peak" "$BUSY" >>"$RESULTS"
    log "  $kind: ${wall}s wall, ${user}s user, ${sys}s sys, peak RSS $((rss / 1024)) MiB (anon $((peak / 1024)) MiB); CPUs $BUSY% busy before"
}

# Removes an output and lets the filesystem settle (untimed).
drop() {
    rm -f "$@"
    sync -f "$OUT_DIR"
}

cached_pct() { # percentage of FILE's pages in the page cache
    fincore -b -n -o RES,SIZE "$1" | awk '{ printf "%.0f", $2 ? 100 * $1 / $2 : 0 }'
}

THREAD_SET=(1)
((THREADS >= 2)) && THREAD_SET+=(2)
((THREADS > 2)) && THREAD_SET+=("$THREADS")

declare -A DUMP DUMP2 CACHED_BEFORE CACHED_AFTER CACHED_MIN IDENTICAL DUMP_SIZE
WARM=''
for s in "${SIZE_LIST[@]}"; do
    DUMP[$s]=$(dump_for "$s")
    DUMP_SIZE[$s]=$(stat -c %s "${DUMP[$s]}")
    ((THREADS >= 2)) && DUMP2[$s]=$(dump_for "$s" 2)  # the second of the two-process pair
done

# pvdecrypt -o /dev/null: used when pvdecrypt accepts it without --force.
# (Never pass --force with /dev/null: an output is replaced by renaming a
# temporary file over it, which would turn /dev/null into a regular file.)
NULL_MODE=stdout
probe_size=${SIZE_LIST[0]}
if "$PVDECRYPT" "${DUMP[$probe_size]}" -k "$CCK" -o /dev/null -q >/dev/null 2>"$TMP/probe.err"; then
    NULL_MODE=devnull
fi
[[ -c /dev/null ]] || die "/dev/null is no longer a character device after the probe: fix pvdecrypt NOW"
NULL_NOTE="pvdecrypt -o /dev/null"
if [[ $NULL_MODE == stdout ]]; then
    NULL_NOTE="pvdecrypt -o - >/dev/null (pvdecrypt -o /dev/null said: $(head -n 1 "$TMP/probe.err"))"
fi
log "to /dev/null: $NULL_NOTE"
# measure_null KIND SIZE ROUND THREADS [VAR=VALUE ...]: pvdecrypt of SIZE's dump to
# /dev/null as NULL_MODE says, with the environment variables given.
measure_null() {
    local kind=$1 size=$2 round=$3 threads=$4
    shift 4
    if [[ $NULL_MODE == devnull ]]; then
        measure "$kind" "$size" "$round" -- env "$@" "$PVDECRYPT" "${DUMP[$size]}" -k "$CCK" -o /dev/null -q -j "$threads"
    else
        measure "$kind" "$size" "$round" --stdout /dev/null -- env "$@" "$PVDECRYPT" "${DUMP[$size]}" -k "$CCK" -o - -q -j "$threads"
    fi
}

# pvdecrypt --mount: needs /dev/fuse, fusermount3 and a pvdecrypt built with FUSE.
MNT=$TMP/mnt
MOUNT_NOTE=
if [[ ! -c /dev/fuse ]]; then
    MOUNT_NOTE="no /dev/fuse"
elif ! command -v fusermount3 >/dev/null; then
    MOUNT_NOTE="no fusermount3 (Debian: fuse3)"
elif ! "$PVDECRYPT" --help 2>&1 | grep -q -- '--mount'; then
    MOUNT_NOTE="pvdecrypt was built without FUSE"
fi
ensure python3 python3
MOUNT_CACHE=64M
RANDOM_SECONDS=5
mount_dump() { # mount_dump DUMP: mounts it on $MNT (untimed: verification runs first); prints the daemon's pid
    mkdir -p "$MNT"
    "$PVDECRYPT" "$1" -k "$CCK" --mount "$MNT" --cache "$MOUNT_CACHE" -j "$THREADS" -q >&2 ||
        die "pvdecrypt --mount $1 failed"
    pgrep -n -f -- "--mount $MNT" || die "no pvdecrypt process serves $MNT"
}
umount_dump() {
    "$PVDECRYPT" --umount "$MNT" >&2 || fusermount3 -u "$MNT" || die "cannot unmount $MNT"
}
# The mount daemon's peak resident set (KiB), before it exits.
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
# measure_random SIZE ROUND PID: random 4 KiB reads of the mounted file.
measure_random() {
    local size=$1 round=$2 pid=$3 reads secs
    wait_quiet
    read -r reads secs < <(python3 "$ROOT/bench/random_reads.py" "$MNT/dump.elf" "$RANDOM_SECONDS" "$round") ||
        die "random reads of $MNT/dump.elf failed"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' rand "$size" "$round" "$secs" "$reads" 0 "$(hwm_kib "$pid")" 0 "$BUSY" >>"$RESULTS"
    # (fields: wall = seconds, user = reads, rss = the daemon's peak since it mounted,
    # which covers the sequential cat before)
    log "  random 4 KiB reads: $reads in ${secs}s ($(calc 'r / t' r="$reads" t="$secs" | xargs printf '%.0f')/s), daemon peak RSS $(($(hwm_kib "$pid") / 1024)) MiB"
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
for s in "${SIZE_LIST[@]}"; do
    d=${DUMP[$s]}
    log "== $s: $d ($(numfmt --to=iec-i --round=nearest --suffix=B "${DUMP_SIZE[$s]}"))"
    # The dump's page cache is rebuilt by a read: pvseal's writes leave it in
    # small folios, which made every pread ~1.5x dearer (0.51-0.69 s against
    # 0.40-0.41 s to /dev/null at 4G, bench/README.md); an owner reads a dump
    # that came from storage. Dropped for this file only, then read back.
    dd if="$d" iflag=nocache count=0 status=none
    cat "$d" >/dev/null
    CACHED_BEFORE[$s]=$(cached_pct "$d")
    WARM=$d
    IDENTICAL[$s]=n/a
    # The CPU-bound runs (to /dev/null, the mount) have rounds of their own,
    # before any run writes a file: on this virtual disk the writeback of a
    # 4 GiB output (5-11 s of sys) went on disturbing the next seconds, and
    # /dev/null runs right after one took 0.47-0.51 s where the same build
    # took 0.40 s otherwise.
    for ((r = 1; r <= RUNS; r++)); do
        log " round $r/$RUNS (CPU: /dev/null, mount)"
        for t in "${THREAD_SET[@]}"; do
            measure_null "null_j$t" "$s" "$r" "$t"
        done
        measure_null null_ossl "$s" "$r" "$THREADS" PVDUMP_AES=openssl
        # The machine's own ceiling for -j 2: two independent -j 1 runs at
        # once (no shared state, no serial part), timed until both are done.
        # Each on a dump of its own (seeds 1 and 2): two readers of the same
        # file share its reads through the L3 cache, which two threads
        # reading different halves do not (the same file gave 1.98x in a
        # run where -j 2 got 1.68x).
        if ((THREADS >= 2)); then
            cat "${DUMP2[$s]}" >/dev/null  # measure() warms the first
            # shellcheck disable=SC2016 # $1..$5 belong to the inner sh
            measure null_pair "$s" "$r" -- sh -c \
                'o=$5; [ "$o" = - ] && exec >/dev/null
                 "$1" "$2" -k "$4" -o "$o" -q -j 1 & p=$!
                 "$1" "$3" -k "$4" -o "$o" -q -j 1; a=$?; wait "$p" && exit "$a"' \
                sh "$PVDECRYPT" "$d" "${DUMP2[$s]}" "$CCK" "$([[ $NULL_MODE == devnull ]] && echo /dev/null || echo -)"
        fi
        measure loop_xts "$s" "$r" -- "$LOOP" "$d" "$THREADS"
        measure loop_pread "$s" "$r" -- "$LOOP" "$d" "$THREADS" --no-aes
        if [[ -z $MOUNT_NOTE ]]; then
            mpid=$(mount_dump "$d")
            measure mount_cat "$s" "$r" -- cat "$MNT/dump.elf"
            measure_random "$s" "$r" "$mpid"
            umount_dump
        fi
    done
    for ((r = 1; r <= RUNS; r++)); do
        log " round $r/$RUNS (files)"
        o=$OUT_DIR
        drop "$o/cat.out"
        # shellcheck disable=SC2016 # $1/$2 belong to the inner sh
        measure cat "$s" "$r" -- sh -c 'cat "$1" >"$2" && sync "$2"' sh "$d" "$o/cat.out"
        drop "$o/cat.out"

        measure dec_j1 "$s" "$r" -- "$PVDECRYPT" "$d" -k "$CCK" -o "$o/j1.vmcore" -q -j 1
        ((r == RUNS)) || drop "$o/j1.vmcore"
        measure dec_jN "$s" "$r" -- "$PVDECRYPT" "$d" -k "$CCK" -o "$o/jN.vmcore" -q -j "$THREADS"
        if ((r == RUNS)); then
            if cmp -s "$o/j1.vmcore" "$o/jN.vmcore"; then IDENTICAL[$s]=yes; else IDENTICAL[$s]=NO; fi
            log "  cmp -j 1 / -j $THREADS outputs: ${IDENTICAL[$s]}"
            drop "$o/j1.vmcore"
        fi
        drop "$o/jN.vmcore"

        mapfile -t opts < <(gen_opts "$s")
        measure seal "$s" "$r" -- "$PVSEAL" "${opts[@]}" --cck "$CCK" -o "$o/seal.pvdump" -q -j "$THREADS"
        drop "$o/seal.pvdump"
    done
    CACHED_AFTER[$s]=$(cached_pct "$d")
    WARM=''
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- 5. the table -----------------------------------------------------------------
# med KIND SIZE FIELD -> median over rounds (fields: 4 wall 5 user 6 sys 7 rss 8 anon)
med() {
    awk -F'\t' -v k="$1" -v s="$2" -v f="$3" '$1 == k && $2 == s { print $f }' "$RESULTS" |
        sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%s", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
maxof() { # maximum over rounds
    awk -F'\t' -v k="$1" -v s="$2" -v f="$3" '$1 == k && $2 == s && $f > m { m = $f } END { printf "%s", m + 0 }' "$RESULTS"
}
mbs() { calc 'b / t / 1e6' b="$1" t="$2"; }
time_rate() { # "12.34 s (567 MB/s)"
    local t
    t=$(med "$1" "$2" 4)
    printf '%.2f s (%.0f MB/s)' "$t" "$(mbs "$(size_bytes "$2")" "$t")"
}
rss_cell() { # "12.3 (anon 4.5)"
    printf '%.1f (anon %.1f)' "$(calc 'v / 1024' v="$(maxof "$1" "$2" 7)")" "$(calc 'v / 1024' v="$(maxof "$1" "$2" 8)")"
}

N=$THREADS
MD=$TMP/result.md
largest=${SIZE_LIST[0]}
smallest=${SIZE_LIST[0]}
for s in "${SIZE_LIST[@]}"; do
    (($(size_bytes "$s") > $(size_bytes "$largest"))) && largest=$s
    (($(size_bytes "$s") < $(size_bytes "$smallest"))) && smallest=$s
done
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
[[ -n $cpu_model ]] || cpu_model=$(uname -m)
fs_desc=$(findmnt -n -o FSTYPE,SOURCE -T "$OUT_DIR" | tr -s ' ')
commit=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
# The tree may be moving under the benchmark: name what was not committed.
dirty=$(git -C "$ROOT" status --porcelain --untracked-files=no -- CMakeLists.txt format decryptor producer tools 2>/dev/null |
    awk '{ print $2 }' | paste -sd, - | sed 's/,/, /g')
[[ -z $dirty ]] || commit="$commit (uncommitted changes in $dirty)"

{
    echo "# pvdecrypt benchmark: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Machine: $(nproc) CPUs ($cpu_model), $(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM," \
        "Linux $(uname -r); output on $fs_desc (\`$OUT_DIR\`); $(openssl version | cut -d' ' -f1-2);" \
        "pvdump $commit, Release build. Load average $LOAD_START at the start, $LOAD_END at the end."
    echo
    echo "Command: \`bench/run.sh --sizes $SIZES --runs $RUNS --threads $N\`. Each time is the median of $RUNS" \
        "rounds (the CPU-bound runs first, then those writing files); MB/s = guest memory size / time, 10^6 bytes. The input dump is warm in the page cache" \
        "for every measurement: its cache dropped once (\`dd iflag=nocache count=0\`, this file only) and rebuilt by reading it, then read again right before each run ($(for s in "${SIZE_LIST[@]}"; do printf '%s: %s%% cached at the start, at least %s%% before every run, %s%% at the end; ' "$s" "${CACHED_BEFORE[$s]}" "${CACHED_MIN[$s]:-?}" "${CACHED_AFTER[$s]}"; done | sed 's/; $//'))," \
        "so the storage side is writing only. Every output is fsync'd: pvdecrypt and pvseal do it on commit, the" \
        "baseline is \`cat DUMP > OUT && sync OUT\`. Guest: \`pvseal $(gen_opts SIZE | tr '\n' ' ')\`" \
        "(~70% encrypted, 15% zero, 10% shared, 5% encrypted-zero pages; pvdecrypt writes zero pages as holes)."
    echo "To /dev/null: \`$NULL_NOTE\`. Before each measurement the script waited up to $QUIET_WAIT s for the CPUs" \
        "to be less than 15% busy with other work (median seen: $(cut -f9 "$RESULTS" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')%, worst: $(cut -f9 "$RESULTS" | sort -n | tail -n 1)%)."
    ((N >= 2)) && echo "Ceiling for -j 2: \`pvdecrypt -j 1\` twice at once, on the dump and on a second guest of the same size" \
        "(\`--seed 2\`, warm too), timed until both are done: what the second core gives two runs that share nothing."
    echo "AES-256-XTS (openssl speed -decrypt -bytes 4096, one core): $(calc 'x / 1e6' x="$XTS_CPU" | xargs printf '%.0f') MB/s per CPU-second," \
        "$(calc 'x / 1e6' x="$XTS_WALL" | xargs printf '%.0f') MB/s of wall time (-elapsed);" \
        "with \`-multi $N -elapsed\`: $(calc 'x / 1e6' x="$XTS_MULTI" | xargs printf '%.0f') MB/s in all (the reference of the targets)."
    echo "pvdecrypt's AES-256-XTS: $AES_IMPL. CPU flags: $CPU_FLAGS."
    if [[ -z $MOUNT_NOTE ]]; then
        echo "Mount: \`pvdecrypt DUMP --mount DIR --cache $MOUNT_CACHE -j $N\` (mounted and unmounted untimed, each round: it verifies" \
            "the whole dump first), then \`cat DIR/dump.elf >/dev/null\` timed, then $RANDOM_SECONDS s of random page-aligned 4 KiB" \
            "preads of DIR/dump.elf (bench/random_reads.py); the mount's peak RSS is the daemon's VmHWM after both."
    else
        echo "Mount: not measured ($MOUNT_NOTE)."
    fi
    echo "Peak RSS is GNU time's maximum resident set (MiB), which counts the pages of the mmapped dump that the" \
        "process touched; 'anon' is the peak of RssAnon sampled every 50 ms (the process's own memory)."
    echo
    printf '| |'
    for s in "${SIZE_LIST[@]}"; do printf ' %s |' "$s"; done
    printf '\n|---|'
    for _ in "${SIZE_LIST[@]}"; do printf '%s' '---|'; done
    echo
    row() { # row LABEL FUNC  (FUNC SIZE prints the cell)
        local label=$1 fn=$2 s
        printf '| %s |' "$label"
        for s in "${SIZE_LIST[@]}"; do printf ' %s |' "$("$fn" "$s")"; done
        echo
    }
    c_dump() { numfmt --to=iec-i --round=nearest --suffix=B --format=%.2f "${DUMP_SIZE[$1]}"; }
    c_cat() { time_rate cat "$1"; }
    c_d1() { time_rate dec_j1 "$1"; }
    c_dn() { time_rate dec_jN "$1"; }
    c_ratio() { printf '%.2f×' "$(calc 'a / b' a="$(med dec_jN "$1" 4)" b="$(med cat "$1" 4)")"; }
    c_scale_f() { printf '%.2f×' "$(calc 'a / b' a="$(med dec_j1 "$1" 4)" b="$(med dec_jN "$1" 4)")"; }
    c_same() { printf '%s' "${IDENTICAL[$1]}"; }
    c_n1() { time_rate null_j1 "$1"; }
    c_n2() { time_rate null_j2 "$1"; }
    c_nn() { time_rate "null_j$N" "$1"; }
    c_scale_n2() { printf '%.2f×' "$(calc 'a / b' a="$(med null_j1 "$1" 4)" b="$(med null_j2 "$1" 4)")"; }
    c_scale_nn() { printf '%.2f×' "$(calc 'a / b' a="$(med null_j1 "$1" 4)" b="$(med "null_j$N" "$1" 4)")"; }
    # The ceiling: 2 × t(-j 1) ÷ t(two -j 1 at once); the share of it -j 2 reaches.
    pair_ceiling() { calc '2 * a / b' a="$(med null_j1 "$1" 4)" b="$(med null_pair "$1" 4)"; }
    c_pair() { printf '%s s (%.2f×)' "$(med null_pair "$1" 4)" "$(pair_ceiling "$1")"; }
    c_pair_share() {
        printf '%.0f%%' "$(calc '100 * a / b / c' a="$(med null_j1 "$1" 4)" b="$(med null_j2 "$1" 4)" c="$(pair_ceiling "$1")")"
    }
    c_pct() {
        printf '%.0f%%' "$(calc '100 * b / t / (n * x)' b="$(size_bytes "$1")" t="$(med "null_j$N" "$1" 4)" n="$N" x="$XTS_CPU")"
    }
    c_cpu() {
        local u s
        u=$(med "null_j$N" "$1" 5) s=$(med "null_j$N" "$1" 6)
        printf '%.2f s (%.2f user + %.2f sys)' "$(calc 'u + s' u="$u" s="$s")" "$u" "$s"
    }
    c_cpu_eff() {
        printf '%.0f%%' "$(calc '100 * b / (u + s) / x' b="$(size_bytes "$1")" u="$(med "null_j$N" "$1" 5)" s="$(med "null_j$N" "$1" 6)" x="$XTS_CPU")"
    }
    c_seal() { time_rate seal "$1"; }
    c_multi() { printf '%.0f MB/s' "$(calc 'x / 1e6' x="$XTS_MULTI")"; }
    rate_vs_multi() { printf '%.2f×' "$(calc 'b / t / x' b="$(size_bytes "$2")" t="$(med "$1" "$2" 4)" x="$XTS_MULTI")"; }
    c_nn_multi() { rate_vs_multi "null_j$N" "$1"; }
    c_ossl() { time_rate null_ossl "$1"; }
    c_ossl_multi() { rate_vs_multi null_ossl "$1"; }
    c_loop() { time_rate loop_xts "$1"; }
    c_loop_pread() { time_rate loop_pread "$1"; }
    c_vs_loop() { printf '%.2f×' "$(calc 'a / b' a="$(med loop_xts "$1" 4)" b="$(med "null_j$N" "$1" 4)")"; }
    c_mcat() { time_rate mount_cat "$1"; }
    c_mratio() { printf '%.2f×' "$(calc 'a / b' a="$(med "null_j$N" "$1" 4)" b="$(med mount_cat "$1" 4)")"; }
    c_rand() {
        awk -F'\t' -v s="$1" '$1 == "rand" && $2 == s { print $5 / $4 }' "$RESULTS" | sort -g |
            awk '{ v[NR] = $1 } END { if (NR) printf "%.0f/s (%.0f to %.0f)", v[int((NR + 1) / 2)], v[1], v[NR] }'
    }
    c_rss_mount() { printf '%.1f' "$(calc 'v / 1024' v="$(maxof rand "$1" 7)")"; }
    c_seal_ratio() { printf '%.2f×' "$(calc 'a / b' a="$(med seal "$1" 4)" b="$(med dec_jN "$1" 4)")"; }
    c_rss_cat() { rss_cell cat "$1"; }
    c_rss_d1() { rss_cell dec_j1 "$1"; }
    c_rss_dn() { rss_cell dec_jN "$1"; }
    c_rss_n1() { rss_cell null_j1 "$1"; }
    c_rss_nn() { rss_cell "null_j$N" "$1"; }
    c_rss_seal() { rss_cell seal "$1"; }
    row "sealed dump size" c_dump
    row "baseline: cat + fsync" c_cat
    row "pvdecrypt -j 1 → file" c_d1
    row "pvdecrypt -j $N → file" c_dn
    row "ratio pvdecrypt -j $N / cat" c_ratio
    row "scaling -j 1 → -j $N (file)" c_scale_f
    row "-j 1 and -j $N outputs identical (cmp)" c_same
    row "pvdecrypt -j 1 → /dev/null" c_n1
    ((N > 2)) && row "pvdecrypt -j 2 → /dev/null" c_n2
    ((N > 1)) && row "pvdecrypt -j $N → /dev/null" c_nn
    ((N >= 2)) && row "scaling -j 1 → -j 2 (/dev/null)" c_scale_n2
    ((N > 2)) && row "scaling -j 1 → -j $N (/dev/null)" c_scale_nn
    ((N >= 2)) && row "ceiling: two -j 1 runs at once, each on its own dump (both done), 2 × t(-j 1) ÷ that" c_pair
    ((N >= 2)) && row "scaling -j 1 → -j 2 ÷ the ceiling" c_pair_share
    row "/dev/null rate, % of $N × openssl XTS" c_pct
    row "CPU of -j $N → /dev/null" c_cpu
    row "bytes per CPU-second, % of openssl XTS" c_cpu_eff
    row "reference: openssl speed -multi $N -elapsed" c_multi
    row "pvdecrypt -j $N → /dev/null ÷ openssl -multi $N" c_nn_multi
    row "reference: bare loop, pread 1 MiB + XTS of every page, $N threads" c_loop
    row "… its pread alone (no AES)" c_loop_pread
    row "pvdecrypt -j $N → /dev/null, speed ÷ the bare loop's" c_vs_loop
    row "PVDUMP_AES=openssl pvdecrypt -j $N → /dev/null" c_ossl
    row "… ÷ openssl -multi $N" c_ossl_multi
    row "pvseal -j $N (same guest)" c_seal
    row "ratio pvseal / pvdecrypt -j $N" c_seal_ratio
    row "peak RSS MiB: cat" c_rss_cat
    row "peak RSS MiB: pvdecrypt -j 1 → file" c_rss_d1
    row "peak RSS MiB: pvdecrypt -j $N → file" c_rss_dn
    row "peak RSS MiB: pvdecrypt -j 1 → /dev/null" c_rss_n1
    ((N > 1)) && row "peak RSS MiB: pvdecrypt -j $N → /dev/null" c_rss_nn
    row "peak RSS MiB: pvseal" c_rss_seal
    if [[ -z $MOUNT_NOTE ]]; then
        row "mount: cat DIR/dump.elf > /dev/null" c_mcat
        row "mount ÷ pvdecrypt -j $N → /dev/null (rate)" c_mratio
        row "mount: random 4 KiB reads (median, range)" c_rand
        row "peak RSS MiB: mount daemon (cache $MOUNT_CACHE)" c_rss_mount
    fi
    echo

    # ---- targets ----
    verdicts=0
    target() { # target NAME PASS(0/1) DETAIL
        local v=PASS
        (($2)) || { v=FAIL; verdicts=$((verdicts + 1)); }
        echo "- **$v** $1: $3"
    }
    ok() { calc "($1) ? 1 : 0" "${@:2}"; }
    echo "## Targets (largest size: $largest; RSS: all sizes)"
    echo
    dn=$(med dec_jN "$largest" 4) ct=$(med cat "$largest" 4)
    target "pvdecrypt -j $N → file ≤ 1.1 × cat ($largest)" "$(ok 'a <= 1.1 * b' a="$dn" b="$ct")" \
        "${dn} s vs ${ct} s = $(calc 'a / b' a="$dn" b="$ct" | xargs printf '%.2f')×"
    nt=$(med "null_j$N" "$largest" 4)
    rel=$(calc 'b / t / x' b="$(size_bytes "$largest")" t="$nt" x="$XTS_MULTI")
    target "pvdecrypt -j $N → /dev/null ≥ 0.9 × openssl speed -multi $N ($largest)" "$(ok 'r >= 0.9' r="$rel")" \
        "$(printf '%.0f' "$(mbs "$(size_bytes "$largest")" "$nt")") MB/s vs $(calc 'x / 1e6' x="$XTS_MULTI" | xargs printf '%.0f') MB/s = $(printf '%.2f' "$rel")×"
    ot=$(med null_ossl "$largest" 4)
    orel=$(calc 'b / t / x' b="$(size_bytes "$largest")" t="$ot" x="$XTS_MULTI")
    target "the OpenSSL path (PVDUMP_AES=openssl) -j $N → /dev/null ≥ 0.6 × openssl speed -multi $N ($largest)" "$(ok 'r >= 0.6' r="$orel")" \
        "$(printf '%.0f' "$(mbs "$(size_bytes "$largest")" "$ot")") MB/s = $(printf '%.2f' "$orel")×"
    if ((N >= 2)); then
        n1=$(med null_j1 "$largest" 4) n2=$(med null_j2 "$largest" 4)
        target "scaling -j 1 → -j 2 ≥ 1.8× (to /dev/null, $largest)" "$(ok 'a / b >= 1.8' a="$n1" b="$n2")" \
            "${n1} s → ${n2} s = $(calc 'a / b' a="$n1" b="$n2" | xargs printf '%.2f')× (to a file: $(c_scale_f "$largest") for -j 1 → -j $N; this machine's ceiling, two -j 1 runs at once: $(printf '%.2f' "$(pair_ceiling "$largest")")×, of which -j 2 reaches $(c_pair_share "$largest"))"
    else
        echo "- **SKIP** scaling -j 1 → -j 2: this machine has one CPU"
    fi
    worst=0 worst_what=
    for s in "${SIZE_LIST[@]}"; do
        for k in dec_j1 dec_jN null_j1 "null_j$N"; do
            m=$(maxof "$k" "$s" 7)
            ((m > worst)) && worst=$m worst_what="$k $s"
        done
    done
    target "pvdecrypt peak RSS ≤ 64 MiB" "$(ok 'w <= 65536' w="$worst")" \
        "worst $(calc 'w / 1024' w="$worst" | xargs printf '%.1f') MiB ($worst_what)"
    if [[ $smallest != "$largest" ]]; then
        a=$(maxof dec_jN "$smallest" 7) b=$(maxof dec_jN "$largest" 7)
        target "pvdecrypt peak RSS the same for $smallest and $largest (within 4 MiB)" \
            "$(ok 'd <= 4096 && d >= -4096' d="$((b - a))")" \
            "-j $N → file: $(calc 'v / 1024' v="$a" | xargs printf '%.1f') MiB vs $(calc 'v / 1024' v="$b" | xargs printf '%.1f') MiB"
    fi
    st=$(med seal "$largest" 4)
    target "pvseal ≤ 1.3 × pvdecrypt -j $N → file ($largest)" "$(ok 'a <= 1.3 * b' a="$st" b="$dn")" \
        "${st} s vs ${dn} s = $(calc 'a / b' a="$st" b="$dn" | xargs printf '%.2f')×"
    if [[ -z $MOUNT_NOTE ]]; then
        mt=$(med mount_cat "$largest" 4)
        target "mount: cat DIR/dump.elf ≥ 0.7 × pvdecrypt -j $N → /dev/null (rate, $largest)" "$(ok 'n / m >= 0.7' n="$nt" m="$mt")" \
            "${mt} s vs ${nt} s = $(calc 'n / m' n="$nt" m="$mt" | xargs printf '%.2f')×"
        cache_kib=$(($(size_bytes "$MOUNT_CACHE") / 1024))
        mw=0
        for s in "${SIZE_LIST[@]}"; do m=$(maxof rand "$s" 7); ((m > mw)) && mw=$m; done
        target "mount: peak RSS ≤ cache + 32 MiB ($MOUNT_CACHE + 32 MiB, every size)" "$(ok 'w <= c + 32768' w="$mw" c="$cache_kib")" \
            "worst $(calc 'w / 1024' w="$mw" | xargs printf '%.1f') MiB"
    else
        echo "- **SKIP** mount targets: $MOUNT_NOTE"
    fi
    for s in "${SIZE_LIST[@]}"; do
        [[ ${IDENTICAL[$s]} == yes ]] || target "-j 1 and -j $N outputs identical ($s)" 0 "cmp found a difference"
    done
    echo
    echo "<details><summary>Every run (kind, size, round, wall s, user s, sys s, peak RSS KiB, peak RssAnon KiB, % of CPUs busy with other work just before)</summary>"
    echo
    echo '```'
    cat "$RESULTS"
    echo '```'
    echo "</details>"
    echo "$verdicts" >"$TMP/verdicts"
} >"$MD"

cat "$MD"
if [[ $RECORD != none ]]; then
    cp "$MD" "$RECORD"
    log "recorded in $RECORD"
fi
if ((STRICT)) && (($(cat "$TMP/verdicts") > 0)); then
    exit 1
fi
exit 0
