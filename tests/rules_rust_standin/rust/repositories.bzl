"""rules_rust STAND-IN: a repository rule that wraps the local rustc as a toolchain.

The real rules_rust downloads its toolchains; this stand-in points at the
sysroot of the rustc found on PATH (or at $RUST_SYSROOT) instead.
"""

_BUILD = """\
load("@rules_rust//rust:toolchain.bzl", "rust_toolchain")

package(default_visibility = ["//visibility:public"])

rust_toolchain(
    name = "rust_toolchain",
    default_edition = "2015",
{linker}
    rust_std = glob(["lib/rustlib/x86_64-unknown-linux-gnu/lib/*"]),
    rustc = "bin/rustc",
    rustc_lib = glob(["lib/*.so*"]),
    sysroot_path = "external/{name}",
)

{linker_filegroup}

# The same toolchain with a CPU in its own flags (rules_rust 0.73.0
# rust_toolchain.extra_rustc_flags, rust/private/toolchain.bzl:747), which
# rustc gets before every other flag. Not registered: tests/e2e_bazel.sh
# (test g) selects it with --extra_toolchains.
rust_toolchain(
    name = "rust_toolchain_with_cpu_flags",
    default_edition = "2015",
    extra_rustc_flags = ["-Ctarget-cpu=x86-64-v3"],
{linker}
    rust_std = glob(["lib/rustlib/x86_64-unknown-linux-gnu/lib/*"]),
    rustc = "bin/rustc",
    rustc_lib = glob(["lib/*.so*"]),
    sysroot_path = "external/{name}",
)

toolchain(
    name = "toolchain_with_cpu_flags",
    exec_compatible_with = [
        "@platforms//cpu:x86_64",
        "@platforms//os:linux",
    ],
    target_compatible_with = [
        "@platforms//cpu:x86_64",
        "@platforms//os:linux",
    ],
    toolchain = ":rust_toolchain_with_cpu_flags",
    toolchain_type = "@rules_rust//rust:toolchain",
)

toolchain(
    name = "toolchain",
    exec_compatible_with = [
        "@platforms//cpu:x86_64",
        "@platforms//os:linux",
    ],
    target_compatible_with = [
        "@platforms//cpu:x86_64",
        "@platforms//os:linux",
    ],
    toolchain = ":rust_toolchain",
    toolchain_type = "@rules_rust//rust:toolchain",
)
"""

# rustc's self-contained linker, declared as rules_rust 0.73.0 does
# (rust/private/repository_utils.bzl:75-91; every rules_rust toolchain has it
# as its `linker`, rust/private/repositories.bzl:391 and
# repository_utils.bzl:454-456). rustc (1.90+ on x86_64-unknown-linux-gnu)
# links through `cc -B<sysroot>/lib/rustlib/<triple>/bin/gcc-ld -fuse-ld=lld`,
# so it is an input of every link.
_LINKER_FILEGROUP = """
filegroup(
    name = "rust-lld",
    srcs = ["lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld"],
    data = glob(
        include = [
            "lib/rustlib/x86_64-unknown-linux-gnu/bin/*-ld",
            "lib/rustlib/x86_64-unknown-linux-gnu/bin/gcc-ld/*",
        ],
        exclude = ["lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld"],
    ),
)
"""

def _rust_local_toolchain_repository_impl(rctx):
    sysroot = rctx.attr.sysroot or rctx.os.environ.get("RUST_SYSROOT", "")
    if not sysroot:
        rustc = rctx.which("rustc")
        if not rustc:
            fail("rust_local_toolchain_repository: no rustc on PATH; set RUST_SYSROOT or the `sysroot` attribute")
        result = rctx.execute([rustc, "--print", "sysroot"])
        if result.return_code != 0:
            fail("rust_local_toolchain_repository: `rustc --print sysroot` failed: " + result.stderr)
        sysroot = result.stdout.strip()
    rctx.symlink(sysroot + "/bin", "bin")
    rctx.symlink(sysroot + "/lib", "lib")
    rctx.file("WORKSPACE", "workspace(name = \"{}\")\n".format(rctx.name))

    # Older rustc and distribution packages ship no rust-lld: no linker then.
    has_lld = rctx.path(sysroot + "/lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld").exists
    rctx.file("BUILD.bazel", _BUILD.format(
        name = rctx.name,
        linker = "    linker = \":rust-lld\"," if has_lld else "",
        linker_filegroup = _LINKER_FILEGROUP if has_lld else "",
    ))

