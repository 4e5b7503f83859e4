#!/usr/bin/env bash
# pvinspect from the shell: every command's exit code on every vector, usage
# errors, and that the one-line error goes to stderr while stdout keeps the report.
# Usage: inspect_exit_codes.sh BUILD_DIR TEST_DATA_DIR
set -u
B=$1
D=$2
P=$B/pvinspect
NAME=pvinspect
# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

"$P" --help >"$T/help" 2>&1; check "--help" 0 $?
expect "--help lists the commands" grep -q "dmesg" "$T/help"
expect "--help lists the exit codes" grep -q "^Exit codes:" "$T/help"
"$P" >/dev/null 2>"$T/err"; check "no command is a usage error" 2 $?
"$P" info >/dev/null 2>"$T/err"; check "info without DUMP" 2 $?
"$P" verify "$D/basic.pvdump" >/dev/null 2>"$T/err"; check "verify without --key" 2 $?
"$P" info "$T/nope" >/dev/null 2>"$T/err"; check "info on a missing file" 3 $?
expect "missing file: one line on stderr" test "$(wc -l <"$T/err")" = 1

# info: every vector but the truncated one is readable without a key.
for v in basic overlap-osii corrupt-compl-tag corrupt-cpu-tag corrupt-meta-short corrupt-state-reserved corrupt-state-zero-shared; do
    "$P" info "$D/$v.pvdump" >"$T/out" 2>"$T/err"; check "info $v" 0 $?
    expect "info $v: nothing on stderr" test ! -s "$T/err"
done
"$P" info "$D/corrupt-truncate.pvdump" >"$T/out" 2>"$T/err"; check "info corrupt-truncate" 4 $?
expect "truncated: stdout still has the report" grep -q "cut short" "$T/out"
expect "truncated: the error on stderr" grep -q "^pvinspect: error: .*runs past end of file" "$T/err"

# verify: 0 clean (notes allowed), 5 auth, 6 errors, 4 format.
while read -r v rc; do
    "$P" verify "$D/$v.pvdump" --key "$KEYS/cck.bin" >"$T/out" 2>"$T/err"; check "verify $v" "$rc" $?
done <<'LIST'
basic 0
overlap-osii 0
corrupt-compl-tag 5
corrupt-cpu-tag 5
corrupt-meta-short 6
corrupt-state-reserved 6
corrupt-state-zero-shared 6
corrupt-truncate 4
LIST
"$P" verify "$D/corrupt-state-reserved.pvdump" --key "$KEYS/cck.bin" >"$T/out" 2>&1
expect "verify names the page 0x91000" grep -q "^error   state-invalid  *0x91000 " "$T/out"
expect "verify ends with a summary line" sh -c "tail -1 '$T/out' | grep -q '^verify: errors: 1 error'"
"$P" verify "$D/basic.pvdump" --key "$KEYS/wrong-cck.bin" >/dev/null 2>"$T/err"; check "verify with the wrong key" 5 $?

# cpus and dmesg.
"$P" cpus "$D/overlap-osii.pvdump" --key "$KEYS/cck.bin" >"$T/out" 2>"$T/err"; check "cpus overlap-osii" 0 $?
expect "cpus marks CPU 1 has_osii" grep -q "^CPU 1: has_osii set" "$T/out"
"$P" cpus "$D/basic.pvdump" >/dev/null 2>"$T/err"; check "cpus on a PV dump without --key" 2 $?
"$P" dmesg "$D/basic.pvdump" --key "$KEYS/cck.bin" >"$T/out" 2>"$T/err"; check "dmesg without VMCOREINFO" 4 $?
expect "dmesg: nothing on stdout when it fails" test ! -s "$T/out"

# --json documents, also on failure.
"$P" info --json "$D/basic.pvdump" >"$T/out" 2>/dev/null; check "info --json" 0 $?
expect "info --json is a JSON object" sh -c "head -c1 '$T/out' | grep -q '{'"
"$P" verify --json "$D/corrupt-compl-tag.pvdump" --key "$KEYS/cck.bin" >"$T/out" 2>/dev/null; check "verify --json auth failure" 5 $?
expect "the failure is a JSON error document" grep -q '"error": {' "$T/out"
if command -v python3 >/dev/null; then
    for f in info verify cpus; do
        "$P" $f --json "$D/overlap-osii.pvdump" $( [ $f = info ] || echo --key "$KEYS/cck.bin") >"$T/$f.json" 2>/dev/null
        expect "$f --json parses" python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$T/$f.json"
    done
fi

finish
