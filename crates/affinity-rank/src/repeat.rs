//! What a shopper buys again: the time-decayed personal item frequency of TIFU-KNN (Hu et al.,
//! SIGIR 2020), how often and how lately each item was bought, and each item's repeat rate
//! across all shoppers. Pure functions of the shoppers' baskets, so a model fitted again on the
//! same baskets is the same model.

use crate::error::{RankError, Result};
use affinity_core::InvalidSetting;

/// One shopper's past, oldest first: the distinct items of each basket, the day each basket was
/// bought, and the day a list is asked for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BasketHistory {
    /// Baskets, oldest first; each basket's distinct items.
    pub baskets: Vec<Vec<u32>>,
    /// The day of each basket (days since 1970-01-01, fractional), as many as `baskets`, or
    /// none where times are unknown (a bare list of items).
    pub days: Vec<f64>,
    /// The day the recommendation is for (the next basket's day when evaluating); `None`: not
    /// known, and the timing of repurchases is not used.
    pub now: Option<f64>,
}

impl BasketHistory {
    /// A bare list of items, oldest first, as baskets of one item each with no times.
    pub fn from_items(items: &[u32]) -> Self {
        BasketHistory {
            baskets: items.iter().map(|&i| vec![i]).collect(),
            ..BasketHistory::default()
        }
    }

    /// Every item of every basket, oldest first (the flat history other rankers read).
    pub fn items(&self) -> Vec<u32> {
        self.baskets.iter().flatten().copied().collect()
    }

    /// Fails when the days do not match the baskets or an item is outside `0..n_items`.
    pub fn check(&self, n_items: usize) -> Result<()> {
        if !self.days.is_empty() && self.days.len() != self.baskets.len() {
            return Err(InvalidSetting::new(
                "days",
                format!(
                    "{} days for {} baskets",
                    self.days.len(),
                    self.baskets.len()
                ),
            )
            .into());
        }
        if let Some(&item) = self
            .baskets
            .iter()
            .flatten()
            .find(|&&i| i as usize >= n_items)
        {
            return Err(RankError::ItemOutOfRange { item, len: n_items });
        }
        Ok(())
    }
}

/// TIFU-KNN's temporal decay of a shopper's baskets.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DecayParams {
    /// Basket `j` of `n` (oldest first) weighs `within^(n - 1 - j)`.
    pub within: f32,
    /// Group `g` of `groups` (oldest first) weighs `group^(groups - 1 - g)`.
    pub group: f32,
    /// How many groups of consecutive baskets a history is cut into.
    pub groups: usize,
}

impl Default for DecayParams {
    /// TIFU-KNN's published defaults (within 0.9, group 0.7, 7 groups).
    fn default() -> Self {
        DecayParams {
            within: 0.9,
            group: 0.7,
            groups: 7,
        }
    }
}

impl DecayParams {
    /// Both rates in (0, 1] and at least one group.
    pub fn check(&self) -> std::result::Result<(), InvalidSetting> {
        for (name, rate) in [("within", self.within), ("group", self.group)] {
            if !(rate > 0.0 && rate <= 1.0) {
                return Err(InvalidSetting::new(
                    name,
                    format!("{rate} is outside (0, 1]"),
                ));
            }
        }
        if self.groups == 0 {
            return Err(InvalidSetting::new("groups", "must be at least 1"));
        }
        Ok(())
    }
}

