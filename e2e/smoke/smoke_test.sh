#!/usr/bin/env bash
# Runs the bundle and checks that one of its builds printed the greeting.
set -o errexit -o nounset -o pipefail
out="$(XDG_CACHE_HOME="${TEST_TMPDIR:?}" "$1")"
if [[ "$out" != "smoke: hello from a rust_multiarch_binary" ]]; then
    echo "unexpected output: $out" >&2
    exit 1
fi
