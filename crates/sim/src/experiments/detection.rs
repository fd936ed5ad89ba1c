//! Failure detection: how fast crashed nodes are suspected, how often live ones are, and
//! what it costs.
//!
//! Form the cluster, let the observers' detectors learn the probe rhythm (`warmup`), then
//! crash `crash_fraction` of the nodes (at least one) in each of `waves` waves. Per crashed
//! node: the time until the first surviving node suspects it, and until every surviving
//! node has. Optionally `slow_fraction` of the nodes stall now and then (for `stall`
//! seconds, every `stall_gap` on average). From the end of the warm-up to the end, in the
//! same run, count per node-hour of observation:
//!
//! * false suspicions — `PeersSuspected` naming a node that is running — and false deaths
//!   — `PeersDead` naming one: what the application sees;
//! * alerts about live nodes: distinct (alerter, subject, generation, incarnation) alerts,
//!   seen on the wire when the alerter first sends one (see
//!   [`DetectionMeter`](super::DetectionMeter)), whose subject had not crashed then — so
//!   that a quiet application view is not bought by hiding evidence. Alerts about crashed
//!   nodes are counted apart, as are the nodes' own counts of alerts raised and
//!   refutations;
//!
//! and the detection traffic per node per second: probes, acks and probe requests, plus
//! the rumours Syns carry, beside all traffic. Suspicions, deaths and alerts of a slow node
//! while it was stalled or within 10 s after are counted apart, since it really was
//! silent.

use std::time::Duration;

use leviathan_gossip_core::{Event, MemberState};
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::{
    Alert, ClusterSpec, DetectionTraffic, RunInfo, Table, advance, fmt_opt, form, per_node_hour,
    quantile,
};
use crate::{MembershipView, NodeIndex, SimError, TimedEvent};

/// After a stall, suspicions of the stalled node are still its stall's doing for this long.
const STALL_GRACE: Duration = Duration::from_secs(10);

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
    /// Seconds from crash until the first survivor held it suspect or dead, per crashed
    /// node (0 if one already did).
    pub first_s: Vec<f64>,
    /// Seconds from crash until every survivor held it suspect or dead for good (since
    /// its last recovery, if any), per crashed node all survivors hold so at the end.
    pub all_s: Vec<f64>,
    /// Crashed nodes some survivor did not hold suspect or dead at the end.
    pub not_suspected_by_all: usize,
    /// (crashed node, observer) pairs already suspect or dead when the node crashed (a
    /// false suspicion that happened to come true; detection time 0).
    pub already_suspected: usize,
    /// Times an observer took a crashed node for live again (news of it from before the
    /// crash arrived late).
    pub recoveries: u64,
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
    /// False suspicions per node-hour in each minute of observation (does the rate fall
    /// as the detectors learn the probe rhythm?).
    pub false_per_node_hour_by_minute: Vec<f64>,
    /// Deaths (`PeersDead`) of running, non-stalled nodes.
    pub false_deaths: u64,
    /// `false_deaths` per node-hour.
    pub false_deaths_per_node_hour: f64,
    /// Deaths of a slow node while it was stalled or within 10 s after.
    pub stalled_deaths: u64,
    /// Distinct alerts first seen during observation about a running, non-stalled node.
    pub live_alerts: u64,
    /// `live_alerts` per node-hour.
    pub live_alerts_per_node_hour: f64,
    /// Alerts about a slow node while it was stalled or within 10 s after.
    pub stalled_alerts: u64,
    /// Alerts about a crashed node, first seen after its crash (the detector's job).
    pub crashed_alerts: u64,
    /// Detection traffic over the observation, and the survivors' alerts and refutations.
    pub traffic: DetectionTraffic,
    /// Stalls scheduled.
    pub stalls: usize,
}

