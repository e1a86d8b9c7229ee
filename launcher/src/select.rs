//! Which embedded build to start: a pure function of the CPU's features,
//! the user's request and the bundle's variants.
//!
//! The rule: the variants are listed best first (`multiarch pack` ranks
//! them: more required features first, ties in the order given), and the
//! launcher starts the **first** whose required features the CPU, and its
//! OS, all have. The last variant requires nothing, so one always runs, and
//! a variant whose features the launcher cannot detect is refused at pack
//! time: no variant is started on a CPU that lacks what it uses.
//!
//! A bundle's cap (`multiarch pack --cap`) masks the CPU's features before
//! the automatic choice: a variant that needs a feature beyond the cap is
//! not chosen, whatever the CPU has.
//!
//! `MULTIARCH_LEVEL=NAME` asks for a variant by name, or for a psABI level
//! (`v3`, `x86-64-v3`): a level that is not embedded stands for the first
//! variant whose requirements fit within the level's features. A variant
//! that needs a feature this CPU lacks is refused unless `MULTIARCH_FORCE=1`.

use crate::arch::{native, CpuName};
use crate::bundle::{valid_name, Variant, NAME_MAX};
use crate::features::FeatureSet;
use crate::level::Level;
use crate::text::Quoted;
use core::fmt;

/// A valid variant or level name (see [`valid_name`]), held by value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Name {
    bytes: [u8; NAME_MAX],
    len: u8,
}

impl Name {
    /// `name`, if it is a valid name.
    pub fn new(name: &[u8]) -> Option<Name> {
        if !valid_name(name) {
            return None;
        }
        let mut bytes = [0; NAME_MAX];
        bytes[..name.len()].copy_from_slice(name);
        Some(Name { bytes, len: name.len() as u8 })
    }

    /// The name's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Valid names are ASCII.
        f.write_str(core::str::from_utf8(self.as_bytes()).unwrap_or("?"))
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&Quoted(self.as_bytes()), f)
    }
}

/// The request, from the environment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// `MULTIARCH_LEVEL`: a variant or level name.
    pub name: Option<Name>,
    /// `MULTIARCH_FORCE=1`: allow a variant that needs features the CPU lacks.
    pub force: bool,
}

/// The outcome of [`select`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Choice {
    /// The index of the variant to start.
    pub index: usize,
    /// `MULTIARCH_LEVEL` named this level, which is not embedded: the
    /// variant stands in for it.
    pub fell_back_from: Option<Level>,
    /// What the variant requires and the CPU lacks: empty unless forced
    /// with `MULTIARCH_FORCE=1`.
    pub forced_missing: FeatureSet,
    /// No variant was asked for: the ones before `index` were passed over
    /// for lack of features.
    pub automatic: bool,
}

/// Why nothing can be started.
#[derive(Clone, Copy, Debug)]
pub enum SelectError<'a> {
    /// `MULTIARCH_LEVEL` names neither an embedded variant nor a level.
    Unknown { name: Name, variants: &'a [Variant] },
    /// `MULTIARCH_LEVEL` asks for a variant that needs features the CPU
    /// lacks, without `MULTIARCH_FORCE=1`.
    Refused { name: Name, variant: &'a str, missing: FeatureSet, cpu: CpuName },
    /// No variant's requirements fit (a bundle without a baseline).
    NothingRuns { cpu: CpuName },
}

impl fmt::Display for SelectError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            #[cfg(target_arch = "x86_64")]
            SelectError::Unknown { name, variants } => write!(
                f,
                "MULTIARCH_LEVEL={name} names no variant of this bundle (embedded: {}) and no level \
                 (v1, v2, v3, v4, x86-64, x86-64-v2, x86-64-v3, x86-64-v4)",
                Embedded(variants)
            ),
            #[cfg(not(target_arch = "x86_64"))]
            SelectError::Unknown { name, variants } => write!(
                f,
                "MULTIARCH_LEVEL={name} names no variant of this bundle (embedded: {})",
                Embedded(variants)
            ),
            SelectError::Refused { name, variant, missing, cpu } => write!(
                f,
                "MULTIARCH_LEVEL={name}: this CPU ({cpu}) lacks {}, which {variant} requires: that build \
                 would die with SIGILL; set MULTIARCH_FORCE=1 to start it anyway",
                missing.names(native::name, " ")
            ),
            #[cfg(target_arch = "x86_64")]
            SelectError::NothingRuns { cpu } => write!(
                f,
                "no embedded build runs on this CPU ({cpu}): the bundle has no baseline variant; rebuild \
                 it with the x86-64 (v1) level included"
            ),
            #[cfg(not(target_arch = "x86_64"))]
            SelectError::NothingRuns { cpu } => write!(
                f,
                "no embedded build runs on this CPU ({cpu}): the bundle has no baseline variant; rebuild \
                 it with a variant of -Ctarget-cpu={} and no target feature",
                native::BASELINE_CPU
            ),
        }
    }
}

