//! Partition and heal: split the cluster in two halves for `duration`, write and delete on
//! both sides meanwhile, heal, and measure the time until membership (everyone sees
//! everyone live) and data (every write and delete made during the split is everywhere)
//! have reconverged; then confirm with the full convergence check.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use leviathan_gossip_core::Event;
use leviathan_gossip_wire::{Key, NodeName};
use serde::Serialize;

use super::{ClusterSpec, RunInfo, Table, advance, count_kinds, fmt_opt, form};
use crate::{DifferenceKind, MembershipView, NodeIndex, SimError};

/// Settings of one partition run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The cluster.
    pub cluster: ClusterSpec,
    /// How long the halves are apart.
    pub duration: Duration,
    /// Fraction of nodes writing a key during the split (and deleting one set before).
    pub writer_fraction: f64,
    /// Give up waiting for reconvergence after this long.
    pub limit: Duration,
    /// Observers sampled for the final convergence check.
    pub sample_observers: usize,
}

impl Options {
    /// Defaults: 60 s apart, 10 % writers, 600 s limit, 50 sampled observers.
    pub fn new(cluster: ClusterSpec) -> Self {
        Options {
            cluster,
            duration: Duration::from_secs(60),
            writer_fraction: 0.1,
            limit: Duration::from_secs(600),
            sample_observers: 50,
        }
    }
}

/// The outcome of one partition run.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The run.
    pub run: RunInfo,
    /// Seconds apart.
    pub duration_s: f64,
    /// Writes and deletes made during the split.
    pub writes: usize,
    /// Peers declared dead during the split (summed over observers): the halves really
    /// lost each other.
    pub dead_during_split: u64,
    /// Seconds from heal until every node saw every other live.
    pub membership_s: Option<f64>,
    /// Seconds from heal until every split-time write and delete was reported everywhere.
    pub data_s: Option<f64>,
    /// Resets received (a peer's whole state for a node whose collected tombstones the
    /// receiver had missed), summed over the nodes: nonzero when the split outlasted the
    /// tombstone grace period.
    pub resets_received: u64,
    /// Differences found by the convergence check at the end, by kind.
    pub differences: Vec<(DifferenceKind, usize)>,
    /// The first few, described.
    pub first_differences: Vec<String>,
}

