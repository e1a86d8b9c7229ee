#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

//! `multiarch install` (issue 14, prepared installs) against the fixtures
//! of tests/build_fixtures.sh: the layout launchers look up, the modes,
//! symbolic links refused, nothing written for a damaged bundle, reruns.

mod common;

use common::{fixtures, multiarch, text, Scratch};
use multiarch_cli::bundle_file;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const LEVELS: [&str; 4] = ["x86-64", "x86-64-v2", "x86-64-v3", "x86-64-v4"];

fn bundle(name: &str) -> String {
    fixtures().join(name).join(name).to_string_lossy().into_owned()
}

fn payload(level: &str) -> PathBuf {
    fixtures().join(format!("payload-{level}"))
}

/// The launcher's key of a build: the first 32 hex digits of its sha256, by `sha256sum`.
fn key(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    assert!(out.status.success());
    text(&out.stdout)[..32].to_owned()
}

fn install(args: &[&str]) -> Output {
    multiarch(&[&["install"], args].concat())
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

/// A directory launchers may trust: the scratch directories are the
/// test's own (root or the effective user), mode 0755, under sticky /tmp.
fn scratch(name: &str) -> Scratch {
    let sc = Scratch::new(name);
    std::fs::set_permissions(&sc.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    sc
}

#[test]
fn install_lays_out_every_build_with_mode_0755_and_a_rerun_changes_nothing() {
    let sc = scratch("layout");
    let dir = sc.0.join("tree");
    // Under umask 077 too: the modes are set, not asked of the umask.
    let out = Command::new("sh")
        .args(["-c", "umask 077; exec \"$0\" install \"$1\" \"$2\""])
        .arg(env!("CARGO_BIN_EXE_multiarch"))
        .arg(bundle("full"))
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(mode(&dir), 0o755);
    let mut inodes = Vec::new();
    for level in LEVELS {
        let entry = dir.join(key(&payload(level))).join("payload_full");
        assert_eq!(std::fs::read(&entry).unwrap(), std::fs::read(payload(level)).unwrap(), "{level}");
        assert_eq!(mode(&entry), 0o755, "{level}");
        assert_eq!(mode(entry.parent().unwrap()), 0o755, "{level}");
        assert!(
            text(&out.stdout).contains(&format!("installed {}", entry.display())),
            "{}",
            text(&out.stdout)
        );
        let m = std::fs::metadata(&entry).unwrap();
        inodes.push((entry, m.ino(), m.mtime_nsec()));
    }
    // Four keys, nothing else (no temporary files left).
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 4);
    for (entry, _, _) in &inodes {
        assert_eq!(std::fs::read_dir(entry.parent().unwrap()).unwrap().count(), 1);
    }

    // A rerun leaves every entry alone.
    let out = install(&[&bundle("full"), s(&dir)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().filter(|l| l.starts_with("unchanged ")).count(), 4);
    for (entry, ino, mtime) in &inodes {
        let m = std::fs::metadata(entry).unwrap();
        assert_eq!((m.ino(), m.mtime_nsec()), (*ino, *mtime), "{}", entry.display());
    }
    let out = install(&["--check", &bundle("full"), s(&dir)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().filter(|l| l.starts_with("ok ")).count(), 4);

    // A second bundle shares the tree; an entry given another mode, or other
    // bytes, is written again.
    let out = install(&[&bundle("v1v3"), s(&dir)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 4, "v1v3's builds are full's: same keys");
    let v3 = dir.join(key(&payload("x86-64-v3")));
    assert!(v3.join("payload_v1v3").is_file() && v3.join("payload_full").is_file());
    std::fs::set_permissions(&inodes[0].0, std::fs::Permissions::from_mode(0o775)).unwrap();
    std::fs::write(&inodes[1].0, b"not the build").unwrap();
    let out = install(&["--check", &bundle("full"), s(&dir)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("2 of 4 builds unusable"), "{err}");
    let report = text(&out.stdout);
    assert!(report.contains("holds other bytes") && report.contains("mode 775"), "{report}");
    let out = install(&[&bundle("full"), s(&dir)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().filter(|l| l.starts_with("installed ")).count(), 2);
    assert_eq!(mode(&inodes[0].0), 0o755);
    assert_eq!(std::fs::read(&inodes[1].0).unwrap(), std::fs::read(payload(LEVELS[1])).unwrap());
}

#[test]
fn install_never_writes_through_a_symbolic_link() {
    let sc = scratch("symlinks");
    let elsewhere = sc.0.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    // DIR itself.
    let link = sc.0.join("tree-link");
    std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
    let out = install(&[&bundle("full"), s(&link)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("tree-link: is a symbolic link"), "{}", text(&out.stderr));
    // A <key> directory.
    let dir = sc.0.join("tree");
    std::fs::create_dir(&dir).unwrap();
    let v1_key = key(&payload("x86-64"));
    std::os::unix::fs::symlink(&elsewhere, dir.join(&v1_key)).unwrap();
    let out = install(&[&bundle("full"), s(&dir)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains(&format!("{v1_key}: is a symbolic link")), "{}", text(&out.stderr));
    // The entry: a symlink there is refused, not followed nor replaced.
    std::fs::remove_file(dir.join(&v1_key)).unwrap();
    std::fs::create_dir(dir.join(&v1_key)).unwrap();
    let victim = elsewhere.join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    std::os::unix::fs::symlink(&victim, dir.join(&v1_key).join("payload_full")).unwrap();
    let out = install(&[&bundle("full"), s(&dir)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("is a symbolic link"), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    assert!(std::fs::symlink_metadata(dir.join(&v1_key).join("payload_full")).unwrap().is_symlink());
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 1, "nothing written elsewhere");
}

#[test]
fn a_damaged_bundle_installs_nothing() {
    let sc = scratch("damaged");
    let mut bytes = std::fs::read(bundle("full")).unwrap();
    let parsed = bundle_file::parse(&bytes).unwrap();
    let (i, _) = parsed.meta.blob_of("x86-64-v3").unwrap();
    let mid = (parsed.ranges[i].start + parsed.ranges[i].end) / 2;
    bytes[mid] ^= 0x40;
    let bad = sc.0.join("corrupt");
    std::fs::write(&bad, &bytes).unwrap();
    let dir = sc.0.join("tree");
    let out = install(&[s(&bad), s(&dir)]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("x86-64-v3") && err.contains("nothing installed"), "{err}");
    assert!(!dir.exists(), "the tree was created for a damaged bundle");
    assert!(out.stdout.is_empty());
}

#[test]
fn a_tree_launchers_would_pass_over_is_an_error_unless_staging() {
    let sc = scratch("untrusted");
    let dir = sc.0.join("tree");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o775)).unwrap();
    let out = install(&[&bundle("v1v3"), s(&dir)]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("launchers would not use this tree") && err.contains("mode 775"), "{err}");
    let out = install(&[&bundle("v1v3"), s(&dir), "--staging"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Usage errors.
    for args in [
        &["install"][..],
        &["install", "only-one"],
        &["install", "a", "b", "c"],
        &["install", "--bad", "a", "b"],
    ] {
        let out = multiarch(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out.stderr));
    }
}

#[test]
fn a_failed_write_leaves_no_half_written_entry() {
    let sc = scratch("efbig");
    let dir = sc.0.join("tree");
    // Writes past 100 KiB fail (EFBIG; SIGXFSZ ignored): the builds are
    // about 380 KiB each.
    let out = Command::new("sh")
        .args(["-c", "trap '' XFSZ; ulimit -f 100; exec \"$0\" install \"$1\" \"$2\""])
        .arg(env!("CARGO_BIN_EXE_multiarch"))
        .arg(bundle("full"))
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("File too large"), "{err}");
    // Directories only: no entry, no temporary file.
    let mut files = Vec::new();
    for key in std::fs::read_dir(&dir).unwrap().flatten() {
        assert!(key.file_type().unwrap().is_dir(), "{}", key.path().display());
        files.extend(std::fs::read_dir(key.path()).unwrap().flatten().map(|e| e.path()));
    }
    assert_eq!(files, Vec::<PathBuf>::new());
    // A rerun without the limit completes the tree.
    let out = install(&[&bundle("full"), s(&dir)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().filter(|l| l.starts_with("installed ")).count(), 4);
}
