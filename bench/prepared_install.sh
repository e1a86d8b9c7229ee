#!/usr/bin/env bash
# Prepared-install benchmark (issue 14, point 1): the first start of a bundle
# from a tree laid out by `multiarch install`, against running the build
# directly, side by side. Goal: <= +0.1 ms over direct.
#
# Usage: bench/prepared_install.sh [--runs N] [--pads "0 20"] [--reuse]
#   --runs N     timed rounds per size (default 200; 5 warm-up rounds first)
#   --pads LIST  PAYLOAD_PAD_MIB values to build and measure (default "0 20")
#   --reuse      keep fixtures already built in target/bench/size-<pad>
#
# Per size, one interleaved loop (bench/startup/timer.c: posix_spawn to
# wait4, round-robin) times:
#   direct             the build the bundle picks here, run directly
#   prepared, static   the static bundle (full) with no cache at all (HOME
#                      and XDG_CACHE_HOME unset): every start is a user's
#                      first, from the prepared tree
#   prepared, dynamic  the same with the dynamically linked launcher
#   cache warm         the static bundle from its per-user cache, for reference
#   no tree, cache     the static bundle where no tree exists (the lookup's
#                      cost on hosts without prepared installs is one openat)
#   min exec           bench/startup/min_exec.c: a static stub with no C
#                      library that only execve's the build: the floor of any
#                      launcher that starts the build as the same process
# The tree is at the real /usr/lib/multiarch when this runs as root with a
# mount namespace and overlayfs (the whole timer runs in a namespace where an
# overlay adds the tree to /usr/lib: the launcher walks exactly the path it
# walks in an image); otherwise it is in target/bench and named by
# MULTIARCH_PREPARED_DIR (a deeper path: one openat and one fstat more per
# extra directory). The script prints which.
# It prints a Markdown table, the goal verdict and `uptime` before and after.
set -o errexit -o nounset -o pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=200
warmup=5
pads="0 20"
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

if ! command -v cc >/dev/null; then
  echo "== installing gcc (apt)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev >/dev/null
fi
command -v cargo >/dev/null || { echo "cargo is needed (rustup)" >&2; exit 2; }

target=$("$root/tests/cargo_target_dir.sh")
bench=$target/bench
mkdir -p "$bench"
tmp=$(mktemp -d "$bench/tmp.XXXXXX")
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
cc -O2 -Wall -Wextra -o "$tmp/timer" "$root/bench/startup/timer.c"

for pad in $pads; do
  out=$bench/size-$pad
  if [ "$reuse" = 1 ] && [ -x "$out/full/full" ] && [ -x "$out/dynamic/dynamic" ]; then
    echo "== reusing fixtures in $out" >&2
  else
    echo "== building fixtures with PAYLOAD_PAD_MIB=$pad into $out" >&2
    PAYLOAD_PAD_MIB=$pad "$root/tests/build_fixtures.sh" "$out" >&2
  fi
done
multiarch=$target/release/multiarch
sync

# The tree: usr-lib/multiarch under $tmp, for both bundles of every size.
usr_lib=$tmp/usr-lib
mkdir -m 755 "$usr_lib"
for pad in $pads; do
  for b in full dynamic; do
    "$multiarch" install "$bench/size-$pad/$b/$b" "$usr_lib/multiarch" >/dev/null
  done
done

# Real path if possible: the timer itself runs in the namespace.
wrap=()
where="MULTIARCH_PREPARED_DIR=$usr_lib/multiarch"
prepared_var=("MULTIARCH_PREPARED_DIR=$usr_lib/multiarch")
if [ "$(id -u)" = 0 ] && unshare -m sh -c "mount -t overlay overlay -o lowerdir=$usr_lib:/usr/lib /usr/lib" 2>/dev/null; then
  wrap=(unshare -m sh -c 'mount -t overlay overlay -o "lowerdir=$1:/usr/lib" /usr/lib && shift && exec "$@"' sh "$usr_lib")
  where="/usr/lib/multiarch (overlay in a mount namespace)"
  prepared_var=()
fi

first=$bench/size-${pads%% *}
level=$(MULTIARCH_DEBUG=log MULTIARCH_EXEC=memfd "$first/full/full" 2>&1 >/dev/null |
  sed -n 's/^\[multiarch\] starting \(x86-64[^ ]*\) .*/\1/p')
[ -n "$level" ] || { echo "cannot tell which level the bundle starts" >&2; exit 1; }

