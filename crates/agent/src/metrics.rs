//! `GET /metrics`: the node's [`Stats`](leviathan_gossip::Stats) and membership as Prometheus metrics, read at
//! scrape time (prometheus-client, OpenMetrics text).
//!
//! | metric                                         | type    | labels   |
//! |------------------------------------------------|---------|----------|
//! | `leviathan_gossip_build_info`                  | gauge   | `version`, `wire_version` |
//! | `leviathan_gossip_up`                          | gauge   |          |
//! | `leviathan_gossip_generation`                  | gauge   |          |
//! | `leviathan_gossip_local_health`                | gauge   |          |
//! | `leviathan_gossip_members`                     | gauge   | `state`  |
//! | `leviathan_gossip_phi`                         | gauge   | `peer`   |
//! | `leviathan_gossip_keys`                        | gauge   |          |
//! | `leviathan_gossip_records_held`                | gauge   |          |
//! | `leviathan_gossip_remote_state_bytes`          | gauge   |          |
//! | `leviathan_gossip_older_wire_peers`            | gauge   |          |
//! | `leviathan_gossip_own_tombstones`              | gauge   |          |
//! | `leviathan_gossip_expiring_keys`               | gauge   |          |
//! | `leviathan_gossip_quarantined`                 | gauge   |          |
//! | `leviathan_gossip_keyring_keys`                | gauge   |          |
//! | `leviathan_gossip_encrypt_outgoing`            | gauge   |          |
//! | `leviathan_gossip_accept_plaintext`            | gauge   |          |
//! | `leviathan_gossip_datagrams_sealed_total`      | counter |          |
//! | `leviathan_gossip_datagrams_opened_total`      | counter |          |
//! | `leviathan_gossip_messages_sent_total`         | counter | `kind`   |
//! | `leviathan_gossip_messages_received_total`     | counter | `kind`   |
//! | `leviathan_gossip_bytes_sent_total`            | counter | `kind`   |
//! | `leviathan_gossip_bytes_received_total`        | counter | `kind`   |
//! | `leviathan_gossip_packets_dropped_total`       | counter | `reason` |
//! | `leviathan_gossip_ignored_total`               | counter | `reason` |
//! | `leviathan_gossip_records_applied_total`       | counter |          |
//! | `leviathan_gossip_resets_received_total`       | counter |          |
//! | `leviathan_gossip_tombstones_collected_total`  | counter |          |
//! | `leviathan_gossip_peers_removed_total`         | counter |          |
//! | `leviathan_gossip_reassertions_total`          | counter |          |
//! | `leviathan_gossip_duplicate_names_total`       | counter |          |
//! | `leviathan_gossip_local_pauses_total`          | counter |          |
//! | `leviathan_gossip_gossip_rounds_total`         | counter |          |
//! | `leviathan_gossip_alerts_raised_total`         | counter |          |
//! | `leviathan_gossip_refutations_total`           | counter |          |
//! | `leviathan_gossip_unproven_replies_total`      | counter |          |
//! | `leviathan_gossip_seed_resolution_failures_total` | counter |       |
//! | `leviathan_gossip_seed_names_unresolved`       | gauge   |          |
//! | `leviathan_gossip_round_duration_seconds`      | histogram |        |
//! | `leviathan_gossip_round_duration_max_seconds`  | gauge   |          |
//!
//! `kind` is `syn`, `synack` or `ack`; `state` is `live`, `suspect`, `dead` or `left` (the
//! node itself counted); dropped `reason` is `unauthenticated`, `plaintext`, `replayed` or
//! `stale` (datagrams refused by encryption before parsing: no installed key opened them
//! for this cluster, plaintext while encryption is required, a replay of a sealed datagram
//! already accepted, or one sealed more than the 30 s replay window from this node's
//! clock), `malformed`, `foreign_cluster`, `from_self`, `gap_delta`,
//! `unordered_delta`, `below_watermark`, `unroutable_address` (new incarnations advertising
//! an unspecified, multicast or broadcast address, or port 0), `over_limit` (deltas
//! beyond the core's `max_nodes` or `max_keys_per_node`), `over_budget` (deltas that would
//! take the state of other nodes beyond `max_remote_bytes`, which
//! `leviathan_gossip_remote_state_bytes` approaches) or `introduction_limit` (never-seen
//! nodes beyond what one sender may introduce unasked per gossip interval,
//! `max_introductions_per_sender`); ignored `reason` is
//! `stale_generation`, `claim_about_self`, `implausible_generation` (more than a year ahead
//! of the clock), `quarantined`, `unconfirmed_restart` (a newer generation of a live member,
//! held until the member's own answer confirms it) or `refuted_restart` (one the member's
//! answer refuted). Counters restart from zero when
//! the node restarts.

