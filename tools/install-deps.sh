#!/usr/bin/env bash
# Installs the Debian packages pvdump needs, only those that are missing.
# Usage: tools/install-deps.sh [build|test]   (test = build + what the tests run)
set -euo pipefail

build_pkgs=(g++ cmake make pkg-config libssl-dev libelf-dev libcli11-dev doctest-dev nlohmann-json3-dev zstd libfuse3-dev fuse3)
test_pkgs=(gdb-multiarch elfutils binutils python3-jsonschema)
# The installed-product tests (tests/install/): man pages, completions, the .deb.
test_pkgs+=(python3 mandoc groff-base man-db bash-completion dpkg-dev lintian file ninja-build)

want=("${build_pkgs[@]}")
if [[ "${1:-build}" == test ]]; then
  want+=("${test_pkgs[@]}")
fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "pvdump: installing missing packages: ${missing[*]}" >&2
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "pvdump: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
