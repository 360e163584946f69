//! Loaders for the formats people keep shopping data in.
//!
//! Every loader reads the whole file, returns a [`Dataset`] and a [`LoadReport`], and fails with
//! a [`DataError`] that names the file and line. With [`LoadOptions::lenient`] bad rows are skipped
//! and counted by kind instead.

mod baskets;
pub(crate) mod events;
mod long_csv;
mod unisrec;

#[cfg(feature = "parquet")]
pub(crate) use baskets::NumberIds;
pub use baskets::{load_basket_csv, load_fimi, read_transactions, TransactionFile, Transactions};
#[cfg(feature = "parquet")]
pub(crate) use long_csv::resolve_columns;
pub use long_csv::{load_long_csv, LongCsv};
pub use unisrec::load_unisrec;

use crate::error::{DataError, Result, RowFault};
use crate::model::Dataset;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Settings shared by all loaders.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Skip malformed rows (counted in the report) instead of failing on the first one.
    pub lenient: bool,
    /// When set, user ids are replaced by a keyed BLAKE3 hash of the id before they are stored,
    /// so that the raw ids never enter the dataset. Keep the key secret and stable across runs.
    pub pseudonymize_key: Option<[u8; 32]>,
}

/// What a loader read, kept and dropped.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct LoadReport {
    /// Data rows read (header excluded).
    pub rows_read: u64,
    /// Rows dropped because they repeat an event read before (same user, item, time, kind,
    /// weight and order; event formats only).
    pub duplicates_dropped: u64,
    /// Rows skipped in lenient mode, by kind.
    pub skipped: BTreeMap<RowFault, u64>,
    /// The first few skipped lines (rows, in columnar files), with their kind.
    pub skipped_examples: Vec<(u64, RowFault)>,
    /// Rows of a columnar basket table whose basket is null: ignored, as Spark's FPGrowth
    /// ignores them (not transactions, not counted in `rows_read`).
    pub null_baskets: u64,
}

impl LoadReport {
    /// Total rows skipped as malformed.
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }
}

/// How many skipped lines a report keeps as examples.
const MAX_EXAMPLES: usize = 20;

/// Decides, per bad row, between failing and skipping; keeps the count.
pub(crate) struct RowGuard<'a> {
    pub path: &'a Path,
    pub lenient: bool,
    pub report: LoadReport,
}

impl<'a> RowGuard<'a> {
    pub fn new(path: &'a Path, options: &LoadOptions) -> Self {
        RowGuard {
            path,
            lenient: options.lenient,
            report: LoadReport::default(),
        }
    }

    /// In strict mode: the error for this row. In lenient mode: records it and returns `Ok`.
    pub fn fault(&mut self, line: u64, kind: RowFault, detail: impl Into<String>) -> Result<()> {
        if !self.lenient {
            return Err(DataError::Malformed {
                path: self.path.to_path_buf(),
                line,
                kind,
                detail: detail.into(),
            });
        }
        self.skip(line, kind);
        Ok(())
    }

    /// As [`RowGuard::fault`], for a value of a columnar file: the error names the row and
    /// the column.
    #[cfg_attr(not(feature = "parquet"), allow(dead_code))]
    pub fn cell_fault(
        &mut self,
        row: u64,
        column: &str,
        kind: RowFault,
        detail: impl Into<String>,
    ) -> Result<()> {
        if !self.lenient {
            return Err(DataError::BadValue {
                path: self.path.to_path_buf(),
                row,
                column: column.to_owned(),
                kind,
                detail: detail.into(),
            });
        }
        self.skip(row, kind);
        Ok(())
    }

    fn skip(&mut self, line: u64, kind: RowFault) {
        *self.report.skipped.entry(kind).or_default() += 1;
        if self.report.skipped_examples.len() < MAX_EXAMPLES {
            self.report.skipped_examples.push((line, kind));
        }
    }
}

/// The file's bytes, or an error naming it.
/// The file's bytes, without a leading UTF-8 byte-order mark (spreadsheet exports write one;
/// left in, it would become part of the first item or column name).
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    let mut bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes.drain(..3);
    }
    Ok(bytes)
}

/// The user id to store: the raw id, or its keyed hash.
pub(crate) fn user_key(raw: &str, key: Option<&[u8; 32]>) -> String {
    match key {
        None => raw.to_owned(),
        Some(key) => {
            let hash = blake3::keyed_hash(key, raw.as_bytes());
            hash.to_hex()[..32].to_owned()
        }
    }
}

/// The formats [`load`] dispatches on.
#[derive(Debug, Clone)]
pub enum Format {
    /// One event per row with a header.
    Long(LongCsv),
    /// One basket per line, comma-separated item names, no header.
    Baskets,
    /// FIMI `.dat`: one transaction per line, space-separated item ids.
    Fimi,
    /// UniSRec/RecBole atomic files; the path is `DIR/NAME` (as in `data/Scientific`), the
    /// loader reads `NAME.text`, `NAME.item2index`, `NAME.user2index` and `NAME.test.inter`.
    UniSRec,
    /// A Parquet table of events or of baskets (feature `parquet`).
    #[cfg(feature = "parquet")]
    Parquet(crate::columnar::Columnar),
    /// An Arrow IPC table (file or stream format) of events or of baskets (feature `parquet`).
    #[cfg(feature = "parquet")]
    ArrowIpc(crate::columnar::Columnar),
}

/// Loads `path` in `format`.
pub fn load(
    path: impl AsRef<Path>,
    format: &Format,
    options: &LoadOptions,
) -> Result<(Dataset, LoadReport)> {
    let path = path.as_ref();
    match format {
        Format::Long(spec) => load_long_csv(path, spec, options),
        Format::Baskets => load_basket_csv(path, options),
        Format::Fimi => load_fimi(path, options),
        Format::UniSRec => load_unisrec(path, options),
        #[cfg(feature = "parquet")]
        Format::Parquet(spec) => {
            load_columnar(path, crate::columnar::Container::Parquet, spec, options)
        }
        #[cfg(feature = "parquet")]
        Format::ArrowIpc(spec) => {
            load_columnar(path, crate::columnar::Container::ArrowIpc, spec, options)
        }
    }
}

/// A columnar table as a dataset: events as they are, baskets as users of their own.
#[cfg(feature = "parquet")]
fn load_columnar(
    path: &Path,
    container: crate::columnar::Container,
    spec: &crate::columnar::Columnar,
    options: &LoadOptions,
) -> Result<(Dataset, LoadReport)> {
    if spec.reads_baskets(path, container)? {
        let (tx, report) = crate::columnar::read_basket_table(path, container, spec, options)?;
        Ok((baskets::dataset_from(tx), report))
    } else {
        crate::columnar::load_long_table(path, container, &spec.columns, options)
    }
}

pub(crate) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}
