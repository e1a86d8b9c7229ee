//! `multiarch`: builds and looks inside rules_rust_multiarch bundles.

use multiarch_cli::{
    bench, bundle_file, cpu, install, open, output, pack, print, sha256, usage, user_path, Usage,
};

use anyhow::{Context, Result};
use lexopt::prelude::*;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "\
multiarch: builds and looks inside rules_rust_multiarch bundles

Usage: multiarch <COMMAND> [OPTIONS]

Commands:
  inspect  Print a bundle's table: its variants (codegen flags, required
           features) and builds (sizes, hashes)
  extract  Write the build of one variant, without running the bundle
  verify   Recompute every build's hash; exit 0 only when all match
  bench    Time the program as each variant this CPU runs
  cpu      Print this CPU's features; tell whether it runs a variant
  pack     Write the crate root of a bundle (used by the Bazel rule)
  install  Lay every build out ahead of time for launchers to start from

Run `multiarch <COMMAND> --help` for a command's options.

Paths: a relative path (a BUNDLE, -o FILE, pack's files) is relative to
BUILD_WORKING_DIRECTORY when it is set, else to the current directory.
`bazel run` sets it to the directory bazel was run from, so
`bazel run @rules_rust_multiarch//cli:multiarch -- verify bazel-bin/app` works.

Exit status: 0 on success, 1 on an error (one line on stderr naming the file
and the problem), 2 on bad usage.
";

const INSPECT_USAGE: &str = "\
multiarch inspect: print a bundle's table

Usage: multiarch inspect BUNDLE [--json]

Reads the .multiarch ELF section of BUNDLE (it is not run) and prints the
program, its label, the rustc and target it was built with; per variant,
best first (the order the launcher tries them in): its name, its build, the
rustc codegen flags that made it and the target features it requires; and
per build: the variants that start it, its size, how it is stored and its
sha256. Bundles with tables of versions 3 and 4 (levels only) show one
variant per level.

Options:
  --json      Print JSON instead of a table
  -h, --help  Print this help

A relative path is relative to BUILD_WORKING_DIRECTORY when set (bazel run).
Exit status: 0 on success, 1 on an error (one line naming the file), 2 on bad
usage.
";

const EXTRACT_USAGE: &str = "\
multiarch extract: write the build of one variant

Usage: multiarch extract BUNDLE --variant NAME [-o FILE]

Writes the exact build of variant NAME of BUNDLE, checked against its
checksum and sha256, without running BUNDLE. NAME is a variant's name as
`multiarch inspect` shows it (a level's short name v1..v4 works for a level
variant) and must be embedded. Without -o the build goes to stdout.

FILE is written whole or not at all, safe in a directory others can write: a
new file in FILE's directory (unnamed where the file system allows, else of an
unpredictable name, never following a symlink), mode 0755 set on the open
file, synced, then renamed over FILE. FILE itself is never read or followed:
if it exists it must be a regular file; a device, FIFO, directory or symlink
is refused (exit 1).

Options:
  --variant NAME   The variant whose build to write (--level is the same)
  -o, --out FILE   Where to write it (default: stdout)
  -h, --help       Print this help

A relative path is relative to BUILD_WORKING_DIRECTORY when set (bazel run).
Exit status: 0 on success, 1 on an error (one line naming the file), 2 on bad
usage.
";

const VERIFY_USAGE: &str = "\
multiarch verify: check every build in a bundle

Usage: multiarch verify BUNDLE

Decodes every build and recomputes its size, checksum (the one the launcher
checks before it caches or starts a build; version 4 tables) and sha256.
Prints one line per build; exits 0 only when all match, else 1 naming the
first damaged blob (a delta whose base is damaged is listed, not blamed).

Options:
  -h, --help  Print this help

A relative path is relative to BUILD_WORKING_DIRECTORY when set (bazel run).
Exit status: 0 on success, 1 on an error (one line naming the file), 2 on bad
usage.
";

