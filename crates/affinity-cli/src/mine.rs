//! `affinity mine`: frequent, closed or maximal itemsets, and association rules.

use crate::input::{FormatArg, InputArgs};
use crate::parquet_out::{write_rules_parquet, ParquetItemsets};
use affinity_core::files::write_file;
use affinity_core::{Progress, WriteError};
use affinity_data::columnar::read_basket_table;
use affinity_data::{read_transactions, BasketRule, Format, TransactionFile};
use affinity_mine::{
    generate_rules, mine_itemsets, private_itemsets, write_rules_csv, write_rules_json, Algorithm,
    Consequents, CountSink, Counted, Itemset, ItemsetFormat, ItemsetSink, ItemsetWriter,
    MinSupport, MiningParams, MiningSummary, PrivateCountParams, PrivateItemsets, RuleParams,
    Target,
};
use anyhow::bail;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum TargetArg {
    Frequent,
    Closed,
    Maximal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormatArg {
    Text,
    Jsonl,
    Csv,
    Parquet,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum AlgorithmArg {
    Fpgrowth,
    Apriori,
}

/// Mine itemsets (and rules) from baskets.
#[derive(Debug, clap::Args)]
pub struct MineArgs {
    #[command(flatten)]
    input: InputArgs,
    /// Minimum support as a fraction of the transactions in (0, 1], read exactly.
    #[arg(long, conflicts_with = "min_count")]
    min_support: Option<String>,
    /// Minimum support as a count of transactions.
    #[arg(long)]
    min_count: Option<u64>,
    /// Which itemsets to report.
    #[arg(long, value_enum, default_value = "frequent")]
    target: TargetArg,
    /// Longest itemset.
    #[arg(long)]
    max_len: Option<usize>,
    /// Count the itemsets without writing them.
    #[arg(long)]
    count_only: bool,
    /// Worker threads [default: the machine's cores]; the output is the same for any number.
    #[arg(long)]
    threads: Option<usize>,
    /// Stop with an error after this many itemsets (with --rules: 10,000,000 unless given,
    /// since rules need every frequent itemset in memory).
    #[arg(long)]
    max_itemsets: Option<u64>,
    /// Rules: stop with an error after this many rules.
    #[arg(long, default_value_t = 10_000_000)]
    max_rules: u64,
    /// The algorithm.
    #[arg(long, value_enum, default_value = "fpgrowth")]
    algorithm: AlgorithmArg,
    /// Also generate association rules.
    #[arg(long)]
    rules: bool,
    /// Rules: minimum confidence.
    #[arg(long, default_value_t = 0.5)]
    min_confidence: f64,
    /// Rules: minimum lift.
    #[arg(long, requires = "rules")]
    min_lift: Option<f64>,
    /// Rules: consequents of any size (mlxtend) instead of one item (arules, Spark).
    #[arg(long, requires = "rules")]
    any_consequent: bool,
    /// Rules: drop items whose support is above this fraction (e.g. the shopping bag).
    #[arg(long, requires = "rules")]
    max_item_support: Option<f64>,
    /// Write itemsets here instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Itemset format: text (`item item (support)`, awkward names JSON-quoted), jsonl (one
    /// `{"items": [...], "support": n}` per line), csv (`items,freq`, items a JSON array) or
    /// parquet (Spark FPGrowth's `items: array<string>, freq: long`; needs --output).
    /// Default: from the --output extension (.jsonl, .csv, .parquet), else text.
    #[arg(long, value_enum)]
    output_format: Option<OutputFormatArg>,
    /// Write rules here: JSON if the name ends in .json, Parquet if in .parquet (Spark
    /// FPGrowth's antecedent, consequent, confidence, lift, support, then affinity's other
    /// measures), else CSV (mlxtend's columns).
    #[arg(long, requires = "rules")]
    rules_output: Option<PathBuf>,
    /// Print one JSON summary object (itemsets go to --output only).
    #[arg(long)]
    json: bool,
    /// Release itemsets (and rules) with (ε, δ)-differential privacy per shopper at this ε:
    /// counts become distinct shoppers, each shopper's weight is bounded
    /// (--private-per-shopper), Gaussian noise is added and counts that could show one shopper
    /// are withheld (docs/privacy.md). Files without shoppers (fimi, baskets, basket tables)
    /// make each basket its own shopper. Frequent itemsets of at most 3 items (default 2).
    #[arg(long)]
    private_epsilon: Option<f64>,
    /// Private release: δ, well below one over the number of shoppers (never computed from
    /// the data: that would tell the number).
    #[arg(long, requires = "private_epsilon",
          default_value_t = PrivateCountParams::default().delta)]
    private_delta: f64,
    /// Private release: the squared weight one shopper spreads over their itemsets: up to
    /// this many itemsets count fully, a shopper with n > this counts √(this / n) in each.
    #[arg(long, requires = "private_epsilon",
          default_value_t = PrivateCountParams::default().per_shopper)]
    private_per_shopper: usize,
    /// Private release: the seed of the noise [default: drawn from the system]. A known seed
    /// voids the guarantee: only to reproduce a run that is not released.
    #[arg(long, requires = "private_epsilon")]
    private_seed: Option<u64>,
}

