//! Starting a build on Linux: from the per-user cache, or from a sealed memfd.
//!
//! Both end in an `execve` of the build with the launcher's own argv and
//! environment block, passed through as the kernel gave them.

use crate::bformat;
use crate::bundle::{Blob, Bundle, Compression, DecodeFailure};
use crate::sys::{self, Errno, Mapping, Stat};
use crate::text::{Buf, Lossy};
use crate::writer::Writer;
use core::ffi::CStr;
use core::fmt;

/// A path: at most `PATH_MAX` (4096) bytes with its NUL, as the kernel takes.
pub type Path = Buf<4096>;
/// An error message.
pub type Message = Buf<1024>;

/// The process's argv and environment block, to pass on unchanged.
#[derive(Clone, Copy, Debug)]
pub struct Args {
    /// NULL-terminated, as the kernel gave it.
    pub argv: *const *const u8,
    /// NULL-terminated, as the kernel gave it.
    pub envp: *const *const u8,
}

/// Why a build could not be started.
#[derive(Debug)]
pub enum ExecError {
    /// The cache cannot be used; the message says why.
    Cache(Message),
    /// A memfd could not be made or started.
    Memfd(Message),
    /// `execve` of the cached file failed.
    Exec { path: Path, errno: Errno },
    /// The embedded build could not be decoded.
    Decode(DecodeFailure),
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecError::Cache(why) => write!(f, "cache unusable: {why}"),
            ExecError::Memfd(why) => write!(f, "memfd unusable: {why}"),
            ExecError::Exec { path, errno } => write!(f, "cannot execute {path}: {errno}"),
            ExecError::Decode(e) => e.fmt(f),
        }
    }
}

fn cache_err(what: &str, path: &[u8], errno: Errno) -> ExecError {
    ExecError::Cache(bformat!(1024, "{what} {}: {errno}", Lossy(path)))
}

/// `path` as a C string, or the error that it is too long (or holds a NUL).
fn c_path(path: &Path) -> Result<&CStr, ExecError> {
    match path.as_cstr() {
        Some(c) if !path.overflowed() => Ok(c),
        _ => Err(cache_err("path too long:", path.as_bytes(), Errno::ENAMETOOLONG)),
    }
}

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

/// Everything of `path` before its last `/` (`None` at the root).
fn parent(path: &[u8]) -> Option<&[u8]> {
    let cut = path.iter().rposition(|&b| b == b'/')?;
    (cut > 0).then(|| &path[..cut])
}

/// The per-user cache of decoded builds: `<root>/<content-hash>/<program>`.
///
/// Trust: the root must be a directory owned by the effective user with no
/// group or other access, so nobody else can place anything below it; entries
/// must be regular files owned by the effective user, not writable by others,
/// with the exact size of the build. Anything else is never executed.
#[derive(Debug)]
pub struct Cache {
    root: Path,
    euid: u32,
}

/// What [`Cache::lookup`] found.
#[derive(Debug)]
pub enum Lookup {
    /// A trusted, complete entry.
    Hit(Path),
    /// No usable entry; [`Cache::install`] writes one.
    Miss,
}

impl Cache {
    /// A cache at `root` for the effective user.
    pub fn new(root: Path) -> Cache {
        Cache { root, euid: sys::geteuid() }
    }

    /// Where the entry of `blob` lives.
    pub fn entry_path(&self, blob: &Blob, program: &str) -> Path {
        let mut path = self.root.clone();
        path.push(b"/");
        path.push(&blob.cache_key());
        path.push(b"/");
        path.push(program.as_bytes());
        path
    }

    /// Anything below the root must be the effective user's own.
    fn check_owner(&self, path: &[u8], st: &Stat) -> Result<(), ExecError> {
        if st.uid == self.euid {
            return Ok(());
        }
        Err(ExecError::Cache(bformat!(
            1024,
            "{} is owned by uid {}, not {}: not trusted",
            Lossy(path),
            st.uid,
            self.euid
        )))
    }

