//! `multiarch pack`: writes the crate root of a bundle.
//!
//! The output is Rust source: one `Blob` per distinct build, holding the
//! build through `include_bytes!` with a path relative to the output file,
//! and a `Bundle` table that lists the levels most capable first. Builds that
//! came out byte-identical are stored once.

use crate::sha256;
use anyhow::{bail, ensure, Context, Result};
use multiarch_launcher::meta::{BlobMeta, Meta};
use multiarch_launcher::{Compression, Level};
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

/// Writes the crate root; returns its text too.
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
    let mut blobs: Vec<([u8; 32], u64, PathBuf)> = Vec::new();
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
        let index = match blobs.iter().position(|(h, _, _)| *h == hash) {
            Some(i) => i,
            None => {
                let rel = relative(&out_dir, &lexical_absolute(&cwd, path));
                blobs.push((hash, data.len() as u64, rel));
                blobs.len() - 1
            }
        };
        table.push((*level, index));
    }

    let meta = Meta {
        program: args.program.clone(),
        label: args.label.clone(),
        rustc,
        target: args.target.clone(),
        blobs: blobs
            .iter()
            .enumerate()
            .map(|(i, (hash, size, _))| BlobMeta {
                levels: {
                    let mut levels: Vec<Level> =
                        table.iter().filter(|(_, b)| *b == i).map(|(l, _)| *l).collect();
                    levels.sort();
                    levels
                },
                compression: Compression::Stored,
                size: *size,
                stored_size: *size,
                sha256: *hash,
                section: blob_section(i),
            })
            .collect(),
    };
    let meta_bytes = meta.encode();

    let mut src = String::new();
    let _ = writeln!(src, "// @generated by `multiarch pack`. Do not edit.");
    let _ = writeln!(src, "// The launcher of {} ({}).", args.program, args.label);
    let _ = writeln!(src, "#![no_main]\n");
    for (i, (hash, size, rel)) in blobs.iter().enumerate() {
        let rel = rel.to_str().with_context(|| format!("{} is not UTF-8", rel.display()))?;
        let hash_bytes: Vec<String> = hash.iter().map(|b| format!("0x{b:02x}")).collect();
        let _ = writeln!(src, "// sha256 {}", sha256::hex(hash));
        let _ = writeln!(src, "#[link_section = {}]", rust_str(&blob_section(i)));
        let _ = writeln!(src, "static BLOB_{i}_DATA: [u8; {size}] = *include_bytes!({});", rust_str(rel));
        let _ = writeln!(src, "static BLOB_{i}: ::multiarch_launcher::Blob = ::multiarch_launcher::Blob {{");
        let _ = writeln!(src, "    data: &BLOB_{i}_DATA,");
        let _ = writeln!(src, "    size: {size},");
        let _ = writeln!(src, "    sha256: [{}],", hash_bytes.join(", "));
        let _ = writeln!(src, "    compression: ::multiarch_launcher::Compression::Stored,");
        let _ = writeln!(src, "}};\n");
    }
    let _ = writeln!(src, "// The table `multiarch inspect` reads without running the bundle.");
    let _ = writeln!(src, "#[link_section = {}]", rust_str(multiarch_launcher::meta::SECTION));
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

/// The ELF section that holds blob `i`.
pub fn blob_section(i: usize) -> String {
    format!("{}.blob.{i}", multiarch_launcher::meta::SECTION)
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

/// Writes `path` through a temporary file and a rename: never half-written.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp.{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let result = fs::write(&tmp, bytes)
        .and_then(|()| fs::rename(&tmp, path))
        .with_context(|| format!("cannot write {}", path.display()));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
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
