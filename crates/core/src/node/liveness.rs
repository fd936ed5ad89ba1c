//! The node's failure detection: probes and their answers, relayed probes, rumours of
//! alerts and refutations, and the corroboration that turns alerts into suspicion.
//!
//! The pieces live apart — who watches whom (`rings.rs`), the probing and checks
//! (`monitor.rs`), the rumours (`rumors.rs`), the member states (`membership.rs`); this
//! file is where the node feeds them its packets and its clock, and acts on what they say.

use std::net::SocketAddr;
use std::time::Instant;

use leviathan_gossip_wire::{
    Header, Incarnation, Message, NodeId, NodeName, NodeTag, Probe, ProbeAck, ProbeRequest, Rumor,
};
use tracing::{debug, info};

use super::{Claim, Node, is_routable};
use crate::address_proof::AMPLIFICATION_LIMIT;
use crate::event::EventBatch;
use crate::member::MemberState;
use crate::membership::Observer;
use crate::monitor::Duty;
use crate::peer_selection::{PeerRoster, Roster};
use crate::state::IncarnationFact;

/// Probe intervals an alert may stand unrefuted before it suffices alone.
const UNREFUTED_INTERVALS: u32 = 5;

impl Node {
    /// A probe: answer it if it is meant for this node, with the rumours the prober should
    /// hear (what this node is accused of first, so the prober learns the refutation).
    pub(super) fn on_probe(
        &mut self,
        from: SocketAddr,
        prober: &NodeName,
        probe: Probe,
        received_len: usize,
        now: Instant,
        batch: &mut EventBatch,
    ) {
        self.take_rumors(&probe.rumors, now, batch);
        if probe.target != NodeTag::of(&self.identity.name) {
            self.stats.ignored_probes += 1;
            return;
        }
        let reply_limit = received_len.saturating_mul(AMPLIFICATION_LIMIT);
        self.send_ack(from, Some(prober), probe.sequence, true, reply_limit);
    }

    /// A probe request: probe the target on the requester's behalf.
    pub(super) fn on_probe_request(
        &mut self,
        from: SocketAddr,
        request: ProbeRequest,
        received_len: usize,
        now: Instant,
        batch: &mut EventBatch,
    ) {
        self.take_rumors(&request.rumors, now, batch);
        if request.target.name == self.identity.name || !is_routable(request.target.address) {
            self.stats.ignored_probes += 1;
            return;
        }
        let mut duties = Vec::new();
        let limit = received_len.saturating_mul(AMPLIFICATION_LIMIT);
        self.monitor.relay(
            from,
            request.sequence,
            &request.target,
            limit,
            now,
            &mut duties,
        );
        self.perform(duties, now, batch);
    }

    /// An ack, or a relay's nack; or the answer to a probe that proves a member's address.
    pub(super) fn on_probe_ack(
        &mut self,
        from: SocketAddr,
        header: &Header,
        ack: ProbeAck,
        now: Instant,
        batch: &mut EventBatch,
    ) {
        self.take_rumors(&ack.rumors, now, batch);
        if self.restart_claims.awaits(ack.sequence) {
            if ack.reached {
                self.on_restart_confirmation(from, header, ack.sequence, now, batch);
            }
            return;
        }
        if self.address_proofs.awaits(ack.sequence) {
            if let Some((name, owed)) = self.address_proofs.answered(ack.sequence, from, now)
                && ack.reached
            {
                let known_there = self
                    .state
                    .get(&name)
                    .is_some_and(|node| node.address() == from);
                if known_there {
                    self.proven(&name, from, owed);
                } else {
                    // Its entry is on its way (its own delta answers this node's request).
                    let timeout = self.config.probe_timeout;
                    self.address_proofs
                        .proven_early(name, from, owed, timeout, now);
                }
            }
            return;
        }
        let mut duties = Vec::new();
        self.monitor
            .acked(ack.sequence, ack.reached, now, &mut duties);
        self.perform(duties, now, batch);
    }

    /// The monitor's periodic work: probe rounds, checks, alerts, relays' deadlines.
    pub(super) fn run_monitor(&mut self, now: Instant, batch: &mut EventBatch) {
        let mut duties = Vec::new();
        let peers = PeerRoster {
            state: &self.state,
            health: self.membership.health(),
        };
        let rng = &mut self.rng;
        let state = &self.state;
        let relays = |subject: &NodeName, count: usize| {
            let subject_address = state.get(subject).map(|node| node.address());
            let wanted = (count + 1).min(peers.live_count());
            let ranks = rand::seq::index::sample(rng, peers.live_count(), wanted);
            let (mut addresses, _) = peers.addresses(&ranks.into_vec(), None);
            addresses.retain(|address| Some(*address) != subject_address);
            addresses.truncate(count);
            addresses
        };
        let incarnation_of = |subject: &NodeName| {
            state
                .get(subject)
                .map(|node| (node.generation(), node.incarnation()))
        };
        self.monitor.run(now, relays, incarnation_of, &mut duties);
        self.perform(duties, now, batch);
    }

