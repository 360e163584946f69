//! Where mined itemsets go: counted, collected, or written out as they are found.

use crate::error::Result;
use std::io::Write;

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

impl ItemsetSink for Vec<Itemset> {
    type Part = Vec<Itemset>;
    fn push(&mut self, items: &[u32], support: u64) -> Result<()> {
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
        self.append(&mut part);
        Ok(())
    }
}

/// Formats itemsets as text lines `item item item (support)`, with item names where given,
/// into a buffer.
#[derive(Debug, Clone)]
pub struct TextChunk<'n> {
    names: Option<&'n [String]>,
    /// The formatted lines.
    pub buffer: Vec<u8>,
}

impl<'n> TextChunk<'n> {
    fn write_line(&mut self, items: &[u32], support: u64) {
        for (i, &item) in items.iter().enumerate() {
            if i > 0 {
                self.buffer.push(b' ');
            }
            match self.names {
                Some(names) => self
                    .buffer
                    .extend_from_slice(names[item as usize].as_bytes()),
                None => {
                    let _ = write!(self.buffer, "{item}");
                }
            }
        }
        let _ = writeln!(self.buffer, " ({support})");
    }
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
            buffer: Vec::new(),
        }
    }
    fn absorb(&mut self, mut part: Self) -> Result<()> {
        self.buffer.append(&mut part.buffer);
        Ok(())
    }
}

/// Streams itemsets as text lines to a writer (a file, stdout), in chunks.
pub struct ItemsetWriter<'n, W: Write> {
    out: W,
    chunk: TextChunk<'n>,
}

impl<'n, W: Write> ItemsetWriter<'n, W> {
    /// Writes to `out`, naming items by `names[id]` when given, else by id.
    pub fn new(out: W, names: Option<&'n [String]>) -> Self {
        ItemsetWriter {
            out,
            chunk: TextChunk {
                names,
                buffer: Vec::with_capacity(1 << 16),
            },
        }
    }

    fn drain(&mut self) -> Result<()> {
        self.out.write_all(&self.chunk.buffer)?;
        self.chunk.buffer.clear();
        Ok(())
    }

    /// Flushes and returns the writer.
    pub fn finish(mut self) -> Result<W> {
        self.drain()?;
        self.out.flush()?;
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
        self.out.write_all(&part.buffer)?;
        Ok(())
    }
}
