//! Itemset counts released with differential privacy, one shopper as the unit
//! ([`private_itemsets`]).

use std::collections::{HashMap, HashSet};

use affinity_core::{privacy, InvalidSetting};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::sink::Itemset;

/// The longest itemset counted privately: one shopper's itemsets of a size are enumerated
/// basket by basket, which grows with the basket length to this power.
pub const MAX_PRIVATE_LEN: usize = 3;

/// The largest `per_shopper`: a shopper then gives at most 16 times as many itemsets.
pub const MAX_PER_SHOPPER: usize = 1 << 20;

/// Settings of a private count release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrivateCountParams {
    /// The (ε, δ)-DP budget of the whole release.
    pub epsilon: f64,
    /// δ, in [1e-30, 1). Keep it well below one over the number of shoppers; it must not be
    /// computed from the data (one over the shoppers would tell their number).
    pub delta: f64,
    /// The squared weight one shopper may spread over their itemsets: a shopper with up to
    /// this many itemsets counts fully in each, one with `n` more counts `√(per_shopper / n)`
    /// in each ([`private_itemsets`]). 1 to [`MAX_PER_SHOPPER`].
    pub per_shopper: usize,
    /// Longest itemset, 1 to [`MAX_PRIVATE_LEN`].
    pub max_len: usize,
    /// Release only itemsets whose noisy count is at least this fraction of the noisy number
    /// of shoppers (besides the privacy threshold), in [0, 1].
    pub min_support: f64,
    /// Seed of the noise and of each shopper's choice. `None` (the default) draws 256 bits
    /// from the operating system: a seed someone else knows voids the guarantee, so give one
    /// only to reproduce a run that is not released.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl Default for PrivateCountParams {
    fn default() -> Self {
        PrivateCountParams {
            epsilon: 3.0,
            delta: 1e-6,
            per_shopper: 64,
            max_len: 2,
            min_support: 0.0,
            seed: None,
        }
    }
}

impl PrivateCountParams {
    /// The first setting that cannot work.
    pub fn check(&self) -> std::result::Result<(), InvalidSetting> {
        let invalid = |name, reason: String| Err(InvalidSetting::new(name, reason));
        if !(self.epsilon.is_finite() && self.epsilon > 0.0) {
            return invalid(
                "epsilon",
                format!("{} is not a finite number above 0", self.epsilon),
            );
        }
        if !(self.delta >= 1e-30 && self.delta < 1.0) {
            return invalid("delta", format!("{:e} is outside [1e-30, 1)", self.delta));
        }
        if !(1..=MAX_PER_SHOPPER).contains(&self.per_shopper) {
            return invalid(
                "per_shopper",
                format!("{} is outside 1..={MAX_PER_SHOPPER}", self.per_shopper),
            );
        }
        if !(1..=MAX_PRIVATE_LEN).contains(&self.max_len) {
            return invalid(
                "max_len",
                format!("{} is outside 1..={MAX_PRIVATE_LEN}", self.max_len),
            );
        }
        if !(0.0..=1.0).contains(&self.min_support) {
            return invalid(
                "min_support",
                format!("{} is outside [0, 1]", self.min_support),
            );
        }
        Ok(())
    }
}

/// What a private release spent and how it was made: enough to say what the counts mean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrivateCountsSpent {
    /// ε of the release at `delta`.
    pub epsilon: f64,
    /// δ, half to the Gaussian noise, half to the threshold.
    pub delta: f64,
    /// Standard deviation of the noise on every count.
    pub noise_std: f64,
    /// A noisy count below this is never released (the privacy threshold; the support floor
    /// may ask for more).
    pub threshold: f64,
    /// The squared weight one shopper spreads over their itemsets.
    pub per_shopper: usize,
    /// Longest itemset.
    pub max_len: usize,
}

impl std::fmt::Display for PrivateCountsSpent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "(ε = {:.3}, δ = {:.1e})-DP per shopper: {} itemsets of up to {} items per shopper \
             at full weight, noise std {:.2}, released from a noisy count of {:.1}",
            self.epsilon,
            self.delta,
            self.per_shopper,
            self.max_len,
            self.noise_std,
            self.threshold
        )
    }
}

/// A private release: itemsets with noisy shopper counts, ready for
/// [`crate::generate_rules`].
#[derive(Debug, Clone, PartialEq)]
pub struct PrivateItemsets {
    /// Released itemsets, shortest first, then by items; every subset of one is released too
    /// and counts at least as much (post-processing), so rules' confidences stay in [0, 1].
    pub itemsets: Vec<Itemset>,
    /// The noisy number of shoppers, at least every released count: the `total` of rules.
    pub total: u64,
    /// What it spent.
    pub spent: PrivateCountsSpent,
}

