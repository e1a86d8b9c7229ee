"""WORKSPACE-mode setup for rules_rust_multiarch (Bazel before 7, or without Bzlmod).

Example (WORKSPACE, after rules_rust and its toolchains are set up):

    load("@rules_rust_multiarch//rules:repositories.bzl", "rules_rust_multiarch_dependencies")

    rules_rust_multiarch_dependencies()

Bzlmod users need none of this: MODULE.bazel declares the same repositories
(//rules:extensions.bzl, from the same list).
"""

load("@bazel_tools//tools/build_defs/repo:utils.bzl", "maybe")
load("//rules/private:crate_repositories.bzl", "crate_repositories")
load("//rules/private:rules_rust_probe.bzl", "REPO_NAME", "rules_rust_probe")

def rules_rust_multiarch_dependencies():
    """Declares the launcher's and the CLI's crates (crates.io, pinned by sha256) and their hub.

    Each crate gets its own `http_archive`; `@rules_rust_multiarch_crates//:<crate>`
    aliases them, the same repository that MODULE.bazel gets from this
    module's `crates` extension (//rules:extensions.bzl). Repositories that
    already exist are left alone (`maybe`). Also declares
    `@rules_rust_multiarch_rules_rust_probe`, which tells the ruleset what
    the rules_rust in use offers: where it defines its rustc-flag settings
    (the transitions need the real labels, not aliases) and which optional
    attributes and settings it has (rules/private/rules_rust_probe.bzl); it
    reads @rules_rust, so call this after rules_rust is declared.
    rules_rust itself, `@platforms` and a registered Rust toolchain are the
    caller's to set up.
    """
    crate_repositories(if_absent = True)
    maybe(rules_rust_probe, name = REPO_NAME)
