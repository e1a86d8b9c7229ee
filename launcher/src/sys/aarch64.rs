//! The aarch64 half of [`crate::sys`]: `svc #0`, the system call numbers of
//! the kernel's generic table (`asm-generic/unistd.h`: no `open`, `stat` or
//! `rename`, only their `*at` forms), and the structures and flags whose
//! layout differs from x86-64.

use super::Stat;
use core::arch::asm;
use core::sync::atomic::{AtomicPtr, Ordering};

// The aarch64 Linux convention: number in x8, arguments in x0..x5, result
// in x0; the kernel preserves every other register.

#[inline]
pub(super) unsafe fn syscall1(n: usize, a: usize) -> isize {
    let ret: isize;
    // SAFETY: the caller vouches for the call's arguments; the asm follows
    // the kernel's register convention and touches no stack.
    unsafe {
        asm!("svc #0", in("x8") n, inlateout("x0") a as isize => ret, options(nostack, preserves_flags))
    };
    ret
}

#[inline]
pub(super) unsafe fn syscall3(n: usize, a: usize, b: usize, c: usize) -> isize {
    let ret: isize;
    // SAFETY: as in `syscall1`.
    unsafe {
        asm!("svc #0", in("x8") n, inlateout("x0") a as isize => ret, in("x1") b, in("x2") c,
             options(nostack, preserves_flags))
    };
    ret
}

#[inline]
pub(super) unsafe fn syscall4(n: usize, a: usize, b: usize, c: usize, d: usize) -> isize {
    let ret: isize;
    // SAFETY: as in `syscall1`.
    unsafe {
        asm!("svc #0", in("x8") n, inlateout("x0") a as isize => ret, in("x1") b, in("x2") c, in("x3") d,
             options(nostack, preserves_flags))
    };
    ret
}

#[inline]
pub(super) unsafe fn syscall6(n: usize, a: usize, b: usize, c: usize, d: usize, e: usize, g: usize) -> isize {
    let ret: isize;
    // SAFETY: as in `syscall1`.
    unsafe {
        asm!("svc #0", in("x8") n, inlateout("x0") a as isize => ret, in("x1") b, in("x2") c, in("x3") d,
             in("x4") e, in("x5") g, options(nostack, preserves_flags))
    };
    ret
}

pub(super) const SYS_FCNTL: usize = 25;
pub(super) const SYS_MKDIRAT: usize = 34;
pub(super) const SYS_UNLINKAT: usize = 35;
pub(super) const SYS_LINKAT: usize = 37;
pub(super) const SYS_RENAMEAT: usize = 38;
pub(super) const SYS_FSTATFS: usize = 44;
pub(super) const SYS_FTRUNCATE: usize = 46;
pub(super) const SYS_FCHMOD: usize = 52;
pub(super) const SYS_FCHMODAT: usize = 53;
pub(super) const SYS_OPENAT: usize = 56;
pub(super) const SYS_CLOSE: usize = 57;
pub(super) const SYS_GETDENTS64: usize = 61;
pub(super) const SYS_READ: usize = 63;
pub(super) const SYS_WRITE: usize = 64;
pub(super) const SYS_READLINKAT: usize = 78;
pub(super) const SYS_NEWFSTATAT: usize = 79;
pub(super) const SYS_FSTAT: usize = 80;
pub(super) const SYS_EXIT: usize = 93;
pub(super) const SYS_EXIT_GROUP: usize = 94;
pub(super) const SYS_FUTEX: usize = 98;
pub(super) const SYS_CLOCK_GETTIME: usize = 113;
pub(super) const SYS_RT_SIGACTION: usize = 134;
pub(super) const SYS_GETEUID: usize = 175;
pub(super) const SYS_MUNMAP: usize = 215;
pub(super) const SYS_CLONE: usize = 220;
pub(super) const SYS_EXECVE: usize = 221;
pub(super) const SYS_MMAP: usize = 222;
pub(super) const SYS_MADVISE: usize = 233;
pub(super) const SYS_GETRANDOM: usize = 278;
pub(super) const SYS_MEMFD_CREATE: usize = 279;
pub(super) const SYS_EXECVEAT: usize = 281;

