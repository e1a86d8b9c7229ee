"""Analysis tests of rust_multiarch_binary's MultiarchInfo and output groups.

Written against Bazel's native analysis-test API (skylib's analysistest is
not available offline): a rule with analysis_test = True returning
AnalysisTestResultInfo.
"""

load("@rules_rust_multiarch//rules:defs.bzl", "MultiarchInfo", "TARGET_CPUS")

def _multiarch_info_test_impl(ctx):
    target = ctx.attr.target_under_test
    info = target[MultiarchInfo]
    errors = []
    expected = ctx.attr.expected_levels
    if info.levels != expected:
        errors.append("levels: got {}, want {}".format(info.levels, expected))
    want_variants = ctx.attr.expected_variants or [TARGET_CPUS[level] for level in expected]
    if list(info.variants.keys()) != want_variants:
        errors.append("variants: got {}, want {}".format(list(info.variants.keys()), want_variants))
    if list(info.rustc_flags.keys()) != want_variants:
        errors.append("rustc_flags: got {}, want keys {}".format(info.rustc_flags, want_variants))
    for name, flags in ctx.attr.expected_rustc_flags.items():
        if info.rustc_flags.get(name) != flags:
            errors.append("rustc_flags[{}]: got {}, want {}".format(name, info.rustc_flags.get(name), flags))
    groups = target[OutputGroupInfo]
    for name in want_variants + [cpu for cpu in TARGET_CPUS.values() if cpu not in want_variants]:
        present = getattr(groups, name, None) != None
        if present != (name in want_variants):
            errors.append("output group {}: present={}, want {}".format(name, present, name in want_variants))
        elif present and groups[name].to_list() != [info.variants[name]]:
            errors.append("output group {}: {}, want the variant's build".format(name, groups[name].to_list()))
    if groups.multiarch_variants.to_list() != info.variants.values():
        errors.append("multiarch_variants: {}".format(groups.multiarch_variants.to_list()))
    for group in ["multiarch_variants", "multiarch_generated_source"]:
        if getattr(groups, group, None) == None:
            errors.append("output group {} missing".format(group))
    if info.generated_source.basename != "main.rs":
        errors.append("generated_source: {}".format(info.generated_source.path))
    name = target.label.name
    if info.bundle.short_path.split("/")[-2:] != [name, name]:
        errors.append("bundle should be <name>/<name>, is {}".format(info.bundle.short_path))
    executable = target[DefaultInfo].files_to_run.executable
    if executable != info.bundle:
        errors.append("DefaultInfo executable {} is not the bundle".format(executable))
    for cpu, file in info.variants.items():
        if "-exec-" in file.path:
            errors.append("{} build is in an exec configuration: {}".format(cpu, file.path))
    return [AnalysisTestResultInfo(success = not errors, message = "\n".join(errors))]

multiarch_info_test = rule(
    doc = "Checks MultiarchInfo, the output groups and the bundle executable of a rust_multiarch_binary.",
    implementation = _multiarch_info_test_impl,
    attrs = {
        "expected_levels": attr.string_list(
            doc = "The level variants the bundle should embed, as short names, in MultiarchInfo.levels order.",
        ),
        "expected_rustc_flags": attr.string_list_dict(
            doc = "Variant name -> its rustc flags (MultiarchInfo.rustc_flags), for the variants given.",
        ),
        "expected_variants": attr.string_list(
            doc = "The variant names in order; default: those of `expected_levels`.",
        ),
        "target_under_test": attr.label(
            doc = "A rust_multiarch_binary.",
            providers = [MultiarchInfo],
            mandatory = True,
        ),
    },
    analysis_test = True,
)
