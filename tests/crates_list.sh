#!/usr/bin/env bash
# Checks rules/private/crates.bzl (the crates Bazel users get, in WORKSPACE
# mode and with Bzlmod) against the Cargo workspace:
#   - the set of crates.io crates the launcher and the CLI use on
#     x86_64-unknown-linux-gnu (normal dependencies, `cargo tree`),
#   - per crate: version, Cargo.lock sha256, edition, enabled features,
#     dependencies, whether it has a build script,
#   - every crate a Cargo.toml of the launcher or CLI names directly is a dep
#     of the matching Bazel target, and every `@rules_rust_multiarch_crates`
#     label in their BUILD files is in the list.
# Then it checks itself: each of a set of one-field mutations of the list
# must be reported, so a check that can no longer fail fails.
#
#   tests/crates_list.sh    (run by tests/run_all.sh)
#
# Needs cargo and python3; reads only, writes nothing. Closing line:
# "N passed, N failed".
set -o errexit -o nounset -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

TRIPLE=x86_64-unknown-linux-gnu
# --locked: a Cargo.toml change that Cargo.lock does not reflect yet fails
# here (this script never rewrites Cargo.lock).
cargo_or_fail() {
    if ! "$@"; then
        echo "FAIL: \`$*\` failed (see above): if Cargo.lock is out of date, run \`cargo update --workspace\`, then update rules/private/crates.bzl" >&2
        echo "0 passed, 1 failed" >&2
        exit 1
    fi
}
TREE="$(cargo_or_fail cargo tree --locked --offline -p multiarch_launcher -p multiarch_cli -e normal \
    --target "$TRIPLE" --prefix none -f '{p}|{f}')"
METADATA="$(cargo_or_fail cargo metadata --locked --offline --format-version 1 --filter-platform "$TRIPLE")"

exec python3 - "$ROOT" "$TREE" "$METADATA" <<'PY'
import copy
import json
import re
import sys
import types

root, tree_text, metadata_text = sys.argv[1], sys.argv[2], sys.argv[3]
CRATES_BZL = "rules/private/crates.bzl"
HUB_LABEL = re.compile(r'"@rules_rust_multiarch_crates//:([\w.-]+)"')
# Workspace member -> its BUILD file (the targets that use the hub).
MEMBERS = {"multiarch_launcher": "launcher/BUILD.bazel", "multiarch_cli": "cli/BUILD.bazel"}


def load_crates():
    """CRATES of crates.bzl, each struct as a dict (the file has no load())."""
    scope = {"struct": lambda **kw: types.SimpleNamespace(**kw)}
    with open(f"{root}/{CRATES_BZL}") as f:
        exec(compile(f.read(), CRATES_BZL, "exec"), scope)
    return {name: dict(vars(spec)) for name, spec in scope["CRATES"].items()}


def lock_checksums():
    """{(name, version): sha256} from Cargo.lock's [[package]] tables."""
    sums, pkg = {}, {}
    with open(f"{root}/Cargo.lock") as f:
        for line in f:
            line = line.strip()
            if line == "[[package]]":
                pkg = {}
                continue
            m = re.match(r'^(name|version|checksum) = "([^"]*)"$', line)
            if m:
                pkg[m.group(1)] = m.group(2)
                if "checksum" in pkg and "name" in pkg and "version" in pkg:
                    sums[(pkg["name"], pkg["version"])] = pkg["checksum"]
    return sums


def workspace_view():
    """What the Cargo workspace says each crates.io crate of the launcher/CLI is."""
    used = {}
    for line in tree_text.splitlines():
        line = line.removesuffix(" (*)").strip()
        if not line:
            continue
        pkg, _, features = line.partition("|")
        name, version = pkg.split(" ")[:2]
        if "(" in pkg:  # a workspace member: "name v0.1.0 (/path)"
            continue
        used[name] = {"version": version.lstrip("v"), "features": sorted(f for f in features.split(",") if f)}
    meta = json.loads(metadata_text)
    by_id = {p["id"]: p for p in meta["packages"]}
    sums = lock_checksums()
    view = {}
    for pkg in meta["packages"]:
        name = pkg["name"]
        if name not in used or pkg["version"] != used[name]["version"] or pkg["source"] is None:
            continue
        node = next(n for n in meta["resolve"]["nodes"] if n["id"] == pkg["id"])
        deps = sorted(
            by_id[d["pkg"]]["name"]
            for d in node["deps"]
            if any(k["kind"] is None for k in d["dep_kinds"]) and by_id[d["pkg"]]["name"] in used
        )
        view[name] = {
            "version": pkg["version"],
            "sha256": sums.get((name, pkg["version"]), "(no checksum in Cargo.lock)"),
            "edition": pkg["edition"],
            "crate_features": used[name]["features"],
            "deps": deps,
            "build_script": any("custom-build" in t["kind"] for t in pkg["targets"]),
        }
    members = {}
    for pkg in meta["packages"]:
        if pkg["name"] in MEMBERS:
            members[pkg["name"]] = sorted(
                d["name"] for d in pkg["dependencies"] if d["kind"] is None and d.get("path") is None
            )
    return view, members