const PACK_USAGE: &str = "\
multiarch pack: write the crate root of a bundle

Usage: multiarch pack --program NAME --out FILE.rs --variant NAME=PATH...
                      [--target-cpu NAME=CPU]... [--target-features NAME=FEATS]...
                      [--rustc PATH] [--cap NAME] [--label LABEL] [--target TRIPLE]
                      [--compression none|lz] [--blob-dir DIR]

Reads one build per variant, hashes it, stores identical builds once, and
writes FILE.rs: a crate root (#![no_main]) that embeds each build with
include_bytes! through a path relative to FILE.rs, for a binary crate that
depends on the `multiarch_launcher` crate. With --compression lz (the
default) the baseline build is LZ-compressed and each other build stored
as an LZ delta against the nearest build stored alone (the baseline's or
another: the one giving the smallest bundle) where that saves at least that
build's size / 64, else compressed alone, in DIR/blob<N>.lz files; a delta's
base is never a delta, so a cold start decodes at most two builds. Every check comes first: on an
error nothing is written.

A variant is a name, the rustc codegen flags that made its build
(-Ctarget-cpu=CPU, plus -Ctarget-feature=FEATS if given) and the CPU features
those flags enable, which the variant then requires. With --rustc, pack asks
that rustc: `RUSTC_BOOTSTRAP=1 PATH --print cfg --target TRIPLE
-Ctarget-cpu=CPU [-Ctarget-feature=FEATS]` (RUSTC_BOOTSTRAP only so that a
stable rustc lists its unstable features too). A CPU or feature rustc does
not know, or a feature the launcher cannot detect at run time, is an error
naming the variant. Without --rustc only the four x86-64 levels can be
packed (x86-64, x86-64-v2, x86-64-v3, x86-64-v4, short v1..v4), with the
psABI's feature lists.

Ranking: the bundle lists variants best first: more required features first,
ties in the order given. The launcher starts the first whose features the
CPU (and OS) has. The last must require nothing (the baseline: for x86_64,
-Ctarget-cpu=x86-64): pack fails otherwise.

Options:
  --program NAME         The program's name: its file name in the per-user cache
  --out FILE.rs          The crate root to write
  --variant NAME=PATH    A variant's name and build. NAME: 1-32 of a-z, 0-9, '.',
                         '_', '-', starting with a letter or digit. Repeat per
                         variant; the order given breaks ties in the ranking
  --target-cpu NAME=CPU  Variant NAME's -Ctarget-cpu (default: NAME, for a level
                         name, which must then be built for exactly its level)
  --target-features NAME=FEATS
                         Variant NAME's -Ctarget-feature, e.g. +aes,+sha (needs
                         --rustc)
  --rustc PATH           The rustc that built the variants, asked which features
                         each enables
  --label LABEL          Where the program was built from, for humans
  --target TRIPLE        The target triple: recorded in the table, passed to
                         rustc; its architecture picks the launcher's feature
                         table (default: x86_64 and rustc's host)
  --compression MODE     none: builds as they are; lz (default): compressed
  --blob-dir DIR         Where compressed builds go (default: FILE.rs.blobs)
  --cap NAME             A level (v1..v4, x86-64..x86-64-v4) or variant name:
                         variants that need features beyond its (the level's,
                         or that variant's) are never started automatically,
                         whatever the CPU has; MULTIARCH_LEVEL may still name
                         them. Recorded in the table; the log line shows it
  --table-version N      The .multiarch table's format: 5 (default), or 4 or 3
                         (levels only; 3 without checksums) for tools that read
                         only those
  -h, --help             Print this help

Each build's sha256 (its cache key) and checksum (checked by the launcher
before it caches or starts the build) are recorded in FILE.rs and in the
.multiarch table, with each variant's name, flags and required features.

A relative path is relative to BUILD_WORKING_DIRECTORY when set (bazel run).
Exit status: 0 on success, 1 on an error (one line naming the file or the
variant, and the fix), 2 on bad usage.
";

const INSTALL_USAGE: &str = "\
multiarch install: lay every build of a bundle out ahead of time

Usage: multiarch install BUNDLE DIR [--staging]
       multiarch install --check BUNDLE DIR

Writes each build of BUNDLE, decoded and checked, to DIR/<key>/<program>
(<key>: the first 32 hex digits of the build's sha256), the tree a launcher
starts from before its per-user cache: nothing to decode or write at the
first start of any user, in any container, on a read-only root. Launchers
look in /usr/lib/multiarch (or MULTIARCH_PREPARED_DIR, outside secure mode),
and use an entry only where every directory from / is root's (or the
user's) and not writable by group or others. So, at image-build time:

    multiarch install app /usr/lib/multiarch

DIR is created (mode 0755) when missing; DIR and the <key> directories are
never followed when they are symbolic links. Every build is decoded and
checked before anything is written; each entry (mode 0755) is written whole
or not at all; an entry that already holds the build is left alone, so a
rerun changes nothing. Entries of other bundles and versions in DIR are left
alone.

Options:
  --staging   DIR is packaged and placed elsewhere (pkg_tar, an image
              layer): skip the check that launchers would trust DIR here
  --check     Write nothing: check that DIR holds every build, byte for
              byte, where launchers would use it (exit 1 otherwise)
  -h, --help  Print this help

A relative path is relative to BUILD_WORKING_DIRECTORY when set (bazel run).
Exit status: 0 on success, 1 on an error (one line naming the file), 2 on bad
usage. Without --staging, an entry a launcher would pass over is an error
too (exit 1; the entries are written).
";

/// Takes the one BUNDLE operand; anything else is a usage error.
fn one_bundle(bundle: &mut Option<PathBuf>, arg: lexopt::Arg<'_>) -> Result<()> {
    match arg {
        Value(v) if bundle.is_none() => {
            *bundle = Some(user_path(v));
            Ok(())
        }
        _ => Err(usage(arg.unexpected().to_string())),
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn cmd_inspect(mut parser: lexopt::Parser) -> Result<()> {
    let (mut bundle, mut json) = (None, false);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("json") => json = true,
            Short('h') | Long("help") => return print(INSPECT_USAGE),
            other => one_bundle(&mut bundle, other)?,
        }
    }
    let path = bundle.ok_or_else(|| usage("inspect: BUNDLE is required"))?;
    let (bytes, parsed) = open(&path)?;
    let m = &parsed.meta;
    let stored: u64 = m.blobs.iter().map(|b| b.stored_size).sum();
    let mut out = String::new();
    let list = |items: &[&str]| items.iter().map(|s| json_str(s)).collect::<Vec<_>>().join(", ");
    if json {
        let variants: Vec<String> = m
            .variants
            .iter()
            .map(|v| {
                let requires: Vec<&str> = v.requires.iter().map(String::as_str).collect();
                format!(
                    "{{\"name\": {}, \"flags\": {}, \"requires\": [{}], \"blob\": {}}}",
                    json_str(&v.name),
                    json_str(&v.flags),
                    list(&requires),
                    v.blob
                )
            })
            .collect();
        let blobs: Vec<String> = m
            .blobs
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let names = m.blob_variants(i);
                let levels: Vec<&str> =
                    names.iter().rev().copied().filter(|n| multiarch_launcher::Level::parse(n.as_bytes()).is_some()).collect();
                format!(
                    "{{\"variants\": [{}], \"levels\": [{}], \"size\": {}, \"stored_size\": {}, \"compression\": \"{}\", \"base\": {}, \"sha256\": \"{}\", \"section\": {}}}",
                    list(&names),
                    list(&levels),
                    b.size,
                    b.stored_size,
                    b.compression.name(),
                    b.base.map_or("null".to_owned(), |base| base.to_string()),
                    sha256::hex(&b.sha256),
                    json_str(&b.section)
                )
            })
            .collect();
        out.push_str(&format!(
            "{{\"program\": {}, \"label\": {}, \"rustc\": {}, \"target\": {}, \"cap\": {}, \"file_size\": {}, \"launcher_size\": {}, \"variants\": [{}], \"blobs\": [{}]}}\n",
            json_str(&m.program),
            json_str(&m.label),
            json_str(&m.rustc),
            json_str(&m.target),
            m.cap.as_deref().map_or("null".to_owned(), json_str),
            bytes.len(),
            (bytes.len() as u64).saturating_sub(stored),
            variants.join(", "),
            blobs.join(", ")
        ));
    } else {
        out.push_str(&format!("program   {}\n", m.program));
        out.push_str(&format!("label     {}\n", m.label));
        out.push_str(&format!("rustc     {}\n", m.rustc));
        out.push_str(&format!("target    {}\n", m.target));
        if let Some(cap) = &m.cap {
            out.push_str(&format!("cap       {cap}\n"));
        }
        out.push_str(&format!(
            "file      {} bytes (launcher {} bytes, builds {} bytes)\n",
            bytes.len(),
            (bytes.len() as u64).saturating_sub(stored),
            stored
        ));
        let name_w = m.variants.iter().map(|v| v.name.len()).max().unwrap_or(0).max(7);
        let flags_w = m.variants.iter().map(|v| v.flags.len()).max().unwrap_or(0).max(5);
        out.push_str(&format!("\n{:<name_w$}  blob  {:<flags_w$}  requires\n", "variant", "flags"));
        for v in &m.variants {
            let requires = if v.requires.is_empty() { "-".to_owned() } else { v.requires.join(" ") };
            out.push_str(&format!("{:<name_w$}  {:<4}  {:<flags_w$}  {requires}\n", v.name, v.blob, v.flags));
        }
        out.push_str("\nblob  variants                        size      stored  compression  base  sha256\n");
        for (i, b) in m.blobs.iter().enumerate() {
            out.push_str(&format!(
                "{i:<5} {:<30} {:>9} {:>11}  {:<11}  {:<4}  {}\n",
                m.blob_variants(i).join(" "),
                b.size,
                b.stored_size,
                b.compression.name(),
                b.base.map_or("-".to_owned(), |base| base.to_string()),
                sha256::hex(&b.sha256)
            ));
        }
    }
    print(&out)
}

