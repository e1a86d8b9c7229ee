#!/usr/bin/env bash
# The bundle codec on real builds: for each program, every level's build
# size, encoded size, sequences, encode time and decode time; the x86-64
# build alone ("base"), each other level against it ("delta", as a bundle
# stores it) and alone ("alone").
#
# Usage: bench/compression.sh [--runs N] [--no-alone] [DIR...]
#   --runs N     decode runs per stream; the best is reported (default 5)
#   --no-alone   skip the standalone encodings of the non-x86-64 levels
#   DIR          a directory holding builds named x86-64, x86-64-v2,
#                x86-64-v3 and x86-64-v4 (default: target/bench/peers/workload
#                and target/bench/peers/workload_big, which
#                bench/size_vs_peers.sh builds)
#
# Decodes go into one output buffer faulted in beforehand, so page faults
# (the kernel's cost, the same for any format) stay out of the times; memcpy
# of the build is printed for scale. Times on a shared machine vary by tens
# of percent from one minute to the next: compare runs made together. The
# measuring is cli/examples/codec_probe.rs.
set -o errexit -o nounset -o pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=5
alone=1
dirs=()
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --no-alone) alone=0; shift ;;
    -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
    -*) echo "compression.sh: unknown option $1" >&2; exit 2 ;;
    *) dirs+=("$1"); shift ;;
  esac
done
target=$("$root/tests/cargo_target_dir.sh")
if [ ${#dirs[@]} -eq 0 ]; then
  dirs=("$target/bench/peers/workload" "$target/bench/peers/workload_big")
fi

cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p multiarch_cli --example codec_probe
probe=$target/release/examples/codec_probe

for dir in "${dirs[@]}"; do
  builds=()
  for level in x86-64 x86-64-v2 x86-64-v3 x86-64-v4; do
    if [ -f "$dir/$level" ]; then
      builds+=("$dir/$level")
    fi
  done
  if [ ! -f "$dir/x86-64" ]; then
    echo "compression.sh: $dir has no x86-64 build (bench/size_vs_peers.sh builds them)" >&2
    exit 1
  fi
  echo "== $dir"
  RUNS=$runs ALONE=$alone "$probe" "${builds[@]}"
  echo
done
