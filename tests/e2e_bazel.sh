#!/usr/bin/env bash
# End-to-end tests of the Bazel ruleset on Debian's Bazel 4.2.3 (offline).
#
#   tests/e2e_bazel.sh            run every test
#   tests/e2e_bazel.sh a d f      run some: a extract, b qemu-sigill, c qemu-level,
#                                 d reproducible, e remote-cache, f bad-input,
#                                 g global rustc flags (levels, launcher baseline),
#                                 l launcher linking (bfd, gold, lld, rust-lld,
#                                   cc_common.link), p other platforms skipped,
#                                 s C/C++ select() on the level, z launcher size,
#                                 t bazel test //... (analysis tests),
#                                 v variants (CPU names, feature sets),
#                                 x remote execution (Bazel's own REAPI worker)
#
# The workspace is tests/bazel (stand-ins for rules_rust/rules_cc/rules_java,
# crates from crates.io); tests/bazel/real_rules_rust.sh runs every test
# against a real rules_rust instead (RRM_WORKSPACE, RRM_RULES_RUST). Every
# Bazel server, the nginx and the remote execution worker started here are
# stopped on exit. Closing line:
# "N passed, N failed, N skipped".
#
# Nothing is written outside one temporary directory: Bazel's output user
# root and output bases, the launcher's cache (XDG_CACHE_HOME), the checkout
# copies, nginx, the remote worker. The repository cache (the crates downloaded from
# crates.io) is there too unless RRM_REPOSITORY_CACHE names a directory to
# share between runs (the caller's choice, e.g. a CI cache).
set -o errexit -o nounset -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/rrm-e2e.XXXXXX")"
REPO_CACHE="${RRM_REPOSITORY_CACHE:-$WORK/repository_cache}"
mkdir -p "$REPO_CACHE"
# Bazel's own files (default ~/.cache/bazel) and the bundles' cache
# (default ~/.cache/multiarch) stay in $WORK.
USER_ROOT="$WORK/bazel-user-root"
export XDG_CACHE_HOME="$WORK/xdg-cache"

PASSED=0
FAILED=0
SKIPPED=0
OUTPUT_BASES=()
NGINX_PID_FILE=""
WORKER_DIR=""

