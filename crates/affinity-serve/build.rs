//! Makes binaries, tests and examples of this crate find libtorch on their own and keep CUDA.
fn main() {
    affinity_build::link_libtorch();
}
