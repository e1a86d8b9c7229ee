//! Opening a directory one path component at a time from `/`, checking every
//! directory on the way, so that the cache is used only where nobody but the
//! effective user and root can change what its paths name.
//!
//! The model is OpenSSH's `safe_path()` and systemd's `chase()`: each
//! component is opened with `openat(O_PATH | O_NOFOLLOW)` relative to the
//! directory held before it and checked with `fstat` on that descriptor, so
//! what is checked is what the next step uses; nothing is resolved by path
//! again later. `openat2(RESOLVE_NO_SYMLINKS)` would resolve the whole path
//! in one call but check none of the directories in between, so the walk
//! needs a descriptor per component anyway and works the same on every
//! kernel since 3.6.
//!
//! # The trust rule
//!
//! A directory on the way is trusted when
//! - it is owned by root or by the effective user, and
//! - neither its group nor others may write it, unless it has the sticky bit
//!   (as `/tmp`): there others may add entries but not rename or remove ours,
//!   and the next component must pass this rule too, so it is root's or ours.
//!
//! A symbolic link on the way is followed only when it is owned by root or
//! the effective user (it lies in a trusted directory, so nobody else can
//! have replaced it); its target is walked by the same rule, so it can only
//! lead to trusted directories. `..` opens the real parent and checks it.
//! Anything else (a directory of another user, a group-writable `~/.cache`
//! under umask 002, a symlink planted by another user in `/tmp`) makes the
//! walk fail with a message naming the path and why.

use crate::bformat;
use crate::sys::{self, Errno, Fd, Stat};
use crate::text::{Buf, Escaped};

/// A path: at most `PATH_MAX` (4096) bytes with its NUL, as the kernel takes.
pub type Path = Buf<4096>;
/// An error message.
pub type Message = Buf<1024>;

/// How many symbolic links one walk follows at most (the kernel's limit).
const MAX_LINKS: u32 = 40;

/// A directory held open, checked by the trust rule.
#[derive(Debug)]
pub struct Dir {
    /// An `O_PATH` (or, for one just created, `O_RDONLY`) descriptor.
    pub fd: Fd,
    /// Its status when it was checked.
    pub st: Stat,
    /// Where it is, symbolic links resolved: for messages, and for the
    /// last-resort `execve` by path (see [`crate::exec_linux`]).
    pub path: Path,
}

impl Dir {
    /// Calls `f` with the name of every entry (but `.` and `..`) of the
    /// directory. Reads nothing if it cannot be opened for reading.
    pub fn for_each_name(&self, mut f: impl FnMut(&[u8])) {
        let flags = sys::O_RDONLY | sys::O_DIRECTORY | sys::O_CLOEXEC;
        let Ok(fd) = sys::openat(self.fd.0, c".", flags, 0) else { return };
        let mut buf = [0u8; 4096];
        while let Ok(filled @ 1..) = sys::getdents64(&fd, &mut buf) {
            let mut at = 0;
            // struct linux_dirent64: ino u64, off i64, reclen u16, type u8, name.
            while at + 19 < filled.min(buf.len()) {
                let reclen = usize::from(u16::from_ne_bytes([buf[at + 16], buf[at + 17]]));
                if reclen == 0 || at + reclen > filled {
                    break;
                }
                let name = &buf[at + 19..at + reclen];
                let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
                if name != b"." && name != b".." {
                    f(name);
                }
                at += reclen;
            }
        }
    }
}

/// Why a walk stopped.
#[derive(Debug)]
pub enum WalkError {
    /// A component does not exist (and the walk was not to create it).
    Missing,
    /// Anything else, said in a message that names the path.
    Failed(Message),
}

impl From<Message> for WalkError {
    fn from(m: Message) -> WalkError {
        WalkError::Failed(m)
    }
}

/// A failed system call on `path`, as a message.
pub fn sys_error(what: &str, path: &[u8], errno: Errno) -> Message {
    bformat!(1024, "{what} {}: {errno}", Escaped(path))
}