cleanup() {
    local ob
    for ob in "${OUTPUT_BASES[@]}"; do
        if [[ -d "$ob" ]]; then
            (cd "$ROOT/tests/bazel" && bazel_at "$ob" shutdown >/dev/null 2>&1) || true
        fi
    done
    if [[ -n "$NGINX_PID_FILE" && -s "$NGINX_PID_FILE" ]]; then
        kill "$(cat "$NGINX_PID_FILE")" 2>/dev/null || true
    fi
    if [[ -n "$WORKER_DIR" ]]; then
        "$ROOT/tests/bazel/remote_worker.sh" stop "$WORKER_DIR" || true
    fi
    if [[ -n "${RRM_KEEP_WORK:-}" ]]; then
        log "kept $WORK"
    else
        chmod -R u+w "$WORK" 2>/dev/null || true
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

log() { printf '%s\n' "$*" >&2; }
pass() { PASSED=$((PASSED + 1)); log "PASS: $*"; }
fail() { FAILED=$((FAILED + 1)); log "FAIL: $*"; }
skip() { SKIPPED=$((SKIPPED + 1)); log "SKIP: $*"; }

ensure_bazel() {
    if ! command -v bazel >/dev/null; then
        log "no bazel on PATH: installing Debian's bazel-bootstrap (Bazel 4.2.3)"
        apt-get update -qq && apt-get install -y -qq bazel-bootstrap >/dev/null
    fi
}

# bazel_at OUTPUT_BASE ARGS...: bazel with this run's startup options.
bazel_at() {
    local ob="$1"
    shift
    bazel --output_user_root="$USER_ROOT" --output_base="$ob" "$@"
}

# bz WORKSPACE_DIR OUTPUT_BASE COMMAND ARGS...: runs bazel there and records
# the output base for shutdown.
bz() {
    local ws="$1" ob="$2" cmd="$3"
    shift 3
    OUTPUT_BASES+=("$ob")
    (cd "$ws" && bazel_at "$ob" "$cmd" --repository_cache="$REPO_CACHE" "$@")
}

# RRM_WORKSPACE: another test workspace (tests/bazel/real_rules_rust.sh),
# RRM_RULES_RUST: the rules_rust it uses.
MAIN_WS="${RRM_WORKSPACE:-$ROOT/tests/bazel}"
RULES_RUST_DIR="${RRM_RULES_RUST:-$ROOT/tests/rules_rust_standin}"
MAIN_OB="$WORK/ob-main"

# checkout_workspace CHECKOUT: the test workspace to build a copy of the
# checkout with (tests d and e): its tests/bazel, or with RRM_WORKSPACE a
# copy of that workspace whose local_repository paths into $ROOT point into
# CHECKOUT instead.
checkout_workspace() {
    local checkout="$1"
    if [[ -z "${RRM_WORKSPACE:-}" ]]; then
        echo "$checkout/tests/bazel"
        return
    fi
    local ws="$checkout.workspace"
    mkdir -p "$ws"
    cp -R "$RRM_WORKSPACE/." "$ws/"
    python3 - "$ws/WORKSPACE" "$ROOT" "$checkout" <<'PY'
import sys
path, old, new = sys.argv[1:]
text = open(path).read()
open(path, "w").write(text.replace('path = "' + old + '"', 'path = "' + new + '"')
                      .replace('path = "' + old + '/', 'path = "' + new + '/'))
PY
    echo "$ws"
}

# setting_label NAME: the label of rules_rust's build setting NAME in the
# rules_rust under test ("" when it has none), found as
# rules/private/rules_rust_probe.bzl finds it: a line starting with
# `NAME(` in rust/settings/BUILD.bazel, else in the root BUILD file.
setting_label() {
    local name="$1" pkg file
    for pkg in rust/settings ""; do
        for file in "$RULES_RUST_DIR/${pkg:+$pkg/}BUILD.bazel" "$RULES_RUST_DIR/${pkg:+$pkg/}BUILD"; do
            if [[ -f "$file" ]] && grep -qE "^[[:space:]]*$name\(" "$file"; then
                echo "@rules_rust//$pkg:$name"
                return
            fi
        done
    done
}

# output_group_file MODE TARGET GROUP: the single file of one output group.
output_group_file() {
    local mode="$1" target="$2" group="$3"
    bz "$MAIN_WS" "$MAIN_OB" build -c "$mode" "$target" --output_groups="$group" 2>&1 |
        awk '/up-to-date:/ {getline; print $1; exit}'
}

# bundle_file MODE TARGET: the bundle executable.
bundle_file() {
    local mode="$1" target="$2"
    bz "$MAIN_WS" "$MAIN_OB" build -c "$mode" "$target" 2>&1 | awk '/up-to-date:/ {getline; print $1; exit}'
}

LEVELS=(v1 v2 v3 v4)
declare -A CPU=([v1]=x86-64 [v2]=x86-64-v2 [v3]=x86-64-v3 [v4]=x86-64-v4)
# qemu CPU models of each level, and the model one level below.
declare -A QEMU_MODEL=([v1]=qemu64 [v2]=Nehalem [v3]=Haswell)
declare -A QEMU_BELOW=([v2]=qemu64 [v3]=Nehalem [v4]=Haswell)
WORKLOAD=@rules_rust_multiarch//examples/workload
HELLO=@rules_rust_multiarch//examples/hello

host_has_avx512() {
    local flags
    flags="$(grep -m1 '^flags' /proc/cpuinfo)"
    for f in avx512f avx512bw avx512cd avx512dq avx512vl; do
        [[ " $flags " == *" $f "* ]] || return 1
    done
}

build_examples() {
    log "== building the examples (hello fastbuild, workload -c opt)"
    bz "$MAIN_WS" "$MAIN_OB" build -c fastbuild "$HELLO" >/dev/null 2>&1 ||
        bz "$MAIN_WS" "$MAIN_OB" build -c fastbuild "$HELLO"
    bz "$MAIN_WS" "$MAIN_OB" build -c opt "$WORKLOAD" >/dev/null 2>&1 ||
        bz "$MAIN_WS" "$MAIN_OB" build -c opt "$WORKLOAD"
}

# a. every embedded build, extracted, is byte-identical to Bazel's build.
test_a() {
    local mode target bundle level want got
    for spec in "fastbuild $HELLO" "opt $WORKLOAD"; do
        read -r mode target <<<"$spec"
        bundle="$(bundle_file "$mode" "$target")"
        for level in "${LEVELS[@]}"; do
            want="$(output_group_file "$mode" "$target" "${CPU[$level]}")"
            got="$WORK/extract-$level"
            if MULTIARCH_LEVEL="$level" MULTIARCH_DEBUG=extract "$bundle" >"$got" &&
                [[ -s "$want" ]] && cmp -s "$want" "$got"; then
                pass "a: $target ($mode) $level extracted == $(basename "$want") built for ${CPU[$level]}"
            else
                fail "a: $target ($mode) $level extracted differs from $want"
            fi
        done
    done
    # The example that select()s on the level saw its own level in each build.
    bundle="$(bundle_file fastbuild "$HELLO")"
    for level in "${LEVELS[@]}"; do
        local out
        out="$(MULTIARCH_LEVEL=$level MULTIARCH_FORCE=1 "$bundle" 2>/dev/null || true)"
        if [[ "$out" == *"select() chose: $level"* ]]; then
            pass "a: hello $level build took the select() branch for $level"
        else
            fail "a: hello $level: expected select() branch $level, got: $out"
        fi
    done
}

# b. -Ctarget-cpu reached the whole program: each workload build runs on its
#    level's qemu model and dies with SIGILL one level below.
test_b() {
    local level file rc
    if ! command -v qemu-x86_64 >/dev/null; then
        skip "b: qemu-x86_64 not installed (apt-get install qemu-user)"
        return
    fi
    for level in "${LEVELS[@]}"; do
        file="$(output_group_file opt "$WORKLOAD" "${CPU[$level]}")"
        if [[ -n "${QEMU_MODEL[$level]:-}" ]]; then
            if qemu-x86_64 -cpu "${QEMU_MODEL[$level]}" "$file" --quick >/dev/null 2>&1; then
                pass "b: $level build runs under qemu -cpu ${QEMU_MODEL[$level]}"
            else
                fail "b: $level build fails under qemu -cpu ${QEMU_MODEL[$level]}"
            fi
        elif host_has_avx512; then
            if "$file" --quick >/dev/null; then
                pass "b: $level build runs on the host (AVX-512)"
            else
                fail "b: $level build fails on the AVX-512 host"
            fi
        else
            skip "b: $level build: host has no AVX-512, cannot run it natively"
        fi
        if [[ -n "${QEMU_BELOW[$level]:-}" ]]; then
            rc=0
            # (braces: keep bash's "Illegal instruction" notice out of the log)
            { qemu-x86_64 -cpu "${QEMU_BELOW[$level]}" "$file" --quick >/dev/null 2>&1; } 2>/dev/null || rc=$?
            if [[ "$rc" == 132 ]]; then
                pass "b: $level build dies with SIGILL under qemu -cpu ${QEMU_BELOW[$level]}"
            else
                fail "b: $level build under qemu -cpu ${QEMU_BELOW[$level]}: exit $rc, expected 132 (SIGILL)"
            fi
        fi
    done
}

# glibc's view of the highest level a CPU (model) supports.
glibc_level() {
    "$@" /lib64/ld-linux-x86-64.so.2 --help 2>/dev/null |
        awk '/x86-64-v[0-9] \(supported/ {print $1; exit}'
}

# c. the bundle under each qemu model starts the level glibc reports there.
test_c() {
    local bundle model want line
    if ! command -v qemu-x86_64 >/dev/null; then
        skip "c: qemu-x86_64 not installed"
        return
    fi
    bundle="$(bundle_file opt "$WORKLOAD")"
    for model in qemu64 Nehalem Haswell host; do
        local runner=()
        [[ "$model" == host ]] || runner=(qemu-x86_64 -cpu "$model")
        want="$(glibc_level "${runner[@]}")"
        want="${want:-x86-64}"
        line="$(MULTIARCH_DEBUG=log "${runner[@]}" "$bundle" --quick 2>&1 >/dev/null | grep -m1 '^\[multiarch\]' || true)"
        if [[ "$line" == "[multiarch] starting $want (cpu $want;"* ]]; then
            pass "c: $model: glibc says $want, bundle: $line"
        else
            fail "c: $model: glibc says $want, bundle logged: ${line:-nothing}"
        fi
    done
}

# Copies the checkout (tracked and untracked, not ignored files) to $1.
copy_checkout() {
    local dest="$1"
    mkdir -p "$dest"
    (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard) |
        (cd "$ROOT" && xargs -0 cp --parents -t "$dest" 2>/dev/null) || true
    # Files deleted in the work tree but still in the index are skipped.
}

# d. two clean builds from different checkout paths and output bases give
#    bit-identical bundles.
test_d() {
    local a="$WORK/d/one/rules_rust_multiarch" b="$WORK/d/second-checkout/x/y"
    local target sums=()
    copy_checkout "$a"
    copy_checkout "$b"
    for checkout in "$a" "$b"; do
        local ob="$WORK/ob-d-$(basename "$(dirname "$checkout")")" ws
        ws="$(checkout_workspace "$checkout")"
        bz "$ws" "$ob" build -c opt "$HELLO" "$WORKLOAD" >"$WORK/d.log" 2>&1 ||
            { cat "$WORK/d.log" >&2; fail "d: build in $ws failed"; return; }
        local bin
        bin="$(cd "$ws" && bazel_at "$ob" info -c opt bazel-bin 2>/dev/null)"
        sums+=("$(cd "$bin/external/rules_rust_multiarch/examples" &&
            sha256sum hello/hello/hello workload/workload/workload | awk '{print $1}' | tr '\n' ' ')")
        (cd "$ws" && bazel_at "$ob" shutdown >/dev/null 2>&1) || true
    done
    if [[ "${sums[0]}" == "${sums[1]}" ]]; then
        pass "d: bundles bit-identical across checkouts and output bases (${sums[0]})"
    else
        fail "d: bundles differ: ${sums[0]} vs ${sums[1]}"
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# e. an HTTP remote cache filled by one build serves a clean build from
#    another checkout and output base: no compile or link action runs locally.
test_e() {
    if ! command -v nginx >/dev/null; then
        skip "e: nginx not installed (apt-get install nginx-light or nginx-core)"
        return
    fi
    local n="$WORK/nginx" port
    port="$(free_port)"
    mkdir -p "$n/cache" "$n/tmp" "$n/logs"
    chmod a+x "$WORK" # mktemp -d made it 0700
    chmod 0777 "$n" "$n/cache" "$n/tmp"
    # Workers run as an unprivileged user (www-data on Debian) when nginx
    # starts as root: the directories above are world-writable for them.
    cat >"$n/nginx.conf" <<EOF
worker_processes 1;
pid $n/nginx.pid;
error_log $n/logs/error.log;
events { worker_connections 64; }
http {
    access_log $n/logs/access.log;
    client_body_temp_path $n/tmp;
    client_max_body_size 0;
    server {
        listen 127.0.0.1:$port;
        root $n/cache;
        location / {
            dav_methods PUT;
            create_full_put_path on;
            dav_access user:rw group:rw all:rw;
        }
    }
}
EOF
    NGINX_PID_FILE="$n/nginx.pid"
    nginx -c "$n/nginx.conf" -p "$n" -e "$n/logs/error.log" ||
        { fail "e: nginx did not start"; return; }
    local cache="--remote_cache=http://127.0.0.1:$port"
    local a="$WORK/e/first/rules_rust_multiarch" b="$WORK/e/other/place/checkout"
    copy_checkout "$a"
    copy_checkout "$b"
    local ws_a ws_b
    ws_a="$(checkout_workspace "$a")"
    ws_b="$(checkout_workspace "$b")"
    bz "$ws_a" "$WORK/ob-e-1" build -c opt "$cache" "$WORKLOAD" >"$WORK/e1.log" 2>&1 ||
        { cat "$WORK/e1.log" >&2; fail "e: first build failed"; return; }
    (cd "$ws_a" && bazel_at "$WORK/ob-e-1" shutdown >/dev/null 2>&1) || true
    bz "$ws_b" "$WORK/ob-e-2" build -c opt "$cache" "$WORKLOAD" >"$WORK/e2.log" 2>&1 ||
        { cat "$WORK/e2.log" >&2; fail "e: second build failed"; return; }
    (cd "$ws_b" && bazel_at "$WORK/ob-e-2" shutdown >/dev/null 2>&1) || true
    local summary
    summary="$(grep -m1 -E '^INFO: [0-9]+ processes' "$WORK/e2.log" || true)"
    log "e: first build:  $(grep -m1 -E '^INFO: [0-9]+ processes' "$WORK/e1.log" || true)"
    log "e: second build: $summary"
    if [[ "$summary" == *"remote cache hit"* ]] &&
        ! grep -qE '[0-9]+ (linux-sandbox|processwrapper-sandbox|local|sandbox|worker)\b' <<<"$summary"; then
        pass "e: clean build from another checkout ran no compile/link locally ($summary)"
    else
        fail "e: second build ran actions locally: $summary"
        grep -E '^(WARNING|ERROR)' "$WORK/e2.log" | grep -v 'Download from' | head -5 >&2 || true
    fi
}

# Builds target $1 of the main workspace (test f): it must fail with every
# further argument in Bazel's output. The first names the failure.
expect_build_error() {
    local target="$1" out want
    shift
    out="$(bz "$MAIN_WS" "$MAIN_OB" build "$target" 2>&1 || true)"
    for want in "$@"; do
        if [[ "$out" != *"$want"* ]]; then
            fail "f: $target: expected '$want' in:"$'\n'"$(grep -E 'ERROR|Error' <<<"$out" | head -5)"
            return
        fi
    done
    pass "f: $target fails: $1"
}

# f. bad attributes fail at analysis, naming the attribute and allowed values.
test_f() {
    local allowed='"v1", "v2", "v3", "v4"' remove='Remove it: `levels` chooses the -Ctarget-cpu'
    expect_build_error //bad_levels:unknown_level \
        'attribute `levels`: unknown level "v5"; allowed values are "v1", "v2", "v3", "v4"' "$allowed"
    expect_build_error //bad_levels:duplicate_level 'attribute `levels`: duplicate level "v3"' "$allowed"
    expect_build_error //bad_levels:no_baseline 'attribute `levels` must contain the baseline "v1"' "$allowed"
    expect_build_error //bad_levels:empty_levels 'attribute `levels` must not be empty' "$allowed"
    expect_build_error //bad_flags:target_cpu 'attribute `rustc_flags` sets `-Ctarget-cpu=x86-64-v3`' "$remove"
    expect_build_error //bad_flags:target_cpu_two_args \
        'attribute `rustc_flags` sets `-C target-cpu=native`' "$remove"
    expect_build_error //bad_flags:target_feature \
        'attribute `rustc_flags` sets `--codegen=target_feature=+crt-static,+avx2`' "$remove"
    if bz "$MAIN_WS" "$MAIN_OB" build //bad_flags:crt_static_ok >"$WORK/f.log" 2>&1; then
        pass "f: rustc_flags = [\"-Ctarget-feature=+crt-static\"] is accepted (not a CPU feature)"
    else
        fail "f: //bad_flags:crt_static_ok: $(grep -E 'ERROR|Error' "$WORK/f.log" | head -3)"
    fi
    expect_build_error //bad_levels:bad_compression 'attribute `compression`: unknown value "zip"; allowed values are'
    expect_build_error //bad_levels:bad_linking \
        'attribute `launcher_linking`: unknown value "musl"; allowed values are "static", "dynamic"'
    test_f_variants
}

# expect_analysis_error TARGET WANT...: expect_build_error, and Bazel
# reports the failure at analysis (not while the BUILD file loads).
expect_analysis_error() {
    local target="$1"
    shift
    expect_build_error "$target" "$@" "Analysis of target '$target' failed"
}

# f (issue 12). bad `variants` values (tests/bazel/bad_variants) fail at
# analysis, naming the attribute, the variant and the fix.
test_f_variants() {
    local base='"x86-64": multiarch_variant(cpu = "x86-64")'
    expect_analysis_error //bad_variants:unknown_cpu \
        'attribute `variants`: variant "zen": unknown CPU "znver9" (close: "znver1"' '`rustc --print target-cpus` lists'
    expect_analysis_error //bad_variants:native_cpu \
        'attribute `variants`: variant "host": -Ctarget-cpu=native names the build machine'"'"'s CPU: name a CPU'
    expect_analysis_error //bad_variants:unknown_feature \
        'attribute `variants`: variant "fp": unknown feature "avx512fp17" (close: "avx512fp16")' '`rustc --print target-features`'
    expect_analysis_error //bad_variants:non_cpu_feature \
        'attribute `variants`: variant "static": feature "crt-static" is not a CPU feature: put it in `rustc_flags`'
    expect_analysis_error //bad_variants:same_flags \
        'attribute `variants`: variants "genoa" and "zen4" both build -Ctarget-cpu=znver4'
    expect_analysis_error //bad_variants:bad_name \
        'attribute `variants`: name "Zen4" must be 1-32 characters of a-z, 0-9'
    expect_analysis_error //bad_variants:short_level_name \
        'attribute `variants`: name "v3" is a short level name: name the level variant "x86-64-v3"'
    expect_analysis_error //bad_variants:no_baseline \
        'attribute `variants` has no baseline variant (one that every x86-64 CPU runs): add '"$base"
    expect_analysis_error //bad_variants:levels_and_variants 'attributes `levels` and `variants` are exclusive'
    expect_analysis_error //bad_variants:empty_variants 'attribute `variants` must not be empty' "$base"
}

# elf_linking FILE: "static-pie" for an ET_DYN file with no PT_INTERP, no
# DT_NEEDED and only R_X86_64_RELATIVE relocations; "dynamic-pie" for an
# ET_DYN file with PT_INTERP and no DT_NEEDED (the launcher needs no
# library, not even the C++ link line's -lstdc++ -lm); else a description.
elf_linking() {
    local file="$1" type interp needed relocs
    type="$(readelf -hW "$file" | awk '/Type:/ {print $2}')"
    interp="$(readelf -lW "$file" | grep -c 'Requesting program interpreter' || true)"
    needed="$(readelf -dW "$file" | grep -c '(NEEDED)' || true)"
    relocs="$(readelf -rW "$file" | awk '$3 ~ /^R_X86_64_/ {print $3}' | sort -u | tr '\n' ' ')"
    if [[ "$type" == DYN && "$interp" == 0 && "$needed" == 0 && "$relocs" =~ ^(R_X86_64_RELATIVE\ )?$ ]]; then
        echo static-pie
    elif [[ "$type" == DYN && "$interp" == 1 && "$needed" == 0 ]]; then
        echo dynamic-pie
    else
        echo "type=$type interp=$interp needed=$needed relocations=${relocs:-none}"
    fi
}

# The label of a rules_rust setting, if the rules_rust under test has it.
has_label() {
    bz "$MAIN_WS" "$MAIN_OB" query "$1" >/dev/null 2>&1
}

# With toolchain_linker_preference=rust, rules_rust links with rust-lld
# directly and passes it only the -L, --sysroot, --dynamic-linker and rpath
# arguments of the C++ link line (rust/private/rustc.bzl:441-491 at 0.73.0).
# Programs that link glibc cannot link that way on this host (no start
# files; that is the user's sysroot to set up), so rather than a whole
# bundle this checks the launcher's Rustc action (aquery) and its argument
# file: the linker is rust-lld and rust-lld accepts every link argument the
# launcher gives it (`rust-lld -flavor gnu ARGS --version` fails on an
# unknown argument, as on -nostartfiles).
test_l_rust_lld() {
    local flag="$1" target=//linking:default_linking.launcher_link report
    if ! bz "$MAIN_WS" "$MAIN_OB" build "$flag" "$target" >"$WORK/l-lld.log" 2>&1 ||
        ! bz "$MAIN_WS" "$MAIN_OB" aquery "$flag" "mnemonic('Rustc', //linking:default_linking.launcher)" \
            --output=jsonproto >"$WORK/l-lld.aquery" 2>>"$WORK/l-lld.log"; then
        tail -5 "$WORK/l-lld.log" >&2
        fail "l: rust-lld directly: build of $target or aquery failed"
        return
    fi
    local execroot
    execroot="$(bz "$MAIN_WS" "$MAIN_OB" info "$flag" execution_root 2>/dev/null)"
    report="$(python3 - "$WORK/l-lld.aquery" "$execroot" "$MAIN_OB" <<'PY'
import json, re, subprocess, sys
actions, execroot, output_base = json.load(open(sys.argv[1])).get("actions", []), sys.argv[2], sys.argv[3]
argv = actions[0]["arguments"] if len(actions) == 1 else []
for arg in list(argv):
    if arg.startswith("@") and arg.endswith(".rustc_args"):
        argv += open(f"{execroot}/{arg[1:]}").read().splitlines()
linker = [a[len("--codegen=linker="):] for a in argv if a.startswith("--codegen=linker=")]
link_args = [re.sub(r"^(--codegen=|-C ?)link-arg=", "", a) for a in argv
             if re.match(r"^(--codegen=|-C ?)link-arg=", a)]
if not linker or not linker[-1].endswith("rust-lld"):
    print(f"BAD linker {linker}")
    sys.exit()
# External repositories appear in the execution root only while an action runs.
lld = f"{output_base}/{linker[-1]}" if linker[-1].startswith("external/") else f"{execroot}/{linker[-1]}"
run = subprocess.run([lld, "-flavor", "gnu", *link_args, "--version"],
                     capture_output=True, text=True)
print(("OK " if run.returncode == 0 else "BAD ") + " ".join(link_args) + " " + run.stderr.strip())
PY
)"
    if [[ "$report" == OK* ]]; then
        pass "l: rust-lld directly: the launcher is linked by rust-lld, which accepts its link arguments (${report#OK })"
    else
        fail "l: rust-lld directly: $report"
    fi
}

# l. the launcher is a static PIE by default (ET_DYN, no PT_INTERP, no
#    DT_NEEDED, only relative relocations) and a PIE with an interpreter
#    with launcher_linking = "dynamic"; both start their build. For every
#    linker the C++ toolchain may pick (--linkopt=-fuse-ld=..., which
#    rules_rust forwards: rust/private/rustc.bzl:361-371 at 0.73.0), with a
#    -l library that exists only as a shared object (as libstdc++ does
#    without libstdc++-static), with rust-lld called directly
#    (toolchain_linker_preference=rust) and with cc_common.link.
test_l() {
    local configs=(
        "C++ toolchain default|"
        "GNU ld|--linkopt=-fuse-ld=bfd"
        "gold|--linkopt=-fuse-ld=gold"
        "lld|--linkopt=-fuse-ld=lld"
        "only a libgcc_s.so for -lgcc_s|--linkopt=-lgcc_s"
    )
    local setting
    setting=@rules_rust//rust/settings:toolchain_linker_preference
    if has_label "$setting"; then
        test_l_rust_lld "--$setting=rust"
    else
        skip "l: this rules_rust has no $setting"
    fi
    setting=@rules_rust//rust/settings:experimental_use_cc_common_link
    if has_label "$setting"; then
        configs+=("cc_common.link for programs|--$setting=true")
    else
        skip "l: this rules_rust has no $setting"
    fi
    local spec what flags bin target want got log n=0
    for spec in "${configs[@]}"; do
        what="${spec%%|*}"
        read -r -a flags <<<"${spec#*|}"
        n=$((n + 1))
        if ! bz "$MAIN_WS" "$MAIN_OB" build "${flags[@]}" //linking:default_linking //linking:dynamic_linking \
            >"$WORK/l$n.log" 2>&1; then
            grep -E 'ERROR|error' "$WORK/l$n.log" | head -8 >&2
            fail "l: $what: build failed"
            continue
        fi
        bin="$(bz "$MAIN_WS" "$MAIN_OB" info "${flags[@]}" bazel-bin 2>/dev/null)"
        for target in default_linking:static-pie dynamic_linking:dynamic-pie; do
            want="${target#*:}"
            target="${target%%:*}"
            got="$(elf_linking "$bin/linking/$target/$target")"
            log="$(MULTIARCH_DEBUG=log "$bin/linking/$target/$target" 2>&1)" || true
            if [[ "$got" == "$want" && "$log" == *"[multiarch] starting "* ]]; then
                pass "l: $what: //linking:$target launcher is a $got and starts"
            else
                fail "l: $what: //linking:$target launcher: $got, want $want; log: ${log%%$'\n'*}"
            fi
        done
    done
}

# launcher_bytes FILE: bytes of a bundle that are not embedded builds (the
# file's size minus its .multiarch.blob.* sections), and its debug sections.
launcher_bytes() {
    local file="$1"
    readelf -SW "$file" | python3 -c '
import os, re, sys
blobs, debug = 0, []
for line in sys.stdin:
    m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)", line)
    if not m:
        continue
    if m.group(1).startswith(".multiarch.blob."):
        blobs += int(m.group(2), 16)
    elif m.group(1).startswith(".debug_"):
        debug.append(m.group(1))
print(os.path.getsize(sys.argv[1]) - blobs, ",".join(debug) or "none")
' "$file"
}

