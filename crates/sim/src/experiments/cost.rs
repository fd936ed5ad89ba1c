//! What gossip costs at steady state: bytes and datagrams sent per node per second, idle
//! and under write loads, and the largest datagram.
//!
//! Form the cluster, warm up, then measure one window per load (writes per node per
//! second, each node cycling through `keys_per_node` keys with `value_size`-byte values),
//! lightest first. Finally stop writing and measure how long the backlog takes to drain
//! (every sampled node holds every node's latest keys): a load the protocol cannot carry
//! shows up there.

use std::time::Duration;

use bytes::Bytes;
use leviathan_gossip_wire::Key;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::{ClusterSpec, RunInfo, Table, advance, count_kinds, data_differences, form};
use crate::{DifferenceKind, MembershipView, NodeIndex, SimError, Simulation};

/// Settings of one cost run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The cluster.
    pub cluster: ClusterSpec,
    /// Time after formation before the first window.
    pub warmup: Duration,
    /// Length of each measurement window.
    pub window: Duration,
    /// Write loads to measure, writes per node per second (0: idle).
    pub loads: Vec<f64>,
    /// Keys each node cycles through.
    pub keys_per_node: usize,
    /// Bytes per value.
    pub value_size: usize,
    /// Longest wait, after the last window, for the data to converge.
    pub cooldown: Duration,
    /// Observers sampled for the convergence check.
    pub sample_observers: usize,
}

impl Options {
    /// Defaults: 20 s warm-up, 60 s windows, idle and 0.1 writes/node/s, 10 keys of 64 B,
    /// up to 300 s cool-down, 50 sampled observers.
    pub fn new(cluster: ClusterSpec) -> Self {
        Options {
            cluster,
            warmup: Duration::from_secs(20),
            window: Duration::from_secs(60),
            loads: vec![0.0, 0.1],
            keys_per_node: 10,
            value_size: 64,
            cooldown: Duration::from_secs(300),
            sample_observers: 50,
        }
    }
}

/// Traffic during one window, per node per second.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    /// Write load.
    pub writes_per_node_per_s: f64,
    /// Writes made in the window.
    pub writes: u64,
    /// Bytes sent per node per second.
    pub bytes_per_node_per_s: f64,
    /// Datagrams sent per node per second.
    pub datagrams_per_node_per_s: f64,
    /// Syn, SynAck and Ack messages sent per node per second.
    pub syn_synack_ack_per_node_per_s: [f64; 3],
    /// Mean datagram size, bytes.
    pub mean_datagram: f64,
    /// Records applied from peers per node per second.
    pub records_applied_per_node_per_s: f64,
    /// Staleness of the probe writes made during the window: seconds from a write until
    /// every sampled observer held it, sorted; probes no observer set held by the end of
    /// the window count in `stale_probes` instead.
    pub staleness_s: Vec<f64>,
    /// Probe writes some sampled observer still lacked at the end of the window.
    pub stale_probes: usize,
    /// How far the sampled observers lag behind each writer at the end of a loaded
    /// window: whether overload is shared fairly, and what it costs in memory.
    pub backlog: Option<Backlog>,
}

/// The sampled observers' lag behind every writer, at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct Backlog {
    /// Writers: the live nodes.
    pub writers: usize,
    /// Versions a sampled observer lacks of a writer's, averaged over observers, then
    /// over writers.
    pub mean_versions: f64,
    /// The most behind writer's figure.
    pub max_versions: f64,
    /// Jain's fairness index of the writers' figures: 1 when every writer is equally far
    /// behind (or none is), 1/writers when one writer carries all the lag.
    pub jain: f64,
    /// Records held per running node (tombstones and pending resets included).
    pub records_per_node: f64,
    /// Bytes of other nodes' state per running node (`Footprint::remote_bytes`).
    pub remote_bytes_per_node: f64,
}

