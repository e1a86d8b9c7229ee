//! The table a bundle carries in its `.multiarch` ELF section, so that tools
//! can read a bundle without running it. `multiarch pack` writes it; the
//! `multiarch` CLI reads it. The launcher itself does not read it.
//!
//! Layout (all integers little-endian; strings are a u32 length then UTF-8):
//!
//! ```text
//! magic    8 bytes  "MULTIARC"
//! version  u16      4 (3: no checksum; 2: the varint stream format; 1: no
//!                   segment table). This reader reads 3 and 4.
//! program, label, rustc, target: strings
//! count    u32      number of blobs
//! per blob:
//!   levels       u8   bit n set: level v(n+1) uses this blob
//!   compression  u8   0 = stored, 1 = lz, 2 = lz against the x86-64 build
//!   reserved     u16  0
//!   size         u64  decoded size
//!   stored_size  u64  size in the section
//!   sha256       32 bytes, of the decoded build
//!   checksum     u64, of the decoded build (multiarch_launcher::check);
//!                version 4 only
//!   section      string: the ELF section holding the stored bytes
//! ```

use core::fmt;
use multiarch_launcher::Compression;
use multiarch_launcher::Level;

/// The section that holds the table.
pub const SECTION: &str = ".multiarch";
/// The first bytes of the table.
pub const MAGIC: &[u8; 8] = b"MULTIARC";
/// The table's format version, as written.
pub const VERSION: u16 = 4;
/// The oldest version read: the same table without checksums.
pub const OLDEST_VERSION: u16 = 3;
/// More blobs than this is not a table we wrote.
const MAX_BLOBS: u32 = 64;

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
    /// The distinct builds.
    pub blobs: Vec<BlobMeta>,
}

/// One distinct build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobMeta {
    /// The levels that start this build, lowest first.
    pub levels: Vec<Level>,
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

impl Meta {
    /// The table as bytes.
    pub fn encode(&self) -> Vec<u8> {
        self.encode_version(VERSION)
    }

    /// The table as bytes in format `version` ([`OLDEST_VERSION`] to
    /// [`VERSION`]): version 3 leaves the checksums out, for tools that
    /// read only that.
    pub fn encode_version(&self, version: u16) -> Vec<u8> {
        let version = version.clamp(OLDEST_VERSION, VERSION);
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&version.to_le_bytes());
        for s in [&self.program, &self.label, &self.rustc, &self.target] {
            put_str(&mut out, s);
        }
        out.extend_from_slice(&(self.blobs.len() as u32).to_le_bytes());
        for b in &self.blobs {
            let mask = b.levels.iter().fold(0u8, |m, &l| m | 1 << (l as u8));
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
        if count == 0 || count > MAX_BLOBS {
            return Err(MetaError::Invalid("blob count"));
        }
        let mut blobs = Vec::new();
        let mut seen = 0u8;
        for _ in 0..count {
            let mask = r.take(1, "blob levels")?[0];
            if mask == 0 || mask & 0xf0 != 0 || mask & seen != 0 {
                return Err(MetaError::Invalid("blob levels"));
            }
            seen |= mask;
            let levels = Level::ALL.iter().copied().filter(|&l| mask & (1 << (l as u8)) != 0).collect();
            let compression = match r.take(1, "compression")?[0] {
                0 => Compression::Stored,
                1 => Compression::Lz,
                2 => Compression::LzDelta,
                _ => return Err(MetaError::Invalid("compression")),
            };
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
            blobs.push(BlobMeta { levels, compression, size, stored_size, sha256, check, section });
        }
        if seen & 1 == 0 {
            return Err(MetaError::Invalid("set of levels (no x86-64 build)"));
        }
        let base_is_delta =
            blobs.iter().any(|b| b.levels.contains(&Level::V1) && b.compression == Compression::LzDelta);
        if base_is_delta {
            return Err(MetaError::Invalid("compression (the x86-64 build cannot be a delta)"));
        }
        if !r.0.is_empty() {
            return Err(MetaError::Invalid("length (bytes after the last blob)"));
        }
        Ok(Meta { program, label, rustc, target, blobs })
    }

    /// The blob that level `level` starts, if embedded.
    pub fn blob_of(&self, level: Level) -> Option<(usize, &BlobMeta)> {
        self.blobs.iter().enumerate().find(|(_, b)| b.levels.contains(&level))
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

    fn sample() -> Meta {
        Meta {
            program: "app_mv".into(),
            label: "//app:app_mv".into(),
            rustc: "rustc version 1.95.0".into(),
            target: "x86_64-unknown-linux-gnu".into(),
            blobs: vec![
                BlobMeta {
                    levels: vec![Level::V3, Level::V4],
                    compression: Compression::Stored,
                    size: 10,
                    stored_size: 10,
                    sha256: [7; 32],
                    check: Some(0x1234_5678_9abc_def0),
                    section: ".multiarch.blob.0".into(),
                },
                BlobMeta {
                    levels: vec![Level::V1, Level::V2],
                    compression: Compression::Stored,
                    size: 12,
                    stored_size: 12,
                    sha256: [9; 32],
                    check: Some(5),
                    section: ".multiarch.blob.1".into(),
                },
            ],
        }
    }

    #[test]
    fn round_trip() {
        let m = sample();
        assert_eq!(Meta::decode(&m.encode()).unwrap(), m);
        assert_eq!(m.blob_of(Level::V2).unwrap().0, 1);
        assert_eq!(m.blob_of(Level::V4).unwrap().0, 0);
    }

    #[test]
    fn version_3_tables_are_read_without_checksums() {
        let mut m = sample();
        let v3 = m.encode_version(3);
        assert_eq!(v3[8], 3);
        assert_eq!(v3.len() + 8 * m.blobs.len(), m.encode().len());
        for b in &mut m.blobs {
            b.check = None;
        }
        assert_eq!(Meta::decode(&v3).unwrap(), m);
        assert_eq!(sample().encode()[8], 4);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = sample().encode();
        for n in 0..bytes.len() {
            assert!(Meta::decode(&bytes[..n]).is_err(), "prefix of {n} bytes");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(Meta::decode(&longer), Err(MetaError::Invalid("length (bytes after the last blob)")));
    }

    #[test]
    fn invalid_fields() {
        let good = sample().encode();
        let mut bad = good.clone();
        bad[0] = b'X';
        assert_eq!(Meta::decode(&bad), Err(MetaError::BadMagic));
        let mut bad = good.clone();
        bad[8] = 5;
        assert_eq!(Meta::decode(&bad), Err(MetaError::UnknownVersion(5)));
        bad[8] = 2;
        assert_eq!(Meta::decode(&bad), Err(MetaError::UnknownVersion(2)));
        // Two blobs claiming the same level.
        let mut m = sample();
        m.blobs[1].levels = vec![Level::V1, Level::V3];
        assert_eq!(Meta::decode(&m.encode()), Err(MetaError::Invalid("blob levels")));
        // No baseline.
        let mut m = sample();
        m.blobs.truncate(1);
        assert!(matches!(Meta::decode(&m.encode()), Err(MetaError::Invalid(_))));
    }

    #[test]
    fn huge_lengths_do_not_allocate_or_panic() {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&VERSION.to_le_bytes());
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(Meta::decode(&bytes), Err(MetaError::Truncated("program")));
    }
}
