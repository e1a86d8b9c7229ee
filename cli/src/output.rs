//! Writing an output file that nobody else can redirect, and that is never
//! seen half-written (issue 10, defects 1 and 2).
//!
//! `multiarch extract -o FILE` often runs as root, into a directory that
//! others may write. So:
//!
//! - the output's directory is opened once, and every later step is
//!   relative to that descriptor (`openat`, `linkat`, `renameat`): a
//!   directory renamed or replaced meanwhile changes nothing;
//! - the bytes go to an unnamed `O_TMPFILE` in that directory, so nothing
//!   half-written ever has a name; where the file system has no
//!   `O_TMPFILE`, to a new file of an unpredictable name, created with
//!   `O_CREAT | O_EXCL | O_NOFOLLOW` (never a name someone planted, nor a
//!   symlink);
//! - its mode is set on the descriptor (`fchmod`), it is `fsync`ed, linked
//!   under an unpredictable name and renamed over FILE: a symlink at FILE
//!   is replaced, never followed;
//! - FILE itself is never opened or read: an existing FILE that is not a
//!   regular file (a device such as `/dev/null`, a FIFO, a directory, a
//!   symlink) is refused, so a device node is never replaced by a file.

use anyhow::{bail, Context, Result};
use std::ffi::{CStr, CString, OsStr};
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const AT_FDCWD: i32 = -100;
const AT_SYMLINK_NOFOLLOW: usize = 0x100;
const AT_SYMLINK_FOLLOW: usize = 0x400;
const AT_EMPTY_PATH: usize = 0x1000;
const O_RDONLY: usize = 0;
const O_WRONLY: usize = 1;
const O_CREAT: usize = 0o100;
const O_EXCL: usize = 0o200;
const O_NONBLOCK: usize = 0o4000;
const O_DIRECTORY: usize = 0o200000;
const O_NOFOLLOW: usize = 0o400000;
const O_CLOEXEC: usize = 0o2000000;
const O_TMPFILE: usize = 0o20000000 | O_DIRECTORY;
const S_IFMT: u32 = 0o170000;
const S_IFREG: u32 = 0o100000;
const S_IFDIR: u32 = 0o040000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;
const S_IFBLK: u32 = 0o060000;
const S_IFIFO: u32 = 0o010000;
const S_IFSOCK: u32 = 0o140000;

const EPERM: i32 = 1;
const ENOENT: i32 = 2;
const EEXIST: i32 = 17;

const SYS_OPENAT: usize = 257;
const SYS_NEWFSTATAT: usize = 262;
const SYS_UNLINKAT: usize = 263;
const SYS_RENAMEAT: usize = 264;
const SYS_LINKAT: usize = 265;

/// A raw system call of up to five arguments (x86-64 Linux: number in rax,
/// arguments in rdi, rsi, rdx, r10, r8; rcx and r11 clobbered): the `*at`
/// calls std does not offer. Returns the result or the errno.
///
/// # Safety
/// The arguments must be valid for system call `n`: pointers to live,
/// NUL-terminated paths or to buffers of the size the call writes.
unsafe fn syscall5(n: usize, a: usize, b: usize, c: usize, d: usize, e: usize) -> Result<usize, i32> {
    let ret: isize;
    // SAFETY: the caller vouches for the arguments; the asm follows the
    // kernel's register convention and touches no stack.
    unsafe {
        std::arch::asm!("syscall", inlateout("rax") n as isize => ret, in("rdi") a, in("rsi") b,
             in("rdx") c, in("r10") d, in("r8") e, lateout("rcx") _, lateout("r11") _,
             options(nostack, preserves_flags));
    }
    if (-4095..0).contains(&ret) {
        Err(-ret as i32)
    } else {
        Ok(ret as usize)
    }
}

fn os_err(errno: i32) -> std::io::Error {
    std::io::Error::from_raw_os_error(errno)
}