/// Releases itemset counts with (ε, δ)-differential privacy per shopper. `owners[b]` is the
/// shopper of `baskets[b]`; data without shoppers can give each basket its own (the unit is
/// then the basket). Item id `u32::MAX` is reserved.
///
/// Support counts baskets, and one shopper may fill many baskets and hold many itemsets, so
/// a count can move by far more than one when a shopper joins. It bounds
/// what one shopper can do before it adds noise:
///
/// 1. **A shopper counts once per itemset**: an itemset's count is the number of shoppers who
///    bought all of it in one basket (as [`crate::rule_shoppers`] counts rules), and the
///    total is the number of shoppers.
/// 2. **A shopper's weight**: a shopper who contributes `n` itemsets (of 1 to `max_len`
///    items) counts in each of them, and in the total, with weight
///    `w = min(1, √(per_shopper / n))`, so that the squares of everything they add come to at
///    most `per_shopper + 1`: the L2 clipping of DP-SGD, with the shopper's vector of counts
///    as the gradient. One weight for all of a shopper's counts keeps the ratios between
///    their counts (confidences, lifts) as they are: those become shopper-weighted averages,
///    heavy shoppers weighing less. A shopper contributes every itemset they hold, or, past
///    `16 × per_shopper`, a random choice of that many (the cap the threshold below needs;
///    drawn without listing them all when there are over a million).
/// 3. **Gaussian noise** of standard deviation `σ √(per_shopper + 1)`, σ the multiplier that
///    makes one Gaussian release (ε, δ/2)-DP ([`affinity_core::privacy::noise_for_epsilon`]
///    with one step at sample rate 1), is added to every count and to the total.
/// 4. **A threshold** hides the itemsets that only the added shopper holds (their count is
///    at most 1, and whether they appear at all would tell): an itemset is released only
///    when its noisy count is at least `1 + noise × z`, z the normal quantile at tail
///    `δ / 2 / (16 × per_shopper)` (Wilson et al., "Differentially private SQL with bounded
///    user contribution", PETS 2020: Gaussian thresholding). With the Gaussian mechanism on
///    the itemsets both data sets hold, the release is (ε, δ)-DP.
///
/// Nothing else depends on the data: δ is a setting (default 1e-6), not one over the number
/// of shoppers, which would tell the number. The noise comes from ChaCha20 keyed with 256
/// bits from the operating system; each shopper's random choice comes from a stream of its
/// own (numbered by the shopper's id), so one shopper's presence moves no one else's draws.
///
/// What is released, the noisy counts, the noisy total and the settings, is all that the
/// rules built on them use ([`crate::generate_rules`] on [`PrivateItemsets::itemsets`] over
/// [`PrivateItemsets::total`]); whatever is computed from them afterwards (supports,
/// confidences, the rounding and the clamping below) is post-processing and spends nothing
/// more. Item ids are the caller's: where they come from the order in which a file names
/// items, that order shows in the release (`affinity mine` numbers items by name first).
///
/// ```
/// use affinity_mine::{generate_rules, private_itemsets, PrivateCountParams, RuleParams};
/// // 4,000 shoppers buy bread and butter together; 3,000 of them also buy jam, alone.
/// let mut baskets = Vec::new();
/// let mut owners = Vec::new();
/// for shopper in 0..4_000u32 {
///     baskets.push(vec![0, 1]);
///     owners.push(shopper);
///     if shopper < 3_000 {
///         baskets.push(vec![2]);
///         owners.push(shopper);
///     }
/// }
/// // Fresh noise from the system on every run: its spread is about 40 shoppers here.
/// let params = PrivateCountParams { epsilon: 1.0, ..PrivateCountParams::default() };
/// let released = private_itemsets(&baskets, &owners, &params)?;
/// assert!(released.spent.epsilon <= 1.0 && released.spent.noise_std < 50.0);
/// let rules = generate_rules(&released.itemsets, released.total, &RuleParams::default())?;
/// assert!(rules.iter().any(|r| r.antecedent == [0] && r.consequent == [1] && r.confidence > 0.9));
/// # Ok::<(), affinity_mine::MineError>(())
/// ```
pub fn private_itemsets(
    baskets: &[Vec<u32>],
    owners: &[u32],
    params: &PrivateCountParams,
) -> Result<PrivateItemsets> {
    params.check()?;
    check_input(baskets, owners)?;
    let key = match params.seed {
        Some(seed) => seeded_key(seed),
        None => system_key()?,
    };
    let (counts, total) = weighted_counts(baskets, owners, params, key);
    let cap = most_itemsets(params.per_shopper) as f64;
    let half = params.delta / 2.0;
    let as_epsilon = |e: InvalidSetting| InvalidSetting::new("epsilon", e.reason);
    let multiplier =
        privacy::noise_for_epsilon(params.epsilon, 1.0, 1, half).map_err(as_epsilon)?;
    let noise_std = multiplier * (params.per_shopper as f64 + 1.0).sqrt();
    let tail = privacy::normal_tail_quantile(half / cap).map_err(|e| {
        InvalidSetting::new(
            "delta",
            format!("{:e} is too small: {}", params.delta, e.reason),
        )
    })?;
    let threshold = 1.0 + noise_std * tail;
    let spent_epsilon = privacy::epsilon(multiplier, 1.0, 1, half)?.epsilon;

    // Noise from stream 0, in a fixed order of the itemsets, so that a seed reproduces it.
    let mut noise = Normal::new(ChaCha20Rng::from_seed(key));
    let mut keys: Vec<Key> = counts.keys().copied().collect();
    sort_keys(&mut keys);
    let noisy_total = total + noise_std * noise.draw();
    let floor = threshold.max(params.min_support * noisy_total);
    let mut released: HashMap<Key, u64> = HashMap::new();
    let mut itemsets = Vec::new();
    for key in keys {
        let noisy = counts[&key] + noise_std * noise.draw();
        if noisy < floor {
            continue;
        }
        // Post-processing: released only with every subset one item shorter, and counted no
        // more than any of them (shortest first, so those are settled).
        let mut count = noisy.round() as u64;
        let mut closed = true;
        for sub in shorter(&key) {
            match released.get(&sub) {
                Some(&c) => count = count.min(c),
                None => closed = false,
            }
        }
        if closed {
            released.insert(key, count);
            itemsets.push(to_itemset(key, count));
        }
    }
    let most = itemsets.iter().map(|s| s.support).max().unwrap_or(0);
    let total = (noisy_total.round().max(0.0) as u64).max(most);
    Ok(PrivateItemsets {
        itemsets,
        total,
        spent: PrivateCountsSpent {
            epsilon: spent_epsilon,
            delta: params.delta,
            noise_std,
            threshold,
            per_shopper: params.per_shopper,
            max_len: params.max_len,
        },
    })
}

