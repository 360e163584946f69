//! libtorch's CUDA half is opened at run time, not linked: forced open here (a binary of its
//! own, so no other test asks libtorch about CUDA first), it must register CUDA with libtorch.
//! On a machine without a GPU that shows as libtorch's "no NVIDIA driver" error instead of
//! "no kernel for the CUDA backend"; on a GPU machine the tensor is made.

use tch::{Device, Kind, Tensor};

#[test]
fn the_cuda_library_opens_and_registers_its_kernels() {
    std::env::set_var("AFFINITY_LOAD_CUDA", "1");
    assert!(
        affinity_tune::load_cuda(),
        "libtorch_cuda.so could not be opened"
    );
    match Tensor::f_zeros([1], (Kind::Float, Device::Cuda(0))) {
        Ok(t) => assert_eq!(t.device(), Device::Cuda(0)),
        Err(e) => {
            let message = e.to_string();
            assert!(
                !message.contains("Could not run") && message.contains("NVIDIA driver"),
                "CUDA is not registered with libtorch: {message}"
            );
        }
    }
}