/// A shopper's time-decayed item frequency, TIFU-KNN's user vector, as sparse `(item, value)`
/// pairs in ascending item order: each basket a multi-hot vector weighed by its age in
/// baskets, the baskets cut into `groups` consecutive groups (the newer groups one basket
/// larger when they do not divide evenly; one basket a group when there are fewer baskets than
/// groups), each group's mean weighed by its age in groups, the sum divided by the number of
/// groups used.
///
/// ```
/// use affinity_rank::{decayed_frequency, DecayParams};
/// let p = DecayParams { within: 0.5, group: 1.0, groups: 7 };
/// // Two baskets, fewer than the groups: each its own group; the older one weighs 0.5.
/// let v = decayed_frequency(&[vec![0, 1], vec![1]], &p);
/// assert_eq!(v, vec![(0, 0.25), (1, 0.75)]);
/// ```
pub fn decayed_frequency(baskets: &[Vec<u32>], p: &DecayParams) -> Vec<(u32, f32)> {
    let n = baskets.len();
    if n == 0 {
        return Vec::new();
    }
    // Group boundaries: one basket each, or `groups` runs of `base` then `base + 1` baskets.
    let sizes: Vec<usize> = if n < p.groups {
        vec![1; n]
    } else {
        let base = n / p.groups;
        let extra = n % p.groups;
        (0..p.groups)
            .map(|g| base + usize::from(g >= p.groups - extra))
            .collect()
    };
    let used = sizes.len();
    let mut sums: Vec<(u32, f64)> = Vec::new();
    let mut start = 0;
    for (g, &size) in sizes.iter().enumerate() {
        let group_weight = f64::from(p.group).powi((p.groups - 1 - g) as i32);
        for (j, basket) in baskets.iter().enumerate().skip(start).take(size) {
            let basket_weight = f64::from(p.within).powi((n - 1 - j) as i32);
            let w = group_weight * basket_weight / size as f64;
            let mut items = basket.clone();
            items.sort_unstable();
            items.dedup();
            sums.extend(items.into_iter().map(|i| (i, w)));
        }
        start += size;
    }
    sums.sort_unstable_by_key(|&(i, _)| i);
    let mut out: Vec<(u32, f32)> = Vec::new();
    for (item, w) in sums {
        match out.last_mut() {
            Some((last, v)) if *last == item => *v += (w / used as f64) as f32,
            _ => out.push((item, (w / used as f64) as f32)),
        }
    }
    out
}

/// How repeat purchases are scored: the personal frequency's decay, and how much the timing
/// of a repurchase and the item's repeat rate across shoppers move it (each 0: not at all).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct RepeatParams {
    /// The personal frequency's decay.
    pub decay: DecayParams,
    /// Exponent of the timing factor (0: off): `exp(-ln(since / interval)^2 / 2)`, 1 when
    /// the item is due (as long since its last purchase as its usual interval), smaller when
    /// bought very lately or long overdue.
    pub timing: f32,
    /// Exponent of the item's repeat rate (0: off): the share of its buyers who bought it in
    /// more than one basket.
    pub rate: f32,
    /// Scale the repeat source's weight per shopper by how much they repeat
    /// ([`RepeatModel::gate`]): shoppers who mostly buy again get more of it.
    pub gate: bool,
}

impl Default for RepeatParams {
    fn default() -> Self {
        RepeatParams {
            decay: DecayParams::default(),
            timing: 0.0,
            rate: 0.0,
            gate: false,
        }
    }
}

impl RepeatParams {
    /// The decay checked, and both exponents finite and not negative.
    pub fn check(&self) -> std::result::Result<(), InvalidSetting> {
        self.decay.check()?;
        for (name, x) in [("timing", self.timing), ("rate", self.rate)] {
            if !(x.is_finite() && x >= 0.0) {
                return Err(InvalidSetting::new(
                    name,
                    format!("{x} is not a finite number >= 0"),
                ));
            }
        }
        Ok(())
    }
}

/// What is known of one item in one shopper's history.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct RepeatSignal {
    /// The item.
    pub item: u32,
    /// Its time-decayed personal frequency ([`decayed_frequency`]).
    pub frequency: f32,
    /// Baskets that held it.
    pub baskets: u32,
    /// Days since its last purchase, where the days are known.
    pub days_since: Option<f32>,
    /// The shopper's own mean days between purchases of it (two purchases or more).
    pub own_interval: Option<f32>,
    /// The median over shoppers of their own intervals: how often it is usually bought again.
    pub usual_interval: Option<f32>,
    /// The share of its buyers who bought it in more than one basket.
    pub repeat_rate: f32,
    /// The repeat score it ranks by ([`RepeatModel::scores`]).
    pub score: f32,
}

impl RepeatSignal {
    /// The interval the timing is measured against: the shopper's own, else the usual one.
    pub fn interval(&self) -> Option<f32> {
        self.own_interval.or(self.usual_interval)
    }
}