fn cmd_extract(mut parser: lexopt::Parser) -> Result<()> {
    let (mut bundle, mut variant, mut out) = (None, None, None);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("variant" | "level") => {
                let v = parser.value()?.string()?;
                if !multiarch_launcher::bundle::valid_name(v.as_bytes()) {
                    return Err(usage(format!(
                        "extract --variant {v:?}: not a variant name (accepted: {})",
                        multiarch_launcher::env::LEVEL_ACCEPTED
                    )));
                }
                variant = Some(v);
            }
            Short('o') | Long("out") => out = Some(user_path(parser.value()?)),
            Short('h') | Long("help") => return print(EXTRACT_USAGE),
            other => one_bundle(&mut bundle, other)?,
        }
    }
    let path = bundle.ok_or_else(|| usage("extract: BUNDLE is required"))?;
    let name = variant.ok_or_else(|| usage("extract: --variant NAME is required"))?;
    let (bytes, parsed) = open(&path)?;
    let Some((i, _)) = parsed.meta.blob_of(&name) else {
        let shown = multiarch_launcher::Level::parse(name.as_bytes()).map_or(name.as_str(), |l| l.cpu_name());
        anyhow::bail!("{}: no {shown} build (embedded: {})", path.display(), parsed.meta.embedded());
    };
    let data = bundle_file::decode(&parsed, &bytes, i)
        .with_context(|| format!("{}: {}", path.display(), bundle_file::blob_name(&parsed.meta, i)))?;
    match out {
        Some(out) => output::write_file(&out, &data, 0o755, output::IfSame::Replace),
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(&data)?;
            stdout.flush()?;
            Ok(())
        }
    }
}

