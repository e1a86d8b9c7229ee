"""Variants: a name and the rustc codegen flags of one build of the program.

A variant is written as the list of its rustc flags, which is what a
`string_list_dict` attribute can carry:

    ["-Ctarget-cpu=x86-64-v3", "-Ctarget-feature=+aes,+pclmulqdq,+sha"]

`multiarch_variant(cpu = ..., features = [...])` writes that list.
`variant_specs()` checks `levels` / `variants` against the architecture's
table (cpus.bzl) and returns one struct per variant; the transition
(transitions.bzl) and the pack rule (pack.bzl) both call it, so they agree
on the names and flags. Which CPU features a variant *requires* is not
decided here: `multiarch pack --rustc` asks the toolchain's rustc.
"""

load(":cpus.bzl", "AARCH64_TIERS", "LEVELS", "TARGET_CPUS", "levels_error", "sorted_levels")

_CPU_FLAG = "-Ctarget-cpu="
_FEATURE_FLAG = "-Ctarget-feature="

# Variant names: `[a-z0-9][a-z0-9._-]{0,31}` (they become file names, output
# group names, memfd names and MULTIARCH_LEVEL values).
_NAME_FIRST = "abcdefghijklmnopqrstuvwxyz0123456789"
_NAME_REST = _NAME_FIRST + "._-"
_NAME_MAX = 32

# Output groups of the bundle that are not variants start with this
# (binary.bzl); variant names may not.
RESERVED_PREFIX = "multiarch_"

_NAME_RULE = "1-32 characters of a-z, 0-9, '.', '_', '-', starting with a letter or digit"

def multiarch_variant(cpu = None, features = []):
    """One variant of `rust_multiarch_binary(variants = {NAME: ...})`.

    Args:
      cpu: str, the rustc `-Ctarget-cpu` (a name `rustc --print target-cpus`
        lists, e.g. "znver4", "sapphirerapids", "x86-64-v3"); None: the
        architecture's baseline ("x86-64").
      features: list[str], target features to add on top of the CPU's, as
        `-Ctarget-feature` spells them: "+aes", "+sha" (names `rustc --print
        target-features` lists).

    Returns:
      list[str]: the variant's rustc flags, `-Ctarget-cpu=CPU` and, with
      features, one `-Ctarget-feature=+a,+b`.
    """
    flags = [_CPU_FLAG + cpu] if cpu else []
    if features:
        flags.append(_FEATURE_FLAG + ",".join(features))
    return flags

# The aarch64 tiers of cpus.bzl (AARCH64_TIERS) as `variants`: a1 (baseline,
# every aarch64 CPU), a2 (Neoverse N1: Graviton2, Altra; Apple M1), a3
# (Neoverse V1: Graviton3), a4 (Neoverse N2/V2: Graviton4, Grace). For
# `rust_multiarch_binary(variants = AARCH64_VARIANTS)` built with
# `--platforms` for linux/aarch64.
AARCH64_VARIANTS = {
    name: multiarch_variant(cpu = tier["cpu"], features = tier["features"])
    for name, tier in AARCH64_TIERS.items()
}

def name_error(name):
    """Why `name` is not a valid variant name, or "".

    Args:
      name: str

    Returns:
      str
    """
    if not name or len(name) > _NAME_MAX:
        return "must be " + _NAME_RULE
    for i in range(len(name)):
        if name[i] not in (_NAME_REST if i else _NAME_FIRST):
            return "must be " + _NAME_RULE
    return ""

def _close_names(name, names):
    """Up to five of `names` sharing the longest prefix (at least 3 characters) with `name`."""
    best = 3
    found = []
    for known in names:
        n = 0
        for i in range(min(len(name), len(known))):
            if name[i] != known[i]:
                break
            n = i + 1
        if n > best:
            best = n
            found = [known]
        elif n == best:
            found.append(known)
    return found[:5]

def _unknown(what, name, names, command):
    close = _close_names(name, names)
    hint = " (close: {})".format(", ".join(["\"{}\"".format(c) for c in close])) if close else ""
    return "unknown {} \"{}\"{}; `{}` lists the names this rustc accepts".format(what, name, hint, command)