/// The lag of `observers` behind each live writer, and the memory held, now.
fn backlog(sim: &Simulation, observers: &[NodeIndex]) -> Backlog {
    let views: Vec<std::collections::HashMap<String, u64>> = observers
        .iter()
        .filter_map(|o| sim.node(*o))
        .map(|node| {
            node.digest()
                .into_iter()
                .map(|entry| (entry.name.as_str().to_owned(), entry.max_version.0))
                .collect()
        })
        .collect();
    let mut lags = Vec::new();
    for writer in sim.live_nodes() {
        let Some(node) = sim.node(writer) else {
            continue;
        };
        let name = node.identity().name.as_str();
        let own = node
            .digest()
            .into_iter()
            .find(|entry| entry.name.as_str() == name)
            .map_or(0, |entry| entry.max_version.0);
        let lag: u64 = views
            .iter()
            .map(|view| own.saturating_sub(view.get(name).copied().unwrap_or(0)))
            .sum();
        lags.push(lag as f64 / views.len().max(1) as f64);
    }
    let sum: f64 = lags.iter().sum();
    let squares: f64 = lags.iter().map(|lag| lag * lag).sum();
    let running: Vec<_> = sim.indices().filter_map(|i| sim.node(i)).collect();
    let per_node = |total: usize| total as f64 / running.len().max(1) as f64;
    Backlog {
        writers: lags.len(),
        mean_versions: sum / lags.len().max(1) as f64,
        max_versions: lags.iter().copied().fold(0.0, f64::max),
        jain: if squares == 0.0 {
            1.0
        } else {
            sum * sum / (lags.len() as f64 * squares)
        },
        records_per_node: per_node(running.iter().map(|n| n.footprint().records).sum()),
        remote_bytes_per_node: per_node(running.iter().map(|n| n.footprint().remote_bytes).sum()),
    }
}

/// The outcome of one cost run.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The run.
    pub run: RunInfo,
    /// One entry per load.
    pub phases: Vec<Phase>,
    /// Largest datagram of the whole run, bytes.
    pub largest_datagram: usize,
    /// Configured limit, bytes.
    pub max_packet_size: usize,
    /// Writes made in all windows.
    pub writes: u64,
    /// Seconds after the last write until no sampled node had stale data (`None`: not
    /// within the cool-down).
    pub drained_s: Option<f64>,
    /// Differences of the last convergence check, by kind (liveness differences are a
    /// live peer momentarily suspected).
    pub differences: Vec<(DifferenceKind, usize)>,
    /// The first few, described.
    pub first_differences: Vec<String>,
}

/// Counters summed over the running nodes.
#[derive(Debug, Clone, Copy, Default)]
struct Snapshot {
    at: Duration,
    bytes: u64,
    datagrams: u64,
    kinds: [u64; 3],
    applied: u64,
}

fn snapshot(sim: &Simulation) -> Snapshot {
    let traffic = sim.total_traffic();
    let mut snapshot = Snapshot {
        at: sim.now(),
        bytes: traffic.bytes_sent,
        datagrams: traffic.datagrams_sent,
        ..Snapshot::default()
    };
    for node in sim.indices().filter_map(|i| sim.node(i)) {
        let stats = node.stats();
        snapshot.kinds[0] += stats.messages_sent.syn;
        snapshot.kinds[1] += stats.messages_sent.synack;
        snapshot.kinds[2] += stats.messages_sent.ack;
        snapshot.applied += stats.records_applied;
    }
    snapshot
}

/// Seconds between two probe writes, and between two looks at who holds them.
const PROBE_EVERY: Duration = Duration::from_secs(2);
const LOOK_EVERY: Duration = Duration::from_millis(250);

/// The sampled observers: `options.sample_observers` live nodes spread over the indices.
fn sample(sim: &Simulation, options: &Options) -> Vec<NodeIndex> {
    let live = sim.live_nodes();
    live.iter()
        .copied()
        .step_by((live.len() / options.sample_observers.max(1)).max(1))
        .collect()
}

