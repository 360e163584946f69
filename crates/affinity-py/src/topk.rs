//! `affinity.top_k`: exact top-k of queries against an item matrix, through
//! `affinity_rank::ItemIndex`, padded to `k` columns.

use affinity_rank::{ItemIndex, Metric};
use arrow_array::cast::AsArray;
use arrow_array::types::Float32Type;
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;
use ndarray::ArrayView2;

use crate::error::{filled, PyBindError, Result};
use crate::input::rank_rows;

/// A row-major float32 matrix handed over as one flat Arrow array.
#[derive(Debug, Clone, Copy)]
pub struct Matrix<'a> {
    /// The values, row after row.
    pub values: &'a ArrayRef,
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
}

impl<'a> Matrix<'a> {
    fn view(&self, argument: &'static str) -> Result<ArrayView2<'a, f32>> {
        if self.values.data_type() != &DataType::Float32 || self.values.null_count() > 0 {
            return Err(PyBindError::BadInput {
                argument,
                reason: format!(
                    "expected float32 values without nulls, found {}",
                    self.values.data_type()
                ),
            });
        }
        let flat: &'a [f32] = self.values.as_primitive::<Float32Type>().values();
        ArrayView2::from_shape((self.rows, self.cols), flat).map_err(|_| PyBindError::BadInput {
            argument,
            reason: format!(
                "{} values do not make a {} x {} matrix",
                flat.len(),
                self.rows,
                self.cols
            ),
        })
    }
}

/// Which items a row's list may hold, given the row's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Anything not excluded.
    Mixed,
    /// Nothing of the history.
    Discover,
    /// Only the history.
    BuyAgain,
}

/// The best `k` items of `vectors` for each row of `queries`, leaving out the items of row
/// `row` of the `exclude` lists (a null row excludes nothing) and, by `mode`, the row's
/// `history` (discover) or everything but it (buy again): (indices, scores), row-major
/// `queries.rows x k`, padded with -1 and NaN where fewer than `k` items remain. `k` is at most
/// the number of items (checked by [`crate::settings::top_k`]).
#[allow(clippy::too_many_arguments)] // one call of the Python function's arguments
pub fn top_k(
    vectors: Matrix,
    queries: Matrix,
    k: usize,
    exclude: Option<&[ArrayRef]>,
    history: Option<&[ArrayRef]>,
    mode: Mode,
    metric: Metric,
    threads: usize,
) -> Result<(Vec<i64>, Vec<f32>)> {
    let items = vectors.view("vectors")?;
    let queries = queries.view("queries")?;
    let mut exclude = match exclude {
        Some(chunks) => rank_rows(chunks, "exclude", true)?,
        None => Vec::new(),
    };
    let history = match (history, mode) {
        (Some(chunks), _) => rank_rows(chunks, "history", true)?,
        (None, Mode::Mixed) => Vec::new(),
        (None, _) => {
            return Err(PyBindError::BadInput {
                argument: "history",
                reason: "discover and buy-again lists need each row's history".into(),
            })
        }
    };
    if mode != Mode::Mixed {
        if history.len() != queries.nrows() {
            return Err(PyBindError::BadInput {
                argument: "history",
                reason: format!("{} rows for {} queries", history.len(), queries.nrows()),
            });
        }
        exclude.resize(queries.nrows(), Vec::new());
        for (row, bought) in history.iter().enumerate() {
            match mode {
                Mode::Discover => exclude[row].extend_from_slice(bought),
                Mode::BuyAgain => {
                    let n = items.nrows();
                    let mut held = vec![false; n];
                    for &i in bought.iter().filter(|&&i| (i as usize) < n) {
                        held[i as usize] = true;
                    }
                    exclude[row].extend((0..items.nrows() as u32).filter(|&i| !held[i as usize]));
                }
                Mode::Mixed => {}
            }
        }
    }
    if let Some((row, &item)) = exclude.iter().enumerate().find_map(|(row, list)| {
        list.iter()
            .find(|&&i| i as usize >= items.nrows())
            .map(|i| (row, i))
    }) {
        return Err(PyBindError::BadRow {
            argument: "exclude",
            row,
            reason: format!(
                "item {item} is out of range (the index has {} items)",
                items.nrows()
            ),
        });
    }
    // `k` is at most the catalogue, so the output is at most the queries times the items;
    // still an allocation that may fail, which is a MemoryError (before any search).
    let cells = queries.nrows().checked_mul(k);
    let doing = || format!("for {} x {k} results", queries.nrows());
    let advice = "rank fewer queries at a time, or ask for a smaller k";
    let mut indices = filled(cells, -1i64, doing, advice)?;
    let mut scores = filled(cells, f32::NAN, doing, advice)?;
    // The index owns its vectors: cosine normalises them in place.
    let index = ItemIndex::new(items.to_owned(), metric)?.with_threads(threads);
    let found = index.search_batch(queries, k, &exclude)?;
    for (row, best) in found.iter().enumerate() {
        for (col, scored) in best.iter().enumerate() {
            indices[row * k + col] = i64::from(scored.item);
            scores[row * k + col] = scored.score;
        }
    }
    Ok((indices, scores))
}
