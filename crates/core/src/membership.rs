//! Who is live: the rules that judge every peer as the failure detector and announcements
//! see it (the vocabulary, [`MemberState`] and [`Health`], is in `member.rs`).
//!
//! [`Membership`] owns the rules: the φ-accrual detector, every peer's [`Health`] in the
//! health table, and the periodic check that moves peers from live to suspect to dead to
//! removal. [`Observer`] is how facts about a peer's incarnation (from digests, headers and
//! deltas) reach both the peer's replicated state and its health.

use std::time::{Duration, Instant};

use leviathan_gossip_wire::{NodeDelta, NodeName, Record};
use tracing::{debug, info};

use crate::config::NodeConfig;
use crate::event::{EventBatch, Update};
use crate::failure_detector::{FailureDetector, PhiAccrualDetector};
use crate::health_check::{HealthCheck, Verdict};
use crate::health_table::{HealthSlot, HealthTable};
use crate::member::{Health, MemberState};
use crate::news::NewsQueue;
use crate::state::{IncarnationFact, InvalidDelta, NodeState};
use crate::stats::Stats;

/// This node's judgement of every peer's liveness, and the membership events it raises.
#[derive(Debug)]
pub(crate) struct Membership {
    /// This node's name, for logs.
    own: NodeName,
    detector: PhiAccrualDetector,
    health: HealthTable,
    rules: HealthCheck,
}

impl Membership {
    /// No peers yet; the detector's clock starts at `now`.
    pub(crate) fn new(config: &NodeConfig, own: NodeName, now: Instant) -> Self {
        Membership {
            own,
            detector: PhiAccrualDetector::new(config.phi.clone(), now)
                .with_usual_threshold(config.phi_threshold),
            health: HealthTable::default(),
            rules: HealthCheck::new(config),
        }
    }

    /// Every tracked peer's health.
    pub(crate) fn health(&self) -> &HealthTable {
        &self.health
    }

    /// A peer's state and φ at `now` (φ `None` for a peer that left).
    pub(crate) fn judgement(&self, slot: &HealthSlot, now: Instant) -> Option<(MemberState, f64)> {
        let health = self.health.health(slot)?;
        Some((health.state, self.detector.phi(&health.arrivals, now)))
    }

    /// Starts judging a new incarnation, live as heard from at `now`.
    pub(crate) fn track_live(&mut self, name: &NodeName, now: Instant) -> Option<HealthSlot> {
        let health = Health::new(MemberState::Live, self.detector.first_arrival(now));
        self.health.track(name.clone(), health)
    }

    /// Stops judging the incarnation in `slot` (replaced or removed); returns the state it
    /// was in.
    pub(crate) fn untrack(&mut self, slot: HealthSlot) -> Option<MemberState> {
        self.health.untrack(slot).map(|health| health.state)
    }

    /// `name` announced it left: its health says so from now on.
    pub(crate) fn record_departure(
        &mut self,
        name: &NodeName,
        node: &mut NodeState,
        now: Instant,
        batch: &mut EventBatch,
    ) {
        info!(node = %self.own, peer = %name, "peer left");
        let left = Health::new(MemberState::Left, self.detector.first_arrival(now));
        match node.health_slot() {
            Some(slot) => {
                self.health.update(slot, |health| *health = left);
            }
            None => {
                node.set_health_slot(self.health.track(name.clone(), left));
            }
        }
        batch.left(name.clone());
    }

    /// A heartbeat of `name` grew: feed the detector, and a suspected or dead peer recovers.
    fn record_arrival(
        &mut self,
        name: &NodeName,
        slot: &HealthSlot,
        now: Instant,
        batch: &mut EventBatch,
    ) {
        let detector = &mut self.detector;
        let recovered = self.health.update(slot, |health| {
            if health.state == MemberState::Left {
                return false;
            }
            detector.arrival(&mut health.arrivals, now);
            let unreachable = matches!(health.state, MemberState::Suspect | MemberState::Dead);
            health.state = MemberState::Live;
            unreachable
        });
        if recovered == Some(true) {
            info!(node = %self.own, peer = %name, "peer recovered");
            batch.recovered(name.clone());
        }
    }

    /// What a fact or delta taught about `name`'s liveness: it left, or it is alive.
    fn record_signs(
        &mut self,
        name: &NodeName,
        node: &mut NodeState,
        left: bool,
        heartbeat_grew: bool,
        now: Instant,
        batch: &mut EventBatch,
    ) {
        if left {
            self.record_departure(name, node, now, batch);
        } else if heartbeat_grew && let Some(slot) = node.health_slot() {
            self.record_arrival(name, slot, now, batch);
        }
    }

