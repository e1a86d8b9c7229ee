//! The Linux system calls the launcher makes, issued directly.
//!
//! The launcher links no C library: glibc linked statically adds 0.7 MB to
//! every bundle and linked dynamically costs the dynamic loader's start-up
//! (about 0.2 ms) at every start. It needs about thirty calls, all with
//! plain integer and pointer arguments, so each is one instruction (`syscall`
//! on x86-64, `svc #0` on aarch64: the per-architecture halves are the
//! submodules `x86_64` and `aarch64`).
//! Every wrapper returns `Err(Errno)` for the kernel's `-4095..=-1` results.
//!
//! The cache needs calls a C library wraps late or not at all (`execveat`
//! before glibc 2.34, `O_TMPFILE`, `linkat` with `AT_EMPTY_PATH`,
//! `getrandom`), which is one more reason to issue them directly: the same
//! code runs whatever C library the host has.

use core::ffi::CStr;
use core::fmt;

/// An error number from the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    pub const EPERM: Errno = Errno(1);
    pub const ENOENT: Errno = Errno(2);
    pub const EINTR: Errno = Errno(4);
    pub const EIO: Errno = Errno(5);
    pub const EBADF: Errno = Errno(9);
    pub const EAGAIN: Errno = Errno(11);
    pub const ENOMEM: Errno = Errno(12);
    pub const EACCES: Errno = Errno(13);
    pub const EEXIST: Errno = Errno(17);
    pub const ENOTDIR: Errno = Errno(20);
    pub const EISDIR: Errno = Errno(21);
    pub const EINVAL: Errno = Errno(22);
    pub const EFBIG: Errno = Errno(27);
    pub const EPIPE: Errno = Errno(32);
    pub const ENAMETOOLONG: Errno = Errno(36);
    pub const ENOSYS: Errno = Errno(38);
    pub const ELOOP: Errno = Errno(40);
    pub const EOPNOTSUPP: Errno = Errno(95);

    /// The C library's text for this error (`strerror`), for the common ones.
    pub fn desc(self) -> &'static str {
        match self.0 {
            1 => "Operation not permitted",
            2 => "No such file or directory",
            4 => "Interrupted system call",
            5 => "Input/output error",
            7 => "Argument list too long",
            8 => "Exec format error",
            9 => "Bad file descriptor",
            11 => "Resource temporarily unavailable",
            12 => "Cannot allocate memory",
            13 => "Permission denied",
            14 => "Bad address",
            16 => "Device or resource busy",
            17 => "File exists",
            18 => "Invalid cross-device link",
            20 => "Not a directory",
            21 => "Is a directory",
            22 => "Invalid argument",
            23 => "Too many open files in system",
            24 => "Too many open files",
            26 => "Text file busy",
            27 => "File too large",
            28 => "No space left on device",
            30 => "Read-only file system",
            31 => "Too many links",
            32 => "Broken pipe",
            36 => "File name too long",
            38 => "Function not implemented",
            39 => "Directory not empty",
            40 => "Too many levels of symbolic links",
            95 => "Operation not supported",
            122 => "Disk quota exceeded",
            _ => "",
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.desc() {
            "" => write!(f, "error {}", self.0),
            d => f.write_str(d),
        }
    }
}

pub type Result<T> = core::result::Result<T, Errno>;

#[inline]
fn check(ret: isize) -> Result<usize> {
    if (-4095..0).contains(&ret) {
        Err(Errno(-ret as i32))
    } else {
        Ok(ret as usize)
    }
}

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "aarch64")]
use aarch64 as arch;
#[cfg(target_arch = "x86_64")]
use x86_64 as arch;

use arch::*;
#[cfg(target_arch = "aarch64")]
pub use arch::{auxv, remember_auxv};
pub use arch::{exit, ticks, O_DIRECTORY, O_NOFOLLOW};

pub const AT_FDCWD: i32 = -100;
pub const AT_SYMLINK_NOFOLLOW: usize = 0x100;
pub const AT_REMOVEDIR: usize = 0x200;
pub const AT_SYMLINK_FOLLOW: usize = 0x400;
pub const AT_EMPTY_PATH: usize = 0x1000;

