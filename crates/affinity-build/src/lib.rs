//! For the build scripts of the affinity packages whose binaries, tests or examples link
//! libtorch: one call makes them find libtorch without `LD_LIBRARY_PATH`, and records where
//! it is so that CUDA can be opened at run time.
//!
//! In the `build.rs` of a package that depends on torch-sys directly (only then does cargo
//! pass torch-sys's `links = "tch"` metadata to its build script):
//!
//! ```no_run
//! affinity_build::link_libtorch();
//! ```

/// Adds an rpath to libtorch's library folder to every target of the package being built, and
/// sets `AFFINITY_TORCH_LIB_DIR` for its code. Does nothing where torch-sys said nothing (a
/// `doc-only` build, or a package that does not depend on torch-sys directly).
pub fn link_libtorch() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        return;
    };
    // An rpath, so nothing needs LD_LIBRARY_PATH.
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    // libtorch_cuda.so is not linked: its start-up (CUDA libraries, kernel registration) costs
    // a quarter of a second in every process. affinity-tune opens it at run time when a GPU is
    // there (`affinity_tune::load_cuda`), and finds it here if the rpath does not lead to it.
    println!("cargo:rustc-env=AFFINITY_TORCH_LIB_DIR={lib}");
}
