"""The aarch64 table (issue 13): the tiers of cpus.bzl are valid variants, and
an unknown aarch64 CPU or feature fails analysis naming it.

A native analysis_test rule (skylib's unittest is not available offline).
"""

load("@rules_rust_multiarch//rules:defs.bzl", "multiarch_variant")

# Unit tests of private helpers (rules/ARCHITECTURE.md allows these).
# buildifier: disable=bzl-visibility
load("@rules_rust_multiarch//rules/private:cpus.bzl", "AARCH64_TIERS", "ARCHITECTURES")

# buildifier: disable=bzl-visibility
load("@rules_rust_multiarch//rules/private:variants.bzl", "variant_specs")

_AARCH64 = ARCHITECTURES["aarch64"]

_TIERS = {
    name: multiarch_variant(cpu = tier["cpu"], features = tier["features"])
    for name, tier in AARCH64_TIERS.items()
}

def _expect_error(errors, what, variants, *parts):
    got = variant_specs([], variants, True, _AARCH64)[1]
    if not got:
        errors.append("{}: accepted, want an error containing {}".format(what, parts))
        return
    for part in parts:
        if part not in got:
            errors.append("{}: error\n  {}\n  lacks {}".format(what, got, repr(part)))

def _aarch64_unit_test_impl(ctx):
    _ignore = ctx  # @unused
    errors = []
    specs, error = variant_specs([], _TIERS, True, _AARCH64)
    if error:
        errors.append("the tiers: " + error)
    if [s.name for s in specs] != ["a1", "a2", "a3", "a4"]:
        errors.append("the tiers: names {}".format([s.name for s in specs]))
    if specs and specs[-1].rustc_flags != [
        "-Ctarget-cpu=generic",
        "-Ctarget-feature=+bf16,+crc,+dotprod,+fp16,+i8mm,+lse,+rcpc,+rdm,+sve,+sve2",
    ]:
        errors.append("a4: flags {}".format(specs[-1].rustc_flags))
    a1 = {"a1": _TIERS["a1"]}
    _expect_error(errors, "x86 feature on aarch64", dict(a1, bad = multiarch_variant(cpu = "generic", features = ["+avx2"])), "\"bad\"", "avx2")
    _expect_error(errors, "misspelt aarch64 feature", dict(a1, bad = multiarch_variant(features = ["+sve3"])), "sve3")
    _expect_error(errors, "x86 CPU on aarch64", dict(a1, bad = multiarch_variant(cpu = "znver4")), "znver4")
    _expect_error(errors, "no baseline", {"a4": _TIERS["a4"]}, "baseline", "generic")
    return [AnalysisTestResultInfo(success = not errors, message = "\n".join(errors))]

aarch64_unit_test = rule(
    doc = "Checks the aarch64 tiers and the aarch64 errors of variant_specs().",
    implementation = _aarch64_unit_test_impl,
    analysis_test = True,
)
