//! `affinity mine` writing Parquet with Spark FPGrowth's schema, and `affinity data generate`
//! writing the same transactions, byte for byte, in both of its formats.

use affinity_cli::data::DataCommand;
use affinity_cli::mine::MineArgs;
use affinity_data::{read_transactions, LoadOptions, TransactionFile};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use clap::Parser;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

#[derive(clap::Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process, so the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(clap::Subcommand)]
enum Command {
    #[command(subcommand)]
    Data(DataCommand),
    Mine(MineArgs),
}

fn run(args: &[&str]) {
    let cli = Cli::try_parse_from(std::iter::once("affinity").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    match cli.command {
        Command::Data(command) => affinity_cli::data::run(command, &()),
        Command::Mine(args) => affinity_cli::mine::run(args, &()),
    }
    .unwrap_or_else(|e| panic!("{args:?}: {e:#}"));
}

/// `affinity data generate` of `transactions` over `items` items with `seed` into `path`.
fn generate(path: &Path, transactions: u64, items: u32, seed: u64) {
    let (transactions, items, seed) = (
        transactions.to_string(),
        items.to_string(),
        seed.to_string(),
    );
    run(&[
        "data",
        "generate",
        "--transactions",
        &transactions,
        "--items",
        &items,
        "--avg-len",
        "6",
        "--pattern-len",
        "3",
        "--patterns",
        "100",
        "--seed",
        &seed,
        "-o",
        path.to_str().unwrap(),
    ]);
}

fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The rows of a `list<string>` column.
fn lists(batch: &RecordBatch, column: &str) -> Vec<Vec<String>> {
    let list = batch.column_by_name(column).unwrap().as_list::<i32>();
    (0..list.len())
        .map(|row| {
            let values = list.value(row);
            let values = values.as_string::<i32>();
            (0..values.len())
                .map(|i| values.value(i).to_owned())
                .collect()
        })
        .collect()
}

fn doubles(batch: &RecordBatch, column: &str) -> Vec<f64> {
    let array = batch.column_by_name(column).unwrap();
    array.as_primitive::<Float64Type>().values().to_vec()
}

/// A basket CSV of generated transactions, items named as in a shop's data.
fn named_baskets(dir: &Path) -> PathBuf {
    let dat = dir.join("q.dat");
    generate(&dat, 3000, 200, 5);
    let text = std::fs::read_to_string(&dat).unwrap();
    let csv: String = text
        .lines()
        .map(|l| {
            let names: Vec<String> = l.split(' ').map(|id| format!("product {id}")).collect();
            names.join(",") + "\n"
        })
        .collect();
    let path = dir.join("baskets.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

#[test]
fn mined_parquet_has_sparks_schema_and_the_text_outputs_itemsets() {
    let dir = tempfile::tempdir().unwrap();
    let input = named_baskets(dir.path());
    let at = |name: &str| dir.path().join(name);
    let (text, itemsets, rules, rules_json) =
        (at("i.txt"), at("i.parquet"), at("r.parquet"), at("r.json"));
    let input = input.to_str().unwrap();
    let common = [
        "mine",
        "-i",
        input,
        "-f",
        "baskets",
        "--min-support",
        "0.02",
        "--rules",
    ];
    let with = |out: &Path, rules: &Path| {
        let (out, rules) = (out.to_str().unwrap(), rules.to_str().unwrap());
        run(&[&common[..], &["-o", out, "--rules-output", rules]].concat());
    };
    with(&text, &rules_json);
    with(&itemsets, &rules);

    let batches = read_parquet(&itemsets);
    let schema = batches[0].schema();
    assert_eq!(schema.fields().len(), 2);
    let (items, freq) = (schema.field(0), schema.field(1));
    assert_eq!(items.name(), "items");
    let DataType::List(element) = items.data_type() else {
        panic!("items is {}", items.data_type())
    };
    assert_eq!(element.data_type(), &DataType::Utf8);
    assert_eq!(
        (freq.name().as_str(), freq.data_type()),
        ("freq", &DataType::Int64)
    );
    let mut from_parquet = BTreeSet::new();
    for batch in &batches {
        let freq = batch
            .column_by_name("freq")
            .unwrap()
            .as_primitive::<Int64Type>();
        for (items, freq) in lists(batch, "items").into_iter().zip(freq.values()) {
            from_parquet.insert((items, *freq as u64));
        }
    }
    let from_text: BTreeSet<(Vec<String>, u64)> = std::fs::read_to_string(&text)
        .unwrap()
        .lines()
        .map(|l| affinity_mine::parse_itemset_line(l).unwrap())
        .collect();
    assert!(from_text.len() > 50, "{} itemsets", from_text.len());
    assert_eq!(from_parquet, from_text);

    let batches = read_parquet(&rules);
    let schema = batches[0].schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names[..5],
        ["antecedent", "consequent", "confidence", "lift", "support"]
    );
    assert_eq!(names[2..], affinity_mine::MEASURE_COLUMNS);
    for field in &schema.fields()[..2] {
        let DataType::List(element) = field.data_type() else {
            panic!("{} is {}", field.name(), field.data_type())
        };
        assert_eq!(element.data_type(), &DataType::Utf8);
    }
    for field in &schema.fields()[2..] {
        assert_eq!(field.data_type(), &DataType::Float64, "{}", field.name());
    }
    // The same rules, in the same order, as the JSON output.
    let json: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&rules_json).unwrap()).unwrap();
    assert!(!json.is_empty());
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows, json.len());
    let batch = &batches[0];
    let (antecedents, consequents) = (lists(batch, "antecedent"), lists(batch, "consequent"));
    let (confidence, lift) = (doubles(batch, "confidence"), doubles(batch, "lift"));
    for (i, rule) in json.iter().take(batch.num_rows()).enumerate() {
        let side =
            |key: &str| -> Vec<String> { serde_json::from_value(rule[key].clone()).unwrap() };
        assert_eq!(antecedents[i], side("antecedents"));
        assert_eq!(consequents[i], side("consequents"));
        assert_eq!(confidence[i], rule["confidence"].as_f64().unwrap());
        assert_eq!(lift[i], rule["lift"].as_f64().unwrap());
    }
}

