//! The per-user cache of decoded builds: `<root>/<content-hash>/<program>`,
//! with `<root>` = `$XDG_CACHE_HOME/multiarch`, else `$HOME/.cache/multiarch`.
//!
//! Every directory from `/` to the entry is opened and checked by
//! [`crate::walk`]'s trust rule; the root itself must be the effective
//! user's with mode 0700. The entry is opened (`O_PATH | O_NOFOLLOW`)
//! relative to its held directory and checked on that descriptor: a regular
//! file of the effective user, not writable by group or others, executable
//! by its owner, of the build's exact size. The launcher then executes that
//! descriptor (see [`crate::exec_linux::exec_entry`]), so the inode checked
//! is the inode run. A new entry is written into an unnamed `O_TMPFILE` and
//! linked into place only when complete (see [`crate::tmpfile`]).

use crate::bformat;
use crate::bundle::{Blob, Bundle};
use crate::exec_linux::{write_build_file, ExecError};
use crate::sys::{self, Errno, Fd, Stat};
use crate::text::Escaped;
use crate::tmpfile;
use crate::walk::{self, c_name, sys_error, Dir, Message, Name, Path, WalkError};

/// The cache root: `$XDG_CACHE_HOME/multiarch`, else `$HOME/.cache/multiarch`.
/// Relative values are ignored, as the XDG spec asks.
pub fn cache_root<'a>(env: impl IntoIterator<Item = &'a [u8]>) -> Option<Path> {
    let (mut xdg, mut home) = (None, None);
    // The first of repeated entries wins, as with getenv.
    for entry in env {
        if let Some(v) = entry.strip_prefix(b"XDG_CACHE_HOME=") {
            xdg.get_or_insert(v);
        } else if let Some(v) = entry.strip_prefix(b"HOME=") {
            home.get_or_insert(v);
        }
    }
    let absolute = |v: &&[u8]| v.first() == Some(&b'/');
    let (dir, suffix): (&[u8], &[u8]) = match (xdg.filter(absolute), home.filter(absolute)) {
        (Some(x), _) => (x, b"multiarch"),
        (None, Some(h)) => (h, b".cache/multiarch"),
        (None, None) => return None,
    };
    let mut root = Path::from_bytes(dir);
    if !dir.ends_with(b"/") {
        root.push(b"/");
    }
    root.push(suffix);
    Some(root)
}

/// The cache of the effective user at a root path.
#[derive(Debug)]
pub struct Cache {
    root: Path,
    euid: u32,
}

/// A checked cache entry, held open: what the launcher executes.
#[derive(Debug)]
pub struct Entry {
    /// `O_PATH` descriptor of the entry.
    pub fd: Fd,
    /// Its path, symbolic links above the root resolved: `/proc/PID/exe`
    /// of the program shows it.
    pub path: Path,
}

/// What [`Cache::lookup`] found.
#[derive(Debug)]
pub enum Lookup {
    /// A trusted, complete entry.
    Hit(Entry),
    /// No usable entry; [`Cache::install`] writes one.
    Miss,
}

fn cache_err(m: Message) -> ExecError {
    ExecError::Cache(m)
}

impl From<WalkError> for ExecError {
    fn from(e: WalkError) -> ExecError {
        match e {
            WalkError::Missing => ExecError::Cache(bformat!(1024, "a directory is missing")),
            WalkError::Failed(m) => ExecError::Cache(m),
        }
    }
}

impl Cache {
    /// A cache at `root` for the effective user.
    pub fn new(root: Path) -> Cache {
        Cache { root, euid: sys::geteuid() }
    }

    /// The root must be the effective user's own and private.
    fn check_root(&self, root: &Dir) -> Result<(), ExecError> {
        let p = root.path.as_bytes();
        if root.st.uid != self.euid {
            return Err(cache_err(bformat!(
                1024,
                "{} is owned by uid {}, not {}: not trusted",
                Escaped(p),
                root.st.uid,
                self.euid
            )));
        }
        if root.st.mode & 0o077 != 0 {
            return Err(cache_err(bformat!(
                1024,
                "{} has mode {:o}; it must be 0700: not trusted",
                Escaped(p),
                root.st.mode & 0o7777
            )));
        }
        Ok(())
    }

    /// Finds the entry of `blob`: walks to the root without creating
    /// anything, then opens the hash directory and the entry relative to it.
    pub fn lookup(&self, blob: &Blob, program: &str) -> Result<Lookup, ExecError> {
        let root = match walk::open_dir(self.root.as_bytes(), self.euid, false) {
            Ok(root) => root,
            Err(WalkError::Missing) => return Ok(Lookup::Miss),
            Err(e) => return Err(e.into()),
        };
        self.check_root(&root)?;
        let dir = match walk::open_child(&root, &blob.cache_key(), self.euid, false) {
            Ok(dir) => dir,
            Err(WalkError::Missing) => return Ok(Lookup::Miss),
            Err(e) => return Err(e.into()),
        };
        self.open_entry(&dir, blob, program)
    }

