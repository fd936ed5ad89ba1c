//! `leviathan-gossip`: see the library crate `leviathan_gossip_agent` for the map.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use leviathan_gossip_agent::cli::Cli;

fn main() -> ExitCode {
    // Usage errors exit with code 2, `--help` and `--version` with 0.
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    leviathan_gossip_agent::run(cli, &matches)
}
