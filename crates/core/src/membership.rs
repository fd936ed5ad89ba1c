//! Who is live: the rules that judge every peer from corroborated alerts and
//! announcements (the vocabulary, [`MemberState`] and [`Health`], is in `member.rs`).
//!
//! [`Membership`] owns every peer's [`Health`] in the health table and the periodic check
//! that moves peers from suspect to dead to removal. A peer becomes suspect only when
//! enough of its observers alerted about its current incarnation (`rumors.rs`), and live
//! again only when it refutes them with a newer incarnation or restarts. [`Observer`] is
//! how facts about a peer's incarnation (from digests, headers, deltas and rumours) reach
//! both the peer's replicated state and its health.

use std::time::{Duration, Instant};

use leviathan_gossip_wire::{NodeDelta, NodeName, Record};
use tracing::{debug, info};

use crate::config::NodeConfig;
use crate::event::{EventBatch, Update};
use crate::health_check::{FLAPPING, HealthCheck, Verdict};
use crate::health_table::{HealthSlot, HealthTable};
use crate::member::{Health, MemberState};
use crate::news::NewsQueue;
use crate::rumors::Rumors;
use crate::state::{IncarnationFact, InvalidDelta, NodeState, RecordLimits};
use crate::stats::Stats;

/// This node's judgement of every peer's liveness, and the membership events it raises.
#[derive(Debug)]
pub(crate) struct Membership {
    /// This node's name, for logs.
    own: NodeName,
    /// Time zero of every peer's `since_ms`.
    epoch: Instant,
    health: HealthTable,
    rules: HealthCheck,
    /// How soon after a refutation a new suspicion continues a flapping streak.
    flap_window_ms: u64,
    /// Peers that came onto the rings (`true`: live again or new) or left them (suspect,
    /// departed, removed) since the node last took them.
    ring_changes: Vec<(NodeName, bool)>,
}

impl Membership {
    /// No peers yet; time starts at `now`.
    pub(crate) fn new(config: &NodeConfig, own: NodeName, now: Instant) -> Self {
        Membership {
            own,
            epoch: now,
            health: HealthTable::default(),
            rules: HealthCheck::new(config),
            flap_window_ms: u64::try_from(config.dead_after.as_millis()).unwrap_or(u64::MAX),
            ring_changes: Vec::new(),
        }
    }

    /// Every tracked peer's health.
    pub(crate) fn health(&self) -> &HealthTable {
        &self.health
    }

    /// Peers tracked, this node included: the cluster's size as this node sees it.
    pub(crate) fn cluster_size(&self) -> usize {
        let census = self.health.census();
        census.live + census.unreachable + 1
    }

    /// Ring arrivals and departures since the last call.
    pub(crate) fn take_ring_changes(&mut self) -> Vec<(NodeName, bool)> {
        std::mem::take(&mut self.ring_changes)
    }

