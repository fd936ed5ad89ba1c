//! The `leviathan-gossip` program: a gossip node as a process, a client for it, and a demo.
//!
//! ```text
//! leviathan-gossip demo                        a 4-node cluster in one process, its story told
//! leviathan-gossip agent --name n1 …           one node: events on stdout, admin HTTP API
//! leviathan-gossip members|kv|get|set|del|watch|leave|join --admin ADDR
//!                                              the admin API from the shell
//! leviathan-gossip keys list|install|use|remove|generate, encryption …
//!                                              encryption keys and phases at runtime
//! ```
//!
//! # Map of the crate
//!
//! * [`cli`] — the command line (clap), every flag and environment variable.
//! * [`settings`] — an agent's settings: preset, then `--config` file, then environment,
//!   then flags; validated, each error naming the field and where its value came from.
//! * [`agent`] — runs one node: starts [`leviathan_gossip::Gossip`], prints events as JSON
//!   lines, serves the admin API, leaves on SIGINT/SIGTERM or `POST /v1/leave`.
//! * [`http`] — the admin API's router (axum); [`api`] — its JSON shapes, shared with the
//!   client; [`metrics`] — `GET /metrics` (prometheus-client); [`slot`] — the node an admin
//!   API serves, swappable so the demo can crash and restart it behind a stable address;
//!   [`token`] — the admin API's optional bearer token; [`origin`] — its guard against web
//!   pages (Host, Origin, Content-Type); [`serve`] — its accept loop, bounded against slow
//!   and numerous clients; [`keyring_file`] — key changes written back to the keyring file;
//!   [`ui`] — the cluster page served at `/` to browsers.
//! * [`client`] — an HTTP client of the admin API; [`commands`] — the client subcommands;
//!   [`render`] — human-readable events and tables.
//! * [`demo`] — the in-process demo cluster.
//! * [`logging`] — `tracing` to stderr, plain or JSON.
//!
//! Exit codes: 0 success, 1 runtime failure (a port in use, an agent unreachable, a key not
//! found), 2 bad usage or settings (the message names the field), 130 interrupted demo.

pub mod agent;
pub mod api;
pub mod cli;
pub mod client;
pub mod commands;
pub mod demo;
pub mod http;
pub mod keyring_file;
pub mod logging;
pub mod metrics;
pub mod origin;
pub mod render;
pub mod serve;
pub mod settings;
pub mod slot;
pub mod token;
pub mod ui;

use std::fmt;
use std::process::ExitCode;

use clap::ArgMatches;

use crate::cli::{Cli, Command};

/// Why the program stops with a non-zero exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The process exit code: 1 runtime failure, 2 bad usage or settings, 130 interrupted.
    pub code: u8,
    /// What to tell the user (one line, no `error:` prefix).
    pub message: String,
}

impl Failure {
    /// A bad setting or argument: exit code 2.
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: 2,
            message: message.into(),
        }
    }

    /// Something failed while running: exit code 1.
    pub fn runtime(message: impl Into<String>) -> Self {
        Failure {
            code: 1,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Runs the parsed command line to completion. `matches` are the raw clap matches `cli` was
/// built from: settings use them to tell a flag from an environment variable in errors.
pub fn run(cli: Cli, matches: &ArgMatches) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&Failure::runtime(format!("cannot start tokio: {error}"))),
    };
    let outcome = runtime.block_on(async move {
        match cli.command {
            Command::Agent(args) => {
                let agent_matches = matches.subcommand_matches("agent");
                let settings = settings::Settings::resolve(&args, agent_matches)
                    .map_err(|error| Failure::usage(error.to_string()))?;
                agent::run(settings).await
            }
            Command::Demo(args) => demo::run(args).await,
            Command::Client(command) => commands::run(command).await,
        }
    });
    // Do not wait for tasks still blocked on stdin or a slow peer.
    runtime.shutdown_background();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => fail(&failure),
    }
}

fn fail(failure: &Failure) -> ExitCode {
    eprintln!("error: {failure}");
    ExitCode::from(failure.code)
}