    /// Opens `program` in `dir` and checks it on the descriptor.
    fn open_entry(&self, dir: &Dir, blob: &Blob, program: &str) -> Result<Lookup, ExecError> {
        let name = Name::from_bytes(program.as_bytes());
        let c = c_name(&name, &dir.path).map_err(cache_err)?;
        let mut path = dir.path.clone();
        path.push(b"/");
        path.push(program.as_bytes());
        let fd = match sys::openat(dir.fd.0, c, sys::O_PATH | sys::O_NOFOLLOW | sys::O_CLOEXEC, 0) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(Lookup::Miss),
            Err(e) => return Err(cache_err(sys_error("cannot open", path.as_bytes(), e))),
        };
        let st = sys::fstat(&fd).map_err(|e| cache_err(sys_error("cannot stat", path.as_bytes(), e)))?;
        if st.uid != self.euid {
            return Err(cache_err(bformat!(
                1024,
                "{} is owned by uid {}, not {}: not trusted",
                Escaped(path.as_bytes()),
                st.uid,
                self.euid
            )));
        }
        Ok(if sound(&st, blob) { Lookup::Hit(Entry { fd, path }) } else { Lookup::Miss })
    }

    /// Writes the entry of `blob` (an unnamed file, linked into place once
    /// complete), removes stale temporary files and the entries of `program`
    /// that belong to no build of `bundle`, and returns the entry, checked.
    pub fn install(&self, bundle: &Bundle, blob: &Blob) -> Result<Entry, ExecError> {
        let root = walk::open_dir(self.root.as_bytes(), self.euid, true)?;
        self.check_root(&root)?;
        let key = blob.cache_key();
        let dir = walk::open_child(&root, &key, self.euid, true)?;
        let name = Name::from_bytes(bundle.program.as_bytes());
        let c = c_name(&name, &dir.path).map_err(cache_err)?;
        tmpfile::write_and_link(&dir, c, |fd| write_build_file(fd, blob))?;
        // Without a clock, no file can be told stale.
        if let Ok(now) = sys::now_secs() {
            tmpfile::remove_stale(&dir, self.euid, None, now);
        }
        self.remove_other_versions(&root, bundle);
        match self.open_entry(&dir, blob, bundle.program)? {
            Lookup::Hit(entry) => Ok(entry),
            Lookup::Miss => Err(cache_err(bformat!(
                1024,
                "{}/{} changed after it was written",
                Escaped(dir.path.as_bytes()),
                Escaped(bundle.program.as_bytes())
            ))),
        }
    }

    /// Removes `<root>/<hash>/<program>` (and temporary files of `program`)
    /// for every hash that is not one of this bundle's builds, and the
    /// hash directory once empty, so the cache holds one version of each
    /// program.
    fn remove_other_versions(&self, root: &Dir, bundle: &Bundle) {
        // At most 64 variants (`multiarch pack` packs no more), so at most
        // 64 keys; a longer table only keeps fewer old versions away.
        let mut ours = [[0u8; 32]; 64];
        let n = bundle.variants.len().min(ours.len());
        for (key, variant) in ours.iter_mut().zip(bundle.variants) {
            *key = variant.blob.cache_key();
        }
        // Up to 16 old versions per start; any more go on later starts.
        let mut old: [[u8; 32]; 16] = [[0; 32]; 16];
        let mut found = 0;
        // Collect first, delete after: unlinking while reading the
        // directory may make getdents skip or repeat entries.
        root.for_each_name(|name| {
            if let Ok(key) = <[u8; 32]>::try_from(name) {
                if !ours[..n].contains(&key) && found < old.len() {
                    old[found] = key;
                    found += 1;
                }
            }
        });
        let program = Name::from_bytes(bundle.program.as_bytes());
        let Some(program_c) = program.as_cstr() else { return };
        for key in &old[..found] {
            let Ok(dir) = walk::open_child(root, key, self.euid, false) else { continue };
            // Temporary files of this program there, of any age, are from
            // starts of an older version: they would keep the directory.
            tmpfile::remove_stale(&dir, self.euid, Some(bundle.program.as_bytes()), i64::MAX);
            let _ = sys::unlinkat(dir.fd.0, program_c, 0);
            if let Some(key_c) = Name::from_bytes(key).as_cstr() {
                // Only succeeds once no other program's entry is left in it.
                let _ = sys::unlinkat(root.fd.0, key_c, sys::AT_REMOVEDIR);
            }
        }
    }
}

/// Whether an entry's status says it is a complete build the effective
/// user wrote and may run: regular, not writable by group or others,
/// executable by its owner, of the build's size.
fn sound(st: &Stat, blob: &Blob) -> bool {
    st.kind() == sys::S_IFREG
        && st.mode & 0o022 == 0
        && st.mode & 0o100 != 0
        && u64::try_from(st.size).ok() == Some(blob.size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(env: &[&str]) -> Option<std::string::String> {
        cache_root(env.iter().map(|e| e.as_bytes())).map(|p| std::format!("{p}"))
    }

    #[test]
    fn cache_root_prefers_xdg_then_home_and_ignores_relative_paths() {
        assert_eq!(root(&["HOME=/h", "XDG_CACHE_HOME=/x"]), Some("/x/multiarch".into()));
        assert_eq!(root(&["HOME=/h"]), Some("/h/.cache/multiarch".into()));
        assert_eq!(root(&["HOME=/h", "XDG_CACHE_HOME=rel"]), Some("/h/.cache/multiarch".into()));
        assert_eq!(root(&["HOME=", "XDG_CACHE_HOME="]), None);
        assert_eq!(root(&["HOME=relative"]), None);
        assert_eq!(root(&[]), None);
        assert_eq!(root(&["XDG_CACHE_HOME=/x/"]), Some("/x/multiarch".into()));
        // The first of repeated entries wins, as with getenv.
        assert_eq!(root(&["HOME=/first", "HOME=/second"]), Some("/first/.cache/multiarch".into()));
    }
}
