"""x86-64 micro-architecture levels: names, `-Ctarget-cpu` values and what the launcher detects.

The launcher (launcher/src/detect.rs) checks these CPUID features at run time;
the table here documents the contract and validates the `levels` attribute.
"""

# Short level names, baseline first. The `levels` attribute takes these.
LEVELS = ["v1", "v2", "v3", "v4"]

# Short level name -> rustc `-Ctarget-cpu` value (also the key of every
# per-level output: MultiarchInfo.variants, output groups, the pack step).
TARGET_CPUS = {
    "v1": "x86-64",
    "v2": "x86-64-v2",
    "v3": "x86-64-v3",
    "v4": "x86-64-v4",
}

# `-Ctarget-cpu` value -> target features it adds over the level below, as
# rustc's `cfg!(target_feature = ...)` spells them. The launcher picks the
# highest level whose features (and those of every level below) the CPU and
# OS support.
FEATURES = {
    "x86-64": ["fxsr", "sse", "sse2"],
    "x86-64-v2": ["cmpxchg16b", "popcnt", "sse3", "sse4.1", "sse4.2", "ssse3"],
    "x86-64-v3": ["avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "lzcnt", "movbe", "xsave"],
    "x86-64-v4": ["avx512bw", "avx512cd", "avx512dq", "avx512f", "avx512vl"],
}

BASELINE = "v1"

def levels_error(levels):
    """Checks a `levels` attribute value.

    Args:
      levels: list[str], the attribute value.

    Returns:
      str: an error message naming the attribute and its allowed values, or
      "" when the value is fine.
    """
    allowed = ", ".join(["\"{}\"".format(level) for level in LEVELS])
    if not levels:
        return "attribute `levels` must not be empty: give a subset of [{}] that contains \"{}\"".format(allowed, BASELINE)
    seen = {}
    for level in levels:
        if level not in TARGET_CPUS:
            return "attribute `levels`: unknown level \"{}\"; allowed values are {}".format(level, allowed)
        if level in seen:
            return "attribute `levels`: duplicate level \"{}\"; each of {} may appear once".format(level, allowed)
        seen[level] = True
    if BASELINE not in seen:
        return "attribute `levels` must contain the baseline \"{}\" (it runs on every x86-64 CPU); allowed values are {}".format(BASELINE, allowed)
    return ""

def sorted_levels(levels):
    """Orders levels baseline first, as LEVELS does.

    Args:
      levels: list[str], valid short level names.

    Returns:
      list[str]: the same names in LEVELS order.
    """
    return [level for level in LEVELS if level in levels]

# --- aarch64 (issue 13) -------------------------------------------------------
# The aarch64 tiers, best last: variant name -> rustc codegen flags. Feature
# lists on the baseline CPU, not CPU names: LLVM's neoverse-n2 and -v2 drop
# aes/sha2 while -n1 and -v1 have them, so CPU names do not nest, and A64FX
# (SVE but no dot product or RCpc) must land on the baseline. What each tier
# requires at run time is what rustc's cfg reports for these flags
# (`multiarch pack --rustc`), checked against AT_HWCAP/AT_HWCAP2 by the
# launcher (launcher/src/arch/aarch64.rs). The one table of the tiers:
# tests/arm64.sh and bench/arm64_size.sh read it from here.
#   a1: Cortex-A53/A72, Graviton1, A64FX (AT_HWCAP FP, ASIMD)
#   a2: Neoverse N1 (Graviton2, Altra), Apple M1
#   a3: Neoverse V1 (Graviton3)
#   a4: Neoverse N2/V2 (Graviton4, Grace), Cortex-A710 and later
AARCH64_TIERS = {
    "a1": {"cpu": "generic", "features": ""},
    "a2": {"cpu": "generic", "features": "+lse,+rcpc,+dotprod,+fp16,+rdm,+crc"},
    "a3": {"cpu": "generic", "features": "+lse,+rcpc,+dotprod,+fp16,+rdm,+crc,+sve,+i8mm,+bf16"},
    "a4": {"cpu": "generic", "features": "+lse,+rcpc,+dotprod,+fp16,+rdm,+crc,+sve,+i8mm,+bf16,+sve2"},
}

# The aarch64 baseline tier: runs on every aarch64 CPU.
AARCH64_BASELINE_TIER = "a1"
