//! `multiarch pack`: writes the crate root of a bundle.
//!
//! The output is Rust source: one `Blob` per distinct build, holding the
//! build through `include_bytes!` with a path relative to the output file,
//! and a `Bundle` table that lists the levels most capable first. Builds that
//! came out byte-identical are stored once.

use crate::meta::{BlobMeta, Meta};
use crate::{compress, sha256};
use anyhow::{bail, ensure, Context, Result};
use multiarch_launcher::{check, Compression, Level};
use object::{Object, ObjectSection};
use std::fmt::Write as _;
use std::fs;
use std::path::{Component, Path, PathBuf};

/// What to pack.
#[derive(Debug)]
pub struct PackArgs {
    /// The program's name: its cache file name.
    pub program: String,
    /// Where it was built from, for humans (a Bazel label).
    pub label: String,
    /// The crate root to write.
    pub out: PathBuf,
    /// Each level and the file of its build.
    pub variants: Vec<(Level, PathBuf)>,
    /// The target triple the builds are for, recorded in the metadata.
    pub target: String,
    /// How to store the builds.
    pub compression: PackCompression,
    /// Where compressed blobs are written (default: OUT + ".blobs").
    pub blob_dir: Option<PathBuf>,
    /// The `.multiarch` table's format version ([`crate::meta::VERSION`]
    /// unless a reader needs an older one).
    pub table_version: u16,
}

/// Checks a program name: it becomes a file name in the cache.
pub fn check_program_name(name: &str) -> Result<()> {
    ensure!(
        !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0']) && name.len() <= 200,
        "--program {name:?} cannot be a file name: use 1-200 bytes with no '/' or NUL, not '.' or '..'"
    );
    Ok(())
}

/// Parses `LEVEL=PATH`.
pub fn parse_variant(arg: &str) -> Result<(Level, PathBuf)> {
    let Some((level, path)) = arg.split_once('=') else {
        bail!("--variant {arg:?} must be LEVEL=PATH, e.g. x86-64-v3=bazel-out/app_v3");
    };
    let level = level.parse::<Level>().with_context(|| format!("--variant {arg:?}"))?;
    ensure!(!path.is_empty(), "--variant {arg:?} names no file");
    Ok((level, PathBuf::from(path)))
}

/// `path` made absolute against `cwd` and with `.` and `..` folded, without
/// touching the file system (the files may sit behind sandbox symlinks).
fn lexical_absolute(cwd: &Path, path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in cwd.join(path).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The path from directory `from` to `to`, both absolute and folded.
fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &to[common..] {
        out.push(c);
    }
    out
}

/// A Rust string literal for `s`.
fn rust_str(s: &str) -> String {
    format!("{s:?}")
}

/// How `pack` stores the builds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PackCompression {
    /// Each distinct build as it is.
    None,
    /// The x86-64 build LZ-compressed, the others as LZ deltas against it
    /// (each kept stored where that saves less than an eighth).
    #[default]
    Lz,
}

impl std::str::FromStr for PackCompression {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "none" => Ok(PackCompression::None),
            "lz" => Ok(PackCompression::Lz),
            _ => bail!("--compression {s:?} is not known (accepted: none, lz)"),
        }
    }
}

/// One distinct build on its way into the bundle.
struct Packed {
    hash: [u8; 32],
    /// The launcher's checksum of `data` (`multiarch_launcher::check`).
    check: u64,
    data: Vec<u8>,
    levels: Vec<Level>,
    /// Where `include_bytes!` finds the stored bytes, from the output's directory.
    rel: PathBuf,
    compression: Compression,
    /// The encoded bytes, when compressed.
    encoded: Option<Vec<u8>>,
}

impl Packed {
    fn stored_size(&self) -> u64 {
        self.encoded.as_ref().map_or(self.data.len(), Vec::len) as u64
    }
}

