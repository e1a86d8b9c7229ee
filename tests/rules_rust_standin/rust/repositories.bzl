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
    linker = "lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld",
    rust_std = glob(["lib/rustlib/x86_64-unknown-linux-gnu/lib/*"]),
    rustc = "bin/rustc",
    rustc_lib = glob(["lib/*.so*"]),
    sysroot_path = "external/{name}",
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
    rctx.file("BUILD.bazel", _BUILD.format(name = rctx.name))

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
