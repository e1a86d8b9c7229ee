"""rules_rust STAND-IN: rust_library, rust_binary, rust_test and the rustc-flag settings.

A small re-implementation with the attribute names of the real rules, so
BUILD files and rules_rust_multiarch load unmodified against either. It
compiles with the rustc of the registered `@rules_rust//rust:toolchain`
toolchain and links binaries as rules_rust 0.73.0 does: through the C++
toolchain's linker and link line, or rust-lld, or the cc_common.link path
(see link.bzl).

What it models of rules_rust 0.73.0 (file:line at that tag):
- the settings `extra_rustc_flags` (string_list), `extra_rustc_flag` and
  `per_crate_rustc_flag` (repeatable string_lists) in //rust/settings
  (rust/private/rustc.bzl:3096-3120, :3163-3177; rust/settings/
  BUILD.bazel:108-110, :122), with aliases at the root (BUILD.bazel:47-57).
  Bazel 4.2.3 has no `repeatable` (its StarlarkConfigApi.string_list takes
  only `flag`), so here the two repeatable ones are plain string_lists; a
  transition reads and writes a list either way;
- the order of rustc's flags (rust/private/rustc.bzl): the toolchain's
  `extra_rustc_flags` (:1568), `extra_rustc_flags` (:1570-1571),
  `extra_rustc_flag` (:1573-1574, empty values dropped as at :3111-3112),
  `per_crate_rustc_flag` values whose `prefix@` matches the label or crate
  root path (:1576-1578, :2973-3000; rust/private/utils.bzl:1005-1032),
  and the target's own `rustc_flags` last (:1501-1509);
- none of those settings in the exec configuration (rustc.bzl:1566-1578),
  which is detected by "-exec" in the output directory
  (rust/private/utils.bzl:520-534).
"""

load(":link.bzl", "drop_link_flags", "link_arguments", "use_cc_common_link")

StandinCrateInfo = provider(
    doc = "Stand-in for rules_rust's CrateInfo/DepInfo: what dependents need to use a library crate.",
    fields = {
        "name": "str: the crate name.",
        "rlib": "File: the compiled library.",
        "transitive_rlibs": "depset[File]: this rlib and those of every dependency (for -Ldependency=).",
    },
)

ExtraRustcFlagsInfo = provider(
    doc = "Pass each value as an additional flag to non-exec rustc invocations",
    fields = {"extra_rustc_flags": "List[string] Extra flags to pass to rustc in non-exec configuration"},
)

def _extra_rustc_flags_impl(ctx):
    return ExtraRustcFlagsInfo(extra_rustc_flags = ctx.build_setting_value)

extra_rustc_flags = rule(
    doc = (
        "Add additional rustc_flags from the command line with `--@rules_rust//rust/settings:extra_rustc_flags`. " +
        "These flags are not applied to the exec configuration."
    ),
    implementation = _extra_rustc_flags_impl,
    build_setting = config.string_list(flag = True),
)

def _extra_rustc_flag_impl(ctx):
    return ExtraRustcFlagsInfo(extra_rustc_flags = [f for f in ctx.build_setting_value if f != ""])

extra_rustc_flag = rule(
    doc = (
        "Add additional rustc_flag from the command line with `--@rules_rust//rust/settings:extra_rustc_flag`. " +
        "Appended after the extra_rustc_flags (repeatable in rules_rust; a plain string_list on Bazel 4.2.3)."
    ),
    implementation = _extra_rustc_flag_impl,
    build_setting = config.string_list(flag = True),
)

PerCrateRustcFlagsInfo = provider(
    doc = "Pass each value as an additional flag to non-exec rustc invocations for crates matching the provided filter",
    fields = {"per_crate_rustc_flags": "List[string] Extra flags to pass to rustc in non-exec configuration"},
)

def _per_crate_rustc_flag_impl(ctx):
    return PerCrateRustcFlagsInfo(per_crate_rustc_flags = [f for f in ctx.build_setting_value if f != ""])

per_crate_rustc_flag = rule(
    doc = (
        "Add additional rustc_flag to matching crates with `--@rules_rust//rust/settings:per_crate_rustc_flag=prefix_filter@flag`. " +
        "Not applied to the exec configuration."
    ),
    implementation = _per_crate_rustc_flag_impl,
    build_setting = config.string_list(flag = True),
)

