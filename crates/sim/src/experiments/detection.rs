//! Failure detection: how fast crashed nodes are suspected, and how often live ones are.
//!
//! Form the cluster, let the detectors learn the heartbeat rhythm (`warmup`), then crash
//! `crash_fraction` of the nodes (at least one) in each of `waves` waves. Per crashed node:
//! the time until the first surviving node suspects it, and until every surviving node
//! has. Meanwhile count false suspicions — `PeersSuspected` naming a node that is running
//! — per node-hour of observation. Optionally `slow_fraction` of the nodes stall now and
//! then (for `stall` seconds, every `stall_gap` on average): suspicions of a stalled node
//! are counted apart, since it really was silent.

use std::time::Duration;

use leviathan_gossip_core::Event;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::{ClusterSpec, RunInfo, Table, advance, fmt_opt, form, quantile};
use crate::{MembershipView, NodeIndex, SimError};

/// Settings of one detection run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The cluster.
    pub cluster: ClusterSpec,
    /// Fraction of nodes crashed per wave (at least one node).
    pub crash_fraction: f64,
    /// Number of crash waves.
    pub waves: usize,
    /// Time between waves.
    pub wave_interval: Duration,
    /// Time after formation before observation starts.
    pub warmup: Duration,
    /// Observation after the last wave.
    pub tail: Duration,
    /// Fraction of nodes that stall now and then.
    pub slow_fraction: f64,
    /// Range of one stall's length.
    pub stall: (Duration, Duration),
    /// Mean time between the stalls of one slow node.
    pub stall_gap: Duration,
}

impl Options {
    /// Defaults: 1 % per wave, 3 waves 40 s apart, 30 s warm-up, 40 s tail, stalls of
    /// 1–4 s every 20 s on average.
    pub fn new(cluster: ClusterSpec) -> Self {
        Options {
            cluster,
            crash_fraction: 0.01,
            waves: 3,
            wave_interval: Duration::from_secs(40),
            warmup: Duration::from_secs(30),
            tail: Duration::from_secs(40),
            slow_fraction: 0.0,
            stall: (Duration::from_secs(1), Duration::from_secs(4)),
            stall_gap: Duration::from_secs(20),
        }
    }
}

/// The outcome of one detection run.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The run.
    pub run: RunInfo,
    /// Fraction of slow nodes.
    pub slow_fraction: f64,
    /// Crashed nodes measured.
    pub crashed: usize,
    /// Seconds from crash to the first suspicion, per crashed node.
    pub first_s: Vec<f64>,
    /// Seconds from crash until every surviving node suspected it, per crashed node that
    /// every surviving node suspected before the end.
    pub all_s: Vec<f64>,
    /// Crashed nodes some survivor never suspected before the end.
    pub not_suspected_by_all: usize,
    /// Median of `first_s`.
    pub first_median_s: Option<f64>,
    /// 99th percentile of `first_s` (nearest rank).
    pub first_p99_s: Option<f64>,
    /// Median of `all_s`.
    pub all_median_s: Option<f64>,
    /// 99th percentile of `all_s`.
    pub all_p99_s: Option<f64>,
    /// Suspicions of running, non-stalled nodes.
    pub false_suspicions: u64,
    /// Suspicions of a slow node while it was stalled or within 10 s after.
    pub stalled_suspicions: u64,
    /// Hours of observation × observing nodes.
    pub node_hours: f64,
    /// `false_suspicions` per node-hour.
    pub false_per_node_hour: f64,
    /// Stalls scheduled.
    pub stalls: usize,
}

