"""Prepared installs: the `multiarch_install` output group of `rust_multiarch_binary`.

The group holds one directory (a tree artifact) named `multiarch`, laid out
by `multiarch install --staging` as `multiarch/<key>/<program>`: every build
of the bundle, decoded and checked, under the first 32 hex digits of its
sha256, the tree the launcher looks up in `/usr/lib/multiarch` before its
per-user cache. Packaged with `package_dir = "/usr/lib"` (rules_pkg's
`pkg_tar`, an image layer), it lands where every launcher looks, so the first
start of every user in every container decodes and writes nothing.

The action runs only when the group is asked for: a plain `bazel build` of
the bundle does not run it.
"""

# The output group's name.
INSTALL_OUTPUT_GROUP = "multiarch_install"

# Attributes the bundle rule needs for the group (merged into its attrs).
INSTALL_ATTRS = {
    "_multiarch_install_tool": attr.label(
        doc = "The `multiarch` CLI, whose `install` subcommand lays the tree out.",
        default = Label("//cli:multiarch"),
        executable = True,
        cfg = "exec",
    ),
}

def install_output_groups(ctx, bundle):
    """Declares the prepared-install tree of `bundle` and the action that writes it.

    Args:
      ctx: the bundle rule's context; its attributes include INSTALL_ATTRS.
      bundle: File, the bundle executable (launcher plus builds).

    Returns:
      dict[str, depset]: {INSTALL_OUTPUT_GROUP: the tree artifact}, to merge
      into the rule's OutputGroupInfo.
    """

    # The last component is the directory launchers look in under /usr/lib:
    # pkg_tar places a directory of `srcs` under its base name.
    tree = ctx.actions.declare_directory("{}.install/multiarch".format(ctx.label.name))
    args = ctx.actions.args()
    args.add("install")

    # The tree is packaged and placed elsewhere: its owner and modes here
    # (Bazel's output tree) are not what launchers will see.
    args.add("--staging")
    args.add(bundle)
    args.add(tree.path)
    ctx.actions.run(
        executable = ctx.executable._multiarch_install_tool,
        arguments = [args],
        inputs = [bundle],
        outputs = [tree],
        mnemonic = "MultiarchInstall",
        progress_message = "Laying out the builds of {} for a prepared install".format(ctx.label),
    )
    return {INSTALL_OUTPUT_GROUP: depset([tree])}
