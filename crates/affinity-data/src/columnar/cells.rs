//! Typed access to one column of a record batch, for each role a column can play: text (ids,
//! names, event kinds), times, weights and item lists. Each reader is built once per batch and
//! says which Arrow types its role accepts when the column has another.

use crate::error::{DataError, Result};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Int16Type, Int32Type, Int64Type, Int8Type, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type,
    UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrayRef, PrimitiveArray};
use arrow_schema::{DataType, TimeUnit};
use std::borrow::Cow;
use std::path::Path;

/// The types a text role (user, item, order, event, title, category) accepts.
pub(super) const TEXT_TYPES: &str =
    "a string (utf8, large_utf8, utf8_view), an integer, or a dictionary of strings";
/// The types the time role accepts.
pub(super) const TIME_TYPES: &str = "a timestamp, a date (date32, date64), an integer (Unix \
                                     seconds, or milliseconds as --time-format says) or a string \
                                     (parsed like a CSV time)";
/// The types the weight role accepts.
pub(super) const WEIGHT_TYPES: &str = "a float, an integer or a string";
/// The types a basket column accepts.
pub(super) const ITEMS_TYPES: &str = "a list (list or large_list) of strings or of integers, \
                                      e.g. list<string> (Spark's array<string>) or list<int32>";

/// The error for a column of type `found` in a role that takes `accepted`.
pub(super) fn wrong_type(
    path: &Path,
    column: &str,
    found: &DataType,
    accepted: &'static str,
) -> DataError {
    DataError::WrongColumnType {
        path: path.to_path_buf(),
        column: column.to_owned(),
        found: found.to_string(),
        accepted,
    }
}