/// Exact itemset counts by distinct shoppers (no weights, no noise): what a private release
/// estimates, for comparing one with it. Itemsets of 1 to `max_len` (at most
/// [`MAX_PRIVATE_LEN`]) items held by at least `min_count` shoppers, shortest first.
pub fn shopper_itemsets(
    baskets: &[Vec<u32>],
    owners: &[u32],
    max_len: usize,
    min_count: u64,
) -> Result<Vec<Itemset>> {
    let params = PrivateCountParams {
        max_len,
        ..PrivateCountParams::default()
    };
    params.check()?;
    check_input(baskets, owners)?;
    let mut counts: HashMap<Key, u64> = HashMap::new();
    for baskets_of in by_shopper(owners) {
        for key in held_itemsets(&basket_lists(baskets, &baskets_of), max_len) {
            *counts.entry(key).or_default() += 1;
        }
    }
    let mut keys: Vec<Key> = counts
        .iter()
        .filter(|&(_, &c)| c >= min_count)
        .map(|(&k, _)| k)
        .collect();
    sort_keys(&mut keys);
    Ok(keys
        .into_iter()
        .map(|k| to_itemset(k, counts[&k]))
        .collect())
}

/// Every itemset's count over the shoppers, each at their weight, and the total weight. Each
/// shopper's random choice comes from the ChaCha20 stream numbered by their id (plus one;
/// stream 0 is the noise's), so it does not depend on who else is in the data.
fn weighted_counts(
    baskets: &[Vec<u32>],
    owners: &[u32],
    params: &PrivateCountParams,
    key: [u8; 32],
) -> (HashMap<Key, f64>, f64) {
    let mut counts: HashMap<Key, f64> = HashMap::new();
    let mut total = 0.0;
    for baskets_of in by_shopper(owners) {
        let mut own = ChaCha20Rng::from_seed(key);
        own.set_stream(u64::from(owners[baskets_of[0]]) + 1);
        let (keys, weight) = weighted_itemsets(baskets, &baskets_of, params, &mut own);
        for key in keys {
            *counts.entry(key).or_default() += weight;
        }
        total += weight;
    }
    (counts, total)
}

