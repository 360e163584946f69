//! `affinity serve`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use affinity::serve::{serve, termination, ServeParams};

use super::model_args::RunArgs;

/// `affinity serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The bundle to serve (`affinity fit`).
    #[arg(long, short)]
    pub bundle: PathBuf,
    /// Where to listen; port 0 picks a free one (printed on standard output).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Async worker threads for HTTP (encoding and ranking have their own).
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// A file holding the admin token (16 characters or more); without one the admin routes
    /// are off.
    #[arg(long)]
    pub admin_token_file: Option<PathBuf>,
    /// Reloads may name a bundle directory directly under this one.
    #[arg(long)]
    pub reload_root: Option<PathBuf>,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub body_limit: usize,
    /// Longest a request may take, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub request_timeout_ms: u64,
    /// Longest a client may take to send its request headers, in milliseconds.
    #[arg(long, default_value_t = 5_000)]
    pub header_timeout_ms: u64,
    /// Longest the encoder waits to batch concurrent histories, in milliseconds.
    #[arg(long, default_value_t = 1.0)]
    pub batch_wait_ms: f64,
    /// Most histories encoded in one pass.
    #[arg(long, default_value_t = 64)]
    pub max_batch: usize,
    /// Do not serve the explorer page (`/`) and its routes (`/v1/explore/...`): a shop's
    /// public server may not want its rules on show.
    #[arg(long)]
    pub no_explorer: bool,
    #[command(flatten)]
    pub run: RunArgs,
}

/// `affinity explore`.
#[derive(Debug, clap::Args)]
pub struct ExploreArgs {
    /// The bundle to explore (`affinity fit`).
    #[arg(long, short)]
    pub bundle: PathBuf,
    /// Where to listen: a loopback address only (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,
    #[command(flatten)]
    pub run: RunArgs,
}

/// Serves the explorer on loopback and prints its address: `serve` without admin routes,
/// reachable from this machine only.
pub fn explore(args: ExploreArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.addr.ip().is_loopback(),
        "--addr {} is not a loopback address: `affinity explore` serves this machine only (use `affinity serve` to serve others)",
        args.addr
    );
    let config = ServeParams {
        addr: args.addr,
        load: args.run.bundle_options()?,
        ..ServeParams::new(&args.bundle)
    };
    start(config, |addr| {
        format!("explore the bundle at http://{addr}/")
    })
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let admin_token = match &args.admin_token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?
                .trim()
                .to_string(),
        ),
        None => None,
    };
    anyhow::ensure!(
        args.batch_wait_ms.is_finite() && args.batch_wait_ms >= 0.0,
        "--batch-wait-ms must be a number >= 0"
    );
    let load = args.run.bundle_options()?;
    let config = ServeParams {
        addr: args.addr,
        workers: args.workers,
        admin_token,
        reload_root: args.reload_root.clone(),
        body_limit: args.body_limit,
        request_timeout: Duration::from_millis(args.request_timeout_ms),
        header_timeout: Duration::from_millis(args.header_timeout_ms),
        batch_wait: Duration::from_secs_f64(args.batch_wait_ms / 1e3),
        max_batch: args.max_batch,
        load,
        explorer: !args.no_explorer,
        ..ServeParams::new(&args.bundle)
    };
    start(config, |addr| format!("listening on http://{addr}"))
}

/// Checks `config`, then serves until SIGTERM or Ctrl-C, printing `announce(address)` on
/// standard output once listening.
fn start(config: ServeParams, announce: fn(SocketAddr) -> String) -> anyhow::Result<()> {
    config.check()?;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    affinity::serve::tune_allocator();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.workers)
        .enable_all()
        .build()?;
    runtime.block_on(serve(
        config,
        |addr| {
            println!("{}", announce(addr));
            let _ = std::io::stdout().flush();
        },
        termination(),
    ))?;
    Ok(())
}
