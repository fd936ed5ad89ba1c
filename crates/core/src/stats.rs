//! Counters a node keeps about its own traffic and what it refused. Plain numbers: the
//! runtime and the agent map them to logs and metrics.

use leviathan_gossip_wire::MessageKind;

/// Per message kind counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindCounters {
    /// Syn messages.
    pub syn: u64,
    /// SynAck messages.
    pub synack: u64,
    /// Ack messages.
    pub ack: u64,
    /// Probe messages.
    pub probe: u64,
    /// ProbeAck messages.
    pub probe_ack: u64,
    /// ProbeRequest messages.
    pub probe_request: u64,
}

impl KindCounters {
    /// Adds `amount` to `kind`'s counter.
    pub fn add(&mut self, kind: MessageKind, amount: u64) {
        let counter = match kind {
            MessageKind::Syn => &mut self.syn,
            MessageKind::SynAck => &mut self.synack,
            MessageKind::Ack => &mut self.ack,
            MessageKind::Probe => &mut self.probe,
            MessageKind::ProbeAck => &mut self.probe_ack,
            MessageKind::ProbeRequest => &mut self.probe_request,
        };
        *counter = counter.saturating_add(amount);
    }

    /// The counter of `kind`.
    pub fn of(&self, kind: MessageKind) -> u64 {
        match kind {
            MessageKind::Syn => self.syn,
            MessageKind::SynAck => self.synack,
            MessageKind::Ack => self.ack,
            MessageKind::Probe => self.probe,
            MessageKind::ProbeAck => self.probe_ack,
            MessageKind::ProbeRequest => self.probe_request,
        }
    }

    /// Sum over all kinds.
    pub fn total(&self) -> u64 {
        MessageKind::ALL.iter().map(|kind| self.of(*kind)).sum()
    }

    /// Sum over the failure detector's kinds (probes, acks, requests).
    pub fn detection(&self) -> u64 {
        self.probe + self.probe_ack + self.probe_request
    }
}

/// What a node has done and refused since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages handed out as [`Output::Transmit`](crate::Output::Transmit).
    pub messages_sent: KindCounters,
    /// Encoded bytes of those messages.
    pub bytes_sent: KindCounters,
    /// Messages accepted by `handle_packet`.
    pub messages_received: KindCounters,
    /// Encoded bytes of those messages.
    pub bytes_received: KindCounters,
    /// Datagrams that failed to decode, dropped.
    pub dropped_malformed: u64,
    /// Packets of another cluster, dropped.
    pub dropped_foreign_cluster: u64,
    /// Packets claiming to come from this node's own name, dropped.
    pub dropped_from_self: u64,
    /// Node deltas dropped because they would leave a gap in versions. Expected now and
    /// then: a responder's unasked news pushes carry only the last few versions.
    pub dropped_gap_deltas: u64,
    /// Node deltas dropped because their record versions were not strictly increasing.
    pub dropped_unordered_deltas: u64,
    /// Node deltas or digest entries about an older generation than known, ignored.
    pub stale_generation: u64,
    /// Remote claims about this node's own state that it never had (a newer generation,
    /// incarnation, version or watermark of itself), ignored.
    pub ignored_claims_about_self: u64,
    /// Times this node took a new generation to re-assert its true state over such claims.
    /// A newer generation of itself is refuted only when a peer this node called holds it
    /// (peers believe no such claim the node itself does not confirm, so one only a
    /// forger tells is left alone).
    pub reassertions: u64,
    /// Newer generations of members held for live, held until the member confirms them
    /// (a probe to the address claimed; see `restart_claims.rs`), not believed at once.
    pub unconfirmed_restarts: u64,
    /// Newer generations of live members that the member's own answer refuted: it runs an
    /// older one. Forged, or a bug.
    pub refuted_restarts: u64,
    /// Generations claimed more than
    /// [`MAX_GENERATION_AHEAD`](crate::MAX_GENERATION_AHEAD) ahead of this node's clock, for
    /// itself or for a peer's new incarnation, refused: forged or corrupt.
    pub ignored_implausible_generations: u64,
    /// Records applied from peers.
    pub records_applied: u64,
    /// Resets received: a peer's whole state for a node whose collected tombstones this
    /// node had not all seen, taken in place of what it held.
    pub resets_received: u64,
    /// Node deltas whose records were refused because they could hold values that a
    /// garbage-collected tombstone replaced (the sender knew less than the watermark).
    pub dropped_below_watermark: u64,
    /// Tombstones dropped by garbage collection, this node's own and replicas'.
    pub tombstones_collected: u64,
    /// Deltas dropped because they would take the state beyond `max_nodes` nodes or a node
    /// beyond `max_keys_per_node` keys.
    pub dropped_over_limit: u64,
    /// Deltas dropped because they would take the state of other nodes beyond
    /// `max_remote_bytes`.
    pub dropped_over_budget: u64,
    /// Never-seen nodes refused because their sender had introduced
    /// `max_introductions_per_sender` unasked within the last gossip interval.
    pub refused_introductions: u64,
    /// Times another live process was found under this node's name (each also an
    /// [`crate::Event::DuplicateName`], at most one a minute).
    pub duplicate_names: u64,
    /// New incarnations refused because they advertise an address gossip cannot be sent
    /// to: unspecified, multicast, the IPv4 broadcast address, or port 0.
    pub dropped_unroutable_address: u64,
    /// Dead or departed peers removed from state.
    pub peers_removed: u64,
    /// Node deltas or digest entries about a removed incarnation in quarantine, ignored.
    pub ignored_quarantined: u64,
    /// Times this node found itself stalled and forgave the stall to its peers.
    pub local_pauses: u64,
    /// Alerts this node raised: a watched peer's check went unanswered.
    pub alerts_raised: u64,
    /// Times this node refuted an alert about itself with a newer incarnation.
    pub refutations: u64,
    /// Probes not meant for this node, and probe requests it would not relay.
    pub ignored_probes: u64,
    /// Syns and SynAcks whose answer was held to three times their size, their source not
    /// proven to be their sender's address (anti-amplification); counted whether or not
    /// anything fitted.
    pub unproven_replies: u64,
    /// Gossip rounds run.
    pub gossip_rounds: u64,
}