macro_rules! int_arrays {
    ($($variant:ident($ty:ty)),*) => {
        /// An integer column of any width and sign.
        #[derive(Clone, Copy)]
        pub(super) enum Ints<'a> {
            $($variant(&'a PrimitiveArray<$ty>)),*
        }

        impl<'a> Ints<'a> {
            pub fn new(array: &'a dyn Array) -> Option<Self> {
                $(if let Some(a) = array.as_primitive_opt::<$ty>() {
                    return Some(Ints::$variant(a));
                })*
                None
            }

            /// The value at `row` (not null), widened.
            pub fn value(&self, row: usize) -> i128 {
                match self {
                    $(Ints::$variant(a) => i128::from(a.value(row))),*
                }
            }

            pub fn is_null(&self, row: usize) -> bool {
                match self {
                    $(Ints::$variant(a) => a.is_null(row)),*
                }
            }
        }
    };
}

int_arrays!(
    I8(Int8Type),
    I16(Int16Type),
    I32(Int32Type),
    I64(Int64Type),
    U8(UInt8Type),
    U16(UInt16Type),
    U32(UInt32Type),
    U64(UInt64Type)
);

/// A column read as text: strings as they are, integers in decimal.
pub(super) enum Text<'a> {
    Utf8(&'a arrow_array::StringArray),
    Large(&'a arrow_array::LargeStringArray),
    View(&'a arrow_array::StringViewArray),
    Int(Ints<'a>),
    /// Keys resolved to value indices; the values' own reader.
    Dict(&'a dyn Array, Vec<usize>, Box<Text<'a>>),
}

impl<'a> Text<'a> {
    /// The reader for `array`, or `None` when its type is not text-like.
    pub fn new(array: &'a dyn Array) -> Option<Self> {
        Some(match array.data_type() {
            DataType::Utf8 => Text::Utf8(array.as_string::<i32>()),
            DataType::LargeUtf8 => Text::Large(array.as_string::<i64>()),
            DataType::Utf8View => Text::View(array.as_string_view()),
            DataType::Dictionary(_, _) => {
                let dict = array.as_any_dictionary();
                let values = Text::new(dict.values().as_ref())?;
                // normalized_keys panics on an empty dictionary, whose keys are all null.
                let keys = if dict.values().is_empty() {
                    vec![0; array.len()]
                } else {
                    dict.normalized_keys()
                };
                Text::Dict(dict.keys(), keys, Box::new(values))
            }
            _ => Text::Int(Ints::new(array)?),
        })
    }

    /// The reader for column `column` of `path`, or the error saying what it accepts.
    pub fn of(array: &'a ArrayRef, path: &Path, column: &str) -> Result<Self> {
        Text::new(array.as_ref())
            .ok_or_else(|| wrong_type(path, column, array.data_type(), TEXT_TYPES))
    }

    /// The text at `row`, `None` when null.
    pub fn get(&self, row: usize) -> Option<Cow<'a, str>> {
        match self {
            Text::Utf8(a) => a.is_valid(row).then(|| Cow::Borrowed(a.value(row))),
            Text::Large(a) => a.is_valid(row).then(|| Cow::Borrowed(a.value(row))),
            Text::View(a) => a.is_valid(row).then(|| Cow::Borrowed(a.value(row))),
            Text::Int(a) => (!a.is_null(row)).then(|| Cow::Owned(a.value(row).to_string())),
            Text::Dict(keys, index, values) => {
                if keys.is_null(row) {
                    None
                } else {
                    values.get(index[row])
                }
            }
        }
    }
}

/// A time column: seconds since the epoch, or the text to parse.
pub(super) enum Time<'a> {
    /// Integers scaled to seconds by a divisor (timestamps of any unit, date64 in ms).
    Scaled(&'a dyn Array, Ints64<'a>, i64),
    Days(&'a PrimitiveArray<Date32Type>),
    /// Plain integers, read as the time format says.
    Int(Ints<'a>),
    Text(Text<'a>),
}

/// An `i64` column of one of the timestamp types or date64.
#[derive(Clone, Copy)]
pub(super) enum Ints64<'a> {
    S(&'a PrimitiveArray<TimestampSecondType>),
    Ms(&'a PrimitiveArray<TimestampMillisecondType>),
    Us(&'a PrimitiveArray<TimestampMicrosecondType>),
    Ns(&'a PrimitiveArray<TimestampNanosecondType>),
    Date(&'a PrimitiveArray<Date64Type>),
}

impl Ints64<'_> {
    fn value(&self, row: usize) -> i64 {
        match self {
            Ints64::S(a) => a.value(row),
            Ints64::Ms(a) => a.value(row),
            Ints64::Us(a) => a.value(row),
            Ints64::Ns(a) => a.value(row),
            Ints64::Date(a) => a.value(row),
        }
    }
}

/// A time value as read: seconds, an integer for the time format to place, or text.
pub(super) enum TimeValue<'a> {
    Seconds(i64),
    Int(i128),
    Text(Cow<'a, str>),
}

impl<'a> Time<'a> {
    /// The reader for column `column` of `path`.
    pub fn of(array: &'a ArrayRef, path: &Path, column: &str) -> Result<Self> {
        let a = array.as_ref();
        let scaled = |ints, divisor| Ok(Time::Scaled(a, ints, divisor));
        match array.data_type() {
            // Time zones only say how to show a timestamp: the value is UTC already.
            DataType::Timestamp(TimeUnit::Second, _) => scaled(Ints64::S(a.as_primitive()), 1),
            DataType::Timestamp(TimeUnit::Millisecond, _) => {
                scaled(Ints64::Ms(a.as_primitive()), 1_000)
            }
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                scaled(Ints64::Us(a.as_primitive()), 1_000_000)
            }
            DataType::Timestamp(TimeUnit::Nanosecond, _) => {
                scaled(Ints64::Ns(a.as_primitive()), 1_000_000_000)
            }
            DataType::Date64 => scaled(Ints64::Date(a.as_primitive()), 1_000),
            DataType::Date32 => Ok(Time::Days(a.as_primitive())),
            _ => {
                if let Some(ints) = Ints::new(a) {
                    return Ok(Time::Int(ints));
                }
                Text::new(a)
                    .map(Time::Text)
                    .ok_or_else(|| wrong_type(path, column, array.data_type(), TIME_TYPES))
            }
        }
    }

    /// The value at `row`, `None` when null.
    pub fn get(&self, row: usize) -> Option<TimeValue<'a>> {
        match self {
            Time::Scaled(a, ints, divisor) => a
                .is_valid(row)
                .then(|| TimeValue::Seconds(ints.value(row).div_euclid(*divisor))),
            Time::Days(a) => a
                .is_valid(row)
                .then(|| TimeValue::Seconds(i64::from(a.value(row)) * 86_400)),
            Time::Int(a) => (!a.is_null(row)).then(|| TimeValue::Int(a.value(row))),
            Time::Text(t) => t.get(row).map(TimeValue::Text),
        }
    }
}

/// A weight column.
pub(super) enum Weight<'a> {
    F32(&'a PrimitiveArray<arrow_array::types::Float32Type>),
    F64(&'a PrimitiveArray<arrow_array::types::Float64Type>),
    Int(Ints<'a>),
    Text(Text<'a>),
}

/// A weight as read: a number, or text to parse.
pub(super) enum WeightValue<'a> {
    Number(f64),
    Text(Cow<'a, str>),
}

impl<'a> Weight<'a> {
    /// The reader for column `column` of `path`.
    pub fn of(array: &'a ArrayRef, path: &Path, column: &str) -> Result<Self> {
        let a = array.as_ref();
        Ok(match array.data_type() {
            DataType::Float32 => Weight::F32(a.as_primitive()),
            DataType::Float64 => Weight::F64(a.as_primitive()),
            _ => match Ints::new(a) {
                Some(ints) => Weight::Int(ints),
                None => Weight::Text(
                    Text::new(a)
                        .filter(|t| !matches!(t, Text::Int(_)))
                        .ok_or_else(|| wrong_type(path, column, a.data_type(), WEIGHT_TYPES))?,
                ),
            },
        })
    }

    /// The value at `row`, `None` when null.
    pub fn get(&self, row: usize) -> Option<WeightValue<'a>> {
        match self {
            Weight::F32(a) => a
                .is_valid(row)
                .then(|| WeightValue::Number(f64::from(a.value(row)))),
            Weight::F64(a) => a.is_valid(row).then(|| WeightValue::Number(a.value(row))),
            Weight::Int(a) => (!a.is_null(row)).then(|| WeightValue::Number(a.value(row) as f64)),
            Weight::Text(t) => t.get(row).map(WeightValue::Text),
        }
    }
}

/// A basket column: a list of strings or integers per row.
pub(super) struct Lists<'a> {
    list: &'a dyn Array,
    /// Where each row's items start and end in `values` (`offsets[row]..offsets[row + 1]`).
    offsets: Vec<usize>,
    pub values: ListValues<'a>,
}

/// The items of every basket of a batch, end to end.
pub(super) enum ListValues<'a> {
    /// Integers (FIMI-style item ids).
    Int(Ints<'a>),
    Text(Text<'a>),
}

impl<'a> Lists<'a> {
    /// The reader for column `column` of `path`.
    pub fn of(array: &'a ArrayRef, path: &Path, column: &str) -> Result<Self> {
        let a = array.as_ref();
        let wrong = || wrong_type(path, column, a.data_type(), ITEMS_TYPES);
        let (offsets, values): (Vec<usize>, &ArrayRef) = match a.data_type() {
            DataType::List(_) => {
                let list = a.as_list::<i32>();
                let offsets = list.value_offsets().iter().map(|&o| o as usize).collect();
                (offsets, list.values())
            }
            DataType::LargeList(_) => {
                let list = a.as_list::<i64>();
                let offsets = list.value_offsets().iter().map(|&o| o as usize).collect();
                (offsets, list.values())
            }
            _ => return Err(wrong()),
        };
        let values = match Ints::new(values.as_ref()) {
            Some(ints) => ListValues::Int(ints),
            None => ListValues::Text(Text::new(values.as_ref()).ok_or_else(wrong)?),
        };
        Ok(Lists {
            list: a,
            offsets,
            values,
        })
    }

    /// The range of `values` holding row `row`'s items, `None` when the basket is null.
    pub fn range(&self, row: usize) -> Option<std::ops::Range<usize>> {
        self.list
            .is_valid(row)
            .then(|| self.offsets[row]..self.offsets[row + 1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn dictionaries_and_integers_read_as_text() {
        let dict: ArrayRef = Arc::new(
            vec![Some("milk"), None, Some("bread"), Some("milk")]
                .into_iter()
                .collect::<arrow_array::DictionaryArray<Int32Type>>(),
        );
        let text = Text::new(dict.as_ref()).unwrap();
        let got: Vec<_> = (0..4)
            .map(|r| text.get(r).map(|c| c.into_owned()))
            .collect();
        assert_eq!(
            got,
            [
                Some("milk".into()),
                None,
                Some("bread".into()),
                Some("milk".into())
            ]
        );
        let ints: ArrayRef = Arc::new(arrow_array::UInt64Array::from(vec![Some(u64::MAX), None]));
        let text = Text::new(ints.as_ref()).unwrap();
        assert_eq!(text.get(0).as_deref(), Some("18446744073709551615"));
        assert_eq!(text.get(1), None);
        let floats: ArrayRef = Arc::new(arrow_array::Float64Array::from(vec![1.5]));
        assert!(Text::new(floats.as_ref()).is_none());
    }
}
