//! `affinity`, the binary users run: `data`, `mine` and `--version` without libtorch, so that
//! they start in milliseconds (a binary that links libtorch spends about a quarter of a second
//! and over 100 MB initialising it before `main`). Every other command (fit, recommend, serve,
//! help, ...) is handed on by exec to `affinity-model`, the full command line, in the same
//! directory: its arguments, standard streams, exit status and signals are that process's own.

use clap::{CommandFactory, FromArgMatches};

/// Product association analysis on e-commerce data: data and mining without libtorch.
#[derive(Debug, clap::Parser)]
#[command(name = "affinity", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The commands this binary runs itself; their arguments are the same types `affinity-model`
/// parses, so help, errors and answers are identical.
// Parsed once per process, so the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Inspect a dataset.
    #[command(subcommand)]
    Data(affinity_cli::data::DataCommand),
    /// Mine frequent, closed or maximal itemsets and association rules.
    Mine(affinity_cli::mine::MineArgs),
}

/// The companion binary every other command is handed on to.
const MODEL: &str = "affinity-model";

fn main() -> std::process::ExitCode {
    let first = std::env::args_os().nth(1);
    let own = first
        .as_ref()
        .and_then(|a| a.to_str())
        .is_some_and(|a| matches!(a, "data" | "mine" | "--version" | "-V"));
    if !own {
        // Help (so that it lists every command), no command at all, and every other command.
        return hand_on();
    }
    // Usage lines name `affinity`, as affinity-model's do, whatever this file is called.
    let mut command = Cli::command().bin_name("affinity");
    let cli = Cli::from_arg_matches(&command.get_matches_mut())
        .unwrap_or_else(|error| error.format(&mut command).exit());
    let bars = affinity_cli::progress::Bars::stderr();
    let result = match cli.command {
        Command::Data(command) => affinity_cli::data::run(command, &bars),
        Command::Mine(args) => affinity_cli::mine::run(args, &bars),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::from(2)
        }
    }
}

/// Why a command could not be handed on to `affinity-model`.
#[derive(Debug)]
enum HandOnError {
    /// Where this binary is could not be read.
    NoOwnPath(std::io::Error),
    /// The companion binary is not beside this one.
    Missing(std::path::PathBuf),
    /// It is there but could not be started.
    Start(std::path::PathBuf, std::io::Error),
}

impl std::fmt::Display for HandOnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoOwnPath(error) => write!(
                f,
                "cannot find {MODEL}, which runs this command: where this binary is is \
                 unknown ({error})"
            ),
            Self::Missing(path) => write!(
                f,
                "this command is run by {MODEL}, and {} does not exist: build it with \
                 `cargo build --release` (it is built beside affinity)",
                path.display()
            ),
            Self::Start(path, error) => write!(f, "cannot run {}: {error}", path.display()),
        }
    }
}

/// Runs the same arguments with `affinity-model` beside this binary; returns only on failure.
fn hand_on() -> std::process::ExitCode {
    let error = match model_path() {
        Ok(path) => run(&path),
        Err(error) => error,
    };
    eprintln!("error: {error}");
    std::process::ExitCode::from(2)
}

fn model_path() -> Result<std::path::PathBuf, HandOnError> {
    let exe = std::env::current_exe().map_err(HandOnError::NoOwnPath)?;
    let path = exe
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .join(format!("{MODEL}{}", std::env::consts::EXE_SUFFIX));
    if path.is_file() {
        Ok(path)
    } else {
        Err(HandOnError::Missing(path))
    }
}

/// Replaces this process with `affinity-model`: same pid, arguments, environment, standard
/// streams and signal dispositions, so its exit status and signals are the caller's to see.
#[cfg(unix)]
fn run(path: &std::path::Path) -> HandOnError {
    use std::os::unix::process::CommandExt;
    let mut command = std::process::Command::new(path);
    command.args(std::env::args_os().skip(1));
    // argv[0] as the user typed it, so that messages name the command they ran.
    if let Some(name) = std::env::args_os().next() {
        command.arg0(name);
    }
    let error = command.exec();
    HandOnError::Start(path.to_owned(), error)
}

/// Without exec: runs `affinity-model` as a child and exits with its status.
#[cfg(not(unix))]
fn run(path: &std::path::Path) -> HandOnError {
    match std::process::Command::new(path)
        .args(std::env::args_os().skip(1))
        .status()
    {
        Ok(status) => std::process::exit(status.code().unwrap_or(2)),
        Err(error) => HandOnError::Start(path.to_owned(), error),
    }
}
