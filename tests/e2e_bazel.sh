#!/usr/bin/env bash
# End-to-end tests of the Bazel ruleset on Debian's Bazel 4.2.3 (offline).
#
#   tests/e2e_bazel.sh            run every test
#   tests/e2e_bazel.sh a d f      run some: a extract, b qemu-sigill, c qemu-level,
#                                 d reproducible, e remote-cache, f bad-input,
#                                 g global rustc flags (levels, launcher baseline),
#                                 l launcher linking (bfd, gold, lld, rust-lld,
#                                   cc_common.link), p other platforms (arm64
#                                   builds, macOS skipped),
#                                 s C/C++ select() on the level, z launcher size,
#                                 i prepared install (output group multiarch_install),
#                                 t bazel test //... (analysis tests),
#                                 v variants (CPU names, feature sets),
#                                 x remote execution (Bazel's own REAPI worker)
#                                 y symbols: build-ids, gdb, core dumps, perf
#                                 u rust_multiarch_test: a test at every level
#                                 k aarch64 bundle (--platforms, qemu-aarch64)
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
# Programs a test left running in the background (test y), killed on exit.
BACKGROUND_PIDS=()

cleanup() {
    local ob pid
    for pid in "${BACKGROUND_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
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
    expect_build_error //bad_levels:bad_debug_info \
        'attribute `debug_info`: unknown value "separate"; allowed values are "embedded", "split"'
    expect_build_error //bad_levels:bad_test_levels \
        'attribute `levels`: unknown level "v5"; allowed values are "v1", "v2", "v3", "v4"'
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
    expect_analysis_error //bad_variants:bad_cap \
        'attribute `cap`: "znver4" is neither a level nor one of this bundle'"'"'s variants; accepted: "x86-64", "x86-64-v3", "v1"'
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
# ARM64_OPTS: what builds for linux/aarch64 in the test workspace. Bazel
# 4.2.3 picks the C++ toolchain by platform only with
# --incompatible_enable_cc_toolchain_resolution (on by default from Bazel
# 7.0); rules_rust links with the C++ toolchain of the target platform
# (rules_rust 0.73.0 rust/private/rustc.bzl:361-371, 392-436), here
# aarch64-linux-gnu-gcc (tests/bazel/toolchains). Their own output base: the
# option changes every configuration.
ARM64_OPTS=(--platforms=//platforms:linux_arm64 --incompatible_enable_cc_toolchain_resolution)
ARM64_OB="$WORK/ob-arm64"

# arm64_toolchain_ready TEST: Debian's aarch64 toolchain is there (installed
# with CI=true, as tests/arm64.sh does); else skips TEST's arm64 part.
arm64_toolchain_ready() {
    if [[ -n "${RRM_WORKSPACE:-}" ]]; then
        skip "$1: arm64: the aarch64 toolchains are registered in tests/bazel/WORKSPACE only, not in $RRM_WORKSPACE"
        return 1
    fi
    if ! "$ROOT/tests/arm64_toolchain.sh" --check; then
        if [[ "${CI:-}" == true ]]; then
            "$ROOT/tests/arm64_toolchain.sh" >&2
        else
            skip "$1: arm64: Debian's aarch64 toolchain is not installed; run tests/arm64_toolchain.sh (as root) or set CI=true"
            return 1
        fi
    fi
}

# elf_machine_type FILE: "AArch64 DYN", "Advanced Micro Devices X86-64 EXEC", ...
elf_machine_type() {
    LC_ALL=C readelf -h "$1" 2>/dev/null | awk -F': *' '
        $1 ~ /Machine/ {m = $2} $1 ~ /Type/ {split($2, t, " "); ty = t[1]}
        END {print m " " ty}'
}

# k. an aarch64 bundle from rust_multiarch_binary (issue 13): built with
#    --platforms for linux/aarch64 (//aarch64:tiers, variants =
#    AARCH64_VARIANTS), a static PIE whose only relocations are
#    R_AARCH64_RELATIVE; under qemu-aarch64 -cpu MODEL it starts the tier
#    the model's AT_HWCAP/AT_HWCAP2 give (and runs it, where binfmt_misc in
#    a user namespace lets the launcher exec an aarch64 build); each tier's
#    output group is byte-identical to `multiarch extract`; an x86 or
#    misspelt feature and `levels` fail at analysis.
test_k() {
    arm64_toolchain_ready k || return 0
    local out bundle cli qemu10 m t rc file runs=0
    out="$(bz "$MAIN_WS" "$ARM64_OB" build "${ARM64_OPTS[@]}" //aarch64:tiers 2>&1)" ||
        { fail "k: //aarch64:tiers did not build: $(grep -E 'ERROR|error' <<<"$out" | head -5)"; return; }
    bundle="$(awk '/up-to-date:/ {getline; print $1; exit}' <<<"$out")"
    if [[ "$(elf_machine_type "$bundle")" == "AArch64 DYN" ]] && ! readelf -lW "$bundle" | grep -q INTERP &&
        [[ "$(readelf -rW "$bundle" | awk '/^[0-9a-f]+ +[0-9a-f]+ R_/ {print $3}' | sort -u)" == R_AARCH64_RELATIVE ]]; then
        pass "k: //aarch64:tiers is an aarch64 static PIE (ET_DYN, no interpreter, only R_AARCH64_RELATIVE)"
    else
        fail "k: //aarch64:tiers: $(elf_machine_type "$bundle"), $(readelf -lW "$bundle" | grep -c INTERP) PT_INTERP"
    fi

    # The launcher and its crate are compiled for aarch64 with only the
    # baseline CPU (generic), the tiers with theirs; the CLI for the host.
    local report
    bz "$MAIN_WS" "$ARM64_OB" aquery "${ARM64_OPTS[@]}" "mnemonic('Rustc', deps(//aarch64:tiers))" \
        --output=text >"$WORK/k.aquery" 2>"$WORK/k.err" || { fail "k: aquery failed: $(tail -3 "$WORK/k.err")"; return; }
    report="$(python3 - "$WORK/k.aquery" <<'PY'
import re, sys
bad, seen = [], set()
for block in re.split(r"(?m)^action ", open(sys.argv[1]).read())[1:]:
    label = re.search(r"Target: (\S+)", block).group(1)
    line = block[block.find("Command Line:"):]
    cpus = re.findall(r"-Ctarget-cpu=([\w-]+)", line)
    target = re.findall(r"--target=(\S+?)['\s]", line)
    config = re.search(r"Configuration: (\S+)", block).group(1)
    if "-exec" in config:
        # Exec tools: the CLI and the crates it shares with the launcher.
        seen.add("exec" if label.endswith("cli:multiarch") else "exec-dep")
        if cpus or target != ["x86_64-unknown-linux-gnu"]:
            bad.append("%s (exec): cpus %s target %s" % (label, cpus, target))
    elif label.endswith(":tiers.launcher") or label.endswith("launcher:multiarch_launcher"):
        seen.add("launcher")
        if not cpus or set(cpus) != {"generic"} or target != ["aarch64-unknown-linux-gnu"]:
            bad.append("%s: cpus %s target %s" % (label, cpus, target))
    elif label.endswith(":tiers.variant"):
        seen.add("variant")
        if cpus[-1:] != ["generic"] or target != ["aarch64-unknown-linux-gnu"]:
            bad.append("%s: cpus %s target %s" % (label, cpus, target))
print("OK" if not bad and {"launcher", "variant", "exec"} <= seen else "; ".join(bad) or "missing: %s" % seen)
PY
)"
    if [[ "$report" == OK ]]; then
        pass "k: the launcher and its crate build for aarch64 with -Ctarget-cpu=generic only, the tiers for aarch64, the multiarch CLI for x86-64 (exec)"
    else
        fail "k: Rustc actions: $report"
    fi

    # Each tier's build (its output group) == `multiarch extract` (the CLI
    # built for the host, as an exec tool is).
    cli="$(bz "$MAIN_WS" "$MAIN_OB" build -c opt @rules_rust_multiarch//cli:multiarch 2>&1 |
        awk '/up-to-date:/ {getline; print $1; exit}')"
    for t in a1 a2 a3 a4; do
        file="$(bz "$MAIN_WS" "$ARM64_OB" build "${ARM64_OPTS[@]}" //aarch64:tiers --output_groups="$t" 2>&1 |
            awk '/up-to-date:/ {getline; print $1; exit}')"
        if [[ -s "$file" && -x "$cli" ]] && "$cli" extract "$bundle" --variant "$t" -o "$WORK/k-$t" &&
            cmp -s "$file" "$WORK/k-$t" && [[ "$(elf_machine_type "$file")" == AArch64* ]]; then
            pass "k: $t: multiarch extract == its output group build (aarch64)"
        else
            fail "k: $t: multiarch extract differs from its output group build $file"
        fi
    done

    # The tier each qemu model's AT_HWCAP/AT_HWCAP2 give (README, "arm64");
    # neoverse-v1 and -n2 need qemu 10 (fetched privately, best effort).
    qemu10="${RRM_TOOL_CACHE:-$WORK}/qemu10"
    "$ROOT/tests/arm64_toolchain.sh" --qemu10 "$qemu10" >&2 || true
    qemu10="$qemu10/bin/qemu-aarch64"
    [[ -x "$qemu10" ]] || qemu10=""
    local -A expect=([cortex-a53]=a1 [a64fx]=a1 [neoverse-n1]=a2 [neoverse-v1]=a3 [neoverse-n2]=a4 [max]=a4)
    local qemu7
    qemu7="$(command -v qemu-aarch64)"
    local -A model_qemu=([cortex-a53]="$qemu7" [a64fx]="$qemu7" [neoverse-n1]="$qemu7"
        [max]="$qemu7" [neoverse-v1]="$qemu10" [neoverse-n2]="$qemu10")
    # The launcher execs the chosen aarch64 build: binfmt_misc in a user and
    # mount namespace of its own (Linux 6.7+) sends it to qemu with the same
    # model (QEMU_CPU), as in tests/arm64.sh; elsewhere only the log line.
    cat >"$WORK/k-ns.sh" <<'SH'
