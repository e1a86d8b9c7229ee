//! The aarch64 target features the launcher can detect: for each, the bits
//! the Linux kernel sets in the auxiliary vector's `AT_HWCAP` and
//! `AT_HWCAP2` entries when the CPU (and the kernel) supports it.
//!
//! [`FEATURES`] names, by rustc's spelling, every target feature of
//! `rustc --print target-features --target aarch64-unknown-linux-gnu`
//! (rustc 1.96) that user code can use and that the kernel reports with a
//! hwcap bit, except the ones in [`IGNORED`]. A rustc feature may stand for
//! several kernel bits (`aes` is AES and PMULL, `fp16` is scalar and vector
//! half precision): it is present only when all of them are set. It is plain
//! data, compiled on every host: the CLI on x86-64 reads it to pack aarch64
//! bundles. Only `detect` (compiled for aarch64 only) needs an aarch64 CPU.
//!
//! Sources: the bit numbers are the kernel's
//! `arch/arm64/include/uapi/asm/hwcap.h`: up to `HWCAP2_SVE_EBF16` (bit 33)
//! as Debian's `/usr/aarch64-linux-gnu/include/asm/hwcap.h`
//! (libc6-dev-arm64-cross, Linux 6.1) has them, checked against it by a
//! test; bits 34 to 44 (`HWCAP2_CSSC` to `HWCAP2_HBC`) as Linux 6.5 added
//! them. Features the kernel reports in later bits or in `AT_HWCAP3` are in
//! [`NOT_DETECTED`]: a variant that needs one fails to pack rather than
//! trust a bit this table cannot check. What each bit means is the kernel's
//! `Documentation/arch/arm64/elf_hwcaps.rst`; which instructions each
//! rustc feature enables is LLVM's `AArch64Features.td`.
//!
//! The kernel sets a hwcap bit only for what it lets user space run, so no
//! second, OS-side check is needed as XCR0 is on x86-64: SVE, SME or MTE
//! state the kernel does not manage is never reported.

use crate::features::{const_str_eq, table_id, FeatureSet};

/// How to detect one target feature: every bit of `hwcap` in `AT_HWCAP` and
/// every bit of `hwcap2` in `AT_HWCAP2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeatureDef {
    /// The name rustc uses: `-Ctarget-feature=+NAME`, `target_feature = "NAME"`.
    pub name: &'static str,
    /// The `AT_HWCAP` bits that must all be set.
    pub hwcap: u64,
    /// The `AT_HWCAP2` bits that must all be set.
    pub hwcap2: u64,
}

/// `AT_HWCAP` bits (asm/hwcap.h).
pub mod hwcap {
    pub const FP: u64 = 1 << 0;
    pub const ASIMD: u64 = 1 << 1;
    pub const AES: u64 = 1 << 3;
    pub const PMULL: u64 = 1 << 4;
    pub const SHA1: u64 = 1 << 5;
    pub const SHA2: u64 = 1 << 6;
    pub const CRC32: u64 = 1 << 7;
    pub const ATOMICS: u64 = 1 << 8;
    pub const FPHP: u64 = 1 << 9;
    pub const ASIMDHP: u64 = 1 << 10;
    pub const ASIMDRDM: u64 = 1 << 12;
    pub const JSCVT: u64 = 1 << 13;
    pub const FCMA: u64 = 1 << 14;
    pub const LRCPC: u64 = 1 << 15;
    pub const DCPOP: u64 = 1 << 16;
    pub const SHA3: u64 = 1 << 17;
    pub const SM3: u64 = 1 << 18;
    pub const SM4: u64 = 1 << 19;
    pub const ASIMDDP: u64 = 1 << 20;
    pub const SHA512: u64 = 1 << 21;
    pub const SVE: u64 = 1 << 22;
    pub const ASIMDFHM: u64 = 1 << 23;
    pub const DIT: u64 = 1 << 24;
    pub const USCAT: u64 = 1 << 25;
    pub const ILRCPC: u64 = 1 << 26;
    pub const FLAGM: u64 = 1 << 27;
    pub const SSBS: u64 = 1 << 28;
    pub const SB: u64 = 1 << 29;
    pub const PACA: u64 = 1 << 30;
    pub const PACG: u64 = 1 << 31;
}

