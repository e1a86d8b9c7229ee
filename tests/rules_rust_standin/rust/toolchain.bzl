"""rules_rust STAND-IN: a Rust toolchain over a local rustc sysroot."""

def _rust_toolchain_impl(ctx):
    return [platform_common.ToolchainInfo(
        rustc = ctx.executable.rustc,
        rustc_lib = depset(ctx.files.rustc_lib),
        rust_std = depset(ctx.files.rust_std),
        sysroot = ctx.attr.sysroot_path,
        default_edition = ctx.attr.default_edition,
        linker = ctx.file.linker,
    )]

rust_toolchain = rule(
    doc = "Stand-in for rules_rust's `rust_toolchain`: rustc plus its libraries and the standard library.",
    implementation = _rust_toolchain_impl,
    attrs = {
        "default_edition": attr.string(
            doc = "Edition used when a crate sets none.",
            default = "2015",
        ),
        "linker": attr.label(
            doc = "rust-lld, for toolchain_linker_preference=rust (rules_rust 0.73.0 rust/private/toolchain.bzl:761-765).",
            allow_single_file = True,
            cfg = "exec",
        ),
        "rust_std": attr.label_list(
            doc = "The standard library rlibs for the target (lib/rustlib/<triple>/lib/*).",
            allow_files = True,
        ),
        "rustc": attr.label(
            doc = "The rustc executable.",
            allow_single_file = True,
            executable = True,
            cfg = "exec",
            mandatory = True,
        ),
        "rustc_lib": attr.label_list(
            doc = "Shared libraries rustc needs at run time (lib/*.so*).",
            allow_files = True,
            cfg = "exec",
        ),
        "sysroot_path": attr.string(
            doc = "Exec-root relative path of the sysroot directory (passed as --sysroot).",
            mandatory = True,
        ),
    },
)
