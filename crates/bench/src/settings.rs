//! What one benchmark run is asked to do: cluster size, the shared protocol timings and
//! the measurement's own timings.

use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;

/// Parameters of a run, applied identically to both systems.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// Cluster size N; at least 3 (two seeds and a non-seed node to crash).
    pub nodes: usize,
    /// Gossip round period of both systems. Leviathan's heartbeat and health-check
    /// periods are set to it too, as chitchat beats and re-evaluates liveness once a
    /// round.
    #[serde(with = "seconds", rename = "gossip_interval_s")]
    pub gossip_interval: Duration,
    /// φ threshold of both failure detectors (note that chitchat's φ is a different
    /// quantity: see `crate::chitchat`).
    pub phi_threshold: f64,
    /// Node starts are spread evenly over this span (node i starts i·stagger/N after the
    /// first), so the nodes' gossip rounds do not tick in lockstep as they would if all
    /// started in the same millisecond (real clusters have no common phase, and a
    /// lockstep phase makes dissemination times depend on when the write falls).
    /// Formation is timed from the first start, so it includes the spread.
    #[serde(with = "seconds", rename = "stagger_s")]
    pub stagger: Duration,
    /// Length of the idle steady-state window over which cost is measured.
    #[serde(with = "seconds", rename = "window_s")]
    pub window: Duration,
    /// Idle time between the end of dissemination and the start of the window, so
    /// in-flight replication does not count as steady state.
    #[serde(with = "seconds", rename = "settle_s")]
    pub settle: Duration,
    /// Longest each wait (formation, dissemination, detection) lasts before it is
    /// reported as a timeout.
    #[serde(with = "seconds", rename = "timeout_s")]
    pub timeout: Duration,
    /// Period at which waits poll every node's view.
    #[serde(with = "seconds", rename = "poll_s")]
    pub poll: Duration,
    /// chitchat's wire format version.
    pub chitchat_protocol: ChitchatProtocol,
}

impl Settings {
    /// The defaults for a cluster of `nodes`: 200 ms rounds, starts spread over one round,
    /// φ threshold 8, a 10 s window after 2 s of settling, 60 s timeouts, 10 ms polling,
    /// chitchat protocol V1.
    pub fn new(nodes: usize) -> Self {
        Settings {
            nodes,
            gossip_interval: Duration::from_millis(200),
            phi_threshold: 8.0,
            stagger: Duration::from_millis(200),
            window: Duration::from_secs(10),
            settle: Duration::from_secs(2),
            timeout: Duration::from_secs(60),
            poll: Duration::from_millis(10),
            chitchat_protocol: ChitchatProtocol::V1,
        }
    }

    /// Checks the values a run depends on.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.nodes >= 3,
            "--nodes must be at least 3 (two seeds and a node to crash)"
        );
        anyhow::ensure!(
            !self.gossip_interval.is_zero(),
            "--gossip-interval must be positive"
        );
        anyhow::ensure!(
            self.phi_threshold.is_finite() && self.phi_threshold > 0.0,
            "--phi-threshold must be a positive number"
        );
        anyhow::ensure!(!self.window.is_zero(), "--window must be positive");
        anyhow::ensure!(!self.timeout.is_zero(), "--timeout must be positive");
        anyhow::ensure!(!self.poll.is_zero(), "the poll period must be positive");
        Ok(())
    }
}

/// chitchat's wire format: V1 compresses digests (zstd); V0 does not. Both sides of a
/// fresh cluster of one release understand either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ChitchatProtocol {
    /// Uncompressed digests (chitchat's compatible format).
    V0,
    /// zstd-compressed digests (chitchat's latest format).
    V1,
}

impl FromStr for ChitchatProtocol {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "v0" | "0" => Ok(ChitchatProtocol::V0),
            "v1" | "1" => Ok(ChitchatProtocol::V1),
            other => anyhow::bail!("unknown chitchat protocol {other:?}; expected v0 or v1"),
        }
    }
}

/// Serializes durations as fractional seconds.
mod seconds {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(
        duration: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(duration.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_small_clusters_are_refused() {
        assert!(Settings::new(3).validate().is_ok());
        assert!(Settings::new(2).validate().is_err());
        assert_eq!(
            "V0".parse::<ChitchatProtocol>().unwrap(),
            ChitchatProtocol::V0
        );
        assert!("v2".parse::<ChitchatProtocol>().is_err());
    }
}
