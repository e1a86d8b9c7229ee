//! A test that fails at x86-64-v3 and v4 only (tests/e2e_bazel.sh, test u):
//! rust_multiarch_test must fail and name those levels.

#[test]
fn not_built_for_avx2() {
    assert!(!cfg!(target_feature = "avx2"), "this build uses AVX2");
}
