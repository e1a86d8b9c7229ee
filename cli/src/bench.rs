//! `multiarch bench`: what each variant buys on this CPU.

use anyhow::{bail, Context, Result};
use lexopt::prelude::*;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BENCH_USAGE: &str = "\
multiarch bench: time the program as each variant this CPU runs

Usage: multiarch bench BUNDLE [--runs N] [-- ARGS...]

Runs BUNDLE with ARGS once per embedded variant whose required features this
CPU has (MULTIARCH_LEVEL set to its name), N times each, interleaved so that
noise hits every variant alike, after one untimed run per variant that fills
the cache. The program's output is discarded; a run that fails stops the
benchmark. Prints per variant, baseline first: median wall time, p25-p75,
speed-up over the baseline, and the size of its build: what each variant
costs and buys.

Options:
  --runs N    Timed runs per variant (default 10)
  -h, --help  Print this help

A relative BUNDLE is relative to BUILD_WORKING_DIRECTORY when set (bazel run).
Exit status: 0 on success, 1 on an error, 2 on bad usage.
";

/// The median and quartiles of `samples` (sorted in place).
pub fn quartiles(samples: &mut [Duration]) -> (Duration, Duration, Duration) {
    samples.sort_unstable();
    let at = |q: usize| samples.get((samples.len().saturating_sub(1)) * q / 4).copied().unwrap_or_default();
    (at(2), at(1), at(3))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub fn cmd_bench(mut parser: lexopt::Parser) -> Result<()> {
    let (mut bundle, mut runs, mut args) = (None::<PathBuf>, 10usize, Vec::<OsString>::new());
    while let Some(arg) = parser.next()? {
        match arg {
            Long("runs") => {
                runs = parser.value()?.parse()?;
                if runs == 0 {
                    return Err(crate::usage("bench: --runs must be at least 1"));
                }
            }
            Short('h') | Long("help") => return crate::print(BENCH_USAGE),
            Value(v) if bundle.is_none() => bundle = Some(crate::user_path(v)),
            Value(v) => args.push(v),
            _ => return Err(crate::usage(format!("bench: {}", arg.unexpected()))),
        }
    }
    let path = bundle.ok_or_else(|| crate::usage("bench: BUNDLE is required"))?;
    let (_, parsed) = crate::open(&path)?;
    let arch = crate::cpu::arch_of(&parsed.meta).with_context(|| path.display().to_string())?;
    let cpu = multiarch_launcher::Level::of(crate::cpu::host_features());
    // Baseline first.
    let levels: Vec<(&str, u64)> = parsed
        .meta
        .variants
        .iter()
        .rev()
        .filter(|v| crate::cpu::lacking(arch, &v.requires).is_empty())
        .map(|v| (v.name.as_str(), parsed.meta.blobs[v.blob].size))
        .collect();
    if levels.is_empty() {
        bail!("{}: no embedded variant runs on this CPU ({cpu})", path.display());
    }
    let cache = std::env::temp_dir().join(format!("multiarch-bench-{}", std::process::id()));
    let run_once = |level: &str| -> Result<Duration> {
        let start = Instant::now();
        let status = Command::new(&path)
            .args(&args)
            .env("MULTIARCH_LEVEL", level)
            .env("XDG_CACHE_HOME", &cache)
            .env_remove("MULTIARCH_DEBUG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .with_context(|| format!("{}: cannot run", path.display()))?;
        let took = start.elapsed();
        if !status.success() {
            bail!("{}: the {level} build failed ({status}); fix the program or its ARGS", path.display());
        }
        Ok(took)
    };
    let result = (|| {
        for &(level, _) in &levels {
            run_once(level)?;
        }
        let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(runs); levels.len()];
        for _ in 0..runs {
            for (i, &(level, _)) in levels.iter().enumerate() {
                samples[i].push(run_once(level)?);
            }
        }
        Ok::<_, anyhow::Error>(samples)
    })();
    let _ = std::fs::remove_dir_all(&cache);
    let mut samples = result?;

    let stats: Vec<_> = samples.iter_mut().map(|s| quartiles(s)).collect();
    let base = stats[0].0;
    let width = levels.iter().map(|(n, _)| n.len()).max().unwrap_or(0).max(11);
    let mut out = format!(
        "{} on this CPU ({cpu}), {runs} runs per variant, interleaved\n\n{:<width$}  median ms    p25-p75 ms   speed-up   build size\n",
        parsed.meta.program, "variant"
    );
    for (&(level, size), &(median, p25, p75)) in levels.iter().zip(&stats) {
        let speedup = if median.is_zero() { 0.0 } else { base.as_secs_f64() / median.as_secs_f64() };
        out.push_str(&format!(
            "{:<width$} {:>10.2} {:>7.2}-{:<7.2} {:>8.2}x {:>12}\n",
            level,
            ms(median),
            ms(p25),
            ms(p75),
            speedup,
            size
        ));
    }
    crate::print(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quartiles_of_known_samples() {
        let mut s: Vec<Duration> = [5, 1, 4, 2, 3].iter().map(|&n| Duration::from_millis(n)).collect();
        assert_eq!(
            quartiles(&mut s),
            (Duration::from_millis(3), Duration::from_millis(2), Duration::from_millis(4))
        );
        let mut one = vec![Duration::from_millis(7)];
        assert_eq!(quartiles(&mut one).0, Duration::from_millis(7));
    }
}