# Upper bounds of the launcher's share of a Bazel-built bundle, per
# compilation mode, set from measurement (rustc 1.95, tests/bazel, stand-in),
# about 20% above it. -c opt: 136 512 bytes with issue 10's checked cache
# walk, O_TMPFILE writes and checksums (94 456 - 99 240 before them; 704 264
# before the launcher's debug info was stripped); fastbuild: 410 824 (its
# code is not optimized there; 945 736 unstripped). Cargo's release profile
# (LTO, one codegen unit) gives 119 648 (`multiarch inspect`).
declare -A LAUNCHER_MAX_BYTES=([opt]=163840 [fastbuild]=491520)

# z. the launcher inside a Bazel-built bundle carries no debug info and stays
#    under its size bound, in -c opt and fastbuild.
test_z() {
    local mode bundle bytes debug
    for mode in opt fastbuild; do
        bundle="$(bundle_file "$mode" //linking:default_linking)"
        if [[ ! -f "$bundle" ]]; then
            fail "z: //linking:default_linking (-c $mode) did not build"
            continue
        fi
        read -r bytes debug < <(launcher_bytes "$bundle")
        if [[ "$debug" == none && "$bytes" -le "${LAUNCHER_MAX_BYTES[$mode]}" ]]; then
            pass "z: -c $mode launcher is $bytes bytes (bound ${LAUNCHER_MAX_BYTES[$mode]}), no debug sections"
        else
            fail "z: -c $mode launcher is $bytes bytes (bound ${LAUNCHER_MAX_BYTES[$mode]}); debug sections: $debug"
        fi
    done
}

