# Shared by the CLI tests (sourced, not run): a scratch dir $T under the build
# dir, removed on exit, and the check/expect/finish helpers.
# The sourcing script sets B (build dir) and NAME (for the scratch dir) first.
T=$(mktemp -d "$B/tmp-cli-$NAME-XXXXXX")
KEYS=$B/test-keys  # tests/data's keys, mode 0600 (copied at configure time)
trap 'rm -rf "$T"' EXIT
fails=0
passes=0
check() {  # check WHAT EXPECTED_RC ACTUAL_RC
    if [ "$2" != "$3" ]; then echo "FAIL: $1: exit $3, expected $2"; fails=$((fails + 1)); else echo "ok: $1"; passes=$((passes + 1)); fi
}
expect() {  # expect WHAT CONDITION...
    local what=$1; shift
    if "$@"; then echo "ok: $what"; passes=$((passes + 1)); else echo "FAIL: $what"; fails=$((fails + 1)); fi
}
finish() {
    echo "$NAME: $passes passed, $fails failed"
    exit $((fails > 0))
}
