//! `bench`: compares leviathan-gossip with chitchat over real UDP on loopback.
//!
//! ```text
//! cargo run --release -p leviathan-gossip-bench -- loopback --nodes 10
//! ```

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use leviathan_gossip_bench::chitchat::Chitchat;
use leviathan_gossip_bench::leviathan::Leviathan;
use leviathan_gossip_bench::machine::{Machine, load_average};
use leviathan_gossip_bench::measure::measure;
use leviathan_gossip_bench::report::{Outcome, Report};
use leviathan_gossip_bench::{CHITCHAT_VERSION, ChitchatProtocol, Settings};

/// Real-socket benchmarks of leviathan-gossip against chitchat.
#[derive(Debug, Parser)]
#[command(name = "bench")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// N nodes of each system on 127.0.0.1, one system after the other: formation,
    /// dissemination, steady-state cost and crash detection, side by side.
    Loopback(LoopbackArgs),
}

#[derive(Debug, clap::Args)]
struct LoopbackArgs {
    /// Nodes per system (at least 3).
    #[arg(long, default_value_t = 10)]
    nodes: usize,
    /// Gossip round period of both systems (humantime: 200ms, 1s).
    #[arg(long, default_value = "200ms", value_parser = humantime::parse_duration)]
    gossip_interval: Duration,
    /// φ threshold of both failure detectors.
    #[arg(long, default_value_t = 8.0)]
    phi_threshold: f64,
    /// Span over which node starts are spread evenly [default: the gossip interval].
    #[arg(long, value_parser = humantime::parse_duration)]
    stagger: Option<Duration>,
    /// Steady-state window over which cost is measured.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    window: Duration,
    /// Idle time after dissemination before the window opens.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    settle: Duration,
    /// Longest each wait lasts before it is reported as a timeout.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// chitchat wire format: v1 (zstd-compressed digests) or v0 (uncompressed).
    #[arg(long, default_value = "v1")]
    chitchat_protocol: ChitchatProtocol,
    /// Which systems to run.
    #[arg(long, value_enum, default_value_t = Only::Both)]
    only: Only,
    /// Where to write the JSON report [default: target/bench/loopback-N.json].
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Only {
    Both,
    Leviathan,
    Chitchat,
}

/// Pause between the two systems, so the first one's sockets and tasks are gone.
const BETWEEN_SYSTEMS: Duration = Duration::from_secs(1);

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let Command::Loopback(args) = Cli::parse().command;
    let settings = Settings {
        gossip_interval: args.gossip_interval,
        phi_threshold: args.phi_threshold,
        stagger: args.stagger.unwrap_or(args.gossip_interval),
        window: args.window,
        settle: args.settle,
        timeout: args.timeout,
        chitchat_protocol: args.chitchat_protocol,
        ..Settings::new(args.nodes)
    };
    settings.validate()?;
    let machine = Machine::detect();
    let load_before = load_average();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    eprintln!("{command}");

    let leviathan = if args.only == Only::Chitchat {
        Outcome::skipped()
    } else {
        eprintln!("measuring leviathan-gossip with {} nodes…", settings.nodes);
        Outcome::from_result(measure::<Leviathan>(&settings).await)
    };
    if args.only == Only::Both {
        tokio::time::sleep(BETWEEN_SYSTEMS).await;
    }
    let chitchat = if args.only == Only::Leviathan {
        Outcome::skipped()
    } else {
        eprintln!(
            "measuring chitchat {CHITCHAT_VERSION} with {} nodes…",
            settings.nodes
        );
        Outcome::from_result(measure::<Chitchat>(&settings).await)
    };

    let report = Report {
        command,
        machine,
        load_before,
        load_after: load_average(),
        settings,
        chitchat_version: CHITCHAT_VERSION,
        leviathan,
        chitchat,
    };
    print!("{}", report.render());
    let json = args
        .json
        .unwrap_or_else(|| PathBuf::from(format!("target/bench/loopback-{}.json", args.nodes)));
    report.write_json(&json)?;
    println!("\nJSON: {}", json.display());
    Ok(())
}
