"""Declares the repositories of the ruleset's own crates: one per crate and the hub.

Shared by WORKSPACE mode (`rules_rust_multiarch_dependencies()` in
//rules:repositories.bzl) and Bzlmod (the `crates` extension in
//rules:extensions.bzl), so both get the same repositories from the one list
in crates.bzl. No crate_universe, no cargo and no `cargo-bazel` at fetch
time: each crate is the `.crate` file from crates.io, checked against its
Cargo.lock sha256, with a BUILD file written from crates.bzl.
"""

load("@bazel_tools//tools/build_defs/repo:http.bzl", "http_archive")
load("@bazel_tools//tools/build_defs/repo:utils.bzl", "maybe")
load(
    ":crates.bzl",
    "CRATES",
    "HUB_NAME",
    "crate_build_file_content",
    "crate_repo_name",
    "crate_url",
    "hub_build_file_content",
)

def _crates_hub_impl(rctx):
    rctx.file("WORKSPACE", "workspace(name = \"{}\")\n".format(rctx.name))
    rctx.file("BUILD.bazel", hub_build_file_content())

crates_hub = repository_rule(
    doc = "The `@rules_rust_multiarch_crates` hub: an alias per crate of the launcher and the CLI.",
    implementation = _crates_hub_impl,
)

def _declare(if_absent, repo_rule, **kwargs):
    if if_absent:
        maybe(repo_rule, **kwargs)
    else:
        repo_rule(**kwargs)

def crate_repositories(if_absent):
    """Declares one `http_archive` per crate of crates.bzl, and the hub.

    Args:
      if_absent: bool, leave repositories that already exist alone (WORKSPACE
        mode, `maybe`). A module extension passes False: `maybe` needs
        `native.existing_rule`, which module extensions do not have, and an
        extension's repositories cannot clash with other modules' anyway.

    Returns:
      list[str]: names of the repositories a module should `use_repo` (the hub).
    """
    for name in sorted(CRATES.keys()):
        spec = CRATES[name]
        _declare(
            if_absent,
            http_archive,
            name = crate_repo_name(name),
            urls = [crate_url(name)],
            sha256 = spec.sha256,
            type = "tar.gz",
            strip_prefix = "{}-{}".format(name, spec.version),
            build_file_content = crate_build_file_content(name),
        )
    _declare(if_absent, crates_hub, name = HUB_NAME)
    return [HUB_NAME]
