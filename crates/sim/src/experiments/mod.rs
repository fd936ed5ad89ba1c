//! The experiments the `leviathan-gossip-sim` binary runs: each builds a scenario, measures
//! through events and queries, and returns a serializable result with a printable table.
//!
//! * [`dissemination`] — rounds and seconds for one write to reach 50 / 99 / 99.9 / 100 %;
//! * [`formation`] — N nodes joining through 2 seeds until everyone sees everyone live;
//! * [`detection`] — time to suspect crashed nodes, false suspicions under loss and stalls;
//! * [`faults`] — flaky hosts and one-way links: who is declared dead, and when;
//! * [`cost`] — bytes and messages per node per second, idle and under a write load;
//! * [`partition`] — split in two, heal, time to reconverge;
//! * [`churn`] — hours of crashes, restarts, leaves, stalls and writes: memory per node
//!   over time, and no resurrection.
//!
//! Shared here: the cluster settings every experiment takes ([`ClusterSpec`]), forming a
//! cluster, what the failure detector says and costs as seen from outside the nodes
//! ([`DetectionMeter`], for `detection` and `faults`), quantiles, progress reports and
//! tables.

pub mod churn;
pub mod cost;
pub mod detection;
pub mod dissemination;
pub mod faults;
pub mod formation;
pub mod partition;
pub mod repair;

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use leviathan_gossip_core::{NodeConfig, Stats};
use leviathan_gossip_wire::{
    COUNT_LEN, Generation, Incarnation, Message, NodeName, NodeTag, Packet, rumors_len,
};
use serde::Serialize;

use crate::{
    Difference, DifferenceKind, Latency, LinkModel, MembershipView, NetworkModel, NodeIndex,
    SimError, Simulation, Speed, TimedEvent, ViolationKind,
};

/// The cluster an experiment runs on.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSpec {
    /// Number of nodes.
    pub nodes: usize,
    /// Seed of the run.
    pub seed: u64,
    /// Datagram loss probability on every link.
    pub loss: f64,
    /// Latency of every link.
    pub latency: Latency,
    /// Node settings (gossip and heartbeat interval, fanout, …).
    pub node_config: NodeConfig,
    /// Round-trip every packet through the codec.
    pub encode_packets: bool,
    /// Stop waiting for a cluster to form after this much virtual time.
    pub formation_limit: Duration,
    /// Per-key invariant checks (default); off, only per node (for long runs at large N,
    /// see [`crate::InvariantChecker::without_per_key_tracking`]).
    pub per_key_checks: bool,
    /// Threads running the nodes (the outcome does not depend on it).
    pub threads: usize,
    /// Start from a formed cluster (see [`crate::SimulationBuilder::preformed`]).
    pub preformed: bool,
}

impl ClusterSpec {
    /// `nodes` nodes with default settings, seed 1, no loss.
    pub fn new(nodes: usize) -> Self {
        ClusterSpec {
            nodes,
            seed: 1,
            loss: 0.0,
            latency: Latency::default(),
            node_config: NodeConfig::default(),
            encode_packets: false,
            formation_limit: Duration::from_secs(120),
            per_key_checks: true,
            threads: 1,
            preformed: false,
        }
    }

    /// The simulation (nodes start spread over one gossip interval, seeds are nodes 0 and 1).
    pub fn build(&self) -> Result<Simulation, SimError> {
        self.build_on(self.network())
    }

    /// The simulation, with a [`DetectionMeter`] tapping its network (the tap draws no
    /// random numbers: the run is the one [`ClusterSpec::build`] gives).
    pub fn build_metered(&self) -> Result<(Simulation, DetectionMeter), SimError> {
        let meter = DetectionMeter::default();
        let tapped = Rc::clone(&meter.tapped);
        let network = self
            .network()
            .with_tap(move |at, from, packet| tapped.borrow_mut().see(at, from, packet));
        Ok((self.build_on(network)?, meter))
    }

