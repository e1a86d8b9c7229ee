#!/usr/bin/env bash
# Size of an aarch64 bundle of the four tiers (rules/private/cpus.bzl,
# AARCH64_TIERS) against one build (issue 13: goal <= 1.3x one build).
#
# Usage: bench/arm64_size.sh [--small]
#   default   bench/peers/workload_big (the ~33 MB program of the x86-64
#             figures: distinct numeric kernels, full debug info)
#   --small   bench/peers/workload (examples/workload/main.rs, ~0.5 MB)
# Each tier is built with Debian's cargo and rustc for aarch64-unknown-linux-gnu
# (tests/arm64_toolchain.sh installs them), Cargo's release profile as a user
# has it, dynamically linked as a plain `cargo build` makes it; the bundle is
# packed with `multiarch pack --rustc /usr/bin/rustc --compression lz` and its
# launcher linked as a static PIE. Builds are kept in <cargo target
# dir>/bench/arm64, so a rerun only rebuilds what changed. Prints a Markdown
# table on stdout; progress on stderr.
set -o errexit -o nounset -o pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
program=workload_big
[ "${1:-}" = --small ] && program=workload
triple=aarch64-unknown-linux-gnu

if ! "$root/tests/arm64_toolchain.sh" --check; then
  echo "bench/arm64_size.sh: Debian's aarch64 toolchain is missing: run tests/arm64_toolchain.sh (as root)" >&2
  exit 1
fi
target=$("$root/tests/cargo_target_dir.sh")
out=$target/bench/arm64
mkdir -p "$out/bin"
xcargo() {
  RUSTC=/usr/bin/rustc CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc /usr/bin/cargo "$@"
}

mapfile -t tiers < <(python3 - "$root/rules/private/cpus.bzl" <<'PY'
import ast, re, sys
text = open(sys.argv[1]).read()
m = re.search(r"^AARCH64_TIERS = (\{.*?^\})", text, re.S | re.M)
for name, spec in ast.literal_eval(m.group(1)).items():
    print(name, spec["cpu"], ",".join(spec["features"]) or "-")
PY
)

echo "load before: $(uptime)" >&2
args=()
names=()
for line in "${tiers[@]}"; do
  read -r t c f <<<"$line"
  f=${f#-}
  names+=("$t")
  echo "building $program for tier $t" >&2
  RUSTFLAGS="-Ctarget-cpu=$c${f:+ -Ctarget-feature=$f}" xcargo build --quiet --release \
    --manifest-path "$root/bench/peers/$program/Cargo.toml" --target "$triple" --target-dir "$out/$program-$t"
  cp "$out/$program-$t/$triple/release/$program" "$out/bin/$program-$t"
  args+=(--variant "$t=$out/bin/$program-$t" --target-cpu "$t=$c")
  [ -z "$f" ] || args+=(--target-features "$t=$f")
done

cargo build --quiet --release --manifest-path "$root/Cargo.toml" -p multiarch_cli
crate=$out/crate-$program
"$root/tests/bundle_crate.sh" "$crate" "${program}_mv"
"$target/release/multiarch" pack --program "$program" --label bench/arm64_size.sh --target "$triple" \
  --rustc /usr/bin/rustc --compression lz --blob-dir "$crate/src/blobs" --out "$crate/src/main.rs.new" "${args[@]}"
if cmp -s "$crate/src/main.rs.new" "$crate/src/main.rs"; then rm "$crate/src/main.rs.new"; else mv "$crate/src/main.rs.new" "$crate/src/main.rs"; fi
RUSTFLAGS="-Ctarget-cpu=generic -Ctarget-feature=+crt-static -Clink-arg=-static-pie" xcargo build --quiet --release \
  --manifest-path "$crate/Cargo.toml" --target "$triple" --target-dir "$out/crate-target"
bundle=$out/crate-target/$triple/release/${program}_mv
echo "load after: $(uptime)" >&2

size() { stat -c %s "$1"; }
blobs=0
for b in "$crate"/src/blobs/*; do blobs=$((blobs + $(size "$b"))); done
largest=0
for t in "${names[@]}"; do
  s=$(size "$out/bin/$program-$t")
  [ "$s" -gt "$largest" ] && largest=$s
done
ratio() { python3 -c "print(f'{$1 / $2:.2f}x')"; }

echo "Size of the aarch64 bundle of $program ($(/usr/bin/rustc --version | cut -d' ' -f1-2), $triple):"
echo
echo "| file | bytes | vs. largest build |"
echo "|---|---:|---:|"
for t in "${names[@]}"; do
  s=$(size "$out/bin/$program-$t")
  echo "| build $t | $s | $(ratio "$s" "$largest") |"
done
echo "| bundle (${names[*]}, lz) | $(size "$bundle") | **$(ratio "$(size "$bundle")" "$largest")** |"
echo "| of which blobs | $blobs | $(ratio "$blobs" "$largest") |"
echo "| of which launcher (bundle minus blobs) | $(($(size "$bundle") - blobs)) | |"
echo
echo "Goal (issue 13): bundle <= 1.3x one build."
