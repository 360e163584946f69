//! `affinity recommend`, `affinity search`, `affinity evaluate`.

use std::io::Write;

use anyhow::{bail, Context};

use affinity::data::HoldOut;
use affinity::pipeline::{
    evaluate, EvalProtocol, Pipeline, PipelineConfig, Prepared, Recommender, ScoreWeights,
};
use affinity::report::reasons_text;

use super::input::InputArgs;
use super::tune::RunArgs;

/// Ranking settings shared by the three commands.
#[derive(Debug, Clone, clap::Args)]
pub struct RankArgs {
    /// List length.
    #[arg(long, short, default_value_t = 10)]
    pub k: usize,
    /// Rule mining: minimum support (fraction of baskets).
    #[arg(long, default_value_t = 0.001)]
    pub min_support: f64,
    /// Rule mining: minimum confidence.
    #[arg(long, default_value_t = 0.05)]
    pub min_confidence: f64,
    /// Weight of the embedding score (each source min-max normalised first).
    #[arg(long, default_value_t = 1.0)]
    pub embedding_weight: f32,
    /// Weight of the strongest fired rule's confidence.
    #[arg(long, default_value_t = 0.3)]
    pub rules_weight: f32,
    /// Weight of popularity.
    #[arg(long, default_value_t = 0.3)]
    pub popularity_weight: f32,
    /// MMR lambda (1: relevance only).
    #[arg(long, default_value_t = 0.9)]
    pub mmr_lambda: f32,
    /// Products per history text.
    #[arg(long, default_value_t = 10)]
    pub history_items: usize,
}

impl RankArgs {
    fn config(&self, hold_out: HoldOut) -> anyhow::Result<PipelineConfig> {
        Ok(PipelineConfig::builder()
            .k(self.k)
            .hold_out(hold_out)
            .min_support(self.min_support)
            .min_confidence(self.min_confidence)
            .history_items(self.history_items)
            .weights(ScoreWeights {
                embedding: self.embedding_weight,
                rules: self.rules_weight,
                popularity: self.popularity_weight,
            })
            .mmr_lambda(self.mmr_lambda)
            .build()?)
    }
}

fn build(pipeline: &Pipeline, prepared: &Prepared, run: &RunArgs) -> anyhow::Result<Recommender> {
    let rules = pipeline.mine_rules(prepared)?;
    let encoder = run.load()?;
    Ok(pipeline.recommender(prepared, Some(encoder), rules)?)
}

/// `affinity recommend`.
#[derive(Debug, clap::Args)]
pub struct RecommendArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub rank: RankArgs,
    /// Recommend for this user (their whole history in the data).
    #[arg(long, conflicts_with = "items")]
    pub user: Option<String>,
    /// Or for this history: comma-separated product names, oldest first.
    #[arg(long)]
    pub items: Option<String>,
    /// JSON lines instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn recommend(args: RecommendArgs) -> anyhow::Result<()> {
    let pipeline = Pipeline::new(args.rank.config(HoldOut::LastItem)?)?;
    let (dataset, _) = args.input.load()?;
    let history: Vec<u32> = match (&args.user, &args.items) {
        (Some(user), _) => {
            let id = dataset.users.get(user).with_context(|| {
                format!("user {user:?} is not in {}", args.input.input.display())
            })?;
            let mut events: Vec<_> = dataset
                .interactions
                .iter()
                .filter(|e| e.user == id)
                .collect();
            events.sort_by_key(|e| e.timestamp);
            events.iter().map(|e| e.item).collect()
        }
        (None, Some(items)) => items
            .split(',')
            .map(|name| {
                let name = name.trim();
                dataset.items.get(name).with_context(|| {
                    format!("product {name:?} is not in {}", args.input.input.display())
                })
            })
            .collect::<anyhow::Result<_>>()?,
        (None, None) => bail!("give --user ID or --items \"a,b,c\""),
    };
    let prepared = pipeline.prepare_all(dataset);
    let recommender = build(&pipeline, &prepared, &args.run)?;
    let recs = recommender.recommend(&history, args.rank.k)?;
    print(&recs, args.json)
}

fn print(recs: &[affinity::pipeline::Recommendation], json: bool) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for r in recs {
        if json {
            writeln!(out, "{}", serde_json::to_string(r)?)?;
        } else if r.reasons.is_empty() {
            writeln!(out, "{:<40} {:.4}", r.name, r.score)?;
        } else {
            writeln!(
                out,
                "{:<40} {:.4}  {}",
                r.name,
                r.score,
                reasons_text(&r.reasons)
            )?;
        }
    }
    Ok(())
}