fn openat(dir: i32, name: &CStr, flags: usize, mode: u32) -> std::io::Result<OwnedFd> {
    // SAFETY: `name` is NUL-terminated and outlives the call.
    let fd = unsafe { syscall5(SYS_OPENAT, dir as usize, name.as_ptr() as usize, flags, mode as usize, 0) }
        .map_err(os_err)?;
    // SAFETY: a descriptor the kernel just returned, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// The file type bits of `name` in `dir`, not following a symlink.
fn lstat_at(dir: &OwnedFd, name: &CStr) -> std::io::Result<(u32, u64)> {
    // x86-64 `struct stat` is 144 bytes: st_mode at 24, st_size at 48.
    let mut buf = [0u64; 18];
    // SAFETY: `name` is NUL-terminated; `buf` is the 144 bytes the kernel writes.
    unsafe {
        syscall5(
            SYS_NEWFSTATAT,
            dir.as_raw_fd() as usize,
            name.as_ptr() as usize,
            buf.as_mut_ptr() as usize,
            AT_SYMLINK_NOFOLLOW,
            0,
        )
    }
    .map_err(os_err)?;
    Ok((buf[3] as u32 & S_IFMT, buf[6]))
}

fn unlink_at(dir: &OwnedFd, name: &CStr) {
    // SAFETY: `name` is NUL-terminated.
    let _ = unsafe { syscall5(SYS_UNLINKAT, dir.as_raw_fd() as usize, name.as_ptr() as usize, 0, 0, 0) };
}

fn rename_at(dir: &OwnedFd, from: &CStr, to: &CStr) -> std::io::Result<()> {
    let d = dir.as_raw_fd() as usize;
    // SAFETY: both names are NUL-terminated.
    unsafe { syscall5(SYS_RENAMEAT, d, from.as_ptr() as usize, d, to.as_ptr() as usize, 0) }
        .map(drop)
        .map_err(os_err)
}

/// Gives the unnamed file `fd` the name `name` in `dir`.
fn link_tmpfile(fd: &File, dir: &OwnedFd, name: &CStr) -> std::io::Result<()> {
    let empty = c"";
    let d = dir.as_raw_fd() as usize;
    // SAFETY: both paths are NUL-terminated.
    let linked = unsafe {
        syscall5(
            SYS_LINKAT,
            fd.as_raw_fd() as usize,
            empty.as_ptr() as usize,
            d,
            name.as_ptr() as usize,
            AT_EMPTY_PATH,
        )
    };
    match linked {
        Ok(_) => Ok(()),
        // AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; others link through
        // /proc, which names the same open file (linkat(2)).
        Err(ENOENT | EPERM) => {
            let proc =
                CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).map_err(std::io::Error::other)?;
            // SAFETY: both paths are NUL-terminated.
            unsafe {
                syscall5(
                    SYS_LINKAT,
                    AT_FDCWD as usize,
                    proc.as_ptr() as usize,
                    d,
                    name.as_ptr() as usize,
                    AT_SYMLINK_FOLLOW,
                )
            }
            .map(drop)
            .map_err(os_err)
        }
        Err(e) => Err(os_err(e)),
    }
}

/// A name no one can guess: `.multiarch-<32 hex digits>.tmp`, from the
/// random keys std seeds its hash maps with.
fn unpredictable_name() -> CString {
    let random = || std::collections::hash_map::RandomState::new().build_hasher().finish();
    let name = format!(".multiarch-{:016x}{:016x}.tmp", random(), random());
    CString::new(name).unwrap_or_default()
}

/// What is at an output path: nothing, or a regular file of this size.
fn existing(dir: &OwnedFd, name: &CStr, path: &Path) -> Result<Option<u64>> {
    match lstat_at(dir, name) {
        Ok((S_IFREG, size)) => Ok(Some(size)),
        Ok((kind, _)) => {
            let what = match kind {
                S_IFDIR => "a directory",
                S_IFLNK => "a symbolic link",
                S_IFCHR => "a character device",
                S_IFBLK => "a block device",
                S_IFIFO => "a FIFO",
                S_IFSOCK => "a socket",
                _ => "not a regular file",
            };
            bail!(
                "{}: is {what}; only a regular file is replaced: remove it or choose another path",
                path.display()
            )
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("{}: cannot stat", path.display())),
    }
}