# g. the user's global rustc flags (all three rules_rust settings where the
#    rules_rust under test has them) reach every level's build, the launcher
#    and their crates, minus any CPU flag: each level gets exactly its own
#    -Ctarget-cpu, the launcher and its crates only x86-64, no
#    global target feature reaches the launcher and only crt-static the
#    levels; exec tools get none. Then the launcher has no VEX (AVX)
#    instruction, and it and the v1 build run under qemu -cpu qemu64.
test_g() {
    local flags=() want_cfgs="rrm_global" label
    label="$(setting_label extra_rustc_flags)"
    if [[ -z "$label" ]]; then
        fail "g: no extra_rustc_flags setting found in $RULES_RUST_DIR"
        return
    fi
    flags+=("--$label=--cfg=rrm_global,-Ctarget-cpu=x86-64-v3,-Ctarget-feature=+avx2,-C,target-feature=+fma,--codegen=target_cpu=native")
    label="$(setting_label extra_rustc_flag)"
    if [[ -n "$label" ]]; then
        # One value list: the stand-in's setting is not repeatable (Bazel 4.2.3).
        flags+=("--$label=--cfg=rrm_flag,-Ctarget-feature=+bmi2")
        want_cfgs+=" rrm_flag"
    fi
    label="$(setting_label per_crate_rustc_flag)"
    if [[ -n "$label" ]]; then
        flags+=("--$label=@--cfg=rrm_per_crate,@-Ctarget-cpu=native,@-Ctarget-feature=+lzcnt")
        want_cfgs+=" rrm_per_crate"
    fi
    log "g: ${flags[*]}"
    bz "$MAIN_WS" "$MAIN_OB" aquery -c fastbuild "${flags[@]}" \
        "mnemonic('Rustc', deps($HELLO))" --output=text >"$WORK/g.aquery" 2>"$WORK/g.err" ||
        { cat "$WORK/g.err" >&2; fail "g: aquery failed"; return; }
    local report
    report="$(python3 - "$WORK/g.aquery" "$want_cfgs" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
want_cfgs = sys.argv[2].split()
bad, levels = [], {}
for block in re.split(r"(?m)^action ", text)[1:]:
    target = re.search(r"Target: (\S+)", block).group(1)
    out = re.search(r"Outputs: \[bazel-out/([^/]+)/", block).group(1)
    argv = block[block.find("Command Line:"):]
    cpus = re.findall(r"(?:-C\s*|--codegen[= ])target[-_]cpu=([\w-]+)", argv)
    features = re.findall(r"(?:-C\s*|--codegen[= ])target[-_]feature=([\w.+,-]+)", argv)
    cpu_features = [f for fs in features for f in fs.split(",") if f.strip("+-") != "crt-static"]
    cfgs = [c for c in want_cfgs if "--cfg=" + c not in argv]
    where = f"{target} in {out}"
    if "-exec-" in out:
        if cpus or re.search(r"--cfg=rrm_", argv) or cpu_features:
            bad.append(f"{where}: exec tool got cpu {cpus}, features {features}")
        continue
    if cfgs:
        bad.append(f"{where}: missing --cfg={','.join(cfgs)}")
    if cpu_features:
        bad.append(f"{where}: CPU target features {cpu_features}")
    if target.endswith(".variant"):
        if len(cpus) != 1:
            bad.append(f"{where}: target-cpu {cpus}")
        else:
            levels[cpus[0]] = out
    elif not cpus or set(cpus) != {"x86-64"}:
        # The launcher and its crates: only the baseline's -Ctarget-cpu.
        bad.append(f"{where}: target-cpu {cpus}, want only x86-64")
print("BAD " + "; ".join(bad) if bad else "OK " + " ".join(sorted(levels)))
PY
)"
    if [[ "$report" == "OK x86-64 x86-64-v2 x86-64-v3 x86-64-v4" ]]; then
        pass "g: global flags (${want_cfgs// /, }) reach every level, the launcher and their crates without CPU flags; each level has its own -Ctarget-cpu, the launcher and its crates x86-64; exec tools get none ($report)"
    else
        fail "g: global rustc flags: $report"
    fi

    # A -Ctarget-cpu in the toolchain's own flags (first on rustc's command
    # line) is overridden by each level's and by the baseline's, which come
    # later, on the launcher's crates too. Only the stand-in has such a
    # toolchain at hand.
    if [[ -z "${RRM_RULES_RUST:-}" ]]; then
        bz "$MAIN_WS" "$MAIN_OB" aquery -c fastbuild \
            --extra_toolchains=@rust_local_toolchain//:toolchain_with_cpu_flags \
            "mnemonic('Rustc', deps($HELLO))" --output=text >"$WORK/g2.aquery" 2>"$WORK/g2.err" ||
            { cat "$WORK/g2.err" >&2; fail "g: aquery with the toolchain's -Ctarget-cpu failed"; return; }
        report="$(python3 - "$WORK/g2.aquery" <<'PY'
