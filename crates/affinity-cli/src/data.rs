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
}

pub fn run(command: DataCommand) -> anyhow::Result<()> {
    match command {
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
