//! `affinity-model`: the whole `affinity` command line, libtorch linked (with the `model`
//! feature). Users run `affinity` (src/bin/affinity.rs), which runs `data`, `mine` and
//! `--version` itself without libtorch and hands every other command on to this binary.

#![allow(missing_docs)]

mod cli;

use clap::{CommandFactory, FromArgMatches};

#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings, read once at start-up (`MALLOC_CONF` in the environment still wins):
/// purge freed pages on a background thread after a second, straight back to the system (not
/// left lazily freed, which still counts as resident), so that a server's memory follows
/// its load instead of holding what the busiest moment needed.
#[cfg(feature = "jemalloc")]
#[allow(unsafe_code, non_upper_case_globals)]
#[no_mangle]
pub static malloc_conf: &[u8; 60] =
    b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

fn main() -> std::process::ExitCode {
    // Usage lines name `affinity`, the command users type, whether this binary was started by
    // it or directly.
    let mut command = cli::Cli::command().bin_name("affinity");
    let parsed = cli::Cli::from_arg_matches(&command.get_matches_mut())
        .unwrap_or_else(|error| error.format(&mut command).exit());
    match cli::run(parsed) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::from(2)
        }
    }
}
