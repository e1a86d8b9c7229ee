"""rules_rust STAND-IN: the subset of `@rules_rust//rust:defs.bzl` that rules_rust_multiarch uses.

Not the real rules_rust; see the WORKSPACE file of this repository.
"""

load(
    "//rust/private:rust.bzl",
    _extra_rustc_flag = "extra_rustc_flag",
    _extra_rustc_flags = "extra_rustc_flags",
    _per_crate_rustc_flag = "per_crate_rustc_flag",
    _rust_binary = "rust_binary",
    _rust_library = "rust_library",
    _rust_test = "rust_test",
)

rust_binary = _rust_binary
rust_library = _rust_library
rust_test = _rust_test
extra_rustc_flags = _extra_rustc_flags
extra_rustc_flag = _extra_rustc_flag
per_crate_rustc_flag = _per_crate_rustc_flag
