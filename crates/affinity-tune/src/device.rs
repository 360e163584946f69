//! Choosing where tensors live, and opening libtorch's CUDA half only when it can be used.

use affinity_core::InvalidSetting;
use std::sync::OnceLock;

use tch::Device;

use crate::error::Result;

/// Whether an NVIDIA driver is loaded on this machine.
fn nvidia_driver() -> bool {
    std::path::Path::new("/proc/driver/nvidia/version").exists()
        || std::path::Path::new("/dev/nvidiactl").exists()
}

/// Opens `libtorch_cuda.so` once (its static initialisers register CUDA with libtorch), where
/// a GPU driver is present or `AFFINITY_LOAD_CUDA=1` asks for it (`=0` never opens it).
/// Returns whether it is open. It must run before anything asks libtorch about CUDA (a seed,
/// a device count): libtorch decides once and for all on the first question, which is why
/// [`DeviceChoice::resolve`] and [`cuda_available`] call it first.
///
/// Not linking it saves every process a quarter of a second of start-up on a machine without
/// a GPU, where it would only be loaded to say that there is none.
pub fn load_cuda() -> bool {
    static OPEN: OnceLock<bool> = OnceLock::new();
    *OPEN.get_or_init(|| {
        let wanted = match std::env::var("AFFINITY_LOAD_CUDA").as_deref() {
            Ok("0") => false,
            Ok("1") => true,
            _ => nvidia_driver(),
        };
        wanted && open_cuda_library()
    })
}

#[allow(unsafe_code)]
fn open_cuda_library() -> bool {
    let candidates = [
        // Found through the binary's rpath or LD_LIBRARY_PATH.
        "libtorch_cuda.so".to_string(),
        format!(
            "{}/libtorch_cuda.so",
            option_env!("AFFINITY_TORCH_LIB_DIR").unwrap_or(".")
        ),
    ];
    candidates.iter().any(|name| {
        let Ok(name) = std::ffi::CString::new(name.as_str()) else {
            return false;
        };
        // SAFETY: `name` is a valid NUL-terminated path; the handle is never closed, so the
        // library (and the kernels it registers with libtorch) stays loaded for the process.
        let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
        !handle.is_null()
    })
}

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
            DeviceChoice::Auto => {
                load_cuda();
                Device::cuda_if_available()
            }
            DeviceChoice::Cpu => Device::Cpu,
            DeviceChoice::Cuda(n) => {
                load_cuda();
                Device::Cuda(n)
            }
        }
    }

    /// As [`DeviceChoice::resolve`], failing with a clear error when a CUDA device was asked
    /// for and is not there.
    pub fn try_resolve(self) -> Result<Device> {
        let device = self.resolve();
        if let Device::Cuda(n) = device {
            let count = if load_cuda() {
                tch::Cuda::device_count()
            } else {
                0
            };
            if n as i64 >= count {
                return Err(InvalidSetting::new(
                    "device",
                    format!("cuda:{n} was asked for; this machine has {count} CUDA device(s)"),
                )
                .into());
            }
        }
        Ok(device)
    }
}

/// Whether libtorch sees a CUDA device (opening libtorch's CUDA half first, see [`load_cuda`]).
pub fn cuda_available() -> bool {
    load_cuda() && tch::Cuda::is_available()
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
