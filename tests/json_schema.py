#!/usr/bin/env python3
"""Validates every pvinspect --json document against docs/schema/pvinspect-*.schema.json:
every command on every golden vector (with the test key where one is needed),
on a plain vmcore, on kdump-compressed files pvdecrypt writes (info: its kdump
schema), and the failure documents; the text report of each run with the
emitter's check on (PVDUMP_REPORT_CHECK). Checks that the reports that decrypt pages
name the AES implementation that ran. Exit 77 (skipped) without python3-jsonschema.
Usage: json_schema.py BUILD_DIR SOURCE_DIR"""
import json
import os
import platform
import subprocess
import sys
import tempfile

try:
    import jsonschema
except ImportError:
    print("SKIPPED: python3-jsonschema is not installed (apt-get install python3-jsonschema)")
    sys.exit(77)

build, src = sys.argv[1], sys.argv[2]
pvinspect = os.path.join(build, "pvinspect")
data = os.path.join(src, "tests", "data")
corpus = os.path.join(src, "tests", "fuzz", "corpus", "fuzz_core_index")
key = os.path.join(build, "test-keys", "cck.bin")

validators = {}
for cmd in ("info", "info-kdump", "verify", "cpus", "dmesg"):
    with open(os.path.join(src, "docs", "schema", f"pvinspect-{cmd}.schema.json")) as f:
        schema = json.load(f)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validators[cmd] = cls(schema)

vectors = sorted(f[:-7] for f in os.listdir(data) if f.endswith(".pvdump"))
runs = []  # (command, file, extra args, expected exit code or None)
for v in vectors:
    path = os.path.join(data, v + ".pvdump")
    runs.append(("info", path, []))
    for cmd in ("verify", "cpus", "dmesg"):
        runs.append((cmd, path, ["--key", key]))
    runs.append(("cpus", path, []))  # a PV dump without --key: the usage error document
plain = os.path.join(corpus, "plain-printk")
runs += [("info", plain, []), ("cpus", plain, []), ("dmesg", plain, []),
         ("info", os.path.join(corpus, "xnum-shoff-wrap"), []),
         ("info", os.path.join(build, "no-such-file"), [])]

# A PV dump with a kernel log (the plain vmcore sealed), so that dmesg decrypts pages.
tmp = tempfile.TemporaryDirectory(prefix="pvdump-json-schema-")
printk = os.path.join(tmp.name, "plain-printk.pvdump")
subprocess.run([os.path.join(build, "pvseal"), "--guest", plain, "--cck", key, "--deterministic", "1",
                "-o", printk], check=True, capture_output=True)
runs += [("info", printk, [])] + [(cmd, printk, ["--key", key]) for cmd in ("verify", "cpus", "dmesg")]
# kdump-compressed files as pvdecrypt --format kdump writes them, and one cut short
# (its info is the error document). info on them is checked against its own schema.
kdumps = []
for name, source, args in [("zstd-d1.kdump", printk, ["--compress", "zstd", "-d", "1"]),
                           ("none-d0.kdump", os.path.join(data, "basic.pvdump"), ["--compress", "none", "-d", "0"])]:
    out = os.path.join(tmp.name, name)
    subprocess.run([os.path.join(build, "pvdecrypt"), source, "--key", key,
                    "--format", "kdump", "-o", out, "--quiet"] + args, check=True, capture_output=True)
    kdumps.append(out)
cut = os.path.join(tmp.name, "cut.kdump")
with open(kdumps[0], "rb") as f, open(cut, "wb") as g:
    g.write(f.read()[:20000])
for k in kdumps + [cut]:
    runs += [("info", k, []), ("dmesg", k, [])]

