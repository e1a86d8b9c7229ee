"""Reading rustc flag lists: which flags choose the CPU, and removing them.

rustc takes `-C` options as `-Cname=value`, `-C name=value` (two
arguments), `--codegen=name=value` or `--codegen name=value`. For
`target-cpu` the last one wins; `target-feature` values accumulate over
every occurrence (names may use `_` for `-`), so a `+avx2` anywhere cannot be undone by a later flag
except an explicit `-avx2`.

`crt-static` is the one target feature that is not about the CPU (it picks
static linking); it is kept wherever the user puts it.
"""

_CODEGEN = ("-C", "--codegen")

# Target features that do not depend on the CPU.
_NON_CPU_FEATURES = ["crt-static"]

def _codegen_value(flag):
    """The `name=value` of a one-argument `-C` flag, or None."""
    if flag.startswith("--codegen="):
        return flag[len("--codegen="):]
    if flag.startswith("--codegen "):
        return flag[len("--codegen "):].lstrip()
    if flag.startswith("-C") and flag not in _CODEGEN:
        return flag[2:].lstrip()
    return None

def parse_codegen(flags):
    """Splits a flag list into entries, joining two-argument `-C` flags.

    Args:
      flags: list[str], rustc arguments.

    Returns:
      list[struct]: one per flag, in order, with `args` (list[str], the
      original arguments) and `codegen` (str or None: the `name=value` of a
      `-C` flag).
    """
    entries = []
    skip = False
    for i, flag in enumerate(flags):
        if skip:
            skip = False
            continue
        if flag in _CODEGEN and i + 1 < len(flags):
            skip = True
            entries.append(struct(args = [flag, flags[i + 1]], codegen = flags[i + 1]))
        else:
            entries.append(struct(args = [flag], codegen = _codegen_value(flag)))
    return entries

def _cpu_features(value):
    """The CPU features a `target-feature=` value names (crt-static excluded)."""
    features = []
    for feature in value.split(","):
        name = feature.strip().lstrip("+-")
        if name and name not in _NON_CPU_FEATURES:
            features.append(feature.strip())
    return features

def _kept_features(value):
    """The non-CPU entries of a `target-feature=` value, as written."""
    kept = []
    for feature in value.split(","):
        if feature.strip().lstrip("+-") in _NON_CPU_FEATURES:
            kept.append(feature.strip())
    return kept

def _option(codegen):
    """(name, value) of a `-C` option; rustc accepts `_` for `-` in names."""
    eq = codegen.find("=")
    if eq == -1:
        return codegen.replace("_", "-"), None
    return codegen[:eq].replace("_", "-"), codegen[eq + 1:]

def cpu_flags(flags):
    """The flags that choose the CPU or CPU features.

    Args:
      flags: list[str], rustc arguments.

    Returns:
      list[str]: each offending flag as written (two-argument flags joined
      with a space), in order; empty when there is none.
    """
    found = []
    for entry in parse_codegen(flags):
        if entry.codegen == None:
            continue
        name, value = _option(entry.codegen)
        if name == "target-cpu":
            found.append(" ".join(entry.args))
        elif name == "target-feature" and _cpu_features(value or ""):
            found.append(" ".join(entry.args))
    return found

def strip_cpu_flags(flags, keep_non_cpu_features = True):
    """Removes every `target-cpu` and every CPU target feature.

    Keeps the order and repeats of every other flag (rustc's `-C` options
    are last-one-wins, and `--cfg a --cfg b` is two pairs): equal inputs give
    equal outputs, so equal builds share one configuration.

    Args:
      flags: list[str], rustc arguments.
      keep_non_cpu_features: bool, keep `crt-static` entries of a
        `target-feature` (as `-Ctarget-feature=<kept>`); False drops every
        `target-feature` flag.

    Returns:
      list[str]
    """
    result = []
    for entry in parse_codegen(flags):
        name, value = _option(entry.codegen) if entry.codegen != None else (None, None)
        if name == "target-cpu":
            continue
        if name == "target-feature":
            value = value or ""
            if not _cpu_features(value):
                if keep_non_cpu_features:
                    result.extend(entry.args)
                continue
            kept = _kept_features(value) if keep_non_cpu_features else []
            if kept:
                result.append("-Ctarget-feature=" + ",".join(kept))
            continue
        result.extend(entry.args)
    return result

def strip_per_crate_cpu_flags(values, keep_non_cpu_features = True):
    """strip_cpu_flags() for rules_rust's `per_crate_rustc_flag` values.

    Each value is `prefix_filter@flag` with a single flag (rules_rust 0.73.0
    rust/private/rustc.bzl:2987-2998).

    Args:
      values: list[str], the setting's values.
      keep_non_cpu_features: bool, as for strip_cpu_flags().

    Returns:
      list[str]: the values whose flag is not a CPU flag, CPU features
      removed from the `target-feature` ones.
    """
    result = []
    for value in values:
        at = value.find("@")
        if at == -1:
            # Malformed: rules_rust itself fails on it, naming it.
            result.append(value)
            continue
        flag = strip_cpu_flags([value[at + 1:]], keep_non_cpu_features)
        if flag:
            result.append(value[:at + 1] + flag[0])
    return result
