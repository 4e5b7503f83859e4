#!/usr/bin/env bash
# Builds (idempotently) a root holding Debian's s390x makedumpfile and crash plus the
# s390x shared libraries they link, so both run on this machine under qemu-user:
#   qemu-s390x-static -L ROOT ROOT/usr/bin/makedumpfile ...
#   qemu-s390x-static -L ROOT ROOT/usr/bin/crash ...
# Usage: tests/tools/s390x-consumers.sh [--vmlinux] ROOT
#   --vmlinux  also fetch linux-image-6.1.0-50-s390x-dbg (about 430 MB download) and
#              unpack only its vmlinux to ROOT/vmlinux (the example guest's kernel).
# Needs: apt-get (with the s390x architecture added: dpkg --add-architecture s390x;
# apt-get update), dpkg-deb, readelf, qemu-s390x-static.
# Exit codes: 0 ready; 77 a prerequisite (tool, network, package) is missing (the
# reason is printed; tests treat 77 as SKIPPED); 1 anything else.
# Prints the root's path on the last line of stdout.
set -euo pipefail

want_vmlinux=0
if [[ ${1:-} == --vmlinux ]]; then want_vmlinux=1; shift; fi
if [[ $# -ne 1 ]]; then
  echo "usage: $0 [--vmlinux] ROOT" >&2
  exit 1
fi
root=$1
kernel=6.1.0-50-s390x

skip() { echo "s390x-consumers: SKIPPED: $*" >&2; exit 77; }

for tool in apt-get dpkg-deb readelf qemu-s390x-static; do
  command -v "$tool" >/dev/null || skip "$tool is not installed"
done
dpkg --print-foreign-architectures 2>/dev/null | grep -qx s390x ||
  skip "dpkg has no s390x architecture (dpkg --add-architecture s390x && apt-get update)"

# The packages: the two tools and every s390x library they (transitively) link.
packages=(makedumpfile crash libc6 libelf1 libdw1 zlib1g libbz2-1.0 liblzma5 libzstd1
          liblzo2-2 libsnappy1v5 libgcc-s1 libstdc++6 libncursesw6 libtinfo6)

mkdir -p "$root/debs"
root=$(cd "$root" && pwd)
stamp=$root/.consumers-ready

if [[ ! -f $stamp ]]; then
  (
    cd "$root/debs"
    missing=()
    for p in "${packages[@]}"; do
      compgen -G "${p}_*_s390x.deb" >/dev/null || missing+=("$p:s390x")
    done
    if ((${#missing[@]})); then
      # apt-get download writes to the current directory; apt may be locked briefly.
      ok=0
      for _ in 1 2 3; do
        if apt-get download "${missing[@]}" >download.log 2>&1; then ok=1; break; fi
        sleep 3
      done
      ((ok)) || { tail -3 download.log >&2; exit 77; }
    fi
  ) || skip "apt-get download of the s390x packages failed (no network or no apt lists?)"
  for deb in "$root"/debs/*_s390x.deb; do
    [[ $deb == *linux-image* ]] && continue
    dpkg-deb -x "$deb" "$root"
  done
  # Every library the two binaries need must now be in the root.
  need() { readelf -d "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
  declare -A seen=()
  queue=("$root/usr/bin/makedumpfile" "$root/usr/bin/crash")
  while ((${#queue[@]})); do
    f=${queue[0]}; queue=("${queue[@]:1}")
    [[ -f $f ]] || { echo "s390x-consumers: $f is missing after unpacking" >&2; exit 1; }
    for lib in $(need "$f"); do
      [[ -n ${seen[$lib]:-} ]] && continue
      seen[$lib]=1
      path=""
      for dir in lib/s390x-linux-gnu usr/lib/s390x-linux-gnu lib lib64 usr/lib; do
        if [[ -e $root/$dir/$lib ]]; then path=$root/$dir/$lib; break; fi
      done
      [[ -n $path ]] || { echo "s390x-consumers: $lib (needed by ${f#"$root"/}) is not in the package list" >&2; exit 1; }
      queue+=("$(readlink -f "$path")")
    done
  done
  qemu-s390x-static -L "$root" "$root/usr/bin/makedumpfile" -v >/dev/null 2>&1 ||
    { echo "s390x-consumers: makedumpfile does not run under qemu-s390x-static" >&2; exit 1; }
  touch "$stamp"
fi

if ((want_vmlinux)) && [[ ! -s $root/vmlinux ]]; then
  (
    cd "$root/debs"
    if ! compgen -G "linux-image-${kernel}-dbg_*_s390x.deb" >/dev/null; then
      apt-get download "linux-image-${kernel}-dbg:s390x" >download-dbg.log 2>&1 ||
        { tail -3 download-dbg.log >&2; exit 77; }
    fi
  ) || skip "apt-get download of linux-image-${kernel}-dbg failed"
  deb=$(compgen -G "$root/debs/linux-image-${kernel}-dbg_*_s390x.deb" | head -1)
  # Unpack only the vmlinux (the package also holds every module's debug info).
  dpkg-deb --fsys-tarfile "$deb" |
    tar -xO "./usr/lib/debug/boot/vmlinux-${kernel}" >"$root/vmlinux.part"
  mv "$root/vmlinux.part" "$root/vmlinux"
fi

echo "$root"
