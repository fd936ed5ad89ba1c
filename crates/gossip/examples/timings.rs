//! Measures what a preset's timings give on this machine: N nodes over real UDP on
//! 127.0.0.1 in one process, as in the four-console example.
//!
//! ```text
//! cargo run --release -p leviathan-gossip --example timings -- --preset default --nodes 4 --runs 3
//! ```
//!
//! Per run it reports: time until every node holds every node's key (convergence), time
//! until the survivors suspect a node crashed after `--warmup` seconds of steady state
//! (first and last survivor), time until a
//! restarted node is live everywhere again, and time until a graceful leave is seen
//! everywhere.

use std::time::{Duration, Instant};

use clap::Parser;
use leviathan_gossip::{Config, Gossip, MemberState, Preset};

/// Measure convergence and failure-detection times of a preset.
#[derive(Debug, Parser)]
struct Args {
    /// Preset: default, lan, wan or local.
    #[arg(long, default_value = "default")]
    preset: String,
    /// Cluster size.
    #[arg(long, default_value_t = 4)]
    nodes: usize,
    /// Repetitions.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Seconds the converged cluster runs before the crash, so detectors measure
    /// steady-state probe answers rather than their prior for new peers.
    #[arg(long, default_value_t = 15)]
    warmup: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let preset: Preset = args.preset.parse()?;
    println!(
        "preset {} ({} nodes on 127.0.0.1, {} runs, crash after {} s of warm-up)",
        args.preset, args.nodes, args.runs, args.warmup
    );
    println!("run  converge  suspect(first)  suspect(last)  restart-seen  leave-seen");
    for run in 1..=args.runs {
        let warmup = Duration::from_secs(args.warmup);
        let times = measure(preset, args.nodes.max(2), warmup).await?;
        println!(
            "{run:>3}  {:>8}  {:>14}  {:>13}  {:>12}  {:>10}",
            secs(times.converge),
            secs(times.first_suspect),
            secs(times.last_suspect),
            secs(times.restart),
            secs(times.leave)
        );
    }
    Ok(())
}

struct Times {
    converge: Duration,
    first_suspect: Duration,
    last_suspect: Duration,
    restart: Duration,
    leave: Duration,
}

fn secs(duration: Duration) -> String {
    format!("{:.2}s", duration.as_secs_f64())
}

fn config(preset: Preset, name: &str, seed: Option<std::net::SocketAddr>) -> Config {
    Config {
        name: name.to_string(),
        listen: "127.0.0.1:0".parse().unwrap_or_else(|_| unreachable!()),
        seeds: seed.map(|s| s.to_string()).into_iter().collect(),
        ..Config::preset(preset)
    }
}

async fn measure(
    preset: Preset,
    count: usize,
    warmup: Duration,
) -> Result<Times, Box<dyn std::error::Error>> {
    let start = Instant::now();
    let first = Gossip::start(config(preset, "node1", None)).await?;
    let seed = first.local_addr()?;
    let mut nodes = vec![first];
    for i in 2..=count {
        nodes.push(Gossip::start(config(preset, &format!("node{i}"), Some(seed))).await?);
    }
    for (i, node) in nodes.iter().enumerate() {
        node.set(format!("k{}", i + 1), "v")?;
    }
    wait("convergence", || {
        nodes.iter().all(|node| {
            (1..=count).all(|i| node.get(&format!("node{i}"), &format!("k{i}")).is_some())
        })
    })
    .await?;
    let converge = start.elapsed();
    tokio::time::sleep(warmup).await;

    // Crash the last node: no leave announcement.
    let victim = nodes.pop().ok_or("no nodes")?;
    let name = victim.identity().name.to_string();
    let address = victim.local_addr()?;
    let generation = victim.identity().generation.0;
    victim.shutdown().await;
    drop(victim);
    let crashed_at = Instant::now();
    let mut suspected_at: Vec<Option<Duration>> = vec![None; nodes.len()];
    while suspected_at.iter().any(Option::is_none) {
        for (node, suspected) in nodes.iter().zip(suspected_at.iter_mut()) {
            let state = state_of(node, &name);
            if suspected.is_none()
                && matches!(state, Some(MemberState::Suspect | MemberState::Dead))
            {
                *suspected = Some(crashed_at.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        if crashed_at.elapsed() > Duration::from_secs(120) {
            return Err("crashed node not suspected within 120 s".into());
        }
    }
    let suspicions: Vec<Duration> = suspected_at.into_iter().flatten().collect();
    let first_suspect = suspicions.iter().min().copied().unwrap_or_default();
    let last_suspect = suspicions.iter().max().copied().unwrap_or_default();

    let restarted = Gossip::start(Config {
        listen: address,
        generation: Some(generation + 1),
        ..config(preset, &name, Some(seed))
    })
    .await?;
    let restart = wait("the restart to be seen", || {
        nodes
            .iter()
            .all(|node| state_of(node, &name) == Some(MemberState::Live))
    })
    .await?;

    let leaving_name = restarted.identity().name.to_string();
    restarted.leave().await?;
    let leave = wait("the leave to be seen", || {
        nodes
            .iter()
            .all(|node| state_of(node, &leaving_name) == Some(MemberState::Left))
    })
    .await?;
    for node in &nodes {
        node.shutdown().await;
    }
    Ok(Times {
        converge,
        first_suspect,
        last_suspect,
        restart,
        leave,
    })
}

fn state_of(node: &Gossip, name: &str) -> Option<MemberState> {
    node.members()
        .into_iter()
        .find(|m| m.id.name.as_str() == name)
        .map(|m| m.state)
}

/// Polls every 10 ms until `condition` holds; returns how long it took (at most 120 s).
async fn wait(what: &str, mut condition: impl FnMut() -> bool) -> Result<Duration, String> {
    let start = Instant::now();
    while !condition() {
        if start.elapsed() > Duration::from_secs(120) {
            return Err(format!("timed out waiting for {what}"));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(start.elapsed())
}
