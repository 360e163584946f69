//! The encoder's linear layers in 8-bit integers ([`Precision::Int8`](crate::Precision)):
//! each layer's weights coded once from the fp32 ones (LoRA updates folded in), inputs coded
//! per row as they come, products by [`affinity_rank::int8`]. Attention, GELU, LayerNorm and
//! pooling stay fp32, and the fp32 weights stay what training, saving and export see.
#![allow(unsafe_code)]

use affinity_rank::int8::{Piece, QuantizedLinear};
use ndarray::Array2;
use tch::{Device, Kind, Tensor};

use crate::error::{Result, TuneError};
use crate::layers::Linear;

/// One transformer layer's four products in codes: the query, key and value projections as
/// one matrix (one pass over the input, as the fp32 path does), the attention output, and the
/// feed-forward's two.
#[derive(Debug)]
pub(crate) struct Int8Layer {
    pub qkv: QuantizedLinear,
    pub attention_out: QuantizedLinear,
    pub intermediate: QuantizedLinear,
    pub output: QuantizedLinear,
}

/// `linears` (each with its module path, which an error names) stacked by output rows and
/// coded; `name` is what an error calls the stack.
pub(crate) fn quantize(linears: &[(&Linear, String)], name: &str) -> Result<QuantizedLinear> {
    let _guard = tch::no_grad_guard();
    let stack = |detail: String| TuneError::Quantize {
        layer: name.to_owned(),
        detail,
    };
    let (mut rows, mut weights, mut biases) = (0, Vec::new(), Vec::new());
    let mut inputs = None;
    for (linear, module) in linears {
        let mut weight = linear.weight.f_to_kind(Kind::Float)?;
        if let Some(l) = &linear.lora {
            weight = weight.f_add(&l.delta()?.f_to_kind(Kind::Float)?)?;
        }
        let size = weight.size();
        let (out, inp) = (size[0] as usize, size[1] as usize);
        if inputs.replace(inp).is_some_and(|i| i != inp) {
            return Err(stack(
                "the stacked layers have different input widths".into(),
            ));
        }
        let weight = weight.f_to_device(Device::Cpu)?.f_contiguous()?;
        let values = Vec::<f32>::try_from(weight.f_flatten(0, -1)?)?;
        let bias = linear
            .bias
            .f_to_kind(Kind::Float)?
            .f_to_device(Device::Cpu)?;
        let bias = Vec::<f32>::try_from(bias)?;
        // Checked per layer, so that the error names the tensor and its own row.
        if let Some(at) = values.iter().position(|v| !v.is_finite()) {
            return Err(TuneError::Quantize {
                layer: format!("{module}.weight"),
                detail: format!("row {} holds a NaN or an infinity", at / inp.max(1)),
            });
        }
        if let Some(at) = bias.iter().position(|v| !v.is_finite()) {
            return Err(TuneError::Quantize {
                layer: format!("{module}.bias"),
                detail: format!("entry {at} is a NaN or an infinity"),
            });
        }
        weights.extend(values);
        biases.extend(bias);
        rows += out;
    }
    let weight = Array2::from_shape_vec((rows, inputs.unwrap_or(0)), weights)
        .map_err(|e| stack(e.to_string()))?;
    QuantizedLinear::new(weight.view(), Some(&biases)).map_err(|e| stack(e.to_string()))
}

/// `x W^T + b` for `x` of shape `[.., inputs]` (fp32 on the CPU), as a new `[.., outputs]`
/// tensor: read from and written to the tensors' own memory (`x` is copied only where it is
/// not contiguous fp32 already).
pub(crate) fn apply(layer: &QuantizedLinear, x: &Tensor, name: &str) -> Result<Tensor> {
    let x = x.f_to_kind(Kind::Float)?.f_contiguous()?;
    let mut shape = x.size();
    let bad = |detail: String| TuneError::Quantize {
        layer: name.to_owned(),
        detail,
    };
    if x.device() != Device::Cpu {
        return Err(bad(format!(
            "int8 runs on the CPU, the input is on {:?}",
            x.device()
        )));
    }
    if shape.last().copied() != Some(layer.inputs() as i64) {
        return Err(bad(format!(
            "input of shape {shape:?}, the layer takes {} wide",
            layer.inputs()
        )));
    }
    let numel = x.numel();
    *shape.last_mut().expect("checked above") = layer.outputs() as i64;
    let out = Tensor::f_empty(&shape, (Kind::Float, Device::Cpu))?;
    let rows = numel / layer.inputs().max(1);
    if rows > 0 {
        // SAFETY: both tensors are contiguous fp32 on the CPU (checked and made so above),
        // `x` holds `numel` values and `out`, new and owned here, `rows * outputs`; `x` and
        // `out` do not overlap, and nothing else touches them while the slices live.
        let (input, output) = unsafe {
            (
                std::slice::from_raw_parts(x.data_ptr() as *const f32, numel),
                std::slice::from_raw_parts_mut(out.data_ptr() as *mut f32, rows * layer.outputs()),
            )
        };
        match openmp::parallel() {
            Some(parallel) => layer.forward_into_with(input, output, |pieces, run| {
                openmp::run(parallel, pieces, run)
            }),
            None => layer.forward_into(input, output),
        }
        .map_err(|e| bad(e.to_string()))?;
    }
    Ok(out)
}

