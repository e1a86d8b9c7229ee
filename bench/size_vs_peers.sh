#!/usr/bin/env bash
# Size and start-up of the bundles Bazel builds, against cargo-multivers, a
# bare memfd copy and the plain builds, side by side in one run. The figures
# of README.md and of BENCHMARKS.md, section "What Bazel users get".
#
# Usage: bench/size_vs_peers.sh [--quick] [--build-only] [--runs N]
#                               [--busy-runs N] [--work-runs N]
#   --build-only   build everything (Bazel, Cargo, cargo-multivers), time nothing
#   --quick        20 start-up rounds (10 with the cores busy), 3 workload rounds
#   --runs N       start-up rounds per command, idle (default 100, after 5 warm-up)
#   --busy-runs N  start-up rounds with both cores busy (default 40, after 3 warm-up)
#   --work-runs N  workload rounds per command (default 7, after 1 warm-up)
#
# One command builds and measures:
#   - with Bazel (Debian's Bazel 4.2.3, offline: the test workspace
#     tests/bazel and its rules_rust stand-in, as tests/e2e_bazel.sh), -c opt,
#     the default rust_multiarch_binary settings (compression "lz", static
#     launcher):
#       workload      @rules_rust_multiarch//examples/workload (~0.5 MB builds)
#       workload_big  @rules_rust_multiarch//bench/peers/workload_big: the same
#                     main.rs plus 4500 generated numeric kernels, debuginfo 2
#                     (~33 MB builds)
#     and, from bench/peers/workload, the workload with launcher_linking =
#     "dynamic" (workload_dynamic) and with its builds' debug info stripped as
#     rules_rust 0.73 does in -c opt and the stand-in does not
#     (workload_strip; size only); each level's build comes from the
#     bundle's output groups (x86-64 ... x86-64-v4);
#   - with Cargo, the same sources as Cargo packages (bench/peers/*):
#     cargo-multivers 0.13.0's bundle of the same four levels (`--cpus`;
#     installed from crates.io into target/bench/peers/tools when missing) and
#     Cargo's plain x86-64 build,
#     the one cargo-multivers' size ratio is taken against;
#   - a bare memfd copy (bench/startup/bare_memfd.c, static C): embeds the
#     build the bundle starts here and runs it with memfd_create + one write +
#     fexecve, the method of mgo (a Go tool); it is not mgo itself.
# Then prints Markdown, ready to paste, on stdout (also written to
# target/bench/peers/results.md); progress goes to stderr:
#   1 size: one build, the bundle and its ratio, the launcher (bundle minus
#     its blobs), cargo-multivers and its ratio;
#   2 start-up of `PROGRAM --quick` (~1 ms of work): every command once per
#     round, round-robin (bench/startup/timer.c); warm = cache entry present,
#     cold = cache directory emptied before each run (not timed); idle, and
#     again with two busy loops keeping both cores busy (stopped after);
#   3 run time of the workload (default arguments, ~0.3 s).
# `uptime` is printed before and after every timed part. Builds are kept in
# target/bench/peers (Bazel output base, Cargo target dirs), so a rerun only
# rebuilds what changed; the Bazel server is shut down on exit.
set -o errexit -o nounset -o pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=100
busy_runs=40
work_runs=7
build_only=0
while [ $# -gt 0 ]; do
  case $1 in
    --quick) runs=20; busy_runs=10; work_runs=3; shift ;;
    --build-only) build_only=1; shift ;;
    --runs) runs=${2:?--runs needs a number}; shift 2 ;;
    --busy-runs) busy_runs=${2:?--busy-runs needs a number}; shift 2 ;;
    --work-runs) work_runs=${2:?--work-runs needs a number}; shift 2 ;;
    -h|--help) sed -n '2,/^set -o/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
for n in "$runs" "$busy_runs" "$work_runs"; do
  case $n in ''|*[!0-9]*|0) echo "--runs/--busy-runs/--work-runs need a positive number, got '$n'" >&2; exit 2 ;; esac
done

log() { printf '== %s\n' "$*" >&2; }

