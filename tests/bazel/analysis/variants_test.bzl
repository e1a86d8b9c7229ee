"""Tests of the `variants` attribute: its checks (pure), and the pack action a bundle gets.

Native analysis_test rules (skylib's unittest and analysistest are not
available offline).
"""

load("@rules_rust_multiarch//rules:defs.bzl", "multiarch_variant")

# Unit tests of private helpers (rules/ARCHITECTURE.md allows these).
# buildifier: disable=bzl-visibility
load("@rules_rust_multiarch//rules/private:cpus.bzl", "X86_64")

# buildifier: disable=bzl-visibility
load("@rules_rust_multiarch//rules/private:pack.bzl", "toolchain_target")

# buildifier: disable=bzl-visibility
load("@rules_rust_multiarch//rules/private:variants.bzl", "name_error", "variant_specs")

def _check(errors, name, got, want):
    if got != want:
        errors.append("{}:\n  got  {}\n  want {}".format(name, got, want))

def _error(variants, levels = [], use_variants = True):
    return variant_specs(levels, variants, use_variants, X86_64)[1]

def _expect_error(errors, name, variants, *parts):
    got = _error(variants)
    if not got:
        errors.append("{}: accepted, want an error containing {}".format(name, parts))
        return
    for part in parts:
        if part not in got:
            errors.append("{}: error\n  {}\n  lacks {}".format(name, got, repr(part)))

_BASE = {"x86-64": multiarch_variant(cpu = "x86-64")}

