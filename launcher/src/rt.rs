//! The start of a process without a C runtime, used by [`crate::entry!`].

use crate::bundle::Bundle;
use crate::sys;
use crate::text::Buf;
use core::fmt::Write as _;

/// Called by `_start` with the initial stack pointer: argc, then argv, a
/// NULL, envp, a NULL, then the auxiliary vector.
///
/// # Safety
/// `sp` must be the stack pointer the kernel (or the dynamic loader) handed
/// to the entry point.
pub unsafe fn start(bundle: &'static Bundle, sp: *const usize) -> ! {
    // SAFETY: the layout of the initial stack, per the x86-64 psABI.
    let code = unsafe {
        let argc = *sp;
        let argv = sp.add(1).cast::<*const u8>();
        let envp = argv.add(argc + 1);
        crate::main(bundle, argc, argv, envp)
    };
    sys::exit(code)
}

/// The panic handler: one line on stderr and [`crate::EXIT_FAILURE`]. The
/// launcher is written not to panic; this only makes a bug visible.
pub fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut line = Buf::<512>::new();
    let _ = write!(line, "[multiarch] error: internal error: panicked");
    if let Some(at) = info.location() {
        let _ = write!(line, " at {at}");
    }
    let _ = writeln!(line, ": {}", info.message());
    let _ = sys::write_all(2, line.as_bytes());
    sys::exit(crate::EXIT_FAILURE)
}

/// The entries of a NULL-terminated array of C strings.
#[derive(Clone, Debug)]
pub struct CStrings {
    next: *const *const u8,
}

impl CStrings {
    /// # Safety
    /// `array` must be NULL or point to a NULL-terminated array of pointers
    /// to NUL-terminated strings that live for the rest of the process.
    pub unsafe fn new(array: *const *const u8) -> CStrings {
        CStrings { next: array }
    }
}

impl Iterator for CStrings {
    type Item = &'static [u8];

    fn next(&mut self) -> Option<&'static [u8]> {
        if self.next.is_null() {
            return None;
        }
        // SAFETY: `new`'s contract: we stop at the NULL entry and never step past it.
        let p = unsafe { *self.next };
        if p.is_null() {
            return None;
        }
        // SAFETY: as above; the entry is a NUL-terminated string that lives on.
        unsafe {
            self.next = self.next.add(1);
            let mut len = 0;
            while *p.add(len) != 0 {
                len += 1;
            }
            Some(core::slice::from_raw_parts(p, len))
        }
    }
}

type Chunk = u128;
const CHUNK: usize = 16;

/// Copies `n` bytes from `src` to `dest`, which may overlap (memmove).
///
/// # Safety
/// `src` must be valid for `n` reads and `dest` for `n` writes.
#[inline(always)]
pub unsafe fn copy(dest: *mut u8, src: *const u8, n: usize) {
    // SAFETY: every access below is within [0, n) of src or dest, which the
    // caller guarantees; reads of a step happen before its writes, so an
    // overlap cannot feed written bytes back into the copy, except where the
    // direction is chosen so that it cannot.
    unsafe {
        use core::ptr::{read_unaligned as ld, write_unaligned as st};
        use core::sync::atomic::{compiler_fence, Ordering};
        if n <= 2 * CHUNK {
            if n >= CHUNK {
                let (a, b) = (ld(src.cast::<Chunk>()), ld(src.add(n - CHUNK).cast::<Chunk>()));
                st(dest.cast::<Chunk>(), a);
                st(dest.add(n - CHUNK).cast::<Chunk>(), b);
            } else if n >= 8 {
                let (a, b) = (ld(src.cast::<u64>()), ld(src.add(n - 8).cast::<u64>()));
                st(dest.cast::<u64>(), a);
                st(dest.add(n - 8).cast::<u64>(), b);
            } else if n >= 4 {
                let (a, b) = (ld(src.cast::<u32>()), ld(src.add(n - 4).cast::<u32>()));
                st(dest.cast::<u32>(), a);
                st(dest.add(n - 4).cast::<u32>(), b);
            } else if n > 0 {
                let (a, b, c) = (*src, *src.add(n / 2), *src.add(n - 1));
                *dest = a;
                *dest.add(n / 2) = b;
                *dest.add(n - 1) = c;
            }
            return;
        }
        let gap = (dest as usize).wrapping_sub(src as usize);
        if n <= 256 || gap < n {
            // Forward when dest is before src or apart from it; backward when
            // dest overlaps src's tail. The chunk at the far end is read
            // first and written last, so no chunk reads what the copy wrote.
            let mut i = 0;
            if gap >= n {
                let last = ld(src.add(n - CHUNK).cast::<Chunk>());
                while i + CHUNK < n {
                    st(dest.add(i).cast::<Chunk>(), ld(src.add(i).cast::<Chunk>()));
                    i += CHUNK;
                    // Keeps LLVM from turning the loop into a call of
                    // memcpy/memmove: this function.
                    compiler_fence(Ordering::SeqCst);
                }
                st(dest.add(n - CHUNK).cast::<Chunk>(), last);
            } else {
                let first = ld(src.cast::<Chunk>());
                let mut end = n;
                while end > CHUNK {
                    end -= CHUNK;
                    st(dest.add(end).cast::<Chunk>(), ld(src.add(end).cast::<Chunk>()));
                    compiler_fence(Ordering::SeqCst);
                }
                st(dest.cast::<Chunk>(), first);
            }
            return;
        }
        core::arch::asm!("rep movsb", inout("rcx") n => _, inout("rdi") dest => _,
            inout("rsi") src => _, options(nostack, preserves_flags));
    }
}

