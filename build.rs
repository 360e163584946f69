//! Makes the `affinity` binary, tests and examples find libtorch on their own and keep CUDA.
//! A copy of `crates/affinity-tune/torch_link.rs` (kept in step with it): a published package
//! cannot include a file of another package.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        return;
    };
    // An rpath, so nothing needs LD_LIBRARY_PATH.
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    // libtorch_cuda.so is not linked: affinity-tune opens it at run time when a GPU is there
    // (`affinity_tune::load_cuda`), and finds it here if the rpath does not lead to it.
    println!("cargo:rustc-env=AFFINITY_TORCH_LIB_DIR={lib}");
}
