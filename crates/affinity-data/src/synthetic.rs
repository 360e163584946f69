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

/// One line of a generated order log: who bought what, on which day, in which order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderLine {
    /// The shopper, from 0.
    pub shopper: u32,
    /// The product, from 0 (low ids are the popular ones).
    pub item: u32,
    /// The day of the order, from 0.
    pub day: u32,
    /// The order, numbered across all shoppers from 0.
    pub order: u32,
}

/// A grocery order log with the structure next-basket data has: every shopper keeps a few
/// staples, each bought again on a personal cycle (every 7, 14 or 28 days, with a day of
/// jitter), shops every 3 to 9 days, buys what is due on that trip (four times in five),
/// and adds 1 to 3 products they never planned, drawn with popularity skewed towards low
/// ids. `days` of orders for `shoppers` shoppers over `items` products (at least 20); the
/// same log on every call for the same arguments.
///
/// ```
/// use affinity_data::synthetic::order_log;
/// let log = order_log(30, 60, 120, 7);
/// assert_eq!(log, order_log(30, 60, 120, 7));
/// assert!(log.iter().all(|l| l.shopper < 30 && l.item < 60 && l.day < 120));
/// // Most of what a shopper buys they have bought before.
/// let mut seen = std::collections::HashSet::new();
/// let repeats = log.iter().filter(|l| !seen.insert((l.shopper, l.item))).count();
/// assert!(repeats * 2 > log.len());
/// ```
pub fn order_log(shoppers: u32, items: u32, days: u32, seed: u64) -> Vec<OrderLine> {
    let items = items.max(20);
    let mut rng = XorShift::new(seed ^ 0x9E37_79B9_7F4A_7C15);
    let mut lines = Vec::new();
    let mut order = 0u32;
    for shopper in 0..shoppers {
        // Staples: (item, period, next due day).
        let n_staples = 2 + rng.below(5) as u32;
        let mut staples: Vec<(u32, u32, u32)> = Vec::new();
        while staples.len() < n_staples as usize {
            let item = rng.below(u64::from(items)) as u32;
            if staples.iter().all(|s| s.0 != item) {
                let period = [7, 14, 28][rng.below(3) as usize];
                staples.push((item, period, rng.below(u64::from(period)) as u32));
            }
        }
        let mut day = rng.below(7) as u32;
        while day < days {
            let mut basket: Vec<u32> = Vec::new();
            for staple in &mut staples {
                if staple.2 <= day {
                    if rng.below(5) < 4 {
                        basket.push(staple.0);
                    }
                    let jitter = rng.below(3) as u32;
                    staple.2 = day + staple.1 + jitter - 1;
                }
            }
            for _ in 0..1 + rng.below(3) {
                let u = rng.unit();
                basket.push((u * u * f64::from(items)) as u32);
            }
            basket.sort_unstable();
            basket.dedup();
            lines.extend(basket.into_iter().map(|item| OrderLine {
                shopper,
                item,
                day,
                order,
            }));
            order += 1;
            day += 3 + rng.below(7) as u32;
        }
    }
    lines
}
