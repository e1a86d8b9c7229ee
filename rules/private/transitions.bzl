"""Configuration transitions: one build per variant, and a baseline build for the launcher.

Both read and write the settings listed once in _SETTINGS:
- rules_rust's rustc-flag settings, by the label of the rule that defines
  them in the installed rules_rust (never an alias: see
  rules_rust_probe.bzl): `extra_rustc_flags`, and `extra_rustc_flag` and
  `per_crate_rustc_flag` where that rules_rust has them (0.73.0, not 0.7.0).
  rules_rust adds their values to every rustc call in the target
  configuration and none in the exec configuration (rules_rust 0.73.0
  rust/private/rustc.bzl:1566-1578; rust/private/utils.bzl:520-534);
- `//rules/settings:original_<name>` for each of them: the user's value,
  saved by the baseline transition so the level builds below it start from
  the user's flags, not from the launcher's;
- `//rules/settings:variant` and `//rules/settings:level`, for `select()`.

rules_rust puts the flags on rustc's command line in this order (0.73.0
rust/private/rustc.bzl): the toolchain's flags (:1563-1568),
`extra_rustc_flags` (:1570-1571), `extra_rustc_flag` (:1573-1574),
`per_crate_rustc_flag` (:1576-1578), all added at :1460, then the target's
own `rustc_flags` last (:1501-1509). A variant's `-Ctarget-cpu` (and its
`-Ctarget-feature`, if any) go at the end of `extra_rustc_flags` and every
`target-cpu` and CPU `target-feature` is removed from the three settings, so only the toolchain's flags (before it)
and the target's `rustc_flags` (checked by the macro) could override it.
"""

load("@rules_rust_multiarch_rules_rust_probe//:probe.bzl", "SETTING_PACKAGES")
load(":cpus.bzl", "ARCHITECTURES", "BASELINE")
load(":rustc_flags.bzl", "strip_cpu_flags", "strip_per_crate_cpu_flags")
load(":variants.bzl", "variant_specs")

# rules_rust setting name -> label of its rule in the installed rules_rust.
_RULES_RUST = {
    name: str(Label("@rules_rust//{}:{}".format(package, name)))
    for name, package in SETTING_PACKAGES.items()
}

# rules_rust setting name -> our setting that saves the user's value.
_ORIGINAL = {
    name: str(Label("//rules/settings:original_" + name))
    for name in _RULES_RUST
}

_LEVEL = str(Label("//rules/settings:level"))

_VARIANT = str(Label("//rules/settings:variant"))

_SETTINGS = sorted(_RULES_RUST.values()) + sorted(_ORIGINAL.values()) + [_LEVEL, _VARIANT]

def _strip(name, values, keep_non_cpu_features):
    if name == "per_crate_rustc_flag":
        return strip_per_crate_cpu_flags(values, keep_non_cpu_features)
    return strip_cpu_flags(values, keep_non_cpu_features)

def _flags(value):
    # Bazel 4.2.3 hands a string_list setting over as a list; keep a copy.
    return list(value) if value else []

def variant_settings(originals, spec):
    """New values of _SETTINGS for one variant's build.

    Args:
      originals: dict[str, list[str]], rules_rust setting name -> the user's
        value.
      spec: struct, one of variant_specs(): `name`, `level`, `rustc_flags`.

    Returns:
      dict: values of _SETTINGS.
    """
    result = {_LEVEL: spec.level, _VARIANT: spec.name}
    for name, label in _RULES_RUST.items():
        flags = _strip(name, _flags(originals.get(name)), True)
        if name == "extra_rustc_flags":
            flags = flags + spec.rustc_flags
        result[label] = flags

        # Variant builds do not need the saved value: reset it, so their
        # configuration does not depend on where the split happened.
        result[_ORIGINAL[name]] = []
    return result

def baseline_settings(settings, baseline_cpu = "x86-64"):
    """New values of _SETTINGS for the launcher's baseline build.

    The user's flags without any `target-cpu` or `target-feature`, and
    `-Ctarget-cpu=<baseline_cpu>` at the end of `extra_rustc_flags` (after the
    toolchain's flags, for the launcher's crates; the launcher's own
    rustc_flags end with it too); the user's values as given are saved in
    the `original_*` settings for the level builds.

    Args:
      settings: dict, the incoming values of _SETTINGS.
      baseline_cpu: str, the target architecture's baseline CPU
        ("x86-64", aarch64's "generic").

    Returns:
      dict: values of _SETTINGS.
    """
    result = {_LEVEL: "", _VARIANT: ""}
    for name, label in _RULES_RUST.items():
        user = _flags(settings[label])
        flags = _strip(name, user, False)
        if name == "extra_rustc_flags":
            # After the toolchain's flags: its -Ctarget-cpu, if any, does not
            # reach the launcher's crates (the launcher's own rustc_flags end
            # with the same flag).
            flags = flags + ["-Ctarget-cpu=" + baseline_cpu]
        result[label] = flags
        result[_ORIGINAL[name]] = user
    return result

def _variants_split_impl(settings, attr):
    # The same check as multiarch_pack's, which also compares `arch` with
    # the Rust toolchain's target architecture.
    if attr.arch not in ARCHITECTURES:
        fail("attribute `arch`: unknown architecture \"{}\"; known: {}".format(attr.arch, ", ".join(ARCHITECTURES.keys())))
    specs, error = variant_specs(attr.levels, attr.variants, attr.use_variants, ARCHITECTURES[attr.arch])
    if error:
        fail(error)

    # multiarch_pack sits below baseline_transition (binary.bzl), which saved
    # the user's flags in the original_* settings.
    originals = {name: settings[_ORIGINAL[name]] for name in _RULES_RUST}

    # Split key = variant name (a level's is its rustc CPU name).
    return {spec.name: variant_settings(originals, spec) for spec in specs}

variants_split_transition = transition(
    implementation = _variants_split_impl,
    inputs = _SETTINGS,
    outputs = _SETTINGS,
)

_PLATFORMS = "//command_line_option:platforms"

def _baseline_impl(settings, attr):
    # The launcher must start on every CPU of its architecture, whatever CPU
    # the user's build sets globally. `arch` is a select() on the target
    # platform's CPU (binary.bzl); rust_multiarch_test has none (x86-64).
    arch = getattr(attr, "arch", None) or "x86_64"
    if arch not in ARCHITECTURES:
        fail("attribute `arch`: unknown architecture \"{}\"; known: {}".format(arch, ", ".join(ARCHITECTURES.keys())))
    result = baseline_settings(settings, ARCHITECTURES[arch].baseline_cpu)

    # The program's `platform`, which rules_rust 0.73.0's rust_binary
    # applies to itself (rust/private/rust.bzl:1085-1103, :1238-1259): the
    # launcher's `.pack` must share the launcher's configuration.
    if attr.platform:
        # The canonical form, as rules_rust's _resolve_platform writes it.
        platform = str(attr.platform)
        result[_PLATFORMS] = platform if platform.startswith("@") else "@" + platform
    else:
        result[_PLATFORMS] = settings[_PLATFORMS]
    return result

baseline_transition = transition(
    implementation = _baseline_impl,
    inputs = _SETTINGS + [_PLATFORMS],
    outputs = _SETTINGS + [_PLATFORMS],
)

# Exported for tests and documentation.
SETTINGS = _SETTINGS
RULES_RUST_SETTINGS = _RULES_RUST
BASELINE_LEVEL = BASELINE
