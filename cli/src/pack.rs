//! `multiarch pack`: writes the crate root of a bundle.
//!
//! The output is Rust source: one `Blob` per distinct build, holding the
//! build through `include_bytes!` with a path relative to the output file,
//! and a `Bundle` table that lists the variants best first, each with the
//! features it requires. Builds that came out byte-identical are stored
//! once.
//!
//! A variant's required features come from rustc when `--rustc` is given:
//! `RUSTC_BOOTSTRAP=1 rustc --print cfg --target TRIPLE -Ctarget-cpu=CPU
//! [-Ctarget-feature=FEATURES]` lists the target features the build may use
//! (RUSTC_BOOTSTRAP=1 so that a stable rustc lists its unstable ones too,
//! such as `amx-tile` and `lahfsahf`; it only prints). Each is required if
//! the launcher's table for the target's architecture has it, skipped if
//! the architecture's IGNORED list has it, and refused otherwise: no
//! variant can need a feature the launcher cannot detect. Without
//! `--rustc`, only the four psABI levels can be packed, with the level
//! table of `multiarch_launcher::level` (which a test compares with rustc).
//!
//! Ranking: more required features first; ties in the order given. The
//! last variant must require nothing: it is the baseline, which every CPU
//! of the architecture runs, and the base of the deltas.

use crate::meta::{BlobMeta, Meta, VariantMeta};
use crate::{compress, sha256};
use anyhow::{bail, ensure, Context, Result};
use multiarch_launcher::arch::Arch;
use multiarch_launcher::bundle::valid_name;
use multiarch_launcher::{check, Compression, FeatureSet, Level};
use object::{Object, ObjectSection};
use std::fmt::Write as _;
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

/// What to pack.
#[derive(Debug)]
pub struct PackArgs {
    /// The program's name: its cache file name.
    pub program: String,
    /// Where it was built from, for humans (a Bazel label).
    pub label: String,
    /// The crate root to write.
    pub out: PathBuf,
    /// The variants, in the user's order.
    pub variants: Vec<VariantArg>,
    /// The target triple the builds are for, recorded in the metadata and
    /// passed to rustc; its architecture picks the feature table. Empty:
    /// x86_64, and rustc's host target.
    pub target: String,
    /// How to store the builds.
    pub compression: PackCompression,
    /// Where compressed blobs are written (default: OUT + ".blobs").
    pub blob_dir: Option<PathBuf>,
    /// The `.multiarch` table's format version ([`crate::meta::VERSION`]
    /// unless a reader needs an older one).
    pub table_version: u16,
    /// The rustc to ask which features each variant enables.
    pub rustc: Option<PathBuf>,
    /// `--cap NAME`: a level or variant name; variants that need features
    /// beyond its are never chosen automatically.
    pub cap: Option<String>,
}

/// One `--variant NAME=PATH`, with its `--target-cpu` and `--target-features`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VariantArg {
    /// The variant's name (a level's short name already made its CPU name).
    pub name: String,
    /// The build.
    pub path: PathBuf,
    /// `--target-cpu NAME=CPU`; default: the name, for a level.
    pub cpu: Option<String>,
    /// `--target-features NAME=+a,+b`.
    pub features: Option<String>,
}

impl VariantArg {
    /// The variant of a level: named and built for it.
    pub fn level(level: Level, path: impl Into<PathBuf>) -> VariantArg {
        VariantArg { name: level.cpu_name().to_owned(), path: path.into(), cpu: None, features: None }
    }
}

/// Checks a program name: it becomes a file name in the cache.
pub fn check_program_name(name: &str) -> Result<()> {
    ensure!(
        !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0']) && name.len() <= 200,
        "--program {name:?} cannot be a file name: use 1-200 bytes with no '/' or NUL, not '.' or '..'"
    );
    Ok(())
}

/// A variant name as given: a level's short name (`v3`) becomes its CPU
/// name (`x86-64-v3`); anything else must be a valid name.
pub fn variant_name(name: &str, flag: &str, arg: &str) -> Result<String> {
    if let Some(level) = Level::parse(name.as_bytes()) {
        return Ok(level.cpu_name().to_owned());
    }
    ensure!(
        valid_name(name.as_bytes()),
        "{flag} {arg:?}: {name:?} is not a variant name: use 1-32 of a-z, 0-9, '.', '_', '-', starting \
         with a letter or digit"
    );
    Ok(name.to_owned())
}

/// Parses `NAME=PATH`.
pub fn parse_variant(arg: &str) -> Result<(String, PathBuf)> {
    let Some((name, path)) = arg.split_once('=') else {
        bail!("--variant {arg:?} must be NAME=PATH, e.g. x86-64-v3=bazel-out/app_v3");
    };
    let name = variant_name(name, "--variant", arg)?;
    ensure!(!path.is_empty(), "--variant {arg:?} names no file");
    Ok((name, PathBuf::from(path)))
}

/// Parses `NAME=VALUE` of `--target-cpu` or `--target-features`.
pub fn parse_named(flag: &str, arg: &str) -> Result<(String, String)> {
    let Some((name, value)) = arg.split_once('=') else {
        bail!("{flag} {arg:?} must be NAME=VALUE, where NAME is a --variant's name");
    };
    let name = variant_name(name, flag, arg)?;
    ensure!(!value.is_empty(), "{flag} {arg:?} gives no value");
    Ok((name, value.to_owned()))
}

/// A variant with its flags and required features worked out.
#[derive(Clone, Debug)]
struct Resolved {
    name: String,
    path: PathBuf,
    /// The rustc codegen flags.
    flags: String,
    /// The required features, of the architecture's table.
    requires: FeatureSet,
}

/// The cap `--cap NAME` names: its canonical name (a level's CPU name) and
/// features, a level's or a variant's requirements.
fn resolve_cap(name: &str, arch: Arch, variants: &[Resolved]) -> Result<(String, FeatureSet)> {
    let canonical = variant_name(name, "--cap", name)?;
    if let Some(v) = variants.iter().find(|v| v.name == canonical) {
        return Ok((canonical, v.requires));
    }
    match (arch, Level::parse(canonical.as_bytes())) {
        (Arch::X86_64, Some(level)) => Ok((canonical, level.features())),
        _ => {
            let names: Vec<&str> = variants.iter().map(|v| v.name.as_str()).collect();
            bail!(
                "--cap {name}: names no variant ({}) and no x86-64 level (v1..v4): give one of them",
                names.join(", ")
            )
        }
    }
}

