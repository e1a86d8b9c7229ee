"""Public API of rules_rust_multiarch. Load only this file; rules/private/ may change."""

load("//rules/private:binary.bzl", _rust_multiarch_binary = "rust_multiarch_binary")
load("//rules/private:cpus.bzl", _LEVELS = "LEVELS", _TARGET_CPUS = "TARGET_CPUS")
load("//rules/private:providers.bzl", _MultiarchInfo = "MultiarchInfo")
load("//rules/private:test.bzl", _rust_multiarch_test = "rust_multiarch_test")
load("//rules/private:variants.bzl", _AARCH64_VARIANTS = "AARCH64_VARIANTS", _multiarch_variant = "multiarch_variant")

rust_multiarch_binary = _rust_multiarch_binary
rust_multiarch_test = _rust_multiarch_test
multiarch_variant = _multiarch_variant
MultiarchInfo = _MultiarchInfo

# Short level names ("v1" ... "v4") and their -Ctarget-cpu values.
LEVELS = _LEVELS
TARGET_CPUS = _TARGET_CPUS

# The aarch64 tiers "a1" ... "a4" (README, "arm64") as `variants`:
# `rust_multiarch_binary(variants = AARCH64_VARIANTS)`, built with
# `--platforms` for linux/aarch64.
AARCH64_VARIANTS = _AARCH64_VARIANTS
