"""CPU names per architecture, and the x86-64 micro-architecture levels.

Per architecture (ARCHITECTURES, keyed by the target triple's first part as
rules_rust's ToolchainInfo.target_arch spells it): the `-Ctarget-cpu` and
`-Ctarget-feature` names rustc accepts, which validate the `variants`
attribute at analysis (variants.bzl), and the baseline CPU that every CPU of
the architecture runs. The name lists are generated from `rustc --print
target-cpus` / `--print target-features` and checked against the installed
rustc by tests/cpus_table.sh (tests/run_all.sh); `tests/cpus_table.sh
--update` rewrites them. Which features a variant *requires* at run time is
not listed here: `multiarch pack --rustc` asks the toolchain's rustc.

The levels (LEVELS, TARGET_CPUS, FEATURES) are x86-64's psABI levels: the
default variants, named by their rustc CPU names.
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

# BEGIN GENERATED x86_64 by tests/cpus_table.sh --update (rustc 1.95.0 (59807616e 2026-04-14)); do not edit
_X86_64_RUSTC_CPUS = [
    "alderlake",
    "amdfam10",
    "arrowlake",
    "arrowlake-s",
    "arrowlake_s",
    "athlon",
    "athlon-4",
    "athlon-fx",
    "athlon-mp",
    "athlon-tbird",
    "athlon-xp",
    "athlon64",
    "athlon64-sse3",
    "atom",
    "atom_sse4_2",
    "atom_sse4_2_movbe",
    "barcelona",
    "bdver1",
    "bdver2",
    "bdver3",
    "bdver4",
    "bonnell",
    "broadwell",
    "btver1",
    "btver2",
    "c3",
    "c3-2",
    "cannonlake",
    "cascadelake",
    "clearwaterforest",
    "cooperlake",
    "core-avx-i",
    "core-avx2",
    "core2",
    "core_2_duo_sse4_1",
    "core_2_duo_ssse3",
    "core_2nd_gen_avx",
    "core_3rd_gen_avx",
    "core_4th_gen_avx",
    "core_4th_gen_avx_tsx",
    "core_5th_gen_avx",
    "core_5th_gen_avx_tsx",
    "core_aes_pclmulqdq",
    "core_i7_sse4_2",
    "corei7",
    "corei7-avx",
    "diamondrapids",
    "emeraldrapids",
    "generic",
    "geode",
    "goldmont",
    "goldmont-plus",
    "goldmont_plus",
    "gracemont",
    "grandridge",
    "graniterapids",
    "graniterapids-d",
    "graniterapids_d",
    "haswell",
    "i386",
    "i486",
    "i586",
    "i686",
    "icelake-client",
    "icelake-server",
    "icelake_client",
    "icelake_server",
    "ivybridge",
    "k6",
    "k6-2",
    "k6-3",
    "k8",
    "k8-sse3",
    "knl",
    "knm",
    "lakemont",
    "lunarlake",
    "meteorlake",
    "mic_avx512",
    "nehalem",
    "nocona",
    "novalake",
    "opteron",
    "opteron-sse3",
    "pantherlake",
    "penryn",
    "pentium",
    "pentium-m",
    "pentium-mmx",
    "pentium2",
    "pentium3",
    "pentium3m",
    "pentium4",
    "pentium4m",
    "pentium_4",
    "pentium_4_sse3",
    "pentium_ii",
    "pentium_iii",
    "pentium_iii_no_xmm_regs",
    "pentium_m",
    "pentium_mmx",
    "pentium_pro",
    "pentiumpro",
    "prescott",
    "raptorlake",
    "rocketlake",
    "sandybridge",
    "sapphirerapids",
    "sierraforest",
    "silvermont",
    "skx",
    "skylake",
    "skylake-avx512",
    "skylake_avx512",
    "slm",
    "tigerlake",
    "tremont",
    "westmere",
    "wildcatlake",
    "winchip-c6",
    "winchip2",
    "x86-64",
    "x86-64-v2",
    "x86-64-v3",
    "x86-64-v4",
    "yonah",
    "znver1",
    "znver2",
    "znver3",
    "znver4",
    "znver5",
]

_X86_64_RUSTC_FEATURES = [
    "adx",
    "aes",
    "amx-avx512",
    "amx-bf16",
    "amx-complex",
    "amx-fp16",
    "amx-fp8",
    "amx-int8",
    "amx-movrs",
    "amx-tf32",
    "amx-tile",
    "apxf",
    "avx",
    "avx10.1",
    "avx10.2",
    "avx2",
    "avx512bf16",
    "avx512bitalg",
    "avx512bw",
    "avx512cd",
    "avx512dq",
    "avx512f",
    "avx512fp16",
    "avx512ifma",
    "avx512vbmi",
    "avx512vbmi2",
    "avx512vl",
    "avx512vnni",
    "avx512vp2intersect",
    "avx512vpopcntdq",
    "avxifma",
    "avxneconvert",
    "avxvnni",
    "avxvnniint16",
    "avxvnniint8",
    "bmi1",
    "bmi2",
    "cmpxchg16b",
    "crt-static",
    "ermsb",
    "f16c",
    "fma",
    "fxsr",
    "gfni",
    "kl",
    "lahfsahf",
    "lzcnt",
    "movbe",
    "movrs",
    "pclmulqdq",
    "popcnt",
    "prfchw",
    "rdrand",
    "rdseed",
    "rtm",
    "sha",
    "sha512",
    "sm3",
    "sm4",
    "sse",
    "sse2",
    "sse3",
    "sse4.1",
    "sse4.2",
    "sse4a",
    "ssse3",
    "tbm",
    "vaes",
    "vpclmulqdq",
    "widekl",
    "x87",
    "xop",
    "xsave",
    "xsavec",
    "xsaveopt",
    "xsaves",
]
# END GENERATED x86_64

# x86-64 (the launcher's table: launcher/src/arch/x86_64.rs).
X86_64 = struct(
    # rules_rust's ToolchainInfo.target_arch / triple().arch for it.
    arch = "x86_64",
    # The CPU every x86-64 CPU runs: the bundle's last variant, the launcher's.
    baseline_cpu = TARGET_CPUS[BASELINE],
    # `-Ctarget-cpu` values rustc accepts ("native" left out: it names the
    # build machine's CPU, so it is no variant's).
    cpus = _X86_64_RUSTC_CPUS,
    # `-Ctarget-feature` names rustc accepts (its "Features supported by
    # rustc" list; the LLVM-only ones after it are refused by rustc's cfg).
    features = _X86_64_RUSTC_FEATURES,
    # Target features that are no CPU feature: never a variant's.
    non_cpu_features = ["crt-static"],
    # Short level name -> `-Ctarget-cpu`: a variant with exactly one of these
    # CPUs and no feature is that level (//rules/settings:level).
    levels = TARGET_CPUS,
)

# BEGIN GENERATED aarch64 by tests/cpus_table.sh --update (rustc 1.95.0 (59807616e 2026-04-14)); do not edit
_AARCH64_RUSTC_CPUS = [
    "a64fx",
    "ampere1",
    "ampere1a",
    "ampere1b",
    "ampere1c",
    "apple-a10",
    "apple-a11",
    "apple-a12",
    "apple-a13",
    "apple-a14",
    "apple-a15",
    "apple-a16",
    "apple-a17",
    "apple-a7",
    "apple-m4",
    "apple-m5",
    "c1-nano",
    "c1-premium",
    "c1-pro",
    "c1-ultra",
    "carmel",
    "cortex-a320",
    "cortex-a34",
    "cortex-a35",
    "cortex-a510",
    "cortex-a520",
    "cortex-a520ae",
    "cortex-a53",
    "cortex-a55",
    "cortex-a57",
    "cortex-a65",
    "cortex-a65ae",
    "cortex-a710",
    "cortex-a715",
    "cortex-a72",
    "cortex-a720",
    "cortex-a720ae",
    "cortex-a725",
    "cortex-a73",
    "cortex-a75",
    "cortex-a76",
    "cortex-a76ae",
    "cortex-a77",
    "cortex-a78",
    "cortex-a78ae",
    "cortex-a78c",
    "cortex-r82",
    "cortex-r82ae",
    "cortex-x1",
    "cortex-x1c",
    "cortex-x2",
    "cortex-x3",
    "cortex-x4",
    "cortex-x925",
    "exynos-m3",
    "exynos-m4",
    "exynos-m5",
    "falkor",
    "fujitsu-monaka",
    "gb10",
    "generic",
    "grace",
    "kryo",
    "neoverse-512tvb",
    "neoverse-e1",
    "neoverse-n1",
    "neoverse-n2",
    "neoverse-n3",
    "neoverse-v1",
    "neoverse-v2",
    "neoverse-v3",
    "neoverse-v3ae",
    "olympus",
    "oryon-1",
    "saphira",
    "thunderx",
    "thunderx2t99",
    "thunderx3t110",
    "thunderxt81",
    "thunderxt83",
    "thunderxt88",
    "tsv110",
]

_AARCH64_RUSTC_FEATURES = [
    "aes",
    "bf16",
    "bti",
    "crc",
    "crt-static",
    "cssc",
    "dit",
    "dotprod",
    "dpb",
    "dpb2",
    "ecv",
    "f32mm",
    "f64mm",
    "faminmax",
    "fcma",
    "fhm",
    "flagm",
    "flagm2",
    "fp16",
    "fp8",
    "fp8dot2",
    "fp8dot4",
    "fp8fma",
    "frintts",
    "hbc",
    "i8mm",
    "jsconv",
    "lor",
    "lse",
    "lse128",
    "lse2",
    "lut",
    "mops",
    "mte",
    "neon",
    "outline-atomics",
    "paca",
    "pacg",
    "pan",
    "pauth-lr",
    "pmuv3",
    "rand",
    "ras",
    "rcpc",
    "rcpc2",
    "rcpc3",
    "rdm",
    "sb",
    "sha2",
    "sha3",
    "sm4",
    "sme",
    "sme-b16b16",
    "sme-f16f16",
    "sme-f64f64",
    "sme-f8f16",
    "sme-f8f32",
    "sme-fa64",
    "sme-i16i64",
    "sme-lutv2",
    "sme2",
    "sme2p1",
    "spe",
    "ssbs",
    "ssve-fp8dot2",
    "ssve-fp8dot4",
    "ssve-fp8fma",
    "sve",
    "sve-b16b16",
    "sve2",
    "sve2-aes",
    "sve2-bitperm",
    "sve2-sha3",
    "sve2-sm4",
    "sve2p1",
    "v8.1a",
    "v8.2a",
    "v8.3a",
    "v8.4a",
    "v8.5a",
    "v8.6a",
    "v8.7a",
    "v8.8a",
    "v8.9a",
    "v9.1a",
    "v9.2a",
    "v9.3a",
    "v9.4a",
    "v9.5a",
    "v9a",
    "vh",
    "wfxt",
]
# END GENERATED aarch64

# --- aarch64 (issue 13) -------------------------------------------------------
# The aarch64 tiers, best last: variant name -> rustc codegen flags. Feature
# lists on the baseline CPU, not CPU names: LLVM's neoverse-n2 and -v2 drop
# aes/sha2 while -n1 and -v1 have them, so CPU names do not nest, and A64FX
# (SVE but no dot product or RCpc) must land on the baseline. What each tier
# requires at run time is what rustc's cfg reports for these flags
# (`multiarch pack --rustc`), checked against AT_HWCAP/AT_HWCAP2 by the
# launcher (launcher/src/arch/aarch64.rs). The one table of the tiers:
# tests/arm64.sh and bench/arm64_size.sh read it from here. As variants:
#   {name: multiarch_variant(cpu = t["cpu"], features = t["features"])
#    for name, t in AARCH64_TIERS.items()}
#   a1: Cortex-A53/A72, Graviton1, A64FX (AT_HWCAP FP, ASIMD)
#   a2: Neoverse N1 (Graviton2, Altra), Apple M1
#   a3: Neoverse V1 (Graviton3)
#   a4: Neoverse N2/V2 (Graviton4, Grace), Cortex-A710 and later
AARCH64_TIERS = {
    "a1": {"cpu": "generic", "features": []},
    "a2": {"cpu": "generic", "features": ["+lse", "+rcpc", "+dotprod", "+fp16", "+rdm", "+crc"]},
    "a3": {"cpu": "generic", "features": ["+lse", "+rcpc", "+dotprod", "+fp16", "+rdm", "+crc", "+sve", "+i8mm", "+bf16"]},
    "a4": {"cpu": "generic", "features": ["+lse", "+rcpc", "+dotprod", "+fp16", "+rdm", "+crc", "+sve", "+i8mm", "+bf16", "+sve2"]},
}

# The aarch64 baseline tier: runs on every aarch64 CPU.
AARCH64_BASELINE_TIER = "a1"

# aarch64 (the launcher's table: launcher/src/arch/aarch64.rs).
AARCH64 = struct(
    arch = "aarch64",
    baseline_cpu = "generic",
    cpus = _AARCH64_RUSTC_CPUS,
    features = _AARCH64_RUSTC_FEATURES,
    non_cpu_features = ["crt-static"],
    # No levels: aarch64 variants are named by the user (AARCH64_TIERS).
    levels = {},
)

# Target architecture -> its table.
ARCHITECTURES = {
    AARCH64.arch: AARCH64,
    X86_64.arch: X86_64,
}
