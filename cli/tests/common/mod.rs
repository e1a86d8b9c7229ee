//! What the CLI's integration tests share: the fixtures
//! (tests/build_fixtures.sh) and running the `multiarch` binary.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

// The launcher's tests find the target directory the same way: one copy.
#[path = "../../../launcher/tests/util/cargo_target.rs"]
mod cargo_target;

pub use cargo_target::{repo_root, target_dir};

/// The fixtures, built once per test run: the same directory and file lock
/// as the launcher's integration tests (launcher/tests/util), so a run builds
/// them once and parallel test binaries (nextest) never build them at once.
pub fn fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = target_dir().join("fixtures");
        std::fs::create_dir_all(&dir).unwrap();
        let status = Command::new("flock")
            .arg(target_dir().join("fixtures.lock"))
            .arg(repo_root().join("tests/build_fixtures.sh"))
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success(), "tests/build_fixtures.sh failed");
        dir
    })
}

pub fn multiarch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_multiarch")).args(args).output().unwrap()
}

/// A directory of the test's own, `multiarch-<test binary>-<pid>-<name>` in
/// the temporary directory, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let test = env!("CARGO_CRATE_NAME");
        let dir = std::env::temp_dir().join(format!("multiarch-{test}-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A small xorshift64 generator: the same seed (not 0) gives the same
/// numbers, so a failure can be repeated.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
