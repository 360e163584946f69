//! Bounded selection of the best `k` (score, item) pairs with a deterministic order:
//! higher score first, then lower item id.

/// An item with its score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// Item id (row of the item matrix).
    pub item: u32,
    /// Its score.
    pub score: f32,
}

/// Whether `a` ranks before `b`.
#[inline]
pub(crate) fn better(a: (f32, u32), b: (f32, u32)) -> bool {
    a.0 > b.0 || (a.0 == b.0 && a.1 < b.1)
}

/// The best `k` seen so far, kept sorted (k is small in practice: insertion beats a heap
/// below a few hundred, and the threshold check rejects nearly every candidate).
#[derive(Debug, Clone)]
pub(crate) struct TopK {
    k: usize,
    best: Vec<(f32, u32)>,
}

impl TopK {
    pub fn new(k: usize) -> Self {
        TopK {
            k,
            // k may exceed any list there is (a caller's "everything"): grow only as needed.
            best: Vec::with_capacity(k.min(1024) + 1),
        }
    }

    /// The score a candidate must beat (ties resolved by id in `offer`).
    #[inline]
    pub fn threshold(&self) -> f32 {
        if self.k == 0 {
            f32::INFINITY
        } else if self.best.len() < self.k {
            f32::NEG_INFINITY
        } else {
            self.best[self.k - 1].0
        }
    }

    #[inline]
    pub fn full(&self) -> bool {
        self.best.len() >= self.k
    }

    /// Offers a candidate.
    #[inline]
    pub fn offer(&mut self, score: f32, item: u32) {
        if self.k == 0 {
            return;
        }
        if self.full() && !better((score, item), self.best[self.k - 1]) {
            return;
        }
        let pos = self.best.partition_point(|&e| better(e, (score, item)));
        self.best.insert(pos, (score, item));
        self.best.truncate(self.k);
    }

    /// Offers everything `other` holds.
    pub fn absorb(&mut self, other: &TopK) {
        for &(score, item) in &other.best {
            self.offer(score, item);
        }
    }

    pub fn into_sorted(self) -> Vec<Scored> {
        self.best
            .into_iter()
            .map(|(score, item)| Scored { item, score })
            .collect()
    }
}

/// The best `k` of `scores` (index = item id), skipping `exclude` (any order) and non-finite
/// scores.
pub fn top_k(scores: &[f32], k: usize, exclude: &[u32]) -> Vec<Scored> {
    let mut excluded = exclude.to_vec();
    excluded.sort_unstable();
    let mut top = TopK::new(k);
    for (i, &s) in scores.iter().enumerate() {
        if s.is_finite()
            && (!top.full() || s >= top.threshold())
            && excluded.binary_search(&(i as u32)).is_err()
        {
            top.offer(s, i as u32);
        }
    }
    top.into_sorted()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_best_with_low_ids_winning_ties() {
        let got = top_k(&[1.0, 3.0, 3.0, 2.0, 3.0], 3, &[2]);
        let items: Vec<u32> = got.iter().map(|s| s.item).collect();
        assert_eq!(items, vec![1, 4, 3]);
        assert!(top_k(&[1.0], 0, &[]).is_empty());
        assert_eq!(top_k(&[1.0, f32::NAN, 0.5], 5, &[]).len(), 2);
    }
}
