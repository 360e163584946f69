//! This crate's error type: one variant per crate it wires together, and the bundle's.

use affinity_core::{InvalidSetting, WriteError};
use std::path::PathBuf;

/// What can go wrong in the pipeline.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// Loading or splitting data.
    #[error(transparent)]
    Data(#[from] affinity_data::DataError),
    /// Mining rules.
    #[error(transparent)]
    Mine(#[from] affinity_mine::MineError),
    /// The language model.
    #[cfg(feature = "model")]
    #[cfg_attr(docsrs, doc(cfg(feature = "model")))]
    #[error(transparent)]
    Tune(#[from] affinity_tune::TuneError),
    /// Ranking.
    #[error(transparent)]
    Rank(#[from] affinity_rank::RankError),
    /// A setting is out of range; nothing was computed.
    #[error(transparent)]
    InvalidSetting(#[from] InvalidSetting),
    /// An item id or name the catalogue does not have.
    #[error("unknown item {0}")]
    UnknownItem(String),
    /// Writing a file or a directory failed; nothing half-written was left.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// Reading a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file a bundle needs is not there.
    #[error("{path}: missing from the bundle")]
    BundleMissing {
        /// The file.
        path: PathBuf,
    },
    /// A bundle file's size differs from the manifest's (truncated or appended to).
    #[error("{path}: {found} bytes, the manifest says {expected} (truncated or changed)")]
    BundleSize {
        /// The file.
        path: PathBuf,
        /// Bytes the manifest records.
        expected: u64,
        /// Bytes on disk.
        found: u64,
    },
    /// A bundle file's BLAKE3 digest differs from the manifest's.
    #[error("{path}: BLAKE3 digest {found}, the manifest says {expected} (the file changed)")]
    BundleDigest {
        /// The file.
        path: PathBuf,
        /// Digest the manifest records.
        expected: String,
        /// Digest of the file on disk.
        found: String,
    },
    /// A bundle written by a newer affinity (or not a bundle at all).
    #[error("{path}: bundle format {found}, this affinity reads format {supported}")]
    BundleVersion {
        /// The manifest.
        path: PathBuf,
        /// The format version found.
        found: String,
        /// The version this build reads.
        supported: u32,
    },
    /// A bundle file that cannot be parsed, or whose contents disagree with the rest.
    #[error("{path}: {detail}")]
    BundleCorrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

/// Results of the pipeline.
pub type Result<T> = std::result::Result<T, PipelineError>;

pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> PipelineError {
    PipelineError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn corrupt(path: &std::path::Path, detail: impl Into<String>) -> PipelineError {
    PipelineError::BundleCorrupt {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

/// `error` as a ranker's error: a ranking error as it was, anything else as the ranker
/// `name`'s failure.
pub(crate) fn rank_error(
    name: impl Into<String>,
    error: PipelineError,
) -> affinity_rank::RankError {
    match error {
        PipelineError::Rank(e) => e,
        other => affinity_rank::RankError::failed(name, other),
    }
}
