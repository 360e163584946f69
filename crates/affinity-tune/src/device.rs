//! Choosing where tensors live.

use tch::Device;

/// Where to run: CUDA when present unless told otherwise.
///
/// ```
/// use affinity_tune::DeviceChoice;
/// assert_eq!(DeviceChoice::Cpu.resolve(), tch::Device::Cpu);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// The first CUDA device when one is available, else the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// CUDA device `n`.
    Cuda(usize),
}

impl DeviceChoice {
    /// The `tch` device this choice resolves to on this machine.
    pub fn resolve(self) -> Device {
        match self {
            DeviceChoice::Auto => Device::cuda_if_available(),
            DeviceChoice::Cpu => Device::Cpu,
            DeviceChoice::Cuda(n) => Device::Cuda(n),
        }
    }
}

/// Whether libtorch sees a CUDA device (false when CUDA was not linked, see `build.rs`).
pub fn cuda_available() -> bool {
    tch::Cuda::is_available()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtorch_loads_and_computes() {
        let t = tch::Tensor::from_slice(&[1.0f32, 2.0, 3.0]);
        let sum = t.f_sum(tch::Kind::Float).unwrap();
        assert_eq!(f32::try_from(sum).unwrap(), 6.0);
        // On a machine without a GPU this is false; on one with a GPU, true (CUDA is linked).
        let _ = cuda_available();
        assert_eq!(DeviceChoice::Cpu.resolve(), Device::Cpu);
    }
}
