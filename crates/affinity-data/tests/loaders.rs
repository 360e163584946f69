//! Loaders on small generated files: happy paths, every kind of bad row, lenient mode.

use affinity_data::{
    load, read_transactions, BasketRule, DataError, EventKind, Format, LoadOptions, LongCsv,
    RowFault, TimeFormat, TransactionFile,
};
use std::path::PathBuf;

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn long() -> Format {
    Format::Long(LongCsv::default())
}

const GROCERIES_LIKE: &str = "Member_number,Date,itemDescription\n\
1808,21-07-2015,tropical fruit\n\
2552,05-01-2015,whole milk\n\
1808,21-07-2015,whole milk\n\
1808,21-07-2015,tropical fruit\n\
1808,22-07-2015,yogurt\n";

#[test]
fn long_csv_finds_groceries_columns_and_drops_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "g.csv", GROCERIES_LIKE.as_bytes());
    let (ds, report) = load(&path, &long(), &LoadOptions::default()).unwrap();
    assert_eq!(report.rows_read, 5);
    assert_eq!(report.duplicates_dropped, 1);
    assert_eq!(ds.interactions.len(), 4);
    assert_eq!((ds.users.len(), ds.items.len()), (2, 3));
    assert_eq!(ds.users.name(0), "1808");
    assert_eq!(ds.baskets(BasketRule::default()).len(), 3);
    let first = ds.interactions[0];
    assert_eq!(first.timestamp, 1_437_436_800);
    assert_eq!(first.kind, EventKind::Purchase);
}

#[test]
fn repeated_events_are_one_event_however_written_and_keep_their_text() {
    let dir = tempfile::tempdir().unwrap();
    // Rows 1 and 3 are one event (the date written two ways; the repeat carries the title);
    // rows 4 and 5 differ only in where a field ends, so they are two events.
    let text = "user,item,date,title\n\
                u1,milk,2015-07-21,\n\
                u2,milk,2015-07-21,\n\
                u1, milk ,2015-07-21T00:00:00Z,Whole milk\n\
                ab,c,2015-07-22,\n\
                a,bc,2015-07-22,\n";
    let path = write(&dir, "d.csv", text.as_bytes());
    let (ds, report) = load(&path, &long(), &LoadOptions::default()).unwrap();
    assert_eq!(report.duplicates_dropped, 1);
    assert_eq!(ds.interactions.len(), 4);
    assert_eq!(ds.items.names(), ["milk", "c", "bc"]);
    assert_eq!(ds.catalog.get(0).title.as_deref(), Some("Whole milk"));
}

#[test]
fn long_csv_with_explicit_columns_events_weights_and_orders() {
    let dir = tempfile::tempdir().unwrap();
    let text = "visitor;ts;what;sku;n;oid;name\n\
                a;1437436800;view;p1;1;;Milk\n\
                a;1437436900;purchase;p1;2;o1;Milk\n\
                a;1437437000;cart;p2;1;o1;Bread\n";
    let path = write(&dir, "e.csv", text.as_bytes());
    let spec = LongCsv {
        delimiter: b';',
        user: Some("visitor".into()),
        item: Some("sku".into()),
        time: Some("ts".into()),
        event: Some("what".into()),
        weight: Some("n".into()),
        order: Some("oid".into()),
        title: Some("name".into()),
        time_format: TimeFormat::UnixSeconds,
        ..LongCsv::default()
    };
    let (ds, _) = load(&path, &Format::Long(spec), &LoadOptions::default()).unwrap();
    let kinds: Vec<EventKind> = ds.interactions.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [EventKind::View, EventKind::Purchase, EventKind::Cart]
    );
    assert_eq!(ds.interactions[1].weight, 2.0);
    assert_eq!(ds.interactions[0].order, None);
    assert_eq!(ds.interactions[2].order, Some(0));
    assert_eq!(ds.orders.name(0), "o1");
    assert_eq!(ds.catalog.get(1).title.as_deref(), Some("Bread"));
    // The order groups two events; the view stands alone on its day.
    assert_eq!(ds.baskets(BasketRule::OrderOrUserDay).len(), 2);
}

fn strict_error(text: &[u8]) -> DataError {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "bad.csv", text);
    load(&path, &long(), &LoadOptions::default()).unwrap_err()
}

