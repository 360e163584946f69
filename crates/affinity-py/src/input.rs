//! Reading list columns (baskets, itemsets, prefixes) straight from Arrow buffers, and
//! interning their items to the dense `u32` ids the miner works on.

use std::borrow::Cow;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrayRef, GenericListArray, OffsetSizeTrait};
use arrow_schema::DataType;

use crate::error::{PyBindError, Result};
use crate::hash::FxHashMap;

/// The id given to an item a frozen interner has not seen.
pub const UNKNOWN: u32 = u32::MAX;

/// The caller's items, in the order their ids were given.
#[derive(Debug, Clone)]
pub enum Items {
    /// Strings (and the default when no item was seen).
    Strings(Vec<String>),
    /// Integers of any width, held as `i64`.
    Ints(Vec<i64>),
}

/// Interns items to ids 0, 1, ... in order of first appearance; once frozen, unseen items get
/// [`UNKNOWN`].
#[derive(Debug, Default)]
pub struct Interner {
    kind: Kind,
    frozen: bool,
}

#[derive(Debug, Default)]
enum Kind {
    #[default]
    Unset,
    Strings {
        map: FxHashMap<String, u32>,
        names: Vec<String>,
    },
    Ints {
        map: FxHashMap<i64, u32>,
        values: Vec<i64>,
    },
}

impl Interner {
    /// New items get no id any more.
    pub fn freeze(&mut self) {
        self.frozen = true;
    }

    /// Distinct items interned.
    pub fn len(&self) -> usize {
        match &self.kind {
            Kind::Unset => 0,
            Kind::Strings { names, .. } => names.len(),
            Kind::Ints { values, .. } => values.len(),
        }
    }

    /// The item of `id` as the caller would write it (strings quoted), for messages.
    pub fn describe(&self, id: u32) -> String {
        match &self.kind {
            Kind::Strings { names, .. } => format!("{:?}", names[id as usize]),
            Kind::Ints { values, .. } => values[id as usize].to_string(),
            Kind::Unset => id.to_string(),
        }
    }

    /// The interned items, by id.
    pub fn into_items(self) -> Items {
        match self.kind {
            Kind::Unset => Items::Strings(Vec::new()),
            Kind::Strings { names, .. } => Items::Strings(names),
            Kind::Ints { values, .. } => Items::Ints(values),
        }
    }

    /// Makes sure this interner holds strings (`true`) or integers, naming `argument` if the
    /// items seen so far were of the other kind.
    fn expect(&mut self, strings: bool, argument: &'static str) -> Result<()> {
        match (&self.kind, strings) {
            (Kind::Unset, true) => {
                self.kind = Kind::Strings {
                    map: FxHashMap::default(),
                    names: Vec::new(),
                }
            }
            (Kind::Unset, false) => {
                self.kind = Kind::Ints {
                    map: FxHashMap::default(),
                    values: Vec::new(),
                }
            }
            (Kind::Strings { .. }, true) | (Kind::Ints { .. }, false) => {}
            (_, _) => {
                return Err(PyBindError::BadInput {
                    argument,
                    reason: format!(
                        "items are {} here but {} before: use one kind of item",
                        if strings { "strings" } else { "integers" },
                        if strings { "integers" } else { "strings" },
                    ),
                })
            }
        }
        Ok(())
    }

    #[inline]
    fn str_id(&mut self, item: &str) -> u32 {
        let Kind::Strings { map, names } = &mut self.kind else {
            unreachable!("checked by expect")
        };
        if let Some(&id) = map.get(item) {
            return id;
        }
        if self.frozen {
            return UNKNOWN;
        }
        let id = names.len() as u32;
        map.insert(item.to_owned(), id);
        names.push(item.to_owned());
        id
    }

    #[inline]
    fn int_id(&mut self, item: i64) -> u32 {
        let Kind::Ints { map, values } = &mut self.kind else {
            unreachable!("checked by expect")
        };
        if let Some(&id) = map.get(&item) {
            return id;
        }
        if self.frozen {
            return UNKNOWN;
        }
        let id = values.len() as u32;
        map.insert(item, id);
        values.push(item);
        id
    }
}

/// Calls `row(index, items)` for every row of the list chunks `chunks` (`None` for a null
/// row), with the items interned by `interner`; `index` counts across chunks. Fails on
/// anything but a list (or large list) of strings or integers, and on a null item.
pub fn for_each_row(
    chunks: &[ArrayRef],
    argument: &'static str,
    interner: &mut Interner,
    mut row: impl FnMut(usize, Option<&[u32]>) -> Result<()>,
) -> Result<()> {
    let mut first = 0;
    let mut buffer = Vec::new();
    for chunk in chunks {
        match chunk.data_type() {
            DataType::List(_) => rows(
                chunk.as_list::<i32>(),
                first,
                argument,
                interner,
                &mut buffer,
                &mut row,
            )?,
            DataType::LargeList(_) => rows(
                chunk.as_list::<i64>(),
                first,
                argument,
                interner,
                &mut buffer,
                &mut row,
            )?,
            other => {
                return Err(PyBindError::BadInput {
                    argument,
                    reason: format!("expected a list of strings or integers, found {other}"),
                })
            }
        }
        first += chunk.len();
    }
    Ok(())
}

