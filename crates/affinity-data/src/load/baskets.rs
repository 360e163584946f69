//! Basket files without users: the arules basket CSV and FIMI `.dat`.

use super::{read_file, LoadOptions, LoadReport, RowGuard};
use crate::error::{DataError, Result, RowFault};
use crate::ids::IdMap;
use crate::model::{Dataset, EventKind, Interaction};
use std::path::Path;

/// Which basket file layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionFile {
    /// FIMI `.dat`: integer item ids (0 to 2^32 - 1) separated by spaces or tabs. Anything
    /// else on a line is a bad row; a CSV or a header line is refused outright.
    Fimi,
    /// One basket per line, item names separated by commas (CSV quoting allowed), no header.
    Baskets,
    /// A Parquet basket table: the list column `items` (see
    /// [`read_basket_table`](crate::columnar::read_basket_table) for another column).
    #[cfg(feature = "parquet")]
    Parquet,
    /// An Arrow IPC basket table: the list column `items`.
    #[cfg(feature = "parquet")]
    ArrowIpc,
}

/// Transactions as read: one item list per line, in file order, with items in line order
/// (duplicates kept: the miner's setting decides). Blank lines are empty transactions: they
/// count towards the number of transactions, as in the FIMI tools.
#[derive(Debug, Clone, Default)]
pub struct Transactions {
    /// Item names.
    pub items: IdMap,
    /// Item ids per transaction.
    pub baskets: Vec<Vec<u32>>,
}

/// Reads a basket file into transactions.
///
/// ```
/// use affinity_data::{read_transactions, LoadOptions, TransactionFile};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("t.dat");
/// std::fs::write(&path, "1 2 3\n\n2 3").unwrap();
/// let (tx, _) = read_transactions(&path, TransactionFile::Fimi, &LoadOptions::default()).unwrap();
/// assert_eq!(tx.baskets.len(), 3);
/// assert_eq!(tx.items.len(), 3);
/// ```
pub fn read_transactions(
    path: &Path,
    layout: TransactionFile,
    options: &LoadOptions,
) -> Result<(Transactions, LoadReport)> {
    #[cfg(feature = "parquet")]
    {
        use crate::columnar::{read_basket_table, Columnar, Container};
        let container = match layout {
            TransactionFile::Parquet => Some(Container::Parquet),
            TransactionFile::ArrowIpc => Some(Container::ArrowIpc),
            _ => None,
        };
        if let Some(container) = container {
            return read_basket_table(path, container, &Columnar::default(), options);
        }
    }
    let bytes = read_file(path)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    let mut guard = RowGuard::new(path, options);
    let mut tx = Transactions::default();
    let mut by_number = NumberIds::default();
    let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    let mut numbers = Vec::new();
    for (index, raw) in body.split(|&b| b == b'\n').enumerate() {
        let line = index as u64 + 1;
        guard.report.rows_read += 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        // The common FIMI line in one pass over its bytes; any other line takes the checked
        // path below, which says what is wrong with it.
        if layout == TransactionFile::Fimi && fimi_numbers(raw, &mut numbers) {
            let basket = numbers
                .iter()
                .map(|&id| by_number.intern(id, &mut tx.items))
                .collect();
            tx.baskets.push(basket);
            continue;
        }
        let text = match std::str::from_utf8(raw) {
            Ok(text) => text,
            Err(e) => {
                guard.fault(line, RowFault::InvalidUtf8, e.to_string())?;
                continue;
            }
        };
        let basket = match layout {
            TransactionFile::Fimi => {
                if let Some(detail) = not_fimi(text, line) {
                    return Err(DataError::WrongFormat {
                        path: path.to_path_buf(),
                        line,
                        format: "FIMI",
                        detail,
                    });
                }
                let mut basket = Vec::new();
                let mut bad = None;
                for token in text.split_ascii_whitespace() {
                    match parse_item_id(token) {
                        // By value, so that `007` and `7` are one item.
                        Some(id) => basket.push(by_number.intern(id, &mut tx.items)),
                        None => {
                            bad = Some(token);
                            break;
                        }
                    }
                }
                match bad {
                    None => basket,
                    Some(token) => {
                        let detail = format!(
                            "{token:?} is not an item id (FIMI items are integers from 0 to {})",
                            u32::MAX
                        );
                        guard.fault(line, RowFault::BadNumber, detail)?;
                        continue;
                    }
                }
            }
            // Baskets (the columnar layouts returned above).
            _ => match split_csv_line(text) {
                Ok(names) => names
                    .iter()
                    .map(|n| n.trim())
                    .filter(|n| !n.is_empty())
                    .map(|n| tx.items.intern(n))
                    .collect(),
                Err(detail) => {
                    guard.fault(line, RowFault::WrongFieldCount, detail)?;
                    continue;
                }
            },
        };
        tx.baskets.push(basket);
    }
    Ok((tx, guard.report))
}

/// Reads a line of FIMI item ids (ASCII digits separated by ASCII whitespace, each below 2^32)
/// into `out`; false, with `out` unspecified, for any other line.
fn fimi_numbers(raw: &[u8], out: &mut Vec<u32>) -> bool {
    out.clear();
    let mut number: Option<u32> = None;
    for &b in raw {
        if b.is_ascii_digit() {
            let digit = u32::from(b - b'0');
            match number
                .unwrap_or(0)
                .checked_mul(10)
                .and_then(|n| n.checked_add(digit))
            {
                Some(n) => number = Some(n),
                None => return false,
            }
        } else if b.is_ascii_whitespace() {
            out.extend(number.take());
        } else {
            return false;
        }
    }
    out.extend(number);
    true
}