/// `AT_HWCAP2` bits (asm/hwcap.h).
pub mod hwcap2 {
    pub const DCPODP: u64 = 1 << 0;
    pub const SVE2: u64 = 1 << 1;
    pub const SVEAES: u64 = 1 << 2;
    pub const SVEPMULL: u64 = 1 << 3;
    pub const SVEBITPERM: u64 = 1 << 4;
    pub const SVESHA3: u64 = 1 << 5;
    pub const SVESM4: u64 = 1 << 6;
    pub const FLAGM2: u64 = 1 << 7;
    pub const FRINT: u64 = 1 << 8;
    pub const SVEF32MM: u64 = 1 << 10;
    pub const SVEF64MM: u64 = 1 << 11;
    pub const I8MM: u64 = 1 << 13;
    pub const BF16: u64 = 1 << 14;
    pub const RNG: u64 = 1 << 16;
    pub const BTI: u64 = 1 << 17;
    pub const MTE: u64 = 1 << 18;
    pub const ECV: u64 = 1 << 19;
    pub const SME: u64 = 1 << 23;
    pub const SME_I16I64: u64 = 1 << 24;
    pub const SME_F64F64: u64 = 1 << 25;
    pub const SME_FA64: u64 = 1 << 30;
    pub const WFXT: u64 = 1 << 31;
    pub const CSSC: u64 = 1 << 34;
    pub const SVE2P1: u64 = 1 << 36;
    pub const SME2: u64 = 1 << 37;
    pub const SME2P1: u64 = 1 << 38;
    pub const SME_B16B16: u64 = 1 << 41;
    pub const SME_F16F16: u64 = 1 << 42;
    pub const MOPS: u64 = 1 << 43;
    pub const HBC: u64 = 1 << 44;
}

const fn hw(name: &'static str, hwcap: u64) -> FeatureDef {
    FeatureDef { name, hwcap, hwcap2: 0 }
}

const fn hw2(name: &'static str, hwcap2: u64) -> FeatureDef {
    FeatureDef { name, hwcap: 0, hwcap2 }
}

/// Every feature the launcher detects, sorted by name; a feature's index in
/// a [`FeatureSet`] is its position here.
#[rustfmt::skip]
pub const FEATURES: &[FeatureDef] = &[
    // LLVM's `aes` is FEAT_AES with FEAT_PMULL (64-bit polynomial multiply).
    hw("aes",           hwcap::AES | hwcap::PMULL),
    hw2("bf16",         hwcap2::BF16),
    hw2("bti",          hwcap2::BTI),
    hw("crc",           hwcap::CRC32),
    hw2("cssc",         hwcap2::CSSC),
    hw("dit",           hwcap::DIT),
    hw("dotprod",       hwcap::ASIMDDP),
    hw("dpb",           hwcap::DCPOP),
    hw2("dpb2",         hwcap2::DCPODP),
    hw2("ecv",          hwcap2::ECV),
    hw2("f32mm",        hwcap2::SVEF32MM),
    hw2("f64mm",        hwcap2::SVEF64MM),
    hw("fcma",          hwcap::FCMA),
    hw("fhm",           hwcap::ASIMDFHM),
    hw("flagm",         hwcap::FLAGM),
    hw2("flagm2",       hwcap2::FLAGM2),
    // Half precision in both the FP and the Advanced SIMD registers.
    hw("fp16",          hwcap::FPHP | hwcap::ASIMDHP),
    hw2("frintts",      hwcap2::FRINT),
    hw2("hbc",          hwcap2::HBC),
    hw2("i8mm",         hwcap2::I8MM),
    hw("jsconv",        hwcap::JSCVT),
    hw("lse",           hwcap::ATOMICS),
    hw("lse2",          hwcap::USCAT),
    hw2("mops",         hwcap2::MOPS),
    hw2("mte",          hwcap2::MTE),
    hw("paca",          hwcap::PACA),
    hw("pacg",          hwcap::PACG),
    hw2("rand",         hwcap2::RNG),
    hw("rcpc",          hwcap::LRCPC),
    hw("rcpc2",         hwcap::ILRCPC),
    hw("rdm",           hwcap::ASIMDRDM),
    hw("sb",            hwcap::SB),
    // SHA-1 and SHA-256; `sha3` is SHA-3 and SHA-512; `sm4` is SM3 and SM4.
    hw("sha2",          hwcap::SHA1 | hwcap::SHA2),
    hw("sha3",          hwcap::SHA3 | hwcap::SHA512),
    hw("sm4",           hwcap::SM3 | hwcap::SM4),
    hw2("sme",          hwcap2::SME),
    hw2("sme-b16b16",   hwcap2::SME_B16B16),
    hw2("sme-f16f16",   hwcap2::SME_F16F16),
    hw2("sme-f64f64",   hwcap2::SME_F64F64),
    hw2("sme-fa64",     hwcap2::SME_FA64),
    hw2("sme-i16i64",   hwcap2::SME_I16I64),
    hw2("sme2",         hwcap2::SME2),
    hw2("sme2p1",       hwcap2::SME2P1),
    hw("ssbs",          hwcap::SSBS),
    hw("sve",           hwcap::SVE),
    hw2("sve2",         hwcap2::SVE2),
    hw2("sve2-aes",     hwcap2::SVEAES | hwcap2::SVEPMULL),
    hw2("sve2-bitperm", hwcap2::SVEBITPERM),
    hw2("sve2-sha3",    hwcap2::SVESHA3),
    hw2("sve2-sm4",     hwcap2::SVESM4),
    hw2("sve2p1",       hwcap2::SVE2P1),
    hw2("wfxt",         hwcap2::WFXT),
];

