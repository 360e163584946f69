//! Itemset counts released with differential privacy, one shopper as the unit.
//!
//! Support counts baskets, and one shopper may fill many baskets and hold many itemsets, so
//! a count can move by far more than one when a shopper joins. [`private_itemsets`] bounds
//! what one shopper can do before it adds noise:
//!
//! 1. **A shopper counts once per itemset**: an itemset's count is the number of shoppers who
//!    bought all of it in one basket (as [`crate::rule_shoppers`] counts rules), and the
//!    total is the number of shoppers.
//! 2. **A shopper's weight**: a shopper who holds `n` itemsets (of 1 to `max_len` items)
//!    counts in each of them, and in the total, with weight `w = min(1, √(per_shopper / n))`,
//!    so that the squares of everything they add come to at most `per_shopper + 1`: the L2
//!    clipping of DP-SGD, with the shopper's vector of counts as the gradient. One weight
//!    for all of a shopper's counts keeps confidences and lifts free of the bias that capping
//!    each itemset size apart would give them: they become averages over shoppers, heavy
//!    shoppers weighing less. A shopper with more than `16 × per_shopper` itemsets first
//!    gives a uniform random choice of that many (the cap the threshold below needs).
//! 3. **Gaussian noise** of standard deviation `σ √(per_shopper + 1)`, σ the multiplier that
//!    makes one Gaussian release (ε, δ/2)-DP ([`affinity_core::privacy::noise_for_epsilon`]
//!    with one step at sample rate 1), is added to every count and to the total.
//! 4. **A threshold** hides the itemsets that only the added shopper holds (their count is
//!    at most 1, and whether they appear at all would tell): an itemset is released only
//!    when its noisy count is at least `1 + noise × z`, z the normal quantile at tail
//!    `δ / 2 / (16 × per_shopper)` (Wilson et al., "Differentially private SQL with bounded
//!    user contribution", PETS 2020: Gaussian thresholding). With the Gaussian mechanism on
//!    the itemsets both data sets hold, the release is (ε, δ)-DP.
//!
//! What is released, the noisy counts, the noisy number of shoppers and the settings, is all
//! that the rules built on them use ([`crate::generate_rules`] on
//! [`PrivateItemsets::itemsets`] over [`PrivateItemsets::total`]); whatever is computed from
//! them afterwards (supports, confidences, the rounding and the clamping below) is
//! post-processing and spends nothing more.
//!
//! ```
//! use affinity_mine::{generate_rules, private_itemsets, PrivateCountParams, RuleParams};
//! // 400 shoppers buy bread and butter together; 300 of them also buy jam, alone.
//! let mut baskets = Vec::new();
//! let mut owners = Vec::new();
//! for shopper in 0..400u32 {
//!     baskets.push(vec![0, 1]);
//!     owners.push(shopper);
//!     if shopper < 300 {
//!         baskets.push(vec![2]);
//!         owners.push(shopper);
//!     }
//! }
//! let params = PrivateCountParams { epsilon: 1.0, seed: Some(7), ..PrivateCountParams::default() };
//! let released = private_itemsets(&baskets, &owners, &params)?;
//! assert!(released.spent.epsilon <= 1.0);
//! let rules = generate_rules(&released.itemsets, released.total, &RuleParams::default())?;
//! assert!(rules.iter().any(|r| r.antecedent == [0] && r.consequent == [1] && r.confidence > 0.9));
//! # Ok::<(), affinity_mine::MineError>(())
//! ```

use std::collections::{HashMap, HashSet};

use affinity_core::{privacy, InvalidSetting};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::sink::Itemset;

/// The longest itemset counted privately: one shopper's itemsets of a size are enumerated
/// basket by basket, which grows with the basket length to this power.
pub const MAX_PRIVATE_LEN: usize = 3;

