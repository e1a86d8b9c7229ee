//! The x86-64 target features the launcher can detect: for each, where
//! CPUID reports it and which state the OS must have enabled in XCR0.
//!
//! [`FEATURES`] names every target feature rustc can enable on x86-64
//! (`rustc --print target-features`; the union of `rustc --print cfg` over
//! every `-Ctarget-cpu`, measured with rustc 1.95) except the ones in
//! [`IGNORED`], which every x86-64 CPU has or which are not CPU features. It
//! is plain data, compiled on every host: the CLI reads it to turn the
//! features rustc reports for a variant into the set the variant requires.
//! Only [`detect`] needs an x86-64 CPU.
//!
//! Sources, by table name:
//! - Intel SDM Vol. 2A, CPUID: Table 3-8 "Information Returned by CPUID
//!   Instruction" (leaves 07H sub-leaves 0 and 1, 0DH sub-leaf 1, 19H, 1EH,
//!   24H), Table 3-10 "Feature Information Returned in the ECX Register"
//!   (leaf 01H); for the newest bits (AVX10, APX, AMX-FP8/TF32/AVX512/MOVRS,
//!   MOVRS) the Intel Architecture Instruction Set Extensions Programming
//!   Reference, Table 1-2 "CPUID Leaf 07H ..." and its leaf 1EH and 24H
//!   tables, and the Intel AVX10 and APX architecture specifications.
//! - AMD APM Vol. 3, Appendix E "Obtaining Processor Information Via the
//!   CPUID Instruction", E.4.2 "Function 8000_0001h - Extended Processor and
//!   Processor Feature Identifiers" (ECX: LAHF/SAHF, ABM/LZCNT, SSE4A,
//!   3DNowPrefetch/PREFETCHW, XOP, TBM).
//! - Intel SDM Vol. 1, 13.1 "XSAVE-Supported Features and State-Component
//!   Bitmaps" (the XCR0 bits below), and 13.3 "Enabling the XSAVE Feature
//!   Set and XSAVE-Enabled Features": a VEX- or EVEX-encoded instruction
//!   raises #UD unless the OS set the XCR0 bits of the registers it uses.

use crate::features::{const_str_eq, table_id, FeatureSet};

/// A CPUID output register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reg {
    Eax,
    Ebx,
    Ecx,
    Edx,
}

/// A field of a CPUID leaf: bits `bit .. bit + width` of `reg` after CPUID
/// with EAX = `leaf`, ECX = `subleaf`, that says "yes" when at least `min`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub leaf: u32,
    pub subleaf: u32,
    pub reg: Reg,
    pub bit: u8,
    /// 1 for a flag.
    pub width: u8,
    /// 1 for a flag.
    pub min: u32,
}

impl Field {
    /// A one-bit flag.
    pub const fn flag(leaf: u32, subleaf: u32, reg: Reg, bit: u8) -> Field {
        Field { leaf, subleaf, reg, bit, width: 1, min: 1 }
    }

    /// The field's value in the registers `regs` (EAX, EBX, ECX, EDX).
    pub const fn value(&self, regs: [u32; 4]) -> u32 {
        let r = regs[self.reg as usize];
        let mask = if self.width >= 32 { u32::MAX } else { (1u32 << self.width) - 1 };
        (r >> self.bit) & mask
    }

    /// Whether the field says "yes" in `regs`.
    pub const fn test(&self, regs: [u32; 4]) -> bool {
        self.value(regs) >= self.min
    }
}

/// How to detect one target feature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeatureDef {
    /// The name rustc uses: `-Ctarget-feature=+NAME`, `target_feature = "NAME"`.
    pub name: &'static str,
    /// Where CPUID reports it.
    pub cpuid: Field,
    /// The XCR0 state components the OS must have enabled (all of them);
    /// 0 for none. Any non-zero mask also needs CPUID.01H:ECX.OSXSAVE\[27\],
    /// without which XCR0 cannot be read and counts as 0.
    pub xcr0: u64,
}

/// XCR0 bit 0: x87 state. Always set once the OS enabled XSAVE (XSETBV
/// refuses to clear it), so it stands for "OSXSAVE is set".
pub const XCR0_X87: u64 = 1 << 0;
/// XCR0 bits 1 and 2: SSE (XMM) and AVX (upper YMM halves) state.
pub const XCR0_YMM: u64 = 0b110;
/// XCR0 bits 1, 2 and 5 to 7: YMM plus opmask, ZMM_Hi256 and Hi16_ZMM state.
pub const XCR0_ZMM: u64 = XCR0_YMM | 0b1110_0000;
/// XCR0 bits 17 and 18: XTILECFG and XTILEDATA (AMX) state.
pub const XCR0_TILE: u64 = 0b11 << 17;
/// XCR0 bit 19: APX extended general-purpose registers (R16-R31).
pub const XCR0_APX: u64 = 1 << 19;

