//! The one error type of this crate.

use affinity_core::InvalidSetting;
use std::path::PathBuf;

/// Everything that can go wrong while reading or preparing data.
///
/// Every variant that comes from a file names it, and where a row is at fault, its 1-based line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("{path}: cannot read the file")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The file holds no data rows.
    #[error("{path}: the file is empty (no data rows)")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A column that was asked for (or that the format needs) is not in the header.
    #[error("{path}: no column {column:?} in the header (columns: {available})")]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The column asked for.
        column: String,
        /// The header's columns, comma-separated.
        available: String,
    },
    /// A row that cannot be read.
    #[error("{path}:{line}: {kind}: {detail}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What kind of fault.
        kind: RowFault,
        /// The details (the offending value, the expected shape).
        detail: String,
    },
    /// The file is not in the format it was read as (a CSV read as FIMI, a header line);
    /// never skipped, even when loading leniently.
    #[error("{path}:{line}: not a {format} file: {detail}")]
    WrongFormat {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// The format asked for.
        format: &'static str,
        /// What was found, and which format to use instead.
        detail: String,
    },
    /// A column of a columnar file (Parquet, Arrow IPC) whose type the role cannot take.
    #[error("{}: column {column:?} is {found}, expected {accepted}", path.display())]
    WrongColumnType {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// Its Arrow type.
        found: String,
        /// The types accepted for its role.
        accepted: &'static str,
    },
    /// A value of a columnar file (Parquet, Arrow IPC) that cannot be read.
    #[error("{}: row {row}, column {column:?}: {kind}: {detail}", path.display())]
    BadValue {
        /// The file.
        path: PathBuf,
        /// 1-based data row (the file has no header line).
        row: u64,
        /// The column.
        column: String,
        /// What kind of fault.
        kind: RowFault,
        /// The details (the offending value).
        detail: String,
    },
    /// A file that cannot be decoded as the columnar format it was read as (not that format,
    /// truncated, corrupt); never skipped, even when loading leniently.
    #[error("{}: cannot read as {format}: {detail}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The format asked for (`Parquet`, `Arrow IPC`).
        format: &'static str,
        /// What the decoder said, and where (the row group or record batch).
        detail: String,
    },
    /// A pseudonymisation key file that holds no key.
    #[error("{}: not a pseudonymisation key: {reason}", path.display())]
    BadKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A setting is outside its valid range; nothing was read.
    #[error(transparent)]
    InvalidSetting(#[from] InvalidSetting),
}

/// The kinds of bad rows a loader recognises; lenient loading counts skipped rows by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[non_exhaustive]
pub enum RowFault {
    /// Bytes that are not UTF-8.
    InvalidUtf8,
    /// Fewer or more fields than the header.
    WrongFieldCount,
    /// A required field is empty.
    EmptyField,
    /// A date or timestamp that does not parse in the chosen format.
    BadTimestamp,
    /// A number (weight, item id, index) that does not parse.
    BadNumber,
    /// An event kind that is not view, click, cart or purchase.
    BadEventKind,
    /// A reference to an item or user index that does not exist.
    UnknownReference,
}

impl std::fmt::Display for RowFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RowFault::InvalidUtf8 => "invalid UTF-8",
            RowFault::WrongFieldCount => "wrong number of fields",
            RowFault::EmptyField => "empty field",
            RowFault::BadTimestamp => "unparsable timestamp",
            RowFault::BadNumber => "unparsable number",
            RowFault::BadEventKind => "unknown event kind",
            RowFault::UnknownReference => "unknown reference",
        })
    }
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = DataError> = std::result::Result<T, E>;
