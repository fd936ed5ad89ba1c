//! The node state machine: one cluster member, driven by its caller.

mod liveness;
mod restarts;

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use leviathan_gossip_wire::{
    Ack, COUNT_LEN, Digest, DigestEntry, Generation, Header, Incarnation, Key, MAX_NAME_LEN,
    Message, NameRange, NodeDelta, NodeId, NodeName, NodeStatus, NodeTag, Packet, Probe, ProbeAck,
    RangeClaims, RangeSummary, Syn, SynAck, Version, WireVersion, entries_len,
};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tracing::{debug, info, trace, warn};

use crate::address_proof::{AMPLIFICATION_LIMIT, AddressProofs, MAX_OWED, OwedRoster};
use crate::cluster_state::{NodeMut, entry_bytes};
use crate::config::{ConfigError, NodeConfig};
use crate::delta::{build_deltas, order_candidates, worst_case_record_len};
use crate::digest::{
    DeltaCandidate, Lag, Reconciliation, reconcile_news, reconcile_page, reconcile_requests,
    requests_len,
};
use crate::duplicates::{Duplicate, Duplicates, Verdict};
use crate::error::{RestoreError, WriteError};
use crate::event::{Event, EventBatch};
use crate::expiry::{Expired, Expiries};
use crate::failure_detector::PhiAccrualDetector;
use crate::generation_horizon::GenerationHorizon;
use crate::informed_peers::{InformedPeers, KEEP_INTERVALS};
use crate::introductions::Introductions;
use crate::member::{Member, MemberState, PeerCounts};
use crate::membership::{Membership, Observer, report_applied};
use crate::monitor::{MAX_LEARNT_INTERVALS, Monitor, MonitorConfig};
use crate::news::NewsQueue;
use crate::output::{Driver, Output, Transmit, dispatch};
use crate::own_writes::{InFlight, PreparedWrite, Write};
use crate::peer_selection::{PeerRoster, Roster, select_targets};
use crate::quarantine::Quarantine;
use crate::range_answers::{answer_summaries, explained_by_news};
use crate::restart_claims::RestartClaims;
use crate::rings::{ObserverCache, Rings};
use crate::rumors::Rumors;
use crate::state::{ClusterState, IncarnationFact, NodeState, RecordLimits, Versioned};
use crate::stats::Stats;
use crate::timers::{Timer, Timers};
use crate::wire_versions::WireVersions;

/// One cluster member as a deterministic state machine: no sockets, no clock, no entropy.
///
/// Four kinds of methods, called from one task:
///
/// * inputs — [`Node::handle_datagram`] / [`Node::handle_packet`] for every datagram
///   received, [`Node::handle_timeout`] when [`Node::poll_timeout`]'s deadline has passed;
/// * outputs — after every input, [`Node::drain`] hands every [`Output`] to the driver
///   (datagrams to send, events, expiries to issue, tombstones a store may forget), then
///   the driver re-arms its timer from [`Node::poll_timeout`];
/// * commands — own writes in two phases, [`Node::prepare`] then [`Node::commit`] (a
///   durable store records the [`PreparedWrite`] in between), or in one, [`Node::write`]
///   and its shorthands [`Node::set`], [`Node::set_with_ttl`], [`Node::delete`], without a
///   store; [`Node::leave`]; [`Node::join`] and [`Node::set_seeds`];
/// * queries — [`Node::get`], [`Node::version`], [`Node::members`], [`Node::stats`].
///
/// Time is whatever `now` the caller passes (real or simulated) and randomness comes from
/// the seed given to [`Node::new`], so a run is reproducible.
#[derive(Debug)]
pub struct Node {
    config: NodeConfig,
    identity: NodeId,
    header: Header,
    seeds: Vec<SocketAddr>,
    state: ClusterState,
    /// Every peer's liveness, where the peer's entry points.
    membership: Membership,
    /// Which peers this node watches.
    rings: Rings,
    /// Who observes the nodes accused by too few observers.
    observer_cache: ObserverCache,
    /// Probes of the watched peers, their checks, and probes relayed for others.
    monitor: Monitor,
    /// Alerts and refutations held and spread.
    rumors: Rumors,
    /// Probes awaiting answers that prove a member holds its address.
    address_proofs: AddressProofs,
    /// How many never-seen nodes each sender may still introduce unasked.
    introductions: Introductions,
    /// Another live process under this node's name: the check under way, the last found.
    duplicates: Duplicates,
    /// Newer generations of live members awaiting the member's own word.
    restart_claims: RestartClaims,
    /// The members that know the most nodes, for this node to call while it knows fewer.
    informed: InformedPeers,
    /// Which wire version each peer reads.
    wire_versions: WireVersions,
    news: NewsQueue,
    /// Versions and times of this node's own tombstones, oldest first, until collected.
    own_tombstones: VecDeque<(Version, Instant)>,
    /// Own tombstones collected and not yet handed out as [`Output::Collected`].
    collected: VecDeque<Key>,
    /// Deadlines of own keys written with a time to live.
    expiries: Expiries,
    /// Expiries due and not yet handed out as [`Output::Expired`].
    expired: VecDeque<Expired>,
    /// Removed peers whose gossip is ignored for a while.
    quarantine: Quarantine,
    /// The `now` of the latest input, the time of commands that take none.
    clock: Instant,
    /// When own tombstones are next collected.
    next_collection: Instant,
    /// When a Syn may next repeat an accusation (see `Rumors::add_accusation`).
    next_repeated_accusation: Instant,
    /// Own writes up to this version were pushed to peers at once (see
    /// `push_own_writes`); later ones are due.
    pushed_through: Version,
    /// When this node last re-asserted itself under a new generation.
    last_reassertion: Option<Instant>,
    /// The largest generation believed: claims beyond it are forged or corrupt.
    horizon: GenerationHorizon,
    /// A generation taken and not yet handed out as [`Output::Reasserted`].
    new_generation: Option<Generation>,
    /// Own writes prepared and not yet applied.
    in_flight: InFlight,
    rng: ChaCha8Rng,
    timers: Timers,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: Stats,
}