rust_local_toolchain_repository = repository_rule(
    doc = "Stand-in: exposes the local rustc sysroot as a `@rules_rust//rust:toolchain` toolchain.",
    implementation = _rust_local_toolchain_repository_impl,
    attrs = {
        "sysroot": attr.string(
            doc = "Absolute path of a rustc sysroot; default: $RUST_SYSROOT, else `rustc --print sysroot`.",
        ),
    },
    environ = ["RUST_SYSROOT"],
    local = True,
)

# A cross toolchain: rustc runs on the exec platform (x86-64 Linux) and
# builds for `target_triple`, as rules_rust 0.73.0's toolchains for
# `extra_target_triples` do (rust/extensions.bzl:274; each a rust_toolchain
# with its own `exec_triple` and `target_triple` and the target's rust_std,
# rust/private/repository_utils.bzl:338-375, registered with exec and target
# constraints, :488-498). rustc links through the C++ toolchain resolved for
# the target platform (rust/private/rustc.bzl:361-371, 392-436): rules_rust
# brings no C++ toolchain, so the workspace registers one for the target.
_CROSS_BUILD = """\
load("@rules_rust//rust:toolchain.bzl", "rust_toolchain")

package(default_visibility = ["//visibility:public"])

# A sysroot of symlinks: bin/rustc and lib/rustlib/<triple>/lib of the
# exec and target triples, from {sysroot}.
rust_toolchain(
    name = "rust_toolchain",
    default_edition = "2015",
    rust_std = glob(["lib/rustlib/{target}/lib/*"]),
    rustc = "bin/rustc",
    sysroot_path = "external/{name}",
    target_triple = "{target}",
)

toolchain(
    name = "toolchain",
    exec_compatible_with = [
        "@platforms//cpu:x86_64",
        "@platforms//os:linux",
    ],
    target_compatible_with = [
        "@platforms//cpu:{cpu}",
        "@platforms//os:linux",
    ],
    toolchain = ":rust_toolchain",
    toolchain_type = "@rules_rust//rust:toolchain",
)
"""

_CROSS_MISSING = """\
# rust_cross_toolchain_repository: {missing} does not exist, so this
# repository defines no toolchain (registering `:all` registers nothing).
# tests/arm64_toolchain.sh installs Debian's aarch64 toolchain.
"""

# rustc target triple architecture -> @platforms//cpu constraint.
_CPU_CONSTRAINTS = {
    "aarch64": "aarch64",
    "x86_64": "x86_64",
}

def _rust_cross_toolchain_repository_impl(rctx):
    sysroot = rctx.attr.sysroot
    target = rctx.attr.target_triple
    cpu = _CPU_CONSTRAINTS.get(target.split("-")[0])
    if not cpu:
        fail("rust_cross_toolchain_repository: unknown architecture in `target_triple` \"{}\"; known: {}".format(
            target,
            ", ".join(_CPU_CONSTRAINTS.keys()),
        ))
    rctx.file("WORKSPACE", "workspace(name = \"{}\")\n".format(rctx.name))
    rustc = rctx.path(sysroot + "/bin/rustc")
    target_lib = rctx.path("{}/lib/rustlib/{}/lib".format(sysroot, target))
    exec_lib = rctx.path(sysroot + "/lib/rustlib/x86_64-unknown-linux-gnu/lib")
    for needed in (rustc, target_lib, exec_lib):
        if not needed.exists:
            rctx.file("BUILD.bazel", _CROSS_MISSING.format(missing = needed))
            return
    rctx.symlink(rustc, "bin/rustc")
    rctx.symlink(target_lib, "lib/rustlib/{}/lib".format(target))
    rctx.symlink(exec_lib, "lib/rustlib/x86_64-unknown-linux-gnu/lib")
    rctx.file("BUILD.bazel", _CROSS_BUILD.format(
        cpu = cpu,
        name = rctx.name,
        sysroot = sysroot,
        target = target,
    ))

rust_cross_toolchain_repository = repository_rule(
    doc = (
        "Stand-in: a `@rules_rust//rust:toolchain` toolchain whose rustc runs on x86-64 Linux and " +
        "builds for `target_triple` (Linux), over a rustc sysroot that has that target's standard " +
        "library (Debian's: /usr with libstd-rust-dev:arm64). Without it the repository defines " +
        "no toolchain."
    ),
    implementation = _rust_cross_toolchain_repository_impl,
    attrs = {
        "sysroot": attr.string(
            doc = "Absolute path of the rustc sysroot (holding bin/rustc and lib/rustlib/<triple>/lib).",
            default = "/usr",
        ),
        "target_triple": attr.string(
            doc = "The rustc target triple to build for, e.g. aarch64-unknown-linux-gnu.",
            mandatory = True,
        ),
    },
    local = True,
)
