//! The table a bundle carries in its `.multiarch` ELF section, so that tools
//! can read a bundle without running it. `multiarch pack` writes it; the
//! `multiarch` CLI reads it. The launcher itself does not read it (it has
//! the same facts as Rust data: `multiarch_launcher::Bundle`).
//!
//! Layout of version 5 (all integers little-endian; a string is a u32
//! length, then that many bytes of UTF-8):
//!
//! ```text
//! magic      8 bytes  "MULTIARC"
//! version    u16      5
//! program, label, rustc, target: strings
//!                     target: the triple; its architecture (the part
//!                     before the first '-') says whose feature names
//!                     `requires` holds (multiarch_launcher::arch)
//! blob count u32      1..=64
//! per blob, in section order:
//!   compression  u8   0 = stored, 1 = lz, 2 = lz delta against its base
//!   base         u8   a delta's base: 0 = the baseline's blob (the last
//!                     variant's), n = blob n - 1; 0 for other blobs. The
//!                     base is never a delta itself (a decode is at most
//!                     the base's and the delta's). Tables written before
//!                     deltas could have other bases hold 0 here.
//!   reserved     u16  0
//!   size         u64  decoded size
//!   stored_size  u64  size in its section
//!   sha256       32 bytes, of the decoded build
//!   checksum     u64, of the decoded build (multiarch_launcher::check)
//!   section      string: the ELF section holding the stored bytes
//! variant count u32   1..=64
//! per variant, best first (the order the launcher tries them in):
//!   name       string: [a-z0-9][a-z0-9._-]{0,31}, unique
//!   flags      string: the rustc codegen flags that made the build,
//!              e.g. "-Ctarget-cpu=x86-64-v3 -Ctarget-feature=+aes,+sha"
//!   requires   u32 count (at most 128), then that many strings: the
//!              target features the build may use, as rustc names them;
//!              the last variant's list is empty
//!   blob       u32: index of its blob; every blob has a variant
//! cap        string: empty, or `multiarch pack --cap`'s level or variant
//!            name: variants needing features beyond its (the level's, or
//!            that variant's requirements) are not chosen automatically
//! ```
//!
//! Versions 3 and 4 (still read) knew only the four psABI levels: after
//! the counts and strings above, per blob a `levels` byte (bit n set: level
//! v(n+1) uses this blob) in place of the first reserved byte, the checksum
//! only in version 4, and no variant list: the reader makes one variant per
//! level, named `x86-64` .. `x86-64-v4`, with that level's `-Ctarget-cpu`
//! and features. The base of a delta there is the x86-64 build's blob.
//! Their readers, and version 5 readers older than the `base` field, reject
//! a table whose deltas have another base (its byte is "reserved" to them).

use core::fmt;
use multiarch_launcher::Compression;
use multiarch_launcher::Level;

/// The section that holds the table.
pub const SECTION: &str = ".multiarch";
/// The first bytes of the table.
pub const MAGIC: &[u8; 8] = b"MULTIARC";
/// The table's format version, as written.
pub const VERSION: u16 = 5;
/// The oldest version read: levels only, without checksums.
pub const OLDEST_VERSION: u16 = 3;
/// More blobs or variants than this is not a table we wrote.
pub const MAX_VARIANTS: u32 = 64;
/// More required features than this is not a table we wrote.
const MAX_REQUIRES: u32 = 128;

/// The whole table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    /// The program's name (its cache file name).
    pub program: String,
    /// Where it was built from (a Bazel label).
    pub label: String,
    /// The rustc that built the program, as its `.comment` says.
    pub rustc: String,
    /// The target triple.
    pub target: String,
    /// The variants, best first.
    pub variants: Vec<VariantMeta>,
    /// The distinct builds.
    pub blobs: Vec<BlobMeta>,
    /// `multiarch pack --cap`: a level or variant name (version 5 only).
    pub cap: Option<String>,
}

/// One variant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VariantMeta {
    /// Its name.
    pub name: String,
    /// The rustc codegen flags that made it.
    pub flags: String,
    /// The target features it requires, as rustc names them.
    pub requires: Vec<String>,
    /// The index of its blob.
    pub blob: usize,
}

