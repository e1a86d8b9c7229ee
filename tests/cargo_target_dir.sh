#!/usr/bin/env bash
# Prints the Cargo workspace's target directory, as `cargo metadata` reports
# it: CARGO_TARGET_DIR and `build.target-dir` honoured (issue 10, defect 10).
# Used by tests/build_fixtures.sh and the bench/ scripts. CARGO picks the
# cargo to ask (default: cargo on PATH).
set -o errexit -o nounset -o pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"${CARGO:-cargo}" metadata --format-version 1 --no-deps --manifest-path "$root/Cargo.toml" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
