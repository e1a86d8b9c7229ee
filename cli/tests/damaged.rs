#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

//! Issue 10, defect 6: a damaged bundle never starts and never poisons the
//! cache. Single bits are flipped across every blob of real fixture bundles
//! (compressed and stored); every flip that changes a build's bytes must
//! make the launcher exit 126 with its "damaged" line and leave no cache
//! entry, and make `multiarch verify` fail naming that blob.

mod common;

use common::{fixtures, multiarch, text, Rng, Scratch};
use multiarch_cli::bundle_file::{self, Parsed};
use multiarch_launcher::{Compression, Level};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Runs `bundle exit 0` with a cache of its own under `home`.
fn run(bundle: &Path, home: &Path, vars: &[(&str, &str)]) -> Output {
    Command::new(bundle)
        .args(["exit", "0"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home.join("xdg"))
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The level the launcher detects here, from its log line.
fn host_level(bundle: &Path, home: &Path) -> Level {
    let out = run(bundle, home, &[("MULTIARCH_DEBUG", "log"), ("MULTIARCH_EXEC", "memfd")]);
    let err = text(&out.stderr);
    let cpu = err.split("(cpu ").nth(1).and_then(|s| s.split(';').next()).unwrap_or_default();
    cpu.parse().unwrap_or_else(|_| panic!("no cpu level in {err:?}"))
}

/// Every file below `dir` (the cache), recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .flatten()
        .flat_map(|e| if e.path().is_dir() { files(&e.path()) } else { vec![e.path()] })
        .collect()
}

/// The build blob `i` of a (possibly damaged) bundle decodes to, unchecked,
/// `base` its delta base's build; `None` when it does not decode.
fn decoded(parsed: &Parsed, bytes: &[u8], i: usize, base: &[u8]) -> Option<Vec<u8>> {
    let blob = &parsed.meta.blobs[i];
    let stored = &bytes[parsed.ranges[i].clone()];
    let size = blob.size as usize;
    match blob.compression {
        Compression::Stored => Some(stored.to_vec()),
        Compression::Lz => multiarch_cli::decode_blob(stored, &[], size).ok(),
        Compression::LzDelta => multiarch_cli::decode_blob(stored, base, size).ok(),
    }
}

#[test]
fn single_bit_flips_never_run_and_never_reach_the_cache() {
    let scratch = Scratch::new("flips");
    // Reproducible positions.
    let mut rng = Rng(0x5eed);
    let (mut damaged_runs, mut harmless) = (0, 0);
    // 25 flips per blob: 100 in the compressed bundle, 100 in the stored one.
    for name in ["full", "dynamic"] {
        let path = fixtures().join(name).join(name);
        let intact = std::fs::read(&path).unwrap();
        let parsed = bundle_file::parse(&intact).unwrap();
        let builds: Vec<Vec<u8>> =
            (0..parsed.meta.blobs.len()).map(|i| bundle_file::decode(&parsed, &intact, i).unwrap()).collect();
        let host = host_level(&path, &scratch.0);
        for i in 0..parsed.meta.blobs.len() {
            // The highest level this blob starts (variants are best first).
            let level = Level::parse(parsed.meta.blob_variants(i)[0].as_bytes()).unwrap();
            for flip in 0..25 {
                let range = &parsed.ranges[i];
                let at = range.start + rng.below(range.len());
                let mut bytes = intact.clone();
                bytes[at] ^= 1 << rng.below(8);
                // Each delta's own base (not always the x86-64 build's).
                let base = parsed.meta.blobs[i].base.map_or(&[][..], |b| &builds[b][..]);
                let changed = decoded(&parsed, &bytes, i, base).as_ref() != Some(&builds[i]);
                let home = scratch.0.join(format!("{name}-{i}-{flip}"));
                std::fs::create_dir_all(&home).unwrap();
                let bad = home.join(name);
                std::fs::write(&bad, &bytes).unwrap();
                std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o755)).unwrap();
                let what = format!("{name}: blob {i} ({level}), byte {at} of {}..{}", range.start, range.end);
                // Levels this CPU runs start through the cache (falling back
                // to a memfd); the others can only be extracted.
                let vars: &[(&str, &str)] = if level <= host {
                    &[("MULTIARCH_LEVEL", level.short_name())]
                } else {
                    &[("MULTIARCH_LEVEL", level.short_name()), ("MULTIARCH_DEBUG", "extract")]
                };
                let out = run(&bad, &home, vars);
                if changed {
                    assert_eq!(out.status.code(), Some(126), "{what}: {}", text(&out.stderr));
                    let err = text(&out.stderr);
                    assert!(
                        err.starts_with("[multiarch] error: ") && err.contains("damaged"),
                        "{what}: {err}"
                    );
                    assert_eq!(err.lines().count(), 1, "{what}: {err}");
                    assert!(out.stdout.is_empty(), "{what}: wrote {} bytes", out.stdout.len());
                    damaged_runs += 1;
                    // verify names the damaged blob (a delta whose base is
                    // damaged is listed but not blamed); every 5th flip, as
                    // it decodes every blob.
                    if flip % 5 == 0 {
                        let out = multiarch(&["verify", bad.to_str().unwrap()]);
                        let err = text(&out.stderr);
                        assert_eq!(out.status.code(), Some(1), "{what}: {err}");
                        assert!(err.contains(&format!("damaged: blob {i} (")), "{what}: {err}");
                    }
                } else {
                    assert_eq!(out.status.code(), Some(0), "{what} (harmless): {}", text(&out.stderr));
                    harmless += 1;
                }
                let cached = files(&home.join("xdg"));
                let poisoned: Vec<_> = cached
                    .iter()
                    .filter(|f| !builds.contains(&std::fs::read(f).unwrap_or_default()))
                    .collect();
                assert!(poisoned.is_empty(), "{what}: {poisoned:?}");
                if changed {
                    assert!(cached.is_empty(), "{what}: left {cached:?}");
                    // The intact bundle, next, starts its own build from that cache.
                    let out = run(&path, &home, &[("MULTIARCH_LEVEL", level.min(host).short_name())]);
                    assert_eq!(out.status.code(), Some(0), "{what}: intact: {}", text(&out.stderr));
                }
                std::fs::remove_dir_all(&home).unwrap();
            }
        }
    }
    eprintln!("{damaged_runs} flips refused, {harmless} changed no build");
    assert!(damaged_runs >= 150, "{damaged_runs} of 200 flips changed a build");
}
