//! Which x86-64 level this CPU, and the OS on it, can run.
//!
//! The decision is split in two: [`Facts::read`] gathers the CPUID bits and the
//! XCR0 register (the part that touches hardware), and [`Facts::level`] is a
//! pure function over them, tested with tables of real CPUs.
//!
//! raw-cpuid reports what the CPU implements, not whether the OS saves the
//! wider registers on a context switch. A CPU with AVX2 whose OS has not
//! enabled YMM state in XCR0 faults on the first AVX instruction, so levels 3
//! and 4 also require OSXSAVE and the matching XCR0 bits.

use crate::level::Level;

/// One CPU feature that a level requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Feature {
    Cmpxchg16b,
    LahfSahf,
    Popcnt,
    Sse3,
    Ssse3,
    Sse41,
    Sse42,
    Avx,
    Avx2,
    Bmi1,
    Bmi2,
    F16c,
    Fma,
    Lzcnt,
    Movbe,
    Osxsave,
    Avx512f,
    Avx512bw,
    Avx512cd,
    Avx512dq,
    Avx512vl,
}

use Feature::*;

/// Features `x86-64-v2` adds to the baseline.
pub const V2_FEATURES: &[Feature] = &[Cmpxchg16b, LahfSahf, Popcnt, Sse3, Ssse3, Sse41, Sse42];
/// Features `x86-64-v3` adds to v2 (OSXSAVE is the OS's side of AVX).
pub const V3_FEATURES: &[Feature] = &[Avx, Avx2, Bmi1, Bmi2, F16c, Fma, Lzcnt, Movbe, Osxsave];
/// Features `x86-64-v4` adds to v3.
pub const V4_FEATURES: &[Feature] = &[Avx512f, Avx512bw, Avx512cd, Avx512dq, Avx512vl];

/// XCR0 bits 1 and 2: the OS saves XMM and YMM state.
pub const XCR0_AVX_STATE: u64 = 0b110;
/// XCR0 bits 5, 6 and 7: the OS saves opmask, ZMM_Hi256 and Hi16_ZMM state.
pub const XCR0_AVX512_STATE: u64 = 0b1110_0000;

/// The CPUID and XCR0 facts the level depends on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    features: u32,
    /// The XCR0 register, or 0 when OSXSAVE is clear and XGETBV would fault.
    pub xcr0: u64,
}

impl Facts {
    /// Facts with exactly these features and this XCR0.
    pub fn new(features: &[Feature], xcr0: u64) -> Facts {
        let mut facts = Facts { features: 0, xcr0 };
        for &f in features {
            facts.set(f, true);
        }
        facts
    }

    /// Whether the CPU reported `feature`.
    pub fn has(&self, feature: Feature) -> bool {
        self.features & (1 << feature as u8) != 0
    }

    /// Sets or clears one feature.
    pub fn set(&mut self, feature: Feature, on: bool) {
        if on {
            self.features |= 1 << feature as u8;
        } else {
            self.features &= !(1 << feature as u8);
        }
    }

    fn has_all(&self, features: &[Feature]) -> bool {
        features.iter().all(|&f| self.has(f))
    }

    /// The highest level these facts allow. The baseline is assumed: a CPU
    /// without it cannot have started this (baseline) launcher.
    pub fn level(&self) -> Level {
        if !self.has_all(V2_FEATURES) {
            return Level::V1;
        }
        if !self.has_all(V3_FEATURES) || self.xcr0 & XCR0_AVX_STATE != XCR0_AVX_STATE {
            return Level::V2;
        }
        let avx512_state = XCR0_AVX_STATE | XCR0_AVX512_STATE;
        if !self.has_all(V4_FEATURES) || self.xcr0 & avx512_state != avx512_state {
            return Level::V3;
        }
        Level::V4
    }

    /// Reads the facts of the CPU this runs on.
    pub fn read() -> Facts {
        let cpuid = raw_cpuid::CpuId::new();
        let mut facts = Facts::default();
        if let Some(f) = cpuid.get_feature_info() {
            facts.set(Cmpxchg16b, f.has_cmpxchg16b());
            facts.set(Popcnt, f.has_popcnt());
            facts.set(Sse3, f.has_sse3());
            facts.set(Ssse3, f.has_ssse3());
            facts.set(Sse41, f.has_sse41());
            facts.set(Sse42, f.has_sse42());
            facts.set(Avx, f.has_avx());
            facts.set(F16c, f.has_f16c());
            facts.set(Fma, f.has_fma());
            facts.set(Movbe, f.has_movbe());
            facts.set(Osxsave, f.has_oxsave());
        }
        if let Some(f) = cpuid.get_extended_feature_info() {
            facts.set(Avx2, f.has_avx2());
            facts.set(Bmi1, f.has_bmi1());
            facts.set(Bmi2, f.has_bmi2());
            facts.set(Avx512f, f.has_avx512f());
            facts.set(Avx512bw, f.has_avx512bw());
            facts.set(Avx512cd, f.has_avx512cd());
            facts.set(Avx512dq, f.has_avx512dq());
            facts.set(Avx512vl, f.has_avx512vl());
        }
        if let Some(f) = cpuid.get_extended_processor_and_feature_identifiers() {
            facts.set(LahfSahf, f.has_lahf_sahf());
            facts.set(Lzcnt, f.has_lzcnt());
        }
        if facts.has(Osxsave) {
            facts.xcr0 = read_xcr0();
        }
        facts
    }
}

