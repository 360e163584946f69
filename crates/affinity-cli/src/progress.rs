//! Progress drawn on standard error for the command-line tools: the one [`Progress`] that
//! draws. Libraries report through the trait; only binaries make a [`Bars`].

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use affinity_core::Progress;
use indicatif::{ProgressBar, ProgressFinish, ProgressStyle};

/// With a total: what, the bar, counts, time spent and left, and the step's status.
const BAR: &str =
    "{prefix} {wide_bar} {human_pos}/{human_len} [{elapsed_precise}<{eta_precise}] {msg}";
/// Without a total: a count of what is done, with its rate.
const SPINNER: &str = "{spinner} {human_pos} {prefix} ({per_sec}, {elapsed}) {msg}";
/// Where standard error is a log file, status lines at most this often.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Draws each step as a bar (a spinner when its total is unknown) on standard error when it is
/// a terminal. When it is a file or a pipe nothing is drawn: noted lines (an epoch's figures)
/// still go there, and the step's status at most every 10 seconds, so a log shows that a long
/// run is alive.
#[derive(Debug)]
pub struct Bars {
    terminal: bool,
    current: Mutex<Current>,
}

#[derive(Debug)]
struct Current {
    bar: Option<ProgressBar>,
    logged: Instant,
}

impl Bars {
    /// Bars on standard error (drawn only on a terminal).
    pub fn stderr() -> Self {
        Bars {
            terminal: std::io::stderr().is_terminal(),
            current: Mutex::new(Current {
                bar: None,
                logged: Instant::now(),
            }),
        }
    }

    fn current(&self) -> std::sync::MutexGuard<'_, Current> {
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Progress for Bars {
    fn start(&self, what: &str, total: Option<u64>) {
        let mut current = self.current();
        if let Some(old) = current.bar.take() {
            old.finish_and_clear();
        }
        current.logged = Instant::now();
        if !self.terminal {
            return;
        }
        let (bar, template) = match total {
            Some(n) => (ProgressBar::new(n), BAR),
            None => (ProgressBar::new_spinner(), SPINNER),
        };
        // A failed step leaves its bar where it stopped (indicatif would fill it up).
        let bar = bar.with_finish(ProgressFinish::Abandon);
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar.set_prefix(what.to_owned());
        if total.is_none() {
            bar.enable_steady_tick(Duration::from_millis(120));
        }
        current.bar = Some(bar);
    }

    fn advance(&self, n: u64) {
        if let Some(bar) = &self.current().bar {
            bar.inc(n);
        }
    }

    fn status(&self, text: &str) {
        let mut current = self.current();
        match &current.bar {
            Some(bar) => bar.set_message(text.to_owned()),
            None if current.logged.elapsed() >= LOG_EVERY => {
                eprintln!("{text}");
                current.logged = Instant::now();
            }
            None => {}
        }
    }

    fn note(&self, line: &str) {
        match &self.current().bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.current().bar.take() {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_templates_parse() {
        assert!(ProgressStyle::with_template(BAR).is_ok());
        assert!(ProgressStyle::with_template(SPINNER).is_ok());
    }

    #[test]
    fn reports_in_any_order_without_panicking() {
        for terminal in [false, true] {
            let bars = Bars {
                terminal,
                current: Mutex::new(Current {
                    bar: None,
                    logged: Instant::now(),
                }),
            };
            bars.note("before any step");
            bars.advance(3);
            bars.finish();
            bars.start("training", Some(4));
            bars.advance(1);
            bars.status("epoch 1 loss 0.5");
            bars.start("itemsets", None);
            bars.advance(10);
            bars.note("a line");
            bars.finish();
            bars.finish();
        }
    }
}
