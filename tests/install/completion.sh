#!/usr/bin/env bash
# The bash completions (completions/pvdump.bash), sourced in bash as
# bash-completion would load them, asked through `complete -p` and by calling
# the completion function as bash does for a TAB: subcommands, every option of
# every --help, file and directory arguments, and value lists of enumerated options.
source "$(dirname "$0")/lib.bash"
PATH=$build:$PATH
bc=${PVDUMP_BASH_COMPLETION-/usr/share/bash-completion/bash_completion}
if [[ -n $bc && -f $bc ]]; then
    set +eu
    # shellcheck disable=SC1090
    source "$bc"
    set -eu
    echo "with bash-completion ($bc)"
else
    echo "without bash-completion: the plain-bash fallback"
fi
set +u
# shellcheck disable=SC1091
source "$src/completions/pvdump.bash"
set -u

for t in "${tools[@]}"; do
    spec=$(complete -p "$t" 2>&1) || fail "complete -p $t: $spec"
    [[ $spec == "complete -F _pvdump $t" ]] || fail "complete -p $t printed '$spec'"
done

# complete WORD... : what TAB offers for the last word (sorted, one per line).
complete_words() {
    COMP_WORDS=("$@")
    COMP_CWORD=$(($# - 1))
    COMP_LINE="$*"
    COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    set +eu
    _pvdump "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    set -eu
    printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort
}
expect() {  # expect "WANTED (sorted, newline-separated)" WORD...
    local want=$1 got
    shift
    got=$(complete_words "$@")
    [[ $got == "$want" ]] || fail "'$* <TAB>' offered [$(echo $got)], expected [$(echo $want)]"
}
lines() { printf '%s\n' "$@" | sort; }

# Every option of every --help, from an empty '-'.
for t in "${tools[@]}"; do
    mapfile -t subs < <("$t" --help | help_subcommands)
    cmds=("")
    ((${#subs[@]})) && cmds+=("${subs[@]}")
    for c in "${cmds[@]}"; do
        want=$("$t" ${c:+"$c"} --help | help_options | sort -u)
        expect "$want" "$t" ${c:+"$c"} -
        # A prefix narrows it (the last long option, whole).
        o=$(grep -- '^--' <<<"$want" | tail -1)
        complete_words "$t" ${c:+"$c"} "$o" | contains -x -- "$o" || fail "'$t ${c:+$c }$o<TAB>' does not offer $o"
        complete_words "$t" ${c:+"$c"} "$o" | contains -v -- "^$o" && fail "'$t ${c:+$c }$o<TAB>' offers options not starting with $o"
    done
done
expect "$(lines --progress)" pvdecrypt --pro

# pvinspect: the commands first, then the command's own options.
expect "$(lines info verify cpus dmesg)" pvinspect ""
expect "dmesg" pvinspect dm
expect "$(lines cpus)" pvinspect cp
complete_words pvinspect dmesg - | contains -x -- -t || fail "pvinspect dmesg -<TAB> lacks -t"
complete_words pvinspect info - | contains -x -- --key && fail "pvinspect info -<TAB> offers --key (info takes no key)"
complete_words pvinspect cpus x.pvdump --key k --d | contains -x -- --diff-only || fail "pvinspect cpus ... --d<TAB> lacks --diff-only"

# Files: DUMP, --key, --output, --guest, --cck; directories only where a DIR is wanted.
cd "$scratch"
mkdir sub.d
touch guest.pvdump owner.cck other.vmcore
all=$(lines guest.pvdump other.vmcore owner.cck sub.d)
expect "$all" pvdecrypt ""
expect "guest.pvdump" pvdecrypt gu
expect "owner.cck" pvdecrypt guest.pvdump --key ow
expect "owner.cck" pvdecrypt guest.pvdump -k ow
expect "$all" pvdecrypt guest.pvdump -o ""
expect "owner.cck" pvinspect verify guest.pvdump -k ow
expect "guest.pvdump" pvinspect info g
expect "other.vmcore" pvseal --guest ot
expect "owner.cck" pvseal --cck ow
expect "owner.cck" pvseal --make-cck ow
expect "owner.cck" pvdecrypt guest.pvdump --key=ow
# Numbers and sizes: nothing to offer.
expect "" pvdecrypt guest.pvdump -j ""
expect "" pvseal --generate ""
expect "" pvseal --cpus ""

# Value lists: every option whose --help prints {a,b,c}, and the enumerated
# options other changes add (checked once they exist).
for t in "${tools[@]}"; do
    while IFS= read -r line; do
        [[ $line =~ ^\ \ (-[^\ ]+)\ [^{]*\{([^}]*)\} ]] || continue
        values=$(tr ',' '\n' <<<"${BASH_REMATCH[2]}" | sort)
        for o in $(tr ',' ' ' <<<"${BASH_REMATCH[1]}"); do
            expect "$values" "$t" x "$o" ""
        done
    done < <("$t" --help)
done
pvdecrypt_help=$(pvdecrypt --help)
if grep -qE '^  (-[a-z],)?--compress' <<<"$pvdecrypt_help"; then
    expect "$(lines zstd lzo snappy zlib none)" pvdecrypt x --compress ""
    expect "$(lines zstd zlib)" pvdecrypt x --compress z
else
    echo "note: pvdecrypt has no --compress yet"
fi
if grep -qE '^  (-[a-z],)?--format' <<<"$pvdecrypt_help"; then
    expect "$(lines elf kdump)" pvdecrypt x --format ""
    expect "kdump" pvdecrypt x --format k
else
    echo "note: pvdecrypt has no --format yet"
fi
if grep -qE '^  (-[a-z],)?--mount' <<<"$pvdecrypt_help"; then
    expect "sub.d" pvdecrypt x --mount ""
else
    echo "note: pvdecrypt has no --mount yet"
fi
# The same again without bash-completion (its helpers absent), once.
if [[ -n $bc ]]; then
    cd "$src"
    PVDUMP_BASH_COMPLETION="" bash "$0" "$build" "$src" || fail "the plain-bash fallback (above)"
fi
finish
