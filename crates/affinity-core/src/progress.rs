//! How long steps report how far they are.

/// Told how a long step goes, while it goes: fitting, mining, training, encoding, evaluating.
/// Libraries call it; a binary draws it (or logs it, or a test records it). Every method does
/// nothing unless implemented, and `()` implements none: silence.
///
/// Steps come one after another (a step may note lines while it runs). Methods take `&self`
/// because workers on several threads report into one step (mining counts itemsets from each
/// of its threads); an implementation keeps its own state behind a lock or atomics.
///
/// ```
/// use affinity_core::Progress;
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// /// Counts what was done, for a log line at the end.
/// #[derive(Default)]
/// struct Tally(AtomicU64);
///
/// impl Progress for Tally {
///     fn advance(&self, n: u64) {
///         self.0.fetch_add(n, Ordering::Relaxed);
///     }
/// }
///
/// let tally = Tally::default();
/// let progress: &dyn Progress = &tally;
/// progress.start("items", Some(3));
/// progress.advance(2);
/// progress.advance(1);
/// progress.finish();
/// assert_eq!(tally.0.load(Ordering::Relaxed), 3);
/// ```
pub trait Progress: Send + Sync {
    /// A step begins: `what` it does, and how many units it has when that is known.
    fn start(&self, what: &str, total: Option<u64>) {
        let _ = (what, total);
    }

    /// `n` more units of the current step are done.
    fn advance(&self, n: u64) {
        let _ = n;
    }

    /// What the step is doing now, in a few words (a bar shows it beside itself; the next
    /// status replaces it).
    fn status(&self, text: &str) {
        let _ = text;
    }

    /// A line worth keeping, such as an epoch's validation figures.
    fn note(&self, line: &str) {
        let _ = line;
    }

    /// The current step is over.
    fn finish(&self) {}
}

/// Reports nothing.
impl Progress for () {}

/// Counts units one at a time in a hot loop and hands them to a [`Progress`] in bunches (one
/// call per 4,096 units, and the rest when dropped), so that reporting costs nothing
/// measurable. Each thread keeps its own.
pub struct Counter<'a> {
    progress: &'a dyn Progress,
    pending: u64,
}

/// Units counted between two calls to [`Progress::advance`].
const EVERY: u64 = 1 << 12;

impl<'a> Counter<'a> {
    /// A counter reporting to `progress`.
    pub fn new(progress: &'a dyn Progress) -> Self {
        Counter {
            progress,
            pending: 0,
        }
    }

    /// Where this counter reports.
    pub fn progress(&self) -> &'a dyn Progress {
        self.progress
    }

    /// `n` more units are done.
    pub fn add(&mut self, n: u64) {
        self.pending += n;
        if self.pending >= EVERY {
            self.progress.advance(std::mem::take(&mut self.pending));
        }
    }
}

impl Drop for Counter<'_> {
    fn drop(&mut self) {
        if self.pending > 0 {
            self.progress.advance(self.pending);
        }
    }
}

impl std::fmt::Debug for Counter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counter")
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Calls(Mutex<Vec<u64>>);

    impl Progress for Calls {
        fn advance(&self, n: u64) {
            self.0.lock().unwrap().push(n);
        }
    }

    #[test]
    fn a_counter_reports_in_bunches_and_loses_nothing() {
        let calls = Calls::default();
        {
            let mut counter = Counter::new(&calls);
            for _ in 0..10_000 {
                counter.add(1);
            }
        }
        let calls = calls.0.into_inner().unwrap();
        assert_eq!(calls, [4096, 4096, 1808]);
    }

    #[test]
    fn silence_takes_every_call() {
        let p: &dyn Progress = &();
        p.start("x", None);
        p.advance(1);
        p.status("s");
        p.note("n");
        p.finish();
    }
}
