#!/usr/bin/env bash
# The aarch64 checks of issue 13, under qemu-aarch64 on this x86-64 host:
#  1. each tier of rules/private/cpus.bzl (AARCH64_TIERS), built from
#     tests/arm64/probe (which executes one instruction of every tier
#     feature it was compiled with), runs on the qemu CPU models at or above
#     it and dies with SIGILL on the ones below;
#  2. the launcher's unit tests run on aarch64 (detection against std's
#     on each model);
#  3. a bundle of the four tiers (multiarch pack --rustc, a static PIE
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
# A failed check shows the stderr of the last command it ran.
fail() {
  failed=$((failed + 1))
  echo "FAIL $*"
  if [ -s "$tmp/err" ]; then head -5 "$tmp/err" | sed 's/^/     /'; fi
}
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
    print(name, spec["cpu"], ",".join(spec["features"]) or "-")
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
# The bundle embeds them padded with ~9 MB of text each (after the ELF image,
# which the kernel ignores), so that the launcher decodes and checks on two
# threads and writes while it decodes (from 4 MiB on: launcher/src/bundle.rs,
# exec_linux.rs): the aarch64 clone(2) path.
for t in "${names[@]}"; do
  { cat "$tmp/bin/probe-$t"; seq 1 400000 | sed "s/^/$t padding line /"; } >"$tmp/bin/big-$t"
  chmod +x "$tmp/bin/big-$t"
done

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

# --- 2. the launcher's unit tests, compiled for aarch64 --------------------------
# Under qemu (Debian's arm64 glibc, which libstd-rust-web-dev:arm64 brings, is
# the loader: no -L, whose older cross glibc would not match it). All of them
# on `max` but the codec's (minutes of emulated debug code; the bundle's
# extract checks below decode for real); the detection table against std's
# detection on every model.
start=$SECONDS
unit=$(xcargo test --no-run --message-format=json --manifest-path "$root/Cargo.toml" -p multiarch_launcher --lib \
  --target "$triple" --target-dir "$xtarget/unit" 2>"$tmp/err" |
  python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        print(m["executable"])') || {
  cat "$tmp/err" >&2
  echo "FAIL launcher unit tests for $triple do not build (above)" >&2
  exit 1
}
echo "arm64: launcher unit tests built in $((SECONDS - start)) s"
rc=0
"$qemu7" -cpu max "$unit" --test-threads 2 --skip codec:: >"$tmp/out" 2>"$tmp/err" || rc=$?
# (Their count is not echoed as "N passed": tests/run_all.sh adds those up.)
check "launcher unit tests on aarch64 (qemu max, $(grep -oE '[0-9]+ passed' "$tmp/out" | grep -oE '[0-9]+' | head -1) tests)" \
  test "$rc" = 0
for m in "${models[@]}"; do
  q=${model_qemu[$m]}
  if [ -z "$q" ]; then
    skip "detection table against std on $m: no qemu 10"
    continue
  fi
  rc=0
  "$q" -cpu "$m" "$unit" arch::aarch64 >"$tmp/out" 2>"$tmp/err" || rc=$?
  check "detection table agrees with std's on $m" test "$rc" = 0
done

# --- 3. a bundle of the tiers ----------------------------------------------------
cargo build --quiet --release --manifest-path "$root/Cargo.toml" -p multiarch_cli
multiarch=$target/release/multiarch
bdir=$tmp/crate
"$root/tests/bundle_crate.sh" "$bdir" tiers
args=()
for t in "${names[@]}"; do
  args+=(--variant "$t=$tmp/bin/big-$t" --target-cpu "$t=${cpu[$t]}")
  [ -z "${features[$t]}" ] || args+=(--target-features "$t=${features[$t]}")
done
"$multiarch" pack --program tiers --label tests/arm64.sh --target "$triple" --rustc /usr/bin/rustc \
  --compression lz --blob-dir "$bdir/src/blobs" --out "$bdir/src/main.rs" "${args[@]}"
