//! Long tables: one event per row, the columns chosen as in a long CSV.

use super::cells::{Text, Time, TimeValue, Weight, WeightValue};
use super::source::Source;
use super::Container;
use crate::error::{DataError, Result, RowFault};
use crate::load::events::{Event, Events};
use crate::load::{resolve_columns, LoadOptions, LoadReport, LongCsv, RowGuard};
use crate::model::{Dataset, EventKind};
use crate::time::{parse_timestamp, TimeFormat};
use arrow_array::ArrayRef;
use std::borrow::Cow;
use std::path::Path;

/// Loads a long table of events from a Parquet or Arrow IPC file.
///
/// Values are read as the long CSV loader reads their text, and a row that the CSV loader
/// would refuse is refused here, naming the row (1-based) and the column: a null user or item
/// is an empty field, a null time a bad timestamp, a null event kind a bad one; a null weight
/// is 1 and a null order no order. Repeated events are dropped and counted as in a CSV.
pub fn load_long_table(
    path: &Path,
    container: Container,
    spec: &LongCsv,
    options: &LoadOptions,
) -> Result<(Dataset, LoadReport)> {
    let source = Source::open(path, container)?;
    let names = source.names();
    let columns = resolve_columns(path, &names, spec)?;
    let wanted: Vec<usize> = columns.iter().flatten().copied().collect();
    let mut batches = source.batches(&wanted)?;
    let mut guard = RowGuard::new(path, options);
    let mut events = Events::new(options.pseudonymize_key.as_ref());
    while let Some((first, batch)) = batches.next_batch()? {
        // Projection keeps the names: look each column up in the batch by name.
        let arrays: Vec<Option<(&ArrayRef, &str)>> = columns
            .iter()
            .map(|c| {
                c.and_then(|c| {
                    let name = names[c].as_str();
                    batch.column_by_name(name).map(|a| (a, name))
                })
            })
            .collect();
        let batch_reader = BatchReader::new(path, &arrays)?;
        for row in 0..batch.num_rows() {
            guard.report.rows_read += 1;
            batch_reader.row(row, first + row as u64 + 1, spec, &mut guard, &mut events)?;
        }
    }
    if guard.report.rows_read == 0 {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok((events.finish(), guard.report))
}

/// The readers of one batch's columns, by role.
struct BatchReader<'a> {
    user: (Text<'a>, &'a str),
    item: (Text<'a>, &'a str),
    time: Option<(Time<'a>, &'a str)>,
    event: Option<(Text<'a>, &'a str)>,
    weight: Option<(Weight<'a>, &'a str)>,
    order: Option<Text<'a>>,
    title: Option<Text<'a>>,
    category: Option<Text<'a>>,
}

impl<'a> BatchReader<'a> {
    fn new(path: &Path, arrays: &[Option<(&'a ArrayRef, &'a str)>]) -> Result<Self> {
        let text = |slot: usize| -> Result<Option<(Text<'a>, &'a str)>> {
            arrays[slot]
                .map(|(a, name)| Ok((Text::of(a, path, name)?, name)))
                .transpose()
        };
        let required = |slot: usize| -> Result<(Text<'a>, &'a str)> {
            Ok(text(slot)?.expect("resolve_columns requires user and item"))
        };
        Ok(BatchReader {
            user: required(0)?,
            item: required(1)?,
            time: arrays[2]
                .map(|(a, name)| Ok::<_, DataError>((Time::of(a, path, name)?, name)))
                .transpose()?,
            event: text(3)?,
            weight: arrays[4]
                .map(|(a, name)| Ok::<_, DataError>((Weight::of(a, path, name)?, name)))
                .transpose()?,
            order: text(5)?.map(|t| t.0),
            title: text(6)?.map(|t| t.0),
            category: text(7)?.map(|t| t.0),
        })
    }