set -o errexit
mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
echo ":arm64k:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:$1:FO" \
  >/proc/sys/fs/binfmt_misc/register
shift
exec "$@"
SH
    local binfmt_qemu
    binfmt_qemu="${qemu10:-$qemu7}"
    if QEMU_CPU=max unshare --user --map-root-user --mount bash "$WORK/k-ns.sh" "$binfmt_qemu" \
        "$WORK/k-a1" >/dev/null 2>"$WORK/k.err"; then
        runs=1
    else
        log "k: no binfmt_misc in a user namespace here ($(head -c 200 "$WORK/k.err")): checking the launcher's choice by its log line only"
    fi
    mkdir -p -m 700 "$WORK/k-cache"
    for m in cortex-a53 a64fx neoverse-n1 neoverse-v1 neoverse-n2 max; do
        if [[ -z "${model_qemu[$m]}" ]]; then
            skip "k: bundle on $m: no qemu 10"
            continue
        fi
        t="${expect[$m]}"
        rc=0
        if [[ "$runs" == 1 ]]; then
            QEMU_CPU="$m" XDG_CACHE_HOME="$WORK/k-cache" MULTIARCH_DEBUG=log \
                unshare --user --map-root-user --mount bash "$WORK/k-ns.sh" "${model_qemu[$m]}" "$bundle" exit 3 \
                >"$WORK/k.out" 2>"$WORK/k.err" || rc=$?
            if [[ "$rc:$(head -1 "$WORK/k.out")" == "3:tier=$t" ]] &&
                grep -q "^\[multiarch\] starting $t (cpu aarch64[ ;]" "$WORK/k.err"; then
                pass "k: under qemu-aarch64 -cpu $m the bundle starts $t, which runs (tier=$t, exit status passed through)"
            else
                fail "k: under qemu-aarch64 -cpu $m: exit $rc, $(head -1 "$WORK/k.out"), $(head -1 "$WORK/k.err")"
            fi
        else
            XDG_CACHE_HOME="$WORK/k-cache" MULTIARCH_DEBUG=log "${model_qemu[$m]}" -cpu "$m" "$bundle" \
                >/dev/null 2>"$WORK/k.err" || rc=$?
            if grep -q "^\[multiarch\] starting $t (cpu aarch64[ ;]" "$WORK/k.err"; then
                pass "k: under qemu-aarch64 -cpu $m the bundle chooses $t (log line)"
            else
                fail "k: under qemu-aarch64 -cpu $m: expected $t: $(head -1 "$WORK/k.err")"
            fi
        fi
    done

    # Bad input fails at analysis, naming the attribute, the variant, the
    # feature (or the fix).
    local target want spec
    for spec in "//aarch64:x86_feature|attribute \`variants\`: variant \"avx\": unknown feature \"avx2\"" \
        "//aarch64:misspelt_feature|attribute \`variants\`: variant \"a5\": unknown feature \"sve3\" (close: \"sve\", \"sve-b16b16\", \"sve2\"" \
        "//aarch64:levels|attribute \`levels\` names x86-64 levels, and this bundle is built for aarch64: give \`variants\` instead"; do
        target="${spec%%|*}" want="${spec#*|}"
        out="$(bz "$MAIN_WS" "$ARM64_OB" build "${ARM64_OPTS[@]}" "$target" 2>&1 || true)"
        if [[ "$out" == *"$want"* && "$out" == *"Analysis of target '$target' failed"* ]]; then
            pass "k: $target fails at analysis: $want"
        else
            fail "k: $target: expected '$want' at analysis in: $(grep -E 'ERROR|Error' <<<"$out" | head -3)"
        fi
    done
}