    fn network(&self) -> NetworkModel {
        NetworkModel::new(LinkModel {
            latency: self.latency,
            loss: self.loss,
            duplicate: 0.0,
        })
    }

    fn build_on(&self, network: NetworkModel) -> Result<Simulation, SimError> {
        Simulation::builder(self.seed)
            .nodes(self.nodes)
            .seeds(2.min(self.nodes))
            .node_config(self.node_config.clone())
            .network(network)
            .encode_packets(self.encode_packets)
            .per_key_checks(self.per_key_checks)
            .threads(self.threads)
            .preformed(self.preformed)
            .build()
    }

    /// One gossip interval in seconds (the unit of "rounds").
    pub fn round(&self) -> f64 {
        self.node_config.gossip_interval.as_secs_f64()
    }
}

/// What every experiment reports about the run itself.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    /// Nodes.
    pub nodes: usize,
    /// Seed.
    pub seed: u64,
    /// Loss probability.
    pub loss: f64,
    /// Fanout.
    pub fanout: usize,
    /// Gossip interval, seconds.
    pub gossip_interval_s: f64,
    /// Heartbeat interval, seconds.
    pub heartbeat_interval_s: f64,
    /// Whether the run started from a formed cluster (`--preformed`).
    pub preformed: bool,
    /// Seconds of virtual time until every node had heard of every other.
    pub known_s: Option<f64>,
    /// Seconds of virtual time until every node saw every other live at once (`None`: not
    /// within the formation limit; the experiment went on regardless).
    pub formed_s: Option<f64>,
    /// Simulator speed.
    pub speed: Speed,
    /// Threads that ran the nodes (the speed depends on it, the results do not).
    pub threads: usize,
    /// Simulated node-seconds per wall second.
    pub node_seconds_per_wall_second: f64,
    /// Invariant violations by kind (expected: none).
    pub violations: Vec<(ViolationKind, u64)>,
    /// First violations in full, with the seed to replay them.
    pub first_violations: Vec<String>,
    /// Peak resident memory of the process, MiB (Linux only).
    pub peak_rss_mib: Option<f64>,
}

impl RunInfo {
    /// Summarises `sim` after the experiment.
    pub fn of(spec: &ClusterSpec, sim: &Simulation, formation: Formation) -> Self {
        let speed = sim.speed();
        RunInfo {
            nodes: spec.nodes,
            seed: spec.seed,
            loss: spec.loss,
            fanout: spec.node_config.fanout,
            gossip_interval_s: spec.node_config.gossip_interval.as_secs_f64(),
            heartbeat_interval_s: spec.node_config.heartbeat_interval.as_secs_f64(),
            preformed: spec.preformed,
            known_s: formation.known.map(|d| d.as_secs_f64()),
            formed_s: formation.live.map(|d| d.as_secs_f64()),
            speed,
            threads: spec.threads,
            node_seconds_per_wall_second: speed.node_seconds_per_wall_second(),
            violations: sim
                .checker()
                .counts()
                .iter()
                .map(|(k, n)| (*k, *n))
                .collect(),
            first_violations: sim
                .violations()
                .iter()
                .take(10)
                .map(|v| format!("seed {}: {v}", spec.seed))
                .collect(),
            peak_rss_mib: peak_rss_mib(),
        }
    }

    /// One line for humans: speed, memory and violations.
    pub fn summary(&self) -> String {
        let violations = if self.violations.is_empty() {
            "no invariant violations".to_owned()
        } else {
            format!("INVARIANT VIOLATIONS {:?}", self.violations)
        };
        let rss = self
            .peak_rss_mib
            .map_or(String::new(), |mib| format!(", peak RSS {mib:.0} MiB"));
        let formed = match (self.known_s, self.formed_s) {
            (_, Some(live)) => format!("formed (all live) at {live:.1} s"),
            (Some(known), None) => {
                format!("all known at {known:.1} s but never all live at once")
            }
            (None, None) => "never formed".to_owned(),
        };
        format!(
            "N={} loss={} seed={}: {formed}; {}{rss}; {violations}",
            self.nodes, self.loss, self.seed, self.speed
        )
    }
}

