#!/usr/bin/env bash
# Builds the launcher's test and benchmark fixtures with Cargo:
#   OUT/payload-<cpu>            the payload, built with -Ctarget-cpu=<cpu>
#                                (the four levels, znver4, sapphirerapids)
#   OUT/<bundle>/<bundle>        launchers that embed them:
#     full      v1 v2 v3 v4, statically linked, compressed (lz)
#     dynamic   v1 v2 v3 v4, dynamically linked, stored uncompressed
#     v1v3      v1 and v3 only (a level the bundle does not embed falls back);
#               its .multiarch table in format version 3 (no checksums), which
#               the CLI still reads
#     fleet     variants x86-64, x86-64-v3, znver4, sapphirerapids, packed
#               with --rustc (issue 12), statically linked, compressed
#     capped    v1 v3 v4 with --cap x86-64-v3, statically linked, compressed
#     shared    v1 v3 v4, compressed, their builds padded with 512 KiB of
#               noise, the same for v3 and v4 (other for v1): one of v3 and
#               v4 is stored alone and the other is a delta against it, not
#               against the baseline's build (issue 12)
# Usage: tests/build_fixtures.sh [OUT]   (default: <target>/fixtures)
# <target> is Cargo's target directory (`cargo metadata`: honours
# CARGO_TARGET_DIR and build.target-dir), where the tools are built.
# The payload can be padded to a size (bench): PAYLOAD_PAD_MIB=N pads each
# build with N MiB of random bytes after its ELF image; bundles then embed that.
set -o errexit -o nounset -o pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cargo=${CARGO:-cargo}
target=$("$root/tests/cargo_target_dir.sh")
out=${1:-$target/fixtures}
pad_mib=${PAYLOAD_PAD_MIB:-0}
mkdir -p "$out"

"$cargo" build --quiet --release --manifest-path "$root/Cargo.toml" -p multiarch_cli
multiarch=$target/release/multiarch

for level in x86-64 x86-64-v2 x86-64-v3 x86-64-v4 znver4 sapphirerapids; do
  MULTIARCH_TEST_BUILD=$level RUSTFLAGS="-Ctarget-cpu=$level" "$cargo" build --quiet --release \
    --manifest-path "$root/Cargo.toml" -p multiarch_test_payload \
    --target-dir "$target/payload-$level"
  cp "$target/payload-$level/release/multiarch_test_payload" "$out/payload-$level.tmp"
  if [ "$pad_mib" -gt 0 ]; then
    head -c "$((pad_mib * 1048576))" /dev/urandom >> "$out/payload-$level.tmp"
  fi
  mv "$out/payload-$level.tmp" "$out/payload-$level"
done

# big: the payload plus ~6 MiB of compressible text per build, so that the
# launcher decodes in steps while its writer thread writes (from 4 MiB on,
# launcher/src/writer.rs).
for level in x86-64 x86-64-v4; do
  { cat "$out/payload-$level"; seq 1 300000 | sed "s/^/$level padding line /"; } > "$out/big-payload-$level.tmp"
  chmod +x "$out/big-payload-$level.tmp"
  mv "$out/big-payload-$level.tmp" "$out/big-payload-$level"
done

# shared: noise from perl's seeded generator, the same on every run (an
# unchanged bundle is not rebuilt).
for level in x86-64 x86-64-v3 x86-64-v4; do
  seed=2
  if [ "$level" = x86-64 ]; then seed=1; fi
  { cat "$out/payload-$level"; perl -e "srand($seed); print pack('C*', map { int rand 256 } 1..524288)"; } \
    > "$out/shared-payload-$level.tmp"
  chmod +x "$out/shared-payload-$level.tmp"
  mv "$out/shared-payload-$level.tmp" "$out/shared-payload-$level"
done

# bundle NAME RUSTFLAGS COMPRESSION VARIANT... (PAYLOAD: the builds' file
# name prefix, default payload; PACK_RUSTC: pass --rustc and, per variant
# that is no level, --target-cpu VARIANT=VARIANT; PACK_CAP: --cap)
bundle() {
  local name=$1 rustflags=$2 compression=$3; shift 3
  local dir=$out/$name
  "$root/tests/bundle_crate.sh" "$dir" "$name"
  local args=()
  for level in "$@"; do
    args+=(--variant "$level=$out/${PAYLOAD:-payload}-$level")
    case $level in
      x86-64|x86-64-v[234]) ;;
      *) args+=(--target-cpu "$level=$level") ;;
    esac
  done
  if [ -n "${PACK_RUSTC:-}" ]; then args+=(--rustc "$PACK_RUSTC"); fi
  if [ -n "${PACK_CAP:-}" ]; then args+=(--cap "$PACK_CAP"); fi
  "$multiarch" pack --program "payload_$name" --label "tests/build_fixtures.sh:$name" \
    --target "$(rustc -vV | sed -n "s/^host: //p")" \
    --compression "$compression" --blob-dir "$dir/src/blobs" --table-version "${TABLE_VERSION:-5}" \
    --out "$dir/src/main.rs.new" "${args[@]}"
  # Unchanged source, unchanged mtime: Cargo then skips the rebuild.
  if cmp -s "$dir/src/main.rs.new" "$dir/src/main.rs"; then
    rm "$dir/src/main.rs.new"
  else
    mv "$dir/src/main.rs.new" "$dir/src/main.rs"
  fi
  RUSTFLAGS="-Ctarget-cpu=x86-64 $rustflags" "$cargo" build --quiet --release \
    --manifest-path "$dir/Cargo.toml" --target-dir "$out/target"
  cp "$out/target/release/$name" "$dir/$name.tmp"
  mv "$dir/$name.tmp" "$dir/$name"
}

bundle full "-Ctarget-feature=+crt-static" lz x86-64 x86-64-v2 x86-64-v3 x86-64-v4
bundle dynamic "" none x86-64 x86-64-v2 x86-64-v3 x86-64-v4
TABLE_VERSION=3 bundle v1v3 "-Ctarget-feature=+crt-static" lz x86-64 x86-64-v3
PAYLOAD=big-payload bundle big "-Ctarget-feature=+crt-static" lz x86-64 x86-64-v4
PACK_RUSTC=${RUSTC:-rustc} bundle fleet "-Ctarget-feature=+crt-static" lz x86-64 x86-64-v3 znver4 sapphirerapids
PACK_CAP=x86-64-v3 bundle capped "-Ctarget-feature=+crt-static" lz x86-64 x86-64-v3 x86-64-v4
PAYLOAD=shared-payload bundle shared "-Ctarget-feature=+crt-static" lz x86-64 x86-64-v3 x86-64-v4
echo "fixtures in $out"
