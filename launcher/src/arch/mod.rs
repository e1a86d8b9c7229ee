//! The architecture-specific half of the variant model, behind one seam.
//!
//! Each architecture module (`x86_64`, `aarch64`)
//! defines, as plain data compiled on every host (the CLI on x86-64 packs
//! bundles for other architectures too):
//!
//! - `FEATURES: &[FeatureDef]`: every target feature the launcher can
//!   detect, by the name rustc uses, and how to detect it; a feature's
//!   index in a [`FeatureSet`](crate::features::FeatureSet) is its position;
//! - `IGNORED: &[&str]`: features rustc reports that every CPU of the
//!   architecture has, or that are not CPU features: never required;
//! - `BASELINE_CPU`: the `-Ctarget-cpu` of the variant every CPU runs;
//! - `TABLE_ID`: identifies `FEATURES`, so that generated code compiles
//!   only against the table it was packed for;
//! - `index(name)`, `name(index)`;
//!
//! and, only when compiled for that architecture, `detect() -> FeatureSet`.
//! [`native`] is the module of the architecture this is compiled for.
//! [`Arch`] gives the CLI the same data by value, chosen by target triple.

pub mod aarch64;
pub mod x86_64;

#[cfg(target_arch = "aarch64")]
pub use aarch64 as native;
#[cfg(target_arch = "x86_64")]
pub use x86_64 as native;

/// The architecture this is compiled for.
#[cfg(target_arch = "x86_64")]
pub const NATIVE: Arch = Arch::X86_64;
/// The architecture this is compiled for.
#[cfg(target_arch = "aarch64")]
pub const NATIVE: Arch = Arch::Aarch64;

/// The CPU as the log line and the launcher's messages name it: on x86-64
/// its psABI level (`x86-64-v3`), as before variants; on aarch64, which has
/// no such levels, `aarch64` and the features of [`aarch64::FEATURES`] it
/// has (`aarch64 with crc dotprod fp16 lse rcpc rdm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuName(pub crate::features::FeatureSet);

impl core::fmt::Display for CpuName {
    #[cfg(target_arch = "x86_64")]
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", crate::level::Level::of(self.0))
    }

    #[cfg(target_arch = "aarch64")]
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("aarch64")?;
        if !self.0.is_empty() {
            write!(f, " with {}", self.0.names(aarch64::name, " "))?;
        }
        Ok(())
    }
}