use Reg::{Eax, Ebx, Ecx, Edx};

const fn flag(name: &'static str, leaf: u32, subleaf: u32, reg: Reg, bit: u8, xcr0: u64) -> FeatureDef {
    FeatureDef { name, cpuid: Field::flag(leaf, subleaf, reg, bit), xcr0 }
}

/// AVX10 is reported as a version number, CPUID.24H:EBX[7:0].
const fn avx10(name: &'static str, version: u32) -> FeatureDef {
    FeatureDef {
        name,
        cpuid: Field { leaf: 0x24, subleaf: 0, reg: Ebx, bit: 0, width: 8, min: version },
        xcr0: XCR0_ZMM,
    }
}

/// Every feature the launcher detects, sorted by name; a feature's index in
/// a [`FeatureSet`] is its position here.
#[rustfmt::skip]
pub const FEATURES: &[FeatureDef] = &[
    flag("adx",                0x7, 0, Ebx, 19, 0),
    flag("aes",                0x1, 0, Ecx, 25, 0),
    // CPUID.1EH.1:EAX, valid when 1EH.0:EAX (its last sub-leaf) >= 1.
    flag("amx-avx512",         0x1e, 1, Eax, 7, XCR0_TILE | XCR0_ZMM),
    flag("amx-bf16",           0x7, 0, Edx, 22, XCR0_TILE),
    flag("amx-complex",        0x7, 1, Edx, 8, XCR0_TILE),
    flag("amx-fp16",           0x7, 1, Eax, 21, XCR0_TILE),
    flag("amx-fp8",            0x1e, 1, Eax, 4, XCR0_TILE),
    flag("amx-int8",           0x7, 0, Edx, 25, XCR0_TILE),
    flag("amx-movrs",          0x1e, 1, Eax, 8, XCR0_TILE),
    flag("amx-tf32",           0x1e, 1, Eax, 6, XCR0_TILE),
    flag("amx-tile",           0x7, 0, Edx, 24, XCR0_TILE),
    flag("apxf",               0x7, 1, Edx, 21, XCR0_APX),
    flag("avx",                0x1, 0, Ecx, 28, XCR0_YMM),
    // CPUID.24H is valid only when CPUID.07H.1:EDX.AVX10[19] is set.
    avx10("avx10.1", 1),
    avx10("avx10.2", 2),
    flag("avx2",               0x7, 0, Ebx, 5, XCR0_YMM),
    flag("avx512bf16",         0x7, 1, Eax, 5, XCR0_ZMM),
    flag("avx512bitalg",       0x7, 0, Ecx, 12, XCR0_ZMM),
    flag("avx512bw",           0x7, 0, Ebx, 30, XCR0_ZMM),
    flag("avx512cd",           0x7, 0, Ebx, 28, XCR0_ZMM),
    flag("avx512dq",           0x7, 0, Ebx, 17, XCR0_ZMM),
    flag("avx512f",            0x7, 0, Ebx, 16, XCR0_ZMM),
    flag("avx512fp16",         0x7, 0, Edx, 23, XCR0_ZMM),
    flag("avx512ifma",         0x7, 0, Ebx, 21, XCR0_ZMM),
    flag("avx512vbmi",         0x7, 0, Ecx, 1, XCR0_ZMM),
    flag("avx512vbmi2",        0x7, 0, Ecx, 6, XCR0_ZMM),
    flag("avx512vl",           0x7, 0, Ebx, 31, XCR0_ZMM),
    flag("avx512vnni",         0x7, 0, Ecx, 11, XCR0_ZMM),
    flag("avx512vp2intersect", 0x7, 0, Edx, 8, XCR0_ZMM),
    flag("avx512vpopcntdq",    0x7, 0, Ecx, 14, XCR0_ZMM),
    flag("avxifma",            0x7, 1, Eax, 23, XCR0_YMM),
    flag("avxneconvert",       0x7, 1, Edx, 5, XCR0_YMM),
    flag("avxvnni",            0x7, 1, Eax, 4, XCR0_YMM),
    flag("avxvnniint16",       0x7, 1, Edx, 10, XCR0_YMM),
    flag("avxvnniint8",        0x7, 1, Edx, 4, XCR0_YMM),
    // BMI1/BMI2 are VEX-encoded but use only general-purpose registers:
    // they need no XCR0 state.
    flag("bmi1",               0x7, 0, Ebx, 3, 0),
    flag("bmi2",               0x7, 0, Ebx, 8, 0),
    flag("cmpxchg16b",         0x1, 0, Ecx, 13, 0),
    flag("ermsb",              0x7, 0, Ebx, 9, 0),
    flag("f16c",               0x1, 0, Ecx, 29, XCR0_YMM),
    flag("fma",                0x1, 0, Ecx, 12, XCR0_YMM),
    // GFNI has legacy SSE encodings; LLVM uses the VEX/EVEX forms only
    // with AVX/AVX-512 enabled too, which bring their own state.
    flag("gfni",               0x7, 0, Ecx, 8, 0),
    // Key Locker: CPUID.19H:EBX.AESKLE[0] (the OS enabled it; leaf 19H is
    // valid when CPUID.07H:ECX.KL[23] is set) and .WIDE_KL[2].
    flag("kl",                 0x19, 0, Ebx, 0, 0),
    flag("lahfsahf",           0x8000_0001, 0, Ecx, 0, 0),
    flag("lzcnt",              0x8000_0001, 0, Ecx, 5, 0),
    flag("movbe",              0x1, 0, Ecx, 22, 0),
    flag("movrs",              0x7, 1, Eax, 31, 0),
    flag("pclmulqdq",          0x1, 0, Ecx, 1, 0),
    flag("popcnt",             0x1, 0, Ecx, 23, 0),
    flag("prfchw",             0x8000_0001, 0, Ecx, 8, 0),
    flag("rdrand",             0x1, 0, Ecx, 30, 0),
    flag("rdseed",             0x7, 0, Ebx, 18, 0),
    flag("rtm",                0x7, 0, Ebx, 11, 0),
    flag("sha",                0x7, 0, Ebx, 29, 0),
    flag("sha512",             0x7, 1, Eax, 0, XCR0_YMM),
    flag("sm3",                0x7, 1, Eax, 1, XCR0_YMM),
    flag("sm4",                0x7, 1, Eax, 2, XCR0_YMM),
    flag("sse3",               0x1, 0, Ecx, 0, 0),
    flag("sse4.1",             0x1, 0, Ecx, 19, 0),
    flag("sse4.2",             0x1, 0, Ecx, 20, 0),
    flag("sse4a",              0x8000_0001, 0, Ecx, 6, 0),
    flag("ssse3",              0x1, 0, Ecx, 9, 0),
    flag("tbm",                0x8000_0001, 0, Ecx, 21, 0),
    flag("vaes",               0x7, 0, Ecx, 9, XCR0_YMM),
    flag("vpclmulqdq",         0x7, 0, Ecx, 10, XCR0_YMM),
    flag("widekl",             0x19, 0, Ebx, 2, 0),
    flag("xop",                0x8000_0001, 0, Ecx, 11, XCR0_YMM),
    // XSAVE and its variants need CR4.OSXSAVE (XCR0 readable).
    flag("xsave",              0x1, 0, Ecx, 26, XCR0_X87),
    flag("xsavec",             0xd, 1, Eax, 1, XCR0_X87),
    flag("xsaveopt",           0xd, 1, Eax, 0, XCR0_X87),
    flag("xsaves",             0xd, 1, Eax, 3, XCR0_X87),
];