def _is_exec_configuration(ctx):
    # Same test as rules_rust 0.73.0 (rust/private/utils.bzl:520-534).
    return ctx.genfiles_dir.path.find("-exec") != -1

def _matches_prefix_filter(label, crate_root_path, pattern):
    # As rules_rust 0.73.0 rust/private/utils.bzl:1005-1032.
    if not pattern:
        return True
    label_string = str(label)
    if label_string.startswith("@//"):
        label_string = label_string[1:]
    return label_string.startswith(pattern) or crate_root_path.startswith(pattern)

def _per_crate_flags(ctx, crate_root, values):
    flags = []
    for value in values:
        at = value.find("@")
        if at == -1 or not value[at + 1:]:
            fail("per_crate_rustc_flag '{}' does not follow the expected format: prefix_filter@flag".format(value))
        if _matches_prefix_filter(ctx.label, crate_root.path, value[:at]):
            flags.append(value[at + 1:])
    return flags

def _collect_extra_rustc_flags(ctx, toolchain, crate_root):
    # rules_rust 0.73.0 rust/private/rustc.bzl:1549-1586, in that order.
    if _is_exec_configuration(ctx):
        return []
    flags = list(toolchain.extra_rustc_flags)
    flags.extend(ctx.attr._extra_rustc_flags[ExtraRustcFlagsInfo].extra_rustc_flags)
    flags.extend(ctx.attr._extra_rustc_flag[ExtraRustcFlagsInfo].extra_rustc_flags)
    flags.extend(_per_crate_flags(ctx, crate_root, ctx.attr._per_crate_rustc_flag[PerCrateRustcFlagsInfo].per_crate_rustc_flags))
    return flags

def _crate_name(ctx):
    if ctx.attr.crate_name:
        return ctx.attr.crate_name
    return ctx.label.name.replace("-", "_").replace("/", "_")

def _crate_root(ctx, default_name):
    if ctx.file.crate_root:
        return ctx.file.crate_root
    srcs = ctx.files.srcs
    for name in (default_name, ctx.label.name + ".rs"):
        for src in srcs:
            if src.basename == name:
                return src
    if len(srcs) == 1:
        return srcs[0]
    fail("{}: no crate_root given and none of {} / {}.rs in srcs".format(ctx.label, default_name, ctx.label.name))

_OPT_FLAGS = {
    "dbg": ["-Copt-level=0", "-Cdebuginfo=2"],
    "fastbuild": ["-Copt-level=0", "-Cdebuginfo=0"],
    "opt": ["-Copt-level=3", "-Cdebuginfo=0"],
}

