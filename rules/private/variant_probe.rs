//! The feature probe of rust_multiarch_test (rules/private/test.bzl).
//!
//! `variant_probe FILE`: FILE is `rustc --print cfg` for a variant's flags.
//! Exits 0 when the CPU running the probe has every target feature listed
//! there that std can detect at run time (the names below), else prints the
//! missing ones and exits 1. Built for the baseline, so that std's
//! detection really asks the CPU (`is_x86_feature_detected!` answers `true`
//! without asking for a feature the probe itself was compiled with).
//! Features it cannot check are named on stderr and not counted.

use std::process::ExitCode;

/// Whether this CPU (and OS) has `feature`, or None when std cannot tell.
fn has(feature: &str) -> Option<bool> {
    macro_rules! detect {
        ($($name:tt),* $(,)?) => {
            match feature {
                $($name => Some(std::is_x86_feature_detected!($name)),)*
                _ => None,
            }
        };
    }
    detect!(
        "aes",
        "pclmulqdq",
        "rdrand",
        "rdseed",
        "tsc",
        "mmx",
        "sse",
        "sse2",
        "sse3",
        "ssse3",
        "sse4.1",
        "sse4.2",
        "sse4a",
        "sha",
        "avx",
        "avx2",
        "avx512f",
        "avx512cd",
        "avx512bw",
        "avx512dq",
        "avx512vl",
        "avx512ifma",
        "avx512vbmi",
        "avx512vpopcntdq",
        "avx512vbmi2",
        "gfni",
        "vaes",
        "vpclmulqdq",
        "avx512vnni",
        "avx512bitalg",
        "avx512bf16",
        "avx512vp2intersect",
        "avx512fp16",
        "f16c",
        "fma",
        "bmi1",
        "bmi2",
        "lzcnt",
        "tbm",
        "popcnt",
        "fxsr",
        "xsave",
        "xsaveopt",
        "xsaves",
        "xsavec",
        "cmpxchg16b",
        "adx",
        "movbe",
    )
}

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: variant_probe RUSTC_PRINT_CFG_FILE");
        return ExitCode::from(2);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("variant_probe: cannot read {}: {e}", path.to_string_lossy());
            return ExitCode::from(2);
        }
    };
    let mut missing = Vec::new();
    let mut unchecked = Vec::new();
    for line in text.lines() {
        let Some(feature) = line.strip_prefix("target_feature=\"").and_then(|rest| rest.strip_suffix('"'))
        else {
            continue;
        };
        match has(feature) {
            Some(true) => {}
            Some(false) => missing.push(feature),
            // x87 and crt-static are no features to detect.
            None if feature == "x87" || feature == "crt-static" => {}
            None => unchecked.push(feature),
        }
    }
    if !unchecked.is_empty() {
        eprintln!("variant_probe: not checked (std cannot detect them): {}", unchecked.join(","));
    }
    if missing.is_empty() {
        println!("ok");
        ExitCode::SUCCESS
    } else {
        println!("missing: {}", missing.join(","));
        ExitCode::from(1)
    }
}
