//! What a training run reports while it runs, for progress bars, logs or tests.

use crate::train::EpochRecord;

/// Where training stands after one batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchProgress {
    /// Epoch, from 1.
    pub epoch: usize,
    /// Batch within the epoch, from 1.
    pub batch: usize,
    /// Batches per epoch.
    pub batches: usize,
    /// Mean training loss of the epoch's batches so far.
    pub mean_loss: f64,
    /// Training examples per second in this epoch so far.
    pub examples_per_second: f64,
}

/// Told what a run does, as [`Trainer::fit_with`](crate::Trainer::fit_with) does it. Every
/// method does nothing unless implemented; `()` implements none and is what
/// [`Trainer::fit`](crate::Trainer::fit) passes. [`ProgressBarObserver`](crate::ProgressBarObserver)
/// draws a terminal progress bar.
///
/// ```no_run
/// use affinity_tune::*;
///
/// /// Prints each epoch's validation figure.
/// struct EpochLog;
///
/// impl TrainObserver for EpochLog {
///     fn on_epoch(&mut self, record: &EpochRecord) {
///         println!("epoch {}: NDCG@10 {:.4}", record.epoch, record.ndcg10);
///     }
/// }
///
/// # fn run(encoder: &mut SentenceEncoder, task: &TrainingTask) -> Result<()> {
/// let outcome = Trainer::new(TrainParams::default())?.fit_with(encoder, task, &mut EpochLog)?;
/// # Ok(())
/// # }
/// ```
pub trait TrainObserver {
    /// Training starts: `total_batches` over all epochs, of which `done` were trained before
    /// (by the run this one resumes).
    fn on_start(&mut self, total_batches: u64, done: u64) {
        let _ = (total_batches, done);
    }

    /// A batch was trained (and, at the end of an accumulation, the optimizer stepped).
    fn on_batch(&mut self, progress: &BatchProgress) {
        let _ = progress;
    }

    /// An epoch of this run was trained and validated; the same record goes into the report.
    fn on_epoch(&mut self, record: &EpochRecord) {
        let _ = record;
    }

    /// The last epoch of the run is over. Not called when the run fails: the error says why.
    fn on_finish(&mut self) {}
}

/// Observes nothing: silent training.
impl TrainObserver for () {}
