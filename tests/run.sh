#!/usr/bin/env bash
# The whole test suite: installs what is missing, then
#   1. builds with warnings as errors and runs every test (unit, golden vectors,
#      CLI, gdb, corruption suite, fuzz corpus replay),
#   2. builds again with AddressSanitizer + UndefinedBehaviorSanitizer and runs
#      every test again,
#   3. runs each libFuzzer target for a short while (2 and 3 share one clang build),
#   4. cross-builds for s390x (big-endian) and runs the tests under qemu-user,
#      comparing the s390x tools' output with step 1's (tests/run-s390x.sh).
# Usage: tests/run.sh [BUILD_DIR]      (default: build; the sanitizer + fuzz build
#        goes to BUILD_DIR-asan, the s390x build to BUILD_DIR-s390x)
# PVDUMP_QUICK=1 runs step 1 only; PVDUMP_FUZZ_SECONDS sets step 3's time per target (15).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
jobs=$(nproc)
# Each stage's heading says when it started (seconds since this script began).
stage() { echo "== tests: $* [at ${SECONDS} s]"; }
"$root/tools/install-deps.sh" test
# Step 4's cross compilers, and dpkg's s390x architecture, which the consumer tests'
# apt-get download of makedumpfile:s390x and crash:s390x needs too.
[[ $(uname -m) == s390x ]] || "$root/tools/install-deps.sh" s390x

stage "build and run"
# Ninja where it is installed (a test dependency); no debug info in the test builds
# (-g doubles the compile time; the sanitizer build keeps line tables for its traces).
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
fresh() { [[ -f $1/CMakeCache.txt ]] || printf '%s\n' "${gen[@]}"; }
mapfile -t g < <(fresh "$build")
cmake -S "$root" -B "$build" "${g[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" \
  -DPVDUMP_WERROR=ON >/dev/null
cmake --build "$build" -j"$jobs"
# The real consumers for the 'consumer' tests: makedumpfile and crash for s390x and
# the example guest's debug vmlinux (about 430 MB, fetched once). Without the
# network those tests say SKIPPED, with the reason.
consumers=${PVDUMP_S390X_ROOT:-/var/tmp/pvdump-s390x}
if command -v qemu-s390x-static >/dev/null; then
  stage "the s390x consumers (makedumpfile, crash, vmlinux) in $consumers"
  "$root/tests/tools/s390x-consumers.sh" --vmlinux "$consumers" >"$build/s390x-consumers.log" 2>&1 ||
    echo "could not make $consumers (see $build/s390x-consumers.log): the consumer tests will say SKIPPED"
fi
ctest --test-dir "$build" --output-on-failure -j"$jobs"

[[ ${PVDUMP_QUICK:-0} == 1 ]] && exit 0

# Steps 2 and 3 share one build: clang with ASan + UBSan and libFuzzer's coverage
# instrumentation (-DPVDUMP_FUZZ=ON), at -O1. Without clang: gcc's sanitizers, no fuzzing.
if command -v clang++ >/dev/null && command -v clang >/dev/null; then
  stage "again under AddressSanitizer + UndefinedBehaviorSanitizer (clang, fuzzer-instrumented)"
  mapfile -t g < <(fresh "$build-asan")
  CC=clang CXX=clang++ cmake -S "$root" -B "$build-asan" "${g[@]}" -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_CXX_FLAGS_DEBUG="-gline-tables-only -O1" \
    -DPVDUMP_WERROR=ON -DPVDUMP_FUZZ=ON >/dev/null
  fuzz=1
else
  stage "again under AddressSanitizer + UndefinedBehaviorSanitizer (gcc; clang not found)"
  mapfile -t g < <(fresh "$build-asan")
  cmake -S "$root" -B "$build-asan" "${g[@]}" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g1 -O1" \
    -DPVDUMP_WERROR=ON -DPVDUMP_SANITIZE=ON >/dev/null
  fuzz=0
fi
cmake --build "$build-asan" -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$build-asan" --output-on-failure -j"$jobs" --label-exclude consumer
echo "(the 'consumer' tests, which hand our output to makedumpfile, crash and libkdumpfile, ran in the native pass)"

stage "fuzz smoke run"
if ((fuzz)); then
  "$root/tests/fuzz/smoke.sh" "${PVDUMP_FUZZ_SECONDS:-15}" "$build-asan"
else
  echo "fuzz smoke: SKIPPED: clang not found (install clang and libclang-rt-14-dev)"
fi

stage "s390x (big-endian) cross build under qemu-user"
if [[ $(uname -m) == s390x ]]; then
  echo "SKIPPED: the s390x cross build (this host is s390x: step 1 ran natively on it)"
else
  PVDUMP_NATIVE_BUILD="$build" "$root/tests/run-s390x.sh" "$build-s390x"
fi
echo "== tests: all passed [${SECONDS} s]"
