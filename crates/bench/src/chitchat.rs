//! The chitchat side: N chitchat servers (`spawn_chitchat`) over a counting UDP
//! transport ([`crate::counting`]).
//!
//! # Configuration, mapped from leviathan's
//!
//! | leviathan | chitchat | value |
//! |---|---|---|
//! | `gossip_interval` | `gossip_interval` | the run's (200 ms by default) |
//! | `heartbeat_interval`, `health_check_interval` | none: chitchat beats and re-evaluates liveness every round | = gossip interval |
//! | `fanout` 3 | `GOSSIP_COUNT` 3 (a constant) | 3 |
//! | `phi_threshold` | `failure_detector_config.phi_threshold` | the run's (8) |
//! | `phi_window_size` 100 | `sampling_window_size` | 100 |
//! | `phi_first_heartbeat_estimate` (1 × probe interval) | `initial_interval` | 3 × gossip interval |
//! | `dead_after` (15 s) | none: chitchat has live and dead only | — |
//! | (no removal yet) | `dead_node_grace_period` | 1 h, so nothing is removed during a run |
//! | (tombstones kept) | `marked_for_deletion_grace_period` | 1 h |
//! | `max_packet_size` 1400 | none: 65 507 bytes (a constant) | — |
//! | `phi_min_std_deviation`, `phi_acceptable_pause` | none | — |
//! | (no equivalent) | `max_interval` (longer heartbeat gaps are not sampled) | default, 10 s |
//! | (no compression) | `protocol_version` | V1 (zstd digests) unless asked otherwise |
//!
//! The seeds are the first two nodes' addresses, as for leviathan.
//!
//! chitchat's φ is not the accrual φ of Hayashibara et al. that leviathan computes
//! (−log₁₀ of the probability of a silence this long under a normal model): it is the
//! silence divided by the mean heartbeat interval (smoothed by a prior of
//! `initial_interval` weighing 5 samples). "Threshold 8" therefore means "silent for 8
//! mean intervals" in chitchat and "a silence of probability 10⁻⁸" in leviathan; the
//! numbers are equal, the detectors' meanings are not.
//!
//! "Live" is what the application sees: `Chitchat::live_nodes()` (itself included), a node
//! being live once its detector has two heartbeats and φ ≤ threshold. chitchat has no
//! suspect state: a node that is not live is dead.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ::chitchat::{
    ChitchatConfig, ChitchatHandle, ChitchatId, FailureDetectorConfig, ProtocolVersion,
    spawn_chitchat,
};

use crate::counting::{CountingUdpTransport, TrafficCounters};
use crate::settings::{ChitchatProtocol, Settings};
use crate::system::{System, Traffic, node_name, start_offset};

/// How long dead nodes and tombstones are kept: longer than any run, so nothing is
/// collected while measuring.
const GRACE_PERIOD: Duration = Duration::from_secs(3600);

/// chitchat's default longest sampled heartbeat gap (kept as chitchat ships it).
const MAX_INTERVAL: Duration = Duration::from_secs(10);

/// Heartbeat samples kept per peer: leviathan's `phi_window_size` default.
const SAMPLING_WINDOW: usize = 100;

/// A running chitchat cluster.
pub struct Chitchat {
    /// `None` once crashed or stopped.
    handles: Vec<Option<ChitchatHandle>>,
    ids: Vec<ChitchatId>,
    counters: Vec<Arc<TrafficCounters>>,
}

impl std::fmt::Debug for Chitchat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chitchat")
            .field("ids", &self.ids)
            .field(
                "running",
                &self.handles.iter().filter(|h| h.is_some()).count(),
            )
            .finish_non_exhaustive()
    }
}

