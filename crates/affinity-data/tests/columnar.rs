//! Parquet and Arrow IPC tables: long and basket tables written here with the arrow and
//! parquet crates read back as their text equivalents read, and every error naming the file,
//! the column and the row.
#![cfg(feature = "parquet")]

use affinity_data::columnar::{read_basket_table, Columnar, Container, TableKind};
use affinity_data::{
    load, read_transactions, DataError, Format, LoadOptions, LongCsv, RowFault, TimeFormat,
    TransactionFile,
};
use arrow_array::builder::{
    Int32Builder, Int64Builder, LargeListBuilder, ListBuilder, StringBuilder,
};
use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, Date32Array, DictionaryArray, Float64Array, Int64Array, LargeStringArray,
    RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow_schema::{Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A table of `columns`, nullable where they hold nulls.
fn table(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, a)| Field::new(*name, a.data_type().clone(), a.null_count() > 0))
        .collect();
    let arrays = columns.into_iter().map(|(_, a)| a).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
}

/// Writes `batches` (one schema) as Parquet, a row group per `group_rows` rows.
fn parquet(
    dir: &tempfile::TempDir,
    name: &str,
    batches: &[RecordBatch],
    group_rows: usize,
) -> PathBuf {
    let path = dir.path().join(name);
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(group_rows))
        .set_compression(parquet::basic::Compression::SNAPPY)
        .build();
    let file = std::fs::File::create(&path).unwrap();
    let mut writer = ArrowWriter::try_new(file, batches[0].schema(), Some(props)).unwrap();
    for batch in batches {
        writer.write(batch).unwrap();
    }
    writer.close().unwrap();
    path
}

/// Writes `batch` in the Arrow IPC file format, or the stream format.
fn ipc(dir: &tempfile::TempDir, name: &str, batch: &RecordBatch, stream: bool) -> PathBuf {
    let path = dir.path().join(name);
    let file = std::fs::File::create(&path).unwrap();
    if stream {
        let mut w = arrow_ipc::writer::StreamWriter::try_new(file, &batch.schema()).unwrap();
        w.write(batch).unwrap();
        w.finish().unwrap();
    } else {
        let mut w = arrow_ipc::writer::FileWriter::try_new(file, &batch.schema()).unwrap();
        w.write(batch).unwrap();
        w.finish().unwrap();
    }
    path
}

fn strings(values: &[Option<&str>]) -> ArrayRef {
    Arc::new(StringArray::from(values.to_vec()))
}

fn columnar() -> Columnar {
    Columnar::default()
}

fn parquet_format(spec: Columnar) -> Format {
    Format::Parquet(spec)
}

/// The events of a dataset by name, for comparing loaders.
fn events(ds: &affinity_data::Dataset) -> Vec<(String, String, i64, String, Option<String>)> {
    ds.interactions
        .iter()
        .map(|e| {
            (
                ds.users.name(e.user).to_owned(),
                ds.items.name(e.item).to_owned(),
                e.timestamp,
                format!("{:?}/{}", e.kind, e.weight),
                e.order.map(|o| ds.orders.name(o).to_owned()),
            )
        })
        .collect()
}

const DAY: i64 = 1_437_436_800; // 2015-07-21

/// The long table of the CSV below: integer users, string items, millisecond timestamps,
/// event kinds as a dictionary, orders as large strings, weights as floats.
fn long_batch() -> RecordBatch {
    let kinds: DictionaryArray<Int32Type> = vec!["purchase", "view", "purchase", "cart"]
        .into_iter()
        .collect();
    table(vec![
        (
            "customer_id",
            Arc::new(Int64Array::from(vec![1808, 2552, 1808, 1808])) as ArrayRef,
        ),
        (
            "Date",
            Arc::new(
                TimestampMillisecondArray::from(vec![
                    DAY * 1000,
                    DAY * 1000,
                    DAY * 1000 + 999,
                    (DAY + 86_400) * 1000,
                ])
                .with_timezone("UTC"),
            ),
        ),
        (
            "itemDescription",
            strings(&[
                Some("tropical fruit"),
                Some("whole milk"),
                Some(" tropical fruit "),
                Some("yogurt"),
            ]),
        ),
        ("event", Arc::new(kinds)),
        (
            "basket",
            Arc::new(LargeStringArray::from(vec![
                Some("o1"),
                None,
                Some("o1"),
                Some("o2"),
            ])),
        ),
        (
            "qty",
            Arc::new(Float64Array::from(vec![1.0, 2.0, 1.0, 3.0])),
        ),
    ])
}

