//! Measures the bundle codec on real builds: `cargo run --release -p
//! multiarch_cli --example codec_probe -- V1 [OTHER...]` prints each build's
//! size, its encoded size (V1 alone, the others against V1), and encode and
//! decode times. bench/compression.sh runs it.

#![allow(clippy::expect_used)] // A measuring tool: a failed round trip should stop it loudly.

use multiarch_cli::compress::{encode, Effort};
use multiarch_cli::decode_stream as decode;
use std::time::Instant;

fn main() {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    let Some(v1_path) = paths.first() else {
        eprintln!("usage: codec_probe V1 [OTHER...]");
        std::process::exit(2);
    };
    let chain = std::env::var("CHAIN").ok().and_then(|c| c.parse().ok()).unwrap_or(Effort::default().chain);
    let effort = Effort { chain };
    let v1 = std::fs::read(v1_path).unwrap_or_else(|e| panic!("{v1_path}: {e}"));
    let (mut total_in, mut total_out) = (0usize, 0usize);
    println!(
        "{:<40} {:>12} {:>12} {:>7} {:>10} {:>10}",
        "build", "size", "encoded", "ratio", "enc ms", "dec ms"
    );
    for (k, path) in paths.iter().enumerate() {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let reference: &[u8] = if k == 0 { &[] } else { &v1 };
        let t = Instant::now();
        let enc = encode(&data, reference, effort);
        let enc_ms = t.elapsed().as_secs_f64() * 1e3;
        // Best of three: the first run also pays for page faults.
        let mut dec_ms = f64::MAX;
        let mut dec = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            dec = decode(&enc, reference, data.len()).expect("decodes");
            dec_ms = dec_ms.min(t.elapsed().as_secs_f64() * 1e3);
        }
        assert_eq!(dec, data, "{path} round trip");
        total_in += data.len();
        total_out += enc.len();
        println!(
            "{:<40} {:>12} {:>12} {:>7.3} {:>10.1} {:>10.2}",
            path,
            data.len(),
            enc.len(),
            enc.len() as f64 / data.len() as f64,
            enc_ms,
            dec_ms
        );
    }
    println!(
        "total: {} builds, {} bytes -> {} bytes; {:.3}x one build",
        paths.len(),
        total_in,
        total_out,
        total_out as f64 / v1.len() as f64
    );
}
