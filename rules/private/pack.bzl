"""`multiarch_pack`: builds the program once per level and generates the launcher's crate root.

The per-level builds come through a 1:N split transition on `binary`. Each
is symlinked to `<name>/<target-cpu>/<program>` next to the generated
`<name>/main.rs`, so the `include_bytes!` paths that `multiarch pack` writes
are short, relative, and independent of Bazel's configuration directories.
This rule and the launcher's rust_binary share one configuration, so
rules_rust passes these files to rustc where they are (it only re-links
generated files from other configurations).
"""

load(":cpus.bzl", "LEVELS", "TARGET_CPUS", "levels_error", "sorted_levels")
load(":debug.bzl", "DEBUG_ATTRS", "DEBUG_OUTPUT_GROUP", "DEBUG_TOOLCHAINS", "debug_directory", "embed_build")
load(":providers.bzl", "MultiarchInfo")
load(":transitions.bzl", "levels_split_transition")

# Output group of everything the launcher's rustc reads besides the crate
# root: the variant files and the directory of compressed blobs.
COMPILE_DATA_OUTPUT_GROUP = "multiarch_compile_data"

# Values of the `compression` attribute (`multiarch pack --compression`).
COMPRESSIONS = ["lz", "none"]

def _pack_outputs(ctx):
    """Declares what `multiarch pack` writes.

    Returns:
      (File, File): the crate root, and the directory of compressed blobs
      (a tree artifact: how many blobs pack writes depends on the builds,
      identical ones are stored once; empty without compression).
    """
    crate_root = ctx.actions.declare_file("{}/main.rs".format(ctx.label.name))
    blob_dir = ctx.actions.declare_directory("{}/blobs".format(ctx.label.name))
    return crate_root, blob_dir

def _multiarch_pack_impl(ctx):
    error = levels_error(ctx.attr.levels)
    if error:
        fail(error)
    levels = sorted_levels(ctx.attr.levels)

    variants = {}
    variant_links = []
    debug_builds = []
    args = ctx.actions.args()
    args.add("pack")
    args.add("--program", ctx.attr.program)
    args.add("--label", ctx.attr.bundle_label)
    if ctx.attr.compression not in COMPRESSIONS:
        fail("attribute `compression`: unknown value \"{}\"; allowed values are {}".format(
            ctx.attr.compression,
            ", ".join(["\"{}\"".format(c) for c in COMPRESSIONS]),
        ))
    args.add("--compression", ctx.attr.compression)
    args.add("--target", "x86_64-unknown-linux-gnu")
    crate_root, blob_dir = _pack_outputs(ctx)
    args.add("--out", crate_root)
    args.add("--blob-dir", blob_dir.path)
    for level in levels:
        cpu = TARGET_CPUS[level]
        executable = ctx.split_attr.binary[cpu][DefaultInfo].files_to_run.executable
        if not executable:
            fail("attribute `binary`: {} builds no executable".format(ctx.attr.binary))
        link = ctx.actions.declare_file("{}/{}/{}".format(ctx.label.name, cpu, ctx.attr.program))

        # A symlink to the build, or the build stripped of DWARF (debug.bzl).
        debug = embed_build(ctx, cpu, executable, link, ctx.attr.bundle_label)
        debug_builds.append((cpu, link, debug))
        variants[cpu] = link if ctx.attr.debug_info == "split" else executable
        variant_links.append(link)

        # Exec-root relative paths: the generated include_bytes! paths stay
        # relative to main.rs and nothing absolute reaches the bundle.
        args.add("--variant", "{}={}".format(cpu, link.path))

    ctx.actions.run(
        executable = ctx.executable._multiarch,
        arguments = [args],
        inputs = variant_links,
        outputs = [crate_root, blob_dir],
        mnemonic = "MultiarchPack",
        progress_message = "Packing {} builds of {}".format(len(levels), ctx.attr.bundle_label),
    )

    return [
        DefaultInfo(files = depset([crate_root])),
        OutputGroupInfo(**{
            COMPILE_DATA_OUTPUT_GROUP: depset(variant_links + [blob_dir]),
            DEBUG_OUTPUT_GROUP: depset([debug_directory(ctx, debug_builds, ctx.attr.bundle_label)]),
        }),
        MultiarchInfo(
            bundle = None,
            generated_source = crate_root,
            levels = levels,
            target_cpus = {level: TARGET_CPUS[level] for level in levels},
            variants = variants,
        ),
    ]

multiarch_pack = rule(
    doc = "Builds `binary` once per level and runs `multiarch pack` over the builds (private).",
    implementation = _multiarch_pack_impl,
    attrs = dict(DEBUG_ATTRS, **{
        "binary": attr.label(
            doc = "The rust_binary to build once per level.",
            cfg = levels_split_transition,
            mandatory = True,
        ),
        "bundle_label": attr.string(
            doc = "Label of the rust_multiarch_binary, recorded in the bundle for humans.",
            mandatory = True,
        ),
        "compression": attr.string(
            doc = "How builds are stored: \"lz\" (x86-64 compressed, the others as deltas) or \"none\".",
            default = "lz",
        ),
        "levels": attr.string_list(
            doc = "Short level names (see rust_multiarch_binary).",
            default = LEVELS,
        ),
        "program": attr.string(
            doc = "The program's name (its cache file name at run time).",
            mandatory = True,
        ),
        "_allowlist_function_transition": attr.label(
            default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
        ),
        "_multiarch": attr.label(
            doc = "The `multiarch` CLI, run as a build tool.",
            default = Label("//cli:multiarch"),
            executable = True,
            cfg = "exec",
        ),
    }),
    fragments = ["cpp"],
    toolchains = DEBUG_TOOLCHAINS,
)