fn rows<O: OffsetSizeTrait>(
    list: &GenericListArray<O>,
    first: usize,
    argument: &'static str,
    interner: &mut Interner,
    buffer: &mut Vec<u32>,
    row: &mut impl FnMut(usize, Option<&[u32]>) -> Result<()>,
) -> Result<()> {
    let values = list.values();
    let offsets = list.value_offsets();
    let null_item = |r: usize| PyBindError::BadRow {
        argument,
        row: r,
        reason: "holds a null item".into(),
    };
    // One lookup closure per item type: the type is matched once per chunk, not per item.
    let mut each = |lookup: &mut dyn FnMut(usize) -> u32| -> Result<()> {
        for i in 0..list.len() {
            if list.is_null(i) {
                row(first + i, None)?;
                continue;
            }
            let range = offsets[i].as_usize()..offsets[i + 1].as_usize();
            if values
                .nulls()
                .is_some_and(|n| range.clone().any(|j| n.is_null(j)))
            {
                return Err(null_item(first + i));
            }
            buffer.clear();
            buffer.extend(range.map(&mut *lookup));
            row(first + i, Some(buffer))?;
        }
        Ok(())
    };
    match values.data_type() {
        DataType::Utf8 => {
            interner.expect(true, argument)?;
            let strings = values.as_string::<i32>();
            each(&mut |j| interner.str_id(strings.value(j)))
        }
        DataType::LargeUtf8 => {
            interner.expect(true, argument)?;
            let strings = values.as_string::<i64>();
            each(&mut |j| interner.str_id(strings.value(j)))
        }
        DataType::Utf8View => {
            interner.expect(true, argument)?;
            let strings = values.as_string_view();
            each(&mut |j| interner.str_id(strings.value(j)))
        }
        // A list of nothing but nulls (pyarrow's type for `[[], []]`): fine while empty.
        DataType::Null => {
            let full =
                (0..list.len()).find(|&i| !list.is_null(i) && list.value_length(i).as_usize() > 0);
            match full {
                Some(i) => Err(null_item(first + i)),
                None => each(&mut |_| UNKNOWN),
            }
        }
        other => match int_values(values, argument)? {
            Some(ints) => {
                interner.expect(false, argument)?;
                each(&mut |j| interner.int_id(ints[j]))
            }
            None => Err(PyBindError::BadInput {
                argument,
                reason: format!("items must be strings or integers, found {other}"),
            }),
        },
    }
}

/// The values of an integer array as `i64` (borrowed when they already are), `None` for any
/// other type; an unsigned 64-bit value above `i64::MAX` is an error.
pub fn int_values<'a>(
    values: &'a ArrayRef,
    argument: &'static str,
) -> Result<Option<Cow<'a, [i64]>>> {
    fn widen<T: Copy + Into<i64>>(v: &[T]) -> Cow<'static, [i64]> {
        Cow::Owned(v.iter().map(|&x| x.into()).collect())
    }
    Ok(Some(match values.data_type() {
        DataType::Int64 => Cow::Borrowed(values.as_primitive::<Int64Type>().values().as_ref()),
        DataType::Int32 => widen(values.as_primitive::<Int32Type>().values()),
        DataType::Int16 => widen(values.as_primitive::<Int16Type>().values()),
        DataType::Int8 => widen(values.as_primitive::<Int8Type>().values()),
        DataType::UInt32 => widen(values.as_primitive::<UInt32Type>().values()),
        DataType::UInt16 => widen(values.as_primitive::<UInt16Type>().values()),
        DataType::UInt8 => widen(values.as_primitive::<UInt8Type>().values()),
        DataType::UInt64 => {
            let array = values.as_primitive::<UInt64Type>();
            let mut out = Vec::with_capacity(array.len());
            for (j, &v) in array.values().iter().enumerate() {
                // Slots under a null may hold anything.
                let v = if array.is_null(j) { 0 } else { v };
                out.push(i64::try_from(v).map_err(|_| PyBindError::BadInput {
                    argument,
                    reason: format!("item {v} does not fit in a signed 64-bit integer"),
                })?);
            }
            Cow::Owned(out)
        }
        _ => return Ok(None),
    }))
}

