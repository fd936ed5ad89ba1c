//! Protocol settings of one node. The runtime's user-facing configuration validates and
//! builds this; the simulator builds it directly.

use std::time::Duration;

use leviathan_gossip_wire::ClusterId;
use thiserror::Error;

use crate::failure_detector::PhiConfig;

/// Time allowed, beyond `dead_after + remove_after`, for a node to detect a peer's death:
/// part of the shortest accepted `quarantine`.
pub const QUARANTINE_MARGIN: Duration = Duration::from_secs(60);

/// Smallest accepted `max_packet_size`: a page with one worst-case digest entry (names of
/// [`leviathan_gossip_wire::MAX_NAME_LEN`] bytes) and a delta with one worst-case empty record both fit in it.
pub const MIN_PACKET_SIZE: usize = 1024;
/// Largest accepted `max_packet_size`: the largest UDP payload over IPv4.
pub const MAX_PACKET_SIZE: usize = 65_507;

/// Smallest accepted `max_remote_bytes`: 64 KiB, the largest packet's worth of one peer.
pub const MIN_REMOTE_BYTES: usize = 64 << 10;

/// Most observers per node: each one costs every node a probe per interval.
pub const MAX_OBSERVERS: usize = 16;
/// Most relays asked per check.
pub const MAX_INDIRECT_PROBES: usize = 8;

/// Protocol settings of one node.
///
/// Every cluster member should use the same `cluster_id` and `max_packet_size`; timings may
/// differ per node, but observers learn the rhythm of their own probes' answers and
/// corroborate each other's alerts, so keep them alike.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeConfig {
    /// Packets carrying another cluster id are dropped. Default `"leviathan"`.
    pub cluster_id: ClusterId,
    /// How often the node starts a handshake with its chosen targets. Default 1 s (the
    /// original's `gossip_val`). Shorter spreads updates faster at proportional bandwidth.
    pub gossip_interval: Duration,
    /// How often the node probes each peer it watches (the original's `heartbeat_val`).
    /// Default 1 s. Each observer's φ-accrual detector learns the rhythm of the answers, so
    /// this sets how fast a silent node is noticed; every node sends `observers` probes
    /// per interval, whatever the cluster's size.
    pub heartbeat_interval: Duration,
    /// How many observers watch each node (its successors on that many hash rings), and so
    /// how many peers each node probes. Default 5. More tolerates more faulty observers and
    /// costs proportionally more probes.
    pub observers: usize,
    /// How many distinct observers must alert about a node before it is reported suspect
    /// (all of its live observers, when fewer can vouch for it). Default 3: one observer's
    /// bad link or bad luck never makes a node suspect.
    pub corroboration: usize,
    /// How many relays an observer asks to probe a silent node before it raises an alert.
    /// Default 3. A path broken between the observer and the node alone then raises none.
    pub indirect_probes: usize,
    /// How long a relay waits for the answer to a probe it sends on an observer's behalf;
    /// the observer waits twice that (longer while its own health is poor) for any answer.
    /// Default 500 ms; at most `heartbeat_interval`. Must exceed the round trip.
    pub probe_timeout: Duration,
    /// How often suspicions are timed out and departed peers removed. Default 1 s (the
    /// original's `health_check_val`, 5 s there). Adds up to one interval to the time a
    /// suspect takes to be declared dead.
    pub health_check_interval: Duration,
    /// Live peers contacted each gossip round. Default 3. Higher spreads faster and costs
    /// linearly more bandwidth.
    pub fanout: usize,
    /// Largest datagram the node sends, in bytes, headers included. Default 1400, below a
    /// 1500-byte Ethernet MTU with room for IP/UDP headers. Between [`MIN_PACKET_SIZE`] and
    /// [`MAX_PACKET_SIZE`].
    pub max_packet_size: usize,
    /// φ of a watched peer's probe answers above which its observer checks it (a direct
    /// and indirect probes) and, unanswered, raises an alert. Default 8 (Cassandra's
    /// default): roughly a 10⁻⁸ chance that a live peer's answer is merely late. Lower
    /// detects sooner with more checks.
    pub phi_threshold: f64,
    /// Tuning of the φ-accrual detector.
    pub phi: PhiConfig,
    /// How long a peer stays suspect before it is declared dead, with `corroboration`
    /// alerters; each further alerter shortens it, down to a quarter (Lifeguard's rule).
    /// Default 30 s. Dead peers are still gossiped with now and then, so they rejoin when
    /// they come back.
    pub dead_after: Duration,
    /// How long this node keeps the tombstone of a key it deleted before dropping it and
    /// raising its garbage-collection watermark. Default 5 minutes. A peer that was away
    /// for less than this gets the tombstone as an ordinary delta; one away for longer
    /// gets a reset (this node's whole live state) instead, so nothing comes back either
    /// way: shorter saves memory, longer saves resets.
    pub tombstone_grace: Duration,
    /// How long a dead or departed peer stays listed (as dead or left) before it is
    /// removed from state and digests. Default 10 minutes. A removed peer that comes back
    /// is discovered again.
    pub remove_after: Duration,
    /// How long news of a removed peer's incarnation is ignored after its removal, so
    /// peers that have not removed it yet do not bring it back. Default 15 minutes. At
    /// least `tombstone_grace` (a peer lagging by less than the grace period must not
    /// revive a removed node) and at least `dead_after + remove_after` plus a minute: a
    /// node that hears of the dead peer just before the others remove it keeps it about
    /// that long (detection, `dead_after`, `remove_after`), and must remove it before the
    /// others' quarantine ends, or it hands the peer back to them, again and again. A
    /// packet from the peer itself, or a newer generation of it, ends the quarantine at
    /// once.
    pub quarantine: Duration,
    /// Most nodes held in state, this one included. Default 65,536. News of further
    /// nodes is dropped and counted (`Stats::dropped_over_limit`): a flood of invented
    /// names cannot exhaust memory. Restarts of known nodes are always taken.
    pub max_nodes: usize,
    /// Most keys held per node, tombstones included. Default 10,000. Own writes of a new
    /// key beyond it are refused ([`crate::WriteError::TooManyKeys`]); a peer's delta that
    /// would take one of its nodes beyond it is dropped and counted.
    pub max_keys_per_node: usize,
    /// Most bytes the state of other nodes may be accounted at (names, keys, values and
    /// the fixed size of the structures holding them; see [`crate::Footprint::remote_bytes`]).
    /// Default 256 MiB. The count limits alone allow far more (65,536 nodes of 10,000 keys
    /// with values of a packet each); a delta that would take the state beyond the budget is
    /// dropped and counted (`Stats::dropped_over_budget`), whatever it replaces kept.
    pub max_remote_bytes: usize,
    /// Never-seen nodes one sender address may introduce unasked per gossip interval
    /// (a token bucket with this burst). Default 64. Deltas in an answer to a Syn this node
    /// sent are asked for and exempt, so joining and formation are not slowed; the rest
    /// (pushes, Acks of exchanges others started) beyond it are dropped and counted
    /// (`Stats::refused_introductions`), to be learnt later through this node's own exchanges.
    pub max_introductions_per_sender: usize,
    /// A timer that fires later than this is taken as a stall of this node (GC pause, CPU
    /// starvation, a suspended VM): the stall is forgiven to every peer instead of counted
    /// as their silence. Default 500 ms.
    pub local_pause_threshold: Duration,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            cluster_id: default_cluster_id(),
            gossip_interval: Duration::from_secs(1),
            heartbeat_interval: Duration::from_secs(1),
            observers: 5,
            corroboration: 3,
            indirect_probes: 3,
            probe_timeout: Duration::from_millis(500),
            health_check_interval: Duration::from_secs(1),
            fanout: 3,
            max_packet_size: 1400,
            phi_threshold: 8.0,
            phi: PhiConfig::default(),
            dead_after: Duration::from_secs(30),
            max_nodes: 65_536,
            max_keys_per_node: 10_000,
            max_remote_bytes: 256 << 20,
            max_introductions_per_sender: 64,
            tombstone_grace: Duration::from_secs(5 * 60),
            remove_after: Duration::from_secs(10 * 60),
            quarantine: Duration::from_secs(15 * 60),
            local_pause_threshold: Duration::from_millis(500),
        }
    }
}

