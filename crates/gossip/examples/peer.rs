//! The original library's four-console example, in Rust.
//!
//! Start four nodes, 1 and 4 as seeds, each in its own console:
//!
//! ```text
//! cargo run --release -p leviathan-gossip --example peer -- --name node1 --listen 127.0.0.1:3000 \
//!     --seed 127.0.0.1:3000 --seed 127.0.0.1:3003 --set k1=v1 --set p1=v1
//! cargo run --release -p leviathan-gossip --example peer -- --name node2 --listen 127.0.0.1:3001 \
//!     --seed 127.0.0.1:3000 --seed 127.0.0.1:3003 --set k2=v2
//! …
//! ```
//!
//! Every event is printed as one JSON object per line on stdout; logs go to stderr
//! (`RUST_LOG=debug` for more). Ctrl-C or SIGTERM announces the leave, then exits.

use std::time::Duration;

use clap::Parser;
use leviathan_gossip::{Config, Gossip, RecvError, json};
use tracing::{error, info, warn};

/// One gossip node that prints its events as JSON lines.
#[derive(Debug, Parser)]
struct Args {
    /// Unique node name (the original's alias).
    #[arg(long)]
    name: String,
    /// UDP address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: std::net::SocketAddr,
    /// Address peers reach this node at, if not --listen.
    #[arg(long)]
    advertise: Option<std::net::SocketAddr>,
    /// Seed address (repeatable); listing this node's own address is fine.
    #[arg(long = "seed")]
    seeds: Vec<String>,
    /// A key=value to publish at start (repeatable).
    #[arg(long = "set", value_parser = parse_key_value)]
    sets: Vec<(String, String)>,
    /// Cluster identifier.
    #[arg(long, default_value = "leviathan")]
    cluster_id: String,
    /// Gossip period in milliseconds.
    #[arg(long, default_value_t = 1000)]
    gossip_interval_ms: u64,
    /// Probe interval (`heartbeat_interval`) in milliseconds.
    #[arg(long, default_value_t = 1000)]
    heartbeat_interval_ms: u64,
    /// Health-check period in milliseconds.
    #[arg(long, default_value_t = 1000)]
    health_check_interval_ms: u64,
}

fn parse_key_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {text:?}"))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            error!("{message}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let config = Config {
        name: args.name,
        cluster_id: args.cluster_id,
        listen: args.listen,
        advertise: args.advertise,
        seeds: args.seeds,
        gossip_interval: Duration::from_millis(args.gossip_interval_ms),
        heartbeat_interval: Duration::from_millis(args.heartbeat_interval_ms),
        health_check_interval: Duration::from_millis(args.health_check_interval_ms),
        ..Config::default()
    };
    let gossip = Gossip::start(config).await.map_err(|e| e.to_string())?;
    let mut events = gossip.events();
    info!(identity = %gossip.identity(), "started");
    for (key, value) in args.sets {
        let version = gossip.set(&key, value).map_err(|e| e.to_string())?;
        info!(%key, %version, "set");
    }
    let mut terminate = signal_terminate().map_err(|e| e.to_string())?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
            event = events.recv() => match event {
                Ok(event) => println!("{}", json::event(&event)),
                Err(RecvError::Lagged(missed)) => warn!(missed, "events missed"),
                Err(RecvError::Closed) => return Ok(()),
            },
        }
    }
    info!("leaving");
    gossip.leave().await.map_err(|e| e.to_string())
}

#[cfg(unix)]
fn signal_terminate() -> std::io::Result<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
}
