#!/usr/bin/env bash
# Six variants against four levels (issue 12): size and start-up of two
# Bazel-built bundles of the ~33 MB program (bench/peers/workload_big):
#   workload_big     the four levels (x86-64 ... x86-64-v4), the default
#   workload_big_6v  the four levels plus znver4 and sapphirerapids
#                    (`variants = {...}`)
# both -c opt, compression "lz", static launcher, from the offline test
# workspace (tests/bazel, Debian's Bazel 4.2.3, the rules_rust stand-in).
#
# Usage: bench/variants.sh [--runs N] [--build-only]
#   --runs N       start-up rounds per command (default 100, after 5 warm-up)
#   --build-only   build the bundles, time nothing
#
# Prints Markdown on stdout (also written to target/bench/variants/results.md):
#   1 size: one x86-64 build, every variant's build, each bundle and its
#     ratio to the one build (goal: <= 1.5x for six variants);
#   2 start-up of `PROGRAM --quick` (ms), every command once per round,
#     round-robin (bench/startup/timer.c): the build each bundle starts here
#     run directly, each bundle with a warm cache (entry present) and cold
#     (cache emptied before each run, not timed). Goal: the warm start's
#     extra over running the build directly is within +0.1 ms of the four
#     levels' (the number of variants does not slow a warm start).
# `uptime` is printed with every timed part. Bazel's output base stays in
# target/bench/variants (a rerun rebuilds only what changed; the Bazel server
# is shut down on exit). Run it on an idle machine for figures to quote.
set -o errexit -o nounset -o pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=100
build_only=0
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=${2:?--runs needs a number}; shift 2 ;;
    --build-only) build_only=1; shift ;;
    -h|--help) sed -n '2,/^set -o/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
case $runs in ''|*[!0-9]*|0) echo "--runs needs a positive number, got '$runs'" >&2; exit 2 ;; esac

log() { printf '== %s\n' "$*" >&2; }

if ! command -v cc >/dev/null || ! command -v readelf >/dev/null; then
  log "installing gcc binutils (apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev binutils >/dev/null
fi
if ! command -v bazel >/dev/null; then
  log "installing Debian's bazel-bootstrap (Bazel 4.2.3, apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bazel-bootstrap >/dev/null
fi

# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
bench_setup variants


# (bz, built_file, install_copy: bench/lib.sh)

pkg=@rules_rust_multiarch//bench/peers/workload_big
declare -A variants=(
  [4]="x86-64 x86-64-v2 x86-64-v3 x86-64-v4"
  [6]="x86-64 x86-64-v2 x86-64-v3 x86-64-v4 znver4 sapphirerapids"
)
declare -A target=([4]=$pkg:workload_big [6]=$pkg:workload_big_6v)
log "Bazel: building ${target[4]} and ${target[6]} (tests/bazel, -c opt)"
bz build -c opt "${target[4]}" "${target[6]}" >&2
for n in 4 6; do
  mkdir -p "$bench/$n"
  install_copy "$(built_file "${target[$n]}")" "$bench/$n/bundle"
  for v in ${variants[$n]}; do
    install_copy "$(built_file "${target[$n]}" "$v")" "$bench/$n/$v"
  done
done

# picked N: the variant bundle N starts here, from its own log line.
picked() {
  XDG_CACHE_HOME=$tmp/probe-$1 MULTIARCH_DEBUG=log "$bench/$1/bundle" --quick 2>&1 >/dev/null |
    sed -n 's/^\[multiarch\] starting \([^ ]*\) .*/\1/p'
}
declare -A pick
for n in 4 6; do
  pick[$n]=$(picked "$n")
  [ -n "${pick[$n]}" ] && [ -f "$bench/$n/${pick[$n]}" ] ||
    { echo "variants.sh: cannot tell which variant bundle $n starts (log: '${pick[$n]}')" >&2; exit 1; }
done
if [ "$build_only" = 1 ]; then log "built; nothing timed (--build-only)"; exit 0; fi

load() { uptime | sed 's/.*load average: //'; }
sync  # fresh builds leave dirty pages; their writeback would be noise