/// Checks the trust rule for the directory `path` whose status is `st`.
pub fn check_dir(st: &Stat, euid: u32, path: &[u8]) -> Result<(), Message> {
    if st.kind() != sys::S_IFDIR {
        return Err(bformat!(1024, "{} is not a directory", Escaped(path)));
    }
    check_owner(st, euid, path)?;
    if st.mode & 0o022 != 0 && st.mode & sys::S_ISVTX == 0 {
        return Err(bformat!(
            1024,
            "{} has mode {:o}, writable by others: not trusted",
            Escaped(path),
            st.mode & 0o7777
        ));
    }
    Ok(())
}

fn check_owner(st: &Stat, euid: u32, path: &[u8]) -> Result<(), Message> {
    if st.uid == 0 || st.uid == euid {
        return Ok(());
    }
    Err(bformat!(
        1024,
        "{} is owned by uid {}, not by root or uid {euid}: not trusted",
        Escaped(path),
        st.uid
    ))
}

/// Opens `/`, checked.
fn open_root(euid: u32) -> Result<(Fd, Stat), WalkError> {
    let fd = sys::openat(sys::AT_FDCWD, c"/", sys::O_PATH | sys::O_DIRECTORY | sys::O_CLOEXEC, 0)
        .map_err(|e| sys_error("cannot open", b"/", e))?;
    let st = sys::fstat(&fd).map_err(|e| sys_error("cannot stat", b"/", e))?;
    check_dir(&st, euid, b"/")?;
    Ok((fd, st))
}

/// Appends `/name` to `path` (no second `/` after the root).
fn push_name(path: &mut Path, name: &[u8]) {
    if !path.as_bytes().ends_with(b"/") {
        path.push(b"/");
    }
    path.push(name);
}

/// One path component, with its NUL: at most `NAME_MAX` (255) bytes.
pub type Name = Buf<256>;

/// `name` as a C string, or the error that it is too long.
pub fn c_name<'a>(name: &'a Name, dir: &Path) -> Result<&'a core::ffi::CStr, Message> {
    match name.as_cstr() {
        Some(c) if !name.overflowed() => Ok(c),
        _ => Err(sys_error("name too long in", dir.as_bytes(), Errno::ENAMETOOLONG)),
    }
}

/// Opens the directory `name` in `dir` and checks it; with `create`, makes
/// it (mode 0700 whatever the umask) when it is missing.
pub fn open_child(dir: &Dir, name: &[u8], euid: u32, create: bool) -> Result<Dir, WalkError> {
    let mut path = dir.path.clone();
    push_name(&mut path, name);
    let name = Name::from_bytes(name);
    let c = c_name(&name, &dir.path)?;
    match step(&dir.fd, c, &path, euid, create)? {
        Step::Dir(fd, st) => Ok(Dir { fd, st, path }),
        Step::Link(_) => {
            Err(WalkError::Failed(bformat!(1024, "{} is a symbolic link", Escaped(path.as_bytes()))))
        }
    }
}

enum Step {
    Dir(Fd, Stat),
    /// A trusted symbolic link, held open (`O_PATH`) to be read.
    Link(Fd),
}

/// Opens `name` in the directory `dir` (whose path with `name` is `path`,
/// for messages) and checks what it is.
fn step(dir: &Fd, name: &core::ffi::CStr, path: &Path, euid: u32, create: bool) -> Result<Step, WalkError> {
    let flags = sys::O_PATH | sys::O_NOFOLLOW | sys::O_CLOEXEC;
    let fd = match sys::openat(dir.0, name, flags, 0) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) if create => return make_dir(dir, name, path, euid),
        Err(Errno::ENOENT) => return Err(WalkError::Missing),
        Err(e) => return Err(sys_error("cannot open", path.as_bytes(), e).into()),
    };
    let st = sys::fstat(&fd).map_err(|e| sys_error("cannot stat", path.as_bytes(), e))?;
    if st.kind() == sys::S_IFLNK {
        check_owner(&st, euid, path.as_bytes())?;
        return Ok(Step::Link(fd));
    }
    check_dir(&st, euid, path.as_bytes())?;
    Ok(Step::Dir(fd, st))
}