/// Target features rustc lists that every x86-64 CPU has, or that are not
/// CPU features: a variant may enable them, they are never required.
pub const IGNORED: &[&str] = &["crt-static", "fxsr", "sse", "sse2", "x87"];

/// The `-Ctarget-cpu` every x86-64 CPU runs: a bundle's last variant.
pub const BASELINE_CPU: &str = "x86-64";

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
    let end = usize::from(*NAME_ENDS.get(index)?);
    let start = if index == 0 { 0 } else { usize::from(NAME_ENDS[index - 1]) };
    // Whole names cut from the concatenation of `&str`s: valid UTF-8.
    core::str::from_utf8(NAME_BYTES.get(start..end)?).ok()
}

// What the launcher keeps of FEATURES at run time, in forms that need no
// relocation (a PIE relocates every pointer at start, and each costs 24
// bytes of .rela.dyn plus 16 of table): the names as one byte string with
// end offsets, and each feature's probe in 12 bytes.

/// The length of all names together.
const NAME_BYTES_LEN: usize = {
    let mut n = 0;
    let mut i = 0;
    while i < FEATURES.len() {
        n += FEATURES[i].name.len();
        i += 1;
    }
    n
};

/// Every name of [`FEATURES`], one after the other.
static NAME_BYTES: [u8; NAME_BYTES_LEN] = {
    let mut out = [0u8; NAME_BYTES_LEN];
    let (mut at, mut i) = (0, 0);
    while i < FEATURES.len() {
        let name = FEATURES[i].name.as_bytes();
        let mut j = 0;
        while j < name.len() {
            out[at] = name[j];
            at += 1;
            j += 1;
        }
        i += 1;
    }
    out
};

/// Where each name of [`NAME_BYTES`] ends.
static NAME_ENDS: [u16; FEATURES.len()] = {
    let mut out = [0u16; FEATURES.len()];
    let (mut at, mut i) = (0, 0);
    while i < FEATURES.len() {
        at += FEATURES[i].name.len();
        assert!(at <= u16::MAX as usize);
        out[i] = at as u16;
        i += 1;
    }
    out
};

