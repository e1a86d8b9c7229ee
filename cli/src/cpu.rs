//! `multiarch cpu`: the features of this CPU, and whether it runs a variant.

use crate::meta::Meta;
use anyhow::Result;
use lexopt::prelude::*;
use multiarch_launcher::arch::{self, Arch};
use multiarch_launcher::{FeatureSet, Level};
use std::path::PathBuf;

const CPU_USAGE: &str = "\
multiarch cpu: what this CPU (and its OS) runs

Usage: multiarch cpu [--json]
       multiarch cpu --has NAME[,NAME...]
       multiarch cpu --runs BUNDLE VARIANT
       multiarch cpu --picks BUNDLE

Without options, prints this CPU's x86-64 level and every target feature the
launcher detects here (CPUID, and the OS's XCR0 state), by rustc's names.

  --has NAME[,NAME...]   Exit 0 if this CPU has every named target feature
                         (rustc's names, e.g. avx2,sha) or level (v1..v4,
                         x86-64..x86-64-v4); else print what it lacks, exit 1
  --runs BUNDLE VARIANT  Exit 0 if this CPU has every feature VARIANT of
                         BUNDLE requires (a level's short name works for a
                         level variant); else print what it lacks, exit 1
  --picks BUNDLE         Print the name of the variant BUNDLE starts here
                         without MULTIARCH_LEVEL (the first, in the bundle's
                         order, whose features this CPU has)
  --json                 Print {\"arch\", \"level\", \"features\"} as JSON
  -h, --help             Print this help

Test runners use --runs to decide whether a variant can run natively.

A relative BUNDLE is relative to BUILD_WORKING_DIRECTORY when set (bazel run).
Exit status: 0 yes (or printed), 1 no (one line on stderr naming what is
missing), 2 on bad usage, 3 on an error (e.g. BUNDLE unreadable).
";

/// An answer or failure of `multiarch cpu`: the exit status and the line
/// for stderr.
#[derive(Debug)]
pub struct Exit(pub u8, pub String);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1)
    }
}

impl std::error::Error for Exit {}

/// The features of this CPU and OS.
pub fn host_features() -> FeatureSet {
    arch::native::detect()
}

/// The features of `requires` (names of `arch`'s table) that this CPU
/// lacks: all of them for another architecture, and any name this
/// launcher's table does not know.
pub fn lacking(arch: Arch, requires: &[String]) -> Vec<String> {
    let cpu = host_features();
    requires
        .iter()
        .filter(|name| arch != arch::NATIVE || arch.feature_index(name).is_none_or(|i| !cpu.contains(i)))
        .cloned()
        .collect()
}

/// The architecture a table's features belong to (see `pack::target_arch`).
pub fn arch_of(meta: &Meta) -> Result<Arch> {
    crate::pack::target_arch(&meta.target)
}

/// The variant the launcher starts here, as the table says: the first
/// whose requirements this CPU meets.
pub fn picks(meta: &Meta) -> Result<Option<usize>> {
    let arch = arch_of(meta)?;
    Ok(meta.variants.iter().position(|v| lacking(arch, &v.requires).is_empty()))
}

fn has(list: &str) -> Result<()> {
    let cpu = host_features();
    let mut want = FeatureSet::EMPTY;
    for name in list.split(',') {
        if let Some(level) = Level::parse(name.as_bytes()) {
            want = want.union(level.features());
        } else if let Some(i) = arch::NATIVE.feature_index(name) {
            want = want.with(i);
        } else {
            return Err(crate::usage(format!(
                "cpu --has: {name:?} is neither a level (v1..v4) nor a target feature the launcher \
                 detects (see `multiarch cpu`)"
            )));
        }
    }
    let missing = cpu.missing(want);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Exit(1, format!("this CPU lacks {}", missing.names(arch::NATIVE.namer(), " "))).into())
    }
}

fn runs(bundle: &std::path::Path, variant: &str) -> Result<()> {
    let (_, parsed) = crate::open(bundle).map_err(|e| Exit(3, format!("error: {e:#}")))?;
    let meta = &parsed.meta;
    let Some(v) = meta.variant(variant) else {
        return Err(Exit(
            3,
            format!("error: {}: no variant {variant} (embedded: {})", bundle.display(), meta.embedded()),
        )
        .into());
    };
    let arch = arch_of(meta).map_err(|e| Exit(3, format!("error: {}: {e:#}", bundle.display())))?;
    let missing = lacking(arch, &v.requires);
    if missing.is_empty() {
        Ok(())
    } else if arch != arch::NATIVE {
        Err(Exit(
            1,
            format!("{} is a {} bundle; this CPU is {}", bundle.display(), arch.name(), arch::NATIVE.name()),
        )
        .into())
    } else {
        Err(Exit(
            1,
            format!(
                "this CPU lacks {}, which {} of {} requires",
                missing.join(" "),
                v.name,
                bundle.display()
            ),
        )
        .into())
    }
}

pub fn cmd_cpu(mut parser: lexopt::Parser) -> Result<()> {
    enum Mode {
        Show,
        Has(String),
        Runs(PathBuf, Option<String>),
        Picks(PathBuf),
    }
    let (mut mode, mut json) = (Mode::Show, false);
    while let Some(arg) = parser.next()? {
        mode = match (arg, mode) {
            (Long("json"), m) => {
                json = true;
                m
            }
            (Long("has"), Mode::Show) => Mode::Has(parser.value()?.string()?),
            (Long("runs"), Mode::Show) => Mode::Runs(crate::user_path(parser.value()?), None),
            (Long("picks"), Mode::Show) => Mode::Picks(crate::user_path(parser.value()?)),
            (Value(v), Mode::Runs(b, None)) => Mode::Runs(b, Some(v.string()?)),
            (Short('h') | Long("help"), _) => return crate::print(CPU_USAGE),
            (Long("has" | "runs" | "picks"), _) => {
                return Err(crate::usage("cpu: give one of --has, --runs, --picks"));
            }
            (arg, _) => return Err(crate::usage(format!("cpu: {}", arg.unexpected()))),
        };
    }
    match mode {
        Mode::Show => {
            let cpu = host_features();
            let names: Vec<&str> = cpu.iter().filter_map(|i| arch::NATIVE.feature_name(i)).collect();
            let level = Level::of(cpu);
            let out = if json {
                let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
                format!(
                    "{{\"arch\": \"{}\", \"level\": \"{level}\", \"features\": [{}]}}\n",
                    arch::NATIVE.name(),
                    quoted.join(", ")
                )
            } else {
                format!(
                    "arch      {}\nlevel     {level}\nfeatures  {}\n",
                    arch::NATIVE.name(),
                    names.join(" ")
                )
            };
            crate::print(&out)
        }
        Mode::Has(list) => has(&list),
        Mode::Runs(bundle, Some(variant)) => runs(&bundle, &variant),
        Mode::Runs(_, None) => Err(crate::usage("cpu --runs BUNDLE VARIANT: VARIANT is required")),
        Mode::Picks(bundle) => {
            let (_, parsed) = crate::open(&bundle).map_err(|e| Exit(3, format!("error: {e:#}")))?;
            match picks(&parsed.meta).map_err(|e| Exit(3, format!("error: {}: {e:#}", bundle.display())))? {
                Some(i) => crate::print(&format!("{}\n", parsed.meta.variants[i].name)),
                None => Err(Exit(1, format!("no variant of {} runs on this CPU", bundle.display())).into()),
            }
        }
    }
}
