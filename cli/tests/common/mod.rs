//! What the CLI's integration tests share: the fixtures
//! (tests/build_fixtures.sh) and running the `multiarch` binary.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// Cargo's target directory, as `cargo metadata` reports it: it honours
/// CARGO_TARGET_DIR and `build.target-dir` (issue 10, defect 10: the suite
/// assumed `target/`).
pub fn target_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--no-deps", "--offline", "--manifest-path"])
            .arg(repo().join("Cargo.toml"))
            .output()
            .expect("run cargo metadata");
        assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
        let json = String::from_utf8(out.stdout).expect("cargo metadata prints UTF-8");
        json_string_field(&json, "target_directory")
            .expect("cargo metadata names the target directory")
            .into()
    })
    .clone()
}

/// The string value of `"key":"..."` in `json`, unescaped (enough for a path).
fn json_string_field(json: &str, key: &str) -> Option<String> {
    let start = json.find(&format!("\"{key}\":\""))? + key.len() + 4;
    let mut value = String::new();
    let mut chars = json[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(value),
            '\\' => match chars.next()? {
                'n' => value.push('\n'),
                't' => value.push('\t'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    value.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                other => value.push(other),
            },
            c => value.push(c),
        }
    }
    None
}

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
            .arg(repo().join("tests/build_fixtures.sh"))
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

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
