#!/usr/bin/env bash
# pvseal from the shell: exit codes, one-line messages, files left behind.
# Usage: pvseal.sh BUILD_DIR TEST_DATA_DIR
set -u
B=$1
D=$2
SEAL=$B/pvseal
DEC=$B/pvdecrypt
NAME=pvseal
# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

"$SEAL" --help >"$T/help" 2>&1; check "--help" 0 $?
expect "--help names --generate" grep -q -- "--generate" "$T/help"
expect "--help lists the exit codes" grep -q "^Exit codes:" "$T/help"
"$SEAL" --version >"$T/ver" 2>&1; check "--version" 0 $?
expect "--version names pvseal" grep -q "^pvseal" "$T/ver"

"$SEAL" --make-cck "$T/k.cck" 2>"$T/err"; check "--make-cck" 0 $?
expect "new CCK is 32 bytes, mode 600" test "$(stat -c '%s %a' "$T/k.cck")" = "32 600"
cp "$T/k.cck" "$T/k.orig"
"$SEAL" --make-cck "$T/k.cck" 2>"$T/err"; check "--make-cck refuses to replace a key" 8 $?
expect "the key is unchanged" cmp -s "$T/k.cck" "$T/k.orig"
expect "one line 'pvseal: error: ...'" test "$(wc -l <"$T/err")" = 1 -a "$(cut -c1-15 "$T/err")" = "pvseal: error: "

"$SEAL" --generate 8M --cck "$T/k.cck" -o "$T/g.pvdump" --deterministic cli 2>"$T/err"; check "seal a generated guest" 0 $?
expect "summary line" grep -q "^pvseal: wrote '.*g.pvdump': PV dump of generated guest" "$T/err"
expect "dump is mode 600" test "$(stat -c %a "$T/g.pvdump")" = 600
"$DEC" "$T/g.pvdump" -k "$T/k.cck" -o "$T/g.vmcore" 2>/dev/null; check "pvdecrypt opens it" 0 $?
"$SEAL" --generate 8M --cck "$T/k.cck" -o "$T/g.pvdump" 2>"$T/err"; check "existing output without --force" 8 $?
"$SEAL" --generate 8M --cck "$T/k.cck" -o - --deterministic cli >"$T/stream" 2>/dev/null; check "stream to stdout" 0 $?
expect "stream == file (deterministic)" cmp -s "$T/stream" "$T/g.pvdump"

"$SEAL" --guest "$D/basic.plain" --cpus 2 --cck "$KEYS/cck.bin" -o "$T/b.pvdump" --quiet 2>"$T/err"; check "seal basic.plain" 0 $?
expect "--quiet prints nothing" test ! -s "$T/err"
expect "basic layout size" test "$(stat -c %s "$T/b.pvdump")" = 4217099
"$SEAL" --guest "$T/g.vmcore" --cck "$T/k.cck" -o "$T/r.pvdump" --quiet; check "seal a plain vmcore" 0 $?
"$DEC" "$T/r.pvdump" -k "$T/k.cck" -o "$T/r.vmcore" 2>/dev/null; check "decrypt the resealed vmcore" 0 $?
expect "reseal + decrypt gives the same vmcore" cmp -s "$T/r.vmcore" "$T/g.vmcore"
"$SEAL" --guest "$T/g.vmcore" --cpus 2 --cck "$T/k.cck" -o "$T/x" 2>/dev/null; check "--cpus with a vmcore" 2 $?

"$SEAL" --generate 8M --cck "$T/k.cck" -o "$T/d.pvdump" --dump-disallowed 2>"$T/err"; check "--dump-disallowed" 0 $?
expect "says dumping is disallowed" grep -q "dumping disallowed" "$T/err"
"$DEC" "$T/d.pvdump" -k "$T/k.cck" -o "$T/d.vmcore" 2>/dev/null; check "pvdecrypt refuses a dump without PV sections" 4 $?

"$SEAL" --generate 8Q --cck "$T/k.cck" -o "$T/x" 2>/dev/null; check "bad size" 2 $?
"$SEAL" --cck "$T/k.cck" -o "$T/x" 2>/dev/null; check "no guest" 2 $?
"$SEAL" --guest "$T/nope" --cck "$T/k.cck" -o "$T/x" 2>/dev/null; check "missing guest file" 3 $?
"$SEAL" --generate 8M --cck "$D/basic.plain" -o "$T/x" 2>/dev/null; check "CCK of the wrong size" 2 $?
"$SEAL" --generate 8M --cck "$T/k.cck" -o "$T/x" --osii-cpu 2 2>/dev/null; check "--osii-cpu out of range" 2 $?
"$SEAL" --generate 8M --block 0:4M --cck "$T/k.cck" -o "$T/x" 2>/dev/null; check "blocks not adding up" 2 $?
expect "no output or temporaries left by failures" test -z "$(ls -A "$T" | grep -E '^(x|\..*tmp)')"

finish
