//! Where mined itemsets go: counted, collected, or written out as they are found.

use crate::error::Result;
use affinity_core::{Counter, Progress, WriteError};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Receives itemsets as the miner finds them. Items come sorted ascending by id.
///
/// Multi-threaded mining gives each unit of work its own [`ItemsetSink::Part`] and absorbs the
/// parts in a fixed order, so the output does not depend on the thread count.
pub trait ItemsetSink {
    /// A sink for one unit of parallel work.
    type Part: ItemsetSink<Part = Self::Part> + Send;

    /// One itemset and its (weighted) support count.
    fn push(&mut self, items: &[u32], support: u64) -> Result<()>;

    /// False for sinks that only count: the miner may then report many itemsets at once
    /// through [`ItemsetSink::push_count`] without listing them.
    fn needs_itemsets(&self) -> bool {
        true
    }

    /// Called instead of `push` for `n` itemsets when `needs_itemsets` is false.
    fn push_count(&mut self, n: u64) -> Result<()> {
        let _ = n;
        Ok(())
    }

    /// An empty part.
    fn part(&self) -> Self::Part;

    /// Appends a finished part.
    fn absorb(&mut self, part: Self::Part) -> Result<()>;
}

/// Counts itemsets without keeping them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CountSink {
    /// Itemsets seen.
    pub count: u64,
}

impl ItemsetSink for CountSink {
    type Part = CountSink;
    fn push(&mut self, _items: &[u32], _support: u64) -> Result<()> {
        self.count += 1;
        Ok(())
    }
    fn needs_itemsets(&self) -> bool {
        false
    }
    fn push_count(&mut self, n: u64) -> Result<()> {
        self.count += n;
        Ok(())
    }
    fn part(&self) -> Self {
        CountSink::default()
    }
    fn absorb(&mut self, part: Self) -> Result<()> {
        self.count += part.count;
        Ok(())
    }
}

/// One itemset with its support count.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Itemset {
    /// Item ids, ascending.
    pub items: Vec<u32>,
    /// Transactions (weighted) that contain every item.
    pub support: u64,
}

/// Room for `more` itemsets of about `width` items each in `held`, or the error that says
/// memory ran out. A failed allocation aborts a Rust process, so before the vector grows
/// (rarely: it doubles) the room the grown vector and the itemsets that will fill it need is
/// checked against what the process may still take ([`affinity_core::memory::fits`]).
fn reserve(held: &mut Vec<Itemset>, more: usize, width: usize) -> Result<()> {
    let out_of_memory = |held: &Vec<Itemset>| crate::MineError::OutOfMemory {
        what: "itemsets",
        held: held.len(),
    };
    if held.len() + more > held.capacity() {
        let grown = (held.len() + more).max(held.capacity() * 2) as u64;
        // The vector itself, and each itemset's own items (with the allocator's overhead).
        let each = std::mem::size_of::<Itemset>() as u64 + 4 * width as u64 + 16;
        if !affinity_core::memory::fits(grown.saturating_mul(each)) {
            return Err(out_of_memory(held));
        }
    }
    held.try_reserve(more).map_err(|_| out_of_memory(held))
}

impl ItemsetSink for Vec<Itemset> {
    type Part = Vec<Itemset>;
    fn push(&mut self, items: &[u32], support: u64) -> Result<()> {
        reserve(self, 1, items.len())?;
        self.push(Itemset {
            items: items.to_vec(),
            support,
        });
        Ok(())
    }
    fn part(&self) -> Self {
        Vec::new()
    }
    fn absorb(&mut self, mut part: Self) -> Result<()> {
        let width = part.first().map_or(0, |s| s.items.len());
        reserve(self, part.len(), width)?;
        self.append(&mut part);
        Ok(())
    }
}

/// How itemsets are written out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ItemsetFormat {
    /// `item item (support)` per line, as the FIMI tools write; a name that holds a space,
    /// a parenthesis, a quote, a backslash or a control character is written as a JSON
    /// string (`"whole milk" yogurt (3)`), so every line reads back one way.
    #[default]
    Text,
    /// One JSON object per line: `{"items":["whole milk","yogurt"],"support":3}`.
    JsonLines,
    /// CSV with Spark FPGrowth's columns `items,freq`; `items` is a JSON array.
    Csv,
}

