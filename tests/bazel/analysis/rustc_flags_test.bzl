"""Unit tests of the rustc-flag helpers, the rules_rust probe and the transitions' settings.

Native analysis_test rules (skylib's unittest is not available offline):
each compares helper results with expected values and reports every
mismatch.
"""

load("@rules_rust_multiarch//rules:defs.bzl", "multiarch_variant")

# Unit tests of private helpers (rules/ARCHITECTURE.md allows these).
# buildifier: disable=bzl-visibility
load("@rules_rust_multiarch//rules/private:rules_rust_probe.bzl", "find_setting_packages", "has_cc_common_link_attr", "linker_preference_setting", "probe_bzl_content", "toolchain_type_label")

# buildifier: disable=bzl-visibility
load("@rules_rust_multiarch//rules/private:rustc_flags.bzl", "cpu_flags", "strip_cpu_flags", "strip_per_crate_cpu_flags")

# buildifier: disable=bzl-visibility
load("@rules_rust_multiarch//rules/private:transitions.bzl", "RULES_RUST_SETTINGS", "SETTINGS", "baseline_settings", "variant_settings")

def _check(errors, name, got, want):
    if got != want:
        errors.append("{}:\n  got  {}\n  want {}".format(name, got, want))

def _rustc_flags_test_impl(ctx):
    _ignore = ctx  # @unused
    errors = []

    # Every spelling rustc accepts for target-cpu is found and removed.
    flags = [
        "--cfg=keep",
        "-Ctarget-cpu=x86-64-v3",
        "-C",
        "target-cpu=native",
        "--codegen=target_cpu=znver3",
        "--codegen",
        "target-cpu=x86-64-v2",
        "-C",
        "opt-level=3",
        "--cfg",
        "a",
        "--cfg",
        "a",
    ]
    _check(errors, "cpu_flags(target-cpu spellings)", cpu_flags(flags), [
        "-Ctarget-cpu=x86-64-v3",
        "-C target-cpu=native",
        "--codegen=target_cpu=znver3",
        "--codegen target-cpu=x86-64-v2",
    ])

    # Other flags keep their order and repeats (pairs stay pairs).
    _check(errors, "strip_cpu_flags(target-cpu spellings)", strip_cpu_flags(flags), [
        "--cfg=keep",
        "-C",
        "opt-level=3",
        "--cfg",
        "a",
        "--cfg",
        "a",
    ])

    # CPU features go; crt-static stays for the levels, not for the launcher.
    features = [
        "-Ctarget-feature=+avx2,+crt-static,-fma",
        "-C",
        "target-feature=+crt-static",
        "-Ctarget-feature=+aes",
        "-Clink-arg=-s",
    ]
    _check(errors, "cpu_flags(features)", cpu_flags(features), [
        "-Ctarget-feature=+avx2,+crt-static,-fma",
        "-Ctarget-feature=+aes",
    ])
    _check(errors, "strip_cpu_flags(features)", strip_cpu_flags(features), [
        "-Ctarget-feature=+crt-static",
        "-C",
        "target-feature=+crt-static",
        "-Clink-arg=-s",
    ])
    _check(errors, "strip_cpu_flags(features, launcher)", strip_cpu_flags(features, False), ["-Clink-arg=-s"])
    _check(errors, "cpu_flags(crt-static only)", cpu_flags(["-Ctarget-feature=+crt-static"]), [])

    # A trailing "-C" is left alone (rustc reports it).
    _check(errors, "strip_cpu_flags(trailing -C)", strip_cpu_flags(["-C"]), ["-C"])

    per_crate = [
        "//app@-Ctarget-cpu=native",
        "@--cfg=x",
        "//lib@-Ctarget-feature=+avx2,+crt-static",
        "malformed",
    ]
    _check(errors, "strip_per_crate_cpu_flags", strip_per_crate_cpu_flags(per_crate), [
        "@--cfg=x",
        "//lib@-Ctarget-feature=+crt-static",
        "malformed",
    ])
    _check(errors, "strip_per_crate_cpu_flags(launcher)", strip_per_crate_cpu_flags(per_crate, False), [
        "@--cfg=x",
        "malformed",
    ])

    # rules_rust 0.73.0: settings in //rust/settings (macro calls), aliases
    # at the root (rust/settings/BUILD.bazel:108-122, BUILD.bazel:47-57).
    _check(errors, "layout 0.73", find_setting_packages({
        "": "alias(\n    name = \"extra_rustc_flags\",\n    actual = \"//rust/settings:extra_rustc_flags\",\n)\n",
        "rust/settings": "load(\":settings.bzl\", \"extra_rustc_flags\")\n\nextra_rustc_flag()\n\nextra_rustc_flags()\n\nper_crate_rustc_flag()\n",
    }), {
        "extra_rustc_flag": "rust/settings",
        "extra_rustc_flags": "rust/settings",
        "per_crate_rustc_flag": "rust/settings",
    })

    # rules_rust 0.7.0: a rule in the root package (BUILD.bazel:52-56),
    # rust/settings without it; extra_exec_rustc_flags is another setting.
    _check(errors, "layout 0.7.0", find_setting_packages({
        "": "extra_exec_rustc_flags(\n    name = \"extra_exec_rustc_flags\",\n)\n\nextra_rustc_flags(\n    name = \"extra_rustc_flags\",\n)\n",
        "rust/settings": "bool_flag(\n    name = \"rename_first_party_crates\",\n)\n",
    }), {"extra_rustc_flags": ""})
    _check(errors, "layout none", find_setting_packages({"": "# extra_rustc_flags( in a comment\n"}), {})

    # rust_binary's `experimental_use_cc_common_link` (rules_rust 0.73.0
    # rust/private/rust.bzl:934-946); 0.7.0 has none, and another rule's
    # bool attribute of the same name does not count.
    _check(errors, "cc_common_link 0.73", has_cc_common_link_attr(
        "_EXPERIMENTAL_USE_CC_COMMON_LINK_ATTRS = {\n    \"experimental_use_cc_common_link\": attr.int(\n        values = [-1, 0, 1],\n",
    ), True)
    _check(errors, "cc_common_link bool", has_cc_common_link_attr("    \"experimental_use_cc_common_link\": attr.bool(\n"), False)
    _check(errors, "cc_common_link none", has_cc_common_link_attr(""), False)

    # toolchain_linker_preference: in //rust/settings (0.73.0
    # rust/settings/BUILD.bazel:138), spelled as this Bazel spells the repository.
    _check(errors, "linker preference 0.73", linker_preference_setting(
        {"rust/settings": "extra_rustc_flags()\n\ntoolchain_linker_preference()\n"},
        "@@rules_rust+",
    ), "@@rules_rust+//rust/settings:toolchain_linker_preference")
    _check(errors, "linker preference root only", linker_preference_setting(
        {"": "toolchain_linker_preference()\n", "rust/settings": "bool_flag(\n    name = \"other\",\n)\n"},
        "@rules_rust",
    ), "")
    _check(errors, "linker preference none", linker_preference_setting({}, "@rules_rust"), "")

    # The generated probe.bzl: settings in SETTING_NAMES order, the rest as Starlark literals.
    _check(errors, "probe.bzl 0.73", probe_bzl_content(
        {"per_crate_rustc_flag": "rust/settings", "extra_rustc_flags": "rust/settings"},
        True,
        "@rules_rust//rust/settings:toolchain_linker_preference",
        "@rules_rust//rust:toolchain_type",
    ).splitlines()[3:], [
        "SETTING_PACKAGES = {",
        "    \"extra_rustc_flags\": \"rust/settings\",",
        "    \"per_crate_rustc_flag\": \"rust/settings\",",
        "}",
        "",
        "RUST_BINARY_HAS_CC_COMMON_LINK_ATTR = True",
        "",
        "LINKER_PREFERENCE_SETTING = \"@rules_rust//rust/settings:toolchain_linker_preference\"",
        "",
        "RUST_TOOLCHAIN_TYPE = \"@rules_rust//rust:toolchain_type\"",
    ])
    _check(errors, "probe.bzl 0.7.0", probe_bzl_content({"extra_rustc_flags": ""}, False, "", "@rules_rust//rust:toolchain").splitlines()[3:], [
        "SETTING_PACKAGES = {",
        "    \"extra_rustc_flags\": \"\",",
        "}",
        "",
        "RUST_BINARY_HAS_CC_COMMON_LINK_ATTR = False",
        "",
        "LINKER_PREFERENCE_SETTING = \"\"",
        "",
        "RUST_TOOLCHAIN_TYPE = \"@rules_rust//rust:toolchain\"",
    ])

    # The Rust toolchain type: rules_rust 0.73.0 rust/BUILD.bazel:10-19 (the
    # type, and `toolchain` as a deprecated alias), 0.7.0 rust/BUILD.bazel:12-14.
    _check(errors, "toolchain type 0.73", toolchain_type_label(
        "toolchain_type(\n    name = \"toolchain_type\",\n)\n\nalias(\n    name = \"toolchain\",\n    actual = \"toolchain_type\",\n)\n",
        "@@rules_rust+",
    ), "@@rules_rust+//rust:toolchain_type")
    _check(errors, "toolchain type 0.7.0", toolchain_type_label(
        "toolchain_type(\n    name = \"toolchain\",\n)\n\nfilegroup(\n    name = \"toolchain_type\",\n)\n",
        "@rules_rust",
    ), "@rules_rust//rust:toolchain")
    _check(errors, "toolchain type none", toolchain_type_label("", "@rules_rust"), "@rules_rust//rust:toolchain")

    # The transitions, over the settings this rules_rust has.
    flags = RULES_RUST_SETTINGS["extra_rustc_flags"]
    user = ["--cfg=u", "-Ctarget-cpu=native", "-Ctarget-feature=+crt-static,+avx2"]
    incoming = {label: [] for label in SETTINGS}
    incoming[flags] = user
    incoming[str(Label("@rules_rust_multiarch//rules/settings:level"))] = ""
    base = baseline_settings(incoming)
    _check(errors, "baseline extra_rustc_flags", base[flags], ["--cfg=u", "-Ctarget-cpu=x86-64"])
    _check(errors, "baseline saves the user's flags", base[str(Label("@rules_rust_multiarch//rules/settings:original_extra_rustc_flags"))], user)
    _check(errors, "baseline writes only SETTINGS", sorted([k for k in base if k not in SETTINGS]), [])
    _check(errors, "baseline variant", base[str(Label("@rules_rust_multiarch//rules/settings:variant"))], "")
    level = variant_settings({"extra_rustc_flags": user}, struct(
        name = "x86-64-v3",
        level = "v3",
        rustc_flags = ["-Ctarget-cpu=x86-64-v3"],
    ))
    _check(errors, "v3 extra_rustc_flags", level[flags], ["--cfg=u", "-Ctarget-feature=+crt-static", "-Ctarget-cpu=x86-64-v3"])
    _check(errors, "v3 level", level[str(Label("@rules_rust_multiarch//rules/settings:level"))], "v3")
    _check(errors, "v3 variant", level[str(Label("@rules_rust_multiarch//rules/settings:variant"))], "x86-64-v3")
    _check(errors, "v3 writes every setting", sorted(level.keys()), sorted(SETTINGS))

    # A variant's flags come last, the CPU before the features.
    crypto = variant_settings({"extra_rustc_flags": user}, struct(
        name = "v3-crypto",
        level = "",
        rustc_flags = multiarch_variant(cpu = "x86-64-v3", features = ["+aes", "+sha"]),
    ))
    _check(errors, "v3-crypto extra_rustc_flags", crypto[flags], [
        "--cfg=u",
        "-Ctarget-feature=+crt-static",
        "-Ctarget-cpu=x86-64-v3",
        "-Ctarget-feature=+aes,+sha",
    ])
    _check(errors, "v3-crypto level", crypto[str(Label("@rules_rust_multiarch//rules/settings:level"))], "")
    _check(errors, "v3-crypto variant", crypto[str(Label("@rules_rust_multiarch//rules/settings:variant"))], "v3-crypto")

    return [AnalysisTestResultInfo(success = not errors, message = "\n".join(errors))]

rustc_flags_test = rule(
    doc = "Checks rustc_flags.bzl, rules_rust_probe.bzl and the transitions' settings on fixed inputs.",
    implementation = _rustc_flags_test_impl,
    analysis_test = True,
)
