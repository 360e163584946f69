//! The facade's error type: one variant per crate it wires together.

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
    #[error(transparent)]
    Tune(#[from] affinity_tune::TuneError),
    /// Ranking.
    #[error(transparent)]
    Rank(#[from] affinity_rank::RankError),
    /// A setting is out of range; nothing was computed.
    #[error("invalid setting {name}: {detail}")]
    InvalidSetting {
        /// The setting.
        name: &'static str,
        /// Why.
        detail: String,
    },
    /// An item id or name the catalogue does not have.
    #[error("unknown item {0}")]
    UnknownItem(String),
}

/// Results of the pipeline.
pub type Result<T> = std::result::Result<T, PipelineError>;

pub(crate) fn invalid(name: &'static str, detail: impl Into<String>) -> PipelineError {
    PipelineError::InvalidSetting {
        name,
        detail: detail.into(),
    }
}
