#!/usr/bin/env bash
# Fuzz smoke test: runs each libFuzzer target for SECONDS seconds from its seed
# corpus, $(nproc) targets at a time. BUILD_DIR is a clang build configured with
# -DPVDUMP_FUZZ=ON (tests/run.sh's sanitizer build; configured here as tests/run.sh
# does when it has no CMakeCache.txt yet). Exit 0 when no target found anything
# (or clang is missing: then it says so and skips), 1 when a target crashed,
# leaked, timed out or tripped a sanitizer (the input is kept in
# BUILD_DIR/fuzz-artifacts/TARGET/, the log in BUILD_DIR/fuzz-TARGET.log).
#   tests/fuzz/smoke.sh SECONDS [BUILD_DIR]     (default BUILD_DIR: build-fuzz)
set -euo pipefail
seconds=${1:?usage: smoke.sh SECONDS [BUILD_DIR]}
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${2:-$src/build-fuzz}

if ! command -v clang++ >/dev/null || ! command -v clang >/dev/null; then
  echo "fuzz smoke: SKIPPED: clang not found"
  exit 0
fi
if [[ ! -e $build/CMakeCache.txt ]]; then
  generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  CC=clang CXX=clang++ cmake -S "$src" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_CXX_FLAGS_DEBUG="-gline-tables-only -O1" -DPVDUMP_FUZZ=ON >/dev/null
fi
grep -q '^PVDUMP_FUZZ:BOOL=ON' "$build/CMakeCache.txt" ||
  { echo "fuzz smoke: $build is not configured with -DPVDUMP_FUZZ=ON" >&2; exit 2; }
mapfile -t targets <"$build/tests/fuzz/targets.txt" 2>/dev/null ||
  { cmake -S "$src" -B "$build" >/dev/null; mapfile -t targets <"$build/tests/fuzz/targets.txt"; }
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}"

# One target: exit status 0 (nothing found) or 1, with its summary on stdout.
run_one() {
  local t=$1 work art
  work=$(mktemp -d)                       # new inputs go here, the seed corpus stays as committed
  art="$build/fuzz-artifacts/$t"
  mkdir -p "$art"
  if ! "$build/tests/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$art/" "$work" "$src/tests/fuzz/corpus/$t" >"$build/fuzz-$t.log" 2>&1; then
    rm -rf "$work"
    echo "fuzz smoke: $t FAILED, see $build/fuzz-$t.log and $art/"
    tail -n 40 "$build/fuzz-$t.log"
    return 1
  fi
  rm -rf "$work"
  echo "fuzz smoke: $t ran ${seconds}s, $(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$build/fuzz-$t.log" | grep -Eo '[0-9]+$') inputs, nothing found"
}

status=0
parallel=$(nproc)
pids=()
for t in "${targets[@]}"; do
  run_one "$t" &
  pids+=($!)
  if (( ${#pids[@]} >= parallel )); then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit $status
