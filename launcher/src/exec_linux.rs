//! Starting a build on Linux: from the per-user cache, or from a sealed memfd.
//!
//! Both end in an `execve` of the build with the launcher's own argv and
//! environment block, passed through as the kernel gave them.

use crate::bundle::{Blob, Bundle};
use core::ffi::{c_char, CStr};
use core::fmt;
use nix::errno::Errno;
use nix::fcntl::{self, FcntlArg, FdFlag, OFlag, SealFlag};
use nix::sys::memfd::{self, MFdFlags};
use nix::sys::stat::{self, FileStat, Mode, SFlag};
use nix::unistd::{self, Uid};
use std::ffi::{CString, OsStr, OsString};
use std::fs;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// The process's argv and environment block, to pass on unchanged.
#[derive(Clone, Copy, Debug)]
pub struct Args {
    /// NULL-terminated, as `main` got it.
    pub argv: *const *const c_char,
    /// NULL-terminated, as `main` got it.
    pub envp: *const *const c_char,
}

/// Why a build could not be started.
#[derive(Debug)]
pub enum ExecError {
    /// The cache cannot be used; the message says why.
    Cache(String),
    /// A memfd could not be made or started.
    Memfd(String),
    /// `execve` of the cached file failed.
    Exec { path: PathBuf, errno: Errno },
    /// The embedded build does not decode: the bundle is damaged.
    Damaged(crate::codec::DecodeError),
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecError::Cache(why) => write!(f, "cache unusable: {why}"),
            ExecError::Memfd(why) => write!(f, "memfd unusable: {why}"),
            ExecError::Exec { path, errno } => {
                write!(f, "cannot execute {}: {}", path.display(), errno.desc())
            }
            ExecError::Damaged(e) => write!(f, "the bundle is damaged: its {e}; rebuild it"),
        }
    }
}

fn cache_err(what: &str, path: &Path, errno: Errno) -> ExecError {
    ExecError::Cache(format!("{what} {}: {}", path.display(), errno.desc()))
}

/// The cache root: `$XDG_CACHE_HOME/multiarch`, else `$HOME/.cache/multiarch`.
/// Relative values are ignored, as the XDG spec asks.
pub fn cache_root<'a>(env: impl IntoIterator<Item = &'a [u8]>) -> Option<PathBuf> {
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
    if let Some(x) = xdg.filter(absolute) {
        return Some(Path::new(OsStr::from_bytes(x)).join("multiarch"));
    }
    home.filter(absolute).map(|h| Path::new(OsStr::from_bytes(h)).join(".cache/multiarch"))
}

/// The per-user cache of decoded builds: `<root>/<content-hash>/<program>`.
///
/// Trust: the root must be a directory owned by the effective user with no
/// group or other access, so nobody else can place anything below it; entries
/// must be regular files owned by the effective user, not writable by others,
/// with the exact size of the build. Anything else is never executed.
#[derive(Debug)]
pub struct Cache {
    root: PathBuf,
    euid: Uid,
}

/// What [`Cache::lookup`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// A trusted, complete entry.
    Hit(PathBuf),
    /// No usable entry; [`Cache::install`] writes one.
    Miss,
}

impl Cache {
    /// A cache at `root` for the effective user.
    pub fn new(root: PathBuf) -> Cache {
        Cache { root, euid: unistd::geteuid() }
    }

    /// Where the entry of `blob` lives.
    pub fn entry_path(&self, blob: &Blob, program: &str) -> PathBuf {
        let key = blob.cache_key();
        self.root.join(OsStr::from_bytes(&key)).join(program)
    }

    /// Anything below the root must be the effective user's own.
    fn check_owner(&self, path: &Path, st: &FileStat) -> Result<(), ExecError> {
        if st.st_uid == self.euid.as_raw() {
            return Ok(());
        }
        Err(ExecError::Cache(format!(
            "{} is owned by uid {}, not {}: not trusted",
            path.display(),
            st.st_uid,
            self.euid
        )))
    }