/// One distinct build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobMeta {
    /// How the bytes are stored.
    pub compression: Compression,
    /// Decoded size.
    pub size: u64,
    /// Size as stored in its section.
    pub stored_size: u64,
    /// SHA-256 of the decoded build.
    pub sha256: [u8; 32],
    /// The launcher's checksum of the decoded build (`None` in a version 3
    /// table, which has none).
    pub check: Option<u64>,
    /// The ELF section that holds the stored bytes.
    pub section: String,
    /// For a [`Compression::LzDelta`] blob, the index of the blob it is a
    /// delta against (never itself a delta); `None` for the others.
    pub base: Option<usize>,
}

/// Why a table could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetaError {
    /// The table does not start with [`MAGIC`].
    BadMagic,
    /// A newer format than this reader knows.
    UnknownVersion(u16),
    /// The table ends inside the named field.
    Truncated(&'static str),
    /// A field holds a value that no writer produces.
    Invalid(&'static str),
}

impl fmt::Display for MetaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetaError::BadMagic => write!(f, "the {SECTION} section does not start with {MAGIC:?}"),
            MetaError::UnknownVersion(v) => {
                write!(f, "the {SECTION} table has format version {v}; this tool reads versions {OLDEST_VERSION} to {VERSION}: use the multiarch that packed it")
            }
            MetaError::Truncated(field) => write!(f, "the {SECTION} table is truncated (in its {field})"),
            MetaError::Invalid(field) => write!(f, "the {SECTION} table has an invalid {field}"),
        }
    }
}

impl std::error::Error for MetaError {}

fn compression_code(c: Compression) -> u8 {
    match c {
        Compression::Stored => 0,
        Compression::Lz => 1,
        Compression::LzDelta => 2,
    }
}

/// The variant a psABI level stands for in a table of version 3 or 4.
fn level_variant(level: Level, blob: usize) -> VariantMeta {
    VariantMeta {
        name: level.cpu_name().to_owned(),
        flags: format!("-Ctarget-cpu={}", level.cpu_name()),
        requires: level
            .features()
            .iter()
            .filter_map(multiarch_launcher::arch::x86_64::name)
            .map(str::to_owned)
            .collect(),
        blob,
    }
}

/// Why a table cannot be written in an older format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnlyLevels(pub String);

impl fmt::Display for OnlyLevels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "table versions 3 and 4 record only the four x86-64 levels, and variant {} is not one: use version {VERSION}",
            self.0
        )
    }
}

impl std::error::Error for OnlyLevels {}

impl Meta {
    /// The table as bytes.
    pub fn encode(&self) -> Vec<u8> {
        self.encode_v5()
    }

    /// The table as bytes in format `version` ([`OLDEST_VERSION`] to
    /// [`VERSION`]): versions 3 and 4, for tools that read only those,
    /// hold only level variants built with their level's `-Ctarget-cpu`,
    /// and version 3 no checksums.
    pub fn encode_version(&self, version: u16) -> Result<Vec<u8>, OnlyLevels> {
        let version = version.clamp(OLDEST_VERSION, VERSION);
        if version >= 5 {
            return Ok(self.encode_v5());
        }
        if let Some(cap) = &self.cap {
            return Err(OnlyLevels(format!("{cap} (a cap, which they cannot record)")));
        }
        let mut masks = vec![0u8; self.blobs.len()];
        for v in &self.variants {
            match Level::ALL.into_iter().find(|l| l.cpu_name() == v.name) {
                Some(level) if v.flags == format!("-Ctarget-cpu={}", level.cpu_name()) => {
                    if let Some(m) = masks.get_mut(v.blob) {
                        *m |= 1 << (level as u8);
                    }
                }
                _ => return Err(OnlyLevels(v.name.clone())),
            }
        }
        if let Some(b) = self.blobs.iter().find(|b| b.base.is_some_and(|base| base != self.base())) {
            return Err(OnlyLevels(format!(
                "{} (a delta against another build than x86-64's, which they cannot record)",
                b.section
            )));
        }
        let mut out = self.head(version);
        for (b, mask) in self.blobs.iter().zip(masks) {
            out.push(mask);
            out.push(compression_code(b.compression));
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(&b.size.to_le_bytes());
            out.extend_from_slice(&b.stored_size.to_le_bytes());
            out.extend_from_slice(&b.sha256);
            if version >= 4 {
                out.extend_from_slice(&b.check.unwrap_or(0).to_le_bytes());
            }
            put_str(&mut out, &b.section);
        }
        Ok(out)
    }