fails = 0
kinds = {}
for cmd, path, extra in runs:
    p = subprocess.run([pvinspect, cmd, "--json", path] + extra, capture_output=True)
    what = f"{cmd} {os.path.basename(path)}{' --key' if extra else ''} (exit {p.returncode})"
    try:
        doc = json.loads(p.stdout.decode("utf-8"))
    except ValueError as e:
        print(f"FAIL: {what}: stdout is not JSON: {e}")
        fails += 1
        continue
    schema = "info-kdump" if cmd == "info" and path.endswith(".kdump") else cmd
    errors = sorted(validators[schema].iter_errors(doc), key=lambda e: list(e.path))
    kind = "error document" if isinstance(doc.get("error"), dict) else "report"
    kinds[kind] = kinds.get(kind, 0) + 1
    # An error document carries the exit code; a report comes with exit 0, except
    # info on a damaged file (4) and verify's findings (its exit_code field).
    if kind == "error document":
        consistent = p.returncode != 0 and doc["error"].get("code") == p.returncode
    elif cmd == "verify":
        consistent = doc.get("exit_code") == p.returncode
    else:
        consistent = p.returncode == 0 or (cmd == "info" and p.returncode == 4 and doc.get("error") is not None)
    if not consistent:
        print(f"FAIL: {what}: a {kind} does not agree with the exit code")
        fails += 1
    # The text report comes from the same emitter: with PVDUMP_REPORT_CHECK set, a
    # member of the document that the text neither shows nor leaves out on purpose
    # is an internal error (tools/report.hpp). Same exit code as with --json.
    t = subprocess.run([pvinspect, cmd, path] + extra, capture_output=True, env=dict(os.environ, PVDUMP_REPORT_CHECK="1"))
    if t.returncode != p.returncode or b"internal error" in t.stderr:
        print(f"FAIL: {what}: the text report exits {t.returncode}: {t.stderr[-300:]!r}")
        fails += 1
    if errors:
        fails += 1
        print(f"FAIL: {what}: {len(errors)} schema violation(s)")
        for e in errors[:5]:
            print(f"    at /{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}")
    else:
        print(f"ok: {what}: a valid {kind}")

# The text back end's own options, with the check on.
for args in (["cpus", os.path.join(data, "overlap-osii.pvdump"), "--key", key, "--diff-only"],
             ["cpus", os.path.join(data, "basic.pvdump"), "--key", key, "--diff-only"],
             ["cpus", plain, "--diff-only"],
             ["dmesg", printk, "--key", key, "-t", "-m", "-c", "-d"]):
    t = subprocess.run([pvinspect] + args, capture_output=True, env=dict(os.environ, PVDUMP_REPORT_CHECK="1"))
    what = " ".join([args[0], os.path.basename(args[1])] + [a for a in args[2:] if a.startswith("-") and a != "--key"])
    if t.returncode != 0 or not t.stdout:
        print(f"FAIL: {what}: exit {t.returncode}, {len(t.stdout)} bytes: {t.stderr[-300:]!r}")
        fails += 1
    else:
        print(f"ok: {what}: the text report shows every member")

# The schemas are not vacuous: a report missing a key, or with a key of the wrong
# type or an unknown key, is refused.
p = subprocess.run([pvinspect, "info", "--json", os.path.join(data, "basic.pvdump")], capture_output=True)
good = json.loads(p.stdout)
for name, mutate in [("without 'kind'", lambda d: d.pop("kind")),
                     ("file_size as a string", lambda d: d.__setitem__("file_size", "4217099")),
                     ("an unknown key", lambda d: d.__setitem__("surprise", 1)),
                     ("a paddr that is not hex", lambda d: d["memory"]["blocks"][0].__setitem__("paddr", "0")),
                     ("pv.pages without pv.findings", lambda d: d["pv"].pop("findings"))]:
    bad = json.loads(json.dumps(good))
    mutate(bad)
    if validators["info"].is_valid(bad):
        print(f"FAIL: the info schema accepts a report {name}")
        fails += 1
    else:
        print(f"ok: the info schema refuses a report {name}")

# The same for the kdump info schema, on a real file's report.
p = subprocess.run([pvinspect, "info", "--json", kdumps[0]], capture_output=True)
good = json.loads(p.stdout)
if good.get("kind") != "kdump" or good["kdump"]["compression"] != "zstd" or good["kdump"]["dump_level"] != 1:
    print(f"FAIL: info on {kdumps[0]} does not say kdump, zstd, dump level 1: {p.stdout[:300]!r}")
    fails += 1
