#!/usr/bin/env bash
# Size and start-up of our bundles against cargo-multivers and a plain build
# (issue 4). Results and their reading: BENCHMARKS.md, section "Size and
# start-up against cargo-multivers (issue 4)".
#
# Usage: bench/size_vs_peers.sh [--quick] [--runs N] [--work-runs N]
#   --quick        20 start-up rounds, 3 workload rounds, no padded cases
#   --runs N       start-up rounds per command (default 100, after 5 warm-up)
#   --work-runs N  workload rounds per command (default 7, after 1 warm-up)
#
# Programs, each built with Cargo 4 times (RUSTFLAGS=-Ctarget-cpu=x86-64,
# x86-64-v2, x86-64-v3, x86-64-v4), default release profile:
#   workload      examples/workload/main.rs (bench/peers/workload)
#   workload_big  the same main.rs plus 4500 generated numeric kernels, all
#                 linked in, with debug = 2 (bench/peers/workload_big): ~35 MB,
#                 machine code plus the DWARF of an unstripped release build
# and, for the size table only, the workload padded to ~35 MB with 34 MiB of
#   random, same     the same random bytes in all 4 builds (an embedded asset)
#   random, distinct different random bytes per build (tests/build_fixtures.sh
#                    PAYLOAD_PAD_MIB: the worst case)
#   code, distinct   a different 34 MiB window of a real program per build
#                    (the toolchain's librustc_driver .so: code, rodata, ...)
# Candidates: the plain build (the level a bundle picks here, and x86-64 v1);
# our bundles, compression none and lz x launcher static (+crt-static) and
# dynamic; cargo-multivers' bundle (crates.io, built by `cargo multivers`
# from the same package).
# Tables: 1 size and ratio to one build (the x86-64 build); 2 extra start-up
# over the plain build (`workload --quick`, ~1 ms of work), warm (cache entry
# present) and cold (cache dir emptied before each run, not timed), median
# and p25-p75, every command once per round, round-robin (bench/startup/
# timer.c, shared with bench/launcher_startup.sh); 3 workload time (default
# arguments, ~0.3 s). Everything is kept under target/bench/peers, so a second
# run only rebuilds what changed.
set -o errexit -o nounset -o pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=100
work_runs=7
quick=0
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1; runs=20; work_runs=3; shift ;;
    --runs) runs=${2:?--runs needs a number}; shift 2 ;;
    --work-runs) work_runs=${2:?--work-runs needs a number}; shift 2 ;;
    -h|--help) sed -n '2,/^set -o/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
for n in "$runs" "$work_runs"; do
  case $n in ''|*[!0-9]*|0) echo "--runs/--work-runs need a positive number" >&2; exit 2 ;; esac
done

# --- set-up: only what is missing ------------------------------------------
if ! command -v cc >/dev/null || [ ! -e /usr/lib/x86_64-linux-gnu/libc.a ] || ! command -v readelf >/dev/null; then
  echo "== installing gcc libc6-dev binutils (apt)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev binutils >/dev/null
fi
command -v cargo >/dev/null || { echo "cargo is needed (rustup)" >&2; exit 2; }

