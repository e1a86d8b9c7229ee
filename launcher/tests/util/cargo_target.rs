//! Where cargo builds: the one copy shared by the integration tests of both
//! crates (launcher/tests/util declares it as a module; cli/tests/common
//! includes this file with `#[path]`), which build the fixtures into the same
//! `<target>/fixtures` directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The repository's root: the parent of the crate under test (`launcher/`
/// or `cli/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the crate's directory has a parent").to_owned()
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
            .arg(repo_root().join("Cargo.toml"))
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
