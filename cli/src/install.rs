//! `multiarch install BUNDLE DIR`: lays every build of a bundle out ahead
//! of time, as `DIR/<key>/<program>`, the tree a launcher starts from
//! before its per-user cache (`multiarch_launcher::prepared`; the default
//! `DIR` a launcher looks in is `/usr/lib/multiarch`).
//!
//! - Every build is decoded and checked (size, checksum, SHA-256) before
//!   anything is written: a damaged bundle writes nothing.
//! - `<key>` is the first 16 bytes of the build's SHA-256 in hex, as the
//!   launcher computes it; `<program>` the bundle's program name, checked to
//!   be one file name.
//! - `DIR` is created (mode 0755) if it is missing; neither `DIR` nor a
//!   `<key>` directory may be a symbolic link (each is opened with
//!   `O_NOFOLLOW` and everything below is written relative to it).
//! - Each entry is written as `multiarch extract -o` writes a file: a new
//!   file in its directory, mode 0755 set on the descriptor, synced, renamed
//!   over the name; an entry already holding exactly the build (mode 0755)
//!   is left alone, so a rerun changes nothing. A failure leaves each entry
//!   either as it was or complete.
//! - Afterwards each entry is checked as a launcher run by root would check
//!   it (every directory from `/` root's or the installer's, not writable by
//!   group or others): a tree a launcher would pass over is reported, unless
//!   `--staging` says the tree is only packaged here (pkg_tar, an image
//!   layer) and placed elsewhere.

use crate::bundle_file::{self, Parsed};
use crate::output::{self, IfSame};
use crate::{open, sha256};
use anyhow::{bail, Context, Result};
use multiarch_launcher::walk::{self, WalkError};
use std::ffi::{CStr, CString};
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The mode of every directory and entry written: anyone may run the
/// builds, only the installer may change them.
pub const MODE: u32 = 0o755;

/// One build of the bundle, decoded and checked.
struct Build {
    /// For messages: `blob 1 (x86-64-v2 x86-64-v3)`.
    name: String,
    key: String,
    data: Vec<u8>,
    sha256: [u8; 32],
}

/// What [`install`] did with one entry.
#[derive(Debug, PartialEq, Eq)]
pub struct Installed {
    /// `DIR/<key>/<program>`.
    pub path: PathBuf,
    /// The blob, for humans.
    pub what: String,
    /// False when the entry already held the build and was left alone.
    pub written: bool,
    /// Why a launcher would not use it (see [`trust_problem`]).
    pub untrusted: Option<String>,
}

/// The launcher's directory name for a build: its SHA-256's first 16 bytes in hex.
pub fn key_of(sha256: &[u8; 32]) -> String {
    sha256::hex(&sha256[..16])
}

fn builds(path: &Path) -> Result<(Parsed, Vec<Build>)> {
    let (bytes, parsed) = open(path)?;
    crate::pack::check_program_name(&parsed.meta.program)
        .with_context(|| format!("{}: its table's program name", path.display()))?;
    let mut out = Vec::new();
    for (i, decoded) in bundle_file::decode_all(&parsed, &bytes).into_iter().enumerate() {
        let blob = &parsed.meta.blobs[i];
        let name = bundle_file::blob_name(&parsed.meta, i);
        let data =
            decoded.with_context(|| format!("{}: {name}: damaged; nothing installed", path.display()))?;
        out.push(Build { name, key: key_of(&blob.sha256), data, sha256: blob.sha256 });
    }
    Ok((parsed, out))
}

fn cstring(bytes: &[u8], what: &Path) -> Result<CString> {
    CString::new(bytes).with_context(|| format!("{}: holds a NUL byte", what.display()))
}

