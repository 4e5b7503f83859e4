#!/usr/bin/env bash
# The test suite on a big-endian host: cross-builds pvdump for s390x (IBM Z) with
# Debian's gcc/g++-s390x-linux-gnu and runs its CTest suites under qemu-user.
#   1. installs the cross compilers and qemu-user-static when missing, and adds
#      dpkg's s390x architecture (tools/install-deps.sh s390x),
#   2. fetches Debian's s390x builds of the libraries (apt-get download PKG:s390x)
#      and unpacks them (dpkg -x) into BUILD_DIR/sysroot: no host package changes,
#   3. configures with cmake/toolchain-s390x.cmake, builds, runs ctest; the tools
#      and tests run under qemu-s390x-static.
# Usage: tests/run-s390x.sh [BUILD_DIR]     (default: build-s390x)
# PVDUMP_NATIVE_BUILD=DIR: a native build whose golden-vector vmcores the s390x
# ones are compared with byte for byte (default: build, when it has pvdecrypt).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-s390x}
mkdir -p "$build"
build=$(cd "$build" && pwd)
jobs=$(nproc)
"$root/tools/install-deps.sh" s390x

# Debian packages unpacked into the sysroot: every library the build links (its
# -dev package) and each runtime library those need, libc and libstdc++ aside
# (they come with the cross compiler). A new dependency goes here. Header-only
# packages (libcli11-dev, doctest-dev, nlohmann-json3-dev) are the host's.
sysroot_pkgs=(
  libssl-dev libssl3
  libelf-dev libelf1 zlib1g-dev zlib1g
  libzstd-dev libzstd1
  liblzo2-dev liblzo2-2
  libsnappy-dev libsnappy1v5
  libfuse3-dev libfuse3-3
  libgcrypt20-dev libgcrypt20 libgpg-error-dev libgpg-error0
)

sysroot=$build/sysroot
debs=$build/debs
stamp=$sysroot/.packages
want=$(printf '%s:s390x\n' "${sysroot_pkgs[@]}")
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  echo "== s390x: fetching the s390x libraries into $sysroot [at ${SECONDS} s]"
  rm -rf "$sysroot" "$debs"
  mkdir -p "$debs"
  # shellcheck disable=SC2046
  if ! (cd "$debs" && apt-get download -q=2 $(printf '%s:s390x ' "${sysroot_pkgs[@]}")); then
    echo "pvdump: apt-get download failed; updating the package lists once" >&2
    sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    # shellcheck disable=SC2046
    (cd "$debs" && apt-get download -q=2 $(printf '%s:s390x ' "${sysroot_pkgs[@]}"))
  fi
  mkdir -p "$sysroot.tmp"
  for d in "$debs"/*.deb; do dpkg -x "$d" "$sysroot.tmp"; done
  # Absolute symlinks in the packages (libz.so -> /lib/...) point at the host:
  # make them relative to the sysroot.
  while IFS= read -r -d '' l; do
    t=$(readlink "$l")
    [[ $t == /* ]] && ln -sfn "$sysroot$t" "$l"
  done < <(find "$sysroot.tmp" -type l -print0)
  mv "$sysroot.tmp" "$sysroot"
  printf '%s' "$want" >"$stamp"
  rm -rf "$debs"
fi

echo "== s390x: cross build [at ${SECONDS} s]"
native=${PVDUMP_NATIVE_BUILD:-$root/build}
gen=()
[[ ! -f $build/CMakeCache.txt ]] && command -v ninja >/dev/null && gen=(-G Ninja)
# Release at -O2 without -g: a shorter build; the binaries only run the tests.
cmake -S "$root" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" -DPVDUMP_WERROR=ON \
  -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchain-s390x.cmake" -DPVDUMP_S390X_SYSROOT="$sysroot" \
  -DPVDUMP_NATIVE_BUILD="$native" >/dev/null
cmake --build "$build" -j"$jobs"

echo "== s390x: tests under $(basename "$(command -v qemu-s390x-static)") [at ${SECONDS} s]"
# The 'consumer' tests (makedumpfile, crash, libkdumpfile on our output) run in the
# native build; here cross_same_as_native checks that the s390x tools write the
# same bytes as the native ones, kdump files included.
ctest --test-dir "$build" --output-on-failure -j"$jobs" --label-exclude consumer
echo "(the 'consumer' tests ran in the native build: cross_same_as_native compares this build's output with its)"
