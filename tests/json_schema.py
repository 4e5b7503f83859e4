#!/usr/bin/env python3
"""Validates every pvinspect --json document against docs/schema/pvinspect-*.schema.json:
every command on every golden vector (with the test key where one is needed),
on a plain vmcore, and the failure documents. Exit 77 (skipped) without python3-jsonschema.
Usage: json_schema.py BUILD_DIR SOURCE_DIR"""
import json
import os
import subprocess
import sys

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
for cmd in ("info", "verify", "cpus", "dmesg"):
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
    errors = sorted(validators[cmd].iter_errors(doc), key=lambda e: list(e.path))
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
    if errors:
        fails += 1
        print(f"FAIL: {what}: {len(errors)} schema violation(s)")
        for e in errors[:5]:
            print(f"    at /{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}")
    else:
        print(f"ok: {what}: a valid {kind}")

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

print(f"json_schema: {len(runs)} documents ({kinds}), {fails} failed")
sys.exit(1 if fails else 0)
