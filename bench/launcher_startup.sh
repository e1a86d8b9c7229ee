#!/usr/bin/env bash
# Launcher start-up benchmark (issue 2): the extra start-up time of a bundle
# over running the same build directly, for builds of about 0.4, 20 and 80 MiB,
# per strategy. Results and their reading: BENCHMARKS.md.
#
# Usage: bench/launcher_startup.sh [--runs N] [--pads "0 20 80"] [--reuse]
#   --runs N     timed rounds per size (default 200; 5 more warm-up rounds
#                are run first and dropped)
#   --pads LIST  PAYLOAD_PAD_MIB values to build and measure (default "0 20 80")
#   --reuse      keep fixtures already built in target/bench/size-<pad>
#
# For each size it builds fixtures with tests/build_fixtures.sh into
# target/bench/size-<pad>, then times in one interleaved loop (every round
# starts each command once, round-robin, starting one further each round):
#   direct         the build the bundle picks on this host, run directly
#   warm static    the static bundle (full), cache entry present
#   warm dynamic   the dynamic bundle (dynamic), cache entry present
#   cold           the static bundle, its cache entry deleted before each run
#                  (the deletion is not timed)
#   memfd static   the static bundle with MULTIARCH_EXEC=memfd
#   memfd dynamic  the dynamic bundle with MULTIARCH_EXEC=memfd
# build_fixtures.sh packs the static bundle compressed (lz) and the dynamic one
# stored; the table says how the picked build is stored in each.
#   bare execve    reference: a static C program that only execve's the build
#   bare memfd     reference: a static C program embedding the build that only
#                  does memfd_create + write + fexecve (bench/startup/)
# Times come from bench/startup/timer.c: posix_spawn to wait4, clock_gettime
# (CLOCK_MONOTONIC); the CPU column is the process's user + system time (one
# pid across the exec chain), which other load on the machine disturbs less.
# It prints a Markdown table, then the goal verdicts:
# warm overhead <= 0.6 ms at every size; memfd within 10% of the bare copy.
# Raw samples stay in target/bench/samples-<pad>.tsv.
set -o errexit -o nounset -o pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=200
warmup=5
pads="0 20 80"
reuse=0
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=${2:?--runs needs a number}; shift 2 ;;
    --pads) pads=${2:?--pads needs a list}; shift 2 ;;
    --reuse) reuse=1; shift ;;
    -h|--help) sed -n '2,/^set -o/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
case $runs in ''|*[!0-9]*|0) echo "--runs needs a positive number" >&2; exit 2 ;; esac

# --- set-up: only what is missing ------------------------------------------
if ! command -v cc >/dev/null || [ ! -e /usr/lib/x86_64-linux-gnu/libc.a ]; then
  echo "== installing gcc libc6-dev (apt)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev >/dev/null
fi
command -v cargo >/dev/null || { echo "cargo is needed (rustup)" >&2; exit 2; }

target=$("$root/tests/cargo_target_dir.sh")
bench=$target/bench
mkdir -p "$bench"
tmp=$(mktemp -d "$bench/tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

cc -O2 -Wall -Wextra -o "$tmp/timer" "$root/bench/startup/timer.c"

# --- fixtures ----------------------------------------------------------------
for pad in $pads; do
  out=$bench/size-$pad
  if [ "$reuse" = 1 ] && [ -x "$out/full/full" ] && [ -x "$out/dynamic/dynamic" ]; then
    echo "== reusing fixtures in $out" >&2
  else
    echo "== building fixtures with PAYLOAD_PAD_MIB=$pad into $out" >&2
    PAYLOAD_PAD_MIB=$pad "$root/tests/build_fixtures.sh" "$out" >&2
  fi
done

# Fresh fixtures leave ~1 GiB of dirty pages; their writeback would be noise.
sync

# The level the bundle picks here, from its own log line.
first=$bench/size-${pads%% *}
level=$(MULTIARCH_DEBUG=log MULTIARCH_EXEC=memfd "$first/full/full" 2>&1 >/dev/null |
  sed -n 's/^\[multiarch\] starting \(x86-64[^ ]*\) .*/\1/p')
[ -n "$level" ] || { echo "cannot tell which level the bundle starts" >&2; exit 1; }

# expect_log WHAT XDG CMD...: runs CMD with the log on, checks the log says WHAT.
expect_log() {
  local what=$1 xdg=$2; shift 2
  local line
  line=$(XDG_CACHE_HOME=$xdg MULTIARCH_DEBUG=log "$@" 2>&1 >/dev/null)
  case $line in
    *"starting $level "*"$what"*) ;;
    *) echo "expected '$what' from $*, got: $line" >&2; exit 1 ;;
  esac
}