test_p() {
    local platform out opts file ok=1
    # linux/aarch64 (issue 13): the example bundles build, with their default
    # variants (the aarch64 tiers), into aarch64 static-PIE bundles.
    if arm64_toolchain_ready p; then
        for file in $(bz "$MAIN_WS" "$ARM64_OB" build "${ARM64_OPTS[@]}" --show_result=100 "$HELLO" "$WORKLOAD" 2>&1 |
            awk '/up-to-date:/ {getline; print $1}'); do
            [[ "$(elf_machine_type "$file")" == "AArch64 DYN" ]] || ok=0
            MULTIARCH_DEBUG=log,extract MULTIARCH_LEVEL=a1 qemu-aarch64 -cpu max "$file" 2>&1 >/dev/null |
                grep -q '^\[multiarch\] extracting a1 (cpu aarch64 .*embedded a1 a2 a3 a4' || ok=0
        done
        if [[ -n "${file:-}" && "$ok" == 1 ]]; then
            pass "p: --platforms=//platforms:linux_arm64: the example bundles build as aarch64 bundles of a1-a4"
        else
            fail "p: --platforms=//platforms:linux_arm64: the example bundles did not build as aarch64 bundles of the tiers"
        fi
    fi
    for platform in macos_x86_64; do
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
    bz "$MAIN_WS" "$MAIN_OB" aquery -c fastbuild "mnemonic('Rustc', deps($FLEET))" --output=text \
        >"$WORK/v.aquery" 2>"$WORK/v.err" || { cat "$WORK/v.err" >&2; fail "v: aquery failed"; return; }
    out="$(python3 - "$WORK/v.aquery" <<'PY'
import re, sys
seen = []
for block in re.split(r"(?m)^action ", open(sys.argv[1]).read())[1:]:
    if not re.search(r"Target: //variants:fleet\.variant\s", block):
        continue
    # (aquery's text quotes arguments: '-Ctarget-cpu=x86-64', ...'))
    argv = [x.rstrip("\\").rstrip(")").strip("'") for x in block[block.find("Command Line:"):].split()]
    cpu = [x for x in argv if x.startswith("-Ctarget-cpu=")]
    feats = [x for x in argv if x.startswith("-Ctarget-feature=") and "crt-static" not in x]
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
        "-Ctarget-cpu=znver4 | no level" | LC_ALL=C sort)"
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
    test_v_cap "$cli"
}