    fn check_root(&self, st: &Stat) -> Result<(), ExecError> {
        let root = self.root.as_bytes();
        if st.mode & sys::S_IFMT != sys::S_IFDIR {
            return Err(ExecError::Cache(bformat!(1024, "{} is not a directory", Lossy(root))));
        }
        self.check_owner(root, st)?;
        if st.mode & 0o077 != 0 {
            return Err(ExecError::Cache(bformat!(
                1024,
                "{} has mode {:o}; it must be 0700: not trusted",
                Lossy(root),
                st.mode & 0o7777
            )));
        }
        Ok(())
    }

    /// Finds the entry of `blob` with one `lstat` of the root and one of the entry.
    pub fn lookup(&self, blob: &Blob, program: &str) -> Result<Lookup, ExecError> {
        match sys::lstat(c_path(&self.root)?) {
            Ok(st) => self.check_root(&st)?,
            Err(Errno::ENOENT) => return Ok(Lookup::Miss),
            Err(e) => return Err(cache_err("cannot stat", self.root.as_bytes(), e)),
        }
        let path = self.entry_path(blob, program);
        match sys::lstat(c_path(&path)?) {
            Ok(st) => {
                self.check_owner(path.as_bytes(), &st)?;
                let sound = st.mode & sys::S_IFMT == sys::S_IFREG
                    && st.mode & 0o022 == 0
                    && st.mode & 0o100 != 0
                    && u64::try_from(st.size).ok() == Some(blob.size);
                Ok(if sound { Lookup::Hit(path) } else { Lookup::Miss })
            }
            Err(Errno::ENOENT | Errno::ENOTDIR) => Ok(Lookup::Miss),
            Err(e) => Err(cache_err("cannot stat", path.as_bytes(), e)),
        }
    }

    /// Writes the entry of `blob` atomically (a temporary file, then rename),
    /// and removes entries of `program` that belong to no build of `bundle`.
    pub fn install(&self, bundle: &Bundle, blob: &Blob) -> Result<Path, ExecError> {
        if let Some(above) = parent(self.root.as_bytes()) {
            make_dirs(&Path::from_bytes(above))?;
        }
        make_private_dir(&self.root)?;
        let st =
            sys::lstat(c_path(&self.root)?).map_err(|e| cache_err("cannot stat", self.root.as_bytes(), e))?;
        self.check_root(&st)?;

        let path = self.entry_path(blob, bundle.program);
        let dir = Path::from_bytes(parent(path.as_bytes()).unwrap_or(self.root.as_bytes()));
        make_private_dir(&dir)?;
        let mut tmp = dir.clone();
        let _ = fmt::Write::write_fmt(&mut tmp, format_args!("/.{}.tmp.{}", bundle.program, sys::getpid()));
        let tmp_c = c_path(&tmp)?;
        let written = write_new_file(&tmp, blob).and_then(|()| {
            sys::rename(tmp_c, c_path(&path)?)
                .map_err(|e| cache_err("cannot rename into", path.as_bytes(), e))
        });
        if let Err(e) = written {
            let _ = sys::unlinkat(sys::AT_FDCWD, tmp_c, 0);
            return Err(e);
        }
        self.remove_other_versions(bundle);
        Ok(path)
    }