fn cmd_verify(mut parser: lexopt::Parser) -> Result<()> {
    let mut bundle = None;
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return print(VERIFY_USAGE),
            other => one_bundle(&mut bundle, other)?,
        }
    }
    let path = bundle.ok_or_else(|| usage("verify: BUNDLE is required"))?;
    let (bytes, parsed) = open(&path)?;
    let mut out = String::new();
    // The blobs damaged themselves; deltas that cannot be checked because
    // their base is damaged are listed, but not blamed.
    let mut damaged = Vec::new();
    let mut unchecked = 0;
    let decoded = bundle_file::decode_all(&parsed, &bytes);
    for (i, (blob, result)) in parsed.meta.blobs.iter().zip(decoded).enumerate() {
        let name = bundle_file::blob_name(&parsed.meta, i);
        match result {
            Ok(_) => {
                let check = blob.check.map_or("none (version 3 table)".to_owned(), |c| format!("{c:016x}"));
                out.push_str(&format!("ok   {name} sha256 {} checksum {check}\n", sha256::hex(&blob.sha256)))
            }
            Err(e) => {
                out.push_str(&format!("BAD  {name}: {e}\n"));
                match e {
                    bundle_file::BlobError::Base(_) => unchecked += 1,
                    e => damaged.push(format!("{name}: {e}")),
                }
            }
        }
    }
    print(&out)?;
    match damaged.as_slice() {
        [] if unchecked == 0 => Ok(()),
        [] => Err(anyhow::anyhow!("{}: {unchecked} blobs could not be checked", path.display())),
        [one] => Err(anyhow::anyhow!("{}: damaged: {one}", path.display())),
        [first, rest @ ..] => Err(anyhow::anyhow!(
            "{}: damaged: {first}; and {} more blobs (listed above)",
            path.display(),
            rest.len()
        )),
    }
}

