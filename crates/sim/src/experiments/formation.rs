//! How fast a cluster forms: N nodes start within one gossip interval knowing only 2
//! seeds; measure when 50 %, 99 % and all nodes have heard of all N nodes, and when they
//! see all N nodes as live (a false suspicion undoes the latter, not the former).

use std::time::Duration;

use leviathan_gossip_core::{Event, Node, PeerCounts};
use serde::Serialize;

use super::{ClusterSpec, Formation, RunInfo, Table, advance, fmt_opt};
use crate::SimError;

/// Settings of one formation run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The cluster (its `formation_limit` bounds the run).
    pub cluster: ClusterSpec,
}

/// The outcome of one formation run.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The run.
    pub run: RunInfo,
    /// Seconds until 50 %, 99 % and all nodes had heard of all N.
    pub known_s: [Option<f64>; 3],
    /// Seconds until 50 %, 99 % and all nodes saw all N as live (at once, for "all").
    pub live_s: [Option<f64>; 3],
    /// Peers each node knew when the run ended: the mean over nodes, and the fewest.
    pub known_at_end: (f64, usize),
    /// Suspicions raised during the run (every node is alive: all are false).
    pub suspicions: u64,
    /// Never-seen nodes refused over their sender's introduction allowance, per node: what
    /// the limit on unasked introductions cost formation.
    pub refused_introductions_per_node: f64,
    /// Bytes sent per node per second during the run.
    pub bytes_per_node_per_s: f64,
    /// Largest datagram, bytes.
    pub largest_datagram: usize,
}

/// Runs the experiment: until every node sees every other live, or the formation limit.
pub fn run(options: &Options) -> Result<Outcome, SimError> {
    let spec = &options.cluster;
    let label = format!("formation N={}", spec.nodes);
    let mut sim = spec.build()?;
    let nodes = spec.nodes;
    let needed = |percent: f64| ((percent / 100.0) * nodes as f64).ceil() as usize;
    let levels = [needed(50.0), needed(99.0), nodes];
    let mut known: [Option<Duration>; 3] = [None; 3];
    let mut live: [Option<Duration>; 3] = [None; 3];
    let mut suspicions = 0u64;
    let step = spec.node_config.gossip_interval / 4;
    let everyone: Vec<_> = sim.indices().collect();
    while sim.now() < spec.formation_limit && live.iter().any(Option::is_none) {
        let next = (sim.now() + step).min(spec.formation_limit);
        advance(&mut sim, next, &label, &mut |event| {
            if let Event::PeersSuspected(peers) = &event.event {
                suspicions += peers.len() as u64;
            }
        });
        // Every node keeps its counts up to date: no need to fold its events into a view
        // of every pair (at N = 10,000 that took an eighth of the sequential thread).
        let counts: Vec<PeerCounts> = everyone
            .iter()
            .map(|i| sim.node(*i).map(Node::peer_counts).unwrap_or_default())
            .collect();
        let knowing = counts.iter().filter(|c| c.known >= nodes - 1).count();
        let complete = counts.iter().filter(|c| c.live >= nodes - 1).count();
        for (level, (known, live)) in levels.iter().zip(known.iter_mut().zip(live.iter_mut())) {
            if known.is_none() && knowing >= *level {
                *known = Some(sim.now());
            }
            if live.is_none() && complete >= *level {
                *live = Some(sim.now());
            }
        }
    }
    let known_counts: Vec<usize> = everyone
        .iter()
        .map(|i| sim.node(*i).map_or(0, |node| node.peer_counts().known))
        .collect();
    let known_at_end = (
        known_counts.iter().sum::<usize>() as f64 / known_counts.len().max(1) as f64,
        known_counts.iter().copied().min().unwrap_or(0),
    );
    let refused: u64 = everyone
        .iter()
        .filter_map(|i| sim.node(*i))
        .map(|node| node.stats().refused_introductions)
        .sum();
    let traffic = sim.total_traffic();
    let elapsed = sim.now().as_secs_f64().max(1e-9);
    let formation = Formation {
        known: known.last().copied().flatten(),
        live: live.last().copied().flatten(),
    };
    let seconds = |at: [Option<Duration>; 3]| at.map(|at| at.map(|d| d.as_secs_f64()));
    Ok(Outcome {
        run: RunInfo::of(spec, &sim, formation),
        known_s: seconds(known),
        live_s: seconds(live),
        known_at_end,
        suspicions,
        refused_introductions_per_node: refused as f64 / nodes.max(1) as f64,
        bytes_per_node_per_s: traffic.bytes_sent as f64 / nodes as f64 / elapsed,
        largest_datagram: traffic.largest_datagram,
    })
}

/// The table of several runs.
pub fn table(outcomes: &[Outcome]) -> Table {
    let mut table = Table::new(&[
        "N",
        "loss",
        "know all: 50% s",
        "99% s",
        "100% s",
        "see all live: 50% s",
        "99% s",
        "100% s",
        "100% rounds",
        "peers known at end: mean / min",
        "suspicions",
        "refused intros/node",
        "B/node/s",
        "max datagram",
    ]);
    for outcome in outcomes {
        let mut row = vec![
            outcome.run.nodes.to_string(),
            format!("{:.0}%", outcome.run.loss * 100.0),
        ];
        row.extend(outcome.known_s.iter().map(|s| fmt_opt(*s, 2)));
        row.extend(outcome.live_s.iter().map(|s| fmt_opt(*s, 2)));
        let all_live = outcome.live_s.last().copied().flatten();
        row.push(fmt_opt(
            all_live.map(|s| s / outcome.run.gossip_interval_s),
            1,
        ));
        let (mean, min) = outcome.known_at_end;
        row.push(format!("{mean:.0} / {min}"));
        row.push(outcome.suspicions.to_string());
        row.push(format!("{:.1}", outcome.refused_introductions_per_node));
        row.push(format!("{:.0}", outcome.bytes_per_node_per_s));
        row.push(outcome.largest_datagram.to_string());
        table.row(row);
    }
    table
}
