//! `multiarch`: builds and looks inside rules_rust_multiarch bundles.

mod pack;
mod sha256;

use anyhow::Result;
use lexopt::prelude::*;
use std::io::Write;
use std::process::ExitCode;

const USAGE: &str = "\
multiarch: builds and looks inside rules_rust_multiarch bundles

Usage: multiarch <COMMAND> [OPTIONS]

Commands:
  pack     Write the crate root of a bundle from one build per x86-64 level

Run `multiarch <COMMAND> --help` for a command's options.

Exit status: 0 on success, 1 on an error (printed to stderr), 2 on bad usage.
";

const PACK_USAGE: &str = "\
multiarch pack: write the crate root of a bundle

Usage: multiarch pack --program NAME --out FILE.rs --variant LEVEL=PATH... [--label LABEL]

Reads one build per level, hashes it, stores identical builds once, and writes
FILE.rs: a crate root (#![no_main]) that embeds each build with include_bytes!
through a path relative to FILE.rs, for a binary crate that depends on the
`multiarch_launcher` crate. FILE.rs is written whole or not at all.

Options:
  --program NAME        The program's name: its file name in the per-user cache
  --out FILE.rs         The crate root to write
  --variant LEVEL=PATH  A build and its level: x86-64 (or v1), x86-64-v2 (v2),
                        x86-64-v3 (v3), x86-64-v4 (v4). Repeat per level; the
                        x86-64 build is required
  --label LABEL         Where the program was built from, for humans
  -h, --help            Print this help
";

/// A usage error: exit status 2.
#[derive(Debug)]
struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

fn usage(msg: impl Into<String>) -> anyhow::Error {
    Usage(msg.into()).into()
}

fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

fn cmd_pack(mut parser: lexopt::Parser) -> Result<()> {
    let (mut program, mut label, mut out, mut variants) = (None, String::new(), None, Vec::new());
    while let Some(arg) = parser.next()? {
        match arg {
            Long("program") => program = Some(parser.value()?.string()?),
            Long("label") => label = parser.value()?.string()?,
            Long("out") => out = Some(std::path::PathBuf::from(parser.value()?)),
            Long("variant") => variants.push(pack::parse_variant(&parser.value()?.string()?)?),
            Short('h') | Long("help") => return print(PACK_USAGE),
            _ => return Err(usage(format!("pack: {}", arg.unexpected()))),
        }
    }
    let program = program.ok_or_else(|| usage("pack: --program NAME is required"))?;
    let out = out.ok_or_else(|| usage("pack: --out FILE.rs is required"))?;
    pack::pack(&pack::PackArgs { program, label, out, variants })?;
    Ok(())
}

fn run() -> Result<()> {
    let mut parser = lexopt::Parser::from_env();
    match parser.next()? {
        Some(Value(cmd)) => match cmd.to_str() {
            Some("pack") => cmd_pack(parser),
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
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::BrokenPipe {
                    return ExitCode::SUCCESS;
                }
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