/// Runs `sim` to `until` in chunks, feeding every event to `observer`, printing progress to
/// stderr about every 10 wall seconds (large runs take minutes).
pub fn advance(
    sim: &mut Simulation,
    until: Duration,
    label: &str,
    observer: &mut dyn FnMut(&TimedEvent),
) {
    const CHUNK: Duration = Duration::from_secs(1);
    while sim.now() < until {
        let started = Instant::now();
        let wall_before = sim.speed().wall;
        let next = (sim.now() + CHUNK).min(until);
        sim.run_until_with(next, observer);
        let total = sim.speed().wall;
        // Report when a 10 s boundary of wall time inside the simulation was crossed.
        if total.as_secs() / 10 != wall_before.as_secs() / 10 {
            let rss = current_rss_mib().map_or(String::new(), |m| format!(", RSS {m:.0} MiB"));
            eprintln!(
                "  [{label}] t={:.0} s, {} ({:.1} s for the last chunk){rss}",
                sim.now().as_secs_f64(),
                sim.speed(),
                started.elapsed().as_secs_f64()
            );
        }
    }
}

/// When a cluster formed: see [`form`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Formation {
    /// When every running node had heard of every other one.
    pub known: Option<Duration>,
    /// When every running node saw every other one as live at once.
    pub live: Option<Duration>,
}

/// Runs until every running node sees every other one as live (per `view`), at most
/// `limit` of virtual time from now. At large N the failure detector may keep some pairs
/// suspect for long (see the detection experiment): experiments then go on after `limit`,
/// and report that the cluster never formed completely.
pub fn form(
    sim: &mut Simulation,
    view: &mut MembershipView,
    limit: Duration,
    label: &str,
) -> Formation {
    let deadline = sim.now() + limit;
    let step = sim.node_config().gossip_interval / 2;
    let mut formation = Formation::default();
    loop {
        let live = sim.live_nodes();
        let peers = live.len().saturating_sub(1);
        // Nodes start within the first gossip interval: until then nothing has formed.
        let all_started = sim.indices().all(|i| sim.was_started(i));
        if all_started && formation.known.is_none() && view.knowing(&live, peers) == live.len() {
            formation.known = Some(sim.now());
        }
        if all_started && view.complete(&live, peers) == live.len() {
            formation.live = Some(sim.now());
            return formation;
        }
        if sim.now() >= deadline {
            return formation;
        }
        let next = (sim.now() + step).min(deadline);
        advance(sim, next, label, &mut |event| view.observe(event));
    }
}

/// What the failure detector says and costs, measured from outside the nodes in the run
/// itself (no second pass): a network tap ([`crate::Tap`]) sees every datagram sent, and
/// records each alert the first time its alerter sends it (a rumour in a probe, ack, probe
/// request or Syn whose alerters hold the sender's own [`NodeTag`]) and the bytes of the
/// rumours Syns carry; the nodes' [`Stats`] at the start and end of a window give the
/// bytes of probes, acks and probe requests, all bytes, and the alerts and refutations.
///
/// Build it with [`ClusterSpec::build_metered`], call [`DetectionMeter::start`] when the
/// window opens and [`DetectionMeter::finish`] when it closes.
#[derive(Debug, Default)]
pub struct DetectionMeter {
    tapped: Rc<RefCell<Tapped>>,
    /// When the window opened.
    start: Option<Duration>,
    /// Each node's generation and stats then (`None`: not running).
    before: Vec<Option<(Generation, Stats)>>,
}

