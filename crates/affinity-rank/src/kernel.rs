//! Inner products of a few queries with every item: each item row is read once for all the
//! queries (the matrix is what costs, not the arithmetic), with AVX2 and FMA where the CPU has
//! them. Every product is summed in the same order whatever the batch, so a query's figures
//! never depend on what it is computed with.

use ndarray::{ArrayView2, ArrayViewMut2};

/// `out[q, i] = queries[q] · items[i]`. All three in standard layout, `out` of shape
/// `[queries, items]`, widths equal (the callers check).
pub(crate) fn dot_all(
    queries: ArrayView2<f32>,
    items: ArrayView2<f32>,
    mut out: ArrayViewMut2<f32>,
) {
    let (n, width) = items.dim();
    let q = queries.as_slice().expect("standard layout");
    let items = items.as_slice().expect("standard layout");
    let o = out.as_slice_mut().expect("standard layout");
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        #[allow(unsafe_code)]
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        unsafe {
            x86::dot_all(q, items, width, n, o)
        };
        return;
    }
    products(q, items, width, n, o, dot);
}

/// Every query-item product into `out`, item by item, with `dot` for one pair: the loop both
/// paths share (inlined, so the AVX2 path's `dot` is compiled with its features).
#[inline(always)]
fn products(
    q: &[f32],
    items: &[f32],
    width: usize,
    n: usize,
    out: &mut [f32],
    dot: impl Fn(&[f32], &[f32]) -> f32,
) {
    if width == 0 {
        out.fill(0.0);
        return;
    }
    for (i, item) in items.chunks_exact(width).enumerate() {
        for (qi, query) in q.chunks_exact(width).enumerate() {
            out[qi * n + i] = dot(query, item);
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn has_avx2_fma() -> bool {
    isa() >= Isa::Avx2
}

/// Instruction sets the kernels choose among, narrowest first. A level is only ever returned
/// by [`isa`] on a CPU that has every feature it names, which is what the kernels' `unsafe`
/// calls rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Isa {
    /// Plain Rust, auto-vectorised for the build's target.
    Portable,
    /// AVX2 and FMA.
    Avx2,
    /// AVX2 and FMA, and AVX-512 F, BW and VNNI (for the integer codes).
    Avx512,
}

/// The widest instruction set the kernels use: the CPU's best unless the environment variable
/// `AFFINITY_RANK_ISA` caps it at `avx2` or `portable`, so that one machine can measure what a
/// smaller CPU would run (lists may then differ in the last bits, as they would there).
/// Decided once per process; a cap it does not know is reported and ignored.
pub(crate) fn isa() -> Isa {
    static ISA: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
    *ISA.get_or_init(|| {
        let value = std::env::var("AFFINITY_RANK_ISA").unwrap_or_default();
        let cap = parse_isa(&value).unwrap_or_else(|| {
            eprintln!(
                "warning: AFFINITY_RANK_ISA={value:?} is not avx512, avx2 or portable: ignored"
            );
            Isa::Avx512
        });
        cap.min(detected_isa())
    })
}

/// What this process searches with, in words, for benchmark reports: the instruction set
/// (which `AFFINITY_RANK_ISA` may cap) and the integer codes of large batches' first pass.
///
/// ```
/// let kernels = affinity_rank::kernels();
/// assert!(kernels.contains("batches"), "{kernels}");
/// ```
pub fn kernels() -> String {
    let set = match isa() {
        Isa::Avx512 => "AVX-512 with VNNI",
        Isa::Avx2 => "AVX2 and FMA",
        Isa::Portable => "portable loops",
    };
    format!(
        "{set}; batches: {}",
        crate::coded::Precision::for_this_cpu().describe()
    )
}

/// The widest level this CPU has every feature of.
fn detected_isa() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx2") && has!("fma") {
            if has!("avx512f") && has!("avx512bw") && has!("avx512vnni") {
                return Isa::Avx512;
            }
            return Isa::Avx2;
        }
    }
    Isa::Portable
}

/// `AFFINITY_RANK_ISA`'s value; empty is no cap.
fn parse_isa(value: &str) -> Option<Isa> {
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "avx512" => Some(Isa::Avx512),
        "avx2" => Some(Isa::Avx2),
        "portable" => Some(Isa::Portable),
        _ => None,
    }
}