def _compile(ctx, crate_type, output, metadata):
    toolchain = ctx.toolchains["@rules_rust//rust:toolchain"]
    crate_name = _crate_name(ctx)
    root = _crate_root(ctx, {"bin": "main.rs", "rlib": "lib.rs", "test": "lib.rs"}[crate_type])
    deps = [dep[StandinCrateInfo] for dep in ctx.attr.deps]
    transitive = depset(transitive = [dep.transitive_rlibs for dep in deps])

    args = ctx.actions.args()
    args.add(root)
    args.add("--crate-name=" + crate_name)
    if crate_type == "test":
        # rules_rust 0.73.0 rust/private/rust.bzl:395-398: libtest's harness,
        # or only `--cfg test` without it.
        if ctx.attr.use_libtest_harness:
            args.add("--test")
        else:
            args.add_all(["--crate-type=bin", "--cfg", "test"])
    else:
        args.add("--crate-type=" + crate_type)
    args.add("--edition=" + (ctx.attr.edition or toolchain.default_edition))
    args.add("--emit=link")
    args.add("-o", output)
    args.add("--sysroot=" + toolchain.sysroot)

    # Always the toolchain's target, as rules_rust 0.73.0 does
    # (rust/private/rustc.bzl:1266): a cross toolchain's rustc runs on the
    # exec platform and builds for another architecture.
    args.add("--target=" + toolchain.target_flag_value)
    args.add("--error-format=short")
    args.add_all(_OPT_FLAGS[ctx.var["COMPILATION_MODE"]])
    if metadata:
        args.add("-Cmetadata=" + metadata)

    # Paths inside the binary must not depend on the checkout or output base.
    args.add("--remap-path-prefix=${pwd}=.")
    for feature in ctx.attr.crate_features:
        args.add("--cfg", "feature=\"{}\"".format(feature))
    for dep in deps:
        args.add("--extern={}={}".format(dep.name, dep.rlib.path))
    args.add_all(transitive, format_each = "-Ldependency=%s", map_each = _dirname, uniquify = True)

    # Global flags, then the target's own rustc_flags last, so they win
    # (rules_rust 0.73.0 rust/private/rustc.bzl:1460, :1501-1509); $(location)
    # in rustc_flags expands over data and compile_data (rustc.bzl:1284).
    link_inputs = depset()
    flags = _collect_extra_rustc_flags(ctx, toolchain, root) + [
        ctx.expand_location(flag, targets = ctx.attr.data + ctx.attr.compile_data)
        for flag in ctx.attr.rustc_flags
    ]
    if crate_type in ("bin", "test"):
        # The link arguments come before all of those (rustc.bzl:1312-1327).
        link_flags, link_inputs = link_arguments(ctx, toolchain)
        args.add_all(link_flags)
        if use_cc_common_link(ctx):
            flags = drop_link_flags(flags)
    args.add_all(flags)

    env = dict(ctx.attr.rustc_env)
    env.update({
        # rustc links through the system `cc`; a fixed PATH keeps action keys
        # equal on every machine.
        "PATH": "/usr/bin:/bin",
        "CARGO_CRATE_NAME": crate_name,
        "CARGO_PKG_NAME": crate_name,
        "CARGO_PKG_VERSION": ctx.attr.version,
    })

    # The remap flag above needs the working directory, known only when the
    # action runs: a small bash wrapper substitutes ${pwd}, as rules_rust's
    # process_wrapper does.
    ctx.actions.run_shell(
        command = _SUBST_PWD_AND_RUN,
        arguments = [toolchain.rustc.path, args],
        inputs = depset(
            [root] + ctx.files.srcs + ctx.files.compile_data,
            transitive = [transitive, toolchain.rust_std, toolchain.rustc_lib, toolchain.linker_files, link_inputs],
        ),
        tools = [toolchain.rustc],
        outputs = [output],
        env = env,
        mnemonic = "Rustc",
        progress_message = "Compiling Rust {} {}".format(crate_type, ctx.label),
        use_default_shell_env = False,
    )
    return crate_name, transitive

_SUBST_PWD_AND_RUN = """\
wd="$(pwd)"
tool="$1"
shift
argv=()
for arg in "$@"; do argv+=("${arg//'${pwd}'/$wd}"); done
exec "$tool" "${argv[@]}"
"""

def _dirname(f):
    return f.dirname

def _rust_library_impl(ctx):
    crate_name = _crate_name(ctx)

    # A stable per-label hash keeps symbol names of identically named crates apart.
    metadata = str(hash(str(ctx.label)) & 0xffffffff)
    rlib = ctx.actions.declare_file("lib{}-{}.rlib".format(crate_name, metadata))
    _, transitive = _compile(ctx, "rlib", rlib, metadata)
    return [
        DefaultInfo(
            files = depset([rlib]),
            runfiles = ctx.runfiles(files = ctx.files.data),
        ),
        StandinCrateInfo(
            name = crate_name,
            rlib = rlib,
            transitive_rlibs = depset([rlib], transitive = [transitive]),
        ),
    ]

def _rust_binary_impl(ctx):
    binary = ctx.actions.declare_file(ctx.label.name)
    _compile(ctx, "bin", binary, None)
    runfiles = ctx.runfiles(files = ctx.files.data)
    for dep in ctx.attr.data:
        runfiles = runfiles.merge(dep[DefaultInfo].default_runfiles)
    return [DefaultInfo(
        files = depset([binary]),
        executable = binary,
        runfiles = runfiles,
    )]

def _rust_test_impl(ctx):
    binary = ctx.actions.declare_file(ctx.label.name)
    _compile(ctx, "test", binary, None)
    runfiles = ctx.runfiles(files = ctx.files.data)
    for dep in ctx.attr.data:
        runfiles = runfiles.merge(dep[DefaultInfo].default_runfiles)
    return [
        DefaultInfo(
            files = depset([binary]),
            executable = binary,
            runfiles = runfiles,
        ),
        # rules_rust 0.73.0 returns RunEnvironmentInfo (rust/private/rust.bzl
        # :601-604), which Bazel 4.2.3 does not have.
        testing.TestEnvironment(ctx.attr.env),
    ]

