#!/usr/bin/env bash
# crash for s390x (Debian's crash:s390x under qemu-user) runs `sys` and `log` on
# pvdecrypt's kdump file of the real guest and shows the guest's marker line. Needs
# the guest kernel's debug vmlinux in $ROOT/vmlinux (tests/tools/s390x-consumers.sh
# --vmlinux ROOT fetches it: about 430 MB); SKIPPED without it.
B=$1 S=$2
. "$S/tests/kdump/lib.bash"
need_consumers
[[ -s $ROOT/vmlinux ]] || skip "no debug vmlinux at $ROOT/vmlinux (tests/tools/s390x-consumers.sh --vmlinux $ROOT fetches linux-image-6.1.0-50-s390x-dbg, ~430 MB)"
ours 1 zstd "$T/ours.kdump" || die "pvdecrypt --format kdump failed"
printf 'sys\nlog\nquit\n' | timeout 500 qemu-s390x-static -L "$ROOT" "$ROOT/usr/bin/crash" -s "$ROOT/vmlinux" "$T/ours.kdump" >"$T/crash.txt" 2>&1
rc=$?
sed -n '1,20p' "$T/crash.txt"
grep 'PVDUMP-TEST-MARKER' "$T/crash.txt" || { tail -20 "$T/crash.txt"; die "crash (exit $rc) did not show the marker line"; }
grep -q 'DUMPFILE: .*ours.kdump' "$T/crash.txt" || die "crash's sys shows no DUMPFILE line"
grep -q 'RELEASE: 6.1.0-50-s390x' "$T/crash.txt" || die "crash's sys shows no RELEASE line"
echo "ok: crash sys and log on the kdump file"