const LONG_CSV: &str = "customer_id,Date,itemDescription,event,basket,qty\n\
1808,1437436800,tropical fruit,purchase,o1,1\n\
2552,1437436800,whole milk,view,,2\n\
1808,1437436800,tropical fruit,purchase,o1,1\n\
1808,1437523200,yogurt,cart,o2,3\n";

#[test]
fn long_tables_read_as_their_csv_reads() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("events.csv");
    std::fs::write(&csv, LONG_CSV).unwrap();
    let columns = LongCsv {
        weight: Some("qty".into()),
        ..LongCsv::default()
    };
    let (want, want_report) = load(
        &csv,
        &Format::Long(columns.clone()),
        &LoadOptions::default(),
    )
    .unwrap();
    assert_eq!(want_report.duplicates_dropped, 1);
    let batch = long_batch();
    let spec = Columnar {
        columns,
        ..columnar()
    };
    for (path, format) in [
        (
            parquet(&dir, "e.parquet", std::slice::from_ref(&batch), 2),
            Format::Parquet(spec.clone()),
        ),
        (
            ipc(&dir, "e.arrow", &batch, false),
            Format::ArrowIpc(spec.clone()),
        ),
        (
            ipc(&dir, "e.arrows", &batch, true),
            Format::ArrowIpc(spec.clone()),
        ),
    ] {
        let (got, report) = load(&path, &format, &LoadOptions::default()).unwrap();
        assert_eq!(report, want_report, "{}", path.display());
        assert_eq!(events(&got), events(&want), "{}", path.display());
        assert!(got.has_users);
        assert_eq!(got.items.names(), want.items.names());
    }
}

#[test]
fn times_read_from_dates_integers_and_strings() {
    let dir = tempfile::tempdir().unwrap();
    let times: [(ArrayRef, TimeFormat); 4] = [
        (
            Arc::new(Date32Array::from(vec![(DAY / 86_400) as i32])),
            TimeFormat::Auto,
        ),
        (
            Arc::new(Int64Array::from(vec![DAY * 1000 + 5])),
            TimeFormat::Auto,
        ),
        (
            Arc::new(Int64Array::from(vec![DAY])),
            TimeFormat::UnixSeconds,
        ),
        (strings(&[Some("21-07-2015")]), TimeFormat::DayMonthYear),
    ];
    for (i, (time, time_format)) in times.into_iter().enumerate() {
        let batch = table(vec![
            ("user", strings(&[Some("u")])),
            ("item", strings(&[Some("milk")])),
            ("time", time),
        ]);
        let path = parquet(&dir, &format!("t{i}.parquet"), &[batch], 10);
        let spec = Columnar {
            columns: LongCsv {
                time_format,
                ..LongCsv::default()
            },
            ..columnar()
        };
        let (ds, _) = load(&path, &parquet_format(spec), &LoadOptions::default()).unwrap();
        assert_eq!(ds.interactions[0].timestamp, DAY, "case {i}");
    }
}

