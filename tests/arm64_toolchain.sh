#!/usr/bin/env bash
# The aarch64 cross toolchain of issue 13, all from Debian (rustup cannot add
# targets here):
#   rustc-web, cargo-web          rustc/cargo 1.96 in /usr/bin
#   libstd-rust-web-dev:arm64     the aarch64 std under
#                                 /usr/lib/rustlib/aarch64-unknown-linux-gnu/lib
#   gcc-aarch64-linux-gnu, libc6-dev-arm64-cross   the linker and its C runtime
# qemu-aarch64 7.2 (qemu-user) runs cortex-a53, neoverse-n1, a64fx and max.
#
# Usage: tests/arm64_toolchain.sh [--check] [--qemu10 DIR]
#   --check        install nothing: exit 0 when the toolchain is there, 1 if not
#   --qemu10 DIR   also puts qemu-aarch64 10 (for neoverse-v1 and neoverse-n2)
#                  in DIR/bin, from bookworm-backports' qemu-user (statically
#                  linked from qemu 10 on, so it runs from any directory),
#                  without changing the system's qemu or apt sources: the
#                  package index goes to DIR/apt (a private source list, with
#                  the mirror this machine's apt already uses) and the package
#                  is unpacked with dpkg-deb. Best effort: a failure is reported
#                  and the script still exits 0 (the tests then skip the
#                  qemu 10 models, saying so).
# Idempotent; returns at once when everything is there. Never touches rustup.
set -o errexit -o nounset -o pipefail

check=0 qemu10=
while [ $# -gt 0 ]; do
  case $1 in
    --check) check=1 ;;
    --qemu10) qemu10=$2; shift ;;
    *) echo "usage: $0 [--check] [--qemu10 DIR]" >&2; exit 2 ;;
  esac
  shift
done

triple=aarch64-unknown-linux-gnu
present() {
  [ -x /usr/bin/rustc ] && [ -x /usr/bin/cargo ] &&
    compgen -G "/usr/lib/rustlib/$triple/lib/libcore-*.rlib" >/dev/null &&
    command -v aarch64-linux-gnu-gcc >/dev/null &&
    [ -e /usr/aarch64-linux-gnu/lib/crt1.o ] &&
    command -v qemu-aarch64 >/dev/null
}

if [ "$check" = 1 ]; then
  present
  exit
fi

export DEBIAN_FRONTEND=noninteractive
if present; then
  echo "arm64 toolchain: present ($(/usr/bin/rustc --version))"
else
  start=$SECONDS
  echo "arm64 toolchain: installing from Debian (about 300 MB download)"
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    dpkg --add-architecture arm64
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends rustc-web cargo-web libstd-rust-web-dev:arm64 \
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user >/dev/null
  present || { echo "arm64 toolchain: still incomplete after apt-get install" >&2; exit 1; }
  echo "arm64 toolchain: installed in $((SECONDS - start)) s ($(/usr/bin/rustc --version))"
fi

# has_v1 QEMU: whether QEMU is there and models neoverse-v1 (qemu 10 does,
# qemu 7.2 does not). `-cpu help` exits 1 after listing.
has_v1() {
  [ -x "$1" ] && { "$1" -cpu help || true; } | grep -x '  neoverse-v1' >/dev/null
}

if [ -n "$qemu10" ]; then
  bin=$qemu10/bin/qemu-aarch64
  if has_v1 "$bin"; then
    echo "qemu 10: present ($("$bin" --version | head -1))"
    exit 0
  fi
  start=$SECONDS
  # The mirror this machine's apt uses for bookworm.
  mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' | awk '$2 == "bookworm" {print $1; exit}')
  if [ -z "$mirror" ]; then
    echo "qemu 10: skipped (no bookworm source in apt's configuration)"
    exit 0
  fi
  apt=$qemu10/apt
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/parts" "$qemu10/bin"
  echo "deb $mirror bookworm-backports main" >"$apt/sources.list"
  opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=$apt/parts"
    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o "APT::Architectures::=amd64"
    -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
  if apt-get "${opts[@]}" update -qq >/dev/null 2>"$apt/update.log" &&
    (cd "$apt" && apt-get "${opts[@]}" download -qq qemu-user >/dev/null 2>"$apt/download.log"); then
    deb=$(ls "$apt"/qemu-user_*.deb)
    deb_kb=$(du -k "$deb" | cut -f1)
    rm -rf "$apt/unpacked"
    dpkg-deb -x "$deb" "$apt/unpacked"
    # Only a static binary runs outside the system's library directories.
    if [ -x "$apt/unpacked/usr/bin/qemu-aarch64" ] &&
      ! readelf -l "$apt/unpacked/usr/bin/qemu-aarch64" | grep -q 'interpreter'; then
      cp "$apt/unpacked/usr/bin/qemu-aarch64" "$bin.tmp"
      mv "$bin.tmp" "$bin"
    fi
    rm -rf "$apt/unpacked" "$deb"
  fi
  if has_v1 "$bin"; then
    echo "qemu 10: $("$bin" --version | head -1) in $qemu10 ($((SECONDS - start)) s;" \
      "downloaded: $(du -sk "$apt/lists" | cut -f1) KB index, ${deb_kb:-?} KB package)"
  else
    echo "qemu 10: not available (see $apt/*.log); neoverse-v1/neoverse-n2 checks will be skipped"
  fi
fi