/// Picks the variant to start, for a CPU with features `cpu`, in a bundle
/// capped at `cap` (if any): see the module docs.
pub fn select(
    cpu: FeatureSet,
    cap: Option<FeatureSet>,
    request: Request,
    variants: &[Variant],
) -> Result<Choice, SelectError<'_>> {
    let Some(name) = request.name else {
        let allowed = cap.map_or(cpu, |cap| cpu.intersection(cap));
        let index = variants
            .iter()
            .position(|v| allowed.contains_all(v.requires))
            .ok_or(SelectError::NothingRuns { cpu: CpuName(cpu) })?;
        return Ok(Choice {
            index,
            fell_back_from: None,
            forced_missing: FeatureSet::EMPTY,
            automatic: true,
        });
    };
    let asked = name.as_bytes();
    // The level names are x86-64's.
    let level = Level::parse(asked).filter(|_| cfg!(target_arch = "x86_64"));
    let exact = variants
        .iter()
        .position(|v| v.name.as_bytes() == asked || level.is_some_and(|l| v.name == l.cpu_name()));
    let (index, fell_back_from) = match (exact, level) {
        (Some(i), _) => (i, None),
        (None, Some(level)) => {
            let within = variants.iter().position(|v| level.features().contains_all(v.requires));
            (within.ok_or(SelectError::NothingRuns { cpu: CpuName(cpu) })?, Some(level))
        }
        (None, None) => return Err(SelectError::Unknown { name, variants }),
    };
    let missing = cpu.missing(variants[index].requires);
    if !missing.is_empty() && !request.force {
        return Err(SelectError::Refused { name, variant: variants[index].name, missing, cpu: CpuName(cpu) });
    }
    Ok(Choice { index, fell_back_from, forced_missing: missing, automatic: false })
}

/// The embedded variants for a message, lowest first, the four levels by
/// their short names: `v1 v3 znver4`.
#[derive(Clone, Copy)]
pub struct Embedded<'a>(pub &'a [Variant]);

impl fmt::Display for Embedded<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, v) in self.0.iter().rev().enumerate() {
            if n > 0 {
                f.write_str(" ")?;
            }
            f.write_str(short_name(v.name))?;
        }
        Ok(())
    }
}