/// Baskets: one list column of strings or integers, with a null basket, a null item and an
/// empty basket; the same transactions as the FIMI or basket file of them.
fn basket_columns() -> Vec<(&'static str, ArrayRef)> {
    let mut names = ListBuilder::new(StringBuilder::new());
    let mut large = LargeListBuilder::new(StringBuilder::new());
    let mut ints = ListBuilder::new(Int32Builder::new());
    let mut longs = ListBuilder::new(Int64Builder::new());
    let rows: [Option<&[Option<u32>]>; 5] = [
        Some(&[Some(3), Some(1), Some(2)]),
        None,
        Some(&[Some(1), None, Some(2)]),
        Some(&[]),
        Some(&[Some(2), Some(3)]),
    ];
    for row in rows {
        match row {
            None => {
                names.append(false);
                large.append(false);
                ints.append(false);
                longs.append(false);
            }
            Some(items) => {
                for item in items {
                    names.values().append_option(item.map(|i| i.to_string()));
                    large.values().append_option(item.map(|i| i.to_string()));
                    ints.values().append_option(item.map(|i| i as i32));
                    longs.values().append_option(item.map(i64::from));
                }
                names.append(true);
                large.append(true);
                ints.append(true);
                longs.append(true);
            }
        }
    }
    vec![
        ("items", Arc::new(names.finish()) as ArrayRef),
        ("large", Arc::new(large.finish())),
        ("ints", Arc::new(ints.finish())),
        ("longs", Arc::new(longs.finish())),
    ]
}

#[test]
fn basket_tables_read_as_fimi_reads() {
    let dir = tempfile::tempdir().unwrap();
    let fimi = dir.path().join("t.dat");
    std::fs::write(&fimi, "3 1 2\n1 2\n\n2 3\n").unwrap();
    let (want, _) =
        read_transactions(&fimi, TransactionFile::Fimi, &LoadOptions::default()).unwrap();
    let batch = table(basket_columns());
    let files = [
        (
            parquet(&dir, "b.parquet", std::slice::from_ref(&batch), 2),
            Container::Parquet,
        ),
        (ipc(&dir, "b.arrow", &batch, false), Container::ArrowIpc),
        (ipc(&dir, "b.arrows", &batch, true), Container::ArrowIpc),
    ];
    for (path, container) in &files {
        for column in ["items", "large", "ints", "longs"] {
            let spec = Columnar {
                items: Some(column.into()),
                ..columnar()
            };
            let (tx, report) =
                read_basket_table(path, *container, &spec, &LoadOptions::default()).unwrap();
            assert_eq!(tx.baskets, want.baskets, "{column} of {}", path.display());
            assert_eq!(tx.items.names(), want.items.names(), "{column}");
            assert_eq!((report.rows_read, report.null_baskets), (4, 1), "{column}");
        }
        // The default column, through the transaction reader `affinity mine` uses.
        let layout = match container {
            Container::Parquet => TransactionFile::Parquet,
            Container::ArrowIpc => TransactionFile::ArrowIpc,
        };
        let (tx, _) = read_transactions(path, layout, &LoadOptions::default()).unwrap();
        assert_eq!(tx.baskets, want.baskets);
    }
    // `load` tells a basket table by its `items` list column; each basket is a user.
    let (ds, _) = load(
        &files[0].0,
        &parquet_format(columnar()),
        &LoadOptions::default(),
    )
    .unwrap();
    assert!(!ds.has_users);
    assert_eq!(ds.users.len(), 4);
    assert_eq!(ds.interactions.len(), 7);
}

fn message(error: DataError) -> String {
    error.to_string()
}

