//! Long CSV: one event per row, with a header.

use super::events::{Event, Events};
use super::{read_file, LoadOptions, LoadReport, RowGuard};
use crate::error::{DataError, Result, RowFault};
use crate::model::{Dataset, EventKind};
use crate::time::{parse_timestamp, TimeFormat};
use std::path::Path;

/// Column layout of a long CSV. Columns left `None` are found by common names
/// (case-insensitive): see [`LongCsv::ALIASES`]. A column named explicitly must exist.
#[derive(Debug, Clone)]
pub struct LongCsv {
    /// Field delimiter.
    pub delimiter: u8,
    /// User column (required).
    pub user: Option<String>,
    /// Item column (required).
    pub item: Option<String>,
    /// Timestamp column; without one, every event gets time 0 and keeps file order.
    pub time: Option<String>,
    /// Event kind column; without one, every event is `default_kind`.
    pub event: Option<String>,
    /// Weight column (quantity, rating); without one, 1.
    pub weight: Option<String>,
    /// Order (basket) id column.
    pub order: Option<String>,
    /// Item title column.
    pub title: Option<String>,
    /// Item category column.
    pub category: Option<String>,
    /// How the time column is written.
    pub time_format: TimeFormat,
    /// The kind of events in files without an event column.
    pub default_kind: EventKind,
}

impl Default for LongCsv {
    fn default() -> Self {
        LongCsv {
            delimiter: b',',
            user: None,
            item: None,
            time: None,
            event: None,
            weight: None,
            order: None,
            title: None,
            category: None,
            time_format: TimeFormat::Auto,
            default_kind: EventKind::Purchase,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    User,
    Item,
    Time,
    Event,
    Weight,
    Order,
    Title,
    Category,
}

impl LongCsv {
    /// Names tried, in order, for columns not named explicitly.
    pub const ALIASES: &'static [(&'static str, &'static [&'static str])] = &[
        (
            "user",
            &[
                "user",
                "user_id",
                "userid",
                "member_number",
                "customer_id",
                "visitorid",
            ],
        ),
        (
            "item",
            &[
                "item",
                "item_id",
                "itemid",
                "itemdescription",
                "product_id",
                "sku",
            ],
        ),
        (
            "time",
            &["timestamp", "time", "date", "event_time", "datetime"],
        ),
        ("event", &["event", "event_type", "kind", "action"]),
        ("weight", &["weight", "quantity", "qty", "rating"]),
        (
            "order",
            &["order", "order_id", "basket", "basket_id", "invoice"],
        ),
        ("title", &["title", "product_name", "name"]),
        ("category", &["category", "category_code", "categories"]),
    ];

    fn explicit(&self, role: Role) -> Option<&str> {
        match role {
            Role::User => self.user.as_deref(),
            Role::Item => self.item.as_deref(),
            Role::Time => self.time.as_deref(),
            Role::Event => self.event.as_deref(),
            Role::Weight => self.weight.as_deref(),
            Role::Order => self.order.as_deref(),
            Role::Title => self.title.as_deref(),
            Role::Category => self.category.as_deref(),
        }
    }
}

const ROLES: [Role; 8] = [
    Role::User,
    Role::Item,
    Role::Time,
    Role::Event,
    Role::Weight,
    Role::Order,
    Role::Title,
    Role::Category,
];

/// Column index of each role, `None` where absent.
pub(crate) fn resolve_columns(
    path: &Path,
    header: &[String],
    spec: &LongCsv,
) -> Result<[Option<usize>; 8]> {
    let mut columns = [None; 8];
    for (slot, (role, (label, aliases))) in ROLES.iter().zip(LongCsv::ALIASES).enumerate() {
        let found = match spec.explicit(*role) {
            Some(name) => Some(header.iter().position(|h| h == name).ok_or_else(|| {
                DataError::MissingColumn {
                    path: path.to_path_buf(),
                    column: name.to_owned(),
                    available: header.join(", "),
                }
            })?),
            None => aliases
                .iter()
                .find_map(|alias| header.iter().position(|h| h.eq_ignore_ascii_case(alias))),
        };
        if found.is_none() && matches!(role, Role::User | Role::Item) {
            return Err(DataError::MissingColumn {
                path: path.to_path_buf(),
                column: format!("<{label}> (one of {})", aliases.join(", ")),
                available: header.join(", "),
            });
        }
        columns[slot] = found;
    }
    Ok(columns)
}