/// Creates the directory `name` in `dir`, private whatever the umask.
fn make_dir(dir: &Fd, name: &core::ffi::CStr, path: &Path, euid: u32) -> Result<Step, WalkError> {
    match sys::mkdirat(dir, name, 0o700) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(sys_error("cannot create", path.as_bytes(), e).into()),
    }
    // Opened for reading (fchmod needs more than O_PATH). If another start
    // made it first, or something else is there, the check below decides.
    let flags = sys::O_RDONLY | sys::O_DIRECTORY | sys::O_NOFOLLOW | sys::O_CLOEXEC;
    let fd = sys::openat(dir.0, name, flags, 0).map_err(|e| sys_error("cannot open", path.as_bytes(), e))?;
    let st = sys::fstat(&fd).map_err(|e| sys_error("cannot stat", path.as_bytes(), e))?;
    let st = if st.uid == euid && st.mode & 0o7777 != 0o700 && st.kind() == sys::S_IFDIR {
        // The umask took bits off (or a concurrent start's mkdir did).
        sys::fchmod(&fd, 0o700).map_err(|e| sys_error("cannot chmod", path.as_bytes(), e))?;
        sys::fstat(&fd).map_err(|e| sys_error("cannot stat", path.as_bytes(), e))?
    } else {
        st
    };
    check_dir(&st, euid, path.as_bytes())?;
    Ok(Step::Dir(fd, st))
}

/// Replaces `rest[pos..]` by the target of the trusted symbolic link
/// `link` (at `at`), followed by what was left after it.
fn splice_link(link: &Fd, at: &Path, rest: &mut Path, pos: usize) -> Result<(), WalkError> {
    let mut spliced = Path::new();
    let mut target = [0u8; 4096];
    // The link checked is the link read: through its descriptor.
    let n =
        sys::readlinkat(link, c"", &mut target).map_err(|e| sys_error("cannot read", at.as_bytes(), e))?;
    if n >= target.len() {
        return Err(sys_error("cannot follow", at.as_bytes(), Errno::ENAMETOOLONG).into());
    }
    spliced.push(&target[..n]);
    spliced.push(b"/");
    spliced.push(&rest.as_bytes()[pos..]);
    if spliced.overflowed() {
        return Err(sys_error("cannot follow", at.as_bytes(), Errno::ENAMETOOLONG).into());
    }
    *rest = spliced;
    Ok(())
}

