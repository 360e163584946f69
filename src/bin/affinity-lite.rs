//! `affinity-lite`: `affinity data` and `affinity mine` without libtorch, so that they start
//! in milliseconds (the full `affinity` binary spends about half a second initialising
//! libtorch before `main`). Any other command is handed on to the `affinity` binary in the
//! same directory, so `affinity-lite` can stand in for `affinity` everywhere.

use clap::Parser;

/// Product association analysis on e-commerce data: data and mining without libtorch.
#[derive(Debug, clap::Parser)]
#[command(
    name = "affinity-lite",
    version,
    about,
    after_help = "Any other command (fit, recommend, search, evaluate, serve, train, embed, ...) \
                  is run by the `affinity` binary in the same directory."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Inspect a dataset.
    #[command(subcommand)]
    Data(affinity_cli::data::DataCommand),
    /// Mine frequent, closed or maximal itemsets and association rules.
    Mine(affinity_cli::mine::MineArgs),
}

fn main() -> std::process::ExitCode {
    let first = std::env::args_os().nth(1);
    let own = first.as_ref().and_then(|a| a.to_str()).is_some_and(|a| {
        matches!(
            a,
            "data" | "mine" | "--version" | "-V" | "help" | "--help" | "-h"
        )
    });
    if !own && first.is_some() {
        return hand_on();
    }
    let bars = affinity_cli::progress::Bars::stderr();
    let result = match Cli::parse().command {
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

/// Runs the same arguments with the full `affinity` binary beside this one.
fn hand_on() -> std::process::ExitCode {
    use std::os::unix::process::CommandExt;
    let full = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("affinity")))
        .filter(|path| path.is_file());
    let Some(full) = full else {
        eprintln!(
            "error: this command needs the language model: run it with the `affinity` binary \
             (cargo build --release builds it beside affinity-lite)"
        );
        return std::process::ExitCode::from(2);
    };
    let error = std::process::Command::new(&full)
        .args(std::env::args_os().skip(1))
        .exec();
    eprintln!("error: cannot run {}: {error}", full.display());
    std::process::ExitCode::from(2)
}
