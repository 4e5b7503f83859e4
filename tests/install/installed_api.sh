#!/usr/bin/env bash
# cmake --install into a temporary prefix, then: the layout (tools, man pages,
# completions, docs, library, header, CMake package, pkg-config), the library
# exports only the public API, the header stands alone, and examples/api is
# built against the INSTALLED package (find_package and pkg-config, never the
# build tree) and run on the golden vector tests/data/basic.pvdump: the
# registers it prints must be the golden ones (basic.json), the memory it
# prints (an encrypted page) the golden plaintext (basic.plain), a wrong key must fail with exit 5.
source "$(dirname "$0")/lib.bash"
prefix=$scratch/prefix
libdir=$prefix/$PVDUMP_LIBDIR
"$PVDUMP_CMAKE" --install "$build" --prefix "$prefix" >"$scratch/install.log" || { cat "$scratch/install.log"; fail "cmake --install failed"; finish; }

for f in bin/pvdecrypt bin/pvseal bin/pvinspect \
         share/man/man1/pvdecrypt.1.gz share/man/man1/pvseal.1.gz share/man/man1/pvinspect.1.gz \
         share/bash-completion/completions/pvdecrypt share/bash-completion/completions/pvseal \
         share/bash-completion/completions/pvinspect \
         share/doc/pvdump/README.md share/doc/pvdump/api.md share/doc/pvdump/pvinspect.md \
         share/doc/pvdump/copyright share/doc/pvdump/changelog.gz \
         include/pvdump/pvdump.hpp \
         "$PVDUMP_LIBDIR/libpvdump.so.$PVDUMP_VERSION" "$PVDUMP_LIBDIR/libpvdump.so.${PVDUMP_VERSION%%.*}" \
         "$PVDUMP_LIBDIR/libpvdump.so" "$PVDUMP_LIBDIR/pkgconfig/pvdump.pc" \
         "$PVDUMP_LIBDIR/cmake/pvdump/pvdumpConfig.cmake" "$PVDUMP_LIBDIR/cmake/pvdump/pvdumpConfigVersion.cmake" \
         "$PVDUMP_LIBDIR/cmake/pvdump/pvdumpTargets.cmake"; do
    [[ -e $prefix/$f ]] || fail "cmake --install did not install $f"
done
for t in "${tools[@]}"; do
    [[ $("$prefix/bin/$t" --version) == $("$build/$t" --version) ]] || fail "installed $t --version differs from the build's"
    zcat "$prefix/share/man/man1/$t.1.gz" | cmp -s - "$build/man/$t.1" || fail "installed $t.1.gz is not build/man/$t.1"
    cmp -s "$prefix/share/bash-completion/completions/$t" "$src/completions/pvdump.bash" || fail "installed completion for $t differs"
done
if command -v man >/dev/null; then
    out=$(MANWIDTH=80 man --warnings -l "$prefix/share/man/man1/pvdecrypt.1.gz" 2>&1 >/dev/null) || true
    [[ -z $out ]] || fail "man -l of the installed pvdecrypt.1.gz: $out"
fi

# The library: SONAME, only pvdump::api exported, and linked without the internals.
lib=$libdir/libpvdump.so.${PVDUMP_VERSION%%.*}
soname=$(objdump -p "$lib" | awk '$1 == "SONAME" { print $2 }')
[[ $soname == "libpvdump.so.${PVDUMP_VERSION%%.*}" ]] || fail "SONAME is '$soname'"
exported=$(nm -D --defined-only -C "$lib" | awk '$2 ~ /^[TDBR]$/' | cut -d' ' -f3-)
bad=$(grep -v '^pvdump::api::' <<<"$exported" | grep -v '^$' | grep -vE '^(typeinfo|vtable) .*pvdump::api::' || true)
[[ -z $bad ]] || fail "libpvdump exports more than pvdump::api: $(head -5 <<<"$bad")"
grep -q 'pvdump::api::SealedDump::open' <<<"$exported" || fail "libpvdump does not export SealedDump::open"
grep -q 'typeinfo for pvdump::api::Error' < <(nm -D --defined-only -C "$lib") || fail "libpvdump does not export typeinfo for pvdump::api::Error (catch would not work)"
if grep -q '#include "' "$prefix/include/pvdump/pvdump.hpp"; then fail "the public header includes project headers"; fi

cxxflags=(-std=c++17 -Wall -Wextra -Wpedantic -Werror)
if [[ ${PVDUMP_SANITIZE:-0} == 1 ]]; then
    cxxflags+=(-fsanitize=address,undefined)
fi
c++ "${cxxflags[@]}" -fsyntax-only -I"$prefix/include" -x c++ - <<<'#include <pvdump/pvdump.hpp>
int main() { return pvdump::api::version()[0] == 0; }' || fail "<pvdump/pvdump.hpp> does not compile on its own as C++17"

