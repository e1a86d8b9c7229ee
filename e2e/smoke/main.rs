//! Prints a greeting; the smoke test checks it ran.

fn main() {
    println!("smoke: hello from a rust_multiarch_binary");
}
