"""Public API of rules_rust_multiarch. Load only this file; rules/private/ may change."""

load("//rules/private:binary.bzl", _rust_multiarch_binary = "rust_multiarch_binary")
load("//rules/private:cpus.bzl", _LEVELS = "LEVELS", _TARGET_CPUS = "TARGET_CPUS")
load("//rules/private:providers.bzl", _MultiarchInfo = "MultiarchInfo")
load("//rules/private:variants.bzl", _multiarch_variant = "multiarch_variant")

rust_multiarch_binary = _rust_multiarch_binary
multiarch_variant = _multiarch_variant
MultiarchInfo = _MultiarchInfo

# Short level names ("v1" ... "v4") and their -Ctarget-cpu values.
LEVELS = _LEVELS
TARGET_CPUS = _TARGET_CPUS