    /// Removes `<root>/<hash>/<program>` for every hash that is not one of
    /// this bundle's builds, so the cache holds one version of each program.
    fn remove_other_versions(&self, bundle: &Bundle) {
        let Ok(root) = c_path(&self.root) else { return };
        let flags = sys::O_RDONLY | sys::O_DIRECTORY | sys::O_CLOEXEC;
        let Ok(dir) = sys::openat(sys::AT_FDCWD, root, flags, 0) else { return };
        // At most 4 levels, so at most 4 keys.
        let mut ours = [[0u8; 32]; 4];
        let n = bundle.variants.len().min(ours.len());
        for (key, variant) in ours.iter_mut().zip(bundle.variants) {
            *key = variant.blob.cache_key();
        }
        // Up to 16 old versions per start; any more go on later starts.
        let mut old: [Option<[u8; 32]>; 16] = [None; 16];
        let mut found = 0;
        let mut buf = [0u8; 4096];
        // Collect first, delete after: unlinking while reading the
        // directory may make getdents skip or repeat entries.
        while let Ok(filled @ 1..) = sys::getdents64(&dir, &mut buf) {
            let mut at = 0;
            // struct linux_dirent64: ino u64, off i64, reclen u16, type u8, name.
            while at + 19 < filled.min(buf.len()) {
                let reclen = usize::from(u16::from_ne_bytes([buf[at + 16], buf[at + 17]]));
                if reclen == 0 || at + reclen > filled {
                    break;
                }
                let name = &buf[at + 19..at + reclen];
                let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
                if let Ok(key) = <[u8; 32]>::try_from(name) {
                    if !ours[..n].contains(&key) && found < old.len() {
                        old[found] = Some(key);
                        found += 1;
                    }
                }
                at += reclen;
            }
        }
        for key in old[..found].iter().flatten() {
            let key_dir = Path::from_bytes(key);
            let mut entry = key_dir.clone();
            entry.push(b"/");
            entry.push(bundle.program.as_bytes());
            let (Some(entry), Some(key_dir)) = (entry.as_cstr(), key_dir.as_cstr()) else { continue };
            if sys::unlinkat(dir.0, entry, 0).is_ok() {
                // Only succeeds once no other program's entry is left in it.
                let _ = sys::unlinkat(dir.0, key_dir, sys::AT_REMOVEDIR);
            }
        }
    }
}

/// Creates `dir` and its missing parents with mode 0700 (less the umask),
/// as `mkdir -p` does.
fn make_dirs(dir: &Path) -> Result<(), ExecError> {
    let c = c_path(dir)?;
    match sys::mkdir(c, 0o700) {
        Ok(()) | Err(Errno::EEXIST) => Ok(()),
        Err(Errno::ENOENT) => {
            if let Some(above) = parent(dir.as_bytes()) {
                make_dirs(&Path::from_bytes(above))?;
            }
            match sys::mkdir(c, 0o700) {
                Ok(()) | Err(Errno::EEXIST) => Ok(()),
                Err(e) => Err(cache_err("cannot create", dir.as_bytes(), e)),
            }
        }
        Err(e) => Err(cache_err("cannot create", dir.as_bytes(), e)),
    }
}

/// Creates `dir` with mode 0700 whatever the umask (an existing one is left
/// as it is, for the caller to check).
fn make_private_dir(dir: &Path) -> Result<(), ExecError> {
    let c = c_path(dir)?;
    match sys::mkdir(c, 0o700) {
        // The umask may have taken bits off: set the mode it must have.
        Ok(()) => sys::chmod(c, 0o700).map_err(|e| cache_err("cannot chmod", dir.as_bytes(), e)),
        Err(Errno::EEXIST) => Ok(()),
        Err(e) => Err(cache_err("cannot create", dir.as_bytes(), e)),
    }
}

fn write_new_file(tmp: &Path, blob: &Blob) -> Result<(), ExecError> {
    let flags = sys::O_WRONLY | sys::O_CREAT | sys::O_EXCL | sys::O_CLOEXEC | sys::O_NOFOLLOW;
    let fd = sys::openat(sys::AT_FDCWD, c_path(tmp)?, flags, 0o700)
        .map_err(|e| cache_err("cannot create", tmp.as_bytes(), e))?;
    // The umask may have taken the execute bit: set the mode explicitly.
    sys::fchmod(&fd, 0o700).map_err(|e| cache_err("cannot chmod", tmp.as_bytes(), e))?;
    match write_build(&fd, blob) {
        Ok(()) => Ok(()),
        Err(WriteFailure::Decode(e)) => Err(ExecError::Decode(e)),
        Err(WriteFailure::Write(e)) => Err(cache_err("cannot write", tmp.as_bytes(), e)),
    }
}

