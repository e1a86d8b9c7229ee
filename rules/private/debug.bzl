"""Symbols and debug info of each level's build: `debug_info` and the `multiarch_debug` output group.

Every build keeps its GNU build-id (`.note.gnu.build-id`): rules_rust links
through the C++ toolchain's link line (rules_rust 0.73.0
rust/private/rustc.bzl:392-436, given to rustc at :1312-1327), and it is that
toolchain that asks for the note: Debian's and most distributions' GCC pass
`--build-id` themselves (`gcc -dumpspecs`: `%{!r:--build-id}`, GCC configured
with `--enable-linker-build-id`), hermetic toolchains pass
`-Wl,--build-id=md5`. The test workspace's stand-in rules_rust links the
same way (tests/rules_rust_standin/rust/private/link.bzl), through Bazel's
autoconfigured toolchain, whose link line has no `--build-id`: the ids come
from Debian's GCC (SHA-1, 20 bytes; tests/e2e_bazel.sh test y). The note is
a hash of the linked file, so builds that differ in one byte have different
ids (byte-identical builds share one, being one file). The
`multiarch_debug` action fails, naming the build and the fix, when a build
has none.

`debug_info` says where each build's DWARF goes:
- "embedded" (default): the bundle embeds each build exactly as rules_rust
  linked it (with `.symtab`, so perf and gdb name functions; DWARF only if
  the build has some: rules_rust 0.73.0 strips it in `-c opt`,
  rust/private/toolchain.bzl:859-868, rustc.bzl:1237-1238).
- "split": each build is embedded with its DWARF removed
  (`objcopy --strip-debug`, which keeps `.symtab`) and a
  `.gnu_debuglink` to `<program>.debug`; the DWARF is in the output group.

The `multiarch_debug` output group is a directory in the layout gdb, perf
and debuginfod servers read: `.build-id/NN/REST.debug` (the build's
symbols and DWARF, `objcopy --only-keep-debug`) and `.build-id/NN/REST`
(the embedded build itself) for every variant, plus `build-ids.txt`
("<variant> <build-id>" per line; a level variant is named after its
`-Ctarget-cpu`). `gdb -iex 'set debug-file-directory
DIR'` finds the running level's debug info by the build-id of whatever file
the process runs, a cache entry or a memfd.

objcopy is the C++ toolchain's (`cc_toolchain.objcopy_executable`, with the
toolchain's files as inputs).
"""

load("@bazel_tools//tools/cpp:toolchain_utils.bzl", "find_cpp_toolchain")

# Output group of the build-id directory.
DEBUG_OUTPUT_GROUP = "multiarch_debug"

# Values of the `debug_info` attribute.
DEBUG_INFO_MODES = ["embedded", "split"]

# Attributes the rule that calls embed_build and debug_directory needs
# (with fragments = ["cpp"] and the C++ toolchain type).
DEBUG_ATTRS = {
    "debug_info": attr.string(
        doc = "Where each build's DWARF goes: \"embedded\" (the build as linked) or \"split\" (stripped; DWARF in the `multiarch_debug` output group).",
        default = "embedded",
    ),
    "_cc_toolchain": attr.label(
        default = Label("@bazel_tools//tools/cpp:current_cc_toolchain"),
    ),
}

DEBUG_TOOLCHAINS = ["@bazel_tools//tools/cpp:toolchain_type"]

def debug_info_error(mode):
    """Checks a `debug_info` attribute value.

    Args:
      mode: str, the attribute value.

    Returns:
      str: an error naming the attribute and its allowed values, or "".
    """
    if mode in DEBUG_INFO_MODES:
        return ""
    return "attribute `debug_info`: unknown value \"{}\"; allowed values are {}".format(
        mode,
        ", ".join(["\"{}\"".format(m) for m in DEBUG_INFO_MODES]),
    )

# $1 objcopy, $2 the build, $3 the .debug file to write, $4 the stripped
# build to write ("" to write none). --add-gnu-debuglink stores the .debug
# file's base name and its CRC.
_SPLIT = """\
set -o errexit -o nounset
"$1" --only-keep-debug "$2" "$3"
if [ -n "$4" ]; then
    "$1" --strip-debug --add-gnu-debuglink="$3" "$2" "$4"
fi
"""