/// The inner product of two vectors (over the shorter one's length), with AVX2 and FMA where
/// the CPU has them: the figure [`crate::ItemIndex::similarities`] gives for one pair.
///
/// ```
/// assert_eq!(affinity_rank::inner_product(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]), 32.0);
/// ```
pub fn inner_product(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        #[allow(unsafe_code)]
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        return unsafe { x86::dot(a, b) };
    }
    let len = a.len().min(b.len());
    dot(&a[..len], &b[..len])
}

/// One inner product, portable: eight running sums, so the compiler vectorises it.
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    use std::arch::x86_64::*;

    /// [`super::dot_all`] with 256-bit fused multiply-adds.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot_all(
        q: &[f32],
        items: &[f32],
        width: usize,
        n: usize,
        out: &mut [f32],
    ) {
        // SAFETY: this function's own requirement.
        super::products(q, items, width, n, out, |a, b| unsafe { dot(a, b) });
    }

    /// Four 8-wide sums over blocks of 32, then 8 at a time, then the rest one by one.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
        let len = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut sums = [_mm256_setzero_ps(); 4];
        let mut j = 0;
        // SAFETY (all loads): j + 8 * s + 8 <= len, inside both slices.
        while j + 32 <= len {
            for (s, sum) in sums.iter_mut().enumerate() {
                let x = _mm256_loadu_ps(pa.add(j + 8 * s));
                let y = _mm256_loadu_ps(pb.add(j + 8 * s));
                *sum = _mm256_fmadd_ps(x, y, *sum);
            }
            j += 32;
        }
        while j + 8 <= len {
            let x = _mm256_loadu_ps(pa.add(j));
            let y = _mm256_loadu_ps(pb.add(j));
            sums[0] = _mm256_fmadd_ps(x, y, sums[0]);
            j += 8;
        }
        let total = _mm256_add_ps(
            _mm256_add_ps(sums[0], sums[1]),
            _mm256_add_ps(sums[2], sums[3]),
        );
        let mut lanes = [0f32; 8];
        _mm256_storeu_ps(lanes.as_mut_ptr(), total);
        let mut acc = lanes.iter().sum::<f32>();
        while j < len {
            acc += a[j] * b[j];
            j += 1;
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn the_instruction_set_cap_reads_its_names() {
        assert_eq!(parse_isa(""), Some(Isa::Avx512));
        assert_eq!(parse_isa(" AVX2 "), Some(Isa::Avx2));
        assert_eq!(parse_isa("portable"), Some(Isa::Portable));
        assert_eq!(parse_isa("avx512"), Some(Isa::Avx512));
        assert_eq!(parse_isa("sse"), None);
        assert!(Isa::Portable < Isa::Avx2 && Isa::Avx2 < Isa::Avx512);
    }

    fn matrix(rows: usize, cols: usize, seed: u32) -> Array2<f32> {
        let mut state = seed;
        Array2::from_shape_fn((rows, cols), |_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        })
    }

    #[test]
    fn every_product_matches_and_does_not_depend_on_the_batch() {
        for width in [0, 1, 7, 8, 33, 384] {
            let items = matrix(57, width, 1);
            let queries = matrix(5, width, 2);
            let mut all = Array2::zeros((5, 57));
            dot_all(queries.view(), items.view(), all.view_mut());
            for q in 0..5 {
                let mut one = Array2::zeros((1, 57));
                dot_all(
                    queries.slice(ndarray::s![q..q + 1, ..]),
                    items.view(),
                    one.view_mut(),
                );
                // Bit for bit the same alone as in a batch, and pair by pair.
                assert_eq!(one.row(0), all.row(q), "width {width}");
                for i in 0..57 {
                    let pair = inner_product(
                        queries.row(q).as_slice().unwrap(),
                        items.row(i).as_slice().unwrap(),
                    );
                    assert_eq!(pair.to_bits(), all[[q, i]].to_bits(), "width {width}");
                }
                for i in 0..57 {
                    let exact: f64 = (0..width)
                        .map(|d| f64::from(queries[[q, d]]) * f64::from(items[[i, d]]))
                        .sum();
                    assert!(
                        (f64::from(all[[q, i]]) - exact).abs() < 1e-4,
                        "width {width}"
                    );
                }
            }
        }
    }
}