/// Why [`write_build`] failed.
enum WriteFailure {
    Decode(DecodeFailure),
    Write(Errno),
}

/// From this size on, a second thread writes what is decoded while the
/// rest is decoded (see [`crate::writer`]); below it a thread is not worth
/// its start.
const PIPELINE_MIN: usize = 4 << 20;
/// How much the decoder hands the writer at a time.
const PIPELINE_STEP: usize = 1 << 20;

/// Writes the build of `blob` to `fd`: a stored one straight from the
/// launcher, a compressed one decoded into a mapping and written as it is
/// decoded.
fn write_build(fd: &sys::Fd, blob: &Blob) -> Result<(), WriteFailure> {
    if blob.compression == Compression::Stored {
        let bytes = blob.decode().map_err(WriteFailure::Decode)?;
        return sys::write_all(fd.0, bytes.as_bytes()).map_err(WriteFailure::Write);
    }
    let room = blob.room().map_err(WriteFailure::Decode)?;
    let size = room - crate::codec::SLACK;
    let mut out = Mapping::new(room).map_err(|e| WriteFailure::Decode(DecodeFailure::NoMemory(e)))?;
    let data = out.as_slice().as_ptr();
    // Declared after `out`, so dropped (its thread stopped) before `out` is
    // unmapped, on every path. If no thread can be started, write after.
    // SAFETY: `out` and `fd` outlive the writer; the decoder publishes only
    // bytes it will not write again (it only reads them, for its copies).
    let writer = if size >= PIPELINE_MIN { unsafe { Writer::start(fd.0, data, size) }.ok() } else { None };
    let mut publish = |n: usize| {
        if let Some(w) = &writer {
            w.publish(n);
        }
    };
    blob.decode_to(out.as_mut_slice(), PIPELINE_STEP, &mut publish).map_err(WriteFailure::Decode)?;
    match writer {
        Some(w) => w.finish().map_err(WriteFailure::Write),
        None => sys::write_all(fd.0, &out.as_slice()[..size]).map_err(WriteFailure::Write),
    }
}

/// Fails where `execve` of `path` would be refused for permission, e.g. a
/// cache on a `noexec` mount, so the launcher can fall back before it logs
/// how it starts the build (one `access` call).
pub fn check_executable(path: &Path) -> Result<(), ExecError> {
    let c = c_path(path)?;
    sys::access(c, sys::X_OK).map_err(|errno| ExecError::Exec { path: path.clone(), errno })
}

/// `execve(path, argv, envp)`; returns only on failure.
pub fn exec_path(path: &Path, args: Args) -> ExecError {
    let Some(c) = path.as_cstr().filter(|_| !path.overflowed()) else {
        return ExecError::Exec { path: path.clone(), errno: Errno::ENAMETOOLONG };
    };
    // SAFETY: `argv` and `envp` are the NULL-terminated arrays the kernel
    // passed to the process, alive until it exits.
    let errno = unsafe { sys::execve(c, args.argv, args.envp) };
    ExecError::Exec { path: path.clone(), errno }
}

