//! Prints the x86-64 level this build was compiled for, from the target
//! features rustc enabled (`-Ctarget-cpu=x86-64[-vN]`), and the level the
//! `select()` in BUILD.bazel saw.

/// The highest x86-64 level whose features this build was compiled with.
fn compiled_level() -> &'static str {
    if cfg!(all(
        target_feature = "avx512f",
        target_feature = "avx512bw",
        target_feature = "avx512cd",
        target_feature = "avx512dq",
        target_feature = "avx512vl"
    )) {
        "x86-64-v4"
    } else if cfg!(all(
        target_feature = "avx2",
        target_feature = "bmi2",
        target_feature = "fma",
        target_feature = "movbe"
    )) {
        "x86-64-v3"
    } else if cfg!(all(
        target_feature = "sse4.2",
        target_feature = "popcnt",
        target_feature = "ssse3"
    )) {
        "x86-64-v2"
    } else {
        "x86-64"
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    println!(
        "hello from the {} build (select() chose: {}); args: {:?}",
        compiled_level(),
        env!("HELLO_SELECTED_LEVEL"),
        args
    );
}
