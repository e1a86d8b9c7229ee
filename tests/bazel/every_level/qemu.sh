#!/bin/bash
# A qemu-x86_64 given to rust_multiarch_test by label (its `qemu`
# attribute): here Debian's, by absolute path, so that the test finds it
# with no PATH at all (tests/e2e_bazel.sh, test u).
exec /usr/bin/qemu-x86_64 "$@"
