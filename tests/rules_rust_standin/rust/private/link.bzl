"""rules_rust STAND-IN: how rules_rust 0.73.0 links a binary.

Each behaviour cites rules_rust 0.73.0 (file:line):

- The linker and its arguments come from the C++ toolchain: the tool and
  command line of its `c++-link-executable` action, with `--linkopt` as user
  link flags (rust/private/rustc.bzl:361-371, 392-436), given to rustc as
  `--codegen=linker=` and one `--codegen=link-arg=` each (rustc.bzl:1312-1327),
  before the target's own `rustc_flags` (rustc.bzl:1500-1509). For Bazel's
  autoconfigured Linux toolchain that line holds `-fuse-ld=gold` (or lld)
  when present, `-Wl,-z,relro,-z,now` and `-lstdc++ -lm` (Bazel
  tools/cpp/unix_cc_configure.bzl: `bazel_linkopts = "-lstdc++:-lm"`,
  `_find_linker_path(... "lld" ...) or (... "gold" ...)`; on this machine's
  Bazel 4.2.3: `-fuse-ld=gold -Wl,-no-as-needed -Wl,-z,relro,-z,now
  -B/usr/bin -pass-exit-codes -lstdc++ -lm`).
- `toolchain_linker_preference = "rust"` (rust/settings/settings.bzl:285-300)
  links with the toolchain's `linker` (rust-lld) directly, and keeps only the
  C++ arguments that locate libraries: -L, --sysroot, --dynamic-linker,
  rpaths (rustc.bzl:441-491).
- `experimental_use_cc_common_link` (rust/settings/settings.bzl:119-140; per
  target the int attribute, 0 = never, 1 = always, -1 = the setting:
  rust/private/rust.bzl:934-946, rustc.bzl:1682-1693) links the program's
  object with `cc_common.link` (rustc.bzl:2030-2041), which passes no link
  flag of the target's `rustc_flags` and links the C toolchain's start files
  (crt1.o with its `_start`). The stand-in keeps rustc as the linker driver
  there (rules_rust replaces rustc's allocator shim with an allocator
  library, which this stand-in does not model), and reproduces what matters
  to the ruleset: no `link-arg`, `link-args` or `linker` flag of the
  target's own `rustc_flags` or the global flags reaches the link, no
  `+crt-static`, and the C start files are linked.
"""

load("@bazel_skylib//rules:common_settings.bzl", "BuildSettingInfo")
load("@bazel_tools//tools/cpp:toolchain_utils.bzl", "find_cpp_toolchain")

# `CPP_LINK_EXECUTABLE_ACTION_NAME` of @bazel_tools//tools/build_defs/cc:action_names.bzl.
_CPP_LINK_EXECUTABLE = "c++-link-executable"

def use_cc_common_link(ctx):
    """Whether this target links through cc_common.link (rustc.bzl:1682-1693).

    Args:
      ctx: the rule context.

    Returns:
      bool.
    """
    if ctx.attr.experimental_use_cc_common_link == 0:
        return False
    if ctx.attr.experimental_use_cc_common_link == 1:
        return True
    return ctx.attr._experimental_use_cc_common_link[BuildSettingInfo].value

def _link_affecting(flag):
    for prefix in ("-Clink-arg", "-Clink-args", "-Clinker", "--codegen=link-arg", "--codegen=link-args", "--codegen=linker"):
        if flag.startswith(prefix):
            return True
    return flag == "-Ctarget-feature=+crt-static"

def drop_link_flags(flags):
    """What of the target's and the global rustc flags the cc_common.link path keeps.

    Args:
      flags: list[str], rustc flags.

    Returns:
      list[str]: the flags without link arguments, linker and `+crt-static`.
    """
    return [flag for flag in flags if not _link_affecting(flag)]

def _library_search_args(args):
    # rustc.bzl:447-491: only what locates libraries survives a direct link.
    kept = []
    skip_next = False
    for i, arg in enumerate(args):
        if skip_next:
            skip_next = False
            continue
        arg = arg[4:] if arg.startswith("-Wl,") else arg
        if arg.startswith("-L") or arg.startswith("--sysroot") or arg.startswith("-rpath") or arg.startswith("--rpath"):
            kept.append(arg)
        elif arg.startswith("--dynamic-linker"):
            kept.append(arg)
            if arg == "--dynamic-linker" and i + 1 < len(args):
                kept.append(args[i + 1])
                skip_next = True
    return kept

def link_arguments(ctx, toolchain):
    """rustc flags that choose the linker and pass it the C++ toolchain's arguments.

    Args:
      ctx: the rule context (a rust_binary; needs `_cc_toolchain`,
        `_linker_preference` and the cpp fragment).
      toolchain: the stand-in's Rust ToolchainInfo.

    Returns:
      (list[str], depset[File]): rustc flags, and the files the link needs.
    """
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
    args = cc_common.get_memory_inefficient_command_line(
        feature_configuration = feature_configuration,
        action_name = _CPP_LINK_EXECUTABLE,
        variables = variables,
    )

    # buildifier: disable=native-cc-common
    linker = cc_common.get_tool_for_action(
        feature_configuration = feature_configuration,
        action_name = _CPP_LINK_EXECUTABLE,
    )
    files = [cc_toolchain.all_files]
    if ctx.attr._linker_preference[BuildSettingInfo].value == "rust":
        if not toolchain.linker:
            fail("toolchain_linker_preference=rust needs the Rust toolchain's `linker` (rust-lld)")
        linker = toolchain.linker.path
        args = _library_search_args(args)
        files.append(depset([toolchain.linker]))
    flags = ["--codegen=linker=" + linker] + ["--codegen=link-arg=" + arg for arg in args]
    return flags, depset(transitive = files)
