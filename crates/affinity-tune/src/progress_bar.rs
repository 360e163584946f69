//! A terminal progress bar for training, on standard error.

use indicatif::{ProgressBar, ProgressFinish, ProgressStyle};

use crate::observer::{BatchProgress, TrainObserver};
use crate::train::EpochRecord;

const TEMPLATE: &str = "{bar:30} {pos}/{len} batches [{elapsed_precise}<{eta_precise}] {msg}";

/// When standard error is not a terminal (a log file), lines every this many batches stand in
/// for the bar.
const LOG_EVERY: usize = 50;

/// Draws a bar over all batches with the epoch, loss and examples per second, and a line per
/// epoch with its validation figures. When standard error is not a terminal the bar draws
/// nothing, so a line every 50 batches and the epoch lines go there instead.
///
/// ```no_run
/// use affinity_tune::*;
/// # fn run(encoder: &mut SentenceEncoder, task: &TrainingTask) -> Result<()> {
/// let trainer = Trainer::new(TrainParams::default())?;
/// let outcome = trainer.fit_with(encoder, task, &mut ProgressBarObserver::new())?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Default)]
pub struct ProgressBarObserver {
    /// Made when training starts, so that its clock starts there too.
    bar: Option<ProgressBar>,
}

impl ProgressBarObserver {
    /// An observer whose bar appears when training starts.
    pub fn new() -> Self {
        Self::default()
    }
}

impl TrainObserver for ProgressBarObserver {
    fn on_start(&mut self, total_batches: u64, done: u64) {
        // A failed run drops the bar where it stopped (indicatif's default fills it up).
        let bar = ProgressBar::new(total_batches).with_finish(ProgressFinish::Abandon);
        if let Ok(style) = ProgressStyle::with_template(TEMPLATE) {
            bar.set_style(style);
        }
        bar.set_position(done);
        self.bar = Some(bar);
    }

    fn on_batch(&mut self, p: &BatchProgress) {
        let Some(bar) = &self.bar else {
            return;
        };
        bar.inc(1);
        let message = format!(
            "epoch {} loss {:.4} {:.1} ex/s",
            p.epoch, p.mean_loss, p.examples_per_second
        );
        if bar.is_hidden() && p.batch.is_multiple_of(LOG_EVERY) {
            eprintln!("{message} (batch {}/{})", p.batch, p.batches);
        }
        bar.set_message(message);
    }

    fn on_epoch(&mut self, r: &EpochRecord) {
        let line = format!(
            "epoch {}: loss {:.4}, validation NDCG@10 {:.4}, Recall@10 {:.4} ({:.0} s)",
            r.epoch, r.train_loss, r.ndcg10, r.recall10, r.seconds
        );
        match &self.bar {
            Some(bar) if !bar.is_hidden() => bar.println(line),
            // Not a terminal: the bar draws nothing, the epoch line still helps.
            _ => eprintln!("{line}"),
        }
    }

    fn on_finish(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_parses() {
        assert!(ProgressStyle::with_template(TEMPLATE).is_ok());
    }

    #[test]
    fn reports_in_any_order_without_panicking() {
        let record = EpochRecord {
            epoch: 1,
            train_loss: 0.5,
            ndcg10: f64::NAN,
            recall10: f64::NAN,
            seconds: 1.0,
            examples_per_second: 10.0,
            target_seconds: 0.0,
            prior_weight: 0.0,
        };
        let mut o = ProgressBarObserver::new();
        o.on_epoch(&record);
        o.on_finish();
        o.on_start(4, 1);
        let batch = BatchProgress {
            epoch: 1,
            batch: 2,
            batches: 3,
            mean_loss: 0.5,
            examples_per_second: 10.0,
        };
        o.on_batch(&batch);
        o.on_epoch(&record);
        o.on_finish();
    }
}