target=$(cargo metadata --format-version 1 --no-deps --manifest-path "$root/Cargo.toml" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bench=$target/bench/peers
mkdir -p "$bench"
tmp=$(mktemp -d "$bench/tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

cmv_version=0.13.0
if cmv=$(command -v cargo-multivers) && "$cmv" multivers --version 2>/dev/null | grep -q "$cmv_version"; then
  :
else
  cmv=$bench/tools/bin/cargo-multivers
  if [ ! -x "$cmv" ]; then
    echo "== installing cargo-multivers $cmv_version (crates.io)" >&2
    cargo install --quiet --locked cargo-multivers --version "$cmv_version" --root "$bench/tools" >&2
  fi
fi

cc -O2 -Wall -Wextra -o "$tmp/timer" "$root/bench/startup/timer.c"
cargo build --quiet --release --manifest-path "$root/Cargo.toml" -p multiarch_cli
multiarch=$target/release/multiarch
host=$(rustc -vV | sed -n 's/^host: //p')
levels="x86-64 x86-64-v2 x86-64-v3 x86-64-v4"

# --- the programs: 4 level builds each -----------------------------------------
programs="workload workload_big"
for prog in $programs; do
  for level in $levels; do
    echo "== building $prog for $level" >&2
    RUSTFLAGS="-Ctarget-cpu=$level" cargo build --quiet --release \
      --manifest-path "$root/bench/peers/$prog/Cargo.toml" --target-dir "$bench/target-$level"
    mkdir -p "$bench/$prog"
    cp "$bench/target-$level/release/$prog" "$bench/$prog/$level.tmp"
    mv "$bench/$prog/$level.tmp" "$bench/$prog/$level"
  done
done

# --- padded cases (size table only) --------------------------------------------
cases="$programs"
if [ "$quick" = 0 ]; then
  pad=$((34 * 1048576))
  driver=$(ls "$(rustc --print sysroot)"/lib/librustc_driver-*.so | head -n 1)
  [ "$(stat -c %s "$driver")" -ge $((4 * pad)) ] || { echo "$driver is too small for 4 windows" >&2; exit 1; }
  head -c "$pad" /dev/urandom > "$tmp/same"
  mkdir -p "$bench/rand_same" "$bench/rand_distinct" "$bench/code_distinct"
  i=0
  for level in $levels; do
    cat "$bench/workload/$level" "$tmp/same" > "$bench/rand_same/$level"
    { cat "$bench/workload/$level"; head -c "$pad" /dev/urandom; } > "$bench/rand_distinct/$level"
    { cat "$bench/workload/$level"; dd if="$driver" bs=1M iflag=skip_bytes,count_bytes skip=$((i * pad)) count="$pad" status=none; } > "$bench/code_distinct/$level"
    chmod +x "$bench/rand_same/$level" "$bench/rand_distinct/$level" "$bench/code_distinct/$level"
    i=$((i + 1))
  done
  rm "$tmp/same"
  cases="$cases rand_same rand_distinct code_distinct"
fi

# --- our bundles: compression none|lz x launcher static|dynamic -------------------
# bundle CASE COMPRESSION: packs once, builds the launcher crate twice.
bundle() {
  local case=$1 comp=$2
  local name=${case}_$comp
  local dir=$bench/bundles/$name
  "$root/tests/bundle_crate.sh" "$dir" "$name"
  local args=() level
  for level in $levels; do args+=(--variant "$level=$bench/$case/$level"); done
  local t0=$SECONDS
  "$multiarch" pack --program "$case" --label "bench/size_vs_peers.sh:$name" --target "$host" \
    --compression "$comp" --blob-dir "$dir/src/blobs" --out "$dir/src/main.rs.new" "${args[@]}"
  echo "$case $comp $((SECONDS - t0))" >> "$tmp/pack_seconds"
  if cmp -s "$dir/src/main.rs.new" "$dir/src/main.rs"; then rm "$dir/src/main.rs.new"; else mv "$dir/src/main.rs.new" "$dir/src/main.rs"; fi
  local link flags
  for link in static dynamic; do
    flags=-Ctarget-cpu=x86-64
    [ "$link" = static ] && flags="$flags -Ctarget-feature=+crt-static"
    RUSTFLAGS=$flags cargo build --quiet --release --manifest-path "$dir/Cargo.toml" --target-dir "$bench/target-bundle-$link"
    mkdir -p "$bench/$case/ours"
    cp "$bench/target-bundle-$link/release/$name" "$bench/$case/ours/$comp-$link.tmp"
    mv "$bench/$case/ours/$comp-$link.tmp" "$bench/$case/ours/$comp-$link"
  done
}
: > "$tmp/pack_seconds"
for case in $cases; do
  for comp in none lz; do
    echo "== packing $case, compression $comp" >&2
    bundle "$case" "$comp"
  done
done

# --- cargo-multivers' bundles of the same packages -------------------------------
for prog in $programs; do
  echo "== cargo multivers: $prog" >&2
  "$cmv" multivers --manifest-path "$root/bench/peers/$prog/Cargo.toml" \
    --target-dir "$bench/target-cmv" --out-dir "$bench/$prog/cmv" >&2
done

sync  # fresh builds leave dirty pages; their writeback would be noise

# The level a bundle picks here, from its own log line.
level=$(MULTIARCH_DEBUG=log MULTIARCH_EXEC=memfd "$bench/workload/ours/lz-static" --quick 2>&1 >/dev/null |
  sed -n 's/^\[multiarch\] starting \(x86-64[^ ]*\) .*/\1/p')
[ -n "$level" ] || { echo "cannot tell which level the bundle starts" >&2; exit 1; }
for prog in $programs; do
  want=$("$bench/$prog/$level" --quick | sed 's/ build:.*//')
  got=$("$bench/$prog/cmv/$prog" --quick | sed 's/ build:.*//')
  [ "$want" = "$got" ] || echo "note: cargo-multivers runs the $got build of $prog here, ours $want" >&2
done

# expect_log WHAT XDG CMD...: runs CMD with the log on, checks the log says WHAT.
expect_log() {
  local what=$1 xdg=$2; shift 2
  local line
  line=$(XDG_CACHE_HOME=$xdg MULTIARCH_DEBUG=log "$@" 2>&1 >/dev/null | grep '^\[multiarch\] starting' || true)
  case $line in
    *"starting $level "*"$what"*) ;;
    *) echo "expected '$what' from $*, got: $line" >&2; exit 1 ;;
  esac
}

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "machine: nproc $(nproc); CPU ${cpu_model:-unknown}; $(free -g | awk '/^Mem:/ { print $2 " GiB RAM" }');" \
  "kernel $(uname -r); $(rustc --version); cargo-multivers $cmv_version; level picked: $level"
