#!/usr/bin/env bash
# Writes DIR/Cargo.toml and DIR/Cargo.lock of a Cargo bundle crate named NAME:
# a binary crate whose src/main.rs `multiarch pack` writes, depending on the
# launcher crate of this repository, with the launcher's release profile, and
# a build script that links it without C start files (the launcher brings its
# own `_start`; see launcher/src/rt.rs).
# Used by tests/build_fixtures.sh and bench/size_vs_peers.sh.
# Usage: tests/bundle_crate.sh DIR NAME
set -o errexit -o nounset -o pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=$1 name=$2
mkdir -p "$dir/src"
cat > "$dir/Cargo.toml" <<TOML
[package]
name = "$name"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
multiarch_launcher = { path = "$root/launcher" }

[profile.dev]
panic = "abort"

[profile.release]
opt-level = 3
lto = true
codegen-units = 1
panic = "abort"

[workspace]
TOML
cat > "$dir/build.rs" <<'RS'
fn main() {
    println!("cargo:rustc-link-arg-bins=-nostartfiles");
}
RS
cp "$root/Cargo.lock" "$dir/Cargo.lock"
