//! Input options shared by every subcommand that reads a dataset.

use affinity_data::columnar::{Columnar, Container};
use affinity_data::{Format, LoadOptions, LongCsv, PseudonymKey, TimeFormat};
use anyhow::bail;
use std::path::{Path, PathBuf};

/// File formats on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    /// One event per row with a header (the Kaggle Groceries file is one).
    Long,
    /// One basket per line, comma-separated item names (the arules Groceries form).
    Baskets,
    /// FIMI .dat: one transaction per line, space-separated item ids.
    Fimi,
    /// UniSRec/RecBole atomic files; --input is DIR/NAME.
    Unisrec,
    /// A Parquet table: events (columns as for long, chosen by the same flags) or baskets (a
    /// list column, --items-col).
    Parquet,
    /// An Arrow IPC table (file or stream format), read like parquet.
    Arrow,
}

impl FormatArg {
    /// The container of the columnar formats.
    pub fn container(self) -> Option<Container> {
        match self {
            FormatArg::Parquet => Some(Container::Parquet),
            FormatArg::Arrow => Some(Container::ArrowIpc),
            _ => None,
        }
    }
}

/// Where the data comes from and how to read it.
#[derive(Debug, Clone, clap::Args)]
pub struct InputArgs {
    /// The data file (for unisrec: the prefix DIR/NAME of the atomic files).
    #[arg(long, short)]
    pub input: PathBuf,
    #[command(flatten)]
    pub read: ReadArgs,
}

impl std::ops::Deref for InputArgs {
    type Target = ReadArgs;
    fn deref(&self) -> &ReadArgs {
        &self.read
    }
}

impl InputArgs {
    /// Loads the dataset.
    pub fn load(&self) -> anyhow::Result<(affinity_data::Dataset, affinity_data::LoadReport)> {
        self.read.load(&self.input)
    }
}

/// How a data file is read (the file itself is named by the command).
#[derive(Debug, Clone, clap::Args)]
pub struct ReadArgs {
    /// How the file is laid out.
    #[arg(long, short, value_enum, default_value = "long")]
    pub format: FormatArg,
    /// Long CSV and event tables: the user column (default: found by common names).
    #[arg(long)]
    pub user_col: Option<String>,
    /// Long CSV and event tables: the item column (default: found by common names).
    #[arg(long)]
    pub item_col: Option<String>,
    /// Long CSV and event tables: the timestamp column (default: found by common names).
    #[arg(long)]
    pub time_col: Option<String>,
    /// Long CSV and event tables: the event kind column.
    #[arg(long)]
    pub event_col: Option<String>,
    /// Long CSV and event tables: the order (basket) id column.
    #[arg(long)]
    pub order_col: Option<String>,
    /// Parquet/Arrow basket tables: the list column of items [default: items]. Naming it reads
    /// the table as baskets; without it, a table with a list column `items` (and no
    /// --user-col or --item-col) is read as baskets, any other as events.
    #[arg(long)]
    pub items_col: Option<String>,
    /// Long CSV and event tables: how timestamps written as text or plain integers read:
    /// auto, iso, dmy, mdy, unix, unix-ms (Arrow timestamps and dates need none).
    #[arg(long, default_value = "auto")]
    pub time_format: TimeFormat,
    /// Long CSV: the field delimiter (one ASCII character; "tab" for tabs).
    #[arg(long, default_value = ",")]
    pub delimiter: String,
    /// Skip malformed rows (reported by kind) instead of stopping at the first.
    #[arg(long)]
    pub lenient: bool,
    /// Replace user ids by keyed pseudonyms as they are read, so that no raw id reaches an
    /// output, a model or a bundle (a file of 64 hex digits: `affinity data new-key`).
    #[arg(long, value_name = "FILE")]
    pub pseudonymize_key_file: Option<PathBuf>,
}

impl ReadArgs {
    /// The loader's format and options.
    pub fn to_format(&self) -> anyhow::Result<(Format, LoadOptions)> {
        let delimiter = match self.delimiter.as_str() {
            "tab" | "\\t" => b'\t',
            d if d.len() == 1 && d.is_ascii() => d.as_bytes()[0],
            d => bail!("--delimiter must be one ASCII character or \"tab\", got {d:?}"),
        };
        let columns = LongCsv {
            delimiter,
            user: self.user_col.clone(),
            item: self.item_col.clone(),
            time: self.time_col.clone(),
            event: self.event_col.clone(),
            order: self.order_col.clone(),
            time_format: self.time_format,
            ..LongCsv::default()
        };
        let format = match self.format {
            FormatArg::Long => Format::Long(columns),
            FormatArg::Baskets => Format::Baskets,
            FormatArg::Fimi => Format::Fimi,
            FormatArg::Unisrec => Format::UniSRec,
            FormatArg::Parquet => Format::Parquet(self.columnar(columns)),
            FormatArg::Arrow => Format::ArrowIpc(self.columnar(columns)),
        };
        let options = LoadOptions {
            lenient: self.lenient,
            pseudonymize_key: self.pseudonym_key()?.map(|k| k.bytes()),
        };
        Ok((format, options))
    }

    /// How a Parquet or Arrow table is read, with `columns` for an event table.
    pub fn columnar(&self, columns: LongCsv) -> Columnar {
        Columnar {
            columns,
            items: self.items_col.clone(),
            ..Columnar::default()
        }
    }

    /// The key of `--pseudonymize-key-file`, read.
    pub fn pseudonym_key(&self) -> anyhow::Result<Option<PseudonymKey>> {
        Ok(match &self.pseudonymize_key_file {
            Some(path) => Some(PseudonymKey::read(path)?),
            None => None,
        })
    }

    /// Loads the dataset in `path`.
    pub fn load(
        &self,
        path: &Path,
    ) -> anyhow::Result<(affinity_data::Dataset, affinity_data::LoadReport)> {
        let (format, options) = self.to_format()?;
        // The loader's errors already name the file and line.
        Ok(affinity_data::load(path, &format, &options)?)
    }

    /// How this reads files, as the manifest records it.
    /// The file whose size and digest describe the data at `path` (for unisrec, the events
    /// file of the prefix).
    pub fn source_file(&self, path: &Path) -> PathBuf {
        match self.format {
            FormatArg::Unisrec => {
                let mut name = path.file_name().unwrap_or_default().to_os_string();
                name.push(".test.inter");
                path.with_file_name(name)
            }
            _ => path.to_path_buf(),
        }
    }
}
