#!/usr/bin/env bash
# The reference: Debian's makedumpfile for s390x (under qemu-user) run on the
# decrypted real guest ELF, against pvdecrypt --format kdump of the sealed guest at
# the same dump level (-d 1 and -d 31): the same pages exist and are kept, and every
# kept page has the same bytes (tests/tools/kdump_compare.cpp). makedumpfile writes
# zlib (-c); each of our compressions is compared; and our flattened output (-F)
# goes through makedumpfile -R. makedumpfile is made here, not kept as a fixture:
# the test needs the network once (apt-get download), and SKIPs without it.
B=$1 S=$2
. "$S/tests/kdump/lib.bash"
need_consumers
for level in 1 31; do
  s390x "$ROOT/usr/bin/makedumpfile" -d $level -c "$T/guest.elf" "$T/mdf-d$level.kdump" >"$T/mdf.log" 2>&1 ||
    { tail -5 "$T/mdf.log"; die "makedumpfile -d $level failed"; }
  grep -E "^(Excluded|Original|Total)" "$T/mdf.log" || true
  for c in zstd lzo snappy zlib none; do
    ours $level $c "$T/ours.kdump" || die "pvdecrypt --format kdump -d $level --compress $c failed"
    "$B/tests/kdump_compare" "$T/mdf-d$level.kdump" "$T/ours.kdump" || die "-d $level --compress $c differs from makedumpfile"
    echo "ok: -d $level --compress $c: the same pages as makedumpfile -d $level"
  done
done
# The flattened format (-F, what `-o -` carries): makedumpfile -R restores the file.
"$B/pvdecrypt" "$T/guest.pvdump" -k "$T/key.cck" --format kdump -d 31 -F -o - -q >"$T/flat" || die "pvdecrypt -F -o - failed"
s390x "$ROOT/usr/bin/makedumpfile" -R "$T/restored.kdump" <"$T/flat" >"$T/mdf.log" 2>&1 ||
  { tail -5 "$T/mdf.log"; die "makedumpfile -R refused our flattened output"; }
"$B/tests/kdump_compare" "$T/mdf-d31.kdump" "$T/restored.kdump" || die "-F restored by makedumpfile -R differs from makedumpfile -d 31"
echo "ok: -F output restored by makedumpfile -R: the same pages as makedumpfile -d 31"
