"""`rust_multiarch_binary`: one executable holding a build of a Rust program per x86-64 level."""

load("@rules_rust//rust:defs.bzl", "rust_binary")
load("@rules_rust_multiarch_rules_rust_features//:features.bzl", "RUST_BINARY_HAS_CC_COMMON_LINK_ATTR")
load(":cpus.bzl", "LEVELS")
load(":launcher_link.bzl", "LAUNCHER_LINK_LIBS_OUTPUT_GROUP", "launcher_link")
load(":pack.bzl", "COMPILE_DATA_OUTPUT_GROUP", "multiarch_pack")
load(":providers.bzl", "MultiarchInfo")
load(":transitions.bzl", "baseline_transition")

# rustc flags of every launcher. The launcher links neither std nor a C
# library (launcher/src/lib.rs): it brings its own `_start`, so the C start
# files stay out, and a panic aborts. `-nostdlib`, not `-nostartfiles`: C
# compiler drivers read both as "no start files" (and the first also as no
# default libraries, which rustc asks for anyway with `-nodefaultlibs`), but
# only `-nostdlib` is also a linker option (search only the given library
# directories; harmless here), and rules_rust links with rust-lld directly
# under `toolchain_linker_preference = "rust"` (rules_rust 0.73.0
# rust/private/rustc.bzl:441-445), which rejects `-nostartfiles`. The rest
# of the link is pinned by launcher_link.bzl.
#
# No debug info in any compilation mode: the precompiled core and
# compiler_builtins rlibs carry theirs (about 600 KB, linked in unless
# stripped), and `-Cdebuginfo=0` alone does not drop it. `-Cstrip=debuginfo`
# makes rustc pass the linker `--strip-debug` (bfd, gold and lld all take it),
# as Cargo's release profile does by default. rules_rust 0.73 strips only in
# `-c opt` and only by the toolchain's `strip_level` (rust/private/toolchain.bzl
# :859-868, added at rust/private/rustc.bzl:1236-1238); the target's
# `rustc_flags` come after every other flag source (rustc.bzl:1500-1509), so
# these win over the toolchain and the user's global flags. Only the
# launcher: the program's builds keep what the user chose.
_LAUNCHER_RUSTC_FLAGS = [
    "-Cpanic=abort",
    "-Clink-arg=-nostdlib",
    "-Cdebuginfo=0",
    "-Cstrip=debuginfo",
]

# rustc flags of the launcher per `launcher_linking` value: a static PIE
# that relocates itself, or a PIE that the dynamic loader relocates.
_LAUNCHER_LINKING = {
    "dynamic": [],
    "static": ["-Ctarget-feature=+crt-static"],
}

def _only(value):
    # Attributes with a Starlark transition are lists on Bazel 4.
    if type(value) == "list":
        return value[0]
    return value

def _multiarch_binary_impl(ctx):
    if ctx.attr.launcher_linking not in _LAUNCHER_LINKING:
        fail("attribute `launcher_linking`: unknown value \"{}\"; allowed values are \"static\", \"dynamic\"".format(
            ctx.attr.launcher_linking,
        ))
    launcher = _only(ctx.attr.launcher)
    pack = _only(ctx.attr.pack)
    info = pack[MultiarchInfo]

    launcher_exe = launcher[DefaultInfo].files_to_run.executable
    if not launcher_exe:
        fail("attribute `launcher`: {} builds no executable".format(launcher.label))

    # The bundle is the launcher binary; a symlink under <name>/ gives it the
    # target's name without clashing with the launcher's own output.
    bundle = ctx.actions.declare_file("{}/{}".format(ctx.label.name, ctx.label.name))
    ctx.actions.symlink(output = bundle, target_file = launcher_exe, is_executable = True)

    variants = [info.variants[info.target_cpus[level]] for level in info.levels]
    output_groups = {cpu: depset([file]) for cpu, file in info.variants.items()}
    output_groups["multiarch_variants"] = depset(variants)
    output_groups["multiarch_generated_source"] = depset([info.generated_source])

    return [
        DefaultInfo(
            executable = bundle,
            files = depset([bundle]),
            runfiles = ctx.runfiles(files = [bundle]).merge(launcher[DefaultInfo].default_runfiles),
        ),
        MultiarchInfo(
            bundle = bundle,
            generated_source = info.generated_source,
            levels = info.levels,
            target_cpus = info.target_cpus,
            variants = info.variants,
        ),
        OutputGroupInfo(**output_groups),
    ]

multiarch_binary = rule(
    doc = "Forwards the launcher (built for the baseline) as the bundle executable (private).",
    implementation = _multiarch_binary_impl,
    attrs = {
        "launcher": attr.label(
            doc = "The launcher rust_binary compiled from the generated crate root.",
            cfg = baseline_transition,
            mandatory = True,
        ),
        "launcher_linking": attr.string(
            doc = "How `launcher` was linked: \"static\" or \"dynamic\" (checked here).",
            default = "static",
        ),
        "pack": attr.label(
            doc = "The multiarch_pack target whose crate root `launcher` compiles.",
            cfg = baseline_transition,
            providers = [MultiarchInfo],
            mandatory = True,
        ),
        "_allowlist_function_transition": attr.label(
            default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
        ),
    },
    executable = True,
)

