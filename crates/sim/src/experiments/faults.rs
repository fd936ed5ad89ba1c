//! Partial failures the failure detector must tell from crashes: flaky hosts and one-way
//! links.
//!
//! Form the cluster, let the detectors learn (`warmup`), then for `duration`:
//!
//! * **flaky hosts** (Rapid's scenario): `flaky_fraction` of the nodes (at least one, never
//!   a seed) lose `flaky_loss` of the datagrams they send and receive. A good detector
//!   declares them dead within a minute and keeps them out while the fault lasts; it never
//!   declares a healthy node dead;
//! * **one-way links**: `one_way` pairs of healthy nodes where A cannot reach C but C
//!   reaches A, and everyone else reaches both. C is alive and must not be declared dead.
//!
//! Per flaky node: when every healthy observer first held it dead (`dead_by_all_s`), and
//! how many (observer, flaky node) pairs took it for live again afterwards (`revived`).
//! For healthy nodes: suspicions and deaths each healthy observer reported
//! (`false_suspicions`, `false_deaths`, and each per node-hour; a flaky node's view of
//! others is not counted), those of one-way targets counted apart. Beside them, in the
//! same run, the evidence behind the application's view: distinct alerts (alerter,
//! subject, generation, incarnation) about healthy nodes, seen on the wire when the
//! alerter first sends one (see [`DetectionMeter`](super::DetectionMeter)), per
//! node-hour — those raised by flaky observers, whose own probes are lost, and those about
//! one-way targets counted apart — and the detection traffic per node per second (probes,
//! acks, probe requests, the rumours Syns carry) beside all traffic, over the faults.

use std::time::Duration;

use leviathan_gossip_core::{Event, MemberState};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::{
    Alert, ClusterSpec, DetectionTraffic, RunInfo, Table, advance, fmt_opt, form, per_node_hour,
    quantile,
};
use crate::{Action, LinkModel, MembershipView, NodeIndex, SimError, TimedEvent};

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The cluster.
    pub cluster: ClusterSpec,
    /// Fraction of the nodes that turn flaky (at least one).
    pub flaky_fraction: f64,
    /// Loss at a flaky node's interface, each way.
    pub flaky_loss: f64,
    /// Pairs (A, C) where A cannot reach C.
    pub one_way: usize,
    /// Time after formation before the faults start.
    pub warmup: Duration,
    /// How long the faults last (and are observed).
    pub duration: Duration,
}

impl Options {
    /// Defaults: 1 % of the nodes lose 80 % of their datagrams, 2 one-way links, 30 s
    /// warm-up, 120 s of faults.
    pub fn new(cluster: ClusterSpec) -> Self {
        Options {
            cluster,
            flaky_fraction: 0.01,
            flaky_loss: 0.8,
            one_way: 2,
            warmup: Duration::from_secs(30),
            duration: Duration::from_secs(120),
        }
    }
}

/// The outcome of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The run.
    pub run: RunInfo,
    /// Flaky nodes.
    pub flaky: usize,
    /// Loss at a flaky node's interface.
    pub flaky_loss: f64,
    /// Seconds from the fault's start until every healthy observer held the flaky node
    /// dead at once, per flaky node that got there.
    pub dead_by_all_s: Vec<f64>,
    /// Flaky nodes not held dead by every healthy observer at any one time.
    pub never_dead_by_all: usize,
    /// Times an observer took a flaky node it held dead for live again.
    pub revived: u64,
    /// (observer, flaky node) pairs holding it dead at the end, out of all pairs.
    pub dead_at_end: f64,
    /// One-way links (A cannot reach C).
    pub one_way: usize,
    /// `PeersSuspected` naming a healthy node that is not a one-way target.
    pub false_suspicions: u64,
    /// `PeersDead` naming a healthy node that is not a one-way target.
    pub false_deaths: u64,
    /// `false_suspicions` per node-hour.
    pub false_suspicions_per_node_hour: f64,
    /// `false_deaths` per node-hour.
    pub false_deaths_per_node_hour: f64,
    /// Distinct alerts first seen during the faults about a healthy node that is not a
    /// one-way target, by any observer.
    pub healthy_alerts: u64,
    /// Of those, alerts raised by flaky observers.
    pub healthy_alerts_by_flaky: u64,
    /// `healthy_alerts` per node-hour.
    pub healthy_alerts_per_node_hour: f64,
    /// Alerts about a one-way target, by its A / by anyone else.
    pub one_way_alerts: (u64, u64),
    /// Alerts about flaky nodes (the detector's job).
    pub flaky_alerts: u64,
    /// Detection traffic during the faults (every node, flaky ones included), and the
    /// nodes' alerts and refutations.
    pub traffic: DetectionTraffic,
    /// `PeersSuspected` naming a one-way target, by its A / by anyone else.
    pub one_way_suspicions: (u64, u64),
    /// `PeersDead` naming a one-way target, by its A / by anyone else.
    pub one_way_deaths: (u64, u64),
    /// Hours of observation × healthy observers.
    pub node_hours: f64,
}