/// The configuration of node `index` (see the module's table).
pub fn config(settings: &Settings, index: usize, addresses: &[SocketAddr]) -> ChitchatConfig {
    let listen = addresses
        .get(index)
        .copied()
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
    ChitchatConfig {
        chitchat_id: ChitchatId::new(node_name(index), generation(), listen),
        cluster_id: "leviathan-bench".to_string(),
        gossip_interval: settings.gossip_interval,
        listen_addr: listen,
        seed_nodes: addresses.iter().take(2).map(ToString::to_string).collect(),
        failure_detector_config: FailureDetectorConfig {
            phi_threshold: settings.phi_threshold,
            sampling_window_size: SAMPLING_WINDOW,
            max_interval: MAX_INTERVAL,
            initial_interval: 3 * settings.gossip_interval,
            dead_node_grace_period: GRACE_PERIOD,
        },
        marked_for_deletion_grace_period: GRACE_PERIOD,
        catchup_callback: None,
        extra_liveness_predicate: None,
        protocol_version: match settings.chitchat_protocol {
            ChitchatProtocol::V0 => ProtocolVersion::V0,
            ChitchatProtocol::V1 => ProtocolVersion::V1,
        },
    }
}

/// Start time in milliseconds, like leviathan's default generation.
fn generation() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

impl Chitchat {
    fn handle(&self, index: usize) -> Option<&ChitchatHandle> {
        self.handles.get(index).and_then(Option::as_ref)
    }
}

impl System for Chitchat {
    const NAME: &'static str = "chitchat";

    async fn start(settings: &Settings, addresses: &[SocketAddr]) -> anyhow::Result<Self> {
        let mut handles = Vec::with_capacity(addresses.len());
        let mut ids = Vec::with_capacity(addresses.len());
        let mut counters = Vec::with_capacity(addresses.len());
        let first = tokio::time::Instant::now();
        for index in 0..addresses.len() {
            tokio::time::sleep_until(first + start_offset(settings, index)).await;
            let config = config(settings, index, addresses);
            let transport = CountingUdpTransport::default();
            ids.push(config.chitchat_id.clone());
            counters.push(Arc::clone(transport.counters()));
            let handle = spawn_chitchat(config, Vec::new(), &transport)
                .await
                .map_err(|error| error.context(format!("starting {}", node_name(index))))?;
            handles.push(Some(handle));
        }
        Ok(Chitchat {
            handles,
            ids,
            counters,
        })
    }

    async fn live_count(&self, observer: usize) -> Option<usize> {
        let handle = self.handle(observer)?;
        Some(
            handle
                .with_chitchat(|chitchat| chitchat.live_nodes().count())
                .await,
        )
    }

    async fn is_live(&self, observer: usize, target: usize) -> Option<bool> {
        let handle = self.handle(observer)?;
        let target = &self.ids.get(target)?.node_id;
        Some(
            handle
                .with_chitchat(|chitchat| chitchat.live_nodes().any(|id| &id.node_id == target))
                .await,
        )
    }

    async fn write(&self, writer: usize, key: &str, value: &str) -> anyhow::Result<()> {
        let handle = self
            .handle(writer)
            .ok_or_else(|| anyhow::anyhow!("node {writer} is not running"))?;
        handle
            .with_chitchat(|chitchat| chitchat.self_node_state().set(key, value))
            .await;
        Ok(())
    }

    async fn read(&self, observer: usize, writer: usize, key: &str) -> Option<String> {
        let handle = self.handle(observer)?;
        let writer = self.ids.get(writer)?;
        handle
            .with_chitchat(|chitchat| {
                chitchat
                    .node_state(writer)
                    .and_then(|state| state.get(key))
                    .map(str::to_string)
            })
            .await
    }

    fn traffic(&self) -> Traffic {
        self.counters
            .iter()
            .map(|counters| counters.read())
            .fold(Traffic::default(), |sum, traffic| sum + traffic)
    }

    async fn crash(&mut self, node: usize) -> anyhow::Result<()> {
        let handle = self
            .handles
            .get_mut(node)
            .and_then(Option::take)
            .ok_or_else(|| anyhow::anyhow!("node {node} is not running"))?;
        // chitchat has no leave: `shutdown` ends the server loop without sending
        // anything and drops its socket.
        handle.shutdown().await
    }

    async fn stop(mut self) {
        for handle in self.handles.iter_mut().filter_map(Option::take) {
            // A server that already failed has nothing left to stop.
            let _ = handle.shutdown().await;
        }
    }
}