/// Target features rustc lists that every aarch64 Linux CPU has (`neon`:
/// FP and Advanced SIMD are part of the target's baseline), that are not
/// CPU features (`crt-static`, `outline-atomics`, a code generation choice
/// that itself checks for LSE at run time), that are architecture versions
/// (`v8.1a` ...: rustc also lists every feature a version implies, and those
/// are checked one by one), or that only the kernel or a hypervisor uses
/// (`lor`, `pan`, `pmuv3`, `ras`, `spe`, `vh`: EL1/EL2 registers and
/// instructions, which LLVM never emits in user code): a variant may enable
/// them, they are never required.
pub const IGNORED: &[&str] = &[
    "crt-static",
    "lor",
    "neon",
    "outline-atomics",
    "pan",
    "pmuv3",
    "ras",
    "spe",
    "v8.1a",
    "v8.2a",
    "v8.3a",
    "v8.4a",
    "v8.5a",
    "v8.6a",
    "v8.7a",
    "v8.8a",
    "v8.9a",
    "v9.1a",
    "v9.2a",
    "v9.3a",
    "v9.4a",
    "v9.5a",
    "v9a",
    "vh",
];

/// rustc target features the kernel reports in bits this table does not
/// trust yet (see the module documentation): a variant that enables one
/// fails to pack, naming it.
pub const NOT_DETECTED: &[&str] = &[
    "faminmax",
    "fp8",
    "fp8dot2",
    "fp8dot4",
    "fp8fma",
    "lse128",
    "lut",
    "pauth-lr",
    "rcpc3",
    "sme-f8f16",
    "sme-f8f32",
    "sme-lutv2",
    "ssve-fp8dot2",
    "ssve-fp8dot4",
    "ssve-fp8fma",
    "sve-b16b16",
];

/// The `-Ctarget-cpu` every aarch64 CPU runs: a bundle's last variant.
pub const BASELINE_CPU: &str = "generic";

/// Identifies [`FEATURES`] (names and order): `multiarch pack` writes it
/// into the crate root it generates, which compiles only against a
/// launcher with the same table.
pub const TABLE_ID: u64 = {
    let mut names = [""; FEATURES.len()];
    let mut i = 0;
    while i < FEATURES.len() {
        names[i] = FEATURES[i].name;
        i += 1;
    }
    table_id(&names)
};

