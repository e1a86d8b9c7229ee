#!/usr/bin/env bash
# The one test entry point: README's test command, and what .ci/run calls.
# Installs what it needs when missing, runs every check, stops every process
# it started, and ends with one summary line: "summary: N passed, N failed".
set -o errexit -o nounset -o pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
log_dir=$(mktemp -d)
trap 'rm -rf "$log_dir"' EXIT

# --- set-up: only what is missing -------------------------------------------
need_apt=()
command -v qemu-x86_64 >/dev/null || need_apt+=(qemu-user)
command -v nginx >/dev/null || need_apt+=(nginx)
# gdb for tests/e2e_bazel.sh test y (which also installs it on its own).
command -v gdb >/dev/null || need_apt+=(gdb)
command -v bazel >/dev/null || need_apt+=(bazel-bootstrap)
# Bazel's remote execution worker, compiled by tests/bazel/remote_worker.sh.
[ -d /usr/src/bazel-bootstrap/src/tools/remote ] || need_apt+=(bazel-bootstrap-source)
command -v cc >/dev/null || need_apt+=(gcc)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== installing ${need_apt[*]} (apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt

# buildifier, pinned, from the npm registry (the package ships the binaries).
# Installed into this run's temporary directory, so the suite writes nothing
# outside it; RRM_TOOL_CACHE=DIR keeps it in DIR between runs instead.
buildifier_version=8.2.1
buildifier_dir=${RRM_TOOL_CACHE:-$log_dir/tools}/buildifier-$buildifier_version
buildifier=$buildifier_dir/node_modules/@bazel/buildifier/buildifier-linux_amd64
if [ ! -x "$buildifier" ]; then
  command -v npm >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; }
  echo "== installing buildifier $buildifier_version (npm)"
  npm_config_cache="${RRM_TOOL_CACHE:-$log_dir}/npm-cache" \
    npm install --silent --no-audit --no-fund --prefix "$buildifier_dir" "@bazel/buildifier@$buildifier_version" >/dev/null
fi

passed=0 failed=0 skipped=0

# count REGEX FILE: the sum of the numbers in FILE's matches of "N word".
count() {
  { grep -oE "$1" "$2" || true; } | awk '{s+=$1} END {print s+0}'
}
failures=()

# step NAME CMD...: runs a check; adds its test counts (cargo's "test result"
# lines, or a script's own "N passed, N failed[, N skipped]" line), or counts
# the step itself as one check when it prints none.
step() {
  local name=$1; shift
  local out=$log_dir/$name.log
  echo "== $name: $*"
  local rc=0
  "$@" 2>&1 | tee "$out" || rc=$?
  local p f s
  p=$(count '[0-9]+ passed' "$out")
  f=$(count '[0-9]+ failed' "$out")
  s=$(count '[0-9]+ (skipped|ignored)' "$out")
  if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
    if [ $rc -eq 0 ]; then p=1; else f=1; fi
  elif [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1
  fi
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
  if [ $rc -ne 0 ]; then failures+=("$name"); fi
  return 0
}

step rustfmt cargo fmt --all --check
# Only tracked files: bazel-* convenience links lead into external repositories.
mapfile -t starlark < <(git ls-files '*.bzl' '*.bazel' '*BUILD' '*WORKSPACE')
step buildifier "$buildifier" -mode=check -lint=warn "${starlark[@]}"
step clippy cargo clippy --workspace --all-targets --locked -- -D warnings
step rustdoc env RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked
step cargo-test cargo test --workspace --locked
# rules/private/crates.bzl (what Bazel users build) against Cargo.lock.
step crates-list tests/crates_list.sh
# rules/private/cpus.bzl (the CPU and feature names `variants` accepts)
# against the installed rustc.
step cpus-table tests/cpus_table.sh
# aarch64 under qemu (issue 13); installs Debian's cross toolchain in CI.
step arm64 tests/arm64.sh
if [ -x tests/e2e_bazel.sh ]; then
  step bazel-e2e tests/e2e_bazel.sh
fi

echo
if [ ${#failures[@]} -gt 0 ]; then
  echo "failed steps: ${failures[*]}"
fi
echo "summary: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ ${#failures[@]} -eq 0 ]