/// One alert as first seen on the wire: in a packet its alerter sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// Virtual time of that packet.
    pub at: Duration,
    /// The observer that raised it.
    pub alerter: NodeIndex,
    /// The node it accuses.
    pub subject: NodeName,
    /// The subject's generation it is about.
    pub generation: Generation,
    /// The subject's incarnation it is about.
    pub incarnation: Incarnation,
}

/// Detection traffic and the nodes' own counts, over a [`DetectionMeter`]'s window, for
/// the nodes that ran through all of it (same generation at both ends).
#[derive(Debug, Clone, Default, Serialize)]
pub struct DetectionTraffic {
    /// Seconds of the window.
    pub window_s: f64,
    /// Nodes measured.
    pub nodes: usize,
    /// Encoded bytes of probes sent, per node per second.
    pub probe_bytes_per_node_s: f64,
    /// Of probe acks (and relays' nacks).
    pub probe_ack_bytes_per_node_s: f64,
    /// Of probe requests.
    pub probe_request_bytes_per_node_s: f64,
    /// Of the rumours inside Syns (their list's count prefix excluded: an empty list costs
    /// a Syn that much anyway).
    pub syn_rumor_bytes_per_node_s: f64,
    /// The sum of the four above: what failure detection costs.
    pub detection_bytes_per_node_s: f64,
    /// Encoded bytes of every message sent, per node per second, for comparison.
    pub total_bytes_per_node_s: f64,
    /// Alerts the measured nodes raised (`Stats::alerts_raised`, about any node, crashed
    /// or not), summed.
    pub alerts_raised: u64,
    /// Refutations of alerts about themselves (`Stats::refutations`), summed.
    pub refutations: u64,
}

/// What the tap saw.
#[derive(Debug, Default)]
struct Tapped {
    /// Every alert seen, in the order first seen.
    alerts: Vec<Alert>,
    /// Their keys: (alerter, subject, generation, incarnation).
    seen: HashSet<(NodeIndex, NodeName, Generation, Incarnation)>,
    /// Whether the window is open.
    counting: bool,
    /// Per sender: bytes of the rumours inside the Syns it sent while `counting`.
    syn_rumor_bytes: Vec<u64>,
}

impl Tapped {
    fn see(&mut self, at: Duration, from: NodeIndex, packet: &Packet) {
        let rumors = match &packet.message {
            Message::Syn(syn) => {
                if self.counting {
                    if self.syn_rumor_bytes.len() <= from.0 {
                        self.syn_rumor_bytes.resize(from.0 + 1, 0);
                    }
                    if let Some(bytes) = self.syn_rumor_bytes.get_mut(from.0) {
                        let len = rumors_len(&syn.rumors).saturating_sub(COUNT_LEN);
                        *bytes += len as u64;
                    }
                }
                &syn.rumors
            }
            Message::Probe(probe) => &probe.rumors,
            Message::ProbeAck(ack) => &ack.rumors,
            Message::ProbeRequest(request) => &request.rumors,
            _ => return,
        };
        let own = NodeTag::of(&packet.header.sender);
        for rumor in rumors.iter().filter(|r| r.alerters.contains(&own)) {
            let key = (
                from,
                rumor.subject.clone(),
                rumor.generation,
                rumor.incarnation,
            );
            if self.seen.insert(key) {
                self.alerts.push(Alert {
                    at,
                    alerter: from,
                    subject: rumor.subject.clone(),
                    generation: rumor.generation,
                    incarnation: rumor.incarnation,
                });
            }
        }
    }
}

impl DetectionMeter {
    /// Opens the window now: takes every running node's stats, and counts Syn rumours
    /// from here on.
    pub fn start(&mut self, sim: &Simulation) {
        self.before = sim
            .indices()
            .map(|i| Some((sim.generation(i), sim.node(i)?.stats().clone())))
            .collect();
        self.start = Some(sim.now());
        self.tapped.borrow_mut().counting = true;
    }