def _parse(name, flags, arch):
    """(cpu, sorted features, error) of one variant's flags."""
    cpu = None
    features = []
    for flag in flags:
        if flag.startswith(_CPU_FLAG):
            if cpu != None:
                return None, None, "gives -Ctarget-cpu twice: give one CPU per variant"
            cpu = flag[len(_CPU_FLAG):]
        elif flag.startswith(_FEATURE_FLAG):
            for feature in flag[len(_FEATURE_FLAG):].split(","):
                feature = feature.strip()
                if not feature.startswith("+"):
                    return None, None, ("feature \"{}\": write features to add as \"+name\" (a variant " +
                                        "adds features to its CPU; to drop some, choose a lower CPU)").format(feature)
                feature = feature[1:]
                if feature in arch.non_cpu_features:
                    return None, None, ("feature \"{}\" is not a CPU feature: put it in `rustc_flags`, " +
                                        "which every variant gets").format(feature)
                if feature not in arch.features:
                    return None, None, _unknown("feature", feature, arch.features, "rustc --print target-features")
                if feature in features:
                    return None, None, "feature \"+{}\" given twice".format(feature)
                features.append(feature)
        else:
            return None, None, ("\"{}\" is not -Ctarget-cpu=CPU or -Ctarget-feature=+FEATURE,...: " +
                                "write the variant as multiarch_variant(cpu = ..., features = [...])").format(flag)
    if cpu == None:
        cpu = arch.baseline_cpu
    if cpu == "native":
        return None, None, "-Ctarget-cpu=native names the build machine's CPU: name a CPU (`rustc --print target-cpus`)"
    if cpu not in arch.cpus:
        return None, None, _unknown("CPU", cpu, arch.cpus, "rustc --print target-cpus")
    return cpu, sorted(features), ""

def _spec(name, cpu, features, arch):
    level = ""
    if not features:
        for short, level_cpu in arch.levels.items():
            if level_cpu == cpu:
                level = short
    flags = [_CPU_FLAG + cpu]
    if features:
        flags.append(_FEATURE_FLAG + ",".join(["+" + f for f in features]))
    return struct(
        name = name,
        cpu = cpu,
        features = features,
        level = level,
        rustc_flags = flags,
    )

def variant_specs(levels, variants, use_variants, arch):
    """The variants of a bundle, checked.

    Args:
      levels: list[str], the `levels` attribute (short names; ignored when
        `use_variants`, except that it must then be empty).
      variants: dict[str, list[str]], the `variants` attribute: name -> rustc
        flags (multiarch_variant()).
      use_variants: bool, whether the bundle declares `variants`.
      arch: struct, the architecture's table (cpus.bzl ARCHITECTURES).

    Returns:
      (list[struct], str): the variants in the order given (levels: baseline
      first), each with `name`, `cpu`, `features` (sorted names, no "+"),
      `level` (the short level name when the flags are exactly a level's,
      else "") and `rustc_flags`; and an error naming the attribute and the
      fix, or "" (the list is then empty).
    """
    if not use_variants:
        if not arch.levels:
            return [], ("attribute `levels` names x86-64 levels, and this bundle is built for {0}: " +
                        "give `variants` instead (the {0} tiers: `variants = AARCH64_VARIANTS`, " +
                        "loaded from @rules_rust_multiarch//rules:defs.bzl)").format(arch.arch)
        error = levels_error(levels)
        if error:
            return [], error
        return [_spec(TARGET_CPUS[level], TARGET_CPUS[level], [], arch) for level in sorted_levels(levels)], ""
    if levels:
        return [], ("attributes `levels` and `variants` are exclusive: give the levels as variants " +
                    "too (e.g. \"x86-64-v3\": multiarch_variant(cpu = \"x86-64-v3\")) and drop `levels`")
    if not variants:
        return [], ("attribute `variants` must not be empty: give at least the baseline, " +
                    "\"{0}\": multiarch_variant(cpu = \"{0}\")").format(arch.baseline_cpu)

    # (A dict cannot repeat a name: Starlark rejects the BUILD file.)
    specs = []
    for name, flags in variants.items():
        error = name_error(name)
        if error:
            return [], "attribute `variants`: name \"{}\" {}".format(name, error)
        if name.startswith(RESERVED_PREFIX):
            return [], ("attribute `variants`: name \"{}\": names starting with \"{}\" are the " +
                        "bundle's own output groups; rename it").format(name, RESERVED_PREFIX)
        if name in LEVELS:
            return [], ("attribute `variants`: name \"{}\" is a short level name: name the level " +
                        "variant \"{}\" (its rustc CPU name)").format(name, TARGET_CPUS[name])
        cpu, features, error = _parse(name, flags, arch)
        if error:
            return [], "attribute `variants`: variant \"{}\": {}".format(name, error)
        spec = _spec(name, cpu, features, arch)
        if name in arch.levels.values() and (cpu != name or features):
            return [], ("attribute `variants`: variant \"{}\" is named after a level but builds {}: " +
                        "the level names mean the levels; rename it").format(name, " ".join(spec.rustc_flags))
        for other in specs:
            if other.rustc_flags == spec.rustc_flags:
                return [], ("attribute `variants`: variants \"{}\" and \"{}\" both build {}: " +
                            "give each set of flags once").format(other.name, name, " ".join(spec.rustc_flags))
        specs.append(spec)
    if not [s for s in specs if s.cpu == arch.baseline_cpu and not s.features]:
        return [], ("attribute `variants` has no baseline variant (one that every {0} CPU runs): " +
                    "add \"{1}\": multiarch_variant(cpu = \"{1}\")").format(arch.arch.replace("_", "-"), arch.baseline_cpu)
    return specs, ""