def embed_build(ctx, cpu, executable, embedded, bundle_label):
    """Makes the file the bundle embeds for one level, and its debug file.

    With `debug_info = "embedded"`, `embedded` is a symlink to `executable`;
    with "split", the build stripped of DWARF with a debuglink.

    Args:
      ctx: the rule context (DEBUG_ATTRS, the cpp fragment and toolchain).
      cpu: str, the variant's name (for messages).
      executable: File, the variant's build.
      embedded: File, declared: what the bundle embeds for this variant.
      bundle_label: str, the bundle's label, for messages.

    Returns:
      File: the `.debug` file of this level (a sibling of `embedded`).
    """
    error = debug_info_error(ctx.attr.debug_info)
    if error:
        fail(error)
    cc_toolchain = find_cpp_toolchain(ctx)
    debug = ctx.actions.declare_file(embedded.basename + ".debug", sibling = embedded)
    split = ctx.attr.debug_info == "split"
    if not split:
        ctx.actions.symlink(output = embedded, target_file = executable)
    ctx.actions.run_shell(
        command = _SPLIT,
        arguments = [
            cc_toolchain.objcopy_executable,
            executable.path,
            debug.path,
            embedded.path if split else "",
        ],
        inputs = depset([executable], transitive = [cc_toolchain.all_files]),
        outputs = [debug, embedded] if split else [debug],
        mnemonic = "MultiarchSplitDebug",
        progress_message = "Splitting the debug info of the {} build of {}".format(cpu, bundle_label),
    )
    return debug

# $1 objcopy, $2 the output directory, then "cpu build debug" triples. The
# note is read with objcopy and od (coreutils): namesz 4, descsz, type 3
# (NT_GNU_BUILD_ID), "GNU\0", then the id.
_DIRECTORY = """\
set -o errexit -o nounset -o pipefail
objcopy="$1" out="$2"
shift 2
: >"$out/build-ids.txt"
while [ "$#" -gt 0 ]; do
    cpu="$1" build="$2" debug="$3"
    shift 3
    "$objcopy" -O binary --only-section=.note.gnu.build-id "$build" "$out/note.tmp"
    hex="$(od -An -v -tx1 "$out/note.tmp" | tr -d ' \\n')"
    rm -f "$out/note.tmp"
    if [ "${hex:0:8}" != 04000000 ] || [ "${hex:16:8}" != 03000000 ] || [ "${hex:24:8}" != 474e5500 ] || [ "${#hex}" -le 32 ]; then
        echo "rules_rust_multiarch: the $cpu build of $TARGET has no GNU build-id (.note.gnu.build-id), so debuggers cannot tell the levels apart; link it with one: --linkopt=-Wl,--build-id (rules_rust passes --linkopt to every link)" >&2
        exit 1
    fi
    id="${hex:32}"
    dir="$out/.build-id/${id:0:2}"
    mkdir -p "$dir"
    if [ -e "$dir/${id:2}" ] && ! cmp -s "$build" "$dir/${id:2}"; then
        echo "rules_rust_multiarch: two different builds of $TARGET have the build-id $id; use a linker build-id that hashes the file (--linkopt=-Wl,--build-id=sha1)" >&2
        exit 1
    fi
    cp "$build" "$dir/${id:2}"
    cp "$debug" "$dir/${id:2}.debug"
    chmod 0644 "$dir/${id:2}.debug"
    echo "$cpu $id" >>"$out/build-ids.txt"
done
"""

def debug_directory(ctx, builds, bundle_label):
    """Declares and writes the build-id directory of the `multiarch_debug` output group.

    Args:
      ctx: the rule context (DEBUG_ATTRS, the cpp fragment and toolchain).
      bundle_label: str, the bundle's label, for messages.
      builds: list[(str, File, File)], per variant in the bundle's order:
        its name, the file the bundle embeds, its `.debug` file.

    Returns:
      File: the directory (a tree artifact).
    """
    cc_toolchain = find_cpp_toolchain(ctx)
    out = ctx.actions.declare_directory("{}/debug".format(ctx.label.name))
    args = ctx.actions.args()
    args.add(cc_toolchain.objcopy_executable)
    args.add(out.path)
    inputs = []
    for cpu, build, debug in builds:
        args.add_all([cpu, build, debug])
        inputs.extend([build, debug])
    ctx.actions.run_shell(
        command = _DIRECTORY,
        arguments = [args],
        inputs = depset(inputs, transitive = [cc_toolchain.all_files]),
        outputs = [out],
        env = {"TARGET": bundle_label},
        mnemonic = "MultiarchDebugDirectory",
        progress_message = "Laying out the debug info of {} by build-id".format(bundle_label),
    )
    return out
