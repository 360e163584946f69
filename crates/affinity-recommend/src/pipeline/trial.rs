//! One setting tried by the tuner, as its validation lists score, and which of two settings
//! the tuner keeps, under an exposure bound where one is asked for.

/// A setting's figures on the validation users it was scored on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Trial {
    /// Mean NDCG@k.
    pub ndcg: f64,
    /// Gini index of the lists' exposure over the catalogue
    /// ([`affinity_data::exposure::gini_index`]).
    pub gini: f64,
}

impl Trial {
    /// Whether the tuner keeps `self` over `kept`, the setting it holds.
    ///
    /// Without a bound: by NDCG alone, by more than 1e-9, so that on a tie the setting tried
    /// first (the cheaper one, by the order settings are tried in) stays. Under `max_gini`: a
    /// setting within the bound beats one outside it; two within it go by NDCG as above; two
    /// outside it by the lower Gini index, so that a bound nothing meets ends on the setting
    /// closest to it.
    pub fn beats(&self, kept: &Trial, max_gini: Option<f64>) -> bool {
        let by_ndcg = self.ndcg > kept.ndcg + 1e-9;
        let Some(bound) = max_gini else {
            return by_ndcg;
        };
        match (self.gini <= bound, kept.gini <= bound) {
            (true, false) => true,
            (false, true) => false,
            (true, true) => by_ndcg,
            (false, false) => self.gini < kept.gini - 1e-12,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Trial;

    fn t(ndcg: f64, gini: f64) -> Trial {
        Trial { ndcg, gini }
    }

    #[test]
    fn without_a_bound_only_a_higher_ndcg_wins() {
        assert!(t(0.3, 0.99).beats(&t(0.2, 0.5), None));
        assert!(!t(0.2, 0.1).beats(&t(0.3, 0.9), None));
        // A tie keeps the setting held.
        assert!(!t(0.3, 0.1).beats(&t(0.3, 0.9), None));
    }

    #[test]
    fn under_a_bound_a_setting_within_it_beats_a_better_one_outside() {
        let bound = Some(0.8);
        assert!(t(0.1, 0.8).beats(&t(0.3, 0.81), bound));
        assert!(!t(0.3, 0.81).beats(&t(0.1, 0.8), bound));
        // Two within it: NDCG.
        assert!(t(0.2, 0.79).beats(&t(0.1, 0.5), bound));
        assert!(!t(0.1, 0.5).beats(&t(0.2, 0.79), bound));
        // Two outside it: the lower Gini index, whatever the NDCG.
        assert!(t(0.1, 0.85).beats(&t(0.3, 0.9), bound));
        assert!(!t(0.3, 0.9).beats(&t(0.1, 0.85), bound));
    }
}