use std::fmt;
use std::time::Duration;

use leviathan_gossip::core::KindCounters;
use leviathan_gossip::{MemberState, ROUND_BUCKETS};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::slot::NodeSlot;

/// The `Content-Type` of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The metrics registry of one admin API.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
}

impl Metrics {
    /// Metrics of whatever node `slot` holds at each scrape.
    pub fn new(slot: NodeSlot) -> Self {
        let mut registry = Registry::with_prefix("leviathan_gossip");
        registry.register_collector(Box::new(NodeCollector { slot }));
        Metrics { registry }
    }

    /// The current values in OpenMetrics text format.
    pub fn encode(&self) -> Result<String, fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// Reads the node at scrape time: the core's counters are plain numbers, not metrics.
#[derive(Debug)]
struct NodeCollector {
    slot: NodeSlot,
}

impl Collector for NodeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let node = self.slot.current();
        let wire_version = leviathan_gossip::wire::WIRE_VERSION.to_string();
        let labels = [
            ("version", env!("CARGO_PKG_VERSION")),
            ("wire_version", wire_version.as_str()),
        ];
        let mut info = encoder.encode_descriptor(
            "build_info",
            "Always 1: the agent's version and the wire version it speaks, as labels",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(1).encode(info.encode_family(&labels)?)?;
        gauge(
            &mut encoder,
            "up",
            "1 while the node runs, 0 while it is down (a crashed demo node)",
            i64::from(node.is_some()),
        )?;
        let Some(node) = node else {
            return Ok(());
        };
        let members = node.members();
        let stats = node.stats();
        let generation = node.identity().generation.0;
        gauge(
            &mut encoder,
            "generation",
            "This node's generation (incarnation), by default its start time in ms",
            i64::try_from(generation).unwrap_or(i64::MAX),
        )?;

        gauge(
            &mut encoder,
            "local_health",
            "This node's doubt about itself, 0 (healthy) to 8; above 4 it accuses nobody",
            i64::from(node.local_health()),
        )?;

        let states = [
            MemberState::Live,
            MemberState::Suspect,
            MemberState::Dead,
            MemberState::Left,
        ]
        .map(|state| {
            let count = members.iter().filter(|m| m.state == state).count();
            (state.name(), i64::try_from(count).unwrap_or(i64::MAX))
        });
        family(
            &mut encoder,
            "members",
            "Known members by state, this node included",
            MetricType::Gauge,
            "state",
            &states,
            |value| ConstGauge::new(*value),
        )?;

        let phis: Vec<(&str, f64)> = members
            .iter()
            .filter_map(|m| Some((m.id.name.as_str(), m.phi?)))
            .collect();
        family(
            &mut encoder,
            "phi",
            "Current phi (suspicion level) of the answers to this node's probes, per watched peer",
            MetricType::Gauge,
            "peer",
            &phis,
            |value| ConstGauge::new(*value),
        )?;

        let keys = node.entries(node.identity().name.as_str()).len();
        let footprint = node.footprint();
        let encryption = node.encryption();
        let transport = node.transport_stats();
        for (name, help, value) in [
            (
                "seed_names_unresolved",
                "Seed names that have never resolved",
                node.seed_stats().unresolved,
            ),
            ("keys", "Live keys this node owns", keys),
            (
                "records_held",
                "Records held for every known node, tombstones included",
                footprint.records,
            ),
            (
                "remote_state_bytes",
                "Bytes the state of other nodes is accounted at (names, keys, values and \
                 the structures holding them), held to max_remote_bytes",
                footprint.remote_bytes,
            ),
            (
                "older_wire_peers",
                "Peers whose Syns come in an older wire version (not yet upgraded)",
                footprint.older_wire_peers,
            ),
            (
                "own_tombstones",
                "Tombstones of this node's deleted keys awaiting garbage collection",
                footprint.own_tombstones,
            ),
            (
                "expiring_keys",
                "Keys of this node with a pending time-to-live deadline",
                footprint.expiries,
            ),
            (
                "quarantined",
                "Removed peer incarnations whose second-hand news is ignored",
                footprint.quarantined,
            ),
            (
                "keyring_keys",
                "Encryption keys installed, the primary included (0: plaintext only)",
                encryption.keys.len(),
            ),
            (
                "encrypt_outgoing",
                "1 while datagrams are sent sealed, 0 while sent as plaintext",
                usize::from(encryption.encrypt_outgoing),
            ),
            (
                "accept_plaintext",
                "1 while plaintext datagrams are accepted, 0 once encryption is required",
                usize::from(encryption.accept_plaintext),
            ),
        ] {
            gauge(
                &mut encoder,
                name,
                help,
                i64::try_from(value).unwrap_or(i64::MAX),
            )?;
        }

        let per_kind = [
            (
                "messages_sent",
                "Gossip messages sent",
                &stats.messages_sent,
            ),
            (
                "messages_received",
                "Gossip messages received and accepted",
                &stats.messages_received,
            ),
            (
                "bytes_sent",
                "Encoded bytes of messages sent",
                &stats.bytes_sent,
            ),
            (
                "bytes_received",
                "Encoded bytes of messages received and accepted",
                &stats.bytes_received,
            ),
        ];
        for (name, help, counters) in per_kind {
            family(
                &mut encoder,
                name,
                help,
                MetricType::Counter,
                "kind",
                &by_kind(counters),
                |value| ConstCounter::new(*value),
            )?;
        }

        let dropped = [
            ("unauthenticated", transport.dropped_unauthenticated),
            ("plaintext", transport.dropped_plaintext),
            ("replayed", transport.dropped_replayed),
            ("stale", transport.dropped_stale),
            ("rate_limited", transport.dropped_rate_limited),
            ("oversized", transport.dropped_oversized),
            ("malformed", stats.dropped_malformed),
            ("foreign_cluster", stats.dropped_foreign_cluster),
            ("from_self", stats.dropped_from_self),
            ("gap_delta", stats.dropped_gap_deltas),
            ("unordered_delta", stats.dropped_unordered_deltas),
            ("below_watermark", stats.dropped_below_watermark),
            ("over_limit", stats.dropped_over_limit),
            ("unroutable_address", stats.dropped_unroutable_address),
            ("over_budget", stats.dropped_over_budget),
            ("introduction_limit", stats.refused_introductions),
        ];
        family(
            &mut encoder,
            "packets_dropped",
            "Input dropped: datagrams no installed key authenticates, plaintext while \
             encryption is required, replayed or stale sealed datagrams, undecodable \
             datagrams, other clusters, own name, bad deltas, deltas older than a \
             garbage-collection watermark, deltas beyond the node or key limits or the \
             remote state's byte budget, introductions beyond a sender's allowance",
            MetricType::Counter,
            "reason",
            &dropped,
            |value| ConstCounter::new(*value),
        )?;
        let ignored = [
            ("stale_generation", stats.stale_generation),
            ("claim_about_self", stats.ignored_claims_about_self),
            (
                "implausible_generation",
                stats.ignored_implausible_generations,
            ),
            ("quarantined", stats.ignored_quarantined),
            ("unconfirmed_restart", stats.unconfirmed_restarts),
            ("refuted_restart", stats.refuted_restarts),
        ];
        family(
            &mut encoder,
            "ignored",
            "Remote state ignored: older generations, claims about this node, generations \
             more than a year ahead of the clock, news of removed peers in quarantine, \
             restarts of live members until the member confirms them, and those it refuted",
            MetricType::Counter,
            "reason",
            &ignored,
            |value| ConstCounter::new(*value),
        )?;

        for (name, help, value) in [
            (
                "records_applied",
                "Key-value records applied from peers",
                stats.records_applied,
            ),
            (
                "resets_received",
                "Resets received: a peer's whole state for a node, in place of tombstones \
                 collected before this node saw them",
                stats.resets_received,
            ),
            (
                "tombstones_collected",
                "Tombstones dropped by garbage collection, this node's and replicas'",
                stats.tombstones_collected,
            ),
            (
                "peers_removed",
                "Dead or departed peers removed from state after remove_after",
                stats.peers_removed,
            ),
            (
                "reassertions",
                "New generations this node took to re-assert its state over false claims \
                 about it",
                stats.reassertions,
            ),
            (
                "duplicate_names",
                "Times another live process answered under this node's name (reported, \
                 not fought over)",
                stats.duplicate_names,
            ),
            (
                "local_pauses",
                "Stalls of this node forgiven to its peers",
                stats.local_pauses,
            ),
            ("gossip_rounds", "Gossip rounds run", stats.gossip_rounds),
            (
                "alerts_raised",
                "Alerts this node raised: a watched peer's probe and relayed probes went \
                 unanswered",
                stats.alerts_raised,
            ),
            (
                "refutations",
                "Times this node refuted an alert about itself with a newer incarnation",
                stats.refutations,
            ),
            (
                "unproven_replies",
                "Syns and SynAcks answered with at most three times their size, their source \
                 not proven to be their sender's address",
                stats.unproven_replies,
            ),
            (
                "datagrams_sealed",
                "Datagrams sent sealed with the primary key",
                transport.sealed,
            ),
            (
                "datagrams_opened",
                "Sealed datagrams received that an installed key opened",
                transport.opened,
            ),
            (
                "seed_resolution_failures",
                "Failed resolutions of seed names (each retried after a backoff)",
                node.seed_stats().resolution_failures,
            ),
        ] {
            let counter = ConstCounter::new(value);
            let metric = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
            counter.encode(metric)?;
        }

        let timing = node.round_timing();
        let buckets: Vec<(f64, u64)> = ROUND_BUCKETS
            .iter()
            .map(Duration::as_secs_f64)
            .chain([f64::INFINITY])
            .zip(timing.buckets)
            .collect();
        let mut metric = encoder.encode_descriptor(
            "round_duration_seconds",
            "Gossip rounds by duration (building the round's messages and sending them)",
            None,
            MetricType::Histogram,
        )?;
        metric.encode_histogram::<NoLabelSet>(
            timing.total.as_secs_f64(),
            timing.rounds,
            &buckets,
            None,
        )?;
        let max = ConstGauge::new(timing.max.as_secs_f64());
        let metric = encoder.encode_descriptor(
            "round_duration_max_seconds",
            "Longest gossip round so far, in seconds",
            None,
            max.metric_type(),
        )?;
        max.encode(metric)?;
        Ok(())
    }
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: i64,
) -> Result<(), fmt::Error> {
    let gauge = ConstGauge::new(value);
    let metric = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
    gauge.encode(metric)
}

