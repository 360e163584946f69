//! Linear layers in 8-bit integers: `y = x W^T + b` for a fixed weight matrix `W`, the weights
//! coded once (7 bits per output row, on that row's own scale) and each row of `x` coded as it
//! comes (8 bits, on its own scale and offset): dynamic quantisation, what inference engines
//! use for a transformer's linear layers on CPUs. [`QuantizedLinear`] is what the encoder's
//! `--quantize int8` runs on.
//!
//! Why 7-bit weights: AVX2 multiplies bytes with `vpmaddubsw`, unsigned by signed, and sums each
//! pair in 16 bits with saturation. With inputs in `0..=255` and weights in `-63..=63` a pair
//! stays within `i16` (2 x 255 x 63 = 32,130), so every sum is exact: the integers are the
//! same on every CPU and kernel, and only the f32 scaling after them rounds. On MiniLM, 8-bit
//! inputs with 7-bit weights keep the sentence vectors closer to fp32 than the usual 7-bit
//! inputs with 8-bit weights (docs/benchmarks.md), because a transformer's activations have
//! wider ranges than its weights.

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use crate::{InvalidSetting, RankError, Result};

/// Output rows per panel: two AVX2 registers of eight `i32` sums.
const PANEL: usize = 16;
/// Inputs per step: the four bytes of one 32-bit lane.
const STEP: usize = 4;
/// Largest weight code (see the module's note on `vpmaddubsw`).
const WEIGHT_LIMIT: f32 = 63.0;
/// Largest input code.
const INPUT_LIMIT: f64 = 255.0;
/// Widest input whose sums of codes fit `i32` (255 x 63 per product).
const MAX_INPUTS: usize = i32::MAX as usize / (255 * 63);
/// Rows of `x` one kernel call multiplies with a panel.
const ROW_TILE: usize = 4;
/// Rows of `x` one thread codes and multiplies at a time.
const ROW_CHUNK: usize = 32;

/// The kernel the products run on in this process, in words, for benchmark reports
/// (`AFFINITY_RANK_ISA` caps it as it caps the ranker's).
///
/// ```
/// assert!(["AVX2 (vpmaddubsw)", "portable loops"].contains(&affinity_rank::int8::kernel()));
/// ```
pub fn kernel() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    if crate::kernel::isa() >= crate::kernel::Isa::Avx2 {
        return "AVX2 (vpmaddubsw)";
    }
    "portable loops"
}

/// A piece of a product's work: rows of the input, and the rows of the output they fill.
pub type Piece<'a> = (&'a [f32], &'a mut [f32]);

/// A weight matrix `[outputs, inputs]` and bias in integer codes, ready to multiply rows of
/// inputs coded on the fly.
///
/// ```
/// use affinity_rank::int8::QuantizedLinear;
/// use ndarray::array;
/// let weight = array![[0.5f32, -0.25, 1.0], [0.0, 2.0, -1.0]];
/// let layer = QuantizedLinear::new(weight.view(), Some(&[0.1, -0.2]))?;
/// let y = layer.forward(array![[1.0f32, 2.0, 3.0]].view())?;
/// // Exact: [3.1, 0.8]. Each weight is off by up to half of 1/63 of its row's largest and each
/// // input by half of 1/255 of its row's range: here up to about 0.06.
/// assert!((y[[0, 0]] - 3.1).abs() < 0.1 && (y[[0, 1]] - 0.8).abs() < 0.1, "{y}");
/// # Ok::<(), affinity_rank::RankError>(())
/// ```
#[derive(Debug, Clone)]
pub struct QuantizedLinear {
    inputs: usize,
    outputs: usize,
    /// Steps of `STEP` inputs (the last one zero-padded).
    steps: usize,
    /// Per panel, per step, `PANEL` outputs' `STEP` weight codes.
    panels: Vec<i8>,
    /// Per output: the scale of its codes, and the sum of its coded weights times that scale
    /// (what an input offset adds to the output).
    scale: Vec<f32>,
    sum: Vec<f32>,
    bias: Vec<f32>,
}

