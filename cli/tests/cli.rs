#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

//! The `multiarch` command against real bundles built by
//! tests/build_fixtures.sh, and a time-bounded fuzz of its bundle parser.

mod common;

use common::{fixtures, multiarch, text, Rng};
use multiarch_cli::bundle_file;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    assert!(out.status.success());
    text(&out.stdout).split_whitespace().next().unwrap().to_owned()
}

const LEVELS: [&str; 4] = ["x86-64", "x86-64-v2", "x86-64-v3", "x86-64-v4"];

fn bundle(name: &str) -> String {
    fixtures().join(name).join(name).to_string_lossy().into_owned()
}

fn payload(level: &str) -> PathBuf {
    fixtures().join(format!("payload-{level}"))
}

/// Asserts a failure: the exit code, and one stderr line naming the file and `what`.
fn assert_fails(out: &Output, code: i32, file: &str, what: &str) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains(file) && err.contains(what), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn inspect_lists_every_level_with_its_hash() {
    let out = multiarch(&["inspect", &bundle("full")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(table.contains("program   payload_full"), "{table}");
    assert!(table.contains("target    x86_64-unknown-linux-gnu"), "{table}");
    let rustc = text(&Command::new("rustc").arg("--version").output().unwrap().stdout);
    let version = rustc.split_whitespace().nth(1).unwrap();
    assert!(table.lines().any(|l| l.starts_with("rustc") && l.contains(version)), "{table}");
    for level in LEVELS {
        let hash = sha256sum(&payload(level));
        let size = std::fs::metadata(payload(level)).unwrap().len().to_string();
        let row = table.lines().find(|l| l.contains(&hash)).unwrap_or_else(|| panic!("{level}: {table}"));
        assert!(row.split_whitespace().any(|w| w == level) && row.contains(&size), "{row}");
    }
}

#[test]
fn inspect_json_is_json() {
    let out = multiarch(&["inspect", "--json", &bundle("v1v3")]);
    assert!(out.status.success());
    let json = text(&out.stdout);
    let check = Command::new("python3")
        .args(["-c", "import json,sys; d=json.load(sys.stdin); print(sorted(l for b in d['blobs'] for l in b['levels']))"])
        .stdin(std::fs::File::open(write_tmp("inspect.json", json.as_bytes())).unwrap())
        .output()
        .unwrap();
    assert!(check.status.success(), "{json}");
    assert_eq!(text(&check.stdout).trim(), "['x86-64', 'x86-64-v3']");
    assert!(json.contains(&sha256sum(&payload("x86-64-v3"))));
}

/// A file in a temporary directory of its own, both removed on drop: the
/// suite leaves nothing behind.
struct TmpFile(PathBuf);

impl std::ops::Deref for TmpFile {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TmpFile {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TmpFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

fn write_tmp(name: &str, bytes: &[u8]) -> TmpFile {
    // A directory per file: tests run in parallel and remove theirs.
    let dir = std::env::temp_dir().join(format!("multiarch-cli-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    TmpFile(path)
}

#[test]
fn extract_gives_the_exact_build() {
    let dir = std::env::temp_dir().join(format!("multiarch-extract-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (i, level) in LEVELS.iter().enumerate() {
        let short = format!("v{}", i + 1);
        let to_file = dir.join(level);
        let out =
            multiarch(&["extract", &bundle("full"), "--level", &short, "-o", to_file.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(std::fs::read(&to_file).unwrap(), std::fs::read(payload(level)).unwrap(), "{level}");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&to_file).unwrap().permissions().mode() & 0o777, 0o755);
        let out = multiarch(&["extract", &bundle("full"), "--level", level]);
        assert_eq!(out.stdout, std::fs::read(payload(level)).unwrap(), "{level} to stdout");
    }
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn extract_refuses_a_level_not_embedded() {
    let out = multiarch(&["extract", &bundle("v1v3"), "--level", "v2", "-o", "/nonexistent/never-written"]);
    assert_fails(&out, 1, "v1v3", "no x86-64-v2 build (embedded: v1 v3)");
    let out = multiarch(&["extract", &bundle("v1v3"), "--variant", "znver4"]);
    assert_fails(&out, 1, "v1v3", "no znver4 build (embedded: v1 v3)");
    let out = multiarch(&["extract", &bundle("v1v3"), "--level", "V9"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("or a level: v1"), "{}", text(&out.stderr));
}

#[test]
fn verify_passes_then_names_the_corrupted_blob() {
    // "dynamic" stores its builds: a flipped byte can only show as a wrong
    // sha256. "full" compresses them: the same flip may make the stream
    // undecodable instead; either way the blob is named.
    for (name, stored) in [("dynamic", true), ("full", false)] {
        let out = multiarch(&["verify", &bundle(name)]);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout).lines().filter(|l| l.starts_with("ok ")).count(), 4);

        // Flip one byte in the middle of the v3 build inside the bundle.
        let mut bytes = std::fs::read(bundle(name)).unwrap();
        let parsed = bundle_file::parse(&bytes).unwrap();
        let (i, _) = parsed.meta.blob_of("v3").unwrap();
        let mid = (parsed.ranges[i].start + parsed.ranges[i].end) / 2;
        bytes[mid] ^= 0x40;
        let bad = write_tmp(&format!("corrupt-{name}"), &bytes);
        let out = multiarch(&["verify", bad.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let err = text(&out.stderr);
        assert!(err.contains("corrupt") && err.contains(&format!("blob {i} (x86-64-v3)")), "{name}: {err}");
        assert!(!stored || err.contains("checksum"), "{name}: {err}");
        let report = text(&out.stdout);
        assert_eq!(report.lines().filter(|l| l.starts_with("ok ")).count(), 3, "{name}: {report}");
        assert!(report.lines().any(|l| l.starts_with("BAD") && l.contains("x86-64-v3")), "{name}: {report}");
        // extract of the damaged level refuses too; the others still extract.
        let out = multiarch(&["extract", bad.to_str().unwrap(), "--level", "v3"]);
        assert_fails(&out, 1, "corrupt", "x86-64-v3");
        assert!(multiarch(&["extract", bad.to_str().unwrap(), "--level", "v1"]).status.success(), "{name}");
    }
}

#[test]
fn bad_files_get_one_line_errors() {
    let not_elf = write_tmp("notes.txt", b"hello, not an ELF\n");
    let payload = payload("x86-64");
    let full = std::fs::read(bundle("full")).unwrap();
    let truncated = write_tmp("truncated", &full[..full.len() / 2]);
    for cmd in ["inspect", "verify"] {
        assert_fails(&multiarch(&[cmd, not_elf.to_str().unwrap()]), 1, "notes.txt", "not an ELF file");
        assert_fails(
            &multiarch(&[cmd, payload.to_str().unwrap()]),
            1,
            "payload-x86-64",
            "not a multiarch bundle",
        );
        assert_fails(&multiarch(&[cmd, truncated.to_str().unwrap()]), 1, "truncated", "truncated");
        assert_fails(&multiarch(&[cmd, "/nonexistent/bundle"]), 1, "/nonexistent/bundle", "cannot read");
    }
}

#[test]
fn help_everywhere_and_usage_errors_exit_2() {
    for cmd in [&[][..], &["inspect"], &["extract"], &["verify"], &["bench"], &["pack"], &["cpu"]] {
        let mut args: Vec<&str> = cmd.to_vec();
        args.push("--help");
        let out = multiarch(&args);
        assert!(out.status.success(), "{args:?}");
        let help = text(&out.stdout);
        assert!(help.contains("Usage: multiarch"), "{args:?}");
        // Every help names the exit codes and where relative paths go.
        assert!(help.contains("Exit status: 0"), "{args:?}: {help}");
        assert!(help.contains("BUILD_WORKING_DIRECTORY"), "{args:?}: {help}");
    }
    let out = multiarch(&["pack", "--table-version", "2"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    for args in [
        &["frob"][..],
        &[],
        &["inspect"],
        &["inspect", "a", "b"],
        &["extract", "x"],
        &["bench", "x", "--runs", "0"],
    ] {
        let out = multiarch(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out.stderr));
        assert_eq!(text(&out.stderr).lines().count(), 1, "{args:?}");
    }
}

#[test]
fn bench_times_each_level_this_cpu_runs() {
    let out = multiarch(&["bench", &bundle("v1v3"), "--runs", "2", "--", "exit", "0"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let cpu = multiarch_launcher::Level::of(multiarch_launcher::arch::x86_64::detect());
    let x86_64 = table.lines().find(|l| l.starts_with("x86-64 ")).unwrap_or_else(|| panic!("{table}"));
    assert!(x86_64.contains("1.00x"), "{table}");
    let v3_row = table.lines().any(|l| l.starts_with("x86-64-v3"));
    assert_eq!(v3_row, cpu >= multiarch_launcher::Level::V3, "{table}");
    assert!(!table.lines().any(|l| l.starts_with("x86-64-v2")), "v2 is not embedded: {table}");
    // A program that fails stops the benchmark with the level named.
    let out = multiarch(&["bench", &bundle("v1v3"), "--runs", "1", "--", "exit", "3"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("build failed"), "{}", text(&out.stderr));
}

/// Mutates real bundles (aiming at the ELF headers, the section header table
/// and the `.multiarch` table, where the parser's decisions are) and random
/// bytes, for MULTIARCH_FUZZ_SECS seconds (default 10): the parser and the
/// decoder must return, never panic.
#[test]
fn parser_never_panics_on_mutated_bundles() {
    let secs = std::env::var("MULTIARCH_FUZZ_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let seed = std::env::var("MULTIARCH_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    });
    println!("fuzz seed {seed} (MULTIARCH_FUZZ_SEED={seed} repeats it), {secs} s");
    let mut rng = Rng(seed);
    let corpus: Vec<Vec<u8>> =
        [bundle("v1v3"), bundle("full")].iter().map(|p| std::fs::read(p).unwrap()).collect();
    let hot: Vec<Vec<std::ops::Range<usize>>> = corpus
        .iter()
        .map(|b| {
            let p = bundle_file::parse(b).unwrap();
            let shoff = u64::from_le_bytes(b[0x28..0x30].try_into().unwrap()) as usize;
            vec![0..64, p.table.clone(), shoff..b.len()]
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let (mut runs, mut parsed_ok) = (0u64, 0u64);
    while Instant::now() < deadline {
        let which = rng.below(corpus.len());
        let mut bytes = corpus[which].clone();
        match rng.below(6) {
            0 => bytes.truncate(rng.below(bytes.len())),
            1 => bytes = (0..rng.below(4096)).map(|_| rng.next() as u8).collect(),
            2 => {
                let pos = rng.below(bytes.len());
                let extremes = [0u64, 1, u64::MAX, u64::MAX / 2, bytes.len() as u64, 0x8000_0000];
                let v = extremes[rng.below(extremes.len())].to_le_bytes();
                let n = v.len().min(bytes.len() - pos);
                bytes[pos..pos + n].copy_from_slice(&v[..n]);
            }
            _ => {
                let ranges = &hot[which];
                for _ in 0..1 + rng.below(8) {
                    let r = &ranges[rng.below(ranges.len())];
                    let pos = r.start + rng.below(r.len());
                    if pos < bytes.len() {
                        bytes[pos] ^= 1 << rng.below(8);
                    }
                }
            }
        }
        if let Ok(p) = bundle_file::parse(&bytes) {
            parsed_ok += 1;
            if rng.below(16) == 0 {
                let _ = bundle_file::decode_all(&p, &bytes);
            }
        }
        runs += 1;
    }
    println!("{runs} inputs, {parsed_ok} still parsed");
    assert!(runs > 100, "the fuzz loop barely ran: {runs}");
}

/// Issue 10: the table went to version 4 (checksums); bundles packed with
/// version 3 tables (fixture v1v3, `pack --table-version 3`) still read,
/// verify and extract, checked by sha256 alone.
#[test]
fn version_3_bundles_are_still_read() {
    let bytes = std::fs::read(bundle("v1v3")).unwrap();
    let parsed = bundle_file::parse(&bytes).unwrap();
    assert_eq!(bytes[parsed.table.start + 8], 3, "v1v3 has a version 3 table");
    assert!(parsed.meta.blobs.iter().all(|b| b.check.is_none()));
    let out = multiarch(&["verify", &bundle("v1v3")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert_eq!(
        report.lines().filter(|l| l.contains("checksum none (version 3 table)")).count(),
        2,
        "{report}"
    );
    let out = multiarch(&["extract", &bundle("v1v3"), "--level", "v3"]);
    assert_eq!(out.stdout, std::fs::read(payload("x86-64-v3")).unwrap());
    // Damage is still found, by the sha256, and the blob named.
    let (i, _) = parsed.meta.blob_of("v3").unwrap();
    let mut bad = bytes.clone();
    bad[(parsed.ranges[i].start + parsed.ranges[i].end) / 2] ^= 0x08;
    let bad = write_tmp("corrupt-v3", &bad);
    let out = multiarch(&["verify", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains(&format!("damaged: blob {i} (x86-64-v3)")), "{}", text(&out.stderr));
    // And the version 4 fixtures record a checksum per blob.
    let full = bundle_file::parse(&std::fs::read(bundle("full")).unwrap()).unwrap();
    assert!(full.meta.blobs.iter().all(|b| b.check.is_some()));
}

/// Issue 12: `inspect` shows each variant of the fleet bundle (packed with
/// `--rustc`) with its flags and the features rustc reported for it, best
/// first; `--json` says the same.
#[test]
fn inspect_shows_variants_flags_and_required_features() {
    let out = multiarch(&["inspect", &bundle("fleet")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let rows: Vec<&str> = table
        .lines()
        .skip_while(|l| !l.starts_with("variant "))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    let names: Vec<&str> = rows.iter().map(|r| r.split_whitespace().next().unwrap()).collect();
    assert_eq!(names.len(), 4, "{table}");
    assert_eq!(names[2..], ["x86-64-v3", "x86-64"], "{table}");
    for row in &rows {
        let name = row.split_whitespace().next().unwrap();
        assert!(row.contains(&format!("-Ctarget-cpu={name}")), "{row}");
        let rustc = rustc_cfg(name);
        let shown: Vec<&str> = row.split_whitespace().skip(3).collect();
        if rustc.is_empty() {
            assert_eq!(shown, ["-"], "{row}");
        } else {
            assert_eq!(shown, rustc, "{row}");
        }
    }
    let out = multiarch(&["inspect", "--json", &bundle("fleet")]);
    let json = write_tmp("fleet.json", &out.stdout);
    let check = Command::new("python3")
        .args([
            "-c",
            "import json,sys; d=json.load(open(sys.argv[1])); \
             print(' '.join(v['name'] + ':' + str(len(v['requires'])) for v in d['variants']))",
        ])
        .arg(&*json)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", text(&out.stdout));
    let want: Vec<String> = names.iter().map(|n| format!("{n}:{}", rustc_cfg(n).len())).collect();
    assert_eq!(text(&check.stdout).trim(), want.join(" "));
}

/// The target features rustc enables for `-Ctarget-cpu=cpu`, less those
/// every x86-64 CPU has, sorted.
fn rustc_cfg(cpu: &str) -> Vec<String> {
    let out = Command::new("rustc")
        .args(["--print", "cfg", "--target", "x86_64-unknown-linux-gnu"])
        .arg(format!("-Ctarget-cpu={cpu}"))
        .env("RUSTC_BOOTSTRAP", "1")
        .output()
        .unwrap();
    let mut v: Vec<String> = text(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("target_feature=\"")?.strip_suffix('"'))
        .filter(|f| !["x87", "fxsr", "sse", "sse2"].contains(f))
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

/// `multiarch cpu`: the listing agrees with std's detection, `--has`
/// answers with its exit status, `--runs` and `--picks` agree with what the
/// launcher itself starts.
#[test]
fn cpu_answers_agree_with_std_and_the_launcher() {
    let out = multiarch(&["cpu"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listing = text(&out.stdout);
    let features: Vec<&str> =
        listing.lines().find_map(|l| l.strip_prefix("features  ")).unwrap().split(' ').collect();
    for (name, std) in [
        ("avx2", is_x86_feature_detected!("avx2")),
        ("avx512f", is_x86_feature_detected!("avx512f")),
        ("sha", is_x86_feature_detected!("sha")),
        ("sse4a", is_x86_feature_detected!("sse4a")),
        ("bmi2", is_x86_feature_detected!("bmi2")),
    ] {
        assert_eq!(features.contains(&name), std, "{name}: {listing}");
        let has = multiarch(&["cpu", "--has", name]);
        assert_eq!(has.status.code(), Some(if std { 0 } else { 1 }), "--has {name}");
        if !std {
            assert_eq!(text(&has.stderr), format!("multiarch: this CPU lacks {name}\n"));
        }
    }
    assert_eq!(multiarch(&["cpu", "--has", "v1,sse3"]).status.code(), Some(0));
    let out = multiarch(&["cpu", "--has", "frob"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let json = multiarch(&["cpu", "--json"]);
    assert!(
        text(&json.stdout).starts_with("{\"arch\": \"x86_64\", \"level\": \"x86-64-v"),
        "{}",
        text(&json.stdout)
    );

    // What the launcher starts, from its own log line.
    let fleet = bundle("fleet");
    let home = std::env::temp_dir().join(format!("multiarch-cli-test-{}-cpu-home", std::process::id()));
    let run = Command::new(&fleet)
        .env("MULTIARCH_DEBUG", "log")
        .env("MULTIARCH_EXEC", "memfd")
        .env("XDG_CACHE_HOME", &home)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&home);
    let log = text(&run.stderr);
    let started = log.strip_prefix("[multiarch] starting ").unwrap().split(' ').next().unwrap().to_owned();
    let picks = multiarch(&["cpu", "--picks", &fleet]);
    assert_eq!(text(&picks.stdout).trim(), started, "{log}");
    assert_eq!(multiarch(&["cpu", "--runs", &fleet, &started]).status.code(), Some(0));
    assert_eq!(multiarch(&["cpu", "--runs", &fleet, "v1"]).status.code(), Some(0));
    // Every variant ranked above the one started lacks something here.
    let inspect = text(&multiarch(&["inspect", &fleet]).stdout);
    let ranked: Vec<String> = inspect
        .lines()
        .skip_while(|l| !l.starts_with("variant "))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect();
    for name in ranked.iter().take_while(|n| **n != started) {
        let out = multiarch(&["cpu", "--runs", &fleet, name]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let err = text(&out.stderr);
        assert!(
            err.starts_with("multiarch: this CPU lacks ") && err.contains(&format!(", which {name} of ")),
            "{err}"
        );
    }
    let out = multiarch(&["cpu", "--runs", &fleet, "znver5"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("no variant znver5 (embedded: v1 v3"), "{}", text(&out.stderr));
    assert_eq!(multiarch(&["cpu", "--runs", "/nonexistent/bundle", "v1"]).status.code(), Some(3));
    assert_eq!(multiarch(&["cpu", "--runs", &fleet]).status.code(), Some(2));
}

/// `pack` refuses bad variant sets with one line naming the variant and
/// the fix (exit 1), and bad syntax with exit 2; nothing is written.
#[test]
fn pack_errors_name_the_variant_and_write_nothing() {
    let dir = std::env::temp_dir().join(format!("multiarch-cli-test-{}-pack", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out_rs = dir.join("main.rs");
    let v1 = payload("x86-64");
    let v3 = payload("x86-64-v3");
    let base = |extra: &[&str]| {
        let mut args = vec![
            "pack".to_owned(),
            "--program".into(),
            "p".into(),
            "--out".into(),
            out_rs.to_str().unwrap().into(),
            "--target".into(),
            "x86_64-unknown-linux-gnu".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let variant = |name: &str, p: &Path| format!("{name}={}", p.display());
    let cases: Vec<(Vec<String>, i32, &str)> = vec![
        (base(&["--variant", &variant("v3", &v3)]), 1, "no baseline variant"),
        (
            base(&[
                "--variant",
                &variant("fast", &v3),
                "--variant",
                &variant("v1", &v1),
                "--target-cpu",
                "fast=zen9",
                "--rustc",
                "rustc",
            ]),
            1,
            "variant fast: rustc does not know -Ctarget-cpu=zen9",
        ),
        (
            base(&[
                "--variant",
                &variant("fast", &v3),
                "--variant",
                &variant("v1", &v1),
                "--target-cpu",
                "fast=x86-64-v3",
                "--target-features",
                "fast=+frobnicate",
                "--rustc",
                "rustc",
            ]),
            1,
            "variant fast: unknown",
        ),
        (
            base(&["--variant", &variant("v1", &v1), "--target-cpu", "fast=znver4"]),
            2,
            "--target-cpu fast=znver4: no --variant fast=PATH",
        ),
        (base(&["--variant", &variant("Fast", &v1)]), 2, "is not a variant name"),
        (base(&["--variant", &variant("v1", &v1), "--table-version", "6"]), 2, "accepted: 3, 4, 5"),
    ];
    for (args, code, want) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = multiarch(&args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!out_rs.exists(), "{args:?} wrote {}", out_rs.display());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 12: deltas against a build other than the baseline's (the
/// `shared` fixture: v3 and v4 share 512 KiB of noise that x86-64 lacks).
/// `multiarch extract` and the launcher itself (`MULTIARCH_DEBUG=extract`)
/// both give every variant's exact build.
#[test]
fn issue_12_deltas_against_another_build_decode_exactly() {
    let path = bundle("shared");
    let bytes = std::fs::read(&path).unwrap();
    let parsed = bundle_file::parse(&bytes).unwrap();
    let meta = &parsed.meta;
    let against_other: Vec<usize> =
        (0..meta.blobs.len()).filter(|&i| meta.blobs[i].base.is_some_and(|b| b != meta.base())).collect();
    assert_eq!(against_other.len(), 1, "{:?}", meta.blobs);
    for b in &meta.blobs {
        if let Some(base) = b.base {
            assert_ne!(
                meta.blobs[base].compression,
                multiarch_launcher::Compression::LzDelta,
                "chain of one"
            );
        }
    }
    let out = multiarch(&["inspect", &path]);
    assert!(text(&out.stdout).contains("lz-delta"), "{}", text(&out.stdout));
    let scratch = common::Scratch::new("shared");
    for name in ["x86-64", "x86-64-v3", "x86-64-v4"] {
        let build = std::fs::read(fixtures().join(format!("shared-payload-{name}"))).unwrap();
        let out = multiarch(&["extract", &path, "--variant", name]);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        assert!(out.stdout == build, "{name}: multiarch extract");
        let out = Command::new(&path)
            .env_clear()
            .env("HOME", &scratch.0)
            .env("XDG_CACHE_HOME", scratch.0.join("xdg"))
            .env("MULTIARCH_LEVEL", name)
            .env("MULTIARCH_FORCE", "1")
            .env("MULTIARCH_DEBUG", "extract")
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        assert!(out.stdout == build, "{name}: the launcher's build ({} bytes)", out.stdout.len());
    }
}