/// Runs the simulation to `end` beside the window's load, with a probe write every
/// [`PROBE_EVERY`] (a unique key, by a random live node) over the first two thirds of the
/// window, and measures each one's staleness: the time until every sampled observer
/// (`options.sample_observers`) holds it, looked at every [`LOOK_EVERY`]. Returns the
/// staleness of the probes held everywhere by `end`, sorted, and how many were not.
fn run_window_with_probes(
    sim: &mut Simulation,
    end: Duration,
    options: &Options,
    rng: &mut ChaCha8Rng,
    label: &str,
) -> (Vec<f64>, usize) {
    let start = sim.now();
    let last_probe = start + (end - start).mul_f64(2.0 / 3.0);
    let live = sim.live_nodes();
    let observers = sample(sim, options);
    // (written at, writer, key) of the probes still travelling.
    let mut pending: Vec<(Duration, NodeIndex, Key)> = Vec::new();
    let mut staleness = Vec::new();
    let mut next_probe = start;
    let mut probes = 0usize;
    while sim.now() < end {
        if next_probe <= sim.now() && next_probe <= last_probe {
            let writer = live.get(rng.random_range(0..live.len().max(1))).copied();
            if let (Some(writer), Ok(key)) = (writer, Key::new(format!("staleness-probe-{probes}")))
            {
                sim.set(sim.now(), writer, key.clone(), Bytes::from_static(b"p"));
                pending.push((sim.now(), writer, key));
            }
            probes += 1;
            next_probe += PROBE_EVERY;
        }
        let until = (sim.now() + LOOK_EVERY).min(end);
        advance(sim, until, label, &mut |_| {});
        let now = sim.now();
        pending.retain(|(written, writer, key)| {
            let Some(owner) = sim.node(*writer).map(|n| n.identity().name.clone()) else {
                return false;
            };
            let everywhere = observers.iter().all(|observer| {
                *observer == *writer
                    || sim
                        .node(*observer)
                        .is_none_or(|n| n.get(owner.as_str(), key.as_str()).is_some())
            });
            if everywhere {
                staleness.push((now - *written).as_secs_f64());
            }
            !everywhere
        });
    }
    staleness.sort_by(f64::total_cmp);
    (staleness, pending.len())
}

/// Runs the experiment.
pub fn run(options: &Options) -> Result<Outcome, SimError> {
    let spec = &options.cluster;
    let label = format!("cost N={}", spec.nodes);
    let mut sim = spec.build()?;
    let mut view = MembershipView::new(&sim);
    let formed = form(&mut sim, &mut view, spec.formation_limit, &label);
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed ^ 0xc057);
    let until = sim.now() + options.warmup;
    advance(&mut sim, until, &label, &mut |_| {});
    let mut phases = Vec::new();
    let value = Bytes::from(vec![b'v'; options.value_size]);
    let keys: Vec<Key> = (0..options.keys_per_node.max(1))
        .filter_map(|k| Key::new(format!("key-{k}")).ok())
        .collect();
    for &load in &options.loads {
        let start = sim.now();
        let end = start + options.window;
        let mut writes = 0u64;
        if load > 0.0 {
            let interval = Duration::from_secs_f64(1.0 / load);
            for node in sim.live_nodes() {
                let mut at = start + interval.mul_f64(rng.random::<f64>());
                let mut next_key = node.0;
                while at < end {
                    if let Some(key) = keys.get(next_key % keys.len().max(1)) {
                        sim.set(at, node, key.clone(), value.clone());
                        writes += 1;
                    }
                    next_key += 1;
                    at += interval;
                }
            }
        }
        let before = snapshot(&sim);
        // An idle window stays idle: its cost is measured without probe writes.
        let (staleness_s, stale_probes) = if load > 0.0 {
            run_window_with_probes(&mut sim, end, options, &mut rng, &label)
        } else {
            advance(&mut sim, end, &label, &mut |_| {});
            (Vec::new(), 0)
        };
        let backlog = (load > 0.0).then(|| backlog(&sim, &sample(&sim, options)));
        let after = snapshot(&sim);
        let per_node_s =
            |count: u64| count as f64 / spec.nodes as f64 / (after.at - before.at).as_secs_f64();
        let datagrams = after.datagrams - before.datagrams;
        phases.push(Phase {
            writes_per_node_per_s: load,
            writes,
            bytes_per_node_per_s: per_node_s(after.bytes - before.bytes),
            datagrams_per_node_per_s: per_node_s(datagrams),
            syn_synack_ack_per_node_per_s: {
                let [syn, synack, ack] = after.kinds;
                let [syn0, synack0, ack0] = before.kinds;
                [syn - syn0, synack - synack0, ack - ack0].map(per_node_s)
            },
            mean_datagram: (after.bytes - before.bytes) as f64 / datagrams.max(1) as f64,
            records_applied_per_node_per_s: per_node_s(after.applied - before.applied),
            staleness_s,
            stale_probes,
            backlog,
        });
    }
    let stopped = sim.now();
    let deadline = stopped + options.cooldown;
    let (drained, differences) = loop {
        let differences = sim.check_converged_sample(options.sample_observers);
        if data_differences(&differences) == 0 {
            break (Some(sim.now() - stopped), differences);
        }
        if sim.now() >= deadline {
            break (None, differences);
        }
        let until = (sim.now() + Duration::from_secs(5)).min(deadline);
        advance(&mut sim, until, &label, &mut |_| {});
    };
    let writes = phases.iter().map(|p| p.writes).sum();
    Ok(Outcome {
        run: RunInfo::of(spec, &sim, formed),
        phases,
        largest_datagram: sim.total_traffic().largest_datagram,
        max_packet_size: spec.node_config.max_packet_size,
        writes,
        drained_s: drained.map(|d| d.as_secs_f64()),
        differences: count_kinds(&differences),
        first_differences: differences
            .iter()
            .take(5)
            .map(ToString::to_string)
            .collect(),
    })
}

