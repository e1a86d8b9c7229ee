#!/usr/bin/env bash
# What the launcher's build checksum costs at start-up (issue 10, defect 6):
# the ~33 MB x86-64 build of bench/peers/workload_big, bundled (lz, static)
# by the launcher before the checksum and by this tree's, timed in one
# interleaved loop. Goal: cold start <= +10%, warm start unchanged.
#
# Usage: bench/checksum_cost.sh [--runs N] [--before REV] [--build FILE]
#   --runs N      timed rounds (default 40; 3 warm-up rounds are dropped)
#   --before REV  the tree without the checksum (default: the parent of the
#                 commit that added launcher/src/check.rs)
#   --build FILE  the build to bundle (default: workload_big for x86-64,
#                 built into <target>/bench/peers as bench/size_vs_peers.sh
#                 does, if missing)
#
# Commands timed, each round in turn (bench/startup/timer.c, posix_spawn to
# wait4; the program runs with --quick):
#   direct          the build alone
#   cold before     the old bundle, its cache entry removed before each run
#   cold after      this tree's bundle, the same
#   warm before/after  cache entry present
#   memfd before/after MULTIARCH_EXEC=memfd (decode into a memfd every run)
# Prints the machine, the load average before and after (other load makes
# wall times noisy: rerun on an idle machine for figures to quote) and a
# Markdown table. Work files stay in <target>/bench/checksum.
set -o errexit -o nounset -o pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=40
before=
build=
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=${2:?--runs needs a number}; shift 2 ;;
    --before) before=${2:?--before needs a revision}; shift 2 ;;
    --build) build=${2:?--build needs a file}; shift 2 ;;
    -h|--help) sed -n '2,/^set -o/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
case $runs in ''|*[!0-9]*|0) echo "--runs needs a positive number" >&2; exit 2 ;; esac
command -v cargo >/dev/null || { echo "cargo is needed (rustup)" >&2; exit 2; }
command -v cc >/dev/null || { echo "a C compiler is needed (apt-get install gcc)" >&2; exit 2; }

target=$("$root/tests/cargo_target_dir.sh")
bench=$target/bench/checksum
mkdir -p "$bench"
tmp=$(mktemp -d "$bench/tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

if [ -z "$before" ]; then
  added=$(git -C "$root" log --diff-filter=A --format=%H -- launcher/src/check.rs | tail -n 1)
  [ -n "$added" ] || { echo "launcher/src/check.rs has no history here: pass --before REV" >&2; exit 2; }
  before=$added^
fi
before=$(git -C "$root" rev-parse --verify "$before^{commit}")

if [ -z "$build" ]; then
  build=$target/bench/peers/workload_big/x86-64
  if [ ! -x "$build" ]; then
    echo "== building workload_big for x86-64 (several minutes)" >&2
    RUSTFLAGS="-Ctarget-cpu=x86-64" cargo build --quiet --release \
      --manifest-path "$root/bench/peers/workload_big/Cargo.toml" --target-dir "$target/bench/peers/target-x86-64"
    mkdir -p "$(dirname "$build")"
    cp "$target/bench/peers/target-x86-64/release/workload_big" "$build.tmp"
    mv "$build.tmp" "$build"
  fi
fi

# The tree before: extracted once per revision.
src_before=$bench/src-before
if [ "$(cat "$src_before.rev" 2>/dev/null)" != "$before" ]; then
  rm -rf "$src_before"
  mkdir -p "$src_before"
  # All of it (git archive would leave out tests/, which is export-ignore),
  # through an index of its own: the repository's index is not touched.
  GIT_INDEX_FILE=$tmp/index git -C "$root" read-tree "$before"
  GIT_INDEX_FILE=$tmp/index git -C "$root" --work-tree="$src_before" checkout-index --all
  echo "$before" > "$src_before.rev"
fi

# bundle SIDE SRC: multiarch and the launcher of tree SRC, one lz static
# bundle of $build at $bench/SIDE/bundle.
bundle() {
  local side=$1 src=$2
  local dir=$bench/$side
  echo "== $side: building multiarch and the bundle ($src)" >&2
  cargo build --quiet --release --manifest-path "$src/Cargo.toml" -p multiarch_cli --target-dir "$bench/target-$side-cli"
  "$src/tests/bundle_crate.sh" "$dir/crate" "big_$side"
  "$bench/target-$side-cli/release/multiarch" pack --program "big_$side" --label "bench/checksum_cost.sh:$side" \
    --compression lz --blob-dir "$dir/crate/src/blobs" --out "$dir/crate/src/main.rs" \
    --variant "x86-64=$build" >&2
  RUSTFLAGS="-Ctarget-cpu=x86-64 -Ctarget-feature=+crt-static" cargo build --quiet --release \
    --manifest-path "$dir/crate/Cargo.toml" --target-dir "$bench/target-$side-bundle"
  cp "$bench/target-$side-bundle/release/big_$side" "$dir/bundle.tmp"
  mv "$dir/bundle.tmp" "$dir/bundle"
}
bundle before "$src_before"
bundle after "$root"
grep -q "check:" "$bench/after/crate/src/main.rs" || { echo "the after bundle records no checksum" >&2; exit 1; }
! grep -q "check:" "$bench/before/crate/src/main.rs" || { echo "the before bundle records a checksum: pick another --before" >&2; exit 1; }

cc -O2 -Wall -Wextra -o "$tmp/timer" "$root/bench/startup/timer.c"
for side in before after; do
  line=$(XDG_CACHE_HOME=$tmp/check-$side MULTIARCH_DEBUG=log "$bench/$side/bundle" --quick 2>&1 >/dev/null)
  case $line in
    *"via cache, written now"*) ;;
    *) echo "$side bundle: expected a cold start through the cache, got: $line" >&2; exit 1 ;;
  esac
