#!/usr/bin/env bash
# The man pages: every option each tool's --help lists (pvinspect: every
# command's) is documented in an option tag of the page (.TP), every command
# too, no page documents an option the tool does not have, the sections the
# project requires are there, and each page renders without warnings
# (mandoc -T lint, groff -ww, man -l).
source "$(dirname "$0")/lib.bash"
have_mandoc=$(command -v mandoc || true)
have_groff=$(command -v groff || true)
[[ -n $have_mandoc || -n $have_groff ]] || skip "neither mandoc nor groff is installed"

# The tag lines of .TP items (the line after .TP), with roff escapes removed.
tags() { awk 'tp { print; tp = 0 } /^\.TP/ { tp = 1 }' "$1" | sed -e 's/\\f[BIRP]//g' -e 's/\\-/-/g' -e 's/\\(..//g'; }
has_token() { grep -qE -- "(^|[^A-Za-z0-9-])$1([^A-Za-z0-9-]|$)"; }

for t in "${tools[@]}"; do
    page=$build/man/$t.1
    [[ -f $page ]] || { fail "$page was not built"; continue; }
    tagtext=$(tags "$page")
    cmds=("")
    mapfile -t subs < <("$build/$t" --help | help_subcommands)
    cmds+=("${subs[@]}")
    all_opts=""
    for c in "${cmds[@]}"; do
        if [[ -n $c ]]; then
            has_token "$c" <<<"$tagtext" || fail "$t: the command '$c' is in --help but has no .TP entry in man/$t.1"
        fi
        while read -r o; do
            all_opts+=" $o "
            has_token "$o" <<<"$tagtext" || fail "$t ${c:+$c }$o is in --help but not documented in man/$t.1 (add a .TP entry)"
        done < <("$build/$t" ${c:+"$c"} --help | help_options)
    done
    # The other way round: options the page documents must exist.
    while read -r o; do
        [[ $all_opts == *" $o "* ]] || fail "man/$t.1 documents $o, which no --help of $t lists"
    done < <(grep -oE -- '(^|[ ,(])--?[a-zA-Z][a-zA-Z0-9-]*' <<<"$tagtext" | sed 's/^[ ,(]//' | sort -u)
    for s in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" FILES SECURITY EXAMPLES "SEE ALSO"; do
        grep -q "^\.SH \"\?$s\"\?$" "$page" || fail "man/$t.1 has no $s section"
    done
    for s in zgetdump crash makedumpfile; do
        sed -n '/^\.SH "\?SEE ALSO/,$p' "$page" | contains "^\.BR $s (" || fail "man/$t.1: SEE ALSO does not name $s"
    done
    # Every exit code --help lists that applies to the tool is in EXIT STATUS.
    for code in 0 1 2 3 4 130; do
        sed -n '/^\.SH "\?EXIT STATUS/,/^\.SH/p' "$page" | contains -E "^\.BR? $code( |$)" || fail "man/$t.1: exit code $code is not in EXIT STATUS"
    done

    if [[ -n $have_mandoc ]]; then
        out=$(mandoc -T lint -W warning "$page" 2>&1) || true
        [[ -z $out ]] || fail "mandoc -T lint: $out"
    fi
    if [[ -n $have_groff ]]; then
        out=$(groff -ww -z -man "$page" 2>&1) || true
        [[ -z $out ]] || fail "groff -ww: $out"
    fi
    if command -v man >/dev/null; then
        out=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null) || fail "man -l $page failed: $out"
        [[ -z $out ]] || fail "man -l $page: $out"
        MANWIDTH=80 man -l "$page" 2>/dev/null | contains "^NAME" || fail "man -l $page printed no NAME section"
    fi
    echo "$t: $(wc -w <<<"$all_opts") options documented"
done
finish
