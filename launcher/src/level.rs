//! The x86-64 microarchitecture levels of the x86-64 psABI.

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
    }
}
