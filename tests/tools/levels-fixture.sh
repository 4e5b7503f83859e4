#!/bin/bash
# Remakes tests/data/levels/makedumpfile-d*.txt: what Debian 12's makedumpfile
# (1.7.2, s390x, run under qemu-user) excludes from the real example guest at
# dump levels 2, 4, 8, 16 and 30 (= 2+4+8+16).
#
# usage: tests/tools/levels-fixture.sh ROOT [OUTDIR]
#   ROOT    a directory with makedumpfile:s390x and its libraries unpacked
#           (tests/tools/s390x-consumers.sh ROOT makes one; or apt-get download
#           makedumpfile:s390x libc6:s390x libdw1:s390x libelf1:s390x
#           liblzo2-2:s390x zlib1g:s390x libbz2-1.0:s390x liblzma5:s390x
#           libzstd1:s390x and dpkg -x each into ROOT)
#   OUTDIR  where to write (default tests/data/levels)
# Needs qemu-s390x-static, python3, zstd. The guest file as QEMU wrote it has
# its program headers after the section headers, which makedumpfile cannot
# read (it expects them right after the ELF header) and no VMCOREINFO note:
# tests/tools/relayout-vmcore.py copies it with the program headers first and
# the VMCOREINFO (found through the lowcore) as a note; memory is unchanged.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
root=${1:?usage: levels-fixture.sh ROOT [OUTDIR]}
out=${2:-$src/tests/data/levels}
mdf=$root/usr/bin/makedumpfile
[ -x "$mdf" ] || { echo "no $mdf" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
zstd -dcq "$src/examples/s390x-debian12-guest.vmcore.zst" > "$tmp/guest.vmcore"
python3 "$here/relayout-vmcore.py" "$tmp/guest.vmcore" "$tmp/guest-mdf.vmcore"
rm "$tmp/guest.vmcore"
version=$(qemu-s390x-static -L "$root" "$mdf" -v 2>&1 | head -1)
mkdir -p "$out"
for d in 2 4 8 16 30; do
    qemu-s390x-static -L "$root" "$mdf" -d "$d" --message-level 31 "$tmp/guest-mdf.vmcore" "$tmp/d$d.kdump" \
        > "$tmp/d$d.log" 2>&1 || { cat "$tmp/d$d.log" >&2; exit 1; }
    {
        echo "# $version, -d $d, on examples/s390x-debian12-guest.vmcore.zst (made by tests/tools/levels-fixture.sh)"
        python3 "$here/kdump-excluded.py" "$tmp/d$d.kdump" "$tmp/d$d.log"
    } > "$out/makedumpfile-d$d.txt"
    rm "$tmp/d$d.kdump"
    head -3 "$out/makedumpfile-d$d.txt" | tail -2
done
