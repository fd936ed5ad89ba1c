//! How fast one write reaches the cluster.
//!
//! Form the cluster (every node sees every other live), then, `trials` times, one random
//! node writes one fresh key; measure the time until 50 / 99 / 99.9 / 100 % of the nodes
//! hold it (the writer included), in seconds and in rounds (gossip intervals). Printed
//! beside the push-pull bound for fanout 1, log₃N + log₂log₂N rounds (Karp et al.), and
//! Serf's published model (99.9 % in 8 / 10 / 11 rounds at fanout 3 for N = 100 / 1,000 /
//! 10,000).

use std::time::Duration;

use bytes::Bytes;
use leviathan_gossip_core::Event;
use leviathan_gossip_wire::Key;
use rand::SeedableRng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::{ClusterSpec, RunInfo, Table, advance, fmt_opt, form, quantile};
use crate::{MembershipView, NodeIndex, SimError};

/// The reach levels measured, in percent.
pub const LEVELS: [f64; 4] = [50.0, 99.0, 99.9, 100.0];

/// Settings of one dissemination run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The cluster.
    pub cluster: ClusterSpec,
    /// Number of writes measured, one after the other.
    pub trials: usize,
    /// Give up on a write after this long.
    pub trial_limit: Duration,
}

/// One write's spread.
#[derive(Debug, Clone, Serialize)]
pub struct Trial {
    /// The writer.
    pub writer: NodeIndex,
    /// Seconds until each of [`LEVELS`] was reached (`None`: not within the limit).
    pub seconds: Vec<Option<f64>>,
    /// Live nodes when the write was made (the writer included).
    pub live: usize,
    /// How many of them had heard of the writer then (the writer included): a node that
    /// has not cannot take the write's news, only the writer's whole state once a page
    /// or an Ack introduces it.
    pub knew_writer: usize,
    /// How many held the write when the trial ended.
    pub held_at_end: usize,
}

/// Statistics over trials for one reach level.
#[derive(Debug, Clone, Serialize)]
pub struct Reach {
    /// Percent of nodes.
    pub percent: f64,
    /// Trials that reached it.
    pub reached: usize,
    /// Median seconds over trials.
    pub median_s: Option<f64>,
    /// 99th percentile of seconds over trials (nearest rank: the maximum below 100 trials).
    pub p99_s: Option<f64>,
    /// Median in rounds.
    pub median_rounds: Option<f64>,
    /// 99th percentile in rounds.
    pub p99_rounds: Option<f64>,
}

/// The outcome of one dissemination run.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The run.
    pub run: RunInfo,
    /// Trials made.
    pub trials: Vec<Trial>,
    /// Statistics per reach level.
    pub reach: Vec<Reach>,
    /// log₃N + log₂log₂N rounds.
    pub push_pull_bound_rounds: f64,
    /// Serf's model, rounds to 99.9 % at fanout 3, where published for this N.
    pub serf_rounds_999: Option<f64>,
}

/// log₃N + log₂log₂N: rounds for push-pull gossip to reach everyone (fanout 1).
pub fn push_pull_bound(nodes: usize) -> f64 {
    let n = nodes.max(2) as f64;
    n.log(3.0) + n.log2().log2().max(0.0)
}

/// Serf's convergence simulator's rounds to 99.9 % at fanout 3, for the N it publishes.
pub fn serf_model(nodes: usize) -> Option<f64> {
    match nodes {
        100 => Some(8.0),
        1000 => Some(10.0),
        10_000 => Some(11.0),
        _ => None,
    }
}

