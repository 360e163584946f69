//! Throughput measurements behind `affinity bench train|encode`, on random token ids of a
//! fixed length so that runs compare like for like with the PyTorch script in `benches/`.

use affinity_core::InvalidSetting;
use std::time::Instant;

use tch::{Device, Kind, Tensor};

use crate::encoder::SentenceEncoder;
use crate::error::Result;
use crate::optim::AdamW;
use crate::tokenizer::{random_batch, TokenBatch};

/// A throughput figure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throughput {
    /// Pairs (training) or items (encoding) per second over the timed steps.
    pub per_second: f64,
    /// Seconds the timed steps took.
    pub seconds: f64,
    /// Timed steps.
    pub steps: usize,
    /// Peak resident memory of the process so far, MiB (Linux; 0 elsewhere).
    pub peak_rss_mib: f64,
}

/// Peak resident set size of this process in MiB (`VmHWM`).
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn sync(device: Device) {
    if let Device::Cuda(n) = device {
        tch::Cuda::synchronize(n as i64);
    }
}

fn check(batch: usize, len: usize, steps: usize, max_len: i64) -> Result<()> {
    if batch == 0 || steps == 0 {
        return Err(InvalidSetting::new("batch/steps", "must be positive").into());
    }
    if len < 2 || len as i64 > max_len {
        return Err(InvalidSetting::new("seq_len", format!("must lie in 2..={max_len}")).into());
    }
    Ok(())
}

/// Runs `warmup` untimed then `steps` timed calls of `run` (with its step index), waiting for
/// the device at both ends; `batch` items per call.
fn timed(
    device: Device,
    batch: usize,
    steps: usize,
    warmup: usize,
    mut run: impl FnMut(usize) -> Result<()>,
) -> Result<Throughput> {
    for i in 0..warmup {
        run(i)?;
    }
    sync(device);
    let start = Instant::now();
    for i in 0..steps {
        run(i)?;
    }
    sync(device);
    let seconds = start.elapsed().as_secs_f64();
    Ok(Throughput {
        per_second: (batch * steps) as f64 / seconds,
        seconds,
        steps,
        peak_rss_mib: peak_rss_mib(),
    })
}

/// Contrastive training steps (both towers forward, InfoNCE with scale 20, backward, clipping,
/// AdamW): pairs per second after `warmup` untimed steps.
pub fn train_throughput(
    encoder: &SentenceEncoder,
    batch: usize,
    len: usize,
    steps: usize,
    warmup: usize,
) -> Result<Throughput> {
    check(batch, len, steps, encoder.config().max_position_embeddings)?;
    let device = encoder.device();
    let vocab = encoder.config().vocab_size;
    let mut optimizer = AdamW::new(encoder.trainable(), 0.01)?;
    let labels = Tensor::f_arange(batch as i64, (Kind::Int64, device))?;
    let batches: Vec<(TokenBatch, TokenBatch)> = (0..4)
        .map(|_| {
            (
                random_batch(batch, len, vocab).to(device),
                random_batch(batch, len, vocab).to(device),
            )
        })
        .collect();
    let run = |i: usize| -> Result<()> {
        let (q, p) = &batches[i % batches.len()];
        let q = encoder.forward(q, true)?;
        let p = encoder.forward(p, true)?;
        let logits = q.f_matmul(&p.f_transpose(0, 1)?)?.f_mul_scalar(20.0)?;
        let loss = logits.f_cross_entropy_loss::<Tensor>(
            &labels,
            None,
            tch::Reduction::Mean,
            -100,
            0.0,
        )?;
        loss.backward();
        optimizer.clip_grad_norm(1.0)?;
        optimizer.step(1e-5)?;
        Ok(())
    };
    timed(device, batch, steps, warmup, run)
}

/// Encoding without gradients: items per second after `warmup` untimed batches.
pub fn encode_throughput(
    encoder: &SentenceEncoder,
    batch: usize,
    len: usize,
    steps: usize,
    warmup: usize,
) -> Result<Throughput> {
    check(batch, len, steps, encoder.config().max_position_embeddings)?;
    let device = encoder.device();
    let vocab = encoder.config().vocab_size;
    let batches: Vec<TokenBatch> = (0..4)
        .map(|_| random_batch(batch, len, vocab).to(device))
        .collect();
    let _guard = tch::no_grad_guard();
    let run = |i: usize| -> Result<()> {
        let v = encoder.forward(&batches[i % batches.len()], false)?;
        // Bring the vectors home, as a caller would.
        let _ = v.f_to_device(Device::Cpu)?.f_to_kind(Kind::Float)?;
        Ok(())
    };
    timed(device, batch, steps, warmup, run)
}