#[test]
fn bad_rows_name_file_line_and_kind() {
    let cases: [(&[u8], u64, RowFault); 5] = [
        (
            b"user,item,date\nu,i,2015-01-01\nu,i\n",
            3,
            RowFault::WrongFieldCount,
        ),
        (
            b"user,item,date\nu,i,2015-01-01\nu,i,2015-02-30\n",
            3,
            RowFault::BadTimestamp,
        ),
        (b"user,item,date\n,i,2015-01-01\n", 2, RowFault::EmptyField),
        (
            b"user,item,date\nu,\xff\xfe,2015-01-01\n",
            2,
            RowFault::InvalidUtf8,
        ),
        (
            b"user,item,event\nu,i,teleport\n",
            2,
            RowFault::BadEventKind,
        ),
    ];
    for (text, want_line, want_kind) in cases {
        match strict_error(text) {
            DataError::Malformed {
                path, line, kind, ..
            } => {
                assert!(path.ends_with("bad.csv"));
                assert_eq!((line, kind), (want_line, want_kind));
            }
            other => panic!("expected Malformed, got {other:?}"),
        }
    }
    let message = strict_error(b"user,item,date\nu,i,yesterday\n").to_string();
    assert!(message.contains("bad.csv:2"), "{message}");
}

#[test]
fn empty_files_and_unknown_columns_are_clear_errors() {
    assert!(matches!(strict_error(b""), DataError::Empty { .. }));
    assert!(matches!(
        strict_error(b"user,item\n"),
        DataError::Empty { .. }
    ));
    match strict_error(b"who,what\na,b\n") {
        DataError::MissingColumn { available, .. } => assert_eq!(available, "who, what"),
        other => panic!("{other:?}"),
    }
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "e.csv", b"user,item\na,b\n");
    let spec = LongCsv {
        time: Some("when".into()),
        ..LongCsv::default()
    };
    let err = load(&path, &Format::Long(spec), &LoadOptions::default()).unwrap_err();
    assert!(err.to_string().contains("\"when\""), "{err}");
    let missing = load(
        dir.path().join("nope.csv"),
        &long(),
        &LoadOptions::default(),
    );
    assert!(matches!(missing, Err(DataError::Io { .. })));
}

#[test]
fn lenient_mode_skips_and_counts_by_kind() {
    let dir = tempfile::tempdir().unwrap();
    let text =
        b"user,item,date\nu,a,2015-01-01\nu,b\nu,c,nope\nv,\xff,2015-01-01\nv,d,2015-01-02\n";
    let path = write(&dir, "l.csv", text);
    let options = LoadOptions {
        lenient: true,
        ..LoadOptions::default()
    };
    let (ds, report) = load(&path, &long(), &options).unwrap();
    assert_eq!(ds.interactions.len(), 2);
    assert_eq!(report.rows_read, 5);
    assert_eq!(report.skipped_total(), 3);
    assert_eq!(report.skipped[&RowFault::WrongFieldCount], 1);
    assert_eq!(report.skipped[&RowFault::BadTimestamp], 1);
    assert_eq!(report.skipped[&RowFault::InvalidUtf8], 1);
    assert_eq!(report.skipped_examples[0], (3, RowFault::WrongFieldCount));
}

#[test]
fn pseudonymised_users_are_stable_and_hide_raw_ids() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "g.csv", GROCERIES_LIKE.as_bytes());
    let options = LoadOptions {
        pseudonymize_key: Some([7; 32]),
        ..LoadOptions::default()
    };
    let (a, _) = load(&path, &long(), &options).unwrap();
    let (b, _) = load(&path, &long(), &options).unwrap();
    assert_eq!(a.users.names(), b.users.names());
    assert!(a.users.get("1808").is_none());
    assert_eq!(a.users.len(), 2);
    let other_key = LoadOptions {
        pseudonymize_key: Some([8; 32]),
        ..LoadOptions::default()
    };
    let (c, _) = load(&path, &long(), &other_key).unwrap();
    assert_ne!(a.users.names(), c.users.names());
    // The key's own pseudonym of a raw id is the one the loader stored.
    let key = affinity_data::PseudonymKey::from_bytes([7; 32]);
    assert!(a.users.get(&key.pseudonym("1808")).is_some());
}

