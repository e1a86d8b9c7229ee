"""A minimal C++ toolchain configuration for cross-linking with a GNU cross gcc.

Only what rust_binary's link needs: rules_rust 0.73.0 links Rust binaries
with the C++ toolchain resolved for the target platform, its
`c++-link-executable` tool and command line (rust/private/rustc.bzl:361-371,
392-436), and the ruleset's launcher_link.bzl and debug.bzl read the same
toolchain (objcopy). No C or C++ compilation is configured.
"""

load("@bazel_tools//tools/cpp:cc_toolchain_config_lib.bzl", "tool_path")

# Tool name -> the cross binutils/gcc program suffix.
_TOOLS = {
    "ar": "ar",
    "cpp": "cpp",
    "gcc": "gcc",
    "gcov": "gcov",
    "ld": "ld",
    "nm": "nm",
    "objcopy": "objcopy",
    "objdump": "objdump",
    "strip": "strip",
}

def _cross_cc_toolchain_config_impl(ctx):
    # buildifier: disable=native-cc-common
    return cc_common.create_cc_toolchain_config_info(
        ctx = ctx,
        toolchain_identifier = ctx.attr.prefix + "gcc",
        host_system_name = "x86_64-linux-gnu",
        target_system_name = ctx.attr.prefix.rstrip("-"),
        target_cpu = ctx.attr.cpu,
        target_libc = "glibc",
        compiler = "gcc",
        abi_version = "local",
        abi_libc_version = "local",
        tool_paths = [
            tool_path(name = name, path = "/usr/bin/" + ctx.attr.prefix + suffix)
            for name, suffix in _TOOLS.items()
        ],
    )

cross_cc_toolchain_config = rule(
    doc = "CcToolchainConfigInfo for /usr/bin/<prefix>gcc and its binutils (link only).",
    implementation = _cross_cc_toolchain_config_impl,
    attrs = {
        "cpu": attr.string(
            doc = "Bazel's name of the target CPU (e.g. \"aarch64\").",
            mandatory = True,
        ),
        "prefix": attr.string(
            doc = "The cross tools' prefix, e.g. \"aarch64-linux-gnu-\".",
            mandatory = True,
        ),
    },
    provides = [CcToolchainConfigInfo],
)
