//! Long churn: for simulated hours, nodes crash and come back (with or without their data
//! directory), restart in place, leave gracefully and rejoin, or stall; every node keeps
//! writing fresh keys, overwriting, deleting and writing keys with a time to live. Samples
//! what every node holds ([`leviathan_gossip_core::Node::footprint`]) and the process's
//! memory as it goes: with tombstone garbage collection and removal of dead peers, both
//! stay flat however long the run, while the invariant checks (no resurrection, versions
//! never go back) watch every event. At the end churn stops, the nodes still down come
//! back, and the convergence check runs.
//!
//! Keys are fresh names (`k<counter>`), so without garbage collection tombstones would pile
//! up without bound; the live keys per node hover around a target.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use leviathan_gossip_core::Event;
use leviathan_gossip_wire::Key;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::{ClusterSpec, RunInfo, Table, advance, count_kinds, current_rss_mib, form};
use crate::{Action, DifferenceKind, MembershipView, NodeIndex, SimError, Simulation};

/// Settings of one churn run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The cluster (lifecycle settings in its node config).
    pub cluster: ClusterSpec,
    /// Simulated time of churn.
    pub duration: Duration,
    /// Fraction of the (non-seed) nodes hit by a churn event per simulated minute.
    pub churn_per_minute: f64,
    /// Writes per node per simulated minute.
    pub writes_per_minute: f64,
    /// Live keys per node the writes hover around.
    pub live_keys: usize,
    /// Sample the footprint this often.
    pub sample_every: Duration,
    /// Observers sampled for the final convergence check.
    pub sample_observers: usize,
}

impl Options {
    /// Defaults: 1 % of nodes per minute churn, 1 write per node per minute, 8 live keys,
    /// a sample every 10 minutes, 50 sampled observers.
    pub fn new(cluster: ClusterSpec, duration: Duration) -> Self {
        Options {
            cluster,
            duration,
            churn_per_minute: 0.01,
            writes_per_minute: 1.0,
            live_keys: 8,
            sample_every: Duration::from_secs(600),
            sample_observers: 50,
        }
    }
}

/// What the running nodes held at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Simulated seconds since churn began.
    pub at_s: f64,
    /// Nodes running.
    pub running: usize,
    /// Nodes in state per running node (itself, peers of every state): mean and max.
    pub nodes_mean: f64,
    /// See `nodes_mean`.
    pub nodes_max: usize,
    /// Records held per running node (all owners, tombstones included): mean and max.
    pub records_mean: f64,
    /// See `records_mean`.
    pub records_max: usize,
    /// Removed incarnations in quarantine per running node: mean and max.
    pub quarantined_mean: f64,
    /// See `quarantined_mean`.
    pub quarantined_max: usize,
    /// Slots of the health table per running node (the most peers it tracked at once):
    /// max.
    pub health_slots_max: usize,
    /// Resident memory of the whole simulator process, MiB.
    pub rss_mib: Option<f64>,
    /// Invariant violations so far.
    pub violations: u64,
}

/// The outcome of one churn run.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The run.
    pub run: RunInfo,
    /// Simulated seconds of churn.
    pub duration_s: f64,
    /// Churn events by kind.
    pub churn_events: Vec<(String, u64)>,
    /// Writes, overwrites, TTL writes and deletes issued.
    pub writes: u64,
    /// Events emitted, summed over nodes: peers removed, restarts seen, deletions.
    pub removed_events: u64,
    /// See `removed_events`.
    pub restarted_events: u64,
    /// See `removed_events`.
    pub deleted_events: u64,
    /// Tombstones collected and resets received, summed over the nodes running at the end.
    pub tombstones_collected: u64,
    /// See `tombstones_collected`.
    pub resets_received: u64,
    /// The footprint over time.
    pub samples: Vec<Sample>,
    /// Differences found by the convergence check at the end, by kind.
    pub differences: Vec<(DifferenceKind, usize)>,
    /// The first few, described.
    pub first_differences: Vec<String>,
}