/// Formats itemsets as lines of an [`ItemsetFormat`], with item names where given, into a
/// buffer.
#[derive(Debug, Clone)]
pub struct TextChunk<'n> {
    names: Option<&'n [String]>,
    format: ItemsetFormat,
    /// The formatted lines.
    pub buffer: Vec<u8>,
}

impl<'n> TextChunk<'n> {
    fn name(&self, item: u32) -> std::borrow::Cow<'n, str> {
        match self.names {
            Some(names) => std::borrow::Cow::Borrowed(names[item as usize].as_str()),
            None => std::borrow::Cow::Owned(item.to_string()),
        }
    }

    fn write_line(&mut self, items: &[u32], support: u64) {
        match self.format {
            ItemsetFormat::Text => {
                for (i, &item) in items.iter().enumerate() {
                    if i > 0 {
                        self.buffer.push(b' ');
                    }
                    match self.names {
                        None => {
                            let _ = write!(self.buffer, "{item}");
                        }
                        Some(names) => {
                            let name = names[item as usize].as_str();
                            if needs_quoting(name) {
                                let _ = serde_json::to_writer(&mut self.buffer, name);
                            } else {
                                self.buffer.extend_from_slice(name.as_bytes());
                            }
                        }
                    }
                }
                let _ = writeln!(self.buffer, " ({support})");
            }
            ItemsetFormat::JsonLines => {
                let names: Vec<_> = items.iter().map(|&i| self.name(i)).collect();
                let line = serde_json::json!({ "items": names, "support": support });
                let _ = serde_json::to_writer(&mut self.buffer, &line);
                self.buffer.push(b'\n');
            }
            ItemsetFormat::Csv => {
                let names: Vec<_> = items.iter().map(|&i| self.name(i)).collect();
                let cell = serde_json::to_string(&names).expect("strings");
                let _ = writeln!(
                    self.buffer,
                    "{},{support}",
                    crate::rules::output::csv_field(&cell)
                );
            }
        }
    }
}

/// Reads one line of the text form back ([`ItemsetFormat::Text`]): item names split at single
/// spaces, JSON strings where quoted, then ` (support)`. `None` for a line the writer could not
/// have written.
///
/// ```
/// let (items, support) = affinity_mine::parse_itemset_line(r#""whole milk" yogurt (3)"#).unwrap();
/// assert_eq!((items, support), (vec!["whole milk".to_string(), "yogurt".to_string()], 3));
/// ```
pub fn parse_itemset_line(line: &str) -> Option<(Vec<String>, u64)> {
    let (body, support) = line.rsplit_once(" (")?;
    let support = support.strip_suffix(')')?.parse().ok()?;
    let mut items = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        if rest.starts_with('"') {
            let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<String>();
            items.push(stream.next()?.ok()?);
            rest = &rest[stream.byte_offset()..];
        } else {
            let end = rest.find(' ').unwrap_or(rest.len());
            items.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
        if !rest.is_empty() {
            rest = rest.strip_prefix(' ')?;
            if rest.is_empty() {
                return None; // a trailing separator is not the writer's
            }
        }
    }
    Some((items, support))
}

/// Whether a name must be quoted in the text form to be read back as one item.
fn needs_quoting(name: &str) -> bool {
    name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '(' | ')' | '"' | '\\'))
}

impl<'n> ItemsetSink for TextChunk<'n> {
    type Part = TextChunk<'n>;
    fn push(&mut self, items: &[u32], support: u64) -> Result<()> {
        self.write_line(items, support);
        Ok(())
    }
    fn part(&self) -> Self {
        TextChunk {
            names: self.names,
            format: self.format,
            buffer: Vec::new(),
        }
    }
    fn absorb(&mut self, mut part: Self) -> Result<()> {
        self.buffer.append(&mut part.buffer);
        Ok(())
    }
}

/// Streams itemsets to a writer (a file, stdout) in chunks, as text, JSON lines or CSV.
pub struct ItemsetWriter<'n, W: Write> {
    out: W,
    /// What `out` writes to, for errors.
    dest: PathBuf,
    chunk: TextChunk<'n>,
}