/// One owner per basket, and no item id that pads keys.
fn check_input(baskets: &[Vec<u32>], owners: &[u32]) -> Result<()> {
    if owners.len() != baskets.len() {
        return Err(InvalidSetting::new(
            "owners",
            format!(
                "{} owners for {} baskets: give one per basket",
                owners.len(),
                baskets.len()
            ),
        )
        .into());
    }
    if let Some(b) = baskets.iter().position(|basket| basket.contains(&NONE)) {
        return Err(InvalidSetting::new(
            "baskets",
            format!("basket {b} holds item id {NONE}, which private counting reserves"),
        )
        .into());
    }
    Ok(())
}

/// The key of every draw when a seed is given: the seed's bytes, the rest zero.
fn seeded_key(seed: u64) -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key
}

/// 256 bits from the operating system's random source.
fn system_key() -> Result<[u8; 32]> {
    let mut key = [0u8; 32];
    getrandom::getrandom(&mut key).map_err(|e| {
        InvalidSetting::new(
            "seed",
            format!("none given, and the system's random source failed ({e})"),
        )
    })?;
    Ok(key)
}

/// An itemset of up to three items, ascending, padded with [`NONE`].
type Key = [u32; MAX_PRIVATE_LEN];
const NONE: u32 = u32::MAX;

fn len(key: &Key) -> usize {
    key.iter().filter(|&&i| i != NONE).count()
}

/// Keys shortest first, then by items: the order of every list of them here.
fn sort_keys(keys: &mut [Key]) {
    keys.sort_unstable_by_key(|k| (len(k), *k));
}

/// The itemset a key stands for, with its count.
fn to_itemset(key: Key, support: u64) -> Itemset {
    Itemset {
        items: key.iter().copied().filter(|&i| i != NONE).collect(),
        support,
    }
}

/// The subsets one item shorter (none for a single item).
fn shorter(key: &Key) -> Vec<Key> {
    let n = len(key);
    if n < 2 {
        return Vec::new();
    }
    (0..n)
        .map(|drop| {
            let mut sub = [NONE; MAX_PRIVATE_LEN];
            let mut at = 0;
            for (i, &item) in key[..n].iter().enumerate() {
                if i != drop {
                    sub[at] = item;
                    at += 1;
                }
            }
            sub
        })
        .collect()
}

/// Basket indices grouped by shopper, shoppers in ascending id order.
fn by_shopper(owners: &[u32]) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..owners.len()).collect();
    order.sort_by_key(|&b| owners[b]);
    order
        .chunk_by(|&a, &b| owners[a] == owners[b])
        .map(<[usize]>::to_vec)
        .collect()
}

/// Each of the shopper's baskets (indices `of`) as its items, sorted and distinct.
fn basket_lists(baskets: &[Vec<u32>], of: &[usize]) -> Vec<Vec<u32>> {
    of.iter()
        .map(|&b| {
            let mut items = baskets[b].clone();
            items.sort_unstable();
            items.dedup();
            items
        })
        .collect()
}

/// Itemsets of 1 to `max_len` items in a basket of `n` distinct items, with repeats across
/// the shopper's baskets (so at least the distinct ones), saturating.
fn itemsets_in(n: usize, max_len: usize) -> u128 {
    let n = n as u128;
    let pairs = n * n.saturating_sub(1) / 2;
    let triples = pairs * n.saturating_sub(2) / 3;
    [n, pairs, triples][..max_len].iter().sum()
}

/// Listing more itemsets than this for one shopper is replaced by drawing the capped choice
/// (a million keys is about 40 MB of hash set).
const LIST_AT_MOST: u128 = 1 << 20;

/// Every distinct itemset of 1 to `max_len` items that one of the shopper's baskets (`lists`,
/// from [`basket_lists`]) holds, sorted.
fn held_itemsets(lists: &[Vec<u32>], max_len: usize) -> Vec<Key> {
    let mut held: HashSet<Key> = HashSet::new();
    for items in lists {
        let n = items.len();
        for a in 0..n {
            held.insert([items[a], NONE, NONE]);
            if max_len < 2 {
                continue;
            }
            for b in a + 1..n {
                held.insert([items[a], items[b], NONE]);
                if max_len < 3 {
                    continue;
                }
                for c in b + 1..n {
                    held.insert([items[a], items[b], items[c]]);
                }
            }
        }
    }
    let mut held: Vec<Key> = held.into_iter().collect();
    sort_keys(&mut held);
    held
}

