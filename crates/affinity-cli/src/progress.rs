//! Progress on stderr for long runs: drawn only where a binary turned it on ([`show`]) and
//! stderr is a terminal, so a library user, a log file or a pipe gets nothing.

use affinity_mine::{ItemsetSink, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

static SHOWN: AtomicBool = AtomicBool::new(false);

/// Lets long steps draw progress on stderr (off by default; the command-line tools turn it
/// on).
pub fn show(on: bool) {
    SHOWN.store(on, Ordering::Relaxed);
}

fn drawn() -> bool {
    SHOWN.load(Ordering::Relaxed) && std::io::stderr().is_terminal()
}

/// A bar of `len` steps labelled `what`, with a rate and the time left.
pub fn bar(len: u64, what: &str) -> ProgressBar {
    if !drawn() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    let template = "{msg} {wide_bar} {human_pos}/{human_len} ({per_sec}, {eta} left)";
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.set_message(what.to_owned());
    bar
}

/// A spinner counting `unit`s with a rate, where the total is not known in advance.
pub fn spinner(unit: &'static str) -> ProgressBar {
    if !drawn() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    let template = format!("{{spinner}} {{human_pos}} {unit} ({{per_sec}}, {{elapsed}})");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// Forwards itemsets to `inner` and counts them on a progress bar, from every worker thread
/// (the total is not known before the end, so it is a count, not a fraction).
pub struct Counted<S> {
    inner: S,
    bar: ProgressBar,
    uncounted: u64,
}

/// Itemsets between two updates of the shared bar.
const EVERY: u64 = 1 << 12;

impl<S> Counted<S> {
    /// Counts what goes into `inner` on `bar`.
    pub fn new(inner: S, bar: ProgressBar) -> Self {
        Counted {
            inner,
            bar,
            uncounted: 0,
        }
    }

    /// The sink, after the run.
    pub fn into_inner(self) -> S {
        self.bar.inc(self.uncounted);
        self.inner
    }

    fn tick(&mut self, n: u64) {
        self.uncounted += n;
        if self.uncounted >= EVERY {
            self.bar.inc(std::mem::take(&mut self.uncounted));
        }
    }
}

impl<S: ItemsetSink> ItemsetSink for Counted<S> {
    type Part = Counted<S::Part>;

    fn push(&mut self, items: &[u32], support: u64) -> Result<()> {
        self.tick(1);
        self.inner.push(items, support)
    }

    fn needs_itemsets(&self) -> bool {
        self.inner.needs_itemsets()
    }

    fn push_count(&mut self, n: u64) -> Result<()> {
        self.tick(n);
        self.inner.push_count(n)
    }

    fn part(&self) -> Counted<S::Part> {
        Counted::new(self.inner.part(), self.bar.clone())
    }

    fn absorb(&mut self, part: Counted<S::Part>) -> Result<()> {
        let inner = part.into_inner();
        self.inner.absorb(inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use affinity_mine::{mine_itemsets, Algorithm, CountSink, Itemset, MinSupport, MiningParams};

    #[test]
    fn counting_changes_nothing_and_counts_everything() {
        let tx = affinity_data::synthetic::skewed_baskets(400, 12, 40);
        for threads in [1, 2] {
            let params = MiningParams::new(MinSupport::Count(3)).threads(threads);
            let mut plain: Vec<Itemset> = Vec::new();
            mine_itemsets(&tx, None, &params, Algorithm::FpGrowth, &mut plain).unwrap();
            let bar = ProgressBar::hidden();
            let mut counted = Counted::new(Vec::<Itemset>::new(), bar.clone());
            mine_itemsets(&tx, None, &params, Algorithm::FpGrowth, &mut counted).unwrap();
            assert_eq!(counted.into_inner(), plain);
            assert_eq!(bar.position(), plain.len() as u64);
            let bar = ProgressBar::hidden();
            let mut counted = Counted::new(CountSink::default(), bar.clone());
            mine_itemsets(&tx, None, &params, Algorithm::FpGrowth, &mut counted).unwrap();
            assert_eq!(counted.into_inner().count, plain.len() as u64);
            assert_eq!(bar.position(), plain.len() as u64);
        }
    }
}