    fn millis(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    /// Starts judging a new incarnation, live from `now`.
    pub(crate) fn track_live(&mut self, name: &NodeName, now: Instant) -> Option<HealthSlot> {
        let health = Health::new(MemberState::Live, self.millis(now));
        self.ring_changes.push((name.clone(), true));
        self.health.track(name.clone(), health)
    }

    /// Stops judging the incarnation in `slot` (replaced or removed); returns the state it
    /// was in.
    pub(crate) fn untrack(&mut self, slot: HealthSlot) -> Option<MemberState> {
        if let Some(name) = self.health.name(&slot) {
            self.ring_changes.push((name.clone(), false));
        }
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
        let left = Health::new(MemberState::Left, self.millis(now));
        match node.health_slot() {
            Some(slot) => {
                self.health.update(slot, |health| *health = left);
            }
            None => {
                node.set_health_slot(self.health.track(name.clone(), left));
            }
        }
        self.ring_changes.push((name.clone(), false));
        batch.left(name.clone());
    }

    /// Enough observers alerted about `name`'s current incarnation: a live peer becomes
    /// suspect. Returns whether it did.
    ///
    /// A suspicion soon after the peer refuted the last one continues a flapping streak:
    /// its clock runs from the streak's first suspicion, so a peer that answers now and
    /// then but mostly not (Rapid's flaky host) is declared dead in `dead_after` however
    /// often it refutes, instead of flapping between live and suspect for ever.
    pub(crate) fn suspect(
        &mut self,
        name: &NodeName,
        slot: &HealthSlot,
        alerters: usize,
        now: Instant,
        batch: &mut EventBatch,
    ) -> bool {
        let now_ms = self.millis(now);
        let window = self.flap_window_ms;
        let suspected = self.health.update(slot, |health| {
            if health.state != MemberState::Live {
                return false;
            }
            let flapping = health.flaps > 0 && now_ms.saturating_sub(health.refuted_ms) < window;
            if flapping {
                health.flaps = health.flaps.saturating_add(1);
            } else {
                health.flaps = 1;
                health.streak_since_ms = now_ms;
            }
            health.state = MemberState::Suspect;
            health.since_ms = health.streak_since_ms;
            true
        });
        if suspected == Some(true) {
            info!(node = %self.own, peer = %name, alerters, "peer suspected");
            self.ring_changes.push((name.clone(), false));
            batch.suspected(name.clone());
            return true;
        }
        false
    }

    /// `name` refuted the alerts against it (a newer incarnation): a suspect or dead peer
    /// is live again — unless it was declared dead after flapping: a refutation proves it
    /// can speak, not that it is healthy, so it stays dead for a hold-off that grows with
    /// every flap (see [`HealthCheck::hold_off_ms`]) and revives when that ends.
    fn revive(&mut self, name: &NodeName, slot: &HealthSlot, now: Instant, batch: &mut EventBatch) {
        let now_ms = self.millis(now);
        let rules = &self.rules;
        let revived = self.health.update(slot, |health| {
            let revivable = match health.state {
                MemberState::Suspect => true,
                MemberState::Dead if health.flaps < FLAPPING => true,
                MemberState::Dead => {
                    let held = now_ms.saturating_sub(health.since_ms);
                    let over = held >= rules.hold_off_ms(health.flaps);
                    health.revival_due = !over;
                    over
                }
                MemberState::Live | MemberState::Left => false,
            };
            if revivable {
                health.state = MemberState::Live;
                health.since_ms = now_ms;
                health.refuted_ms = now_ms;
            }
            revivable
        });
        if revived != Some(true) {
            return;
        }
        self.ring_changes.push((name.clone(), true));
        info!(node = %self.own, peer = %name, "peer recovered");
        batch.recovered(name.clone());
    }

    /// A new alert about `name`: if it is dead after flapping, its hold-off starts again,
    /// so a host that still fails its observers' checks stays dead however often it
    /// refutes, while one that answers them comes back when the hold-off ends.
    pub(crate) fn alerted(&mut self, slot: &HealthSlot, now: Instant) {
        let now_ms = self.millis(now);
        self.health.update(slot, |health| {
            if health.state == MemberState::Dead && health.flaps >= FLAPPING {
                health.since_ms = now_ms;
            }
        });
    }

    /// What a fact or delta taught about `name`'s liveness: it left, or it refuted the
    /// alerts against its older incarnations.
    fn record_signs(
        &mut self,
        name: &NodeName,
        node: &mut NodeState,
        signs: Signs,
        rumors: &mut Rumors,
        now: Instant,
        batch: &mut EventBatch,
    ) {
        if signs.left {
            self.record_departure(name, node, now, batch);
        } else if signs.incarnation_grew {
            let size = self.cluster_size();
            rumors.alive(name, node.generation(), node.incarnation(), size, now);
            if let Some(slot) = node.health_slot() {
                self.revive(name, slot, now, batch);
            }
        }
    }

    /// Moves suspects whose suspicion timed out (given the alerters `alerters_of` says
    /// each has) to dead, and returns the peers dead or departed for `remove_after`, to
    /// be removed: one pass over the health table for both.
    pub(crate) fn check(
        &mut self,
        now: Instant,
        alerters_of: impl Fn(&NodeName) -> usize,
        batch: &mut EventBatch,
    ) -> Vec<NodeName> {
        let now_ms = self.millis(now);
        let mut expired = Vec::new();
        let (rules, own, ring_changes) = (&self.rules, &self.own, &mut self.ring_changes);
        self.health.update_all(|name, health| {
            let alerters = match health.state {
                MemberState::Suspect => alerters_of(name),
                _ => 0,
            };
            match rules.judge(health, alerters, now_ms) {
                Verdict::Unchanged => {}
                Verdict::Dead => {
                    info!(node = %own, peer = %name, alerters, "peer dead");
                    // Off the rings already; its observers stop watching it unless it
                    // flapped.
                    ring_changes.push((name.clone(), false));
                    batch.dead(name.clone());
                }
                Verdict::Expired => expired.push(name.clone()),
                Verdict::Revived => {
                    info!(node = %own, peer = %name, "peer recovered after its hold-off");
                    ring_changes.push((name.clone(), true));
                    batch.recovered(name.clone());
                }
            }
        });
        expired
    }

    /// Our own timers fired `pause` late: we were stalled, not our peers. Every deadline
    /// (suspicion timeouts, removals) moves by the stall.
    pub(crate) fn forgive_local_pause(&mut self, pause: Duration) {
        debug!(node = %self.own, ?pause, "local pause detected; forgiving it to peers");
        let pause = u64::try_from(pause.as_millis()).unwrap_or(u64::MAX);
        self.health
            .update_all(|_, health| health.since_ms = health.since_ms.saturating_add(pause));
    }
}

/// What one fact or delta says about a peer's liveness.
#[derive(Debug, Clone, Copy)]
struct Signs {
    left: bool,
    incarnation_grew: bool,
}

/// What taking a fact or a delta about a peer's incarnation touches besides the peer's own
/// state: borrowed apart from the cluster state, so a walk over the state can use it.
pub(crate) struct Observer<'a> {
    pub(crate) membership: &'a mut Membership,
    pub(crate) news: &'a mut NewsQueue,
    pub(crate) rumors: &'a mut Rumors,
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
        let incarnation_grew = node.observe_incarnation(fact.incarnation);
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
        if left || incarnation_grew {
            self.news.changed(name);
        }
        let signs = Signs {
            left,
            incarnation_grew,
        };
        self.membership
            .record_signs(name, node, signs, self.rumors, now, batch);
    }

    /// Merges a delta of the incarnation of `name` we know (`node`, same generation).
    pub(crate) fn merge_same_generation(
        &mut self,
        name: &NodeName,
        node: &mut NodeState,
        delta: &NodeDelta,
        limits: RecordLimits,
        now: Instant,
        batch: &mut EventBatch,
    ) {
        // Incarnation and status are facts about the incarnation, valid even when the
        // records would leave a gap.
        let incarnation_grew = node.observe_incarnation(delta.incarnation);
        let left = node.observe_status(delta.status);
        let watermark_before = node.gc_watermark();
        let applied = match node.merge_records(delta, limits, self.stats) {
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
        if left
            || incarnation_grew
            || !applied.is_empty()
            || node.gc_watermark() != watermark_before
        {
            self.news.changed(name);
        }
        let signs = Signs {
            left,
            incarnation_grew,
        };
        self.membership
            .record_signs(name, node, signs, self.rumors, now, batch);
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