/// "p50 / p99 / max (n)" of sorted staleness figures, and the probes still stale.
fn staleness_cell(sorted: &[f64], stale: usize) -> String {
    let at = |q: f64| {
        let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
        sorted.get(index).copied()
    };
    let held = match (at(0.5), at(0.99), sorted.last()) {
        (Some(p50), Some(p99), Some(max)) => {
            format!("{p50:.2} / {p99:.2} / {max:.2} ({})", sorted.len())
        }
        _ if stale == 0 => String::new(),
        _ => "no probe held everywhere".to_owned(),
    };
    if stale > 0 {
        format!("{held}; {stale} not held everywhere at the window's end")
    } else {
        held
    }
}

/// The table of several runs.
pub fn table(outcomes: &[Outcome]) -> Table {
    let mut table = Table::new(&[
        "N",
        "loss",
        "writes/node/s",
        "B/node/s",
        "datagrams/node/s",
        "syn/synack/ack per node/s",
        "mean datagram B",
        "records applied/node/s",
        "staleness p50 / p99 / max s (probes)",
        "backlog per writer: mean / max versions, Jain",
        "records / remote KB per node",
        "max datagram B",
        "data converged s after the last write",
    ]);
    for outcome in outcomes {
        let last = outcome.phases.len().saturating_sub(1);
        for (i, phase) in outcome.phases.iter().enumerate() {
            let [syn, synack, ack] = phase.syn_synack_ack_per_node_per_s;
            // The drain is measured once, after the last (heaviest) window.
            let drained = match (i == last, outcome.drained_s) {
                (false, _) => String::new(),
                (true, Some(s)) => format!("{s:.0}"),
                (true, None) => format!("not within the cool-down: {:?}", outcome.differences),
            };
            table.row(vec![
                outcome.run.nodes.to_string(),
                format!("{:.0}%", outcome.run.loss * 100.0),
                format!("{}", phase.writes_per_node_per_s),
                format!("{:.0}", phase.bytes_per_node_per_s),
                format!("{:.2}", phase.datagrams_per_node_per_s),
                format!("{syn:.2}/{synack:.2}/{ack:.2}"),
                format!("{:.0}", phase.mean_datagram),
                format!("{:.1}", phase.records_applied_per_node_per_s),
                staleness_cell(&phase.staleness_s, phase.stale_probes),
                phase.backlog.as_ref().map_or(String::new(), |b| {
                    format!(
                        "{:.1} / {:.1}, {:.2}",
                        b.mean_versions, b.max_versions, b.jain
                    )
                }),
                phase.backlog.as_ref().map_or(String::new(), |b| {
                    format!(
                        "{:.0} / {:.0}",
                        b.records_per_node,
                        b.remote_bytes_per_node / 1024.0
                    )
                }),
                format!(
                    "{} (limit {})",
                    outcome.largest_datagram, outcome.max_packet_size
                ),
                drained,
            ]);
        }
    }
    table
}
