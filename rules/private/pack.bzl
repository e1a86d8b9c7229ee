"""`multiarch_pack`: builds the program once per variant and generates the launcher's crate root.

The variant builds come through a 1:N split transition on `binary` (split
key = variant name). Each is symlinked to `<name>/<variant>/<program>` next
to the generated `<name>/main.rs`, so the `include_bytes!` paths that
`multiarch pack` writes are short, relative, and independent of Bazel's
configuration directories. This rule and the launcher's rust_binary share
one configuration, so rules_rust passes these files to rustc where they are
(it only re-links generated files from other configurations).

`multiarch pack` gets the Rust toolchain's rustc (`--rustc`): it asks it,
per variant, which target features the variant's flags enable (`--print
cfg`), and records them as the variant's requirements.
"""

load("@rules_rust_multiarch_rules_rust_probe//:probe.bzl", "RUST_TOOLCHAIN_TYPE")
load(":cpus.bzl", "ARCHITECTURES", "LEVELS")
load(":providers.bzl", "MultiarchInfo")
load(":transitions.bzl", "variants_split_transition")
load(":variants.bzl", "variant_specs")

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

def toolchain_target(toolchain):
    """(target triple, architecture) of a rules_rust ToolchainInfo.

    rules_rust 0.73.0 sets `target_triple` to the struct of
    rust/platform/triple.bzl:84-90 (`.str`, `.arch`) and `target_arch` to its
    `arch` (rust/private/toolchain.bzl:509-513, :632-637); 0.7.0 sets
    `target_triple` to the triple string (rust/toolchain.bzl:516-519 at tag
    0.7.0). A toolchain built from `target_json` has no triple: (None, arch).

    Args:
      toolchain: the ToolchainInfo.

    Returns:
      (str or None, str or None)
    """
    triple = getattr(toolchain, "target_triple", None)
    if triple != None and type(triple) != "string":
        triple = getattr(triple, "str", None)
    arch = getattr(toolchain, "target_arch", None)
    if not arch and triple:
        arch = triple.split("-")[0]
    return triple, arch

def _rustc_inputs(toolchain):
    # rustc and what it needs to run: ToolchainInfo.rustc (File) and
    # .rustc_lib (depset[File] of its shared libraries), rules_rust 0.73.0
    # rust/private/toolchain.bzl:620-621 (made at :230-237); 0.7.0
    # rust/toolchain.bzl:508-509.
    rustc_lib = getattr(toolchain, "rustc_lib", None)
    return toolchain.rustc, (rustc_lib if rustc_lib != None else depset())

def _multiarch_pack_impl(ctx):
    arch = ARCHITECTURES.get(ctx.attr.arch)
    if not arch:
        fail("attribute `arch`: unknown architecture \"{}\"; known: {}".format(ctx.attr.arch, ", ".join(ARCHITECTURES.keys())))
    specs, error = variant_specs(ctx.attr.levels, ctx.attr.variants, ctx.attr.use_variants, arch)
    if error:
        fail(error)

    toolchain = ctx.toolchains[RUST_TOOLCHAIN_TYPE]
    triple, toolchain_arch = toolchain_target(toolchain)
    if not triple:
        fail(("the Rust toolchain for this target ({}) has no target triple (a `target_json` " +
              "toolchain?): rust_multiarch_binary needs a rustc target triple for `multiarch pack --target`").format(
            RUST_TOOLCHAIN_TYPE,
        ))
    if toolchain_arch != arch.arch:
        fail("the Rust toolchain builds for {} ({}), but the bundle's variants are {} variants".format(
            toolchain_arch,
            triple,
            arch.arch,
        ))
    rustc, rustc_lib = _rustc_inputs(toolchain)

    variants = {}
    variant_links = []
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
    args.add("--target", triple)
    args.add("--rustc", rustc)
    crate_root, blob_dir = _pack_outputs(ctx)
    args.add("--out", crate_root)
    args.add("--blob-dir", blob_dir.path)
    for spec in specs:
        executable = ctx.split_attr.binary[spec.name][DefaultInfo].files_to_run.executable
        if not executable:
            fail("attribute `binary`: {} builds no executable".format(ctx.attr.binary))
        variants[spec.name] = executable
        link = ctx.actions.declare_file("{}/{}/{}".format(ctx.label.name, spec.name, ctx.attr.program))
        ctx.actions.symlink(output = link, target_file = executable)
        variant_links.append(link)

        # Exec-root relative paths: the generated include_bytes! paths stay
        # relative to main.rs and nothing absolute reaches the bundle. The
        # order given is the tie-break of the bundle's ranking.
        args.add("--variant", "{}={}".format(spec.name, link.path))
        args.add("--target-cpu", "{}={}".format(spec.name, spec.cpu))
        if spec.features:
            args.add("--target-features", "{}={}".format(spec.name, ",".join(["+" + f for f in spec.features])))

    ctx.actions.run(
        executable = ctx.executable._multiarch,
        arguments = [args],
        inputs = depset(variant_links, transitive = [rustc_lib]),
        tools = [rustc],
        outputs = [crate_root, blob_dir],
        mnemonic = "MultiarchPack",
        progress_message = "Packing {} builds of {}".format(len(specs), ctx.attr.bundle_label),
    )

    levels = [spec.level for spec in specs if spec.level]
    return [
        DefaultInfo(files = depset([crate_root])),
        OutputGroupInfo(**{COMPILE_DATA_OUTPUT_GROUP: depset(variant_links + [blob_dir])}),
        MultiarchInfo(
            bundle = None,
            generated_source = crate_root,
            levels = levels,
            rustc_flags = {spec.name: spec.rustc_flags for spec in specs},
            target_cpus = {spec.level: spec.cpu for spec in specs if spec.level},
            variants = variants,
        ),
    ]

multiarch_pack = rule(
    doc = "Builds `binary` once per variant and runs `multiarch pack` over the builds (private).",
    implementation = _multiarch_pack_impl,
    attrs = {
        "arch": attr.string(
            doc = "The architecture whose CPU and feature names the variants use (cpus.bzl ARCHITECTURES); must be the Rust toolchain's.",
            default = "x86_64",
        ),
        "binary": attr.label(
            doc = "The rust_binary to build once per variant.",
            cfg = variants_split_transition,
            mandatory = True,
        ),
        "bundle_label": attr.string(
            doc = "Label of the rust_multiarch_binary, recorded in the bundle for humans.",
            mandatory = True,
        ),
        "compression": attr.string(
            doc = "How builds are stored: \"lz\" (the baseline compressed, the others as deltas) or \"none\".",
            default = "lz",
        ),
        "levels": attr.string_list(
            doc = "Short level names (see rust_multiarch_binary); used unless `use_variants`.",
            default = LEVELS,
        ),
        "program": attr.string(
            doc = "The program's name (its cache file name at run time).",
            mandatory = True,
        ),
        "use_variants": attr.bool(
            doc = "Whether the bundle declares `variants` (then `levels` must be empty).",
        ),
        "variants": attr.string_list_dict(
            doc = "Variant name -> its rustc flags (see rust_multiarch_binary).",
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
    },
    # rules_rust's toolchain type (rules_rust_probe.bzl); its rustc answers
    # `multiarch pack --rustc`.
    toolchains = [RUST_TOOLCHAIN_TYPE],
)
