//! The aarch64 half of [`crate::rt`]: `_start` and the memory functions'
//! bulk loops.

use super::Chunk;
use super::CHUNK;

/// Copies `n` bytes, more than 256, from `src` to `dest` front to back:
/// `dest` lies before `src` or apart from it. No `rep movsb` here: 64 bytes
/// per step in four 16-byte registers, then 16 at a time.
///
/// # Safety
/// `src` must be valid for `n` reads and `dest` for `n` writes; `n` is at
/// least `CHUNK`; `dest` does not overlap the tail of `src`.
#[inline(always)]
pub(super) unsafe fn copy_forward(dest: *mut u8, src: *const u8, n: usize) {
    use core::ptr::{read_unaligned as ld, write_unaligned as st};
    use core::sync::atomic::{compiler_fence, Ordering};
    // SAFETY: every access is within [0, n) of src or dest. Each step reads
    // before it writes and never reads below what it writes, so a `dest`
    // before an overlapping `src` reads nothing already overwritten; the
    // last chunk is read first for the same reason.
    unsafe {
        let last = ld(src.add(n - CHUNK).cast::<Chunk>());
        let mut i = 0;
        while i + 4 * CHUNK < n {
            let a = ld(src.add(i).cast::<Chunk>());
            let b = ld(src.add(i + CHUNK).cast::<Chunk>());
            let c = ld(src.add(i + 2 * CHUNK).cast::<Chunk>());
            let d = ld(src.add(i + 3 * CHUNK).cast::<Chunk>());
            st(dest.add(i).cast::<Chunk>(), a);
            st(dest.add(i + CHUNK).cast::<Chunk>(), b);
            st(dest.add(i + 2 * CHUNK).cast::<Chunk>(), c);
            st(dest.add(i + 3 * CHUNK).cast::<Chunk>(), d);
            i += 4 * CHUNK;
            // Keeps LLVM from turning the loop into a call of memcpy: this
            // function.
            compiler_fence(Ordering::SeqCst);
        }
        while i + CHUNK < n {
            st(dest.add(i).cast::<Chunk>(), ld(src.add(i).cast::<Chunk>()));
            i += CHUNK;
            compiler_fence(Ordering::SeqCst);
        }
        st(dest.add(n - CHUNK).cast::<Chunk>(), last);
    }
}

/// Sets `n` bytes at `dest` to `c` (memset), 16 bytes per store.
///
/// # Safety
/// `dest` must be valid for `n` writes.
#[inline(always)]
pub(super) unsafe fn fill(dest: *mut u8, c: u8, n: usize) {
    use core::ptr::{write_unaligned as st, write_volatile};
    use core::sync::atomic::{compiler_fence, Ordering};
    // SAFETY: every write is within [0, n) of dest.
    unsafe {
        if n < CHUNK {
            for i in 0..n {
                // Volatile: a plain loop would become a call of memset.
                write_volatile(dest.add(i), c);
            }
            return;
        }
        let v = Chunk::from_ne_bytes([c; CHUNK]);
        let mut i = 0;
        while i + CHUNK < n {
            st(dest.add(i).cast::<Chunk>(), v);
            i += CHUNK;
            compiler_fence(Ordering::SeqCst);
        }
        st(dest.add(n - CHUNK).cast::<Chunk>(), v);
    }
}

