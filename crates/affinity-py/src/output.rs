//! Building Arrow columns from mined ids: itemsets collected flat as the miner streams them,
//! then cut into record batches that stay within Arrow's 32-bit offsets.

use std::collections::TryReserveError;
use std::ops::Range;
use std::sync::Arc;

use affinity_core::InvalidSetting;
use affinity_mine::{ItemsetSink, MineError};
use arrow_array::builder::StringBuilder;
use arrow_array::{ArrayRef, Int32Array, Int64Array, ListArray};
use arrow_buffer::{OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field};

use crate::error::Result;
use crate::input::Items;

/// What one batch's list offsets and string offsets can address.
const OFFSET_LIMIT: usize = i32::MAX as usize;

/// What list columns hold: the caller's items, or ranks written as they are.
#[derive(Debug, Clone, Copy)]
pub enum Values<'a> {
    /// Ids mapped back to the caller's items.
    Items(&'a Items),
    /// Ids that are global frequency ranks, written as `int32`.
    Ranks,
}

impl Values<'_> {
    /// The element type of the list columns.
    pub fn data_type(&self) -> DataType {
        match self {
            Values::Items(Items::Strings(_)) => DataType::Utf8,
            Values::Items(Items::Ints(_)) => DataType::Int64,
            Values::Ranks => DataType::Int32,
        }
    }

    /// `list<element>`, with pyarrow's default (nullable) element field.
    pub fn list_type(&self) -> DataType {
        DataType::List(Arc::new(Field::new_list_field(self.data_type(), true)))
    }

    fn bytes(&self, id: u32) -> usize {
        match self {
            Values::Items(Items::Strings(names)) => names[id as usize].len(),
            _ => 0,
        }
    }

    fn array(&self, ids: &[u32]) -> ArrayRef {
        match self {
            Values::Items(Items::Strings(names)) => {
                let bytes = ids.iter().map(|&i| names[i as usize].len()).sum();
                let mut builder = StringBuilder::with_capacity(ids.len(), bytes);
                for &i in ids {
                    builder.append_value(&names[i as usize]);
                }
                Arc::new(builder.finish())
            }
            Values::Items(Items::Ints(values)) => Arc::new(Int64Array::from_iter_values(
                ids.iter().map(|&i| values[i as usize]),
            )),
            // Ranks come from int32 input or from the miner over such input.
            Values::Ranks => Arc::new(Int32Array::from_iter_values(ids.iter().map(|&i| i as i32))),
        }
    }
}

/// Lists of ids, one after the other.
#[derive(Debug, Default, Clone)]
pub struct Lists {
    ids: Vec<u32>,
    ends: Vec<usize>,
}

impl Lists {
    /// Appends one list.
    pub fn push(&mut self, items: &[u32]) {
        self.ids.extend_from_slice(items);
        self.ends.push(self.ids.len());
    }

    /// Lists held.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    fn span(&self, row: usize) -> Range<usize> {
        (if row == 0 { 0 } else { self.ends[row - 1] })..self.ends[row]
    }

    /// Appends one list, or fails (holding nothing more) where memory runs out.
    fn try_push(&mut self, items: &[u32]) -> Result<(), TryReserveError> {
        self.ids.try_reserve(items.len())?;
        self.ends.try_reserve(1)?;
        self.push(items);
        Ok(())
    }

    fn try_append(&mut self, other: Lists) -> Result<(), TryReserveError> {
        self.ids.try_reserve(other.ids.len())?;
        self.ends.try_reserve(other.ends.len())?;
        let base = self.ids.len();
        self.ids.extend(other.ids);
        self.ends.extend(other.ends.into_iter().map(|e| e + base));
        Ok(())
    }

    /// Replaces every id `i` by `f(i)`.
    pub fn map_ids(&mut self, f: impl Fn(u32) -> u32) {
        for id in &mut self.ids {
            *id = f(*id);
        }
    }

    /// Offsets and values needed by row `row`: (values, string bytes).
    fn cost(&self, row: usize, values: Values) -> (usize, usize) {
        let span = self.span(row);
        let bytes = self.ids[span.clone()]
            .iter()
            .map(|&i| values.bytes(i))
            .sum();
        (span.len(), bytes)
    }

    /// Rows `rows` as a `list<...>` column.
    pub fn column(&self, rows: Range<usize>, values: Values) -> Result<ArrayRef> {
        let start = if rows.start == 0 {
            0
        } else {
            self.ends[rows.start - 1]
        };
        let end = if rows.end == 0 {
            0
        } else {
            self.ends[rows.end - 1]
        };
        let offsets: Vec<i32> = std::iter::once(0)
            .chain(self.ends[rows].iter().map(|&e| (e - start) as i32))
            .collect();
        let field = Arc::new(Field::new_list_field(values.data_type(), true));
        let list = ListArray::try_new(
            field,
            OffsetBuffer::new(ScalarBuffer::from(offsets)),
            values.array(&self.ids[start..end]),
            None,
        )?;
        Ok(Arc::new(list))
    }
}

/// Splits `rows` rows into batches of at most `max_rows` rows whose list columns (each given
/// by `columns`) stay within 32-bit offsets.
pub fn batches(
    rows: usize,
    columns: &[&Lists],
    values: Values,
    max_rows: usize,
) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut used, mut bytes) = (0, 0, 0);
    for row in 0..rows {
        let (mut v, mut b) = (0, 0);
        for lists in columns {
            let (cv, cb) = lists.cost(row, values);
            v = v.max(cv);
            b = b.max(cb);
        }
        if row > start
            && (row - start == max_rows || used + v > OFFSET_LIMIT || bytes + b > OFFSET_LIMIT)
        {
            out.push(start..row);
            (start, used, bytes) = (row, 0, 0);
        }
        used += v;
        bytes += b;
    }
    if start < rows || out.is_empty() {
        out.push(start..rows);
    }
    out
}

/// Mined itemsets as columns: the miner streams into this, with no allocation per itemset.
#[derive(Debug, Default, Clone)]
pub struct ColumnSink {
    /// The itemsets' ids.
    pub lists: Lists,
    /// Their support counts.
    pub freq: Vec<i64>,
}

impl ColumnSink {
    /// The error of an allocation that failed while `self` held what it holds.
    fn out_of_memory(&self) -> MineError {
        MineError::OutOfMemory {
            what: "itemsets",
            held: self.freq.len(),
        }
    }
}

impl ItemsetSink for ColumnSink {
    type Part = ColumnSink;

    fn push(&mut self, items: &[u32], support: u64) -> affinity_mine::Result<()> {
        // A count is at most the total weight, which the inputs keep within i64 (Spark's
        // `long`): never saturated, an error if it ever were not.
        let freq = i64::try_from(support).map_err(|_| {
            InvalidSetting::new("weights", format!("a count of {support} passes 2^63 - 1"))
        })?;
        self.freq.try_reserve(1).map_err(|_| self.out_of_memory())?;
        self.lists
            .try_push(items)
            .map_err(|_| self.out_of_memory())?;
        self.freq.push(freq);
        Ok(())
    }

    fn part(&self) -> Self {
        ColumnSink::default()
    }

    fn absorb(&mut self, part: Self) -> affinity_mine::Result<()> {
        self.freq
            .try_reserve(part.freq.len())
            .map_err(|_| self.out_of_memory())?;
        self.lists
            .try_append(part.lists)
            .map_err(|_| self.out_of_memory())?;
        self.freq.extend(part.freq);
        Ok(())
    }
}