impl Node {
    /// A node that knows only itself and will call `seeds` (its own address among them is
    /// ignored) on its first gossip round, at `now`.
    pub fn new(
        config: NodeConfig,
        identity: NodeId,
        seeds: impl IntoIterator<Item = SocketAddr>,
        now: Instant,
        rng_seed: u64,
    ) -> Result<Node, ConfigError> {
        config.validate()?;
        let seeds = seed_list(seeds, identity.address);
        let header = Header {
            cluster_id: config.cluster_id.clone(),
            sender: identity.name.clone(),
            generation: identity.generation,
            incarnation: Incarnation(0),
        };
        let own_state = NodeState::new(identity.clone(), Incarnation(0));
        let quarantine = Quarantine::default();
        let config_grace = config.tombstone_grace;
        let horizon = GenerationHorizon::new(identity.generation, now);
        let mut phi = config.phi.clone();
        phi.first_heartbeat_estimate = phi.first_heartbeat_estimate.max(config.heartbeat_interval);
        let detector = PhiAccrualDetector::new(phi, now)
            .with_usual_threshold(config.phi_threshold)
            .with_max_interval(config.heartbeat_interval * MAX_LEARNT_INTERVALS);
        let monitor_config = MonitorConfig {
            interval: config.heartbeat_interval,
            probe_timeout: config.probe_timeout,
            indirect_probes: config.indirect_probes,
            phi_threshold: config.phi_threshold,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(rng_seed);
        // Small enough to encode in four bytes for a long while; a probe sequence guards
        // against late answers, not against forgers (the keyring does).
        let first_sequence = rand::Rng::random_range(&mut rng, 1..1 << 27);
        let node = Node {
            membership: Membership::new(&config, identity.name.clone(), now),
            rings: Rings::new(identity.name.clone(), config.observers),
            observer_cache: ObserverCache::default(),
            monitor: Monitor::new(monitor_config, detector, first_sequence, now),
            rumors: Rumors::new(
                config.heartbeat_interval * REFUTED_ALERTS_MEMORY,
                config.corroboration,
            ),
            address_proofs: AddressProofs::default(),
            duplicates: Duplicates::default(),
            restart_claims: RestartClaims::default(),
            informed: InformedPeers::default(),
            wire_versions: WireVersions::new(config.max_nodes),
            introductions: Introductions::new(
                config.max_introductions_per_sender,
                config.gossip_interval,
            ),
            timers: Timers::new(now, &config),
            state: [(identity.name.clone(), own_state)].into_iter().collect(),
            config,
            identity,
            header,
            seeds,
            news: NewsQueue::default(),
            own_tombstones: VecDeque::new(),
            collected: VecDeque::new(),
            expiries: Expiries::default(),
            expired: VecDeque::new(),
            quarantine,
            clock: now,
            next_collection: now + config_grace / 2,
            last_reassertion: None,
            next_repeated_accusation: now,
            pushed_through: Version(0),
            horizon,
            new_generation: None,
            in_flight: InFlight::default(),
            rng,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
        };
        Ok(node)
    }

    // ----- inputs -----

    /// Decodes and handles a datagram from `from`, in any wire version this build speaks.
    /// Malformed bytes are counted and dropped.
    pub fn handle_datagram(&mut self, from: SocketAddr, bytes: &[u8], now: Instant) {
        match Packet::decode_versioned(bytes) {
            Ok((packet, version)) => self.handle_packet_in(from, packet, version, now),
            Err(error) => {
                self.stats.dropped_malformed = self.stats.dropped_malformed.saturating_add(1);
                trace!(%from, %error, "dropped malformed datagram");
            }
        }
    }

    /// Handles a decoded packet from `from`. If the node's timers are overdue by more
    /// than `local_pause_threshold` (it was stalled), runs them first, as
    /// [`Node::handle_timeout`] would.
    pub fn handle_packet(&mut self, from: SocketAddr, packet: Packet, now: Instant) {
        self.handle_packet_in(from, packet, WireVersion::CURRENT, now);
    }

    /// Handles a packet decoded from wire version `version`, as [`Node::handle_packet`]
    /// does; the version of a Syn says which its sender speaks (`docs/PROTOCOL.md` §3.1).
    pub fn handle_packet_in(
        &mut self,
        from: SocketAddr,
        packet: Packet,
        version: WireVersion,
        now: Instant,
    ) {
        self.clock = self.clock.max(now);
        // A node waking from a stall may be handed datagrams before its overdue timers.
        // Notice the stall first, so it is forgiven to peers before a fresh probe answer is
        // timed: forgiving it afterwards would push those arrivals into the future.
        if now
            .checked_duration_since(self.timers.earliest())
            .is_some_and(|lateness| lateness > self.config.local_pause_threshold)
        {
            self.handle_timeout(now);
        }
        if packet.header.cluster_id != self.config.cluster_id {
            self.stats.dropped_foreign_cluster += 1;
            return;
        }
        if packet.header.sender == self.identity.name {
            if from != self.identity.address {
                self.on_datagram_under_own_name(from, &packet, now);
            }
            self.stats.dropped_from_self += 1;
            return;
        }
        // First-hand: a removed peer that talks to us, from its address, is alive after all.
        self.quarantine.lift_if_from(&packet.header.sender, from);
        let kind = packet.message.kind();
        let received_len = packet.encoded_len_as(version);
        self.stats.messages_received.add(kind, 1);
        self.stats.bytes_received.add(kind, received_len as u64);
        trace!(%from, sender = %packet.header.sender, kind = kind.name(), %version, "received");
        let seed = self.seeds.binary_search(&from).is_ok();
        self.wire_versions.heard(from, kind, version, seed);

        let sent_before = self.stats.bytes_sent.total();
        let mut batch = EventBatch::default();
        match packet.message {
            Message::Syn(syn) => {
                self.hear_digest_size(from, &packet.header.sender, &syn, now);
                let limit = self.reply_limit(from, &packet.header.sender, received_len, now);
                let owed = self.on_syn(from, syn, limit, now, &mut batch);
                let room = self.amplification_room(received_len, sent_before);
                self.owe_roster(from, &packet.header.sender, owed, room, now);
                self.warn_if_accused(&packet.header.sender, packet.header.incarnation);
            }
            Message::SynAck(synack) => {
                // A peer this node chose to call gets a packet's worth, proven or not.
                let solicited = self.address_proofs.is_solicited(from, now);
                let limit = match self.reply_limit(from, &packet.header.sender, received_len, now) {
                    ReplyLimit::Bytes(_) if solicited => ReplyLimit::Packet,
                    limit => limit,
                };
                // Nodes in an answer to this node's own Syn were asked for: a roster.
                let teller = if solicited {
                    Teller::Asked
                } else {
                    Teller::Unasked(from)
                };
                let step = ExchangeStep {
                    ranges: synack.ranges,
                    requests: synack.requests,
                    deltas: synack.deltas,
                    answer_with_ack: true,
                    teller,
                };
                let owed = self.on_exchange_step(from, step, limit, now, &mut batch);
                let room = if solicited {
                    self.config.max_packet_size
                } else {
                    self.amplification_room(received_len, sent_before)
                };
                self.owe_roster(from, &packet.header.sender, owed, room, now);
            }
            Message::Ack(ack) => {
                let limit = if ack.ranges.is_empty() && ack.requests.is_empty() {
                    // Deltas only: nothing will be answered, no proof asked for.
                    ReplyLimit::Packet
                } else {
                    self.reply_limit(from, &packet.header.sender, received_len, now)
                };
                let step = ExchangeStep {
                    ranges: ack.ranges,
                    requests: ack.requests,
                    deltas: ack.deltas,
                    answer_with_ack: false,
                    teller: Teller::Unasked(from),
                };
                let owed = self.on_exchange_step(from, step, limit, now, &mut batch);
                let room = self.amplification_room(received_len, sent_before);
                self.owe_roster(from, &packet.header.sender, owed, room, now);
            }
            Message::Probe(probe) => {
                let prober = &packet.header.sender;
                self.on_probe(from, prober, probe, received_len, now, &mut batch);
            }
            Message::ProbeAck(ack) => {
                self.on_probe_ack(from, &packet.header, ack, now, &mut batch);
            }
            Message::ProbeRequest(request) => {
                self.on_probe_request(from, request, received_len, now, &mut batch);
            }
        }
        // After the message: it may have introduced the sender's current incarnation.
        let header = &packet.header;
        let fact = IncarnationFact {
            generation: header.generation,
            incarnation: header.incarnation,
            status: None,
            gc_watermark: None,
        };
        self.observe_fact(&header.sender, fact, now, &mut batch);
        self.update_rings(now);
        batch.drain_into(&mut self.events);
    }

    /// Runs every duty whose deadline is at or before `now`: probes and checks, health
    /// check, gossip round. Calling it early is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.clock = self.clock.max(now);
        self.expired.extend(self.expiries.take_due(now));
        let mut batch = EventBatch::default();
        if self.monitor.next_deadline() <= now {
            self.run_monitor(now, &mut batch);
        }
        let Some(lateness) = now.checked_duration_since(self.timers.earliest()) else {
            self.update_rings(now);
            batch.drain_into(&mut self.events);
            return;
        };
        if lateness > self.config.local_pause_threshold {
            self.forgive_local_pause(lateness);
        }
        if self
            .timers
            .fire(Timer::HealthCheck, now, self.config.health_check_interval)
        {
            self.corroborate_pending(now, &mut batch);
            let departed = self.check_health(now, &mut batch);
            self.remove_departed(departed, now, &mut batch);
            self.collect_own_tombstones(now);
            self.quarantine.expire(now);
        }
        if self
            .timers
            .fire(Timer::Gossip, now, self.config.gossip_interval)
        {
            self.gossip_round();
        }
        self.update_rings(now);
        batch.drain_into(&mut self.events);
    }

    // ----- outputs -----

    /// Hands every pending output to `driver`, in [`Output`]'s order. Call it after every
    /// input and command, then re-arm the timer from [`Node::poll_timeout`].
    pub fn drain(&mut self, driver: &mut impl Driver) {
        while let Some(output) = self.poll() {
            dispatch(output, driver);
        }
    }

    /// The next pending output, if any: what [`Node::drain`] hands out one by one.
    #[must_use = "an output is an instruction to the driver"]
    pub fn poll(&mut self) -> Option<Output> {
        if let Some(expired) = self.expired.pop_front() {
            return Some(Output::Expired(expired));
        }
        if let Some(key) = self.collected.pop_front() {
            return Some(Output::Collected(key));
        }
        if let Some(generation) = self.new_generation.take() {
            return Some(Output::Reasserted(generation));
        }
        if self.own_state().max_version() > self.pushed_through {
            self.push_own_writes();
        }
        if let Some(transmit) = self.transmits.pop_front() {
            return Some(Output::Transmit(transmit));
        }
        self.events.pop_front().map(Output::Event)
    }