    fn check_root(&self, st: &FileStat) -> Result<(), ExecError> {
        if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFDIR {
            return Err(ExecError::Cache(format!("{} is not a directory", self.root.display())));
        }
        self.check_owner(&self.root, st)?;
        if st.st_mode & 0o077 != 0 {
            return Err(ExecError::Cache(format!(
                "{} has mode {:o}; it must be 0700: not trusted",
                self.root.display(),
                st.st_mode & 0o7777
            )));
        }
        Ok(())
    }

    /// Finds the entry of `blob` with one `lstat` of the root and one of the entry.
    pub fn lookup(&self, blob: &Blob, program: &str) -> Result<Lookup, ExecError> {
        match stat::lstat(&self.root) {
            Ok(st) => self.check_root(&st)?,
            Err(Errno::ENOENT) => return Ok(Lookup::Miss),
            Err(e) => return Err(cache_err("cannot stat", &self.root, e)),
        }
        let path = self.entry_path(blob, program);
        match stat::lstat(&path) {
            Ok(st) => {
                self.check_owner(&path, &st)?;
                let regular = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFREG;
                let sound = regular
                    && st.st_mode & 0o022 == 0
                    && st.st_mode & 0o100 != 0
                    && u64::try_from(st.st_size).ok() == Some(blob.size);
                Ok(if sound { Lookup::Hit(path) } else { Lookup::Miss })
            }
            Err(Errno::ENOENT | Errno::ENOTDIR) => Ok(Lookup::Miss),
            Err(e) => Err(cache_err("cannot stat", &path, e)),
        }
    }

    /// Writes the entry of `blob` atomically (a temporary file, then rename),
    /// and removes entries of `program` that belong to no build of `bundle`.
    pub fn install(&self, bundle: &Bundle, blob: &Blob) -> Result<PathBuf, ExecError> {
        if let Some(parent) = self.root.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(|e| cache_err("cannot create", parent, io_errno(&e)))?;
        }
        make_private_dir(&self.root)?;
        let st = stat::lstat(&self.root).map_err(|e| cache_err("cannot stat", &self.root, e))?;
        self.check_root(&st)?;

        let path = self.entry_path(blob, bundle.program);
        let dir = path.parent().unwrap_or(&self.root);
        make_private_dir(dir)?;
        let mut tmp_name = OsString::from(".");
        tmp_name.push(bundle.program);
        tmp_name.push(format!(".tmp.{}", unistd::getpid()));
        let tmp = dir.join(tmp_name);
        let written = write_new_file(&tmp, blob).and_then(|()| {
            fs::rename(&tmp, &path).map_err(|e| cache_err("cannot rename into", &path, io_errno(&e)))
        });
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        self.remove_other_versions(bundle);
        Ok(path)
    }

    /// Removes `<root>/<hash>/<program>` for every hash that is not one of
    /// this bundle's builds, so the cache holds one version of each program.
    fn remove_other_versions(&self, bundle: &Bundle) {
        let Ok(dirs) = fs::read_dir(&self.root) else { return };
        let ours: Vec<[u8; 32]> = bundle.variants.iter().map(|v| v.blob.cache_key()).collect();
        for dir in dirs.flatten() {
            let name = dir.file_name();
            let ours = ours.iter().any(|key| key[..] == *name.as_bytes());
            if ours || name.len() != 32 {
                continue;
            }
            let old = dir.path().join(bundle.program);
            if fs::remove_file(&old).is_ok() {
                // Only succeeds once no other program's entry is left in it.
                let _ = fs::remove_dir(dir.path());
            }
        }
    }
}