def compare(crates, view):
    """Problems, one line each: where crates.bzl and the workspace disagree."""
    problems = []
    for name in sorted(set(view) - set(crates)):
        problems.append(f"{name} {view[name]['version']}: used by the launcher/CLI (Cargo.lock) but missing from {CRATES_BZL}")
    for name in sorted(set(crates) - set(view)):
        problems.append(f"{name}: in {CRATES_BZL} but not used by the launcher/CLI on {'x86_64-unknown-linux-gnu'}; remove it")
    for name in sorted(set(crates) & set(view)):
        for field, want in view[name].items():
            have = crates[name].get(field)
            if isinstance(want, list):
                have = sorted(have or [])
            if have != want:
                problems.append(f"{name}: {field} is {have!r} in {CRATES_BZL}, {want!r} in the Cargo workspace")
    return problems


def build_problems(crates, members):
    problems = []
    for member, build in MEMBERS.items():
        with open(f"{root}/{build}") as f:
            labels = set(HUB_LABEL.findall(f.read()))
        for name in sorted(labels - set(crates)):
            problems.append(f"{build}: @rules_rust_multiarch_crates//:{name} is not in {CRATES_BZL}")
        for name in members.get(member, []):
            if name not in labels:
                problems.append(f"{build}: {member} depends on {name} (Cargo.toml) but no target here uses @rules_rust_multiarch_crates//:{name}")
    return problems


def mutations(crates):
    """(description, mutated copy) pairs that compare() must report."""
    first = sorted(crates)[0]
    with_deps = next(n for n in sorted(crates) if crates[n]["deps"])
    with_features = next(n for n in sorted(crates) if crates[n]["crate_features"])
    out = []

    def mutate(desc, fn):
        c = copy.deepcopy(crates)
        fn(c)
        out.append((desc, c))

    mutate(f"{first} missing", lambda c: c.pop(first))
    mutate("an extra crate", lambda c: c.__setitem__("not-a-dependency", dict(c[first])))
    mutate(f"{first} version", lambda c: c[first].__setitem__("version", c[first]["version"] + "1"))
    mutate(f"{first} sha256", lambda c: c[first].__setitem__("sha256", "0" * 64))
    mutate(f"{first} edition", lambda c: c[first].__setitem__("edition", "2015"))
    mutate(f"{with_features} features", lambda c: c[with_features]["crate_features"].pop())
    mutate(f"{with_deps} deps", lambda c: c[with_deps]["deps"].pop())
    mutate(f"{first} build_script", lambda c: c[first].__setitem__("build_script", not c[first]["build_script"]))
    return out


passed = failed = 0


def report(ok, line):
    global passed, failed
    if ok:
        passed += 1
        print(f"PASS: {line}", file=sys.stdout)
    else:
        failed += 1
        print(f"FAIL: {line}", file=sys.stdout)


crates = load_crates()
view, members = workspace_view()
problems = compare(crates, view)
report(not problems, f"{CRATES_BZL} matches Cargo.lock and cargo tree ({len(view)} crates: {', '.join(sorted(view))})")
for p in problems:
    print(f"  {p}", file=sys.stdout)
problems = build_problems(crates, members)
report(not problems, "launcher/ and cli/ BUILD files use the hub for exactly their Cargo.toml dependencies")
for p in problems:
    print(f"  {p}", file=sys.stdout)
undetected = [desc for desc, c in mutations(crates) if not compare(c, view)]
report(not undetected, "self-check: every one-field change to the list is reported" +
       (f"; not reported: {', '.join(undetected)}" if undetected else ""))
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