// arm64's asm/fcntl.h: these two differ from x86-64's (and O_TMPFILE, made
// of O_DIRECTORY, with them).
pub const O_DIRECTORY: usize = 0o40000;
pub const O_NOFOLLOW: usize = 0o100000;

impl Stat {
    /// From the kernel's generic `struct stat` (128 bytes): st_dev at 0,
    /// st_ino at 8, st_mode at 16, st_uid at 24, st_size at 48, st_mtime at 88.
    pub(super) fn from_raw(buf: &[u64; 18]) -> Stat {
        Stat {
            dev: buf[0],
            ino: buf[1],
            mode: buf[2] as u32,
            uid: buf[3] as u32,
            size: buf[6] as i64,
            mtime: buf[11] as i64,
        }
    }
}

/// The virtual counter (CNTVCT_EL0, which Linux lets user space read): a
/// value that differs between calls.
pub fn ticks() -> u64 {
    let t: u64;
    // SAFETY: reads a system register that EL0 may read; no memory access.
    unsafe { asm!("mrs {t}, cntvct_el0", t = out(reg) t, options(nomem, nostack, preserves_flags)) };
    t
}

/// Where the auxiliary vector is, once [`remember_auxv`] has run.
static AUXV: AtomicPtr<usize> = AtomicPtr::new(core::ptr::null_mut());

/// Records where the auxiliary vector is, for [`auxv`]: `rt::start` calls
/// it first thing.
///
/// # Safety
/// `envp` must be the environment array the kernel put on the initial stack:
/// the auxiliary vector follows its terminating NULL.
pub unsafe fn remember_auxv(envp: *const *const u8) {
    if envp.is_null() {
        return;
    }
    let mut p = envp;
    // SAFETY: the array is NULL-terminated (the caller's contract).
    unsafe {
        while !(*p).is_null() {
            p = p.add(1);
        }
        AUXV.store(p.add(1).cast::<usize>().cast_mut(), Ordering::Relaxed);
    }
}

/// The value of entry `key` of the auxiliary vector (`AT_HWCAP`, ...), or
/// `None` when the kernel passed none or [`remember_auxv`] has not run.
pub fn auxv(key: usize) -> Option<usize> {
    let mut aux = AUXV.load(Ordering::Relaxed).cast_const();
    if aux.is_null() {
        return None;
    }
    // SAFETY: `remember_auxv` stored the start of the kernel's vector,
    // pairs of words that end with AT_NULL (0) and live as long as the
    // process.
    unsafe {
        loop {
            let (k, value) = (*aux, *aux.add(1));
            if k == 0 {
                return None;
            }
            if k == key {
                return Some(value);
            }
            aux = aux.add(2);
        }
    }
}

/// Ends the process.
pub fn exit(code: i32) -> ! {
    // SAFETY: exit_group does not return.
    unsafe { asm!("svc #0", in("x8") SYS_EXIT_GROUP, in("x0") code as isize, options(noreturn, nostack)) }
}

/// `clone(flags, stack_top, NULL, 0, exited)` (arm64 passes the TLS before
/// the child's TID pointer); in the child, calls `f(arg)` on the new stack
/// and then ends the thread. Returns the parent's result.
///
/// # Safety
/// As [`super::spawn_thread`].
pub(super) unsafe fn clone_thread(
    flags: usize,
    stack_top: *mut u8,
    f: extern "C" fn(*const u8),
    arg: *const u8,
    exited: *mut u32,
) -> isize {
    let ret: isize;
    // SAFETY: the caller vouches for the stack and the function. The child
    // starts on the new stack with the parent's registers (x9 and x10 carry
    // arg and f across), calls f(arg) and then exits the thread; it never
    // returns into the parent's Rust frame. The parent continues after the
    // system call.
    unsafe {
        asm!(
            "svc #0",
            "cbnz x0, 2f",
            "mov x29, xzr",
            "mov x30, xzr",
            "mov x0, x9",
            "blr x10",
            "mov x0, xzr",
            "mov x8, #{exit}",
            "svc #0",
            "udf #0",
            "2:",
            exit = const SYS_EXIT,
            in("x8") SYS_CLONE,
            inlateout("x0") flags as isize => ret,
            in("x1") stack_top,
            in("x2") 0usize,
            in("x3") 0usize,
            in("x4") exited,
            in("x9") arg,
            in("x10") f,
        )
    };
    ret
}