    /// Reads row `row` of the batch (`number`: 1-based in the file) into `events`, or
    /// reports it to `guard`.
    fn row(
        &self,
        row: usize,
        number: u64,
        spec: &LongCsv,
        guard: &mut RowGuard<'_>,
        events: &mut Events<'_>,
    ) -> Result<()> {
        let trimmed = |text: Option<Cow<'a, str>>| text.map(|t| trim_cow(t));
        let user = trimmed(self.user.0.get(row)).filter(|u| !u.is_empty());
        let item = trimmed(self.item.0.get(row)).filter(|i| !i.is_empty());
        let (Some(user), Some(item)) = (user, item) else {
            let (which, column) = match self.user.0.get(row) {
                Some(u) if !u.trim().is_empty() => ("item", self.item.1),
                _ => ("user", self.user.1),
            };
            return guard.cell_fault(
                number,
                column,
                RowFault::EmptyField,
                format!("null or empty {which} id"),
            );
        };
        let timestamp = match &self.time {
            None => 0,
            Some((time, column)) => match seconds(time.get(row), spec.time_format) {
                Ok(t) => t,
                Err(detail) => {
                    return guard.cell_fault(number, column, RowFault::BadTimestamp, detail)
                }
            },
        };
        let kind = match &self.event {
            None => spec.default_kind,
            Some((text, column)) => {
                let value = text.get(row);
                match value.as_deref().and_then(EventKind::parse) {
                    Some(kind) => kind,
                    None => {
                        let detail = match value {
                            Some(v) => format!("{v:?}"),
                            None => "null".into(),
                        };
                        return guard.cell_fault(number, column, RowFault::BadEventKind, detail);
                    }
                }
            }
        };
        let weight = match &self.weight {
            None => 1.0,
            Some((weight, column)) => match weight_of(weight.get(row)) {
                Ok(w) => w,
                Err(detail) => {
                    return guard.cell_fault(number, column, RowFault::BadNumber, detail)
                }
            },
        };
        let text = |col: &Option<Text<'a>>| col.as_ref().and_then(|t| trimmed(t.get(row)));
        let (order, title, category) = (text(&self.order), text(&self.title), text(&self.category));
        let event = Event {
            user: &user,
            item: &item,
            timestamp,
            kind,
            weight,
            order: order.as_deref().filter(|o| !o.is_empty()),
            title: title.as_deref(),
            category: category.as_deref(),
        };
        events.push(event, &mut guard.report);
        Ok(())
    }
}

/// `text` without surrounding white space, borrowed where it was.
fn trim_cow(text: Cow<'_, str>) -> Cow<'_, str> {
    match text {
        Cow::Borrowed(t) => Cow::Borrowed(t.trim()),
        Cow::Owned(t) if t.trim().len() == t.len() => Cow::Owned(t),
        Cow::Owned(t) => Cow::Owned(t.trim().to_owned()),
    }
}

/// Seconds since the epoch of a time value, or what is wrong with it.
fn seconds(value: Option<TimeValue<'_>>, format: TimeFormat) -> std::result::Result<i64, String> {
    match value {
        None => Err("null time".into()),
        Some(TimeValue::Seconds(s)) => Ok(s),
        // Integers are placed as the CSV loader places a number written in the column.
        Some(TimeValue::Int(n)) => {
            let placed = i64::try_from(n).ok().and_then(|n| match format {
                TimeFormat::UnixSeconds => Some(n),
                TimeFormat::UnixMillis => Some(n.div_euclid(1000)),
                TimeFormat::Auto => {
                    let digits = n.unsigned_abs().checked_ilog10().map_or(1, |d| d + 1);
                    Some(if digits >= 13 { n.div_euclid(1000) } else { n })
                }
                _ => None,
            });
            placed.ok_or_else(|| format!("{n} is not a {format:?} timestamp"))
        }
        Some(TimeValue::Text(text)) => parse_timestamp(&text, format)
            .ok_or_else(|| format!("{text:?} is not a {format:?} timestamp")),
    }
}

/// A weight value as the CSV loader reads it (null is 1), or what is wrong with it.
fn weight_of(value: Option<WeightValue<'_>>) -> std::result::Result<f32, String> {
    let number = match value {
        None => return Ok(1.0),
        Some(WeightValue::Number(n)) => n as f32,
        Some(WeightValue::Text(text)) => match text.trim() {
            "" => return Ok(1.0),
            t => t.parse::<f32>().unwrap_or(f32::NAN),
        },
    };
    if number.is_finite() {
        Ok(number)
    } else {
        Err("the weight is not a finite number".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_placed_like_csv_numbers() {
        let auto = |n: i128| seconds(Some(TimeValue::Int(n)), TimeFormat::Auto);
        assert_eq!(auto(1_437_436_800), Ok(1_437_436_800));
        assert_eq!(auto(1_437_436_800_123), Ok(1_437_436_800));
        assert_eq!(auto(0), Ok(0));
        assert!(seconds(Some(TimeValue::Int(5)), TimeFormat::Iso).is_err());
        assert!(auto(i128::MAX).is_err());
        for n in [0i64, 7, 1_437_436_800, 1_437_436_800_123, -86_400] {
            let text = n.to_string();
            assert_eq!(
                auto(i128::from(n)).ok(),
                parse_timestamp(&text, TimeFormat::Auto),
                "{n}"
            );
        }
    }
}