echo "cache dir filesystem: $(df -T "$bench" | awk 'NR == 2 { print $2 }')"
echo "load average before timing: $(cut -d ' ' -f 1-3 /proc/loadavg)"

# --- table 1: sizes ---------------------------------------------------------------
size() { stat -c %s "$1"; }
mib() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1048576 }'; }
echo
echo "Table 1: size (MiB) and ratio to one build (the x86-64 build)"
echo
echo "| program | one build (x86-64) | v2 / v3 / v4 builds | none, static | none, dynamic | lz, static | lz, dynamic | cargo-multivers |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
labels_workload="workload (real)"
labels_workload_big="workload_big (real, kernels + debug=2)"
labels_rand_same="workload + 34 MiB random, same in all 4"
labels_rand_distinct="workload + 34 MiB random, distinct per build"
labels_code_distinct="workload + 34 MiB of a real program, distinct per build"
for case in $cases; do
  one=$(size "$bench/$case/x86-64")
  label=labels_$case
  row="| ${!label} | $(mib "$one") | $(mib "$(size "$bench/$case/x86-64-v2")") / $(mib "$(size "$bench/$case/x86-64-v3")") / $(mib "$(size "$bench/$case/x86-64-v4")")"
  for b in none-static none-dynamic lz-static lz-dynamic; do
    s=$(size "$bench/$case/ours/$b")
    row="$row | $(mib "$s") ($(awk -v s="$s" -v o="$one" 'BEGIN { printf "%.2fx", s / o }'))"
  done
  if [ -x "$bench/$case/cmv/$case" ]; then
    s=$(size "$bench/$case/cmv/$case")
    row="$row | $(mib "$s") ($(awk -v s="$s" -v o="$one" 'BEGIN { printf "%.2fx", s / o }'))"
  else
    row="$row | -"
  fi
  echo "$row |"
done
echo
echo "multiarch pack time (s), per case and compression: $(awk '{ printf "%s%s %s %ss", (NR > 1 ? "; " : ""), $1, $2, $3 }' "$tmp/pack_seconds")"
echo "launcher alone (bundle minus its blobs) is in 'multiarch inspect':"
for b in lz-static lz-dynamic; do
  echo "  $b:"; "$multiarch" inspect "$bench/workload/ours/$b" | sed 's/^/    /'
done

