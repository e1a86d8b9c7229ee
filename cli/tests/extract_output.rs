#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

//! Issue 10, defects 1, 2 and 7, and issue 9's `bazel run` item: what
//! `multiarch extract -o` may write, what `verify`/`extract` may allocate,
//! and where relative paths are resolved.

mod common;

use common::{fixtures, text, Scratch};
use multiarch_cli::bundle_file;
use multiarch_cli::meta::Meta;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_multiarch")
}

/// Runs `cmd`, killing it after 60 s (a FIFO output used to hang extract).
fn run_bounded(cmd: &mut Command) -> Output {
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!("{cmd:?} hung: killed after 60 s; stderr {}", text(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn bundle() -> PathBuf {
    fixtures().join("full").join("full")
}

fn payload_v1() -> Vec<u8> {
    std::fs::read(fixtures().join("payload-x86-64")).unwrap()
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").unwrap().uid() == 0
}

/// Defect 1: root's `extract -o DIR/app` into a directory another user
/// owns. The old code wrote `DIR/app.tmp.<pid>` with a plain write (which
/// follows a symlink planted there) and chmod-ed by path. In a PID
/// namespace the CLI's PID is known (1), so the planted symlinks are hit
/// every time before the fix.
#[test]
fn extract_never_writes_through_a_planted_symlink() {
    if !is_root() {
        eprintln!("SKIP: needs root (a PID namespace and files of another user)");
        return;
    }
    let s = Scratch::new("symlink");
    let victim = s.0.join("victim");
    std::fs::write(&victim, b"root's file").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
    // The other user's directory (uid 65534, nobody) and symlinks.
    let dir = s.0.join("other");
    std::fs::create_dir(&dir).unwrap();
    for pid in 1..=4 {
        let link = dir.join(format!("app.tmp.{pid}"));
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        assert!(Command::new("chown").args(["-h", "65534:65534"]).arg(&link).status().unwrap().success());
    }
    assert!(Command::new("chown").arg("65534:65534").arg(&dir).status().unwrap().success());
    let out_path = dir.join("app");
    let out = run_bounded(
        Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", bin(), "extract"])
            .arg(bundle())
            .args(["--level", "v1", "-o"])
            .arg(&out_path),
    );
    if text(&out.stderr).contains("unshare failed") {
        eprintln!("SKIP: no PID namespace here: {}", text(&out.stderr));
        return;
    }
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(&victim).unwrap(), b"root's file");
    assert_eq!(std::fs::metadata(&victim).unwrap().mode() & 0o7777, 0o600);
    let meta = std::fs::symlink_metadata(&out_path).unwrap();
    assert!(meta.file_type().is_file());
    assert_eq!(meta.mode() & 0o7777, 0o755);
    assert_eq!(std::fs::read(&out_path).unwrap(), payload_v1());
    // The planted links are untouched; no temporary file is left.
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 5, "{names:?}");
    assert!(names.iter().all(|n| n == "app" || n.starts_with("app.tmp.")), "{names:?}");
}

/// Defect 2: the output is never read, and only a regular file is replaced.
#[test]
fn extract_refuses_targets_that_are_not_regular_files() {
    let s = Scratch::new("special");
    let fifo = s.0.join("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    std::fs::create_dir(s.0.join("dir")).unwrap();
    let mut cases = vec![(fifo.clone(), "is a FIFO"), (s.0.join("dir"), "is a directory")];
    // Devices of the test's own (root only): /dev/null and /dev/full's numbers.
    for (name, minor) in [("null", "3"), ("full", "7")] {
        let dev = s.0.join(name);
        if Command::new("mknod").arg(&dev).args(["c", "1", minor]).status().is_ok_and(|st| st.success()) {
            cases.push((dev, "is a character device"));
        }
    }
    let link = s.0.join("link");
    std::os::unix::fs::symlink(s.0.join("elsewhere"), &link).unwrap();
    cases.push((link.clone(), "is a symbolic link"));
    for (target, what) in &cases {
        let out = run_bounded(
            Command::new(bin()).arg("extract").arg(bundle()).args(["--level", "v1", "-o"]).arg(target),
        );
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {err}", target.display());
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(&target.display().to_string()) && err.contains(what), "{err}");
    }
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert!(!s.0.join("elsewhere").exists());
    for name in ["null", "full"] {
        if let Ok(m) = std::fs::symlink_metadata(s.0.join(name)) {
            assert!(m.file_type().is_char_device(), "{name}");
        }
    }
    // Nothing else was created.
    assert_eq!(std::fs::read_dir(&s.0).unwrap().count(), cases.len());

    // A regular file is replaced whole: a new inode, never the old one rewritten.
    let file = s.0.join("app");
    std::fs::write(&file, b"old contents").unwrap();
    let keep = std::fs::File::open(&file).unwrap();
    let ino = std::fs::metadata(&file).unwrap().ino();
    let out = run_bounded(
        Command::new(bin()).arg("extract").arg(bundle()).args(["--level", "v1", "-o"]).arg(&file),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(&file).unwrap(), payload_v1());
    assert_ne!(std::fs::metadata(&file).unwrap().ino(), ino);
    assert_eq!(keep.metadata().unwrap().len(), 12, "the old inode was written to");
}

/// Defect 7: a table that claims 2 GiB for a build of a few hundred KB.
/// `verify` and `extract` fail naming the blob, without the memory: the
/// old code allocated and zeroed the claimed size first (2.1 GB).
#[test]
fn forged_sizes_do_not_allocate_what_they_claim() {
    let s = Scratch::new("forged");
    let mut bytes = std::fs::read(bundle()).unwrap();
    let parsed = bundle_file::parse(&bytes).unwrap();
    let mut meta = parsed.meta.clone();
    let (base, _) = meta.blob_of("v1").unwrap();
    meta.blobs[base].size = 2 << 30;
    let table = meta.encode();
    assert_eq!(table.len(), parsed.table.len());
    bytes[parsed.table.clone()].copy_from_slice(&table);
    assert_eq!(Meta::decode(&bytes[parsed.table.clone()]).unwrap().blobs[base].size, 2 << 30);
    let forged = s.0.join("forged");
    std::fs::write(&forged, &bytes).unwrap();
    // Peak RSS of the child, from getrusage, through python3.
    let peak_kib = |args: &[&str]| -> (Output, u64) {
        let script = "import resource, subprocess, sys\n\
                      r = subprocess.run(sys.argv[1:], capture_output=True)\n\
                      sys.stderr.buffer.write(r.stderr)\n\
                      print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)";
        let out = Command::new("python3").args(["-c", script, bin()]).args(args).output().unwrap();
        let line = text(&out.stdout);
        let rss = line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(u64::MAX);
        (out, rss)
    };
    for args in
        [vec!["verify", forged.to_str().unwrap()], vec!["extract", forged.to_str().unwrap(), "--level", "v1"]]
    {
        let (out, rss) = peak_kib(&args);
        let err = text(&out.stderr);
        assert!(text(&out.stdout).starts_with("1 "), "{args:?}: {err}");
        assert!(err.contains(&format!("blob {base} (")), "{args:?}: {err}");
        assert!(rss < 256 << 10, "{args:?}: peak RSS {rss} KiB for a {} byte bundle", bytes.len());
    }
}

/// Issue 9: `bazel run //cli:multiarch -- verify FILE` runs the tool in
/// its runfiles tree; a relative FILE (and -o) is relative to where the
/// user ran bazel, BUILD_WORKING_DIRECTORY.
#[test]
fn relative_paths_are_resolved_against_build_working_directory() {
    let s = Scratch::new("bwd");
    let user_dir = s.0.join("user");
    let runfiles = s.0.join("runfiles");
    std::fs::create_dir_all(user_dir.join("out")).unwrap();
    std::fs::create_dir_all(&runfiles).unwrap();
    std::fs::copy(bundle(), user_dir.join("app")).unwrap();
    let cmd = |args: &[&str]| {
        Command::new(bin())
            .args(args)
            .current_dir(&runfiles)
            .env("BUILD_WORKING_DIRECTORY", &user_dir)
            .output()
            .unwrap()
    };
    let out = cmd(&["verify", "app"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = cmd(&["inspect", "./app"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = cmd(&["extract", "app", "--level", "v1", "-o", "out/v1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(user_dir.join("out/v1")).unwrap(), payload_v1());
    assert_eq!(std::fs::read_dir(&runfiles).unwrap().count(), 0);
    // Absolute paths stay as they are; without the variable, the current
    // directory is used.
    let abs = user_dir.join("app");
    assert!(cmd(&["verify", abs.to_str().unwrap()]).status.success());
    let out = Command::new(bin()).args(["verify", "app"]).current_dir(&runfiles).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("app: cannot read"), "{}", text(&out.stderr));
}