#[test]
fn errors_name_the_file_the_column_and_the_row() {
    let dir = tempfile::tempdir().unwrap();
    let strict = LoadOptions::default();
    let long = |spec: Columnar| {
        parquet_format(Columnar {
            kind: TableKind::Long,
            ..spec
        })
    };

    // A missing column, named explicitly or not found at all.
    let batch = table(vec![
        ("user", strings(&[Some("u")])),
        ("sku", strings(&[Some("a")])),
    ]);
    let path = parquet(&dir, "m.parquet", &[batch], 10);
    let spec = Columnar {
        columns: LongCsv {
            item: Some("product".into()),
            ..LongCsv::default()
        },
        ..columnar()
    };
    let error = load(&path, &long(spec), &strict).unwrap_err();
    assert!(matches!(&error, DataError::MissingColumn { column, .. } if column == "product"));
    let text = message(error);
    assert!(
        text.contains("m.parquet") && text.contains("user, sku"),
        "{text}"
    );
    let error = read_basket_table(&path, Container::Parquet, &columnar(), &strict).unwrap_err();
    assert!(message(error).contains("no column \"items\""));

    // A column of a type its role cannot take says which types it takes.
    let batch = table(vec![
        ("user", strings(&[Some("u")])),
        ("item", Arc::new(Float64Array::from(vec![1.5])) as ArrayRef),
    ]);
    let path = parquet(&dir, "w.parquet", std::slice::from_ref(&batch), 10);
    let text = message(load(&path, &long(columnar()), &strict).unwrap_err());
    assert!(
        text.contains("w.parquet")
            && text.contains("column \"item\" is Float64")
            && text.contains("a string"),
        "{text}"
    );
    let spec = Columnar {
        items: Some("item".into()),
        ..columnar()
    };
    let text = message(read_basket_table(&path, Container::Parquet, &spec, &strict).unwrap_err());
    assert!(text.contains("expected a list"), "{text}");

    // Null and unreadable values name the row (1-based, across row groups) and column; lenient
    // loading skips those rows and counts them.
    let batch = table(vec![
        (
            "user",
            strings(&[Some("u1"), Some("u2"), None, Some("u4"), Some("u5")]),
        ),
        (
            "item",
            strings(&[Some("a"), Some("b"), Some("c"), Some("d"), Some("e")]),
        ),
        (
            "time",
            strings(&[
                Some("2015-07-21"),
                Some("2015-07-21"),
                Some("2015-07-21"),
                Some("yesterday"),
                None,
            ]),
        ),
    ]);
    let path = parquet(&dir, "v.parquet", &[batch], 2);
    let error = load(&path, &long(columnar()), &strict).unwrap_err();
    assert!(
        matches!(&error, DataError::BadValue { row: 3, column, kind: RowFault::EmptyField, .. } if column == "user"),
        "{error}"
    );
    assert!(message(error).contains("v.parquet: row 3, column \"user\""));
    let lenient = LoadOptions {
        lenient: true,
        ..LoadOptions::default()
    };
    let (ds, report) = load(&path, &long(columnar()), &lenient).unwrap();
    assert_eq!(ds.interactions.len(), 2);
    assert_eq!(report.rows_read, 5);
    assert_eq!(
        report.skipped_examples,
        [
            (3, RowFault::EmptyField),
            (4, RowFault::BadTimestamp),
            (5, RowFault::BadTimestamp)
        ]
    );
    let text = message(
        load(
            &path,
            &long(Columnar {
                columns: LongCsv {
                    user: Some("item".into()),
                    item: Some("time".into()),
                    time: Some("user".into()),
                    ..LongCsv::default()
                },
                ..columnar()
            }),
            &strict,
        )
        .unwrap_err(),
    );
    assert!(
        text.contains("row 1, column \"user\": unparsable timestamp"),
        "{text}"
    );
}

#[test]
fn files_of_another_format_or_truncated_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let strict = LoadOptions::default();
    let csv = dir.path().join("events.csv");
    std::fs::write(&csv, LONG_CSV).unwrap();
    let text = message(load(&csv, &parquet_format(columnar()), &strict).unwrap_err());
    assert!(
        text.contains("events.csv: cannot read as Parquet") && text.contains("--format long"),
        "{text}"
    );
    let batch = table(basket_columns());
    let path = parquet(&dir, "b.parquet", std::slice::from_ref(&batch), 2);
    let text = message(load(&path, &Format::ArrowIpc(columnar()), &strict).unwrap_err());
    assert!(text.contains("--format parquet"), "{text}");
    let text = message(load(&csv, &Format::ArrowIpc(columnar()), &strict).unwrap_err());
    assert!(text.contains("cannot read as Arrow IPC"), "{text}");

    // Truncated: the footer is gone.
    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.path().join("cut.parquet");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let error = load(&cut, &parquet_format(columnar()), &strict).unwrap_err();
    assert!(
        matches!(
            error,
            DataError::Corrupt {
                format: "Parquet",
                ..
            }
        ),
        "{error}"
    );
    let arrow = ipc(&dir, "b.arrow", &batch, false);
    let bytes = std::fs::read(&arrow).unwrap();
    std::fs::write(&arrow, &bytes[..bytes.len() - 12]).unwrap();
    let error = load(&arrow, &Format::ArrowIpc(columnar()), &strict).unwrap_err();
    assert!(
        matches!(
            error,
            DataError::Corrupt {
                format: "Arrow IPC",
                ..
            }
        ),
        "{error}"
    );
    let empty = dir.path().join("empty.parquet");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(
        load(&empty, &parquet_format(columnar()), &strict),
        Err(DataError::Empty { .. })
    ));
}