/// Reads XCR0 with XGETBV. Only call it when CPUID reports OSXSAVE.
fn read_xcr0() -> u64 {
    #[target_feature(enable = "xsave")]
    unsafe fn xgetbv0() -> u64 {
        // SAFETY: the caller checked CPUID.1:ECX.OSXSAVE, which means the OS
        // set CR4.OSXSAVE and XGETBV with ECX=0 does not fault.
        unsafe { core::arch::x86_64::_xgetbv(0) }
    }
    // SAFETY: the `xsave` target feature is implied by OSXSAVE, which the
    // only caller (`Facts::read`) checked.
    unsafe { xgetbv0() }
}

/// The level of the CPU this runs on.
pub fn detect() -> Level {
    Facts::read().level()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE_V2: &[Feature] = V2_FEATURES;

    fn cpu(groups: &[&[Feature]], xcr0: u64) -> Facts {
        let all: Vec<Feature> = groups.iter().flat_map(|g| g.iter().copied()).collect();
        Facts::new(&all, xcr0)
    }

    const FULL_XCR0: u64 = 0xe7;

    #[test]
    fn real_cpus() {
        let table: &[(&str, Facts, Level)] = &[
            ("qemu64", cpu(&[&[Sse3, Cmpxchg16b]], 0), Level::V1),
            ("Core 2 (Merom)", cpu(&[&[Sse3, Ssse3, Cmpxchg16b, LahfSahf]], 0), Level::V1),
            ("Nehalem", cpu(&[BASE_V2], 0), Level::V2),
            ("Sandy Bridge", cpu(&[BASE_V2, &[Avx, Osxsave]], 0x7), Level::V2),
            ("Ivy Bridge", cpu(&[BASE_V2, &[Avx, F16c, Osxsave]], 0x7), Level::V2),
            ("Haswell", cpu(&[BASE_V2, V3_FEATURES], 0x7), Level::V3),
            ("Zen 2", cpu(&[BASE_V2, V3_FEATURES], 0x207), Level::V3),
            ("Skylake-X", cpu(&[BASE_V2, V3_FEATURES, V4_FEATURES], 0x2e7), Level::V4),
            ("Zen 4", cpu(&[BASE_V2, V3_FEATURES, V4_FEATURES], 0x2e7), Level::V4),
            (
                "Knights Landing (no BW/DQ/VL)",
                cpu(&[BASE_V2, V3_FEATURES, &[Avx512f, Avx512cd]], FULL_XCR0),
                Level::V3,
            ),
        ];
        for (name, facts, want) in table {
            assert_eq!(facts.level(), *want, "{name}");
        }
    }

    #[test]
    fn os_state_gates_avx_levels() {
        let haswell = cpu(&[BASE_V2, V3_FEATURES], 0x7);
        // AVX2 present but the OS did not enable YMM state.
        assert_eq!(Facts { xcr0: 0x3, ..haswell }.level(), Level::V2);
        // OSXSAVE clear: XCR0 cannot even be read.
        let mut no_osxsave = Facts { xcr0: 0, ..haswell };
        no_osxsave.set(Osxsave, false);
        assert_eq!(no_osxsave.level(), Level::V2);
        // AVX-512 implemented, ZMM state not enabled (e.g. a hypervisor hides it).
        let skx = cpu(&[BASE_V2, V3_FEATURES, V4_FEATURES], 0x7);
        assert_eq!(skx.level(), Level::V3);
        // Opmask enabled but not the upper ZMM halves.
        assert_eq!(Facts { xcr0: 0x27, ..skx }.level(), Level::V3);
    }

    #[test]
    fn every_required_feature_matters() {
        let top = cpu(&[BASE_V2, V3_FEATURES, V4_FEATURES], FULL_XCR0);
        assert_eq!(top.level(), Level::V4);
        for (group, below) in [(V2_FEATURES, Level::V1), (V3_FEATURES, Level::V2), (V4_FEATURES, Level::V3)] {
            for &f in group {
                let mut facts = top;
                facts.set(f, false);
                assert_eq!(facts.level(), below, "without {f:?}");
            }
        }
    }
}