# --- table 2: start-up ----------------------------------------------------------
timings=()
for prog in $programs; do
  dir=$bench/$prog
  specs=(@plain "$dir/$level" --quick @plain_v1 "$dir/x86-64" --quick)
  for b in none-static none-dynamic lz-static lz-dynamic; do
    # Bundles of the same builds share cache entries: one cache dir each.
    warm=$tmp/warm-$prog-$b cold=$tmp/cold-$prog-$b
    expect_log "via cache, written now" "$warm" "$dir/ours/$b" --quick
    expect_log "via cache)" "$warm" "$dir/ours/$b" --quick
    expect_log "via cache, written now" "$cold" "$dir/ours/$b" --quick
    specs+=(@"warm_$b" "XDG_CACHE_HOME=$warm" "$dir/ours/$b" --quick)
    specs+=(@"cold_$b" "prep=rm -rf '$cold'/multiarch" "XDG_CACHE_HOME=$cold" "$dir/ours/$b" --quick)
  done
  expect_log "via memfd" "$cold" env MULTIARCH_EXEC=memfd "$dir/ours/lz-static" --quick
  specs+=(@memfd_lz-static "XDG_CACHE_HOME=$cold" MULTIARCH_EXEC=memfd "$dir/ours/lz-static" --quick)
  specs+=(@cmv "$dir/cmv/$prog" --quick)
  cc -O2 -static -o "$tmp/bare_memfd.ld" -DBLOB_PATH="\"$dir/$level\"" "$root/bench/startup/bare_memfd.c"
  cp "$tmp/bare_memfd.ld" "$dir/bare_memfd"
  specs+=(@bare_memfd "$dir/bare_memfd" --quick)
  echo "== $prog: timing $runs start-up rounds" >&2
  "$tmp/timer" "$runs" 5 "$bench/startup-samples-$prog.tsv" "${specs[@]}" > "$tmp/startup-$prog.tsv"
  echo "== $prog: timing $work_runs workload rounds" >&2
  "$tmp/timer" "$work_runs" 1 "$bench/work-samples-$prog.tsv" \
    @plain "$dir/$level" @plain_v1 "$dir/x86-64" \
    @warm_lz-static "XDG_CACHE_HOME=$tmp/warm-$prog-lz-static" "$dir/ours/lz-static" \
    @warm_none-dynamic "XDG_CACHE_HOME=$tmp/warm-$prog-none-dynamic" "$dir/ours/none-dynamic" \
    @cmv "$dir/cmv/$prog" > "$tmp/work-$prog.tsv"
  timings+=("$prog" "$(mib "$(size "$dir/$level")")")
done
echo "load average after timing: $(cut -d ' ' -f 1-3 /proc/loadavg)"

echo
echo "Table 2: start-up of \`PROGRAM --quick\` (ms): median, p25-p75, and extra over the plain $level build (median);" \
  "$runs interleaved rounds after 5 warm-up rounds"
echo
echo "| program | candidate | median | p25-p75 | extra over plain | CPU (median) |"
echo "|---|---|---:|---:|---:|---:|"
for ((i = 0; i < ${#timings[@]}; i += 2)); do
  awk -F '\t' -v prog="${timings[i]}" -v mb="${timings[i + 1]}" -v level="$level" '
    { order[NR] = $1; med[$1] = $2; p25[$1] = $3; p75[$1] = $4; cpu[$1] = $6 }
    END {
      label["plain"] = "plain " level " build"
      label["plain_v1"] = "plain x86-64 build"
      label["memfd_lz-static"] = "ours lz, static, MULTIARCH_EXEC=memfd"
      label["cmv"] = "cargo-multivers (no cache: every start decodes)"
      label["bare_memfd"] = "ref: bare memfd copy (static C, ~ mgo)"
      for (i = 1; i <= NR; i++) {
        k = order[i]; l = label[k]
        if (l == "") { split(k, p, "_"); split(p[2], q, "-"); l = "ours " q[1] ", " q[2] ", " p[1] }
        printf "| %s (%s MiB) | %s | %.2f | %.2f-%.2f | %s | %.2f |\n", prog, mb, l, med[k], p25[k], p75[k],
          (k == "plain" ? "-" : sprintf("%+.2f", med[k] - med["plain"])), cpu[k]
      }
    }' "$tmp/startup-${timings[i]}.tsv"
done

echo
echo "Table 3: workload time, default arguments (ms): median, p25-p75; $work_runs interleaved rounds after 1 warm-up round"
echo
echo "| program | candidate | median | p25-p75 | vs plain $level |"
echo "|---|---|---:|---:|---:|"
for ((i = 0; i < ${#timings[@]}; i += 2)); do
  awk -F '\t' -v prog="${timings[i]}" -v level="$level" '
    { order[NR] = $1; med[$1] = $2; p25[$1] = $3; p75[$1] = $4 }
    END {
      label["plain"] = "plain " level " build"; label["plain_v1"] = "plain x86-64 build"
      label["warm_lz-static"] = "ours lz, static, warm"; label["warm_none-dynamic"] = "ours none, dynamic, warm"
      label["cmv"] = "cargo-multivers"
      for (i = 1; i <= NR; i++) {
        k = order[i]
        printf "| %s | %s | %.1f | %.1f-%.1f | %+.1f%% |\n", prog, label[k], med[k], p25[k], p75[k],
          100 * (med[k] - med["plain"]) / med["plain"]
      }
    }' "$tmp/work-${timings[i]}.tsv"
done
