//! Prepared installs: every build of a bundle laid out ahead of time, at
//! image-build time, by `multiarch install BUNDLE DIR` (or the Bazel output
//! group `multiarch_install`), and started from there before the per-user
//! cache is looked at. The first start of every user, in every fresh
//! container, on a read-only root, then costs what a warm start costs:
//! nothing is decoded and nothing is written.
//!
//! # Layout
//!
//! `<root>/<key>/<program>`, the layout of the per-user cache: `<key>` is
//! the first 16 bytes of the build's SHA-256 in hex ([`Blob::cache_key`]),
//! `<program>` the bundle's program name. One root holds any number of
//! bundles and versions side by side. `<root>` is [`DEFAULT_ROOT`]
//! (`/usr/lib/multiarch`), a fixed system directory every launcher knows,
//! so an image needs no setting; outside secure mode `MULTIARCH_PREPARED_DIR`
//! names another (an absolute path; for trees that ship elsewhere, and
//! tests).
//!
//! # What is checked at each start, and what is trusted
//!
//! - Every directory from `/` to `<key>` is opened one component at a time
//!   and checked on its descriptor by [`crate::walk`]'s rule: owned by root
//!   or the effective user (in secure mode root only), not writable by group
//!   or others unless sticky.
//! - The entry is opened `O_PATH | O_NOFOLLOW` relative to `<key>`'s
//!   descriptor and checked with `fstat` on it: a regular file, owned by
//!   root or the effective user (secure mode: root), not writable by group
//!   or others, executable by the effective user (root: any execute bit;
//!   its owner: the owner's; anyone else: the others'), of exactly the
//!   build's size; and
//!   not on a `noexec` mount. That descriptor is what `execveat` runs.
//! - Its identity is its place: the directory name is the build's SHA-256
//!   prefix, which `multiarch install` took from the bytes it decoded and
//!   verified, and the size must match. The bytes are not hashed at each
//!   start (that would cost what a cold start costs): whoever owns the tree
//!   (root, or the effective user) is trusted to leave them as installed,
//!   as they are trusted with the bundle itself. `multiarch install --check
//!   BUNDLE DIR` re-hashes a tree.
//!
//! The launcher never writes there and never decodes for it. A tree that
//! is not there costs one `openat` (ENOENT); one that is there but fails a
//! check is passed over for the cache, with the reason in the log line.

use crate::bformat;
use crate::bundle::Blob;
use crate::cache::Entry;
use crate::sys::{self, Errno, Stat};
use crate::text::{Escaped, Quoted};
use crate::walk::{self, c_name, sys_error, Message, Name, Path, WalkError};

/// The root every launcher looks in.
pub const DEFAULT_ROOT: &[u8] = b"/usr/lib/multiarch";
/// The variable that names another root, outside secure mode.
pub const ROOT_VAR: &str = "MULTIARCH_PREPARED_DIR";

/// The root to look in: `MULTIARCH_PREPARED_DIR` when set and not empty
/// (it must be an absolute path), else [`DEFAULT_ROOT`]. Pass no
/// environment in secure mode.
pub fn root<'a>(env: Option<impl IntoIterator<Item = &'a [u8]>>) -> Result<Path, Message> {
    let mut value = None;
    for entry in env.into_iter().flatten() {
        if let Some(v) = entry.strip_prefix(ROOT_VAR.as_bytes()).and_then(|r| r.strip_prefix(b"=")) {
            // The first of repeated entries wins, as with getenv.
            value.get_or_insert(v);
        }
    }
    match value.filter(|v| !v.is_empty()) {
        None => Ok(Path::from_bytes(DEFAULT_ROOT)),
        Some(v) if v.first() == Some(&b'/') => {
            let p = Path::from_bytes(v);
            if p.overflowed() {
                return Err(bformat!(1024, "{ROOT_VAR} is longer than a path may be"));
            }
            Ok(p)
        }
        Some(v) => Err(bformat!(
            1024,
            "{ROOT_VAR}={} is not valid (accepted: an absolute path, or unset for {})",
            Quoted(v),
            Escaped(DEFAULT_ROOT)
        )),
    }
}

/// What [`lookup`] found.
#[derive(Debug)]
pub enum Found {
    /// A checked entry, held open: what the launcher executes.
    Entry(Entry),
    /// No entry for this build (nor, maybe, a tree at all).
    Absent,
    /// An entry is there but may not be used; the message says why.
    Unusable(Message),
}

