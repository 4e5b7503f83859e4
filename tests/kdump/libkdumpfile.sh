#!/usr/bin/env bash
# python3-libkdumpfile (Debian) opens pvdecrypt's kdump file of the real guest and
# reads the same bytes as the decrypted ELF at 1,000 random guest addresses.
B=$1 S=$2
. "$S/tests/kdump/lib.bash"
PY=/usr/bin/python3
$PY -c "import kdumpfile" 2>/dev/null || skip "python3-libkdumpfile is not installed (import kdumpfile fails for $PY)"
for c in zstd lzo; do
  ours 1 $c "$T/ours.kdump" || die "pvdecrypt --format kdump --compress $c failed"
  $PY "$S/tests/kdump/libkdumpfile_read.py" "$T/ours.kdump" "$T/guest.elf" 1000 || die "libkdumpfile read differs ($c)"
done