/// Runs the experiment.
pub fn run(options: &Options) -> Result<Outcome, SimError> {
    let spec = &options.cluster;
    let label = format!("faults N={} loss={}", spec.nodes, spec.loss);
    let (mut sim, mut meter) = spec.build_metered()?;
    let mut view = MembershipView::new(&sim);
    let formed = form(&mut sim, &mut view, spec.formation_limit, &label);
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed ^ 0xf1a4);
    let nodes = sim.len();
    // Seeds (0 and 1) stay healthy: the cluster must be able to heal.
    let mut order: Vec<NodeIndex> = sim.indices().filter(|n| n.0 >= 2).collect();
    order.shuffle(&mut rng);
    let flaky_count = ((options.flaky_fraction * nodes as f64).round() as usize)
        .max(1)
        .min(order.len());
    let (flaky, rest) = order.split_at(flaky_count);
    let pairs: Vec<(NodeIndex, NodeIndex)> = rest
        .chunks_exact(2)
        .take(options.one_way)
        .filter_map(|pair| match pair {
            [a, c] => Some((*a, *c)),
            _ => None,
        })
        .collect();
    let start = sim.now() + options.warmup;
    let end = start + options.duration;
    for &node in flaky {
        let loss = options.flaky_loss;
        sim.at(start, Action::SetNodeLoss { node, loss });
    }
    for &(a, c) in &pairs {
        let link = Some(LinkModel {
            loss: 1.0,
            ..sim_link(spec)
        });
        sim.at(
            start,
            Action::SetLinkBetween {
                from: a,
                to: c,
                link,
            },
        );
    }

    let mut kind = vec![Kind::Healthy; nodes];
    for node in flaky {
        if let Some(k) = kind.get_mut(node.0) {
            *k = Kind::Flaky;
        }
    }
    for &(a, c) in &pairs {
        if let Some(k) = kind.get_mut(c.0) {
            *k = Kind::OneWayTarget { blocked_by: a };
        }
    }
    let mut watcher = Watcher {
        view,
        kind,
        start,
        dead_by_all: vec![None; nodes],
        revived: 0,
        false_suspicions: 0,
        false_deaths: 0,
        one_way_suspicions: (0, 0),
        one_way_deaths: (0, 0),
    };
    // The meter's window opens after the warm-up. `advance` stops every whole second from
    // formation anyway, so with a warm-up of whole seconds this stop leaves the run as it was.
    advance(&mut sim, start, &label, &mut |event| watcher.observe(event));
    meter.start(&sim);
    advance(&mut sim, end, &label, &mut |event| watcher.observe(event));
    let traffic = meter.finish(&sim);
    let alerts = watcher.classify(&meter.alerts());

    let healthy_observers: Vec<NodeIndex> = sim
        .indices()
        .filter(|n| !flaky.contains(n) && sim.is_running(*n))
        .collect();
    let dead_by_all_s: Vec<f64> = flaky
        .iter()
        .filter_map(|n| watcher.dead_by_all.get(n.0).copied().flatten())
        .map(|at| (at - start).as_secs_f64())
        .collect();
    let mut dead_pairs = 0usize;
    for &subject in flaky {
        for &observer in &healthy_observers {
            if watcher.view.state(observer, subject) == Some(MemberState::Dead) {
                dead_pairs += 1;
            }
        }
    }
    let pairs_total = (flaky.len() * healthy_observers.len()).max(1);
    let node_hours = healthy_observers.len() as f64 * options.duration.as_secs_f64() / 3600.0;
    Ok(Outcome {
        run: RunInfo::of(spec, &sim, formed),
        flaky: flaky.len(),
        flaky_loss: options.flaky_loss,
        never_dead_by_all: flaky.len() - dead_by_all_s.len(),
        dead_by_all_s,
        revived: watcher.revived,
        dead_at_end: dead_pairs as f64 / pairs_total as f64,
        one_way: pairs.len(),
        false_suspicions: watcher.false_suspicions,
        false_deaths: watcher.false_deaths,
        false_suspicions_per_node_hour: per_node_hour(watcher.false_suspicions, node_hours),
        false_deaths_per_node_hour: per_node_hour(watcher.false_deaths, node_hours),
        healthy_alerts: alerts.healthy,
        healthy_alerts_by_flaky: alerts.healthy_by_flaky,
        healthy_alerts_per_node_hour: per_node_hour(alerts.healthy, node_hours),
        one_way_alerts: alerts.one_way,
        flaky_alerts: alerts.flaky,
        traffic,
        one_way_suspicions: watcher.one_way_suspicions,
        one_way_deaths: watcher.one_way_deaths,
        node_hours,
    })
}

