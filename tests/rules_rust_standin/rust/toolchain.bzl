"""rules_rust STAND-IN: a Rust toolchain over a local rustc sysroot."""

def _rust_toolchain_impl(ctx):
    linker_files = depset()
    if ctx.attr.linker:
        # As rules_rust 0.73.0: the linker file and its runfiles go into the
        # toolchain's files (rust/private/toolchain.bzl:268-289, 337), which
        # are inputs of every Rustc action (rust/private/rustc.bzl:791).
        linker_files = depset(
            ctx.files.linker,
            transitive = [ctx.attr.linker[DefaultInfo].default_runfiles.files],
        )

    # The target as rules_rust 0.73.0 describes it (rust/private/toolchain.bzl
    # :509-513, :632-637): `target_triple` is the struct of
    # rust/platform/triple.bzl:84-90, `target_arch` its `arch`,
    # `target_flag_value` what rustc gets as --target (rustc.bzl:1266): the
    # local toolchain's x86_64-unknown-linux-gnu, or a cross toolchain's
    # (repositories.bzl, rust_cross_toolchain_repository).
    parts = ctx.attr.target_triple.split("-")
    target_triple = struct(
        arch = parts[0],
        vendor = parts[1],
        system = parts[2],
        abi = parts[3] if len(parts) > 3 else None,
        str = ctx.attr.target_triple,
    )
    return [platform_common.ToolchainInfo(
        target_arch = target_triple.arch,
        target_flag_value = target_triple.str,
        target_triple = target_triple,
        linker_files = linker_files,
        rustc = ctx.executable.rustc,
        rustc_lib = depset(ctx.files.rustc_lib),
        rust_std = depset(ctx.files.rust_std),
        sysroot = ctx.attr.sysroot_path,
        default_edition = ctx.attr.default_edition,
        extra_rustc_flags = ctx.attr.extra_rustc_flags,
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
        "extra_rustc_flags": attr.string_list(
            doc = "Flags for every rustc call outside the exec configuration, before all others (rules_rust 0.73.0 rust/private/toolchain.bzl:747, rustc.bzl:1568).",
        ),
        "linker": attr.label(
            doc = (
                "rustc's self-contained linker (lib/rustlib/<triple>/bin/rust-lld, with the " +
                "gcc-ld/ wrappers as its data). rustc links through the system `cc` but asks it " +
                "to use this lld (`-B.../gcc-ld -fuse-ld=lld`), so remote actions need it; " +
                "toolchain_linker_preference=rust links with it directly (rules_rust 0.73.0 " +
                "rust/private/toolchain.bzl:761-765)."
            ),
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
        "target_triple": attr.string(
            doc = "The rustc target triple (rules_rust 0.73.0 rust/private/toolchain.bzl:874).",
            default = "x86_64-unknown-linux-gnu",
        ),
        "sysroot_path": attr.string(
            doc = "Exec-root relative path of the sysroot directory (passed as --sysroot).",
            mandatory = True,
        ),
    },
)
