#!/usr/bin/env bash
# The Debian package: cpack -G DEB makes pvdump_VERSION_ARCH.deb with Depends
# found by dpkg-shlibdeps; its contents (dpkg-deb -c), its control fields, an
# unpacked copy (dpkg -x into a scratch root) whose pvdecrypt runs and decrypts
# the golden vector, and lintian without errors.
source "$(dirname "$0")/lib.bash"
[[ ${PVDUMP_SANITIZE:-0} == 1 ]] && skip "the package is built and checked by the non-sanitizer build (a sanitizer build would depend on libasan)"
for p in dpkg-deb dpkg-shlibdeps dpkg; do
    command -v "$p" >/dev/null || skip "$p is not installed (dpkg-dev)"
done
arch=$(dpkg --print-architecture)
deb=$scratch/pvdump_${PVDUMP_VERSION}_$arch.deb
if ! (cd "$scratch" && "$PVDUMP_CPACK" -G DEB --config "$build/CPackConfig.cmake" -B "$scratch") >"$scratch/cpack.log" 2>&1; then
    cat "$scratch/cpack.log"
    fail "cpack -G DEB failed"
    finish
fi
[[ -f $deb ]] || { ls "$scratch"; fail "cpack did not write $(basename "$deb")"; finish; }
echo "built $(basename "$deb") ($(stat -c %s "$deb") bytes)"

# Control fields; Depends comes from dpkg-shlibdeps (libc6 with a version, libssl3 for libcrypto).
field() { dpkg-deb -f "$deb" "$1"; }
[[ $(field Package) == pvdump ]] || fail "Package: $(field Package)"
[[ $(field Version) == "$PVDUMP_VERSION" ]] || fail "Version: $(field Version)"
[[ $(field Architecture) == "$arch" ]] || fail "Architecture: $(field Architecture)"
depends=$(field Depends)
echo "Depends: $depends"
for want in 'libc6 (>= ' 'libssl3 (>= ' 'libstdc++6 (>= ' 'libgcc-s1 (>= '; do
    [[ $depends == *"$want"* ]] || fail "Depends lacks '$want' (dpkg-shlibdeps): $depends"
done

contents=$(dpkg-deb -c "$deb" | awk '{ print $6 }')
libdir=usr/$PVDUMP_LIBDIR
for f in usr/bin/pvdecrypt usr/bin/pvseal usr/bin/pvinspect \
         usr/share/man/man1/pvdecrypt.1.gz usr/share/man/man1/pvseal.1.gz usr/share/man/man1/pvinspect.1.gz \
         usr/share/bash-completion/completions/pvdecrypt usr/share/bash-completion/completions/pvinspect \
         usr/share/bash-completion/completions/pvseal \
         usr/share/doc/pvdump/copyright usr/share/doc/pvdump/changelog.gz usr/share/doc/pvdump/api.md \
         usr/include/pvdump/pvdump.hpp "$libdir/libpvdump.so.$PVDUMP_VERSION" "$libdir/pkgconfig/pvdump.pc" \
         "$libdir/cmake/pvdump/pvdumpConfig.cmake"; do
    grep -qx "\./$f" <<<"$contents" || fail "the package lacks /$f"
done
if grep -q '^\./usr/local' <<<"$contents"; then fail "the package installs into /usr/local"; fi
dpkg-deb --ctrl-tarfile "$deb" | tar -t | contains -x './shlibs' || fail "the package has no shlibs file (CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS)"

# Unpacked into a scratch root: the tools run from there.
root=$scratch/root
dpkg -x "$deb" "$root"
out=$("$root/usr/bin/pvdecrypt" --version) || fail "the packaged pvdecrypt --version exited $?"
[[ $out == "pvdecrypt (pvdump) $PVDUMP_VERSION"* ]] || fail "the packaged pvdecrypt --version printed '$out'"
echo "$out"
data=$src/tests/data
"$root/usr/bin/pvdecrypt" "$data/basic.pvdump" -k "$PVDUMP_TEST_KEYS/cck.bin" -o "$scratch/basic.vmcore" -q ||
    fail "the packaged pvdecrypt failed on basic.pvdump"
"$root/usr/bin/pvinspect" cpus "$scratch/basic.vmcore" --json >/dev/null || fail "the packaged pvinspect cannot read its vmcore"
file -b "$root/usr/bin/pvdecrypt" | contains 'stripped' && ! file -b "$root/usr/bin/pvdecrypt" | contains 'not stripped' ||
    fail "the packaged pvdecrypt is not stripped"

if command -v lintian >/dev/null; then
    lint=$(lintian --tag-display-limit 0 "$deb" 2>&1) || true
    [[ -n $lint ]] && echo "$lint"
    if grep -q '^E: ' <<<"$lint"; then fail "lintian reports errors"; fi
    echo "lintian: $(grep -c '^E: ' <<<"$lint" || true) errors, $(grep -c '^W: ' <<<"$lint" || true) warnings"
else
    echo "note: lintian not installed: not run"
fi
finish
