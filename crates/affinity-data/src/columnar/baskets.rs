//! Basket tables: one basket per row, in a list column.

use super::cells::{ListValues, Lists};
use super::source::Source;
use super::{Columnar, Container};
use crate::error::{DataError, Result};
use crate::load::{LoadOptions, LoadReport, NumberIds, Transactions};
use std::path::Path;

/// Reads the basket column of a Parquet or Arrow IPC table (`spec.items`, default `items`)
/// into transactions, in row order, items in list order (duplicates kept, as in the text
/// basket formats: the miner's setting decides).
///
/// Integer items are named by their decimal value, so a `list<int32>` table gives the same
/// item names as the FIMI file of the same transactions. Empty lists are empty transactions;
/// null baskets are ignored (counted in [`LoadReport::null_baskets`]), as Spark's FPGrowth
/// ignores them; null items are dropped. The table is read as a basket table whatever
/// `spec.kind` says.
///
/// ```
/// use affinity_data::columnar::{read_basket_table, BasketWriter, Columnar, Container};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("t.parquet");
/// let mut writer = BasketWriter::create(std::fs::File::create(&path).unwrap(), true).unwrap();
/// writer.push_ids(&[1, 2, 3]).unwrap();
/// writer.push_ids(&[2, 3]).unwrap();
/// writer.finish().unwrap();
/// let options = Default::default();
/// let (tx, _) = read_basket_table(&path, Container::Parquet, &Columnar::default(), &options).unwrap();
/// assert_eq!(tx.items.names(), ["1", "2", "3"]);
/// assert_eq!(tx.baskets, [vec![0, 1, 2], vec![1, 2]]);
/// ```
pub fn read_basket_table(
    path: &Path,
    container: Container,
    spec: &Columnar,
    options: &LoadOptions,
) -> Result<(Transactions, LoadReport)> {
    let source = Source::open(path, container)?;
    let column = spec.items_column();
    let names = source.names();
    let Some(index) = names.iter().position(|n| n == column) else {
        return Err(DataError::MissingColumn {
            path: path.to_path_buf(),
            column: column.to_owned(),
            available: names.join(", "),
        });
    };
    let mut batches = source.batches(&[index])?;
    // Nothing in a list of names or numbers is a bad row: strict and lenient agree.
    let _ = options.lenient;
    let mut report = LoadReport::default();
    let mut tx = Transactions::default();
    let mut by_number = NumberIds::default();
    let mut rows = 0u64;
    while let Some((_, batch)) = batches.next_batch()? {
        let array = batch
            .column_by_name(column)
            .expect("the projection keeps the column");
        let lists = Lists::of(array, path, column)?;
        for row in 0..batch.num_rows() {
            rows += 1;
            let Some(range) = lists.range(row) else {
                report.null_baskets += 1;
                continue;
            };
            report.rows_read += 1;
            let mut basket = Vec::with_capacity(range.len());
            match &lists.values {
                ListValues::Int(ints) => {
                    for i in range {
                        if !ints.is_null(i) {
                            basket.push(by_number.intern_wide(ints.value(i), &mut tx.items));
                        }
                    }
                }
                ListValues::Text(text) => {
                    for i in range {
                        if let Some(name) = text.get(i) {
                            let name = name.trim();
                            if !name.is_empty() {
                                basket.push(tx.items.intern(name));
                            }
                        }
                    }
                }
            }
            tx.baskets.push(basket);
        }
    }
    if rows == 0 {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok((tx, report))
}