const _: () = assert!(FEATURES.len() <= FeatureSet::CAPACITY);

/// The index of feature `name` in [`FEATURES`].
pub const fn index(name: &str) -> Option<usize> {
    let mut i = 0;
    while i < FEATURES.len() {
        if const_str_eq(FEATURES[i].name, name) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// The name of feature `index`.
pub fn name(index: usize) -> Option<&'static str> {
    FEATURES.get(index).map(|f| f.name)
}

/// The set of the named features. Panics on a name not in [`FEATURES`]
/// (in a const: a compile error).
pub const fn set_of(names: &[&str]) -> FeatureSet {
    let mut set = FeatureSet::EMPTY;
    let mut i = 0;
    while i < names.len() {
        match index(names[i]) {
            Some(at) => set = set.with(at),
            None => panic!("not an aarch64 feature of the launcher's table"),
        }
        i += 1;
    }
    set
}

/// What the kernel said: the `AT_HWCAP` and `AT_HWCAP2` words (0 where the
/// auxiliary vector has no such entry, as before Linux 4.15 for the second).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Hwcaps {
    pub hwcap: u64,
    pub hwcap2: u64,
}

impl Hwcaps {
    /// The features these words show: every bit of each feature is set.
    pub const fn features(&self) -> FeatureSet {
        let mut set = FeatureSet::EMPTY;
        let mut i = 0;
        while i < FEATURES.len() {
            let f = &FEATURES[i];
            if self.hwcap & f.hwcap == f.hwcap && self.hwcap2 & f.hwcap2 == f.hwcap2 {
                set = set.with(i);
            }
            i += 1;
        }
        set
    }
}

/// `getauxval` keys.
pub const AT_HWCAP: usize = 16;
pub const AT_HWCAP2: usize = 26;

