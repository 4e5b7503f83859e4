# Shared by the kdump consumer tests (sourced): B (build dir), S (source dir) are
# set by the caller. Gives a scratch dir $T (removed on exit), the real guest sealed
# with the example key and decrypted to $T/guest.elf, and helpers.
set -uo pipefail
T=$(mktemp -d "$B/tmp-kdump-XXXXXX")
trap 'rm -rf "$T"' EXIT
GUEST=$B/realguest.vmcore
ROOT=${PVDUMP_S390X_ROOT:-/var/tmp/pvdump-s390x}
skip() { echo "SKIPPED: $*"; exit 77; }
die() { echo "FAIL: $*"; exit 1; }
[[ -s $GUEST ]] || skip "$GUEST is missing (the realguest fixture unpacks it; needs zstd)"
install -m 0600 "$S/examples/example.cck" "$T/key.cck"
"$B/pvseal" --guest "$GUEST" --cck "$T/key.cck" -o "$T/guest.pvdump" -q || die "pvseal failed"
"$B/pvdecrypt" "$T/guest.pvdump" -k "$T/key.cck" -o "$T/guest.elf" -q || die "pvdecrypt (elf) failed"
# ours LEVEL COMPRESS OUT: pvdecrypt --format kdump
ours() { "$B/pvdecrypt" "$T/guest.pvdump" -k "$T/key.cck" --format kdump -d "$1" --compress "$2" -o "$3" --force -q; }
# need_consumers: the s390x root with makedumpfile and crash (SKIP when it cannot be made).
need_consumers() {
  command -v qemu-s390x-static >/dev/null || skip "qemu-s390x-static is not installed (Debian: qemu-user-static)"
  "$S/tests/tools/s390x-consumers.sh" "$ROOT" >"$T/consumers.log" 2>&1
  case $? in
    0) ;;
    77) skip "$(grep SKIPPED "$T/consumers.log" | tail -1)";;
    *) cat "$T/consumers.log"; die "tests/tools/s390x-consumers.sh $ROOT failed";;
  esac
}
s390x() { qemu-s390x-static -L "$ROOT" "$@"; }
