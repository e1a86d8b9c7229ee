//! Writing a cache entry so that nothing half-written ever has a name, and
//! cleaning up after starts that were killed while writing one.
//!
//! The build is written into an unnamed `O_TMPFILE` in the entry's
//! directory and linked to the entry's name only when complete (systemd's
//! `link_tmpfile()`): a start killed while writing, or a decode that fails,
//! leaves nothing behind, and starts in different PID namespaces sharing a
//! cache cannot collide. Its writable descriptor is closed before it gets
//! its name, so another start never finds a complete entry that it cannot
//! execute (ETXTBSY). `linkat(fd, "", AT_EMPTY_PATH)` needs
//! `CAP_DAC_READ_SEARCH`; without it the file is linked through its
//! `/proc/self/fd/N` link with `AT_SYMLINK_FOLLOW`, as open(2) documents.
//!
//! Where the file system has no `O_TMPFILE` (or the file cannot be linked:
//! no capability and no `/proc`), the build goes to a named temporary file,
//! `.<program>.<16 random hex digits>.tmp` (from `getrandom`; never the
//! PID), created with `O_EXCL` and renamed onto the entry. A start killed
//! then leaves that file; [`remove_stale`] removes such files, and those of
//! older launchers (`.<program>.tmp.<pid>`), once they are
//! [`STALE_SECS`] old.

use crate::bformat;
use crate::exec_linux::ExecError;
use crate::sys::{self, Errno, Fd};
use crate::text::Buf;
#[cfg(test)]
use crate::text::Escaped;
use crate::walk::{sys_error, Dir, Name, Path};
use core::ffi::CStr;
use core::fmt::Write as _;

/// A temporary file this old is left over from a start that was killed:
/// writing even a large build takes well under a second.
pub const STALE_SECS: i64 = 600;

fn err(what: &str, dir: &Dir, name: &[u8], e: Errno) -> ExecError {
    let mut path: Path = dir.path.clone();
    path.push(b"/");
    path.push(name);
    ExecError::Cache(sys_error(what, path.as_bytes(), e))
}

/// Writes a file with `write` and gives it the name `name` in `dir` once
/// `write` succeeded, replacing what had that name.
pub fn write_and_link(
    dir: &Dir,
    name: &CStr,
    mut write: impl FnMut(&Fd) -> Result<(), ExecError>,
) -> Result<(), ExecError> {
    let flags = sys::O_TMPFILE | sys::O_WRONLY | sys::O_CLOEXEC;
    match sys::openat(dir.fd.0, c".", flags, 0o700) {
        Ok(fd) => {
            // The umask may have taken the execute bit: set the mode explicitly.
            sys::fchmod(&fd, 0o700).map_err(|e| err("cannot chmod a new file in", dir, b"", e))?;
            write(&fd)?;
            let fd = read_only(fd);
            match link_replacing(&fd, dir, name) {
                Ok(()) => return Ok(()),
                // Neither way of linking works here: write a named file.
                Err(Errno::ENOENT | Errno::EPERM | Errno::EACCES) => {}
                Err(e) => return Err(err("cannot link", dir, name.to_bytes(), e)),
            }
        }
        // No O_TMPFILE: before Linux 3.11 (EISDIR), or not on this file system.
        Err(Errno::EISDIR | Errno::EOPNOTSUPP | Errno::EINVAL) => {}
        Err(e) => return Err(err("cannot create a file in", dir, b"", e)),
    }
    write_named(dir, name, write)
}

/// A read-only descriptor of the written file `fd`, which is closed: a
/// file is never given its name while this start still holds it open for
/// writing, or another start that finds it complete would fail to execute
/// it (ETXTBSY). Reopened through `/proc/self/fd/N`; without `/proc`, `fd`
/// itself (linked then only with `CAP_DAC_READ_SEARCH`).
fn read_only(fd: Fd) -> Fd {
    let proc_path = bformat!(32, "/proc/self/fd/{}", fd.0);
    let reopened = proc_path
        .as_cstr()
        .ok_or(Errno::EINVAL)
        .and_then(|c| sys::openat(sys::AT_FDCWD, c, sys::O_RDONLY | sys::O_CLOEXEC, 0));
    match reopened {
        Ok(ro) => ro,
        Err(_) => fd,
    }
}

/// Links the unnamed file `fd` as `name` in `dir`, replacing an existing
/// entry (damaged, or written meanwhile by another start).
fn link_replacing(fd: &Fd, dir: &Dir, name: &CStr) -> Result<(), Errno> {
    match link(fd, dir, name) {
        Err(Errno::EEXIST) => {}
        other => return other,
    }
    // linkat never replaces: link under a temporary name, rename over.
    let (tmp, _) = temp_name(name.to_bytes());
    let tmp_c = tmp.as_cstr().ok_or(Errno::EINVAL)?;
    link(fd, dir, tmp_c)?;
    let renamed = sys::renameat(&dir.fd, tmp_c, name);
    if renamed.is_err() {
        let _ = sys::unlinkat(dir.fd.0, tmp_c, 0);
    }
    renamed
}

/// `linkat` of the unnamed file `fd` as `name` in `dir`.
fn link(fd: &Fd, dir: &Dir, name: &CStr) -> Result<(), Errno> {
    match sys::linkat(fd.0, c"", &dir.fd, name, sys::AT_EMPTY_PATH) {
        // Without CAP_DAC_READ_SEARCH.
        Err(Errno::ENOENT | Errno::EPERM) => {}
        other => return other,
    }
    let proc_path = bformat!(32, "/proc/self/fd/{}", fd.0);
    let c = proc_path.as_cstr().ok_or(Errno::EINVAL)?;
    sys::linkat(sys::AT_FDCWD, c, &dir.fd, name, sys::AT_SYMLINK_FOLLOW)
}