/// The cluster's default link, for one-way overrides that keep its latency.
fn sim_link(spec: &ClusterSpec) -> LinkModel {
    LinkModel {
        latency: spec.latency,
        loss: spec.loss,
        duplicate: 0.0,
    }
}

/// What a node is in the scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Healthy,
    Flaky,
    /// C of a one-way pair: `blocked_by` cannot reach it.
    OneWayTarget {
        blocked_by: NodeIndex,
    },
}

/// Alerts seen during the faults, by their subject's and alerter's [`Kind`].
#[derive(Debug, Default)]
struct AlertCounts {
    healthy: u64,
    healthy_by_flaky: u64,
    one_way: (u64, u64),
    flaky: u64,
}

/// Follows every observer's view, and counts what was said about healthy nodes.
struct Watcher {
    view: MembershipView,
    kind: Vec<Kind>,
    start: Duration,
    /// Per flaky node: when every healthy observer first held it dead at once.
    dead_by_all: Vec<Option<Duration>>,
    revived: u64,
    false_suspicions: u64,
    false_deaths: u64,
    one_way_suspicions: (u64, u64),
    one_way_deaths: (u64, u64),
}

impl Watcher {
    fn observe(&mut self, event: &TimedEvent) {
        let before: Vec<(NodeIndex, Option<MemberState>)> = self.subjects(event);
        self.view.observe(event);
        if event.at < self.start {
            return;
        }
        let observer = event.node;
        let observer_is_flaky = self.kind.get(observer.0) == Some(&Kind::Flaky);
        for (subject, was) in before {
            let kind = self.kind.get(subject.0).copied().unwrap_or(Kind::Healthy);
            let suspected = matches!(event.event, Event::PeersSuspected(_));
            let dead = matches!(event.event, Event::PeersDead(_));
            match kind {
                Kind::Flaky => {
                    let now = self.view.state(observer, subject);
                    if was == Some(MemberState::Dead) && now == Some(MemberState::Live) {
                        self.revived += 1;
                    }
                    if dead && !observer_is_flaky {
                        self.check_dead_by_all(subject, event.at);
                    }
                }
                Kind::Healthy if !observer_is_flaky => {
                    self.false_suspicions += u64::from(suspected);
                    self.false_deaths += u64::from(dead);
                }
                Kind::Healthy => {}
                Kind::OneWayTarget { blocked_by } => {
                    let by_a = observer == blocked_by;
                    let count = |pair: &mut (u64, u64), yes: bool| {
                        if yes {
                            if by_a {
                                pair.0 += 1;
                            } else {
                                pair.1 += 1;
                            }
                        }
                    };
                    count(&mut self.one_way_suspicions, suspected);
                    count(&mut self.one_way_deaths, dead);
                }
            }
        }
    }

