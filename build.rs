//! Makes the `affinity` binary, tests and examples find libtorch on their own and keep CUDA.
include!("crates/affinity-tune/torch_link.rs");
