#!/usr/bin/env bash
# README demo: builds an example bundle with Bazel and runs it with
# MULTIARCH_DEBUG=log, so the launcher says which build it starts and why.
#
#   examples/demo.sh [hello|workload] [ARGS...]
#
# Uses the offline Bazel 4.2.3 test workspace (tests/bazel); installs
# Debian's bazel-bootstrap (Bazel 4.2.3) when no `bazel` is on PATH.
set -o errexit -o nounset -o pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
example="${1:-hello}"
[[ $# -gt 0 ]] && shift
if ! command -v bazel >/dev/null; then
    echo "demo: no bazel on PATH; installing Debian's bazel-bootstrap (Bazel 4.2.3)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bazel-bootstrap >/dev/null
fi
cd "$root/tests/bazel"
target="@rules_rust_multiarch//examples/$example"
bazel build -c opt "$target"
bundle="$(bazel info -c opt bazel-bin 2>/dev/null)/external/rules_rust_multiarch/examples/$example/$example/$example"
ls -lL "$bundle"
echo "\$ MULTIARCH_DEBUG=log $example $*"
MULTIARCH_DEBUG=log "$bundle" "$@"
# Don't leave the Bazel server running after a demo.
bazel shutdown
