//! Writing basket tables to Parquet, streamed in row groups (the Quest generator's output).

use arrow_array::builder::{Int32Builder, ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::io::Write;
use std::sync::Arc;

/// Rows per Parquet row group written: the writer holds one group's baskets at a time.
pub const ROW_GROUP_ROWS: usize = 64 * 1024;

/// Writes a Parquet basket table: one column `items` of `list<int32>` (item ids) or
/// `list<string>` (item names), snappy-compressed (Spark's default codec), one row group per
/// [`ROW_GROUP_ROWS`] baskets, so memory stays constant however many baskets are written.
pub struct BasketWriter<W: Write + Send> {
    writer: ArrowWriter<W>,
    schema: SchemaRef,
    batch: Batch,
    rows: usize,
}

enum Batch {
    Ids(ListBuilder<Int32Builder>),
    Names(ListBuilder<StringBuilder>),
}

/// The list's element field: named `element`, as Spark and pyarrow name it in Parquet.
fn element(data_type: DataType) -> Arc<Field> {
    Arc::new(Field::new("element", data_type, true))
}

/// The properties of every Parquet file affinity writes: snappy, and row groups ended by
/// the writer's own flushes (not by a row count of the library's choosing).
pub(crate) fn properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(None)
        .set_created_by(format!("affinity {}", env!("CARGO_PKG_VERSION")))
        .build()
}

fn to_io(e: impl std::error::Error + Send + Sync + 'static) -> std::io::Error {
    std::io::Error::other(e)
}

impl<W: Write + Send> BasketWriter<W> {
    /// A writer of item ids (`ids`: `list<int32>`) or of item names (`list<string>`) to `out`.
    pub fn create(out: W, ids: bool) -> std::io::Result<Self> {
        let (data_type, batch) = if ids {
            let builder =
                ListBuilder::new(Int32Builder::new()).with_field(element(DataType::Int32));
            (DataType::Int32, Batch::Ids(builder))
        } else {
            let builder =
                ListBuilder::new(StringBuilder::new()).with_field(element(DataType::Utf8));
            (DataType::Utf8, Batch::Names(builder))
        };
        let schema = Arc::new(Schema::new(vec![Field::new(
            "items",
            DataType::List(element(data_type)),
            false,
        )]));
        let writer =
            ArrowWriter::try_new(out, schema.clone(), Some(properties())).map_err(to_io)?;
        Ok(BasketWriter {
            writer,
            schema,
            batch,
            rows: 0,
        })
    }

    /// Adds a basket of item ids (each at most `i32::MAX`); only for a writer of ids.
    pub fn push_ids(&mut self, items: &[u32]) -> std::io::Result<()> {
        let Batch::Ids(builder) = &mut self.batch else {
            return Err(std::io::Error::other(
                "a writer of names was given item ids",
            ));
        };
        for &item in items {
            let id = i32::try_from(item)
                .map_err(|_| std::io::Error::other(format!("item id {item} exceeds int32")))?;
            builder.values().append_value(id);
        }
        builder.append(true);
        self.row_done()
    }

    /// Adds a basket of item names; only for a writer of names.
    pub fn push(&mut self, items: &[impl AsRef<str>]) -> std::io::Result<()> {
        let Batch::Names(builder) = &mut self.batch else {
            return Err(std::io::Error::other(
                "a writer of ids was given item names",
            ));
        };
        for item in items {
            builder.values().append_value(item.as_ref());
        }
        builder.append(true);
        self.row_done()
    }

    fn row_done(&mut self) -> std::io::Result<()> {
        self.rows += 1;
        if self.rows == ROW_GROUP_ROWS {
            self.write_group()?;
        }
        Ok(())
    }

    /// Writes the baskets held as one row group.
    fn write_group(&mut self) -> std::io::Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        let column: ArrayRef = match &mut self.batch {
            Batch::Ids(builder) => Arc::new(builder.finish()),
            Batch::Names(builder) => Arc::new(builder.finish()),
        };
        let batch = RecordBatch::try_new(self.schema.clone(), vec![column]).map_err(to_io)?;
        self.writer.write(&batch).map_err(to_io)?;
        self.writer.flush().map_err(to_io)?;
        self.rows = 0;
        Ok(())
    }

    /// Writes what is held and the footer; returns the output.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.write_group()?;
        self.writer.into_inner().map_err(to_io)
    }
}
