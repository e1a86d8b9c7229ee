//! Measures the bundle codec on real builds: `cargo run --release -p
//! multiarch_cli --example codec_probe -- V1 [OTHER...]` prints, for V1
//! alone and for each other build both against V1 (`delta`) and alone, the
//! build's size, its encoded size, the stream's sequences (self and
//! reference copies), and encode and decode times. bench/compression.sh runs
//! it.
//!
//! Decode time is the best of 5 runs into one buffer that is already
//! faulted in, as the launcher's memfd or cache mapping is after its first
//! page: page faults are the kernel's cost, the same for every format, and
//! would hide the decoder's. `memcpy` of the same size is printed for scale.
//!
//! Environment: `CHAIN` sets the encoder's effort, `ALONE=0` skips the
//! standalone encodings of the other builds, `RUNS` the decode runs.

#![allow(clippy::expect_used)] // A measuring tool: a failed round trip should stop it loudly.

use multiarch_cli::compress::{encode_with_stats, Effort};
use multiarch_launcher::codec::{decode_into, SLACK};
use std::hint::black_box;
use std::time::Instant;

fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|c| c.parse().ok())
}

/// Best of `runs`, in milliseconds.
fn best_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..runs {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
    }
    best
}

fn main() {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    let Some(v1_path) = paths.first() else {
        eprintln!("usage: codec_probe V1 [OTHER...]");
        std::process::exit(2);
    };
    let effort = Effort { chain: env_usize("CHAIN").unwrap_or(Effort::default().chain) };
    let alone = env_usize("ALONE") != Some(0);
    let runs = env_usize("RUNS").unwrap_or(5).max(1);
    let v1 = std::fs::read(v1_path).unwrap_or_else(|e| panic!("{v1_path}: {e}"));
    let (mut total_in, mut total_out) = (0usize, 0usize);
    println!(
        "{:<44} {:<6} {:>10} {:>10} {:>6} {:>8} {:>8} {:>8} {:>8} {:>7} {:>7} {:>6} {:>6}",
        "build",
        "mode",
        "size",
        "encoded",
        "ratio",
        "seqs",
        "self",
        "ref",
        "lit KB",
        "enc ms",
        "dec ms",
        "ns/seq",
        "memcpy"
    );
    for (k, path) in paths.iter().enumerate() {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut modes: Vec<(&str, &[u8])> = Vec::new();
        if k == 0 {
            modes.push(("base", &[]));
        } else {
            modes.push(("delta", &v1));
            if alone {
                modes.push(("alone", &[]));
            }
        }
        // One buffer, faulted in before any timing.
        let mut out = vec![0u8; data.len() + SLACK];
        let mut copy = vec![0u8; data.len()];
        let memcpy_ms = best_ms(runs, || {
            copy.copy_from_slice(black_box(&data));
            black_box(&mut copy);
        });
        for (mode, reference) in modes {
            let t = Instant::now();
            let (enc, stats) = encode_with_stats(&data, reference, effort);
            let enc_ms = t.elapsed().as_secs_f64() * 1e3;
            out.fill(0);
            let dec_ms = best_ms(runs, || {
                decode_into(black_box(&enc), reference, &mut out, data.len()).expect("decodes");
                black_box(&mut out);
            });
            assert!(out[..data.len()] == data[..], "{path} {mode}: round trip");
            if mode != "alone" {
                total_in += data.len();
                total_out += enc.len();
            }
            println!(
                "{:<44} {:<6} {:>10} {:>10} {:>6.3} {:>8} {:>8} {:>8} {:>8} {:>7.0} {:>7.3} {:>6.1} {:>6.2}",
                path,
                mode,
                data.len(),
                enc.len(),
                enc.len() as f64 / data.len() as f64,
                stats.sequences,
                stats.self_copies,
                stats.reference_copies,
                stats.literal_bytes / 1000,
                enc_ms,
                dec_ms,
                dec_ms * 1e6 / stats.sequences.max(1) as f64,
                memcpy_ms
            );
        }
    }
    println!(
        "total (base + deltas): {} builds, {} bytes -> {} bytes; {:.3}x one build",
        paths.len(),
        total_in,
        total_out,
        total_out as f64 / v1.len() as f64
    );
}