/// Writes the crate root (and, compressed, the blob files); returns its text.
pub fn pack(args: &PackArgs) -> Result<String> {
    check_program_name(&args.program)?;
    ensure!(!args.variants.is_empty(), "no --variant given: pack at least the x86-64 build");
    let mut levels: Vec<Level> = args.variants.iter().map(|(l, _)| *l).collect();
    levels.sort();
    if let Some(w) = levels.windows(2).find(|w| w[0] == w[1]) {
        bail!("--variant for {} given twice: give each level once", w[0]);
    }
    ensure!(
        levels.first() == Some(&Level::V1),
        "no --variant for x86-64 (v1): a bundle needs a baseline build that every x86-64 CPU runs"
    );

    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let out_abs = lexical_absolute(&cwd, &args.out);
    let out_dir = out_abs.parent().unwrap_or(Path::new("/")).to_owned();

    // Most capable first; identical builds share one blob.
    let mut variants: Vec<&(Level, PathBuf)> = args.variants.iter().collect();
    variants.sort_by_key(|v| std::cmp::Reverse(v.0));
    let mut blobs: Vec<Packed> = Vec::new();
    let mut table = Vec::new();
    let mut rustc = String::new();
    for (level, path) in variants {
        let data =
            fs::read(path).with_context(|| format!("cannot read the {level} build {}", path.display()))?;
        ensure!(
            data.starts_with(b"\x7fELF"),
            "the {level} build {} is not an ELF file: pass the executable rust_binary built",
            path.display()
        );
        if *level == Level::V1 {
            rustc = rustc_of(&data);
        }
        let hash = sha256::digest(&data);
        let index = match blobs.iter().position(|b| b.hash == hash) {
            Some(i) => i,
            None => {
                let rel = relative(&out_dir, &lexical_absolute(&cwd, path));
                blobs.push(Packed {
                    hash,
                    check: check::checksum(&data),
                    data,
                    levels: Vec::new(),
                    rel,
                    compression: Compression::Stored,
                    encoded: None,
                });
                blobs.len() - 1
            }
        };
        blobs[index].levels.insert(0, *level);
        table.push((*level, index));
    }
    let base = blobs.iter().position(|b| b.levels.contains(&Level::V1)).unwrap_or(0);

    if args.compression == PackCompression::Lz {
        compress_blobs(&mut blobs, base);
        let blob_dir = args.blob_dir.clone().unwrap_or_else(|| {
            let mut d = args.out.as_os_str().to_owned();
            d.push(".blobs");
            PathBuf::from(d)
        });
        fs::create_dir_all(&blob_dir).with_context(|| format!("cannot create {}", blob_dir.display()))?;
        let blob_dir_abs = lexical_absolute(&cwd, &blob_dir);
        for (i, b) in blobs.iter_mut().enumerate() {
            if let Some(encoded) = &b.encoded {
                let name = format!("blob{i}.lz");
                write_atomically(&blob_dir.join(&name), encoded)?;
                b.rel = relative(&out_dir, &blob_dir_abs.join(&name));
            }
        }
    } else if let Some(dir) = &args.blob_dir {
        // Declared by the build system either way; empty when nothing is compressed.
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }

    let meta = Meta {
        program: args.program.clone(),
        label: args.label.clone(),
        rustc,
        target: args.target.clone(),
        blobs: blobs
            .iter()
            .enumerate()
            .map(|(i, b)| BlobMeta {
                levels: b.levels.clone(),
                compression: b.compression,
                size: b.data.len() as u64,
                stored_size: b.stored_size(),
                sha256: b.hash,
                check: Some(b.check),
                section: blob_section(i),
            })
            .collect(),
    };
    let meta_bytes = meta.encode_version(args.table_version);

    let mut src = String::new();
    let _ = writeln!(src, "// @generated by `multiarch pack`. Do not edit.");
    let _ = writeln!(src, "// The launcher of {} ({}).", args.program, args.label);
    let _ = writeln!(src, "#![no_std]\n#![no_main]\n");
    for (i, b) in blobs.iter().enumerate() {
        let rel = b.rel.to_str().with_context(|| format!("{} is not UTF-8", b.rel.display()))?;
        let hash_bytes: Vec<String> = b.hash.iter().map(|x| format!("0x{x:02x}")).collect();
        let base_ref =
            if b.compression == Compression::LzDelta { format!("Some(&BLOB_{base})") } else { "None".into() };
        let _ = writeln!(src, "// sha256 {}", sha256::hex(&b.hash));
        let _ = writeln!(src, "#[link_section = {}]", rust_str(&blob_section(i)));
        let _ = writeln!(
            src,
            "static BLOB_{i}_DATA: ::multiarch_launcher::PageAligned<[u8; {}]> = \
             ::multiarch_launcher::PageAligned(*include_bytes!({}));",
            b.stored_size(),
            rust_str(rel)
        );
        let _ = writeln!(src, "static BLOB_{i}: ::multiarch_launcher::Blob = ::multiarch_launcher::Blob {{");
        let _ = writeln!(src, "    data: &BLOB_{i}_DATA.0,");
        let _ = writeln!(src, "    size: {},", b.data.len());
        let _ = writeln!(src, "    sha256: [{}],", hash_bytes.join(", "));
        let _ = writeln!(src, "    check: {:#018x},", b.check);
        let _ = writeln!(src, "    compression: ::multiarch_launcher::Compression::{:?},", b.compression);
        let _ = writeln!(src, "    base: {base_ref},");
        let _ = writeln!(src, "}};\n");
    }
    let _ = writeln!(src, "// The table `multiarch inspect` reads without running the bundle.");
    let _ = writeln!(src, "#[link_section = {}]", rust_str(crate::meta::SECTION));
    let _ = writeln!(src, "#[used]");
    let _ = writeln!(src, "static META: [u8; {}] = *b\"{}\";", meta_bytes.len(), byte_string(&meta_bytes));
    let _ = writeln!(src);
    let _ = writeln!(src, "static BUNDLE: ::multiarch_launcher::Bundle = ::multiarch_launcher::Bundle {{");
    let _ = writeln!(src, "    program: {},", rust_str(&args.program));
    let _ = writeln!(src, "    label: {},", rust_str(&args.label));
    let _ = writeln!(src, "    variants: &[");
    for (level, blob) in &table {
        let _ = writeln!(
            src,
            "        ::multiarch_launcher::Variant {{ level: ::multiarch_launcher::Level::{level:?}, blob: &BLOB_{blob} }},"
        );
    }
    let _ = writeln!(src, "    ],\n}};\n");
    let _ = writeln!(src, "::multiarch_launcher::entry!(BUNDLE);");

    write_atomically(&args.out, src.as_bytes())?;
    Ok(src)
}

