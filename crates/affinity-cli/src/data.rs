//! `affinity data ...`: look at a dataset.

use crate::input::InputArgs;
use crate::thousands;

/// Subcommands of `affinity data`.
#[derive(Debug, clap::Subcommand)]
pub enum DataCommand {
    /// Counts of rows, users, items, interactions and baskets; sparsity; the top items.
    Stats {
        #[command(flatten)]
        input: InputArgs,
        /// How many of the most frequent items to list.
        #[arg(long, default_value_t = 10)]
        top: usize,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Generate synthetic transactions in the style of IBM's Quest generator (Agrawal &
    /// Srikant 1994): patterns of items bought together, corrupted, mixed by weight.
    /// Streams: memory does not grow with --transactions. The same seed gives the same bytes.
    Generate(crate::generate::GenerateArgs),
    /// Write a new random pseudonymisation key (for --pseudonymize-key-file); keep it secret
    /// and keep it: the same key gives the same pseudonyms on every run.
    NewKey {
        /// The key file to create (an existing one is never replaced).
        #[arg(long, short)]
        out: std::path::PathBuf,
    },
}

pub fn run(command: DataCommand, progress: &dyn affinity_core::Progress) -> anyhow::Result<()> {
    match command {
        DataCommand::NewKey { out } => new_key(&out),
        DataCommand::Generate(args) => crate::generate::run(&args, progress),
        DataCommand::Stats { input, top, json } => {
            let (dataset, report) = input.load()?;
            let stats = affinity_data::dataset_stats(&dataset, &report, top);
            if json {
                println!("{}", serde_json::to_string_pretty(&stats)?);
                return Ok(());
            }
            println!("file               {}", input.input.display());
            println!("rows read          {}", thousands(stats.rows_read as u64));
            println!(
                "duplicate rows     {} dropped",
                thousands(stats.duplicates_dropped as u64)
            );
            if stats.rows_skipped > 0 {
                let kinds: Vec<String> = report
                    .skipped
                    .iter()
                    .map(|(kind, n)| format!("{n} {kind}"))
                    .collect();
                println!(
                    "rows skipped       {} ({})",
                    thousands(stats.rows_skipped as u64),
                    kinds.join(", ")
                );
            }
            if report.null_baskets > 0 {
                println!(
                    "null baskets       {} ignored",
                    thousands(report.null_baskets)
                );
            }
            let users = if dataset.has_users {
                thousands(stats.users as u64)
            } else {
                "none (each basket stands alone)".into()
            };
            println!("users              {users}");
            println!("items              {}", thousands(stats.items as u64));
            println!(
                "interactions       {}",
                thousands(stats.interactions as u64)
            );
            println!(
                "baskets            {} (mean {:.2} items)",
                thousands(stats.baskets as u64),
                stats.mean_basket_size
            );
            println!("sparsity           {:.4}", stats.sparsity);
            println!("top items:");
            for (rank, ((name, count), title)) in stats
                .top_items
                .iter()
                .zip(&stats.top_item_titles)
                .enumerate()
            {
                // The product's title where the data has one: ids alone say little.
                let shown = match title {
                    Some(title) if title != name => format!("{title} [{name}]"),
                    _ => name.clone(),
                };
                println!(
                    "  {:>3}. {shown} ({})",
                    rank + 1,
                    thousands(u64::from(*count))
                );
            }
            Ok(())
        }
    }
}

/// Creates `out` with a fresh key, readable by its owner only; refuses to replace a file
/// (losing a key loses every pseudonym made with it).
fn new_key(out: &std::path::Path) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let key = affinity_data::PseudonymKey::generate()?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", out.display()))?;
    if let Err(e) = writeln!(file, "{}", key.to_hex()).and_then(|()| file.sync_all()) {
        // Half a key is no key: leave nothing that a later run would refuse to replace.
        let _ = std::fs::remove_file(out);
        anyhow::bail!("cannot write {}: {e}", out.display());
    }
    eprintln!(
        "wrote a new key to {} (fingerprint {})",
        out.display(),
        key.fingerprint()
    );
    Ok(())
}
