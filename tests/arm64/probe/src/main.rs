//! The aarch64 test program of tests/arm64.sh, built once per tier.
//!
//! It prints `tier=<name>` (the tier its compile-time target features make
//! it) and `features=<list>`, after executing one instruction of every tier
//! feature it was compiled with: a build dies with SIGILL on a CPU that
//! lacks any of them, whether or not the compiler happened to use it.
//! `exit N` exits with status N.

/// Runs one instruction of each tier feature this build was compiled with;
/// returns their names.
fn probe() -> Vec<&'static str> {
    let mut ran = Vec::new();
    ran.reserve(10);
    let mut word = 1u64;
    let p = &raw mut word;
    #[cfg(target_feature = "lse")]
    {
        // SAFETY: `p` points to a live u64; ldadd adds 1 to it atomically.
        unsafe { std::arch::asm!("ldadd {v}, {o}, [{p}]", v = in(reg) 1u64, o = out(reg) _, p = in(reg) p) };
        ran.push("lse");
    }
    #[cfg(target_feature = "rcpc")]
    {
        // SAFETY: `p` points to a live u64; ldapr only reads it.
        unsafe {
            std::arch::asm!("ldapr {o}, [{p}]", o = out(reg) _, p = in(reg) p, options(readonly, nostack))
        };
        ran.push("rcpc");
    }
    #[cfg(target_feature = "crc")]
    {
        // SAFETY: register-only instruction.
        unsafe {
            std::arch::asm!("crc32b {o:w}, {a:w}, {a:w}", o = out(reg) _, a = in(reg) 7u32, options(nomem, nostack))
        };
        ran.push("crc");
    }
    #[cfg(target_feature = "rdm")]
    {
        // SAFETY: register-only instruction on clobbered vector registers.
        unsafe {
            std::arch::asm!("sqrdmlah v0.4s, v1.4s, v2.4s", out("v0") _, out("v1") _, out("v2") _, options(nomem, nostack))
        };
        ran.push("rdm");
    }
    #[cfg(target_feature = "dotprod")]
    {
        // SAFETY: as above.
        unsafe {
            std::arch::asm!("sdot v0.4s, v1.16b, v2.16b", out("v0") _, out("v1") _, out("v2") _, options(nomem, nostack))
        };
        ran.push("dotprod");
    }
    #[cfg(target_feature = "fp16")]
    {
        // SAFETY: as above.
        unsafe {
            std::arch::asm!("fadd h0, h1, h2", out("v0") _, out("v1") _, out("v2") _, options(nomem, nostack))
        };
        ran.push("fp16");
    }
    #[cfg(target_feature = "sve")]
    {
        // SAFETY: register-only instruction.
        unsafe { std::arch::asm!("cntb {o}", o = out(reg) _, options(nomem, nostack)) };
        ran.push("sve");
    }
    #[cfg(target_feature = "i8mm")]
    {
        // SAFETY: as for rdm.
        unsafe {
            std::arch::asm!("smmla v0.4s, v1.16b, v2.16b", out("v0") _, out("v1") _, out("v2") _, options(nomem, nostack))
        };
        ran.push("i8mm");
    }
    #[cfg(target_feature = "bf16")]
    {
        // SAFETY: as for rdm.
        unsafe {
            std::arch::asm!("bfdot v0.2s, v1.4h, v2.4h", out("v0") _, out("v1") _, out("v2") _, options(nomem, nostack))
        };
        ran.push("bf16");
    }
    #[cfg(target_feature = "sve2")]
    {
        // SAFETY: SVE2 on z0-z2, whose low halves are the clobbered v0-v2
        // and whose upper halves no caller keeps across a call.
        unsafe {
            std::arch::asm!("sqrdmlah z0.s, z1.s, z2.s", out("v0") _, out("v1") _, out("v2") _, options(nomem, nostack))
        };
        ran.push("sve2");
    }
    std::hint::black_box(p);
    ran
}

/// The tier this build is, by its compile-time features (issue 13's table).
fn tier() -> &'static str {
    if cfg!(all(target_feature = "sve2", target_feature = "i8mm", target_feature = "bf16")) {
        "a4"
    } else if cfg!(all(target_feature = "sve", target_feature = "i8mm", target_feature = "bf16")) {
        "a3"
    } else if cfg!(all(target_feature = "lse", target_feature = "rcpc", target_feature = "dotprod")) {
        "a2"
    } else {
        "a1"
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let ran = probe();
    if let [cmd, n] = &args[..] {
        if cmd == "exit" {
            std::process::exit(n.parse().unwrap_or(2));
        }
    }
    println!("tier={}", tier());
    println!("features={}", ran.join(","));
}