# v (issue 14, a cap the fleet controls): //variants:fleet_capped, the same
# variants with cap = "x86-64-v3", records the cap (inspect) and starts
# nothing beyond x86-64-v3's features on its own, naming the cap in the log;
# MULTIARCH_LEVEL may still name a variant beyond it.
test_v_cap() {
    local cli="$1" capped got
    capped="$(bundle_file fastbuild //variants:fleet_capped)"
    if [[ ! -x "$capped" ]]; then
        fail "v: //variants:fleet_capped did not build"
        return
    fi
    if [[ "$("$cli" inspect "$capped" --json)" == *'"cap": "x86-64-v3"'* ]]; then
        pass "v: multiarch inspect --json shows the bundle's cap x86-64-v3"
    else
        fail "v: inspect --json of fleet_capped lacks \"cap\": \"x86-64-v3\""
    fi
    got="$(MULTIARCH_DEBUG=log "$capped" 2>&1 >/dev/null | grep -m1 '^\[multiarch\]' || true)"
    if [[ "$got" == "[multiarch] starting x86-64-v3 (cpu "*"; cap x86-64-v3; embedded "* ||
        ("$got" == "[multiarch] starting x86-64 (cpu "* && "$got" == *"; cap x86-64-v3; "*) ]]; then
        pass "v: the capped bundle starts nothing beyond x86-64-v3 on its own: $got"
    else
        fail "v: the capped bundle: $got"
    fi
    if "$cli" cpu --runs "$capped" icelake-server >/dev/null 2>&1; then
        got="$(MULTIARCH_DEBUG=log MULTIARCH_LEVEL=icelake-server "$capped" 2>&1 >/dev/null | grep -m1 '^\[multiarch\]' || true)"
        if [[ "$got" == "[multiarch] starting icelake-server "* ]]; then
            pass "v: MULTIARCH_LEVEL names a variant beyond the cap: $got"
        else
            fail "v: MULTIARCH_LEVEL=icelake-server on the capped bundle: $got"
        fi
    else
        skip "v: this CPU does not run icelake-server: a start beyond the cap by name is not checked"
    fi
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

# i. the output group multiarch_install of the hello example (fastbuild, four
#    distinct builds) is the tree `multiarch install` lays out
#    (<key>/<program>, every level's build byte for byte), and the
#    bundle starts from a copy of it before any cache: through
#    MULTIARCH_PREPARED_DIR, and (as root, where a mount namespace and
#    overlayfs are available) at the real /usr/lib/multiarch, as a pkg_tar
#    with package_dir = "/usr/lib" would place it.
test_i() {
    local target=$HELLO mode=fastbuild bundle tree copy level want key entry line out ok=1
    bundle="$(bundle_file "$mode" "$target")"
    tree="$(output_group_file "$mode" "$target" multiarch_install)"
    if [[ ! -x "$bundle" || ! -d "$tree" || "$(basename "$tree")" != multiarch ]]; then
        fail "i: $target -c $mode: no bundle ($bundle) or no multiarch/ tree in output group multiarch_install ($tree)"
        return
    fi
    local keys=()
    for level in "${LEVELS[@]}"; do
        want="$(output_group_file "$mode" "$target" "${CPU[$level]}")"
        key="$(sha256sum "$want" | cut -c1-32)"
        keys+=("$key")
        entry="$tree/$key/hello"
        if ! cmp -s "$want" "$entry"; then
            fail "i: $entry is not the ${CPU[$level]} build $want"
            ok=0
        fi
    done
    # One directory and one file per distinct build (identical builds
    # would share one; hello's differ: each prints its own level).
    local distinct
    distinct="$(printf '%s\n' "${keys[@]}" | sort -u | wc -l)"
    if [[ "$(find "$tree" -mindepth 1 | wc -l)" != "$((2 * distinct))" ]]; then
        fail "i: want $distinct key directories with one entry each, the tree holds: $(find "$tree" -mindepth 1)"
        ok=0
    fi
    [[ "$ok" == 1 ]] && pass "i: output group multiarch_install holds <sha256 prefix>/hello for v1..v4 ($distinct distinct), byte for byte"

    # A copy, as an image would hold it: root's (or ours), not writable by others.
    copy="$WORK/i-root/multiarch"
    mkdir -p "$WORK/i-root"
    cp -R "$tree" "$copy"
    chmod -R u+w,go-w "$copy"
    local cache="$WORK/i-cache"
    line="$(XDG_CACHE_HOME="$cache" MULTIARCH_PREPARED_DIR="$copy" MULTIARCH_DEBUG=log "$bundle" 2>&1 >/dev/null)"
    if [[ "$line" == "[multiarch] starting "*"; via prepared install)" && ! -e "$cache" ]]; then
        pass "i: the bundle starts from the copied tree, writing no cache: $line"
    else
        fail "i: want a start via prepared install and no cache, got: $line (cache: $(ls -A "$cache" 2>&1))"
    fi
    out="$(MULTIARCH_EXEC=prepared MULTIARCH_PREPARED_DIR="$WORK/i-root/none" "$bundle" 2>&1 >/dev/null || true)"
    if [[ "$out" == "[multiarch] error: could not start "*"from a prepared install (no entry "* ]]; then
        pass "i: MULTIARCH_EXEC=prepared without a tree fails with one line"
    else
        fail "i: MULTIARCH_EXEC=prepared without a tree: $out"
    fi

    # The real path, /usr/lib/multiarch, in a mount namespace of its own.
    if [[ "$(id -u)" != 0 ]] || ! unshare -m true 2>/dev/null; then
        skip "i: /usr/lib/multiarch needs root and a mount namespace"
        return
    fi
    line="$(XDG_CACHE_HOME="$cache" MULTIARCH_DEBUG=log unshare -m sh -c \
        'mount -t overlay overlay -o "lowerdir=$1:/usr/lib" /usr/lib && exec "$2"' \
        sh "$WORK/i-root" "$bundle" 2>&1 >/dev/null)" || true
    if [[ "$line" == "[multiarch] starting "*"; via prepared install)" && ! -e "$cache" ]]; then
        pass "i: the bundle starts from /usr/lib/multiarch (overlay in a mount namespace): $line"
    elif [[ "$line" == *"mount:"* ]]; then
        skip "i: no overlayfs in a mount namespace here: $line"
    else
        fail "i: from /usr/lib/multiarch: $line"
    fi
}

ensure_gdb() {
    if ! command -v gdb >/dev/null; then
        log "no gdb on PATH: installing Debian's gdb"
        apt-get update -qq && apt-get install -y -qq gdb >/dev/null
    fi
}

# build_id FILE: the GNU build-id of an ELF file ("" when it has none).
build_id() {
    readelf -nW "$1" 2>/dev/null | awk '!id && match($0, /Build ID: *[0-9a-f]+/) {
        id = substr($0, RSTART, RLENGTH); sub(/Build ID: */, "", id); print id }'
}