/// The architecture of `target` (empty: x86_64).
pub fn target_arch(target: &str) -> Result<Arch> {
    if target.is_empty() {
        return Ok(Arch::X86_64);
    }
    Arch::of_triple(target).with_context(|| {
        let known: Vec<&str> = Arch::ALL.iter().map(|a| a.name()).collect();
        format!("--target {target:?}: the launcher supports {} targets only", known.join(", "))
    })
}

/// The target features rustc enables for `cpu` and `features` (`--print
/// cfg`). A warning that rustc does not know the CPU or a feature is an
/// error naming the variant.
pub fn rustc_features(
    rustc: &Path,
    target: &str,
    variant: &str,
    cpu: &str,
    features: Option<&str>,
) -> Result<Vec<String>> {
    let mut cmd = Command::new(rustc);
    cmd.env("RUSTC_BOOTSTRAP", "1").args(["--print", "cfg"]);
    if !target.is_empty() {
        cmd.args(["--target", target]);
    }
    cmd.arg(format!("-Ctarget-cpu={cpu}"));
    if let Some(f) = features {
        cmd.arg(format!("-Ctarget-feature={f}"));
    }
    let shown = format!(
        "{} --print cfg{}{} -Ctarget-cpu={cpu}{}",
        rustc.display(),
        if target.is_empty() { "" } else { " --target " },
        target,
        features.map(|f| format!(" -Ctarget-feature={f}")).unwrap_or_default()
    );
    let out = cmd.output().with_context(|| format!("variant {variant}: cannot run `{shown}`"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let first = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    ensure!(out.status.success(), "variant {variant}: `{shown}` failed ({}): {first}", out.status);
    let list = if target.is_empty() { String::new() } else { format!(" --target {target}") };
    for line in stderr.lines() {
        let what = line.trim_start_matches("warning: ");
        if line.contains("is not a recognized processor") {
            bail!(
                "variant {variant}: rustc does not know -Ctarget-cpu={cpu} ({what}); `rustc --print \
                 target-cpus{list}` lists the CPUs it knows"
            );
        }
        if line.starts_with("warning") && line.contains("unknown") && line.contains("feature") {
            bail!(
                "variant {variant}: {what}; `rustc --print target-features{list}` lists the features \
                 it knows"
            );
        }
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let features: Vec<String> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("target_feature=\"")?.strip_suffix('"'))
        .map(str::to_owned)
        .collect();
    ensure!(!features.is_empty(), "variant {variant}: `{shown}` printed no target_feature: is it rustc?");
    Ok(features)
}

/// Works out each variant's flags and required features, checks them, and
/// ranks them: more required features first, ties in the given order.
fn resolve(args: &PackArgs, arch: Arch) -> Result<Vec<Resolved>> {
    ensure!(
        !args.variants.is_empty(),
        "no --variant given: pack at least the baseline build (--variant {}=PATH)",
        arch.baseline_cpu()
    );
    ensure!(
        args.variants.len() <= crate::meta::MAX_VARIANTS as usize,
        "{} variants given: a bundle holds at most {}",
        args.variants.len(),
        crate::meta::MAX_VARIANTS
    );
    let mut out: Vec<Resolved> = Vec::new();
    for v in &args.variants {
        let name = &v.name;
        ensure!(
            !out.iter().any(|r| &r.name == name),
            "--variant {name} given twice: give each variant once, under its own name"
        );
        let level = Level::parse(name.as_bytes());
        let cpu = match (&v.cpu, level) {
            (Some(cpu), _) => cpu.clone(),
            (None, Some(level)) => level.cpu_name().to_owned(),
            (None, None) => bail!(
                "variant {name}: no --target-cpu {name}=CPU given (only a level's name, such as \
                 x86-64-v3, implies its CPU)"
            ),
        };
        ensure!(
            !cpu.is_empty() && !cpu.starts_with('-') && !cpu.contains(char::is_whitespace),
            "variant {name}: --target-cpu {cpu:?} is not a CPU name"
        );
        if let Some(level) = level {
            ensure!(
                Level::parse(cpu.as_bytes()) == Some(level) && v.features.is_none(),
                "variant {name} is named after an x86-64 level, so it must be built for exactly that \
                 level (-Ctarget-cpu={}, no --target-features): give it another name",
                level.cpu_name()
            );
        }
        if let Some(f) = &v.features {
            let ok = f.split(',').all(|item| {
                let body = item.strip_prefix(['+', '-']).unwrap_or("");
                !body.is_empty() && body.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            });
            ensure!(
                ok,
                "variant {name}: --target-features {f:?} must be a comma-separated list of +FEATURE or \
                 -FEATURE, e.g. +aes,+sha"
            );
        }
        let mut flags = format!("-Ctarget-cpu={cpu}");
        if let Some(f) = &v.features {
            let _ = write!(flags, " -Ctarget-feature={f}");
        }
        let requires = match &args.rustc {
            Some(rustc) => {
                let mut set = FeatureSet::EMPTY;
                for feature in rustc_features(rustc, &args.target, name, &cpu, v.features.as_deref())? {
                    if let Some(i) = arch.feature_index(&feature) {
                        set = set.with(i);
                    } else if !arch.ignored().contains(&feature.as_str()) {
                        bail!(
                            "variant {name} enables {feature}, which the launcher cannot detect: build it \
                             without (--target-features {name}=-{feature}) or for another CPU"
                        );
                    }
                }
                set
            }
            None => {
                ensure!(
                    v.features.is_none(),
                    "variant {name}: --target-features needs --rustc PATH, to learn which features \
                     they enable"
                );
                match (arch, Level::parse(cpu.as_bytes())) {
                    (Arch::X86_64, Some(level)) => level.features(),
                    (Arch::X86_64, None) => bail!(
                        "variant {name}: -Ctarget-cpu={cpu} is not an x86-64 level, so pack needs \
                         --rustc PATH to learn which features it enables"
                    ),
                    // The baseline CPU, by definition, requires nothing.
                    _ if cpu == arch.baseline_cpu() => FeatureSet::EMPTY,
                    _ => bail!(
                        "variant {name}: pack needs --rustc PATH to learn which features \
                         -Ctarget-cpu={cpu} enables on {} (without it, only the baseline \
                         -Ctarget-cpu={} is known)",
                        arch.name(),
                        arch.baseline_cpu()
                    ),
                }
            }
        };
        out.push(Resolved { name: name.clone(), path: v.path.clone(), flags, requires });
    }
    // A stable sort: ties keep the given order.
    out.sort_by_key(|r| std::cmp::Reverse(r.requires.len()));
    if let Some(last) = out.last() {
        ensure!(
            last.requires.is_empty(),
            "no baseline variant: every variant requires CPU features (the one with fewest, {}, \
             requires {}): add a build every {} CPU runs, e.g. --variant {}=PATH",
            last.name,
            last.requires.names(arch.namer(), " "),
            arch.name(),
            arch.baseline_cpu()
        );
    }
    Ok(out)
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
    /// The baseline build LZ-compressed, each other build LZ-compressed
    /// alone or as an LZ delta against a build stored alone (see
    /// `compress_blobs`); each kept stored where that saves less than an
    /// eighth.
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
    /// Where `include_bytes!` finds the stored bytes, from the output's directory.
    rel: PathBuf,
    compression: Compression,
    /// For a delta, the blob it is encoded against (stored alone).
    base: Option<usize>,
    /// The encoded bytes, when compressed.
    encoded: Option<Vec<u8>>,
}

impl Packed {
    fn stored_size(&self) -> u64 {
        self.encoded.as_ref().map_or(self.data.len(), Vec::len) as u64
    }
}

/// Writes the crate root (and, compressed, the blob files); returns its
/// text. Every check, and every question to rustc, comes before the first
/// write.
pub fn pack(args: &PackArgs) -> Result<String> {
    check_program_name(&args.program)?;
    let arch = target_arch(&args.target)?;
    let variants = resolve(args, arch)?;
    let cap = args.cap.as_deref().map(|name| resolve_cap(name, arch, &variants)).transpose()?;

    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let out_abs = lexical_absolute(&cwd, &args.out);
    let out_dir = out_abs.parent().unwrap_or(Path::new("/")).to_owned();

    // Best first; identical builds share one blob.
    let mut blobs: Vec<Packed> = Vec::new();
    let mut table = Vec::new();
    for v in &variants {
        let (name, path) = (&v.name, &v.path);
        let data = fs::read(path)
            .with_context(|| format!("cannot read the build of variant {name}, {}", path.display()))?;
        ensure!(
            data.starts_with(b"\x7fELF"),
            "the build of variant {name}, {}, is not an ELF file: pass the executable rust_binary built",
            path.display()
        );
        let hash = sha256::digest(&data);
        let index = match blobs.iter().position(|b| b.hash == hash) {
            Some(i) => i,
            None => {
                let rel = relative(&out_dir, &lexical_absolute(&cwd, path));
                blobs.push(Packed {
                    hash,
                    check: check::checksum(&data),
                    data,
                    rel,
                    compression: Compression::Stored,
                    base: None,
                    encoded: None,
                });
                blobs.len() - 1
            }
        };
        table.push(index);
    }
    // The baseline's build: always stored alone, and the rustc version shown.
    let base = table.last().copied().unwrap_or(0);
    let rustc = rustc_of(&blobs[base].data);
    // Each blob's required features: those of its best variant.
    let mut requires = vec![None; blobs.len()];
    for (v, &b) in variants.iter().zip(&table) {
        requires[b] = requires[b].or(Some(v.requires));
    }
    let requires: Vec<FeatureSet> = requires.into_iter().map(Option::unwrap_or_default).collect();

    let blob_dir = args.blob_dir.clone().unwrap_or_else(|| {
        let mut d = args.out.as_os_str().to_owned();
        d.push(".blobs");
        PathBuf::from(d)
    });
    if args.compression == PackCompression::Lz {
        compress_blobs(&mut blobs, base, &requires);
    }

    let meta = Meta {
        program: args.program.clone(),
        label: args.label.clone(),
        rustc,
        target: args.target.clone(),
        variants: variants
            .iter()
            .zip(&table)
            .map(|(v, &blob)| VariantMeta {
                name: v.name.clone(),
                flags: v.flags.clone(),
                requires: v.requires.iter().filter_map(|i| arch.feature_name(i)).map(str::to_owned).collect(),
                blob,
            })
            .collect(),
        blobs: blobs
            .iter()
            .enumerate()
            .map(|(i, b)| BlobMeta {
                compression: b.compression,
                size: b.data.len() as u64,
                stored_size: b.stored_size(),
                sha256: b.hash,
                check: Some(b.check),
                section: blob_section(i),
                base: b.base,
            })
            .collect(),
        cap: cap.as_ref().map(|(name, _)| name.clone()),
    };
    let meta_bytes = meta
        .encode_version(args.table_version)
        .with_context(|| format!("--table-version {}", args.table_version))?;

    // Declared by the build system either way; empty when nothing is compressed.
    if args.compression == PackCompression::Lz || args.blob_dir.is_some() {
        fs::create_dir_all(&blob_dir).with_context(|| format!("cannot create {}", blob_dir.display()))?;
    }
    let blob_dir_abs = lexical_absolute(&cwd, &blob_dir);
    for (i, b) in blobs.iter_mut().enumerate() {
        if let Some(encoded) = &b.encoded {
            let name = format!("blob{i}.lz");
            write_atomically(&blob_dir.join(&name), encoded)?;
            b.rel = relative(&out_dir, &blob_dir_abs.join(&name));
        }
    }

    let mut src = String::new();
    let _ = writeln!(src, "// @generated by `multiarch pack`. Do not edit.");
    let _ = writeln!(src, "// The launcher of {} ({}).", args.program, args.label);
    let _ = writeln!(src, "#![no_std]\n#![no_main]\n");
    for (i, b) in blobs.iter().enumerate() {
        let rel = b.rel.to_str().with_context(|| format!("{} is not UTF-8", b.rel.display()))?;
        let hash_bytes: Vec<String> = b.hash.iter().map(|x| format!("0x{x:02x}")).collect();
        let base_ref = match b.base {
            Some(base) if b.compression == Compression::LzDelta => format!("Some(&BLOB_{base})"),
            _ => "None".into(),
        };
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
    let _ =
        writeln!(src, "// The required features are bits of the launcher's {} feature table;", arch.name());
    let _ = writeln!(src, "// this bundle compiles only against a launcher with the same table.");
    let _ = writeln!(
        src,
        "const _: () = ::core::assert!(\n    ::multiarch_launcher::arch::native::TABLE_ID == {:#018x},\n    \
         \"packed for another launcher's {} feature table: use the multiarch_launcher crate of the same \
         version as the multiarch CLI\"\n);\n",
        arch.table_id(),
        arch.name()
    );
    let _ = writeln!(src, "static BUNDLE: ::multiarch_launcher::Bundle = ::multiarch_launcher::Bundle {{");
    let _ = writeln!(src, "    program: {},", rust_str(&args.program));
    let _ = writeln!(src, "    label: {},", rust_str(&args.label));
    let _ = writeln!(src, "    // Best first: the launcher starts the first whose features the CPU has.");
    let _ = writeln!(src, "    variants: &[");
    for (v, blob) in variants.iter().zip(&table) {
        let names = v.requires.names(arch.namer(), " ").to_string();
        let _ = writeln!(
            src,
            "        // {}: {}; requires: {}",
            v.name,
            v.flags,
            if names.is_empty() { "nothing" } else { &names }
        );
        let [w0, w1] = v.requires.words();
        let _ = writeln!(
            src,
            "        ::multiarch_launcher::Variant {{ name: {}, requires: \
             ::multiarch_launcher::FeatureSet::from_words([{w0:#018x}, {w1:#018x}]), blob: &BLOB_{blob} }},",
            rust_str(&v.name)
        );
    }
    let _ = writeln!(src, "    ],");
    match &cap {
        Some((name, set)) => {
            let [w0, w1] = set.words();
            let _ = writeln!(src, "    // --cap {name}: allows {}", set.names(arch.namer(), " "));
            let _ = writeln!(
                src,
                "    cap: Some(::multiarch_launcher::bundle::Cap {{ name: {}, features: \
                 ::multiarch_launcher::FeatureSet::from_words([{w0:#018x}, {w1:#018x}]) }}),",
                rust_str(name)
            );
        }
        None => {
            let _ = writeln!(src, "    cap: None,");
        }
    }
    let _ = writeln!(src, "}};\n");
    let _ = writeln!(src, "::multiarch_launcher::entry!(BUNDLE);");

    write_atomically(&args.out, src.as_bytes())?;
    Ok(src)
}

/// A delta must save at least its base's decoded size divided by this, in
/// bytes, over the blob's standalone stream: the price of the second decode
/// (the base's) it costs at a cold start. Measured on the 33 MB builds of
/// `bench/peers/workload_big` (BENCHMARKS.md, "Delta bases"): the base
/// decodes in 10-15 ms and a delta 2-7 ms slower than the same build alone
/// (`codec_probe`), and the launcher's cold start of a delta variant took
/// 30 ms longer than of a build stored alone (the base's mapping faulted in
/// too; load average 3.3), once per user and machine (never with a prepared
/// install); 33 MB / 64 = 0.5 MB is what a 40 Mbit/s download moves in
/// 100 ms, several times that. The old rule (a delta must
/// halve the standalone stream) stored every build of that program alone.
pub const DELTA_MIN_SAVING_DIV: usize = 64;

/// How many other non-baseline blobs, nearest by required features, each
/// blob is tried against as a delta base (besides the baseline's).
pub const NEAREST_BASES: usize = 2;

/// A delta tried: its base and its stream.
struct Candidate {
    base: usize,
    stream: Vec<u8>,
}

/// Compresses every blob, choosing which are stored alone (LZ, or as they
/// are where LZ saves less than an eighth) and which as deltas. Every delta
/// is against a blob stored alone, never another delta, so that a cold
/// start decodes at most two streams (the launcher and `Meta::decode`
/// refuse a delta against a delta). The baseline's blob is always alone.
///
/// Each other blob is encoded alone, against the baseline's blob, and
/// against the [`NEAREST_BASES`] other blobs whose required features are
/// nearest (largest share of features in common; ties: the better one
/// first). Then the set of blobs stored alone is chosen to minimise the
/// bundle's size, each delta counted with a surcharge of its base's size
/// divided by [`DELTA_MIN_SAVING_DIV`], so a delta is kept only where it
/// saves at least that much (every set is tried up to 16 blobs; beyond,
/// deltas are only against the baseline's blob).
fn compress_blobs(blobs: &mut [Packed], baseline: usize, requires: &[FeatureSet]) {
    let n = blobs.len();
    // Every set of blobs stored alone is tried up to this many others.
    const MAX_TRIED: usize = 16;
    let candidates: Vec<Vec<usize>> = (0..n)
        .map(|i| {
            let mut bases = delta_bases(i, baseline, requires);
            if n > MAX_TRIED + 1 {
                bases.truncate(1);
            }
            bases
        })
        .collect();
    // Borrowed, not copied: the blobs are only read until every job is done.
    let mut jobs: Vec<Job> = Vec::new();
    let mut job_bases: Vec<Option<usize>> = Vec::new();
    for (i, b) in blobs.iter().enumerate() {
        jobs.push((i, b.data.as_slice(), &[][..]));
        job_bases.push(None);
        for &j in &candidates[i] {
            jobs.push((i, b.data.as_slice(), blobs[j].data.as_slice()));
            job_bases.push(Some(j));
        }
    }
    let mut alone: Vec<Option<Vec<u8>>> = vec![None; n];
    let mut deltas: Vec<Vec<Candidate>> = (0..n).map(|_| Vec::new()).collect();
    for ((job, stream), base) in jobs.iter().zip(encode_parallel(&jobs)).zip(job_bases) {
        // A job whose thread failed is left out: the blob is stored.
        match (base, stream) {
            (Some(base), Some(stream)) => deltas[job.0].push(Candidate { base, stream }),
            (None, stream) => alone[job.0] = stream,
            (Some(_), None) => {}
        }
    }
    // Bytes a blob takes alone: LZ only where it saves an eighth.
    let sizes: Vec<usize> = blobs.iter().map(|b| b.data.len()).collect();
    let worth = |i: usize, len: usize| len < sizes[i] - sizes[i] / 8;
    let alone_size: Vec<usize> = (0..n)
        .map(|i| alone[i].as_ref().map_or(sizes[i], |s| if worth(i, s.len()) { s.len() } else { sizes[i] }))
        .collect();
    let surcharge = |j: usize| sizes[j] / DELTA_MIN_SAVING_DIV;
    // The cheapest delta of blob i against a blob in `alone_set`, if it pays.
    let best_delta = |i: usize, alone_set: &dyn Fn(usize) -> bool| -> Option<(usize, usize)> {
        deltas[i]
            .iter()
            .enumerate()
            .filter(|(_, c)| alone_set(c.base) && worth(i, c.stream.len()))
            .map(|(k, c)| (k, c.stream.len() + surcharge(c.base)))
            .filter(|&(_, cost)| cost < alone_size[i])
            .min_by_key(|&(_, cost)| cost)
    };
    let others: Vec<usize> = (0..n).filter(|&i| i != baseline).collect();
    let chosen: Vec<bool> = if others.len() <= MAX_TRIED {
        let mut best: Option<(usize, u32)> = None;
        for mask in 0..1u32 << others.len() {
            let is_alone = |j: usize| {
                j == baseline || others.iter().position(|&o| o == j).is_some_and(|k| mask >> k & 1 == 1)
            };
            let cost: usize = (0..n)
                .map(|i| match is_alone(i) {
                    true => alone_size[i],
                    false => best_delta(i, &is_alone).map_or(alone_size[i], |(_, c)| c),
                })
                .sum();
            if best.is_none_or(|(c, _)| cost < c) {
                best = Some((cost, mask));
            }
        }
        let mask = best.map_or(0, |(_, m)| m);
        (0..n)
            .map(|j| j == baseline || others.iter().position(|&o| o == j).is_some_and(|k| mask >> k & 1 == 1))
            .collect()
    } else {
        (0..n).map(|j| j == baseline).collect()
    };
    let is_alone = |j: usize| chosen[j];
    let picks: Vec<Option<usize>> =
        (0..n).map(|i| if is_alone(i) { None } else { best_delta(i, &is_alone).map(|(k, _)| k) }).collect();
    for (i, b) in blobs.iter_mut().enumerate() {
        if let Some(k) = picks[i] {
            let c = deltas[i].swap_remove(k);
            b.compression = Compression::LzDelta;
            b.base = Some(c.base);
            b.encoded = Some(c.stream);
        } else if let Some(stream) = alone[i].take().filter(|s| worth(i, s.len())) {
            b.compression = Compression::Lz;
            b.encoded = Some(stream);
        }
    }
}

/// The blobs blob `i` is tried against as a delta: the baseline's, and the
/// [`NEAREST_BASES`] others nearest by required features (none for the
/// baseline's blob itself).
fn delta_bases(i: usize, baseline: usize, requires: &[FeatureSet]) -> Vec<usize> {
    if i == baseline {
        return Vec::new();
    }
    let mut others: Vec<usize> = (0..requires.len()).filter(|&j| j != i && j != baseline).collect();
    // Share of features in common, |A & B| / |A | B|, compared without
    // division; an empty union counts as all in common.
    let share = |j: usize| {
        let (a, b) = (requires[i], requires[j]);
        (a.intersection(b).len(), a.union(b).len().max(1))
    };
    others.sort_by(|&x, &y| {
        let ((cx, ux), (cy, uy)) = (share(x), share(y));
        (cy * ux).cmp(&(cx * uy)).then(x.cmp(&y))
    });
    others.truncate(NEAREST_BASES);
    let mut bases = vec![baseline];
    bases.extend(others);
    bases
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

/// Encodes the jobs on up to as many threads as there are CPUs; the
/// streams, in the jobs' order. The result does not depend on the thread
/// count.
fn encode_parallel(jobs: &[Job<'_>]) -> Vec<Option<Vec<u8>>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(jobs.len()).max(1);
    let mut done: Vec<(usize, Vec<u8>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (t..jobs.len())
                        .step_by(threads)
                        .map(|k| (k, encode_blob(jobs[k].1, jobs[k].2)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    });
    let mut streams = vec![None; jobs.len()];
    for (k, stream) in done.drain(..) {
        streams[k] = Some(stream);
    }
    streams
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
        assert_eq!(parse_variant("v3=a/b").unwrap(), ("x86-64-v3".into(), PathBuf::from("a/b")));
        assert_eq!(parse_variant("x86-64=a=b").unwrap(), ("x86-64".into(), PathBuf::from("a=b")));
        assert_eq!(parse_variant("znver4=z").unwrap(), ("znver4".into(), PathBuf::from("z")));
        assert_eq!(
            parse_named("--target-cpu", "v2=x86-64-v2").unwrap(),
            ("x86-64-v2".into(), "x86-64-v2".into())
        );
        for bad in ["v3", "V9=a", "v3=", "=a", "a b=c", "-x=a"] {
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

    /// The blob index the generated source gives variant `name`.
    fn blob_of(src: &str, name: &str) -> String {
        let line = src.lines().find(|l| l.contains(&format!("name: \"{name}\","))).unwrap();
        line.split("blob: &BLOB_").nth(1).unwrap().chars().take_while(char::is_ascii_digit).collect()
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
            variants: vec![
                VariantArg::level(Level::V1, v1),
                VariantArg::level(Level::V3, v3),
                VariantArg::level(Level::V2, v2),
            ],
            target: "x86_64-unknown-linux-gnu".into(),
            compression: PackCompression::None,
            blob_dir: None,
            table_version: crate::meta::VERSION,
            rustc: None,
            cap: None,
        };
        let src = pack(&args).unwrap();
        assert_eq!(fs::read_to_string(&out).unwrap(), src);
        assert_eq!(src.matches("include_bytes!").count(), 2, "{src}");
        assert!(src.contains("include_bytes!(\"../v3\")"), "{src}");
        assert!(src.contains("#[link_section = \".multiarch.blob.1\"]"), "{src}");
        assert!(src.contains("#[link_section = \".multiarch\"]"), "{src}");
        let v3 = src.find("name: \"x86-64-v3\"").unwrap();
        let v2 = src.find("name: \"x86-64-v2\"").unwrap();
        let v1 = src.find("name: \"x86-64\"").unwrap();
        assert!(v3 < v2 && v2 < v1, "{src}");
        assert_eq!(blob_of(&src, "x86-64-v2"), "1", "{src}");
        assert_eq!(blob_of(&src, "x86-64"), "1", "{src}");
        assert_eq!(blob_of(&src, "x86-64-v3"), "0", "{src}");
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
            variants: vec![
                VariantArg::level(Level::V1, v1),
                VariantArg::level(Level::V2, v2),
                VariantArg::level(Level::V3, v3),
            ],
            target: String::new(),
            compression: PackCompression::Lz,
            blob_dir: Some(d.join("blobs")),
            table_version: crate::meta::VERSION,
            rustc: None,
            cap: None,
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

    /// A blob for [`compress_blobs`], not yet compressed.
    fn packed(data: Vec<u8>) -> Packed {
        Packed {
            hash: sha256::digest(&data),
            check: check::checksum(&data),
            data,
            rel: PathBuf::new(),
            compression: Compression::Stored,
            base: None,
            encoded: None,
        }
    }

    /// `data` with byte `k` flipped every `step` bytes from `from`.
    fn edited(data: &[u8], from: usize, step: usize) -> Vec<u8> {
        let mut out = data.to_vec();
        for k in (from..out.len()).step_by(step) {
            out[k] ^= 0x55;
        }
        out
    }

    fn features(indices: &[usize]) -> FeatureSet {
        indices.iter().fold(FeatureSet::default(), |s, &i| s.with(i))
    }

    /// Decodes blob `i` as the launcher does: its base's bytes as the reference.
    fn decoded(blobs: &[Packed], i: usize) -> Vec<u8> {
        let b = &blobs[i];
        let reference = b.base.map_or(&[][..], |j| blobs[j].data.as_slice());
        match &b.encoded {
            Some(stream) => crate::decode_blob(stream, reference, b.data.len()).unwrap(),
            None => b.data.clone(),
        }
    }

    #[test]
    fn delta_bases_are_the_nearest_blobs_stored_alone() {
        // Blob 3 is the baseline, unrelated to the others. Blobs 1 and 2 are
        // blob 0 with different sparse edits, so each is near blob 0 and
        // farther from the other (twice the edits). By features, blob 2's
        // nearest is blob 1 and blob 1's is blob 2: bases by features alone
        // would chain (2 -> 1 -> 0, or 1 <-> 2). Chosen: blob 0 alone, both
        // others against it, none against a delta.
        let hub = tokens(3, 200_000);
        let mut blobs = vec![
            packed(hub.clone()),
            packed(edited(&hub, 7, 2048)),
            packed(edited(&hub, 1031, 2048)),
            packed(tokens(1, 200_000)),
        ];
        let requires = [
            features(&[1, 2, 3, 4]),
            features(&[1, 2, 3, 5, 6]),
            features(&[1, 2, 3, 5, 6, 7]),
            features(&[]),
        ];
        assert_eq!(delta_bases(1, 3, &requires), [3, 2, 0]);
        assert_eq!(delta_bases(2, 3, &requires), [3, 1, 0]);
        assert!(delta_bases(3, 3, &requires).is_empty());
        compress_blobs(&mut blobs, 3, &requires);
        let kinds: Vec<_> = blobs.iter().map(|b| (b.compression, b.base)).collect();
        assert_eq!(
            kinds,
            [
                (Compression::Lz, None),
                (Compression::LzDelta, Some(0)),
                (Compression::LzDelta, Some(0)),
                (Compression::Lz, None)
            ]
        );
        // Chains of one: every delta's base is stored alone.
        for b in &blobs {
            if let Some(j) = b.base {
                assert_ne!(blobs[j].compression, Compression::LzDelta);
            }
        }
        for i in 0..blobs.len() {
            assert!(decoded(&blobs, i) == blobs[i].data, "blob {i}");
        }
    }

    #[test]
    fn a_delta_is_kept_where_it_saves_its_base_decode() {
        let base = tokens(1, 200_000);
        let min_saving = base.len() / DELTA_MIN_SAVING_DIV;
        let alone = |data: &[u8]| encode_blob(data, &[]).len();
        let delta = |data: &[u8]| encode_blob(data, &base).len();
        // Two thirds new, a third of the base: the delta saves about a
        // third of the standalone stream (the old rule wanted half), far
        // more than the threshold: kept.
        let mut third: Vec<u8> = tokens(2, 134_000);
        third.extend_from_slice(&base[..66_000]);
        assert!(delta(&third) * 2 > alone(&third), "the old rule would store it alone");
        assert!(delta(&third) + min_saving < alone(&third));
        // A few bytes of the base: the delta saves less than the threshold.
        let mut little: Vec<u8> = tokens(4, 199_000);
        little.extend_from_slice(&base[..1_000]);
        assert!(delta(&little) < alone(&little) && delta(&little) + min_saving > alone(&little));
        let mut blobs = vec![packed(third), packed(little), packed(base.clone())];
        compress_blobs(&mut blobs, 2, &[features(&[1]), features(&[2]), features(&[])]);
        assert_eq!((blobs[0].compression, blobs[0].base), (Compression::LzDelta, Some(2)));
        assert_eq!((blobs[1].compression, blobs[1].base), (Compression::Lz, None));
        assert_eq!(blobs[2].compression, Compression::Lz);
        for i in 0..blobs.len() {
            assert!(decoded(&blobs, i) == blobs[i].data, "blob {i}");
        }
    }

    #[test]
    fn beyond_sixteen_other_blobs_deltas_are_against_the_baseline() {
        // 18 blobs: 17 others, more than every set of bases can be tried
        // for. Each is the baseline's bytes with its own edits.
        let base = tokens(1, 20_000);
        let mut blobs: Vec<Packed> = (0..17).map(|k| packed(edited(&base, 3 + k, 997))).collect();
        blobs.push(packed(base));
        let requires: Vec<FeatureSet> =
            (0..18).map(|k| features(&(0..17 - k.min(17)).collect::<Vec<_>>())).collect();
        compress_blobs(&mut blobs, 17, &requires);
        for (i, b) in blobs.iter().enumerate().take(17) {
            assert_eq!((b.compression, b.base), (Compression::LzDelta, Some(17)), "blob {i}");
            assert!(decoded(&blobs, i) == b.data, "blob {i}");
        }
    }

    #[test]
    fn deltas_only_where_they_pay() {
        let d = tempdir("pay");
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
            variants: vec![
                VariantArg::level(Level::V1, v1),
                VariantArg::level(Level::V2, v2),
                VariantArg::level(Level::V3, v3),
            ],
            target: String::new(),
            compression: PackCompression::Lz,
            blob_dir: Some(d.join("blobs")),
            table_version: crate::meta::VERSION,
            rustc: None,
            cap: None,
        };
        let src = pack(&args).unwrap();
        let kind = |level: &str| {
            let name = Level::parse(level.to_lowercase().as_bytes()).unwrap().cpu_name();
            let n = blob_of(&src, name);
            let def = src.split(&format!("static BLOB_{n}: ")).nth(1).unwrap();
            def.split("Compression::").nth(1).unwrap().split(',').next().unwrap().to_owned()
        };
        assert_eq!(kind("V1"), "Lz", "{src}");
        assert_eq!(kind("V2"), "Lz", "{src}");
        assert_eq!(kind("V3"), "LzDelta", "{src}");
        fs::remove_dir_all(&d).unwrap();
    }

    fn args_for(out: &Path, variants: Vec<VariantArg>, rustc: Option<PathBuf>) -> PackArgs {
        PackArgs {
            program: "p".into(),
            label: String::new(),
            out: out.to_owned(),
            variants,
            target: "x86_64-unknown-linux-gnu".into(),
            compression: PackCompression::Lz,
            blob_dir: None,
            table_version: crate::meta::VERSION,
            rustc,
            cap: None,
        }
    }

    fn named(name: &str, path: &Path, cpu: Option<&str>, features: Option<&str>) -> VariantArg {
        VariantArg {
            name: name.into(),
            path: path.to_owned(),
            cpu: cpu.map(Into::into),
            features: features.map(Into::into),
        }
    }

    /// A stand-in for rustc: prints `cfg` to stdout and `warning` to
    /// stderr, whatever it is asked.
    fn fake_rustc(dir: &Path, name: &str, cfg: &str, warning: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join(name);
        fs::write(&p, format!("#!/bin/sh\nprintf '%s' '{cfg}'\nprintf '%s\\n' '{warning}' >&2\n")).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[test]
    fn bad_variant_sets_write_nothing() {
        let d = tempdir("bad");
        let v1 = elf(&d, "v1", b"1");
        let v3 = elf(&d, "v3", b"3");
        let text = d.join("text");
        fs::write(&text, "#!/bin/sh\n").unwrap();
        let out = d.join("out.rs");
        let lv = VariantArg::level;
        let missing = d.join("missing");
        let undetectable = fake_rustc(&d, "rustc-frob", "target_feature=\"frobnicate\"\n", "");
        let unknown_cpu = fake_rustc(
            &d,
            "rustc-cpu",
            "target_feature=\"sse2\"\n",
            "'zen9' is not a recognized processor for this target (ignoring processor)",
        );
        let unknown_feature = fake_rustc(
            &d,
            "rustc-feat",
            "target_feature=\"sse2\"\n",
            "warning: unknown and unstable feature specified for `-Ctarget-feature`: `frob`",
        );
        let silent = fake_rustc(&d, "rustc-silent", "", "");
        let cases: Vec<(Vec<VariantArg>, Option<PathBuf>, &str)> = vec![
            (vec![], None, "no --variant given: pack at least the baseline build (--variant x86-64=PATH)"),
            (vec![lv(Level::V3, &v3)], None, "no baseline variant: every variant requires CPU features (the one with fewest, x86-64-v3, requires avx avx2"),
            (vec![lv(Level::V3, &v3)], None, "e.g. --variant x86-64=PATH"),
            (vec![lv(Level::V1, &v1), lv(Level::V1, &v1)], None, "--variant x86-64 given twice"),
            (vec![lv(Level::V1, &missing)], None, "cannot read the build of variant x86-64"),
            (vec![lv(Level::V1, &text)], None, "the build of variant x86-64"),
            (vec![lv(Level::V1, &text)], None, "is not an ELF file"),
            (vec![named("fast", &v3, None, None), lv(Level::V1, &v1)], None, "variant fast: no --target-cpu fast=CPU given"),
            (vec![named("fast", &v3, Some("znver4"), None), lv(Level::V1, &v1)], None, "variant fast: -Ctarget-cpu=znver4 is not an x86-64 level, so pack needs --rustc PATH"),
            (vec![named("fast", &v3, Some("x86-64-v3"), Some("+aes")), lv(Level::V1, &v1)], None, "variant fast: --target-features needs --rustc PATH"),
            (vec![named("x86-64-v3", &v3, Some("znver4"), None), lv(Level::V1, &v1)], None, "variant x86-64-v3 is named after an x86-64 level"),
            (vec![named("fast", &v3, Some("x86-64-v3"), Some("aes")), lv(Level::V1, &v1)], None, "--target-features \"aes\" must be a comma-separated list"),
            (vec![named("fast", &v3, Some("x86 64"), None), lv(Level::V1, &v1)], None, "is not a CPU name"),
            (vec![named("fast", &v3, Some("x"), None), lv(Level::V1, &v1)], Some(undetectable), "variant fast enables frobnicate, which the launcher cannot detect: build it without (--target-features fast=-frobnicate)"),
            (vec![named("fast", &v3, Some("zen9"), None), lv(Level::V1, &v1)], Some(unknown_cpu), "variant fast: rustc does not know -Ctarget-cpu=zen9"),
            (vec![named("fast", &v3, Some("x"), Some("+frob")), lv(Level::V1, &v1)], Some(unknown_feature), "variant fast: unknown and unstable feature specified for `-Ctarget-feature`: `frob`; `rustc --print target-features --target x86_64-unknown-linux-gnu`"),
            (vec![named("fast", &v3, Some("x"), None), lv(Level::V1, &v1)], Some(silent), "printed no target_feature: is it rustc?"),
            (vec![named("fast", &v3, Some("x"), None), lv(Level::V1, &v1)], Some(d.join("no-rustc")), "variant fast: cannot run"),
        ];
        for (variants, rustc, want) in cases {
            let msg = format!("{:#}", pack(&args_for(&out, variants.clone(), rustc)).unwrap_err());
            assert!(msg.contains(want), "{variants:?}: {msg}");
            assert!(!out.exists());
            assert!(!out.with_extension("rs.blobs").exists());
        }
        // A cap names a variant or a level.
        let mut a = args_for(&out, vec![lv(Level::V3, &v3), lv(Level::V1, &v1)], None);
        a.cap = Some("znver4".into());
        let msg = format!("{:#}", pack(&a).unwrap_err());
        assert!(
            msg.contains("--cap znver4: names no variant (x86-64-v3, x86-64) and no x86-64 level"),
            "{msg}"
        );
        assert!(!out.exists());
        // Versions 3 and 4 cannot hold a variant that is not a level.
        let mut a =
            args_for(&out, vec![named("fast", &v3, Some("x86-64-v3"), None), lv(Level::V1, &v1)], None);
        a.table_version = 4;
        let msg = format!("{:#}", pack(&a).unwrap_err());
        assert!(msg.contains("--table-version 4: table versions 3 and 4 record only the four x86-64 levels, and variant fast"), "{msg}");
        assert!(!out.exists());
        let mut a = args_for(&out, vec![lv(Level::V1, &v1)], None);
        a.target = "riscv64gc-unknown-linux-gnu".into();
        let msg = format!("{:#}", pack(&a).unwrap_err());
        assert!(
            msg.contains("--target \"riscv64gc-unknown-linux-gnu\": the launcher supports x86_64, aarch64 targets only"),
            "{msg}"
        );
        // aarch64 has no levels: without --rustc only its baseline is known.
        a.target = "aarch64-unknown-linux-gnu".into();
        let msg = format!("{:#}", pack(&a).unwrap_err());
        assert!(
            msg.contains("variant x86-64: pack needs --rustc PATH to learn which features -Ctarget-cpu=x86-64 enables on aarch64 (without it, only the baseline -Ctarget-cpu=generic is known)"),
            "{msg}"
        );
        assert!(!out.exists());
        fs::remove_dir_all(&d).unwrap();
    }

    /// Ranked by required features, ties in the given order; the
    /// features come from rustc (skipped without rustc on PATH).
    #[test]
    fn variants_from_rustc_are_ranked_and_recorded() {
        if Command::new("rustc").arg("--version").output().is_err() {
            eprintln!("SKIP variants_from_rustc_are_ranked_and_recorded: no rustc on PATH");
            return;
        }
        let d = tempdir("rustc");
        let build = |n: &str| elf(&d, n, n.as_bytes());
        let variants = vec![
            VariantArg::level(Level::V1, build("base")),
            named("crypto", &build("crypto"), Some("x86-64-v3"), Some("+aes,+pclmulqdq,+sha")),
            named("spr", &build("spr"), Some("sapphirerapids"), None),
            named("zen4", &build("zen4"), Some("znver4"), None),
            named("x86-64-v3", &build("v3"), None, None),
            named("also-v3", &build("v3b"), Some("x86-64-v3"), None),
        ];
        let out = d.join("out.rs");
        let src = pack(&args_for(&out, variants, Some(PathBuf::from("rustc")))).unwrap();
        let order: Vec<&str> = src
            .lines()
            .filter_map(|l| l.trim().strip_prefix("::multiarch_launcher::Variant { name: \""))
            .map(|l| l.split('"').next().unwrap())
            .collect();
        assert_eq!(order, ["spr", "zen4", "crypto", "x86-64-v3", "also-v3", "x86-64"], "{src}");
        assert!(src.contains("// crypto: -Ctarget-cpu=x86-64-v3 -Ctarget-feature=+aes,+pclmulqdq,+sha; requires: aes avx avx2 bmi1"), "{src}");
        assert!(src.contains("// x86-64: -Ctarget-cpu=x86-64; requires: nothing"), "{src}");
        assert!(
            src.contains(&format!("TABLE_ID == {:#018x}", multiarch_launcher::arch::x86_64::TABLE_ID)),
            "{src}"
        );
        // The table says the same, readable without the source.
        let meta_line = src.lines().find(|l| l.starts_with("static META")).unwrap();
        assert!(
            meta_line.contains("-Ctarget-cpu=sapphirerapids") && meta_line.contains("amx-tile"),
            "{meta_line}"
        );
        // A cap by variant name, and by level name.
        let mut capped = args_for(&out, vec![VariantArg::level(Level::V1, build("base"))], None);
        capped.cap = Some("v2".into());
        let capped_src = pack(&capped).unwrap();
        let [w0, w1] = Level::V2.features().words();
        assert!(
            capped_src.contains(&format!(
                "cap: Some(::multiarch_launcher::bundle::Cap {{ name: \"x86-64-v2\", features: \
                 ::multiarch_launcher::FeatureSet::from_words([{w0:#018x}, {w1:#018x}]) }}),"
            )),
            "{capped_src}"
        );
        let plain = pack(&args_for(&out, vec![VariantArg::level(Level::V1, build("base"))], None)).unwrap();
        assert!(plain.contains("    cap: None,"), "{plain}");
        // The level variant's features are the psABI table's.
        let v3 = src.lines().find(|l| l.contains("name: \"x86-64-v3\"")).unwrap();
        let [w0, w1] = Level::V3.features().words();
        assert!(v3.contains(&format!("from_words([{w0:#018x}, {w1:#018x}])")), "{v3}");
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