    /// When [`Node::handle_timeout`] must next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Instant {
        let timers = self.timers.earliest().min(self.monitor.next_deadline());
        self.expiries
            .next_deadline()
            .map_or(timers, |deadline| deadline.min(timers))
    }

    // ----- commands -----

    /// Reports the wall clock: `unix_millis` (milliseconds since the Unix epoch) at `now`.
    /// Optional: without it, the node takes its own start generation for its clock (see
    /// [`MAX_GENERATION_AHEAD`](crate::MAX_GENERATION_AHEAD)). A driver that hand-picks a
    /// generation below the clock must call it, or peers' generations taken from the
    /// clock may look implausibly far ahead and be refused. A clock behind what the node
    /// assumes changes nothing.
    pub fn set_wall_clock(&mut self, unix_millis: u64, now: Instant) {
        self.horizon.set_wall_clock(unix_millis, now);
    }

    /// Checks an own write and reserves its version, changing nothing else: make the
    /// returned [`PreparedWrite`] durable, then apply it with [`Node::commit`]. `None`:
    /// nothing to write (a deletion of a key that holds no value, an expiry of a key
    /// written again since). Refused, with nothing reserved, if the value could never fit
    /// in a packet, the key would exceed `max_keys_per_node` (writes in flight counted as
    /// new keys), or the node has left. `now` starts a time to live.
    pub fn prepare(
        &mut self,
        write: Write,
        now: Instant,
    ) -> Result<Option<PreparedWrite>, WriteError> {
        self.ensure_writable()?;
        let own = self.own_state();
        let (key, value, ttl) = match write {
            Write::Set { key, value } => (key, Some(value), None),
            Write::SetWithTtl { key, value, ttl } => (key, Some(value), Some(ttl)),
            Write::Delete { key } => {
                if own.record(key.as_str()).is_none_or(|r| r.value.is_none()) {
                    return Ok(None);
                }
                (key, None, None)
            }
            Write::Expire(expired) => {
                let current = own.record(expired.key.as_str());
                if current.is_none_or(|r| r.value.is_none() || r.version != expired.version) {
                    return Ok(None);
                }
                (expired.key, None, None)
            }
        };
        if let Some(value) = &value {
            let max_keys = self.config.max_keys_per_node;
            let held = own.held_record_count() + self.in_flight.len();
            if own.record(key.as_str()).is_none() && held >= max_keys {
                return Err(WriteError::TooManyKeys { max: max_keys });
            }
            let max = self.max_value_len(&key);
            if value.len() > max {
                return Err(WriteError::ValueTooLarge {
                    len: value.len(),
                    max,
                });
            }
        }
        let version = self.in_flight.next_version(own.max_version());
        self.in_flight.reserve(version);
        // A deadline beyond what the clock can represent never comes.
        let deadline = ttl.and_then(|ttl| now.checked_add(ttl));
        Ok(Some(PreparedWrite {
            owner: self.identity.name.clone(),
            key,
            version,
            value,
            ttl,
            deadline,
        }))
    }

    /// Applies a write [`Node::prepare`] returned, once durable; returns its version.
    /// Peers receive it by gossip. Writes become visible in version order: one prepared
    /// after another still in flight is applied when that one is committed or abandoned.
    /// Refused, with the write released, if the node left since it was prepared (a store
    /// that recorded it restores it on the next start), or if this node did not prepare it.
    pub fn commit(&mut self, write: PreparedWrite) -> Result<Version, WriteError> {
        if write.owner != self.identity.name || !self.in_flight.is_reserved(write.version) {
            return Err(WriteError::NotPrepared {
                version: write.version,
            });
        }
        let version = write.version;
        if let Err(error) = self.ensure_writable() {
            self.abandon(write);
            return Err(error);
        }
        self.in_flight.commit(write);
        for ready in self.in_flight.take_ready() {
            self.apply_own_write(ready);
        }
        Ok(version)
    }

    /// Releases a prepared write that could not be made durable: it is never applied, and
    /// its version is skipped unless no later write took one. Writes prepared after it
    /// that were committed are applied.
    pub fn abandon(&mut self, write: PreparedWrite) {
        self.in_flight.abandon(write.version);
        for ready in self.in_flight.take_ready() {
            self.apply_own_write(ready);
        }
    }

    /// Prepares and commits `write` at once, for a node without a durable store. Returns
    /// the version written (`None`: nothing to write), or why it was refused (nothing
    /// changed).
    pub fn write(&mut self, write: Write, now: Instant) -> Result<Option<Version>, WriteError> {
        match self.prepare(write, now)? {
            Some(prepared) => self.commit(prepared).map(Some),
            None => Ok(None),
        }
    }

    /// Sets one of this node's keys: [`Node::write`] with [`Write::Set`].
    pub fn set(&mut self, key: Key, value: Bytes) -> Result<Version, WriteError> {
        let now = self.clock;
        let written = self.write(Write::Set { key, value }, now)?;
        Ok(written.unwrap_or_else(|| unreachable!("a set always writes")))
    }

    /// Sets one of this node's keys for `ttl` from `now`: then the node deletes it (see
    /// [`Output::Expired`]), unless it was written again meanwhile. Peers see an ordinary
    /// write, then an ordinary deletion: they never expire keys on their own clocks.
    /// [`Node::write`] with [`Write::SetWithTtl`].
    pub fn set_with_ttl(
        &mut self,
        key: Key,
        value: Bytes,
        ttl: Duration,
        now: Instant,
    ) -> Result<Version, WriteError> {
        let written = self.write(Write::SetWithTtl { key, value, ttl }, now)?;
        Ok(written.unwrap_or_else(|| unreachable!("a set always writes")))
    }

    /// Deletes one of this node's keys by writing a tombstone, which replicates like a
    /// write. Returns the tombstone's version, or `None` if the key was not set.
    /// [`Node::write`] with [`Write::Delete`].
    pub fn delete(&mut self, key: &Key) -> Result<Option<Version>, WriteError> {
        let now = self.clock;
        self.write(Write::Delete { key: key.clone() }, now)
    }

    /// Makes `key`, restored from a durable store, expire at `deadline` (now, if it has
    /// passed). Returns false, changing nothing, if the key holds no live value.
    pub fn restore_expiry(&mut self, key: &Key, deadline: Instant) -> bool {
        let Some(version) = self.version(self.identity.name.as_str(), key.as_str()) else {
            return false;
        };
        self.expiries.insert(key.clone(), version, deadline);
        true
    }

    /// Restores this node's own records, as a durable store kept them, into a node that
    /// has not written anything yet: each keeps its version (tombstones included), and the
    /// next write continues above `max_version`. Peers receive them with the node's new
    /// generation. Refused, with nothing changed, after a write or if a record's version
    /// is above `max_version`.
    pub fn restore_own_records(
        &mut self,
        records: impl IntoIterator<Item = (Key, Versioned)>,
        max_version: Version,
    ) -> Result<(), RestoreError> {
        if self.own_state().max_version() > Version(0) || self.in_flight.len() > 0 {
            return Err(RestoreError::AlreadyWritten);
        }
        let records: Vec<(Key, Versioned)> = records.into_iter().collect();
        if let Some((key, record)) = records.iter().find(|(_, r)| r.version > max_version) {
            return Err(RestoreError::VersionAboveMax {
                key: key.to_string(),
                version: record.version,
                max_version,
            });
        }
        let mut tombstones: Vec<Version> = records
            .iter()
            .filter(|(_, record)| record.value.is_none())
            .map(|(_, record)| record.version)
            .collect();
        tombstones.sort();
        // Their age is unknown: the grace period starts again now.
        let clock = self.clock;
        self.own_tombstones
            .extend(tombstones.into_iter().map(|version| (version, clock)));
        self.own_state_mut().restore(records, max_version);
        Ok(())
    }

    /// Announces a graceful departure: marks this node as left and pushes that news to
    /// live peers and a seed, so they need not wait for the failure detector. Afterwards
    /// the node still answers gossip (spreading the news) but accepts no writes.
    pub fn leave(&mut self) {
        if !self.own_state_mut().observe_status(NodeStatus::Left) {
            return;
        }
        info!(node = %self.identity.name, "leaving the cluster");
        // A node that left writes nothing more, deletions on expiry included.
        self.expiries = Expiries::default();
        self.expired.clear();
        let own = self.own_state();
        let announcement = NodeDelta {
            node: self.identity.clone(),
            incarnation: own.incarnation(),
            status: NodeStatus::Left,
            gc_watermark: own.gc_watermark(),
            from_version: own.max_version(),
            records: Vec::new(),
            to_version: own.max_version(),
            complete: false,
        };
        let peers = PeerRoster {
            state: &self.state,
            health: self.membership.health(),
        };
        let wanted = self.config.fanout.saturating_mul(2).min(peers.live_count());
        let ranks = rand::seq::index::sample(&mut self.rng, peers.live_count(), wanted);
        let (mut targets, _) = peers.addresses(&ranks.into_vec(), None);
        if let Some(seed) = self.seeds.choose(&mut self.rng)
            && !targets.contains(seed)
        {
            targets.push(*seed);
        }
        for destination in targets {
            let message = Message::Ack(Ack::with_deltas(vec![announcement.clone()]));
            self.send(destination, message);
        }
    }

    /// Pushes this node's writes since the last push to `fanout` random live peers at once,
    /// an Ack with its delta each, so that a write leaves the node when it is made rather
    /// than at the next round; the peers then tell it as news. A peer that missed an
    /// earlier push refuses the gap (§6.2) and reconciliation repairs it. A burst of
    /// writes between two drains goes out as one delta, cut to the packet.
    fn push_own_writes(&mut self) {
        let own = self.own_state();
        let (from, through) = (
            self.pushed_through.min(own.max_version()),
            own.max_version(),
        );
        let left = own.status() == NodeStatus::Left;
        let missing = own.records_after_count(from);
        self.pushed_through = through;
        if left {
            return;
        }
        let candidate = DeltaCandidate {
            name: self.identity.name.clone(),
            lag: Lag::Behind,
            from_version: from,
            missing,
        };
        let deltas = build_deltas(&self.state, &[candidate], self.body_budget());
        if deltas.is_empty() {
            return;
        }
        let peers = PeerRoster {
            state: &self.state,
            health: self.membership.health(),
        };
        let wanted = self.config.fanout.min(peers.live_count());
        let ranks = rand::seq::index::sample(&mut self.rng, peers.live_count(), wanted);
        let (targets, _) = peers.addresses(&ranks.into_vec(), None);
        for destination in targets {
            self.send(destination, Message::Ack(Ack::with_deltas(deltas.clone())));
        }
    }

    /// Adds `addresses` to the seeds and calls each of them at once (a Syn each, queued
    /// for [`Node::drain`]), like the first round of a node started with them: for an
    /// address learnt at run time (an operator's join, a seed name resolved late, a member
    /// remembered from an earlier run). Duplicates and this node's own address are
    /// skipped. Returns how many addresses were called; those already seeds stay once in
    /// the list but are called again. The seeds are then drawn from as every round does
    /// (see the peer selection rules); a node that never calls this behaves as before.
    pub fn join(&mut self, addresses: impl IntoIterator<Item = SocketAddr>) -> usize {
        let mut called = Vec::new();
        for address in addresses {
            if address == self.identity.address || called.contains(&address) {
                continue;
            }
            called.push(address);
            if let Err(slot) = self.seeds.binary_search(&address) {
                self.seeds.insert(slot, address);
            }
        }
        for destination in called.iter().copied() {
            self.send_syn(destination);
        }
        debug!(called = called.len(), seeds = self.seeds.len(), "joining");
        called.len()
    }

    /// Replaces the seeds with `seeds` (its own address skipped, duplicates dropped),
    /// calling none of them now: the next rounds draw from the new list. For a driver
    /// that re-resolves seed names.
    pub fn set_seeds(&mut self, seeds: impl IntoIterator<Item = SocketAddr>) {
        self.seeds = seed_list(seeds, self.identity.address);
    }

    // ----- queries -----

    /// The addresses this node calls to join (or rejoin) the cluster, sorted.
    pub fn seeds(&self) -> &[SocketAddr] {
        &self.seeds
    }

    /// This node's identity.
    pub fn identity(&self) -> &NodeId {
        &self.identity
    }

    /// The node's settings.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The current value of `node`'s `key` (`None` if unknown or deleted).
    pub fn get(&self, node: &str, key: &str) -> Option<&Bytes> {
        self.peer_state(node)?.record(key)?.value.as_ref()
    }

    /// The version of `node`'s `key`'s current value (`None` if unknown or deleted): the
    /// original library's `getn`.
    pub fn version(&self, node: &str, key: &str) -> Option<Version> {
        let record = self.peer_state(node)?.record(key)?;
        record.value.as_ref().map(|_| record.version)
    }

    /// Every live key of `node` with its version and value.
    pub fn entries(&self, node: &str) -> Vec<(Key, Version, Bytes)> {
        let Some(state) = self.peer_state(node) else {
            return Vec::new();
        };
        let mut entries: Vec<(Key, Version, Bytes)> = state
            .live_records()
            .filter_map(|(key, v)| Some((key.clone(), v.version, v.value.clone()?)))
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries
    }

    /// Every known member, this node included, in alphabetical order of names.
    pub fn members(&self, now: Instant) -> Vec<Member> {
        let mut members: Vec<Member> = self
            .state
            .iter()
            .map(|(name, node)| {
                let is_local = *name == self.identity.name;
                let judged = node
                    .health_slot()
                    .and_then(|slot| self.membership.health().state(slot));
                let state = if node.status() == NodeStatus::Left {
                    MemberState::Left
                } else {
                    judged.unwrap_or(MemberState::Live)
                };
                let phi = self
                    .monitor
                    .phi(name, now)
                    .filter(|_| state != MemberState::Left);
                Member {
                    id: node.node_id(name),
                    state,
                    phi,
                    incarnation: node.incarnation(),
                    max_version: node.max_version(),
                    gc_watermark: node.gc_watermark(),
                    key_count: node.live_key_count(),
                    is_local,
                }
            })
            .collect();
        // The state's order is the protocol's (by the names' hashes); people read names.
        members.sort_by(|a, b| a.id.name.as_str().cmp(b.id.name.as_str()));
        members
    }

    /// This node's digest: how far its knowledge of each node it holds goes, in name
    /// order — what reconciliation compares (for tests and diagnostics; O(N)).
    pub fn digest(&self) -> Vec<DigestEntry> {
        self.state
            .iter()
            .map(|(name, node)| node.digest_entry(name))
            .collect()
    }

    /// The fingerprint of this node's whole digest: two nodes with equal fingerprints
    /// have nothing to reconcile. O(1).
    pub fn digest_fingerprint(&self) -> leviathan_gossip_wire::Fingerprint {
        self.state.fingerprint(&NameRange::ALL)
    }

    /// How many peers this node lists, and how many it sees as live or unreachable.
    pub fn peer_counts(&self) -> PeerCounts {
        let census = self.membership.health().census();
        PeerCounts {
            known: self.state.len().saturating_sub(1),
            live: census.live,
            unreachable: census.unreachable,
        }
    }

    /// This node's doubt about itself, 0 (healthy) to 8 (Lifeguard's local health score,
    /// memberlist's `GetHealthScore`): raised by checks that not even a relay answered,
    /// by suspicions of this node and by stalls, lowered by every probe answered in
    /// time. Above 4 the node accuses nobody.
    pub fn local_health(&self) -> u8 {
        self.monitor.local_health().score()
    }

    /// Counters of traffic and refused input.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// What this node holds in memory, in items: what garbage collection and removal keep
    /// bounded.
    pub fn footprint(&self) -> Footprint {
        Footprint {
            nodes: self.state.len(),
            records: self.state.values().map(NodeState::held_record_count).sum(),
            remote_bytes: self.remote_bytes(),
            quarantined: self.quarantine.len(),
            own_tombstones: self.own_tombstones.len(),
            expiries: self.expiries.len(),
            health_slots: self.membership.health().slots(),
            older_wire_peers: self.wire_versions.older_peers(),
        }
    }

    /// Largest value `set` accepts for `key`: a delta holding only that record, in a packet
    /// of its own, must fit `max_packet_size` whatever the counters grow to and whichever
    /// peer relays it (its name may be longer than ours).
    pub fn max_value_len(&self, key: &Key) -> usize {
        let worst_relay_header = Header {
            sender: worst_case_name(),
            generation: Generation(u64::MAX),
            incarnation: Incarnation(u64::MAX),
            ..self.header.clone()
        };
        let fixed = worst_relay_header.encoded_len()
            + 1
            + COUNT_LEN
            + NodeDelta::header_len_for(
                &self.identity,
                Incarnation(u64::MAX),
                Version(u64::MAX),
                Version(u64::MAX),
            );
        let budget = self.config.max_packet_size.saturating_sub(fixed);
        let mut len = budget.saturating_sub(worst_case_record_len(key, 0));
        // The value's length prefix grows with the value: step down until it fits.
        while len > 0 && worst_case_record_len(key, len) > budget {
            len -= 1;
        }
        len
    }

    // ----- handshake -----

    fn gossip_round(&mut self) {
        self.stats.gossip_rounds += 1;
        debug_assert!(self.health_is_consistent());
        let peers = PeerRoster {
            state: &self.state,
            health: self.membership.health(),
        };
        let mut targets = select_targets(&peers, &self.seeds, self.config.fanout, &mut self.rng);
        // Behind a peer that knows far more: call it too (see `informed_peers.rs`).
        if let Some(informed) = self
            .informed
            .to_call(self.state.len(), self.clock, &mut self.rng)
            && !targets.contains(&informed)
        {
            targets.push(informed);
        }
        for destination in targets {
            self.send_syn(destination);
        }
    }

    /// Remembers how many nodes the sender of `syn` knows, if it is a live member speaking
    /// from its advertised address (see `informed_peers.rs`).
    fn hear_digest_size(&mut self, from: SocketAddr, sender: &NodeName, syn: &Syn, now: Instant) {
        let member_at_from = self
            .state
            .get(sender)
            .is_some_and(|node| node.address() == from && node.status() == NodeStatus::Alive);
        let whole = syn
            .ranges
            .summaries
            .iter()
            .find(|summary| summary.range == NameRange::ALL);
        if let Some(whole) = whole
            && member_at_from
        {
            let keep = self.config.gossip_interval * KEEP_INTERVALS;
            self.informed
                .heard(from, whole.fingerprint.count, keep, now);
        }
    }

    /// Opens a handshake with `destination`, whose SynAck is then asked for.
    fn send_syn(&mut self, destination: SocketAddr) {
        let seed = self.seeds.binary_search(&destination).is_ok();
        let version = self.wire_versions.for_syn(destination, seed);
        let mut syn = self.next_syn();
        if version < WireVersion::CURRENT {
            self.page_for_oldest(&mut syn);
        }
        let until = self.clock + self.config.gossip_interval * 2;
        self.address_proofs.syn_sent(destination, until);
        self.send_as(destination, Message::Syn(syn), version);
    }

    /// Replaces `syn`'s fingerprint, which the oldest wire version cannot carry, with a
    /// page of a random range of the name order that fits the packet in that version (a
    /// version-4 Syn carries one page bounded by names; see `wire::WireVersion`).
    fn page_for_oldest(&mut self, syn: &mut Syn) {
        syn.ranges = RangeClaims::default();
        let empty = self.packet_len_as(&Message::Syn(syn.clone()), WireVersion::OLDEST);
        // The empty page is bounded by the sender's name twice; a page's bounds are two
        // names of at most `MAX_NAME_LEN` bytes.
        let own_bounds = 2 * (2 + self.identity.name.as_str().len());
        let room = (self.config.max_packet_size + own_bounds)
            .saturating_sub(empty + 2 * (2 + MAX_NAME_LEN));
        let mut range = NameRange::ALL;
        loop {
            let count = self.state.fingerprint(&range).count;
            let entries_fit = usize::try_from(count)
                .is_ok_and(|count| count.saturating_mul(DigestEntry::MIN_LEN) <= room);
            if entries_fit {
                let entries: Vec<DigestEntry> = self
                    .state
                    .in_range(&range)
                    .map(|(name, node)| node.digest_entry(name))
                    .collect();
                if entries_len(&entries) <= room + COUNT_LEN {
                    syn.ranges.pages.push(Digest { range, entries });
                    break;
                }
            }
            let children: Vec<NameRange> = range
                .children()
                .filter(|child| self.state.fingerprint(child).count > 0)
                .collect();
            match children.choose(&mut self.rng) {
                Some(child) => range = *child,
                None => break,
            }
        }
        let fits = self.packet_len_as(&Message::Syn(syn.clone()), WireVersion::OLDEST)
            <= self.config.max_packet_size;
        if !fits {
            syn.ranges = RangeClaims::default();
        }
    }

    /// A Syn: the fingerprint of this node's whole digest, its own entry and the
    /// least-sent news in up to a third of the budget, and rumours.
    fn next_syn(&mut self) -> Syn {
        let budget = self.body_budget();
        let ranges = RangeClaims {
            summaries: vec![RangeSummary {
                range: NameRange::ALL,
                fingerprint: self.state.fingerprint(&NameRange::ALL),
            }],
            pages: Vec::new(),
        };
        let own = self.own_state().digest_entry(&self.identity.name);
        let mut used = ranges.encoded_len() + COUNT_LEN + own.encoded_len();
        let mut news = vec![own];
        let state = &self.state;
        let own_name = &self.identity.name;
        self.news.send(state.len(), |name| {
            // The own entry, always first, counts as sending the own news.
            if name == own_name {
                return true;
            }
            let Some(entry) = state.get(name).map(|node| node.digest_entry(name)) else {
                return true;
            };
            if used + entry.encoded_len() > budget / 3 {
                return false;
            }
            used += entry.encoded_len();
            news.push(entry);
            true
        });
        // A quarter of the packet at most: the rest is for the news.
        let syn_rumors_budget = budget / 4;
        let mut rumors = self.rumors.pick(syn_rumors_budget, None);
        // Once per probe interval, room for an accusation the peer may have missed (a
        // newcomer learns who stands accused, and does not keep a dead node alive).
        if self.clock >= self.next_repeated_accusation {
            let room = leviathan_gossip_wire::rumors_len(&rumors) + syn_rumors_budget / 2;
            if self.rumors.add_accusation(&mut rumors, room, |_| true) {
                self.next_repeated_accusation = self.clock + self.config.heartbeat_interval;
            }
        }
        Syn {
            ranges,
            news,
            rumors,
        }
    }

    /// Bytes a reply to `from` may take, for a datagram of `received_len` bytes from
    /// `sender`: no limit of its own (a roster stream included) if `from` is the sender's
    /// proven address; a packet's worth if three times what was received is as much; else
    /// three times what was received, less the probe sent to prove a member's address (see
    /// `address_proof.rs`).
    fn reply_limit(
        &mut self,
        from: SocketAddr,
        sender: &NodeName,
        received_len: usize,
        now: Instant,
    ) -> ReplyLimit {
        let member_at_from = self
            .state
            .get(sender)
            .filter(|node| node.address() == from && node.status() == NodeStatus::Alive)
            .map(NodeState::is_address_proven);
        if member_at_from == Some(true) {
            return ReplyLimit::Proven;
        }
        let mut allowed = received_len.saturating_mul(AMPLIFICATION_LIMIT);
        if allowed >= self.config.max_packet_size {
            // No single reply is longer: nothing to prove.
            return ReplyLimit::Packet;
        }
        let probe = Probe {
            sequence: self.rng_sequence(),
            target: NodeTag::of(sender),
            rumors: Vec::new(),
        };
        // Room for the probe is kept unless it would take a third of the reply: a stranger is
        // probed only if the answer leaves out nodes it never saw (see `owe_roster`).
        let probe_len = self.packet_len(&Message::Probe(probe.clone()));
        if member_at_from.is_some() || probe_len <= allowed / 3 {
            allowed = allowed.saturating_sub(probe_len);
        }
        if member_at_from.is_some() {
            let timeout = self.config.probe_timeout;
            if self
                .address_proofs
                .ask(sender, from, probe.sequence, timeout, now)
            {
                self.send(from, Message::Probe(probe));
            }
        }
        ReplyLimit::Bytes(allowed)
    }

    /// Body bytes a reply may take within `limit`.
    fn body_budget_within(&mut self, limit: ReplyLimit) -> usize {
        match limit {
            ReplyLimit::Proven | ReplyLimit::Packet => self.body_budget(),
            ReplyLimit::Bytes(bytes) => {
                self.stats.unproven_replies += 1;
                self.body_budget()
                    .min(bytes.saturating_sub(self.header.encoded_len() + 1))
            }
        }
    }

    /// Answers a Syn; returns what the answer owes `from` once proven.
    fn on_syn(
        &mut self,
        from: SocketAddr,
        mut syn: Syn,
        limit: ReplyLimit,
        now: Instant,
        batch: &mut EventBatch,
    ) -> OwedRoster {
        self.take_rumors(&syn.rumors, now, batch);
        for entry in &syn.news {
            self.observe_digest_entry(entry, Teller::Unasked(from), now, batch);
        }
        // News first: its requests are for fresh changes, and take precedence.
        let news = reconcile_news(
            &self.state,
            &self.identity.name,
            &self.quarantine,
            &syn.news,
        );
        // Ranges whose difference the news explains need no descent; an initiator whose
        // whole digest equals ours but for its news has our news already.
        let mut ranges = std::mem::take(&mut syn.ranges);
        let claimed = ranges.summaries.len();
        ranges
            .summaries
            .retain(|summary| !explained_by_news(&self.state, summary, &syn.news));
        let in_sync = claimed == 1 && ranges.summaries.is_empty();
        let pushes = if in_sync {
            Vec::new()
        } else {
            self.news_pushes(&syn, &news.candidates)
        };
        let teller = Teller::Unasked(from);
        let mut answer = self.answer(&ranges, news, teller, limit, now, batch);
        // The pushes share the deltas' count, whose bytes are already paid.
        answer
            .deltas
            .extend(build_deltas(&self.state, &pushes, answer.room + COUNT_LEN));
        self.send_answer(from, answer, false)
    }

    /// The pull half of the rumour: the responder's own news, which the initiator did not
    /// mention (so its version is unknown), pushed as deltas of the last few versions. An
    /// initiator that far behind refuses the gap; reconciliation repairs it later.
    fn news_pushes(&self, syn: &Syn, candidates: &[DeltaCandidate]) -> Vec<DeltaCandidate> {
        self.news
            .peek()
            .filter(|name| {
                !syn.news.iter().any(|entry| entry.name == **name)
                    && !candidates.iter().any(|candidate| candidate.name == **name)
            })
            .filter_map(|name| self.state.get_key_value(name))
            .take(MAX_NEWS_PUSHES)
            .map(|(name, node)| DeltaCandidate {
                name: name.clone(),
                lag: Lag::Behind,
                from_version: Version(node.max_version().0.saturating_sub(NEWS_PUSH_VERSIONS)),
                missing: 0,
            })
            .collect()
    }

    /// A later step of an exchange (a SynAck to the initiator, an Ack to the responder):
    /// takes its deltas, serves its requests, answers its ranges with the other kind.
    /// Returns what the answer owes `from` once proven.
    fn on_exchange_step(
        &mut self,
        from: SocketAddr,
        step: ExchangeStep,
        limit: ReplyLimit,
        now: Instant,
        batch: &mut EventBatch,
    ) -> OwedRoster {
        let ExchangeStep {
            ranges,
            requests,
            deltas,
            answer_with_ack,
            teller,
        } = step;
        self.apply_deltas(&deltas, teller, now, batch);
        if ranges.is_empty() && requests.is_empty() {
            return OwedRoster { names: Vec::new() };
        }
        for entry in &requests {
            self.observe_digest_entry(entry, teller, now, batch);
        }
        let served = Reconciliation {
            requests: Vec::new(),
            candidates: reconcile_requests(&self.state, &requests),
        };
        let answer = self.answer(&ranges, served, teller, limit, now, batch);
        self.send_answer(from, answer, answer_with_ack)
    }

    /// Sends `answer` (nothing if it is empty) as an Ack or a SynAck, then its roster
    /// stream, deltas only, in the same kind. Returns what it owes `to` once proven: only
    /// a SynAck owes, its initiator having asked by its Syn (Acks streamed to a responder
    /// would arrive unasked, beyond its introduction limit).
    fn send_answer(&mut self, to: SocketAddr, answer: Answer, as_ack: bool) -> OwedRoster {
        let empty = answer.is_empty();
        let owed = OwedRoster {
            names: if as_ack { Vec::new() } else { answer.owed },
        };
        if empty {
            return owed;
        }
        let step = |ranges, requests, deltas| {
            if as_ack {
                Message::Ack(Ack {
                    ranges,
                    requests,
                    deltas,
                })
            } else {
                Message::SynAck(SynAck {
                    ranges,
                    requests,
                    deltas,
                })
            }
        };
        self.send(to, step(answer.ranges, answer.requests, answer.deltas));
        for deltas in answer.roster {
            self.send(to, step(RangeClaims::default(), Vec::new(), deltas));
        }
        owed
    }

    /// Bytes a reply to a datagram of `received_len` bytes may still take under the
    /// three-times rule, `sent_before` being the bytes sent before it was handled.
    fn amplification_room(&self, received_len: usize, sent_before: u64) -> usize {
        let sent = self.stats.bytes_sent.total().saturating_sub(sent_before);
        received_len
            .saturating_mul(AMPLIFICATION_LIMIT)
            .saturating_sub(usize::try_from(sent).unwrap_or(usize::MAX))
    }

    /// What to say back to a step carrying `ranges`, given what comparing its other
    /// contents found (`found`): requests for what we lack in up to a quarter of the
    /// budget, answers to the ranges in up to half (all the rest when no deltas are due),
    /// deltas in the rest.
    fn answer(
        &mut self,
        ranges: &RangeClaims,
        mut found: Reconciliation,
        teller: Teller,
        limit: ReplyLimit,
        now: Instant,
        batch: &mut EventBatch,
    ) -> Answer {
        for page in &ranges.pages {
            self.observe_page(page, teller, now, batch);
            let own = &self.identity.name;
            let compared = reconcile_page(&self.state, own, &self.quarantine, page);
            found.requests.extend(compared.requests);
            found.candidates.extend(compared.candidates);
        }
        order_candidates(&mut found.candidates, &mut self.rng);
        let budget = self.body_budget_within(limit);
        let mut requests = Vec::new();
        let mut requests_size = COUNT_LEN;
        for entry in found.requests {
            let len = entry.encoded_len();
            if requests_size + len > budget / 4 {
                break;
            }
            requests_size += len;
            requests.push(entry);
        }
        debug_assert_eq!(requests_len(&requests), requests_size);
        let start = self.rng.random_range(0..usize::from(u16::MAX));
        // Half the packet when deltas are due; all that is left when none are (a step
        // that only narrows ranges down).
        let room = budget.saturating_sub(requests_size + COUNT_LEN);
        let claims_budget = if found.candidates.is_empty() {
            room
        } else {
            room.min(budget / 2)
        };
        let answered = answer_summaries(&self.state, &ranges.summaries, claims_budget, start);
        let deltas_budget = budget.saturating_sub(requests_size + answered.encoded_len());
        let deltas = build_deltas(&self.state, &found.candidates, deltas_budget);
        let used = COUNT_LEN + deltas.iter().map(NodeDelta::encoded_len).sum::<usize>();
        let (roster, owed) = if limit == ReplyLimit::Proven {
            (
                self.roster_stream(never_seen(&found.candidates, &deltas)),
                Vec::new(),
            )
        } else {
            let owed = never_seen(&found.candidates, &deltas)
                .take(MAX_OWED)
                .map(|candidate| candidate.name)
                .collect();
            (Vec::new(), owed)
        };
        Answer {
            ranges: answered,
            requests,
            deltas,
            room: deltas_budget.saturating_sub(used),
            roster,
            owed,
        }
    }

    /// The roster streamed to a peer that never saw more nodes than one answer holds (a
    /// node joining a large cluster): up to `ROSTER_PACKETS − 1` more packets of the
    /// never-seen nodes the first packet left out (`rest`), so it learns the cluster in a
    /// bounded number of round trips rather than a packet per exchange. Only to a proven
    /// address (the caller's check): this is the one answer larger than a packet.
    fn roster_stream(&self, rest: impl Iterator<Item = DeltaCandidate>) -> Vec<Vec<NodeDelta>> {
        let mut rest: Vec<DeltaCandidate> = rest.collect();
        // A SynAck or Ack with deltas only: empty claims and requests, then the deltas.
        let budget = self
            .body_budget()
            .saturating_sub(RangeClaims::EMPTY_LEN + COUNT_LEN);
        let mut stream = Vec::new();
        while stream.len() + 1 < ROSTER_PACKETS && !rest.is_empty() {
            let more = build_deltas(&self.state, &rest, budget);
            if more.is_empty() {
                break;
            }
            let names: HashSet<&NodeName> = more.iter().map(|delta| &delta.node.name).collect();
            rest.retain(|candidate| !names.contains(&candidate.name));
            stream.push(more);
        }
        stream
    }

    /// After a SynAck to the unproven `from` left out never-seen nodes (`owed`): asks
    /// `from` to prove that it is `sender` — unless a proof is awaited already, or the
    /// probe would take the reply beyond three times what `from` sent (`room` is what is
    /// left) — and keeps what is owed with the proof, to stream once it is proven.
    fn owe_roster(
        &mut self,
        from: SocketAddr,
        sender: &NodeName,
        owed: OwedRoster,
        room: usize,
        now: Instant,
    ) {
        if owed.names.is_empty() {
            return;
        }
        if !self.address_proofs.is_pending(from, now) {
            let sequence = self.rng_sequence();
            let probe = Probe {
                sequence,
                target: NodeTag::of(sender),
                rumors: Vec::new(),
            };
            let timeout = self.config.probe_timeout;
            if self.packet_len(&Message::Probe(probe.clone())) > room
                || !self
                    .address_proofs
                    .ask(sender, from, sequence, timeout, now)
            {
                return;
            }
            self.send(from, Message::Probe(probe));
        }
        self.address_proofs.owe(from, owed);
    }

    /// `name` proved that it holds `address`: its replies are no longer held to what it
    /// sends, and what was owed to it streams now.
    pub(super) fn proven(
        &mut self,
        name: &NodeName,
        address: SocketAddr,
        owed: Option<OwedRoster>,
    ) {
        let Some(mut node) = self.state.get_mut(name) else {
            return;
        };
        if node.address() != address {
            return;
        }
        node.prove_address();
        drop(node);
        let Some(owed) = owed else {
            return;
        };
        let rest = owed.names.into_iter().filter_map(|name| {
            self.state.contains_key(&name).then_some(DeltaCandidate {
                name,
                lag: Lag::NeverSeen,
                from_version: Version(0),
                missing: 0,
            })
        });
        let stream = self.roster_stream(rest);
        for deltas in stream {
            let message = Message::SynAck(SynAck {
                deltas,
                ..SynAck::default()
            });
            self.send(address, message);
        }
    }

    /// Sends `message` in the oldest wire version if that says all of it (every node reads
    /// it), else in the current one: only range claims need the current version, and they
    /// answer range claims, which only a node of the current version sends. Syns choose
    /// their version in `send_syn`.
    fn send(&mut self, destination: SocketAddr, message: Message) {
        let version = if message.fits_version(WireVersion::OLDEST) {
            WireVersion::OLDEST
        } else {
            WireVersion::CURRENT
        };
        self.send_as(destination, message, version);
    }

    fn send_as(&mut self, destination: SocketAddr, message: Message, wire_version: WireVersion) {
        let packet = Packet {
            header: self.header.clone(),
            message,
        };
        let kind = packet.message.kind();
        let len = packet.encoded_len_as(wire_version);
        self.stats.messages_sent.add(kind, 1);
        self.stats.bytes_sent.add(kind, len as u64);
        trace!(%destination, kind = kind.name(), len, %wire_version, "send");
        self.transmits.push_back(Transmit {
            destination,
            packet,
            wire_version,
        });
    }

    /// Encoded bytes of `message` sent by this node in the current version, an upper bound
    /// for every version but a Syn's.
    fn packet_len(&self, message: &Message) -> usize {
        self.header.encoded_len() + 1 + message.body_len()
    }

    /// Encoded bytes of `message` sent by this node in `version`.
    fn packet_len_as(&self, message: &Message, version: WireVersion) -> usize {
        Packet {
            header: self.header.clone(),
            message: message.clone(),
        }
        .encoded_len_as(version)
    }

    /// Bytes available for a message body: the packet minus header and kind byte.
    fn body_budget(&self) -> usize {
        self.config
            .max_packet_size
            .saturating_sub(self.header.encoded_len() + 1)
    }

    // ----- merging remote knowledge -----

    /// A digest entry is a fact about (node, generation): its incarnation and status. Newer
    /// generations and records arrive only in deltas, which carry the node's address.
    fn observe_digest_entry(
        &mut self,
        entry: &DigestEntry,
        teller: Teller,
        now: Instant,
        batch: &mut EventBatch,
    ) {
        if entry.name == self.identity.name {
            let claim = Claim {
                generation: entry.generation,
                incarnation: entry.incarnation,
                max_version: entry.max_version,
                gc_watermark: entry.gc_watermark,
                status: entry.status,
                address: None,
                asked: teller == Teller::Asked,
            };
            self.check_claim_about_self(&claim, now);
            return;
        }
        self.observe_fact(&entry.name, IncarnationFact::from_entry(entry), now, batch);
    }

    /// Takes an incarnation (and status and watermark) of a known peer's generation, from a
    /// digest entry or first-hand from a packet header. Other generations are left to
    /// deltas.
    fn observe_fact(
        &mut self,
        name: &NodeName,
        fact: IncarnationFact,
        now: Instant,
        batch: &mut EventBatch,
    ) {
        let Some(mut node) = self.state.get_mut(name) else {
            return;
        };
        let mut observer = Observer {
            membership: &mut self.membership,
            news: &mut self.news,
            rumors: &mut self.rumors,
            stats: &mut self.stats,
        };
        observer.observe(name, &mut node, fact, now, batch);
    }

    /// Observes a digest page's entries (their incarnations and statuses).
    fn observe_page(
        &mut self,
        digest: &Digest,
        teller: Teller,
        now: Instant,
        batch: &mut EventBatch,
    ) {
        for entry in &digest.entries {
            self.observe_digest_entry(entry, teller, now, batch);
        }
    }

    fn apply_deltas(
        &mut self,
        deltas: &[NodeDelta],
        teller: Teller,
        now: Instant,
        batch: &mut EventBatch,
    ) {
        for delta in deltas {
            self.apply_delta(delta, teller, now, batch);
        }
    }

    fn apply_delta(
        &mut self,
        delta: &NodeDelta,
        teller: Teller,
        now: Instant,
        batch: &mut EventBatch,
    ) {
        let name = &delta.node.name;
        if *name == self.identity.name {
            let claim = Claim {
                generation: delta.node.generation,
                incarnation: delta.incarnation,
                max_version: delta.to_version,
                gc_watermark: delta.gc_watermark,
                status: delta.status,
                address: Some(delta.node.address),
                asked: teller == Teller::Asked,
            };
            self.check_claim_about_self(&claim, now);
            return;
        }
        if self
            .quarantine
            .holds(name, delta.node.generation, delta.incarnation)
        {
            self.stats.ignored_quarantined += 1;
            return;
        }
        // A restart, or a refutation that proves the removed peer alive: welcome back.
        self.quarantine.lift(name);
        // One lookup for the common case, a delta of an incarnation we know.
        let Some(known) = self.state.get(name).map(NodeState::generation) else {
            return self.adopt_incarnation(delta, Some(teller), now, batch);
        };
        if delta.node.generation > known {
            return self.adopt_restart(delta, now, batch);
        }
        if delta.node.generation < known {
            self.stats.stale_generation += 1;
            return;
        }
        let limits = RecordLimits {
            max_keys: self.config.max_keys_per_node,
            bytes_left: self.remote_bytes_left(),
        };
        let Some(mut node) = self.state.get_mut(name) else {
            return;
        };
        let mut observer = Observer {
            membership: &mut self.membership,
            news: &mut self.news,
            rumors: &mut self.rumors,
            stats: &mut self.stats,
        };
        observer.merge_same_generation(name, &mut node, delta, limits, now, batch);
    }

    /// Bytes the state of other nodes may still grow by under `max_remote_bytes`.
    fn remote_bytes_left(&self) -> usize {
        self.config
            .max_remote_bytes
            .saturating_sub(self.remote_bytes())
    }

    /// Bytes the state of other nodes is accounted at.
    fn remote_bytes(&self) -> usize {
        let own = entry_bytes(&self.identity.name, self.own_state());
        self.state.held_bytes().saturating_sub(own)
    }

    /// Starts tracking a node seen for the first time (`introduced_by` who told of it) or
    /// restarted with a new generation (`None`).
    fn adopt_incarnation(
        &mut self,
        delta: &NodeDelta,
        introduced_by: Option<Teller>,
        now: Instant,
        batch: &mut EventBatch,
    ) {
        let restarted = introduced_by.is_none();
        if !self.horizon.admits(delta.node.generation, now) {
            self.stats.ignored_implausible_generations += 1;
            return;
        }
        if !is_routable(delta.node.address) {
            // Gossip sent there would go nowhere, or to everyone on a segment: forged or
            // misconfigured, never adopted.
            self.stats.dropped_unroutable_address += 1;
            return;
        }
        if delta.from_version > Version(0) {
            // We hold nothing of this incarnation: anything but a delta from the start
            // would leave a gap. Its owner or another peer will send one.
            self.stats.dropped_gap_deltas += 1;
            return;
        }
        if (!restarted && self.state.len() >= self.config.max_nodes)
            || delta.records.len() > self.config.max_keys_per_node
        {
            self.stats.dropped_over_limit += 1;
            return;
        }
        let name = delta.node.name.clone();
        let mut node = NodeState::new(delta.node.clone(), delta.incarnation);
        let replaced = self
            .state
            .get(&name)
            .map_or(0, |old| entry_bytes(&name, old));
        let cost = entry_bytes(&name, &node)
            .saturating_add(node.growth_in_bytes(delta))
            .saturating_sub(replaced);
        if cost > self.remote_bytes_left() {
            self.stats.dropped_over_budget += 1;
            return;
        }
        if let Some(Teller::Unasked(from)) = introduced_by
            && !self.introductions.admit(from, now)
        {
            self.stats.refused_introductions += 1;
            return;
        }
        node.observe_status(delta.status);
        // Nothing held, nothing to drop: a delta from version 0 is a reset already.
        node.begin_reset(delta.gc_watermark);
        let applied = match node.apply(delta) {
            Ok(applied) => applied,
            Err(_) => {
                self.stats.dropped_unordered_deltas += 1;
                return;
            }
        };
        // The old incarnation's health goes with it; the new one's is judged afresh.
        let previous = self
            .state
            .get_mut(&name)
            .and_then(|mut old| old.set_health_slot(None))
            .and_then(|slot| self.membership.untrack(slot));
        self.rumors.forget(&name);
        if delta.status != NodeStatus::Left {
            node.set_health_slot(self.membership.track_live(&name, now));
        }
        self.state.insert(name.clone(), node);
        self.news.changed(&name);
        if let Some(owed) = self
            .address_proofs
            .take_early(&name, delta.node.address, now)
        {
            self.proven(&name, delta.node.address, owed);
        }
        if restarted {
            info!(node = %self.identity.name, peer = %delta.node, "peer restarted");
            batch.restarted(name.clone(), delta.node.generation);
            if delta.status != NodeStatus::Left
                && matches!(previous, Some(MemberState::Suspect | MemberState::Dead))
            {
                batch.recovered(name.clone());
            }
        } else {
            info!(node = %self.identity.name, peer = %delta.node, "peer discovered");
            batch.discovered(name.clone());
        }
        if delta.status == NodeStatus::Left {
            // An incarnation that already left: say so, or the application, told only
            // of a discovery or restart, would take it for a live member.
            self.mark_left(&name, now, batch);
        }
        report_applied(&mut self.stats, &name, applied, batch);
    }

    // ----- claims about this node -----

    /// Only this node writes its state, so a peer's claim of a newer generation, incarnation,
    /// version or watermark of it, or of a leave it never announced, is false (forged, or
    /// a bug). Peers may believe it and
    /// stop taking this node's true state; it is ignored, counted, and answered by
    /// re-asserting: this node takes a generation above the claim, which every peer takes
    /// in place of what it held, with its own records at their versions. At most once per
    /// [`REASSERT_INTERVAL`] gossip intervals, so a stream of false claims causes a
    /// bounded number of new generations.
    fn check_claim_about_self(&mut self, claim: &Claim, now: Instant) {
        if !self.horizon.admits(claim.generation, now) {
            self.stats.ignored_implausible_generations += 1;
            return;
        }
        let own = self.own_state();
        let generation = own.generation();
        let false_claim = claim.generation > generation
            || (claim.generation == generation
                && (claim.incarnation > own.incarnation()
                    || claim.max_version > own.max_version()
                    || claim.gc_watermark > own.gc_watermark()
                    || claim.status > own.status()));
        if !false_claim {
            return;
        }
        self.stats.ignored_claims_about_self += 1;
        if claim.generation > generation && !claim.asked {
            // Peers take a newer generation of a live member only on its own word (see
            // `restart_claims.rs`): told unasked, the claim may be a forger's alone, and
            // refuting it would be the restart the forger wants peers to see. Refuted
            // when a peer this node calls holds it.
            return;
        }
        if claim.generation > generation {
            // Before refuting, make sure no live process under this name answers where the
            // claim puts it (see `duplicates.rs`).
            let own_address = self.identity.address;
            let elsewhere = claim
                .address
                .filter(|address| *address != own_address && is_routable(*address));
            match self.duplicates.judge(elsewhere, claim.generation, now) {
                Verdict::Wait => return,
                Verdict::Probe => {
                    if let Some(address) = elsewhere {
                        self.check_for_duplicate(address, now);
                    }
                    return;
                }
                Verdict::Refute => {}
            }
        }
        let interval = self.config.gossip_interval * REASSERT_INTERVAL;
        if self
            .last_reassertion
            .is_some_and(|last| now.saturating_duration_since(last) < interval)
        {
            return;
        }
        // The horizon admits nothing at u64::MAX, so this never saturates.
        let Some(next) = claim.generation.max(generation).0.checked_add(1) else {
            return;
        };
        let next = Generation(next);
        self.last_reassertion = Some(now);
        self.become_generation(next);
    }

    /// Probes `address`, where a claim puts a newer generation of this node's name, as
    /// this node: a process under the same name there will answer.
    fn check_for_duplicate(&mut self, address: SocketAddr, now: Instant) {
        let sequence = self.rng_sequence();
        let probe = Probe {
            sequence,
            target: NodeTag::of(&self.identity.name),
            rumors: Vec::new(),
        };
        self.duplicates
            .probing(address, sequence, self.config.probe_timeout, now);
        self.send(address, Message::Probe(probe));
    }

    /// A datagram under this node's name from another address: a duplicate check's probe
    /// (answered, and the prober reported) or its answer (the duplicate confirmed and
    /// reported); anything else is dropped by the caller.
    fn on_datagram_under_own_name(&mut self, from: SocketAddr, packet: &Packet, now: Instant) {
        let other = Duplicate {
            address: from,
            generation: packet.header.generation,
        };
        match &packet.message {
            Message::Probe(probe) if probe.target == NodeTag::of(&self.identity.name) => {
                // A bare ack: smaller than the probe, so no reflection.
                let ack = ProbeAck {
                    sequence: probe.sequence,
                    reached: true,
                    rumors: Vec::new(),
                };
                self.send(from, Message::ProbeAck(ack));
                self.report_duplicate(other, now);
            }
            Message::ProbeAck(ack) if ack.reached => {
                let valid_for = self.config.gossip_interval * REASSERT_INTERVAL;
                if let Some(duplicate) =
                    self.duplicates
                        .answered(ack.sequence, from, other.generation, valid_for, now)
                {
                    self.report_duplicate(duplicate, now);
                }
            }
            _ => {}
        }
    }

    /// Reports another live process under this node's name, at most once a minute.
    fn report_duplicate(&mut self, duplicate: Duplicate, now: Instant) {
        if !self.duplicates.report(now) {
            return;
        }
        warn!(
            node = %self.identity.name,
            other = %duplicate.address,
            generation = duplicate.generation.0,
            "another process answers under this node's name: stop one of the two"
        );
        self.stats.duplicate_names += 1;
        self.events.push_back(Event::DuplicateName {
            address: duplicate.address,
            generation: duplicate.generation,
        });
    }

    /// Moves this node to `generation`, keeping its records (versions, tombstones and
    /// deadlines) and incarnation; peers replace the old generation with it.
    fn become_generation(&mut self, generation: Generation) {
        info!(node = %self.identity.name, generation = generation.0, "false claim about this node: re-asserting under a new generation");
        let own = self.own_state();
        let records: Vec<(Key, Versioned)> = own
            .records_after(Version(0))
            .map(|record| {
                let versioned = Versioned {
                    version: record.version,
                    value: record.value,
                };
                (record.key, versioned)
            })
            .collect();
        let max_version = own.max_version();
        let incarnation = own.incarnation();
        let status = own.status();
        self.identity.generation = generation;
        self.header.generation = generation;
        let mut reborn = NodeState::new(self.identity.clone(), incarnation);
        reborn.observe_status(status);
        reborn.restore(records, max_version);
        self.state.insert(self.identity.name.clone(), reborn);
        self.news.changed(&self.identity.name);
        self.stats.reassertions += 1;
        self.new_generation = Some(generation);
    }

    // ----- garbage collection -----

    /// Every half grace period, drops this node's own tombstones older than the grace
    /// period and raises its watermark over them. In steps, not continuously: a peer's
    /// reset restarts whenever the watermark rises, so a multi-packet reset needs the
    /// watermark to stay put for a while (here half a grace period).
    fn collect_own_tombstones(&mut self, now: Instant) {
        if now < self.next_collection {
            return;
        }
        let grace = self.config.tombstone_grace;
        self.next_collection = now + grace / 2;
        let mut through = None;
        while let Some((version, written)) = self.own_tombstones.front().copied() {
            if now.saturating_duration_since(written) < grace {
                break;
            }
            self.own_tombstones.pop_front();
            through = Some(version);
        }
        let Some(through) = through else {
            return;
        };
        let collected = self.own_state_mut().collect_tombstones(through);
        debug!(node = %self.identity.name, watermark = through.0, collected = collected.len(), "collected own tombstones");
        self.stats.tombstones_collected += collected.len() as u64;
        self.collected.extend(collected);
        self.news.changed(&self.identity.name);
    }

    /// Removes peers dead or departed for `remove_after`, and quarantines them.
    fn remove_departed(
        &mut self,
        departed: Vec<(NodeName, Generation, Incarnation)>,
        now: Instant,
        batch: &mut EventBatch,
    ) {
        for (name, generation, incarnation) in departed {
            info!(node = %self.identity.name, peer = %name, "peer removed");
            let Some(mut removed) = self.state.remove(&name) else {
                continue;
            };
            if let Some(slot) = removed.set_health_slot(None) {
                self.membership.untrack(slot);
            }
            self.news.forget(&name);
            self.rumors.forget(&name);
            let release = now + self.config.quarantine;
            self.quarantine.insert(
                name.clone(),
                generation,
                incarnation,
                removed.address(),
                release,
            );
            self.stats.peers_removed += 1;
            batch.removed(name);
        }
    }

    // ----- failure detection -----

    fn mark_left(&mut self, name: &NodeName, now: Instant, batch: &mut EventBatch) {
        if let Some(mut node) = self.state.get_mut(name) {
            self.membership
                .record_departure(name, &mut node, now, batch);
        }
    }

    /// Judges every peer (live → suspect → dead), and returns those dead or departed for
    /// `remove_after`, to be removed, with the incarnation each was removed at.
    fn check_health(
        &mut self,
        now: Instant,
        batch: &mut EventBatch,
    ) -> Vec<(NodeName, Generation, Incarnation)> {
        let rumors = &self.rumors;
        let expired = self
            .membership
            .check(now, |name| rumors.corroborating(name, now), batch);
        expired
            .into_iter()
            .filter_map(|name| {
                let node = self.state.get(&name)?;
                Some((name, node.generation(), node.incarnation()))
            })
            .collect()
    }

    /// Our own timers fired `pause` late: we were stalled, not our peers.
    fn forgive_local_pause(&mut self, pause: Duration) {
        self.stats.local_pauses += 1;
        self.membership.forgive_local_pause(pause);
        self.monitor.forgive_local_pause(pause);
    }

    // ----- helpers -----

    /// Applies a committed own write whose turn has come (every lower version is applied
    /// or abandoned).
    fn apply_own_write(&mut self, write: PreparedWrite) {
        let PreparedWrite {
            key,
            version,
            value,
            deadline,
            ..
        } = write;
        self.expiries.cancel(&key);
        if value.is_none() {
            self.own_tombstones.push_back((version, self.clock));
        } else if let Some(deadline) = deadline {
            self.expiries.insert(key.clone(), version, deadline);
        }
        self.own_state_mut().write_at(key, value, version);
        self.news.changed(&self.identity.name);
    }

    fn ensure_writable(&self) -> Result<(), WriteError> {
        if self.own_state().status() == NodeStatus::Left {
            return Err(WriteError::Left);
        }
        Ok(())
    }

    /// Whether the health table tracks exactly the peers whose entries point into it,
    /// under their names, with a census that matches a recount. Debug builds check it
    /// every gossip round.
    fn health_is_consistent(&self) -> bool {
        let mut pointed = 0;
        for (name, node) in self.state.iter() {
            if let Some(slot) = node.health_slot() {
                if self.membership.health().name(slot) != Some(name) {
                    return false;
                }
                pointed += 1;
            }
        }
        let health = self.membership.health();
        pointed == health.names().count() && health.census() == health.recount()
    }

    /// What this node knows of the node called `name` (`None`: an invalid name, or one
    /// not known).
    fn peer_state(&self, name: &str) -> Option<&NodeState> {
        self.state.get(&NodeName::new(name).ok()?)
    }

    fn own_state(&self) -> &NodeState {
        // The own entry is inserted in `new` and never removed.
        self.state
            .get(&self.identity.name)
            .unwrap_or_else(|| unreachable!("own state is always present"))
    }

    fn own_state_mut(&mut self) -> NodeMut<'_> {
        self.state
            .get_mut(&self.identity.name)
            .unwrap_or_else(|| unreachable!("own state is always present"))
    }
}

