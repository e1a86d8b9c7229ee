//! The workload example plus ~35 MB of generated numeric kernels (build.rs).
//! It runs exactly the workload; the kernels are linked in, not run.

mod workload {
    include!(concat!(env!("OUT_DIR"), "/workload.rs"));
}

#[allow(clippy::all)]
mod kernels {
    include!(concat!(env!("OUT_DIR"), "/kernels.rs"));
}

fn main() {
    // Takes the table's address so every kernel stays in the binary.
    std::hint::black_box(&kernels::TABLE);
    workload::main();
}
