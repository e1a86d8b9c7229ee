"""What the rules_rust in use offers, read from its files by one repository rule.

rules_rust_multiarch supports rules_rust 0.7.0 (Bazel 4) up to 0.73 (Bazel
7/8). Where its settings live and which optional attributes and settings it
has differ between releases, and Bazel fails on an unknown attribute or
label, so the repository rule below reads the rules_rust in use and writes
`@rules_rust_multiarch_rules_rust_probe//:probe.bzl`, which the ruleset
loads:

- `SETTING_PACKAGES` (transitions.bzl): the package of each rustc-flag
  setting of SETTING_NAMES, see "Where the settings live".
- `RUST_BINARY_HAS_CC_COMMON_LINK_ATTR` (binary.bzl): rust_binary has the int
  attribute `experimental_use_cc_common_link` (rules_rust 0.73.0
  rust/private/rust.bzl:934-946; since 0.10.0).
- `LINKER_PREFERENCE_SETTING` (launcher_link.bzl): the label of the
  `toolchain_linker_preference` string flag (rules_rust 0.73.0
  rust/settings/settings.bzl:285-300, declared in rust/settings/BUILD.bazel),
  or "" where there is none.
- `RUST_TOOLCHAIN_TYPE` (pack.bzl): the label of the Rust toolchain type:
  `//rust:toolchain_type` in rules_rust 0.73.0 (rust/BUILD.bazel:10-12; its
  own rules resolve it so, rust/private/utils.bzl:61-70 and
  rust/private/rust.bzl:1016), where `//rust:toolchain` is only a deprecated
  alias (rust/BUILD.bazel:14-19); `//rust:toolchain` itself in 0.7.0
  (rust/BUILD.bazel:12-14 at tag 0.7.0).

WORKSPACE users get the repository from
`rules_rust_multiarch_dependencies()` (rules/repositories.bzl), Bzlmod users
from the `crates` module extension (rules/extensions.bzl, MODULE.bazel of
this module).

Where the settings live: a Starlark transition must name a build setting by
the label of its rule, never by an alias: Bazel reads a transition input by
the label given, and when that label is an alias it fills it with the
setting's *default* (Bazel 4.2.3 src/main/java/com/google/devtools/build/lib:
analysis/starlark/StarlarkTransition.java:405-424 `getDefaultValues` keys the
default by the alias, analysis/config/ConfigurationResolver.java:447-460
`addDefaultStarlarkOptions` adds it because no option is keyed by the alias,
analysis/starlark/FunctionTransitionUtil.java:201-207 `buildSettings` reads
it; current Bazel keeps this in StarlarkTransition.getDefaultInputValues and
FunctionTransitionUtil.findStarlarkOptionValue). The transition would then
see `[]` and write it over the user's real value.

rules_rust moved its settings (PR 2870, first in 0.52.0):
- 0.7.0: `extra_rustc_flags` is a rule in the root package
  (BUILD.bazel:52-56 at tag 0.7.0); no `extra_rustc_flag`, no
  `per_crate_rustc_flag`.
- 0.73.0: all three are rules in `//rust/settings` (rust/settings/
  BUILD.bazel:108-110 and :122 call the macros of rust/settings/
  settings.bzl); the root keeps aliases (BUILD.bazel:47-57).

So a setting lives in the first of `rust/settings/BUILD.bazel` and the root
BUILD.bazel where a line starts with `<name>(` (a rule or macro call; an
`alias(` with `name = "<name>"` does not match).

The functions other than the repository rule are pure, for the unit tests
in tests/bazel/analysis/rustc_flags_test.bzl.
"""

# Name of the generated repository (loaded by transitions.bzl, binary.bzl and
# launcher_link.bzl as `@rules_rust_multiarch_rules_rust_probe//:probe.bzl`).
REPO_NAME = "rules_rust_multiarch_rules_rust_probe"

# rules_rust's rustc-flag settings the transitions read and write. Only
# `extra_rustc_flags` is required; the others are used where they exist.
SETTING_NAMES = ["extra_rustc_flags", "extra_rustc_flag", "per_crate_rustc_flag"]

# Packages whose BUILD file is read, in search order, relative to the
# rules_rust repository root ("" is the root).
_PACKAGES = ["rust/settings", ""]

# How rust_binary's attribute is declared (rules_rust 0.73.0
# rust/private/rust.bzl:935).
_CC_COMMON_LINK_ATTR = "\"experimental_use_cc_common_link\": attr.int("

_LINKER_PREFERENCE = "toolchain_linker_preference"

# How rules_rust 0.73.0 declares its toolchain type (rust/BUILD.bazel:10-12).
_TOOLCHAIN_TYPE_TARGET = "name = \"toolchain_type\""

def _defines(content, name):
    """Whether a BUILD file's text has a line starting with `name(`.

    Args:
      content: str, the BUILD file's text.
      name: str, a target name that is also the rule's (or macro's) name.

    Returns:
      bool
    """
    for line in content.splitlines():
        if line.lstrip().startswith(name + "("):
            return True
    return False

def find_setting_packages(build_files):
    """Maps each of SETTING_NAMES to the package that defines it.

    Args:
      build_files: dict[str, str], the text of the BUILD file of each
        rules_rust package in _PACKAGES that has one ("" is the root).

    Returns:
      dict[str, str]: setting name -> package ("rust/settings" or "" for
      the root); settings found nowhere are left out.
    """
    found = {}
    for package in _PACKAGES:
        content = build_files.get(package)
        if content == None:
            continue
        for name in SETTING_NAMES:
            if name not in found and _defines(content, name):
                found[name] = package
    return found

