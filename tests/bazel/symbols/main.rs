//! A program whose functions debuggers and profilers must name in the
//! running build of a bundle (tests/e2e_bazel.sh, test y).
//!
//! `symbols wait`: prints its level and pid, then sleeps in `wait_here`
//! until killed (gdb attaches). `symbols spin`: busy in `spin_here` for
//! about a second (perf samples it). `symbols abort`: aborts in
//! `crash_here` (a core dump).

use std::hint::black_box;
use std::time::{Duration, Instant};

/// The level this build was compiled for.
fn level() -> &'static str {
    if cfg!(target_feature = "avx512f") {
        "v4"
    } else if cfg!(target_feature = "avx2") {
        "v3"
    } else if cfg!(target_feature = "sse4.2") {
        "v2"
    } else {
        "v1"
    }
}

#[inline(never)]
fn wait_here() {
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[inline(never)]
fn spin_here(until: Instant) -> u64 {
    let mut x = 1u64;
    while Instant::now() < until {
        for _ in 0..10_000 {
            x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407));
        }
    }
    x
}

#[inline(never)]
fn crash_here() -> ! {
    std::process::abort()
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    println!("symbols: {} build, pid {}", level(), std::process::id());
    match mode.as_str() {
        "wait" => wait_here(),
        "spin" => println!("{}", spin_here(Instant::now() + Duration::from_millis(1000))),
        "abort" => crash_here(),
        _ => {
            eprintln!("usage: symbols wait|spin|abort");
            std::process::exit(2);
        }
    }
}