#[test]
fn key_files_round_trip_and_bad_ones_name_the_file() {
    use affinity_data::{DataError, PseudonymKey};
    let dir = tempfile::tempdir().unwrap();
    let key = PseudonymKey::generate().unwrap();
    let good = write(&dir, "k", format!("{}\n", key.to_hex()).as_bytes());
    assert_eq!(PseudonymKey::read(&good).unwrap(), key);
    assert_ne!(PseudonymKey::generate().unwrap(), key);
    assert!(
        !format!("{key:?}").contains(&key.to_hex()),
        "Debug must not show the key"
    );
    for (name, bytes) in [
        ("short", &b"abcd"[..]),
        ("nothex", "zz".repeat(32).as_bytes()),
        ("binary", &[0xff; 32][..]),
    ] {
        let path = write(&dir, name, bytes);
        match PseudonymKey::read(&path) {
            Err(e @ DataError::BadKey { .. }) => assert!(e.to_string().contains(name), "{e}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    assert!(matches!(
        PseudonymKey::read(&dir.path().join("missing")),
        Err(DataError::Io { .. })
    ));
}

#[test]
fn fimi_and_basket_files() {
    let dir = tempfile::tempdir().unwrap();
    let fimi = write(&dir, "t.dat", b"1 2 3\n\n3 2 2\r\n7");
    let (tx, report) =
        read_transactions(&fimi, TransactionFile::Fimi, &LoadOptions::default()).unwrap();
    assert_eq!(report.rows_read, 4);
    assert_eq!(
        tx.baskets,
        vec![vec![0, 1, 2], vec![], vec![2, 1, 1], vec![3]]
    );
    let baskets = write(&dir, "b.csv", b"milk,bread\n\"eggs, large\",milk\nsoda,\n");
    let (ds, _) = load(&baskets, &Format::Baskets, &LoadOptions::default()).unwrap();
    assert!(!ds.has_users);
    assert_eq!(ds.items.names(), ["milk", "bread", "eggs, large", "soda"]);
    assert_eq!(ds.transactions(BasketRule::default()).len(), 3);
    let empty = write(&dir, "e.dat", b"\n\n");
    assert!(matches!(
        load(&empty, &Format::Fimi, &LoadOptions::default()),
        Err(DataError::Empty { .. })
    ));
    let bad = write(&dir, "bad.dat", b"1 2\n3 \xff\n");
    match load(&bad, &Format::Fimi, &LoadOptions::default()) {
        Err(DataError::Malformed { line: 2, kind, .. }) => assert_eq!(kind, RowFault::InvalidUtf8),
        other => panic!("{other:?}"),
    }
}

#[test]
fn unisrec_atomic_files() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir, "Toy.item2index", b"A\t0\nB\t1\nC\t2\n");
    write(&dir, "Toy.user2index", b"alice\t0\n");
    write(
        &dir,
        "Toy.text",
        b"item_id:token\ttext:token_seq\nA\tAlpha. Tools.\nC\tGamma. \n",
    );
    write(
        &dir,
        "Toy.test.inter",
        b"user_id:token\titem_id_list:token_seq\titem_id:token\n0\t0 1\t2\n",
    );
    let (ds, _) = load(
        dir.path().join("Toy"),
        &Format::UniSRec,
        &LoadOptions::default(),
    )
    .unwrap();
    assert_eq!(ds.users.name(0), "alice");
    let items: Vec<u32> = ds.interactions.iter().map(|e| e.item).collect();
    assert_eq!(items, [0, 1, 2]);
    assert_eq!(ds.catalog.text_or(0, "?"), "Alpha. Tools.");
    assert_eq!(ds.catalog.text_or(1, "B"), "B");
    write(&dir, "Bad.item2index", b"A\t0\n");
    write(
        &dir,
        "Bad.test.inter",
        b"user_id:token\titem_id_list:token_seq\titem_id:token\n0\t0 5\t0\n",
    );
    match load(
        dir.path().join("Bad"),
        &Format::UniSRec,
        &LoadOptions::default(),
    ) {
        Err(DataError::Malformed { line: 2, kind, .. }) => {
            assert_eq!(kind, RowFault::UnknownReference)
        }
        other => panic!("{other:?}"),
    }
}

/// The shipped Groceries file gives the counts the README promises.
#[test]
fn shipped_groceries_counts() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/groceries.csv");
    let (ds, report) = load(&path, &long(), &LoadOptions::default()).unwrap();
    let stats = affinity_data::dataset_stats(&ds, &report, 3);
    assert_eq!(stats.rows_read, 38_765);
    assert_eq!(stats.duplicates_dropped, 759);
    assert_eq!(
        (stats.users, stats.items, stats.baskets),
        (3_898, 167, 14_963)
    );
    assert_eq!(stats.top_items[0].0, "whole milk");
}