impl QuantizedLinear {
    /// Codes `weight` (`[outputs, inputs]`, as a linear layer stores it) and keeps `bias`
    /// (zeros when `None`). A non-finite weight or bias, or a bias of another length, is an
    /// error.
    pub fn new(weight: ArrayView2<f32>, bias: Option<&[f32]>) -> Result<Self> {
        let (outputs, inputs) = weight.dim();
        if outputs == 0 || inputs == 0 {
            return Err(
                InvalidSetting::new("weight", "needs at least one row and one column").into(),
            );
        }
        if inputs > MAX_INPUTS {
            return Err(InvalidSetting::new(
                "weight",
                format!("{inputs} inputs wide; the integer sums hold up to {MAX_INPUTS}"),
            )
            .into());
        }
        let bias = match bias {
            Some(b) if b.len() != outputs => {
                return Err(RankError::DimensionMismatch {
                    what: "the bias",
                    expected: outputs,
                    found: b.len(),
                })
            }
            Some(b) => b.to_vec(),
            None => vec![0.0; outputs],
        };
        if let Some(row) = weight
            .outer_iter()
            .position(|r| !r.iter().all(|v| v.is_finite()))
        {
            return Err(RankError::NonFinite {
                what: "the weight matrix",
                row,
            });
        }
        if let Some(row) = bias.iter().position(|v| !v.is_finite()) {
            return Err(RankError::NonFinite {
                what: "the bias",
                row,
            });
        }
        let steps = inputs.div_ceil(STEP);
        let n_panels = outputs.div_ceil(PANEL);
        let mut panels = vec![0i8; n_panels * steps * PANEL * STEP];
        let (mut scale, mut sum) = (vec![0f32; outputs], vec![0f32; outputs]);
        for (o, row) in weight.outer_iter().enumerate() {
            let largest = row.iter().fold(0f32, |m, v| m.max(v.abs()));
            let s = if largest > 0.0 {
                largest / WEIGHT_LIMIT
            } else {
                1.0
            };
            let (p, lane) = (o / PANEL, o % PANEL);
            let mut codes_sum = 0i32;
            for (i, &v) in row.iter().enumerate() {
                let code = (v / s).round().clamp(-WEIGHT_LIMIT, WEIGHT_LIMIT) as i8;
                codes_sum += i32::from(code);
                let at = ((p * steps + i / STEP) * PANEL + lane) * STEP + i % STEP;
                panels[at] = code;
            }
            scale[o] = s;
            sum[o] = codes_sum as f32 * s;
        }
        Ok(QuantizedLinear {
            inputs,
            outputs,
            steps,
            panels,
            scale,
            sum,
            bias,
        })
    }

    /// Input width.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Output width.
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// `x W^T + b` for the rows of `x`.
    pub fn forward(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        if x.ncols() != self.inputs {
            return Err(RankError::DimensionMismatch {
                what: "the input",
                expected: self.inputs,
                found: x.ncols(),
            });
        }
        let rows = x.nrows();
        let x = x.as_standard_layout();
        let flat = x.as_slice().expect("standard layout is contiguous");
        let mut out = Array2::zeros((rows, self.outputs));
        self.forward_into(flat, out.as_slice_mut().expect("a new array is contiguous"))?;
        Ok(out)
    }

    /// `x W^T + b` with `x` row-major (`rows x inputs`) written to `out` (`rows x outputs`),
    /// rows split over rayon's threads. A row holding a NaN or an infinity gives NaNs, as an
    /// fp32 product would (as does one whose range overflows f32).
    pub fn forward_into(&self, x: &[f32], out: &mut [f32]) -> Result<()> {
        self.forward_into_with(x, out, |work, run| {
            work.into_par_iter().for_each(|(x, out)| run(x, out))
        })
    }