/// The repeat signals fitted on every shopper's baskets: each item's repeat rate and usual
/// repurchase interval; with a shopper's own baskets, a score for each item bought before.
///
/// ```
/// use affinity_rank::{BasketHistory, RepeatModel, RepeatParams};
/// // Item 0 is bought every week by both shoppers; item 1 once.
/// let weekly = |first: f64| BasketHistory {
///     baskets: vec![vec![0], vec![0, 1], vec![0]],
///     days: vec![first, first + 7.0, first + 14.0],
///     now: Some(first + 21.0),
/// };
/// let model = RepeatModel::fit(&[weekly(0.0), weekly(3.0)], 2)?;
/// let signals = model.signals(&weekly(0.0), &RepeatParams::default());
/// assert_eq!(signals[0].own_interval, Some(7.0));
/// assert_eq!(signals[0].days_since, Some(7.0));
/// assert_eq!((signals[0].repeat_rate, signals[1].repeat_rate), (1.0, 0.0));
/// assert!(signals[0].score > signals[1].score);
/// # Ok::<(), affinity_rank::RankError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RepeatModel {
    repeat_rate: Vec<f32>,
    /// NaN where no shopper bought the item twice with known days.
    usual_interval: Vec<f32>,
    /// The mean over shoppers of their repeat share ([`repeat_share`]).
    mean_share: f32,
}

impl RepeatModel {
    /// Fits the item figures on `shoppers` over `n_items` items.
    pub fn fit(shoppers: &[BasketHistory], n_items: usize) -> Result<Self> {
        let mut buyers = vec![0u32; n_items];
        let mut repeaters = vec![0u32; n_items];
        let mut intervals: Vec<Vec<f32>> = vec![Vec::new(); n_items];
        for shopper in shoppers {
            shopper.check(n_items)?;
            for (item, times) in purchases(shopper) {
                buyers[item as usize] += 1;
                if times.len() >= 2 {
                    repeaters[item as usize] += 1;
                    if let Some(mean) = mean_gap(&times) {
                        intervals[item as usize].push(mean);
                    }
                }
            }
        }
        let repeat_rate = buyers
            .iter()
            .zip(&repeaters)
            .map(|(&b, &r)| if b == 0 { 0.0 } else { r as f32 / b as f32 })
            .collect();
        let usual_interval = intervals.iter_mut().map(|v| median(v)).collect();
        let shares: Vec<f32> = shoppers.iter().filter_map(repeat_share).collect();
        let mean_share = if shares.is_empty() {
            0.0
        } else {
            shares.iter().sum::<f32>() / shares.len() as f32
        };
        Ok(RepeatModel {
            repeat_rate,
            usual_interval,
            mean_share,
        })
    }

    /// Items covered.
    pub fn len(&self) -> usize {
        self.repeat_rate.len()
    }

    /// Whether no item is covered.
    pub fn is_empty(&self) -> bool {
        self.repeat_rate.is_empty()
    }

    /// Each item's repeat rate across shoppers.
    pub fn repeat_rates(&self) -> &[f32] {
        &self.repeat_rate
    }

    /// Each item's usual repurchase interval in days (NaN where unknown).
    pub fn usual_intervals(&self) -> &[f32] {
        &self.usual_interval
    }

    /// The signals of every item `shopper` bought, in ascending item order, scored as `params`
    /// says. Items outside the fitted catalogue are left out.
    pub fn signals(&self, shopper: &BasketHistory, params: &RepeatParams) -> Vec<RepeatSignal> {
        let frequency = decayed_frequency(&shopper.baskets, &params.decay);
        let bought = purchases(shopper);
        frequency
            .into_iter()
            .zip(bought)
            .filter(|((item, _), _)| (*item as usize) < self.len())
            .map(|((item, frequency), (_, times))| {
                let i = item as usize;
                let last = times.last().copied().flatten();
                let usual = Some(self.usual_interval[i]).filter(|v| v.is_finite());
                let mut signal = RepeatSignal {
                    item,
                    frequency,
                    baskets: times.len() as u32,
                    days_since: shopper.now.zip(last).map(|(now, last)| (now - last) as f32),
                    own_interval: mean_gap(&times),
                    usual_interval: usual,
                    repeat_rate: self.repeat_rate[i],
                    score: 0.0,
                };
                signal.score = score(&signal, params);
                signal
            })
            .collect()
    }