# --- set-up: only what is missing ------------------------------------------
if ! command -v cc >/dev/null || [ ! -e /usr/lib/x86_64-linux-gnu/libc.a ] || ! command -v readelf >/dev/null; then
  log "installing gcc libc6-dev binutils (apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev binutils >/dev/null
fi
if ! command -v bazel >/dev/null; then
  log "installing Debian's bazel-bootstrap (Bazel 4.2.3, apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bazel-bootstrap >/dev/null
fi
command -v cargo >/dev/null || { echo "size_vs_peers.sh: cargo is needed (rustup)" >&2; exit 2; }

# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
bench_setup peers

cmv_version=0.13.0
if cmv=$(command -v cargo-multivers) && "$cmv" multivers --version 2>/dev/null | grep -q "$cmv_version"; then
  :
else
  cmv=$bench/tools/bin/cargo-multivers
  if [ ! -x "$cmv" ]; then
    log "installing cargo-multivers $cmv_version (crates.io)"
    cargo install --quiet --locked cargo-multivers --version "$cmv_version" --root "$bench/tools" >&2
  fi
fi

levels="x86-64 x86-64-v2 x86-64-v3 x86-64-v4"

# --- Bazel: the bundles and each level's build -------------------------------
# (bz, built_file, install_copy: bench/lib.sh)

declare -A target=(
  [workload]=@rules_rust_multiarch//examples/workload
  [workload_big]=@rules_rust_multiarch//bench/peers/workload_big
  [workload_dynamic]=@rules_rust_multiarch//bench/peers/workload:workload_dynamic
  [workload_strip]=@rules_rust_multiarch//bench/peers/workload:workload_strip
)
programs="workload workload_big"
log "Bazel: building ${target[*]} (tests/bazel, -c opt)"
bz build -c opt "${target[@]}" >&2
for prog in $programs; do
  mkdir -p "$bench/$prog"
  install_copy "$(built_file "${target[$prog]}")" "$bench/$prog/bundle"
  for level in $levels; do
    install_copy "$(built_file "${target[$prog]}" "$level")" "$bench/$prog/$level"
  done
done
install_copy "$(built_file "${target[workload_dynamic]}")" "$bench/workload/bundle-dynamic"
mkdir -p "$bench/workload_strip"
install_copy "$(built_file "${target[workload_strip]}")" "$bench/workload_strip/bundle"
install_copy "$(built_file "${target[workload_strip]}" x86-64)" "$bench/workload_strip/x86-64"

# --- Cargo: cargo-multivers' bundle and the plain x86-64 build ----------------
for prog in $programs; do
  log "Cargo: $prog for x86-64, and cargo multivers"
  RUSTFLAGS=-Ctarget-cpu=x86-64 cargo build --quiet --release \
    --manifest-path "$root/bench/peers/$prog/Cargo.toml" --target-dir "$bench/target-cargo"
  install_copy "$bench/target-cargo/release/$prog" "$bench/$prog/cargo-x86-64"
  # The same four levels as the bundle (its default is every CPU rustc knows).
  "$cmv" multivers --cpus "${levels// /,}" --manifest-path "$root/bench/peers/$prog/Cargo.toml" \
    --target-dir "$bench/target-cmv-$prog" --out-dir "$tmp/cmv-$prog" >&2
  install_copy "$tmp/cmv-$prog/$prog" "$bench/$prog/cmv"
done

# The level a bundle starts here, from its own log line.
level=$(MULTIARCH_DEBUG=log MULTIARCH_EXEC=memfd "$bench/workload/bundle" --quick 2>&1 >/dev/null |
  sed -n 's/^\[multiarch\] starting \(x86-64[^ ]*\) .*/\1/p')
[ -n "$level" ] || { echo "size_vs_peers.sh: cannot tell which level the bundle starts" >&2; exit 1; }
for prog in $programs; do
  log "bare memfd copy of $prog's $level build"
  cc -O2 -static -o "$tmp/bare_memfd" -DBLOB_PATH="\"$bench/$prog/$level\"" "$root/bench/startup/bare_memfd.c"
  install_copy "$tmp/bare_memfd" "$bench/$prog/bare_memfd"
  want=$("$bench/$prog/$level" --quick | sed 's/ build:.*//')
  got=$("$bench/$prog/cmv" --quick | sed 's/ build:.*//')
  [ "$want" = "$got" ] || log "note: cargo-multivers runs the $got build of $prog here, the bundle $want"