/// Loads a long CSV of events.
///
/// Repeated events (same user, item, time, kind, weight and order, however the row writes
/// them) are dropped and counted: in event logs they are double-logged events, not repeat
/// purchases. Their title and category still fill gaps in the catalogue.
pub fn load_long_csv(
    path: &Path,
    spec: &LongCsv,
    options: &LoadOptions,
) -> Result<(Dataset, LoadReport)> {
    let bytes = read_file(path)?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(spec.delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes.as_slice());
    let mut record = csv::ByteRecord::new();
    let read_error = |e: csv::Error| DataError::Malformed {
        path: path.to_path_buf(),
        line: e.position().map_or(0, |p| p.line()),
        kind: RowFault::WrongFieldCount,
        detail: e.to_string(),
    };

    if !reader.read_byte_record(&mut record).map_err(read_error)? {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    let header: Vec<String> = record
        .iter()
        .map(|f| String::from_utf8(f.to_vec()))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| DataError::Malformed {
            path: path.to_path_buf(),
            line: 1,
            kind: RowFault::InvalidUtf8,
            detail: "the header is not UTF-8".into(),
        })?;
    let header: Vec<String> = header
        .into_iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_owned())
        .collect();
    let cols = resolve_columns(path, &header, spec)?;
    let [user_col, item_col, time_col, event_col, weight_col, order_col, title_col, category_col] =
        cols;

    let mut guard = RowGuard::new(path, options);
    let mut events = Events::new(options.pseudonymize_key.as_ref());

    while reader.read_byte_record(&mut record).map_err(read_error)? {
        let line = record.position().map_or(0, |p| p.line());
        if record.len() == 1 && record[0].is_empty() {
            continue; // blank line
        }
        guard.report.rows_read += 1;
        if record.len() != header.len() {
            guard.fault(
                line,
                RowFault::WrongFieldCount,
                format!("{} fields, the header has {}", record.len(), header.len()),
            )?;
            continue;
        }
        let fields: Vec<&str> = match record.iter().map(std::str::from_utf8).collect() {
            Ok(fields) => fields,
            Err(e) => {
                guard.fault(line, RowFault::InvalidUtf8, e.to_string())?;
                continue;
            }
        };
        let get = |col: Option<usize>| col.map(|c| fields[c].trim());
        let (user, item) = (get(user_col).unwrap_or(""), get(item_col).unwrap_or(""));
        if user.is_empty() || item.is_empty() {
            let which = if user.is_empty() { "user" } else { "item" };
            guard.fault(line, RowFault::EmptyField, format!("empty {which} id"))?;
            continue;
        }
        let timestamp = match get(time_col) {
            None => 0,
            Some(text) => match parse_timestamp(text, spec.time_format) {
                Some(t) => t,
                None => {
                    guard.fault(
                        line,
                        RowFault::BadTimestamp,
                        format!("{text:?} is not a {:?} timestamp", spec.time_format),
                    )?;
                    continue;
                }
            },
        };
        let kind = match get(event_col) {
            None => spec.default_kind,
            Some(text) => match EventKind::parse(text) {
                Some(kind) => kind,
                None => {
                    guard.fault(line, RowFault::BadEventKind, format!("{text:?}"))?;
                    continue;
                }
            },
        };
        let weight = match get(weight_col) {
            None | Some("") => 1.0,
            Some(text) => match text.parse::<f32>() {
                Ok(w) if w.is_finite() => w,
                _ => {
                    guard.fault(
                        line,
                        RowFault::BadNumber,
                        format!("weight {text:?} is not a finite number"),
                    )?;
                    continue;
                }
            },
        };
        let event = Event {
            user,
            item,
            timestamp,
            kind,
            weight,
            order: get(order_col).filter(|o| !o.is_empty()),
            title: get(title_col),
            category: get(category_col),
        };
        events.push(event, &mut guard.report);
    }
    if guard.report.rows_read == 0 {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok((events.finish(), guard.report))
}