/// Up to `most` distinct itemsets drawn from the shopper's baskets without listing them all:
/// a basket in proportion to its itemsets, then a size and items uniformly. Not uniform over
/// the distinct itemsets (one held in many baskets comes up more often), which changes
/// which of a very heavy shopper's itemsets count, not how much the shopper can add.
fn drawn_itemsets(
    lists: &[Vec<u32>],
    max_len: usize,
    most: usize,
    rng: &mut ChaCha20Rng,
) -> Vec<Key> {
    let weights: Vec<f64> = lists
        .iter()
        .map(|items| itemsets_in(items.len(), max_len) as f64)
        .collect();
    let mut chosen: HashSet<Key> = HashSet::new();
    for _ in 0..most.saturating_mul(4) {
        if chosen.len() == most {
            break;
        }
        let items = &lists[pick(&weights, rng)];
        if items.is_empty() {
            continue;
        }
        let sizes: Vec<f64> = (1..=max_len)
            .map(|s| itemsets_in(items.len(), s) as f64 - itemsets_in(items.len(), s - 1) as f64)
            .collect();
        let size = 1 + pick(&sizes, rng);
        if size > items.len() {
            continue;
        }
        // `size` distinct positions of the basket.
        let mut positions: Vec<usize> = (0..items.len()).collect();
        choose_first(&mut positions, size, rng);
        let mut key = [NONE; MAX_PRIVATE_LEN];
        let mut picked: Vec<u32> = positions[..size].iter().map(|&p| items[p]).collect();
        picked.sort_unstable();
        key[..size].copy_from_slice(&picked);
        chosen.insert(key);
    }
    let mut chosen: Vec<Key> = chosen.into_iter().collect();
    sort_keys(&mut chosen);
    chosen
}

/// The most itemsets one shopper gives (a random choice past it): what the threshold's
/// union bound counts.
fn most_itemsets(per_shopper: usize) -> usize {
    per_shopper.saturating_mul(16)
}

/// The itemsets one shopper contributes and the weight of each: all they hold (a random
/// choice of [`most_itemsets`] past that many), at `min(1, √(per_shopper / n))` for the `n`
/// contributed.
fn weighted_itemsets(
    baskets: &[Vec<u32>],
    of: &[usize],
    params: &PrivateCountParams,
    rng: &mut ChaCha20Rng,
) -> (Vec<Key>, f64) {
    let most = most_itemsets(params.per_shopper);
    let lists = basket_lists(baskets, of);
    let listed: u128 = lists
        .iter()
        .map(|items| itemsets_in(items.len(), params.max_len))
        .sum();
    let mut given = if listed > LIST_AT_MOST && listed > most as u128 {
        drawn_itemsets(&lists, params.max_len, most, rng)
    } else {
        held_itemsets(&lists, params.max_len)
    };
    if given.len() > most {
        choose_first(&mut given, most, rng);
        given.truncate(most);
    }
    let weight = (params.per_shopper as f64 / given.len().max(1) as f64)
        .sqrt()
        .min(1.0);
    (given, weight)
}

/// Puts a uniform random choice of `k` of `items` first (a partial Fisher-Yates shuffle).
fn choose_first<T>(items: &mut [T], k: usize, rng: &mut ChaCha20Rng) {
    for i in 0..k {
        let j = i + below(rng, items.len() - i);
        items.swap(i, j);
    }
}

/// An index drawn in proportion to `weights` (the last one if rounding leaves none).
fn pick(weights: &[f64], rng: &mut ChaCha20Rng) -> usize {
    let mut at = unit(rng) * weights.iter().sum::<f64>();
    weights
        .iter()
        .position(|&w| {
            at -= w;
            at < 0.0
        })
        .unwrap_or(weights.len() - 1)
}