/// How long the cluster gets, after churn stops and everyone is back, to converge: the
/// longest TTL written (keys set in the last minutes still expire meanwhile), plus two
/// minutes.
const SETTLE: Duration = Duration::from_secs(MAX_TTL_S + 120);
/// Longest time to live of a TTL write, seconds.
const MAX_TTL_S: u64 = 600;

/// Runs the experiment.
pub fn run(options: &Options) -> Result<Outcome, SimError> {
    let spec = &options.cluster;
    let label = format!("churn N={}", spec.nodes);
    let mut sim = spec.build()?;
    let mut view = MembershipView::new(&sim);
    let formed = form(&mut sim, &mut view, spec.formation_limit, &label);
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed ^ 0xc4c4);
    let mut driver = Driver::new(&sim, options);
    let mut counts = EventCounts::default();
    let start = sim.now();
    let end = start + options.duration;
    let minute = Duration::from_secs(60);
    let mut samples = vec![sample(&sim, 0.0)];
    let mut next_sample = start + options.sample_every;
    while sim.now() < end {
        let from = sim.now();
        let to = (from + minute).min(end);
        driver.schedule_minute(&mut sim, &mut rng, from, to, end);
        advance(&mut sim, to, &label, &mut |e| counts.observe(&e.event));
        if sim.now() >= next_sample {
            let s = sample(&sim, (sim.now() - start).as_secs_f64());
            eprintln!(
                "  [{label}] sample at {:.2} h: {} running; nodes/node {:.1} (max {}), \
                 records/node {:.1} (max {}), quarantined {:.1} (max {}), {} violations",
                s.at_s / 3600.0,
                s.running,
                s.nodes_mean,
                s.nodes_max,
                s.records_mean,
                s.records_max,
                s.quarantined_mean,
                s.quarantined_max,
                s.violations
            );
            samples.push(s);
            next_sample += options.sample_every;
        }
    }
    // Churn is over: whoever is down comes back, then the cluster settles.
    let t = sim.now();
    for index in sim.indices().collect::<Vec<_>>() {
        if !sim.is_running(index) {
            sim.at(t, Action::RestartWithData(index));
        }
    }
    let settle = t + SETTLE.max(spec.node_config.gossip_interval * 60);
    advance(&mut sim, settle, &label, &mut |e| counts.observe(&e.event));
    let differences = sim.check_converged_sample(options.sample_observers);
    let (collected, resets) =
        sim.live_nodes()
            .iter()
            .filter_map(|i| sim.node(*i))
            .fold((0, 0), |(c, r), node| {
                let stats = node.stats();
                (c + stats.tombstones_collected, r + stats.resets_received)
            });
    Ok(Outcome {
        run: RunInfo::of(spec, &sim, formed),
        duration_s: options.duration.as_secs_f64(),
        churn_events: driver.churn_counts.into_iter().collect(),
        writes: driver.writes,
        removed_events: counts.removed,
        restarted_events: counts.restarted,
        deleted_events: counts.deleted,
        tombstones_collected: collected,
        resets_received: resets,
        samples,
        differences: count_kinds(&differences),
        first_differences: differences
            .iter()
            .take(5)
            .map(ToString::to_string)
            .collect(),
    })
}

/// Footprint of the running nodes now.
fn sample(sim: &Simulation, at_s: f64) -> Sample {
    let footprints: Vec<_> = sim
        .live_nodes()
        .iter()
        .filter_map(|i| sim.node(*i))
        .map(leviathan_gossip_core::Node::footprint)
        .collect();
    let n = footprints.len().max(1) as f64;
    let mean = |f: fn(&leviathan_gossip_core::Footprint) -> usize| {
        footprints.iter().map(f).sum::<usize>() as f64 / n
    };
    let max = |f: fn(&leviathan_gossip_core::Footprint) -> usize| {
        footprints.iter().map(f).max().unwrap_or(0)
    };
    Sample {
        at_s,
        running: footprints.len(),
        nodes_mean: mean(|f| f.nodes),
        nodes_max: max(|f| f.nodes),
        records_mean: mean(|f| f.records),
        records_max: max(|f| f.records),
        quarantined_mean: mean(|f| f.quarantined),
        quarantined_max: max(|f| f.quarantined),
        health_slots_max: max(|f| f.health_slots),
        rss_mib: current_rss_mib(),
        violations: sim.checker().total(),
    }
}