/// Creates `dir` with mode 0700 whatever the umask (an existing one is left
/// as it is, for the caller to check).
fn make_private_dir(dir: &Path) -> Result<(), ExecError> {
    match unistd::mkdir(dir, Mode::S_IRWXU) {
        // The umask may have taken bits off: set the mode it must have.
        Ok(()) => stat::fchmodat(fcntl::AT_FDCWD, dir, Mode::S_IRWXU, stat::FchmodatFlags::FollowSymlink)
            .map_err(|e| cache_err("cannot chmod", dir, e)),
        Err(Errno::EEXIST) => Ok(()),
        Err(e) => Err(cache_err("cannot create", dir, e)),
    }
}

fn io_errno(e: &std::io::Error) -> Errno {
    e.raw_os_error().map_or(Errno::EIO, Errno::from_raw)
}

fn write_new_file(tmp: &Path, blob: &Blob) -> Result<(), ExecError> {
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
    let fd = fcntl::open(tmp, flags, Mode::S_IRWXU).map_err(|e| cache_err("cannot create", tmp, e))?;
    // The umask may have taken the execute bit: set the mode explicitly.
    stat::fchmod(&fd, Mode::S_IRWXU).map_err(|e| cache_err("cannot chmod", tmp, e))?;
    let mut file = fs::File::from(fd);
    let bytes = blob.decode().map_err(ExecError::Damaged)?;
    file.write_all(&bytes).map_err(|e| cache_err("cannot write", tmp, io_errno(&e)))
}

/// Fails where `execve` of `path` would be refused for permission, e.g. a
/// cache on a `noexec` mount, so the launcher can fall back before it logs
/// how it starts the build (one `access` call).
pub fn check_executable(path: &Path) -> Result<(), ExecError> {
    unistd::access(path, unistd::AccessFlags::X_OK)
        .map_err(|errno| ExecError::Exec { path: path.to_owned(), errno })
}

/// `execve(path, argv, envp)`; returns only on failure.
pub fn exec_path(path: &Path, args: Args) -> ExecError {
    let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else {
        return ExecError::Exec { path: path.to_owned(), errno: Errno::EINVAL };
    };
    // SAFETY: `c_path` is a NUL-terminated string; `argv` and `envp` are the
    // NULL-terminated arrays the C runtime passed to `main`, alive until exit.
    unsafe { libc::execve(c_path.as_ptr(), args.argv, args.envp) };
    ExecError::Exec { path: path.to_owned(), errno: Errno::last() }
}

/// `MFD_EXEC` (Linux 6.3): asks for an executable memfd even where
/// `vm.memfd_noexec=1` would make it non-executable by default.
const MFD_EXEC: libc::c_uint = 0x10;

