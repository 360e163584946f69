//! Makes binaries, tests and examples of this crate find libtorch on their own and keep CUDA.
include!("torch_link.rs");
