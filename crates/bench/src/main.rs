//! `bench`: compares leviathan-gossip with chitchat over real UDP on loopback.
//!
//! ```text
//! cargo run --release -p leviathan-gossip-bench -- loopback --nodes 10
//! cargo run --release -p leviathan-gossip-bench -- flood
//! ```

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use leviathan_gossip_bench::chitchat::Chitchat;
use leviathan_gossip_bench::flood::{self, FloodKind, FloodSettings};
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
    /// Five leviathan-gossip nodes on 127.0.0.1, one of them flooded with garbage, another
    /// cluster's packets or a stranger's Syns at rising rates: the highest rate each kind
    /// of flood leaves without a false suspicion and with writes still arriving in time.
    Flood(FloodArgs),
}

#[derive(Debug, clap::Args)]
struct FloodArgs {
    /// Kinds of flood (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "garbage,foreign,non-member"
    )]
    kinds: Vec<FloodKind>,
    /// Rates, datagrams per second (comma-separated, increasing).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1000,10000,30000,100000,300000"
    )]
    rates: Vec<u64>,
    /// Source sockets the flood comes from.
    #[arg(long, default_value_t = 16)]
    sources: usize,
    /// How long each rate floods.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    step: Duration,
    /// Where to write the JSON report [default: target/bench/flood.json].
    #[arg(long)]
    json: Option<PathBuf>,
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
    let args = match Cli::parse().command {
        Command::Loopback(args) => args,
        Command::Flood(args) => return flood(args).await,
    };
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

/// `bench flood`: see [`leviathan_gossip_bench::flood`].
async fn flood(args: FloodArgs) -> anyhow::Result<()> {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    eprintln!("{command}");
    let settings = FloodSettings {
        kinds: args.kinds,
        rates: args.rates,
        sources: args.sources,
        step: args.step,
    };
    let load_before = load_average();
    let steps = flood::run(&settings).await?;
    println!(
        "{} nodes (lan preset) on 127.0.0.1, node flood-0 flooded from {} sources for {:?} a rate; \
         a write every 500 ms on flood-1 must reach flood-0 within 1 s",
        flood::NODES,
        settings.sources,
        settings.step
    );
    println!("command: {command}");
    let load = |load: Option<String>| load.unwrap_or_else(|| "unknown".to_string());
    println!(
        "load average (1/5/15 min): {} at start, {} at end\n",
        load(load_before),
        load(load_average())
    );
    print!("{}", flood::render(&steps));
    let json = args
        .json
        .unwrap_or_else(|| PathBuf::from("target/bench/flood.json"));
    if let Some(dir) = json.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let report = serde_json::json!({ "command": command, "settings": settings, "steps": steps });
    std::fs::write(&json, serde_json::to_string_pretty(&report)?)?;
    println!("\nJSON: {}", json.display());
    Ok(())
}