/// An architecture the launcher supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    /// Every architecture.
    pub const ALL: &'static [Arch] = &[Arch::X86_64, Arch::Aarch64];

    /// The architecture of a target triple (`x86_64-unknown-linux-gnu`).
    pub fn of_triple(triple: &str) -> Option<Arch> {
        let cpu = triple.split('-').next()?;
        match cpu {
            "x86_64" => Some(Arch::X86_64),
            "aarch64" => Some(Arch::Aarch64),
            _ => None,
        }
    }

    /// The name of the architecture and of its module here: `x86_64`.
    pub const fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }

    /// How many features the table holds.
    pub fn feature_count(self) -> usize {
        match self {
            Arch::X86_64 => x86_64::FEATURES.len(),
            Arch::Aarch64 => aarch64::FEATURES.len(),
        }
    }

    /// The name of feature `index`.
    pub fn feature_name(self, index: usize) -> Option<&'static str> {
        match self {
            Arch::X86_64 => x86_64::name(index),
            Arch::Aarch64 => aarch64::name(index),
        }
    }

    /// [`Arch::feature_name`] as a function pointer, for
    /// [`FeatureSet::names`](crate::features::FeatureSet::names).
    pub fn namer(self) -> fn(usize) -> Option<&'static str> {
        match self {
            Arch::X86_64 => x86_64::name,
            Arch::Aarch64 => aarch64::name,
        }
    }

    /// The index of feature `name`.
    pub fn feature_index(self, name: &str) -> Option<usize> {
        match self {
            Arch::X86_64 => x86_64::index(name),
            Arch::Aarch64 => aarch64::index(name),
        }
    }

    /// Features rustc reports that are never required.
    pub fn ignored(self) -> &'static [&'static str] {
        match self {
            Arch::X86_64 => x86_64::IGNORED,
            Arch::Aarch64 => aarch64::IGNORED,
        }
    }

    /// The `-Ctarget-cpu` every CPU of the architecture runs.
    pub fn baseline_cpu(self) -> &'static str {
        match self {
            Arch::X86_64 => x86_64::BASELINE_CPU,
            Arch::Aarch64 => aarch64::BASELINE_CPU,
        }
    }

    /// The table's identity (see `x86_64::TABLE_ID`).
    pub fn table_id(self) -> u64 {
        match self {
            Arch::X86_64 => x86_64::TABLE_ID,
            Arch::Aarch64 => aarch64::TABLE_ID,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triples() {
        assert_eq!(Arch::of_triple("x86_64-unknown-linux-gnu"), Some(Arch::X86_64));
        assert_eq!(Arch::of_triple("x86_64-unknown-linux-musl"), Some(Arch::X86_64));
        assert_eq!(Arch::of_triple("aarch64-unknown-linux-gnu"), Some(Arch::Aarch64));
        assert_eq!(Arch::of_triple("i686-unknown-linux-gnu"), None);
        assert_eq!(Arch::of_triple(""), None);
    }

    #[test]
    fn tables_are_consistent() {
        for &arch in Arch::ALL {
            let n = arch.feature_count();
            assert!(n > 0 && n <= crate::features::FeatureSet::CAPACITY);
            for i in 0..n {
                let name = arch.feature_name(i).unwrap();
                assert_eq!(arch.feature_index(name), Some(i), "{name}");
                assert!(!arch.ignored().contains(&name), "{name} is both detected and ignored");
                if i > 0 {
                    assert!(arch.feature_name(i - 1).unwrap() < name, "{arch:?}: sorted by name at {name}");
                }
            }
            assert_eq!(arch.feature_name(n), None);
        }
    }
}

/// What tests of several modules share: asking rustc.
#[cfg(test)]
pub(crate) mod tests_support {
    use std::process::Command;
    use std::string::String;
    use std::vec::Vec;

    /// The target features `rustc --print cfg` lists for x86-64 with
    /// `-Ctarget-cpu=cpu` (and `-Ctarget-feature=features`), unstable ones
    /// included; `None` when there is no rustc on PATH.
    pub fn rustc_cfg(cpu: &str, features: Option<&str>) -> Option<Vec<String>> {
        let mut cmd = Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()));
        cmd.args(["--print", "cfg", "--target", "x86_64-unknown-linux-gnu"])
            .arg(format!("-Ctarget-cpu={cpu}"))
            .env("RUSTC_BOOTSTRAP", "1");
        if let Some(f) = features {
            cmd.arg(format!("-Ctarget-feature={f}"));
        }
        let out = cmd.output().ok()?;
        assert!(out.status.success(), "rustc --print cfg -Ctarget-cpu={cpu} failed");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        Some(
            text.lines()
                .filter_map(|l| l.strip_prefix("target_feature=\"")?.strip_suffix('"'))
                .map(String::from)
                .collect(),
        )
    }

    /// The target features `rustc --print target-features` lists for
    /// x86-64 under "Features supported by rustc" (not LLVM's codegen-only
    /// ones); `None` without rustc.
    pub fn rustc_target_features() -> Option<Vec<String>> {
        let out = Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
            .args(["--print", "target-features", "--target", "x86_64-unknown-linux-gnu"])
            .env("RUSTC_BOOTSTRAP", "1")
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let section = text.split("Features supported by rustc").nth(1)?;
        let body = section.split("\n\n").next()?;
        Some(body.lines().skip(1).filter_map(|l| l.split_whitespace().next()).map(String::from).collect())
    }
}
