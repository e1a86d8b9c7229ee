"""The build settings that tell which variant (and x86-64 level) a configuration builds."""

load(":cpus.bzl", "LEVELS")
load(":providers.bzl", "MultiarchLevelInfo", "MultiarchVariantInfo")
load(":variants.bzl", "name_error")

# Both settings' attributes. Bazel 8+: a build setting with scope "target"
# resets to its default in the exec configuration, so tools are not built
# once per level. Older Bazel ignores it (a plain attribute there).
_SCOPE_ATTRS = {
    "scope": attr.string(
        doc = "Where the setting applies: \"target\" (not copied to the exec configuration).",
        default = "target",
    ),
}

def _level_setting_impl(ctx):
    level = ctx.build_setting_value
    if level and level not in LEVELS:
        fail("{}: unknown level \"{}\"; allowed values are \"\" and {}".format(ctx.label, level, ", ".join(LEVELS)))
    return [MultiarchLevelInfo(level = level)]

level_setting = rule(
    doc = """\
The x86-64 level the current configuration builds for: "v1" ... "v4" inside
a `rust_multiarch_binary` variant whose flags are exactly that level's (every
`levels` build), "" everywhere else (other variants, the launcher).

Only rust_multiarch_binary's transition sets it (it is not a command-line
flag). `select()` on the `config_setting`s next to it in //rules/settings.
""",
    implementation = _level_setting_impl,
    build_setting = config.string(flag = False),
    attrs = _SCOPE_ATTRS,
)

def _variant_setting_impl(ctx):
    variant = ctx.build_setting_value
    error = name_error(variant) if variant else ""
    if error:
        fail("{}: variant name \"{}\" {}".format(ctx.label, variant, error))
    return [MultiarchVariantInfo(variant = variant)]

variant_setting = rule(
    doc = """\
The variant the current configuration builds: its name in the
`rust_multiarch_binary` (a level variant's is its rustc CPU name, "x86-64"
... "x86-64-v4"), "" everywhere else (including the launcher).

Only rust_multiarch_binary's transition sets it (it is not a command-line
flag). `select()` on a `config_setting` with
`flag_values = {"@rules_rust_multiarch//rules/settings:variant": "NAME"}`.
""",
    implementation = _variant_setting_impl,
    build_setting = config.string(flag = False),
    attrs = _SCOPE_ATTRS,
)

def _saved_flags_impl(ctx):
    _ignore = ctx  # @unused
    return []

saved_flags = rule(
    doc = """\
A list of rustc flags that rust_multiarch_binary's launcher transition saves
(the user's value of the rules_rust setting of the same name, before the
launcher's CPU flags were removed), so the level builds below the launcher
start from the user's flags. Set only by the transitions; [] elsewhere.
""",
    implementation = _saved_flags_impl,
    build_setting = config.string_list(flag = False),
    attrs = _SCOPE_ATTRS,
)