# examples/api with find_package(pvdump), from a copy outside the source tree.
cp -r "$src/examples/api" "$scratch/example-src"
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
if ! "$PVDUMP_CMAKE" -S "$scratch/example-src" -B "$scratch/example" "${gen[@]}" -DCMAKE_PREFIX_PATH="$prefix" \
        -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_CXX_FLAGS="${cxxflags[*]}" >"$scratch/example.log" 2>&1 ||
   ! "$PVDUMP_CMAKE" --build "$scratch/example" >>"$scratch/example.log" 2>&1; then
    cat "$scratch/example.log"
    fail "examples/api does not build against the installed package"
    finish
fi
found=$(sed -n 's/^pvdump_DIR:PATH=//p' "$scratch/example/CMakeCache.txt")
[[ $found == "$libdir/cmake/pvdump" ]] || fail "find_package(pvdump) found '$found', not the installed package"
ldd "$scratch/example/pvdump-api-example" | contains "=> $libdir/libpvdump.so" || fail "the example does not load the installed libpvdump: $(ldd "$scratch/example/pvdump-api-example" | grep pvdump)"

# The same program through pkg-config.
if command -v pkg-config >/dev/null; then
    export PKG_CONFIG_PATH=$libdir/pkgconfig
    [[ $(pkg-config --modversion pvdump) == "$PVDUMP_VERSION" ]] || fail "pkg-config --modversion pvdump: $(pkg-config --modversion pvdump)"
    # shellcheck disable=SC2046
    c++ "${cxxflags[@]}" "$src/examples/api/main.cpp" -o "$scratch/example-pc" $(pkg-config --cflags --libs pvdump) \
        -Wl,-rpath,"$libdir" || fail "examples/api/main.cpp does not build with pkg-config --cflags --libs pvdump"
else
    echo "note: pkg-config not installed: the .pc file is not exercised"
fi

data=$src/tests/data
check_py=$scratch/check.py
cat >"$check_py" <<'PY'
import json, re, struct, sys
gold = json.load(open(sys.argv[1]))
plain = open(sys.argv[2], "rb").read()
out = sys.stdin.read()
ok = True
def bad(msg):
    global ok
    ok = False
    print("mismatch:", msg)
cpus = re.split(r"^cpu (\d+).*$", out, flags=re.M)
blocks = {int(cpus[i]): cpus[i + 1] for i in range(1, len(cpus), 2)}
if sorted(blocks) != list(range(len(gold["cpus"]))):
    bad(f"CPUs printed {sorted(blocks)}, golden {len(gold['cpus'])}")
for i, g in enumerate(gold["cpus"]):
    text = blocks.get(i, "")
    m = re.search(r"psw ([0-9a-f]{16}) ([0-9a-f]{16}) prefix ([0-9a-f]{8})", text)
    if not m:
        bad(f"cpu {i}: no psw line"); continue
    if [int(m.group(1), 16), int(m.group(2), 16)] != [int(x, 16) for x in g["psw"]]:
        bad(f"cpu {i}: psw {m.group(1)} {m.group(2)} != {g['psw']}")
    if int(m.group(3), 16) != int(g["prefix"], 16):
        bad(f"cpu {i}: prefix {m.group(3)} != {g['prefix']}")
    for name, key in (("gpr", "gprs"), ("cr", "ctrs")):
        got = {int(n): int(v, 16) for n, v in re.findall(name + r"(\d+)\s+([0-9a-f]{16})", text)}
        want = {n: int(v, 16) for n, v in enumerate(g[key])}
        if got != want:
            bad(f"cpu {i}: {key} differ: {sorted(set(k for k in want if got.get(k) != want[k]))}")
# Memory: basic.plain is the golden plaintext image of guest memory from address 0.
m = re.search(r"^memory ([0-9a-f]{16}):((?: [0-9a-f]{2}){32})$", out, flags=re.M)
if not m:
    bad("no memory line")
else:
    addr = int(m.group(1), 16)
    want = plain[addr: addr + 32]
    got = bytes(int(x, 16) for x in m.group(2).split())
    if len(want) != 32 or gold["page_states"][addr // 4096] != "e":
        bad(f"0x{addr:x} is not an encrypted page of basic.plain")
    elif got != want:
        bad(f"memory at 0x{addr:x}: {got.hex()} != golden {want.hex()}")
if not ok:
    print(out)
    sys.exit(1)
print(f"{len(gold['cpus'])} CPUs' psw, prefix, gprs, crs and 32 bytes of memory match the golden vector")
PY
for exe in "$scratch/example/pvdump-api-example" ${PKG_CONFIG_PATH:+"$scratch/example-pc"}; do
    [[ -x $exe ]] || continue
    out=$("$exe" "$data/basic.pvdump" "$PVDUMP_TEST_KEYS/cck.bin" 0x10000) || { fail "$exe exited $?"; continue; }
    python3 "$check_py" "$data/basic.json" "$data/basic.plain" <<<"$out" || fail "$exe: output does not match the golden vector"
    rc=0
    err=$("$exe" "$data/basic.pvdump" "$PVDUMP_TEST_KEYS/wrong-cck.bin" 2>&1 >/dev/null) || rc=$?
    [[ $rc == 5 ]] || fail "$exe with the wrong key exited $rc, expected 5 (authentication failed)"
    [[ $(wc -l <<<"$err") == 1 && $err == *error:* ]] || fail "$exe with the wrong key printed '$err'"
done
finish
