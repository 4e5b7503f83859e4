#!/usr/bin/env bash
# Fuzz smoke test: builds the libFuzzer targets with clang (ASan+UBSan) and
# runs each for SECONDS seconds from the seed corpus. Exit 0 when no target
# found anything (or clang is missing: then it says so and skips), 1 when a
# target crashed, leaked, timed out or tripped a sanitizer (the input is kept
# in BUILD_DIR/fuzz-artifacts/).
#   tests/fuzz/smoke.sh SECONDS [BUILD_DIR]     (default BUILD_DIR: build-fuzz)
set -euo pipefail
seconds=${1:?usage: smoke.sh SECONDS [BUILD_DIR]}
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${2:-$src/build-fuzz}
targets=(fuzz_core_index fuzz_decrypt fuzz_plain_vmcore fuzz_guest_source fuzz_kernel_log fuzz_page_exclusion fuzz_xts)

if ! command -v clang++ >/dev/null || ! command -v clang >/dev/null; then
  echo "fuzz smoke: clang not found, skipped"
  exit 0
fi
generator=()
if [[ ! -e $build/CMakeCache.txt ]] && command -v ninja >/dev/null; then generator=(-G Ninja); fi
CC=clang CXX=clang++ cmake -S "$src" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPVDUMP_FUZZ=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}"

status=0
for t in "${targets[@]}"; do
  work=$(mktemp -d)                       # new inputs go here, the seed corpus stays as committed
  art="$build/fuzz-artifacts/$t"
  mkdir -p "$art"
  echo "fuzz smoke: $t for ${seconds}s"
  if ! "$build/tests/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$art/" "$work" "$src/tests/fuzz/corpus/$t" >"$build/fuzz-$t.log" 2>&1; then
    echo "fuzz smoke: $t FAILED, see $build/fuzz-$t.log and $art/"
    tail -n 40 "$build/fuzz-$t.log"
    status=1
  else
    grep -E "stat::number_of_executed_units" "$build/fuzz-$t.log" || true
  fi
  rm -rf "$work"
done
exit $status
