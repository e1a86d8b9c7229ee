"""WORKSPACE-mode setup for rules_rust_multiarch (Bazel before 7, or without Bzlmod).

Example (WORKSPACE, after rules_rust and its toolchains are set up):

    load("@rules_rust_multiarch//rules:repositories.bzl", "rules_rust_multiarch_dependencies")

    rules_rust_multiarch_dependencies()

Bzlmod users need none of this: MODULE.bazel declares the same repositories.
"""

load("@bazel_tools//tools/build_defs/repo:http.bzl", "http_archive")
load("@bazel_tools//tools/build_defs/repo:utils.bzl", "maybe")
load(
    "//rules/private:crates.bzl",
    "CRATES",
    "HUB_NAME",
    "crate_build_file_content",
    "crate_repo_name",
    "crate_url",
    "hub_build_file_content",
)
load("//rules/private:rules_rust_layout.bzl", "LAYOUT_REPO_NAME", "rules_rust_layout_repository")

def _crates_hub_impl(rctx):
    rctx.file("WORKSPACE", "workspace(name = \"{}\")\n".format(rctx.name))
    rctx.file("BUILD.bazel", hub_build_file_content())

_crates_hub = repository_rule(
    doc = "The `@rules_rust_multiarch_crates` hub: an alias per crate of the launcher.",
    implementation = _crates_hub_impl,
)

def rules_rust_multiarch_dependencies():
    """Declares the launcher's crates (from crates.io, pinned by sha256) and their hub repository.

    Each crate gets its own `http_archive`; `@rules_rust_multiarch_crates//:<crate>`
    aliases them, the same repository name that MODULE.bazel gets from
    crate_universe. `@rules_rust_multiarch_layout` records where the
    installed rules_rust defines its rustc-flag settings (rules/private/
    rules_rust_layout.bzl). Repositories that already exist are left alone
    (`maybe`).
    rules_rust itself, `@platforms` and a registered Rust toolchain are the
    caller's to set up.
    """
    for name in sorted(CRATES.keys()):
        spec = CRATES[name]
        maybe(
            http_archive,
            name = crate_repo_name(name),
            urls = [crate_url(name)],
            sha256 = spec.sha256,
            type = "tar.gz",
            strip_prefix = "{}-{}".format(name, spec.version),
            build_file_content = crate_build_file_content(name),
        )
    maybe(_crates_hub, name = HUB_NAME)

    # Which labels this rules_rust gives its rustc-flag settings (the
    # transitions need the real ones, not aliases).
    maybe(rules_rust_layout_repository, name = LAYOUT_REPO_NAME)