    /// Sends what the monitor asked for, and raises the alerts of failed checks.
    fn perform(&mut self, duties: Vec<Duty>, now: Instant, batch: &mut EventBatch) {
        for duty in duties {
            match duty {
                Duty::Probe {
                    to,
                    target,
                    sequence,
                    limit,
                } => {
                    let mut probe = Probe {
                        sequence,
                        target: NodeTag::of(&target),
                        rumors: Vec::new(),
                    };
                    let budget = self.rumor_budget_within(&Message::Probe(probe.clone()), limit);
                    probe.rumors = self.rumors.pick(budget, Some(&target));
                    self.send(to, Message::Probe(probe));
                }
                Duty::Request {
                    relay,
                    target,
                    sequence,
                } => {
                    let rumors = self.rumors.pick(self.rumor_budget(), Some(&target.name));
                    let request = ProbeRequest {
                        sequence,
                        target,
                        rumors,
                    };
                    self.send(relay, Message::ProbeRequest(request));
                }
                Duty::Answer {
                    to,
                    sequence,
                    reached,
                    limit,
                } => self.send_ack(to, None, sequence, reached, limit),
                Duty::Alert {
                    subject,
                    generation,
                } => self.raise_alert(&subject, generation, now, batch),
            }
        }
    }

    /// Answers a probe (or a probe request) from `to`, sent by `prober` if known: the
    /// accusation about the prober, if any, goes first, so a suspect that still probes its
    /// subjects hears it at once.
    fn send_ack(
        &mut self,
        to: SocketAddr,
        prober: Option<&NodeName>,
        sequence: u64,
        reached: bool,
        limit: usize,
    ) {
        let mut ack = ProbeAck {
            sequence,
            reached,
            rumors: Vec::new(),
        };
        let budget = self.rumor_budget_within(&Message::ProbeAck(ack.clone()), limit);
        ack.rumors = self.rumors.pick(budget, prober);
        self.send(to, Message::ProbeAck(ack));
    }

    /// Bytes of rumours `bare` (a message without rumours) may carry in a packet of at
    /// most `limit` bytes.
    fn rumor_budget_within(&self, bare: &Message, limit: usize) -> usize {
        let bare_len = self.header.encoded_len() + 1 + bare.body_len();
        // The bare message's own (empty) rumour count is already in `bare_len`.
        self.rumor_budget()
            .min(limit.saturating_sub(bare_len) + leviathan_gossip_wire::COUNT_LEN)
    }

    /// Bytes of rumours one probe, request or ack carries at most: a quarter of a packet,
    /// or half while more than two quarters' worth wait to be spread. Probes and acks are
    /// the bulk of the rumours' carriers (ten a second per node); when many nodes fail at
    /// once (100 of 10,000) the alerts must not queue behind one another for long, while a
    /// few failures cost no more than before.
    pub(super) fn rumor_budget(&self) -> usize {
        let quarter = self.body_budget() / 4;
        if self.rumors.backlog_exceeds(2 * quarter) {
            self.body_budget() / 2
        } else {
            quarter
        }
    }

    /// This node's check of `subject` failed: it alerts about the incarnation it knows.
    fn raise_alert(
        &mut self,
        subject: &NodeName,
        generation: leviathan_gossip_wire::Generation,
        now: Instant,
        batch: &mut EventBatch,
    ) {
        let Some(node) = self.state.get(subject) else {
            return;
        };
        if node.generation() != generation
            || node.status() != leviathan_gossip_wire::NodeStatus::Alive
        {
            return;
        }
        let incarnation = node.incarnation();
        self.stats.alerts_raised += 1;
        debug!(node = %self.identity.name, peer = %subject, incarnation = incarnation.0, "alert: check unanswered");
        let own = NodeTag::of(&self.identity.name);
        let size = self.membership.cluster_size();
        let (count, _) = self
            .rumors
            .alert(subject, generation, incarnation, &[own], size, now);
        self.corroborate(subject, count, now, batch);
    }