/// Copies `blob` into a sealed memfd named `name` and `fexecve`s it; returns
/// only on failure.
pub fn exec_memfd(blob: &Blob, name: &CStr, args: Args) -> ExecError {
    let fail = |what: &str, e: Errno| ExecError::Memfd(bformat!(1024, "{what}: {e}"));
    let base = sys::MFD_CLOEXEC | sys::MFD_ALLOW_SEALING;
    let fd = match sys::memfd_create(name, base | sys::MFD_EXEC) {
        // Kernels before 6.3 reject the unknown flag.
        Err(Errno::EINVAL) => sys::memfd_create(name, base),
        other => other,
    };
    let fd = match fd {
        Ok(fd) => fd,
        Err(e) => return fail("memfd_create", e),
    };
    // Sizing once up front spares the kernel growing the file per write.
    let _ = sys::ftruncate(&fd, blob.size);
    match write_build(&fd, blob) {
        Ok(()) => {}
        Err(WriteFailure::Decode(e)) => return ExecError::Decode(e),
        Err(WriteFailure::Write(e)) => return fail("writing the build", e),
    }
    // F_SEAL_FUTURE_WRITE (Linux 5.1) forbids writes from now on without
    // waiting for pinned pages as F_SEAL_WRITE does (about 1 ms at 80 MiB);
    // older kernels reject it and get F_SEAL_WRITE.
    let seals = sys::F_SEAL_SEAL | sys::F_SEAL_SHRINK | sys::F_SEAL_GROW;
    let sealed = match sys::fcntl(&fd, sys::F_ADD_SEALS, seals | sys::F_SEAL_FUTURE_WRITE) {
        Err(Errno::EINVAL) => sys::fcntl(&fd, sys::F_ADD_SEALS, seals | sys::F_SEAL_WRITE),
        other => other,
    };
    if let Err(e) = sealed {
        return fail("sealing", e);
    }
    // SAFETY: `argv` and `envp` are the NULL-terminated arrays the kernel
    // passed to the process.
    let mut errno = unsafe { sys::fexecve(&fd, args.argv, args.envp) };
    let proc_path = bformat!(4096, "/proc/self/fd/{}", fd.0);
    if errno == Errno::ENOSYS {
        // No execveat (before Linux 3.19, or under qemu-user): exec the
        // fd by its /proc path, as C libraries' fexecve does.
        match exec_path(&proc_path, args) {
            ExecError::Exec { errno: e, .. } => errno = e,
            other => return other,
        }
    }
    if errno != Errno::ENOENT {
        return fail("fexecve", errno);
    }
    // ENOENT: the file is run by an interpreter (binfmt_misc, e.g. an
    // emulator) that opens it by path after the exec, when a CLOEXEC fd is
    // already gone. See https://bugzilla.kernel.org/show_bug.cgi?id=196045
    // and the BUGS section of fexecve(3). Keep the fd open across the exec.
    if let Err(e) = sys::fcntl(&fd, sys::F_SETFD, 0) {
        return fail("clearing FD_CLOEXEC", e);
    }
    let err = exec_path(&proc_path, args);
    drop(fd);
    ExecError::Memfd(bformat!(1024, "fexecve and {err}"))
}

/// Room for a memfd name: the kernel takes 249 bytes and the NUL.
pub type MemfdName = Buf<250>;

/// The name a memfd gets: `<program path> [<level>]`, cut to the kernel's
/// 249-byte limit, without NULs.
pub fn memfd_name(argv0: Option<&[u8]>, program: &str, level: &str) -> MemfdName {
    let path = argv0.filter(|a| !a.is_empty()).unwrap_or(program.as_bytes());
    let suffix = bformat!(32, " [{level}]");
    let mut name = MemfdName::new();
    for part in path.split(|&b| b == 0) {
        name.push(part);
    }
    name.truncate(249 - suffix.as_bytes().len());
    name.push(suffix.as_bytes());
    name
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

    #[test]
    fn memfd_names_keep_the_level_within_the_kernel_limit() {
        let name = memfd_name(Some(b"./app"), "app_mv", "x86-64-v3");
        assert_eq!(name.as_bytes(), b"./app [x86-64-v3]");
        assert_eq!(memfd_name(Some(b"a\0b"), "p", "x86-64").as_bytes(), b"ab [x86-64]");
        assert_eq!(memfd_name(None, "app_mv", "x86-64").as_bytes(), b"app_mv [x86-64]");
        assert_eq!(memfd_name(Some(b""), "app_mv", "x86-64").as_bytes(), b"app_mv [x86-64]");
        let long = vec![b'a'; 1000];
        let name = memfd_name(Some(&long), "p", "x86-64-v4");
        assert_eq!(name.as_bytes().len(), 249);
        assert!(name.as_cstr().is_some());
        assert!(name.as_bytes().ends_with(b" [x86-64-v4]"));
    }
}