    /// Sorts `alerts` by their subject's kind (and, for healthy ones, their alerter's).
    fn classify(&self, alerts: &[Alert]) -> AlertCounts {
        let mut counts = AlertCounts::default();
        for alert in alerts {
            let Some(subject) = self.view.index_of(&alert.subject) else {
                continue;
            };
            let alerter_is_flaky = self.kind.get(alert.alerter.0) == Some(&Kind::Flaky);
            match self.kind.get(subject.0).copied().unwrap_or(Kind::Healthy) {
                Kind::Healthy => {
                    counts.healthy += 1;
                    counts.healthy_by_flaky += u64::from(alerter_is_flaky);
                }
                Kind::Flaky => counts.flaky += 1,
                Kind::OneWayTarget { blocked_by } if blocked_by == alert.alerter => {
                    counts.one_way.0 += 1;
                }
                Kind::OneWayTarget { .. } => counts.one_way.1 += 1,
            }
        }
        counts
    }

    /// The peers `event` names, with the observer's view of each before it.
    fn subjects(&self, event: &TimedEvent) -> Vec<(NodeIndex, Option<MemberState>)> {
        let peers = match &event.event {
            Event::PeersSuspected(peers)
            | Event::PeersDead(peers)
            | Event::PeersRecovered(peers)
            | Event::PeersDiscovered(peers) => peers,
            _ => return Vec::new(),
        };
        peers
            .iter()
            .filter_map(|peer| self.view.index_of(peer))
            .map(|subject| (subject, self.view.state(event.node, subject)))
            .collect()
    }

    /// Records when `subject` is first held dead by every healthy observer at once.
    fn check_dead_by_all(&mut self, subject: NodeIndex, at: Duration) {
        if self.dead_by_all.get(subject.0).copied().flatten().is_some() {
            return;
        }
        let all = (0..self.kind.len()).all(|o| {
            let observer = NodeIndex(o);
            observer == subject
                || self.kind.get(o) == Some(&Kind::Flaky)
                || self.view.state(observer, subject) == Some(MemberState::Dead)
        });
        if all && let Some(slot) = self.dead_by_all.get_mut(subject.0) {
            *slot = Some(at);
        }
    }
}

/// The table of several runs.
pub fn table(outcomes: &[Outcome]) -> Table {
    let mut table = Table::new(&[
        "N",
        "loss",
        "flaky",
        "flaky loss",
        "dead by all: median s",
        "max s",
        "never",
        "revived",
        "dead at end",
        "false susp.",
        "false deaths",
        "one-way",
        "C suspected by A / others",
        "C dead by A / others",
        "susp. per node-hour",
        "deaths per node-hour",
        "healthy alerts (by flaky)",
        "per node-hour",
        "C alerts by A / others",
        "flaky alerts",
        "alerts raised",
        "refutations",
        "detection B/s/node",
        "all B/s/node",
    ]);
    for outcome in outcomes {
        let max = outcome.dead_by_all_s.iter().copied().reduce(f64::max);
        table.row(vec![
            outcome.run.nodes.to_string(),
            format!("{:.0}%", outcome.run.loss * 100.0),
            outcome.flaky.to_string(),
            format!("{:.0}%", outcome.flaky_loss * 100.0),
            fmt_opt(quantile(&outcome.dead_by_all_s, 0.5), 1),
            fmt_opt(max, 1),
            outcome.never_dead_by_all.to_string(),
            outcome.revived.to_string(),
            format!("{:.0}%", outcome.dead_at_end * 100.0),
            outcome.false_suspicions.to_string(),
            outcome.false_deaths.to_string(),
            outcome.one_way.to_string(),
            format!(
                "{} / {}",
                outcome.one_way_suspicions.0, outcome.one_way_suspicions.1
            ),
            format!(
                "{} / {}",
                outcome.one_way_deaths.0, outcome.one_way_deaths.1
            ),
            format!("{:.3}", outcome.false_suspicions_per_node_hour),
            format!("{:.3}", outcome.false_deaths_per_node_hour),
            format!(
                "{} ({})",
                outcome.healthy_alerts, outcome.healthy_alerts_by_flaky
            ),
            format!("{:.3}", outcome.healthy_alerts_per_node_hour),
            format!(
                "{} / {}",
                outcome.one_way_alerts.0, outcome.one_way_alerts.1
            ),
            outcome.flaky_alerts.to_string(),
            outcome.traffic.alerts_raised.to_string(),
            outcome.traffic.refutations.to_string(),
            format!("{:.0}", outcome.traffic.detection_bytes_per_node_s),
            format!("{:.0}", outcome.traffic.total_bytes_per_node_s),
        ]);
    }
    table
}
