"""Module extension (Bzlmod) that creates `@rules_rust_multiarch_layout`.

MODULE.bazel of rules_rust_multiarch uses it; dependents need not. It runs
the same repository rule WORKSPACE users get from
`rules_rust_multiarch_dependencies()` (rules_rust_layout.bzl), over the
rules_rust this module resolves to.
"""

load(":rules_rust_layout.bzl", "LAYOUT_REPO_NAME", "rules_rust_layout_repository")

def _rules_rust_layout_impl(module_ctx):
    _ignore = module_ctx  # @unused
    rules_rust_layout_repository(name = LAYOUT_REPO_NAME)

rules_rust_layout = module_extension(
    doc = "Creates @rules_rust_multiarch_layout: where the resolved rules_rust defines its rustc-flag settings.",
    implementation = _rules_rust_layout_impl,
)