    /// [`QuantizedLinear::forward_into`] on threads of the caller's choosing: `parallel` gets
    /// the pieces of work (rows of `x` and the rows of `out` they fill) and the function that
    /// does one, and must run each piece once, on any thread, before it returns. For a
    /// caller that already has a thread pool whose threads would otherwise compete with
    /// rayon's (libtorch's OpenMP team, in affinity-tune).
    pub fn forward_into_with<'a, P>(
        &self,
        x: &'a [f32],
        out: &'a mut [f32],
        parallel: P,
    ) -> Result<()>
    where
        P: FnOnce(Vec<Piece<'a>>, &(dyn Fn(&[f32], &mut [f32]) + Sync)),
    {
        if self.inputs == 0 || !x.len().is_multiple_of(self.inputs) {
            return Err(RankError::DimensionMismatch {
                what: "the input",
                expected: self.inputs,
                found: x.len(),
            });
        }
        let rows = x.len() / self.inputs;
        if out.len() != rows * self.outputs {
            return Err(RankError::DimensionMismatch {
                what: "the output",
                expected: rows * self.outputs,
                found: out.len(),
            });
        }
        // Small products (one text's tokens) in pieces of a few tiles, so that every thread
        // has some: at least four pieces where the rows allow.
        let per_piece = rows
            .div_ceil(4)
            .next_multiple_of(ROW_TILE)
            .clamp(ROW_TILE, ROW_CHUNK);
        let pieces = x
            .chunks(per_piece * self.inputs)
            .zip(out.chunks_mut(per_piece * self.outputs))
            .collect();
        parallel(pieces, &|x, out| self.chunk(x, out));
        Ok(())
    }

    /// Up to `ROW_CHUNK` rows: coded, then multiplied panel by panel.
    fn chunk(&self, x: &[f32], out: &mut [f32]) {
        let rows = x.len() / self.inputs;
        let tiles = rows.div_ceil(ROW_TILE);
        let stride = self.steps * STEP;
        // Rows padded to whole tiles with zero codes, whose sums are never written.
        let mut codes = vec![0u8; tiles * ROW_TILE * stride];
        let mut coding = vec![Coding::default(); rows];
        for (r, (row, c)) in x.chunks(self.inputs).zip(&mut coding).enumerate() {
            *c = code_row(row, &mut codes[r * stride..(r + 1) * stride]);
        }
        let mut sums = [0i32; ROW_TILE * PANEL];
        let panel_len = self.steps * PANEL * STEP;
        for p in 0..self.outputs.div_ceil(PANEL) {
            let panel = &self.panels[p * panel_len..(p + 1) * panel_len];
            let first = p * PANEL;
            let width = PANEL.min(self.outputs - first);
            let scale = &self.scale[first..first + width];
            let sum = &self.sum[first..first + width];
            let bias = &self.bias[first..first + width];
            for t in 0..tiles {
                let tile = &codes[t * ROW_TILE * stride..(t + 1) * ROW_TILE * stride];
                kernels::products(tile, panel, self.steps, &mut sums);
                for r in 0..ROW_TILE.min(rows - t * ROW_TILE) {
                    let row = t * ROW_TILE + r;
                    let c = coding[row];
                    let dst = &mut out[row * self.outputs + first..][..width];
                    if !c.finite {
                        dst.fill(f32::NAN);
                        continue;
                    }
                    let products = &sums[r * PANEL..r * PANEL + width];
                    for ((((y, &n), &s), &w), &b) in
                        dst.iter_mut().zip(products).zip(scale).zip(sum).zip(bias)
                    {
                        *y = (c.scale * s) * n as f32 + c.offset * w + b;
                    }
                }
            }
        }
    }
}

/// How one input row was coded: `x ~ offset + scale * code`.
#[derive(Debug, Clone, Copy, Default)]
struct Coding {
    scale: f32,
    offset: f32,
    finite: bool,
}

/// Codes `row` into `codes` (one byte per input, the rest zero).
fn code_row(row: &[f32], codes: &mut [u8]) -> Coding {
    let (lo, hi, finite) = range(row);
    if !finite {
        codes.fill(0);
        return Coding::default();
    }
    let (scale, inverse) = steps(lo, hi);
    kernels::code(row, lo, inverse, &mut codes[..row.len()]);
    codes[row.len()..].fill(0);
    Coding {
        scale,
        offset: lo,
        finite: true,
    }
}

/// The step between two input codes for values in `lo..=hi`, and its inverse (what the codes
/// multiply by): in f64 (the range of two finite f32 can overflow f32), then capped, so that a
/// range too small for f32's inverse still codes to finite products, the same on every path.
fn steps(lo: f32, hi: f32) -> (f32, f32) {
    let range = f64::from(hi) - f64::from(lo);
    let inverse = if range > 0.0 {
        (INPUT_LIMIT / range).min(f64::from(f32::MAX))
    } else {
        0.0
    };
    ((range / INPUT_LIMIT) as f32, inverse as f32)
}