/// Copies `blob` into a sealed memfd named `name` and `fexecve`s it; returns
/// only on failure.
pub fn exec_memfd(blob: &Blob, name: &CStr, args: Args) -> ExecError {
    let fail = |what: &str, e: Errno| ExecError::Memfd(format!("{what}: {}", e.desc()));
    let base = MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING;
    let fd = match memfd::memfd_create(name, base | MFdFlags::from_bits_retain(MFD_EXEC)) {
        // Kernels before 6.3 reject the unknown flag.
        Err(Errno::EINVAL) => memfd::memfd_create(name, base),
        other => other,
    };
    let fd = match fd {
        Ok(fd) => fd,
        Err(e) => return fail("memfd_create", e),
    };
    let mut file = fs::File::from(fd);
    if let Ok(len) = i64::try_from(blob.size) {
        // Sizing once up front spares the kernel growing the file per write.
        let _ = unistd::ftruncate(&file, len);
    }
    let bytes = match blob.decode() {
        Ok(bytes) => bytes,
        Err(e) => return ExecError::Damaged(e),
    };
    if let Err(e) = file.write_all(&bytes) {
        return fail("writing the build", io_errno(&e));
    }
    // F_SEAL_FUTURE_WRITE (Linux 5.1) forbids writes from now on without
    // waiting for pinned pages as F_SEAL_WRITE does (about 1 ms at 80 MiB);
    // older kernels reject it and get F_SEAL_WRITE.
    let seals = SealFlag::F_SEAL_SEAL | SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW;
    let sealed = match fcntl::fcntl(&file, FcntlArg::F_ADD_SEALS(seals | SealFlag::F_SEAL_FUTURE_WRITE)) {
        Err(Errno::EINVAL) => fcntl::fcntl(&file, FcntlArg::F_ADD_SEALS(seals | SealFlag::F_SEAL_WRITE)),
        other => other,
    };
    if let Err(e) = sealed {
        return fail("sealing", e);
    }
    let fd = OwnedFd::from(file);
    // SAFETY: `fd` is an open memfd; `argv` and `envp` are the NULL-terminated
    // arrays the C runtime passed to `main`.
    unsafe { libc::fexecve(fd.as_raw_fd(), args.argv, args.envp) };
    let errno = Errno::last();
    if errno != Errno::ENOENT {
        return fail("fexecve", errno);
    }
    // ENOENT: the file is run by an interpreter (binfmt_misc, e.g. an
    // emulator) that opens it by path after the exec, when a CLOEXEC fd is
    // already gone. See https://bugzilla.kernel.org/show_bug.cgi?id=196045
    // and the BUGS section of fexecve(3). Keep the fd open across the exec.
    if let Err(e) = fcntl::fcntl(&fd, FcntlArg::F_SETFD(FdFlag::empty())) {
        return fail("clearing FD_CLOEXEC", e);
    }
    let proc_path = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
    let err = exec_path(&proc_path, args);
    drop(fd);
    ExecError::Memfd(format!("fexecve and {err}"))
}

/// The name a memfd gets: `<program path> [<level>]`, cut to the kernel's
/// 249-byte limit.
pub fn memfd_name(argv0: Option<&[u8]>, program: &str, level: &str) -> CString {
    let mut name: Vec<u8> = argv0.filter(|a| !a.is_empty()).unwrap_or(program.as_bytes()).to_vec();
    let suffix = format!(" [{level}]");
    name.truncate(249 - suffix.len());
    name.extend_from_slice(suffix.as_bytes());
    name.retain(|&b| b != 0);
    CString::new(name).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(env: &[&str]) -> Option<PathBuf> {
        cache_root(env.iter().map(|e| e.as_bytes()))
    }

    #[test]
    fn cache_root_prefers_xdg_then_home_and_ignores_relative_paths() {
        assert_eq!(root(&["HOME=/h", "XDG_CACHE_HOME=/x"]), Some(PathBuf::from("/x/multiarch")));
        assert_eq!(root(&["HOME=/h"]), Some(PathBuf::from("/h/.cache/multiarch")));
        assert_eq!(root(&["HOME=/h", "XDG_CACHE_HOME=rel"]), Some(PathBuf::from("/h/.cache/multiarch")));
        assert_eq!(root(&["HOME=", "XDG_CACHE_HOME="]), None);
        assert_eq!(root(&["HOME=relative"]), None);
        assert_eq!(root(&[]), None);
        // The first of repeated entries wins, as with getenv.
        assert_eq!(root(&["HOME=/first", "HOME=/second"]), Some(PathBuf::from("/first/.cache/multiarch")));
    }

    #[test]
    fn memfd_names_keep_the_level_within_the_kernel_limit() {
        let name = memfd_name(Some(b"./app"), "app_mv", "x86-64-v3");
        assert_eq!(name.as_bytes(), b"./app [x86-64-v3]");
        assert_eq!(memfd_name(None, "app_mv", "x86-64").as_bytes(), b"app_mv [x86-64]");
        assert_eq!(memfd_name(Some(b""), "app_mv", "x86-64").as_bytes(), b"app_mv [x86-64]");
        let long = vec![b'a'; 1000];
        let name = memfd_name(Some(&long), "p", "x86-64-v4");
        assert_eq!(name.as_bytes().len(), 249);
        assert!(name.as_bytes().ends_with(b" [x86-64-v4]"));
    }
}