/// Compresses every blob: the base alone, the others as deltas against it,
/// or alone where the delta does not pay for decoding the base too. A blob
/// stays stored where compression would save less than an eighth.
fn compress_blobs(blobs: &mut [Packed], base: usize) {
    // Borrowed, not copied: the blobs are only read until every job is done.
    let base_data: &[u8] = &blobs[base].data;
    let jobs: Vec<Job> = blobs
        .iter()
        .enumerate()
        .map(|(i, b)| (i, b.data.as_slice(), if i == base { &[][..] } else { base_data }))
        .collect();
    let mut encoded: Vec<Option<(Compression, Vec<u8>)>> = vec![None; blobs.len()];
    for (i, stream) in encode_parallel(&jobs) {
        encoded[i] = Some((if i == base { Compression::Lz } else { Compression::LzDelta }, stream));
    }
    // A delta costs a second decode at a cold start (the base first), so it
    // must at least halve what the build takes compressed alone. Builds of
    // the same code for two levels mostly differ throughout (other
    // instructions, so other offsets everywhere): a 33 MB build's delta was
    // 0.86x its standalone stream, while a small program's, mostly the
    // precompiled std shared by all levels, was 0.17x. The standalone stream
    // is only encoded where the base's ratio says the delta may not halve it.
    let base_ratio =
        encoded[base].as_ref().map_or(1.0, |(_, e)| e.len() as f64 / base_data.len().max(1) as f64);
    let retry: Vec<Job> = jobs
        .iter()
        .filter(|(i, data, _)| {
            let delta = encoded[*i].as_ref().map_or(0, |(_, e)| e.len());
            *i != base && delta as f64 * 2.0 > data.len() as f64 * base_ratio
        })
        .map(|&(i, data, _)| (i, data, &[][..]))
        .collect();
    for (i, alone) in encode_parallel(&retry) {
        if let Some((compression, delta)) = &mut encoded[i] {
            if delta.len() * 2 > alone.len() {
                *compression = Compression::Lz;
                *delta = alone;
            }
        }
    }
    for (b, enc) in blobs.iter_mut().zip(encoded) {
        let Some((compression, stream)) = enc else { continue };
        // Decoding costs time at every cold start: compress only where it
        // saves at least an eighth (not, e.g., a build that is mostly random
        // padding, which would be decoded for next to nothing).
        if stream.len() < b.data.len() - b.data.len() / 8 {
            b.compression = compression;
            b.encoded = Some(stream);
        }
    }
}