/// Uniform in (0, 1]: never 0, so that its logarithm is finite.
fn unit(rng: &mut ChaCha20Rng) -> f64 {
    ((rng.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
}

/// Uniform in 0..n (n ≥ 1), by rejection so that no value is favoured.
fn below(rng: &mut ChaCha20Rng, n: usize) -> usize {
    let n = n as u64;
    let zone = u64::MAX - u64::MAX % n;
    loop {
        let x = rng.next_u64();
        if x < zone {
            return (x % n) as usize;
        }
    }
}

/// Standard normal draws (Box-Muller, one of each pair) from a ChaCha20 stream.
struct Normal(ChaCha20Rng);

impl Normal {
    fn new(rng: ChaCha20Rng) -> Self {
        Normal(rng)
    }

    fn draw(&mut self) -> f64 {
        let (u, v) = (unit(&mut self.0), unit(&mut self.0));
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Six ordinary shoppers and one who buys 40 different items in triples, week after week.
    fn with_heavy_shopper() -> (Vec<Vec<u32>>, Vec<u32>) {
        let mut baskets = Vec::new();
        let mut owners = Vec::new();
        for s in 0..6u32 {
            baskets.push(vec![0, 1, s + 2]);
            owners.push(s);
        }
        for week in 0..40u32 {
            baskets.push(vec![
                100 + week,
                100 + (week + 1) % 40,
                100 + (week + 7) % 40,
            ]);
            owners.push(99);
        }
        (baskets, owners)
    }

    fn rng(stream: u64) -> ChaCha20Rng {
        let mut rng = ChaCha20Rng::from_seed(seeded_key(1));
        rng.set_stream(stream);
        rng
    }

    /// The exact Gaussian mechanism's δ at ε for L2 sensitivity `sensitivity` and noise
    /// `std` (Balle and Wang 2018, Theorem 8), from the normal tail.
    fn gaussian_delta(epsilon: f64, sensitivity: f64, std: f64) -> f64 {
        let (a, b) = (sensitivity / (2.0 * std), epsilon * std / sensitivity);
        privacy::normal_tail(b - a) - epsilon.exp() * privacy::normal_tail(a + b)
    }

    #[test]
    fn a_shopper_weighs_at_most_per_shopper_in_squares() {
        let (baskets, owners) = with_heavy_shopper();
        let params = PrivateCountParams {
            per_shopper: 5,
            max_len: 3,
            ..PrivateCountParams::default()
        };
        for of in by_shopper(&owners) {
            let held = held_itemsets(&basket_lists(&baskets, &of), 3);
            let (keys, weight) = weighted_itemsets(&baskets, &of, &params, &mut rng(7));
            // Distinct (so each count moves by the weight at most) and all really held.
            let distinct: HashSet<Key> = keys.iter().copied().collect();
            assert_eq!(distinct.len(), keys.len());
            assert!(keys.iter().all(|k| held.contains(k)));
            assert!(keys.len() as f64 * weight * weight <= 5.0 + 1e-9);
            assert!(keys.len() <= most_itemsets(5));
            // An ordinary shopper (3 items, 3 pairs, 1 triple) gives all 7.
            if held.len() == 7 {
                assert_eq!(keys.len(), 7);
                assert!((weight - (5.0f64 / 7.0).sqrt()).abs() < 1e-12);
            }
        }
        // The heavy shopper holds 40 items, 120 pairs (items 1, 6 and 7 apart) and 40
        // triples: more than 16 x 5, so a choice of 80 counts, each at weight 1/4.
        let heavy = by_shopper(&owners).pop().unwrap();
        assert_eq!(
            held_itemsets(&basket_lists(&baskets, &heavy), 3).len(),
            40 + 120 + 40
        );
        let (keys, weight) = weighted_itemsets(&baskets, &heavy, &params, &mut rng(7));
        assert_eq!((keys.len(), weight), (80, 0.25));
    }

    #[test]
    fn a_giant_basket_is_drawn_from_not_listed() {
        // 3,000 items at length 3: about 4.5e9 itemsets, far past listing.
        let baskets = vec![(0..3_000).collect::<Vec<u32>>(), vec![5, 6]];
        let owners = [0, 0];
        let params = PrivateCountParams {
            per_shopper: 8,
            max_len: 3,
            ..PrivateCountParams::default()
        };
        let (keys, weight) = weighted_itemsets(&baskets, &[0, 1], &params, &mut rng(3));
        assert_eq!(keys.len(), most_itemsets(8));
        assert_eq!(weight, (8.0f64 / 128.0).sqrt());
        let distinct: HashSet<Key> = keys.iter().copied().collect();
        assert_eq!(distinct.len(), keys.len());
        for key in &keys {
            let items = to_itemset(*key, 0).items;
            assert!(items.windows(2).all(|w| w[0] < w[1]) && items.iter().all(|&i| i < 3_000));
        }
        // Mostly triples, as the basket holds mostly triples.
        assert!(keys.iter().filter(|k| len(k) == 3).count() > 100);
        assert!(private_itemsets(&baskets, &owners, &params).is_ok());
    }

    #[test]
    fn removing_a_shopper_moves_counts_within_the_sensitivity() {
        let (baskets, owners) = with_heavy_shopper();
        let params = PrivateCountParams {
            per_shopper: 4,
            max_len: 3,
            ..PrivateCountParams::default()
        };
        let with = weighted_counts(&baskets, &owners, &params, seeded_key(3));
        // The heavy shopper (the last id) and an ordinary one in the middle: the others'
        // draws are their own streams', so only the removed shopper's counts move.
        for (gone, bound) in [(99, 4.0625), (2, 4.0 + 4.0 / 7.0)] {
            let keep: Vec<usize> = (0..owners.len()).filter(|&b| owners[b] != gone).collect();
            let without = weighted_counts(
                &keep.iter().map(|&b| baskets[b].clone()).collect::<Vec<_>>(),
                &keep.iter().map(|&b| owners[b]).collect::<Vec<_>>(),
                &params,
                seeded_key(3),
            );
            let mut squared = (with.1 - without.1).powi(2);
            let union: HashSet<&Key> = with.0.keys().chain(without.0.keys()).collect();
            for key in union {
                let a = with.0.get(key).copied().unwrap_or(0.0);
                let b = without.0.get(key).copied().unwrap_or(0.0);
                assert!((a - b).abs() <= 1.0 + 1e-12, "{key:?}: {a} against {b}");
                squared += (a - b).powi(2);
            }
            // At most per_shopper + 1. The heavy shopper spends all of the itemsets' 4: 64
            // itemsets at weight 1/4, and 1/16 on the total. The ordinary one gives 7 at
            // weight √(4/7): 4, and 4/7 on the total.
            assert!(squared <= 5.0 + 1e-9, "{squared}");
            assert!((squared - bound).abs() < 1e-9, "shopper {gone}: {squared}");
        }
    }

    #[test]
    fn with_little_noise_the_release_is_the_exact_shopper_counts() {
        // Every shopper holds fewer itemsets than the weight, so each counts fully.
        let mut baskets = Vec::new();
        let mut owners = Vec::new();
        for s in 0..3_000u32 {
            baskets.push(if s % 3 == 0 { vec![0, 1] } else { vec![0, 2] });
            baskets.push(vec![0, 1]); // bought again: still one shopper
            owners.extend([s, s]);
        }
        let params = PrivateCountParams {
            epsilon: 1e4,
            delta: 1e-3,
            seed: Some(5),
            ..PrivateCountParams::default()
        };
        let released = private_itemsets(&baskets, &owners, &params).unwrap();
        assert!(released.spent.noise_std < 0.2, "{}", released.spent);
        let exact = shopper_itemsets(&baskets, &owners, 2, 1).unwrap();
        assert_eq!(released.itemsets, exact);
        assert_eq!(released.total, 3_000);
        assert_eq!(
            exact[0],
            Itemset {
                items: vec![0],
                support: 3_000
            }
        );
    }

    #[test]
    fn noise_meets_the_budget_and_has_the_spread_it_reports() {
        let baskets = vec![vec![0, 1]; 2_000];
        let owners: Vec<u32> = (0..2_000).collect();
        let params = PrivateCountParams {
            epsilon: 0.5,
            delta: 1e-5,
            per_shopper: 8,
            ..PrivateCountParams::default()
        };
        let mut errors = Vec::new();
        let mut spent = None;
        for seed in 0..200 {
            let p = PrivateCountParams {
                seed: Some(seed),
                ..params.clone()
            };
            let r = private_itemsets(&baskets, &owners, &p).unwrap();
            for s in r.itemsets.iter().filter(|s| s.items.len() == 1) {
                errors.push(s.support as f64 - 2_000.0);
            }
            spent = Some(r.spent);
        }
        let spent = spent.unwrap();
        // The exact Gaussian mechanism at this noise and sensitivity √(8 + 1) keeps within
        // (0.5, δ/2), independently of the accountant that chose the noise; with the
        // sensitivity of the itemsets alone (√8) it would be looser than needed, not wrong,
        // and with a noise for δ rather than δ/2 it would spend more than its half.
        let delta = gaussian_delta(0.5, 3.0, spent.noise_std);
        assert!(delta <= 1e-5 / 2.0, "δ {delta:e}");
        assert!(
            delta > 1e-5 / 20.0,
            "δ {delta:e}: far more noise than needed"
        );
        assert!(spent.epsilon <= 0.5 && spent.delta == 1e-5, "{spent}");
        // The threshold: 1 + noise x the quantile at δ / 2 / (16 x 8).
        let z = privacy::normal_tail_quantile(1e-5 / 2.0 / 128.0).unwrap();
        assert!(((spent.threshold - 1.0) / spent.noise_std - z).abs() < 1e-9);
        let n = errors.len() as f64;
        let mean = errors.iter().sum::<f64>() / n;
        let std = (errors.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / n).sqrt();
        assert!(mean.abs() < 4.0 * std / n.sqrt() + 0.5, "mean {mean}");
        // Rounding adds a variance of 1/12.
        let want = (spent.noise_std.powi(2) + 1.0 / 12.0).sqrt();
        assert!(
            (std / want - 1.0).abs() < 0.1,
            "spread {std}, reported {want}"
        );
    }

    #[test]
    fn what_only_one_shopper_holds_is_released_at_the_thresholds_rate() {
        // 500 shoppers buy items 0 and 1; one buys 5 and 6 (apart). At length 1 and a weight
        // of 3 every shopper counts fully, so the lone shopper's two items count exactly 1:
        // the worst case the threshold is set for. A large delta makes the rate visible.
        let mut baskets = vec![vec![0, 1]; 500];
        let mut owners: Vec<u32> = (0..500).collect();
        baskets.extend([vec![5], vec![6]]);
        owners.extend([500, 500]);
        let params = PrivateCountParams {
            epsilon: 1.0,
            delta: 0.5,
            per_shopper: 3,
            max_len: 1,
            ..PrivateCountParams::default()
        };
        let trials = 4_000;
        let mut leaked = 0;
        let mut spent = None;
        for seed in 0..trials {
            let p = PrivateCountParams {
                seed: Some(seed),
                ..params.clone()
            };
            let r = private_itemsets(&baskets, &owners, &p).unwrap();
            assert!(r.itemsets.iter().any(|s| s.items == [0]));
            if r.itemsets.iter().any(|s| s.items == [5] || s.items == [6]) {
                leaked += 1;
            }
            spent = Some(r.spent);
        }
        let spent = spent.unwrap();
        // Each item shows with probability δ / 2 / 48: about 41.6 of 4,000 releases show
        // one (more than 64 would happen by chance about once in 1,000 runs).
        let shows = |each: f64| trials as f64 * (1.0 - (1.0 - each) * (1.0 - each));
        let expected = shows(0.5 / 2.0 / 48.0);
        assert!((expected - 41.6).abs() < 0.1, "{expected}");
        assert!(
            (20..=64).contains(&leaked),
            "{leaked} of {trials} releases showed the lone shopper"
        );
        // A threshold without its "1 +" would show them far more often: the test sees that.
        let without_one = shows(privacy::normal_tail(
            (spent.threshold - 2.0) / spent.noise_std,
        ));
        assert!(without_one > 100.0, "{without_one}");
    }

    #[test]
    fn bad_settings_are_errors() {
        let baskets = vec![vec![0, 1]];
        let run =
            |p: PrivateCountParams, baskets: &[Vec<u32>], owners: &[u32]| match private_itemsets(
                baskets, owners, &p,
            )
            .unwrap_err()
            {
                crate::MineError::InvalidSetting(e) => e.name,
                other => panic!("{other}"),
            };
        let ok = PrivateCountParams::default();
        for (bad, name) in [
            (
                PrivateCountParams {
                    epsilon: 0.0,
                    ..ok.clone()
                },
                "epsilon",
            ),
            (
                PrivateCountParams {
                    epsilon: f64::NAN,
                    ..ok.clone()
                },
                "epsilon",
            ),
            (
                PrivateCountParams {
                    epsilon: 1e-9,
                    ..ok.clone()
                },
                "epsilon",
            ),
            (
                PrivateCountParams {
                    delta: 1.0,
                    ..ok.clone()
                },
                "delta",
            ),
            (
                PrivateCountParams {
                    delta: 1e-31,
                    ..ok.clone()
                },
                "delta",
            ),
            (
                PrivateCountParams {
                    per_shopper: 0,
                    ..ok.clone()
                },
                "per_shopper",
            ),
            (
                PrivateCountParams {
                    per_shopper: MAX_PER_SHOPPER + 1,
                    ..ok.clone()
                },
                "per_shopper",
            ),
            (
                PrivateCountParams {
                    max_len: 4,
                    ..ok.clone()
                },
                "max_len",
            ),
            (
                PrivateCountParams {
                    min_support: 1.5,
                    ..ok.clone()
                },
                "min_support",
            ),
        ] {
            assert_eq!(run(bad, &baskets, &[0]), name);
        }
        assert_eq!(run(ok.clone(), &baskets, &[0, 1]), "owners");
        assert_eq!(run(ok, &[vec![0, u32::MAX]], &[0]), "baskets");
    }

    #[test]
    fn a_seed_reproduces_a_release_and_none_draws_fresh_noise() {
        let (baskets, owners) = with_heavy_shopper();
        let p = PrivateCountParams {
            epsilon: 8.0,
            delta: 0.1,
            seed: Some(11),
            ..PrivateCountParams::default()
        };
        let once = private_itemsets(&baskets, &owners, &p).unwrap();
        assert_eq!(once, private_itemsets(&baskets, &owners, &p).unwrap());
        let fresh = PrivateCountParams { seed: None, ..p };
        let totals: HashSet<u64> = (0..5)
            .map(|_| private_itemsets(&baskets, &owners, &fresh).unwrap().total)
            .collect();
        assert!(totals.len() > 1, "{totals:?}");
    }
}
