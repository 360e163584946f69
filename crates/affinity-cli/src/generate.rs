//! `affinity data generate`: synthetic transactions (IBM Quest style) to FIMI or Parquet.

use crate::thousands;
use affinity_core::files::write_file;
use affinity_core::{Counter, Progress};
use affinity_data::columnar::BasketWriter;
use affinity_data::quest::{QuestGenerator, QuestParams};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GenerateFormat {
    /// FIMI .dat: one transaction per line, space-separated item ids.
    Fimi,
    /// Parquet: one column `items: list<int32>`, row groups of 65,536 transactions.
    Parquet,
}

/// Parameters as the paper names them: |D| transactions, N items, |T| mean transaction size,
/// |I| mean pattern size, |L| patterns.
#[derive(Debug, Clone, clap::Args)]
pub struct GenerateArgs {
    /// Transactions to generate (|D|).
    #[arg(long)]
    pub transactions: u64,
    /// Distinct items (N); ids run from 0 to N - 1.
    #[arg(long)]
    pub items: u32,
    /// Mean transaction size (|T|); sizes are Poisson.
    #[arg(long)]
    pub avg_len: f64,
    /// Mean size of the potentially large itemsets (|I|); sizes are Poisson.
    #[arg(long)]
    pub pattern_len: f64,
    /// The seed: the same seed and parameters give the same file, byte for byte.
    #[arg(long)]
    pub seed: u64,
    /// How many potentially large itemsets (|L|; the paper used 2000).
    #[arg(long, default_value_t = 2000)]
    pub patterns: u32,
    /// Mean fraction of a pattern's items shared with the previous pattern.
    #[arg(long, default_value_t = 0.5)]
    pub correlation: f64,
    /// Mean corruption level: how readily items of a pattern are dropped when it is used.
    #[arg(long, default_value_t = 0.5)]
    pub corruption_mean: f64,
    /// The file to write.
    #[arg(long, short)]
    pub output: PathBuf,
    /// fimi or parquet. Default: parquet for a .parquet file, else fimi.
    #[arg(long, value_enum)]
    pub output_format: Option<GenerateFormat>,
}

impl GenerateArgs {
    /// The generator's parameters.
    pub fn params(&self) -> QuestParams {
        QuestParams {
            transactions: self.transactions,
            items: self.items,
            avg_len: self.avg_len,
            pattern_len: self.pattern_len,
            patterns: self.patterns,
            correlation: self.correlation,
            corruption_mean: self.corruption_mean,
            seed: self.seed,
        }
    }

    fn format(&self) -> GenerateFormat {
        self.output_format.unwrap_or_else(|| {
            match self.output.extension().is_some_and(|e| e == "parquet") {
                true => GenerateFormat::Parquet,
                false => GenerateFormat::Fimi,
            }
        })
    }
}

/// What was written.
#[derive(Debug, Default)]
struct Written {
    transactions: u64,
    items: u64,
    seen: Vec<bool>,
}

impl Written {
    fn add(&mut self, basket: &[u32]) {
        self.transactions += 1;
        self.items += basket.len() as u64;
        for &item in basket {
            self.seen[item as usize] = true;
        }
    }
}

pub fn run(args: &GenerateArgs, progress: &dyn Progress) -> anyhow::Result<()> {
    let started = Instant::now();
    let params = args.params();
    // Checked before the output file is touched.
    let mut generator = QuestGenerator::new(&params)?;
    progress.start("transactions", Some(params.transactions));
    let mut counter = Counter::new(progress);
    let mut written = Written {
        seen: vec![false; params.items as usize],
        ..Written::default()
    };
    let mut basket = Vec::new();
    write_file(&args.output, |out| -> anyhow::Result<()> {
        match args.format() {
            GenerateFormat::Fimi => {
                let mut line = Vec::with_capacity(256);
                while generator.next_into(&mut basket) {
                    line.clear();
                    for (i, &item) in basket.iter().enumerate() {
                        if i > 0 {
                            line.push(b' ');
                        }
                        push_decimal(&mut line, item);
                    }
                    line.push(b'\n');
                    out.write_all(&line)?;
                    written.add(&basket);
                    counter.add(1);
                }
            }
            GenerateFormat::Parquet => {
                let mut writer = BasketWriter::create(&mut *out, true)?;
                while generator.next_into(&mut basket) {
                    writer.push_ids(&basket)?;
                    written.add(&basket);
                    counter.add(1);
                }
                writer.finish()?;
            }
        }
        Ok(())
    })?;
    drop(counter);
    progress.finish();
    let distinct = written.seen.iter().filter(|&&s| s).count() as u64;
    eprintln!(
        "{} transactions, average length {:.3}, {} distinct items, {:.2} s: {}",
        thousands(written.transactions),
        written.items as f64 / written.transactions.max(1) as f64,
        thousands(distinct),
        started.elapsed().as_secs_f64(),
        args.output.display()
    );
    Ok(())
}

/// Appends `n` in decimal (the FIMI file's bulk: `write!` is several times slower).
fn push_decimal(out: &mut Vec<u8>, mut n: u32) {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    #[test]
    fn decimals_are_written_like_display() {
        for n in [0, 7, 10, 999, 1000, 4_294_967_295] {
            let mut out = Vec::new();
            super::push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }
}
