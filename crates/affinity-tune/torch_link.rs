// Shared by the build scripts of every package with binaries that link libtorch.
// torch-sys (`links = "tch"`) tells its direct dependents where libtorch's libraries are.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        return;
    };
    // An rpath, so nothing needs LD_LIBRARY_PATH.
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    // The linker drops libtorch_cuda.so (nothing references it directly); without it
    // tch::Cuda::is_available() is false even on a GPU machine.
    if std::path::Path::new(&lib).join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
}