pub const O_RDONLY: usize = 0;
pub const O_WRONLY: usize = 1;
pub const O_CREAT: usize = 0o100;
pub const O_EXCL: usize = 0o200;
/// The same on x86-64 and aarch64 (asm-generic/fcntl.h).
pub const O_NONBLOCK: usize = 0o4000;
pub const O_CLOEXEC: usize = 0o2000000;
/// Only a handle for `*at` calls, `fstat` and `execveat`: needs no read
/// permission, never blocks (a FIFO), and opens a symlink itself with
/// `O_NOFOLLOW`.
pub const O_PATH: usize = 0o10000000;
/// An unnamed file in the given directory (Linux 3.11; not on every file
/// system), given a name only by `linkat`. Includes `O_DIRECTORY`.
pub const O_TMPFILE: usize = 0o20000000 | O_DIRECTORY;

pub const S_IFMT: u32 = 0o170000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFLNK: u32 = 0o120000;
pub const S_ISVTX: u32 = 0o1000;

/// `getrandom` flag: fail with EAGAIN rather than wait for the entropy pool.
pub const GRND_NONBLOCK: usize = 1;

pub const SIGXFSZ: usize = 25;

pub const MFD_CLOEXEC: usize = 1;
pub const MFD_ALLOW_SEALING: usize = 2;
/// Linux 6.3: an executable memfd even under `vm.memfd_noexec=1`.
pub const MFD_EXEC: usize = 0x10;

pub const F_SETFD: usize = 2;
pub const F_ADD_SEALS: usize = 1033;
pub const F_SEAL_SEAL: usize = 1;
pub const F_SEAL_SHRINK: usize = 2;
pub const F_SEAL_GROW: usize = 4;
pub const F_SEAL_WRITE: usize = 8;
pub const F_SEAL_FUTURE_WRITE: usize = 16;

const AT_SECURE: usize = 23;

/// The parts of `struct stat` the launcher reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    pub dev: u64,
    pub ino: u64,
    pub mode: u32,
    pub uid: u32,
    pub size: i64,
    /// Seconds since the epoch.
    pub mtime: i64,
}

impl Stat {
    /// The file type bits.
    pub fn kind(&self) -> u32 {
        self.mode & S_IFMT
    }
}

/// An open file descriptor, closed on drop.
#[derive(Debug)]
pub struct Fd(pub i32);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: the descriptor is owned by this value; close takes an int.
        unsafe { syscall1(SYS_CLOSE, self.0 as usize) };
    }
}