/// A FIMI item id: ASCII digits only (no sign), below 2^32.
fn parse_item_id(token: &str) -> Option<u32> {
    if token.bytes().all(|b| b.is_ascii_digit()) {
        token.parse().ok()
    } else {
        None
    }
}

/// Why `text` (line `line`) shows the file is not FIMI at all: separators of a CSV, or a
/// first line of names (a header).
fn not_fimi(text: &str, line: u64) -> Option<String> {
    let hint = "use --format baskets (one basket of names per line) or --format long (a CSV \
                of events with a header)";
    if let Some(separator) = text.chars().find(|c| matches!(c, ',' | ';')) {
        return Some(format!("found {separator:?}, a CSV separator: {hint}"));
    }
    let named = text
        .split_ascii_whitespace()
        .any(|t| t.chars().any(|c| c.is_alphabetic() || c == '_'));
    (line == 1 && named).then(|| format!("the first line {text:?} looks like a header: {hint}"))
}

/// Splits one CSV line, honouring double quotes.
fn split_csv_line(text: &str) -> std::result::Result<Vec<String>, String> {
    if !text.contains('"') {
        return Ok(text.split(',').map(str::to_owned).collect());
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    match reader.read_record(&mut record) {
        Ok(_) => Ok(record.iter().map(str::to_owned).collect()),
        Err(e) => Err(format!("unbalanced quotes: {e}")),
    }
}

pub(super) fn dataset_from(tx: Transactions) -> Dataset {
    let mut dataset = Dataset {
        items: tx.items,
        has_users: false,
        ..Dataset::default()
    };
    for (i, basket) in tx.baskets.iter().enumerate() {
        let name = format!("basket-{}", i + 1);
        let user = dataset.users.intern(&name);
        let order = dataset.orders.intern(&name);
        for &item in basket {
            dataset.interactions.push(Interaction {
                user,
                item,
                timestamp: i as i64,
                kind: EventKind::Purchase,
                weight: 1.0,
                order: Some(order),
            });
        }
    }
    dataset.catalog.resize(dataset.items.len());
    dataset
}

/// Loads a basket CSV (one basket per line, comma-separated item names, no header) as a
/// dataset whose users are the baskets.
pub fn load_basket_csv(path: &Path, options: &LoadOptions) -> Result<(Dataset, LoadReport)> {
    let (tx, report) = read_transactions(path, TransactionFile::Baskets, options)?;
    Ok((dataset_from(tx), report))
}

/// Loads a FIMI `.dat` file as a dataset whose users are the transactions.
pub fn load_fimi(path: &Path, options: &LoadOptions) -> Result<(Dataset, LoadReport)> {
    let (tx, report) = read_transactions(path, TransactionFile::Fimi, options)?;
    Ok((dataset_from(tx), report))
}

/// FIMI ids to dense ids by a table indexed by the number, for numbers below 2^20 (a hash
/// lookup per token was a tenth of mining a dense file); larger ones go through the map.
#[derive(Default)]
pub(crate) struct NumberIds(Vec<u32>);

impl NumberIds {
    const DIRECT: u32 = 1 << 20;
    const UNSEEN: u32 = u32::MAX;

    /// As [`NumberIds::intern`], for an integer of any width and sign (columnar tables).
    #[cfg_attr(not(feature = "parquet"), allow(dead_code))]
    pub fn intern_wide(&mut self, number: i128, items: &mut IdMap) -> u32 {
        match u32::try_from(number) {
            Ok(n) => self.intern(n, items),
            Err(_) => items.intern(&number.to_string()),
        }
    }

    pub fn intern(&mut self, number: u32, items: &mut IdMap) -> u32 {
        if number >= Self::DIRECT {
            return items.intern(&number.to_string());
        }
        let slot = number as usize;
        if slot >= self.0.len() {
            self.0.resize(slot + 1, Self::UNSEEN);
        }
        if self.0[slot] == Self::UNSEEN {
            self.0[slot] = items.intern(&number.to_string());
        }
        self.0[slot]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fimi_numbers_reads_ids_and_refuses_anything_else() {
        let mut out = Vec::new();
        assert!(fimi_numbers(b" 7\t007  4294967295 \r", &mut out));
        assert_eq!(out, [7, 7, u32::MAX]);
        assert!(fimi_numbers(b"", &mut out));
        assert!(out.is_empty());
        for refused in [
            &b"4294967296"[..],
            b"-1",
            b"1,2",
            b"a 1",
            b"1.5",
            "1 \u{a0}2".as_bytes(),
        ] {
            assert!(!fimi_numbers(refused, &mut out), "{refused:?}");
        }
    }

    proptest! {
        /// The one-pass reader agrees with the checked one wherever it accepts a line, and
        /// accepts every line the checked one reads without a fault.
        #[test]
        fn fimi_numbers_agrees_with_the_checked_path(
            line in "[0-9 \\t\\r\\x0b\\x0c,a\\-é]{0,30}",
        ) {
            let mut out = Vec::new();
            let fast = fimi_numbers(line.as_bytes(), &mut out);
            let checked: Option<Vec<u32>> = line
                .split_ascii_whitespace()
                .map(parse_item_id)
                .collect();
            let checked = checked.filter(|_| not_fimi(&line, 2).is_none());
            prop_assert_eq!(fast.then_some(out), checked);
        }
    }
}
