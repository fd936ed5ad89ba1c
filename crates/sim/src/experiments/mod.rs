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
//! cluster, quantiles, progress reports and tables.

pub mod churn;
pub mod cost;
pub mod detection;
pub mod dissemination;
pub mod faults;
pub mod formation;
pub mod partition;

use std::fmt;
use std::time::{Duration, Instant};

use leviathan_gossip_core::NodeConfig;
use serde::Serialize;

use crate::{
    Difference, DifferenceKind, Latency, LinkModel, MembershipView, NetworkModel, SimError,
    Simulation, Speed, TimedEvent, ViolationKind,
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
        }
    }

    /// The simulation (nodes start spread over one gossip interval, seeds are nodes 0 and 1).
    pub fn build(&self) -> Result<Simulation, SimError> {
        let link = LinkModel {
            latency: self.latency,
            loss: self.loss,
            duplicate: 0.0,
        };
        Simulation::builder(self.seed)
            .nodes(self.nodes)
            .seeds(2.min(self.nodes))
            .node_config(self.node_config.clone())
            .network(NetworkModel::new(link))
            .encode_packets(self.encode_packets)
            .per_key_checks(self.per_key_checks)
            .threads(self.threads)
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
    fn tables_align() {
        let mut table = Table::new(&["a", "bb"]);
        table.row(vec!["100".into(), "2".into()]);
        assert_eq!(table.to_string(), "  a | bb\n----+---\n100 |  2\n");
    }
}
