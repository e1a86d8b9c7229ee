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