/// Gossip intervals between two re-assertions of a node against false claims about it.
pub const REASSERT_INTERVAL: u32 = 10;

/// What a peer says of this node's own incarnation.
struct Claim {
    generation: Generation,
    incarnation: Incarnation,
    max_version: Version,
    gc_watermark: Version,
    status: NodeStatus,
    /// Where the claim puts this node, if it says (deltas do, digest entries do not).
    address: Option<SocketAddr>,
    /// Whether it came in an answer to a Syn this node sent: what a peer it called holds.
    asked: bool,
}

/// Counts of what a node holds, from [`Node::footprint`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Nodes in state, this one included (live, suspect, dead and left).
    pub nodes: usize,
    /// Records held for all of them, tombstones and a pending reset's old view included.
    pub records: usize,
    /// Bytes the state of the other nodes is accounted at, held to `max_remote_bytes`:
    /// their names, keys and values and the fixed size of the structures holding them.
    pub remote_bytes: usize,
    /// Removed incarnations in quarantine.
    pub quarantined: usize,
    /// Own tombstones awaiting garbage collection.
    pub own_tombstones: usize,
    /// Own keys with a pending time-to-live deadline.
    pub expiries: usize,
    /// Slots of the health table, in use or free for reuse: the most peers tracked at
    /// once so far.
    pub health_slots: usize,
    /// Addresses whose Syns come in an older wire version than this node's: nodes not yet
    /// upgraded, during a rolling upgrade (`docs/OPERATIONS.md`, "Upgrades").
    pub older_wire_peers: usize,
}