/// Runs the experiment.
pub fn run(options: &Options) -> Result<Outcome, SimError> {
    let spec = &options.cluster;
    let label = format!("detection N={} loss={}", spec.nodes, spec.loss);
    let mut sim = spec.build()?;
    let mut view = MembershipView::new(&sim);
    let formed = form(&mut sim, &mut view, spec.formation_limit, &label);
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed ^ 0xde7e);
    let nodes = sim.len();
    let mut order: Vec<NodeIndex> = sim.indices().collect();
    order.shuffle(&mut rng);
    let slow_count = (options.slow_fraction * nodes as f64).round() as usize;
    let (slow, healthy) = order.split_at(slow_count.min(nodes));
    let observe_from = sim.now() + options.warmup;
    let first_wave = observe_from + Duration::from_secs(10);
    let end =
        first_wave + options.wave_interval * options.waves.saturating_sub(1) as u32 + options.tail;

    // Stall windows of the slow nodes, as (node, start, end).
    let mut stall_windows: Vec<Vec<(Duration, Duration)>> = vec![Vec::new(); nodes];
    let mut stalls = 0;
    for &node in slow {
        let mut at = sim.now() + options.stall_gap.mul_f64(rng.random::<f64>());
        while at < end {
            let length = options.stall.0
                + (options.stall.1.saturating_sub(options.stall.0)).mul_f64(rng.random::<f64>());
            sim.stall(at, node, length);
            if let Some(windows) = stall_windows.get_mut(node.0) {
                windows.push((at, at + length));
            }
            stalls += 1;
            let gap = options.stall_gap.mul_f64(2.0 * rng.random::<f64>());
            at += length + gap;
        }
    }

    // Crash waves, among the healthy nodes that are not seeds (seeds stay for rejoining).
    let per_wave = ((options.crash_fraction * nodes as f64).round() as usize).max(1);
    let candidates: Vec<NodeIndex> = healthy.iter().copied().filter(|n| n.0 >= 2).collect();
    let mut crash_at: Vec<Option<Duration>> = vec![None; nodes];
    let victims: Vec<NodeIndex> = candidates
        .choose_multiple(&mut rng, per_wave * options.waves)
        .copied()
        .collect();
    for (i, &victim) in victims.iter().enumerate() {
        let at = first_wave + options.wave_interval * (i / per_wave) as u32;
        sim.crash(at, victim);
        if let Some(slot) = crash_at.get_mut(victim.0) {
            *slot = Some(at);
        }
    }

    // First suspicion of each victim by each observer.
    let mut suspected: Vec<Vec<Option<Duration>>> = vec![vec![None; nodes]; victims.len()];
    let victim_slot: Vec<Option<usize>> = {
        let mut slots = vec![None; nodes];
        for (i, victim) in victims.iter().enumerate() {
            if let Some(slot) = slots.get_mut(victim.0) {
                *slot = Some(i);
            }
        }
        slots
    };
    let mut false_suspicions = 0u64;
    let mut stalled_suspicions = 0u64;
    let grace = Duration::from_secs(10);
    advance(&mut sim, end, &label, &mut |event| {
        view.observe(event);
        let Event::PeersSuspected(peers) = &event.event else {
            return;
        };
        for peer in peers {
            let Some(subject) = view.index_of(peer) else {
                continue;
            };
            let crashed = crash_at
                .get(subject.0)
                .copied()
                .flatten()
                .is_some_and(|at| at <= event.at);
            if crashed {
                let row = victim_slot
                    .get(subject.0)
                    .copied()
                    .flatten()
                    .and_then(|v| suspected.get_mut(v));
                if let Some(cell) = row.and_then(|row| row.get_mut(event.node.0))
                    && cell.is_none()
                {
                    *cell = Some(event.at);
                }
            } else if event.at >= observe_from {
                let stalled = stall_windows.get(subject.0).is_some_and(|windows| {
                    windows
                        .iter()
                        .any(|(start, stop)| event.at >= *start && event.at <= *stop + grace)
                });
                if stalled {
                    stalled_suspicions += 1;
                } else {
                    false_suspicions += 1;
                }
            }
        }
    });

    let survivors: Vec<NodeIndex> = sim.indices().filter(|&i| sim.is_running(i)).collect();
    let mut first_s = Vec::new();
    let mut all_s = Vec::new();
    let mut not_suspected_by_all = 0;
    for (victim, row) in victims.iter().zip(&suspected) {
        let Some(crashed) = crash_at.get(victim.0).copied().flatten() else {
            continue;
        };
        let times: Vec<Option<Duration>> = survivors
            .iter()
            .map(|s| row.get(s.0).copied().flatten())
            .collect();
        if let Some(first) = times.iter().flatten().min() {
            first_s.push((*first - crashed).as_secs_f64());
        }
        if times.iter().all(Option::is_some) {
            if let Some(last) = times.iter().flatten().max() {
                all_s.push((*last - crashed).as_secs_f64());
            }
        } else {
            not_suspected_by_all += 1;
        }
    }
    let node_hours = survivors.len() as f64 * (end - observe_from).as_secs_f64() / 3600.0;
    Ok(Outcome {
        run: RunInfo::of(spec, &sim, formed),
        slow_fraction: options.slow_fraction,
        crashed: victims.len(),
        first_median_s: quantile(&first_s, 0.5),
        first_p99_s: quantile(&first_s, 0.99),
        all_median_s: quantile(&all_s, 0.5),
        all_p99_s: quantile(&all_s, 0.99),
        first_s,
        all_s,
        not_suspected_by_all,
        false_suspicions,
        stalled_suspicions,
        node_hours,
        false_per_node_hour: false_suspicions as f64 / node_hours.max(1e-9),
        stalls,
    })
}

/// The table of several runs.
pub fn table(outcomes: &[Outcome]) -> Table {
    let mut table = Table::new(&[
        "N",
        "loss",
        "slow",
        "crashed",
        "first median s",
        "first p99 s",
        "all median s",
        "all p99 s",
        "never by all",
        "false susp.",
        "per node-hour",
        "susp. of stalled",
    ]);
    for outcome in outcomes {
        table.row(vec![
            outcome.run.nodes.to_string(),
            format!("{:.0}%", outcome.run.loss * 100.0),
            format!("{:.0}%", outcome.slow_fraction * 100.0),
            outcome.crashed.to_string(),
            fmt_opt(outcome.first_median_s, 2),
            fmt_opt(outcome.first_p99_s, 2),
            fmt_opt(outcome.all_median_s, 2),
            fmt_opt(outcome.all_p99_s, 2),
            outcome.not_suspected_by_all.to_string(),
            outcome.false_suspicions.to_string(),
            format!("{:.3}", outcome.false_per_node_hour),
            outcome.stalled_suspicions.to_string(),
        ]);
    }
    table
}