/// The directory and file name of an output path; the name must be one.
fn split(path: &Path) -> Result<(&Path, CString)> {
    let bytes = path.as_os_str().as_bytes();
    let cut = bytes.iter().rposition(|&b| b == b'/');
    let (dir, name) = match cut {
        Some(0) => (Path::new("/"), &bytes[1..]),
        Some(i) => (Path::new(OsStr::from_bytes(&bytes[..i])), &bytes[i + 1..]),
        None => (Path::new("."), bytes),
    };
    if name.is_empty() || name == b"." || name == b".." {
        bail!("{}: names a directory, not a file: give a file name", path.display());
    }
    let name = CString::new(name).with_context(|| format!("{}: holds a NUL byte", path.display()))?;
    Ok((dir, name))
}

/// Whether to skip the write when the file already holds exactly the bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IfSame {
    /// Replace it anyway (the output is never read).
    Replace,
    /// Leave a regular file that holds exactly these bytes alone, mtime and
    /// all (for build tools); it is read only when its size matches.
    Keep,
}

/// Writes `bytes` to `path` with `mode`, atomically and without following
/// or replacing anything but a regular file (see the module docs).
pub fn write_file(path: &Path, bytes: &[u8], mode: u32, if_same: IfSame) -> Result<()> {
    let (dir_path, name) = split(path)?;
    let dir = openat(
        AT_FDCWD,
        &CString::new(dir_path.as_os_str().as_bytes())
            .with_context(|| format!("{}: holds a NUL byte", path.display()))?,
        O_RDONLY | O_DIRECTORY | O_CLOEXEC,
        0,
    )
    .with_context(|| format!("{}: cannot open the directory {}", path.display(), dir_path.display()))?;
    write_file_in(dir, &name, path, bytes, mode, if_same).map(drop)
}

/// [`write_file`] into the directory held open as `dir`: the file `name`
/// there (`path` names it in messages). Returns whether it was written
/// (`false`: kept, with [`IfSame::Keep`]).
pub fn write_file_in(
    dir: OwnedFd,
    name: &CStr,
    path: &Path,
    bytes: &[u8],
    mode: u32,
    if_same: IfSame,
) -> Result<bool> {
    let old = existing(&dir, name, path)?;
    if if_same == IfSame::Keep && old == Some(bytes.len() as u64) && holds(&dir, name, bytes) {
        return Ok(false);
    }
    let tmp =
        write_temporary(&dir, bytes, mode).with_context(|| format!("{}: cannot write", path.display()))?;
    // Refuse anything but a regular file planted meanwhile, too: renaming
    // over a device node would replace the node itself.
    let placed = existing(&dir, name, path).and_then(|_| {
        rename_at(&dir, &tmp, name)
            .with_context(|| format!("{}: cannot rename the new file into place", path.display()))
    });
    if let Err(e) = placed {
        unlink_at(&dir, &tmp);
        return Err(e);
    }
    // The rename itself reaches the disk with the directory.
    File::from(dir).sync_all().with_context(|| format!("{}: cannot sync its directory", path.display()))?;
    Ok(true)
}

/// Whether the regular file `name` in `dir` holds exactly `bytes`.
fn holds(dir: &OwnedFd, name: &CStr, bytes: &[u8]) -> bool {
    let Ok(fd) = openat(dir.as_raw_fd(), name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0) else {
        return false;
    };
    let mut file = File::from(fd);
    let regular = file.metadata().is_ok_and(|m| m.is_file() && m.len() == bytes.len() as u64);
    let mut old = Vec::new();
    regular
        && Read::by_ref(&mut file).take(bytes.len() as u64 + 1).read_to_end(&mut old).is_ok()
        && old == bytes
}