def has_cc_common_link_attr(rust_bzl):
    """Whether rust_binary has the `experimental_use_cc_common_link` attribute.

    Args:
      rust_bzl: str, the text of rules_rust's rust/private/rust.bzl ("" if
        there is none).

    Returns:
      bool
    """
    return _CC_COMMON_LINK_ATTR in rust_bzl

def linker_preference_setting(build_files, rules_rust):
    """The label of rules_rust's `toolchain_linker_preference` flag, or "".

    Args:
      build_files: dict[str, str], as for find_setting_packages().
      rules_rust: str, how this Bazel spells the rules_rust repository in a
        label ("@rules_rust" in WORKSPACE mode, "@@rules_rust+" with Bzlmod).

    Returns:
      str
    """
    if _LINKER_PREFERENCE in build_files.get("rust/settings", ""):
        return rules_rust + "//rust/settings:" + _LINKER_PREFERENCE
    return ""

def toolchain_type_label(rust_build_file, rules_rust):
    """The label of rules_rust's Rust toolchain type.

    Args:
      rust_build_file: str, the text of rules_rust's rust/BUILD.bazel (or
        rust/BUILD; "" if none).
      rules_rust: str, as for linker_preference_setting().

    Returns:
      str: `<rules_rust>//rust:toolchain_type` where rust/BUILD.bazel has a
      `toolchain_type(` with that name, else `<rules_rust>//rust:toolchain`.
    """
    at = rust_build_file.find("toolchain_type(")
    if at != -1 and _TOOLCHAIN_TYPE_TARGET in rust_build_file[at:rust_build_file.find(")", at)]:
        return rules_rust + "//rust:toolchain_type"
    return rules_rust + "//rust:toolchain"

def probe_bzl_content(packages, cc_common_link_attr, linker_preference, toolchain_type):
    """The text of the generated probe.bzl.

    Args:
      packages: dict[str, str], from find_setting_packages().
      cc_common_link_attr: bool, from has_cc_common_link_attr().
      linker_preference: str, from linker_preference_setting().
      toolchain_type: str, from toolchain_type_label().

    Returns:
      str
    """
    lines = [
        "\"\"\"What the rules_rust in use offers (generated by rules_rust_multiarch, rules/private/rules_rust_probe.bzl).\"\"\"",
        "",
        "# Setting name -> package in @rules_rust (\"\" is the root); absent = not defined.",
        "SETTING_PACKAGES = {",
    ]
    for name in SETTING_NAMES:
        if name in packages:
            lines.append("    {}: {},".format(repr(name), repr(packages[name])))
    lines.extend([
        "}",
        "",
        "RUST_BINARY_HAS_CC_COMMON_LINK_ATTR = {}".format(repr(cc_common_link_attr)),
        "",
        "LINKER_PREFERENCE_SETTING = {}".format(repr(linker_preference)),
        "",
        "RUST_TOOLCHAIN_TYPE = {}".format(repr(toolchain_type)),
    ])
    return "\n".join(lines) + "\n"

def _read_if_exists(rctx, path):
    return rctx.read(path) if path.exists else None

def _package_dir(root, package):
    directory = root
    for part in package.split("/"):
        if part:
            directory = directory.get_child(part)
    return directory

def _rules_rust_probe_impl(rctx):
    # rust/defs.bzl exists in every rules_rust release; the repository root
    # is two levels up.
    root = rctx.path(rctx.attr.rules_rust_defs).dirname.dirname
    build_files = {}
    for package in _PACKAGES:
        directory = _package_dir(root, package)

        # BUILD.bazel wins over BUILD, as in Bazel.
        for basename in ("BUILD.bazel", "BUILD"):
            content = _read_if_exists(rctx, directory.get_child(basename))
            if content != None:
                build_files[package] = content
                break
    packages = find_setting_packages(build_files)
    if "extra_rustc_flags" not in packages:
        fail(("rules_rust_multiarch: found no `extra_rustc_flags` build setting in {} " +
              "(looked for a line starting with `extra_rustc_flags(` in rust/settings/BUILD.bazel " +
              "and BUILD.bazel). rules_rust 0.1.0 - 0.73.0 define it there; point the " +
              "`rules_rust_defs` attribute at the `rust/defs.bzl` of a rules_rust release.").format(root))
    rust_bzl = _read_if_exists(rctx, _package_dir(root, "rust/private").get_child("rust.bzl")) or ""
    rust_dir = _package_dir(root, "rust")
    rust_build = _read_if_exists(rctx, rust_dir.get_child("BUILD.bazel"))
    if rust_build == None:
        rust_build = _read_if_exists(rctx, rust_dir.get_child("BUILD")) or ""

    # str() keeps the form this Bazel reads back: "@rules_rust//..." in
    # WORKSPACE mode, the canonical "@@rules_rust+//..." with Bzlmod.
    defs = str(rctx.attr.rules_rust_defs)
    rctx.file("WORKSPACE", "workspace(name = \"{}\")\n".format(rctx.name))
    rctx.file("BUILD.bazel", "exports_files([\"probe.bzl\"])\n")
    repo = defs[:defs.index("//")]
    rctx.file("probe.bzl", probe_bzl_content(
        packages,
        has_cc_common_link_attr(rust_bzl),
        linker_preference_setting(build_files, repo),
        toolchain_type_label(rust_build, repo),
    ))

rules_rust_probe = repository_rule(
    doc = "Writes `probe.bzl`: where the rules_rust in use defines its rustc-flag settings, and which optional attributes and settings it has.",
    implementation = _rules_rust_probe_impl,
    attrs = {
        "rules_rust_defs": attr.label(
            doc = "The `rust/defs.bzl` of the rules_rust to inspect.",
            default = Label("@rules_rust//rust:defs.bzl"),
            allow_single_file = True,
        ),
    },
)