# stored_as BUNDLE_DIR BUILD: how the bundle's generated source stores BUILD
# (the blob with BUILD's size): Stored, Lz or LzDelta.
stored_as() {
  local size
  size=$(stat -c %s "$2")
  awk -v size="$size" '
    /^ *size: / { s = $2; sub(",", "", s) }
    /^ *compression: / && s == size { c = $2; sub(".*::", "", c); sub(",", "", c); print c; exit }
  ' "$1/src/main.rs"
}

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "machine: nproc $(nproc); CPU ${cpu_model:-unknown}; kernel $(uname -r); level picked: $level"
echo "load average before: $(cut -d ' ' -f 1-3 /proc/loadavg)"
echo "runs: $runs per command per size, interleaved, after $warmup warm-up rounds"
echo

summaries=()
for pad in $pads; do
  out=$bench/size-$pad
  build=$out/payload-$level
  work=$tmp/size-$pad
  mkdir -p "$work"
  # Like the bundles (build_fixtures.sh cp's them into place), the references
  # are cp'd: how a file was written sets the size of its page-cache folios,
  # and so how many page faults reading the embedded build takes (cp: ~3x).
  cc -O2 -static -o "$work/bare_memfd.ld" -DBLOB_PATH="\"$build\"" "$root/bench/startup/bare_memfd.c"
  cc -O2 -static -o "$work/bare_exec.ld" -DTARGET="\"$build\"" "$root/bench/startup/bare_exec.c"
  cp "$work/bare_memfd.ld" "$work/bare_memfd"
  cp "$work/bare_exec.ld" "$work/bare_exec"
  warm=$work/warm cold=$work/cold
  # Prime the warm cache and check each path does what it is named after.
  expect_log "via cache, written now" "$warm" "$out/full/full"
  expect_log "via cache)" "$warm" "$out/full/full"
  expect_log "via cache, written now" "$warm" "$out/dynamic/dynamic"
  expect_log "via cache)" "$warm" "$out/dynamic/dynamic"
  expect_log "via cache, written now" "$cold" "$out/full/full"
  expect_log "via memfd" "$cold" env MULTIARCH_EXEC=memfd "$out/full/full"
  expect_log "via memfd" "$cold" env MULTIARCH_EXEC=memfd "$out/dynamic/dynamic"
  [ "$("$work/bare_memfd")" = "level=$level" ] || { echo "bare_memfd does not run $build" >&2; exit 1; }

  echo "== size pad=$pad: timing $runs rounds" >&2
  "$tmp/timer" "$runs" "$warmup" "$bench/samples-$pad.tsv" \
    @direct "$build" \
    @warm_static "XDG_CACHE_HOME=$warm" "$out/full/full" \
    @warm_dynamic "XDG_CACHE_HOME=$warm" "$out/dynamic/dynamic" \
    @cold "prep=rm -rf '$cold'/multiarch/*" "XDG_CACHE_HOME=$cold" "$out/full/full" \
    @memfd "XDG_CACHE_HOME=$cold" MULTIARCH_EXEC=memfd "$out/full/full" \
    @memfd_dynamic "XDG_CACHE_HOME=$cold" MULTIARCH_EXEC=memfd "$out/dynamic/dynamic" \
    @bare_exec "$work/bare_exec" \
    @bare_memfd "$work/bare_memfd" \
    > "$work/summary.tsv"
  mib=$(stat -c %s "$build" | awk '{ printf "%.1f", $1 / 1048576 }')
  summaries+=("$mib" "$work/summary.tsv" "$(stored_as "$out/full" "$build")" "$(stored_as "$out/dynamic" "$build")")