/// The default cluster id, `"leviathan"`.
pub fn default_cluster_id() -> ClusterId {
    // A literal that satisfies every rule of `ClusterId::new`.
    ClusterId::new("leviathan").unwrap_or_else(|_| unreachable!("valid literal"))
}

/// A setting that cannot work, naming the field. Returned before any state is created.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("invalid config field `{field}`: {problem}")]
pub struct ConfigError {
    /// The offending field, as named in configuration files.
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl ConfigError {
    /// An error about `field`.
    pub fn new(field: &'static str, problem: impl Into<String>) -> Self {
        ConfigError {
            field,
            problem: problem.into(),
        }
    }
}

impl NodeConfig {
    /// Checks every field; the first bad one is named in the error.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("gossip_interval", self.gossip_interval),
            ("heartbeat_interval", self.heartbeat_interval),
            ("probe_timeout", self.probe_timeout),
            ("health_check_interval", self.health_check_interval),
            ("local_pause_threshold", self.local_pause_threshold),
            ("phi.min_std_deviation", self.phi.min_std_deviation),
            (
                "phi.first_heartbeat_estimate",
                self.phi.first_heartbeat_estimate,
            ),
        ];
        for (field, value) in positive {
            if value.is_zero() {
                return Err(ConfigError::new(field, "must be greater than zero"));
            }
        }
        if self.max_nodes < 2 {
            return Err(ConfigError::new("max_nodes", "must be at least 2"));
        }
        if self.max_keys_per_node == 0 {
            return Err(ConfigError::new("max_keys_per_node", "must be at least 1"));
        }
        if self.max_remote_bytes < MIN_REMOTE_BYTES {
            return Err(ConfigError::new(
                "max_remote_bytes",
                format!(
                    "{} is below {MIN_REMOTE_BYTES}: not even one peer's full packet would fit",
                    self.max_remote_bytes
                ),
            ));
        }
        if self.max_introductions_per_sender == 0 {
            return Err(ConfigError::new(
                "max_introductions_per_sender",
                "must be at least 1: a new node introduces itself",
            ));
        }
        if !(1..=MAX_OBSERVERS).contains(&self.observers) {
            return Err(ConfigError::new(
                "observers",
                format!("{} is outside 1..={MAX_OBSERVERS}", self.observers),
            ));
        }
        if !(1..=self.observers).contains(&self.corroboration) {
            return Err(ConfigError::new(
                "corroboration",
                format!(
                    "{} is outside 1..=observers ({})",
                    self.corroboration, self.observers
                ),
            ));
        }
        if self.indirect_probes > MAX_INDIRECT_PROBES {
            return Err(ConfigError::new(
                "indirect_probes",
                format!("{} is above {MAX_INDIRECT_PROBES}", self.indirect_probes),
            ));
        }
        if self.probe_timeout > self.heartbeat_interval {
            return Err(ConfigError::new(
                "probe_timeout",
                format!(
                    "{:?} is longer than heartbeat_interval ({:?}): relays would still wait \
                     when the next probe goes out",
                    self.probe_timeout, self.heartbeat_interval
                ),
            ));
        }
        if self.fanout == 0 {
            return Err(ConfigError::new("fanout", "must be at least 1"));
        }
        if !(MIN_PACKET_SIZE..=MAX_PACKET_SIZE).contains(&self.max_packet_size) {
            return Err(ConfigError::new(
                "max_packet_size",
                format!(
                    "{} is outside {MIN_PACKET_SIZE}..={MAX_PACKET_SIZE} bytes",
                    self.max_packet_size
                ),
            ));
        }
        if !self.phi_threshold.is_finite() || self.phi_threshold <= 0.0 {
            return Err(ConfigError::new(
                "phi_threshold",
                format!("{} is not a positive number", self.phi_threshold),
            ));
        }
        if self.phi.window_size < 2 {
            return Err(ConfigError::new("phi.window_size", "must be at least 2"));
        }
        if self.dead_after < self.health_check_interval {
            return Err(ConfigError::new(
                "dead_after",
                "must be at least the health check interval",
            ));
        }
        let gc_settings = [
            ("tombstone_grace", self.tombstone_grace),
            ("remove_after", self.remove_after),
        ];
        for (field, value) in gc_settings {
            if value < self.gossip_interval {
                return Err(ConfigError::new(
                    field,
                    format!(
                        "{value:?} is shorter than the gossip interval ({:?})",
                        self.gossip_interval
                    ),
                ));
            }
        }
        if self.quarantine < self.tombstone_grace {
            return Err(ConfigError::new(
                "quarantine",
                format!(
                    "{:?} is shorter than tombstone_grace ({:?}): a peer lagging by less \
                     than the grace period could bring a removed node back",
                    self.quarantine, self.tombstone_grace
                ),
            ));
        }
        let zombie_floor = self.dead_after + self.remove_after + QUARANTINE_MARGIN;
        if self.quarantine < zombie_floor {
            return Err(ConfigError::new(
                "quarantine",
                format!(
                    "{:?} is shorter than dead_after + remove_after + {}s ({:?}): a node \
                     that hears of a dead peer just before the others remove it would \
                     hand it back to them after their quarantine",
                    self.quarantine,
                    QUARANTINE_MARGIN.as_secs(),
                    zombie_floor
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use leviathan_gossip_wire::MAX_NAME_LEN;

    #[test]
    fn default_is_valid() {
        assert_eq!(NodeConfig::default().validate(), Ok(()));
        assert!(default_cluster_id().as_str().len() <= MAX_NAME_LEN);
    }

    #[test]
    fn bad_fields_are_named() {
        type Breakage = fn(&mut NodeConfig);
        let cases: [(&str, Breakage); 6] = [
            ("quarantine", |c| c.quarantine = c.tombstone_grace / 2),
            ("tombstone_grace", |c| c.tombstone_grace = Duration::ZERO),
            ("fanout", |c| c.fanout = 0),
            ("max_packet_size", |c| c.max_packet_size = 100),
            ("phi_threshold", |c| c.phi_threshold = f64::NAN),
            ("gossip_interval", |c| c.gossip_interval = Duration::ZERO),
        ];
        for (field, break_it) in cases {
            let mut config = NodeConfig::default();
            break_it(&mut config);
            assert_eq!(config.validate().map_err(|e| e.field), Err(field));
        }
    }
}