/// Lifecycle events seen, summed over observers.
#[derive(Debug, Default)]
struct EventCounts {
    removed: u64,
    restarted: u64,
    deleted: u64,
}

impl EventCounts {
    fn observe(&mut self, event: &Event) {
        match event {
            Event::PeersRemoved(peers) => self.removed += peers.len() as u64,
            Event::PeerRestarted { .. } => self.restarted += 1,
            Event::Deleted { .. } => self.deleted += 1,
            _ => {}
        }
    }
}

/// Draws the scenario minute by minute, so a day of it never sits in the queue at once.
struct Driver {
    churnable: Vec<NodeIndex>,
    all: Vec<NodeIndex>,
    churn_per_minute: f64,
    writes_per_minute: f64,
    live_keys: usize,
    /// Keys each node has set (without a TTL) and not deleted, as far as the driver knows.
    live: HashMap<NodeIndex, Vec<Key>>,
    /// Nodes down or otherwise busy until the given time: no new churn event for them.
    busy_until: HashMap<NodeIndex, Duration>,
    next_key: u64,
    writes: u64,
    churn_counts: std::collections::BTreeMap<String, u64>,
}

impl Driver {
    fn new(sim: &Simulation, options: &Options) -> Self {
        let all: Vec<NodeIndex> = sim.indices().collect();
        // The two seeds stay up: a node restarting while both were down would stay alone.
        let churnable = all.iter().copied().filter(|i| i.0 >= 2).collect();
        Driver {
            churnable,
            all,
            churn_per_minute: options.churn_per_minute,
            writes_per_minute: options.writes_per_minute,
            live_keys: options.live_keys,
            live: HashMap::new(),
            busy_until: HashMap::new(),
            next_key: 0,
            writes: 0,
            churn_counts: std::collections::BTreeMap::new(),
        }
    }

    /// Schedules the churn events and writes of `[from, to)`; nothing that would come
    /// back after `end` starts.
    fn schedule_minute(
        &mut self,
        sim: &mut Simulation,
        rng: &mut ChaCha8Rng,
        from: Duration,
        to: Duration,
        end: Duration,
    ) {
        let span = to.saturating_sub(from);
        let minutes = span.as_secs_f64() / 60.0;
        let at = |rng: &mut ChaCha8Rng| from + span.mul_f64(rng.random::<f64>());
        let events = poisson(
            rng,
            self.churn_per_minute * self.churnable.len() as f64 * minutes,
        );
        for _ in 0..events {
            let Some(&node) = self.churnable.choose(rng) else {
                break;
            };
            let when = at(rng);
            if self
                .busy_until
                .get(&node)
                .is_some_and(|until| *until > when)
            {
                continue;
            }
            let down = Duration::from_secs(rng.random_range(60..=600));
            let kind = match rng.random_range(0..10) {
                0..=3 if when + down < end => {
                    sim.crash(when, node);
                    let with_data = rng.random_bool(0.5);
                    if with_data {
                        sim.restart_with_data(when + down, node);
                    } else {
                        sim.restart(when + down, node);
                        self.live.remove(&node);
                    }
                    self.busy_until.insert(node, when + down);
                    if with_data {
                        "crash, back with data"
                    } else {
                        "crash, back empty"
                    }
                }
                4..=5 => {
                    sim.restart_with_data(when, node);
                    "restart in place"
                }
                6..=7 if when + down < end => {
                    sim.leave(when, node);
                    sim.crash(when + Duration::from_secs(5), node);
                    sim.restart(when + down, node);
                    self.live.remove(&node);
                    self.busy_until.insert(node, when + down);
                    "leave, rejoin empty"
                }
                _ => {
                    let stall = Duration::from_secs(rng.random_range(1..=30));
                    sim.stall(when, node, stall);
                    "stall"
                }
            };
            *self.churn_counts.entry(kind.to_owned()).or_default() += 1;
        }
        let writes = poisson(
            rng,
            self.writes_per_minute * self.all.len() as f64 * minutes,
        );
        for _ in 0..writes {
            let Some(&node) = self.all.choose(rng) else {
                break;
            };
            let when = at(rng);
            self.write(sim, rng, node, when);
        }
    }

