"""bazel_skylib STAND-IN: bzl_library, with the real rule's attributes and provider."""

StarlarkLibraryInfo = provider(
    doc = "Information on contained Starlark rules.",
    fields = {
        "srcs": "Top level rules files.",
        "transitive_srcs": "Transitive closure of rules files required for interpretation of the srcs",
    },
)

def _bzl_library_impl(ctx):
    deps_files = [x.files for x in ctx.attr.deps]
    all_files = depset(ctx.files.srcs, order = "postorder", transitive = deps_files)
    return [
        DefaultInfo(files = all_files, runfiles = ctx.runfiles(transitive_files = all_files)),
        StarlarkLibraryInfo(srcs = ctx.files.srcs, transitive_srcs = all_files),
    ]

bzl_library = rule(
    implementation = _bzl_library_impl,
    attrs = {
        "deps": attr.label_list(
            allow_files = [".bzl", ".scl"],
            doc = "List of other `bzl_library` or `filegroup` targets that are required by the Starlark files listed in `srcs`.",
        ),
        "srcs": attr.label_list(
            allow_files = [".bzl", ".scl"],
            doc = "List of `.bzl` and `.scl` files that are processed to create this target.",
        ),
    },
    doc = "Creates a logical collection of Starlark .bzl and .scl files.",
)