    /// Takes the rumours of a received message.
    pub(super) fn take_rumors(&mut self, rumors: &[Rumor], now: Instant, batch: &mut EventBatch) {
        for rumor in rumors {
            self.take_rumor(rumor, now, batch);
        }
    }

    fn take_rumor(&mut self, rumor: &Rumor, now: Instant, batch: &mut EventBatch) {
        if rumor.subject == self.identity.name {
            return self.hear_about_self(rumor, now);
        }
        let Some(mut node) = self.state.get_mut(&rumor.subject) else {
            return;
        };
        if rumor.generation != node.generation() || rumor.incarnation < node.incarnation() {
            return;
        }
        if rumor.incarnation > node.incarnation() {
            // Only the subject raises its incarnation: it refuted what came before.
            let fact = IncarnationFact {
                generation: rumor.generation,
                incarnation: rumor.incarnation,
                status: None,
                gc_watermark: None,
            };
            let mut observer = Observer {
                membership: &mut self.membership,
                news: &mut self.news,
                rumors: &mut self.rumors,
                stats: &mut self.stats,
            };
            observer.observe(&rumor.subject, &mut node, fact, now, batch);
        }
        let alive = node.status() == leviathan_gossip_wire::NodeStatus::Alive;
        drop(node);
        if rumor.alerters.is_empty() || !alive {
            return;
        }
        let size = self.membership.cluster_size();
        let (count, grew) = self.rumors.alert(
            &rumor.subject,
            rumor.generation,
            rumor.incarnation,
            &rumor.alerters,
            size,
            now,
        );
        if grew {
            self.corroborate(&rumor.subject, count, now, batch);
        }
    }

    /// A rumour about this node: an alert about its current incarnation is refuted at once
    /// with a newer one; a claim of an incarnation it never had is a false claim.
    fn hear_about_self(&mut self, rumor: &Rumor, now: Instant) {
        let own = self.own_state();
        if rumor.generation != own.generation() || rumor.incarnation < own.incarnation() {
            return;
        }
        if rumor.incarnation > own.incarnation() {
            let claim = Claim {
                generation: rumor.generation,
                incarnation: rumor.incarnation,
                max_version: own.max_version(),
                gc_watermark: own.gc_watermark(),
                status: own.status(),
                address: None,
                // Rumours travel on anyone's probes; this claim is of this generation.
                asked: false,
            };
            return self.check_claim_about_self(&claim, now);
        }
        if rumor.alerters.is_empty() {
            return;
        }
        let Some(next) = own.incarnation().0.checked_add(1) else {
            return;
        };
        let next = Incarnation(next);
        info!(node = %self.identity.name, incarnation = next.0, alerters = rumor.alerters.len(), "suspected: refuting with a newer incarnation");
        self.stats.refutations += 1;
        self.monitor.doubt_self();
        self.own_state_mut().observe_incarnation(next);
        self.header.incarnation = next;
        self.news.changed(&self.identity.name);
        let size = self.membership.cluster_size();
        let generation = self.identity.generation;
        let name = self.identity.name.clone();
        self.rumors.alive(&name, generation, next, size, now);
    }

    /// `subject` is accused by `alerters` observers: suspect it if that is enough. Fewer
    /// than `corroboration` are enough only when no more can vouch (see
    /// [`Node::corroborate_pending`]).
    fn corroborate(
        &mut self,
        subject: &NodeName,
        alerters: usize,
        now: Instant,
        batch: &mut EventBatch,
    ) {
        if let Some(slot) = self.state.get(subject).and_then(|node| node.health_slot()) {
            self.membership.alerted(slot, now);
        }
        if alerters < self.config.corroboration {
            return;
        }
        self.suspect(subject, alerters, now, batch);
    }

    fn suspect(
        &mut self,
        subject: &NodeName,
        alerters: usize,
        now: Instant,
        batch: &mut EventBatch,
    ) {
        let Some(slot) = self.state.get(subject).and_then(|node| node.health_slot()) else {
            return;
        };
        self.membership.suspect(subject, slot, alerters, now, batch);
    }

