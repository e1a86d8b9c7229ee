//! The program the launcher's tests pack into bundles, once per level. What
//! it does depends on `argv[1]`:
//!
//! It has a C `main` so that it sees the signal dispositions it inherited.
//!
//! - `report` prints `key=value` lines: the level it was compiled for, the
//!   name of its build (`MULTIARCH_TEST_BUILD` at compile time), its PID,
//!   `/proc/self/exe`, argv and the environment (hex, byte for byte), the
//!   SIGPIPE disposition it inherited and its open file descriptors.
//! - `cat` copies stdin to stdout.
//! - `exit N` exits with status N.
//! - `kill SIG` sends itself signal number SIG.
//! - anything else (or nothing) prints `level=<cpu name>` only.

#![no_main]

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;

/// The level this build was compiled for, from its compile-time features.
fn compiled_level() -> &'static str {
    if cfg!(all(target_feature = "avx512f", target_feature = "avx512bw", target_feature = "avx512vl")) {
        "x86-64-v4"
    } else if cfg!(all(target_feature = "avx2", target_feature = "bmi2", target_feature = "fma")) {
        "x86-64-v3"
    } else if cfg!(all(target_feature = "sse4.2", target_feature = "popcnt")) {
        "x86-64-v2"
    } else {
        "x86-64"
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SIGPIPE disposition: "default", "ignore" or "handler".
fn sigpipe() -> &'static str {
    // SAFETY: a zeroed sigaction is a valid out-parameter for sigaction(2).
    let mut old: libc_sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a NULL new action only reads the current one into `old`.
    let rc = unsafe { sigaction(13, std::ptr::null(), &mut old) };
    match (rc, old.handler) {
        (0, 0) => "default",
        (0, 1) => "ignore",
        (0, _) => "handler",
        _ => "unknown",
    }
}

/// The head of glibc's `struct sigaction` on x86-64: the handler comes first.
#[repr(C)]
struct libc_sigaction {
    handler: usize,
    rest: [u64; 20],
}

extern "C" {
    fn sigaction(sig: i32, act: *const libc_sigaction, old: *mut libc_sigaction) -> i32;
    fn raise(sig: i32) -> i32;
}

fn report(out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "level={}", compiled_level())?;
    // tests/build_fixtures.sh names each build (x86-64-v3, znver4, ...).
    writeln!(out, "build={}", option_env!("MULTIARCH_TEST_BUILD").unwrap_or(""))?;
    writeln!(out, "pid={}", std::process::id())?;
    let exe = std::fs::read_link("/proc/self/exe").unwrap_or_default();
    writeln!(out, "exe={}", exe.display())?;
    for arg in std::env::args_os() {
        writeln!(out, "arg={}", hex(arg.as_bytes()))?;
    }
    // /proc/self/environ holds the block exactly as exec got it.
    let environ = std::fs::read("/proc/self/environ").unwrap_or_default();
    for entry in environ.split(|&b| b == 0).filter(|e| !e.is_empty()) {
        writeln!(out, "env={}", hex(entry))?;
    }
    // SAFETY: written only at the start of main, before this runs.
    writeln!(out, "sigpipe={}", unsafe { SIGPIPE_AT_START })?;
    let mut fds: Vec<u32> = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_default();
    fds.sort_unstable();
    let fds: Vec<String> = fds.iter().map(u32::to_string).collect();
    writeln!(out, "fds={}", fds.join(","))?;
    Ok(())
}

/// The SIGPIPE disposition at the start, before anything could change it.
static mut SIGPIPE_AT_START: &str = "unknown";

/// A C `main`, so that std's runtime (which ignores SIGPIPE) does not run
/// first and the disposition inherited through exec can be reported.
#[no_mangle]
extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
    let disposition = sigpipe();
    // SAFETY: written once, before anything reads it; single-threaded.
    unsafe { SIGPIPE_AT_START = disposition };
    rust_main();
    0
}

fn rust_main() {
    let args: Vec<OsString> = std::env::args_os().collect();
    let arg = |i: usize| args.get(i).and_then(|a| a.to_str()).unwrap_or("");
    let mut out = std::io::stdout().lock();
    let result = match arg(1) {
        "report" => report(&mut out),
        "cat" => {
            let mut buf = Vec::new();
            // This C main skips std's flush at exit: flush here.
            std::io::stdin()
                .read_to_end(&mut buf)
                .and_then(|_| out.write_all(&buf))
                .and_then(|()| out.flush())
        }
        "exit" => std::process::exit(arg(2).parse().unwrap_or(99)),
        "kill" => {
            let _ = out.flush();
            // SAFETY: raise(3) has no preconditions.
            unsafe { raise(arg(2).parse().unwrap_or(9)) };
            std::process::exit(98)
        }
        _ => writeln!(out, "level={}", compiled_level()),
    };
    if result.and_then(|()| out.flush()).is_err() {
        std::process::exit(97);
    }
}