def rust_multiarch_binary(name, levels = LEVELS, compression = "lz", launcher_linking = "static", **kwargs):
    """A Rust executable that carries one build per x86-64 level and runs the best one.

    Takes every attribute of rules_rust's `rust_binary` plus `levels`. Builds
    the program once per level (each crate of its graph gets
    `-Ctarget-cpu=x86-64[-vN]`), embeds the builds in a launcher built for the
    baseline, and gives one executable named after the target, at
    `<package>/<name>/<name>` in bazel-bin.

    Targets created (all but `name` are tagged manual and private):
      <name>.variant   rust_binary with the user's attributes (built per level)
      <name>.pack      the per-level builds and the generated launcher source
      <name>.pack_data the files the launcher's rustc embeds
      <name>.launcher_link, <name>.launcher_link_libs
                       the rustc argument file that pins the launcher's
                       link, and the empty archives it points to
      <name>.launcher  rust_binary of the generated source and the launcher crate
      <name>           the bundle: MultiarchInfo, output groups per level

    Example:

        load("@rules_rust_multiarch//rules:defs.bzl", "rust_multiarch_binary")

        rust_multiarch_binary(
            name = "app_mv",
            srcs = ["main.rs"],
            levels = ["v1", "v3"],
        )

    Args:
      name: str, the bundle target's name; also the program name the launcher
        reports and caches under.
      levels: list[str], the levels to build, any subset of "v1", "v2", "v3",
        "v4" that contains "v1" (the baseline every x86-64 CPU runs).
      compression: str, how the bundle stores the builds: "lz" (default:
        the x86-64 build LZ-compressed, each other one as an LZ delta against
        it where that halves its stream, else alone; large builds in two
        halves decoded on two threads) or "none" (as built; nothing to
        decode, about 4x the size).
      launcher_linking: str, how the launcher is linked. It links no C
        library either way (about 95 KB in `-c opt`, no debug info in any
        mode). "static" (default): a
        static PIE (`-Ctarget-feature=+crt-static`) that applies its own
        relocations; nothing runs before it. "dynamic": a PIE that the
        system's dynamic loader (ld.so) maps and relocates first, about
        0.3 ms more per start at the same size; for systems or tools that
        do not accept static PIEs. The program's own builds are linked as
        their attributes say either way.
      **kwargs: attributes of `rust_binary` for the program (`srcs`, `deps`,
        `crate_root`, `rustc_flags`, `data`, ...); `tags`, `visibility` and
        `testonly` apply to the bundle target.
    """
    visibility = kwargs.pop("visibility", None)
    tags = kwargs.pop("tags", None) or []
    testonly = kwargs.pop("testonly", None)
    crate_name = kwargs.pop("crate_name", None) or name.replace("-", "_")
    data = kwargs.get("data", [])
    internal = dict(
        tags = ["manual"] + [tag for tag in tags if tag != "manual"],
        testonly = testonly,
        visibility = ["//visibility:private"],
    )

    rust_binary(
        name = name + ".variant",
        crate_name = crate_name,
        **dict(kwargs, **internal)
    )
    multiarch_pack(
        name = name + ".pack",
        binary = ":{}.variant".format(name),
        bundle_label = "//{}:{}".format(native.package_name(), name),
        compression = compression,
        levels = levels,
        program = name,
        **internal
    )
    native.filegroup(
        name = name + ".pack_data",
        srcs = [":{}.pack".format(name)],
        output_group = COMPILE_DATA_OUTPUT_GROUP,
        **internal
    )
    launcher_link(
        name = name + ".launcher_link",
        linking = launcher_linking,
        **internal
    )
    native.filegroup(
        name = name + ".launcher_link_libs",
        srcs = [":{}.launcher_link".format(name)],
        output_group = LAUNCHER_LINK_LIBS_OUTPUT_GROUP,
        **internal
    )

    # The launcher is linked by rustc even where rules_rust links programs
    # with cc_common.link: that path links the C toolchain's start files
    # (a second `_start`) and none of the link flags above (rules_rust 0.73.0
    # rust/private/rustc.bzl:2030-2041). The attribute exists since rules_rust
    # 0.10; 0 = never (rust/private/rust.bzl:934-946, rustc.bzl:1686-1691).
    cc_common_link = {"experimental_use_cc_common_link": 0} if RUST_BINARY_HAS_CC_COMMON_LINK_ATTR else {}
    rust_binary(
        name = name + ".launcher",
        crate_name = crate_name + "_multiarch_launcher",
        crate_root = ":{}.pack".format(name),
        srcs = [":{}.pack".format(name)],
        compile_data = [
            ":{}.pack_data".format(name),
            ":{}.launcher_link".format(name),
            ":{}.launcher_link_libs".format(name),
        ],
        data = data,
        edition = "2021",
        # An unknown value fails in the bundle rule's analysis, naming it.
        rustc_flags = _LAUNCHER_RUSTC_FLAGS + _LAUNCHER_LINKING.get(launcher_linking, []) + [
            "@$(location :{}.launcher_link)".format(name),
        ],
        deps = [Label("//launcher:multiarch_launcher")],
        **dict(internal, **cc_common_link)
    )
    multiarch_binary(
        name = name,
        launcher_linking = launcher_linking,
        launcher = ":{}.launcher".format(name),
        pack = ":{}.pack".format(name),
        tags = tags,
        testonly = testonly,
        visibility = visibility,
    )