/// `affinity search`.
#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub run: RunArgs,
    /// Free text, e.g. "glass beaker".
    #[arg(long, short)]
    pub query: Option<String>,
    /// Or: products similar to this product name.
    #[arg(long, conflicts_with = "query")]
    pub similar: Option<String>,
    #[arg(long, short, default_value_t = 10)]
    pub k: usize,
    /// JSON lines instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn search(args: SearchArgs) -> anyhow::Result<()> {
    let pipeline = Pipeline::new(PipelineConfig::default())?;
    let (dataset, _) = args.input.load()?;
    let prepared = pipeline.prepare_all(dataset);
    let encoder = args.run.load()?;
    let recommender = pipeline.recommender(&prepared, Some(encoder), vec![])?;
    let found = match (&args.query, &args.similar) {
        (Some(q), _) => recommender.search(q, args.k)?,
        (None, Some(name)) => {
            let id = recommender
                .item_id(name)
                .with_context(|| format!("product {name:?} is not in the data"))?;
            recommender.similar(id, args.k)?
        }
        (None, None) => bail!("give --query TEXT or --similar PRODUCT"),
    };
    print(&found, args.json)
}

/// `affinity evaluate`.
#[derive(Debug, clap::Args)]
pub struct EvaluateArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub rank: RankArgs,
    /// Hold out each user's last item (Amazon) or last time step (baskets).
    #[arg(long, default_value = "last-item")]
    pub hold_out: String,
    /// Relevant items: "new" (not bought before) or "all".
    #[arg(long, default_value = "new")]
    pub relevant: String,
    /// Choose the hybrid's weights and MMR lambda on the validation step first.
    #[arg(long)]
    pub tune: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn evaluate_cmd(args: EvaluateArgs) -> anyhow::Result<()> {
    let hold_out = match args.hold_out.as_str() {
        "last-item" => HoldOut::LastItem,
        "last-time" => HoldOut::LastTimestamp,
        h => bail!("--hold-out must be last-item or last-time, got {h:?}"),
    };
    let protocol = match args.relevant.as_str() {
        "new" => EvalProtocol::NewItems,
        "all" => EvalProtocol::AllItems,
        r => bail!("--relevant must be new or all, got {r:?}"),
    };
    let pipeline = Pipeline::new(args.rank.config(hold_out)?)?;
    let (dataset, _) = args.input.load()?;
    let prepared = pipeline.prepare(dataset);
    let k = args.rank.k;
    let rules = pipeline.mine_rules(&prepared)?;
    let encoder = args.run.load()?;
    let mut model = pipeline.recommender_with(
        &prepared,
        Some(encoder),
        rules.clone(),
        ScoreWeights::EMBEDDING,
        1.0,
    )?;
    let vectors = model.item_vectors().to_owned();
    let mut results = pipeline.evaluate_baselines(
        &prepared,
        &prepared.baskets,
        rules,
        protocol,
        vectors.view(),
    )?;
    results.push(evaluate(
        "model",
        &prepared,
        k,
        protocol,
        vectors.view(),
        |hs| model.rank_batch(hs, k),
    )?);
    let config = pipeline.config();
    model.set_ranking(config.weights, config.mmr_lambda);
    if args.tune {
        let v = pipeline.tune_ranking(&prepared, &mut model, 2_000)?;
        let (w, l) = model.ranking();
        eprintln!("hybrid chosen on validation (NDCG@{k} {v:.4}): embedding {} rules {} popularity {} lambda {l}", w.embedding, w.rules, w.popularity);
    }
    results.push(evaluate(
        "hybrid (model+rules+MMR)",
        &prepared,
        k,
        protocol,
        vectors.view(),
        |hs| model.rank_batch(hs, k),
    )?);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
        return Ok(());
    }
    println!(
        "{:<26} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "method",
        format!("Recall@{k}"),
        format!("NDCG@{k}"),
        format!("MRR@{k}"),
        "coverage",
        "diversity"
    );
    for r in &results {
        let s = &r.summary;
        println!(
            "{:<26} {:>9.4} {:>9.4} {:>9.4} {:>9.4} {:>9.4}",
            r.name,
            s.recall,
            s.ndcg,
            s.mrr,
            s.coverage,
            s.diversity.unwrap_or(f64::NAN)
        );
    }
    println!("({} test users)", results[0].summary.users);
    Ok(())
}
