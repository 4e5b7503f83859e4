# bash completion for pvdecrypt, pvseal and pvinspect (pvdump).
# Installed as completions/pvdecrypt, completions/pvseal and completions/pvinspect.
#
# The options, their argument types and the subcommands come from the tool's
# own --help, so an option added to a tool completes without editing this file.
# Enumerated values come from the {a,b,c} list CLI11 prints after an option
# (or, for options that do not print one, from the table in _pvdump_values).

# Reads --help text on stdin; prints "NAME<TAB>KIND" per option name, KIND one
# of: flag, file, dir, none (a value without completion), or "values a b c".
_pvdump_parse_help() {
    local line names rest kind name
    while IFS= read -r line; do
        [[ $line =~ ^\ \ (-[^\ ]+)(\ (.*))?$ ]] || continue
        names=${BASH_REMATCH[1]}
        rest=${BASH_REMATCH[3]}
        rest=${rest%%  *}  # the option column ends at two spaces
        if [[ -z $rest || $rest == Excludes:* || $rest == Needs:* ]]; then
            kind=flag
        elif [[ $rest =~ \{([^}]*)\} ]]; then
            kind="values ${BASH_REMATCH[1]//,/ }"
        else
            case ${rest%% *} in
            DIR | DIR:* | DIRECTORY) kind=dir ;;
            FILE | FILE:* | DUMP | TEXT | PATH | KEY) kind=file ;;
            *) kind=none ;;
            esac
        fi
        local IFS=,
        for name in $names; do
            printf '%s\t%s\n' "$name" "$(_pvdump_values "$name" "$kind")"
        done
    done
}

# Value lists and argument types of options whose --help does not tell them.
_pvdump_values() {
    local name=$1 kind=$2
    [[ $kind == flag || $kind == values* ]] && { printf '%s' "$kind"; return; }
    case $name in
    --format) kind="values elf kdump" ;;
    --compress) kind="values zstd lzo snappy zlib none" ;;
    --mount | --umount) kind=dir ;;
    -j | --threads | --cpus | --seed | --osii-cpu | --cache | --generate | --block | --deterministic) kind=none ;;
    esac
    printf '%s' "$kind"
}

_pvdump() {
    local tool=$1 cur prev words cword
    if declare -F _init_completion >/dev/null 2>&1; then
        _init_completion || return
    else
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD - 1]}
    fi
    COMPREPLY=()
    # --opt=value
    if [[ $cur == --*=* ]]; then
        prev=${cur%%=*}
        cur=${cur#*=}
    fi

    local top sub="" subs i
    top=$("$tool" --help 2>/dev/null) || [[ -n $top ]] || return
    subs=$(sed -n '/^Subcommands:/,/^$/s/^  \([a-z][a-z0-9-]*\) .*/\1/p' <<<"$top")
    if [[ -n $subs ]]; then
        for ((i = 1; i < cword; i++)); do
            if [[ $'\n'$subs$'\n' == *$'\n'${words[i]}$'\n'* ]]; then
                sub=${words[i]}
                break
            fi
        done
    fi

    local help=$top
    [[ -n $sub ]] && help=$("$tool" "$sub" --help 2>/dev/null)
    local -A kinds=()
    local name kind
    while IFS=$'\t' read -r name kind; do
        kinds[$name]=$kind
    done < <(_pvdump_parse_help <<<"$help")

    # The value of an option.
    if [[ $prev == -* && -n ${kinds[$prev]:-} && ${kinds[$prev]} != flag ]]; then
        case ${kinds[$prev]} in
        values*) mapfile -t COMPREPLY < <(compgen -W "${kinds[$prev]#values }" -- "$cur") ;;
        file) _pvdump_files "$cur" ;;
        dir) _pvdump_files "$cur" -d ;;
        esac
        return
    fi

    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "${!kinds[*]}" -- "$cur")
        return
    fi
    if [[ -n $subs && -z $sub ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$subs" -- "$cur")
        return
    fi
    _pvdump_files "$cur"  # DUMP
}

# Files (or with -d, directories) matching $1, quoted as bash-completion does.
_pvdump_files() {
    if declare -F _filedir >/dev/null 2>&1; then
        cur=$1 _filedir $2
    else
        compopt -o filenames 2>/dev/null
        mapfile -t COMPREPLY < <(compgen ${2:--f} -- "$1")
    fi
}

complete -F _pvdump pvdecrypt pvseal pvinspect