/// Opens the directory `path` (absolute), walking from `/` by the trust
/// rule; with `create`, missing directories are made (mode 0700).
pub fn open_dir(path: &[u8], euid: u32, create: bool) -> Result<Dir, WalkError> {
    if path.first() != Some(&b'/') {
        return Err(bformat!(1024, "{} is not an absolute path", Escaped(path)).into());
    }
    // What is left to walk is rest[pos..]; `cur` is where the walk is, with
    // symbolic links resolved.
    let mut rest = Path::from_bytes(path);
    if rest.overflowed() {
        return Err(sys_error("cannot open", path, Errno::ENAMETOOLONG).into());
    }
    let mut pos = 0;
    let (mut fd, mut st) = open_root(euid)?;
    let mut cur = Path::from_bytes(b"/");
    let mut links = 0;
    loop {
        let bytes = &rest.as_bytes()[pos..];
        let Some(start) = bytes.iter().position(|&b| b != b'/') else {
            return Ok(Dir { fd, st, path: cur });
        };
        let end = bytes[start..].iter().position(|&b| b == b'/').map_or(bytes.len(), |i| start + i);
        let name = Name::from_bytes(&bytes[start..end]);
        pos += end;
        let c = c_name(&name, &cur)?;
        match name.as_bytes() {
            b"." => continue,
            b".." => {
                let up = sys::openat(fd.0, c"..", sys::O_PATH | sys::O_DIRECTORY | sys::O_CLOEXEC, 0)
                    .map_err(|e| sys_error("cannot open the parent of", cur.as_bytes(), e))?;
                let cut = cur.as_bytes().iter().rposition(|&b| b == b'/').unwrap_or(0);
                cur.truncate(cut.max(1));
                st = sys::fstat(&up).map_err(|e| sys_error("cannot stat", cur.as_bytes(), e))?;
                check_dir(&st, euid, cur.as_bytes())?;
                fd = up;
                continue;
            }
            _ => {}
        }
        let len = cur.as_bytes().len();
        push_name(&mut cur, name.as_bytes());
        match step(&fd, c, &cur, euid, create)? {
            Step::Dir(next, next_st) => (fd, st) = (next, next_st),
            Step::Link(link) => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(sys_error("cannot follow", cur.as_bytes(), Errno::ELOOP).into());
                }
                splice_link(&link, &cur, &mut rest, pos)?;
                pos = 0;
                cur.truncate(len);
                if rest.as_bytes().first() == Some(&b'/') {
                    (fd, st) = open_root(euid)?;
                    cur = Path::from_bytes(b"/");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn euid() -> u32 {
        sys::geteuid()
    }

    fn tempdir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("multiarch-walk-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        dir
    }

    fn open(path: &std::path::Path, create: bool) -> Result<Dir, String> {
        use std::os::unix::ffi::OsStrExt;
        open_dir(path.as_os_str().as_bytes(), euid(), create).map_err(|e| match e {
            WalkError::Missing => "missing".into(),
            WalkError::Failed(m) => m.to_string(),
        })
    }

    #[test]
    fn walks_creates_and_follows_trusted_links() {
        let dir = tempdir("ok");
        let made = dir.join("a/b/c");
        assert_eq!(open(&made, false).unwrap_err(), "missing");
        let d = open(&made, true).unwrap();
        assert_eq!(d.path.as_bytes(), made.as_os_str().as_encoded_bytes());
        assert_eq!(d.st.mode & 0o7777, 0o700);
        // Our own symlink, relative and absolute, and `..`.
        symlink("a/b", dir.join("rel")).unwrap();
        symlink(dir.join("a"), dir.join("abs")).unwrap();
        for via in ["rel/c", "abs/b/c", "a/b/../b/./c", "rel/../b/c"] {
            let got = open(&dir.join(via), false).unwrap();
            assert_eq!(got.path.as_bytes(), made.as_os_str().as_encoded_bytes(), "{via}");
            assert_eq!(got.st.ino, d.st.ino, "{via}");
        }
        // A loop.
        symlink("loop", dir.join("loop")).unwrap();
        assert!(open(&dir.join("loop/x"), false).unwrap_err().contains("Too many levels"));
        // Not a directory.
        std::fs::write(dir.join("file"), b"x").unwrap();
        assert!(open(&dir.join("file/x"), true).unwrap_err().contains("is not a directory"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_what_others_could_change() {
        let dir = tempdir("bad");
        let shared = dir.join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = open(&shared.join("x"), true).unwrap_err();
        assert!(err.contains("mode 777, writable by others: not trusted"), "{err}");
        assert!(!shared.join("x").exists(), "created below an untrusted directory");
        // Group-writable too; sticky is fine.
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o770)).unwrap();
        assert!(open(&shared, false).unwrap_err().contains("mode 770"));
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        open(&shared.join("x"), true).unwrap();
        if euid() == 0 {
            // Another user's directory, and another user's symlink in a
            // sticky directory.
            let theirs = dir.join("theirs");
            std::fs::create_dir(&theirs).unwrap();
            std::os::unix::fs::chown(&theirs, Some(65534), None).unwrap();
            let err = open(&theirs.join("y"), true).unwrap_err();
            assert!(err.contains("owned by uid 65534, not by root or uid 0: not trusted"), "{err}");
            let link = shared.join("link");
            symlink(shared.join("x"), &link).unwrap();
            std::os::unix::fs::lchown(&link, Some(65534), None).unwrap();
            let err = open(&link, false).unwrap_err();
            assert!(err.contains("link is owned by uid 65534"), "{err}");
        }
        // A newline in a path cannot start a line of its own.
        let odd = dir.join("new\nline");
        std::fs::create_dir(&odd).unwrap();
        std::fs::set_permissions(&odd, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = open(&odd, false).unwrap_err();
        assert!(err.contains("new\\nline has mode 777") && !err.contains('\n'), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
