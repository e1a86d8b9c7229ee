"""`rust_multiarch_binary`: one executable holding a build of a Rust program per variant (CPU level, CPU or feature set)."""

load("@rules_rust//rust:defs.bzl", "rust_binary")
load("@rules_rust_multiarch_rules_rust_probe//:probe.bzl", "RUST_BINARY_HAS_CC_COMMON_LINK_ATTR")
load(":cpus.bzl", "ARCHITECTURES", "LEVELS")
load(":debug.bzl", "DEBUG_OUTPUT_GROUP")
load(":install.bzl", "INSTALL_ATTRS", "install_output_groups")
load(":launcher_link.bzl", "LAUNCHER_LINK_LIBS_OUTPUT_GROUP", "launcher_link")
load(":pack.bzl", "COMPILE_DATA_OUTPUT_GROUP", "multiarch_pack")
load(":providers.bzl", "MultiarchInfo")
load(":rustc_flags.bzl", "cpu_flags")
load(":transitions.bzl", "baseline_transition")
load(":variants.bzl", "AARCH64_VARIANTS")

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

# The architecture follows the target platform: every select() below keys
# on its CPU constraint. cpus.bzl ARCHITECTURES names the architectures.
# Strings: Bazel 4.2.3's select() takes no Label keys.
_CPU_CONSTRAINTS = {
    "aarch64": str(Label("@platforms//cpu:aarch64")),
    "x86_64": str(Label("@platforms//cpu:x86_64")),
}

def _per_arch(values):
    """A select() over the target CPU: architecture name -> value.

    Args:
      values: dict[str, any], a value for each key of ARCHITECTURES.

    Returns:
      select: the value of the target platform's architecture; x86-64's on
      other CPUs (where _TARGET_COMPATIBLE_WITH skips the targets anyway).
    """
    branches = {_CPU_CONSTRAINTS[arch]: value for arch, value in values.items()}
    branches["//conditions:default"] = values["x86_64"]
    return select(branches)

# The architecture of the bundle: `multiarch_pack.arch` (which names the
# CPU and feature table, and must be the Rust toolchain's) and the baseline
# transition's (the launcher's `-Ctarget-cpu`).
_ARCH = _per_arch({arch: arch for arch in ARCHITECTURES})

# The launcher's last rustc flag: the architecture's baseline CPU
# ("x86-64", aarch64's "generic"). rules_rust puts a target's rustc_flags
# after every global flag (rules_rust 0.73.0 rust/private/rustc.bzl
# :1501-1509), and for target-cpu the last one wins, so a -Ctarget-cpu in
# the toolchain's flags cannot reach the launcher.
_LAUNCHER_TARGET_CPU = _per_arch({
    arch: ["-Ctarget-cpu=" + table.baseline_cpu]
    for arch, table in ARCHITECTURES.items()
})

# What the bundle, the launcher and the variant builds run on: Linux on a
# CPU the launcher is written for (launcher/src/arch: x86-64, aarch64), and
# `multiarch pack` records the Rust toolchain's triple (pack.bzl). Elsewhere
# `bazel build //...` skips the targets instead of failing: on another CPU
# the default branch requires x86-64, which that platform is not.
_TARGET_COMPATIBLE_WITH = [Label("@platforms//os:linux")] + select({
    _CPU_CONSTRAINTS["aarch64"]: [],
    _CPU_CONSTRAINTS["x86_64"]: [],
    "//conditions:default": [_CPU_CONSTRAINTS["x86_64"]],
})

# rustc flags of the launcher per `launcher_linking` value: a static PIE
# that relocates itself, or a PIE that the dynamic loader relocates.
# rustc's aarch64-unknown-linux-gnu target has no static PIE: with
# +crt-static it links `-static -no-pie`, a fixed-address executable
# without ASLR. `-static-pie` (gcc, the C++ toolchain's linker driver) makes
# it a static PIE, whose `_start` applies its R_AARCH64_RELATIVE relocations
# (launcher/src/rt/aarch64.rs; README, "arm64").
_LAUNCHER_LINKING = {
    "dynamic": _per_arch({"aarch64": [], "x86_64": []}),
    "static": _per_arch({
        "aarch64": ["-Ctarget-feature=+crt-static", "-Clink-arg=-static-pie"],
        "x86_64": ["-Ctarget-feature=+crt-static"],
    }),
}

def _only(value):
    # Attributes with a Starlark transition are lists on Bazel 4.
    if type(value) == "list":
        return value[0]
    return value