/// Settings of a private count release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrivateCountParams {
    /// The (ε, δ)-DP budget of the whole release.
    pub epsilon: f64,
    /// δ; `None`: one over the number of shoppers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<f64>,
    /// The squared weight one shopper may spread over their itemsets: a shopper with up to
    /// this many itemsets counts fully in each, one with `n` more counts `√(per_shopper / n)`
    /// in each (module docs).
    pub per_shopper: usize,
    /// Longest itemset, 1 to [`MAX_PRIVATE_LEN`].
    pub max_len: usize,
    /// Release only itemsets whose noisy count is at least this fraction of the noisy number
    /// of shoppers (besides the privacy threshold), in [0, 1].
    pub min_support: f64,
    /// Seed of the noise and of each shopper's choice. `None` (the default) draws one from
    /// the operating system: a seed someone else knows voids the guarantee, so give one only
    /// to reproduce a run that is not released.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl Default for PrivateCountParams {
    fn default() -> Self {
        PrivateCountParams {
            epsilon: 3.0,
            delta: None,
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
        if let Some(delta) = self.delta {
            if !(delta > 0.0 && delta < 1.0) {
                return invalid("delta", format!("{delta} is outside (0, 1)"));
            }
        }
        if self.per_shopper == 0 {
            return invalid("per_shopper", "must be at least 1".into());
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
    /// The squared weight one shopper may spread over their itemsets.
    pub per_shopper: usize,
    /// Longest itemset.
    pub max_len: usize,
    /// Itemsets with a count before noise (not released: for the analyst's log only).
    #[serde(skip)]
    pub counted: usize,
}

impl std::fmt::Display for PrivateCountsSpent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "(ε = {:.3}, δ = {:.2e})-DP per shopper: {} itemsets of up to {} items per shopper \
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

/// Releases itemset counts with (ε, δ)-differential privacy per shopper (module docs).
/// `owners[b]` is the shopper of `baskets[b]`; data without shoppers can give each basket its
/// own (the unit is then the basket).
pub fn private_itemsets(
    baskets: &[Vec<u32>],
    owners: &[u32],
    params: &PrivateCountParams,
) -> Result<PrivateItemsets> {
    params.check()?;
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
    let mut rng = Rng::new(params.seed.unwrap_or_else(os_seed));
    let shoppers = by_shopper(owners);
    let delta = params.delta.unwrap_or(1.0 / (shoppers.len().max(2) as f64));
    if delta >= 1.0 {
        return Err(InvalidSetting::new("delta", format!("{delta} is not below 1")).into());
    }
    // Per shopper: the itemsets they hold, each counted once, at the shopper's weight.
    let mut counts: HashMap<Key, f64> = HashMap::new();
    let mut total = 0.0;
    for baskets_of in &shoppers {
        let (keys, weight) = weighted_itemsets(baskets, baskets_of, params, &mut rng);
        for key in keys {
            *counts.entry(key).or_default() += weight;
        }
        total += weight;
    }
    let cap = most_itemsets(params.per_shopper) as f64;
    let multiplier = privacy::noise_for_epsilon(params.epsilon, 1.0, 1, delta / 2.0)?;
    let noise_std = multiplier * (params.per_shopper as f64 + 1.0).sqrt();
    let threshold = 1.0 + noise_std * privacy::normal_tail_quantile(delta / 2.0 / cap)?;
    let spent_epsilon = privacy::epsilon(multiplier, 1.0, 1, delta / 2.0)?.epsilon;

    // Noise in a fixed order of the itemsets, so that a seed reproduces a release.
    let mut keys: Vec<Key> = counts.keys().copied().collect();
    keys.sort_unstable_by_key(|k| (len(k), *k));
    let noisy_total = total + noise_std * rng.normal();
    let floor = threshold.max(params.min_support * noisy_total);
    let mut released: HashMap<Key, u64> = HashMap::new();
    let mut itemsets = Vec::new();
    for key in keys {
        let noisy = counts[&key] + noise_std * rng.normal();
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
            itemsets.push(Itemset {
                items: key.iter().copied().filter(|&i| i != NONE).collect(),
                support: count,
            });
        }
    }
    let most = itemsets.iter().map(|s| s.support).max().unwrap_or(0);
    let total = (noisy_total.round().max(0.0) as u64).max(most);
    Ok(PrivateItemsets {
        itemsets,
        total,
        spent: PrivateCountsSpent {
            epsilon: spent_epsilon,
            delta,
            noise_std,
            threshold,
            per_shopper: params.per_shopper,
            max_len: params.max_len,
            counted: counts.len(),
        },
    })
}

/// Exact itemset counts by distinct shoppers (no sampling, no noise): what a private release
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
    if owners.len() != baskets.len() {
        return Err(InvalidSetting::new(
            "owners",
            format!("{} owners for {} baskets", owners.len(), baskets.len()),
        )
        .into());
    }
    let mut counts: HashMap<Key, u64> = HashMap::new();
    for baskets_of in by_shopper(owners) {
        for key in held_itemsets(baskets, &baskets_of, max_len) {
            *counts.entry(key).or_default() += 1;
        }
    }
    let mut out: Vec<(Key, u64)> = counts
        .into_iter()
        .filter(|&(_, c)| c >= min_count)
        .collect();
    out.sort_unstable_by_key(|(k, _)| (len(k), *k));
    Ok(out
        .into_iter()
        .map(|(key, support)| Itemset {
            items: key.iter().copied().filter(|&i| i != NONE).collect(),
            support,
        })
        .collect())
}

