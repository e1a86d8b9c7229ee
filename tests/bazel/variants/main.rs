//! Prints which variant's build runs: the name select() saw in its build
//! (//rules/settings:variant) and the CPU features rustc compiled it with.

/// The variant these features make (the CPU names of tests/bazel/variants).
fn variant_from_features() -> &'static str {
    if cfg!(target_feature = "amx-tile") {
        "sapphirerapids"
    } else if cfg!(target_feature = "sse4a") {
        "znver4"
    } else if cfg!(target_feature = "avx512f") {
        "icelake-server"
    } else if cfg!(target_feature = "sha") {
        "v3-crypto"
    } else if cfg!(target_feature = "avx2") {
        "x86-64-v3"
    } else {
        "x86-64"
    }
}

/// Some target features that tell the variants apart.
const FEATURES: &[(&str, bool)] = &[
    ("avx2", cfg!(target_feature = "avx2")),
    ("avx512f", cfg!(target_feature = "avx512f")),
    ("avx512fp16", cfg!(target_feature = "avx512fp16")),
    ("amx-tile", cfg!(target_feature = "amx-tile")),
    ("sse4a", cfg!(target_feature = "sse4a")),
    ("sha", cfg!(target_feature = "sha")),
];

/// The level select() on //rules/settings:v1 / :v3 saw ("none" elsewhere).
fn level() -> &'static str {
    if cfg!(fleet_level = "v1") {
        "v1"
    } else if cfg!(fleet_level = "v3") {
        "v3"
    } else {
        "none"
    }
}

/// The variant select() on //rules/settings:variant saw, as a marker that
/// tests/e2e_bazel.sh (test v) also finds in the file of each build.
const SELECTED: &str = concat!("fleet-select:", env!("FLEET_VARIANT"), ";");

fn main() {
    let on: Vec<&str> = FEATURES.iter().filter(|f| f.1).map(|f| f.0).collect();
    println!(
        "variant {} ({} level: {}); features: {}",
        variant_from_features(),
        SELECTED,
        level(),
        on.join(",")
    );
}
