//! What every affinity crate shares, and nothing more:
//!
//! - [`InvalidSetting`]: the one error a settings check returns, naming the setting and why;
//!   each crate's error enum wraps it, so `params.check()?` works in any of them.
//! - [`Progress`]: the one way a long step reports how far it is. Libraries call it; a binary
//!   draws it (the `affinity` command line draws bars on a terminal). `()` reports nothing.
//! - [`files`]: the one way a file or a directory is written: through a temporary that is
//!   synced, renamed into place and made durable with its folder, so that a crash or a kill
//!   leaves either the old content or the new, never a mix.
//!
//! ```
//! use affinity_core::{files, InvalidSetting};
//!
//! fn check_k(k: usize) -> Result<(), InvalidSetting> {
//!     if k == 0 {
//!         return Err(InvalidSetting::new("k", "must be at least 1"));
//!     }
//!     Ok(())
//! }
//! assert_eq!(check_k(0).unwrap_err().to_string(), "invalid setting k: must be at least 1");
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("figures.json");
//! files::write_bytes(&path, b"{\"ndcg\": 0.26}")?;
//! assert_eq!(std::fs::read(&path)?, b"{\"ndcg\": 0.26}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod files;
pub mod memory;
pub mod privacy;
mod progress;
mod setting;

pub use files::WriteError;
pub use progress::{Counter, Progress};
pub use setting::InvalidSetting;