import re, sys
bad, last = [], {}
for block in re.split(r"(?m)^action ", open(sys.argv[1]).read())[1:]:
    target = re.search(r"Target: (\S+)", block).group(1)
    out = re.search(r"Outputs: \[bazel-out/([^/]+)/", block).group(1)
    cpus = re.findall(r"-Ctarget-cpu=([\w-]+)", block[block.find("Command Line:"):])
    if "-exec-" in out:
        continue
    if target.endswith(".variant"):
        last[cpus[-1] if cpus else "none"] = out
    elif not cpus or cpus[-1] != "x86-64":
        bad.append(f"{target} (launcher or its crate): {cpus}")
print("BAD " + "; ".join(bad) if bad else "OK " + " ".join(sorted(last)))
PY
)"
        if [[ "$report" == "OK x86-64 x86-64-v2 x86-64-v3 x86-64-v4" ]]; then
            pass "g: with -Ctarget-cpu=x86-64-v3 in the toolchain's flags, each level's own -Ctarget-cpu comes last, and x86-64 on the launcher and its crates ($report)"
        else
            fail "g: toolchain -Ctarget-cpu: $report"
        fi
    fi

    local bundle
    bz "$MAIN_WS" "$MAIN_OB" build -c fastbuild "${flags[@]}" "$HELLO" >"$WORK/g.build" 2>&1 || true
    bundle="$(awk '/up-to-date:/ {getline; print $1; exit}' "$WORK/g.build")"
    if [[ ! -x "$bundle" ]]; then
        tail -20 "$WORK/g.build" >&2
        fail "g: build with global CPU flags failed"
        return
    fi
    local vex
    vex="$(objdump -d --no-show-raw-insn "$bundle" | grep -cE '^\s+[0-9a-f]+:\s+v[a-z0-9]+\s' || true)"
    if [[ "$vex" == 0 ]]; then
        pass "g: with global -Ctarget-cpu=x86-64-v3 and +avx2/+fma/+bmi2 the launcher has no VEX instruction"
    else
        fail "g: the launcher has $vex VEX (AVX) instructions despite the baseline transition"
    fi
    if command -v qemu-x86_64 >/dev/null; then
        if MULTIARCH_LEVEL=v1 MULTIARCH_DEBUG=extract qemu-x86_64 -cpu qemu64 "$bundle" >"$WORK/g.v1" &&
            chmod +x "$WORK/g.v1" && qemu-x86_64 -cpu qemu64 "$WORK/g.v1" >/dev/null 2>&1; then
            pass "g: built with global CPU flags, the launcher and the v1 build run under qemu -cpu qemu64"
        else
            fail "g: built with global CPU flags, the launcher or the v1 build fails under qemu -cpu qemu64"
        fi
    else
        skip "g: qemu-x86_64 not installed: the launcher and v1 build were not run on a baseline CPU"
    fi
}