def _variants_unit_test_impl(ctx):
    _ignore = ctx  # @unused
    errors = []

    # The helper writes the variant's rustc flags.
    _check(errors, "multiarch_variant(cpu)", multiarch_variant(cpu = "znver4"), ["-Ctarget-cpu=znver4"])
    _check(errors, "multiarch_variant(cpu, features)", multiarch_variant(cpu = "x86-64-v3", features = ["+aes", "+sha"]), [
        "-Ctarget-cpu=x86-64-v3",
        "-Ctarget-feature=+aes,+sha",
    ])
    _check(errors, "multiarch_variant(features)", multiarch_variant(features = ["+avx2"]), ["-Ctarget-feature=+avx2"])

    # Good variants: order kept, features sorted, levels recognised.
    specs, error = variant_specs([], dict(_BASE, **{
        "crypto": multiarch_variant(cpu = "x86-64-v3", features = ["+sha", "+aes", "+pclmulqdq"]),
        "znver4": multiarch_variant(cpu = "znver4"),
        "x86-64-v3": multiarch_variant(cpu = "x86-64-v3"),
        "avx2-only": multiarch_variant(features = ["+avx2"]),
        "v3.also_0": ["-Ctarget-cpu=x86-64-v3", "-Ctarget-feature=+aes", "-Ctarget-feature=+sha"],
    }), True, X86_64)
    _check(errors, "good: error", error, "")
    _check(errors, "good: names", [s.name for s in specs], ["x86-64", "crypto", "znver4", "x86-64-v3", "avx2-only", "v3.also_0"])
    _check(errors, "good: levels", [s.level for s in specs], ["v1", "", "", "v3", "", ""])
    _check(errors, "good: crypto flags", specs[1].rustc_flags, ["-Ctarget-cpu=x86-64-v3", "-Ctarget-feature=+aes,+pclmulqdq,+sha"])
    _check(errors, "good: crypto features", specs[1].features, ["aes", "pclmulqdq", "sha"])
    _check(errors, "good: features only -> baseline CPU", specs[4].rustc_flags, ["-Ctarget-cpu=x86-64", "-Ctarget-feature=+avx2"])
    _check(errors, "good: two feature flags", specs[5].rustc_flags, ["-Ctarget-cpu=x86-64-v3", "-Ctarget-feature=+aes,+sha"])

    # `levels`: level variants named by their CPU, baseline first.
    specs, error = variant_specs(["v3", "v1"], {}, False, X86_64)
    _check(errors, "levels", [(s.name, s.level, s.rustc_flags) for s in specs], [
        ("x86-64", "v1", ["-Ctarget-cpu=x86-64"]),
        ("x86-64-v3", "v3", ["-Ctarget-cpu=x86-64-v3"]),
    ])
    _check(errors, "levels v5", variant_specs(["v1", "v5"], {}, False, X86_64)[1][:38], "attribute `levels`: unknown level \"v5\"")

    # Bad input: each error names the attribute and the fix.
    _expect_error(errors, "unknown CPU", dict(_BASE, **{"z": multiarch_variant(cpu = "znver9")}), "attribute `variants`", "variant \"z\"", "unknown CPU \"znver9\"", "znver4", "rustc --print target-cpus")
    _expect_error(errors, "native", dict(_BASE, **{"n": multiarch_variant(cpu = "native")}), "attribute `variants`", "-Ctarget-cpu=native", "name a CPU")
    _expect_error(errors, "unknown feature", dict(_BASE, **{"f": multiarch_variant(cpu = "x86-64-v3", features = ["+avx512fp17"])}), "attribute `variants`", "unknown feature \"avx512fp17\"", "avx512fp16", "rustc --print target-features")
    _expect_error(errors, "LLVM-only feature", dict(_BASE, **{"f": multiarch_variant(features = ["+branchfusion"])}), "unknown feature \"branchfusion\"")
    _expect_error(errors, "feature without +", dict(_BASE, **{"f": multiarch_variant(features = ["aes"])}), "feature \"aes\"", "\"+name\"")
    _expect_error(errors, "feature removed", dict(_BASE, **{"f": multiarch_variant(cpu = "znver4", features = ["-avx512f"])}), "feature \"-avx512f\"", "choose a lower CPU")
    _expect_error(errors, "crt-static", dict(_BASE, **{"f": multiarch_variant(features = ["+crt-static"])}), "\"crt-static\" is not a CPU feature", "`rustc_flags`")
    _expect_error(errors, "feature twice", dict(_BASE, **{"f": ["-Ctarget-feature=+aes", "-Ctarget-feature=+aes"]}), "\"+aes\" given twice")
    _expect_error(errors, "cpu twice", dict(_BASE, **{"f": ["-Ctarget-cpu=znver4", "-Ctarget-cpu=znver3"]}), "-Ctarget-cpu twice")
    _expect_error(errors, "other flag", dict(_BASE, **{"f": ["-Copt-level=3"]}), "\"-Copt-level=3\" is not -Ctarget-cpu", "multiarch_variant(")
    _expect_error(errors, "same flags", dict(_BASE, **{"a": multiarch_variant(cpu = "znver4"), "b": ["-Ctarget-cpu=znver4"]}), "variants \"a\" and \"b\" both build -Ctarget-cpu=znver4")
    _expect_error(errors, "no baseline", {"x86-64-v3": multiarch_variant(cpu = "x86-64-v3"), "z": multiarch_variant(cpu = "x86-64", features = ["+aes"])}, "attribute `variants` has no baseline variant", "every x86-64 CPU", "\"x86-64\": multiarch_variant(cpu = \"x86-64\")")
    _expect_error(errors, "empty", {}, "attribute `variants` must not be empty")
    _expect_error(errors, "short level name", dict(_BASE, **{"v3": multiarch_variant(cpu = "x86-64-v3")}), "name \"v3\" is a short level name", "\"x86-64-v3\"")
    _expect_error(errors, "level name, other flags", dict(_BASE, **{"x86-64-v4": multiarch_variant(cpu = "znver4")}), "\"x86-64-v4\" is named after a level but builds -Ctarget-cpu=znver4")
    for bad in ["", "Znver4", "-a", ".a", "a/b", "a b", "a" * 33, "zen4+"]:
        _expect_error(errors, "bad name " + repr(bad), dict(_BASE, **{bad: multiarch_variant(cpu = "znver4")}), "attribute `variants`: name \"{}\" must be 1-32 characters".format(bad))
    _expect_error(errors, "reserved name", dict(_BASE, **{"multiarch_variants": multiarch_variant(cpu = "znver4")}), "names starting with \"multiarch_\" are the bundle's own output groups")
    _check(errors, "name_error(32 chars)", name_error("a" * 32), "")
    _check(errors, "name_error(0a._-)", name_error("0a._-"), "")
    _check(errors, "exclusive", _error(_BASE, levels = ["v1"]), "attributes `levels` and `variants` are exclusive: give the levels as variants too (e.g. \"x86-64-v3\": multiarch_variant(cpu = \"x86-64-v3\")) and drop `levels`")

    # The toolchain's target as rules_rust 0.73.0 (a triple struct) and
    # 0.7.0 (a string) give it.
    _check(errors, "toolchain 0.73", toolchain_target(struct(
        target_arch = "x86_64",
        target_triple = struct(arch = "x86_64", str = "x86_64-unknown-linux-gnu"),
    )), ("x86_64-unknown-linux-gnu", "x86_64"))
    _check(errors, "toolchain 0.7.0", toolchain_target(struct(
        target_arch = "x86_64",
        target_triple = "x86_64-unknown-linux-gnu",
    )), ("x86_64-unknown-linux-gnu", "x86_64"))
    _check(errors, "toolchain target_json", toolchain_target(struct(target_arch = "x86_64", target_triple = None)), (None, "x86_64"))
    return [AnalysisTestResultInfo(success = not errors, message = "\n".join(errors))]