/// The never-seen `candidates` that `sent` left out.
fn never_seen<'a>(
    candidates: &'a [DeltaCandidate],
    sent: &[NodeDelta],
) -> impl Iterator<Item = DeltaCandidate> + 'a {
    let sent: HashSet<NodeName> = sent.iter().map(|delta| delta.node.name.clone()).collect();
    candidates
        .iter()
        .filter(move |candidate| candidate.lag == Lag::NeverSeen && !sent.contains(&candidate.name))
        .cloned()
}

/// Whether gossip can be addressed to `address`: a port, and an IP address that names one
/// host (not unspecified, multicast or the IPv4 broadcast address).
fn is_routable(address: SocketAddr) -> bool {
    let ip = address.ip();
    let broadcast = matches!(ip, std::net::IpAddr::V4(v4) if v4.is_broadcast());
    address.port() != 0 && !ip.is_unspecified() && !ip.is_multicast() && !broadcast
}

/// `seeds` sorted, without duplicates and without `own`.
fn seed_list(seeds: impl IntoIterator<Item = SocketAddr>, own: SocketAddr) -> Vec<SocketAddr> {
    let mut seeds: Vec<SocketAddr> = seeds.into_iter().filter(|seed| *seed != own).collect();
    seeds.sort();
    seeds.dedup();
    seeds
}

