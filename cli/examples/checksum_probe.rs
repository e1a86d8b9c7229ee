//! What the launcher's build checksum costs in the decode itself (issue 10):
//! `cargo run --release -p multiarch_cli --example checksum_probe -- BUILD`
//! encodes BUILD as `multiarch pack` does (lz, two segments from 8 MiB) and
//! prints the best of `RUNS` (default 15) decodes through the launcher's
//! `Blob::decode_to`, with and without the checksum, interleaved, into one
//! buffer already faulted in; and the checksum alone over BUILD on one
//! thread. Best-of times are what the CPU needs, the least disturbed by other
//! load; bench/checksum_cost.sh measures whole cold starts.

#![allow(clippy::expect_used)] // A measuring tool: a failed round trip should stop it loudly.

use multiarch_launcher::{check, Blob, Compression};
use std::time::Instant;

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: checksum_probe BUILD");
        std::process::exit(2);
    };
    let runs: usize = std::env::var("RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(15).max(1);
    let build = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let data: &'static [u8] = multiarch_cli::pack::encode_blob(&build, &[]).leak();
    let blob = Blob {
        data,
        size: build.len() as u64,
        sha256: [0; 32],
        check: check::checksum(&build),
        compression: Compression::Lz,
        base: None,
    };
    let mut out = vec![0u8; blob.room().expect("room")];
    let (mut checked, mut unchecked, mut alone) = (f64::MAX, f64::MAX, f64::MAX);
    for _ in 0..runs {
        let t = Instant::now();
        blob.decode_to_unchecked(&mut out, 1 << 20, &mut |_| {}).expect("decodes");
        unchecked = unchecked.min(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        blob.decode_to(&mut out, 1 << 20, &mut |_| {}).expect("decodes and checks");
        checked = checked.min(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        std::hint::black_box(check::checksum(std::hint::black_box(&build)));
        alone = alone.min(t.elapsed().as_secs_f64() * 1e3);
    }
    assert!(out[..build.len()] == build[..], "round trip");
    let mb = build.len() as f64 / 1e6;
    println!("build {path}: {mb:.1} MB, stored {:.1} MB", data.len() as f64 / 1e6);
    println!("| best of {runs} | ms |");
    println!("|---|---:|");
    println!("| decode, no checksum (launcher, 2 threads from 4 MiB) | {unchecked:.2} |");
    println!("| decode with the checksum | {checked:.2} |");
    println!(
        "| difference | {:+.2} ({:+.1}%) |",
        checked - unchecked,
        100.0 * (checked - unchecked) / unchecked
    );
    println!("| checksum alone, 1 thread | {alone:.2} ({:.1} GB/s) |", mb / alone);
}