for name, mutate in [("without 'kdump'", lambda d: d.pop("kdump")),
                     ("an unknown compression", lambda d: d["kdump"].__setitem__("compression", "gzip")),
                     ("pages without 'excluded'", lambda d: d["kdump"]["pages"].pop("excluded")),
                     ("a phys_base that is a number", lambda d: d["kdump"].__setitem__("phys_base", 0)),
                     ("an unknown key", lambda d: d["kdump"].__setitem__("surprise", 1))]:
    bad = json.loads(json.dumps(good))
    mutate(bad)
    if validators["info-kdump"].is_valid(bad):
        print(f"FAIL: the kdump info schema accepts a report {name}")
        fails += 1
    else:
        print(f"ok: the kdump info schema refuses a report {name}")


# aes_impl: the AES-256-XTS implementation that decrypted pages. PVDUMP_AES=openssl
# forces OpenSSL; otherwise it is the fastest this CPU runs, read here from the
# CPU's flags (an x86-64 binary; any other, e.g. a cross build's under qemu, runs OpenSSL).
def expected_aes():
    binary = os.path.join(build, "target", "pvinspect")  # a cross build's real binary (cmake/emulated-tools.cmake)
    with open(binary if os.path.exists(binary) else pvinspect, "rb") as f:
        ehdr = f.read(20)
    if ehdr[:4] != b"\x7fELF" or ehdr[18:20] != b"\x3e\x00" or platform.machine() != "x86_64":  # EM_X86_64
        return "openssl"
    flags = set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    if {"aes", "vaes", "vpclmulqdq"} <= flags:
        if {"avx512f", "avx512bw", "avx512vl"} <= flags:
            return "vaes-avx512"
        if "avx2" in flags:
            return "vaes-avx2"
    return "openssl"


basic = os.path.join(data, "basic.pvdump")
env = {k: v for k, v in os.environ.items() if k != "PVDUMP_AES"}
for cmd, path, forced, want in [("verify", basic, None, expected_aes()), ("dmesg", printk, None, expected_aes()),
                                ("verify", basic, "openssl", "openssl"), ("dmesg", printk, "openssl", "openssl"),
                                ("dmesg", plain, None, None), ("dmesg", kdumps[0], None, None)]:
    e = dict(env, PVDUMP_AES=forced) if forced else env
    args = [pvinspect, cmd, "--json", path] + (["--key", key] if path.endswith(".pvdump") else [])
    p = subprocess.run(args, capture_output=True, env=e)
    got = json.loads(p.stdout).get("aes_impl", "(absent)")
    what = f"{cmd} --json {os.path.basename(path)}{' with PVDUMP_AES=' + forced if forced else ''}"
    if got != want:
        print(f"FAIL: {what}: aes_impl is {got!r}, expected {want!r}")
        fails += 1
    else:
        print(f"ok: {what}: aes_impl is {got!r}")

# pvdecrypt --version names the same implementation on its second line.
for forced, want in [(None, f"AES-256-XTS: {expected_aes()} (chosen by CPUID"),
                     ("openssl", "AES-256-XTS: openssl (forced by PVDUMP_AES")]:
    e = dict(env, PVDUMP_AES=forced) if forced else env
    p = subprocess.run([os.path.join(build, "pvdecrypt"), "--version"], capture_output=True, env=e, text=True)
    line = (p.stdout.splitlines() + ["", ""])[1]
    if not line.startswith(want):
        print(f"FAIL: pvdecrypt --version{' with PVDUMP_AES=' + forced if forced else ''}: line 2 is {line!r}, expected {want!r}...")
        fails += 1
    else:
        print(f"ok: pvdecrypt --version{' with PVDUMP_AES=' + forced if forced else ''}: {line!r}")

print(f"json_schema: {len(runs)} documents ({kinds}), {fails} failed")
sys.exit(1 if fails else 0)
