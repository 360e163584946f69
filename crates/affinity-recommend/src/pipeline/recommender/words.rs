//! Which words of a history's text moved the language model toward a product: occlusion, one
//! word at a time. The text the model reads ([`Recommender::history_text`]) is encoded again
//! without each word, and the figure stated is the change in the model's cosine between the
//! history and the product, so anyone can check it by encoding the shorter text.

use serde::{Deserialize, Serialize};

use super::Recommender;
use crate::model;
use crate::pipeline::error::Result;
use affinity_core::InvalidSetting;

/// Words of a history's text whose influence is measured, from its start (the text leads with
/// the newest items): each costs one more pass of the language model.
pub const INFLUENCE_WORDS: usize = 64;

/// How one word of the history's text moved the language model's similarity to one product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WordInfluence {
    /// The word, as it stands in the text (split at whitespace).
    pub word: String,
    /// Its place among the text's words, from 0.
    pub position: usize,
    /// The model's cosine between the text without this word and the product.
    pub without: f32,
    /// The cosine with the whole text minus `without`: how much the word raised it (negative:
    /// lowered it).
    pub delta: f32,
}

impl Recommender {
    /// For each of `items`, how much each of the first [`INFLUENCE_WORDS`] words of
    /// `history`'s text moved the language model's cosine between the history and the item,
    /// the strongest first. The whole text is the text with its words joined by single spaces
    /// (what the tokenizer sees either way). An error where histories are not read by the
    /// language model (none, or a sequential tower instead).
    ///
    /// ```no_run
    /// # fn demo(r: &affinity_recommend::pipeline::Recommender) -> affinity_recommend::pipeline::Result<()> {
    /// let history = [3, 17, 42];
    /// let recs = r.recommend(&history, 5)?;
    /// let items: Vec<u32> = recs.iter().map(|x| x.item).collect();
    /// for (rec, words) in recs.iter().zip(r.word_influence(&history, &items)?) {
    ///     if let Some(top) = words.first() {
    ///         println!("{}: \"{}\" raised the cosine by {:.3}", rec.name, top.word, top.delta);
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn word_influence(
        &self,
        history: &[u32],
        items: &[u32],
    ) -> Result<Vec<Vec<WordInfluence>>> {
        self.check(history)?;
        self.check_items(items)?;
        if self.sequential.is_some() {
            return Err(InvalidSetting::new(
                "words",
                "histories are read by the sequential tower, not by a language model: ask which items moved a recommendation instead",
            )
            .into());
        }
        let text = self.history_text(history);
        let words: Vec<&str> = text.split_whitespace().collect();
        if history.is_empty() || words.is_empty() {
            return Ok(vec![Vec::new(); items.len()]);
        }
        let measured = words.len().min(INFLUENCE_WORDS);
        let mut texts = vec![words.join(" ")];
        texts.extend((0..measured).map(|gone| {
            let kept: Vec<&str> = words
                .iter()
                .enumerate()
                .filter(|&(i, _)| i != gone)
                .map(|(_, w)| *w)
                .collect();
            kept.join(" ")
        }));
        let vectors = {
            let Some(encoder) = self.encoder() else {
                return Err(InvalidSetting::new("words", "there is no language model").into());
            };
            model::embed(&encoder, &texts)?
        };
        let sims = self.similarities(vectors.view())?;
        Ok(items
            .iter()
            .map(|&item| {
                let full = sims[[0, item as usize]];
                let mut moved: Vec<WordInfluence> = (0..measured)
                    .map(|position| {
                        let without = sims[[position + 1, item as usize]];
                        WordInfluence {
                            word: words[position].to_owned(),
                            position,
                            without,
                            delta: full - without,
                        }
                    })
                    .collect();
                moved.sort_by(|a, b| b.delta.total_cmp(&a.delta));
                moved
            })
            .collect())
    }
}
