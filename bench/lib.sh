# Shared by the benchmarks that build with Bazel (bench/size_vs_peers.sh,
# bench/variants.sh): sourced, not run.
#
# bench_setup NAME: sets `target` (Cargo's target directory), `bench`
#   (target/bench/NAME, kept between runs), `tmp` (removed on exit), `ws`
#   (the offline test workspace), `ob` (this benchmark's Bazel output base,
#   kept, shut down on exit) and `repo_cache` (RRM_REPOSITORY_CACHE, else
#   ~/.cache/rules_rust_multiarch/repository_cache), and builds the timer
#   (bench/startup/timer.c) as "$tmp/timer". PIDs added to `busy_pids` are
#   killed on exit.
# bz ARGS...: bazel in `ws` with output base `ob`.
# built_file TARGET [GROUP]: builds TARGET (-c opt), prints the one file of
#   its default outputs or of output group GROUP.
# install_copy SRC DEST: a copy written the same way for every candidate
#   (page-cache folio sizes depend on how a file was written).

bench_setup() {
  target=$("$root/tests/cargo_target_dir.sh")
  bench=$target/bench/$1
  mkdir -p "$bench"
  tmp=$(mktemp -d "$bench/tmp.XXXXXX")
  ws=$root/tests/bazel
  ob=$bench/bazel-ob
  repo_cache=${RRM_REPOSITORY_CACHE:-$HOME/.cache/rules_rust_multiarch/repository_cache}
  mkdir -p "$repo_cache"
  busy_pids=()
  trap bench_cleanup EXIT
  cc -O2 -Wall -Wextra -o "$tmp/timer" "$root/bench/startup/timer.c"
}

bench_cleanup() {
  local pid
  for pid in "${busy_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [ -d "$ob" ]; then (cd "$ws" && bazel --output_base="$ob" shutdown >/dev/null 2>&1) || true; fi
  rm -rf "$tmp"
}

bz() { (cd "$ws" && bazel --output_base="$ob" "$@" --repository_cache="$repo_cache"); }

built_file() {
  local out file
  out=$(bz build -c opt "$1" ${2:+"--output_groups=$2"} 2>&1) || { printf '%s\n' "$out" >&2; return 1; }
  file=$(printf '%s\n' "$out" | awk '/ up-to-date:$/ { getline; print $1; exit }')
  case $file in /*) ;; *) file=$(bz info -c opt execution_root 2>/dev/null)/$file ;; esac
  [ -f "$file" ] || { printf '%s\n' "$out" >&2; echo "no output file for $1 ${2:-}" >&2; return 1; }
  printf '%s\n' "$file"
}

install_copy() { cp "$1" "$2.tmp" && chmod 755 "$2.tmp" && mv "$2.tmp" "$2"; }
