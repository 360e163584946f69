//! Times [`QuantizedLinear`] against the f32 matrix product (ndarray's) at the shapes of
//! MiniLM's linear layers: `cargo run --release -p affinity-rank --example int8_linear`.
//! The encoder's own comparison, against libtorch, is `affinity bench encode --quantize int8`.

use affinity_rank::int8::QuantizedLinear;
use ndarray::Array2;
use std::time::Instant;

fn matrix(rows: usize, cols: usize, seed: u32) -> Array2<f32> {
    let mut state = seed.wrapping_mul(2_654_435_761) | 1;
    Array2::from_shape_fn((rows, cols), |_| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state >> 8) as f32 / (1u32 << 23) as f32 - 1.0
    })
}

/// The best of `runs` timings of `f`, in milliseconds.
fn best(runs: usize, mut f: impl FnMut()) -> f64 {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    println!("kernels: {}", affinity_rank::kernels());
    println!("rows x in x out | f32 ms | int8 ms | speedup");
    for (rows, inputs, outputs) in [
        (4096, 384, 1152),
        (4096, 384, 384),
        (4096, 384, 1536),
        (4096, 1536, 384),
    ] {
        let x = matrix(rows, inputs, 1);
        let w = matrix(outputs, inputs, 2);
        let layer = QuantizedLinear::new(w.view(), None).expect("finite weights");
        let f32_ms = best(5, || {
            std::hint::black_box(x.dot(&w.t()));
        });
        let int8_ms = best(5, || {
            std::hint::black_box(layer.forward(x.view()).expect("shapes match"));
        });
        println!(
            "{rows} x {inputs} x {outputs} | {f32_ms:.1} | {int8_ms:.1} | {:.2}x",
            f32_ms / int8_ms
        );
    }
}
