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
    want_cpus = sorted([TARGET_CPUS[level] for level in expected])
    if sorted(info.variants.keys()) != want_cpus:
        errors.append("variants: got {}, want {}".format(sorted(info.variants.keys()), want_cpus))
    groups = target[OutputGroupInfo]
    for cpu in TARGET_CPUS.values():
        present = getattr(groups, cpu, None) != None
        if present != (cpu in want_cpus):
            errors.append("output group {}: present={}, want {}".format(cpu, present, cpu in want_cpus))
    for group in ["multiarch_variants", "multiarch_generated_source", "multiarch_debug"]:
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
            doc = "The levels the bundle should embed, baseline first.",
            mandatory = True,
        ),
        "target_under_test": attr.label(
            doc = "A rust_multiarch_binary.",
            providers = [MultiarchInfo],
            mandatory = True,
        ),
    },
    analysis_test = True,
)