    /// Suspects accused live nodes that are corroborated (the alerters of the incarnations
    /// they refuted count too), or have fewer than `corroboration` alerters when that is
    /// all the observers that can vouch: their observers on the rings, less those accused by
    /// others (a small cluster, or several nodes failing at once). Checked every health
    /// check, for nodes still live.
    pub(super) fn corroborate_pending(&mut self, now: Instant, batch: &mut EventBatch) {
        let needed = self.config.corroboration;
        let pending: Vec<(NodeName, usize)> = self
            .rumors
            .accused(now)
            .filter(|(name, _)| {
                self.state
                    .get(*name)
                    .and_then(|node| node.health_slot())
                    .and_then(|slot| self.membership.health().state(slot))
                    == Some(MemberState::Live)
            })
            .map(|(name, count)| (name.clone(), count))
            .collect();
        let own = NodeTag::of(&self.identity.name);
        let rumors = &self.rumors;
        self.observer_cache.retain(|name| rumors.is_accused(name));
        // A live node hears what it is accused of within a probe interval or two and
        // refutes; an alert that stands unrefuted for longer says the node cannot reach
        // this side of the network, whoever else could vouch for it (a partition whose
        // far side holds its other observers). Only a node that reaches others itself
        // concludes so: one cut off alone has poor local health.
        let unrefuted_for = self.config.heartbeat_interval * UNREFUTED_INTERVALS;
        let healthy = self.monitor.local_health().score() <= 1;
        for (subject, count) in pending {
            let unrefuted = healthy
                && self
                    .rumors
                    .accused_since(&subject)
                    .is_some_and(|since| now.saturating_duration_since(since) >= unrefuted_for);
            if count >= needed || unrefuted {
                // Corroborated (the alerters of incarnations it refuted count too), or
                // never answered.
                self.suspect(&subject, count, now, batch);
                continue;
            }
            let members = self
                .membership
                .health()
                .watchable()
                .chain(std::iter::once(&self.identity.name));
            // An observer accused by others cannot vouch; one accused by this node alone
            // still can: a node cut off from everyone would otherwise discount every
            // observer itself and suspect the whole cluster.
            let vouchers = self
                .observer_cache
                .observers_of(&subject, members, self.config.observers)
                .iter()
                .filter(|observer| !self.rumors.is_accused_by_others(observer, own))
                .count();
            if count >= needed.min(vouchers.max(1)) {
                self.suspect(&subject, count, now, batch);
            }
        }
    }

    /// Brings the rings up to date with the peers that came or went, and watches this
    /// node's subjects.
    pub(super) fn update_rings(&mut self, now: Instant) {
        let changes = self.membership.take_ring_changes();
        if changes.is_empty() {
            return;
        }
        self.observer_cache.invalidate();
        let mut changed = false;
        let mut rescan = false;
        for (name, joined) in changes {
            // A watched peer that restarted may have moved: watch its new address.
            changed |= self.monitor.subjects().any(|subject| *subject == name);
            let on_rings = self
                .state
                .get(&name)
                .and_then(|node| node.health_slot())
                .is_some_and(|slot| self.membership.health().is_on_rings(slot));
            if joined && on_rings {
                changed |= self.rings.add(&name);
            } else if !on_rings && self.rings.remove(&name) {
                changed = true;
                rescan = true;
            }
        }
        if rescan {
            self.rings.rescan(self.membership.health().watchable());
        }
        if !changed {
            return;
        }
        // Subjects that left the rings as suspects, or dead after flapping, stay watched.
        let health = self.membership.health();
        let kept: Vec<NodeName> = self
            .monitor
            .subjects()
            .filter(|name| {
                self.state
                    .get(*name)
                    .and_then(|node| node.health_slot())
                    .is_some_and(|slot| health.stays_watched(slot))
            })
            .cloned()
            .collect();
        let mut names = self.rings.subjects();
        for name in kept {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        let subjects: Vec<NodeId> = names
            .into_iter()
            .filter_map(|name| Some(self.state.get(&name)?.node_id(&name)))
            .collect();
        debug!(node = %self.identity.name, subjects = subjects.len(), "watching");
        self.monitor.watch(subjects, now);
    }

    /// A Syn from a peer this node holds suspect or dead at the incarnation its header
    /// names: the peer may not know. A probe carries the accusation to it, at the address
    /// it advertised, so it can refute.
    pub(super) fn warn_if_accused(&mut self, sender: &NodeName, incarnation: Incarnation) {
        let Some(node) = self.state.get(sender) else {
            return;
        };
        let accused = node.incarnation() == incarnation && self.rumors.is_accused(sender);
        if !accused {
            return;
        }
        let address = node.address();
        let sequence = self.rng_sequence();
        let rumors = self.rumors.pick(self.rumor_budget(), Some(sender));
        let probe = Probe {
            sequence,
            target: NodeTag::of(sender),
            rumors,
        };
        self.send(address, Message::Probe(probe));
    }

    /// A sequence for a probe no answer is awaited to.
    pub(super) fn rng_sequence(&mut self) -> u64 {
        use rand::Rng;
        self.rng.random()
    }
}