/// Interns the items of flat arrays `chunks` in order, so that the i-th item gets id i (its
/// rank); a repeated or null item is an error.
pub fn intern_in_order(
    chunks: &[ArrayRef],
    argument: &'static str,
    interner: &mut Interner,
) -> Result<()> {
    let mut row = 0;
    for chunk in chunks {
        if let Some(j) = (0..chunk.len()).find(|&j| chunk.is_null(j)) {
            return Err(PyBindError::BadRow {
                argument,
                row: row + j,
                reason: "is null".into(),
            });
        }
        let check = |id: u32, j: usize, interner: &Interner| {
            if id as usize == row + j {
                Ok(())
            } else {
                Err(PyBindError::BadRow {
                    argument,
                    row: row + j,
                    reason: format!("repeats item {} of row {id}", interner.describe(id)),
                })
            }
        };
        match chunk.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                interner.expect(true, argument)?;
                for j in 0..chunk.len() {
                    let item = match chunk.data_type() {
                        DataType::Utf8 => chunk.as_string::<i32>().value(j),
                        DataType::LargeUtf8 => chunk.as_string::<i64>().value(j),
                        _ => chunk.as_string_view().value(j),
                    };
                    let id = interner.str_id(item);
                    check(id, j, interner)?;
                }
            }
            other => {
                let Some(ints) = int_values(chunk, argument)? else {
                    return Err(PyBindError::BadInput {
                        argument,
                        reason: format!("items must be strings or integers, found {other}"),
                    });
                };
                interner.expect(false, argument)?;
                for (j, &item) in ints.iter().enumerate() {
                    let id = interner.int_id(item);
                    check(id, j, interner)?;
                }
            }
        }
        row += chunk.len();
    }
    Ok(())
}

/// Lists of non-negative `int32`-sized integers (ranks, indices) taken as ids as they are, one
/// list per row; a null item is an error, and so is a null row unless `null_is_empty`.
pub fn rank_rows(
    chunks: &[ArrayRef],
    argument: &'static str,
    null_is_empty: bool,
) -> Result<Vec<Vec<u32>>> {
    let mut out = Vec::new();
    for chunk in chunks {
        match chunk.data_type() {
            DataType::List(_) => {
                rank_list(chunk.as_list::<i32>(), argument, null_is_empty, &mut out)?
            }
            DataType::LargeList(_) => {
                rank_list(chunk.as_list::<i64>(), argument, null_is_empty, &mut out)?
            }
            other => {
                return Err(PyBindError::BadInput {
                    argument,
                    reason: format!("expected a list of integers, found {other}"),
                })
            }
        }
    }
    Ok(out)
}

fn rank_list<O: OffsetSizeTrait>(
    list: &GenericListArray<O>,
    argument: &'static str,
    null_is_empty: bool,
    out: &mut Vec<Vec<u32>>,
) -> Result<()> {
    let values = list.values();
    let bad = |row: usize, reason: String| PyBindError::BadRow {
        argument,
        row,
        reason,
    };
    let ints = match (values.data_type(), int_values(values, argument)?) {
        (_, Some(ints)) => ints,
        (DataType::Null, None) => Cow::Owned(vec![0; values.len()]),
        (other, None) => {
            return Err(PyBindError::BadInput {
                argument,
                reason: format!("items must be integers, found {other}"),
            })
        }
    };
    let offsets = list.value_offsets();
    for i in 0..list.len() {
        let row = out.len();
        if list.is_null(i) {
            if !null_is_empty {
                return Err(bad(row, "is null".into()));
            }
            out.push(Vec::new());
            continue;
        }
        let range = offsets[i].as_usize()..offsets[i + 1].as_usize();
        if values.data_type() == &DataType::Null && !range.is_empty()
            || values
                .nulls()
                .is_some_and(|n| range.clone().any(|j| n.is_null(j)))
        {
            return Err(bad(row, "holds a null item".into()));
        }
        let ranks = ints[range]
            .iter()
            .map(|&v| {
                u32::try_from(v)
                    .ok()
                    .filter(|&r| r <= i32::MAX as u32)
                    .ok_or_else(|| bad(row, format!("{v} is outside [0, 2^31)")))
            })
            .collect::<Result<Vec<u32>>>()?;
        out.push(ranks);
    }
    Ok(())
}

/// Integers of flat arrays `chunks`, all non-null, as `i64`.
pub fn flat_ints(chunks: &[ArrayRef], argument: &'static str) -> Result<Vec<i64>> {
    let mut out = Vec::new();
    for chunk in chunks {
        if let Some(j) = (0..chunk.len()).find(|&j| chunk.is_null(j)) {
            return Err(PyBindError::BadRow {
                argument,
                row: out.len() + j,
                reason: "is null".into(),
            });
        }
        match int_values(chunk, argument)? {
            Some(ints) => out.extend_from_slice(&ints),
            None => {
                return Err(PyBindError::BadInput {
                    argument,
                    reason: format!("expected integers, found {}", chunk.data_type()),
                })
            }
        }
    }
    Ok(out)
}
