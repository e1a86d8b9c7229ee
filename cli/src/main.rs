//! `multiarch`: builds and looks inside rules_rust_multiarch bundles.

use multiarch_cli::{
    bench, bundle_file, install, open, output, pack, print, sha256, usage, user_path, Usage,
};

use anyhow::{Context, Result};
use lexopt::prelude::*;
use multiarch_launcher::Level;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "\
multiarch: builds and looks inside rules_rust_multiarch bundles

Usage: multiarch <COMMAND> [OPTIONS]

Commands:
  inspect  Print a bundle's table: its builds, levels, sizes and hashes
  extract  Write the build of one level, without running the bundle
  verify   Recompute every build's hash; exit 0 only when all match
  bench    Time the program at each level this CPU runs
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
program, its label, the rustc and target it was built with, and per build:
the levels that start it, its size, how it is stored and its sha256.

Options:
  --json      Print JSON instead of a table
  -h, --help  Print this help

A relative path is relative to BUILD_WORKING_DIRECTORY when set (bazel run).
Exit status: 0 on success, 1 on an error (one line naming the file), 2 on bad
usage.
";

const EXTRACT_USAGE: &str = "\
multiarch extract: write the build of one level

Usage: multiarch extract BUNDLE --level LEVEL [-o FILE]

Writes the exact build that BUNDLE starts at LEVEL, checked against its
checksum and sha256, without running BUNDLE. LEVEL is v1..v4 or x86-64,
x86-64-v2..v4, and must be embedded. Without -o the build goes to stdout.

FILE is written whole or not at all, safe in a directory others can write: a
new file in FILE's directory (unnamed where the file system allows, else of an
unpredictable name, never following a symlink), mode 0755 set on the open
file, synced, then renamed over FILE. FILE itself is never read or followed:
if it exists it must be a regular file; a device, FIFO, directory or symlink
is refused (exit 1).

Options:
  --level LEVEL    The level whose build to write
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

Usage: multiarch pack --program NAME --out FILE.rs --variant LEVEL=PATH...
                      [--label LABEL] [--target TRIPLE] [--compression none|lz]
                      [--blob-dir DIR]

Reads one build per level, hashes it, stores identical builds once, and writes
FILE.rs: a crate root (#![no_main]) that embeds each build with include_bytes!
through a path relative to FILE.rs, for a binary crate that depends on the
`multiarch_launcher` crate. With --compression lz (the default) the x86-64
build is LZ-compressed and the others stored as LZ deltas against it, in
DIR/blob<N>.lz files. Every file is written whole or not at all.

Options:
  --program NAME        The program's name: its file name in the per-user cache
  --out FILE.rs         The crate root to write
  --variant LEVEL=PATH  A build and its level: x86-64 (or v1), x86-64-v2 (v2),
                        x86-64-v3 (v3), x86-64-v4 (v4). Repeat per level; the
                        x86-64 build is required
  --label LABEL         Where the program was built from, for humans
  --target TRIPLE       The target triple, recorded in the table
  --compression MODE    none: builds as they are; lz (default): compressed
  --blob-dir DIR        Where compressed builds go (default: FILE.rs.blobs)
  --table-version N     The .multiarch table's format: 4 (default), or 3 (no
                        checksums) for tools that read only version 3
  -h, --help            Print this help

Each build's sha256 (its cache key) and checksum (checked by the launcher
before it caches or starts the build) are recorded in FILE.rs and in the
.multiarch table (format version 4).

