//! The sequence-aware history tower inside a recommender: affinity-tune's
//! `SequentialRecommender` reads the IDs of a shopper's newest items (their text vectors were
//! computed once), so ranking a history runs a small transformer instead of the language model.
//! Its item vectors (the text mapped, plus a learned ID embedding) are kept apart from the text
//! vectors: histories are compared with them, while search, similar items, MMR and the
//! similarity reasons stay in the text space.

#[cfg(feature = "model")]
use affinity_core::InvalidSetting;
use affinity_rank::{ItemIndex, Metric};
use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use super::error::Result;

/// How the sequential model was trained, as kept in a bundle's manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequentialSummary {
    /// Newest items of a history the model reads.
    pub max_history: usize,
    /// (items so far, next item) training pairs.
    pub pairs: usize,
    /// Users whose last item was held out for early stopping.
    pub validation_users: usize,
    /// Validation NDCG@10 (all items ranked) before training: the mean of the history's text
    /// vectors.
    pub validation_ndcg_before: f64,
    /// Validation NDCG@10 of the epoch kept.
    pub validation_ndcg_after: f64,
    /// The epoch kept (0: training did not beat the start, which is kept).
    pub best_epoch: usize,
    /// Seconds of training.
    pub seconds: f64,
    /// What private training spent, when the tower was trained with DP-SGD (its weights are
    /// then the last epoch's, and `best_epoch` is that epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy: Option<affinity_core::privacy::PrivacySpent>,
}

impl std::fmt::Display for SequentialSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sequential tower (history {}): {} training pairs, validation NDCG@10 {:.4} -> {:.4} on {} users (epoch {}), {:.1} s",
            self.max_history,
            self.pairs,
            self.validation_ndcg_before,
            self.validation_ndcg_after,
            self.validation_users,
            self.best_epoch,
            self.seconds
        )?;
        match &self.privacy {
            Some(spent) => write!(f, ", private: {spent}"),
            None => Ok(()),
        }
    }
}

/// The sequential history tower: its item vectors always, the model itself where this build
/// has libtorch and it was loaded.
pub(crate) struct SequentialTower {
    #[cfg(feature = "model")]
    model: Option<std::sync::Mutex<affinity_tune::SequentialRecommender>>,
    /// Its item vectors (unit rows): what history vectors are compared with.
    items: ItemIndex,
    pub(crate) summary: SequentialSummary,
}

impl std::fmt::Debug for SequentialTower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SequentialTower")
            .field("items", &self.items.len())
            .field("loaded", &self.loaded())
            .field("summary", &self.summary)
            .finish()
    }
}

impl SequentialTower {
    /// From a trained model; its item vectors are taken from it.
    #[cfg(feature = "model")]
    pub(crate) fn from_model(
        model: affinity_tune::SequentialRecommender,
        summary: SequentialSummary,
    ) -> Result<Self> {
        let items = crate::model::to_array(model.item_vectors()?)?;
        Self::with_items(Some(model), items, summary)
    }

    /// With item vectors read from a bundle, and the model when it was loaded.
    #[cfg(feature = "model")]
    pub(crate) fn with_items(
        model: Option<affinity_tune::SequentialRecommender>,
        items: Array2<f32>,
        summary: SequentialSummary,
    ) -> Result<Self> {
        if let Some(m) = &model {
            let width = m.text().size().get(1).copied().unwrap_or(0);
            if m.n_items() != items.nrows() || width != items.ncols() as i64 {
                return Err(InvalidSetting::new(
                    "sequential",
                    format!(
                        "the model is {} items x width {width}, its item vectors {} x {}",
                        m.n_items(),
                        items.nrows(),
                        items.ncols()
                    ),
                )
                .into());
            }
        }
        Ok(SequentialTower {
            model: model.map(std::sync::Mutex::new),
            items: ItemIndex::new(items, Metric::Cosine)?,
            summary,
        })
    }

    /// With item vectors read from a bundle (this build cannot run the model).
    #[cfg(not(feature = "model"))]
    pub(crate) fn with_items(items: Array2<f32>, summary: SequentialSummary) -> Result<Self> {
        Ok(SequentialTower {
            items: ItemIndex::new(items, Metric::Cosine)?,
            summary,
        })
    }

    /// Whether the model can read histories here.
    pub(crate) fn loaded(&self) -> bool {
        #[cfg(feature = "model")]
        {
            self.model.is_some()
        }
        #[cfg(not(feature = "model"))]
        {
            false
        }
    }

    pub(crate) fn items(&self) -> &ItemIndex {
        &self.items
    }

