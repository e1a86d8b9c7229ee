#!/usr/bin/env bash
# Checks the CPU and target feature names of rules/private/cpus.bzl against
# the installed rustc: for each architecture block ("# BEGIN GENERATED
# <arch> ..." ... "# END GENERATED <arch>"), the `_<ARCH>_RUSTC_CPUS` list
# must equal `rustc --print target-cpus --target <triple>` (without
# "native": it names the build machine's CPU, which is no variant's) and
# `_<ARCH>_RUSTC_FEATURES` the first section of `rustc --print
# target-features --target <triple>` ("Features supported by rustc": the
# names rustc accepts in `-Ctarget-feature` and `cfg(target_feature)`; the
# LLVM-only section after it is not accepted). The rustc version in the
# block's comment is not compared.
#
#   tests/cpus_table.sh           check (run by tests/run_all.sh)
#   tests/cpus_table.sh --update  rewrite the blocks from the installed rustc
#
# Then it checks itself: a table with one name removed, and one with a
# name added, must each be reported. Needs rustc and python3; writes
# nothing unless --update. Closing line: "N passed, N failed".
set -o errexit -o nounset -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUSTC="${RUSTC:-rustc}"
MODE="${1:-check}"

exec python3 - "$ROOT/rules/private/cpus.bzl" "$RUSTC" "$MODE" <<'PY'
import re
import subprocess
import sys

path, rustc, mode = sys.argv[1:]
# Architecture name in cpus.bzl -> the rustc target whose names it lists.
TRIPLES = {"aarch64": "aarch64-unknown-linux-gnu", "x86_64": "x86_64-unknown-linux-gnu"}


def rustc_lines(*args):
    run = subprocess.run([rustc, *args], capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"FAIL: `{rustc} {' '.join(args)}` failed: {run.stderr.strip()}\n0 passed, 1 failed")
    return run.stdout.splitlines()


def from_rustc(triple):
    cpus = []
    for line in rustc_lines("--print", "target-cpus", "--target", triple)[1:]:
        name = line.split()[0] if line.strip() else ""
        if name and name != "native":
            cpus.append(name)
    features, inside = [], False
    for line in rustc_lines("--print", "target-features", "--target", triple):
        if line.startswith("Features supported by rustc"):
            inside = True
        elif inside and not line.strip():
            break
        elif inside:
            features.append(line.split()[0])
    version = rustc_lines("--version")[0]
    return sorted(set(cpus)), sorted(set(features)), version


def block_re(arch):
    return re.compile(
        r"(?ms)^# BEGIN GENERATED {a}\b[^\n]*\n(.*?)^# END GENERATED {a}\n".format(a=re.escape(arch)))


def parse_list(body, var):
    m = re.search(r"(?ms)^{} = \[\n(.*?)^\]".format(re.escape(var)), body)
    if not m:
        return None
    return re.findall(r'"([^"]+)"', m.group(1))


def render(arch, cpus, features, version):
    up = arch.upper()
    lines = [f"# BEGIN GENERATED {arch} by tests/cpus_table.sh --update ({version}); do not edit"]
    for var, names in ((f"_{up}_RUSTC_CPUS", cpus), (f"_{up}_RUSTC_FEATURES", features)):
        lines.append(f"{var} = [")
        lines.extend(f'    "{name}",' for name in names)
        lines.append("]")
        lines.append("")
    lines[-1] = f"# END GENERATED {arch}"
    return "\n".join(lines) + "\n"


def differences(text, arch, cpus, features):
    m = block_re(arch).search(text)
    if not m:
        return [f"no '# BEGIN GENERATED {arch}' ... '# END GENERATED {arch}' block"]
    found = []
    for var, want in ((f"_{arch.upper()}_RUSTC_CPUS", cpus), (f"_{arch.upper()}_RUSTC_FEATURES", features)):
        got = parse_list(m.group(1), var)
        if got is None:
            found.append(f"{var} missing from the {arch} block")
            continue
        missing = sorted(set(want) - set(got))
        extra = sorted(set(got) - set(want))
        if missing:
            found.append(f"{var} lacks what rustc lists: {', '.join(missing)}")
        if extra:
            found.append(f"{var} has what rustc does not list: {', '.join(extra)}")
        if got != sorted(set(got)):
            found.append(f"{var} is not sorted or has duplicates")
    return found


text = open(path).read()
passed = failed = 0
for arch, triple in TRIPLES.items():
    cpus, features, version = from_rustc(triple)
    if mode == "--update":
        m = block_re(arch).search(text)
        new = render(arch, cpus, features, version)
        text = text[:m.start()] + new + text[m.end():] if m else text + "\n" + new
        continue
    problems = differences(text, arch, cpus, features)
    if problems:
        failed += 1
        print(f"FAIL: rules/private/cpus.bzl ({arch}) differs from {version} for {triple}:")
        for p in problems:
            print(f"  {p}")
        print("  fix: tests/cpus_table.sh --update (then review the diff: a CPU or feature the "
              "launcher cannot detect still fails at pack time)")
    else:
        passed += 1
        print(f"PASS: rules/private/cpus.bzl ({arch}): {len(cpus)} CPUs, {len(features)} features, as {version} lists them")
    # Self-check: one removed and one added name must be reported.
    mutants = {
        "a CPU removed": render(arch, cpus[1:], features, version),
        "a feature added": render(arch, cpus, features + ["zz-not-a-feature"], version),
    }
    for what, block in mutants.items():
        if differences(block, arch, cpus, features):
            passed += 1
        else:
            failed += 1
            print(f"FAIL: self-check: a table with {what} was not reported")
if mode == "--update":
    open(path, "w").write(text)
    print(f"updated {path}")
    sys.exit(0)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