/// The cap on the frequent itemsets held for rules when `--max-itemsets` is not given.
const RULES_MAX_ITEMSETS: u64 = 10_000_000;

pub fn run(args: MineArgs, progress: &dyn Progress) -> anyhow::Result<()> {
    let started = Instant::now();
    let min_support = match (&args.min_support, args.min_count) {
        (Some(f), None) => MinSupport::fraction(f)?,
        (None, Some(c)) => MinSupport::Count(c),
        _ => bail!("give --min-support FRACTION or --min-count N"),
    };
    let params = MiningParams {
        min_support,
        target: match args.target {
            TargetArg::Frequent => Target::Frequent,
            TargetArg::Closed => Target::Closed,
            TargetArg::Maximal => Target::Maximal,
        },
        max_len: args.max_len,
        threads: args.threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        }),
        max_itemsets: args.max_itemsets,
        ..MiningParams::new(min_support)
    };
    params.check()?;
    let rule_params = RuleParams {
        min_confidence: args.min_confidence,
        min_lift: args.min_lift,
        consequents: if args.any_consequent {
            Consequents::Any
        } else {
            Consequents::Single
        },
        max_item_support: args.max_item_support,
        max_rules: Some(args.max_rules),
        ..RuleParams::default()
    };
    if args.rules {
        rule_params.check()?;
    }
    let algorithm = match args.algorithm {
        AlgorithmArg::Fpgrowth => Algorithm::FpGrowth,
        AlgorithmArg::Apriori => Algorithm::Apriori,
    };

    let output_format = args.output_format.unwrap_or_else(|| {
        match args.output.as_ref().and_then(|p| p.extension()) {
            Some(e) if e == "jsonl" => OutputFormatArg::Jsonl,
            Some(e) if e == "csv" => OutputFormatArg::Csv,
            Some(e) if e == "parquet" => OutputFormatArg::Parquet,
            _ => OutputFormatArg::Text,
        }
    });
    let parquet = output_format == OutputFormatArg::Parquet;
    if parquet && args.output.is_none() && !args.count_only && !args.json {
        bail!("--output-format parquet writes a file: give it with --output");
    }
    let format = match output_format {
        OutputFormatArg::Jsonl => ItemsetFormat::JsonLines,
        OutputFormatArg::Csv => ItemsetFormat::Csv,
        OutputFormatArg::Text | OutputFormatArg::Parquet => ItemsetFormat::Text,
    };
    let (mut names, mut transactions, owners) =
        load_transactions(&args.input, args.private_epsilon.is_some())?;
    let release = match args.private_epsilon {
        Some(epsilon) => {
            // Ids by name, not by first appearance in the file, which one shopper could move.
            number_by_name(&mut names, &mut transactions);
            Some(release_privately(
                &args,
                epsilon,
                min_support,
                &transactions,
                &owners,
            )?)
        }
        None => None,
    };
    let names = names.as_slice();
    progress.start("itemsets", None);
    let summary = if args.count_only || (args.json && args.output.is_none()) {
        let mut counter = Counted::new(CountSink::default(), progress);
        fill(&release, &transactions, &params, algorithm, &mut counter)?
    } else if let (Some(path), true) = (&args.output, parquet) {
        let mut summary = None;
        write_file(path, |out| -> anyhow::Result<()> {
            let writer = ParquetItemsets::new(out, path, names)?;
            let mut writer = Counted::new(writer, progress);
            summary = Some(fill(
                &release,
                &transactions,
                &params,
                algorithm,
                &mut writer,
            )?);
            writer.into_inner().finish()?;
            Ok(())
        })?;
        summary.expect("set by the writer")
    } else if let Some(path) = &args.output {
        let mut summary = None;
        write_file(path, |out| -> anyhow::Result<()> {
            let writer = ItemsetWriter::with_format(out, path, Some(names), format);
            let mut writer = Counted::new(writer, progress);
            summary = Some(fill(
                &release,
                &transactions,
                &params,
                algorithm,
                &mut writer,
            )?);
            writer.into_inner().finish()?;
            Ok(())
        })?;
        summary.expect("set by the writer")
    } else {
        let stdout = std::io::stdout().lock();
        let writer = ItemsetWriter::with_format(
            std::io::BufWriter::new(stdout),
            "-".as_ref(),
            Some(names),
            format,
        );
        let mut writer = Counted::new(writer, progress);
        let summary = fill(&release, &transactions, &params, algorithm, &mut writer)?;
        writer.into_inner().finish()?;
        summary
    };
    progress.finish();

    let mut rule_count = None;
    if args.rules {
        let mut frequent: Vec<Itemset> = Vec::new();
        match &release {
            Some(release) => frequent.clone_from(&release.itemsets),
            None => {
                let all = MiningParams {
                    target: Target::Frequent,
                    max_itemsets: Some(params.max_itemsets.unwrap_or(RULES_MAX_ITEMSETS)),
                    ..params.clone()
                };
                mine_itemsets(&transactions, None, &all, algorithm, &mut frequent)?;
            }
        }
        let rules = generate_rules(&frequent, summary.transactions, &rule_params)?;
        rule_count = Some(rules.len());
        match &args.rules_output {
            Some(path) => write_file(path, |out| -> anyhow::Result<()> {
                match path.extension().and_then(|e| e.to_str()) {
                    Some("json") => write_rules_json(out, &rules, Some(names))
                        .map_err(|e| WriteError::new(path, e))?,
                    Some("parquet") => {
                        write_rules_parquet(out, &rules, names)?;
                    }
                    _ => write_rules_csv(out, &rules, Some(names))
                        .map_err(|e| WriteError::new(path, e))?,
                }
                Ok(())
            })?,
            None if !args.json => {
                eprintln!("top rules by confidence (of {}):", rules.len());
                for r in rules.iter().take(10) {
                    let show = |items: &[u32]| {
                        items
                            .iter()
                            .map(|&i| names[i as usize].as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    eprintln!(
                        "  {{{}}} -> {{{}}}  support {:.4}  confidence {:.3}  lift {:.2}",
                        show(&r.antecedent),
                        show(&r.consequent),
                        r.support,
                        r.confidence,
                        r.lift
                    );
                }
            }
            None => {}
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let privacy = release.as_ref().map(|r| &r.spent);
    if args.json {
        let object = serde_json::json!({
            "transactions": summary.transactions,
            "items": summary.items,
            "frequent_items": summary.frequent_items,
            "min_count": summary.min_count,
            "itemsets": summary.itemsets,
            "rules": rule_count,
            "seconds": seconds,
            "privacy": privacy,
        });
        println!("{object}");
    } else {
        if let Some(spent) = privacy {
            eprintln!("released {spent}; counts are noisy distinct shoppers");
        }
        eprintln!(
            "{} transactions, {} items, min count {}: {} itemsets in {:.3} s",
            summary.transactions, summary.items, summary.min_count, summary.itemsets, seconds
        );
    }
    Ok(())
}

/// Item names, transactions and (with `private`; else none for basket files) each
/// transaction's shopper: basket files keep their blank lines as empty transactions, each its
/// own shopper; event files are grouped into baskets (order, else user and day) of their
/// users; a Parquet or Arrow table is either. With `private`, an order id that several users
/// share is an error: its basket would be counted for one of them.
fn load_transactions(input: &InputArgs, private: bool) -> anyhow::Result<Loaded> {
    let (format, options) = input.to_format()?;
    // Only a private release reads shoppers: plain mining does not pay for the list.
    let own_shoppers = |n: usize| {
        if private {
            (0..n as u32).collect::<Vec<u32>>()
        } else {
            Vec::new()
        }
    };
    if let (Some(container), Format::Parquet(spec) | Format::ArrowIpc(spec)) =
        (input.format.container(), &format)
    {
        if spec.reads_baskets(&input.input, container)? {
            let (tx, _) = read_basket_table(&input.input, container, spec, &options)?;
            let owners = own_shoppers(tx.baskets.len());
            return Ok((tx.items.names().to_vec(), tx.baskets, owners));
        }
    }
    let layout = match input.format {
        FormatArg::Fimi => Some(TransactionFile::Fimi),
        FormatArg::Baskets => Some(TransactionFile::Baskets),
        _ => None,
    };
    match layout {
        Some(layout) => {
            let (tx, _) = read_transactions(&input.input, layout, &options)?;
            let owners = own_shoppers(tx.baskets.len());
            Ok((tx.items.names().to_vec(), tx.baskets, owners))
        }
        None => {
            let (dataset, _) = input.load()?;
            if private {
                one_shopper_per_order(&dataset, &input.input)?;
            }
            let (baskets, owners) = dataset
                .baskets(BasketRule::default())
                .into_iter()
                .map(|b| (b.items, b.user))
                .unzip();
            Ok((dataset.items.names().to_vec(), baskets, owners))
        }
    }
}

/// Item names, transactions, and the shopper of each.
type Loaded = (Vec<String>, Vec<Vec<u32>>, Vec<u32>);

/// Fails on an order id that events of two users share (read from `path`).
fn one_shopper_per_order(
    dataset: &affinity_data::Dataset,
    path: &std::path::Path,
) -> anyhow::Result<()> {
    let mut shopper_of: std::collections::HashMap<u32, u32> = Default::default();
    for event in &dataset.interactions {
        let Some(order) = event.order else { continue };
        let first = *shopper_of.entry(order).or_insert(event.user);
        if first != event.user {
            bail!(
                "{}: order {:?} holds events of users {:?} and {:?}; a private release needs \
                 each basket to be one shopper's",
                path.display(),
                dataset.orders.name(order),
                dataset.users.name(first),
                dataset.users.name(event.user)
            );
        }
    }
    Ok(())
}

/// A minimum support as the fraction of the (noisy) shoppers and the count a private release
/// must reach: one of them is the setting, the other 0.
fn support_floors(min_support: MinSupport) -> (f64, u64) {
    match min_support {
        MinSupport::Fraction {
            numerator,
            denominator,
        } => (numerator as f64 / denominator as f64, 0),
        MinSupport::Count(count) => (0.0, count),
    }
}

/// The private release `--private-epsilon` asks for, with the mining flags that apply to it.
fn release_privately(
    args: &MineArgs,
    epsilon: f64,
    min_support: MinSupport,
    transactions: &[Vec<u32>],
    owners: &[u32],
) -> anyhow::Result<PrivateItemsets> {
    if !matches!(args.target, TargetArg::Frequent) {
        bail!("--private-epsilon releases frequent itemsets only (not --target closed or maximal)");
    }
    if args.max_itemsets.is_some() || matches!(args.algorithm, AlgorithmArg::Apriori) {
        bail!(
            "--private-epsilon counts itemsets of at most 3 items directly: --max-itemsets and \
             --algorithm do not apply"
        );
    }
    let (fraction, min_count) = support_floors(min_support);
    let params = PrivateCountParams {
        epsilon,
        delta: args.private_delta,
        per_shopper: args.private_per_shopper,
        max_len: args.max_len.unwrap_or(2),
        min_support: fraction,
        seed: args.private_seed,
    };
    let mut release = private_itemsets(transactions, owners, &params)?;
    // A count floor is post-processing; subsets count at least as much, so none is orphaned.
    release.itemsets.retain(|s| s.support >= min_count);
    Ok(release)
}

/// Renumbers items in name order (ids, and so the order of items and itemsets in what is
/// written, then follow names, not the file).
fn number_by_name(names: &mut Vec<String>, transactions: &mut [Vec<u32>]) {
    let mut order: Vec<u32> = (0..names.len() as u32).collect();
    order.sort_by(|&a, &b| names[a as usize].cmp(&names[b as usize]));
    let mut new_id = vec![0u32; names.len()];
    for (new, &old) in order.iter().enumerate() {
        new_id[old as usize] = new as u32;
    }
    for basket in transactions.iter_mut() {
        for item in basket.iter_mut() {
            *item = new_id[*item as usize];
        }
        basket.sort_unstable();
    }
    *names = order
        .iter()
        .map(|&old| names[old as usize].clone())
        .collect();
}

/// What `affinity mine` reports for a private release: only what was released (the noisy
/// number of shoppers as transactions, the items of the released itemsets), and the floor a
/// released count had to reach.
fn released_summary(release: &PrivateItemsets, min_support: MinSupport) -> MiningSummary {
    let singles = release
        .itemsets
        .iter()
        .filter(|s| s.items.len() == 1)
        .count();
    let (fraction, min_count) = support_floors(min_support);
    let floor = release
        .spent
        .threshold
        .max(release.total as f64 * fraction)
        .max(min_count as f64);
    MiningSummary {
        transactions: release.total,
        items: singles,
        frequent_items: singles,
        min_count: floor.ceil() as u64,
        itemsets: release.itemsets.len() as u64,
    }
}

/// Mines into `sink`, or, for a private release, pushes the released itemsets into it.
fn fill<S: ItemsetSink>(
    release: &Option<PrivateItemsets>,
    transactions: &[Vec<u32>],
    params: &MiningParams,
    algorithm: Algorithm,
    sink: &mut S,
) -> affinity_mine::Result<MiningSummary> {
    match release {
        None => mine_itemsets(transactions, None, params, algorithm, sink),
        Some(release) => {
            for set in &release.itemsets {
                sink.push(&set.items, set.support)?;
            }
            Ok(released_summary(release, params.min_support))
        }
    }
}
