//! The x86-64 half of [`crate::sys`]: the `syscall` instruction, system call
//! numbers, and the structures and flags whose layout differs between
//! architectures.

use super::Stat;
use core::arch::asm;

// The x86-64 Linux convention: number in rax, arguments in rdi, rsi, rdx,
// r10, r8, r9; the kernel clobbers rcx and r11 and returns in rax.

#[inline]
pub(super) unsafe fn syscall1(n: usize, a: usize) -> isize {
    let ret: isize;
    // SAFETY: the caller vouches for the call's arguments; the asm follows
    // the kernel's register convention and touches no stack.
    unsafe {
        asm!("syscall", inlateout("rax") n as isize => ret, in("rdi") a,
             lateout("rcx") _, lateout("r11") _, options(nostack, preserves_flags))
    };
    ret
}

#[inline]
pub(super) unsafe fn syscall3(n: usize, a: usize, b: usize, c: usize) -> isize {
    let ret: isize;
    // SAFETY: as in `syscall1`.
    unsafe {
        asm!("syscall", inlateout("rax") n as isize => ret, in("rdi") a, in("rsi") b, in("rdx") c,
             lateout("rcx") _, lateout("r11") _, options(nostack, preserves_flags))
    };
    ret
}

#[inline]
pub(super) unsafe fn syscall4(n: usize, a: usize, b: usize, c: usize, d: usize) -> isize {
    let ret: isize;
    // SAFETY: as in `syscall1`.
    unsafe {
        asm!("syscall", inlateout("rax") n as isize => ret, in("rdi") a, in("rsi") b, in("rdx") c,
             in("r10") d, lateout("rcx") _, lateout("r11") _, options(nostack, preserves_flags))
    };
    ret
}

#[inline]
pub(super) unsafe fn syscall6(n: usize, a: usize, b: usize, c: usize, d: usize, e: usize, g: usize) -> isize {
    let ret: isize;
    // SAFETY: as in `syscall1`.
    unsafe {
        asm!("syscall", inlateout("rax") n as isize => ret, in("rdi") a, in("rsi") b, in("rdx") c,
             in("r10") d, in("r8") e, in("r9") g, lateout("rcx") _, lateout("r11") _,
             options(nostack, preserves_flags))
    };
    ret
}

pub(super) const SYS_READ: usize = 0;
pub(super) const SYS_WRITE: usize = 1;
pub(super) const SYS_CLOSE: usize = 3;
pub(super) const SYS_FSTAT: usize = 5;
pub(super) const SYS_MMAP: usize = 9;
pub(super) const SYS_MUNMAP: usize = 11;
pub(super) const SYS_RT_SIGACTION: usize = 13;
pub(super) const SYS_MADVISE: usize = 28;
pub(super) const SYS_CLONE: usize = 56;
pub(super) const SYS_EXIT: usize = 60;
pub(super) const SYS_EXECVE: usize = 59;
pub(super) const SYS_FCNTL: usize = 72;
pub(super) const SYS_FTRUNCATE: usize = 77;
pub(super) const SYS_FCHMOD: usize = 91;
pub(super) const SYS_GETEUID: usize = 107;
pub(super) const SYS_FSTATFS: usize = 138;
pub(super) const SYS_FUTEX: usize = 202;
pub(super) const SYS_GETDENTS64: usize = 217;
pub(super) const SYS_CLOCK_GETTIME: usize = 228;
pub(super) const SYS_EXIT_GROUP: usize = 231;
pub(super) const SYS_OPENAT: usize = 257;
pub(super) const SYS_MKDIRAT: usize = 258;
pub(super) const SYS_NEWFSTATAT: usize = 262;
pub(super) const SYS_UNLINKAT: usize = 263;
pub(super) const SYS_RENAMEAT: usize = 264;
pub(super) const SYS_LINKAT: usize = 265;
pub(super) const SYS_READLINKAT: usize = 267;
pub(super) const SYS_FCHMODAT: usize = 268;
pub(super) const SYS_MEMFD_CREATE: usize = 319;
pub(super) const SYS_GETRANDOM: usize = 318;
pub(super) const SYS_EXECVEAT: usize = 322;

pub const O_DIRECTORY: usize = 0o200000;
pub const O_NOFOLLOW: usize = 0o400000;

impl Stat {
    /// From the kernel's x86-64 `struct stat` (144 bytes): st_dev at 0,
    /// st_ino at 8, st_mode at 24, st_uid at 28, st_size at 48, st_mtime at 88.
    pub(super) fn from_raw(buf: &[u64; 18]) -> Stat {
        Stat {
            dev: buf[0],
            ino: buf[1],
            mode: buf[3] as u32,
            uid: (buf[3] >> 32) as u32,
            size: buf[6] as i64,
            mtime: buf[11] as i64,
        }
    }
}

/// The time-stamp counter: a value that differs between calls.
pub fn ticks() -> u64 {
    // SAFETY: rdtsc reads the time-stamp counter, available on x86-64.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Ends the process.
pub fn exit(code: i32) -> ! {
    // SAFETY: exit_group does not return.
    unsafe { asm!("syscall", in("rax") SYS_EXIT_GROUP, in("rdi") code as isize, options(noreturn, nostack)) }
}

/// `clone(flags, stack_top, NULL, exited, 0)`; in the child, calls `f(arg)`
/// on the new stack and then ends the thread. Returns the parent's result.
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
    // SAFETY: the caller vouches for the stack and the function. In the
    // child, which starts on the new stack with the parent's registers,
    // the asm calls f(arg) and then exits the thread; it never returns into
    // the parent's Rust frame. The parent continues after the syscall.
    unsafe {
        asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "xor ebp, ebp",
            "mov rdi, r12",
            "call r13",
            "mov eax, {exit}",
            "xor edi, edi",
            "syscall",
            "ud2",
            "2:",
            exit = const SYS_EXIT,
            inlateout("rax") SYS_CLONE as isize => ret,
            in("rdi") flags,
            in("rsi") stack_top,
            in("rdx") 0usize,
            in("r10") exited,
            in("r8") 0usize,
            in("r12") arg,
            in("r13") f,
            lateout("rcx") _,
            lateout("r11") _,
        )
    };
    ret
}