/// `v1`..`v4` for the level variants, else the name.
pub fn short_name(name: &str) -> &str {
    match Level::ALL.into_iter().find(|l| l.cpu_name() == name) {
        Some(level) => level.short_name(),
        None => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::x86_64::{self as x86, set_of};
    use crate::bundle::{Blob, Compression};
    use std::string::ToString;
    use std::vec::Vec;

    static BLOB: Blob =
        Blob { data: &[], size: 0, sha256: [0; 32], check: 0, compression: Compression::Stored, base: None };

    fn variant(name: &'static str, requires: FeatureSet) -> Variant {
        Variant { name, requires, blob: &BLOB }
    }

    /// What rustc 1.95 reports for these CPUs (`--print cfg`), less the
    /// ignored features: the tables the CLI packs.
    fn cpu_features(cpu: &str) -> FeatureSet {
        let v3 = Level::V3.features();
        let v4 = Level::V4.features();
        let common = set_of(&[
            "adx",
            "aes",
            "pclmulqdq",
            "prfchw",
            "rdrand",
            "rdseed",
            "xsavec",
            "xsaveopt",
            "xsaves",
        ]);
        let icl = v4.union(common).union(set_of(&[
            "avx512bitalg",
            "avx512ifma",
            "avx512vbmi",
            "avx512vbmi2",
            "avx512vnni",
            "avx512vpopcntdq",
            "ermsb",
            "gfni",
            "sha",
            "vaes",
            "vpclmulqdq",
        ]));
        match cpu {
            "haswell" => v3.union(set_of(&["ermsb", "pclmulqdq", "rdrand", "xsaveopt"])),
            "skylake-avx512" => v4.union(common).union(set_of(&["ermsb"])),
            "icelake-server" => icl,
            "sapphirerapids" => icl.union(set_of(&[
                "amx-bf16",
                "amx-int8",
                "amx-tile",
                "avx512bf16",
                "avx512fp16",
                "avxvnni",
            ])),
            "znver2" => v3.union(common).union(set_of(&["sha", "sse4a"])),
            "znver4" => icl.without(x86::index("ermsb").unwrap()).union(set_of(&["avx512bf16", "sse4a"])),
            _ => panic!("no table for {cpu}"),
        }
    }

    /// A bundle of these variants, ranked as `multiarch pack` ranks them.
    fn bundle(names: &[&'static str]) -> Vec<Variant> {
        let mut v: Vec<Variant> = names
            .iter()
            .map(|&n| {
                let requires = match Level::parse(n.as_bytes()) {
                    Some(level) => level.features(),
                    None => cpu_features(n),
                };
                variant(n, requires)
            })
            .collect();
        v.sort_by_key(|v| core::cmp::Reverse(v.requires.len()));
        v
    }

    fn pick(cpu: FeatureSet, variants: &[Variant]) -> &'static str {
        variants[select(cpu, None, Request::default(), variants).unwrap().index].name
    }

    #[cfg(target_arch = "x86_64")]
    fn ask(name: &str, force: bool) -> Request {
        Request { name: Some(Name::new(name.as_bytes()).unwrap()), force }
    }

    /// The machines: what detection reports on each (CPU and OS).
    fn machine(name: &str) -> FeatureSet {
        match name {
            // Skylake-X whose OS (or hypervisor) left ZMM state off: the
            // AVX-512 bits are set, detection drops them.
            // Skylake-X whose OS (or hypervisor) left ZMM state off: the
            // AVX-512 bits are set, detection drops them (see the
            // detection tests in arch::x86_64).
            "skylake-x, zmm off" => strip_avx512(cpu_features("skylake-avx512")),
            other => cpu_features(other),
        }
    }

    fn strip_avx512(set: FeatureSet) -> FeatureSet {
        set.iter()
            .filter(|&i| !x86::name(i).unwrap().starts_with("avx512"))
            .fold(FeatureSet::EMPTY, |s, i| s.with(i))
    }

    #[test]
    fn first_eligible_over_real_cpus() {
        let fleet = bundle(&["x86-64", "x86-64-v3", "znver4", "sapphirerapids"]);
        assert_eq!(
            fleet.iter().map(|v| v.name).collect::<Vec<_>>(),
            ["sapphirerapids", "znver4", "x86-64-v3", "x86-64"],
            "ranked by the number of required features"
        );
        let levels = bundle(&["x86-64", "x86-64-v2", "x86-64-v3", "x86-64-v4"]);
        let table: &[(&str, &str, &str)] = &[
            ("haswell", "x86-64-v3", "x86-64-v3"),
            ("skylake-avx512", "x86-64-v3", "x86-64-v4"),
            ("icelake-server", "x86-64-v3", "x86-64-v4"),
            ("sapphirerapids", "sapphirerapids", "x86-64-v4"),
            ("znver2", "x86-64-v3", "x86-64-v3"),
            ("znver4", "znver4", "x86-64-v4"),
            ("skylake-x, zmm off", "x86-64-v3", "x86-64-v3"),
        ];
        for &(cpu, in_fleet, in_levels) in table {
            assert_eq!(pick(machine(cpu), &fleet), in_fleet, "{cpu}");
            assert_eq!(pick(machine(cpu), &levels), in_levels, "{cpu}");
        }
        // A Sapphire Rapids whose hypervisor hides AMX: not the AMX build.
        let no_amx = ["amx-bf16", "amx-int8", "amx-tile"]
            .iter()
            .fold(machine("sapphirerapids"), |s, f| s.without(x86::index(f).unwrap()));
        assert_eq!(pick(no_amx, &fleet), "x86-64-v3");
        assert_eq!(pick(FeatureSet::EMPTY, &fleet), "x86-64");
    }

    #[test]
    fn ties_keep_the_given_order() {
        let a = set_of(&["aes"]);
        let vs =
            [variant("first", a), variant("second", set_of(&["sha"])), variant("base", FeatureSet::EMPTY)];
        assert_eq!(pick(a.union(set_of(&["sha"])), &vs), "first");
        assert_eq!(pick(set_of(&["sha"]), &vs), "second");
    }

    #[test]
    // Level names and the messages' CPU name are x86-64's.
    #[cfg(target_arch = "x86_64")]
    fn asked_by_name_or_level() {
        let fleet = bundle(&["x86-64", "x86-64-v3", "znver4", "sapphirerapids"]);
        let spr = machine("sapphirerapids");
        let got = |name: &str| {
            select(spr, None, ask(name, false), &fleet).map(|c| (fleet[c.index].name, c.fell_back_from))
        };
        assert_eq!(got("x86-64-v3").unwrap(), ("x86-64-v3", None));
        assert_eq!(got("v3").unwrap(), ("x86-64-v3", None));
        assert_eq!(got("v1").unwrap(), ("x86-64", None));
        assert_eq!(got("x86-64-v1").unwrap(), ("x86-64", None));
        assert_eq!(got("sapphirerapids").unwrap(), ("sapphirerapids", None));
        // Levels not embedded: the best variant within the level.
        assert_eq!(got("v4").unwrap(), ("x86-64-v3", Some(Level::V4)));
        assert_eq!(got("v2").unwrap(), ("x86-64", Some(Level::V2)));
        let err = got("znver5").unwrap_err();
        assert!(matches!(err, SelectError::Unknown { .. }));
        let msg = err.to_string();
        assert!(
            msg.contains("MULTIARCH_LEVEL=znver5") && msg.contains("embedded: v1 v3 znver4 sapphirerapids"),
            "{msg}"
        );
        assert!(select(spr, None, Request::default(), &fleet).unwrap().automatic);
        assert!(!select(spr, None, ask("v3", false), &fleet).unwrap().automatic);
    }

    #[test]
    // Level names and the messages' CPU name are x86-64's.
    #[cfg(target_arch = "x86_64")]
    fn refused_unless_forced_naming_what_is_missing() {
        let fleet = bundle(&["x86-64", "x86-64-v3", "znver4", "sapphirerapids"]);
        let spr = machine("sapphirerapids");
        let err = select(spr, None, ask("znver4", false), &fleet).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("MULTIARCH_LEVEL=znver4: this CPU (x86-64-v4) lacks sse4a, which znver4 requires")
                && msg.contains("MULTIARCH_FORCE=1"),
            "{msg}"
        );
        let c = select(spr, None, ask("znver4", true), &fleet).unwrap();
        assert_eq!((fleet[c.index].name, c.forced_missing), ("znver4", set_of(&["sse4a"])));
        // A level above the CPU, with the level embedded.
        let levels = bundle(&["x86-64", "x86-64-v2", "x86-64-v3", "x86-64-v4"]);
        let err = select(machine("haswell"), None, ask("v4", false), &levels).unwrap_err().to_string();
        assert!(
            err.contains("this CPU (x86-64-v3) lacks avx512bw avx512cd avx512dq avx512f avx512vl"),
            "{err}"
        );
        // Forced, but only builds within the CPU exist: nothing is missing.
        let low = bundle(&["x86-64"]);
        let c = select(FeatureSet::EMPTY, None, ask("v4", false), &low).unwrap();
        assert_eq!((c.index, c.fell_back_from, c.forced_missing), (0, Some(Level::V4), FeatureSet::EMPTY));
    }

    /// A cap masks the CPU for the automatic choice only.
    #[test]
    // The machines and levels are x86-64's.
    #[cfg(target_arch = "x86_64")]
    fn a_cap_bounds_the_automatic_choice() {
        let fleet = bundle(&["x86-64", "x86-64-v3", "znver4", "sapphirerapids"]);
        let spr = machine("sapphirerapids");
        let pick_capped =
            |cap: FeatureSet| fleet[select(spr, Some(cap), Request::default(), &fleet).unwrap().index].name;
        assert_eq!(pick_capped(Level::V4.features()), "x86-64-v3");
        assert_eq!(pick_capped(Level::V2.features()), "x86-64");
        assert_eq!(pick_capped(cpu_features("sapphirerapids")), "sapphirerapids");
        assert_eq!(pick_capped(FeatureSet::EMPTY), "x86-64");
        // Asked for by name, a variant beyond the cap still starts where
        // the CPU has what it needs.
        let c = select(spr, Some(Level::V2.features()), ask("sapphirerapids", false), &fleet).unwrap();
        assert_eq!((fleet[c.index].name, c.forced_missing), ("sapphirerapids", FeatureSet::EMPTY));
    }

    #[test]
    // Level names and the messages' CPU name are x86-64's.
    #[cfg(target_arch = "x86_64")]
    fn no_baseline() {
        let only_v3 = bundle(&["x86-64-v3"]);
        assert!(matches!(
            select(Level::V2.features(), None, Request::default(), &only_v3),
            Err(SelectError::NothingRuns { cpu }) if cpu.to_string() == "x86-64-v2"
        ));
        assert!(select(Level::V2.features(), None, Request::default(), &[]).is_err());
        assert!(select(Level::V4.features(), None, ask("v2", true), &only_v3).is_err());
    }

    #[test]
    fn names() {
        assert!(Name::new(b"x86-64-v3").is_some());
        assert!(Name::new(b"V3").is_none() && Name::new(b"").is_none());
        assert_eq!(Name::new(b"znver4").unwrap().to_string(), "znver4");
        assert_eq!(short_name("x86-64"), "v1");
        assert_eq!(short_name("znver4"), "znver4");
    }
}