/// The features of the CPU this runs on, as its kernel reports them.
#[cfg(target_arch = "aarch64")]
pub fn detect() -> FeatureSet {
    let word = |key| crate::sys::auxv(key).unwrap_or(0) as u64;
    Hwcaps { hwcap: word(AT_HWCAP), hwcap2: word(AT_HWCAP2) }.features()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn names(set: FeatureSet) -> Vec<&'static str> {
        set.iter().map(|i| name(i).unwrap()).collect()
    }

    /// AT_HWCAP and AT_HWCAP2 as the qemu models tests/arm64.sh runs show
    /// them (`getauxval` in a program under `qemu-aarch64 -cpu MODEL`:
    /// qemu 7.2 for cortex-a53, a64fx and neoverse-n1, 10.0 for the rest).
    const CORTEX_A53: Hwcaps = Hwcaps { hwcap: 0x8fb, hwcap2: 0 };
    const A64FX: Hwcaps = Hwcaps { hwcap: 0x415ffb, hwcap2: 0 };
    const NEOVERSE_N1: Hwcaps = Hwcaps { hwcap: 0x119ffb, hwcap2: 0 };
    const NEOVERSE_V1: Hwcaps = Hwcaps { hwcap: 0xcffffffb, hwcap2: 0x17201 };
    const NEOVERSE_N2: Hwcaps = Hwcaps { hwcap: 0xeffffffb, hwcap2: 0x773ff };

    #[test]
    fn models_of_real_cpus() {
        assert_eq!(names(CORTEX_A53.features()), ["aes", "crc", "sha2"]);
        assert_eq!(
            names(NEOVERSE_N1.features()),
            ["aes", "crc", "dotprod", "dpb", "fp16", "lse", "rcpc", "rdm", "sha2"]
        );
        // SVE without dot product or RCpc: SVE alone makes no tier.
        assert_eq!(
            names(A64FX.features()),
            ["aes", "crc", "dpb", "fcma", "fp16", "lse", "rdm", "sha2", "sve"]
        );
        let v1 = names(V1_FEATURES);
        for f in ["sve", "i8mm", "bf16", "rand", "dpb2", "sha3", "sm4", "lse2", "rcpc2", "paca"] {
            assert!(v1.contains(&f), "neoverse-v1 lacks {f}: {v1:?}");
        }
        assert!(!v1.contains(&"sve2"), "{v1:?}");
        let n2 = names(NEOVERSE_N2.features());
        for f in ["sve", "sve2", "sve2-bitperm", "i8mm", "bf16", "mte", "bti", "flagm2", "frintts"] {
            assert!(n2.contains(&f), "neoverse-n2 lacks {f}: {n2:?}");
        }
    }

    const V1_FEATURES: FeatureSet = NEOVERSE_V1.features();

    /// The masks of issue 13's tier table: each tier's features are there,
    /// and the next tier's extra ones are not.
    #[test]
    fn tier_masks() {
        let a2 = Hwcaps { hwcap: 0x109783, hwcap2: 0 }.features();
        assert_eq!(names(a2), ["crc", "dotprod", "fp16", "lse", "rcpc", "rdm"]);
        let a3 = Hwcaps { hwcap: 0x509783, hwcap2: 0x6000 }.features();
        assert_eq!(names(a3), ["bf16", "crc", "dotprod", "fp16", "i8mm", "lse", "rcpc", "rdm", "sve"]);
        let a4 = Hwcaps { hwcap: 0x509783, hwcap2: 0x6002 }.features();
        assert_eq!(a4, a3.with(index("sve2").unwrap()));
        assert!(Hwcaps { hwcap: 0x3, hwcap2: 0 }.features().is_empty());
    }

    #[test]
    fn lists_are_disjoint_and_sorted() {
        for w in FEATURES.windows(2) {
            assert!(w[0].name < w[1].name, "{} before {}", w[0].name, w[1].name);
        }
        for list in [IGNORED, NOT_DETECTED] {
            assert!(list.windows(2).all(|w| w[0] < w[1]), "{list:?}");
            for f in list {
                assert_eq!(index(f), None, "{f} is detected and listed");
            }
        }
        assert!(IGNORED.iter().all(|f| !NOT_DETECTED.contains(f)));
    }

    /// The table against std's detection (std_detect, which reads the same
    /// auxiliary vector) on the CPU the tests run on: tests/arm64.sh runs
    /// them under several qemu models.
    #[test]
    #[cfg(target_arch = "aarch64")]
    fn agrees_with_std() {
        // SAFETY: getauxval only reads the auxiliary vector.
        let (hwcap, hwcap2) = unsafe { (libc::getauxval(libc::AT_HWCAP), libc::getauxval(libc::AT_HWCAP2)) };
        let ours = Hwcaps { hwcap, hwcap2 }.features();
        macro_rules! std_has {
            ($($name:tt),*) => {
                [$(($name, std::arch::is_aarch64_feature_detected!($name))),*]
            };
        }
        let std_says = std_has!(
            "aes",
            "bf16",
            "bti",
            "crc",
            "dit",
            "dotprod",
            "dpb",
            "dpb2",
            "f32mm",
            "f64mm",
            "fcma",
            "fhm",
            "flagm",
            "fp16",
            "frintts",
            "i8mm",
            "jsconv",
            "lse",
            "lse2",
            "mte",
            "paca",
            "pacg",
            "rand",
            "rcpc",
            "rcpc2",
            "rdm",
            "sb",
            "sha2",
            "sha3",
            "sm4",
            "ssbs",
            "sve",
            "sve2",
            "sve2-aes",
            "sve2-bitperm",
            "sve2-sha3",
            "sve2-sm4"
        );
        for (name, has) in std_says {
            assert_eq!(
                ours.contains(index(name).unwrap()),
                has,
                "{name} (AT_HWCAP {hwcap:#x}, AT_HWCAP2 {hwcap2:#x})"
            );
        }
        std::eprintln!("AT_HWCAP {hwcap:#x}, AT_HWCAP2 {hwcap2:#x}: {:?}", names(ours));
    }

    /// Every bit of a multi-bit feature is needed; one bit alone is not
    /// enough; every table entry has a bit.
    #[test]
    fn each_bit_matters() {
        for (i, f) in FEATURES.iter().enumerate() {
            assert!(f.hwcap | f.hwcap2 != 0, "{} has no bit", f.name);
            let all = Hwcaps { hwcap: f.hwcap, hwcap2: f.hwcap2 };
            assert!(all.features().contains(i), "{}", f.name);
            for word in 0..2 {
                let bits = if word == 0 { f.hwcap } else { f.hwcap2 };
                for b in 0..64 {
                    if bits & 1 << b == 0 {
                        continue;
                    }
                    let mut less = all;
                    if word == 0 {
                        less.hwcap &= !(1 << b);
                    } else {
                        less.hwcap2 &= !(1 << b);
                    }
                    assert!(!less.features().contains(i), "{} without bit {b} of word {word}", f.name);
                }
            }
        }
        // The same bit in the other word is not the feature.
        let lse = index("lse").unwrap();
        assert!(!Hwcaps { hwcap: 0, hwcap2: hwcap::ATOMICS }.features().contains(lse));
    }

    /// The bit numbers against the kernel's header, where it is installed
    /// (libc6-dev-arm64-cross; tests/arm64_toolchain.sh installs it).
    #[test]
    fn bits_match_the_kernel_header() {
        let Ok(header) = std::fs::read_to_string("/usr/aarch64-linux-gnu/include/asm/hwcap.h") else {
            std::eprintln!(
                "skipped: no /usr/aarch64-linux-gnu/include/asm/hwcap.h (tests/arm64_toolchain.sh)"
            );
            return;
        };
        let bit = |macro_name: &str| -> u64 {
            let line = header
                .lines()
                .find(|l| l.split_whitespace().nth(1) == Some(macro_name))
                .unwrap_or_else(|| panic!("{macro_name} not in hwcap.h"));
            let shift = line.rsplit("<<").next().unwrap().trim().trim_end_matches(')').trim();
            1 << shift.parse::<u32>().unwrap()
        };
        let ours: &[(&str, u64)] = &[
            ("HWCAP_FP", hwcap::FP),
            ("HWCAP_ASIMD", hwcap::ASIMD),
            ("HWCAP_AES", hwcap::AES),
            ("HWCAP_PMULL", hwcap::PMULL),
            ("HWCAP_SHA1", hwcap::SHA1),
            ("HWCAP_SHA2", hwcap::SHA2),
            ("HWCAP_CRC32", hwcap::CRC32),
            ("HWCAP_ATOMICS", hwcap::ATOMICS),
            ("HWCAP_FPHP", hwcap::FPHP),
            ("HWCAP_ASIMDHP", hwcap::ASIMDHP),
            ("HWCAP_ASIMDRDM", hwcap::ASIMDRDM),
            ("HWCAP_JSCVT", hwcap::JSCVT),
            ("HWCAP_FCMA", hwcap::FCMA),
            ("HWCAP_LRCPC", hwcap::LRCPC),
            ("HWCAP_DCPOP", hwcap::DCPOP),
            ("HWCAP_SHA3", hwcap::SHA3),
            ("HWCAP_SM3", hwcap::SM3),
            ("HWCAP_SM4", hwcap::SM4),
            ("HWCAP_ASIMDDP", hwcap::ASIMDDP),
            ("HWCAP_SHA512", hwcap::SHA512),
            ("HWCAP_SVE", hwcap::SVE),
            ("HWCAP_ASIMDFHM", hwcap::ASIMDFHM),
            ("HWCAP_DIT", hwcap::DIT),
            ("HWCAP_USCAT", hwcap::USCAT),
            ("HWCAP_ILRCPC", hwcap::ILRCPC),
            ("HWCAP_FLAGM", hwcap::FLAGM),
            ("HWCAP_SSBS", hwcap::SSBS),
            ("HWCAP_SB", hwcap::SB),
            ("HWCAP_PACA", hwcap::PACA),
            ("HWCAP_PACG", hwcap::PACG),
            ("HWCAP2_DCPODP", hwcap2::DCPODP),
            ("HWCAP2_SVE2", hwcap2::SVE2),
            ("HWCAP2_SVEAES", hwcap2::SVEAES),
            ("HWCAP2_SVEPMULL", hwcap2::SVEPMULL),
            ("HWCAP2_SVEBITPERM", hwcap2::SVEBITPERM),
            ("HWCAP2_SVESHA3", hwcap2::SVESHA3),
            ("HWCAP2_SVESM4", hwcap2::SVESM4),
            ("HWCAP2_FLAGM2", hwcap2::FLAGM2),
            ("HWCAP2_FRINT", hwcap2::FRINT),
            ("HWCAP2_SVEF32MM", hwcap2::SVEF32MM),
            ("HWCAP2_SVEF64MM", hwcap2::SVEF64MM),
            ("HWCAP2_I8MM", hwcap2::I8MM),
            ("HWCAP2_BF16", hwcap2::BF16),
            ("HWCAP2_RNG", hwcap2::RNG),
            ("HWCAP2_BTI", hwcap2::BTI),
            ("HWCAP2_MTE", hwcap2::MTE),
            ("HWCAP2_ECV", hwcap2::ECV),
            ("HWCAP2_SME", hwcap2::SME),
            ("HWCAP2_SME_I16I64", hwcap2::SME_I16I64),
            ("HWCAP2_SME_F64F64", hwcap2::SME_F64F64),
            ("HWCAP2_SME_FA64", hwcap2::SME_FA64),
            ("HWCAP2_WFXT", hwcap2::WFXT),
        ];
        for &(macro_name, value) in ours {
            assert_eq!(bit(macro_name), value, "{macro_name}");
        }
        // Bits 34 to 44, where a newer header has them.
        let newer: &[(&str, u64)] = &[
            ("HWCAP2_CSSC", hwcap2::CSSC),
            ("HWCAP2_SVE2P1", hwcap2::SVE2P1),
            ("HWCAP2_SME2", hwcap2::SME2),
            ("HWCAP2_SME2P1", hwcap2::SME2P1),
            ("HWCAP2_SME_B16B16", hwcap2::SME_B16B16),
            ("HWCAP2_SME_F16F16", hwcap2::SME_F16F16),
            ("HWCAP2_MOPS", hwcap2::MOPS),
            ("HWCAP2_HBC", hwcap2::HBC),
        ];
        for &(macro_name, value) in newer {
            if header.contains(macro_name) {
                assert_eq!(bit(macro_name), value, "{macro_name}");
            }
        }
    }

    /// Every feature rustc reports for any aarch64 CPU is in the table, or
    /// ignored, or listed as not detected: a new rustc feature needs a
    /// decision. Skipped without a rustc on PATH.
    #[test]
    fn every_rustc_cpu_feature_is_known() {
        use std::process::Command;
        let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
        let run = |args: &[&str]| -> Option<std::string::String> {
            let out = Command::new(&rustc).args(args).env("RUSTC_BOOTSTRAP", "1").output().ok()?;
            out.status.success().then(|| std::string::String::from_utf8_lossy(&out.stdout).into_owned())
        };
        let target = "aarch64-unknown-linux-gnu";
        let Some(cpus) = run(&["--print", "target-cpus", "--target", target]) else {
            std::eprintln!("skipped: no rustc");
            return;
        };
        let mut checked = 0;
        for cpu in cpus.lines().skip(1).filter_map(|l| l.split_whitespace().next()) {
            if cpu == "native" {
                continue;
            }
            let flag = std::format!("-Ctarget-cpu={cpu}");
            let Some(cfg) = run(&["--print", "cfg", "--target", target, &flag]) else { continue };
            for f in cfg.lines().filter_map(|l| l.strip_prefix("target_feature=\"")?.strip_suffix('"')) {
                assert!(
                    index(f).is_some() || IGNORED.contains(&f) || NOT_DETECTED.contains(&f),
                    "-Ctarget-cpu={cpu} enables {f}, which is in none of FEATURES, IGNORED, NOT_DETECTED"
                );
            }
            checked += 1;
        }
        assert!(checked > 20, "only {checked} CPUs checked");
    }
}