/// From this size on a build is cut in two segments, which the launcher
/// decodes on two threads (see `multiarch_launcher::codec::Segments`).
pub const SEGMENT_MIN: usize = 8 << 20;

/// The stored bytes of a compressed blob: the segment table and the
/// segments' streams, each encoded against `reference`.
pub fn encode_blob(data: &[u8], reference: &[u8]) -> Vec<u8> {
    let cuts: &[usize] =
        if data.len() >= SEGMENT_MIN { &[0, data.len() / 2, data.len()] } else { &[0, data.len()] };
    let streams: Vec<(usize, Vec<u8>)> = cuts
        .windows(2)
        .map(|w| (w[1] - w[0], compress::encode(&data[w[0]..w[1]], reference, compress::Effort::default())))
        .collect();
    let mut out = Vec::new();
    compress::varint(&mut out, streams.len() as u64);
    for (len, stream) in &streams {
        compress::varint(&mut out, *len as u64);
        compress::varint(&mut out, stream.len() as u64);
    }
    for (_, stream) in streams {
        out.extend_from_slice(&stream);
    }
    out
}

/// A blob's index, its bytes, and the reference to encode it against.
type Job<'a> = (usize, &'a [u8], &'a [u8]);

/// Encodes the jobs on up to as many threads as there are CPUs. The result
/// does not depend on the thread count.
fn encode_parallel(jobs: &[Job<'_>]) -> Vec<(usize, Vec<u8>)> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(jobs.len()).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let chunk: Vec<Job<'_>> = jobs.iter().skip(t).step_by(threads).copied().collect();
                s.spawn(move || {
                    chunk
                        .into_iter()
                        .map(|(i, data, reference)| (i, encode_blob(data, reference)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    })
}

/// The ELF section that holds blob `i`.
pub fn blob_section(i: usize) -> String {
    format!("{}.blob.{i}", crate::meta::SECTION)
}

/// The rustc version an ELF's `.comment` records, or "" when it has none.
fn rustc_of(elf: &[u8]) -> String {
    let Ok(file) = object::File::parse(elf) else { return String::new() };
    let Some(comment) = file.section_by_name(".comment").and_then(|s| s.data().ok()) else {
        return String::new();
    };
    comment
        .split(|&b| b == 0)
        .filter_map(|s| std::str::from_utf8(s).ok())
        .find(|s| s.starts_with("rustc version "))
        .map(|s| s.trim_start_matches("rustc version ").to_owned())
        .unwrap_or_default()
}

/// `bytes` escaped for a Rust byte string literal.
fn byte_string(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            b'"' | b'\\' => format!("\\{}", b as char),
            0x20..=0x7e => (b as char).to_string(),
            _ => format!("\\x{b:02x}"),
        })
        .collect()
}

/// Writes `path` whole or not at all (see [`crate::output`]). A file that
/// already holds exactly `bytes` is left alone, mtime and all, so that build
/// tools see no change.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::output::write_file(path, bytes, 0o644, crate::output::IfSame::Keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        let r =
            |from: &str, to: &str| relative(Path::new(from), Path::new(to)).to_string_lossy().into_owned();
        assert_eq!(
            r("/x/bazel-out/k8-opt/bin/app", "/x/bazel-out/k8-ST-1/bin/app/app"),
            "../../../k8-ST-1/bin/app/app"
        );
        assert_eq!(r("/a/b", "/a/b/c"), "c");
        assert_eq!(r("/a/b", "/c"), "../../c");
        let abs = lexical_absolute(Path::new("/root/x"), Path::new("./a/../b/./c"));
        assert_eq!(abs, Path::new("/root/x/b/c"));
    }

    #[test]
    fn variant_syntax() {
        assert_eq!(parse_variant("v3=a/b").unwrap(), (Level::V3, PathBuf::from("a/b")));
        assert_eq!(parse_variant("x86-64=a=b").unwrap(), (Level::V1, PathBuf::from("a=b")));
        for bad in ["v3", "v9=a", "v3=", "=a"] {
            let msg = format!("{:#}", parse_variant(bad).unwrap_err());
            assert!(msg.contains(bad), "{msg}");
        }
    }

    #[test]
    fn program_names() {
        check_program_name("app_mv").unwrap();
        for bad in ["", ".", "..", "a/b", "a\0b"] {
            assert!(check_program_name(bad).is_err(), "{bad:?}");
        }
    }

    fn elf(dir: &Path, name: &str, body: &[u8]) -> PathBuf {
        let p = dir.join(name);
        fs::write(&p, [b"\x7fELF".as_slice(), body].concat()).unwrap();
        p
    }

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("multiarch-pack-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn dedups_and_orders_most_capable_first() {
        let d = tempdir("dedup");
        let v1 = elf(&d, "v1", b"one");
        let v2 = elf(&d, "v2", b"one");
        let v3 = elf(&d, "v3", b"three");
        let out = d.join("gen/bundle.rs");
        fs::create_dir_all(out.parent().unwrap()).unwrap();
        let args = PackArgs {
            program: "app".into(),
            label: "//app:app".into(),
            out: out.clone(),
            variants: vec![(Level::V1, v1), (Level::V3, v3), (Level::V2, v2)],
            target: "x86_64-unknown-linux-gnu".into(),
            compression: PackCompression::None,
            blob_dir: None,
            table_version: crate::meta::VERSION,
        };
        let src = pack(&args).unwrap();
        assert_eq!(fs::read_to_string(&out).unwrap(), src);
        assert_eq!(src.matches("include_bytes!").count(), 2, "{src}");
        assert!(src.contains("include_bytes!(\"../v3\")"), "{src}");
        assert!(src.contains("#[link_section = \".multiarch.blob.1\"]"), "{src}");
        assert!(src.contains("#[link_section = \".multiarch\"]"), "{src}");
        let v3 = src.find("Level::V3").unwrap();
        let v2 = src.find("Level::V2").unwrap();
        let v1 = src.find("Level::V1").unwrap();
        assert!(v3 < v2 && v2 < v1, "{src}");
        assert!(
            src.contains("Level::V2, blob: &BLOB_1") && src.contains("Level::V1, blob: &BLOB_1"),
            "{src}"
        );
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn compresses_only_where_it_pays() {
        let d = tempdir("pays");
        let mut x = 7u64;
        let mut noise = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect()
        };
        let random = noise(100_000);
        let v1 = elf(&d, "v1", &random);
        let v2 = elf(&d, "v2", &noise(100_000));
        let mut near = random.clone();
        near[500] ^= 1;
        let v3 = elf(&d, "v3", &near);
        let out = d.join("out.rs");
        let args = PackArgs {
            program: "p".into(),
            label: String::new(),
            out: out.clone(),
            variants: vec![(Level::V1, v1), (Level::V2, v2), (Level::V3, v3)],
            target: String::new(),
            compression: PackCompression::Lz,
            blob_dir: Some(d.join("blobs")),
            table_version: crate::meta::VERSION,
        };
        let src = pack(&args).unwrap();
        // Random bytes stay stored (the v1 base and the unrelated v2); the
        // near-copy of the base becomes a tiny delta against it.
        assert_eq!(src.matches("Compression::Stored").count(), 2, "{src}");
        assert_eq!(src.matches("Compression::LzDelta").count(), 1, "{src}");
        let delta = fs::read(d.join("blobs/blob0.lz")).unwrap();
        assert!(delta.len() < 64, "{}", delta.len());
        fs::remove_dir_all(&d).unwrap();
    }

    /// Compressible bytes like code: 32 random 16-byte tokens of `seed`,
    /// each followed by a random byte, so that no match within them is
    /// longer than a token while a copy of the whole matches at length.
    fn tokens(seed: u64, n: usize) -> Vec<u8> {
        let mut x = seed | 1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let vocab: Vec<[u8; 16]> =
            (0..32).map(|_| (u128::from(next()) << 64 | u128::from(next())).to_le_bytes()).collect();
        let mut out = Vec::with_capacity(n + 17);
        while out.len() < n {
            out.extend_from_slice(&vocab[(next() % 32) as usize]);
            out.push(next() as u8);
        }
        out
    }

    #[test]
    fn deltas_only_where_they_halve_the_stream() {
        let d = tempdir("halve");
        let base = tokens(1, 200_000);
        let v1 = elf(&d, "v1", &base);
        // Unrelated to the base: the delta is no smaller than the build
        // compressed alone, so it is stored alone (no base decode at start).
        let v2 = elf(&d, "v2", &tokens(2, 200_000));
        let mut near = base.clone();
        for k in (0..near.len()).step_by(4096) {
            near[k] ^= 0x55;
        }
        let v3 = elf(&d, "v3", &near);
        let args = PackArgs {
            program: "p".into(),
            label: String::new(),
            out: d.join("out.rs"),
            variants: vec![(Level::V1, v1), (Level::V2, v2), (Level::V3, v3)],
            target: String::new(),
            compression: PackCompression::Lz,
            blob_dir: Some(d.join("blobs")),
            table_version: crate::meta::VERSION,
        };
        let src = pack(&args).unwrap();
        let kind = |level: &str| {
            let blob = src.split(&format!("Level::{level}, blob: &BLOB_")).nth(1).unwrap();
            let n: String = blob.chars().take_while(char::is_ascii_digit).collect();
            let def = src.split(&format!("static BLOB_{n}: ")).nth(1).unwrap();
            def.split("Compression::").nth(1).unwrap().split(',').next().unwrap().to_owned()
        };
        assert_eq!(kind("V1"), "Lz", "{src}");
        assert_eq!(kind("V2"), "Lz", "{src}");
        assert_eq!(kind("V3"), "LzDelta", "{src}");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn bad_sets_of_levels_write_nothing() {
        let d = tempdir("bad");
        let v1 = elf(&d, "v1", b"1");
        let v3 = elf(&d, "v3", b"3");
        let text = d.join("text");
        fs::write(&text, "#!/bin/sh\n").unwrap();
        let out = d.join("out.rs");
        let cases: Vec<(Vec<(Level, PathBuf)>, &str)> = vec![
            (vec![], "no --variant"),
            (vec![(Level::V3, v3.clone())], "no --variant for x86-64"),
            (vec![(Level::V1, v1.clone()), (Level::V1, v1.clone())], "given twice"),
            (vec![(Level::V1, d.join("missing"))], "cannot read the x86-64 build"),
            (vec![(Level::V1, text)], "not an ELF file"),
        ];
        for (variants, want) in cases {
            let args = PackArgs {
                program: "p".into(),
                label: String::new(),
                out: out.clone(),
                variants,
                target: String::new(),
                compression: PackCompression::Lz,
                blob_dir: None,
                table_version: crate::meta::VERSION,
            };
            let msg = format!("{:#}", pack(&args).unwrap_err());
            assert!(msg.contains(want), "{msg}");
            assert!(!out.exists());
        }
        fs::remove_dir_all(&d).unwrap();
    }
}

#[cfg(test)]
mod escape_tests {
    use super::*;

    #[test]
    fn byte_string_escapes_round_trip() {
        let bytes: Vec<u8> = (0..=255).collect();
        let lit = byte_string(&bytes);
        assert!(lit.is_ascii() && !lit.contains('\n'));
        // Decode the escapes back.
        let mut out = Vec::new();
        let mut it = lit.bytes();
        while let Some(b) = it.next() {
            if b != b'\\' {
                out.push(b);
                continue;
            }
            match it.next() {
                Some(b'x') => {
                    let hi = it.next().unwrap() as char;
                    let lo = it.next().unwrap() as char;
                    out.push(u8::from_str_radix(&format!("{hi}{lo}"), 16).unwrap());
                }
                Some(c) => out.push(c),
                None => panic!("dangling escape"),
            }
        }
        assert_eq!(out, bytes);
    }
}