# p. on a platform the ruleset does not build for (arm64 Linux, x86-64
#    macOS), `bazel build //...` skips every rust_multiarch_binary instead of
#    failing (target_compatible_with; tests/bazel/platforms).
test_p() {
    local platform out opts
    for platform in linux_arm64 macos_x86_64; do
        opts=(--platforms="//platforms:$platform" --extra_toolchains=//platforms:all --show_result=100)
        # Named on the command line, Bazel 4.2.3 reports each one skipped
        # (--show_result: by default it lists results for one target only).
        out="$(bz "$MAIN_WS" "$MAIN_OB" build "${opts[@]}" "$HELLO" "$WORKLOAD" 2>&1 || true)"
        if [[ "$out" == *"Target $HELLO:hello was skipped"* && "$out" == *"Target $WORKLOAD:workload was skipped"* ]]; then
            pass "p: --platforms=//platforms:$platform: the example bundles are skipped"
        else
            fail "p: --platforms=//platforms:$platform: bundles not skipped: $(grep -E 'ERROR|skipped|completed' <<<"$out" | head -5)"
        fi
        # (Not //cc_level: its plain C targets need a C toolchain for the
        # platform, which this machine lacks.)
        if out="$(bz "$MAIN_WS" "$MAIN_OB" build "${opts[@]}" -- //... -//cc_level/... 2>&1)"; then
            pass "p: --platforms=//platforms:$platform: bazel build //... succeeds"
        else
            fail "p: --platforms=//platforms:$platform: bazel build //...: $(grep -E 'ERROR' <<<"$out" | head -3)"
        fi
    done
}

# s. a C/C++ library follows the level when its copts select() on the
#    level settings (tests/bazel/cc_level): its CppCompile in each level's
#    configuration has that level's -march, and none in the user's.
test_s() {
    local report
    bz "$MAIN_WS" "$MAIN_OB" aquery "mnemonic('CppCompile', deps(//cc_level:all))" \
        --output=text >"$WORK/s.aquery" 2>"$WORK/s.err" ||
        { cat "$WORK/s.err" >&2; fail "s: aquery failed"; return; }
    report="$(python3 - "$WORK/s.aquery" <<'PY'
import re, sys
marches = sorted(
    ",".join(re.findall(r"-march=([\w-]+)", block[block.find("Command Line:"):])) or "none"
    for block in re.split(r"(?m)^action ", open(sys.argv[1]).read())[1:]
    if "//cc_level:level_math" in block
)
print(" ".join(marches))
PY
)"
    if [[ "$report" == "none x86-64 x86-64-v2 x86-64-v3 x86-64-v4" ]]; then
        pass "s: the C library's -march follows each level (and none outside): $report"
    else
        fail "s: C library -march per configuration: $report"
    fi
}

# t. `bazel test //...` in the test workspace: the analysis tests of
#    MultiarchInfo and the output groups (tests/bazel/analysis).
test_t() {
    if bz "$MAIN_WS" "$MAIN_OB" test //... >"$WORK/t.log" 2>&1; then
        pass "t: bazel test //... ($(grep -m1 -E '^Executed' "$WORK/t.log" || echo 'no summary'))"
    else
        grep -E 'FAILED|ERROR' "$WORK/t.log" | head -10 >&2 || true
        fail "t: bazel test //... failed"
    fi
}

# v (issue 12). tests/bazel/variants: a bundle of six variants by CPU
# name and feature set (the levels x86-64 and x86-64-v3, znver4,
# sapphirerapids, icelake-server, x86-64-v3 plus +aes,+pclmulqdq,+sha).
FLEET=//variants:fleet
FLEET_VARIANTS=(x86-64 x86-64-v3 znver4 sapphirerapids icelake-server v3-crypto)
# The flags each variant's rustc gets last (tests/bazel/variants/BUILD.bazel).
declare -A FLEET_FLAGS=(
    [x86-64]="-Ctarget-cpu=x86-64"
    [x86-64-v3]="-Ctarget-cpu=x86-64-v3"
    [znver4]="-Ctarget-cpu=znver4"
    [sapphirerapids]="-Ctarget-cpu=sapphirerapids"
    [icelake-server]="-Ctarget-cpu=icelake-server"
    [v3-crypto]="-Ctarget-cpu=x86-64-v3 -Ctarget-feature=+aes,+pclmulqdq,+sha"
)
# A target feature each variant's required features must include (from
# rustc's cfg for the CPU; the launcher detects them all).
declare -A FLEET_MARKER=([x86-64-v3]=avx2 [znver4]=sse4a [sapphirerapids]=amx-tile
    [icelake-server]=avx512vbmi2 [v3-crypto]=sha)

# fleet_oracle INSPECT_JSON [CPUINFO_FLAGS]: the variant the bundle should
# start on a CPU with these /proc/cpuinfo flags (default: this host's): the
# first, in the bundle's order, whose required features (rustc's names,
# mapped to the kernel's) the flags all have. An independent reading of the
# ranking rule, not the launcher's code.
fleet_oracle() {
    python3 - "$1" "${2:-$(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2)}" <<'PY'
import json, sys
meta, flags = json.load(open(sys.argv[1])), set(sys.argv[2].split())
kernel = {"sse3": "pni", "sse4.1": "sse4_1", "sse4.2": "sse4_2", "cmpxchg16b": "cx16",
          "lahfsahf": "lahf_lm", "lzcnt": "abm", "prfchw": "3dnowprefetch", "sha": "sha_ni",
          "ermsb": "erms", "avx512vbmi2": "avx512_vbmi2", "avx512vnni": "avx512_vnni",
          "avx512bitalg": "avx512_bitalg", "avx512vpopcntdq": "avx512_vpopcntdq",
          "avx512bf16": "avx512_bf16", "avx512fp16": "avx512_fp16", "avxvnni": "avx_vnni",
          "avx512vp2intersect": "avx512_vp2intersect"}
for v in meta["variants"]:
    missing = [f for f in v["requires"] if kernel.get(f, f.replace("-", "_")) not in flags]
    if not missing:
        print(v["name"])
        break
PY
}

test_v() {
    local bundle cli out want got v file
    bundle="$(bundle_file fastbuild "$FLEET")"
    cli="$(bz "$MAIN_WS" "$MAIN_OB" build -c opt @rules_rust_multiarch//cli:multiarch 2>&1 |
        awk '/up-to-date:/ {getline; print $1; exit}')"
    if [[ ! -x "$bundle" || ! -x "$cli" ]]; then
        fail "v: $FLEET or the multiarch CLI did not build"
        return
    fi

    # Each variant's build (its output group) is byte-identical to what
    # `multiarch extract` writes, and saw its own name through select().
    for v in "${FLEET_VARIANTS[@]}"; do
        file="$(output_group_file fastbuild "$FLEET" "$v")"
        if [[ -s "$file" ]] && "$cli" extract "$bundle" --variant "$v" -o "$WORK/v-$v" &&
            cmp -s "$file" "$WORK/v-$v"; then
            pass "v: $v: multiarch extract == its output group build ($(basename "$(dirname "$file")")/$(basename "$file"))"
        else
            fail "v: $v: multiarch extract differs from its output group build $file"
        fi
        got="$(grep -ao 'fleet-select:[a-z0-9._-]*;' "$file" | sort -u | tr '\n' ' ')"
        if [[ "$got" == "fleet-select:$v; " ]]; then
            pass "v: $v build took the select() branch of //rules/settings:variant for $v"
        else
            fail "v: $v build: select() markers in the file: ${got:-none}"
        fi
    done

    # rustc got each variant's flags last, and :level only in the level ones.
    bz "$MAIN_WS" "$MAIN_OB" aquery -c fastbuild "mnemonic('Rustc', $FLEET.variant)" --output=jsonproto \
        >"$WORK/v.aquery" 2>"$WORK/v.err" || { cat "$WORK/v.err" >&2; fail "v: aquery failed"; return; }
    out="$(python3 - "$WORK/v.aquery" <<'PY'