/// libtorch's own threads for the int8 products. libtorch parallelises its ops with OpenMP,
/// whose threads keep spinning for a while after each op; rayon's threads, started meanwhile
/// on the same cores, would compete with them (measured: int8 encoding no faster than fp32 on
/// 2 cores, against 1.6x with a spin count of 0). So the products run on the same OpenMP team,
/// found by name in the process (`GOMP_parallel`, the entry point GCC compiles
/// `#pragma omp parallel` to, which libgomp and LLVM's and Intel's runtimes all export), with
/// rayon where there is none.
mod openmp {
    use super::Piece;
    use std::ffi::c_void;
    use std::sync::{Mutex, OnceLock};

    /// `void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags)`.
    pub type Parallel = unsafe extern "C" fn(extern "C" fn(*mut c_void), *mut c_void, u32, u32);

    /// The process's `GOMP_parallel`, when an OpenMP runtime is loaded (libtorch's).
    pub fn parallel() -> Option<Parallel> {
        static FOUND: OnceLock<Option<usize>> = OnceLock::new();
        let address = *FOUND.get_or_init(|| {
            #[cfg(unix)]
            {
                // SAFETY: dlsym with a NUL-terminated name only looks the symbol up.
                let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"GOMP_parallel".as_ptr()) };
                (!p.is_null()).then_some(p as usize)
            }
            #[cfg(not(unix))]
            {
                None
            }
        });
        // SAFETY: the symbol is GOMP_parallel, whose C signature `Parallel` spells out.
        address.map(|a| unsafe { std::mem::transmute::<usize, Parallel>(a) })
    }

    /// What every thread of the team runs: pieces taken from one queue until none is left.
    struct Team<'q, 'a> {
        queue: Mutex<std::vec::IntoIter<Piece<'a>>>,
        run: &'q (dyn Fn(&[f32], &mut [f32]) + Sync),
        panicked: Mutex<Option<Box<dyn std::any::Any + Send>>>,
    }

    extern "C" fn member(data: *mut c_void) {
        // SAFETY: `data` is the `Team` that `run` below passes, alive until GOMP_parallel
        // returns (after every member has).
        let team = unsafe { &*(data as *const Team) };
        let work = || loop {
            let piece = team.queue.lock().unwrap_or_else(|e| e.into_inner()).next();
            match piece {
                Some((x, out)) => (team.run)(x, out),
                None => break,
            }
        };
        // A panic must not unwind into C: kept, and raised again on the calling thread.
        if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
            *team.panicked.lock().unwrap_or_else(|e| e.into_inner()) = Some(payload);
        }
    }

    /// Runs every piece on the calling thread's OpenMP team (as many threads as libtorch uses).
    pub fn run(
        parallel: Parallel,
        pieces: Vec<Piece<'_>>,
        run: &(dyn Fn(&[f32], &mut [f32]) + Sync),
    ) {
        let threads = tch::get_num_threads().clamp(1, pieces.len().max(1) as i32) as u32;
        let team = Team {
            queue: Mutex::new(pieces.into_iter()),
            run,
            panicked: Mutex::new(None),
        };
        // SAFETY: `member` matches the callback type and reads `team` only as a `Team`; the
        // call returns after every thread of the team has finished with it.
        unsafe { parallel(member, &team as *const Team as *mut c_void, threads, 0) };
        if let Some(payload) = team
            .panicked
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
        {
            std::panic::resume_unwind(payload);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The product on libtorch's OpenMP team equals the one on rayon's threads, to the bit
    /// (each piece is computed alone; only the threads differ).
    fn cpu() -> (Kind, Device) {
        (Kind::Float, Device::Cpu)
    }

    /// A layer without adapters.
    fn linear(weight: Tensor, bias: Tensor) -> Linear {
        Linear {
            weight,
            bias,
            lora: None,
        }
    }

    #[test]
    fn libtorch_threads_and_rayon_give_the_same_product() {
        let linear = linear(Tensor::randn([70, 50], cpu()), Tensor::randn([70], cpu()));
        let layer = quantize(&[(&linear, "test".into())], "test").unwrap();
        // 3 x 40 rows: several pieces of work.
        let x = Tensor::randn([3, 40, 50], cpu());
        let y = apply(&layer, &x, "test").unwrap();
        assert_eq!(y.size(), [3, 40, 70]);
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        assert!(
            openmp::parallel().is_some(),
            "libtorch's OpenMP runtime not found"
        );
        let flat = Vec::<f32>::try_from(x.flatten(0, -1)).unwrap();
        let mut pooled = vec![0f32; 120 * 70];
        layer.forward_into(&flat, &mut pooled).unwrap();
        assert_eq!(Vec::<f32>::try_from(y.flatten(0, -1)).unwrap(), pooled);
        // And close to fp32's product.
        let exact = x.linear(&linear.weight, Some(&linear.bias));
        let error = f64::try_from((&y - &exact).norm()).unwrap();
        let norm = f64::try_from(exact.norm()).unwrap();
        assert!(error / norm < 0.02, "{error} / {norm}");
    }

    #[test]
    fn a_non_finite_weight_is_named_by_its_own_tensor_and_row() {
        let plain = || linear(Tensor::ones([4, 3], cpu()), Tensor::zeros([4], cpu()));
        let (ok, bad) = (plain(), plain());
        let _ = bad.weight.get(2).get(1).fill_(f64::NAN);
        let err = quantize(&[(&ok, "a.query".into()), (&bad, "a.key".into())], "a.qkv")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("a.key.weight") && err.contains("row 2"),
            "{err}"
        );
    }
}