/// Looks up the entry of `blob` under `root`, trusting root and `euid`
/// (pass 0 in secure mode: root only).
pub fn lookup(root: &Path, blob: &Blob, program: &str, euid: u32) -> Found {
    let key = blob.cache_key();
    let mut dir_path = root.clone();
    if !dir_path.as_bytes().ends_with(b"/") {
        dir_path.push(b"/");
    }
    dir_path.push(&key);
    let mut full = dir_path.clone();
    full.push(b"/");
    full.push(program.as_bytes());
    if full.overflowed() {
        return Found::Unusable(sys_error("cannot open", root.as_bytes(), Errno::ENAMETOOLONG));
    }
    // The usual case on a host without prepared installs: one call, no walk.
    let flags = sys::O_PATH | sys::O_NOFOLLOW | sys::O_CLOEXEC;
    if let Some(c) = full.as_cstr() {
        if let Err(Errno::ENOENT | Errno::ENOTDIR) = sys::openat(sys::AT_FDCWD, c, flags, 0) {
            return Found::Absent;
        }
    }
    let dir = match walk::open_dir(dir_path.as_bytes(), euid, false) {
        Ok(dir) => dir,
        Err(WalkError::Missing) => return Found::Absent,
        Err(WalkError::Failed(why)) => return Found::Unusable(why),
    };
    let name = Name::from_bytes(program.as_bytes());
    let c = match c_name(&name, &dir.path) {
        Ok(c) => c,
        Err(why) => return Found::Unusable(why),
    };
    let mut path = dir.path.clone();
    path.push(b"/");
    path.push(program.as_bytes());
    let fd = match sys::openat(dir.fd.0, c, flags, 0) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Found::Absent,
        Err(e) => return Found::Unusable(sys_error("cannot open", path.as_bytes(), e)),
    };
    let st = match sys::fstat(&fd) {
        Ok(st) => st,
        Err(e) => return Found::Unusable(sys_error("cannot stat", path.as_bytes(), e)),
    };
    if let Err(why) = check_entry(&st, blob.size, euid, path.as_bytes()) {
        return Found::Unusable(why);
    }
    match sys::on_noexec_mount(&fd) {
        Ok(false) => Found::Entry(Entry { fd, path }),
        Ok(true) => Found::Unusable(bformat!(1024, "{} is on a noexec mount", Escaped(path.as_bytes()))),
        Err(e) => Found::Unusable(sys_error("cannot statfs", path.as_bytes(), e)),
    }
}

/// Checks an entry's status (see the module docs).
pub fn check_entry(st: &Stat, size: u64, euid: u32, path: &[u8]) -> Result<(), Message> {
    let p = Escaped(path);
    if st.kind() != sys::S_IFREG {
        return Err(bformat!(1024, "{p} is not a regular file"));
    }
    if st.uid != 0 && st.uid != euid {
        return Err(bformat!(1024, "{p} is owned by uid {}, not by root or uid {euid}: not trusted", st.uid));
    }
    if st.mode & 0o022 != 0 {
        return Err(bformat!(1024, "{p} has mode {:o}, writable by others: not trusted", st.mode & 0o7777));
    }
    // As the kernel decides, but for groups (not known here): root needs
    // any execute bit, the owner the owner's, everyone else the others'.
    let exec_bit = match euid {
        0 => 0o111,
        _ if st.uid == euid => 0o100,
        _ => 0o001,
    };
    if st.mode & exec_bit == 0 {
        return Err(bformat!(1024, "{p} has mode {:o}: uid {euid} may not execute it", st.mode & 0o7777));
    }
    if u64::try_from(st.size).ok() != Some(size) {
        return Err(bformat!(
            1024,
            "{p} has {} bytes, the build has {size}: not this build (rerun multiarch install)",
            st.size
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    fn root_of(env: &[&str]) -> Result<std::string::String, std::string::String> {
        root(Some(env.iter().map(|e| e.as_bytes()))).map(|p| p.to_string()).map_err(|e| e.to_string())
    }

    #[test]
    fn root_is_the_default_unless_the_variable_names_an_absolute_path() {
        assert_eq!(root_of(&[]).unwrap(), "/usr/lib/multiarch");
        assert_eq!(root_of(&["MULTIARCH_PREPARED_DIR="]).unwrap(), "/usr/lib/multiarch");
        assert_eq!(
            root_of(&["MULTIARCH_PREPARED_DIR=/opt/x", "MULTIARCH_PREPARED_DIR=/y"]).unwrap(),
            "/opt/x"
        );
        assert_eq!(root_of(&["MULTIARCH_PREPARED_DIRX=/opt/x"]).unwrap(), "/usr/lib/multiarch");
        let e = root_of(&["MULTIARCH_PREPARED_DIR=rel/dir"]).unwrap_err();
        assert!(
            e.contains("MULTIARCH_PREPARED_DIR=\"rel/dir\" is not valid") && e.contains("absolute"),
            "{e}"
        );
        // Secure mode passes no environment.
        let none: Option<[&[u8]; 0]> = None;
        assert_eq!(root(none).unwrap().to_string(), "/usr/lib/multiarch");
    }

    fn st(mode: u32, uid: u32, size: i64) -> Stat {
        Stat { mode, uid, size, ..Stat::default() }
    }

    #[test]
    fn entry_checks() {
        let ok = |s: Stat, euid| check_entry(&s, 100, euid, b"/t/e").map_err(|e| e.to_string());
        ok(st(sys::S_IFREG | 0o755, 0, 100), 1000).unwrap();
        ok(st(sys::S_IFREG | 0o700, 1000, 100), 1000).unwrap();
        ok(st(sys::S_IFREG | 0o500, 0, 100), 0).unwrap();
        for (s, euid, want) in [
            (st(sys::S_IFDIR | 0o755, 0, 100), 1000, "not a regular file"),
            (st(sys::S_IFREG | 0o755, 1001, 100), 1000, "owned by uid 1001, not by root or uid 1000"),
            (st(sys::S_IFREG | 0o755, 1000, 100), 0, "owned by uid 1000, not by root or uid 0"),
            (st(sys::S_IFREG | 0o775, 0, 100), 1000, "mode 775, writable by others"),
            (st(sys::S_IFREG | 0o700, 0, 100), 1000, "uid 1000 may not execute it"),
            (st(sys::S_IFREG | 0o755, 0, 99), 1000, "has 99 bytes, the build has 100"),
        ] {
            let e = ok(s, euid).unwrap_err();
            assert!(e.contains(want) && e.contains("/t/e"), "{e}");
        }
    }
}
