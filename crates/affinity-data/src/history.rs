//! How a shopper's history becomes one text for a language model.

/// Turns a purchase history into one text: the last `max_items` distinct product titles, newest
/// first (so that truncation drops the oldest), joined by `separator`.
///
/// ```
/// use affinity_data::HistoryText;
/// let h = HistoryText { max_items: 2, separator: "; ".into() };
/// assert_eq!(h.build(["milk", "bread", "milk", "eggs"].iter().copied()), "milk; bread");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HistoryText {
    /// Products kept.
    pub max_items: usize,
    /// Between titles.
    pub separator: String,
}

impl Default for HistoryText {
    fn default() -> Self {
        HistoryText {
            max_items: 10,
            separator: "; ".into(),
        }
    }
}

impl HistoryText {
    /// Builds the text from titles given newest first; repeats keep their newest position.
    pub fn build<'a>(&self, newest_first: impl IntoIterator<Item = &'a str>) -> String {
        let mut seen = std::collections::HashSet::new();
        let kept: Vec<&str> = newest_first
            .into_iter()
            .filter(|t| seen.insert(*t))
            .take(self.max_items)
            .collect();
        kept.join(&self.separator)
    }
}
