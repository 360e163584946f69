//! How much faster this core multiplies 16-bit integer codes than f32, with AVX2: the ceiling
//! of the integer first pass of batch search (`src/coded.rs`) against a BLAS, before any
//! memory traffic. One thread, registers only: independent chains of `vpmaddwd` then
//! `vpaddd` (16 products each), of the step an 8-bit pass would take (64 products), and of
//! `vfmadd` (8 products each).
//!
//! ```text
//! cargo run --release -p affinity-rank --example integer_peak
//! ```
#![allow(unsafe_code)]

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// Chains in flight: more than latency times issue width, so only throughput limits.
    const CHAINS: usize = 12;

    /// `rounds` rounds of one multiply-add of pairs and one add on each chain.
    #[target_feature(enable = "avx2")]
    pub unsafe fn integer(rounds: usize) -> i32 {
        let x = [0x0003_0001, 0x0001_0002].map(|v| _mm256_set1_epi32(std::hint::black_box(v)));
        let mut acc = [_mm256_set1_epi32(1); CHAINS];
        for _ in 0..rounds {
            for (i, a) in acc.iter_mut().enumerate() {
                // The chain's own value as one operand, so nothing is loop-invariant.
                *a = _mm256_add_epi32(*a, _mm256_madd_epi16(*a, x[i % 2]));
            }
        }
        acc.iter()
            .map(|a| _mm256_extract_epi32(*a, 0))
            .fold(0, i32::wrapping_add)
    }

    /// `rounds` rounds of the coarser step a first pass of 8-bit items and 6-bit queries would
    /// take: two `vpmaddubsw` (32 products each) summed in 16 bits, widened by one `vpmaddwd`
    /// against ones, then one `vpaddd` (64 products, three multiply instructions).
    #[target_feature(enable = "avx2")]
    pub unsafe fn bytes(rounds: usize) -> i32 {
        let x = [0x0102_0301, 0x0201_0103].map(|v| _mm256_set1_epi32(std::hint::black_box(v)));
        let ones = _mm256_set1_epi16(1);
        let mut acc = [_mm256_set1_epi32(1); CHAINS];
        for _ in 0..rounds {
            for a in acc.iter_mut() {
                let pairs = _mm256_add_epi16(
                    _mm256_maddubs_epi16(*a, x[0]),
                    _mm256_maddubs_epi16(*a, x[1]),
                );
                *a = _mm256_add_epi32(*a, _mm256_madd_epi16(pairs, ones));
            }
        }
        acc.iter()
            .map(|a| _mm256_extract_epi32(*a, 0))
            .fold(0, i32::wrapping_add)
    }

    /// `rounds` rounds of one fused multiply-add on each chain.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn float(rounds: usize) -> f32 {
        let (x, y) = (
            _mm256_set1_ps(0.999),
            _mm256_set1_ps(std::hint::black_box(1e-3)),
        );
        let mut acc = [_mm256_set1_ps(1.0); CHAINS];
        for _ in 0..rounds {
            for a in acc.iter_mut() {
                *a = _mm256_fmadd_ps(*a, x, y);
            }
        }
        acc.iter().map(|a| _mm256_cvtss_f32(*a)).sum()
    }

    pub fn run() {
        if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
            println!("this CPU has no AVX2 and FMA: nothing to measure");
            return;
        }
        let rounds = 100_000_000;
        let time = |f: &dyn Fn() -> f64| {
            let start = std::time::Instant::now();
            let check = f();
            (start.elapsed().as_secs_f64(), check)
        };
        for _ in 0..3 {
            // SAFETY: the CPU has AVX2 and FMA (checked above).
            // black_box: each call runs, however pure it looks.
            let (int_s, a) = time(&|| f64::from(unsafe { integer(std::hint::black_box(rounds)) }));
            // SAFETY: as above.
            let (byte_s, c) = time(&|| f64::from(unsafe { bytes(std::hint::black_box(rounds)) }));
            // SAFETY: as above.
            let (f32_s, b) = time(&|| f64::from(unsafe { float(std::hint::black_box(rounds)) }));
            let products = (rounds * CHAINS) as f64;
            let int_rate = products * 16.0 / int_s;
            let byte_rate = products * 64.0 / byte_s;
            let f32_rate = products * 8.0 / f32_s;
            println!(
                "f32 FMA {:.2e} products/s; i16 pairs (vpmaddwd + vpaddd) {:.2e}, {:.2}x; \
                 8-bit (2 vpmaddubsw + vpaddw + vpmaddwd + vpaddd) {:.2e}, {:.2}x \
                 (checks {a} {c} {b:.3})",
                f32_rate,
                int_rate,
                int_rate / f32_rate,
                byte_rate,
                byte_rate / f32_rate
            );
        }
    }
}

fn main() {
    #[cfg(target_arch = "x86_64")]
    x86::run();
    #[cfg(not(target_arch = "x86_64"))]
    println!("x86-64 only");
}
