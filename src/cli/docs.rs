//! `affinity completions` and `affinity man`: generated from the same clap definitions as the
//! commands, so they never drift from `--help`.

use super::Cli;
use anyhow::Context;
use clap::CommandFactory;
use std::path::PathBuf;

/// `affinity completions SHELL`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// `affinity man [--out DIR]`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Directory for affinity.1 and affinity-COMMAND.1 (created if needed); without it,
    /// affinity.1 goes to standard output.
    #[arg(long, short)]
    out: Option<PathBuf>,
}

pub fn completions(args: CompletionsArgs) -> anyhow::Result<()> {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "affinity", &mut std::io::stdout());
    Ok(())
}

pub fn man(args: ManArgs) -> anyhow::Result<()> {
    let command = Cli::command();
    let Some(dir) = args.out else {
        clap_mangen::Man::new(command).render(&mut std::io::stdout())?;
        return Ok(());
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    clap_mangen::generate_to(command, &dir)
        .with_context(|| format!("cannot write man pages to {}", dir.display()))?;
    Ok(())
}