A relative path is relative to BUILD_WORKING_DIRECTORY when set (bazel run).
Exit status: 0 on success, 1 on an error (one line naming the file), 2 on bad
usage.
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
    if json {
        let blobs: Vec<String> = m
            .blobs
            .iter()
            .map(|b| {
                let levels: Vec<String> = b.levels.iter().map(|l| json_str(l.cpu_name())).collect();
                format!(
                    "{{\"levels\": [{}], \"size\": {}, \"stored_size\": {}, \"compression\": \"{}\", \"sha256\": \"{}\", \"section\": {}}}",
                    levels.join(", "),
                    b.size,
                    b.stored_size,
                    b.compression.name(),
                    sha256::hex(&b.sha256),
                    json_str(&b.section)
                )
            })
            .collect();
        out.push_str(&format!(
            "{{\"program\": {}, \"label\": {}, \"rustc\": {}, \"target\": {}, \"file_size\": {}, \"launcher_size\": {}, \"blobs\": [{}]}}\n",
            json_str(&m.program),
            json_str(&m.label),
            json_str(&m.rustc),
            json_str(&m.target),
            bytes.len(),
            (bytes.len() as u64).saturating_sub(stored),
            blobs.join(", ")
        ));
    } else {
        out.push_str(&format!("program   {}\n", m.program));
        out.push_str(&format!("label     {}\n", m.label));
        out.push_str(&format!("rustc     {}\n", m.rustc));
        out.push_str(&format!("target    {}\n", m.target));
        out.push_str(&format!(
            "file      {} bytes (launcher {} bytes, builds {} bytes)\n",
            bytes.len(),
            (bytes.len() as u64).saturating_sub(stored),
            stored
        ));
        out.push_str("\nblob  levels                          size      stored  compression  sha256\n");
        for (i, b) in m.blobs.iter().enumerate() {
            let levels: Vec<&str> = b.levels.iter().map(|l| l.cpu_name()).collect();
            out.push_str(&format!(
                "{i:<5} {:<30} {:>9} {:>11}  {:<11}  {}\n",
                levels.join(" "),
                b.size,
                b.stored_size,
                b.compression.name(),
                sha256::hex(&b.sha256)
            ));
        }
    }
    print(&out)
}

fn cmd_extract(mut parser: lexopt::Parser) -> Result<()> {
    let (mut bundle, mut level, mut out) = (None, None, None);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("level") => {
                let v = parser.value()?.string()?;
                level = Some(v.parse::<Level>().map_err(|e| usage(format!("--level {v:?}: {e}")))?);
            }
            Short('o') | Long("out") => out = Some(user_path(parser.value()?)),
            Short('h') | Long("help") => return print(EXTRACT_USAGE),
            other => one_bundle(&mut bundle, other)?,
        }
    }
    let path = bundle.ok_or_else(|| usage("extract: BUNDLE is required"))?;
    let level = level.ok_or_else(|| usage("extract: --level LEVEL is required"))?;
    let (bytes, parsed) = open(&path)?;
    let Some((i, blob)) = parsed.meta.blob_of(level) else {
        let mut embedded: Vec<Level> =
            parsed.meta.blobs.iter().flat_map(|b| b.levels.iter().copied()).collect();
        embedded.sort();
        let embedded: Vec<&str> = embedded.iter().map(|l| l.short_name()).collect();
        anyhow::bail!("{}: no {level} build (embedded: {})", path.display(), embedded.join(" "));
    };
    let data = bundle_file::decode(&parsed, &bytes, i)
        .with_context(|| format!("{}: {}", path.display(), bundle_file::blob_name(i, blob)))?;
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
        let name = bundle_file::blob_name(i, blob);
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
    let (mut program, mut label, mut out, mut variants, mut target) =
        (None, String::new(), None, Vec::new(), String::new());
    let (mut compression, mut blob_dir) = (pack::PackCompression::default(), None);
    let mut table_version = multiarch_cli::meta::VERSION;
    while let Some(arg) = parser.next()? {
        match arg {
            Long("program") => program = Some(parser.value()?.string()?),
            Long("label") => label = parser.value()?.string()?,
            Long("target") => target = parser.value()?.string()?,
            Long("compression") => {
                compression = parser.value()?.string()?.parse().map_err(|e| usage(format!("{e:#}")))?
            }
            Long("blob-dir") => blob_dir = Some(user_path(parser.value()?)),
            Long("table-version") => {
                let v = parser.value()?.string()?;
                table_version = match v.as_str() {
                    "3" => 3,
                    "4" => 4,
                    _ => {
                        return Err(usage(format!(
                            "pack: --table-version {v:?} is not known (accepted: 3, 4)"
                        )))
                    }
                };
            }
            Long("out") => out = Some(user_path(parser.value()?)),
            Long("variant") => {
                let (level, path) = pack::parse_variant(&parser.value()?.string()?)?;
                variants.push((level, user_path(path)));
            }
            Short('h') | Long("help") => return print(PACK_USAGE),
            _ => return Err(usage(format!("pack: {}", arg.unexpected()))),
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
            let _ = writeln!(std::io::stderr(), "multiarch: error: {e:#}");
            if e.is::<Usage>() || e.is::<lexopt::Error>() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