/// The smallest and largest value of `row`, and whether every value is finite: in eight
/// lanes, so that it compiles to vector instructions on any x86-64.
fn range(row: &[f32]) -> (f32, f32, bool) {
    const LANES: usize = 8;
    let (mut lo, mut hi, mut zero) = (
        [f32::INFINITY; LANES],
        [f32::NEG_INFINITY; LANES],
        [0f32; LANES],
    );
    let mut lanes = row.chunks_exact(LANES);
    for chunk in &mut lanes {
        for i in 0..LANES {
            let v = chunk[i];
            lo[i] = if v < lo[i] { v } else { lo[i] };
            hi[i] = if v > hi[i] { v } else { hi[i] };
            // NaN where v is NaN or infinite, 0 otherwise.
            zero[i] += v * 0.0;
        }
    }
    for (i, &v) in lanes.remainder().iter().enumerate() {
        lo[i] = if v < lo[i] { v } else { lo[i] };
        hi[i] = if v > hi[i] { v } else { hi[i] };
        zero[i] += v * 0.0;
    }
    let lo = lo.iter().fold(f32::INFINITY, |a, &b| a.min(b));
    let hi = hi.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    // A range beyond f32's (values near +-3.4e38) counts as non-finite: the codes' arithmetic
    // is f32.
    let finite = zero.iter().all(|&z| z == 0.0) && (hi - lo).is_finite();
    (lo, hi, finite)
}

/// The integer products of a tile of input rows with a panel of weight rows.
#[allow(unsafe_code)]
mod kernels {
    use super::{PANEL, ROW_TILE, STEP};

    /// `sums[r * PANEL + j]` = input row `r` of `codes` (`steps * STEP` bytes each, `ROW_TILE`
    /// rows) . weight row `j` of `panel`.
    pub fn products(codes: &[u8], panel: &[i8], steps: usize, sums: &mut [i32; ROW_TILE * PANEL]) {
        assert!(codes.len() >= ROW_TILE * steps * STEP && panel.len() >= steps * PANEL * STEP);
        #[cfg(target_arch = "x86_64")]
        if crate::kernel::isa() >= crate::kernel::Isa::Avx2 {
            // SAFETY: `isa` names a level only where the CPU has its features; the lengths
            // are checked above.
            return unsafe { x86::products_avx2(codes, panel, steps, sums) };
        }
        portable(codes, panel, steps, sums);
    }

    /// `codes[i]` = `(row[i] - lo) * inverse` rounded to the nearest integer (ties to even) and
    /// clamped to `0..=255`; the same bytes on every path.
    pub fn code(row: &[f32], lo: f32, inverse: f32, codes: &mut [u8]) {
        assert_eq!(row.len(), codes.len());
        #[cfg(target_arch = "x86_64")]
        if crate::kernel::isa() >= crate::kernel::Isa::Avx2 {
            // SAFETY: as in `products`; the lengths are checked above.
            return unsafe { x86::code_avx2(row, lo, inverse, codes) };
        }
        code_portable(row, lo, inverse, codes);
    }

    pub(super) fn code_portable(row: &[f32], lo: f32, inverse: f32, codes: &mut [u8]) {
        for (c, &v) in codes.iter_mut().zip(row) {
            *c = ((v - lo) * inverse).round_ties_even().clamp(0.0, 255.0) as u8;
        }
    }