    /// Closes the window now: traffic and counts of the nodes that ran through it.
    pub fn finish(&self, sim: &Simulation) -> DetectionTraffic {
        self.tapped.borrow_mut().counting = false;
        let Some(start) = self.start else {
            return DetectionTraffic::default();
        };
        let tapped = self.tapped.borrow();
        let mut nodes = 0usize;
        let mut bytes = [0u64; 4];
        let mut total = 0u64;
        let (mut alerts_raised, mut refutations) = (0, 0);
        for (i, before) in self.before.iter().enumerate() {
            let index = NodeIndex(i);
            let Some((generation, before)) = before else {
                continue;
            };
            let Some(node) = sim.node(index) else {
                continue;
            };
            if sim.generation(index) != *generation {
                continue;
            }
            let after = node.stats();
            let (sent, sent_before) = (&after.bytes_sent, &before.bytes_sent);
            nodes += 1;
            bytes[0] += sent.probe.saturating_sub(sent_before.probe);
            bytes[1] += sent.probe_ack.saturating_sub(sent_before.probe_ack);
            bytes[2] += sent.probe_request.saturating_sub(sent_before.probe_request);
            bytes[3] += tapped.syn_rumor_bytes.get(i).copied().unwrap_or(0);
            total += sent.total().saturating_sub(sent_before.total());
            alerts_raised += after.alerts_raised.saturating_sub(before.alerts_raised);
            refutations += after.refutations.saturating_sub(before.refutations);
        }
        let window_s = sim.now().saturating_sub(start).as_secs_f64();
        let rate = |bytes: u64| bytes as f64 / (nodes as f64 * window_s).max(1e-9);
        DetectionTraffic {
            window_s,
            nodes,
            probe_bytes_per_node_s: rate(bytes[0]),
            probe_ack_bytes_per_node_s: rate(bytes[1]),
            probe_request_bytes_per_node_s: rate(bytes[2]),
            syn_rumor_bytes_per_node_s: rate(bytes[3]),
            detection_bytes_per_node_s: rate(bytes.iter().sum()),
            total_bytes_per_node_s: rate(total),
            alerts_raised,
            refutations,
        }
    }

    /// The alerts first seen since the window opened, in the order seen.
    pub fn alerts(&self) -> Vec<Alert> {
        let from = self.start.unwrap_or_default();
        let tapped = self.tapped.borrow();
        tapped
            .alerts
            .iter()
            .filter(|alert| alert.at >= from)
            .cloned()
            .collect()
    }
}

/// `count` per node-hour.
pub fn per_node_hour(count: u64, node_hours: f64) -> f64 {
    count as f64 / node_hours.max(1e-9)
}

/// Differences counted by kind.
pub fn count_kinds(differences: &[Difference]) -> Vec<(DifferenceKind, usize)> {
    let mut counts = std::collections::BTreeMap::new();
    for difference in differences {
        *counts.entry(difference.kind).or_insert(0) += 1;
    }
    counts.into_iter().collect()
}

/// Differences about data and incarnations (stale keys, unknown members, old
/// generations), as opposed to liveness (a live peer momentarily suspected).
pub fn data_differences(differences: &[Difference]) -> usize {
    differences
        .iter()
        .filter(|d| {
            matches!(
                d.kind,
                DifferenceKind::StaleData
                    | DifferenceKind::UnknownMember
                    | DifferenceKind::WrongGeneration
            )
        })
        .count()
}

/// The `q`-quantile (0..=1) of `values` by the nearest-rank method; `None` if empty.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.saturating_sub(1)).copied()
}

/// Formats an optional number with `decimals`, or `—`.
pub fn fmt_opt(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "—".to_owned(), |v| format!("{v:.decimals$}"))
}