/// An itemset of up to three items, ascending, padded with [`NONE`].
type Key = [u32; MAX_PRIVATE_LEN];
const NONE: u32 = u32::MAX;

fn len(key: &Key) -> usize {
    key.iter().filter(|&&i| i != NONE).count()
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

/// Every distinct itemset of 1 to `max_len` items that one of the shopper's baskets holds,
/// sorted.
fn held_itemsets(baskets: &[Vec<u32>], of: &[usize], max_len: usize) -> Vec<Key> {
    let mut held: HashSet<Key> = HashSet::new();
    let mut items: Vec<u32> = Vec::new();
    for &b in of {
        items.clear();
        items.extend(baskets[b].iter().copied().filter(|&i| i != NONE));
        items.sort_unstable();
        items.dedup();
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
    held.sort_unstable_by_key(|k| (len(k), *k));
    held
}

/// The most itemsets one shopper gives (a random choice past it): what the threshold's
/// union bound counts.
fn most_itemsets(per_shopper: usize) -> usize {
    per_shopper.saturating_mul(16)
}

/// The itemsets one shopper contributes and the weight of each: all they hold (a uniform
/// random choice of [`most_itemsets`] past that many), at `min(1, √(per_shopper / n))`.
fn weighted_itemsets(
    baskets: &[Vec<u32>],
    of: &[usize],
    params: &PrivateCountParams,
    rng: &mut Rng,
) -> (Vec<Key>, f64) {
    let mut held = held_itemsets(baskets, of, params.max_len);
    let most = most_itemsets(params.per_shopper);
    if held.len() > most {
        // A partial Fisher-Yates shuffle: the first `most` are a uniform choice.
        for i in 0..most {
            let j = i + rng.below(held.len() - i);
            held.swap(i, j);
        }
        held.truncate(most);
    }
    let weight = (params.per_shopper as f64 / held.len().max(1) as f64)
        .sqrt()
        .min(1.0);
    (held, weight)
}

/// 64 random bits from the operating system, through the standard library's randomly keyed
/// hasher (no further dependency).
fn os_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    hasher.finish()
}

/// SplitMix64 (Steele, Lea and Flood), with Box-Muller normals. Not a cryptographic generator:
/// the guarantee assumes its draws are independent of the data, which they are, and
/// unpredictable to whoever sees the release, which an unknown seed gives.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1]: never 0, so that its logarithm is finite.
    fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in 0..n (n ≥ 1), by rejection so that no value is favoured.
    fn below(&mut self, n: usize) -> usize {
        let n = n as u64;
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let x = self.next_u64();
            if x < zone {
                return (x % n) as usize;
            }
        }
    }

    /// A standard normal draw (Box-Muller, one of the pair).
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Six ordinary shoppers and one who buys 40 different items in pairs, week after week.
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

    #[test]
    fn a_shopper_weighs_at_most_per_shopper_in_squares() {
        let (baskets, owners) = with_heavy_shopper();
        let params = PrivateCountParams {
            per_shopper: 5,
            max_len: 3,
            ..PrivateCountParams::default()
        };
        let mut rng = Rng::new(1);
        for of in by_shopper(&owners) {
            let held = held_itemsets(&baskets, &of, 3);
            let (keys, weight) = weighted_itemsets(&baskets, &of, &params, &mut rng);
            // Distinct (so each count moves by the weight at most) and all really held.
            let distinct: HashSet<Key> = keys.iter().copied().collect();
            assert_eq!(distinct.len(), keys.len());
            assert!(keys.iter().all(|k| held.contains(k)));
            assert!(keys.len() as f64 * weight * weight <= 5.0 + 1e-9);
            assert!(keys.len() <= most_itemsets(5));
            // An ordinary shopper (3 items, 3 pairs, 1 triple) counts 7 itemsets.
            if held.len() == 7 {
                assert_eq!(keys.len(), 7);
                assert!((weight - (5.0f64 / 7.0).sqrt()).abs() < 1e-12);
            }
        }
        // The heavy shopper holds 40 items, 120 pairs (items 1, 6 and 7 apart) and 40
        // triples: more than 16 x 5, so a choice of 80 counts, each at weight 1/4.
        let heavy = by_shopper(&owners).pop().unwrap();
        assert_eq!(held_itemsets(&baskets, &heavy, 3).len(), 40 + 120 + 40);
        let (keys, weight) = weighted_itemsets(&baskets, &heavy, &params, &mut rng);
        assert_eq!((keys.len(), weight), (80, 0.25));
    }

    #[test]
    fn removing_a_shopper_moves_counts_within_the_sensitivity() {
        let (baskets, owners) = with_heavy_shopper();
        let params = PrivateCountParams {
            per_shopper: 4,
            max_len: 3,
            ..PrivateCountParams::default()
        };
        let count = |baskets: &[Vec<u32>], owners: &[u32]| {
            let mut rng = Rng::new(3);
            let mut counts: HashMap<Option<Key>, f64> = HashMap::new();
            for of in by_shopper(owners) {
                let (keys, weight) = weighted_itemsets(baskets, &of, &params, &mut rng);
                for key in keys {
                    *counts.entry(Some(key)).or_default() += weight;
                }
                *counts.entry(None).or_default() += weight; // the total
            }
            counts
        };
        let with = count(&baskets, &owners);
        let keep: Vec<usize> = (0..owners.len()).filter(|&b| owners[b] != 99).collect();
        let without = count(
            &keep.iter().map(|&b| baskets[b].clone()).collect::<Vec<_>>(),
            &keep.iter().map(|&b| owners[b]).collect::<Vec<_>>(),
        );
        let mut squared = 0.0;
        let union: HashSet<&Option<Key>> = with.keys().chain(without.keys()).collect();
        for key in union {
            let a = with.get(key).copied().unwrap_or(0.0);
            let b = without.get(key).copied().unwrap_or(0.0);
            assert!((a - b).abs() <= 1.0 + 1e-12, "{key:?}: {a} against {b}");
            squared += (a - b).powi(2);
        }
        // At most per_shopper + 1 (the total's share); the heavy shopper spends all of the
        // itemsets' per_shopper: 64 itemsets at weight 1/4, and 1/16 on the total.
        assert!(squared <= 5.0 + 1e-9, "{squared}");
        assert!((squared - 4.0625).abs() < 1e-9, "{squared}");
    }

    #[test]
    fn with_little_noise_the_release_is_the_exact_shopper_counts() {
        // Every shopper holds fewer itemsets than the cap, so nothing is sampled away.
        let mut baskets = Vec::new();
        let mut owners = Vec::new();
        for s in 0..3_000u32 {
            baskets.push(if s % 3 == 0 { vec![0, 1] } else { vec![0, 2] });
            baskets.push(vec![0, 1]); // bought again: still one shopper
            owners.extend([s, s]);
        }
        let params = PrivateCountParams {
            epsilon: 1e4,
            delta: Some(1e-3),
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
    fn noise_has_the_spread_it_reports_and_the_budget_holds() {
        let baskets = vec![vec![0, 1]; 2_000];
        let owners: Vec<u32> = (0..2_000).collect();
        let params = PrivateCountParams {
            epsilon: 0.5,
            per_shopper: 8,
            ..PrivateCountParams::default()
        };
        let mut errors = Vec::new();
        let mut std_reported = 0.0;
        for seed in 0..200 {
            let p = PrivateCountParams {
                seed: Some(seed),
                ..params.clone()
            };
            let r = private_itemsets(&baskets, &owners, &p).unwrap();
            assert!(
                r.spent.epsilon <= 0.5 && r.spent.epsilon > 0.49,
                "{}",
                r.spent
            );
            assert_eq!(r.spent.delta, 1.0 / 2_000.0);
            for s in r.itemsets.iter().filter(|s| s.items.len() == 1) {
                errors.push(s.support as f64 - 2_000.0);
            }
            std_reported = r.spent.noise_std;
        }
        let n = errors.len() as f64;
        let mean = errors.iter().sum::<f64>() / n;
        let std = (errors.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / n).sqrt();
        assert!(mean.abs() < 4.0 * std / n.sqrt() + 0.5, "mean {mean}");
        // Rounding adds a variance of 1/12.
        let want = (std_reported * std_reported + 1.0 / 12.0).sqrt();
        assert!(
            (std / want - 1.0).abs() < 0.1,
            "spread {std}, reported {want}"
        );
    }

    #[test]
    fn what_only_one_shopper_holds_is_rarely_released() {
        let mut baskets = vec![vec![0, 1]; 500];
        let mut owners: Vec<u32> = (0..500).collect();
        baskets.push(vec![5, 6]);
        owners.push(500);
        // A large delta and the least weight, so that the rate can be seen: each of the
        // shopper's 3 itemsets is released with probability at most 0.1 / 16 (the
        // threshold's share over the 16 x 1 itemsets a shopper may give).
        let params = PrivateCountParams {
            epsilon: 1.0,
            delta: Some(0.2),
            per_shopper: 1,
            ..PrivateCountParams::default()
        };
        let mut leaked = 0;
        for seed in 0..1_000 {
            let p = PrivateCountParams {
                seed: Some(seed),
                ..params.clone()
            };
            let r = private_itemsets(&baskets, &owners, &p).unwrap();
            assert!(r.itemsets.iter().any(|s| s.items == [0, 1]));
            if r.itemsets
                .iter()
                .any(|s| s.items.contains(&5) || s.items.contains(&6))
            {
                leaked += 1;
            }
        }
        // At most 3 x 0.1 / 16 x 1,000 = 18.75 expected; without the threshold about 500.
        assert!(
            leaked <= 40,
            "{leaked} of 1,000 releases showed the lone shopper"
        );
    }

    #[test]
    fn bad_settings_are_errors() {
        let baskets = vec![vec![0, 1]];
        let run =
            |p: PrivateCountParams, owners: &[u32]| match private_itemsets(&baskets, owners, &p)
                .unwrap_err()
            {
                crate::MineError::InvalidSetting(e) => e.name,
                other => panic!("{other}"),
            };
        let ok = PrivateCountParams::default();
        assert_eq!(
            run(
                PrivateCountParams {
                    epsilon: 0.0,
                    ..ok.clone()
                },
                &[0]
            ),
            "epsilon"
        );
        assert_eq!(
            run(
                PrivateCountParams {
                    epsilon: f64::NAN,
                    ..ok.clone()
                },
                &[0]
            ),
            "epsilon"
        );
        assert_eq!(
            run(
                PrivateCountParams {
                    delta: Some(1.0),
                    ..ok.clone()
                },
                &[0]
            ),
            "delta"
        );
        assert_eq!(
            run(
                PrivateCountParams {
                    per_shopper: 0,
                    ..ok.clone()
                },
                &[0]
            ),
            "per_shopper"
        );
        assert_eq!(
            run(
                PrivateCountParams {
                    max_len: 4,
                    ..ok.clone()
                },
                &[0]
            ),
            "max_len"
        );
        assert_eq!(
            run(
                PrivateCountParams {
                    min_support: 1.5,
                    ..ok.clone()
                },
                &[0]
            ),
            "min_support"
        );
        assert_eq!(run(ok, &[0, 1]), "owners");
    }

    #[test]
    fn a_seed_reproduces_a_release() {
        let (baskets, owners) = with_heavy_shopper();
        let p = PrivateCountParams {
            epsilon: 8.0,
            delta: Some(0.1),
            seed: Some(11),
            ..PrivateCountParams::default()
        };
        assert_eq!(
            private_itemsets(&baskets, &owners, &p).unwrap(),
            private_itemsets(&baskets, &owners, &p).unwrap()
        );
    }
}