    pub(crate) fn item_vectors(&self) -> ArrayView2<'_, f32> {
        self.items.vectors()
    }

    /// The model, locked while the guard lives.
    #[cfg(feature = "model")]
    pub(crate) fn model(
        &self,
    ) -> Option<std::sync::MutexGuard<'_, affinity_tune::SequentialRecommender>> {
        self.model
            .as_ref()
            .map(|m| m.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Unit history vectors, one row each (zeros for an empty history); `None` where the
    /// model is not loaded.
    pub(crate) fn embed(&self, histories: &[Vec<u32>]) -> Result<Option<Array2<f32>>> {
        #[cfg(feature = "model")]
        {
            match self.model() {
                Some(m) => Ok(Some(crate::model::to_array(m.user_vectors(histories)?)?)),
                None => Ok(None),
            }
        }
        #[cfg(not(feature = "model"))]
        {
            let _ = histories;
            Ok(None)
        }
    }

    /// New text vectors for the rows `changed` of `vectors` (after an update added items or
    /// changed texts; `vectors` covers the whole new catalogue): the other items keep the
    /// text the model has (exact, whatever number format the bundle stores), new items start
    /// with text alone, and the item vectors are computed again.
    #[cfg(feature = "model")]
    pub(crate) fn set_text(
        &mut self,
        vectors: ArrayView2<'_, f32>,
        changed: &[usize],
    ) -> Result<()> {
        let items = {
            let mut model = self.model().ok_or_else(|| {
                InvalidSetting::new(
                    "sequential",
                    "new items or texts need the sequential model: load the bundle with its models",
                )
            })?;
            let old = crate::model::to_array(model.text())?;
            if old.ncols() != vectors.ncols() || old.nrows() > vectors.nrows() {
                return Err(InvalidSetting::new(
                    "sequential",
                    format!(
                        "text vectors {} x {} for a model of {} x {}",
                        vectors.nrows(),
                        vectors.ncols(),
                        old.nrows(),
                        old.ncols()
                    ),
                )
                .into());
            }
            let mut text = Array2::zeros(vectors.dim());
            text.slice_mut(ndarray::s![..old.nrows(), ..]).assign(&old);
            for &i in changed {
                text.row_mut(i).assign(&vectors.row(i));
            }
            model.set_text(&crate::model::to_tensor(text.view())?)?;
            crate::model::to_array(model.item_vectors()?)?
        };
        self.items = ItemIndex::new(items, Metric::Cosine)?;
        Ok(())
    }
}

#[cfg(feature = "model")]
impl super::Recommender {
    /// The settings of the sequential tower, when there is one and it is loaded.
    pub fn sequential_params(&self) -> Option<affinity_tune::SequentialParams> {
        let tower = self.sequential.as_ref()?;
        Some(tower.model()?.params().clone())
    }

    /// Trains a sequential history tower on the fitted histories and makes it this
    /// recommender's history model: each user's last item is held out for early stopping and
    /// every earlier item is a training target (windows of `params.max_history + 1` items).
    /// The text vectors are the starting point, so the recommender needs item vectors. Cached
    /// user vectors are computed again with the new tower.
    ///
    /// ```no_run
    /// # fn demo(mut r: affinity_recommend::pipeline::Recommender) -> affinity_recommend::pipeline::Result<()> {
    /// use affinity_tune::SequentialParams;
    /// let params = SequentialParams { max_history: 3, ..SequentialParams::default() };
    /// let summary = r.fit_sequential(params)?;
    /// println!("validation NDCG@10 {:.4} -> {:.4}", summary.validation_ndcg_before, summary.validation_ndcg_after);
    /// let recs = r.recommend(&[3, 17], 5)?; // no language model runs for the history
    /// # Ok(()) }
    /// ```
    pub fn fit_sequential(
        &mut self,
        params: affinity_tune::SequentialParams,
    ) -> Result<SequentialSummary> {
        self.fit_sequential_observed(params, &())
    }

    /// [`Recommender::fit_sequential`](super::Recommender::fit_sequential), telling `progress` how the training goes.
    pub fn fit_sequential_observed(
        &mut self,
        params: affinity_tune::SequentialParams,
        progress: &dyn affinity_core::Progress,
    ) -> Result<SequentialSummary> {
        params.check()?;
        let text = self.item_vectors().ok_or_else(|| {
            InvalidSetting::new(
                "sequential",
                "the sequential model starts from item text vectors: fit with a language model",
            )
        })?;
        let text = crate::model::to_tensor(text)?;
        let started = std::time::Instant::now();
        let split =
            affinity_tune::SequenceSplit::windows(&self.fitted.histories, params.max_history);
        if split.pairs() == 0 || split.validation.is_empty() {
            return Err(InvalidSetting::new(
                "sequential",
                "no user has three or more items: nothing to train the sequential model on and validate it with",
            ).into());
        }
        let max_history = params.max_history;
        let mut model = affinity_tune::SequentialRecommender::new(&text, params)?;
        let report = model.fit_observed(&split, progress)?;
        let summary = SequentialSummary {
            max_history,
            pairs: split.pairs(),
            validation_users: split.validation.len(),
            validation_ndcg_before: report.epochs[0].ndcg10,
            validation_ndcg_after: report.best().ndcg10,
            best_epoch: report.best_epoch,
            seconds: started.elapsed().as_secs_f64(),
            privacy: report.privacy.clone(),
        };
        self.sequential = Some(SequentialTower::from_model(model, summary.clone())?);
        if self.user_vectors().is_some() {
            self.cache_user_vectors()?;
        }
        Ok(summary)
    }
}