variants_unit_test = rule(
    doc = "Checks variant_specs() (names, flags, every error), multiarch_variant() and toolchain_target() on fixed inputs.",
    implementation = _variants_unit_test_impl,
    analysis_test = True,
)

def _pack_args_test_impl(ctx):
    target = ctx.attr.target_under_test
    errors = []
    actions = [a for a in target.actions if a.mnemonic == "MultiarchPack"]
    if len(actions) != 1:
        return [AnalysisTestResultInfo(success = False, message = "want one MultiarchPack action, got {}".format(len(actions)))]
    argv = actions[0].argv
    pairs = {}
    for i in range(len(argv) - 1):
        if argv[i].startswith("--"):
            pairs.setdefault(argv[i], []).append(argv[i + 1])
    rustc = pairs.get("--rustc", [""])
    if len(rustc) != 1 or not rustc[0].endswith("/rustc"):
        errors.append("--rustc: {}".format(rustc))
    elif rustc[0] not in [f.path for f in actions[0].inputs.to_list()]:
        errors.append("rustc {} is not an input of the pack action".format(rustc[0]))
    _check(errors, "--target", pairs.get("--target"), ["x86_64-unknown-linux-gnu"])
    _check(errors, "--variant names", [v.split("=")[0] for v in pairs.get("--variant", [])], ctx.attr.expected_variants)
    for v in pairs.get("--variant", []):
        name, path = v.split("=", 1)
        if not path.endswith("/{}/{}".format(name, ctx.attr.program)):
            errors.append("--variant {}: path {}".format(name, path))
    _check(errors, "--target-cpu", pairs.get("--target-cpu"), ctx.attr.expected_target_cpus)
    _check(errors, "--target-features", pairs.get("--target-features", []), ctx.attr.expected_target_features)
    return [AnalysisTestResultInfo(success = not errors, message = "\n".join(errors))]

pack_args_test = rule(
    doc = "Checks the `multiarch pack` command line of a rust_multiarch_binary's `.pack` target.",
    implementation = _pack_args_test_impl,
    attrs = {
        "expected_target_cpus": attr.string_list(doc = "The --target-cpu values, NAME=CPU, in order."),
        "expected_target_features": attr.string_list(doc = "The --target-features values, NAME=+a,+b, in order."),
        "expected_variants": attr.string_list(doc = "The --variant names, in order."),
        "program": attr.string(doc = "The bundle's name (the variant files' basename)."),
        "target_under_test": attr.label(doc = "A `<name>.pack` target.", mandatory = True),
    },
    analysis_test = True,
)