    /// Judges every peer (live → suspect → dead), and returns those dead or departed for
    /// `remove_after`, to be removed: one pass over the health table for both.
    pub(crate) fn check(&mut self, now: Instant, batch: &mut EventBatch) -> Vec<NodeName> {
        let now_ms = self.detector.millis_since_epoch(now);
        let mut expired = Vec::new();
        let (rules, detector, own) = (&self.rules, &self.detector, &self.own);
        self.health.update_all(
            |name, health| match rules.judge(detector, health, now, now_ms) {
                Verdict::Unchanged => {}
                Verdict::Suspected => {
                    // φ is computed only if the event is logged: a large cluster forming
                    // raises millions of suspicions.
                    info!(
                        node = %own,
                        peer = %name,
                        phi = detector.phi(&health.arrivals, now),
                        "peer suspected"
                    );
                    batch.suspected(name.clone());
                }
                Verdict::Dead => {
                    info!(node = %own, peer = %name, "peer dead");
                    batch.dead(name.clone());
                }
                Verdict::Expired => expired.push(name.clone()),
            },
        );
        expired
    }

    /// Our own timers fired `pause` late: we were stalled, not our peers. Shift every
    /// peer's silence (and with it the suspicion clock, kept relative to the last
    /// arrival) by the stall.
    pub(crate) fn forgive_local_pause(&mut self, pause: Duration) {
        debug!(node = %self.own, ?pause, "local pause detected; forgiving it to peers");
        let detector = &self.detector;
        self.health
            .update_all(|_, health| detector.local_pause(&mut health.arrivals, pause));
    }
}

/// What taking a fact or a delta about a peer's incarnation touches besides the peer's own
/// state: borrowed apart from the cluster state, so a walk over the state can use it.
pub(crate) struct Observer<'a> {
    pub(crate) membership: &'a mut Membership,
    pub(crate) news: &'a mut NewsQueue,
    pub(crate) stats: &'a mut Stats,
}

impl Observer<'_> {
    /// Takes `fact` about `node` (called `name`), if it is about the incarnation we know.
    pub(crate) fn observe(
        &mut self,
        name: &NodeName,
        node: &mut NodeState,
        fact: IncarnationFact,
        now: Instant,
        batch: &mut EventBatch,
    ) {
        if fact.generation != node.generation() {
            if fact.generation < node.generation() && fact.generation.0 > 0 {
                self.stats.stale_generation += 1;
            }
            return;
        }
        let heartbeat_grew = node.observe_heartbeat(fact.heartbeat);
        let left = fact
            .status
            .is_some_and(|status| node.observe_status(status));
        // A higher watermark: if we hold every record up to it, drop our tombstones below
        // it. (If not, `compare` asks for a reset.)
        if let Some(watermark) = fact.gc_watermark.filter(|w| *w > node.gc_watermark()) {
            let collected = node.collect_tombstones(watermark);
            self.stats.tombstones_collected += collected.len() as u64;
            if node.gc_watermark() == watermark {
                self.news.changed(name);
            }
        }
        if left {
            self.news.changed(name);
        }
        self.membership
            .record_signs(name, node, left, heartbeat_grew, now, batch);
    }

    /// Merges a delta of the incarnation of `name` we know (`node`, same generation).
    pub(crate) fn merge_same_generation(
        &mut self,
        name: &NodeName,
        node: &mut NodeState,
        delta: &NodeDelta,
        max_keys: usize,
        now: Instant,
        batch: &mut EventBatch,
    ) {
        // Heartbeat and status are facts about the incarnation, valid even when the
        // records would leave a gap.
        let heartbeat_grew = node.observe_heartbeat(delta.heartbeat);
        let left = node.observe_status(delta.status);
        let watermark_before = node.gc_watermark();
        let applied = match node.merge_records(delta, max_keys, self.stats) {
            Ok(applied) => applied,
            Err(InvalidDelta::Gap) => {
                self.stats.dropped_gap_deltas += 1;
                Vec::new()
            }
            Err(InvalidDelta::Unordered) => {
                self.stats.dropped_unordered_deltas += 1;
                Vec::new()
            }
        };
        if left || !applied.is_empty() || node.gc_watermark() != watermark_before {
            self.news.changed(name);
        }
        self.membership
            .record_signs(name, node, left, heartbeat_grew, now, batch);
        report_applied(self.stats, name, applied, batch);
    }
}

/// Reports what a merge changed for the application, as events.
pub(crate) fn report_applied(
    stats: &mut Stats,
    node: &NodeName,
    applied: Vec<Record>,
    batch: &mut EventBatch,
) {
    stats.records_applied += applied.len() as u64;
    for record in applied {
        match record.value {
            Some(value) => batch.updated(Update {
                node: node.clone(),
                key: record.key,
                value,
                version: record.version,
            }),
            None => batch.deleted(node.clone(), record.key, record.version),
        }
    }
}
