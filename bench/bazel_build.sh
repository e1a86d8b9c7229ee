#!/usr/bin/env bash
# Bazel build benchmark of rust_multiarch_binary (a table, not a timed test).
#
#   bench/bazel_build.sh [OUT.md]
#
# Measures, on the offline Bazel 4.2.3 test workspace (RRM_WORKSPACE selects
# another one, e.g. the real-rules_rust workspace of
# tests/bazel/real_rules_rust.sh):
#   1. clean -c opt build time of examples/workload as one plain rust_binary
#      (its `.variant` target) and as the 4-level bundle;
#   2. Rustc actions per configuration (per level, baseline, exec), i.e.
#      actions per level and whether exec-configuration tools are rebuilt
#      per level;
#   3. the bundling step alone (multiarch pack + the launcher's rustc) for
#      the workload and for tests/bazel/bench:big (four ~20 MiB builds),
#      from Bazel's JSON profile.
# Goals (issue 3): bundling step <= 2 s for four 20 MiB builds; clean bundle
# build <= 1.5x the critical path of the four variant builds.
set -o errexit -o nounset -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WS="${RRM_WORKSPACE:-$ROOT/tests/bazel}"
OUT="${1:-/dev/stdout}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/rrm-bench.XXXXXX")"
OB="$WORK/ob"
REPO_CACHE="${RRM_REPOSITORY_CACHE:-$HOME/.cache/rules_rust_multiarch/repository_cache}"
mkdir -p "$REPO_CACHE"
cleanup() {
    (cd "$WS" && bazel --output_base="$OB" shutdown >/dev/null 2>&1) || true
    rm -rf "$WORK"
}
trap cleanup EXIT

command -v bazel >/dev/null || { apt-get update -qq && apt-get install -y -qq bazel-bootstrap >/dev/null; }

bz() { (cd "$WS" && bazel --output_base="$OB" "$@" --repository_cache="$REPO_CACHE"); }

WORKLOAD=@rules_rust_multiarch//examples/workload
BIG=//bench:big
[[ -f "$WS/bench/BUILD.bazel" ]] || BIG=""

# clean_build NAME TARGET: clean build with a profile; prints "elapsed critical processes".
clean_build() {
    local name="$1" target="$2"
    bz clean >/dev/null 2>&1
    # shellcheck disable=SC2086 # TARGET may carry an --output_groups flag
    bz build -c opt $target --profile="$WORK/$name.profile.json" >"$WORK/$name.log" 2>&1 ||
        { cat "$WORK/$name.log" >&2; exit 1; }
    local elapsed critical procs
    elapsed="$(grep -oE 'Elapsed time: [0-9.]+s' "$WORK/$name.log" | grep -oE '[0-9.]+' | tail -1)"
    critical="$(grep -oE 'Critical Path: [0-9.]+s' "$WORK/$name.log" | grep -oE '[0-9.]+' | tail -1)"
    procs="$(grep -m1 -E '^INFO: [0-9]+ processes' "$WORK/$name.log" | sed 's/^INFO: //; s/\.$//')"
    echo "$elapsed|$critical|$procs"
}

# Fetch and analyze once so downloads don't count.
bz build -c opt --nobuild "$WORKLOAD" ${BIG:+"$BIG" "${BIG}_stored"} >/dev/null 2>&1

plain="$(clean_build plain "$WORKLOAD:workload.variant")"
# The four per-level builds alone (no launcher, no pack, no multiarch tool).
variants_only="$(clean_build variants "$WORKLOAD --output_groups=multiarch_variants")"
bundle="$(clean_build bundle "$WORKLOAD")"
big=""
big_stored=""
if [[ -n "$BIG" ]]; then
    big="$(clean_build big "$BIG")"
    big_stored="$(clean_build big_stored "${BIG}_stored")"
fi

# Rustc actions per configuration of the bundle.
bz aquery -c opt "mnemonic('Rustc', deps($WORKLOAD))" --output=text >"$WORK/aquery.txt" 2>/dev/null
bz build -c opt "$WORKLOAD" --output_groups=x86-64,x86-64-v2,x86-64-v3,x86-64-v4 >"$WORK/groups.log" 2>&1
bin_dir="$(bz info -c opt bazel-bin 2>/dev/null)"

python3 - "$WORK" "$plain" "$variants_only" "$bundle" "$big" "$big_stored" "$bin_dir" "$(dpkg-query -W -f 'Bazel ${Version} (Debian bazel-bootstrap)' bazel-bootstrap 2>/dev/null || bazel --version)" \
    "${RRM_RULES_RUST_DESC:-stand-in (tests/rules_rust_standin)}" >"$OUT" <<'EOF'
import json, re, sys, collections, os
work, plain, variants_only, bundle, big, big_stored, bin_dir, bazel_version, rules_rust = sys.argv[1:10]

def row(s):
    e, c, p = s.split("|")
    return float(e), float(c), p

def profile_actions(name):
    path = os.path.join(work, name + ".profile.json")
    with open(path) as f:
        events = json.load(f)
    events = events["traceEvents"] if isinstance(events, dict) else events
    out = []
    for ev in events:
        if ev.get("ph") == "X" and ev.get("cat") == "action processing":
            out.append((ev.get("name", ""), ev.get("dur", 0) / 1e6))
    return out

