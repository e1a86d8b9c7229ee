"""`launcher_link`: the rustc arguments that pin how the launcher links.

The launcher links no C library and brings its own `_start`
(launcher/src/rt.rs), so it must link the same way whatever C++ toolchain
rules_rust links with. rules_rust hands rustc that toolchain's linker and its
whole `c++-link-executable` command line, `--linkopt` included (rules_rust
0.73.0 rust/private/rustc.bzl:361-371, 392-436, 1312-1327), before the
target's own `rustc_flags` (rustc.bzl:1500-1509). This rule reads the same
command line and writes a rustc argument file for the launcher's
`rustc_flags` (`@file`) that undoes what would break it:

- gold cannot link a static PIE (no `--no-dynamic-linker`; "-pie and -static
  are incompatible"), so rustc falls back to `-static`, a fixed-address
  executable. Where the command line picks gold, the launcher's static link
  asks for GNU ld instead (`-fuse-ld=bfd`; the last `-fuse-ld` wins).
  Not with `toolchain_linker_preference = "rust"`: rules_rust then links
  with rust-lld directly and drops `-fuse-ld` (rustc.bzl:441-491).
- Each `-l<lib>` of the command line (`-lstdc++ -lm` in Bazel's
  autoconfigured toolchain) would make a static link need `lib<lib>.a`
  (Fedora and RHEL install libstdc++.a only with libstdc++-static), and a
  dynamic one record a needless DT_NEEDED. The launcher uses none of them:
  each gets an empty archive in a directory searched first (`-L`, which
  applies to every `-l` wherever it stands), so nothing is linked in.
"""

load("@bazel_skylib//rules:common_settings.bzl", "BuildSettingInfo")
load("@bazel_tools//tools/cpp:toolchain_utils.bzl", "find_cpp_toolchain")
load("@rules_rust_multiarch_rules_rust_features//:features.bzl", "LINKER_PREFERENCE_SETTING")

# Output group of the empty archives the argument file points `-L` at.
LAUNCHER_LINK_LIBS_OUTPUT_GROUP = "multiarch_launcher_link_libs"

# `CPP_LINK_EXECUTABLE_ACTION_NAME` of @bazel_tools//tools/build_defs/cc:action_names.bzl.
_CPP_LINK_EXECUTABLE = "c++-link-executable"

# An ar archive with no members: what every linker accepts for `-l<lib>`.
_EMPTY_ARCHIVE = "!<arch>\n"

def _cc_link_command_line(ctx):
    # The command line rules_rust builds (rustc.bzl:392-436). `cc_common` is
    # the global of Bazel 4 to 8, not a load from @rules_cc (as rules_rust
    # 0.73.0 rustc.bzl:26 does): the rules_cc of rules_rust 0.7.0's era has no
    # cc/common/cc_common.bzl.
    cc_toolchain = find_cpp_toolchain(ctx)

    # buildifier: disable=native-cc-common
    feature_configuration = cc_common.configure_features(
        ctx = ctx,
        cc_toolchain = cc_toolchain,
        requested_features = ctx.features,
        unsupported_features = ctx.disabled_features,
    )

    # buildifier: disable=native-cc-common
    variables = cc_common.create_link_variables(
        feature_configuration = feature_configuration,
        cc_toolchain = cc_toolchain,
        is_linking_dynamic_library = False,
        user_link_flags = ctx.fragments.cpp.linkopts,
    )

    # buildifier: disable=native-cc-common
    return cc_common.get_memory_inefficient_command_line(
        feature_configuration = feature_configuration,
        action_name = _CPP_LINK_EXECUTABLE,
        variables = variables,
    )

def linked_libraries(args):
    """The libraries a link command line names with `-l`.

    Args:
      args: list[str], a linker driver's command line.

    Returns:
      list[str]: library names (`stdc++` for `-lstdc++`), in order, once
      each; `-l:file` forms are left out.
    """
    libs = []
    for i, arg in enumerate(args):
        lib = ""
        if arg == "-l" and i + 1 < len(args):
            lib = args[i + 1]
        elif arg.startswith("-l") and len(arg) > 2:
            lib = arg[2:]
        if lib and not lib.startswith(":") and "/" not in lib and lib not in libs:
            libs.append(lib)
    return libs

def picks_gold(args):
    """Whether the last `-fuse-ld=` of a link command line selects gold.

    Args:
      args: list[str], a linker driver's command line.

    Returns:
      bool.
    """
    chosen = ""
    for arg in args:
        if arg.startswith("-fuse-ld="):
            chosen = arg[len("-fuse-ld="):]
    return chosen == "gold" or chosen.endswith("/ld.gold") or chosen.endswith("/gold")

def _launcher_link_impl(ctx):
    # An unknown `linking` fails in multiarch_binary's analysis, naming
    # rust_multiarch_binary's attribute.
    args = _cc_link_command_line(ctx)
    preference = "none"
    if ctx.attr._linker_preference:
        preference = ctx.attr._linker_preference[BuildSettingInfo].value

    rustc_args = []
    if ctx.attr.linking == "static" and preference != "rust" and picks_gold(args):
        rustc_args.append("-Clink-arg=-fuse-ld=bfd")
    archives = []
    for lib in linked_libraries(args):
        archive = ctx.actions.declare_file("{}/lib{}.a".format(ctx.label.name, lib))
        ctx.actions.write(archive, _EMPTY_ARCHIVE)
        archives.append(archive)
    if archives:
        rustc_args.append("-Lnative=" + archives[0].dirname)

    # rustc reads one argument per line; no trailing newline, or an empty
    # file would hold one empty argument.
    argfile = ctx.actions.declare_file(ctx.label.name + ".rustc_args")
    ctx.actions.write(argfile, "\n".join(rustc_args))
    return [
        DefaultInfo(files = depset([argfile])),
        OutputGroupInfo(**{LAUNCHER_LINK_LIBS_OUTPUT_GROUP: depset(archives)}),
    ]

launcher_link = rule(
    doc = "Writes the launcher's rustc argument file that pins its link (private).",
    implementation = _launcher_link_impl,
    attrs = {
        "linking": attr.string(
            doc = "The launcher's linking: \"static\" or \"dynamic\" (rust_multiarch_binary's `launcher_linking`).",
            default = "static",
        ),
        "_cc_toolchain": attr.label(
            default = Label("@bazel_tools//tools/cpp:current_cc_toolchain"),
        ),
        "_linker_preference": attr.label(
            doc = "rules_rust's `toolchain_linker_preference` flag, where this rules_rust has one.",
            default = Label(LINKER_PREFERENCE_SETTING) if LINKER_PREFERENCE_SETTING else None,
        ),
    },
    fragments = ["cpp"],
    toolchains = ["@bazel_tools//tools/cpp:toolchain_type"],
)