/// Probe intervals during which the alerters of a refuted incarnation still corroborate a
/// new alert: long enough for a flaky host's observers to alert again after each of its
/// refutations (a few intervals), short enough that a healthy node under heavy loss
/// rarely collects `corroboration` chance alerts in that time.
const REFUTED_ALERTS_MEMORY: u32 = 10;

/// How much a reply may take (see `address_proof.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReplyLimit {
    /// The destination proved it holds its address: a packet, or a roster stream of
    /// several.
    Proven,
    /// One packet's worth: three times what was received is as much, or this node chose
    /// to call the destination.
    Packet,
    /// At most these bytes, header included.
    Bytes(usize),
}

/// A SynAck or Ack, which are answered alike (with the other kind).
struct ExchangeStep {
    ranges: RangeClaims,
    requests: Vec<DigestEntry>,
    deltas: Vec<NodeDelta>,
    /// Answered with an Ack (this node opened the exchange), else with a SynAck.
    answer_with_ack: bool,
    /// Whether its never-seen nodes were asked for.
    teller: Teller,
}

/// Who tells this node of the nodes in the deltas it applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Teller {
    /// The answer to a Syn this node sent: a roster it asked for.
    Asked,
    /// Anything else: the sender address's introductions are limited.
    Unasked(SocketAddr),
}