# gdb_bt ARGS...: gdb in batch mode without any init file or debuginfod
# (DEBUGINFOD_URLS may be set system-wide; the test uses no network), then
# `bt`; the frames it prints.
gdb_bt() {
    timeout 120 gdb -nx -batch -iex 'set debuginfod enabled off' "$@" -ex bt 2>&1 | grep -E '^#[0-9]+ ' || true
}

# start_waiting OUT ENV=VALUE... BUNDLE: starts `BUNDLE wait` (it sleeps in
# `symbols::wait_here` until killed) with that environment, records its PID
# for cleanup and sets WAIT_PID to it once the program runs.
WAIT_PID=""
start_waiting() {
    local out="$1" _
    shift
    env "$@" wait >"$out" 2>&1 &
    WAIT_PID=$!
    BACKGROUND_PIDS+=("$WAIT_PID")
    for _ in $(seq 100); do
        grep -q '^symbols: ' "$out" && break
        sleep 0.1
    done
}

# y. symbols of every build (tests/bazel/symbols): distinct build-ids and the
#    multiarch_debug output group's build-id directory; gdb (installed from
#    apt when missing) attached to a running bundle names the running
#    build's functions, started from the cache and from a memfd; with
#    debug_info = "split" the DWARF comes from the output group; a core
#    dump opened with the extracted build, and with the directory alone;
#    perf (where the kernel allows it), also for a memfd.
test_y() {
    local level bundle split dir splitdir id ids=() want frames pid sections
    ensure_gdb || { fail "y: gdb is missing and could not be installed (apt-get install gdb)"; return; }
    # (`|| true`: awk stops reading after the path; bazel may then die of
    # SIGPIPE while printing more.)
    bundle="$(bundle_file opt //symbols:symbols)" || true
    split="$(bundle_file opt //symbols:symbols_split)" || true
    dir="$(output_group_file opt //symbols:symbols multiarch_debug)" || true
    splitdir="$(output_group_file opt //symbols:symbols_split multiarch_debug)" || true
    if [[ ! -x "$bundle" || ! -x "$split" || ! -f "$dir/build-ids.txt" || ! -f "$splitdir/build-ids.txt" ]]; then
        fail "y: building //symbols:all and its multiarch_debug output group failed"
        return
    fi
    mkdir -p "$WORK/y/home"

    # Build-ids: one per level, all different, and the directory has each
    # level's build and debug file under it.
    local bad=""
    for level in "${LEVELS[@]}"; do
        MULTIARCH_LEVEL=$level MULTIARCH_FORCE=1 MULTIARCH_DEBUG=extract "$bundle" >"$WORK/y/$level"
        MULTIARCH_LEVEL=$level MULTIARCH_FORCE=1 MULTIARCH_DEBUG=extract "$split" >"$WORK/y/split-$level"
        chmod +x "$WORK/y/$level" "$WORK/y/split-$level"
        id="$(build_id "$WORK/y/$level")"
        ids+=("$id")
        want="$(awk -v cpu="${CPU[$level]}" '$1 == cpu {print $2}' "$dir/build-ids.txt")"
        [[ -n "$id" && "$id" == "$want" ]] || bad+=" $level: build-id '$id', build-ids.txt '$want';"
        cmp -s "$WORK/y/$level" "$dir/.build-id/${id:0:2}/${id:2}" || bad+=" $level: not at .build-id/${id:0:2}/${id:2};"
        [[ "$(build_id "$dir/.build-id/${id:0:2}/${id:2}.debug")" == "$id" ]] || bad+=" $level: no .debug file with its build-id;"
        id="$(build_id "$WORK/y/split-$level")"
        # (Whole outputs, then matched: `readelf | grep -q` can end in
        # SIGPIPE, which pipefail reports as no match.)
        sections="$(readelf -SW "$WORK/y/split-$level")"
        [[ "$sections" == *" .debug_info "* ]] && bad+=" split $level: still has .debug_info;"
        [[ "$sections" == *" .gnu_debuglink "* ]] || bad+=" split $level: no .gnu_debuglink;"
        sections="$(readelf -SW "$splitdir/.build-id/${id:0:2}/${id:2}.debug" 2>&1)"
        [[ "$sections" == *" .debug_info "* ]] || bad+=" split $level: its .debug file has no .debug_info;"
    done
    if [[ -z "$bad" && "$(printf '%s\n' "${ids[@]}" | sort -u | wc -l)" == 4 ]]; then
        pass "y: the four builds have four different build-ids (${ids[*]}), laid out in the multiarch_debug directory; split builds have no DWARF, a debuglink, and DWARF in the directory"
    else
        fail "y: build-ids ${ids[*]}:$bad"
    fi

    # gdb attached to the bundle running its v2 build from the cache.
    start_waiting "$WORK/y/wait1.out" MULTIARCH_LEVEL=v2 "$bundle"
    pid="$WAIT_PID"
    frames="$(gdb_bt -p "$pid")"
    if [[ "$(readlink "/proc/$pid/exe")" == "$XDG_CACHE_HOME/"* && "$(build_id "/proc/$pid/exe")" == "${ids[1]}" &&
        "$frames" == *"symbols::wait_here"* ]]; then
        pass "y: gdb -p PID on the bundle running its v2 build from the cache: $(grep -m1 wait_here <<<"$frames")"
    elif grep -q 'ptrace: Operation not permitted' <<<"$(timeout 60 gdb -nx -batch -p "$pid" 2>&1)"; then
        skip "y: gdb may not attach here (ptrace not permitted: kernel.yama.ptrace_scope or the container's capabilities)"
    else
        fail "y: gdb -p on the v2 build (exe $(readlink "/proc/$pid/exe")): wait_here not in: $(head -8 <<<"$frames")"
    fi
    kill "$pid"
    wait "$pid" 2>/dev/null || true

    # From a memfd: gdb needs /proc/PID/exe as its file.
    start_waiting "$WORK/y/wait2.out" MULTIARCH_EXEC=memfd MULTIARCH_LEVEL=v3 "$bundle"
    pid="$WAIT_PID"
    frames="$(gdb_bt "/proc/$pid/exe" -p "$pid")"
    if [[ "$(readlink "/proc/$pid/exe")" == /memfd:* && "$frames" == *"symbols::wait_here"* ]]; then
        pass "y: gdb /proc/PID/exe -p PID on the bundle running its v3 build from a memfd: $(grep -m1 wait_here <<<"$frames")"
    else
        fail "y: gdb on the v3 build in a memfd (exe $(readlink "/proc/$pid/exe")): wait_here not in: $(head -8 <<<"$frames")"
    fi
    kill "$pid"
    wait "$pid" 2>/dev/null || true

    # debug_info = "split": source lines only with the output group's
    # directory as gdb's debug-file-directory.
    start_waiting "$WORK/y/wait3.out" MULTIARCH_LEVEL=v3 "$split"
    pid="$WAIT_PID"
    local without with
    without="$(gdb_bt -p "$pid" | grep wait_here || true)"
    with="$(gdb_bt -iex "set debug-file-directory $splitdir" -p "$pid" | grep wait_here || true)"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    if [[ "$without" == *"symbols::wait_here"* && "$without" != *"main.rs:"* && "$with" == *"symbols::wait_here () at symbols/main.rs:"* ]]; then
        pass "y: split debug info: gdb names wait_here from the embedded symbol table and finds its source line only through the multiarch_debug directory ($with)"
    else
        fail "y: split debug info: without the directory '$without', with it '$with'"
    fi

    # A core dump of the v2 build, opened with the extracted v2 build, and
    # (split) with nothing but the build-id directory.
    local pattern core
    pattern="$(cat /proc/sys/kernel/core_pattern 2>/dev/null || echo '?')"
    if [[ "$pattern" == "|"* || "$pattern" == */* || "$pattern" == "?" ]]; then
        skip "y: core dumps: kernel.core_pattern is '$pattern' (a pipe or another directory), not a file in the working directory"
    else
        for spec in "bundle $bundle" "split $split"; do
            read -r which file <<<"$spec"
            mkdir -p "$WORK/y/core-$which"
            { (cd "$WORK/y/core-$which" && ulimit -c unlimited && MULTIARCH_LEVEL=v2 exec "$file" abort >/dev/null 2>&1); } 2>/dev/null || true
            core="$(find "$WORK/y/core-$which" -maxdepth 1 -type f -name 'core*' -print -quit)"
            if [[ -z "$core" ]]; then
                skip "y: core dumps: no core file written (ulimit -c, core_pattern '$pattern')"
                break
            fi
            if [[ "$which" == bundle ]]; then
                frames="$(gdb_bt "$WORK/y/v2" -c "$core" | grep crash_here || true)"
                want="symbols::crash_here"
            else
                frames="$(gdb_bt -iex "set debug-file-directory $splitdir" -c "$core" | grep crash_here || true)"
                want="symbols::crash_here () at symbols/main.rs:"
            fi
            if [[ "$frames" == *"$want"* ]]; then
                pass "y: core dump of the v2 build ($which), opened $([[ $which == bundle ]] && echo 'with the extracted v2 build' || echo 'with the build-id directory alone'): $frames"
            else
                fail "y: core dump of the v2 build ($which): '$want' not in: $frames"
            fi
        done
    fi

    # perf, where the kernel lets this user profile.
    if ! command -v perf >/dev/null; then
        skip "y: perf not installed (Debian: apt-get install linux-perf, matching the kernel)"
    elif ! HOME="$WORK/y/home" PERF_BUILDID_DIR="$WORK/y/perf-buildid" perf record -q -o "$WORK/y/probe.data" -- true >/dev/null 2>&1; then
        skip "y: perf record is not allowed here (kernel.perf_event_paranoid $(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null), or no perf events in this container)"
    else
        local report
        # perf's build-id cache (default ~/.debug) stays in $WORK.
        export PERF_BUILDID_DIR="$WORK/y/perf-buildid"
        local home="$HOME"
        export HOME="$WORK/y/home"
        mkdir -p "$HOME"
        MULTIARCH_LEVEL=v3 perf record -q -o "$WORK/y/cache.data" -- "$bundle" spin >/dev/null 2>&1 || true
        report="$(perf report -i "$WORK/y/cache.data" --stdio 2>/dev/null | grep -m1 'spin_here' || true)"
        if [[ "$report" == *"symbols::spin_here"* ]]; then
            pass "y: perf record/report on the bundle running its v3 build from the cache: $(echo $report)"
        else
            fail "y: perf on the v3 build from the cache: spin_here not in the report"
        fi
        id="${ids[2]}"
        MULTIARCH_EXEC=memfd MULTIARCH_LEVEL=v3 perf record --buildid-mmap -q -o "$WORK/y/memfd.data" -- "$bundle" spin >/dev/null 2>&1 || true
        perf buildid-cache --add "$dir/.build-id/${id:0:2}/${id:2}" 2>/dev/null || true
        report="$(perf report -i "$WORK/y/memfd.data" --stdio 2>/dev/null | grep -m1 'spin_here' || true)"
        if [[ "$report" == *"symbols::spin_here"* ]]; then
            pass "y: perf record --buildid-mmap on the v3 build in a memfd, its build added with perf buildid-cache --add: $(echo $report)"
        elif [[ $'\n'"$(perf buildid-list -i "$WORK/y/memfd.data" 2>/dev/null)" != *$'\n'"$id "* ]]; then
            skip "y: perf recorded no build-id for the memfd (--buildid-mmap needs Linux 5.12+ and perf 5.12+)"
        else
            fail "y: perf on the v3 build in a memfd: spin_here not in the report"
        fi
        unset PERF_BUILDID_DIR
        export HOME="$home"
    fi
}

# level_lines LOG: the per-variant lines of a rust_multiarch_test's log,
# "<variant>: <result>" each, on one line.
level_lines() {
    sed -n 's/^\[multiarch_test\] \([a-z0-9][a-z0-9._-]*: \(passed\|FAILED\|skipped\).*\)$/\1/p' "$1" | paste -sd';' -
}

# run_level_test NAME TARGET FLAGS...: `bazel test` of a rust_multiarch_test;
# sets LEVEL_STATUS (bazel's exit status) and LEVEL_LINES (level_lines).
LEVEL_STATUS=0
LEVEL_LINES=""
run_level_test() {
    local name="$1" target="$2" log
    shift 2
    LEVEL_STATUS=0
    bz "$MAIN_WS" "$MAIN_OB" test --nocache_test_results "$target" "$@" >"$WORK/u-$name.out" 2>&1 || LEVEL_STATUS=$?
    log="$(bz "$MAIN_WS" "$MAIN_OB" info bazel-testlogs 2>/dev/null)/${target#//}"
    log="${log/://}/test.log"
    LEVEL_LINES="$(level_lines "$log" 2>/dev/null || true)"
    log "u: $target $*: exit $LEVEL_STATUS; $LEVEL_LINES"
}

# u. rust_multiarch_test (tests/bazel/every_level): a test runs at every
#    level, natively where the CPU has it, under qemu where not; a test that
#    fails at the AVX2 levels fails `bazel test`, naming them; forced under
#    qemu (MULTIARCH_TEST_QEMU=always), the builds see their level's qemu
#    CPU model, which natively they do not; without qemu the levels are
#    skipped with a message; qemu given by label.
test_u() {
    local level want
    run_level_test pass //every_level:level_test
    want=0
    for level in "${LEVELS[@]}"; do
        [[ ";$LEVEL_LINES;" == *";${CPU[$level]}: passed, ran "* || ";$LEVEL_LINES;" == *";${CPU[$level]}: skipped: "* ]] || want=1
    done
    if [[ "$LEVEL_STATUS" == 0 && "$want" == 0 && "$LEVEL_LINES" == *"x86-64: passed, ran natively"* ]]; then
        pass "u: //every_level:level_test passes, one line per level ($LEVEL_LINES)"
    else
        fail "u: //every_level:level_test: exit $LEVEL_STATUS, levels: ${LEVEL_LINES:-none}"
    fi

    run_level_test fail //every_level:fails_at_v3
    if [[ "$LEVEL_STATUS" != 0 && "$LEVEL_LINES" == *"x86-64: passed"* && "$LEVEL_LINES" == *"x86-64-v2: passed"* &&
        "$LEVEL_LINES" == *"x86-64-v3: FAILED (exit 101)"* ]] &&
        grep -q '^\[multiarch_test\] //every_level:fails_at_v3 failed at: x86-64-v3$' "$(bz "$MAIN_WS" "$MAIN_OB" info bazel-testlogs 2>/dev/null)/every_level/fails_at_v3/test.log"; then
        pass "u: a test that fails at x86-64-v3 fails bazel test and names that level ($LEVEL_LINES)"
    else
        fail "u: //every_level:fails_at_v3: exit $LEVEL_STATUS, levels: ${LEVEL_LINES:-none}"
    fi

    if ! command -v qemu-x86_64 >/dev/null; then
        skip "u: qemu-x86_64 not installed (apt-get install qemu-user): the qemu path was not run"
        return
    fi
    local model=(--test_env=EXPECT_QEMU_MODEL=1)
    run_level_test always //every_level:level_test --test_env=MULTIARCH_TEST_QEMU=always "${model[@]}"
    if [[ "$LEVEL_STATUS" == 0 && "$LEVEL_LINES" == *"x86-64: passed, ran under qemu-x86_64 -cpu qemu64"* &&
        "$LEVEL_LINES" == *"x86-64-v2: passed, ran under qemu-x86_64 -cpu Nehalem"* &&
        "$LEVEL_LINES" == *"x86-64-v3: passed, ran under qemu-x86_64 -cpu Haswell"* ]]; then
        pass "u: MULTIARCH_TEST_QEMU=always: v1-v3 ran under their qemu models and saw exactly their level's CPU features ($LEVEL_LINES)"
    else
        fail "u: MULTIARCH_TEST_QEMU=always: exit $LEVEL_STATUS, levels: ${LEVEL_LINES:-none}"
    fi
    # The same check natively fails for every level below the host's: the
    # test above could fail.
    run_level_test never //every_level:level_test --test_env=MULTIARCH_TEST_QEMU=never "${model[@]}"
    want="$(glibc_level)"
    if [[ -z "$want" ]]; then
        skip "u: this CPU is x86-64-v1: the CPU-model check cannot fail natively here"
    elif [[ "$LEVEL_STATUS" != 0 && "$LEVEL_LINES" == *"x86-64: FAILED (exit 101), ran natively"* ]]; then
        pass "u: natively (MULTIARCH_TEST_QEMU=never) on a $want CPU the CPU-model check fails for the levels below ($LEVEL_LINES)"
    else
        fail "u: MULTIARCH_TEST_QEMU=never on a $want CPU: exit $LEVEL_STATUS, levels: ${LEVEL_LINES:-none}"
    fi

    # variants: a variant that is not a level runs where the CPU has what
    # rustc says its flags enable; forced under qemu, on the first model
    # that has it (x86-64-v2 + AES + PCLMULQDQ: not qemu64, not Nehalem).
    run_level_test variants //every_level:variants_test --test_env=MULTIARCH_TEST_QEMU=always
    if [[ "$LEVEL_STATUS" == 0 && "$LEVEL_LINES" == *"v2-aes: passed, ran under qemu-x86_64 -cpu Haswell"* &&
        "$LEVEL_LINES" == *"x86-64: passed, ran under qemu-x86_64 -cpu qemu64"* ]]; then
        pass "u: variants: the v2-aes variant ran under the first qemu model with its features ($LEVEL_LINES)"
    else
        fail "u: //every_level:variants_test: exit $LEVEL_STATUS, levels: ${LEVEL_LINES:-none}"
    fi

    # qemu given by label: the runner runs that executable.
    run_level_test ownqemu //every_level:level_test_own_qemu --test_env=MULTIARCH_TEST_QEMU=always "${model[@]}"
    local testlogs
    testlogs="$(bz "$MAIN_WS" "$MAIN_OB" info bazel-testlogs 2>/dev/null)"
    if [[ "$LEVEL_STATUS" == 0 && "$LEVEL_LINES" == *"x86-64-v3: passed, ran under qemu-x86_64 -cpu Haswell"* ]] &&
        grep -q '^\[multiarch_test\] x86-64-v3: ran under qemu-x86_64 -cpu Haswell: every_level/qemu -cpu Haswell ' \
            "$testlogs/every_level/level_test_own_qemu/test.log"; then
        pass "u: qemu given by label (the qemu attribute) is the one that runs the levels ($LEVEL_LINES)"
    else
        fail "u: qemu by label: exit $LEVEL_STATUS, levels: ${LEVEL_LINES:-none}"
    fi

    # No qemu: the runner alone, as Bazel starts it (in its runfiles tree),
    # with an empty PATH and environment: the levels that need qemu are
    # skipped with the reason, and it needs no other program.
    local bin runner out status=0
    bin="$(bz "$MAIN_WS" "$MAIN_OB" info bazel-bin 2>/dev/null)"
    runner="$bin/every_level/level_test.multiarch_test.sh"
    mkdir -p "$WORK/u-empty-path"
    out="$(cd "$runner.runfiles/rules_rust_multiarch_tests" &&
        env -i PATH="$WORK/u-empty-path" MULTIARCH_TEST_QEMU=always /bin/bash "$runner" 2>&1)" || status=$?
    LEVEL_LINES="$(level_lines <(printf '%s\n' "$out"))"
    if [[ "$status" == 0 && "$LEVEL_LINES" == *"x86-64: skipped: this CPU has it (glibc's ld.so), MULTIARCH_TEST_QEMU=always, and qemu-x86_64 is not on PATH"* ]]; then
        pass "u: without qemu the levels that need it are skipped with the reason; the runner needs no program on PATH ($LEVEL_LINES)"
    else
        fail "u: without qemu: exit $status, levels: ${LEVEL_LINES:-none}: $(tail -3 <<<"$out")"
    fi
}

main() {
    local tests=("$@")
    [[ ${#tests[@]} -gt 0 ]] || tests=(t f l p s z i a v g b c d e x y u k)
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