fn cmd_pack(mut parser: lexopt::Parser) -> Result<()> {
    let (mut program, mut label, mut out, mut target) = (None, String::new(), None, String::new());
    let (mut compression, mut blob_dir, mut rustc) = (pack::PackCompression::default(), None, None);
    let mut variants: Vec<pack::VariantArg> = Vec::new();
    // `--target-cpu` and `--target-features`: (variant name, value).
    let mut cpus: Vec<(String, String)> = Vec::new();
    let mut features: Vec<(String, String)> = Vec::new();
    let mut table_version = multiarch_cli::meta::VERSION;
    let mut cap = None;
    while let Some(arg) = parser.next()? {
        match arg {
            Long("program") => program = Some(parser.value()?.string()?),
            Long("label") => label = parser.value()?.string()?,
            Long("target") => target = parser.value()?.string()?,
            Long("compression") => {
                compression = parser.value()?.string()?.parse().map_err(|e| usage(format!("{e:#}")))?
            }
            Long("blob-dir") => blob_dir = Some(user_path(parser.value()?)),
            Long("rustc") => rustc = Some(user_path(parser.value()?)),
            Long("cap") => cap = Some(parser.value()?.string()?),
            Long("table-version") => {
                let v = parser.value()?.string()?;
                table_version = match v.as_str() {
                    "3" => 3,
                    "4" => 4,
                    "5" => 5,
                    _ => {
                        return Err(usage(format!(
                            "pack: --table-version {v:?} is not known (accepted: 3, 4, 5)"
                        )))
                    }
                };
            }
            Long("out") => out = Some(user_path(parser.value()?)),
            Long("variant") => {
                let (name, path) =
                    pack::parse_variant(&parser.value()?.string()?).map_err(|e| usage(format!("{e:#}")))?;
                variants.push(pack::VariantArg { name, path: user_path(path), cpu: None, features: None });
            }
            Long(flag @ ("target-cpu" | "target-features")) => {
                let flag = format!("--{flag}");
                let pair = pack::parse_named(&flag, &parser.value()?.string()?)
                    .map_err(|e| usage(format!("{e:#}")))?;
                if flag == "--target-cpu" { &mut cpus } else { &mut features }.push(pair);
            }
            Short('h') | Long("help") => return print(PACK_USAGE),
            _ => return Err(usage(format!("pack: {}", arg.unexpected()))),
        }
    }
    for (flag, list) in [("--target-cpu", &cpus), ("--target-features", &features)] {
        for (i, (name, value)) in list.iter().enumerate() {
            if list[..i].iter().any(|(n, _)| n == name) {
                return Err(usage(format!("pack: {flag} {name}=... given twice")));
            }
            let Some(v) = variants.iter_mut().find(|v| &v.name == name) else {
                return Err(usage(format!("pack: {flag} {name}={value}: no --variant {name}=PATH")));
            };
            if flag == "--target-cpu" {
                v.cpu = Some(value.clone());
            } else {
                v.features = Some(value.clone());
            }
        }
    }
    let program = program.ok_or_else(|| usage("pack: --program NAME is required"))?;
    let out = out.ok_or_else(|| usage("pack: --out FILE.rs is required"))?;
    pack::pack(&pack::PackArgs {
        program,
        label,
        out,
        variants,
        target,
        compression,
        blob_dir,
        table_version,
        rustc,
        cap,
    })?;
    Ok(())
}