    pub(super) fn portable(
        codes: &[u8],
        panel: &[i8],
        steps: usize,
        sums: &mut [i32; ROW_TILE * PANEL],
    ) {
        sums.fill(0);
        for r in 0..ROW_TILE {
            for s in 0..steps {
                let x = &codes[(r * steps + s) * STEP..][..STEP];
                let w = &panel[s * PANEL * STEP..(s + 1) * PANEL * STEP];
                for j in 0..PANEL {
                    let w = &w[j * STEP..(j + 1) * STEP];
                    sums[r * PANEL + j] += x
                        .iter()
                        .zip(w)
                        .map(|(&x, &w)| i32::from(x) * i32::from(w))
                        .sum::<i32>();
                }
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    pub(super) mod x86 {
        use super::{PANEL, ROW_TILE, STEP};
        use std::arch::x86_64::*;

        /// Eight values at a time: subtract, scale, round to nearest even (`vcvtps2dq` under
        /// the default rounding mode), then packed to bytes with unsigned saturation.
        #[target_feature(enable = "avx2")]
        pub unsafe fn code_avx2(row: &[f32], lo: f32, inverse: f32, codes: &mut [u8]) {
            let (lo8, inverse8) = (_mm256_set1_ps(lo), _mm256_set1_ps(inverse));
            let full = row.len() / 8 * 8;
            for i in (0..full).step_by(8) {
                let v = _mm256_loadu_ps(row.as_ptr().add(i));
                let n = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_sub_ps(v, lo8), inverse8));
                // Eight i32 to eight u8 (saturating): the two 128-bit halves packed in turn.
                let words =
                    _mm_packs_epi32(_mm256_castsi256_si128(n), _mm256_extracti128_si256::<1>(n));
                let bytes = _mm_packus_epi16(words, words);
                _mm_storel_epi64(codes.as_mut_ptr().add(i) as *mut __m128i, bytes);
            }
            super::code_portable(&row[full..], lo, inverse, &mut codes[full..]);
        }

        /// Per step and row: the row's four codes broadcast, `vpmaddubsw` against the panel's
        /// two registers (pairs summed in 16 bits, exact by the weights' limit), widened by
        /// `vpmaddwd` against ones and added: 4 rows x 16 outputs in eight accumulators.
        #[target_feature(enable = "avx2")]
        pub unsafe fn products_avx2(
            codes: &[u8],
            panel: &[i8],
            steps: usize,
            sums: &mut [i32; ROW_TILE * PANEL],
        ) {
            let ones = _mm256_set1_epi16(1);
            let mut acc = [[_mm256_setzero_si256(); 2]; ROW_TILE];
            let w = panel.as_ptr();
            let x = codes.as_ptr();
            for s in 0..steps {
                let lo = _mm256_loadu_si256(w.add(s * PANEL * STEP) as *const __m256i);
                let hi = _mm256_loadu_si256(w.add(s * PANEL * STEP + 32) as *const __m256i);
                for (r, acc) in acc.iter_mut().enumerate() {
                    let b = _mm256_set1_epi32(
                        (x.add((r * steps + s) * STEP) as *const i32).read_unaligned(),
                    );
                    acc[0] = _mm256_add_epi32(
                        acc[0],
                        _mm256_madd_epi16(_mm256_maddubs_epi16(b, lo), ones),
                    );
                    acc[1] = _mm256_add_epi32(
                        acc[1],
                        _mm256_madd_epi16(_mm256_maddubs_epi16(b, hi), ones),
                    );
                }
            }
            let out = sums.as_mut_ptr();
            for (r, acc) in acc.iter().enumerate() {
                _mm256_storeu_si256(out.add(r * PANEL) as *mut __m256i, acc[0]);
                _mm256_storeu_si256(out.add(r * PANEL + 8) as *mut __m256i, acc[1]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reproducible matrix with entries in about `[-1, 1)`, and a few wide columns (as a
    /// transformer's activations have).
    fn matrix(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        Array2::from_shape_fn((rows, cols), |(_, c)| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let v = (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0;
            if c % 37 == 5 {
                v * 8.0
            } else {
                v
            }
        })
    }

    #[test]
    fn the_dispatched_kernel_matches_the_portable_one() {
        for steps in [1, 3, 96, 385] {
            let mut state = (steps as u32).wrapping_mul(2_654_435_761);
            let mut next = || {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state
            };
            let mut codes: Vec<u8> = (0..ROW_TILE * steps * STEP).map(|_| next() as u8).collect();
            // The extremes: every input code 255 against weights of +-63.
            codes[..steps * STEP].fill(u8::MAX);
            let mut panel: Vec<i8> = (0..steps * PANEL * STEP)
                .map(|_| (next() % 127) as i8 - 63)
                .collect();
            panel[..PANEL * STEP].fill(-63);
            panel[PANEL * STEP..]
                .iter_mut()
                .step_by(3)
                .for_each(|w| *w = 63);
            let (mut fast, mut slow) = ([0i32; ROW_TILE * PANEL], [0i32; ROW_TILE * PANEL]);
            kernels::products(&codes, &panel, steps, &mut fast);
            kernels::portable(&codes, &panel, steps, &mut slow);
            assert_eq!(fast, slow, "{steps} steps");
            assert_eq!(
                slow[0],
                -63 * 255 * 4 + {
                    let rest: i32 = (1..steps)
                        .map(|s| {
                            panel[s * PANEL * STEP..][..STEP]
                                .iter()
                                .map(|&w| 255 * i32::from(w))
                                .sum::<i32>()
                        })
                        .sum();
                    rest
                }
            );
        }
    }

    #[test]
    fn the_dispatched_coding_matches_the_portable_one() {
        let mut rows: Vec<(Vec<f32>, f32, f32)> = vec![
            // Ties at every half, both ends, and a remainder past the eight-value groups.
            (
                vec![
                    0.0, 0.5, 1.5, 2.5, 3.5, 126.5, 127.5, 254.5, 255.0, 2.4999, 100.5,
                ],
                0.0,
                1.0,
            ),
        ];
        for (len, seed) in [(1, 1), (7, 2), (384, 3), (1537, 4)] {
            let row = matrix(1, len, seed).into_raw_vec_and_offset().0;
            let (lo, hi, _) = range(&row);
            rows.push((row, lo, steps(lo, hi).1));
        }
        // Ranges too narrow for f32's inverse, and one near f32's largest.
        for row in [
            vec![1e-38f32, 3e-38, 2e-38, 1.5e-38],
            vec![-1e38, 1e38, 0.0, 3e37],
        ] {
            let (lo, hi, _) = range(&row);
            rows.push((row, lo, steps(lo, hi).1));
        }
        for (row, lo, inverse) in rows {
            let (mut fast, mut slow) = (vec![0u8; row.len()], vec![0u8; row.len()]);
            kernels::code(&row, lo, inverse, &mut fast);
            kernels::code_portable(&row, lo, inverse, &mut slow);
            assert_eq!(fast, slow, "{row:?}");
            if inverse == 1.0 {
                assert_eq!(slow[..9], [0, 0, 2, 2, 4, 126, 128, 254, 255]);
            }
        }
    }

    #[test]
    fn products_are_within_the_codes_rounding_of_f32() {
        // Widths that leave partial steps and panels, and more rows than one chunk.
        for (rows, inputs, outputs) in [(1, 1, 1), (5, 7, 17), (70, 384, 40), (33, 1536, 16)] {
            let x = matrix(rows, inputs, 1);
            let w = matrix(outputs, inputs, 2);
            let bias: Vec<f32> = (0..outputs).map(|o| o as f32 * 0.01 - 0.1).collect();
            let layer = QuantizedLinear::new(w.view(), Some(&bias)).unwrap();
            let y = layer.forward(x.view()).unwrap();
            let exact = x.dot(&w.t()) + ndarray::Array1::from(bias.clone());
            for r in 0..rows {
                for o in 0..outputs {
                    let (xr, wr) = (x.row(r), w.row(o));
                    // Rounding each input by half its step and each weight by half its own:
                    // a bound on the error of the coded product, by the triangle inequality.
                    let x_step = (xr.fold(f32::MIN, |m, &v| m.max(v))
                        - xr.fold(f32::MAX, |m, &v| m.min(v)))
                        / 255.0;
                    let w_step = wr.fold(0f32, |m, &v| m.max(v.abs())) / 63.0;
                    let bound: f32 = xr
                        .iter()
                        .zip(wr)
                        .map(|(&a, &b)| {
                            0.5 * x_step * (b.abs() + 0.5 * w_step) + 0.5 * w_step * a.abs()
                        })
                        .sum::<f32>()
                        * 1.001
                        + 1e-5;
                    let err = (y[[r, o]] - exact[[r, o]]).abs();
                    assert!(
                        err <= bound,
                        "{rows}x{inputs}x{outputs} [{r},{o}]: {err} > {bound}"
                    );
                }
            }
            // And close on the whole: the relative error of the matrix is about 1 %.
            let diff = (&y - &exact).mapv(|v| v * v).sum().sqrt();
            let norm = exact.mapv(|v| v * v).sum().sqrt();
            if inputs > 100 {
                assert!(diff / norm < 0.02, "{diff} / {norm}");
            }
        }
    }

    #[test]
    fn constant_rows_and_zero_weights_are_exact() {
        let x = Array2::from_elem((3, 10), 0.75f32);
        let mut w = matrix(4, 10, 3);
        w.row_mut(2).fill(0.0);
        let layer = QuantizedLinear::new(w.view(), None).unwrap();
        let y = layer.forward(x.view()).unwrap();
        assert!(y.column(2).iter().all(|&v| v == 0.0), "{y}");
        // A constant row is all offset: the coded weights' sum, scaled.
        let exact = x.dot(&w.t());
        for (a, b) in y.iter().zip(&exact) {
            assert!((a - b).abs() < 0.02 * b.abs().max(0.1), "{a} vs {b}");
        }
    }

    #[test]
    fn a_non_finite_row_gives_nans_and_leaves_the_others_alone() {
        let mut x = matrix(6, 9, 4);
        x[[2, 3]] = f32::NAN;
        x[[4, 0]] = f32::INFINITY;
        let layer = QuantizedLinear::new(matrix(5, 9, 5).view(), None).unwrap();
        let y = layer.forward(x.view()).unwrap();
        for r in 0..6 {
            let nan = y.row(r).iter().all(|v| v.is_nan());
            let finite = y.row(r).iter().all(|v| v.is_finite());
            assert!(if r == 2 || r == 4 { nan } else { finite }, "row {r}: {y}");
        }
    }

    #[test]
    fn bad_shapes_and_weights_are_errors() {
        let w = matrix(3, 4, 6);
        assert!(matches!(
            QuantizedLinear::new(w.view(), Some(&[0.0; 2])),
            Err(RankError::DimensionMismatch {
                what: "the bias",
                ..
            })
        ));
        let mut bad = w.clone();
        bad[[1, 2]] = f32::NAN;
        assert!(matches!(
            QuantizedLinear::new(bad.view(), None),
            Err(RankError::NonFinite { row: 1, .. })
        ));
        for empty in [Array2::zeros((0, 4)), Array2::zeros((3, 0))] {
            assert!(matches!(
                QuantizedLinear::new(empty.view(), None),
                Err(RankError::InvalidSetting(_))
            ));
        }
        assert!(QuantizedLinear::new(Array2::zeros((1, MAX_INPUTS + 1)).view(), None).is_err());
        let layer = QuantizedLinear::new(w.view(), None).unwrap();
        assert!(matches!(
            layer.forward(Array2::zeros((2, 2)).view()),
            Err(RankError::DimensionMismatch {
                what: "the input",
                found: 2,
                ..
            })
        ));
        assert!(layer.forward_into(&[0.0; 6], &mut [0.0; 3]).is_err());
        assert!(layer.forward_into(&[0.0; 8], &mut [0.0; 5]).is_err());
        assert!(layer.forward_into(&[0.0; 8], &mut [0.0; 6]).is_ok());
    }

    #[test]
    fn any_order_of_the_pieces_gives_the_same_product() {
        let x = matrix(100, 50, 7);
        let layer = QuantizedLinear::new(matrix(20, 50, 8).view(), None).unwrap();
        let flat = x.as_slice().unwrap();
        let mut pooled = vec![0f32; 100 * 20];
        layer.forward_into(flat, &mut pooled).unwrap();
        let mut reversed = vec![0f32; 100 * 20];
        let mut seen = 0;
        layer
            .forward_into_with(flat, &mut reversed, |pieces, run| {
                seen = pieces.len();
                pieces.into_iter().rev().for_each(|(x, out)| run(x, out))
            })
            .unwrap();
        assert_eq!(seen, 100usize.div_ceil(ROW_CHUNK));
        // A few rows still make several pieces.
        let mut few = vec![0f32; 9 * 20];
        layer
            .forward_into_with(&flat[..9 * 50], &mut few, |pieces, run| {
                seen = pieces.len();
                pieces.into_iter().for_each(|(x, out)| run(x, out))
            })
            .unwrap();
        assert_eq!(seen, 3);
        assert_eq!(few, pooled[..9 * 20]);
        assert_eq!(pooled, reversed);
    }
}