/// Damaged data pages of a row group are reported with the group.
#[test]
fn a_damaged_row_group_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut names = ListBuilder::new(StringBuilder::new());
    for i in 0..4000u32 {
        for j in 0..5 {
            names
                .values()
                .append_value(format!("item-{}", (i * 7 + j * 13) % 997));
        }
        names.append(true);
    }
    let batch = table(vec![("items", Arc::new(names.finish()) as ArrayRef)]);
    let path = parquet(&dir, "d.parquet", &[batch], 2000);
    let metadata = {
        let file = std::fs::File::open(&path).unwrap();
        parquet::file::reader::SerializedFileReader::new(file).unwrap()
    };
    use parquet::file::reader::FileReader;
    let group = metadata.metadata().row_group(1).column(0);
    let (start, len) = group.byte_range();
    let mut bytes = std::fs::read(&path).unwrap();
    // Scramble the middle of the second group's compressed pages.
    let from = start as usize + len as usize / 3;
    for b in &mut bytes[from..from + len as usize / 3] {
        *b = b.wrapping_mul(31).wrapping_add(7);
    }
    std::fs::write(&path, &bytes).unwrap();
    let error = read_basket_table(
        &path,
        Container::Parquet,
        &columnar(),
        &LoadOptions::default(),
    )
    .unwrap_err();
    let text = message(error);
    assert!(
        text.contains("d.parquet: cannot read as Parquet: row group 1"),
        "{text}"
    );
}

#[test]
fn writer_output_reads_back() {
    use affinity_data::columnar::BasketWriter;
    let dir = tempfile::tempdir().unwrap();
    let path: &Path = &dir.path().join("w.parquet");
    let mut writer = BasketWriter::create(std::fs::File::create(path).unwrap(), false).unwrap();
    let baskets: Vec<Vec<String>> = (0..70_000u32)
        .map(|i| (0..i % 4).map(|j| format!("p{}", (i + j) % 50)).collect())
        .collect();
    for basket in &baskets {
        writer.push(basket).unwrap();
    }
    assert!(
        writer.push_ids(&[1]).is_err(),
        "a writer of names takes no ids"
    );
    writer.finish().unwrap();
    let (tx, _) =
        read_transactions(path, TransactionFile::Parquet, &LoadOptions::default()).unwrap();
    let read: Vec<Vec<&str>> = tx
        .baskets
        .iter()
        .map(|b| b.iter().map(|&i| tx.items.name(i)).collect())
        .collect();
    assert_eq!(read, baskets);
    let file = std::fs::File::open(path).unwrap();
    let reader = parquet::file::reader::SerializedFileReader::new(file).unwrap();
    use parquet::file::reader::FileReader;
    assert_eq!(
        reader.metadata().num_row_groups(),
        2,
        "one group per 65,536 baskets"
    );
}

/// A basket column of a list type the reader does not take is refused as such, naming the
/// column and its type (it was read as an event table and reported missing user and item
/// columns).
#[test]
fn a_list_type_the_reader_does_not_take_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut baskets = arrow_array::builder::FixedSizeListBuilder::new(StringBuilder::new(), 2);
    for pair in [["milk", "bread"], ["jam", "tea"]] {
        for item in pair {
            baskets.values().append_value(item);
        }
        baskets.append(true);
    }
    let batch = table(vec![("items", Arc::new(baskets.finish()) as ArrayRef)]);
    let path = ipc(&dir, "fixed.arrow", &batch, false);
    let error = load(
        &path,
        &Format::ArrowIpc(columnar()),
        &LoadOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&error, DataError::WrongColumnType { column, found, .. } if column == "items" && found.contains("FixedSizeList")),
        "{error}"
    );
}