fn cmd_install(mut parser: lexopt::Parser) -> Result<()> {
    let (mut paths, mut staging, mut check) = (Vec::new(), false, false);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("staging") => staging = true,
            Long("check") => check = true,
            Short('h') | Long("help") => return print(INSTALL_USAGE),
            Value(v) if paths.len() < 2 => paths.push(user_path(v)),
            _ => return Err(usage(format!("install: {}", arg.unexpected()))),
        }
    }
    let [bundle, dir] = <[PathBuf; 2]>::try_from(paths)
        .map_err(|_| usage("install: BUNDLE and DIR are required (multiarch install BUNDLE DIR)"))?;
    if check {
        return print(&install::check(&bundle, &dir)?);
    }
    let done = install::install(&bundle, &dir, staging)?;
    let mut out = String::new();
    for item in &done {
        let verb = if item.written { "installed" } else { "unchanged" };
        out.push_str(&format!("{verb} {} ({})\n", item.path.display(), item.what));
    }
    print(&out)?;
    match done.iter().find_map(|i| i.untrusted.as_ref()) {
        None => Ok(()),
        Some(why) => Err(anyhow::anyhow!(
            "{}: launchers would not use this tree: {why}; fix the owner or mode, or pass --staging if it is only packaged here",
            dir.display()
        )),
    }
}

fn run() -> Result<()> {
    let mut parser = lexopt::Parser::from_env();
    match parser.next()? {
        Some(Value(cmd)) => match cmd.to_str() {
            Some("inspect") => cmd_inspect(parser),
            Some("extract") => cmd_extract(parser),
            Some("verify") => cmd_verify(parser),
            Some("bench") => bench::cmd_bench(parser),
            Some("pack") => cmd_pack(parser),
            Some("cpu") => cpu::cmd_cpu(parser),
            Some("install") => cmd_install(parser),
            _ => Err(usage(format!("unknown command {cmd:?}; run `multiarch --help` for the list"))),
        },
        Some(Short('h') | Long("help")) => print(USAGE),
        Some(arg) => Err(usage(arg.unexpected().to_string())),
        None => Err(usage("no command given; run `multiarch --help`")),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let broken_pipe = e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            });
            if broken_pipe {
                return ExitCode::SUCCESS;
            }
            if let Some(cpu::Exit(code, line)) = e.downcast_ref::<cpu::Exit>() {
                let _ = writeln!(std::io::stderr(), "multiarch: {line}");
                return ExitCode::from(*code);
            }
            let _ = writeln!(std::io::stderr(), "multiarch: error: {e:#}");
            if e.is::<Usage>() || e.is::<lexopt::Error>() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
