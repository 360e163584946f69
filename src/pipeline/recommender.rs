//! Ranking with reasons: embedding similarity, rule boosts, popularity, MMR.

use std::collections::HashMap;

use affinity_mine::{Rule, RuleIndex};
use affinity_rank::{blend, mmr, top_k, ItemIndex, Metric, Normalization, Scored, Source};
use affinity_tune::{HistoryText, SentenceEncoder};
use ndarray::{Array2, ArrayView2, Axis};

use super::config::ScoreWeights;
use super::error::{PipelineError, Result};

/// Why an item was recommended.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum Reason {
    /// A mined rule fired on the history: `antecedent -> item`.
    Rule {
        /// Items of the history that made it fire.
        antecedent: Vec<String>,
        /// P(item | antecedent) in the training baskets.
        confidence: f64,
        /// Confidence over the item's base rate.
        lift: f64,
    },
    /// The most similar product in the history.
    SimilarTo {
        /// That product.
        item: String,
        /// Cosine of the two product embeddings.
        similarity: f32,
    },
    /// Among the most bought products (what remains when nothing else speaks for it).
    Popular {
        /// Its rank by training purchases, from 1.
        rank: usize,
    },
}

/// One recommended item.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Recommendation {
    /// Item id.
    pub item: u32,
    /// Item name.
    pub name: String,
    /// The blended score it was ranked by.
    pub score: f32,
    /// Why, strongest first.
    pub reasons: Vec<Reason>,
}

/// A ready recommender: item vectors embedded once, rules indexed.
///
/// ```no_run
/// # fn demo(r: &affinity::pipeline::Recommender) -> affinity::pipeline::Result<()> {
/// for rec in r.recommend(&[3, 17], 5)? {
///     println!("{} {:.3} {:?}", rec.name, rec.score, rec.reasons);
/// }
/// # Ok(()) }
/// ```
pub struct Recommender {
    encoder: Option<SentenceEncoder>,
    index: ItemIndex,
    names: Vec<String>,
    texts: Vec<String>,
    rules: Vec<Rule>,
    rule_index: RuleIndex,
    popularity: Vec<f32>,
    popularity_rank: Vec<usize>,
    weights: ScoreWeights,
    mmr_lambda: f32,
    mmr_candidates: usize,
    history: HistoryText,
}

impl std::fmt::Debug for Recommender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recommender")
            .field("items", &self.names.len())
            .field("rules", &self.rules.len())
            .field("weights", &self.weights)
            .field("mmr_lambda", &self.mmr_lambda)
            .finish()
    }
}

/// What the recommender is built from.
#[derive(Debug)]
pub struct RecommenderParts {
    /// Item names, by id.
    pub names: Vec<String>,
    /// Item texts the encoder reads, by id.
    pub texts: Vec<String>,
    /// Training purchases per item.
    pub counts: Vec<u32>,
    /// Mined rules (single consequents are used).
    pub rules: Vec<Rule>,
    /// Hybrid weights.
    pub weights: ScoreWeights,
    /// MMR lambda (1: off).
    pub mmr_lambda: f32,
    /// Candidates for MMR.
    pub mmr_candidates: usize,
    /// History text settings.
    pub history: HistoryText,
}