/// Opens the directory `name` in `parent` (or `AT_FDCWD`), never through
/// a symbolic link; creates it with [`MODE`] first when `create`. Returns
/// the descriptor and whether it was created.
fn open_dir_at(parent: Option<&OwnedFd>, name: &CStr, path: &Path, create: bool) -> Result<(OwnedFd, bool)> {
    const AT_FDCWD: i32 = -100;
    let at = parent.map_or(AT_FDCWD, |p| p.as_raw_fd());
    let mut created = false;
    if create {
        // SAFETY: `name` is NUL-terminated; mkdirat takes plain arguments.
        if unsafe { libc_mkdirat(at, name.as_ptr(), MODE) } == 0 {
            created = true;
        } else {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::AlreadyExists {
                let hint =
                    if e.kind() == std::io::ErrorKind::NotFound { " (its parent must exist)" } else { "" };
                return Err(e)
                    .with_context(|| format!("{}: cannot create the directory{hint}", path.display()));
            }
        }
    }
    const O_RDONLY: i32 = 0;
    const O_DIRECTORY: i32 = 0o200000;
    const O_NOFOLLOW: i32 = 0o400000;
    const O_CLOEXEC: i32 = 0o2000000;
    // SAFETY: `name` is NUL-terminated.
    let fd = unsafe { libc_openat(at, name.as_ptr(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        // ELOOP: a symlink at `name`; ENOTDIR: something else, or (with
        // O_NOFOLLOW | O_DIRECTORY) a symlink on some kernels.
        let kind = std::fs::symlink_metadata(path).map(|m| m.file_type());
        if kind.as_ref().is_ok_and(|k| k.is_symlink()) {
            bail!(
                "{}: is a symbolic link; give the real directory (nothing is written through a link)",
                path.display()
            );
        }
        if kind.as_ref().is_ok_and(|k| !k.is_dir()) {
            bail!("{}: exists and is not a directory", path.display());
        }
        return Err(e).with_context(|| format!("{}: cannot open the directory", path.display()));
    }
    // SAFETY: a descriptor the kernel just returned, owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    if created {
        // Whatever the umask: on the descriptor, which is what was made.
        File::from(fd.try_clone()?)
            .set_permissions(std::fs::Permissions::from_mode(MODE))
            .with_context(|| format!("{}: cannot chmod", path.display()))?;
    }
    Ok((fd, created))
}

use std::os::raw::{c_char, c_int};

// std offers no *at calls; the CLI links the C library anyway.
extern "C" {
    #[link_name = "mkdirat"]
    fn libc_mkdirat(dirfd: c_int, path: *const c_char, mode: u32) -> c_int;
    #[link_name = "openat"]
    fn libc_openat(dirfd: c_int, path: *const c_char, flags: c_int, ...) -> c_int;
}

/// A uid that owns nothing: the launcher of "any other user".
const STRANGER: u32 = u32::MAX - 1;

/// Why a launcher would pass over the entry at `entry` (absolute), or
/// `None`. Installed by root, the tree is for every user: checked as the
/// launcher of a user who owns nothing there checks it (only root trusted).
/// Installed by another user, it is for that user: checked with that uid.
pub fn trust_problem(entry: &Path, size: u64) -> Option<String> {
    let euid = multiarch_launcher::sys::geteuid();
    let runner = if euid == 0 { STRANGER } else { euid };
    let dir = entry.parent()?;
    match walk::open_dir(dir.as_os_str().as_bytes(), runner, false) {
        Ok(_) => {}
        Err(WalkError::Missing) => return Some(format!("{} is missing", dir.display())),
        Err(WalkError::Failed(why)) => return Some(why.to_string()),
    }
    let meta = match std::fs::symlink_metadata(entry) {
        Ok(m) => m,
        Err(e) => return Some(format!("{}: {e}", entry.display())),
    };
    let st = multiarch_launcher::sys::Stat {
        dev: meta.dev(),
        ino: meta.ino(),
        mode: meta.mode(),
        uid: meta.uid(),
        size: i64::try_from(meta.size()).unwrap_or(i64::MAX),
        mtime: meta.mtime(),
    };
    multiarch_launcher::prepared::check_entry(&st, size, runner, entry.as_os_str().as_bytes())
        .err()
        .map(|m| m.to_string().replace(&format!("uid {STRANGER}"), "another user"))
}

/// Installs every build of `bundle` into `dir` (see the module docs).
pub fn install(bundle: &Path, dir: &Path, staging: bool) -> Result<Vec<Installed>> {
    let (parsed, builds) = builds(bundle)?;
    let program = &parsed.meta.program;
    let (root, _) = open_dir_at(None, &cstring(dir.as_os_str().as_bytes(), dir)?, dir, true)?;
    let mut done = Vec::new();
    for build in &builds {
        let key_path = dir.join(&build.key);
        let (key_dir, created) =
            open_dir_at(Some(&root), &cstring(build.key.as_bytes(), dir)?, &key_path, true)?;
        if !created {
            // An older install's directory: give it the layout's mode.
            File::from(key_dir.try_clone()?)
                .set_permissions(std::fs::Permissions::from_mode(MODE))
                .with_context(|| format!("{}: cannot chmod", key_path.display()))?;
        }
        let entry = key_path.join(program);
        let name = cstring(program.as_bytes(), &entry)?;
        // A file holding the build but with another mode is written again.
        let right_mode = std::fs::symlink_metadata(&entry)
            .is_ok_and(|m| m.file_type().is_file() && m.mode() & 0o7777 == MODE);
        let if_same = if right_mode { IfSame::Keep } else { IfSame::Replace };
        let written = output::write_file_in(key_dir, &name, &entry, &build.data, MODE, if_same)
            .with_context(|| format!("{}: {}", bundle.display(), build.name))?;
        done.push(Installed { path: entry, what: build.name.clone(), written, untrusted: None });
    }
    if !staging {
        let abs = std::fs::canonicalize(dir).with_context(|| format!("{}: cannot resolve", dir.display()))?;
        for (item, build) in done.iter_mut().zip(&builds) {
            item.untrusted = trust_problem(&abs.join(&build.key).join(program), build.data.len() as u64);
        }
    }
    Ok(done)
}

/// Checks that `dir` holds every build of `bundle`, byte for byte, where
/// a launcher would use it. One line per build; an error names the first
/// problem.
pub fn check(bundle: &Path, dir: &Path) -> Result<String> {
    let (parsed, builds) = builds(bundle)?;
    let abs = std::fs::canonicalize(dir).with_context(|| format!("{}: cannot resolve", dir.display()))?;
    let mut out = String::new();
    let mut problems = Vec::new();
    for build in &builds {
        let entry = abs.join(&build.key).join(&parsed.meta.program);
        let problem = match std::fs::read(&entry) {
            Err(e) => Some(format!("{}: {e}", entry.display())),
            Ok(data) if sha256::digest(&data) != build.sha256 => {
                Some(format!("{}: holds other bytes than {}", entry.display(), build.name))
            }
            Ok(_) => trust_problem(&entry, build.data.len() as u64),
        };
        match problem {
            None => out.push_str(&format!("ok   {} {}\n", build.name, entry.display())),
            Some(p) => {
                out.push_str(&format!("BAD  {}: {p}\n", build.name));
                problems.push(p);
            }
        }
    }
    match problems.first() {
        None => Ok(out),
        Some(first) => {
            crate::print(&out)?;
            bail!("{}: {} of {} builds unusable: {first}", dir.display(), problems.len(), builds.len())
        }
    }
}
