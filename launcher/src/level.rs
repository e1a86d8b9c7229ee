//! The x86-64 microarchitecture levels of the x86-64 psABI, as sets of
//! target features.
//!
//! Selection works on features (see [`crate::select`]); the levels remain
//! for the log's `cpu x86-64-vN`, the short names `v1`..`v4` that
//! `MULTIARCH_LEVEL` and `multiarch extract` accept, packing without rustc,
//! and reading tables of format 3 and 4.

use crate::arch::x86_64;
use crate::features::FeatureSet;
use core::fmt;
use core::str::FromStr;

/// An x86-64 microarchitecture level. Ordered: `V1 < V2 < V3 < V4`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// `x86-64`: the baseline every x86-64 CPU runs.
    V1,
    /// `x86-64-v2`: adds CMPXCHG16B, LAHF/SAHF, POPCNT and SSE3 to SSE4.2.
    V2,
    /// `x86-64-v3`: adds AVX, AVX2, BMI1/2, F16C, FMA, LZCNT and MOVBE.
    V3,
    /// `x86-64-v4`: adds AVX-512 F, BW, CD, DQ and VL.
    V4,
}

/// The features each level adds to the one below, as rustc names them:
/// what `rustc --print cfg -Ctarget-cpu=x86-64-vN` lists beyond `x86-64`
/// (checked by a test when rustc is on PATH). The psABI's own lists
/// (x86-64 psABI, "Micro-architecture levels") name the same instructions;
/// `xsave` is rustc's, for the OS side of AVX (OSXSAVE).
const V2_ADDS: &[&str] = &["cmpxchg16b", "lahfsahf", "popcnt", "sse3", "sse4.1", "sse4.2", "ssse3"];
const V3_ADDS: &[&str] = &["avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "lzcnt", "movbe", "xsave"];
const V4_ADDS: &[&str] = &["avx512bw", "avx512cd", "avx512dq", "avx512f", "avx512vl"];

const V2_SET: FeatureSet = x86_64::set_of(V2_ADDS);
const V3_SET: FeatureSet = V2_SET.union(x86_64::set_of(V3_ADDS));
const V4_SET: FeatureSet = V3_SET.union(x86_64::set_of(V4_ADDS));

impl Level {
    /// Every level, lowest first.
    pub const ALL: [Level; 4] = [Level::V1, Level::V2, Level::V3, Level::V4];

    /// The accepted spellings, for error messages.
    pub const ACCEPTED: &'static str = "v1, v2, v3, v4, x86-64, x86-64-v2, x86-64-v3, x86-64-v4";

    /// The name rustc's `-Ctarget-cpu` and glibc use: `x86-64`, `x86-64-v2`, ...
    pub const fn cpu_name(self) -> &'static str {
        match self {
            Level::V1 => "x86-64",
            Level::V2 => "x86-64-v2",
            Level::V3 => "x86-64-v3",
            Level::V4 => "x86-64-v4",
        }
    }

    /// The short name: `v1`, `v2`, `v3`, `v4`.
    pub const fn short_name(self) -> &'static str {
        match self {
            Level::V1 => "v1",
            Level::V2 => "v2",
            Level::V3 => "v3",
            Level::V4 => "v4",
        }
    }

    /// The features the level requires (of [`x86_64::FEATURES`]).
    pub const fn features(self) -> FeatureSet {
        match self {
            Level::V1 => FeatureSet::EMPTY,
            Level::V2 => V2_SET,
            Level::V3 => V3_SET,
            Level::V4 => V4_SET,
        }
    }

    /// The highest level whose features are all in `cpu`.
    pub fn of(cpu: FeatureSet) -> Level {
        Level::ALL.into_iter().rev().find(|l| cpu.contains_all(l.features())).unwrap_or(Level::V1)
    }

    /// Parses either spelling (`v3` or `x86-64-v3`; `x86-64-v1` is taken for `x86-64`).
    pub fn parse(s: &[u8]) -> Option<Level> {
        Some(match s {
            b"v1" | b"x86-64" | b"x86-64-v1" => Level::V1,
            b"v2" | b"x86-64-v2" => Level::V2,
            b"v3" | b"x86-64-v3" => Level::V3,
            b"v4" | b"x86-64-v4" => Level::V4,
            _ => return None,
        })
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.cpu_name())
    }
}

/// The error of [`Level::from_str`]; callers name the value they parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseLevelError;

impl fmt::Display for ParseLevelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown x86-64 level (accepted: {})", Level::ACCEPTED)
    }
}

impl core::error::Error for ParseLevelError {}

impl FromStr for Level {
    type Err = ParseLevelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Level::parse(s.as_bytes()).ok_or(ParseLevelError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_round_trip() {
        for level in Level::ALL {
            assert_eq!(Level::parse(level.cpu_name().as_bytes()), Some(level));
            assert_eq!(Level::parse(level.short_name().as_bytes()), Some(level));
            assert_eq!(level.to_string(), level.cpu_name());
        }
        assert_eq!(Level::parse(b"x86-64-v1"), Some(Level::V1));
    }

    #[test]
    fn rejects_near_misses() {
        for bad in ["", "v5", "V3", "x86_64", "x86-64-v", "native", "v3 "] {
            assert_eq!(Level::parse(bad.as_bytes()), None, "{bad:?}");
            let err = bad.parse::<Level>().unwrap_err().to_string();
            assert!(err.contains("accepted: v1"), "{err}");
        }
    }

    #[test]
    fn ordered_lowest_first() {
        assert!(Level::ALL.windows(2).all(|w| w[0] < w[1]));
        assert!(Level::ALL.windows(2).all(|w| w[1].features().contains_all(w[0].features())));
        assert_eq!(Level::V4.features().len(), 7 + 9 + 5);
    }

    #[test]
    fn level_of_a_feature_set() {
        for level in Level::ALL {
            assert_eq!(Level::of(level.features()), level);
        }
        // One feature short of a level: the one below.
        let v4 = Level::V4.features();
        assert_eq!(Level::of(v4.without(x86_64::index("avx512vl").unwrap())), Level::V3);
        assert_eq!(Level::of(v4.without(x86_64::index("xsave").unwrap())), Level::V2);
        assert_eq!(Level::of(v4.without(x86_64::index("lahfsahf").unwrap())), Level::V1);
    }

    /// The psABI table against rustc's own: `rustc --print cfg
    /// -Ctarget-cpu=x86-64-vN` lists exactly the level's features plus the
    /// ignored ones. Skipped (with a message) when rustc is not on PATH.
    #[test]
    fn levels_match_rustc_cfg() {
        for level in Level::ALL {
            let Some(cfg) = crate::arch::tests_support::rustc_cfg(level.cpu_name(), None) else {
                std::eprintln!("SKIP levels_match_rustc_cfg: no rustc on PATH");
                return;
            };
            let mut want: std::vec::Vec<&str> =
                level.features().iter().map(|i| x86_64::name(i).unwrap()).collect();
            want.extend_from_slice(
                x86_64::IGNORED
                    .iter()
                    .filter(|f| **f != "crt-static")
                    .copied()
                    .collect::<std::vec::Vec<_>>()
                    .as_slice(),
            );
            want.sort_unstable();
            let mut got: std::vec::Vec<&str> = cfg.iter().map(|s| s.as_str()).collect();
            got.sort_unstable();
            assert_eq!(got, want, "{level}");
        }
    }
}