/// The text of `_start` on aarch64. With `$relocate`, it first applies the
/// `R_AARCH64_RELATIVE` relocations of a static PIE, which no dynamic loader
/// applies: for each `Elf64_Rela` in `DT_RELA`/`DT_RELASZ`,
/// `*(base + offset) = base + addend`, where `base` is where `__ehdr_start`
/// was loaded (a PIE links at 0).
///
/// The dynamic section is found through the program headers (`PT_DYNAMIC`),
/// not through `_DYNAMIC`: GNU ld resolves an undefined weak `_DYNAMIC` to
/// the current page on aarch64, not to 0, so "no `_DYNAMIC`" cannot be told
/// apart. An `ET_EXEC` file (a static link without PIE: rustc's aarch64
/// target with `+crt-static` and no `-static-pie`) is at its link address
/// and needs nothing. The code uses only registers and pc-relative
/// addresses, so it needs no relocation itself; other relocation types do
/// not occur in a static PIE without a C library (tests/arm64.sh checks it).
#[doc(hidden)]
#[macro_export]
macro_rules! __start_asm {
    (true) => {
        ::core::concat!(
            ".globl _start\n",
            ".type _start,%function\n",
            "_start:\n",
            "mov x29, xzr\n",
            "mov x30, xzr\n",
            "mov x19, sp\n",
            "adrp x8, __ehdr_start\n",
            "add x8, x8, :lo12:__ehdr_start\n",
            "ldrh w9, [x8, #16]\n", // e_type
            "cmp w9, #3\n",         // ET_DYN
            "b.ne 7f\n",
            "ldr x9, [x8, #32]\n", // e_phoff
            "add x9, x9, x8\n",
            "ldrh w10, [x8, #56]\n", // e_phnum
            "ldrh w11, [x8, #54]\n", // e_phentsize
            "2:\n",
            "cbz x10, 7f\n",
            "ldr w12, [x9]\n", // p_type
            "cmp w12, #2\n",   // PT_DYNAMIC
            "b.eq 3f\n",
            "add x9, x9, x11\n",
            "sub x10, x10, #1\n",
            "b 2b\n",
            "3:\n",
            "ldr x9, [x9, #16]\n", // p_vaddr
            "add x9, x9, x8\n",
            "mov x10, xzr\n",
            "mov x11, xzr\n",
            "4:\n",
            "ldp x12, x13, [x9], #16\n",
            "cbz x12, 5f\n",
            "cmp x12, #7\n", // DT_RELA
            "csel x10, x13, x10, eq\n",
            "cmp x12, #8\n", // DT_RELASZ
            "csel x11, x13, x11, eq\n",
            "b 4b\n",
            "5:\n",
            "cbz x10, 7f\n",
            "add x10, x10, x8\n",
            "add x11, x11, x10\n",
            "6:\n",
            "cmp x10, x11\n",
            "b.hs 7f\n",
            "ldr w12, [x10, #8]\n", // r_info's type
            "cmp w12, #1027\n",     // R_AARCH64_RELATIVE
            "b.ne 8f\n",
            "ldr x13, [x10]\n",      // r_offset
            "ldr x14, [x10, #16]\n", // r_addend
            "add x14, x14, x8\n",
            "str x14, [x13, x8]\n",
            "8:\n",
            "add x10, x10, #24\n",
            "b 6b\n",
            "7:\n",
            "mov x0, x19\n",
            "bl {start}\n",
            "udf #0\n",
        )
    };
    (false) => {
        ::core::concat!(
            ".globl _start\n",
            ".type _start,%function\n",
            "_start:\n",
            "mov x29, xzr\n",
            "mov x30, xzr\n",
            "mov x0, sp\n",
            "bl {start}\n",
            "udf #0\n",
        )
    };
}

/// Symbols that compiler-builtins' code for aarch64 names and a C library
/// would otherwise supply, for [`crate::entry!`].
///
/// rustc's aarch64 Linux targets enable outline atomics: an atomic
/// operation calls a helper of compiler-builtins that takes the LSE path
/// when `__aarch64_have_lse_atomics` is set, else LL/SC. That flag lives in
/// compiler-rt's CPU-model object, whose constructors ask `getauxval` and
/// are compiled with a stack protector. No C runtime runs those
/// constructors here (`_start` runs no `.init_array`), so the flag stays
/// clear and atomics take the LL/SC path, which every aarch64 CPU has; the
/// symbols only have to exist. `getauxval` still answers from the real
/// auxiliary vector.
#[doc(hidden)]
#[macro_export]
macro_rules! __arch_symbols {
    () => {
        #[no_mangle]
        static __stack_chk_guard: usize = 0x5f3d_a1c2_9b7e_0448;

        #[no_mangle]
        extern "C" fn __stack_chk_fail() -> ! {
            $crate::sys::exit($crate::EXIT_FAILURE)
        }

        #[no_mangle]
        extern "C" fn getauxval(key: usize) -> usize {
            $crate::sys::auxv(key).unwrap_or(0)
        }
    };
}
