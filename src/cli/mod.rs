//! The `affinity` command line.

pub mod bundle;
pub mod docs;
pub mod evaluate;
pub mod model_args;
pub mod rank;
pub mod recommend;
pub mod serve;
#[cfg(feature = "model")]
pub mod tune;

/// Product association analysis on e-commerce data.
#[derive(Debug, clap::Parser)]
#[command(name = "affinity", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Inspect a dataset.
    #[command(subcommand)]
    Data(affinity_cli::data::DataCommand),
    /// Mine frequent, closed or maximal itemsets and association rules.
    Mine(affinity_cli::mine::MineArgs),
    /// Embed texts (one per line) as unit vectors, one per line.
    #[cfg(feature = "model")]
    Embed(tune::EmbedArgs),
    /// Fine-tune the language model on a dataset; writes a checkpoint directory.
    #[cfg(feature = "model")]
    Train(tune::TrainArgs),
    /// Fit a recommender on events and save it as a bundle directory.
    Fit(bundle::FitArgs),
    /// Fold new events into a bundle (exactly as refitting on all events would).
    Update(bundle::UpdateArgs),
    /// Recommend products for a user or a history, with reasons.
    Recommend(recommend::RecommendArgs),
    /// Products for a text query, or similar to a product.
    Search(recommend::SearchArgs),
    /// Serve a bundle over HTTP: recommendations, search, similar items, reloads, updates.
    Serve(serve::ServeArgs),
    /// Explore a bundle's associations in the browser: serves the explorer page on loopback and
    /// prints its address.
    Explore(serve::ExploreArgs),
    /// Compare baselines, rules, the model and the hybrid on held-out data.
    Evaluate(evaluate::EvaluateArgs),
    /// Measure throughput.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Print a shell completion script (e.g. `affinity completions bash > ~/.local/share/bash-completion/completions/affinity`).
    Completions(docs::CompletionsArgs),
    /// Write man pages (affinity.1 and one per command) to a directory, or affinity.1 to stdout.
    Man(docs::ManArgs),
}

#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Contrastive training steps on random tokens: pairs/s.
    #[cfg(feature = "model")]
    Train(tune::ModelBenchArgs),
    /// Encoding without gradients on random tokens: items/s.
    #[cfg(feature = "model")]
    Encode(tune::ModelBenchArgs),
    /// Exact top-k over random vectors: queries/s, batched and one at a time.
    Rank(rank::RankBenchArgs),
}

/// Progress drawn on standard error: bars on a terminal, the noted lines in a log.
pub fn bars() -> std::sync::Arc<dyn affinity::Progress> {
    std::sync::Arc::new(affinity_cli::progress::Bars::stderr())
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    if !matches!(cli.command, Command::Serve(_) | Command::Explore(_)) {
        // The library's warnings (a raised mining threshold, ...) as plain stderr lines;
        // `serve` sets up its own log. RUST_LOG overrides the level.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
            )
            .without_time()
            .with_target(false)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init();
    }
    match cli.command {
        Command::Data(command) => affinity_cli::data::run(command, &*bars()),
        Command::Mine(args) => affinity_cli::mine::run(args, &*bars()),
        #[cfg(feature = "model")]
        Command::Embed(args) => tune::embed(args),
        Command::Fit(args) => bundle::fit(args),
        Command::Update(args) => bundle::update(args),
        Command::Recommend(args) => recommend::recommend(args),
        Command::Search(args) => recommend::search(args),
        Command::Evaluate(args) => evaluate::evaluate_cmd(args),
        Command::Serve(args) => serve::run(args),
        Command::Explore(args) => serve::explore(args),
        #[cfg(feature = "model")]
        Command::Train(args) => tune::train(args),
        #[cfg(feature = "model")]
        Command::Bench(BenchCommand::Train(args)) => tune::bench_model(args, true),
        #[cfg(feature = "model")]
        Command::Bench(BenchCommand::Encode(args)) => tune::bench_model(args, false),
        Command::Bench(BenchCommand::Rank(args)) => rank::run(args),
        Command::Completions(args) => docs::completions(args),
        Command::Man(args) => docs::man(args),
    }
}
