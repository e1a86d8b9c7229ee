//! Reading a bundle from its file, without running it: the `.multiarch`
//! table and the sections that hold the builds.

use crate::meta::{self, Meta, MetaError};
use crate::sha256;
use multiarch_launcher::codec::DecodeError;
use multiarch_launcher::{check, Compression};
use object::{Object, ObjectSection};
use std::fmt;
use std::ops::Range;

/// Why bytes are not a readable bundle.
#[derive(Debug, PartialEq, Eq)]
pub enum BundleError {
    /// Does not start with the ELF magic.
    NotElf,
    /// Starts like an ELF file but its headers cannot be read.
    BadElf(String),
    /// An ELF file without the `.multiarch` section.
    NotBundle,
    /// The table cannot be read.
    Meta(MetaError),
    /// A section the table names is missing.
    MissingSection(String),
    /// A section extends past the end of the file.
    Truncated { section: String, end: u64, len: u64 },
    /// A section's size differs from what the table records.
    SizeMismatch { section: String, table: u64, actual: u64 },
}

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BundleError::NotElf => write!(f, "not an ELF file"),
            BundleError::BadElf(e) => write!(f, "a damaged or truncated ELF file ({e})"),
            BundleError::NotBundle => {
                write!(f, "an ELF file but not a multiarch bundle (it has no {} section)", meta::SECTION)
            }
            BundleError::Meta(e) => write!(f, "a damaged bundle: {e}"),
            BundleError::MissingSection(s) => {
                write!(f, "a damaged bundle: its table names section {s}, which is missing")
            }
            BundleError::Truncated { section, end, len } => {
                write!(f, "truncated: section {section} ends at byte {end} but the file has {len} bytes")
            }
            BundleError::SizeMismatch { section, table, actual } => {
                write!(f, "a damaged bundle: section {section} has {actual} bytes, its table says {table} (plus page padding)")
            }
        }
    }
}

impl std::error::Error for BundleError {}

/// The alignment (and so the size granule) of a blob's section: see
/// `multiarch_launcher::PageAligned`.
const BLOB_ALIGN: u64 = 4096;

/// A parsed bundle: its table and where each blob's stored bytes are.
#[derive(Debug)]
pub struct Parsed {
    /// The `.multiarch` table.
    pub meta: Meta,
    /// The table's byte range in the file.
    pub table: Range<usize>,
    /// Per blob of `meta.blobs`, its bytes' range in the file.
    pub ranges: Vec<Range<usize>>,
}

/// The byte range of a named section, checked against the file's length.
fn section_range(
    file: &object::File<'_>,
    name: &str,
    len: usize,
) -> Result<Option<Range<usize>>, BundleError> {
    let Some(section) = file.section_by_name(name) else { return Ok(None) };
    let Some((offset, size)) = section.file_range() else {
        return Err(BundleError::BadElf(format!("section {name} has no file data")));
    };
    let end = offset.saturating_add(size);
    if end > len as u64 {
        return Err(BundleError::Truncated { section: name.to_owned(), end, len: len as u64 });
    }
    // Both fit in usize: `end` is at most `len`.
    Ok(Some(offset as usize..end as usize))
}

/// Where an ELF64 little-endian file's section header table ends, from its
/// header; `None` when the header itself is cut short or of another class.
fn section_headers_end(bytes: &[u8]) -> Option<u64> {
    if bytes.get(4) != Some(&2) || bytes.get(5) != Some(&1) {
        return None;
    }
    let shoff = u64::from_le_bytes(bytes.get(0x28..0x30)?.try_into().ok()?);
    let shentsize = u16::from_le_bytes(bytes.get(0x3a..0x3c)?.try_into().ok()?);
    let shnum = u16::from_le_bytes(bytes.get(0x3c..0x3e)?.try_into().ok()?);
    Some(shoff.saturating_add(u64::from(shentsize) * u64::from(shnum)))
}

/// Parses a bundle. Never panics, whatever the bytes.
pub fn parse(bytes: &[u8]) -> Result<Parsed, BundleError> {
    if !bytes.starts_with(b"\x7fELF") {
        return Err(BundleError::NotElf);
    }
    if let Some(end) = section_headers_end(bytes) {
        if end > bytes.len() as u64 {
            return Err(BundleError::Truncated {
                section: "header table".into(),
                end,
                len: bytes.len() as u64,
            });
        }
    }
    let file = object::File::parse(bytes).map_err(|e| BundleError::BadElf(e.to_string()))?;
    let table = section_range(&file, meta::SECTION, bytes.len())?.ok_or(BundleError::NotBundle)?;
    let meta = Meta::decode(&bytes[table.clone()]).map_err(BundleError::Meta)?;
    let mut ranges = Vec::new();
    for blob in &meta.blobs {
        let range = section_range(&file, &blob.section, bytes.len())?
            .ok_or_else(|| BundleError::MissingSection(blob.section.clone()))?;
        // The section is the build page-aligned: its size is rounded up to 4 KiB.
        let actual = range.len() as u64;
        if actual < blob.stored_size || actual - blob.stored_size >= BLOB_ALIGN {
            return Err(BundleError::SizeMismatch {
                section: blob.section.clone(),
                table: blob.stored_size,
                actual,
            });
        }
        ranges.push(range.start..range.start + blob.stored_size as usize);
    }
    Ok(Parsed { meta, table, ranges })
}