    /// The magic, version, strings and blob count.
    fn head(&self, version: u16) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&version.to_le_bytes());
        for s in [&self.program, &self.label, &self.rustc, &self.target] {
            put_str(&mut out, s);
        }
        out.extend_from_slice(&(self.blobs.len() as u32).to_le_bytes());
        out
    }

    fn encode_v5(&self) -> Vec<u8> {
        let mut out = self.head(5);
        for b in &self.blobs {
            out.push(compression_code(b.compression));
            // 0 for the baseline's blob: such tables read as before.
            out.push(b.base.filter(|&base| base != self.base()).map_or(0, |base| base as u8 + 1));
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(&b.size.to_le_bytes());
            out.extend_from_slice(&b.stored_size.to_le_bytes());
            out.extend_from_slice(&b.sha256);
            out.extend_from_slice(&b.check.unwrap_or(0).to_le_bytes());
            put_str(&mut out, &b.section);
        }
        out.extend_from_slice(&(self.variants.len() as u32).to_le_bytes());
        for v in &self.variants {
            put_str(&mut out, &v.name);
            put_str(&mut out, &v.flags);
            out.extend_from_slice(&(v.requires.len() as u32).to_le_bytes());
            for r in &v.requires {
                put_str(&mut out, r);
            }
            out.extend_from_slice(&(v.blob as u32).to_le_bytes());
        }
        put_str(&mut out, self.cap.as_deref().unwrap_or(""));
        out
    }

    /// Reads a table. Never panics, whatever the bytes.
    pub fn decode(bytes: &[u8]) -> Result<Meta, MetaError> {
        let mut r = Reader(bytes);
        if r.take(MAGIC.len(), "magic").map_err(|_| MetaError::BadMagic)? != MAGIC {
            return Err(MetaError::BadMagic);
        }
        let version = r.u16("version")?;
        if !(OLDEST_VERSION..=VERSION).contains(&version) {
            return Err(MetaError::UnknownVersion(version));
        }
        let program = r.string("program")?;
        let label = r.string("label")?;
        let rustc = r.string("rustc version")?;
        let target = r.string("target")?;
        let count = r.u32("blob count")?;
        if count == 0 || count > MAX_VARIANTS {
            return Err(MetaError::Invalid("blob count"));
        }
        let mut blobs = Vec::new();
        let mut levels: Vec<(Level, usize)> = Vec::new();
        let mut seen = 0u8;
        for i in 0..count as usize {
            let first = r.take(1, if version >= 5 { "compression" } else { "blob levels" })?[0];
            let code = if version >= 5 {
                first
            } else {
                let mask = first;
                if mask == 0 || mask & 0xf0 != 0 || mask & seen != 0 {
                    return Err(MetaError::Invalid("blob levels"));
                }
                seen |= mask;
                levels
                    .extend(Level::ALL.into_iter().filter(|&l| mask & (1 << (l as u8)) != 0).map(|l| (l, i)));
                r.take(1, "compression")?[0]
            };
            let compression = match code {
                0 => Compression::Stored,
                1 => Compression::Lz,
                2 => Compression::LzDelta,
                _ => return Err(MetaError::Invalid("compression")),
            };
            // 0 = the baseline's blob, resolved once the variants are read.
            let base_code = if version >= 5 { r.take(1, "delta base")?[0] } else { 0 };
            if base_code != 0 && (compression != Compression::LzDelta || u32::from(base_code) > count) {
                return Err(MetaError::Invalid("delta base"));
            }
            if r.u16("reserved field")? != 0 {
                return Err(MetaError::Invalid("reserved field"));
            }
            let size = r.u64("size")?;
            let stored_size = r.u64("stored size")?;
            let mut sha256 = [0u8; 32];
            sha256.copy_from_slice(r.take(32, "sha256")?);
            let check = if version >= 4 { Some(r.u64("checksum")?) } else { None };
            let section = r.string("section name")?;
            if !section.starts_with(SECTION) {
                return Err(MetaError::Invalid("section name"));
            }
            let base = (base_code > 0).then(|| usize::from(base_code) - 1);
            blobs.push(BlobMeta { compression, size, stored_size, sha256, check, section, base });
        }
        let mut cap = None;
        let variants = if version >= 5 {
            let n = r.u32("variant count")?;
            if n == 0 || n > MAX_VARIANTS {
                return Err(MetaError::Invalid("variant count"));
            }
            let mut variants: Vec<VariantMeta> = Vec::new();
            for _ in 0..n {
                let name = r.string("variant name")?;
                if !multiarch_launcher::bundle::valid_name(name.as_bytes())
                    || variants.iter().any(|v| v.name == name)
                {
                    return Err(MetaError::Invalid("variant name"));
                }
                let flags = r.string("variant flags")?;
                let k = r.u32("required feature count")?;
                if k > MAX_REQUIRES {
                    return Err(MetaError::Invalid("required feature count"));
                }
                let mut requires = Vec::new();
                for _ in 0..k {
                    requires.push(r.string("required feature")?);
                }
                let blob = r.u32("variant blob")? as usize;
                if blob >= blobs.len() {
                    return Err(MetaError::Invalid("variant blob"));
                }
                variants.push(VariantMeta { name, flags, requires, blob });
            }
            if variants.last().is_some_and(|v| !v.requires.is_empty()) {
                return Err(MetaError::Invalid("variant list (the last variant requires features)"));
            }
            if (0..blobs.len()).any(|b| !variants.iter().any(|v| v.blob == b)) {
                return Err(MetaError::Invalid("variant list (a blob no variant uses)"));
            }
            let name = r.string("cap")?;
            if !name.is_empty() {
                let known =
                    Level::parse(name.as_bytes()).is_some() || variants.iter().any(|v| v.name == name);
                if !known || !multiarch_launcher::bundle::valid_name(name.as_bytes()) {
                    return Err(MetaError::Invalid("cap"));
                }
                cap = Some(name);
            }
            variants
        } else {
            if seen & 1 == 0 {
                return Err(MetaError::Invalid("set of levels (no x86-64 build)"));
            }
            levels.sort_by_key(|&(l, _)| std::cmp::Reverse(l));
            levels.into_iter().map(|(l, b)| level_variant(l, b)).collect()
        };
        if !r.0.is_empty() {
            return Err(MetaError::Invalid("length (bytes after the last variant)"));
        }
        let mut meta = Meta { program, label, rustc, target, variants, blobs, cap };
        if meta.blobs[meta.base()].compression == Compression::LzDelta {
            return Err(MetaError::Invalid("compression (the baseline build cannot be a delta)"));
        }
        let baseline = meta.base();
        for b in &mut meta.blobs {
            if b.compression == Compression::LzDelta {
                b.base = b.base.or(Some(baseline));
            }
        }
        // Chains of one: a delta's base is stored alone (never itself).
        if meta
            .blobs
            .iter()
            .any(|b| b.base.is_some_and(|base| meta.blobs[base].compression == Compression::LzDelta))
        {
            return Err(MetaError::Invalid("delta base (a delta against a delta)"));
        }
        Ok(meta)
    }

    /// The baseline's blob (the last variant's): the base of the deltas in
    /// tables of version 3 and 4, and never a delta.
    pub fn base(&self) -> usize {
        self.variants.last().map_or(0, |v| v.blob)
    }

    /// The variant `name` asks for: an exact name, or a level's short or
    /// long spelling (`v3`, `x86-64-v3`) when that level is a variant.
    pub fn variant(&self, name: &str) -> Option<&VariantMeta> {
        let level = Level::parse(name.as_bytes());
        self.variants
            .iter()
            .find(|v| v.name == name)
            .or_else(|| self.variants.iter().find(|v| level.is_some_and(|l| v.name == l.cpu_name())))
    }

    /// The features the cap allows, by name: the level's, or the named
    /// variant's requirements; `None` without a cap.
    pub fn cap_features(&self) -> Option<Vec<String>> {
        let cap = self.cap.as_deref()?;
        if let Some(v) = self.variants.iter().find(|v| v.name == cap) {
            return Some(v.requires.clone());
        }
        let level = Level::parse(cap.as_bytes())?;
        Some(
            level
                .features()
                .iter()
                .filter_map(multiarch_launcher::arch::x86_64::name)
                .map(str::to_owned)
                .collect(),
        )
    }

    /// The blob of the variant `name` asks for (see [`Meta::variant`]).
    pub fn blob_of(&self, name: &str) -> Option<(usize, &BlobMeta)> {
        let blob = self.variant(name)?.blob;
        Some((blob, self.blobs.get(blob)?))
    }

    /// The names of the variants that start blob `blob`, in table order.
    pub fn blob_variants(&self, blob: usize) -> Vec<&str> {
        self.variants.iter().filter(|v| v.blob == blob).map(|v| v.name.as_str()).collect()
    }

    /// The variants for a message, lowest first, levels by their short
    /// names: `v1 v3 znver4`.
    pub fn embedded(&self) -> String {
        let names: Vec<&str> =
            self.variants.iter().rev().map(|v| multiarch_launcher::select::short_name(&v.name)).collect();
        names.join(" ")
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], MetaError> {
        if self.0.len() < n {
            return Err(MetaError::Truncated(field));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, MetaError> {
        let b = self.take(2, field)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, MetaError> {
        let b = self.take(4, field)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, MetaError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8, field)?);
        Ok(u64::from_le_bytes(a))
    }

    fn string(&mut self, field: &'static str) -> Result<String, MetaError> {
        let len = self.u32(field)? as usize;
        let bytes = self.take(len, field)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| MetaError::Invalid(field))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(sha: u8, size: u64, section: usize) -> BlobMeta {
        BlobMeta {
            compression: Compression::Stored,
            size,
            stored_size: size,
            sha256: [sha; 32],
            check: Some(0x1234_5678_9abc_def0 + u64::from(sha)),
            section: format!(".multiarch.blob.{section}"),
            base: None,
        }
    }

    fn variant(name: &str, flags: &str, requires: &[&str], blob: usize) -> VariantMeta {
        VariantMeta {
            name: name.into(),
            flags: flags.into(),
            requires: requires.iter().map(|s| s.to_string()).collect(),
            blob,
        }
    }

    /// The four levels, v3 and v4 sharing a blob: a table versions 3 and 4
    /// can hold too.
    fn levels() -> Meta {
        let level = |l: Level, b| level_variant(l, b);
        Meta {
            program: "app_mv".into(),
            label: "//app:app_mv".into(),
            rustc: "rustc version 1.95.0".into(),
            target: "x86_64-unknown-linux-gnu".into(),
            variants: vec![
                level(Level::V4, 0),
                level(Level::V3, 0),
                level(Level::V2, 1),
                level(Level::V1, 1),
            ],
            blobs: vec![blob(7, 10, 0), blob(9, 12, 1)],
            cap: None,
        }
    }

    fn fleet() -> Meta {
        Meta {
            variants: vec![
                variant("znver4", "-Ctarget-cpu=znver4", &["avx512f", "sse4a"], 2),
                variant(
                    "fast",
                    "-Ctarget-cpu=x86-64-v3 -Ctarget-feature=+aes,+sha",
                    &["aes", "avx2", "sha"],
                    1,
                ),
                variant("x86-64", "-Ctarget-cpu=x86-64", &[], 0),
            ],
            blobs: vec![blob(1, 10, 0), blob(2, 11, 1), blob(3, 12, 2)],
            ..levels()
        }
    }

    #[test]
    fn round_trip() {
        for m in [levels(), fleet()] {
            assert_eq!(Meta::decode(&m.encode()).unwrap(), m);
            assert_eq!(m.encode()[8], 5);
        }
        let m = levels();
        assert_eq!(m.variant("v2").unwrap().blob, 1);
        assert_eq!(m.variant("x86-64-v4").unwrap().blob, 0);
        assert_eq!(m.blob_variants(0), ["x86-64-v4", "x86-64-v3"]);
        assert_eq!(m.embedded(), "v1 v2 v3 v4");
        assert_eq!(m.base(), 1);
        let f = fleet();
        assert_eq!(f.variant("fast").unwrap().requires, ["aes", "avx2", "sha"]);
        assert!(f.variant("v3").is_none());
        assert_eq!(f.embedded(), "v1 fast znver4");
    }

    /// Blob 2 (znver4) a delta against blob 1 (fast), blob 1 against the
    /// baseline's (blob 0): a chain.
    fn deltas() -> Meta {
        let mut m = fleet();
        m.blobs[2].compression = Compression::LzDelta;
        m.blobs[2].base = Some(1);
        m.blobs[1].compression = Compression::LzDelta;
        m.blobs[1].base = Some(0);
        m.blobs[0].compression = Compression::Lz;
        m
    }

    #[test]
    fn delta_bases_round_trip_and_chains_are_refused() {
        // A delta against the baseline's blob keeps the byte 0 (as tables
        // written before other bases); another base is its index + 1.
        let mut m = deltas();
        m.blobs[1].compression = Compression::Lz;
        m.blobs[1].base = None;
        let bytes = m.encode();
        assert_eq!(Meta::decode(&bytes).unwrap(), m);
        // Magic, version, four strings, the blob count; then blobs of 81
        // bytes (their section names are 17 bytes long).
        let strings: usize = [&m.program, &m.label, &m.rustc, &m.target].iter().map(|s| 4 + s.len()).sum();
        let blob2 = 8 + 2 + strings + 4 + 2 * 81;
        assert_eq!(bytes[blob2..blob2 + 2], [2, 2], "lz delta, base blob 1");
        let mut against_baseline = deltas();
        against_baseline.blobs[2].compression = Compression::Stored;
        against_baseline.blobs[2].base = None;
        let bytes = against_baseline.encode();
        assert_eq!(bytes[blob2 - 81..blob2 - 81 + 2], [2, 0], "lz delta, base the baseline's");
        assert_eq!(Meta::decode(&bytes).unwrap(), against_baseline);
        // Tables versions 3 and 4 cannot say the base is not x86-64's.
        let mut lv = levels();
        lv.blobs[0].compression = Compression::LzDelta;
        lv.blobs[0].base = Some(1);
        assert_eq!(Meta::decode(&lv.encode_version(4).unwrap()).unwrap(), lv);
        let mut other = levels();
        other.blobs.push(blob(9, 13, 2));
        other.variants[3].blob = 2;
        other.blobs[0].compression = Compression::LzDelta;
        other.blobs[0].base = Some(1);
        assert!(other.encode_version(4).unwrap_err().to_string().contains("x86-64's"));
        // A delta against a delta, a base out of range, a base on a non-delta.
        let invalid = |bytes: Vec<u8>| Meta::decode(&bytes).unwrap_err();
        assert_eq!(invalid(deltas().encode()), MetaError::Invalid("delta base (a delta against a delta)"));
        let mut bytes = m.encode();
        bytes[blob2 + 1] = 4;
        assert_eq!(invalid(bytes.clone()), MetaError::Invalid("delta base"));
        bytes[blob2 + 1] = 3;
        assert_eq!(invalid(bytes.clone()), MetaError::Invalid("delta base (a delta against a delta)"));
        bytes[blob2] = 1;
        assert_eq!(invalid(bytes), MetaError::Invalid("delta base"));
    }

    #[test]
    fn caps() {
        let mut m = fleet();
        m.cap = Some("fast".into());
        assert_eq!(Meta::decode(&m.encode()).unwrap(), m);
        assert_eq!(m.cap_features().unwrap(), ["aes", "avx2", "sha"]);
        m.cap = Some("x86-64-v2".into());
        assert_eq!(Meta::decode(&m.encode()).unwrap(), m);
        assert_eq!(m.cap_features().unwrap().len(), 7);
        assert!(m.encode_version(4).is_err());
        m.cap = Some("zen9".into());
        assert_eq!(Meta::decode(&m.encode()), Err(MetaError::Invalid("cap")));
        assert_eq!(fleet().cap_features(), None);
    }

    #[test]
    fn versions_3_and_4_hold_levels_only() {
        let m = levels();
        let v4 = m.encode_version(4).unwrap();
        let v3 = m.encode_version(3).unwrap();
        assert_eq!((v4[8], v3[8]), (4, 3));
        assert_eq!(v3.len() + 8 * m.blobs.len(), v4.len());
        assert_eq!(Meta::decode(&v4).unwrap(), m, "levels come back as level variants");
        let mut no_checks = m.clone();
        for b in &mut no_checks.blobs {
            b.check = None;
        }
        assert_eq!(Meta::decode(&v3).unwrap(), no_checks);
        let err = fleet().encode_version(4).unwrap_err().to_string();
        assert!(err.contains("variant znver4 is not one") && err.contains("version 5"), "{err}");
        // A level's name with other flags is not the level.
        let mut odd = levels();
        odd.variants[0].flags.push_str(" -Ctarget-feature=+aes");
        assert!(odd.encode_version(4).is_err());
    }

    #[test]
    fn every_truncation_is_an_error() {
        for bytes in [fleet().encode(), levels().encode_version(4).unwrap()] {
            for n in 0..bytes.len() {
                assert!(Meta::decode(&bytes[..n]).is_err(), "prefix of {n} bytes");
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert_eq!(
                Meta::decode(&longer),
                Err(MetaError::Invalid("length (bytes after the last variant)"))
            );
        }
    }

    #[test]
    fn invalid_fields() {
        let good = fleet().encode();
        let mut bad = good.clone();
        bad[0] = b'X';
        assert_eq!(Meta::decode(&bad), Err(MetaError::BadMagic));
        let mut bad = good.clone();
        bad[8] = 6;
        assert_eq!(Meta::decode(&bad), Err(MetaError::UnknownVersion(6)));
        bad[8] = 2;
        assert_eq!(Meta::decode(&bad), Err(MetaError::UnknownVersion(2)));
        let invalid = |m: Meta| match Meta::decode(&m.encode()) {
            Err(MetaError::Invalid(what)) => what,
            other => panic!("{other:?}"),
        };
        let mut m = fleet();
        m.variants[1].name = "znver4".into();
        assert_eq!(invalid(m), "variant name");
        let mut m = fleet();
        m.variants[1].name = "Fast".into();
        assert_eq!(invalid(m), "variant name");
        let mut m = fleet();
        m.variants[0].blob = 3;
        assert_eq!(invalid(m), "variant blob");
        let mut m = fleet();
        m.variants[0].blob = 1;
        assert!(invalid(m).contains("a blob no variant uses"));
        let mut m = fleet();
        m.variants.swap(0, 2);
        assert!(invalid(m).contains("the last variant requires features"));
        let mut m = fleet();
        m.blobs[0].compression = Compression::LzDelta;
        assert!(invalid(m).contains("baseline"));
        // Version 4: two blobs claiming the same level; no baseline.
        let mut m = levels();
        m.variants[3].blob = 0;
        let mut bytes = m.encode_version(4).unwrap();
        let at = bytes.len() - (1 + 1 + 2 + 8 + 8 + 32 + 8 + 4 + ".multiarch.blob.1".len());
        bytes[at] = 0b0011;
        assert_eq!(Meta::decode(&bytes), Err(MetaError::Invalid("blob levels")));
        let mut m = levels();
        m.variants.truncate(2);
        m.blobs.truncate(1);
        assert!(matches!(Meta::decode(&m.encode_version(4).unwrap()), Err(MetaError::Invalid(_))));
    }

    #[test]
    fn huge_lengths_do_not_allocate_or_panic() {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&VERSION.to_le_bytes());
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(Meta::decode(&bytes), Err(MetaError::Truncated("program")));
        let mut bytes = fleet().encode();
        // The last variant's requires count, then its blob index.
        let n = bytes.len() - 4; // before the (empty) cap
        bytes[n - 8..n - 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(Meta::decode(&bytes), Err(MetaError::Invalid("required feature count")));
    }
}