/// `write(2)` of all of `bytes`, retrying short writes and EINTR.
pub fn write_all(fd: i32, mut bytes: &[u8]) -> Result<()> {
    while !bytes.is_empty() {
        // The kernel writes at most 0x7ffff000 bytes per call.
        let n = bytes.len().min(0x4000_0000);
        // SAFETY: the pointer and length describe a live slice.
        match check(unsafe { syscall3(SYS_WRITE, fd as usize, bytes.as_ptr() as usize, n) }) {
            Ok(0) => return Err(Errno::EIO),
            Ok(k) => bytes = &bytes[k.min(bytes.len())..],
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `read(2)` into `buf`, retrying EINTR: the number of bytes read (0 at
/// the end of the file).
pub fn read(fd: &Fd, buf: &mut [u8]) -> Result<usize> {
    loop {
        // SAFETY: the pointer and length describe a live, writable buffer.
        match check(unsafe { syscall3(SYS_READ, fd.0 as usize, buf.as_mut_ptr() as usize, buf.len()) }) {
            Err(Errno::EINTR) => {}
            other => return other,
        }
    }
}

/// `openat(dirfd, path, flags, mode)`.
pub fn openat(dirfd: i32, path: &CStr, flags: usize, mode: u32) -> Result<Fd> {
    // SAFETY: `path` is NUL-terminated and outlives the call.
    let ret = unsafe { syscall4(SYS_OPENAT, dirfd as usize, path.as_ptr() as usize, flags, mode as usize) };
    check(ret).map(|fd| Fd(fd as i32))
}

/// `fstat(fd)`; works on `O_PATH` descriptors too (Linux 3.6).
pub fn fstat(fd: &Fd) -> Result<Stat> {
    let mut buf = [0u64; 18];
    // SAFETY: `buf` is 144 writable bytes, the size of the kernel's struct.
    check(unsafe { syscall3(SYS_FSTAT, fd.0 as usize, buf.as_mut_ptr() as usize, 0) })?;
    Ok(Stat::from_raw(&buf))
}

/// `fstatat(dirfd, name, flags)`, e.g. with `AT_SYMLINK_NOFOLLOW` (lstat).
pub fn fstatat(dirfd: &Fd, name: &CStr, flags: usize) -> Result<Stat> {
    let mut buf = [0u64; 18];
    // SAFETY: `buf` is 144 writable bytes, the size of the kernel's struct;
    // `name` is NUL-terminated.
    check(unsafe {
        syscall4(SYS_NEWFSTATAT, dirfd.0 as usize, name.as_ptr() as usize, buf.as_mut_ptr() as usize, flags)
    })?;
    Ok(Stat::from_raw(&buf))
}

/// Whether the file system of `fd` is mounted `noexec` (`fstatfs`; works on
/// `O_PATH` descriptors since Linux 3.12). `false` when the kernel does not
/// report mount flags.
pub fn on_noexec_mount(fd: &Fd) -> Result<bool> {
    // `struct statfs` is 120 bytes on x86-64 and aarch64; f_flags is the u64 at 80.
    let mut buf = [0u64; 15];
    // SAFETY: `buf` is 120 writable bytes, the size of the kernel's struct.
    check(unsafe { syscall3(SYS_FSTATFS, fd.0 as usize, buf.as_mut_ptr() as usize, 0) })?;
    const ST_NOEXEC: u64 = 8;
    const ST_VALID: u64 = 0x20;
    let flags = buf[10];
    Ok(flags & ST_VALID != 0 && flags & ST_NOEXEC != 0)
}

/// `mkdirat(dirfd, name, mode)`.
pub fn mkdirat(dirfd: &Fd, name: &CStr, mode: u32) -> Result<()> {
    // SAFETY: `name` is NUL-terminated.
    check(unsafe { syscall3(SYS_MKDIRAT, dirfd.0 as usize, name.as_ptr() as usize, mode as usize) }).map(drop)
}

/// `fchmodat(dirfd, name, mode, 0)` (follows a symlink: callers name what
/// they just created in a directory only they can write).
pub fn fchmodat(dirfd: &Fd, name: &CStr, mode: u32) -> Result<()> {
    // SAFETY: `name` is NUL-terminated.
    check(unsafe { syscall3(SYS_FCHMODAT, dirfd.0 as usize, name.as_ptr() as usize, mode as usize) })
        .map(drop)
}

/// `readlinkat(dirfd, name, buf)`: the number of bytes of the target
/// (cut to `buf`'s length, as the kernel does).
pub fn readlinkat(dirfd: &Fd, name: &CStr, buf: &mut [u8]) -> Result<usize> {
    // SAFETY: `name` is NUL-terminated; the pointer and length describe a
    // live, writable buffer.
    check(unsafe {
        syscall4(
            SYS_READLINKAT,
            dirfd.0 as usize,
            name.as_ptr() as usize,
            buf.as_mut_ptr() as usize,
            buf.len(),
        )
    })
}

/// `fchmod(fd, mode)`.
pub fn fchmod(fd: &Fd, mode: u32) -> Result<()> {
    // SAFETY: plain integers.
    check(unsafe { syscall3(SYS_FCHMOD, fd.0 as usize, mode as usize, 0) }).map(drop)
}

/// `renameat(dir, from, dir, to)`: both names in one directory.
pub fn renameat(dir: &Fd, from: &CStr, to: &CStr) -> Result<()> {
    // SAFETY: both names are NUL-terminated.
    check(unsafe {
        syscall4(SYS_RENAMEAT, dir.0 as usize, from.as_ptr() as usize, dir.0 as usize, to.as_ptr() as usize)
    })
    .map(drop)
}

/// `linkat(olddirfd, old, newdir, new, flags)`.
pub fn linkat(olddirfd: i32, old: &CStr, newdir: &Fd, new: &CStr, flags: usize) -> Result<()> {
    // SAFETY: both names are NUL-terminated.
    check(unsafe {
        syscall6(
            SYS_LINKAT,
            olddirfd as usize,
            old.as_ptr() as usize,
            newdir.0 as usize,
            new.as_ptr() as usize,
            flags,
            0,
        )
    })
    .map(drop)
}

/// `unlinkat(dirfd, path, flags)`.
pub fn unlinkat(dirfd: i32, path: &CStr, flags: usize) -> Result<()> {
    // SAFETY: `path` is NUL-terminated.
    check(unsafe { syscall3(SYS_UNLINKAT, dirfd as usize, path.as_ptr() as usize, flags) }).map(drop)
}

/// `getrandom(buf, flags)`: fills all of `buf` or fails.
pub fn getrandom(buf: &mut [u8], flags: usize) -> Result<()> {
    // SAFETY: the pointer and length describe a live, writable buffer.
    let n = check(unsafe { syscall3(SYS_GETRANDOM, buf.as_mut_ptr() as usize, buf.len(), flags) })?;
    if n == buf.len() {
        Ok(())
    } else {
        Err(Errno::EAGAIN)
    }
}

/// Seconds since the epoch (`clock_gettime(CLOCK_REALTIME)`), the clock of
/// file times.
pub fn now_secs() -> Result<i64> {
    let mut ts = [0i64; 2];
    // SAFETY: `ts` is a writable struct timespec (two i64 on x86-64 and aarch64).
    check(unsafe { syscall3(SYS_CLOCK_GETTIME, 0, ts.as_mut_ptr() as usize, 0) })?;
    Ok(ts[0])
}

/// `getdents64(fd, buf)`: the number of bytes filled.
pub fn getdents64(fd: &Fd, buf: &mut [u8]) -> Result<usize> {
    // SAFETY: the pointer and length describe a live, writable buffer.
    check(unsafe { syscall3(SYS_GETDENTS64, fd.0 as usize, buf.as_mut_ptr() as usize, buf.len()) })
}

/// `memfd_create(name, flags)`.
pub fn memfd_create(name: &CStr, flags: usize) -> Result<Fd> {
    // SAFETY: `name` is NUL-terminated.
    check(unsafe { syscall3(SYS_MEMFD_CREATE, name.as_ptr() as usize, flags, 0) }).map(|fd| Fd(fd as i32))
}

/// `ftruncate(fd, len)`.
pub fn ftruncate(fd: &Fd, len: u64) -> Result<()> {
    // SAFETY: plain integers.
    check(unsafe { syscall3(SYS_FTRUNCATE, fd.0 as usize, len as usize, 0) }).map(drop)
}

/// `fcntl(fd, cmd, arg)` with an integer argument.
pub fn fcntl(fd: &Fd, cmd: usize, arg: usize) -> Result<usize> {
    // SAFETY: the commands used take an integer argument.
    check(unsafe { syscall3(SYS_FCNTL, fd.0 as usize, cmd, arg) })
}

/// `execve(path, argv, envp)`; returns only on failure.
///
/// # Safety
/// `argv` and `envp` must be NULL-terminated arrays of NUL-terminated strings.
pub unsafe fn execve(path: &CStr, argv: *const *const u8, envp: *const *const u8) -> Errno {
    // SAFETY: the caller vouches for argv and envp; `path` is NUL-terminated.
    let ret = unsafe { syscall3(SYS_EXECVE, path.as_ptr() as usize, argv as usize, envp as usize) };
    check(ret).err().unwrap_or(Errno::EINVAL)
}

/// `fexecve(fd, argv, envp)`: `execveat(fd, "", argv, envp, AT_EMPTY_PATH)`.
///
/// # Safety
/// As for [`execve`].
pub unsafe fn fexecve(fd: &Fd, argv: *const *const u8, envp: *const *const u8) -> Errno {
    let empty = c"";
    // SAFETY: the caller vouches for argv and envp; the path is "".
    let ret = unsafe {
        syscall6(
            SYS_EXECVEAT,
            fd.0 as usize,
            empty.as_ptr() as usize,
            argv as usize,
            envp as usize,
            AT_EMPTY_PATH,
            0,
        )
    };
    check(ret).err().unwrap_or(Errno::EINVAL)
}

/// Ignores SIGPIPE (`signal(SIGPIPE, SIG_IGN)`).
pub fn ignore_sigpipe() {
    let _ = ignore_signal(13);
}

/// A signal's disposition as the kernel stores it: `struct kernel_sigaction
/// { handler, flags, restorer, mask }` on x86-64 and aarch64 (both define
/// `SA_RESTORER`).
#[derive(Clone, Copy, Debug)]
pub struct SigAction([usize; 4]);

/// Sets `sig` to SIG_IGN, which also discards a pending `sig`; returns the
/// disposition it had.
pub fn ignore_signal(sig: usize) -> Result<SigAction> {
    // SIG_IGN = 1.
    let action: [usize; 4] = [1, 0, 0, 0];
    let mut old = [0usize; 4];
    // SAFETY: `action` is a valid kernel_sigaction and `old` room for one;
    // the mask is 8 bytes.
    check(unsafe {
        syscall4(SYS_RT_SIGACTION, sig, action.as_ptr() as usize, old.as_mut_ptr() as usize, 8)
    })?;
    Ok(SigAction(old))
}

/// Gives `sig` back the disposition [`ignore_signal`] returned.
pub fn restore_signal(sig: usize, old: &SigAction) {
    // SAFETY: `old` is what the kernel filled in for this signal.
    unsafe { syscall4(SYS_RT_SIGACTION, sig, old.0.as_ptr() as usize, 0, 8) };
}

/// The effective user ID.
pub fn geteuid() -> u32 {
    // SAFETY: no arguments.
    unsafe { syscall1(SYS_GETEUID, 0) as u32 }
}

/// Whether the auxiliary vector says the kernel started the process in
/// secure mode (setuid, setgid, file capabilities).
///
/// # Safety
/// `envp` must be the environment array the kernel put on the initial stack:
/// the auxiliary vector follows its terminating NULL.
pub unsafe fn secure_mode(envp: *const *const u8) -> bool {
    if envp.is_null() {
        return false;
    }
    let mut p = envp;
    // SAFETY: the array is NULL-terminated; the auxv pairs follow it and end
    // with AT_NULL (0), as the kernel lays out the initial stack.
    unsafe {
        while !(*p).is_null() {
            p = p.add(1);
        }
        let mut aux = p.add(1).cast::<usize>();
        loop {
            let (key, value) = (*aux, *aux.add(1));
            if key == 0 {
                return false;
            }
            if key == AT_SECURE {
                return value != 0;
            }
            aux = aux.add(2);
        }
    }
}

const FUTEX_WAIT_PRIVATE: usize = 128;
const FUTEX_WAKE_PRIVATE: usize = 129;

/// Sleeps while `word` holds `expected` (or until a wake-up; callers loop).
pub fn futex_wait(word: &core::sync::atomic::AtomicU32, expected: u32) {
    // SAFETY: `word` is a live, aligned u32; no timeout.
    unsafe { syscall4(SYS_FUTEX, word.as_ptr() as usize, FUTEX_WAIT_PRIVATE, expected as usize, 0) };
}

/// Waits until a thread started by [`spawn_thread`] has exited: until the
/// kernel has cleared `exited`. It wakes that word as a shared futex, which
/// a private wait does not see.
pub fn wait_exited(exited: &core::sync::atomic::AtomicU32) {
    const FUTEX_WAIT: usize = 0;
    loop {
        let v = exited.load(core::sync::atomic::Ordering::Acquire);
        if v == 0 {
            return;
        }
        // SAFETY: `exited` is a live, aligned u32; no timeout.
        unsafe { syscall4(SYS_FUTEX, exited.as_ptr() as usize, FUTEX_WAIT, v as usize, 0) };
    }
}

/// Wakes every thread waiting on `word`.
pub fn futex_wake(word: &core::sync::atomic::AtomicU32) {
    // SAFETY: `word` is a live, aligned u32.
    unsafe { syscall3(SYS_FUTEX, word.as_ptr() as usize, FUTEX_WAKE_PRIVATE, i32::MAX as usize) };
}

/// Starts `f(arg)` on a new thread of this process, running on the stack
/// that ends at `stack_top`; the thread ends when `f` returns. When it has
/// ended, the kernel sets `*exited` to 0 and wakes its futex waiters
/// (`CLONE_CHILD_CLEARTID`; [`wait_exited`] waits for it), so its stack
/// may be freed after that.
///
/// # Safety
/// `stack_top` must be the 16-byte aligned end of a writable region large
/// enough for `f`, which must stay mapped, like everything `arg` points to,
/// until `*exited` is 0. `f` must not touch thread-local storage (there is
/// none) nor unwind.
pub unsafe fn spawn_thread(
    stack_top: *mut u8,
    f: extern "C" fn(*const u8),
    arg: *const u8,
    exited: &core::sync::atomic::AtomicU32,
) -> Result<()> {
    const FLAGS: usize = 0x100 // CLONE_VM
        | 0x200 // CLONE_FS
        | 0x400 // CLONE_FILES
        | 0x800 // CLONE_SIGHAND
        | 0x1_0000 // CLONE_THREAD
        | 0x4_0000 // CLONE_SYSVSEM
        | 0x20_0000; // CLONE_CHILD_CLEARTID
                     // SAFETY: forwarded from this function's contract.
    let ret = unsafe { clone_thread(FLAGS, stack_top, f, arg, exited.as_ptr()) };
    check(ret).map(drop)
}

/// An anonymous private mapping, unmapped on drop: the launcher's only heap.
#[derive(Debug)]
pub struct Mapping {
    ptr: *mut u8,
    len: usize,
}

const HUGE: usize = 2 << 20;

impl Mapping {
    /// Maps at least `len` zeroed bytes. From 2 MiB on, the usable part
    /// starts on a 2 MiB boundary and asks for transparent huge pages: the
    /// kernel then zeroes and maps 2 MiB per fault instead of 4 KiB (measured
    /// on 34 MB: 4 ms instead of 18 ms).
    pub fn new(len: usize) -> Result<Mapping> {
        let huge = len >= HUGE;
        let total = len.checked_add(if huge { HUGE } else { 0 }).ok_or(Errno::ENOMEM)?.max(1);
        const PROT_READ_WRITE: usize = 3;
        const MAP_PRIVATE_ANONYMOUS: usize = 0x22;
        // Small mappings are filled at once: one call maps every page,
        // cheaper than a fault per 4 KiB page (measured on 34 MB: 11 ms
        // against 18 ms). Huge-page ones fault 2 MiB at a time anyway.
        const MAP_POPULATE: usize = 0x8000;
        let flags = MAP_PRIVATE_ANONYMOUS | if huge { 0 } else { MAP_POPULATE };
        // SAFETY: a fresh anonymous mapping aliases nothing.
        let ret = unsafe { syscall6(SYS_MMAP, 0, total, PROT_READ_WRITE, flags, usize::MAX, 0) };
        let base = check(ret)?;
        if !huge {
            return Ok(Mapping { ptr: base as *mut u8, len: total });
        }
        // Give back the unaligned head; the aligned rest is the mapping.
        let aligned = base.next_multiple_of(HUGE);
        if aligned > base {
            // SAFETY: [base, aligned) is part of the mapping just made, unused.
            unsafe { syscall3(SYS_MUNMAP, base, aligned - base, 0) };
        }
        let len = total - (aligned - base);
        const MADV_HUGEPAGE: usize = 14;
        // Advice only: without THP the mapping works with small pages.
        // SAFETY: the range lies inside the mapping.
        unsafe { syscall3(SYS_MADVISE, aligned, len, MADV_HUGEPAGE) };
        Ok(Mapping { ptr: aligned as *mut u8, len })
    }

    /// The mapped bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: ptr..ptr+len is mapped readable and owned by this value.
        unsafe { core::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// The mapped bytes, writable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: ptr..ptr+len is mapped read-write and owned by this value.
        unsafe { core::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the range was mapped by `new` and is not used after this.
        unsafe { syscall3(SYS_MUNMAP, self.ptr as usize, self.len, 0) };
    }
}

/// Runs `other` on a second thread while `here` runs on this one, and
/// returns `here`'s result once both have finished (the thread has exited).
/// Where no thread can be started, runs `other` after `here`.
pub fn join<A: FnOnce() + Send, R>(other: A, here: impl FnOnce() -> R) -> R {
    use core::sync::atomic::AtomicU32;
    const STACK: usize = 256 << 10;
    extern "C" fn trampoline<A: FnOnce()>(slot: *const u8) {
        // SAFETY: `join` passes its `Option<A>`, alive until the thread exits.
        if let Some(f) = unsafe { &mut *slot.cast_mut().cast::<Option<A>>() }.take() {
            f();
        }
    }
    let mut slot = Some(other);
    let Ok(mut stack) = Mapping::new(STACK) else {
        let r = here();
        if let Some(f) = slot.take() {
            f();
        }
        return r;
    };
    // The word the kernel clears when the thread exits: at the bottom of
    // its stack mapping, far below what the thread uses.
    let base = stack.as_mut_slice().as_mut_ptr();
    // SAFETY: the mapping is page-aligned, writable and much larger than a u32.
    let alive = unsafe {
        base.cast::<AtomicU32>().write(AtomicU32::new(1));
        &*base.cast::<AtomicU32>()
    };
    // SAFETY: the stack's top is its aligned end; `slot` and everything
    // `other` borrows outlive the thread, which is waited for below.
    let started = unsafe {
        spawn_thread(base.add(STACK), trampoline::<A>, (&raw mut slot).cast::<u8>().cast_const(), alive)
    };
    let r = here();
    if started.is_ok() {
        wait_exited(alive);
    }
    // Not started: run it here. Started: it has run and taken the closure.
    if let Some(f) = slot.take() {
        f();
    }
    r
}
