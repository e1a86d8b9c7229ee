//! The start of a process without a C runtime, used by [`crate::entry!`].

use crate::bundle::Bundle;
use crate::sys;
use crate::text::Buf;
use core::fmt::Write as _;

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "aarch64")]
use aarch64 as arch;
#[cfg(target_arch = "x86_64")]
use x86_64 as arch;

/// Called by `_start` with the initial stack pointer: argc, then argv, a
/// NULL, envp, a NULL, then the auxiliary vector.
///
/// # Safety
/// `sp` must be the stack pointer the kernel (or the dynamic loader) handed
/// to the entry point.
pub unsafe fn start(bundle: &'static Bundle, sp: *const usize) -> ! {
    // SAFETY: the layout of the initial stack, per the System V psABIs of
    // x86-64 and aarch64 alike.
    let code = unsafe {
        let argc = *sp;
        let argv = sp.add(1).cast::<*const u8>();
        let envp = argv.add(argc + 1);
        // The CPU's features are in the auxiliary vector (AT_HWCAP*).
        #[cfg(target_arch = "aarch64")]
        sys::remember_auxv(envp);
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
        arch::copy_forward(dest, src, n);
    }
}

/// Sets `n` bytes at `dest` to `c` (memset).
///
/// # Safety
/// `dest` must be valid for `n` writes.
#[inline(always)]
pub unsafe fn fill(dest: *mut u8, c: u8, n: usize) {
    // SAFETY: forwarded.
    unsafe { arch::fill(dest, c, n) }
}

/// `memcpy`, `memmove`, `memset`, `memcmp`, `bcmp` and `strlen`, which
/// compiled Rust code calls and a C library would otherwise supply.
///
/// The decoder copies millions of short runs, so sizes up to 256 bytes are
/// done with unaligned 16-byte moves (the first and last 16 bytes overlap
/// the middle instead of a byte loop); on x86-64, `rep movsb`, which costs a
/// few dozen cycles to start but then runs at full speed on CPUs with ERMSB,
/// takes the rest (with `rep movsb` alone, decoding a 34 MB build took 50 ms
/// instead of 18 ms); on aarch64, a loop of 64-byte steps.
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
            unsafe { $crate::rt::fill(dest, c as u8, n) };
            dest
        }

        /// # Safety
        /// As C's `memcmp`.
        #[no_mangle]
        pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
            let mut i = 0;
            while i < n {
                // SAFETY: the caller guarantees n readable bytes at a and b.
                let (x, y) =
                    unsafe { (::core::ptr::read_volatile(a.add(i)), ::core::ptr::read_volatile(b.add(i))) };
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
