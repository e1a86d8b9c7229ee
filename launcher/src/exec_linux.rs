//! Starting a build on Linux: from the per-user cache ([`crate::cache`]),
//! or from a sealed memfd.
//!
//! Both end in an `execveat` of a held file descriptor with the launcher's
//! own argv and environment block, passed through as the kernel gave them:
//! the file run is the one checked (or written), and the kernel copies only
//! `/dev/fd/N` as the program's file name, never a path longer than the one
//! the launcher was started with: the file name counts against `ARG_MAX`
//! (Linux fs/exec.c: `alloc_bprm` names an `AT_EMPTY_PATH` exec
//! `/dev/fd/N`, and `do_execveat_common` copies `bprm->filename` onto the
//! new stack with the arguments and environment).

use crate::bformat;
use crate::bundle::{Blob, Compression, DecodeFailure};
pub use crate::cache::{cache_root, Cache, Entry, Lookup};
use crate::sys::{self, Errno, Mapping};
use crate::text::{Buf, Escaped};
pub use crate::walk::{Message, Path};
use crate::writer::Writer;
use core::ffi::CStr;
use core::fmt;

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
    /// `execveat` of the cached file failed.
    Exec { path: Path, errno: Errno },
    /// The embedded build could not be decoded.
    Decode(DecodeFailure),
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecError::Cache(why) => write!(f, "cache unusable: {why}"),
            ExecError::Memfd(why) => write!(f, "memfd unusable: {why}"),
            ExecError::Exec { path, errno } => {
                write!(f, "cannot execute {}: {errno}", Escaped(path.as_bytes()))
            }
            ExecError::Decode(e) => e.fmt(f),
        }
    }
}

/// Keeps SIGXFSZ ignored while a build is written, so that a write past
/// `RLIMIT_FSIZE` (`ulimit -f`) fails with EFBIG, which the launcher handles
/// like any write error, instead of killing the process. Dropping it gives
/// the signal back the disposition the launcher inherited (handlers do not
/// survive an exec, so that is SIG_DFL or SIG_IGN), before anything is
/// executed.
struct NoSigxfsz(Option<sys::SigAction>);

impl NoSigxfsz {
    fn new() -> NoSigxfsz {
        NoSigxfsz(sys::ignore_signal(sys::SIGXFSZ).ok())
    }
}

impl Drop for NoSigxfsz {
    fn drop(&mut self) {
        if let Some(old) = &self.0 {
            // A SIGXFSZ raised while the signal was blocked stays pending
            // even though ignored; setting SIG_IGN again discards it, so the
            // program does not receive it for the launcher's write.
            let _ = sys::ignore_signal(sys::SIGXFSZ);
            sys::restore_signal(sys::SIGXFSZ, old);
        }
    }
}

/// Writes the build of `blob` to the new cache file `fd`.
pub fn write_build_file(fd: &sys::Fd, blob: &Blob) -> Result<(), ExecError> {
    let _no_sigxfsz = NoSigxfsz::new();
    match write_build(fd, blob) {
        Ok(()) => Ok(()),
        Err(WriteFailure::Decode(e)) => Err(ExecError::Decode(e)),
        Err(WriteFailure::Write(e)) => Err(ExecError::Cache(bformat!(1024, "cannot write the build: {e}"))),
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

/// Fails where executing `entry` would be refused because its file system
/// is mounted `noexec` (a hardened /home), so the launcher can fall back
/// before it logs how it starts the build (one `fstatfs`).
pub fn check_executable(entry: &Entry) -> Result<(), ExecError> {
    match sys::on_noexec_mount(&entry.fd) {
        Ok(false) => Ok(()),
        Ok(true) => Err(ExecError::Exec { path: entry.path.clone(), errno: Errno::EACCES }),
        Err(errno) => Err(ExecError::Exec { path: entry.path.clone(), errno }),
    }
}

/// Executes the checked cache entry by its descriptor; returns only on failure.
pub fn exec_entry(entry: &Entry, args: Args) -> ExecError {
    // SAFETY: `argv` and `envp` are the NULL-terminated arrays the kernel
    // passed to the process, alive until it exits.
    let errno = match unsafe { sys::fexecve(&entry.fd, args.argv, args.envp) } {
        // No execveat (before Linux 3.19, qemu-user before 8.0), or a
        // seccomp filter that denies it: the same inode through its /proc link.
        Errno::ENOSYS | Errno::EPERM => {
            match exec_path(&bformat!(4096, "/proc/self/fd/{}", entry.fd.0), args) {
                // No /proc either: by path. Every directory on it passed the
                // trust rule, so only root and the effective user could have
                // made it name another file since it was checked.
                ExecError::Exec { errno: Errno::ENOENT, .. } => return exec_path(&entry.path, args),
                ExecError::Exec { errno, .. } => errno,
                other => return other,
            }
        }
        // A file run by an interpreter (binfmt_misc) that opens /dev/fd/N
        // after the exec, when a CLOEXEC descriptor is gone: keep it open.
        Errno::ENOENT if sys::fcntl(&entry.fd, sys::F_SETFD, 0).is_ok() => {
            // SAFETY: as above.
            unsafe { sys::fexecve(&entry.fd, args.argv, args.envp) }
        }
        errno => errno,
    };
    ExecError::Exec { path: entry.path.clone(), errno }
}

/// `execve(path, argv, envp)`; returns only on failure.
fn exec_path(path: &Path, args: Args) -> ExecError {
    let Some(c) = path.as_cstr().filter(|_| !path.overflowed()) else {
        return ExecError::Exec { path: path.clone(), errno: Errno::ENAMETOOLONG };
    };
    // SAFETY: `argv` and `envp` are the NULL-terminated arrays the kernel
    // passed to the process, alive until it exits.
    let errno = unsafe { sys::execve(c, args.argv, args.envp) };
    ExecError::Exec { path: path.clone(), errno }
}

/// Copies `blob` into a sealed memfd named `name` and `fexecve`s it; calls
/// `before_exec` (the log line) once the memfd is ready, so that nothing is
/// logged for a start that fails before. Returns only on failure.
pub fn exec_memfd(blob: &Blob, name: &CStr, args: Args, before_exec: &dyn Fn()) -> ExecError {
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
    {
        let _no_sigxfsz = NoSigxfsz::new();
        // Sizing once up front spares the kernel growing the file per write.
        // Past RLIMIT_FSIZE it fails, and so does the first write after.
        let _ = sys::ftruncate(&fd, blob.size);
        match write_build(&fd, blob) {
            Ok(()) => {}
            Err(WriteFailure::Decode(e)) => return ExecError::Decode(e),
            Err(WriteFailure::Write(e)) => return fail("writing the build", e),
        }
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
    before_exec();
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

/// The name a memfd gets: `<program path> [<variant>]`, cut to the kernel's
/// 249-byte limit, without NULs.
pub fn memfd_name(argv0: Option<&[u8]>, program: &str, variant: &str) -> MemfdName {
    let path = argv0.filter(|a| !a.is_empty()).unwrap_or(program.as_bytes());
    // A variant name has at most 32 bytes.
    let suffix = bformat!(48, " [{variant}]");
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
        let longest = "z".repeat(crate::bundle::NAME_MAX);
        let name = memfd_name(Some(&long), "p", &longest);
        assert!(name.as_bytes().ends_with(format!(" [{longest}]").as_bytes()));
    }
}