import json, re, sys
seen = []
for a in json.load(open(sys.argv[1])).get("actions", []):
    argv = a["arguments"]
    cpu = [x for x in argv if re.match(r"-Ctarget-cpu=", x)]
    feats = [x for x in argv if re.match(r"-Ctarget-feature=", x) and "crt-static" not in x]
    cfg = [x for x in argv if x.startswith("--cfg=fleet_level=")]
    seen.append(" ".join(cpu + feats) + " | " + (cfg[0] if cfg else "no level"))
print("\n".join(sorted(seen)))
PY
)"
    want="$(printf '%s\n' \
        "-Ctarget-cpu=icelake-server | no level" \
        "-Ctarget-cpu=sapphirerapids | no level" \
        "-Ctarget-cpu=x86-64 | --cfg=fleet_level=\"v1\"" \
        "-Ctarget-cpu=x86-64-v3 -Ctarget-feature=+aes,+pclmulqdq,+sha | no level" \
        "-Ctarget-cpu=x86-64-v3 | --cfg=fleet_level=\"v3\"" \
        "-Ctarget-cpu=znver4 | no level" | sort)"
    if [[ "$out" == "$want" ]]; then
        pass "v: each variant's Rustc action has exactly its -Ctarget-cpu / -Ctarget-feature; :level select()s only the level variants"
    else
        fail "v: Rustc flags per variant:"$'\n'"$out"$'\n'"want:"$'\n'"$want"
    fi

    # multiarch inspect: every variant, ranked (more required features
    # first, ties in the order given), each requiring its marker feature,
    # only features rustc enables for its flags, the baseline none.
    "$cli" inspect --json "$bundle" >"$WORK/v.json" || { fail "v: multiarch inspect --json failed"; return; }
    local table=""
    for v in "${FLEET_VARIANTS[@]}"; do table+="$v|${FLEET_FLAGS[$v]}|${FLEET_MARKER[$v]:-}"$'\n'; done
    out="$(python3 - "$WORK/v.json" "$table" <<'PY'
import json, os, re, subprocess, sys
meta = json.load(open(sys.argv[1]))
rows = [line.split("|") for line in sys.argv[2].splitlines() if line]
order = [r[0] for r in rows]
flags = {r[0]: r[1].split() for r in rows}
marker = {r[0]: r[2] for r in rows if r[2]}
bad, names = [], [v["name"] for v in meta["variants"]]
if sorted(names) != sorted(order):
    bad.append(f"variants {names}, want {order}")
want_rank = sorted(meta["variants"], key=lambda v: (-len(v["requires"]), order.index(v["name"]) if v["name"] in order else 99))
if [v["name"] for v in want_rank] != names:
    bad.append(f"order {names} is not by required feature count, then given order")
for v in meta["variants"]:
    f = flags.get(v["name"], [])
    cfg = subprocess.run(["rustc", "--print", "cfg", "--target", "x86_64-unknown-linux-gnu", *f],
                         env=dict(os.environ, RUSTC_BOOTSTRAP="1"), capture_output=True, text=True).stdout
    enabled = set(re.findall(r'target_feature="([^"]+)"', cfg))
    extra = set(v["requires"]) - enabled
    if extra:
        bad.append(f"{v['name']} requires {sorted(extra)}, which rustc does not enable for {f}")
    if v["name"] in marker and marker[v["name"]] not in v["requires"]:
        bad.append(f"{v['name']} does not require {marker[v['name']]}")
    if v["name"] == "x86-64" and v["requires"]:
        bad.append(f"the baseline requires {v['requires']}")
if names and names[-1] != "x86-64":
    bad.append(f"the last variant is {names[-1]}, not the baseline")
print("BAD " + "; ".join(bad) if bad else "OK " + ", ".join(f"{v['name']} ({len(v['requires'])})" for v in meta["variants"]))
PY
)"
    if [[ "$out" == OK* ]]; then
        pass "v: multiarch inspect: ranked by required features, each from rustc's cfg for its flags: ${out#OK }"
    else
        fail "v: multiarch inspect: $out"
    fi

    # The variant this host starts: the one the ranking rule gives for its
    # /proc/cpuinfo flags; znver4 on a Zen 4.
    want="$(fleet_oracle "$WORK/v.json")"
    got="$(MULTIARCH_DEBUG=log "$bundle" 2>&1 >"$WORK/v.out" | grep -m1 '^\[multiarch\]' || true)"
    if [[ -n "$want" && "$got" == "[multiarch] starting $want "* ]] &&
        grep -q "(fleet-select:$want; " "$WORK/v.out"; then
        pass "v: this host ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)) starts $want, as the ranking rule and /proc/cpuinfo say: $got; the program says: $(cat "$WORK/v.out")"
    else
        fail "v: this host should start ${want:-?}: log ${got:-none}; program: $(cat "$WORK/v.out")"
    fi
    local picks
    picks="$("$cli" cpu --picks "$bundle" 2>&1 || true)"
    if [[ "$picks" == "$want" ]]; then
        pass "v: multiarch cpu --picks agrees: $picks"
    else
        fail "v: multiarch cpu --picks says '$picks', want $want"
    fi
    local flags
    flags="$(grep -m1 '^flags' /proc/cpuinfo)"
    if [[ " $flags " == *" sse4a "* && " $flags " == *" avx512f "* && " $flags " == *" avx512_bf16 "* ]]; then
        if [[ "$want" == znver4 ]]; then
            pass "v: Zen 4 host starts znver4"
        else
            fail "v: Zen 4 host starts $want, not znver4"
        fi
    else
        skip "v: not a Zen 4 host (no sse4a + avx512f + avx512_bf16): the znver4 pick is not checked natively here"
    fi

    # Under qemu: Haswell (AVX2, AES, no SHA) starts x86-64-v3, qemu64 the
    # baseline; each runs and prints its own variant.
    if ! command -v qemu-x86_64 >/dev/null; then
        skip "v: qemu-x86_64 not installed (apt-get install qemu-user)"
        return
    fi
    local spec model
    for spec in Haswell:x86-64-v3 qemu64:x86-64; do
        model="${spec%%:*}"
        want="${spec#*:}"
        got="$(MULTIARCH_DEBUG=log qemu-x86_64 -cpu "$model" "$bundle" 2>&1 >"$WORK/v.qemu" | grep -m1 '^\[multiarch\]' || true)"
        if [[ "$got" == "[multiarch] starting $want "* ]] && grep -q "^variant $want (fleet-select:$want; " "$WORK/v.qemu"; then
            pass "v: qemu -cpu $model starts $want: $got"
        else
            fail "v: qemu -cpu $model: want $want; log: ${got:-none}; program: $(cat "$WORK/v.qemu")"
        fi
    done
}