/// Writes `bytes` to a new file in `dir` with `mode`, synced, and returns
/// the unpredictable name it got.
fn write_temporary(dir: &OwnedFd, bytes: &[u8], mode: u32) -> std::io::Result<CString> {
    let fill = |file: &mut File| -> std::io::Result<()> {
        // On the descriptor: nothing else can be changed by it.
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.write_all(bytes)?;
        file.sync_all()
    };
    // An unnamed file, linked once complete.
    if let Ok(fd) = openat(dir.as_raw_fd(), c".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0o600) {
        let mut file = File::from(fd);
        fill(&mut file)?;
        for _ in 0..16 {
            let name = unpredictable_name();
            match link_tmpfile(&file, dir, &name) {
                Ok(()) => return Ok(name),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                // No way to name it (no /proc, no capability): write a named one.
                Err(_) => break,
            }
        }
    }
    // No O_TMPFILE here (or no way to link it): a new file, never an
    // existing one or a symlink, with a name nobody can plant in advance.
    let flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    let mut last = os_err(EEXIST);
    for _ in 0..16 {
        let name = unpredictable_name();
        match openat(dir.as_raw_fd(), &name, flags, 0o600) {
            Ok(fd) => {
                let mut file = File::from(fd);
                return match fill(&mut file) {
                    Ok(()) => Ok(name),
                    Err(e) => {
                        unlink_at(dir, &name);
                        Err(e)
                    }
                };
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    fn tempdir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("multiarch-output-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn writes_replaces_and_sets_the_mode_whatever_the_umask() {
        let d = tempdir("write");
        let out = d.join("app");
        write_file(&out, b"one", 0o755, IfSame::Replace).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"one");
        assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o7777, 0o755);
        write_file(&out, b"two!", 0o700, IfSame::Replace).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"two!");
        assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o7777, 0o700);
        // Nothing else is left in the directory.
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn symlinks_are_refused_not_followed() {
        let d = tempdir("symlink");
        let victim = d.join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let link = d.join("out");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let err = format!("{:#}", write_file(&link, b"evil", 0o755, IfSame::Replace).unwrap_err());
        assert!(err.contains("is a symbolic link") && err.contains("out"), "{err}");
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn non_regular_targets_are_refused_and_left_alone() {
        let d = tempdir("special");
        std::fs::create_dir(d.join("dir")).unwrap();
        let fifo = d.join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let mut cases = vec![(d.join("dir"), "a directory"), (fifo.clone(), "a FIFO")];
        // A null device of the test's own (root only), never the real one.
        let null = d.join("null");
        if std::process::Command::new("mknod")
            .arg(&null)
            .args(["c", "1", "3"])
            .status()
            .is_ok_and(|s| s.success())
        {
            cases.push((null.clone(), "a character device"));
        }
        for (target, what) in &cases {
            let err = format!("{:#}", write_file(target, b"x", 0o755, IfSame::Replace).unwrap_err());
            assert!(err.contains(what), "{err}");
        }
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
        if null.exists() {
            assert!(std::fs::metadata(&null).unwrap().file_type().is_char_device());
        }
        for bad in ["", ".", "..", "a/"] {
            assert!(write_file(Path::new(bad), b"x", 0o644, IfSame::Replace).is_err(), "{bad:?}");
        }
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn identical_files_are_kept_when_asked() {
        let d = tempdir("keep");
        let out = d.join("gen.rs");
        write_file(&out, b"same", 0o644, IfSame::Keep).unwrap();
        let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&out).unwrap());
        write_file(&out, b"same", 0o644, IfSame::Keep).unwrap();
        assert_eq!(std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&out).unwrap()), ino);
        write_file(&out, b"same", 0o644, IfSame::Replace).unwrap();
        assert_ne!(std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&out).unwrap()), ino);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