# rustc's aarch64 target links +crt-static as `-static -no-pie`; -static-pie
# (gcc) keeps the launcher position-independent, and its _start relocates it.
start=$SECONDS
RUSTFLAGS="-Ctarget-cpu=generic -Ctarget-feature=+crt-static -Clink-arg=-static-pie" \
  xcargo build --quiet --release --manifest-path "$bdir/Cargo.toml" --target "$triple" --target-dir "$xtarget/bundle"
bundle=$tmp/tiers
cp "$xtarget/bundle/$triple/release/tiers" "$bundle"
echo "arm64: bundle built in $((SECONDS - start)) s: $(stat -c %s "$bundle") bytes"

check "bundle is a static PIE (ELF type DYN, no interpreter)" \
  bash -c "readelf -h '$bundle' | grep -q 'Type: *DYN' && ! readelf -l '$bundle' | grep -q INTERP"
check "bundle's only relocations are R_AARCH64_RELATIVE" \
  bash -c "readelf -rW '$bundle' | awk '/^[0-9a-f]+ +[0-9a-f]+ R_/ {print \$3}' | sort -u | grep -qx R_AARCH64_RELATIVE &&
    ! readelf -rW '$bundle' | awk '/^[0-9a-f]+ +[0-9a-f]+ R_/ {print \$3}' | grep -vqx R_AARCH64_RELATIVE"
"$multiarch" inspect "$bundle" >"$tmp/inspect"
check "inspect: a3 requires sve, i8mm and bf16 (from rustc's cfg)" \
  bash -c "grep -E '^ *a3 ' '$tmp/inspect' | grep -q sve && grep -E '^ *a3 ' '$tmp/inspect' | grep -q i8mm && grep -E '^ *a3 ' '$tmp/inspect' | grep -q bf16"

# Extract needs no exec: straight under qemu.
for t in "${names[@]}"; do
  rc=0
  MULTIARCH_LEVEL=$t MULTIARCH_DEBUG=extract "$qemu7" -cpu max "$bundle" >"$tmp/extract-$t" 2>"$tmp/err" || rc=$?
  check "extract of $t is byte-identical to its build" cmp -s "$tmp/extract-$t" "$tmp/bin/big-$t"
done

