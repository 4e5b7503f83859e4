#!/usr/bin/env bash
# pvdecrypt from the shell, on the golden vectors: what a user sees.
# Usage: pvdecrypt.sh BUILD_DIR TEST_DATA_DIR
set -u
B=$1
D=$2
DEC=$B/pvdecrypt
NAME=pvdecrypt
# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"
install -m 600 "$D/cck.bin" "$T/cck"
install -m 600 "$D/wrong-cck.bin" "$T/wrong"

"$DEC" --help >"$T/help" 2>&1; check "--help" 0 $?
expect "--help shows the usage" grep -q -- "--key" "$T/help"
expect "--help lists the exit codes" grep -q "^Exit codes:" "$T/help"
"$DEC" --version >"$T/ver" 2>&1; check "--version" 0 $?
expect "--version names pvdecrypt" grep -q "^pvdecrypt (pvdump) " "$T/ver"
"$DEC" "$D/basic.pvdump" -o "$T/x" 2>"$T/err"; check "missing --key is a usage error" 2 $?
expect "usage error is one line" test "$(wc -l <"$T/err")" = 1

"$DEC" "$D/basic.pvdump" -k "$T/cck" -o "$T/basic.vmcore" 2>"$T/err"; check "decrypt basic" 0 $?
expect "summary line" grep -q "^pvdecrypt: wrote '.*basic.vmcore': 2 CPUs, 4 MiB of memory in 1 block (767 encrypted, 107 shared, 150 zero pages)" "$T/err"
expect "no key-readable warning for a 0600 key" sh -c "! grep -q 'readable by group' '$T/err'"
expect "vmcore is mode 600" test "$(stat -c %a "$T/basic.vmcore")" = 600
readelf -n "$T/basic.vmcore" >"$T/re" 2>"$T/re.err"; check "readelf -n" 0 $?
expect "readelf: no warnings" test ! -s "$T/re.err"
expect "readelf lists 2 NT_PRSTATUS" test "$(grep -c NT_PRSTATUS "$T/re")" = 2
expect "readelf lists NT_S390_GS_CB" grep -q NT_S390_GS_CB "$T/re"
eu-readelf -n "$T/basic.vmcore" >"$T/eu" 2>"$T/eu.err"; check "eu-readelf -n" 0 $?
expect "eu-readelf: no complaints" test ! -s "$T/eu.err"
expect "eu-readelf lists PRPSINFO" grep -q PRPSINFO "$T/eu"
expect "eu-readelf shows CPU 0's PSW" grep -q "pswa: *0x0000001557704780" "$T/eu"

"$DEC" "$D/overlap-osii.pvdump" -k "$T/cck" -o "$T/osii.vmcore" 2>"$T/err"; check "decrypt overlap-osii" 0 $?
expect "has_osii warning names CPU 1" grep -q "^pvdecrypt: warning: CPU 1 .*has_osii" "$T/err"
expect "only CPU 1 is flagged" test "$(grep -c has_osii "$T/err")" = 1

"$DEC" "$D/basic.pvdump" -k "$T/wrong" -o "$T/w.vmcore" 2>"$T/err"; check "wrong CCK" 5 $?
expect "wrong CCK: one line naming pv_compl" grep -q "^pvdecrypt: error: section 'pv_compl': authentication" "$T/err"
expect "wrong CCK: no output" test ! -e "$T/w.vmcore"

while read -r name rc text; do
    before=$(sha256sum <"$D/$name.pvdump")
    "$DEC" "$D/$name.pvdump" -k "$T/cck" -o "$T/$name.vmcore" 2>"$T/err"; check "$name" "$rc" $?
    expect "$name: one line" test "$(wc -l <"$T/err")" = 1
    expect "$name: says '$text'" grep -q "$text" "$T/err"
    expect "$name: input unchanged" test "$(sha256sum <"$D/$name.pvdump")" = "$before"
done <<'LIST'
corrupt-compl-tag 5 authentication of the completion data failed
corrupt-cpu-tag 5 CPU 0: authentication of the encrypted CPU state
corrupt-meta-short 6 section 'pv_mem_meta' is 0x0 bytes
corrupt-state-reserved 6 page at guest address 0x91000 has an invalid page state
corrupt-state-zero-shared 6 zero and shared flags both set
corrupt-truncate 4 runs past end of file
LIST
expect "no output or temporary file left by any failure" test "$(find "$T" -name '*.vmcore*' ! -name basic.vmcore ! -name osii.vmcore | wc -l)" = 0

finish
