//! Makes the `affinity` binary, tests and examples find libtorch on their own and keep CUDA.
fn main() {
    affinity_build::link_libtorch();
}
