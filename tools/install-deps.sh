#!/usr/bin/env bash
# Installs the Debian packages pvdump needs, only those that are missing.
# Usage: tools/install-deps.sh [build|test|s390x]   (test = build + what the tests run;
#        s390x = the cross compilers and qemu-user for tests/run-s390x.sh, and dpkg's
#        s390x architecture so that apt-get download can fetch the s390x libraries)
set -euo pipefail

build_pkgs=(g++ cmake make pkg-config libssl-dev libelf-dev libcli11-dev doctest-dev nlohmann-json3-dev zstd libfuse3-dev fuse3)
test_pkgs=(gdb-multiarch elfutils binutils python3-jsonschema)
build_pkgs+=(libzstd-dev liblzo2-dev libsnappy-dev zlib1g-dev)  # kdump-compressed output
# The installed-product tests (tests/install/): man pages, completions, the .deb.
test_pkgs+=(python3 mandoc groff-base man-db bash-completion dpkg-dev lintian file ninja-build)
test_pkgs+=(python3-libkdumpfile qemu-user-static)  # kdump readers; s390x makedumpfile/crash
test_pkgs+=(clang libclang-rt-14-dev)  # the sanitizer + libFuzzer build (tests/run.sh steps 2 and 3)

want=("${build_pkgs[@]}")
if [[ "${1:-build}" == test ]]; then
  want+=("${test_pkgs[@]}")
fi
s390x_pkgs=(gcc-s390x-linux-gnu g++-s390x-linux-gnu qemu-user-static)
add_arch=0
if [[ "${1:-build}" == s390x ]]; then
  want=("${s390x_pkgs[@]}")
  dpkg --print-foreign-architectures | grep -qx s390x || add_arch=1
fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 && $add_arch -eq 0 ]] && exit 0

((add_arch)) && echo "pvdump: adding dpkg's s390x architecture (for the s390x libraries of tests/run-s390x.sh)" >&2
[[ ${#missing[@]} -eq 0 ]] || echo "pvdump: installing missing packages: ${missing[*]}" >&2
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "pvdump: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
if ((add_arch)); then
  "${sudo[@]}" dpkg --add-architecture s390x
fi
"${sudo[@]}" apt-get update -qq
[[ ${#missing[@]} -eq 0 ]] || "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