done
sync

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
size=$(stat -c %s "$build")
echo "machine: nproc $(nproc); CPU ${cpu_model:-unknown}; kernel $(uname -r)"
echo "build: $build ($(awk -v s="$size" 'BEGIN { printf "%.1f MB", s / 1e6 }'), lz, 2 segments); before = ${before:0:12}"
echo "load average before: $(cut -d ' ' -f 1-3 /proc/loadavg)"
echo "runs: $runs per command, interleaved, after 3 warm-up rounds"
specs=(@direct "$build" --quick)
for side in before after; do
  b=$bench/$side/bundle
  specs+=(@"cold_$side" "prep=rm -rf '$tmp/cold-$side'/multiarch" "XDG_CACHE_HOME=$tmp/cold-$side" "$b" --quick)
  specs+=(@"warm_$side" "XDG_CACHE_HOME=$tmp/warm-$side" "$b" --quick)
  specs+=(@"memfd_$side" "XDG_CACHE_HOME=$tmp/warm-$side" MULTIARCH_EXEC=memfd "$b" --quick)
done
"$tmp/timer" "$runs" 3 "$bench/samples.tsv" "${specs[@]}" > "$tmp/summary.tsv"
echo "load average after: $(cut -d ' ' -f 1-3 /proc/loadavg)"
echo
awk -F '\t' '
  { med[$1] = $2; p25[$1] = $3; p75[$1] = $4; cpu[$1] = $6 }
  END {
    d = med["direct"]
    printf "direct (no launcher): %.2f ms median (p25-p75 %.2f-%.2f)\n\n", d, p25["direct"], p75["direct"]
    print "| start | before ms (p25-p75) | after ms (p25-p75) | extra over direct, before -> after | change of the start | CPU ms before -> after |"
    print "|---|---:|---:|---:|---:|---:|"
    n = split("cold warm memfd", kinds, " ")
    for (i = 1; i <= n; i++) {
      k = kinds[i]; b = med[k "_before"]; a = med[k "_after"]
      printf "| %s | %.2f (%.2f-%.2f) | %.2f (%.2f-%.2f) | %+.2f -> %+.2f | %+.2f ms = %+.1f%% | %.2f -> %.2f |\n",
        k, b, p25[k "_before"], p75[k "_before"], a, p25[k "_after"], p75[k "_after"], b - d, a - d,
        a - b, (b > 0 ? 100 * (a - b) / b : 0), cpu[k "_before"], cpu[k "_after"]
    }
    c = 100 * (med["cold_after"] - med["cold_before"]) / med["cold_before"]
    printf "\nGoal: cold start <= +10%%: %+.1f%% (%s); warm start unchanged: %+.2f ms.\n", c,
      (c <= 10 ? "met" : "MISSED"), med["warm_after"] - med["warm_before"]
  }' "$tmp/summary.tsv"