# expect_log WHAT CMD...: the launcher's log line says WHAT (in the wrap).
expect_log() {
  local what=$1 line; shift
  line=$("${wrap[@]}" env -u XDG_CACHE_HOME -u HOME MULTIARCH_DEBUG=log "$@" 2>&1 >/dev/null)
  case $line in
    *"starting $level "*"$what"*) ;;
    *) echo "expected '$what' from $*, got: $line" >&2; exit 1 ;;
  esac
}

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "machine: nproc $(nproc); CPU ${cpu_model:-unknown}; kernel $(uname -r); level picked: $level"
echo "uptime before: $(uptime)"
echo "tree: $where"
echo "runs: $runs per command per size, interleaved, after $warmup warm-up rounds"
echo

rows=()
for pad in $pads; do
  out=$bench/size-$pad
  build=$out/payload-$level
  warm=$tmp/warm-$pad
  mkdir -p "$warm"
  env XDG_CACHE_HOME="$warm" MULTIARCH_EXEC=cache "$out/full/full" >/dev/null
  expect_log "via prepared install)" ${prepared_var[@]+"${prepared_var[@]}"} "$out/full/full"
  expect_log "via prepared install)" ${prepared_var[@]+"${prepared_var[@]}"} "$out/dynamic/dynamic"
  expect_log "via cache)" XDG_CACHE_HOME="$warm" MULTIARCH_PREPARED_DIR="$tmp/none" "$out/full/full"
  # The floor: one execve of a minimal static image (bench/startup/min_exec.c).
  cc -O2 -static -nostdlib -fno-pie -no-pie -DTARGET="\"$build\"" -o "$tmp/min_exec-$pad" \
    "$root/bench/startup/min_exec.c"
  echo "== size pad=$pad: timing $runs rounds" >&2
  # HOME and XDG_CACHE_HOME are not passed to the prepared starts: no cache
  # could be used or written.
  "${wrap[@]}" env -u HOME "$tmp/timer" "$runs" "$warmup" "$bench/prepared-samples-$pad.tsv" \
    @direct "$build" \
    @prepared_static ${prepared_var[@]+"${prepared_var[@]}"} "$out/full/full" \
    @prepared_dynamic ${prepared_var[@]+"${prepared_var[@]}"} "$out/dynamic/dynamic" \
    @cache_warm "XDG_CACHE_HOME=$warm" ${prepared_var[@]+"${prepared_var[@]}"} MULTIARCH_EXEC=cache "$out/full/full" \
    @no_tree "XDG_CACHE_HOME=$warm" "MULTIARCH_PREPARED_DIR=$tmp/none" "$out/full/full" \
    @min_exec "$tmp/min_exec-$pad" \
    > "$tmp/summary-$pad.tsv"
  mib=$(stat -c %s "$build" | awk '{ printf "%.1f", $1 / 1048576 }')
  rows+=("$mib" "$tmp/summary-$pad.tsv")
done
echo "uptime after: $(uptime)"
echo
echo "| build MiB | start | median ms | p25-p75 ms | extra over direct, ms (median) | CPU ms (median) |"
echo "|---:|---|---:|---:|---:|---:|"
for ((i = 0; i < ${#rows[@]}; i += 2)); do
  awk -F '\t' -v mib="${rows[i]}" '
    { med[$1] = $2; p25[$1] = $3; p75[$1] = $4; cpu[$1] = $6 }
    END {
      split("direct prepared_static prepared_dynamic cache_warm no_tree min_exec", order, " ")
      label["direct"] = "direct (no launcher)"
      label["prepared_static"] = "prepared install, static launcher (first start, no cache)"
      label["prepared_dynamic"] = "prepared install, dynamic launcher"
      label["cache_warm"] = "cache warm, static launcher (MULTIARCH_EXEC=cache)"
      label["no_tree"] = "no tree, cache warm, static launcher"
      label["min_exec"] = "ref: a static stub with no C library that only calls execve on the build"
      for (i = 1; i <= 6; i++) {
        k = order[i]
        extra = k == "direct" ? "-" : sprintf("%+.3f", med[k] - med["direct"])
        printf "| %s | %s | %.3f | %.3f-%.3f | %s | %.3f |\n", mib, label[k], med[k], p25[k], p75[k], extra, cpu[k]
      }
    }' "${rows[i + 1]}"
done
echo
for ((i = 0; i < ${#rows[@]}; i += 2)); do
  awk -F '\t' -v mib="${rows[i]}" '
    { med[$1] = $2 }
    END {
      e = med["prepared_static"] - med["direct"]
      printf "- %s MiB: first start from a prepared tree %+.3f ms over direct (goal <= +0.1 ms: %s)\n", mib, e,
        (e <= 0.1 ? "met" : "NOT met")
    }' "${rows[i + 1]}"
done
