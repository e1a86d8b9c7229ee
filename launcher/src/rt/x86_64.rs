//! The x86-64 half of [`crate::rt`]: `_start` and the memory functions'
//! bulk instructions.

/// Copies `n` bytes, more than 256, from `src` to `dest` front to back
/// with `rep movsb`: `dest` lies before `src` or apart from it.
///
/// # Safety
/// `src` must be valid for `n` reads and `dest` for `n` writes; `dest`
/// does not overlap the tail of `src`.
#[inline(always)]
pub(super) unsafe fn copy_forward(dest: *mut u8, src: *const u8, n: usize) {
    // SAFETY: the caller's contract; `rep movsb` copies upwards.
    unsafe {
        core::arch::asm!("rep movsb", inout("rcx") n => _, inout("rdi") dest => _,
            inout("rsi") src => _, options(nostack, preserves_flags));
    }
}

/// Sets `n` bytes at `dest` to `c` (memset) with `rep stosb`.
///
/// # Safety
/// `dest` must be valid for `n` writes.
#[inline(always)]
pub(super) unsafe fn fill(dest: *mut u8, c: u8, n: usize) {
    // SAFETY: the caller guarantees the range is valid.
    unsafe {
        core::arch::asm!("rep stosb", inout("rcx") n => _, inout("rdi") dest => _,
            in("al") c, options(nostack, preserves_flags))
    };
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

/// Symbols a C library would otherwise supply to the bundle, for
/// [`crate::entry!`]: none on x86-64.
#[doc(hidden)]
#[macro_export]
macro_rules! __arch_symbols {
    () => {};
}