impl<'n, W: Write> ItemsetWriter<'n, W> {
    /// Writes text lines to `out`, naming items by `names[id]` when given, else by id. `dest`
    /// says where `out` goes (a path, or `-` for standard output) in its errors.
    pub fn new(out: W, dest: &Path, names: Option<&'n [String]>) -> Self {
        Self::with_format(out, dest, names, ItemsetFormat::Text)
    }

    /// Writes `format` to `out` (the CSV header first), as [`ItemsetWriter::new`].
    pub fn with_format(
        out: W,
        dest: &Path,
        names: Option<&'n [String]>,
        format: ItemsetFormat,
    ) -> Self {
        let mut buffer = Vec::with_capacity(1 << 16);
        if format == ItemsetFormat::Csv {
            buffer.extend_from_slice(b"items,freq\n");
        }
        ItemsetWriter {
            out,
            dest: dest.to_path_buf(),
            chunk: TextChunk {
                names,
                format,
                buffer,
            },
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.out
            .write_all(bytes)
            .map_err(|e| WriteError::new(&self.dest, e).into())
    }

    fn drain(&mut self) -> Result<()> {
        let buffer = std::mem::take(&mut self.chunk.buffer);
        self.write(&buffer)?;
        self.chunk.buffer = buffer;
        self.chunk.buffer.clear();
        Ok(())
    }

    /// Flushes and returns the writer.
    pub fn finish(mut self) -> Result<W> {
        self.drain()?;
        self.out
            .flush()
            .map_err(|e| WriteError::new(&self.dest, e))?;
        Ok(self.out)
    }
}

impl<'n, W: Write> ItemsetSink for ItemsetWriter<'n, W> {
    type Part = TextChunk<'n>;
    fn push(&mut self, items: &[u32], support: u64) -> Result<()> {
        self.chunk.write_line(items, support);
        if self.chunk.buffer.len() >= 1 << 16 {
            self.drain()?;
        }
        Ok(())
    }
    fn part(&self) -> TextChunk<'n> {
        self.chunk.part()
    }
    fn absorb(&mut self, part: TextChunk<'n>) -> Result<()> {
        self.drain()?;
        self.write(&part.buffer)
    }
}

/// Forwards itemsets to `inner` and counts them on a [`Progress`], from every worker thread
/// (the total is not known before the end, so it is a count, not a fraction).
///
/// ```
/// use affinity_mine::{mine_itemsets, Algorithm, Counted, MinSupport, MiningParams};
/// let baskets = vec![vec![0, 1], vec![0, 1, 2]];
/// let mut found = Counted::new(Vec::new(), &());
/// mine_itemsets(&baskets, None, &MiningParams::new(MinSupport::Count(2)), Algorithm::FpGrowth, &mut found)?;
/// assert_eq!(found.into_inner().len(), 3);
/// # Ok::<(), affinity_mine::MineError>(())
/// ```
pub struct Counted<'p, S> {
    inner: S,
    counter: Counter<'p>,
}

impl<'p, S> Counted<'p, S> {
    /// Counts what goes into `inner` on `progress`.
    pub fn new(inner: S, progress: &'p dyn Progress) -> Self {
        Counted {
            inner,
            counter: Counter::new(progress),
        }
    }

    /// The sink, after the run (every count reported).
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for Counted<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counted")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<'p, S: ItemsetSink> ItemsetSink for Counted<'p, S> {
    type Part = Counted<'p, S::Part>;

    fn push(&mut self, items: &[u32], support: u64) -> Result<()> {
        self.counter.add(1);
        self.inner.push(items, support)
    }

    fn needs_itemsets(&self) -> bool {
        self.inner.needs_itemsets()
    }

    fn push_count(&mut self, n: u64) -> Result<()> {
        self.counter.add(n);
        self.inner.push_count(n)
    }

    fn part(&self) -> Counted<'p, S::Part> {
        Counted::new(self.inner.part(), self.counter.progress())
    }

    fn absorb(&mut self, part: Counted<'p, S::Part>) -> Result<()> {
        self.inner.absorb(part.into_inner())
    }
}