    /// The repeat score of every item for `shopper`: `frequency x timing^t x rate^r` for the
    /// items bought before, 0 for the rest.
    pub fn scores(&self, shopper: &BasketHistory, params: &RepeatParams) -> Vec<f32> {
        let mut out = vec![0f32; self.len()];
        for s in self.signals(shopper, params) {
            out[s.item as usize] = s.score;
        }
        out
    }

    /// How much more (or less) than the average shopper `shopper` buys again: their repeat
    /// share over the mean share, within [0, 3]; 1 when `params` has no gate or nothing is
    /// known.
    pub fn gate(&self, shopper: &BasketHistory, params: &RepeatParams) -> f32 {
        if !params.gate || self.mean_share <= 0.0 {
            return 1.0;
        }
        repeat_share(shopper).map_or(1.0, |s| (s / self.mean_share).clamp(0.0, 3.0))
    }
}

/// `frequency x timing^t x rate^r` of one signal.
fn score(s: &RepeatSignal, p: &RepeatParams) -> f32 {
    let mut score = s.frequency;
    if p.timing > 0.0 {
        if let (Some(since), Some(interval)) = (s.days_since, s.interval()) {
            score *= timing(since, interval).powf(p.timing);
        }
    }
    if p.rate > 0.0 {
        score *= s.repeat_rate.powf(p.rate);
    }
    score
}

/// The share of the items of a shopper's baskets after the first that an earlier basket held;
/// `None` for fewer than two baskets.
pub fn repeat_share(shopper: &BasketHistory) -> Option<f32> {
    if shopper.baskets.len() < 2 {
        return None;
    }
    let mut seen: std::collections::HashSet<u32> = shopper.baskets[0].iter().copied().collect();
    let (mut repeats, mut total) = (0usize, 0usize);
    for basket in &shopper.baskets[1..] {
        let mut items = basket.clone();
        items.sort_unstable();
        items.dedup();
        total += items.len();
        repeats += items.iter().filter(|i| seen.contains(i)).count();
        seen.extend(items);
    }
    (total > 0).then(|| repeats as f32 / total as f32)
}

/// 1 when `since` equals `interval`, falling off on a log scale either way (a lognormal
/// bump); 1 where either is not positive.
fn timing(since: f32, interval: f32) -> f32 {
    if since <= 0.0 || interval <= 0.0 {
        return 1.0;
    }
    let x = (since / interval).ln();
    (-0.5 * x * x).exp()
}

/// Per item the shopper bought, ascending: the day of each basket that held it (oldest
/// first; `None` where days are unknown).
fn purchases(shopper: &BasketHistory) -> Vec<(u32, Vec<Option<f64>>)> {
    let mut seen: Vec<(u32, usize)> = Vec::new();
    for (b, basket) in shopper.baskets.iter().enumerate() {
        let mut items = basket.clone();
        items.sort_unstable();
        items.dedup();
        seen.extend(items.into_iter().map(|i| (i, b)));
    }
    seen.sort_unstable();
    let mut out: Vec<(u32, Vec<Option<f64>>)> = Vec::new();
    for (item, b) in seen {
        let day = shopper.days.get(b).copied();
        match out.last_mut() {
            Some((last, days)) if *last == item => days.push(day),
            _ => out.push((item, vec![day])),
        }
    }
    out
}

/// The mean days between consecutive purchases, where there are two or more with known days.
fn mean_gap(times: &[Option<f64>]) -> Option<f32> {
    let days: Vec<f64> = times
        .iter()
        .map(|t| t.ok_or(()))
        .collect::<std::result::Result<_, _>>()
        .ok()?;
    if days.len() < 2 {
        return None;
    }
    Some(((days[days.len() - 1] - days[0]) / (days.len() - 1) as f64) as f32)
}

