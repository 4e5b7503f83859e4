# Shared by tests/install/*.sh: usage "NAME.sh BUILD_DIR SOURCE_DIR"; the
# environment comes from cmake/pvdump_install.cmake (PVDUMP_VERSION, ...).
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
tools=(pvdecrypt pvseal pvinspect)
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
skip() { echo "SKIPPED: $*"; exit 77; }
finish() {
    if ((failures)); then echo "$failures failure(s)"; exit 1; fi
    echo "ok"
}
scratch=$(mktemp -d "${TMPDIR:-/tmp}/pvdump-install-test.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
# The options a --help text lists: -k, --key, ... one per line.
help_options() { grep -oE '^  -[^ ]+' | sed 's/^ *//' | tr ',' '\n'; }
# The subcommands a --help text lists.
help_subcommands() { sed -n '/^Subcommands:/,/^$/s/^  \([a-z][a-z0-9-]*\) .*/\1/p'; }
# grep -q over the whole of stdin: `cmd | grep -q` fails under pipefail when grep
# exits at its first match before cmd has written everything (SIGPIPE).
contains() {
    local text
    text=$(cat)
    grep -q "$@" <<<"$text"
}