# The bundles test x builds, and their paths under bazel-bin.
REMOTE_TARGETS=(//linking:default_linking //linking:dynamic_linking "$HELLO" "$WORKLOAD")
REMOTE_BUNDLES=(
    linking/default_linking/default_linking
    linking/dynamic_linking/dynamic_linking
    external/rules_rust_multiarch/examples/hello/hello/hello
    external/rules_rust_multiarch/examples/workload/workload/workload
)

# processes_of LOG KIND: the number of KIND processes in the first process
# summary of LOG ("INFO: 49 processes: 17 internal, 32 remote."); fails
# when there is none or it names a kind other than KIND and internal.
processes_of() {
    local line
    line="$(grep -m1 -E '^INFO: [0-9]+ process(es)?[:.]' "$1")" || return 1
    awk -v kind="$2" '{
        sub(/^INFO: [0-9]+ process(es)?[:.] */, "")
        sub(/\.$/, "")
        n = split($0, parts, /, /)
        count = 0
        for (i = 1; i <= n; i++) {
            num = parts[i]; sub(/ .*/, "", num)
            k = parts[i]; sub(/^[0-9]+ /, "", k)
            if (k == kind) count = num
            else if (k != "internal") bad = 1
        }
        if (bad) exit 1
        print count
    }' <<<"$line"
}

# elapsed LOG: Bazel's "Elapsed time" of the build in LOG.
elapsed() {
    grep -m1 -oE 'Elapsed time: [0-9.]+s' "$1" || echo "no elapsed time"
}

# bundle_sums BAZEL_BIN: the SHA-256 of each of REMOTE_BUNDLES, one line.
bundle_sums() {
    (cd "$1" && sha256sum "${REMOTE_BUNDLES[@]}" | awk '{print $1}' | tr '\n' ' ')
}

# x. remote execution: Bazel's own REAPI worker on 127.0.0.1
#    (tests/bazel/remote_worker.sh) runs every action of the bundles; a
#    second checkout and output base is served by its cache alone; the
#    bundles are bit-identical to a local build.
test_x() {
    local started=$SECONDS
    local w="$WORK/x/worker" port n1 n2 bin sums_remote sums_cached sums_local want line
    if [[ ! -d /usr/src/bazel-bootstrap/src/tools/remote ]] || ! command -v javac >/dev/null; then
        skip "x: no remote worker sources or javac (apt-get install bazel-bootstrap-source default-jdk-headless)"
        return
    fi
    mkdir -p "$w"
    port="$(free_port)"
    WORKER_DIR="$w"
    "$ROOT/tests/bazel/remote_worker.sh" start "$w" "$port" 2 ||
        { fail "x: the remote worker did not start"; return; }
    log "x: worker on 127.0.0.1:$port ($(($SECONDS - started)) s to build and start)"
    # --remote_timeout: one upload of rustc's libLLVM (190 MB) may take over
    # the default 60 s on a loaded machine.
    local remote=(--remote_executor="grpc://127.0.0.1:$port" --spawn_strategy=remote
        --remote_local_fallback=false --remote_timeout=600)
    local a="$WORK/x/first/rules_rust_multiarch" b="$WORK/x/second/place/checkout"
    copy_checkout "$a"
    copy_checkout "$b"
    local wa wb
    wa="$(checkout_workspace "$a")"
    wb="$(checkout_workspace "$b")"

    bz "$wa" "$WORK/ob-x-1" build -c opt "${remote[@]}" "${REMOTE_TARGETS[@]}" >"$WORK/x1.log" 2>&1 ||
        { grep -E '^(ERROR|error)' "$WORK/x1.log" | head -10 >&2; fail "x: remote build failed (RRM_KEEP_WORK=1 keeps $WORK/x1.log)"; return; }
    log "x: first build:  $(grep -m1 -E '^INFO: [0-9]+ process' "$WORK/x1.log") ($(elapsed "$WORK/x1.log"))"
    if n1="$(processes_of "$WORK/x1.log" remote)" && [[ "$n1" -gt 0 ]]; then
        pass "x: every action ran on the remote executor or inside Bazel ($n1 remote)"
    else
        fail "x: actions ran elsewhere than on the remote executor: $(grep -m1 -E '^INFO: [0-9]+ process' "$WORK/x1.log")"
    fi
    bin="$(cd "$wa" && bazel_at "$WORK/ob-x-1" info -c opt bazel-bin 2>/dev/null)"
    sums_remote="$(bundle_sums "$bin")"
    want="$(glibc_level)"
    want="${want:-x86-64}"
    line="$(MULTIARCH_DEBUG=log XDG_CACHE_HOME="$WORK/x-cache" "$bin/${REMOTE_BUNDLES[2]}" 2>&1 >/dev/null |
        grep -m1 '^\[multiarch\]' || true)"
    if [[ "$line" == "[multiarch] starting $want (cpu $want;"* ]]; then
        pass "x: the remotely built hello bundle starts the host's level: $line"
    else
        fail "x: the remotely built hello bundle: glibc says $want, bundle logged: ${line:-nothing}"
    fi
    (cd "$wa" && bazel_at "$WORK/ob-x-1" shutdown >/dev/null 2>&1) || true

    bz "$wb" "$WORK/ob-x-2" build -c opt "${remote[@]}" "${REMOTE_TARGETS[@]}" >"$WORK/x2.log" 2>&1 ||
        { grep -E '^(ERROR|error)' "$WORK/x2.log" | head -10 >&2; fail "x: second remote build failed"; return; }
    log "x: second build: $(grep -m1 -E '^INFO: [0-9]+ process' "$WORK/x2.log") ($(elapsed "$WORK/x2.log"))"
    if n2="$(processes_of "$WORK/x2.log" "remote cache hit")" && [[ "$n2" == "$n1" ]]; then
        pass "x: another checkout and output base: all $n2 actions were remote cache hits"
    else
        fail "x: another checkout and output base: want $n1 remote cache hits and nothing else, got: $(grep -m1 -E '^INFO: [0-9]+ process' "$WORK/x2.log")"
    fi
    bin="$(cd "$wb" && bazel_at "$WORK/ob-x-2" info -c opt bazel-bin 2>/dev/null)"
    sums_cached="$(bundle_sums "$bin")"
    (cd "$wb" && bazel_at "$WORK/ob-x-2" shutdown >/dev/null 2>&1) || true
    "$ROOT/tests/bazel/remote_worker.sh" stop "$w"

    bz "$MAIN_WS" "$MAIN_OB" build -c opt "${REMOTE_TARGETS[@]}" >"$WORK/x0.log" 2>&1 ||
        { tail -20 "$WORK/x0.log" >&2; fail "x: local build failed"; return; }
    bin="$(bz "$MAIN_WS" "$MAIN_OB" info -c opt bazel-bin 2>/dev/null)"
    sums_local="$(bundle_sums "$bin")"
    log "x: local build ($MAIN_OB): $(elapsed "$WORK/x0.log")"
    if [[ -n "$sums_local" && "$sums_remote" == "$sums_local" && "$sums_cached" == "$sums_local" ]]; then
        pass "x: remote, remote-cached and local bundles are bit-identical ($sums_local)"
    else
        fail "x: bundles differ: remote $sums_remote, from the cache $sums_cached, local $sums_local"
    fi
    log "x: took $((SECONDS - started)) s (load average:$(uptime | sed 's/.*load average://'))"
}

main() {
    local tests=("$@")
    [[ ${#tests[@]} -gt 0 ]] || tests=(t f l p s z a v g b c d e x)
    ensure_bazel
    case " ${tests[*]} " in *" a "* | *" b "* | *" c "*) build_examples ;; esac
    for t in "${tests[@]}"; do
        log "== test $t"
        "test_$t"
    done
    echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
    [[ "$FAILED" == 0 ]]
}

main "$@"; exit  # (one line: bash reads no further while main runs)