/// FIMI holds integer ids only: a byte-order mark is dropped (it became part of the first
/// item), a CSV or a header is refused with a hint, and bad ids name their line.
#[test]
fn fimi_input_is_validated() {
    let dir = tempfile::tempdir().unwrap();
    let read = |name: &str, bytes: &[u8], options: &LoadOptions| {
        let path = write(&dir, name, bytes);
        read_transactions(&path, TransactionFile::Fimi, options)
    };
    let strict = LoadOptions::default();
    let (tx, _) = read("bom.dat", b"\xef\xbb\xbf1 2\n1 2\n1 3\n", &strict).unwrap();
    assert_eq!(tx.items.names(), ["1", "2", "3"]);
    assert_eq!(tx.baskets, vec![vec![0, 1], vec![0, 1], vec![0, 2]]);
    // Leading zeros name the same item.
    let (tx, _) = read("zeros.dat", b"7 007\n0 00\n", &strict).unwrap();
    assert_eq!(tx.items.names(), ["7", "0"]);
    for (name, bytes, line, needle) in [
        ("csv.dat", &b"user,item\n1,2\n"[..], 1, "','"),
        ("semi.dat", b"1 2\n3;4\n", 2, "';'"),
        ("header.dat", b"item_a item_b\n1 2\n", 1, "header"),
    ] {
        match read(
            name,
            bytes,
            &LoadOptions {
                lenient: true,
                ..strict.clone()
            },
        ) {
            Err(DataError::WrongFormat {
                line: l, detail, ..
            }) => {
                assert_eq!(l, line, "{name}");
                assert!(
                    detail.contains(needle) && detail.contains("--format"),
                    "{detail}"
                );
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    for (bytes, token) in [
        (&b"1 2\n3 -4\n"[..], "-4"),
        (b"1 2\n3 x\n", "x"),
        (b"1 2\n1099511627776 1\n", "1099511627776"),
        (b"1 2\n+3\n", "+3"),
    ] {
        match read("bad.dat", bytes, &strict) {
            Err(DataError::Malformed {
                line: 2,
                kind,
                detail,
                ..
            }) => {
                assert_eq!(kind, RowFault::BadNumber);
                assert!(detail.contains(token), "{detail}");
            }
            other => panic!("{token}: {other:?}"),
        }
    }
    // Lenient loading skips and counts such rows.
    let lenient = LoadOptions {
        lenient: true,
        ..strict
    };
    let (tx, report) = read("skip.dat", b"1 2\n3 -4\n2 3\n", &lenient).unwrap();
    assert_eq!(tx.baskets.len(), 2);
    assert_eq!(report.skipped_total(), 1);
}

/// A byte-order mark does not hide the first column of a CSV.
#[test]
fn csv_with_a_byte_order_mark() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = b"\xef\xbb\xbf".to_vec();
    bytes.extend_from_slice(GROCERIES_LIKE.as_bytes());
    let path = write(&dir, "bom.csv", &bytes);
    let (ds, _) = load(&path, &long(), &LoadOptions::default()).unwrap();
    let plain = write(&dir, "plain.csv", GROCERIES_LIKE.as_bytes());
    let (expected, _) = load(&plain, &long(), &LoadOptions::default()).unwrap();
    assert_eq!(ds.users.names(), expected.users.names());
    assert_eq!(ds.interactions.len(), expected.interactions.len());
}

/// Found by fuzzing (`fuzz/regressions/load_unisrec`): an index far beyond the file asked for
/// gigabytes (aborting the process), the largest index overflowed; a repeated index silently
/// replaced a name. All are bad rows naming the line now.
#[test]
fn unisrec_indices_beyond_the_file_or_repeated_are_bad_rows() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir, "T.user2index", b"alice\t0\n");
    write(
        &dir,
        "T.test.inter",
        b"user_id:token\titem_id_list:token_seq\titem_id:token\n0\t0\t0\n",
    );
    for (bytes, line, needle) in [
        (&b"\t133333333"[..], 1, "index 133333333 but only 1 lines"),
        (b"A\t0\nB\t18446744073709551615\n", 2, "only 2 lines"),
        (b"A\t0\nB\t0\n", 2, "index 0 given twice"),
    ] {
        write(&dir, "T.item2index", bytes);
        match load(
            dir.path().join("T"),
            &Format::UniSRec,
            &LoadOptions::default(),
        ) {
            Err(DataError::Malformed {
                line: l,
                kind: RowFault::BadNumber,
                detail,
                ..
            }) => {
                assert_eq!(l, line, "{detail}");
                assert!(detail.contains(needle), "{detail}");
            }
            other => panic!("{needle}: {other:?}"),
        }
    }
}