done
if [ "$build_only" = 1 ]; then log "built; nothing timed (--build-only)"; exit 0; fi

# expect_log WHAT XDG CMD...: runs CMD with the log on, checks the log says WHAT.
expect_log() {
  local what=$1 xdg=$2; shift 2
  local line
  line=$(XDG_CACHE_HOME=$xdg MULTIARCH_DEBUG=log "$@" 2>&1 >/dev/null | grep '^\[multiarch\] starting' || true)
  case $line in
    *"starting $level "*"$what"*) ;;
    *) echo "size_vs_peers.sh: expected '$what' from $*, got: $line" >&2; exit 1 ;;
  esac
}
load() { uptime | sed 's/.*load average: //'; }
sync  # fresh builds leave dirty pages; their writeback would be noise

# --- timing --------------------------------------------------------------------
# specs PROG SET: the timer's command specs; SET "all" or "busy" (no
# cargo-multivers: at ~0.3 s a start it would take most of the busy run).
specs() {
  local prog=$1 set=$2 dir=$bench/$1
  local warm=$tmp/warm-$prog cold=$tmp/cold-$prog
  printf '%s\n' @plain "$dir/$level" --quick @plain_v1 "$dir/x86-64" --quick \
    @warm "XDG_CACHE_HOME=$warm" "$dir/bundle" --quick \
    @cold "prep=rm -rf '$cold'/multiarch" "XDG_CACHE_HOME=$cold" "$dir/bundle" --quick \
    @memfd "XDG_CACHE_HOME=$cold" MULTIARCH_EXEC=memfd "$dir/bundle" --quick
  if [ "$prog" = workload ]; then
    printf '%s\n' @warm_dynamic "XDG_CACHE_HOME=$tmp/warm-dynamic" "$dir/bundle-dynamic" --quick
  fi
  [ "$set" = all ] && printf '%s\n' @cmv "$dir/cmv" --quick
  printf '%s\n' @bare_memfd "$dir/bare_memfd" --quick
}
for prog in $programs; do
  warm=$tmp/warm-$prog cold=$tmp/cold-$prog
  expect_log "via cache, written now" "$warm" "$bench/$prog/bundle" --quick
  expect_log "via cache)" "$warm" "$bench/$prog/bundle" --quick
  expect_log "via cache, written now" "$cold" "$bench/$prog/bundle" --quick
  expect_log "via memfd" "$cold" env MULTIARCH_EXEC=memfd "$bench/$prog/bundle" --quick
done
expect_log "via cache, written now" "$tmp/warm-dynamic" "$bench/workload/bundle-dynamic" --quick

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
machine="nproc $(nproc); CPU ${cpu_model:-unknown}; $(free -g | awk '/^Mem:/ { print $2 " GiB RAM" }'); kernel $(uname -r);
cache dir on $(df -T "$tmp" | awk 'NR == 2 { print $2 }'); $(rustc --version); $(dpkg-query -W -f 'Bazel ${Version} (Debian bazel-bootstrap)' bazel-bootstrap 2>/dev/null || bazel --version) with the rules_rust stand-in; cargo-multivers $cmv_version; level the bundles start: $level"

declare -A load_before load_after
for prog in $programs; do
  log "$prog: $runs start-up rounds, idle"
  mapfile -t spec < <(specs "$prog" all)
  load_before[$prog-idle]=$(load)
  "$tmp/timer" "$runs" 5 "$bench/startup-samples-$prog.tsv" "${spec[@]}" > "$tmp/startup-$prog.tsv"
  load_after[$prog-idle]=$(load)

  log "$prog: $work_runs workload rounds"
  load_before[$prog-work]=$(load)
  "$tmp/timer" "$work_runs" 1 "$bench/work-samples-$prog.tsv" \
    @plain "$bench/$prog/$level" @plain_v1 "$bench/$prog/x86-64" \
    @warm "XDG_CACHE_HOME=$tmp/warm-$prog" "$bench/$prog/bundle" \
    @cmv "$bench/$prog/cmv" > "$tmp/work-$prog.tsv"
  load_after[$prog-work]=$(load)
