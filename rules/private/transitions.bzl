"""Configuration transitions: one build per x86-64 level, and a baseline build for the launcher.

Both set the same two settings, listed once in _SETTINGS:
- rules_rust's `extra_rustc_flags`, which rules_rust adds to every rustc
  invocation in the target configuration (not in the exec configuration,
  so build tools stay untouched);
- our `//rules/settings:level`, for `select()`.
"""

load(":cpus.bzl", "BASELINE", "TARGET_CPUS", "levels_error", "sorted_levels")

# `@rules_rust//:extra_rustc_flags` is the label rules_rust 0.1 - 0.7 define
# (the last releases that run on Bazel 4) and an alias of
# `//rust/settings:extra_rustc_flags` in current rules_rust, which Bazel 7+
# resolves in transitions. One label for both keeps this file identical.
_EXTRA_RUSTC_FLAGS = str(Label("@rules_rust//:extra_rustc_flags"))
_LEVEL = str(Label("//rules/settings:level"))

_SETTINGS = [_EXTRA_RUSTC_FLAGS, _LEVEL]

def _is_target_cpu_flag(flag):
    return (flag.startswith("-Ctarget-cpu=") or
            flag.startswith("-C target-cpu=") or
            flag.startswith("--codegen=target-cpu=") or
            flag.startswith("--codegen target-cpu="))

def strip_target_cpu(flags):
    """Drops every `-Ctarget-cpu` from a rustc flag list, and repeated flags.

    Keeps the order otherwise (rustc's `-C` options are last-one-wins, so
    sorting could change their meaning); the result is deterministic, so
    equal inputs give one configuration.

    Args:
      flags: list[str], values of `extra_rustc_flags`.

    Returns:
      list[str]: the flags without target-cpu settings.
    """
    result = []
    skip_next = False
    for i, flag in enumerate(flags):
        if skip_next:
            skip_next = False
            continue
        if flag in ("-C", "--codegen") and i + 1 < len(flags) and flags[i + 1].startswith("target-cpu="):
            skip_next = True
            continue
        if _is_target_cpu_flag(flag):
            continue
        if flag in result:
            result.remove(flag)
        result.append(flag)
    return result

def level_settings(settings, level):
    """New values of _SETTINGS for one level.

    Args:
      settings: dict, the incoming values of _SETTINGS.
      level: str, a short level name ("v1" ... "v4"), or "" for the launcher's
        baseline build (no `-Ctarget-cpu` at all, the rustc default x86-64).

    Returns:
      dict: values of _SETTINGS.
    """
    flags = strip_target_cpu(settings[_EXTRA_RUSTC_FLAGS])
    if level:
        flags = flags + ["-Ctarget-cpu=" + TARGET_CPUS[level]]
    return {
        _EXTRA_RUSTC_FLAGS: flags,
        _LEVEL: level,
    }

def _levels_split_impl(settings, attr):
    error = levels_error(attr.levels)
    if error:
        fail(error)
    return {
        TARGET_CPUS[level]: level_settings(settings, level)
        for level in sorted_levels(attr.levels)
    }

levels_split_transition = transition(
    implementation = _levels_split_impl,
    inputs = _SETTINGS,
    outputs = _SETTINGS,
)

def _baseline_impl(settings, attr):
    # The launcher must start on every x86-64 CPU, whatever -Ctarget-cpu the
    # user's build sets globally.
    _ignore = attr  # @unused
    return level_settings(settings, "")

baseline_transition = transition(
    implementation = _baseline_impl,
    inputs = _SETTINGS,
    outputs = _SETTINGS,
)

# Exported for tests and documentation.
SETTINGS = _SETTINGS
BASELINE_LEVEL = BASELINE