#[test]
fn generated_files_are_reproducible_and_agree_across_formats() {
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| dir.path().join(name);
    let (dat, dat_again, other, pq, pq_again) = (
        at("a.dat"),
        at("b.dat"),
        at("c.dat"),
        at("a.parquet"),
        at("b.parquet"),
    );
    for (path, seed) in [
        (&dat, 9),
        (&dat_again, 9),
        (&other, 10),
        (&pq, 9),
        (&pq_again, 9),
    ] {
        generate(path, 70_000, 500, seed);
    }
    let bytes = |p: &Path| std::fs::read(p).unwrap();
    assert_eq!(bytes(&dat), bytes(&dat_again));
    assert_ne!(bytes(&dat), bytes(&other));
    assert_eq!(bytes(&pq), bytes(&pq_again));
    let options = LoadOptions::default();
    let (fimi, _) = read_transactions(&dat, TransactionFile::Fimi, &options).unwrap();
    let (table, _) = read_transactions(&pq, TransactionFile::Parquet, &options).unwrap();
    assert_eq!(fimi.baskets.len(), 70_000);
    assert_eq!(fimi.items.names(), table.items.names());
    assert_eq!(fimi.baskets, table.baskets);
    // Streamed: one row group per 65,536 transactions.
    let file = std::fs::File::open(&pq).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    assert_eq!(reader.metadata().num_row_groups(), 2);
}

#[test]
fn parquet_input_mines_as_its_text_does() {
    let dir = tempfile::tempdir().unwrap();
    let (dat, pq) = (dir.path().join("t.dat"), dir.path().join("t.parquet"));
    generate(&dat, 2000, 100, 1);
    generate(&pq, 2000, 100, 1);
    let (a, b) = (dir.path().join("a.txt"), dir.path().join("b.txt"));
    let mine = |input: &Path, format: &str, out: &Path| {
        run(&[
            "mine",
            "-i",
            input.to_str().unwrap(),
            "-f",
            format,
            "--min-count",
            "40",
            "-o",
            out.to_str().unwrap(),
        ])
    };
    mine(&dat, "fimi", &a);
    mine(&pq, "parquet", &b);
    let (a, b) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert!(a.len() > 100);
    assert_eq!(a, b);
}
