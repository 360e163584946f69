//! Data for product association analysis: interned ids, events and item text, loaders for the
//! common formats, cleaning, leakage-free splits, ranking metrics and exposure figures.
//!
//! ```
//! use affinity_data::{load, Format, LoadOptions, LongCsv};
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("events.csv");
//! std::fs::write(&path, "user,item,date\nu1,milk,2015-07-21\nu1,bread,2015-07-21\n").unwrap();
//! let (dataset, report) = load(&path, &Format::Long(LongCsv::default()), &LoadOptions::default()).unwrap();
//! assert_eq!((report.rows_read, dataset.items.len()), (2, 2));
//! ```

mod clean;
#[cfg(feature = "parquet")]
#[cfg_attr(docsrs, doc(cfg(feature = "parquet")))]
pub mod columnar;
mod error;
pub mod exposure;
mod history;
mod ids;
mod load;
pub mod metrics;
mod model;
mod pseudonym;
pub mod quest;
mod split;
mod stats;
pub mod synthetic;
mod time;

pub use affinity_core::InvalidSetting;
pub use clean::{k_core, KCoreReport};
pub use error::{DataError, Result, RowFault};
pub use history::HistoryText;
pub use ids::IdMap;
pub use load::{
    load, load_basket_csv, load_fimi, load_long_csv, load_unisrec, read_transactions, Format,
    LoadOptions, LoadReport, LongCsv, TransactionFile, Transactions,
};
pub use model::{Basket, BasketRule, Catalog, Dataset, EventKind, Interaction, ItemText};
pub use pseudonym::PseudonymKey;
pub use split::{items_by_user, leave_one_out, time_cutoff, HoldOut, Split};
pub use stats::{dataset_stats, DatasetStats};
pub use time::{civil_from_days, days_from_civil, parse_timestamp, TimeFormat};