done

log "start-up with both cores busy: two busy loops, stopped after"
for _ in 1 2; do
  bash -c 'while :; do :; done' &
  busy_pids+=("$!")
done
sleep 5  # let the load average see them
for prog in $programs; do
  log "$prog: $busy_runs start-up rounds, both cores busy"
  mapfile -t spec < <(specs "$prog" busy)
  load_before[$prog-busy]=$(load)
  "$tmp/timer" "$busy_runs" 3 "$bench/startup-busy-samples-$prog.tsv" "${spec[@]}" > "$tmp/busy-$prog.tsv"
  load_after[$prog-busy]=$(load)
done
for pid in "${busy_pids[@]}"; do kill "$pid"; wait "$pid" 2>/dev/null || true; done
busy_pids=()

# --- tables ---------------------------------------------------------------------
size() { stat -c %s "$1"; }
mb() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1e6 }'; }
ratio() { awk -v s="$1" -v o="$2" 'BEGIN { printf "%.2fx", s / o }'; }
# section_bytes FILE REGEX: total size of the ELF sections whose name matches.
section_bytes() {
  readelf -S -W "$1" | sed -n 's/^ *\[ *[0-9]*\] //p' | while read -r name _ _ _ hex _; do
    if [[ $name =~ $2 ]]; then echo $((16#$hex)); fi
  done | awk '{ s += $1 } END { print s + 0 }'
}
# launcher BUNDLE: bytes of the bundle that are not its blobs (the launcher's
# code and data, the .multiarch table, alignment).
launcher() { echo $(($(size "$1") - $(section_bytes "$1" '^\.multiarch\.blob\.'))); }
# debug BUNDLE: bytes of its .debug_* sections.
debug() { section_bytes "$1" '^\.debug_'; }

startup_table() {  # FILE PROG
  awk -F '\t' -v prog="$2" -v level="$level" '
    { order[NR] = $1; med[$1] = $2; p25[$1] = $3; p75[$1] = $4; cpu[$1] = $6 }
    END {
      label["plain"] = "plain " level " build (Bazel)"
      label["plain_v1"] = "plain x86-64 build (Bazel)"
      label["warm"] = "bundle, warm cache"
      label["cold"] = "bundle, cold cache (first start of a version)"
      label["memfd"] = "bundle, MULTIARCH_EXEC=memfd"
      label["warm_dynamic"] = "bundle, launcher_linking = \"dynamic\", warm cache"
      label["cmv"] = "cargo-multivers (its Cargo builds, table 1; no cache: decodes at every start)"
      label["bare_memfd"] = "bare memfd copy (static C, mgo'"'"'s method, not mgo)"
      for (i = 1; i <= NR; i++) {
        k = order[i]
        printf "| %s | %s | %.2f | %.2f-%.2f | %s | %.2f |\n", prog, label[k], med[k], p25[k], p75[k],
          (k == "plain" ? "-" : sprintf("%+.2f", med[k] - med["plain"])), cpu[k]
      }
    }' "$1"
}

{
  echo "Machine: $machine."
  echo
  echo "Command: \`bench/size_vs_peers.sh --runs $runs --busy-runs $busy_runs --work-runs $work_runs\` ($(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet HEAD 2>/dev/null || echo ', uncommitted changes'))."
  echo
  echo "Table 1: size (MB = 10^6 bytes); ratio = bundle / one x86-64 build of the same tool"
  echo
  echo "| program | one build (Bazel, x86-64) | v2 / v3 / v4 builds | bundle (Bazel, lz, static) | launcher in it (of which .debug_*) | cargo-multivers | one build (Cargo, x86-64) |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for prog in $programs; do
    d=$bench/$prog
    one=$(size "$d/x86-64") b=$(size "$d/bundle") c=$(size "$d/cmv") c1=$(size "$d/cargo-x86-64")
    echo "| $prog | $(mb "$one") | $(mb "$(size "$d/x86-64-v2")") / $(mb "$(size "$d/x86-64-v3")") / $(mb "$(size "$d/x86-64-v4")")" \
      "| $(mb "$b") ($(ratio "$b" "$one")) | $(mb "$(launcher "$d/bundle")") ($(mb "$(debug "$d/bundle")")) | $(mb "$c") ($(ratio "$c" "$c1")) | $(mb "$c1") |"
  done
  echo
  b=$(size "$bench/workload/bundle-dynamic")
  echo "The workload with launcher_linking = \"dynamic\": bundle $(mb "$b") MB ($(ratio "$b" "$(size "$bench/workload/x86-64")")), launcher $(mb "$(launcher "$bench/workload/bundle-dynamic")") MB (of which .debug_* $(mb "$(debug "$bench/workload/bundle-dynamic")") MB)."
  echo
  b=$(size "$bench/workload_strip/bundle") one=$(size "$bench/workload_strip/x86-64")
  echo "The workload with its builds stripped of debug info (\`-Cstrip=debuginfo\`, as rules_rust 0.73 builds -c opt; the stand-in does not): one x86-64 build $(mb "$one") MB, bundle $(mb "$b") MB ($(ratio "$b" "$one")), launcher $(mb "$(launcher "$bench/workload_strip/bundle")") MB (of which .debug_* $(mb "$(debug "$bench/workload_strip/bundle")") MB)."
  echo
  echo "Table 2: start-up of \`PROGRAM --quick\` (ms): median, p25-p75, extra over the plain $level build (median), CPU = user + system (median)"
  echo
  echo "No added load (other work on the machine shows in the load average): $runs interleaved rounds after 5 warm-up rounds; load average before / after: workload ${load_before[workload-idle]} / ${load_after[workload-idle]}; workload_big ${load_before[workload_big-idle]} / ${load_after[workload_big-idle]}."
  echo
  echo "| program | candidate | median | p25-p75 | extra over plain | CPU |"
  echo "|---|---|---:|---:|---:|---:|"
  for prog in $programs; do startup_table "$tmp/startup-$prog.tsv" "$prog ($(mb "$(size "$bench/$prog/$level")") MB)"; done
  echo
  echo "Both cores busy (two shell busy loops): $busy_runs interleaved rounds after 3 warm-up rounds; load average before / after: workload ${load_before[workload-busy]} / ${load_after[workload-busy]}; workload_big ${load_before[workload_big-busy]} / ${load_after[workload_big-busy]}."
  echo
  echo "| program | candidate | median | p25-p75 | extra over plain | CPU |"
  echo "|---|---|---:|---:|---:|---:|"
  for prog in $programs; do startup_table "$tmp/busy-$prog.tsv" "$prog ($(mb "$(size "$bench/$prog/$level")") MB)"; done
  echo
  echo "Table 3: run time of \`PROGRAM\` (default arguments, ms): median, p25-p75; $work_runs interleaved rounds after 1 warm-up round; load average before / after: workload ${load_before[workload-work]} / ${load_after[workload-work]}; workload_big ${load_before[workload_big-work]} / ${load_after[workload_big-work]}"
  echo
  echo "| program | candidate | median | p25-p75 | vs plain $level |"
  echo "|---|---|---:|---:|---:|"
  for prog in $programs; do
    awk -F '\t' -v prog="$prog" -v level="$level" '
      { order[NR] = $1; med[$1] = $2; p25[$1] = $3; p75[$1] = $4 }
      END {
        label["plain"] = "plain " level " build (Bazel)"; label["plain_v1"] = "plain x86-64 build (Bazel)"
        label["warm"] = "bundle, warm cache"; label["cmv"] = "cargo-multivers"
        for (i = 1; i <= NR; i++) {
          k = order[i]
          printf "| %s | %s | %.1f | %.1f-%.1f | %+.1f%% |\n", prog, label[k], med[k], p25[k], p75[k],
            100 * (med[k] - med["plain"]) / med["plain"]
        }
      }' "$tmp/work-$prog.tsv"
  done
} | tee "$bench/results.md"
