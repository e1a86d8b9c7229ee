//! A small numeric workload whose speed depends on the x86-64 level:
//!
//! - a degree-7 polynomial (Horner with `mul_add`) over a cache-resident
//!   array of f64: FMA from v3 on, wider vectors with v3/v4;
//! - a popcount over 64 MiB of u64: POPCNT from v2 on;
//! - an f64 -> i64 conversion sum: vectorized only with AVX-512DQ (v4).
//!
//! `workload [--quick] [--rounds N]` prints the build's level, the time of
//! each part and a checksum that is the same for every level.

use std::time::Instant;

/// The highest x86-64 level whose features this build was compiled with.
fn compiled_level() -> &'static str {
    if cfg!(all(target_feature = "avx512f", target_feature = "avx512dq", target_feature = "avx512vl")) {
        "x86-64-v4"
    } else if cfg!(all(target_feature = "avx2", target_feature = "fma", target_feature = "bmi2")) {
        "x86-64-v3"
    } else if cfg!(all(target_feature = "sse4.2", target_feature = "popcnt")) {
        "x86-64-v2"
    } else {
        "x86-64"
    }
}

/// xorshift64*: deterministic data without a crate.
fn fill_u64(words: &mut [u64], mut state: u64) {
    for w in words.iter_mut() {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        *w = state.wrapping_mul(0x2545_f491_4f6c_dd1d);
    }
}

const COEFFS: [f64; 8] = [0.5, -1.25, 0.75, 0.125, -0.0625, 0.03125, -0.015625, 0.0078125];

#[inline(never)]
fn polynomial(xs: &[f64], out: &mut [f64]) {
    for (x, y) in xs.iter().zip(out.iter_mut()) {
        let mut acc = COEFFS[7];
        for c in COEFFS[..7].iter().rev() {
            acc = acc.mul_add(*x, *c);
        }
        *y = acc;
    }
}

#[inline(never)]
fn popcount(words: &[u64]) -> u64 {
    words.iter().map(|w| u64::from(w.count_ones())).sum()
}

#[inline(never)]
fn truncate_sum(xs: &[f64]) -> i64 {
    xs.iter().map(|&x| (x * 1e6) as i64).fold(0i64, i64::wrapping_add)
}

fn main() {
    let mut quick = false;
    let mut rounds: usize = 2000;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--rounds" => {
                rounds = args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
                    eprintln!("workload: --rounds needs a number");
                    std::process::exit(2)
                })
            }
            other => {
                eprintln!("workload: unknown argument {other:?}; usage: workload [--quick] [--rounds N]");
                std::process::exit(2)
            }
        }
    }
    if quick {
        rounds = 3;
    }
    // 4096 f64 = 32 KiB in, 32 KiB out: stays in L1/L2.
    let mut seed = vec![0u64; 4096];
    fill_u64(&mut seed, 0x9e37_79b9_7f4a_7c15);
    let xs: Vec<f64> = seed.iter().map(|&w| (w >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0).collect();
    let mut ys = vec![0.0f64; xs.len()];

    let start = Instant::now();
    let mut poly_sum = 0i64;
    for _ in 0..rounds {
        polynomial(std::hint::black_box(&xs), &mut ys);
        poly_sum = poly_sum.wrapping_add(truncate_sum(std::hint::black_box(&ys)));
    }
    let poly_time = start.elapsed();

    // 64 MiB of u64 (1 MiB with --quick).
    let mut words = vec![0u64; if quick { 1 << 17 } else { 1 << 23 }];
    fill_u64(&mut words, 0x0123_4567_89ab_cdef);
    let start = Instant::now();
    let mut bits = 0u64;
    for _ in 0..if quick { 1 } else { 8 } {
        bits = bits.wrapping_add(popcount(std::hint::black_box(&words)));
    }
    let pop_time = start.elapsed();

    println!(
        "{} build: polynomial {:.1} ms, popcount {:.1} ms, checksum {:016x}",
        compiled_level(),
        poly_time.as_secs_f64() * 1e3,
        pop_time.as_secs_f64() * 1e3,
        (poly_sum as u64) ^ bits
    );
}