/// What a node says back in one step of an exchange.
struct Answer {
    ranges: RangeClaims,
    requests: Vec<DigestEntry>,
    deltas: Vec<NodeDelta>,
    /// Bytes left in the packet after the deltas.
    room: usize,
    /// Further packets of never-seen nodes, deltas only (see `roster_stream`).
    roster: Vec<Vec<NodeDelta>>,
    /// Never-seen nodes left out of an answer to an unproven address: owed to it once
    /// proven (see `owe_roster`).
    owed: Vec<NodeName>,
}

impl Answer {
    fn is_empty(&self) -> bool {
        self.ranges.is_empty() && self.requests.is_empty() && self.deltas.is_empty()
    }
}

/// Most packets one answer takes when it streams the roster to a peer that never saw
/// most of the cluster (see `Node::roster_stream`): 8 × about 35 never-seen nodes.
const ROSTER_PACKETS: usize = 8;

/// News items a responder pushes unasked in one SynAck.
const MAX_NEWS_PUSHES: usize = 8;
/// Versions of each pushed news item: enough for a peer that missed the last few writes.
const NEWS_PUSH_VERSIONS: u64 = 4;

/// A name of the greatest allowed length, for worst-case sizing.
fn worst_case_name() -> NodeName {
    NodeName::new("n".repeat(leviathan_gossip_wire::MAX_NAME_LEN))
        .unwrap_or_else(|_| unreachable!("a maximal ASCII name is valid"))
}