done

# --- report ------------------------------------------------------------------
report() {
  awk -F '\t' -v mib="$1" -v section="$2" -v zs="${4:-?}" -v zd="${5:-?}" '
    { med[$1] = $2; p25[$1] = $3; p75[$1] = $4; cpu[$1] = $6 }
    END {
      split("direct warm_static warm_dynamic cold memfd memfd_dynamic bare_exec bare_memfd", order, " ")
      label["direct"] = "direct (no launcher)"
      label["warm_static"] = "cache warm, static launcher"
      label["warm_dynamic"] = "cache warm, dynamic launcher"
      label["cold"] = "cache cold, static launcher (" zs ")"
      label["memfd"] = "memfd, static launcher (" zs ")"
      label["memfd_dynamic"] = "memfd, dynamic launcher (" zd ")"
      label["bare_exec"] = "ref: bare execve (static C)"
      label["bare_memfd"] = "ref: bare memfd copy (static C)"
      d = med["direct"]
      if (section == "rows") {
        for (i = 1; i <= 8; i++) {
          k = order[i]
          extra = k == "direct" ? "-" : sprintf("%+.2f", med[k] - d)
          printf "| %s | %s | %.2f | %.2f-%.2f | %s | %.2f |\n", mib, label[k], med[k], p25[k], p75[k], extra, cpu[k]
        }
        exit
      }
      ws = med["warm_static"] - d; wd = med["warm_dynamic"] - d
      me = med["memfd"] - d; be = med["bare_memfd"] - d; md = med["memfd_dynamic"] - d
      printf "- %s MiB: warm overhead static %+.2f ms (%s), dynamic %+.2f ms (%s); ", mib,
        ws, (ws <= 0.6 ? "meets <= 0.6" : "MISSES <= 0.6"), wd, (wd <= 0.6 ? "meets <= 0.6" : "MISSES <= 0.6")
      printf "static is %.2f ms %s than dynamic. ", (wd > ws ? wd - ws : ws - wd), (wd >= ws ? "faster" : "slower")
      printf "bare memfd copy extra %+.2f ms; memfd extra: static (%s) %+.2f ms = %+.0f%% (%s), ", be, zs,
        me, (be > 0 ? 100 * (me - be) / be : 0), (me <= 1.1 * be ? "within 10%" : "NOT within 10%")
      printf "dynamic (%s) %+.2f ms = %+.0f%% (%s).\n", zd,
        md, (be > 0 ? 100 * (md - be) / be : 0), (md <= 1.1 * be ? "within 10%" : "NOT within 10%")
    }' "$3"
}
echo "load average after: $(cut -d ' ' -f 1-3 /proc/loadavg)"
echo
echo "| build MiB | strategy | median ms | p25-p75 ms | extra over direct, ms (median) | CPU ms (median) |"
echo "|---:|---|---:|---:|---:|---:|"
for ((i = 0; i < ${#summaries[@]}; i += 4)); do
  report "${summaries[i]}" rows "${summaries[i + 1]}" "${summaries[i + 2]}" "${summaries[i + 3]}"
done
echo
echo "Goals: warm start overhead <= 0.6 ms at every size; memfd path within 10% of a bare memfd copy (extra over direct)."
for ((i = 0; i < ${#summaries[@]}; i += 4)); do
  report "${summaries[i]}" verdict "${summaries[i + 1]}" "${summaries[i + 2]}" "${summaries[i + 3]}"
done