/// The median (the mean of the two middle values for an even count); NaN for none.
fn median(values: &mut [f32]) -> f32 {
    if values.is_empty() {
        return f32::NAN;
    }
    values.sort_unstable_by(f32::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TIFU-KNN's grouping written out for one case by hand: 9 baskets in 4 groups are cut
    /// 2, 2, 2, 3 (the newest group one larger).
    #[test]
    fn decayed_frequency_by_hand() {
        let baskets: Vec<Vec<u32>> = (0..9).map(|j| vec![j]).collect();
        let p = DecayParams {
            within: 0.9,
            group: 0.7,
            groups: 4,
        };
        let v = decayed_frequency(&baskets, &p);
        let sizes = [2usize, 2, 2, 3];
        let mut expected = Vec::new();
        let mut j = 0;
        for (g, &size) in sizes.iter().enumerate() {
            for _ in 0..size {
                let w = 0.7f64.powi(3 - g as i32) * 0.9f64.powi(8 - j) / size as f64 / 4.0;
                expected.push((j as u32, w as f32));
                j += 1;
            }
        }
        assert_eq!(v.len(), 9);
        for ((i, a), (ei, b)) in v.iter().zip(&expected) {
            assert_eq!(i, ei);
            assert!((a - b).abs() < 1e-7, "item {i}: {a} vs {b}");
        }
        // An item in several baskets adds up; duplicates within a basket count once.
        let v = decayed_frequency(
            &[vec![3, 3], vec![3]],
            &DecayParams {
                within: 0.5,
                group: 1.0,
                groups: 7,
            },
        );
        assert_eq!(v, vec![(3, 0.75)]);
        assert!(decayed_frequency(&[], &p).is_empty());
    }

    #[test]
    fn timing_peaks_when_due() {
        assert_eq!(timing(7.0, 7.0), 1.0);
        assert!(timing(3.5, 7.0) < 1.0 && timing(14.0, 7.0) < 1.0);
        assert!((timing(3.5, 7.0) - timing(14.0, 7.0)).abs() < 1e-6);
        assert_eq!(timing(0.0, 7.0), 1.0);
    }

    #[test]
    fn intervals_rates_and_scores() {
        let shopper = BasketHistory {
            baskets: vec![vec![0, 1], vec![0], vec![0, 2], vec![1]],
            days: vec![0.0, 10.0, 20.0, 40.0],
            now: Some(50.0),
        };
        let other = BasketHistory {
            baskets: vec![vec![1], vec![1, 2]],
            days: vec![0.0, 4.0],
            now: None,
        };
        let params = RepeatParams {
            timing: 1.0,
            rate: 1.0,
            ..RepeatParams::default()
        };
        let model = RepeatModel::fit(&[shopper.clone(), other], 4).unwrap();
        // Item 1: both shoppers bought it twice (intervals 40 and 4); item 2 once each.
        assert_eq!(model.repeat_rates(), &[1.0, 1.0, 0.0, 0.0]);
        assert_eq!(model.usual_intervals()[1], 22.0);
        assert!(model.usual_intervals()[2].is_nan());
        let s = model.signals(&shopper, &params);
        assert_eq!(s.iter().map(|s| s.item).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(s[0].own_interval, Some(10.0));
        assert_eq!(s[0].days_since, Some(30.0));
        assert_eq!(s[2].own_interval, None);
        assert_eq!(s[2].interval(), None);
        // Item 2 was bought by nobody twice: a rate of 0 zeroes its score.
        assert_eq!(s[2].score, 0.0);
        let expected = s[0].frequency * timing(30.0, 10.0);
        assert!((s[0].score - expected).abs() < 1e-7);
        let scores = model.scores(&shopper, &params);
        assert_eq!(scores[3], 0.0);
        assert_eq!(scores[0], s[0].score);
    }

    #[test]
    fn bad_histories_and_settings_are_refused() {
        let bad = BasketHistory {
            baskets: vec![vec![0]],
            days: vec![1.0, 2.0],
            now: None,
        };
        assert!(RepeatModel::fit(&[bad], 1).is_err());
        let out = BasketHistory::from_items(&[5]);
        assert!(matches!(
            RepeatModel::fit(&[out], 2),
            Err(RankError::ItemOutOfRange { item: 5, len: 2 })
        ));
        let p = RepeatParams {
            timing: f32::NAN,
            ..RepeatParams::default()
        };
        assert_eq!(p.check().unwrap_err().name, "timing");
        let d = DecayParams {
            within: 0.0,
            ..DecayParams::default()
        };
        assert_eq!(d.check().unwrap_err().name, "within");
    }
}
