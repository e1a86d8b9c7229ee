//! Tests run once per level by rust_multiarch_test (tests/e2e_bazel.sh,
//! test u).

/// Whether the CPU running this build has `feature`, asked at run time
/// (CPUID and the OS's XSAVE state, through std).
fn cpu_has(feature: &str) -> bool {
    match feature {
        "sse4.2" => std::is_x86_feature_detected!("sse4.2"),
        "avx2" => std::is_x86_feature_detected!("avx2"),
        "avx512f" => std::is_x86_feature_detected!("avx512f"),
        _ => unreachable!("no such feature in this test: {feature}"),
    }
}

/// Whether this build was compiled for `feature` (its level's -Ctarget-cpu).
fn built_for(feature: &str) -> bool {
    match feature {
        "sse4.2" => cfg!(target_feature = "sse4.2"),
        "avx2" => cfg!(target_feature = "avx2"),
        "avx512f" => cfg!(target_feature = "avx512f"),
        _ => unreachable!("no such feature in this test: {feature}"),
    }
}

const FEATURES: [&str; 3] = ["sse4.2", "avx2", "avx512f"];

/// Passes at every level: a build only runs where its features are.
#[test]
fn the_cpu_has_what_the_build_was_compiled_for() {
    for feature in FEATURES {
        if built_for(feature) {
            assert!(cpu_has(feature), "built for {feature}, running on a CPU without it");
        }
    }
}

/// With EXPECT_QEMU_MODEL=1: the CPU has exactly the build's level among
/// these features, as each level's qemu model does (qemu64: none of them,
/// Nehalem: sse4.2, Haswell: sse4.2 and avx2). Natively, on a CPU above a
/// level, it fails for that level's build.
#[test]
fn the_cpu_is_the_qemu_model_of_the_level() {
    if std::env::var_os("EXPECT_QEMU_MODEL").is_none() {
        return;
    }
    for feature in FEATURES {
        assert_eq!(
            cpu_has(feature),
            built_for(feature),
            "{feature}: the CPU is not the qemu model of this build's level"
        );
    }
}