/// The text of `_start`. With `$relocate`, it first applies the
/// `R_X86_64_RELATIVE` relocations of a static PIE, which no dynamic loader
/// applies: for each `Elf64_Rela` in `DT_RELA`/`DT_RELASZ` of `_DYNAMIC`,
/// `*(base + offset) = base + addend`, where `base` is where `__ehdr_start`
/// was loaded (a PIE links at 0). It uses only registers and rip-relative
/// addresses, so it needs no relocation itself. Other relocation types do
/// not occur in a static PIE without a C library (the tests check it).
#[doc(hidden)]
#[macro_export]
macro_rules! __start_asm {
    (true) => {
        ::core::concat!(
            ".globl _start\n",
            ".type _start,@function\n",
            ".weak _DYNAMIC\n",
            ".hidden _DYNAMIC\n",
            "_start:\n",
            "xor ebp, ebp\n",
            "mov r12, rsp\n",
            "lea r8, [rip + __ehdr_start]\n",
            "lea r9, [rip + _DYNAMIC]\n",
            // A non-PIE static link has no _DYNAMIC (weak: 0) and no relocations.
            "test r9, r9\n",
            "jz 7f\n",
            "xor r10d, r10d\n",
            "xor r11d, r11d\n",
            "2:\n",
            "mov rax, [r9]\n",
            "test rax, rax\n",
            "jz 4f\n",
            "cmp rax, 7\n", // DT_RELA
            "jne 3f\n",
            "mov r10, [r9 + 8]\n",
            "3:\n",
            "cmp rax, 8\n", // DT_RELASZ
            "jne 5f\n",
            "mov r11, [r9 + 8]\n",
            "5:\n",
            "add r9, 16\n",
            "jmp 2b\n",
            "4:\n",
            "test r10, r10\n",
            "jz 7f\n",
            "add r10, r8\n",
            "add r11, r10\n",
            "6:\n",
            "cmp r10, r11\n",
            "jae 7f\n",
            "cmp dword ptr [r10 + 8], 8\n", // R_X86_64_RELATIVE
            "jne 8f\n",
            "mov rax, [r10 + 16]\n",
            "add rax, r8\n",
            "mov rcx, [r10]\n",
            "mov [rcx + r8], rax\n",
            "8:\n",
            "add r10, 24\n",
            "jmp 6b\n",
            "7:\n",
            "mov rdi, r12\n",
            "and rsp, -16\n",
            "call {start}\n",
            "ud2\n",
        )
    };
    (false) => {
        ::core::concat!(
            ".globl _start\n",
            ".type _start,@function\n",
            "_start:\n",
            "xor ebp, ebp\n",
            "mov rdi, rsp\n",
            "and rsp, -16\n",
            "call {start}\n",
            "ud2\n",
        )
    };
}