/// One metric family with a single label, one sample per `(label value, value)`; the
/// family is described even without samples (no peers yet has no φ).
fn family<V, M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    metric_type: MetricType,
    label: &str,
    samples: &[(&str, V)],
    metric: impl Fn(&V) -> M,
) -> Result<(), fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, metric_type)?;
    for (label_value, value) in samples {
        let labels = [(label, *label_value)];
        metric(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

fn by_kind(counters: &KindCounters) -> [(&'static str, u64); 6] {
    [
        ("syn", counters.syn),
        ("synack", counters.synack),
        ("ack", counters.ack),
        ("probe", counters.probe),
        ("probe_ack", counters.probe_ack),
        ("probe_request", counters.probe_request),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use leviathan_gossip::{Config, Gossip};
    use std::sync::Arc;

    #[test]
    fn a_down_node_reports_only_up() {
        let text = Metrics::new(NodeSlot::default()).encode().unwrap();
        assert!(text.contains("leviathan_gossip_up 0\n"), "{text}");
        assert!(!text.contains("leviathan_gossip_members"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }

    #[tokio::test]
    async fn a_running_node_reports_every_family() {
        let gossip = Gossip::start(Config {
            name: "n1".into(),
            listen: "127.0.0.1:0".parse().unwrap(),
            ..Config::local()
        })
        .await
        .unwrap();
        gossip.set("k", "v").unwrap();
        gossip
            .set_with_ttl("t", "v", std::time::Duration::from_secs(3600))
            .unwrap();
        let gossip = Arc::new(gossip);
        let text = Metrics::new(NodeSlot::new(Arc::clone(&gossip)))
            .encode()
            .unwrap();
        for line in [
            "leviathan_gossip_up 1",
            "leviathan_gossip_members{state=\"live\"} 1",
            "leviathan_gossip_members{state=\"suspect\"} 0",
            "leviathan_gossip_keys 2",
            "leviathan_gossip_expiring_keys 1",
            "leviathan_gossip_own_tombstones 0",
            "leviathan_gossip_quarantined 0",
            "leviathan_gossip_records_held ",
            "leviathan_gossip_packets_dropped_total{reason=\"below_watermark\"} 0",
            "leviathan_gossip_ignored_total{reason=\"quarantined\"} 0",
            "leviathan_gossip_resets_received_total 0",
            "leviathan_gossip_tombstones_collected_total 0",
            "leviathan_gossip_peers_removed_total 0",
            "leviathan_gossip_messages_sent_total{kind=\"syn\"} ",
            "leviathan_gossip_bytes_received_total{kind=\"ack\"} ",
            "leviathan_gossip_packets_dropped_total{reason=\"malformed\"} 0",
            "leviathan_gossip_packets_dropped_total{reason=\"unauthenticated\"} 0",
            "leviathan_gossip_packets_dropped_total{reason=\"plaintext\"} 0",
            "leviathan_gossip_packets_dropped_total{reason=\"replayed\"} 0",
            "leviathan_gossip_packets_dropped_total{reason=\"stale\"} 0",
            "leviathan_gossip_datagrams_sealed_total 0",
            "leviathan_gossip_datagrams_opened_total 0",
            "leviathan_gossip_keyring_keys 0",
            "leviathan_gossip_encrypt_outgoing 0",
            "leviathan_gossip_accept_plaintext 1",
            "leviathan_gossip_ignored_total{reason=\"stale_generation\"} 0",
            "leviathan_gossip_gossip_rounds_total ",
            "# TYPE leviathan_gossip_round_duration_seconds histogram",
            "leviathan_gossip_round_duration_seconds_count ",
            "leviathan_gossip_round_duration_seconds_bucket{le=\"0.001\"} ",
            "leviathan_gossip_round_duration_seconds_bucket{le=\"+Inf\"} ",
            "leviathan_gossip_build_info{version=\"",
            "leviathan_gossip_remote_state_bytes ",
            "leviathan_gossip_packets_dropped_total{reason=\"over_budget\"} 0",
            "leviathan_gossip_packets_dropped_total{reason=\"introduction_limit\"} 0",
            "leviathan_gossip_round_duration_max_seconds ",
            "# TYPE leviathan_gossip_phi gauge",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        gossip.shutdown().await;
    }
}