    fn write(&mut self, sim: &mut Simulation, rng: &mut ChaCha8Rng, node: NodeIndex, at: Duration) {
        self.writes += 1;
        let live = self.live.entry(node).or_default();
        let roll = rng.random_range(0..10);
        if live.len() >= self.live_keys || (roll < 3 && !live.is_empty()) {
            let index = rng.random_range(0..live.len());
            let key = live.swap_remove(index);
            sim.delete(at, node, key);
            return;
        }
        if roll < 5 && !live.is_empty() {
            if let Some(key) = live.choose(rng).cloned() {
                sim.set(at, node, key, Bytes::from_static(b"overwritten"));
            }
            return;
        }
        let Ok(key) = Key::new(format!("k{}", self.next_key)) else {
            return;
        };
        self.next_key += 1;
        let value = Bytes::from_static(b"a value of a few dozen bytes, as a service would");
        if roll < 7 {
            let ttl = Duration::from_secs(rng.random_range(30..=MAX_TTL_S));
            sim.set_with_ttl(at, node, key, value, ttl);
        } else {
            live.push(key.clone());
            sim.set(at, node, key, value);
        }
    }
}

/// A Poisson-distributed count with mean `mean` (Knuth's method for small means, a normal
/// approximation above 30).
fn poisson(rng: &mut ChaCha8Rng, mean: f64) -> u64 {
    if mean <= 0.0 {
        return 0;
    }
    if mean > 30.0 {
        let normal: f64 = (0..12).map(|_| rng.random::<f64>()).sum::<f64>() - 6.0;
        return (mean + normal * mean.sqrt()).round().max(0.0) as u64;
    }
    let limit = (-mean).exp();
    let mut product = rng.random::<f64>();
    let mut count = 0;
    while product > limit {
        product *= rng.random::<f64>();
        count += 1;
    }
    count
}

/// The tables of several runs: the footprint over time, then the totals.
pub fn table(outcomes: &[Outcome]) -> Table {
    let mut table = Table::new(&[
        "N",
        "t (h)",
        "running",
        "nodes/node mean",
        "max",
        "records/node mean",
        "max",
        "quarantined mean",
        "max",
        "health slots max",
        "RSS MiB",
        "violations",
    ]);
    for outcome in outcomes {
        for s in &outcome.samples {
            table.row(vec![
                outcome.run.nodes.to_string(),
                format!("{:.2}", s.at_s / 3600.0),
                s.running.to_string(),
                format!("{:.1}", s.nodes_mean),
                s.nodes_max.to_string(),
                format!("{:.1}", s.records_mean),
                s.records_max.to_string(),
                format!("{:.1}", s.quarantined_mean),
                s.quarantined_max.to_string(),
                s.health_slots_max.to_string(),
                s.rss_mib.map_or("—".to_owned(), |m| format!("{m:.0}")),
                s.violations.to_string(),
            ]);
        }
    }
    table
}

/// One line per run with the totals.
pub fn totals(outcome: &Outcome) -> String {
    format!(
        "N={}: {:.1} h of churn, events {:?}, {} writes; peers removed {} times, restarts seen {}, \
         deletions reported {}; tombstones collected {} and resets received {} (nodes up at the \
         end); differences at the end: {}",
        outcome.run.nodes,
        outcome.duration_s / 3600.0,
        outcome.churn_events,
        outcome.writes,
        outcome.removed_events,
        outcome.restarted_events,
        outcome.deleted_events,
        outcome.tombstones_collected,
        outcome.resets_received,
        if outcome.differences.is_empty() {
            "none".to_owned()
        } else {
            format!("{:?} {:?}", outcome.differences, outcome.first_differences)
        }
    )
}
