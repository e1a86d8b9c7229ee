//! Generates, into OUT_DIR (Cargo's build script; bench/peers/workload_big/
//! BUILD.bazel runs the same file as a tool, with WORKLOAD_MAIN_RS naming
//! examples/workload/main.rs):
//! - workload.rs: examples/workload/main.rs as a module (its `//!` lines made
//!   plain comments and its `main` made `pub`), so the program is the same;
//! - kernels.rs: WORKLOAD_BIG_KERNELS (default 4500) distinct numeric
//!   kernels in 64 modules, and a table of all of them. Each kernel is a
//!   random expression over f64 (mul_add, min/max, sqrt, ...) and one over
//!   u64 (rotates, popcounts, multiplies, ...) in loops that LLVM vectorizes
//!   differently per x86-64 level, as in real numeric code.
use std::fmt::Write as _;
use std::{env, fs, path::PathBuf};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn float(&mut self) -> String {
        format!("{:.6}_f64", (self.below(2_000_000) as f64 - 1_000_000.0) / 250_000.0)
    }
}

fn fexpr(r: &mut Rng, depth: u32, leaves: u64) -> String {
    if depth == 0 || r.below(5) == 0 {
        return match r.below(leaves + 1) % 4 {
            0 => "x".into(),
            1 => "y".into(),
            2 if leaves == 3 => "z".into(),
            _ => r.float(),
        };
    }
    let a = fexpr(r, depth - 1, leaves);
    let b = fexpr(r, depth - 1, leaves);
    match r.below(9) {
        0 => format!("({a} + {b})"),
        1 => format!("({a} - {b})"),
        2 => format!("({a} * {b})"),
        3 => format!("({a}).mul_add({b}, {})", r.float()),
        4 => format!("({a}).min({b})"),
        5 => format!("({a}).max({b})"),
        6 => format!("({a}).abs()"),
        7 => format!("({a} * {}).sqrt()", r.float()),
        _ => format!("({a}).mul_add({}, {b})", r.float()),
    }
}

fn iexpr(r: &mut Rng, depth: u32) -> String {
    if depth == 0 || r.below(5) == 0 {
        return match r.below(3) {
            0 => "w".into(),
            1 => "v".into(),
            _ => format!("0x{:x}_u64", r.next()),
        };
    }
    let a = iexpr(r, depth - 1);
    let b = iexpr(r, depth - 1);
    match r.below(9) {
        0 => format!("({a}).wrapping_add({b})"),
        1 => format!("({a} ^ {b})"),
        2 => format!("({a}).wrapping_mul(0x{:x}_u64)", r.next() | 1),
        3 => format!("({a}).rotate_left({})", 1 + r.below(63)),
        4 => format!("({a} >> {})", 1 + r.below(63)),
        5 => format!("u64::from(({a}).count_ones())"),
        6 => format!("({a} & {b})"),
        7 => format!("u64::from(({a}).leading_zeros())"),
        _ => format!("({a}).max({b})"),
    }
}

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    // Bazel (BUILD.bazel here) runs this as a tool and names the file; Cargo
    // runs it as the build script of the package two levels below the root.
    let src = match env::var_os("WORKLOAD_MAIN_RS") {
        Some(path) => PathBuf::from(path),
        None => {
            PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("../../../examples/workload/main.rs")
        }
    };
    println!("cargo:rerun-if-changed={}", src.display());
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=WORKLOAD_BIG_KERNELS");

    let text = fs::read_to_string(&src).unwrap();
    let text: String = text
        .lines()
        .map(
            |l| if let Some(rest) = l.strip_prefix("//!") { format!("//{rest}\n") } else { format!("{l}\n") },
        )
        .collect();
    assert!(text.contains("\nfn main() {"), "{}: no `fn main() {{` line", src.display());
    let text = text.replacen("\nfn main() {", "\npub fn main() {", 1);
    fs::write(out.join("workload.rs"), text).unwrap();

    let n: usize = env::var("WORKLOAD_BIG_KERNELS").ok().and_then(|v| v.parse().ok()).unwrap_or(4500);
    let modules = 64;
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let mut k = String::new();
    for m in 0..modules {
        writeln!(k, "#[allow(unused_variables, unused_parens)]\npub mod m{m} {{").unwrap();
        for i in (m..n).step_by(modules) {
            let f = fexpr(&mut r, 4, 3);
            let g = fexpr(&mut r, 3, 2);
            let h = iexpr(&mut r, 4);
            writeln!(
                k,
                "#[inline(never)]\npub fn k{i}(xs: &[f64], ys: &mut [f64], ws: &[u64]) -> u64 {{\n\
                 let mut acc = 0u64;\n\
                 for (o, (&x, &y)) in ys.iter_mut().zip(xs.iter().zip(xs.iter().skip(1))) {{\n\
                 let z = {g};\n*o = {f};\n}}\n\
                 for (&w, &v) in ws.iter().zip(ws.iter().rev()) {{\nacc = acc.wrapping_add({h});\n}}\n\
                 acc\n}}"
            )
            .unwrap();
        }
        writeln!(k, "}}").unwrap();
    }
    writeln!(k, "pub static TABLE: [fn(&[f64], &mut [f64], &[u64]) -> u64; {n}] = [").unwrap();
    for i in 0..n {
        writeln!(k, "m{}::k{i},", i % modules).unwrap();
    }
    writeln!(k, "];").unwrap();
    fs::write(out.join("kernels.rs"), k).unwrap();
}