/// Runs the experiment.
pub fn run(options: &Options) -> Result<Outcome, SimError> {
    let spec = &options.cluster;
    let label = format!("detection N={} loss={}", spec.nodes, spec.loss);
    let (mut sim, mut meter) = spec.build_metered()?;
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
    let victims: Vec<NodeIndex> = candidates
        .choose_multiple(&mut rng, per_wave * options.waves)
        .copied()
        .collect();
    let wave_time = |wave: usize| first_wave + options.wave_interval * wave as u32;
    for (i, &victim) in victims.iter().enumerate() {
        sim.crash(wave_time(i / per_wave), victim);
    }

    let mut watcher = Watcher {
        view,
        watches: Vec::new(),
        watch_of: vec![None; nodes],
        stall_windows,
        observe_from,
        false_suspicions: 0,
        false_by_minute: Vec::new(),
        stalled_suspicions: 0,
        false_deaths: 0,
        stalled_deaths: 0,
    };
    // The meter's window opens after the warm-up. `advance` stops every whole second from
    // formation anyway, so with a warm-up of whole seconds this stop leaves the run as it was.
    advance(&mut sim, observe_from, &label, &mut |e| watcher.observe(e));
    meter.start(&sim);
    for (wave, victims) in victims.chunks(per_wave).enumerate() {
        let at = wave_time(wave);
        advance(&mut sim, at, &label, &mut |e| watcher.observe(e));
        for &victim in victims {
            watcher.watch(victim, at);
        }
    }
    advance(&mut sim, end, &label, &mut |e| watcher.observe(e));
    let traffic = meter.finish(&sim);
    let alerts = watcher.classify(&meter.alerts());

    let survivors: Vec<NodeIndex> = sim.indices().filter(|&i| sim.is_running(i)).collect();
    let mut first_s = Vec::new();
    let mut all_s = Vec::new();
    let mut not_suspected_by_all = 0;
    let mut already_suspected = 0;
    let mut recoveries = 0;
    for watch in &watcher.watches {
        already_suspected += watch.already_suspected;
        recoveries += watch.recoveries;
        if let Some(first) = watch.first {
            first_s.push((first - watch.crash).as_secs_f64());
        }
        let since: Vec<Option<Duration>> = survivors
            .iter()
            .map(|s| watch.since.get(s.0).copied().flatten())
            .collect();
        match since.iter().copied().collect::<Option<Vec<Duration>>>() {
            Some(times) => {
                let last = times.into_iter().max().unwrap_or(watch.crash);
                all_s.push((last - watch.crash).as_secs_f64());
            }
            None => not_suspected_by_all += 1,
        }
    }
    let node_hours = survivors.len() as f64 * (end - observe_from).as_secs_f64() / 3600.0;
    let minutes = (end - observe_from).as_secs().div_ceil(60) as usize;
    let minute_hours = survivors.len() as f64 / 60.0;
    let false_per_node_hour_by_minute = (0..minutes)
        .map(|m| watcher.false_by_minute.get(m).copied().unwrap_or(0) as f64 / minute_hours)
        .collect();
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
        already_suspected,
        recoveries,
        false_suspicions: watcher.false_suspicions,
        stalled_suspicions: watcher.stalled_suspicions,
        node_hours,
        false_per_node_hour: per_node_hour(watcher.false_suspicions, node_hours),
        false_per_node_hour_by_minute,
        false_deaths: watcher.false_deaths,
        false_deaths_per_node_hour: per_node_hour(watcher.false_deaths, node_hours),
        stalled_deaths: watcher.stalled_deaths,
        live_alerts: alerts.live,
        live_alerts_per_node_hour: per_node_hour(alerts.live, node_hours),
        stalled_alerts: alerts.stalled,
        crashed_alerts: alerts.crashed,
        traffic,
        stalls,
    })
}

/// Follows every observer's view of the crashed nodes, and counts false suspicions and
/// deaths.
struct Watcher {
    view: MembershipView,
    watches: Vec<Watch>,
    /// Index into `watches` of each crashed node.
    watch_of: Vec<Option<usize>>,
    /// Stall windows (start, end) of each node.
    stall_windows: Vec<Vec<(Duration, Duration)>>,
    observe_from: Duration,
    false_suspicions: u64,
    /// False suspicions per minute since `observe_from`.
    false_by_minute: Vec<u64>,
    stalled_suspicions: u64,
    false_deaths: u64,
    stalled_deaths: u64,
}

/// Alerts seen during observation, by what their subject was when first seen.
#[derive(Debug, Default)]
struct AlertCounts {
    live: u64,
    stalled: u64,
    crashed: u64,
}

/// One crashed node as the survivors see it.
struct Watch {
    crash: Duration,
    /// Earliest time some observer held it suspect or dead after the crash.
    first: Option<Duration>,
    /// Per observer: since when it holds the node suspect or dead (`None`: live).
    since: Vec<Option<Duration>>,
    /// Observers that already held it suspect or dead when it crashed.
    already_suspected: usize,
    /// Times an observer took it for live again after the crash (news of it from before
    /// the crash arrived late).
    recoveries: u64,
}

impl Watcher {
    /// `victim` crashed at `at`: start from each observer's current view of it.
    fn watch(&mut self, victim: NodeIndex, at: Duration) {
        let observers = self.watch_of.len();
        let since: Vec<Option<Duration>> = (0..observers)
            .map(|o| {
                let state = self.view.state(NodeIndex(o), victim);
                matches!(state, Some(MemberState::Suspect | MemberState::Dead)).then_some(at)
            })
            .collect();
        let already_suspected = since.iter().flatten().count();
        if let Some(slot) = self.watch_of.get_mut(victim.0) {
            *slot = Some(self.watches.len());
        }
        self.watches.push(Watch {
            crash: at,
            first: (already_suspected > 0).then_some(at),
            since,
            already_suspected,
            recoveries: 0,
        });
    }