/// Runs the experiment.
pub fn run(options: &Options) -> Result<Outcome, SimError> {
    let spec = &options.cluster;
    let label = format!("dissemination N={}", spec.nodes);
    let mut sim = spec.build()?;
    let mut view = MembershipView::new(&sim);
    let formed = form(&mut sim, &mut view, spec.formation_limit, &label);
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed ^ 0xd155);
    let mut trials = Vec::new();
    for trial in 0..options.trials {
        let live = sim.live_nodes();
        let Some(&writer) = live.choose(&mut rng) else {
            break;
        };
        let Ok(key) = Key::new(format!("trial-{trial}")) else {
            break;
        };
        let Some(writer_name) = sim.name(writer).cloned() else {
            break;
        };
        let start = sim.now();
        sim.set(
            start,
            writer,
            key.clone(),
            Bytes::from_static(b"0123456789abcdef"),
        );
        let mut arrivals: Vec<Option<Duration>> = vec![None; sim.len()];
        if let Some(slot) = arrivals.get_mut(writer.0) {
            *slot = Some(start);
        }
        let knew_writer = live
            .iter()
            .filter(|&&observer| observer == writer || view.state(observer, writer).is_some())
            .count();
        let mut holders = 1;
        let target = live.len();
        let deadline = start + options.trial_limit;
        while holders < target && sim.now() < deadline {
            let next = (sim.now() + Duration::from_secs(1)).min(deadline);
            advance(&mut sim, next, &label, &mut |event| {
                view.observe(event);
                let Event::Updates(updates) = &event.event else {
                    return;
                };
                let got = updates
                    .iter()
                    .any(|u| u.node == writer_name && u.key == key);
                if let Some(slot) = arrivals.get_mut(event.node.0)
                    && got
                    && slot.is_none()
                {
                    *slot = Some(event.at);
                    holders += 1;
                }
            });
        }
        let mut times: Vec<f64> = arrivals
            .iter()
            .flatten()
            .map(|at| (*at - start).as_secs_f64())
            .collect();
        times.sort_by(f64::total_cmp);
        let seconds = LEVELS
            .iter()
            .map(|percent| {
                let needed = ((percent / 100.0) * target as f64).ceil() as usize;
                times.get(needed.max(1) - 1).copied()
            })
            .collect();
        trials.push(Trial {
            writer,
            seconds,
            live: target,
            knew_writer,
            held_at_end: holders,
        });
    }
    let round = spec.round();
    let reach = LEVELS
        .iter()
        .enumerate()
        .map(|(level, &percent)| {
            let values: Vec<f64> = trials
                .iter()
                .filter_map(|t| t.seconds.get(level).copied().flatten())
                .collect();
            let median_s = quantile(&values, 0.5);
            let p99_s = quantile(&values, 0.99);
            Reach {
                percent,
                reached: values.len(),
                median_s,
                p99_s,
                median_rounds: median_s.map(|s| s / round),
                p99_rounds: p99_s.map(|s| s / round),
            }
        })
        .collect();
    Ok(Outcome {
        run: RunInfo::of(spec, &sim, formed),
        trials,
        reach,
        push_pull_bound_rounds: push_pull_bound(spec.nodes),
        serf_rounds_999: serf_model(spec.nodes),
    })
}

/// The table of several runs.
pub fn table(outcomes: &[Outcome]) -> Table {
    let mut table = Table::new(&[
        "N",
        "fanout",
        "loss",
        "reach %",
        "trials",
        "median s",
        "p99 s",
        "median rounds",
        "p99 rounds",
        "bound (f=1)",
        "Serf 99.9% (f=3)",
        "knew writer (min %)",
        "held at end (min %)",
    ]);
    for outcome in outcomes {
        for reach in &outcome.reach {
            let serf = if reach.percent == 99.9 {
                fmt_opt(outcome.serf_rounds_999, 0)
            } else {
                String::new()
            };
            // Once per run, on its first row.
            let least = |share: fn(&Trial) -> f64| {
                let first = outcome
                    .reach
                    .first()
                    .is_some_and(|r| std::ptr::eq(r, reach));
                let min = outcome.trials.iter().map(share).reduce(f64::min);
                min.filter(|_| first)
                    .map_or(String::new(), |m| format!("{:.1}", 100.0 * m))
            };
            table.row(vec![
                outcome.run.nodes.to_string(),
                outcome.run.fanout.to_string(),
                format!("{:.0}%", outcome.run.loss * 100.0),
                format!("{}", reach.percent),
                format!("{}/{}", reach.reached, outcome.trials.len()),
                fmt_opt(reach.median_s, 2),
                fmt_opt(reach.p99_s, 2),
                fmt_opt(reach.median_rounds, 1),
                fmt_opt(reach.p99_rounds, 1),
                format!("{:.1}", outcome.push_pull_bound_rounds),
                serf,
                least(|t| t.knew_writer as f64 / t.live.max(1) as f64),
                least(|t| t.held_at_end as f64 / t.live.max(1) as f64),
            ]);
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_matches_the_published_values() {
        assert!((push_pull_bound(100) - 6.9).abs() < 0.05);
        assert!((push_pull_bound(1000) - 9.6).abs() < 0.05);
        assert!((push_pull_bound(10_000) - 12.1).abs() < 0.05);
    }
}
