//! Parquet and Arrow IPC tables, the way data moves between affinity, Spark and Python
//! (feature `parquet`, on by default).
//!
//! Two kinds of table are read:
//! - **long** tables, one event per row, whose columns are chosen exactly as the long CSV
//!   loader chooses them ([`LongCsv`]: named explicitly, else found by common names);
//! - **basket** tables, one basket per row in a list column (`items` by default, Spark
//!   FPGrowth's `itemsCol`): `list<string>`, `large_list<string>` or a list of integers. Null
//!   baskets are ignored, as Spark ignores them; null items inside a basket are dropped.
//!
//! [`TableKind::Auto`] tells them apart by the schema: a basket table when the items column
//! is named explicitly, or when no user or item column is named and the file has a list
//! column called `items`; else a long table.
//!
//! ```
//! use affinity_data::columnar::{BasketWriter, Columnar, Container};
//! use affinity_data::{load, Format, LoadOptions};
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("baskets.parquet");
//! let mut writer = BasketWriter::create(std::fs::File::create(&path).unwrap(), false).unwrap();
//! writer.push(&["milk", "bread"]).unwrap();
//! writer.push(&["milk"]).unwrap();
//! writer.finish().unwrap();
//! let format = Format::Parquet(Columnar::default());
//! let (dataset, report) = load(&path, &format, &LoadOptions::default()).unwrap();
//! assert_eq!((report.rows_read, dataset.items.len()), (2, 2));
//! ```

mod baskets;
mod cells;
mod long;
mod source;
mod write;

pub use baskets::read_basket_table;
pub use long::load_long_table;
pub use write::{BasketWriter, ROW_GROUP_ROWS};

use crate::error::Result;
use crate::load::LongCsv;
use arrow_schema::DataType;
use std::path::Path;

/// The file container of a columnar table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// Apache Parquet (`PAR1`).
    Parquet,
    /// Arrow IPC: the file format (`ARROW1`, `.arrow`, `.feather` v2) or the stream format
    /// (`.arrows`), told apart by the magic bytes.
    ArrowIpc,
}

impl Container {
    /// The container's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Container::Parquet => "Parquet",
            Container::ArrowIpc => "Arrow IPC",
        }
    }
}

/// What a columnar table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TableKind {
    /// Decided by the schema (see the module documentation).
    #[default]
    Auto,
    /// One event per row.
    Long,
    /// One basket per row, in a list column.
    Baskets,
}

/// How a columnar table is read.
#[derive(Debug, Clone, Default)]
pub struct Columnar {
    /// Long or basket table.
    pub kind: TableKind,
    /// Long tables: the columns, chosen as in a long CSV (the delimiter is not used). Times
    /// stored as strings or plain integers are read in `columns.time_format`.
    pub columns: LongCsv,
    /// Basket tables: the list column; `None` means `items`.
    pub items: Option<String>,
}

impl Columnar {
    /// The basket column's name.
    pub fn items_column(&self) -> &str {
        self.items.as_deref().unwrap_or("items")
    }

    /// Whether the table at `path` is read as a basket table (`true`) or a long one.
    pub fn reads_baskets(&self, path: &Path, container: Container) -> Result<bool> {
        Ok(match self.kind {
            TableKind::Long => false,
            TableKind::Baskets => true,
            TableKind::Auto if self.items.is_some() => true,
            TableKind::Auto if self.columns.user.is_some() || self.columns.item.is_some() => false,
            TableKind::Auto => {
                let source = source::Source::open(path, container)?;
                source
                    .schema
                    .field_with_name(self.items_column())
                    // Any list type: the ones the reader cannot take are then refused as
                    // such, not reported as a missing user or item column.
                    .is_ok_and(|f| {
                        matches!(
                            f.data_type(),
                            DataType::List(_)
                                | DataType::LargeList(_)
                                | DataType::FixedSizeList(..)
                                | DataType::ListView(_)
                                | DataType::LargeListView(_)
                        )
                    })
            }
        })
    }
}