# A damaged bundle: one byte of the compressed a4 blob flipped.
python3 - "$bundle" "$bdir/src/blobs" "$tmp/damaged" <<'PY'
import os, sys
data = bytearray(open(sys.argv[1], "rb").read())
blobs = [os.path.join(sys.argv[2], f) for f in os.listdir(sys.argv[2])]
blob = open(max(blobs, key=os.path.getsize), "rb").read()
at = data.find(blob[:64])
assert at >= 0, "blob not found in the bundle"
data[at + len(blob) // 2] ^= 0x55
open(sys.argv[3], "wb").write(data)
os.chmod(sys.argv[3], 0o755)
PY
for t in "${names[@]}"; do
  rc=0
  MULTIARCH_LEVEL=$t MULTIARCH_DEBUG=extract "$qemu7" -cpu max "$tmp/damaged" >/dev/null 2>"$tmp/err" || rc=$?
  if [ "$rc" -eq 126 ]; then dead=$t; fi
done
check "a damaged bundle fails with 126 (some tier: ${dead:-none})" test -n "${dead:-}"

# The rest runs the chosen build, which needs binfmt_misc: in a user and
# mount namespace of its own (Linux 6.7+), never the host's.
binfmt_qemu=${qemu10:-$qemu7}
cat >"$tmp/ns.sh" <<'SH'
set -o errexit
mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
# ELF64, little-endian, EM_AARCH64 (183), ET_EXEC or ET_DYN; F: qemu opened
# now; O: the kernel hands qemu an open descriptor (execveat of a memfd).
echo ":arm64test:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:$1:FO" \
  >/proc/sys/fs/binfmt_misc/register
shift
exec "$@"
SH
# in_ns MODEL CMD...: CMD with aarch64 programs running on qemu's MODEL.
in_ns() {
  local model=$1; shift
  QEMU_CPU=$model unshare --user --map-root-user --mount bash "$tmp/ns.sh" "$binfmt_qemu" "$@"
}
if ! in_ns max "$tmp/bin/probe-a1" >/dev/null 2>"$tmp/err"; then
  echo "arm64: no binfmt_misc in a user namespace here ($(head -c 200 "$tmp/err")):" \
    "checking the launcher's choice by its log line only"
  # in_ns MODEL [env VAR=VALUE...] PROGRAM ARGS...: straight under qemu.
  in_ns() {
    local model=$1 vars=()
    shift
    if [ "$1" = env ]; then
      shift
      while [[ $1 == *=* ]]; do vars+=("$1"); shift; done
    fi
    env "${vars[@]}" "${model_qemu[$model]}" -cpu "$model" "$@"
  }
  runs=false
else
  runs=true
fi

mkdir -m 700 "$tmp/cache"
for m in "${models[@]}"; do
  if [ -z "${model_qemu[$m]}" ]; then
    skip "bundle on $m: no qemu 10"
    continue
  fi
  t=${expect[$m]}
  rc=0
  in_ns "$m" env XDG_CACHE_HOME="$tmp/cache" MULTIARCH_DEBUG=log "$bundle" >"$tmp/out" 2>"$tmp/err" || rc=$?
  check "bundle on $m starts $t (log line)" grep -q "^\[multiarch\] starting $t (cpu aarch64[ ;]" "$tmp/err"
  if $runs; then
    check "bundle on $m: $t ran (tier=$t, exit 0)" test "$rc:$(head -1 "$tmp/out")" = "0:tier=$t"
  fi
done
if $runs; then
  rc=0
  in_ns neoverse-n1 env XDG_CACHE_HOME="$tmp/cache" MULTIARCH_DEBUG=log "$bundle" exit 7 >"$tmp/out" 2>"$tmp/err" || rc=$?
  check "second start via the cache; exit status passed through" \
    bash -c "test $rc = 7 && grep -qE 'via cache[;)]' '$tmp/err'"
  rc=0
  in_ns neoverse-n1 env MULTIARCH_EXEC=memfd MULTIARCH_DEBUG=log "$bundle" >"$tmp/out" 2>"$tmp/err" || rc=$?
  check "MULTIARCH_EXEC=memfd: started from a memfd" \
    bash -c "test $rc:\$(head -1 '$tmp/out') = 0:tier=a2 && grep -q 'via memfd' '$tmp/err'"
  rc=0
  in_ns max env XDG_CACHE_HOME="$tmp/cache" MULTIARCH_LEVEL=a2 "$bundle" >"$tmp/out" 2>"$tmp/err" || rc=$?
  check "MULTIARCH_LEVEL=a2 on max starts a2" test "$rc:$(head -1 "$tmp/out")" = "0:tier=a2"
  rc=0
  in_ns neoverse-n1 env XDG_CACHE_HOME="$tmp/cache" MULTIARCH_LEVEL=a4 MULTIARCH_FORCE=1 "$bundle" \
    >"$tmp/out" 2>"$tmp/err" || rc=$?
  check "MULTIARCH_LEVEL=a4 MULTIARCH_FORCE=1 on neoverse-n1 starts a4, which dies with SIGILL" test "$rc" -eq 132
  # Hostile hosts (issue 10) where aarch64's system call structures and
  # flags differ from x86-64's: struct stat (mode, owner), O_NOFOLLOW,
  # O_DIRECTORY, the signal action.
  check "the cache directory is created private (mode 700)" test "$(stat -c %a "$tmp/cache/multiarch")" = 700
  mkdir -m 777 "$tmp/shared"
  rc=0
  in_ns neoverse-n1 env XDG_CACHE_HOME="$tmp/shared/xdg" MULTIARCH_DEBUG=log "$bundle" >"$tmp/out" 2>"$tmp/err" || rc=$?
  check "a cache below a directory others can write is not used (memfd instead)" \
    bash -c "test $rc = 0 && grep -q 'mode 777, writable by others: not trusted' '$tmp/err' && test ! -e '$tmp/shared/xdg'"
  ln -s "$tmp/cache" "$tmp/shared/link"
  chmod 1777 "$tmp/shared"
  rc=0
  in_ns neoverse-n1 env XDG_CACHE_HOME="$tmp/shared/link" MULTIARCH_DEBUG=log "$bundle" >"$tmp/out" 2>"$tmp/err" || rc=$?
  check "our own symbolic link to the cache is followed (via cache)" \
    bash -c "test $rc = 0 && grep -qE 'via cache[;)]' '$tmp/err'"
  for mode in cache memfd; do
    rc=0
    (
      ulimit -f 64
      in_ns neoverse-n1 env XDG_CACHE_HOME="$tmp/cache-fsize" MULTIARCH_EXEC=$mode "$bundle" >"$tmp/out" 2>"$tmp/err"
    ) || rc=$?
    check "MULTIARCH_EXEC=$mode under ulimit -f: 126 and 'File too large', not SIGXFSZ" \
      bash -c "test $rc = 126 && grep -q 'File too large' '$tmp/err' && test ! -s '$tmp/out'"
  done
  rc=0
  in_ns max env MULTIARCH_LEVEL=a9 "$bundle" >"$tmp/out" 2>"$tmp/err" || rc=$?
  check "MULTIARCH_LEVEL=a9 (not a tier) fails with 126 and one line" \
    bash -c "test $rc = 126 && test \$(wc -l <'$tmp/err') = 1"
else
  skip "exec checks: no binfmt_misc in a user namespace"
fi
rc=0
in_ns neoverse-n1 env XDG_CACHE_HOME="$tmp/cache" MULTIARCH_LEVEL=a4 "$bundle" >"$tmp/out" 2>"$tmp/err" || rc=$?
check "MULTIARCH_LEVEL=a4 on neoverse-n1 is refused with 126, naming MULTIARCH_FORCE" \
  bash -c "test $rc = 126 && grep -q MULTIARCH_FORCE '$tmp/err'"

# The launcher linked dynamically (launcher_linking = "dynamic"): a PIE that
# the dynamic loader relocates, loading no library.
RUSTFLAGS="-Ctarget-cpu=generic" xcargo build --quiet --release --manifest-path "$bdir/Cargo.toml" \
  --target "$triple" --target-dir "$xtarget/bundle-dynamic"
dynamic=$tmp/tiers-dynamic
cp "$xtarget/bundle-dynamic/$triple/release/tiers" "$dynamic"
check "dynamic launcher: an interpreter, no library needed" \
  bash -c "readelf -l '$dynamic' | grep -q 'interpreter: /lib/ld-linux-aarch64.so.1' && ! readelf -d '$dynamic' | grep -q NEEDED"
rc=0
in_ns neoverse-n1 env QEMU_LD_PREFIX=/usr/aarch64-linux-gnu XDG_CACHE_HOME="$tmp/cache" MULTIARCH_DEBUG=log "$dynamic" \
  >"$tmp/out" 2>"$tmp/err" || rc=$?
if $runs; then
  check "dynamic launcher on neoverse-n1 starts a2" \
    bash -c "test $rc:\$(head -1 '$tmp/out') = 0:tier=a2 && grep -q '^\[multiarch\] starting a2 (' '$tmp/err'"
else
  check "dynamic launcher on neoverse-n1 chooses a2 (log line)" grep -q '^\[multiarch\] starting a2 (' "$tmp/err"
fi

echo "${passed} passed, ${failed} failed, ${skipped} skipped"
[ "$failed" -eq 0 ]
