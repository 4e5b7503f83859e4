#!/usr/bin/env bash
# The main job on the example guest, start to finish:
#   1. the host operator seals the guest's dump (pvseal, as QEMU would write it),
#   2. anyone looks at the sealed dump without the key (pvinspect info),
#   3. the VM owner decrypts it with the CCK (pvdecrypt),
#   4. and looks inside: the vCPUs and the guest kernel's log (pvinspect).
# The guest is a real s390x Linux guest (Debian 12, kernel 6.1, 3 vCPUs, 256 MiB;
# see examples/REALGUEST.md). Installs missing packages and builds first.
# Usage: examples/run.sh [BUILD_DIR]   (default: build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
"$root/tools/install-deps.sh" build
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target pvseal pvdecrypt pvinspect >/dev/null

work=$build/example
mkdir -p "$work"
install -m 600 "$root/examples/example.cck" "$work/example.cck"   # keys stay owner-only
if [[ ! -s $work/guest.vmcore || $root/examples/s390x-debian12-guest.vmcore.zst -nt $work/guest.vmcore ]]; then
  zstd -d -q -f "$root/examples/s390x-debian12-guest.vmcore.zst" -o "$work/guest.vmcore"
fi
bin=$build
step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}"; "${@:2}"; }

# --osii-cpu 1: vCPU 1 was caught while the hypervisor emulated an instruction
# for it, so its clear (hypervisor) view differs from its true state.
step "1. host: seal the guest's dump as QEMU writes it for a protected guest" \
  "$bin/pvseal" --guest "$work/guest.vmcore" --cck "$work/example.cck" -o "$work/guest.pvdump" --osii-cpu 1 --force
step "2. anyone: what is in the sealed dump (no key needed)" \
  "$bin/pvinspect" info "$work/guest.pvdump"
step "3. owner: decrypt with the CCK into a plain vmcore for crash and gdb" \
  "$bin/pvdecrypt" "$work/guest.pvdump" -k "$work/example.cck" -o "$work/decrypted.vmcore" --force
step "4. owner: where the decrypted vCPUs differ from the hypervisor's view" \
  "$bin/pvinspect" cpus "$work/guest.pvdump" -k "$work/example.cck" --diff-only
printf '\n\033[1m== 5. owner: the guest kernel log (last lines)\033[0m\n$ %s\n' "pvinspect dmesg $work/decrypted.vmcore | tail -n 8"
"$bin/pvinspect" dmesg "$work/decrypted.vmcore" | tail -n 8
printf '\nThe decrypted vmcore is %s: open it with crash or gdb-multiarch.\n' "$work/decrypted.vmcore"