/// A feature's probe: `field` of the leaf in [`LEAVES`] slot `slot`, and
/// the XCR0 bits it needs (all below bit 32).
#[derive(Clone, Copy)]
struct Probe {
    slot: u8,
    reg: u8,
    bit: u8,
    width: u8,
    min: u8,
    xcr0: u32,
}

/// The probe of each feature of [`FEATURES`].
static PROBES: [Probe; FEATURES.len()] = {
    let mut out = [Probe { slot: 0, reg: 0, bit: 0, width: 0, min: 0, xcr0: 0 }; FEATURES.len()];
    let mut i = 0;
    while i < FEATURES.len() {
        let f = FEATURES[i];
        let slot = match const_leaf_slot(f.cpuid.leaf, f.cpuid.subleaf) {
            Some(s) => s,
            None => panic!("a feature's leaf is not in LEAVES"),
        };
        assert!(f.cpuid.min <= u8::MAX as u32 && f.xcr0 <= u32::MAX as u64 && slot <= u8::MAX as usize);
        out[i] = Probe {
            slot: slot as u8,
            reg: f.cpuid.reg as u8,
            bit: f.cpuid.bit,
            width: f.cpuid.width,
            min: f.cpuid.min as u8,
            xcr0: f.xcr0 as u32,
        };
        i += 1;
    }
    out
};