def bundling(name, target_name):
    acts = profile_actions(name)
    pack = sum(d for n, d in acts if n.startswith("Packing"))
    # Progress messages differ between rules_rust versions and the stand-in:
    # match on the rustc mnemonic text and the target name.
    # ("... //examples/workload:workload.launcher" here, "... bin workload.launcher (1 files)" in rules_rust 0.7).
    launcher = sum(d for n, d in acts if "Compiling Rust" in n and re.search(r"[: ]" + target_name + r"\.launcher\b", n))
    variants = [d for n, d in acts if "Compiling Rust" in n and re.search(r"[: ]" + target_name + r"\.variant\b", n)]
    return pack, launcher, variants

# Map configuration directories to roles.
groups = open(os.path.join(work, "groups.log")).read()
level_of = {}
for line in groups.splitlines():
    m = re.search(r"bazel-out/([^/]+)/bin/.*workload\.variant$", line.strip())
    if m:
        level_of.setdefault(m.group(1), None)
text = open(os.path.join(work, "aquery.txt")).read()
per_cfg = collections.defaultdict(list)
for block in re.split(r"(?m)^action ", text)[1:]:
    target = re.search(r"Target: (\S+)", block)
    outs = re.search(r"Outputs: \[bazel-out/([^/]+)/", block)
    flags = re.search(r"-Ctarget-cpu=(x86-64(?:-v\d)?)", block)
    if target and outs:
        per_cfg[outs.group(1)].append((target.group(1), flags.group(1) if flags else ""))

def role(cfg, entries):
    if "-exec-" in cfg:
        return "exec"
    cpus = {f for _, f in entries if f}
    if cpus:
        return "level " + ",".join(sorted(cpus))
    return "baseline (launcher)"

p_e, p_c, p_p = row(plain)
b_e, b_c, b_p = row(bundle)
pack, launcher, variants = bundling("bundle", "workload")
print("# Bazel build benchmark: rust_multiarch_binary")
print()
print(f"{bazel_version}; rules_rust: {rules_rust}; "
      f"{os.cpu_count()} cores; `-c opt`; clean builds after fetching (`bazel clean`, warm repository cache).")
print()
print("| build | wall time | critical path | processes |")
print("| --- | --- | --- | --- |")
print(f"| examples/workload as one plain rust_binary (`workload.variant`) | {p_e:.1f} s | {p_c:.1f} s | {p_p} |")
v_e, v_c, v_p = row(variants_only)
print(f"| examples/workload, the 4 per-level builds only (`--output_groups=multiarch_variants`) | {v_e:.1f} s | {v_c:.1f} s | {v_p} |")
print(f"| examples/workload bundle, 4 levels | {b_e:.1f} s | {b_c:.1f} s | {b_p} |")
if big:
    g_e, g_c, g_p = row(big)
    print(f"| tests/bazel/bench:big bundle, 4 x 20 MiB builds | {g_e:.1f} s | {g_c:.1f} s | {g_p} |")
print()
print("Bundle vs. plain: {:.2f}x wall time. Variant compile+link actions (from the profile): {}; "
      "the longest is the critical path of the four variant builds if run in parallel.".format(
          b_e / p_e if p_e else 0, ", ".join(f"{v:.1f} s" for v in sorted(variants))))
print(f"Clean bundle build / clean build of the 4 per-level builds alone: {b_e / v_e:.2f}x wall, "
      f"{b_c / v_c:.2f}x critical path (goal <= 1.5x of the variant builds' critical path: "
      f"{b_e / v_c:.2f}x). {os.cpu_count()} cores run the {len(variants) or 4} variant builds {os.cpu_count()} at a time.")
overhead = sum(len(v) for c, v in per_cfg.items() if "-exec-" in c or role(c, v).startswith("baseline"))
print(f"Fixed cost of any bundle, independent of the program: {overhead} Rustc actions for the launcher crate "
      "and its dependencies (baseline) and the `multiarch` tool with its crates (exec); "
      "on a small program such as this one it dominates the clean build.")
print()
print("## Bundling step (pack + launcher rustc/link)")
print()
print("| bundle | multiarch pack | launcher compile+link | total |")
print("| --- | --- | --- | --- |")
print(f"| workload (4 levels) | {pack:.2f} s | {launcher:.2f} s | {pack + launcher:.2f} s |")
if big:
    gp, gl, _ = bundling("big", "big")
    print(f"| big (4 x 20 MiB), compression = \"lz\" | {gp:.2f} s | {gl:.2f} s | {gp + gl:.2f} s |")
    if big_stored:
        sp, sl, _ = bundling("big_stored", "big_stored")
        print(f"| big (4 x 20 MiB), compression = \"none\" | {sp:.2f} s | {sl:.2f} s | {sp + sl:.2f} s |")
print()
print("Goal: <= 2 s for four 20 MiB builds.")
print()
print("## Rustc actions per configuration (workload bundle)")
print()
print("| configuration | role | Rustc actions | targets |")
print("| --- | --- | --- | --- |")
for cfg in sorted(per_cfg, key=lambda c: role(c, per_cfg[c])):
    entries = per_cfg[cfg]
    names = sorted({t.split("//")[-1] for t, _ in entries})
    print(f"| {cfg} | {role(cfg, entries)} | {len(entries)} | {', '.join(names)} |")
exec_cfgs = [c for c in per_cfg if "-exec-" in c]
print()
print(f"Exec configurations with Rust actions: {len(exec_cfgs)}. "
      + ("Exec tools are built once." if len(exec_cfgs) <= 1 else
         "Exec tools are rebuilt per level: Bazel 4.2.3 copies Starlark settings "
         "(extra_rustc_flags, //rules/settings:level) into the exec configuration."))
EOF
