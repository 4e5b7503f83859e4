#!/usr/bin/env bash
# --version of every tool: "TOOL (pvdump) VERSION (git COMMIT)" (then a line
# "AES-256-XTS: IMPL (...)"), VERSION from
# project(VERSION), COMMIT the source tree's HEAD when built from git; the man
# pages carry the same version.
source "$(dirname "$0")/lib.bash"
commit=""
if command -v git >/dev/null && git -C "$src" rev-parse HEAD >/dev/null 2>&1; then
    commit=$(git -C "$src" rev-parse HEAD)
fi
for t in "${tools[@]}"; do
    full=$("$build/$t" --version)
    rc=$?
    [[ $rc == 0 ]] || fail "$t --version exited $rc"
    # The second line names the AES-256-XTS implementation (format/xts.hpp).
    aes=$(sed -n 2p <<<"$full")
    [[ $aes =~ ^AES-256-XTS:\ (openssl|vaes-avx2|vaes-avx512)\  ]] || fail "$t --version line 2 is '$aes', expected 'AES-256-XTS: IMPL (...)'"
    out=$(head -n 1 <<<"$full")
    if [[ -n $commit ]]; then
        re="^$t \(pvdump\) ${PVDUMP_VERSION//./\\.} \(git ([0-9a-f]{12})(-dirty)?\)$"
        if [[ $out =~ $re ]]; then
            [[ $commit == "${BASH_REMATCH[1]}"* ]] || fail "$t --version names commit ${BASH_REMATCH[1]}, HEAD is $commit (rebuild?)"
        else
            fail "$t --version printed '$out', expected '$t (pvdump) $PVDUMP_VERSION (git ${commit:0:12})'"
        fi
    else
        [[ $out == "$t (pvdump) $PVDUMP_VERSION" ]] || fail "$t --version printed '$out' (not a git checkout)"
    fi
    [[ $("$build/$t" -V) == "$full" ]] || fail "$t -V differs from --version"
    grep -q "^\.TH .* \"pvdump $PVDUMP_VERSION\"" "$build/man/$t.1" || fail "build/man/$t.1: .TH does not name pvdump $PVDUMP_VERSION"
done
echo "version $PVDUMP_VERSION, commit ${commit:-none}"
finish