    fn observe(&mut self, event: &TimedEvent) {
        self.view.observe(event);
        let (peers, suspects) = match &event.event {
            Event::PeersSuspected(peers) | Event::PeersDead(peers) => (peers, true),
            Event::PeersRecovered(peers) | Event::PeersDiscovered(peers) => (peers, false),
            _ => return,
        };
        for peer in peers {
            let Some(subject) = self.view.index_of(peer) else {
                continue;
            };
            let watched = self.watch_of.get(subject.0).copied().flatten();
            match watched.and_then(|w| self.watches.get_mut(w)) {
                Some(watch) => {
                    let Some(since) = watch.since.get_mut(event.node.0) else {
                        continue;
                    };
                    if suspects && since.is_none() {
                        *since = Some(event.at);
                        watch.first = Some(watch.first.map_or(event.at, |f| f.min(event.at)));
                    } else if !suspects && since.is_some() {
                        *since = None;
                        watch.recoveries += 1;
                    }
                }
                None => {
                    let dead = match event.event {
                        Event::PeersSuspected(_) => false,
                        Event::PeersDead(_) => true,
                        _ => continue,
                    };
                    if event.at < self.observe_from {
                        continue;
                    }
                    let stalled = self.was_stalled(subject, event.at);
                    if dead {
                        if stalled {
                            self.stalled_deaths += 1;
                        } else {
                            self.false_deaths += 1;
                        }
                    } else if stalled {
                        self.stalled_suspicions += 1;
                    } else {
                        self.false_suspicions += 1;
                        let minute = ((event.at - self.observe_from).as_secs() / 60) as usize;
                        if self.false_by_minute.len() <= minute {
                            self.false_by_minute.resize(minute + 1, 0);
                        }
                        if let Some(count) = self.false_by_minute.get_mut(minute) {
                            *count += 1;
                        }
                    }
                }
            }
        }
    }

    /// Whether `node` was stalled at `at`, or within [`STALL_GRACE`] before.
    fn was_stalled(&self, node: NodeIndex, at: Duration) -> bool {
        self.stall_windows.get(node.0).is_some_and(|windows| {
            windows
                .iter()
                .any(|(start, stop)| at >= *start && at <= *stop + STALL_GRACE)
        })
    }

    /// Sorts `alerts` by what their subject was when first seen: crashed, stalled, or live.
    fn classify(&self, alerts: &[Alert]) -> AlertCounts {
        let mut counts = AlertCounts::default();
        for alert in alerts {
            let Some(subject) = self.view.index_of(&alert.subject) else {
                continue;
            };
            let crashed = self
                .watch_of
                .get(subject.0)
                .copied()
                .flatten()
                .and_then(|w| self.watches.get(w))
                .is_some_and(|watch| watch.crash <= alert.at);
            if crashed {
                counts.crashed += 1;
            } else if self.was_stalled(subject, alert.at) {
                counts.stalled += 1;
            } else {
                counts.live += 1;
            }
        }
        counts
    }
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
        "not by all",
        "pre-suspected",
        "recoveries",
        "false susp.",
        "per node-hour",
        "last minute",
        "susp. of stalled",
        "false deaths",
        "per node-hour",
        "live alerts",
        "per node-hour",
        "stalled: deaths / alerts",
        "alerts raised",
        "refutations",
        "detection B/s/node",
        "all B/s/node",
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
            outcome.already_suspected.to_string(),
            outcome.recoveries.to_string(),
            outcome.false_suspicions.to_string(),
            format!("{:.3}", outcome.false_per_node_hour),
            fmt_opt(outcome.false_per_node_hour_by_minute.last().copied(), 3),
            outcome.stalled_suspicions.to_string(),
            outcome.false_deaths.to_string(),
            format!("{:.3}", outcome.false_deaths_per_node_hour),
            outcome.live_alerts.to_string(),
            format!("{:.3}", outcome.live_alerts_per_node_hour),
            format!("{} / {}", outcome.stalled_deaths, outcome.stalled_alerts),
            outcome.traffic.alerts_raised.to_string(),
            outcome.traffic.refutations.to_string(),
            format!("{:.0}", outcome.traffic.detection_bytes_per_node_s),
            format!("{:.0}", outcome.traffic.total_bytes_per_node_s),
        ]);
    }
    table
}
