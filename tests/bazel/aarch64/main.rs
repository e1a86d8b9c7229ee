//! The aarch64 test program of tests/e2e_bazel.sh (test k), built once per
//! tier: prints `tier=<name>`, the tier its compile-time target features
//! make it, so the bundle's output shows which build ran. `exit N` exits
//! with status N.

fn main() {
    let tier = if cfg!(target_feature = "sve2") {
        "a4"
    } else if cfg!(target_feature = "sve") {
        "a3"
    } else if cfg!(target_feature = "lse") {
        "a2"
    } else {
        "a1"
    };
    println!("tier={tier}");
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("exit") {
        std::process::exit(args.next().and_then(|n| n.parse().ok()).unwrap_or(1));
    }
}
