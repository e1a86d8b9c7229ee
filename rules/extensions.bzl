"""Bzlmod module extension of rules_rust_multiarch: the ruleset's own crates.

MODULE.bazel of this module uses it; users never call it themselves:

    crates = use_extension("//rules:extensions.bzl", "crates")
    use_repo(crates, "rules_rust_multiarch_crates", "rules_rust_multiarch_rules_rust_probe")

It also declares `@rules_rust_multiarch_rules_rust_probe`: where the
rules_rust in use defines its rustc-flag settings and which optional
attributes and settings it has (rules/private/rules_rust_probe.bzl).

It declares the same repositories as WORKSPACE mode's
`rules_rust_multiarch_dependencies()`, from the one list in
//rules/private:crates.bzl. It replaces crate_universe's `crate.from_cargo`,
which stops resolution for every module that depends on this one (rules_rust
0.73.0 crate_universe/extensions.bzl:619-625: "is in a non-root module but
has no lockfile") and makes every user download `cargo-bazel` and run cargo at
fetch time (same file: `_get_generator`, 814-864, downloads it; 1149-1165
runs it with the host cargo for every `from_cargo`). rules_rust's own module
extensions take the same route for their crates: vendored definitions,
http_archive per crate (rules_rust 0.73.0 cargo/private/internal_extensions.bzl:6-21).
"""

load("@bazel_features//:features.bzl", "bazel_features")
load("//rules/private:crate_repositories.bzl", "crate_repositories")
load("//rules/private:rules_rust_probe.bzl", "REPO_NAME", "rules_rust_probe")

def _crates_impl(module_ctx):
    direct = crate_repositories(if_absent = False)
    rules_rust_probe(name = REPO_NAME)
    direct.append(REPO_NAME)
    kwargs = {
        "root_module_direct_deps": direct,
        "root_module_direct_dev_deps": [],
    }

    # The list is fixed in this module's source: nothing to record in the
    # user's MODULE.bazel.lock. As in rules_rust 0.73.0
    # cargo/private/internal_extensions.bzl:18-19.
    if bazel_features.external_deps.extension_metadata_has_reproducible:
        kwargs["reproducible"] = True
    return module_ctx.extension_metadata(**kwargs)

crates = module_extension(
    doc = "The crates of rules_rust_multiarch's launcher and CLI (`@rules_rust_multiarch_crates`), and what the rules_rust in use offers (`@rules_rust_multiarch_rules_rust_probe`). Takes no tags.",
    implementation = _crates_impl,
)
