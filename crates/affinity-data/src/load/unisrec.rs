//! UniSRec / RecBole atomic files (`NAME.text`, `NAME.item2index`, `NAME.user2index`,
//! `NAME.{train,valid,test}.inter`).

use super::{read_file, sibling, LoadOptions, LoadReport, RowGuard};
use crate::error::{DataError, Result, RowFault};
use crate::ids::IdMap;
use crate::load::user_key;
use crate::model::{Dataset, EventKind, Interaction};
use std::path::Path;

/// Tab-separated lines of a file, numbered from 1, as UTF-8.
fn tsv_lines(path: &Path) -> Result<Vec<(u64, String)>> {
    let bytes = read_file(path)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64
            + 1;
        DataError::Malformed {
            path: path.to_path_buf(),
            line,
            kind: RowFault::InvalidUtf8,
            detail: format!("invalid UTF-8 at byte {offset}"),
        }
    })?;
    let lines: Vec<(u64, String)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i as u64 + 1, l.to_owned()))
        .collect();
    if lines.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(lines)
}

/// `name<TAB>index` lines into an id map whose dense ids are the indices.
fn index_file(path: &Path, guard: &mut RowGuard) -> Result<IdMap> {
    let lines = tsv_lines(path)?;
    // Indices are contiguous from 0, so none can reach the number of lines: checked before
    // any allocation (an index of 10^10 asked for gigabytes).
    let mut names: Vec<Option<String>> = Vec::new();
    for (line, text) in lines.iter().map(|(l, t)| (*l, t)) {
        let Some((name, index)) = text.split_once('\t') else {
            guard.fault(line, RowFault::WrongFieldCount, "expected name<TAB>index")?;
            continue;
        };
        let Ok(index) = index.trim().parse::<usize>() else {
            guard.fault(line, RowFault::BadNumber, format!("index {index:?}"))?;
            continue;
        };
        if index >= lines.len() {
            let detail = format!("index {index} but only {} lines", lines.len());
            guard.fault(line, RowFault::BadNumber, detail)?;
            continue;
        }
        if index >= names.len() {
            names.resize(index + 1, None);
        }
        if names[index].is_some() {
            guard.fault(
                line,
                RowFault::BadNumber,
                format!("index {index} given twice"),
            )?;
            continue;
        }
        names[index] = Some(name.to_owned());
    }
    if let Some(gap) = names.iter().position(Option::is_none) {
        return Err(DataError::Malformed {
            path: path.to_path_buf(),
            line: 0,
            kind: RowFault::UnknownReference,
            detail: format!("indices are not contiguous: {gap} is missing"),
        });
    }
    Ok(names.into_iter().flatten().collect())
}

/// Loads the UniSRec atomic files at `prefix` (`DIR/NAME`).
///
/// Each user's full sequence is the history of their `NAME.test.inter` line followed by its
/// target; event timestamps are positions in that sequence, so a leave-one-out split by time
/// reproduces the published split (test = last item, validation = the one before).
pub fn load_unisrec(prefix: &Path, options: &LoadOptions) -> Result<(Dataset, LoadReport)> {
    let item_path = sibling(prefix, ".item2index");
    let mut guard = RowGuard::new(&item_path, options);
    let items = index_file(&item_path, &mut guard)?;
    let mut report = std::mem::take(&mut guard.report);

    let user_path = sibling(prefix, ".user2index");
    let users = if user_path.exists() {
        let mut guard = RowGuard::new(&user_path, options);
        let users = index_file(&user_path, &mut guard)?;
        report.rows_read += guard.report.rows_read;
        Some(users)
    } else {
        None
    };

    let mut dataset = Dataset {
        items,
        has_users: true,
        ..Dataset::default()
    };
    dataset.catalog.resize(dataset.items.len());

    let text_path = sibling(prefix, ".text");
    if text_path.exists() {
        for (line, text) in tsv_lines(&text_path)?.into_iter().skip(1) {
            let (id, body) = text.split_once('\t').unwrap_or((&text, ""));
            if let Some(item) = dataset.items.get(id) {
                let body = body.trim();
                if !body.is_empty() {
                    dataset.catalog.entry_mut(item).title = Some(body.to_owned());
                }
            } else {
                let mut guard = RowGuard::new(&text_path, options);
                guard.fault(
                    line,
                    RowFault::UnknownReference,
                    format!("item {id:?} is not in the item index"),
                )?;
            }
        }
    }

    let inter_path = sibling(prefix, ".test.inter");
    let mut guard = RowGuard::new(&inter_path, options);
    let key = options.pseudonymize_key.as_ref();
    let n_items = dataset.items.len();
    for (line, text) in tsv_lines(&inter_path)?.into_iter().skip(1) {
        guard.report.rows_read += 1;
        let fields: Vec<&str> = text.split('\t').collect();
        let [user, history, target] = fields[..] else {
            guard.fault(
                line,
                RowFault::WrongFieldCount,
                format!("{} fields, expected 3", fields.len()),
            )?;
            continue;
        };
        let sequence: std::result::Result<Vec<usize>, _> = history
            .split_ascii_whitespace()
            .chain([target.trim()])
            .map(str::parse::<usize>)
            .collect();
        let sequence = match sequence {
            Ok(seq) if seq.iter().all(|&i| i < n_items) => seq,
            Ok(_) => {
                guard.fault(line, RowFault::UnknownReference, "item index out of range")?;
                continue;
            }
            Err(e) => {
                guard.fault(line, RowFault::BadNumber, e.to_string())?;
                continue;
            }
        };
        let raw_user = match (&users, user.trim().parse::<usize>()) {
            (Some(users), Ok(i)) if i < users.len() => users.name(i as u32).to_owned(),
            _ => user.trim().to_owned(),
        };
        let user = dataset.users.intern(&user_key(&raw_user, key));
        for (position, item) in sequence.into_iter().enumerate() {
            dataset.interactions.push(Interaction {
                user,
                item: item as u32,
                timestamp: position as i64,
                kind: EventKind::Purchase,
                weight: 1.0,
                order: None,
            });
        }
    }
    report.rows_read += guard.report.rows_read;
    for (kind, n) in guard.report.skipped {
        *report.skipped.entry(kind).or_default() += n;
    }
    report
        .skipped_examples
        .extend(guard.report.skipped_examples);
    Ok((dataset, report))
}