def program_rustc_flags_error(label, flags):
    """Checks the `rustc_flags` given to rust_multiarch_binary.

    Args:
      label: Label, the bundle target.
      flags: list[str], the program's rustc_flags in the bundle's
        configuration (a select() on the level settings is not seen here:
        per-level flags are the way to tune one level).

    Returns:
      str: an error naming the attribute, the flag and the fix, or "".
    """
    found = cpu_flags(flags)
    if not found:
        return ""
    return (
        "rust_multiarch_binary {}: attribute `rustc_flags` sets {}. rules_rust passes a " +
        "target's rustc_flags after every other flag (rules_rust 0.73.0 " +
        "rust/private/rustc.bzl:1501-1509), so it would apply to every level's build, " +
        "the x86-64 baseline included: every level would be the same, or the baseline " +
        "would not start on every x86-64 CPU. Remove it: `levels` chooses the " +
        "-Ctarget-cpu of each build (`variants` any CPU and features). To tune one level, select() on " +
        "@rules_rust_multiarch//rules/settings:v1 ... :v4 (or :variant) in `rustc_flags` " +
        "(\"+crt-static\" may stay: it is not a CPU feature)."
    ).format(label, ", ".join(["`{}`".format(flag) for flag in found]))

def _multiarch_binary_impl(ctx):
    error = program_rustc_flags_error(ctx.label, ctx.attr.program_rustc_flags)
    if error:
        fail(error)
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

    # One output group per variant, named after it (a level's: its rustc CPU
    # name). Variant names never start with "multiarch_" (variants.bzl
    # RESERVED_PREFIX): the bundle's other output groups do.
    output_groups = {name: depset([file]) for name, file in info.variants.items()}
    output_groups["multiarch_variants"] = depset(info.variants.values())
    output_groups["multiarch_generated_source"] = depset([info.generated_source])
    output_groups.update(install_output_groups(ctx, launcher_exe))
    output_groups[DEBUG_OUTPUT_GROUP] = pack[OutputGroupInfo][DEBUG_OUTPUT_GROUP]

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
            rustc_flags = info.rustc_flags,
            target_cpus = info.target_cpus,
            variants = info.variants,
        ),
        OutputGroupInfo(**output_groups),
    ]