/// [`leaf_slot`] in a const.
const fn const_leaf_slot(leaf: u32, subleaf: u32) -> Option<usize> {
    let mut i = 0;
    while i < LEAVES.len() {
        if LEAVES[i].leaf == leaf && LEAVES[i].subleaf == subleaf {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// The index of `name`, which must be in [`FEATURES`] (for consts).
const fn must(name: &str) -> usize {
    match index(name) {
        Some(i) => i,
        None => panic!("not an x86-64 feature of the launcher's table"),
    }
}

/// The set of the named features. Panics on a name not in [`FEATURES`]
/// (in a const: a compile error).
pub const fn set_of(names: &[&str]) -> FeatureSet {
    let mut set = FeatureSet::EMPTY;
    let mut i = 0;
    while i < names.len() {
        match index(names[i]) {
            Some(at) => set = set.with(at),
            None => panic!("not an x86-64 feature of the launcher's table"),
        }
        i += 1;
    }
    set
}

/// A CPUID leaf (and sub-leaf) the detection reads, and when it may: the
/// leaf must be at most the highest leaf of its range (CPUID.0:EAX, or
/// CPUID.80000000H:EAX for 8000_xxxxH), and `gate`, a field of a leaf
/// read before it, must say "yes".
#[derive(Clone, Copy, Debug)]
pub struct LeafDef {
    pub leaf: u32,
    pub subleaf: u32,
    pub gate: Option<Field>,
}

const fn leaf(leaf: u32, subleaf: u32, gate: Option<Field>) -> LeafDef {
    LeafDef { leaf, subleaf, gate }
}

/// The leaves [`FEATURES`] and the gates refer to, each after its gate's.
#[rustfmt::skip]
pub const LEAVES: &[LeafDef] = &[
    leaf(0x1, 0, None),
    leaf(0x7, 0, None),
    // 07H.0:EAX is the last sub-leaf of leaf 07H.
    leaf(0x7, 1, Some(Field { leaf: 0x7, subleaf: 0, reg: Eax, bit: 0, width: 32, min: 1 })),
    leaf(0xd, 1, None),
    leaf(0x19, 0, Some(Field::flag(0x7, 0, Ecx, 23))),
    leaf(0x1e, 0, Some(Field::flag(0x7, 0, Edx, 24))),
    // 1EH.0:EAX is the last sub-leaf of leaf 1EH.
    leaf(0x1e, 1, Some(Field { leaf: 0x1e, subleaf: 0, reg: Eax, bit: 0, width: 32, min: 1 })),
    leaf(0x24, 0, Some(Field::flag(0x7, 1, Edx, 19))),
    leaf(0x8000_0001, 0, None),
];

/// Where leaf `leaf.subleaf` is in [`LEAVES`].
fn leaf_slot(leaf: u32, subleaf: u32) -> Option<usize> {
    LEAVES.iter().position(|l| l.leaf == leaf && l.subleaf == subleaf)
}

/// What CPUID and XGETBV said: the registers of each leaf of [`LEAVES`]
/// (zero where the leaf may not be read), the vendor and XCR0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub regs: [[u32; 4]; LEAVES.len()],
    /// CPUID.0: EBX, EDX, ECX as 12 bytes ("GenuineIntel", "AuthenticAMD").
    pub vendor: [u8; 12],
    /// XCR0, or 0 when CPUID.01H:ECX.OSXSAVE\[27\] is clear.
    pub xcr0: u64,
}

impl Snapshot {
    /// Reads the leaves through `cpuid(leaf, subleaf) -> [EAX, EBX, ECX, EDX]`
    /// and XCR0 through `xgetbv` (called only when OSXSAVE is set).
    pub fn read(cpuid: impl Fn(u32, u32) -> [u32; 4], xgetbv: impl FnOnce() -> u64) -> Snapshot {
        let zero = cpuid(0, 0);
        let max_basic = zero[0];
        let max_extended = cpuid(0x8000_0000, 0)[0];
        let mut vendor = [0u8; 12];
        for (i, r) in [zero[1], zero[3], zero[2]].iter().enumerate() {
            vendor[4 * i..4 * i + 4].copy_from_slice(&r.to_le_bytes());
        }
        let mut regs = [[0u32; 4]; LEAVES.len()];
        for (slot, def) in LEAVES.iter().enumerate() {
            let max = if def.leaf >= 0x8000_0000 { max_extended } else { max_basic };
            // A max below 8000_0000H means the extended range is absent.
            if def.leaf > max || (def.leaf >= 0x8000_0000 && max < 0x8000_0000) {
                continue;
            }
            let open = match def.gate {
                None => true,
                Some(g) => leaf_slot(g.leaf, g.subleaf).is_some_and(|s| s < slot && g.test(regs[s])),
            };
            if open {
                regs[slot] = cpuid(def.leaf, def.subleaf);
            }
        }
        let osxsave = Field::flag(1, 0, Ecx, 27);
        let xcr0 = match leaf_slot(1, 0) {
            Some(s) if osxsave.test(regs[s]) => xgetbv(),
            _ => 0,
        };
        Snapshot { regs, vendor, xcr0 }
    }

    /// The features these facts show: each feature's CPUID field says yes
    /// and the OS enabled its state in XCR0.
    ///
    /// One correction: Intel's erratum SKL052 (6th generation Core
    /// specification update) has some Pentium and Celeron parts without AVX
    /// report BMI1 and BMI2, which they lack; on an Intel CPU without AVX
    /// they are taken as absent (as std's detection does). Under-reporting
    /// costs speed, over-reporting a crash.
    pub fn features(&self) -> FeatureSet {
        let mut set = FeatureSet::EMPTY;
        for (i, p) in PROBES.iter().enumerate() {
            let Some(regs) = self.regs.get(usize::from(p.slot)) else { continue };
            let field = Field {
                leaf: 0,
                subleaf: 0,
                reg: match p.reg {
                    0 => Eax,
                    1 => Ebx,
                    2 => Ecx,
                    _ => Edx,
                },
                bit: p.bit,
                width: p.width,
                min: u32::from(p.min),
            };
            let xcr0 = u64::from(p.xcr0);
            if field.test(*regs) && self.xcr0 & xcr0 == xcr0 {
                set = set.with(i);
            }
        }
        const AVX: usize = must("avx");
        const BMI1: usize = must("bmi1");
        const BMI2: usize = must("bmi2");
        if &self.vendor == b"GenuineIntel" && !set.contains(AVX) {
            set = set.without(BMI1).without(BMI2);
        }
        set
    }
}

/// The features of the CPU this runs on, and enabled by its OS.
#[cfg(target_arch = "x86_64")]
pub fn detect() -> FeatureSet {
    Snapshot::read(cpuid, read_xcr0).features()
}

#[cfg(target_arch = "x86_64")]
// `__cpuid_count` is a safe function since Rust 1.87 and unsafe before.
#[allow(unused_unsafe)]
fn cpuid(leaf: u32, subleaf: u32) -> [u32; 4] {
    // SAFETY: every x86-64 CPU has CPUID; a leaf beyond the highest one
    // returns data, never faults (the caller reads only valid leaves).
    let r = unsafe { core::arch::x86_64::__cpuid_count(leaf, subleaf) };
    [r.eax, r.ebx, r.ecx, r.edx]
}

/// Reads XCR0 with XGETBV. Only called when CPUID reports OSXSAVE.
#[cfg(target_arch = "x86_64")]
fn read_xcr0() -> u64 {
    #[target_feature(enable = "xsave")]
    unsafe fn xgetbv0() -> u64 {
        // SAFETY: the caller checked CPUID.01H:ECX.OSXSAVE, which means the
        // OS set CR4.OSXSAVE and XGETBV with ECX=0 does not fault.
        unsafe { core::arch::x86_64::_xgetbv(0) }
    }
    // SAFETY: the `xsave` target feature is implied by OSXSAVE, which the
    // only caller (`Snapshot::read`) checked.
    unsafe { xgetbv0() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::vec::Vec;

    /// Every XCR0 state component the table uses.
    const XCR0_ALL: u64 = XCR0_X87 | XCR0_ZMM | XCR0_TILE | XCR0_APX;

    /// A CPU for [`Snapshot::read`]: CPUID leaves by (leaf, sub-leaf), all
    /// zero unless set, and the leaves that were read.
    #[derive(Clone, Default)]
    struct FakeCpu {
        leaves: BTreeMap<(u32, u32), [u32; 4]>,
        xcr0: u64,
    }

    impl FakeCpu {
        /// Highest leaves 0x24 and 0x8000_0001, every gate open, OSXSAVE set.
        fn open() -> FakeCpu {
            let mut cpu = FakeCpu { xcr0: XCR0_ALL, ..FakeCpu::default() };
            cpu.set(0, 0, Eax, 0, 0x24);
            cpu.set(0x8000_0000, 0, Eax, 0, 0x8000_0001);
            cpu.set(1, 0, Ecx, 27, 1); // OSXSAVE
            cpu.set(7, 0, Eax, 0, 1); // leaf 7 has sub-leaf 1
            cpu.set(7, 0, Ecx, 23, 1); // KL: leaf 19H valid
            cpu.set(7, 1, Edx, 19, 1); // AVX10: leaf 24H valid
            cpu.set(0x1e, 0, Eax, 0, 1); // leaf 1EH has sub-leaf 1
            cpu
        }

        fn set(&mut self, leaf: u32, subleaf: u32, reg: Reg, bit: u8, value: u32) {
            self.leaves.entry((leaf, subleaf)).or_default()[reg as usize] |= value << bit;
        }

        fn set_field(&mut self, f: Field, value: u32) {
            self.set(f.leaf, f.subleaf, f.reg, f.bit, value);
        }

        fn with(mut self, names: &[&str]) -> FakeCpu {
            for name in names {
                let def = FEATURES[index(name).unwrap()];
                self.set_field(def.cpuid, def.cpuid.min);
                if def.cpuid.leaf == 0x1e {
                    self.set(7, 0, Edx, 24, 1); // AMX-TILE: leaf 1EH valid
                }
            }
            self
        }

        fn read(&self) -> (Snapshot, Vec<(u32, u32)>) {
            let calls = std::cell::RefCell::new(Vec::new());
            let snap = Snapshot::read(
                |leaf, subleaf| {
                    calls.borrow_mut().push((leaf, subleaf));
                    self.leaves.get(&(leaf, subleaf)).copied().unwrap_or_default()
                },
                || self.xcr0,
            );
            (snap, calls.into_inner())
        }

        fn features(&self) -> FeatureSet {
            self.read().0.features()
        }
    }

    fn names(set: FeatureSet) -> Vec<&'static str> {
        set.iter().map(|i| name(i).unwrap()).collect()
    }

    /// Each feature alone: set its CPUID field and nothing else (but the
    /// gates), and exactly it is detected; clear one XCR0 component it
    /// needs, or OSXSAVE, and it is not.
    #[test]
    fn each_feature_from_its_own_bit_and_os_state() {
        assert!(names(FakeCpu::open().features()).is_empty());
        for def in FEATURES {
            let cpu = FakeCpu::open().with(&[def.name]);
            let mut want = std::vec![def.name];
            if def.cpuid.leaf == 0x1e {
                want.push("amx-tile");
            }
            if def.name == "avx10.2" {
                want.push("avx10.1"); // version 2 is at least 1
            }
            want.sort_unstable();
            assert_eq!(names(cpu.features()), want, "{}", def.name);
            for bit in (0..64).filter(|b| def.xcr0 & (1 << b) != 0) {
                let off = FakeCpu { xcr0: XCR0_ALL & !(1 << bit), ..cpu.clone() };
                assert!(
                    !off.features().contains(index(def.name).unwrap()),
                    "{} without XCR0 bit {bit}",
                    def.name
                );
            }
            let mut no_osxsave = cpu.clone();
            no_osxsave.leaves.get_mut(&(1, 0)).unwrap()[Ecx as usize] &= !(1 << 27);
            assert_eq!(
                no_osxsave.features().contains(index(def.name).unwrap()),
                def.xcr0 == 0,
                "{} without OSXSAVE",
                def.name
            );
        }
    }

    /// A few bits as the SDM and APM give them, against typos in the table.
    #[test]
    fn bits_as_documented() {
        let at = |name: &str| {
            let f = FEATURES[index(name).unwrap()].cpuid;
            (f.leaf, f.subleaf, f.reg, f.bit)
        };
        assert_eq!(at("sse4.2"), (1, 0, Ecx, 20));
        assert_eq!(at("avx"), (1, 0, Ecx, 28));
        assert_eq!(at("avx2"), (7, 0, Ebx, 5));
        assert_eq!(at("avx512f"), (7, 0, Ebx, 16));
        assert_eq!(at("avx512vl"), (7, 0, Ebx, 31));
        assert_eq!(at("avx512vbmi"), (7, 0, Ecx, 1));
        assert_eq!(at("amx-tile"), (7, 0, Edx, 24));
        assert_eq!(at("avxvnni"), (7, 1, Eax, 4));
        assert_eq!(at("xsavec"), (0xd, 1, Eax, 1));
        assert_eq!(at("lahfsahf"), (0x8000_0001, 0, Ecx, 0));
        assert_eq!(at("lzcnt"), (0x8000_0001, 0, Ecx, 5));
        assert_eq!(FEATURES[index("avx10.2").unwrap()].cpuid.min, 2);
    }

    /// Leaves are read only where valid: up to the highest leaf of their
    /// range, and behind their gate. Bits of a leaf that may not be read
    /// count for nothing.
    #[test]
    fn leaves_only_where_valid() {
        let all: Vec<&str> = FEATURES.iter().map(|f| f.name).collect();
        let cpu = FakeCpu::open().with(&all);
        assert_eq!(cpu.features().len(), FEATURES.len(), "every feature at once");
        let (_, calls) = cpu.read();
        for def in LEAVES {
            assert!(calls.contains(&(def.leaf, def.subleaf)), "{:#x}.{}", def.leaf, def.subleaf);
        }
        let lacks = |cpu: &FakeCpu, gone: &[&str]| {
            let got = cpu.features();
            for name in gone {
                assert!(!got.contains(index(name).unwrap()), "{name} detected");
            }
            assert_eq!(got.len(), FEATURES.len() - gone.len(), "{:?}", names(got));
        };
        // Highest basic leaf 0xd: leaves 19H, 1EH and 24H are not read.
        let mut low = cpu.clone();
        low.leaves.get_mut(&(0, 0)).unwrap()[0] = 0xd;
        lacks(
            &low,
            &["amx-avx512", "amx-fp8", "amx-movrs", "amx-tf32", "avx10.1", "avx10.2", "kl", "widekl"],
        );
        assert!(!low.read().1.iter().any(|&(leaf, _)| (0xe..0x8000_0000).contains(&leaf)));
        // Highest basic leaf 1: nothing of leaves 7 and 0DH.
        let mut lower = cpu.clone();
        lower.leaves.get_mut(&(0, 0)).unwrap()[0] = 1;
        let got = names(lower.features());
        assert!(got.contains(&"avx") && !got.contains(&"avx2") && !got.contains(&"xsaveopt"), "{got:?}");
        // No extended leaf 8000_0001H.
        let mut no_ext = cpu.clone();
        no_ext.leaves.get_mut(&(0x8000_0000, 0)).unwrap()[0] = 0x8000_0000;
        lacks(&no_ext, &["lahfsahf", "lzcnt", "prfchw", "sse4a", "tbm", "xop"]);
        // Gates closed: KL (leaf 19H), AVX10 (leaf 24H), leaf 7's sub-leaf count.
        let mut no_kl = cpu.clone();
        no_kl.leaves.get_mut(&(7, 0)).unwrap()[Ecx as usize] &= !(1 << 23);
        lacks(&no_kl, &["kl", "widekl"]);
        let mut no_avx10 = cpu.clone();
        no_avx10.leaves.get_mut(&(7, 1)).unwrap()[Edx as usize] &= !(1 << 19);
        lacks(&no_avx10, &["avx10.1", "avx10.2"]);
        let mut no_sub1 = cpu.clone();
        no_sub1.leaves.get_mut(&(7, 0)).unwrap()[Eax as usize] = 0;
        let gone: Vec<&str> =
            FEATURES.iter().filter(|f| f.cpuid.leaf == 7 && f.cpuid.subleaf == 1).map(|f| f.name).collect();
        let mut gone = gone;
        gone.extend(["avx10.1", "avx10.2"]); // leaf 24H's gate is in sub-leaf 1
        lacks(&no_sub1, &gone);
    }

    #[test]
    fn avx10_is_a_version() {
        let mut cpu = FakeCpu::open();
        cpu.set(0x24, 0, Ebx, 0, 1);
        assert_eq!(names(cpu.features()), ["avx10.1"]);
        let mut cpu = FakeCpu::open();
        cpu.set(0x24, 0, Ebx, 0, 3);
        assert_eq!(names(cpu.features()), ["avx10.1", "avx10.2"]);
        let cpu = FakeCpu { xcr0: XCR0_YMM | XCR0_X87, ..cpu };
        assert!(names(cpu.features()).is_empty(), "AVX10 needs ZMM state");
    }

    /// Skylake-X (what rustc's skylake-avx512 enables, plus what the chip
    /// reports besides) with its OS's XCR0 in three states.
    #[test]
    fn avx512_cpu_with_zmm_state_off() {
        let skx = FakeCpu::open().with(&[
            "adx",
            "aes",
            "avx",
            "avx2",
            "avx512bw",
            "avx512cd",
            "avx512dq",
            "avx512f",
            "avx512vl",
            "bmi1",
            "bmi2",
            "cmpxchg16b",
            "ermsb",
            "f16c",
            "fma",
            "lahfsahf",
            "lzcnt",
            "movbe",
            "pclmulqdq",
            "popcnt",
            "prfchw",
            "rdrand",
            "rdseed",
            "rtm",
            "sse3",
            "sse4.1",
            "sse4.2",
            "ssse3",
            "xsave",
            "xsavec",
            "xsaveopt",
            "xsaves",
        ]);
        let full = FakeCpu { xcr0: 0x2e7, ..skx.clone() }.features();
        assert_eq!(crate::level::Level::of(full), crate::level::Level::V4);
        // A hypervisor that enables AVX but not AVX-512 state: v3, and no
        // avx512 feature at all.
        let ymm_only = FakeCpu { xcr0: 0x7, ..skx.clone() }.features();
        assert_eq!(crate::level::Level::of(ymm_only), crate::level::Level::V3);
        assert!(names(ymm_only).iter().all(|n| !n.starts_with("avx512")), "{:?}", names(ymm_only));
        assert_eq!(full.missing(ymm_only), FeatureSet::EMPTY);
        // Opmask on, ZMM halves off: still no AVX-512.
        let opmask = FakeCpu { xcr0: 0x27, ..skx.clone() }.features();
        assert_eq!(opmask, ymm_only);
        // OSXSAVE clear: no XCR0 at all, so no AVX, no XSAVE: v2.
        let mut no_os = skx.clone();
        no_os.leaves.get_mut(&(1, 0)).unwrap()[Ecx as usize] &= !(1 << 27);
        let (snap, _) = no_os.read();
        assert_eq!(snap.xcr0, 0, "XGETBV is not executed without OSXSAVE");
        assert_eq!(crate::level::Level::of(snap.features()), crate::level::Level::V2);
    }

    /// Intel erratum SKL052: BMI bits without AVX on an Intel CPU are not
    /// trusted; on another vendor they are.
    #[test]
    fn bmi_without_avx_on_intel_is_not_trusted() {
        let mut cpu = FakeCpu::open().with(&["bmi1", "bmi2", "popcnt"]);
        let vendor = |cpu: &mut FakeCpu, v: &[u8; 12]| {
            let r = cpu.leaves.entry((0, 0)).or_default();
            r[1] = u32::from_le_bytes([v[0], v[1], v[2], v[3]]);
            r[3] = u32::from_le_bytes([v[4], v[5], v[6], v[7]]);
            r[2] = u32::from_le_bytes([v[8], v[9], v[10], v[11]]);
        };
        vendor(&mut cpu, b"GenuineIntel");
        assert_eq!(cpu.read().0.vendor, *b"GenuineIntel");
        assert_eq!(names(cpu.features()), ["popcnt"]);
        let with_avx = cpu.clone().with(&["avx"]);
        assert_eq!(names(with_avx.features()), ["avx", "bmi1", "bmi2", "popcnt"]);
        let mut amd = FakeCpu::open().with(&["bmi1", "bmi2", "popcnt"]);
        vendor(&mut amd, b"AuthenticAMD");
        assert_eq!(names(amd.features()), ["bmi1", "bmi2", "popcnt"]);
    }

    /// Every CPU feature rustc can enable on x86-64 is in the table or
    /// ignored, and every name in either is one rustc knows. Skipped (with
    /// a message) without rustc on PATH.
    #[test]
    fn table_covers_rustc_target_features() {
        let Some(rustc) = crate::arch::tests_support::rustc_target_features() else {
            std::eprintln!("SKIP table_covers_rustc_target_features: no rustc on PATH");
            return;
        };
        assert!(rustc.len() > 50, "{rustc:?}");
        for f in &rustc {
            assert!(
                index(f).is_some() || IGNORED.contains(&f.as_str()),
                "rustc feature {f} is neither detected nor ignored: add it to FEATURES (or IGNORED)"
            );
        }
        for name in FEATURES.iter().map(|f| f.name).chain(IGNORED.iter().copied()) {
            assert!(rustc.iter().any(|f| f == name), "{name} is not a rustc target feature");
        }
    }

    #[test]
    fn the_table_id_changes_with_the_table() {
        let names: Vec<&str> = FEATURES.iter().map(|f| f.name).collect();
        assert_eq!(table_id(&names), TABLE_ID);
        assert_ne!(table_id(&names[1..]), TABLE_ID);
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn this_host_is_detected() {
        let cpu = detect();
        // Every x86-64 CPU this runs on has SSE3 and CMPXCHG16B (qemu64
        // included); the rest is compared with std in the integration tests.
        assert!(cpu.contains(index("sse3").unwrap()), "{:?}", names(cpu));
    }
}