/// Runs the experiment.
pub fn run(options: &Options) -> Result<Outcome, SimError> {
    let spec = &options.cluster;
    let label = format!("partition N={}", spec.nodes);
    let mut sim = spec.build()?;
    let mut view = MembershipView::new(&sim);
    let formed = form(&mut sim, &mut view, spec.formation_limit, &label);
    let nodes = sim.len();
    let writers = ((options.writer_fraction * nodes as f64).ceil() as usize).clamp(1, nodes);
    // Writers spread over both halves: every (nodes / writers)-th node.
    let stride = (nodes / writers).max(1);
    let writer_nodes: Vec<NodeIndex> = (0..writers).map(|i| NodeIndex(i * stride)).collect();
    let value = Bytes::from_static(b"written before the split");
    let (Ok(before), Ok(during)) = (Key::new("before"), Key::new("during")) else {
        return Err(SimError::Size("invalid key".into()));
    };
    let t = sim.now();
    for &writer in &writer_nodes {
        sim.set(t, writer, before.clone(), value.clone());
    }
    advance(&mut sim, t + Duration::from_secs(20), &label, &mut |e| {
        view.observe(e)
    });

    let split = sim.now();
    let heal = split + options.duration;
    let (left, right): (Vec<NodeIndex>, Vec<NodeIndex>) =
        sim.indices().partition(|i| i.0 < nodes / 2);
    sim.partition(split, heal, vec![left, right]);
    // Half the writers delete the earlier key, the other half write a new one.
    let mut pending: HashMap<(NodeName, Key), Vec<bool>> = HashMap::new();
    let mid = split + options.duration / 2;
    for (i, &writer) in writer_nodes.iter().enumerate() {
        let key = if i % 2 == 0 {
            sim.delete(mid, writer, before.clone());
            before.clone()
        } else {
            sim.set(
                mid,
                writer,
                during.clone(),
                Bytes::from_static(b"written while split"),
            );
            during.clone()
        };
        if let Some(name) = sim.name(writer).cloned() {
            let mut holders = vec![false; nodes];
            if let Some(own) = holders.get_mut(writer.0) {
                *own = true;
            }
            pending.insert((name, key), holders);
        }
    }
    let mut missing = pending.len() * (nodes - 1);
    let mut track = |event: &crate::TimedEvent, missing: &mut usize| {
        let reported: Vec<(NodeName, Key)> = match &event.event {
            Event::Updates(updates) => updates
                .iter()
                .filter(|u| u.key == during)
                .map(|u| (u.node.clone(), u.key.clone()))
                .collect(),
            Event::Deleted { node, key, .. } => vec![(node.clone(), key.clone())],
            _ => Vec::new(),
        };
        for id in reported {
            if let Some(cell) = pending
                .get_mut(&id)
                .and_then(|holders| holders.get_mut(event.node.0))
                && !*cell
                && event.at >= mid
            {
                *cell = true;
                *missing = missing.saturating_sub(1);
            }
        }
    };
    let mut dead_during_split = 0u64;
    advance(&mut sim, heal, &label, &mut |e| {
        if let Event::PeersDead(peers) = &e.event {
            dead_during_split += peers.len() as u64;
        }
        view.observe(e);
        track(e, &mut missing);
    });

    let deadline = heal + options.limit;
    let mut membership_at = None;
    let mut data_at = None;
    while sim.now() < deadline && (membership_at.is_none() || data_at.is_none()) {
        let next = (sim.now() + spec.node_config.gossip_interval / 4).min(deadline);
        advance(&mut sim, next, &label, &mut |e| {
            view.observe(e);
            track(e, &mut missing);
        });
        let live = sim.live_nodes();
        if membership_at.is_none() && view.complete(&live, live.len() - 1) == live.len() {
            membership_at = Some(sim.now());
        }
        if data_at.is_none() && missing == 0 {
            data_at = Some(sim.now());
        }
    }
    // A few more rounds so heartbeats settle, then the full check.
    let until = sim.now() + Duration::from_secs(5);
    advance(&mut sim, until, &label, &mut |_| {});
    let differences = sim.check_converged_sample(options.sample_observers);
    let resets_received = sim
        .indices()
        .filter_map(|i| sim.node(i))
        .map(|node| node.stats().resets_received)
        .sum();
    let since_heal = |at: Option<Duration>| at.map(|at| (at - heal).as_secs_f64());
    Ok(Outcome {
        run: RunInfo::of(spec, &sim, formed),
        duration_s: options.duration.as_secs_f64(),
        writes: pending.len(),
        dead_during_split,
        membership_s: since_heal(membership_at),
        data_s: since_heal(data_at),
        resets_received,
        differences: count_kinds(&differences),
        first_differences: differences
            .iter()
            .take(5)
            .map(ToString::to_string)
            .collect(),
    })
}

/// The table of several runs.
pub fn table(outcomes: &[Outcome]) -> Table {
    let mut table = Table::new(&[
        "N",
        "loss",
        "split s",
        "writes+deletes",
        "declared dead while split",
        "membership reconverged s",
        "data reconverged s",
        "resets received",
        "differences at end",
    ]);
    for outcome in outcomes {
        table.row(vec![
            outcome.run.nodes.to_string(),
            format!("{:.0}%", outcome.run.loss * 100.0),
            format!("{:.0}", outcome.duration_s),
            outcome.writes.to_string(),
            outcome.dead_during_split.to_string(),
            fmt_opt(outcome.membership_s, 2),
            fmt_opt(outcome.data_s, 2),
            outcome.resets_received.to_string(),
            if outcome.differences.is_empty() {
                "none".to_owned()
            } else {
                format!("{:?}", outcome.differences)
            },
        ]);
    }
    table
}