/// A plain text table.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Table {
    /// Column headers.
    pub headers: Vec<String>,
    /// Rows of cells.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these headers.
    pub fn new(headers: &[&str]) -> Self {
        Table {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(width) = widths.get_mut(i) {
                    *width = (*width).max(cell.chars().count());
                }
            }
        }
        let line = |f: &mut fmt::Formatter<'_>, cells: &[String]| -> fmt::Result {
            let mut first = true;
            for (cell, width) in cells.iter().zip(&widths) {
                if !first {
                    f.write_str(" | ")?;
                }
                first = false;
                write!(f, "{cell:>width$}")?;
            }
            writeln!(f)
        };
        line(f, &self.headers)?;
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        writeln!(f, "{}", rule.join("-+-"))?;
        for row in &self.rows {
            line(f, row)?;
        }
        Ok(())
    }
}

/// Peak resident set size of this process in MiB (`VmHWM`), on Linux.
pub fn peak_rss_mib() -> Option<f64> {
    proc_status_kib("VmHWM:").map(|kib| kib / 1024.0)
}

/// Current resident set size of this process in MiB (`VmRSS`), on Linux.
pub fn current_rss_mib() -> Option<f64> {
    proc_status_kib("VmRSS:").map(|kib| kib / 1024.0)
}

fn proc_status_kib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&values, 0.5), Some(50.0));
        assert_eq!(quantile(&values, 0.99), Some(99.0));
        assert_eq!(quantile(&values, 1.0), Some(100.0));
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[3.0], 0.99), Some(3.0));
    }

    #[test]
    fn the_tap_counts_each_alert_once_when_its_alerter_sends_it() {
        use leviathan_gossip_wire::{Header, Probe, RangeClaims, Rumor, Syn};
        let name = |i: usize| NodeName::try_from(NodeIndex(i).name()).unwrap();
        let packet = |sender: usize, message: Message| Packet {
            header: Header {
                cluster_id: NodeConfig::default().cluster_id,
                sender: name(sender),
                generation: Generation(1),
                incarnation: Incarnation(0),
            },
            message,
        };
        let rumor = |alerters: &[usize]| Rumor {
            subject: name(2),
            generation: Generation(1),
            incarnation: Incarnation(3),
            alerters: alerters.iter().map(|&i| NodeTag::of(&name(i))).collect(),
        };
        let probe = |rumors: Vec<Rumor>| {
            Message::Probe(Probe {
                sequence: 1,
                target: NodeTag::of(&name(2)),
                rumors,
            })
        };
        let syn = |rumors: Vec<Rumor>| {
            Message::Syn(Syn {
                ranges: RangeClaims::default(),
                news: Vec::new(),
                rumors,
            })
        };
        let secs = Duration::from_secs;
        let mut tapped = Tapped::default();
        // Node 1 relays node 0's alert: not node 1's own.
        tapped.see(secs(1), NodeIndex(1), &packet(1, probe(vec![rumor(&[0])])));
        tapped.see(secs(2), NodeIndex(0), &packet(0, probe(vec![rumor(&[0])])));
        tapped.see(secs(3), NodeIndex(0), &packet(0, syn(vec![rumor(&[0, 1])])));
        tapped.counting = true;
        let rumors = vec![rumor(&[0, 1])];
        let bytes = (rumors_len(&rumors) - COUNT_LEN) as u64;
        tapped.see(secs(4), NodeIndex(1), &packet(1, syn(rumors)));
        let seen: Vec<(Duration, NodeIndex)> =
            tapped.alerts.iter().map(|a| (a.at, a.alerter)).collect();
        assert_eq!(seen, [(secs(2), NodeIndex(0)), (secs(4), NodeIndex(1))]);
        assert_eq!(tapped.syn_rumor_bytes, [0, bytes]);
    }

    #[test]
    fn tables_align() {
        let mut table = Table::new(&["a", "bb"]);
        table.row(vec!["100".into(), "2".into()]);
        assert_eq!(table.to_string(), "  a | bb\n----+---\n100 |  2\n");
    }
}