_COMMON_ATTRS = {
    "compile_data": attr.label_list(
        doc = "Files available to the compiler (e.g. for include_bytes!), not at run time.",
        allow_files = True,
    ),
    "crate_features": attr.string_list(
        doc = "Passed as --cfg feature=\"...\".",
    ),
    "crate_name": attr.string(
        doc = "Crate name; default: the target name with - replaced by _.",
    ),
    "crate_root": attr.label(
        doc = "The crate's root source file; default: main.rs / lib.rs / <name>.rs / the only src.",
        allow_single_file = [".rs"],
    ),
    "data": attr.label_list(
        doc = "Files available at run time.",
        allow_files = True,
    ),
    "deps": attr.label_list(
        doc = "Library crates to link against.",
        providers = [StandinCrateInfo],
    ),
    "edition": attr.string(
        doc = "Rust edition; default: the toolchain's.",
    ),
    "rustc_env": attr.string_dict(
        doc = "Environment variables set for rustc.",
    ),
    "rustc_flags": attr.string_list(
        doc = "Extra flags for rustc for this crate only.",
    ),
    "srcs": attr.label_list(
        doc = "Source files of the crate.",
        allow_files = [".rs"],
    ),
    "version": attr.string(
        doc = "CARGO_PKG_VERSION for the crate.",
        default = "0.0.0",
    ),
    "_extra_rustc_flag": attr.label(
        default = Label("//rust/settings:extra_rustc_flag"),
    ),
    "_extra_rustc_flags": attr.label(
        default = Label("//rust/settings:extra_rustc_flags"),
    ),
    "_per_crate_rustc_flag": attr.label(
        default = Label("//rust/settings:per_crate_rustc_flag"),
    ),
}

# What rust_binary links with (link.bzl).
_LINK_ATTRS = {
    "experimental_use_cc_common_link": attr.int(
        doc = "Link through cc_common.link: 1 yes, 0 no, -1 as //rust/settings:experimental_use_cc_common_link says.",
        values = [-1, 0, 1],
        default = -1,
    ),
    "_cc_toolchain": attr.label(
        default = Label("@bazel_tools//tools/cpp:current_cc_toolchain"),
    ),
    "_experimental_use_cc_common_link": attr.label(
        default = Label("//rust/settings:experimental_use_cc_common_link"),
    ),
    "_linker_preference": attr.label(
        default = Label("//rust/settings:toolchain_linker_preference"),
    ),
}

# rust_test's own attributes (rules_rust 0.73.0 rust/private/rust.bzl:979-997).
_TEST_ATTRS = {
    "env": attr.string_dict(
        doc = "Environment variables set when the test runs.",
    ),
    "use_libtest_harness": attr.bool(
        doc = "Build with libtest's harness (`--test`), else as a plain program with `--cfg test`.",
        default = True,
    ),
}

rust_library = rule(
    doc = "Stand-in for rules_rust's rust_library: builds an rlib.",
    implementation = _rust_library_impl,
    attrs = _COMMON_ATTRS,
    toolchains = ["@rules_rust//rust:toolchain"],
)

rust_binary = rule(
    doc = "Stand-in for rules_rust's rust_binary: builds and links an executable.",
    implementation = _rust_binary_impl,
    attrs = dict(_COMMON_ATTRS, **_LINK_ATTRS),
    executable = True,
    fragments = ["cpp"],
    toolchains = [
        "@rules_rust//rust:toolchain",
        "@bazel_tools//tools/cpp:toolchain_type",
    ],
)

rust_test = rule(
    doc = "Stand-in for rules_rust's rust_test: a test executable built with libtest's harness.",
    implementation = _rust_test_impl,
    attrs = dict(_COMMON_ATTRS, **dict(_LINK_ATTRS, **_TEST_ATTRS)),
    test = True,
    fragments = ["cpp"],
    toolchains = [
        "@rules_rust//rust:toolchain",
        "@bazel_tools//tools/cpp:toolchain_type",
    ],
)