/// Why a blob does not decode to the build its table describes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlobError {
    /// The stored stream is malformed.
    Codec(DecodeError),
    /// The x86-64 blob it is a delta against is damaged (it is not checked).
    Base(usize),
    /// Decoded size differs from the table's.
    Size { expected: u64, actual: u64 },
    /// The launcher's checksum differs from the table's.
    Checksum { expected: u64, actual: u64 },
    /// SHA-256 differs from the table's.
    Hash { expected: String, actual: String },
}

impl fmt::Display for BlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlobError::Codec(e) => write!(f, "{e}"),
            BlobError::Base(i) => {
                write!(f, "not checked: it is a delta against blob {i}, which is damaged")
            }
            BlobError::Size { expected, actual } => {
                write!(f, "decodes to {actual} bytes, the table says {expected}")
            }
            BlobError::Checksum { expected, actual } => {
                write!(f, "checksum is {actual:016x}, the table says {expected:016x}")
            }
            BlobError::Hash { expected, actual } => {
                write!(f, "sha256 is {actual}, the table says {expected}")
            }
        }
    }
}

impl std::error::Error for BlobError {}

/// The blob that blob `i` is a delta against, if it is a delta. The table
/// guarantees that base exists and is no delta itself.
fn base_index(parsed: &Parsed, i: usize) -> Option<usize> {
    parsed.meta.blobs.get(i).and_then(|b| b.base)
}

/// Decodes blob `i` of a parsed bundle (its base first, for a delta) and
/// checks its size, checksum and hash.
pub fn decode(parsed: &Parsed, bytes: &[u8], i: usize) -> Result<Vec<u8>, BlobError> {
    decode_with_base(parsed, bytes, i, |b| decode(parsed, bytes, b))
}

/// Decodes every blob, each base once however many deltas refer to it.
pub fn decode_all(parsed: &Parsed, bytes: &[u8]) -> Vec<Result<Vec<u8>, BlobError>> {
    let n = parsed.meta.blobs.len();
    // Bases first: no base is a delta, so each decodes on its own.
    let mut done: Vec<Option<Result<Vec<u8>, BlobError>>> = vec![None; n];
    for (i, slot) in done.iter_mut().enumerate() {
        if base_index(parsed, i).is_none() {
            *slot = Some(decode(parsed, bytes, i));
        }
    }
    for i in 0..n {
        if done[i].is_none() {
            let result = decode_with_base(parsed, bytes, i, |b| {
                done.get(b).cloned().flatten().unwrap_or(Err(BlobError::Base(b)))
            });
            done[i] = Some(result);
        }
    }
    done.into_iter().map(|r| r.unwrap_or(Err(BlobError::Codec(DecodeError::BadOffset)))).collect()
}

/// Decodes blob `i`, asking `base` for the decoded base build (by index) if it is a delta.
fn decode_with_base(
    parsed: &Parsed,
    bytes: &[u8],
    i: usize,
    base: impl FnOnce(usize) -> Result<Vec<u8>, BlobError>,
) -> Result<Vec<u8>, BlobError> {
    let blob = &parsed.meta.blobs[i];
    let stored = &bytes[parsed.ranges[i].clone()];
    let size = usize::try_from(blob.size).map_err(|_| BlobError::Codec(DecodeError::WrongSize))?;
    let data = match blob.compression {
        Compression::Stored => {
            if stored.len() != size {
                return Err(BlobError::Size { expected: blob.size, actual: stored.len() as u64 });
            }
            stored.to_vec()
        }
        Compression::Lz => crate::decode_blob(stored, &[], size).map_err(BlobError::Codec)?,
        Compression::LzDelta => {
            // Chains of one: a base that is a delta (or the blob itself) is
            // refused, so a damaged table cannot make this recurse.
            let base_i = base_index(parsed, i).unwrap_or(i);
            if base_i == i
                || parsed.meta.blobs.get(base_i).is_none_or(|b| b.compression == Compression::LzDelta)
            {
                return Err(BlobError::Base(base_i));
            }
            let reference = base(base_i).map_err(|_| BlobError::Base(base_i))?;
            crate::decode_blob(stored, &reference, size).map_err(BlobError::Codec)?
        }
    };
    if data.len() as u64 != blob.size {
        return Err(BlobError::Size { expected: blob.size, actual: data.len() as u64 });
    }
    if let Some(expected) = blob.check {
        let actual = check::checksum(&data);
        if actual != expected {
            return Err(BlobError::Checksum { expected, actual });
        }
    }
    let actual = sha256::digest(&data);
    if actual != blob.sha256 {
        return Err(BlobError::Hash { expected: sha256::hex(&blob.sha256), actual: sha256::hex(&actual) });
    }
    Ok(data)
}

/// A name for blob `i` in messages: `blob 1 (x86-64-v3 x86-64-v2)`, its
/// variants in table order.
pub fn blob_name(meta: &Meta, i: usize) -> String {
    format!("blob {i} ({})", meta.blob_variants(i).join(" "))
}