/// `memcpy`, `memmove`, `memset`, `memcmp`, `bcmp` and `strlen`, which
/// compiled Rust code calls and a C library would otherwise supply.
///
/// The decoder copies millions of short runs, so sizes up to 256 bytes are
/// done with unaligned 16-byte moves (the first and last 16 bytes overlap
/// the middle instead of a byte loop); `rep movsb`, which costs a few dozen
/// cycles to start but then runs at full speed on CPUs with ERMSB, takes the
/// rest. With `rep movsb` alone, decoding a 34 MB build took 50 ms instead
/// of 18 ms.
#[doc(hidden)]
#[macro_export]
macro_rules! __mem_functions {
    () => {
        /// # Safety
        /// As C's `memcpy`.
        #[no_mangle]
        pub unsafe extern "C" fn memcpy(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
            // SAFETY: the caller guarantees both ranges are valid and disjoint.
            unsafe { $crate::rt::copy(dest, src, n) };
            dest
        }

        /// # Safety
        /// As C's `memmove`.
        #[no_mangle]
        pub unsafe extern "C" fn memmove(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
            // SAFETY: the caller guarantees both ranges are valid.
            unsafe { $crate::rt::copy(dest, src, n) };
            dest
        }

        /// # Safety
        /// As C's `memset`.
        #[no_mangle]
        pub unsafe extern "C" fn memset(dest: *mut u8, c: i32, n: usize) -> *mut u8 {
            // SAFETY: the caller guarantees the range is valid.
            unsafe {
                ::core::arch::asm!("rep stosb", inout("rcx") n => _, inout("rdi") dest => _,
                    in("al") c as u8, options(nostack, preserves_flags))
            };
            dest
        }

        /// # Safety
        /// As C's `memcmp`.
        #[no_mangle]
        pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
            let mut i = 0;
            while i < n {
                // SAFETY: the caller guarantees n readable bytes at a and b.
                let (x, y) = unsafe { (::core::ptr::read_volatile(a.add(i)), ::core::ptr::read_volatile(b.add(i))) };
                if x != y {
                    return i32::from(x) - i32::from(y);
                }
                i += 1;
            }
            0
        }

        /// # Safety
        /// As C's `strlen`.
        #[no_mangle]
        pub unsafe extern "C" fn strlen(s: *const u8) -> usize {
            let mut n = 0;
            // SAFETY: the caller guarantees a NUL-terminated string at s.
            while unsafe { ::core::ptr::read_volatile(s.add(n)) } != 0 {
                n += 1;
            }
            n
        }

        /// # Safety
        /// As C's `bcmp`.
        #[no_mangle]
        pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
            // SAFETY: forwarded.
            unsafe { memcmp(a, b, n) }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `copy` against core's memmove, for every size up to past the `rep
    /// movsb` threshold and source/destination offsets that overlap both ways.
    #[test]
    fn copy_matches_memmove_whatever_the_overlap() {
        let original: Vec<u8> = (0..1200u32).map(|i| (i * 7 + i / 256) as u8).collect();
        for n in (0..300).chain([511, 512, 513, 700]) {
            for (src, dst) in
                [(100, 100), (100, 101), (101, 100), (100, 117), (117, 100), (0, 400), (400, 0), (50, 90)]
            {
                let mut want = original.clone();
                let mut got = original.clone();
                // SAFETY: both ranges lie inside the 1200-byte buffers.
                unsafe {
                    core::ptr::copy(want.as_ptr().add(src), want.as_mut_ptr().add(dst), n);
                    copy(got.as_mut_ptr().add(dst), got.as_ptr().add(src), n);
                }
                assert!(got == want, "n {n}, src {src}, dst {dst}");
            }
        }
    }

    #[test]
    fn c_strings_stop_at_null() {
        let a = c"first";
        let b = c"";
        let array = [a.as_ptr().cast::<u8>(), b.as_ptr().cast::<u8>(), core::ptr::null()];
        // SAFETY: a NULL-terminated array of NUL-terminated strings that outlive the iterator.
        let all: Vec<&[u8]> = unsafe { CStrings::new(array.as_ptr()) }.collect();
        assert_eq!(all, [&b"first"[..], &b""[..]]);
        // SAFETY: NULL is allowed.
        assert_eq!(unsafe { CStrings::new(core::ptr::null()) }.count(), 0);
    }
}