/// Writes into a new file with an unpredictable name and renames it onto
/// `name`; removes it again on any failure.
fn write_named(
    dir: &Dir,
    name: &CStr,
    mut write: impl FnMut(&Fd) -> Result<(), ExecError>,
) -> Result<(), ExecError> {
    let flags = sys::O_WRONLY | sys::O_CREAT | sys::O_EXCL | sys::O_NOFOLLOW | sys::O_CLOEXEC;
    let mut tries = 0;
    let (tmp, fd) = loop {
        let (tmp, random) = temp_name(name.to_bytes());
        let c = tmp.as_cstr().filter(|_| !tmp.overflowed()).ok_or_else(|| {
            err("cannot create a temporary file for", dir, name.to_bytes(), Errno::ENAMETOOLONG)
        })?;
        match sys::openat(dir.fd.0, c, flags, 0o700) {
            Ok(fd) => break (tmp, fd),
            // A collision (or, without getrandom, a guessable name): retry.
            Err(Errno::EEXIST) if tries < 8 || !random => tries += 1,
            Err(e) => return Err(err("cannot create", dir, tmp.as_bytes(), e)),
        }
        if tries > 16 {
            return Err(err("cannot create", dir, tmp.as_bytes(), Errno::EEXIST));
        }
    };
    let tmp_c = tmp.as_cstr().ok_or_else(|| err("cannot create", dir, tmp.as_bytes(), Errno::EINVAL))?;
    let written = sys::fchmod(&fd, 0o700)
        .map_err(|e| err("cannot chmod", dir, tmp.as_bytes(), e))
        .and_then(|()| write(&fd))
        .and_then(|()| {
            // Closed before it gets its name: see `read_only`.
            drop(fd);
            sys::renameat(&dir.fd, tmp_c, name)
                .map_err(|e| err("cannot rename into", dir, name.to_bytes(), e))
        });
    if written.is_err() {
        let _ = sys::unlinkat(dir.fd.0, tmp_c, 0);
    }
    written
}

/// `.<name>.<16 hex digits>.tmp`, and whether the digits are random (from
/// `getrandom`) rather than from the time-stamp counter.
fn temp_name(name: &[u8]) -> (Name, bool) {
    let mut bytes = [0u8; 8];
    let random = sys::getrandom(&mut bytes, sys::GRND_NONBLOCK).is_ok();
    let value = if random {
        u64::from_ne_bytes(bytes)
    } else {
        // Unique enough between concurrent starts: the names only need to
        // differ, as the directory is the user's own.
        let tsc = sys::ticks();
        tsc ^ ((&raw const bytes) as usize as u64).rotate_left(32)
    };
    let mut tmp = Name::new();
    tmp.push(b".");
    tmp.push(name);
    let _ = write!(tmp, ".{value:016x}.tmp");
    (tmp, random)
}

/// Whether `name` is a temporary file of this launcher (`.<p>.<hex>.tmp`)
/// or of older ones (`.<p>.tmp.<pid>`), of program `program` if given.
fn is_temp_name(name: &[u8], program: Option<&[u8]>) -> bool {
    let Some(rest) = name.strip_prefix(b".") else { return false };
    if let Some(p) = program {
        match rest.strip_prefix(p).and_then(|r| r.strip_prefix(b".")) {
            Some(_) => {}
            None => return false,
        }
    }
    rest.ends_with(b".tmp") || rest.windows(5).any(|w| w == b".tmp.")
}

/// Removes temporary files in `dir` that are regular, owned by `euid` and
/// at least [`STALE_SECS`] old at `now` (pass `i64::MAX` for any age),
/// those of `program` only if given. At most 16 per call.
pub fn remove_stale(dir: &Dir, euid: u32, program: Option<&[u8]>, now: i64) {
    let mut names: [Buf<256>; 16] = core::array::from_fn(|_| Buf::new());
    let mut found = 0;
    dir.for_each_name(|name| {
        if found < names.len() && is_temp_name(name, program) {
            names[found] = Buf::from_bytes(name);
            found += 1;
        }
    });
    for name in &names[..found] {
        let Some(c) = name.as_cstr().filter(|_| !name.overflowed()) else { continue };
        let Ok(st) = sys::fstatat(&dir.fd, c, sys::AT_SYMLINK_NOFOLLOW) else { continue };
        if st.kind() == sys::S_IFREG && st.uid == euid && now.saturating_sub(st.mtime) >= STALE_SECS {
            let _ = sys::unlinkat(dir.fd.0, c, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(name: &[u8]) -> std::string::String {
        std::format!("{}", Escaped(name))
    }

    #[test]
    fn temp_names_are_unpredictable_and_recognised() {
        let (a, random) = temp_name(b"app");
        let (b, _) = temp_name(b"app");
        assert!(random, "getrandom failed");
        assert_ne!(a.as_bytes(), b.as_bytes());
        assert_eq!(a.as_bytes().len(), ".app.".len() + 16 + ".tmp".len(), "{}", shown(a.as_bytes()));
        assert!(is_temp_name(a.as_bytes(), None) && is_temp_name(a.as_bytes(), Some(b"app")));
        assert!(!is_temp_name(a.as_bytes(), Some(b"ap")));
        // Older launchers' names.
        assert!(is_temp_name(b".app.tmp.1234", Some(b"app")));
        for not in [&b"app"[..], b".app", b"0123456789abcdef0123456789abcdef", b"app.tmp"] {
            assert!(!is_temp_name(not, None), "{}", shown(not));
        }
    }
}