multiarch_binary = rule(
    doc = "Forwards the launcher (built for the baseline) as the bundle executable (private).",
    implementation = _multiarch_binary_impl,
    attrs = dict({
        "launcher": attr.label(
            doc = "The launcher rust_binary compiled from the generated crate root.",
            cfg = baseline_transition,
            mandatory = True,
        ),
        "arch": attr.string(
            doc = "The target architecture (cpus.bzl ARCHITECTURES): the baseline transition's launcher CPU.",
            default = "x86_64",
        ),
        "launcher_linking": attr.string(
            doc = "How `launcher` was linked: \"static\" or \"dynamic\" (checked here).",
            default = "static",
        ),
        "platform": attr.label(
            doc = "The program's `platform` (rust_binary's), or None: the launcher and `.pack` are built for it too.",
        ),
        "program_rustc_flags": attr.string_list(
            doc = "The program's `rustc_flags`, checked for CPU flags (they would override the variants').",
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
    }, **INSTALL_ATTRS),
    executable = True,
)

def rust_multiarch_binary(name, levels = None, variants = None, compression = "lz", launcher_linking = "static", debug_info = "embedded", cap = None, **kwargs):
    """A Rust executable that carries one build per variant and runs the best one the CPU can.

    Takes every attribute of rules_rust's `rust_binary` plus `levels` or
    `variants`. Builds the program once per variant (each crate of its graph
    gets the variant's `-Ctarget-cpu`, and `-Ctarget-feature` if it has
    features), embeds the builds in a launcher built for the baseline, and
    gives one executable named after the target, at `<package>/<name>/<name>`
    in bazel-bin. By default the variants are the four x86-64 levels.

    The architecture follows the target platform (`--platforms`): x86-64 or
    aarch64 Linux. For aarch64 the CPU and feature names are rustc's for
    aarch64-unknown-linux-gnu, the baseline is `generic`, and the default
    variants are the tiers `a1`-`a4` (`AARCH64_VARIANTS`); the build needs a
    Rust and a C++ toolchain (gcc: the static launcher links with
    `-static-pie`) for the platform (docs/bazel.md, "arm64").

    Which variant runs: `multiarch pack` asks the toolchain's rustc which
    target features each variant's flags enable (`--print cfg`) and records
    them as its requirements. The bundle ranks the variants best first: more
    required features first, ties in the order given. The launcher starts the
    first one whose required features the CPU and OS all have; the baseline
    (`x86-64`, no feature added) runs everywhere. `MULTIARCH_LEVEL=NAME`
    chooses one by name.

    Targets created (all but `name` are tagged manual and private):
      <name>.variant   rust_binary with the user's attributes (built per variant)
      <name>.pack      the variant builds and the generated launcher source
      <name>.pack_data the files the launcher's rustc embeds
      <name>.launcher_link, <name>.launcher_link_libs
                       the rustc argument file that pins the launcher's
                       link, and the empty archives it points to
      <name>.launcher  rust_binary of the generated source and the launcher crate
      <name>           the bundle: MultiarchInfo, an output group per variant,
                       `multiarch_debug` (debug info by build-id)

    Example:

        load("@rules_rust_multiarch//rules:defs.bzl", "multiarch_variant", "rust_multiarch_binary")

        rust_multiarch_binary(
            name = "app_mv",
            srcs = ["main.rs"],
            levels = ["v1", "v3"],
        )

        rust_multiarch_binary(
            name = "app_fleet",
            srcs = ["main.rs"],
            variants = {
                "x86-64": multiarch_variant(cpu = "x86-64"),
                "x86-64-v3": multiarch_variant(cpu = "x86-64-v3"),
                "v3-crypto": multiarch_variant(
                    cpu = "x86-64-v3",
                    features = ["+aes", "+pclmulqdq", "+sha"],
                ),
                "znver4": multiarch_variant(cpu = "znver4"),
                "sapphirerapids": multiarch_variant(cpu = "sapphirerapids"),
            },
        )

    Args:
      name: str, the bundle target's name; also the program name the launcher
        reports and caches under.
      levels: list[str], the x86-64 levels to build, any subset of "v1", "v2",
        "v3", "v4" that contains "v1" (the baseline every x86-64 CPU runs).
        Default: all four (when `variants` is not given). The level builds
        are variants named "x86-64", "x86-64-v2", "x86-64-v3", "x86-64-v4".
      variants: dict[str, list[str]], exclusive with `levels`: variant name ->
        `multiarch_variant(cpu = ..., features = [...])` (the variant's rustc
        flags: `["-Ctarget-cpu=CPU", "-Ctarget-feature=+a,+b"]`). Names:
        1-32 characters of a-z, 0-9, ".", "_", "-", starting with a letter or
        digit; a level's name ("x86-64-v3") only for that level, not "v1" ...
        "v4". CPUs and features as `rustc --print target-cpus` /
        `--print target-features` name them for x86_64-unknown-linux-gnu
        (aarch64-unknown-linux-gnu when built for aarch64: `AARCH64_VARIANTS`
        are its tiers) ("native" is refused); features are added ("+name").
        One variant must be the baseline, `multiarch_variant(cpu = "x86-64")`
        (aarch64: `multiarch_variant(cpu = "generic")`). Each
        variant's build sees its name in `//rules/settings:variant` (and a
        level's short name in `:level`). Bad values fail at analysis, naming
        the attribute and the fix; a variant that needs a feature the
        launcher cannot detect fails at pack time.
      cap: str, or None: a level ("v3", "x86-64-v3") or one of the bundle's
        variant names. Variants that need a CPU feature beyond the cap's are
        never started automatically, whatever the CPU has (`MULTIARCH_LEVEL`
        may still name them): for fleets that choose v3 over v4 because
        AVX-512 code can run slower. Recorded in the bundle (`multiarch
        inspect`) and shown in the log line (`; cap NAME`). A host caps every
        bundle with `cap = LEVEL` in /etc/multiarch.conf (README, "Host cap").
        An unknown value fails at analysis.
      compression: str, how the bundle stores the builds: "lz" (default:
        the baseline build LZ-compressed, each other one as an LZ delta against
        the nearest build stored alone where that saves at least that
        build's size / 64, else alone; large builds in two halves decoded
        on two threads) or "none" (as built; nothing to
        decode, about 4x the size).
      launcher_linking: str, how the launcher is linked. It links no C
        library either way (about 159 KB in `-c opt`, no debug info in any
        mode). "static" (default): a
        static PIE (`-Ctarget-feature=+crt-static`) that applies its own
        relocations; nothing runs before it. "dynamic": a PIE that the
        system's dynamic loader (ld.so) maps and relocates first, about
        1 ms more per start at the same size (BENCHMARKS.md); for systems or tools that
        do not accept static PIEs. The program's own builds are linked as
        their attributes say either way.
      debug_info: str, where each build's DWARF goes: "embedded" (default:
        the bundle embeds each build as linked, symbol table and whatever
        debug info it has) or "split" (each build embedded without its DWARF,
        `objcopy --strip-debug`, symbol table kept, with a `.gnu_debuglink`;
        the DWARF in the `multiarch_debug` output group). Either way that
        output group lays every level's debug file and build out by GNU
        build-id (`.build-id/NN/REST.debug`) for gdb, perf and debuginfod;
        docs/bazel.md, "Debugging and profiling".
      **kwargs: attributes of `rust_binary` for the program (`srcs`, `deps`,
        `crate_root`, `rustc_flags`, `data`, `platform`, ...); `tags`,
        `visibility` and `testonly` apply to the bundle target, `data` and
        `platform` to the launcher too, `target_compatible_with` to every
        target (with x86-64 Linux added to the internal ones). A
        `-Ctarget-cpu` or CPU `-Ctarget-feature` in `rustc_flags` fails at
        analysis: it would override every variant's CPU.
    """
    visibility = kwargs.pop("visibility", None)
    tags = kwargs.pop("tags", None) or []
    testonly = kwargs.pop("testonly", None)
    crate_name = kwargs.pop("crate_name", None) or name.replace("-", "_")
    data = kwargs.get("data", [])

    # rules_rust 0.73.0's rust_binary transitions itself to `platform`
    # (rust/private/rust.bzl:903-906, :1238-1259). The launcher gets it too,
    # and the bundle's baseline transition sets it for `.pack`, which must
    # share the launcher's configuration. Not passed when unset, for rules_rust
    # releases without the attribute (0.7.0).
    platform = kwargs.get("platform")
    launcher_platform = {"platform": platform} if platform else {}
    user_compatible_with = kwargs.pop("target_compatible_with", None) or []
    internal = dict(
        tags = ["manual"] + [tag for tag in tags if tag != "manual"],
        # The bundle inherits incompatibility from these.
        target_compatible_with = user_compatible_with + _TARGET_COMPATIBLE_WITH,
        testonly = testonly,
        visibility = ["//visibility:private"],
    )

    # The same for filegroups: Bazel 4.2.3's filegroup has no
    # target_compatible_with.
    internal_filegroup = {k: v for k, v in internal.items() if k != "target_compatible_with"}

    rust_binary(
        name = name + ".variant",
        crate_name = crate_name,
        **dict(kwargs, **internal)
    )

    # `levels` keeps its default (the four levels; on aarch64 the four tiers,
    # AARCH64_VARIANTS) unless `variants` is given; both given fail at
    # analysis (variants.bzl), as do `levels` on aarch64.
    if variants == None and levels == None:
        pack_levels = _per_arch({"aarch64": [], "x86_64": LEVELS})
        use_variants = _per_arch({"aarch64": True, "x86_64": False})
        variants = _per_arch({"aarch64": AARCH64_VARIANTS, "x86_64": {}})
    else:
        pack_levels = (levels or []) if variants != None else levels
        use_variants = variants != None
    multiarch_pack(
        name = name + ".pack",
        arch = _ARCH,
        binary = ":{}.variant".format(name),
        bundle_label = "//{}:{}".format(native.package_name(), name),
        cap = cap or "",
        compression = compression,
        debug_info = debug_info,
        levels = pack_levels,
        use_variants = use_variants,
        variants = variants,
        program = name,
        **internal
    )
    native.filegroup(
        name = name + ".pack_data",
        srcs = [":{}.pack".format(name)],
        output_group = COMPILE_DATA_OUTPUT_GROUP,
        **internal_filegroup
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
        **internal_filegroup
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
        # The target CPU comes last (see _LAUNCHER_TARGET_CPU).
        rustc_flags = _LAUNCHER_RUSTC_FLAGS + _LAUNCHER_LINKING.get(launcher_linking, []) + [
            "@$(location :{}.launcher_link)".format(name),
        ] + _LAUNCHER_TARGET_CPU,
        deps = [Label("//launcher:multiarch_launcher")],
        **dict(internal, **dict(launcher_platform, **cc_common_link))
    )
    multiarch_binary(
        name = name,
        arch = _ARCH,
        launcher_linking = launcher_linking,
        launcher = ":{}.launcher".format(name),
        pack = ":{}.pack".format(name),
        platform = platform,
        program_rustc_flags = kwargs.get("rustc_flags", []),
        tags = tags,
        target_compatible_with = user_compatible_with,
        testonly = testonly,
        visibility = visibility,
    )
