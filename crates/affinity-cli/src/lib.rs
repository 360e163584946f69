//! The libtorch-free half of the `affinity` command line, shared by the two binaries of the
//! `affinity` package: `affinity`, the one users run (`data`, `mine` and `--version` from this
//! crate alone, so no libtorch and a start in milliseconds; any other command is handed on by
//! exec to `affinity-model` beside it), and `affinity-model` (every command; links libtorch for
//! the language model).
//!
//! - [`input`]: the options every command that reads a dataset shares;
//! - [`data`], [`mine`]: the `affinity data` and `affinity mine` commands ([`generate`]:
//!   `affinity data generate`);
//! - [`progress::Bars`]: the progress every library step reports, drawn on standard error;
//! - [`parquet_out`]: itemsets and rules as Parquet with Spark FPGrowth's columns.

// clap argument types: their doc comments are the commands' help text.
#[allow(missing_docs)]
pub mod data;
#[allow(missing_docs)]
pub mod generate;
#[allow(missing_docs)]
pub mod input;
#[allow(missing_docs)]
pub mod mine;
pub mod parquet_out;
pub mod progress;

/// `1234567` as `1,234,567`.
///
/// ```
/// assert_eq!(affinity_cli::thousands(1_234_567), "1,234,567");
/// ```
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