spec=()
for n in 4 6; do
  spec+=(@"direct$n" "$bench/$n/${pick[$n]}" --quick
    @"warm$n" "XDG_CACHE_HOME=$tmp/warm-$n" "$bench/$n/bundle" --quick
    @"cold$n" "prep=rm -rf '$tmp/cold-$n'/multiarch" "XDG_CACHE_HOME=$tmp/cold-$n" "$bench/$n/bundle" --quick)
done
log "$runs start-up rounds ($(load))"
load_before=$(load)
"$tmp/timer" "$runs" 5 "$bench/startup-samples.tsv" "${spec[@]}" >"$tmp/startup.tsv"
load_after=$(load)

size() { stat -c %s "$1"; }
mb() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1e6 }'; }
ratio() { awk -v s="$1" -v o="$2" 'BEGIN { printf "%.2fx", s / o }'; }
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
{
  echo "Machine: nproc $(nproc); CPU ${cpu_model:-unknown}; kernel $(uname -r); $(rustc --version); Bazel 4.2.3 (Debian) with the rules_rust stand-in."
  echo
  echo "Command: \`bench/variants.sh --runs $runs\` ($(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet HEAD 2>/dev/null || echo ', uncommitted changes'))."
  echo
  echo "Table 1: size (MB = 10^6 bytes); ratio = bundle / the one x86-64 build (goal for six variants: <= 1.50x)"
  echo
  echo "| bundle | variants | one build (x86-64) | variant builds | bundle | ratio |"
  echo "|---|---|---:|---:|---:|---:|"
  for n in 4 6; do
    sizes=""
    for v in ${variants[$n]}; do sizes="$sizes $v $(mb "$(size "$bench/$n/$v")");"; done
    one=$(size "$bench/$n/x86-64") b=$(size "$bench/$n/bundle")
    echo "| ${target[$n]#"$pkg":} | $n | $(mb "$one") |${sizes%;} | $(mb "$b") | $(ratio "$b" "$one") |"
  done
  echo
  one=$(size "$bench/6/x86-64") b=$(size "$bench/6/bundle")
  echo "Goal (six variants <= 1.50x one build): $(awk -v s="$b" -v o="$one" 'BEGIN { r = s / o; printf "%.2fx, %s", r, (r <= 1.5 ? "met" : "not met") }')."
  echo
  echo "Table 2: start-up of \`PROGRAM --quick\` (ms): median, p25-p75, extra over the build run directly (median), CPU = user + system (median). $runs interleaved rounds after 5 warm-up rounds; load average before / after: $load_before / $load_after. The bundles start ${pick[4]} (four levels) and ${pick[6]} (six variants) here."
  echo
  echo "| bundle | candidate | median | p25-p75 | extra over direct | CPU |"
  echo "|---|---|---:|---:|---:|---:|"
  awk -F '\t' -v p4="${pick[4]}" -v p6="${pick[6]}" '
    { order[NR] = $1; med[$1] = $2; p25[$1] = $3; p75[$1] = $4; cpu[$1] = $6 }
    END {
      for (i = 1; i <= NR; i++) {
        k = order[i]; n = substr(k, length(k)); kind = substr(k, 1, length(k) - 1)
        label["direct"] = "the " (n == 4 ? p4 : p6) " build, run directly"
        label["warm"] = "bundle, warm cache"
        label["cold"] = "bundle, cold cache (first start)"
        printf "| %s variants | %s | %.2f | %.2f-%.2f | %s | %.2f |\n", n, label[kind], med[k], p25[k], p75[k],
          (kind == "direct" ? "-" : sprintf("%+.2f", med[k] - med["direct" n])), cpu[k]
      }
    }' "$tmp/startup.tsv"
  echo
  awk -F '\t' '{ med[$1] = $2 } END {
    d4 = med["warm4"] - med["direct4"]; d6 = med["warm6"] - med["direct6"]
    printf "Goal (warm start of six variants within +0.1 ms of four levels, each over its build run directly): %+.2f ms vs %+.2f ms, %s.\n",
      d6, d4, (d6 - d4 <= 0.1 ? "met" : "not met")
  }' "$tmp/startup.tsv"
} | tee "$bench/results.md"
