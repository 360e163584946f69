//! The one error type of this crate.

use std::path::PathBuf;

use affinity_core::InvalidSetting;
use affinity_recommend::pipeline::PipelineError;

/// What can stop the server from starting or a bundle from being served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// A setting cannot work; nothing was loaded.
    #[error(transparent)]
    InvalidSetting(#[from] InvalidSetting),
    /// A bundle could not be loaded.
    #[error("cannot load the bundle {}: {source}", path.display())]
    Bundle {
        /// The bundle directory.
        path: PathBuf,
        /// Why.
        source: Box<PipelineError>,
    },
    /// Fitting, updating or saving failed.
    #[error(transparent)]
    Pipeline(Box<PipelineError>),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A task of the server ended without an answer (it panicked or was cancelled).
    #[error("a server task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl From<PipelineError> for ServeError {
    fn from(error: PipelineError) -> Self {
        ServeError::Pipeline(Box::new(error))
    }
}

/// Results of this crate.
pub type Result<T, E = ServeError> = std::result::Result<T, E>;
