//! Opening a Parquet or Arrow IPC file and streaming its record batches, with errors that
//! name the file and where in it (row group, record batch) the decoder failed.

use super::Container;
use crate::error::{DataError, Result};
use arrow_array::RecordBatch;
use arrow_schema::{ArrowError, SchemaRef};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// Rows per record batch read: large enough that per-batch work vanishes, small enough that
/// a batch of a wide table stays a few megabytes.
const BATCH_ROWS: usize = 64 * 1024;

/// An open table: its schema, and the decoder to stream it.
pub(super) struct Source {
    path: PathBuf,
    container: Container,
    pub schema: SchemaRef,
    inner: Inner,
}

enum Inner {
    Parquet(File, ArrowReaderMetadata),
    IpcFile(arrow_ipc::reader::FileReader<BufReader<File>>),
    IpcStream(arrow_ipc::reader::StreamReader<BufReader<File>>),
}

type BatchIter = Box<dyn Iterator<Item = std::result::Result<RecordBatch, ArrowError>>>;

/// Record batches in file order, each with the 0-based index of its first row.
pub(super) struct Batches {
    path: PathBuf,
    container: Container,
    iter: BatchIter,
    /// Parquet: the row after the last of each row group, to name the group of a failure.
    group_ends: Vec<u64>,
    rows: u64,
    batches: u64,
}

impl Source {
    /// Opens `path` as `container`, reading its schema (and for Parquet, its footer).
    pub fn open(path: &Path, container: Container) -> Result<Self> {
        let mut file = File::open(path).map_err(|e| DataError::io(path, e))?;
        let mut magic = [0u8; 6];
        let got = read_up_to(&mut file, &mut magic).map_err(|e| DataError::io(path, e))?;
        let magic = &magic[..got];
        let corrupt = |detail: String| DataError::Corrupt {
            path: path.to_path_buf(),
            format: container.name(),
            detail,
        };
        if got == 0 {
            return Err(DataError::Empty {
                path: path.to_path_buf(),
            });
        }
        let is_parquet = magic.starts_with(b"PAR1");
        match container {
            Container::Parquet if !is_parquet => {
                return Err(corrupt(format!(
                    "no Parquet magic bytes (PAR1) at the start{}",
                    hint(magic)
                )))
            }
            Container::ArrowIpc if is_parquet => {
                return Err(corrupt(
                    "this is a Parquet file: read it with --format parquet".into(),
                ))
            }
            _ => {}
        }
        let file = File::open(path).map_err(|e| DataError::io(path, e))?;
        let inner = match container {
            Container::Parquet => {
                let metadata = ArrowReaderMetadata::load(&file, ArrowReaderOptions::default())
                    .map_err(|e| corrupt(e.to_string()))?;
                Inner::Parquet(file, metadata)
            }
            // The file format starts with ARROW1; anything else is read as the stream format.
            Container::ArrowIpc if magic == b"ARROW1" => Inner::IpcFile(
                arrow_ipc::reader::FileReader::try_new_buffered(file, None)
                    .map_err(|e| corrupt(e.to_string()))?,
            ),
            Container::ArrowIpc => Inner::IpcStream(
                arrow_ipc::reader::StreamReader::try_new_buffered(file, None)
                    .map_err(|e| corrupt(format!("{e}{}", hint(magic))))?,
            ),
        };
        let schema = match &inner {
            Inner::Parquet(_, m) => m.schema().clone(),
            Inner::IpcFile(r) => r.schema(),
            Inner::IpcStream(r) => r.schema(),
        };
        Ok(Source {
            path: path.to_path_buf(),
            container,
            schema,
            inner,
        })
    }

    /// The names of the top-level columns.
    pub fn names(&self) -> Vec<String> {
        self.schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    /// Streams the table, decoding only the top-level columns `columns` (indices into the
    /// schema) where the container allows it (Parquet).
    pub fn batches(self, columns: &[usize]) -> Result<Batches> {
        let (iter, group_ends): (BatchIter, Vec<u64>) = match self.inner {
            Inner::Parquet(file, metadata) => {
                let mut ends = Vec::new();
                let mut end = 0u64;
                for group in metadata.metadata().row_groups() {
                    end += group.num_rows().max(0) as u64;
                    ends.push(end);
                }
                let mask =
                    ProjectionMask::roots(metadata.parquet_schema(), columns.iter().copied());
                // One reader per row group, so that a failure is known to be in its group
                // (a batch of a reader over the whole file may span groups).
                let groups = (0..ends.len()).map(move |group| {
                    let input = file.try_clone()?;
                    ParquetRecordBatchReaderBuilder::new_with_metadata(input, metadata.clone())
                        .with_projection(mask.clone())
                        .with_row_groups(vec![group])
                        .with_batch_size(BATCH_ROWS)
                        .build()
                        .map_err(|e| ArrowError::ExternalError(Box::new(e)))
                });
                let iter = groups.flat_map(|reader| -> BatchIter {
                    match reader {
                        Ok(reader) => Box::new(reader),
                        Err(e) => Box::new(std::iter::once(Err(e))),
                    }
                });
                (Box::new(iter), ends)
            }
            Inner::IpcFile(reader) => (Box::new(reader), Vec::new()),
            Inner::IpcStream(reader) => (Box::new(reader), Vec::new()),
        };
        Ok(Batches {
            path: self.path,
            container: self.container,
            iter,
            group_ends,
            rows: 0,
            batches: 0,
        })
    }
}

impl Batches {
    /// The next batch and the 0-based index of its first row; `None` at the end.
    pub fn next_batch(&mut self) -> Result<Option<(u64, RecordBatch)>> {
        match self.iter.next() {
            None => Ok(None),
            Some(Ok(batch)) => {
                let first = self.rows;
                self.rows += batch.num_rows() as u64;
                self.batches += 1;
                Ok(Some((first, batch)))
            }
            Some(Err(e)) => {
                let at = if self.group_ends.is_empty() {
                    format!("record batch {}", self.batches + 1)
                } else {
                    let group = self.group_ends.partition_point(|&end| end <= self.rows);
                    format!("row group {group} (from row {})", self.rows + 1)
                };
                Err(DataError::Corrupt {
                    path: self.path.clone(),
                    format: self.container.name(),
                    detail: format!("{at}: {e}"),
                })
            }
        }
    }
}

/// Reads as many bytes as `buf` holds, fewer only at the end of the file.
fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

/// What a file that is not the asked-for container probably is.
fn hint(magic: &[u8]) -> &'static str {
    if magic.starts_with(b"PAR1") {
        " (it is a Parquet file: use --format parquet)"
    } else if magic.starts_with(b"ARROW1") {
        " (it is an Arrow IPC file: use --format arrow)"
    } else if magic
        .iter()
        .all(|b| b.is_ascii() && !b.is_ascii_control() || *b == b'\n')
    {
        " (it looks like text: use --format long, baskets or fimi)"
    } else {
        ""
    }
}
