// Shared by the build scripts of every package with binaries that link libtorch.
// torch-sys (`links = "tch"`) tells its direct dependents where libtorch's libraries are.
fn main() {
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
