//! `affinity mine`: frequent, closed or maximal itemsets, and association rules.

use crate::input::{FormatArg, InputArgs};
use crate::parquet_out::{write_rules_parquet, ParquetItemsets};
use affinity_core::files::write_file;
use affinity_core::{Progress, WriteError};
use affinity_data::columnar::read_basket_table;
use affinity_data::{read_transactions, BasketRule, Format, TransactionFile};
use affinity_mine::{
    generate_rules, mine_itemsets, write_rules_csv, write_rules_json, Algorithm, Consequents,
    CountSink, Counted, Itemset, ItemsetFormat, ItemsetWriter, MinSupport, MiningParams,
    RuleParams, Target,
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
    let (names, transactions) = load_transactions(&args.input)?;
    let names = names.as_slice();
    progress.start("itemsets", None);
    let summary = if args.count_only || (args.json && args.output.is_none()) {
        mine_itemsets(
            &transactions,
            None,
            &params,
            algorithm,
            &mut Counted::new(CountSink::default(), progress),
        )?
    } else if let (Some(path), true) = (&args.output, parquet) {
        let mut summary = None;
        write_file(path, |out| -> anyhow::Result<()> {
            let writer = ParquetItemsets::new(out, path, names)?;
            let mut writer = Counted::new(writer, progress);
            summary = Some(mine_itemsets(
                &transactions,
                None,
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
            summary = Some(mine_itemsets(
                &transactions,
                None,
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
        let summary = mine_itemsets(&transactions, None, &params, algorithm, &mut writer)?;
        writer.into_inner().finish()?;
        summary
    };
    progress.finish();

    let mut rule_count = None;
    if args.rules {
        let mut frequent: Vec<Itemset> = Vec::new();
        let all = MiningParams {
            target: Target::Frequent,
            max_itemsets: Some(params.max_itemsets.unwrap_or(RULES_MAX_ITEMSETS)),
            ..params.clone()
        };
        mine_itemsets(&transactions, None, &all, algorithm, &mut frequent)?;
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
    if args.json {
        let object = serde_json::json!({
            "transactions": summary.transactions,
            "items": summary.items,
            "frequent_items": summary.frequent_items,
            "min_count": summary.min_count,
            "itemsets": summary.itemsets,
            "rules": rule_count,
            "seconds": seconds,
        });
        println!("{object}");
    } else {
        eprintln!(
            "{} transactions, {} items, min count {}: {} itemsets in {:.3} s",
            summary.transactions, summary.items, summary.min_count, summary.itemsets, seconds
        );
    }
    Ok(())
}

/// Item names and transactions: basket files keep their blank lines as empty transactions;
/// event files are grouped into baskets (order, else user and day); a Parquet or Arrow table
/// is either.
fn load_transactions(input: &InputArgs) -> anyhow::Result<(Vec<String>, Vec<Vec<u32>>)> {
    let (format, options) = input.to_format()?;
    if let (Some(container), Format::Parquet(spec) | Format::ArrowIpc(spec)) =
        (input.format.container(), &format)
    {
        if spec.reads_baskets(&input.input, container)? {
            let (tx, _) = read_basket_table(&input.input, container, spec, &options)?;
            return Ok((tx.items.names().to_vec(), tx.baskets));
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
            Ok((tx.items.names().to_vec(), tx.baskets))
        }
        None => {
            let (dataset, _) = input.load()?;
            let baskets = dataset.transactions(BasketRule::default());
            Ok((dataset.items.names().to_vec(), baskets))
        }
    }
}
