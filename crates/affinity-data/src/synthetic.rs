//! Deterministic synthetic data for benchmarks, tests and examples: the same numbers on every
//! machine, without a random-number dependency.

/// Marsaglia's xorshift64: fast, deterministic, good enough to spread test data.
///
/// ```
/// let mut a = affinity_data::synthetic::XorShift::new(7);
/// let mut b = affinity_data::synthetic::XorShift::new(7);
/// assert_eq!(a.below(1000), b.below(1000));
/// ```
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from a non-zero seed (zero is replaced: it would only give zeros).
    pub fn new(seed: u64) -> Self {
        XorShift(if seed == 0 {
            0x2545_f491_4f6c_dd1d
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A number in [0, 1) with 53 random bits (all the precision of an `f64`).
    ///
    /// ```
    /// let mut rng = affinity_data::synthetic::XorShift::new(1);
    /// assert!((0..1000).map(|_| rng.uniform()).all(|u| (0.0..1.0).contains(&u)));
    /// ```
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A number in [0, 1) in steps of one millionth.
    pub fn unit(&mut self) -> f64 {
        self.below(1_000_000) as f64 / 1_000_000.0
    }
}

/// SplitMix64 (Steele, Lea and Flood): each output is a strong mix of a counter, so nearby
/// seeds give unrelated streams. For seeded shuffles, samples and resampling.
///
/// ```
/// let mut a = affinity_data::synthetic::SplitMix64::new(7);
/// let mut b = affinity_data::synthetic::SplitMix64::new(7);
/// assert_eq!(a.next_u64(), b.next_u64());
/// ```
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// The stream after `state` (any value, zero included).
    pub fn new(state: u64) -> Self {
        SplitMix64(state)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// `count` baskets of 2 to `max_len` items out of `items`, popularity skewed towards small
/// ids (an id is `u² · items` for uniform `u`), duplicates left in as shoppers' files have
/// them; the same baskets on every call.
///
/// ```
/// let baskets = affinity_data::synthetic::skewed_baskets(100, 5, 50);
/// assert_eq!(baskets.len(), 100);
/// assert!(baskets.iter().all(|b| (2..=5).contains(&b.len()) && b.iter().all(|&i| i < 50)));
/// assert_eq!(baskets, affinity_data::synthetic::skewed_baskets(100, 5, 50));
/// ```
pub fn skewed_baskets(count: usize, max_len: usize, items: u32) -> Vec<Vec<u32>> {
    let mut rng = XorShift::new(0x2545_f491_4f6c_dd1d);
    let span = max_len.saturating_sub(1).max(1) as u64;
    (0..count)
        .map(|_| {
            let len = 2 + rng.below(span) as usize;
            (0..len)
                .map(|_| {
                    let u = rng.unit();
                    (u * u * f64::from(items)) as u32
                })
                .collect()
        })
        .collect()
}