impl Recommender {
    /// Embeds every item with `encoder` (or, without one, ranks by rules and popularity only).
    pub fn new(encoder: Option<SentenceEncoder>, parts: RecommenderParts) -> Result<Self> {
        let n = parts.names.len();
        if parts.texts.len() != n || parts.counts.len() != n {
            return Err(super::error::invalid(
                "parts",
                "names, texts and counts differ in length",
            ));
        }
        let vectors = match &encoder {
            Some(e) => to_array(e.embed(&parts.texts)?)?,
            None => Array2::zeros((n, 1)),
        };
        let index = ItemIndex::new(vectors, Metric::Cosine)?;
        let popularity: Vec<f32> = parts
            .counts
            .iter()
            .map(|&c| (1.0 + c as f32).ln())
            .collect();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| parts.counts[b].cmp(&parts.counts[a]).then(a.cmp(&b)));
        let mut popularity_rank = vec![0; n];
        for (r, &i) in order.iter().enumerate() {
            popularity_rank[i] = r + 1;
        }
        let rules: Vec<Rule> = parts
            .rules
            .into_iter()
            .filter(|r| r.consequent.len() == 1)
            .collect();
        Ok(Recommender {
            encoder,
            index,
            rule_index: RuleIndex::new(&rules),
            rules,
            names: parts.names,
            texts: parts.texts,
            popularity,
            popularity_rank,
            weights: parts.weights,
            mmr_lambda: parts.mmr_lambda,
            mmr_candidates: parts.mmr_candidates.max(1),
            history: parts.history,
        })
    }

    /// Items in the catalogue.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the catalogue is empty.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Item names by id.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The id of a product name.
    pub fn item_id(&self, name: &str) -> Option<u32> {
        self.names.iter().position(|n| n == name).map(|i| i as u32)
    }

    /// The item embeddings (rows of norm 1).
    pub fn item_vectors(&self) -> ArrayView2<'_, f32> {
        self.index.vectors()
    }

    /// The rules in use (single consequent).
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Changes the blend and MMR settings (item vectors stay).
    pub fn set_ranking(&mut self, weights: ScoreWeights, mmr_lambda: f32) {
        self.weights = weights;
        self.mmr_lambda = mmr_lambda;
    }

    /// The text the encoder reads for a history (oldest first).
    pub fn history_text(&self, history: &[u32]) -> String {
        self.history.build(
            history
                .iter()
                .rev()
                .map(|&i| self.texts[i as usize].as_str()),
        )
    }

    fn check(&self, history: &[u32]) -> Result<()> {
        match history.iter().find(|&&i| i as usize >= self.len()) {
            Some(i) => Err(PipelineError::UnknownItem(i.to_string())),
            None => Ok(()),
        }
    }

    /// History vectors, one row per history (zero rows when there is no encoder or no history).
    fn embed_histories(&self, histories: &[Vec<u32>]) -> Result<Array2<f32>> {
        let dim = self.index.dim();
        let Some(encoder) = self
            .encoder
            .as_ref()
            .filter(|_| self.weights.embedding > 0.0)
        else {
            return Ok(Array2::zeros((histories.len(), dim)));
        };
        let texts: Vec<String> = histories.iter().map(|h| self.history_text(h)).collect();
        let mut out = to_array(encoder.embed(&texts)?)?;
        for (h, mut row) in histories.iter().zip(out.rows_mut()) {
            if h.is_empty() {
                row.fill(0.0);
            }
        }
        Ok(out)
    }

    /// Blended scores of every item for one history, given its vector.
    fn scores(
        &self,
        history: &[u32],
        embedding: &[f32],
        w: ScoreWeights,
    ) -> Result<(Vec<f32>, HashMap<u32, usize>)> {
        let n = self.len();
        let mut rule_scores = vec![0f32; n];
        let mut best_rule: HashMap<u32, usize> = HashMap::new();
        if !self.rules.is_empty() {
            for r in self.rule_index.fired(history) {
                let rule = &self.rules[r];
                let c = rule.consequent[0];
                let better = best_rule.get(&c).is_none_or(|&b| {
                    let old = &self.rules[b];
                    (rule.confidence, rule.lift) > (old.confidence, old.lift)
                });
                if better {
                    best_rule.insert(c, r);
                    rule_scores[c as usize] = rule.confidence as f32;
                }
            }
        }
        let mut sources = Vec::with_capacity(3);
        if w.embedding > 0.0 {
            sources.push(Source {
                scores: embedding,
                weight: w.embedding,
            });
        }
        if w.rules > 0.0 {
            sources.push(Source {
                scores: &rule_scores,
                weight: w.rules,
            });
        }
        if w.popularity > 0.0 {
            sources.push(Source {
                scores: &self.popularity,
                weight: w.popularity,
            });
        }
        let blended = if sources.is_empty() {
            vec![0.0; n]
        } else {
            blend(&sources, Normalization::MinMax)?
        };
        Ok((blended, best_rule))
    }

    fn select(
        &self,
        scores: &[f32],
        history: &[u32],
        k: usize,
        lambda: f32,
    ) -> Result<Vec<Scored>> {
        if lambda >= 1.0 || self.encoder.is_none() {
            return Ok(top_k(scores, k, history));
        }
        let pool = top_k(scores, self.mmr_candidates.max(k), history);
        let vectors = self.index.vectors();
        let sim = |a: u32, b: u32| vectors.row(a as usize).dot(&vectors.row(b as usize));
        Ok(mmr(&pool, k, lambda, sim)?)
    }

    /// Ranked item ids for many histories at once (no reasons): what evaluation calls.
    pub fn rank_batch(&self, histories: &[Vec<u32>], k: usize) -> Result<Vec<Vec<u32>>> {
        let mut out = Vec::with_capacity(histories.len());
        for chunk in histories.chunks(1024) {
            let sims = self.embedding_scores(chunk)?;
            for (h, row) in chunk.iter().zip(sims.axis_iter(Axis(0))) {
                let row = row.as_slice().expect("contiguous");
                out.push(self.rank_with(h, row, k, self.weights, self.mmr_lambda)?);
            }
        }
        Ok(out)
    }

    /// Cosine of each history's embedding with every item, `[histories, items]` (zeros when
    /// the embedding weight is 0 or there is no encoder).
    pub fn embedding_scores(&self, histories: &[Vec<u32>]) -> Result<Array2<f32>> {
        for h in histories {
            self.check(h)?;
        }
        let users = self.embed_histories(histories)?;
        Ok(users
            .dot(&self.index.vectors().t())
            .as_standard_layout()
            .into_owned())
    }

    /// One ranked list from precomputed embedding scores, with the given weights and lambda.
    pub fn rank_with(
        &self,
        history: &[u32],
        embedding: &[f32],
        k: usize,
        weights: ScoreWeights,
        lambda: f32,
    ) -> Result<Vec<u32>> {
        let (scores, _) = self.scores(history, embedding, weights)?;
        Ok(self
            .select(&scores, history, k, lambda)?
            .into_iter()
            .map(|s| s.item)
            .collect())
    }

    /// The blend weights and MMR lambda in use.
    pub fn ranking(&self) -> (ScoreWeights, f32) {
        (self.weights, self.mmr_lambda)
    }

    /// The top `k` new items for a history (item ids, oldest first), with reasons.
    pub fn recommend(&self, history: &[u32], k: usize) -> Result<Vec<Recommendation>> {
        self.check(history)?;
        let user = self.embed_histories(&[history.to_vec()])?;
        let sims = self.index.vectors().dot(&user.row(0));
        let (scores, best_rule) =
            self.scores(history, sims.as_slice().expect("contiguous"), self.weights)?;
        let picked = self.select(&scores, history, k, self.mmr_lambda)?;
        Ok(picked
            .into_iter()
            .map(|s| Recommendation {
                item: s.item,
                name: self.names[s.item as usize].clone(),
                score: s.score,
                reasons: self.reasons(history, s.item, best_rule.get(&s.item).copied()),
            })
            .collect())
    }

    fn reasons(&self, history: &[u32], item: u32, rule: Option<usize>) -> Vec<Reason> {
        let mut reasons = Vec::new();
        if let Some(r) = rule {
            let rule = &self.rules[r];
            reasons.push(Reason::Rule {
                antecedent: rule
                    .antecedent
                    .iter()
                    .map(|&i| self.names[i as usize].clone())
                    .collect(),
                confidence: rule.confidence,
                lift: rule.lift,
            });
        }
        if self.encoder.is_some() {
            let vectors = self.index.vectors();
            let target = vectors.row(item as usize);
            let closest = history
                .iter()
                .map(|&h| (h, vectors.row(h as usize).dot(&target)))
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
            if let Some((h, similarity)) = closest {
                reasons.push(Reason::SimilarTo {
                    item: self.names[h as usize].clone(),
                    similarity,
                });
            }
        }
        if reasons.is_empty() || self.popularity_rank[item as usize] <= 10 {
            reasons.push(Reason::Popular {
                rank: self.popularity_rank[item as usize],
            });
        }
        reasons
    }

    /// Products for a free-text query, by cosine of the embeddings.
    pub fn search(&self, text: &str, k: usize) -> Result<Vec<Recommendation>> {
        let encoder = self
            .encoder
            .as_ref()
            .ok_or_else(|| super::error::invalid("encoder", "search needs a language model"))?;
        let q = to_array(encoder.embed(&[text])?)?;
        let found = self.index.search(q.row(0), k, &[])?;
        Ok(self.plain(found))
    }

    /// Products most similar to `item`.
    pub fn similar(&self, item: u32, k: usize) -> Result<Vec<Recommendation>> {
        if self.encoder.is_none() {
            return Err(super::error::invalid(
                "encoder",
                "similar items need a language model",
            ));
        }
        self.check(&[item])?;
        Ok(self.plain(self.index.similar(item, k)?))
    }

    fn plain(&self, found: Vec<Scored>) -> Vec<Recommendation> {
        found
            .into_iter()
            .map(|s| Recommendation {
                item: s.item,
                name: self.names[s.item as usize].clone(),
                score: s.score,
                reasons: vec![],
            })
            .collect()
    }
}

pub(crate) fn to_array(t: affinity_tune::tch::Tensor) -> Result<Array2<f32>> {
    let size = t.size();
    let (rows, cols) = (size[0] as usize, size.get(1).copied().unwrap_or(0) as usize);
    let flat = Vec::<f32>::try_from(t.flatten(0, -1)).map_err(affinity_tune::TuneError::from)?;
    Ok(Array2::from_shape_vec((rows, cols), flat).expect("shape matches the tensor"))
}
