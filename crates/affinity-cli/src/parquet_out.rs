//! Itemsets and rules as Parquet, with the column names and types of Spark's FPGrowth, so that
//! a Spark or pandas user reads affinity's output as they read `freqItemsets` and
//! `associationRules`:
//!
//! - itemsets: `items: list<string>` (Spark's `array<string>`), `freq: int64`;
//! - rules: `antecedent: list<string>, consequent: list<string>, confidence: double,
//!   lift: double, support: double`, then affinity's further measures as `double` columns
//!   (in [`affinity_mine::MEASURE_COLUMNS`] order).
//!
//! Snappy-compressed (Spark's default codec), written in row groups of
//! [`ROW_GROUP_ROWS`] rows: the writer holds one group at a time.

use affinity_core::WriteError;
use affinity_data::columnar::ROW_GROUP_ROWS;
use affinity_mine::{ItemsetSink, Rule, MEASURE_COLUMNS};
use arrow_array::builder::{Float64Builder, Int64Builder, ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn io(e: impl std::error::Error + Send + Sync + 'static) -> std::io::Error {
    std::io::Error::other(e)
}

/// `list<string>` as Spark and pyarrow write it: elements named `element`.
fn string_list() -> DataType {
    DataType::List(Arc::new(Field::new("element", DataType::Utf8, true)))
}

fn names_builder() -> ListBuilder<StringBuilder> {
    ListBuilder::new(StringBuilder::new()).with_field(Arc::new(Field::new(
        "element",
        DataType::Utf8,
        true,
    )))
}

fn writer<W: Write + Send>(out: W, schema: &SchemaRef) -> std::io::Result<ArrowWriter<W>> {
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        // Row groups end where this module flushes, not at a row count of the library's.
        .set_max_row_group_row_count(None)
        .set_created_by(format!("affinity {}", env!("CARGO_PKG_VERSION")))
        .build();
    ArrowWriter::try_new(out, schema.clone(), Some(properties)).map_err(io)
}

/// The schema of the itemsets file.
pub fn itemset_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("items", string_list(), false),
        Field::new("freq", DataType::Int64, false),
    ]))
}

/// The schema of the rules file.
pub fn rule_schema() -> SchemaRef {
    let mut fields = vec![
        Field::new("antecedent", string_list(), false),
        Field::new("consequent", string_list(), false),
    ];
    fields.extend(
        MEASURE_COLUMNS
            .iter()
            .map(|&name| Field::new(name, DataType::Float64, name == "lift")),
    );
    Arc::new(Schema::new(fields))
}

/// Itemsets found by a worker thread, kept compact (item ids end to end) until absorbed.
#[derive(Debug, Default)]
pub struct ItemsetChunk {
    items: Vec<u32>,
    lens: Vec<u32>,
    freqs: Vec<u64>,
}

impl ItemsetSink for ItemsetChunk {
    type Part = ItemsetChunk;

    fn push(&mut self, items: &[u32], support: u64) -> affinity_mine::Result<()> {
        self.items.extend_from_slice(items);
        self.lens.push(items.len() as u32);
        self.freqs.push(support);
        Ok(())
    }

    fn part(&self) -> ItemsetChunk {
        ItemsetChunk::default()
    }

    fn absorb(&mut self, mut part: ItemsetChunk) -> affinity_mine::Result<()> {
        self.items.append(&mut part.items);
        self.lens.append(&mut part.lens);
        self.freqs.append(&mut part.freqs);
        Ok(())
    }
}

/// Streams itemsets into a Parquet file, items named by `names`.
pub struct ParquetItemsets<'n, W: Write + Send> {
    writer: ArrowWriter<W>,
    schema: SchemaRef,
    names: &'n [String],
    items: ListBuilder<StringBuilder>,
    freqs: Int64Builder,
    rows: usize,
    /// What `out` writes to, for errors.
    dest: PathBuf,
}

impl<'n, W: Write + Send> ParquetItemsets<'n, W> {
    /// A writer to `out`, which writes to `dest` (named in errors).
    pub fn new(out: W, dest: &Path, names: &'n [String]) -> std::io::Result<Self> {
        let schema = itemset_schema();
        Ok(ParquetItemsets {
            writer: writer(out, &schema)?,
            dest: dest.to_path_buf(),
            schema,
            names,
            items: names_builder(),
            freqs: Int64Builder::new(),
            rows: 0,
        })
    }

    fn add(&mut self, items: &[u32], support: u64) -> std::io::Result<()> {
        for &item in items {
            self.items.values().append_value(&self.names[item as usize]);
        }
        self.items.append(true);
        self.freqs.append_value(support as i64);
        self.rows += 1;
        if self.rows == ROW_GROUP_ROWS {
            self.write_group()?;
        }
        Ok(())
    }

    fn write_group(&mut self) -> std::io::Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        let columns: Vec<ArrayRef> =
            vec![Arc::new(self.items.finish()), Arc::new(self.freqs.finish())];
        let batch = RecordBatch::try_new(self.schema.clone(), columns).map_err(io)?;
        self.writer.write(&batch).map_err(io)?;
        self.writer.flush().map_err(io)?;
        self.rows = 0;
        Ok(())
    }

    /// Writes what is held and the footer; returns the output.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.write_group()?;
        self.writer.into_inner().map_err(io)
    }
}

impl<W: Write + Send> ItemsetSink for ParquetItemsets<'_, W> {
    type Part = ItemsetChunk;

    fn push(&mut self, items: &[u32], support: u64) -> affinity_mine::Result<()> {
        self.add(items, support)
            .map_err(|e| WriteError::new(&self.dest, e).into())
    }

    fn part(&self) -> ItemsetChunk {
        ItemsetChunk::default()
    }

    fn absorb(&mut self, part: ItemsetChunk) -> affinity_mine::Result<()> {
        let mut start = 0;
        for (&len, &freq) in part.lens.iter().zip(&part.freqs) {
            let end = start + len as usize;
            self.add(&part.items[start..end], freq)
                .map_err(|e| WriteError::new(&self.dest, e))?;
            start = end;
        }
        Ok(())
    }
}

/// Writes `rules` to `out` as Parquet, items named by `names`.
pub fn write_rules_parquet<W: Write + Send>(
    out: W,
    rules: &[Rule],
    names: &[String],
) -> std::io::Result<W> {
    let schema = rule_schema();
    let mut writer = writer(out, &schema)?;
    for group in rules.chunks(ROW_GROUP_ROWS) {
        let mut sides = [names_builder(), names_builder()];
        for rule in group {
            for (builder, items) in sides.iter_mut().zip([&rule.antecedent, &rule.consequent]) {
                for &item in items {
                    builder.values().append_value(&names[item as usize]);
                }
                builder.append(true);
            }
        }
        let [antecedent, consequent] = &mut sides;
        let mut columns: Vec<ArrayRef> =
            vec![Arc::new(antecedent.finish()), Arc::new(consequent.finish())];
        let mut measures = MEASURE_COLUMNS.map(|_| Float64Builder::with_capacity(group.len()));
        for rule in group {
            for (builder, value) in measures.iter_mut().zip(rule.measures()) {
                builder.append_value(value);
            }
        }
        columns.extend(
            measures
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef),
        );
        let batch = RecordBatch::try_new(schema.clone(), columns).map_err(io)?;
        writer.write(&batch).map_err(io)?;
        writer.flush().map_err(io)?;
    }
    writer.into_inner().map_err(io)
}
