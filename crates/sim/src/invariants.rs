//! Safety checks made on every run, against the ground truth of what owners wrote.
//!
//! The [`crate::Simulation`] feeds an [`InvariantChecker`] every datagram it carries, every
//! write it makes and every event a node emits. A check that fails is recorded as a
//! [`Violation`] (the run goes on), so a test can assert that a run had none
//! ([`crate::Simulation::check`]) or, fed a deliberately broken rule, that it had some.
//!
//! * **Datagram size**: every datagram's encoding fits the sender's `max_packet_size`.
//! * **Versions never go back**: per observer incarnation and (node, generation), every
//!   reported version (an `Updates` entry or a `Deleted`) is above the last one reported for
//!   that key, and above the largest one reported for that node by earlier inputs (deltas
//!   apply in version order with no gaps; within one input the core reports all `Updates`
//!   before the `Deleted`s, so across keys one input's events need not be in version order).
//! * **No resurrection**: a value reported for a key at a version at or below a deletion of
//!   that key the observer already reported, or at a version the owner used for a
//!   deletion, brings a deleted key back. (A deletion learnt from a reset, after its
//!   tombstone was garbage-collected, is reported at the owner's watermark: it must match
//!   an owner deletion of the key between the last version reported and that watermark.)
//!   A removed peer's records are forgotten with it (`PeersRemoved`).
//! * **Ground truth**: every reported (key, version, value) is one the owner wrote in that
//!   generation; an owner never writes two things under one (generation, version).
//! * **Horizons never go back** (opt-in, [`crate::SimulationBuilder::check_member_horizons`]):
//!   per observer incarnation and (node, generation) it lists, `max(max_version,
//!   gc_watermark)` of the observer's `members()` never decreases from one input to the
//!   next. (A reset may lower `max_version` below the watermark it brings; how far the
//!   observer's knowledge is complete never goes back.)
//!
//! Convergence (liveness rather than safety) is checked on demand: see
//! [`crate::Simulation::check_converged`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use leviathan_gossip_core::{Event, Member};
use leviathan_gossip_wire::{Generation, Key, NodeName, Version};
use serde::Serialize;

use crate::NodeIndex;

/// Which invariant a [`Violation`] breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum ViolationKind {
    /// A datagram's encoding exceeds the sender's `max_packet_size`.
    OversizedDatagram,
    /// With `encode_packets`, a packet's encoding differs from `encoded_len()` or does not
    /// decode back to the same packet.
    CodecMismatch,
    /// A version reported for a (node, generation) is not above what the observer already
    /// reported for that key or node.
    VersionRegressed,
    /// A deleted key came back with a value.
    DeletedKeyResurrected,
    /// A reported record matches no write its owner made in that generation.
    UnknownWrite,
    /// An owner wrote two different records under one (generation, version): it restarted
    /// without a new generation.
    VersionReused,
    /// After `handle_timeout`, a node's next deadline was not in the future.
    StuckTimer,
    /// What a node knows of a peer's generation, `max(max_version, gc_watermark)` in its
    /// `members()`, went back from one input to the next (checked only with
    /// [`crate::SimulationBuilder::check_member_horizons`]).
    HorizonRegressed,
}

/// One failed check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// Virtual time of the failure.
    pub at: Duration,
    /// The invariant broken.
    pub kind: ViolationKind,
    /// The node that observed (or sent) it.
    pub node: Option<NodeIndex>,
    /// What happened, with names and versions.
    pub description: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:.3} s] {:?}", self.at.as_secs_f64(), self.kind)?;
        if let Some(node) = self.node {
            write!(f, " at {}", node.name())?;
        }
        write!(f, ": {}", self.description)
    }
}

/// One write an owner made: a value, or a deletion (`value == None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// The key.
    pub key: Key,
    /// The value; `None` for a deletion.
    pub value: Option<Bytes>,
}

/// The safety checks and the ground truth they use. See the module documentation.
#[derive(Debug, Default)]
pub struct InvariantChecker {
    writes: HashMap<(NodeIndex, Generation), HashMap<Version, Write>>,
    /// Versions at which each owner deleted each key, for range queries.
    deletions: HashMap<(NodeIndex, Generation), HashMap<Key, BTreeSet<Version>>>,
    /// Whether every observer's last version of every key is kept (exact per-key checks,
    /// memory growing with observers × keys ever written) or only per node (see
    /// [`InvariantChecker::without_per_key_tracking`]).
    per_key: bool,
    generations: HashMap<NodeIndex, Vec<Generation>>,
    observers: HashMap<NodeIndex, ObserverTrack>,
    violations: Vec<Violation>,
    counts: BTreeMap<ViolationKind, u64>,
    max_recorded: usize,
    /// Per observer incarnation, the horizon of every (node, generation) it listed at its
    /// last check.
    horizons: HashMap<NodeIndex, HashMap<(NodeName, Generation), Version>>,
}

/// What one observer incarnation reported so far.
#[derive(Debug, Default)]
struct ObserverTrack {
    /// Generation the observer holds for subjects with several generations, as announced
    /// by `PeerRestarted` or read from its member list.
    views: HashMap<NodeIndex, Generation>,
    seen: HashMap<(NodeIndex, Generation), SeenNode>,
    /// Nodes reported on during the current input.
    touched: Vec<(NodeIndex, Generation)>,
}

#[derive(Debug, Default)]
struct SeenNode {
    /// Largest version reported by earlier inputs.
    max: Version,
    /// Largest version reported so far, the current input included.
    pending_max: Version,
    keys: HashMap<Key, SeenKey>,
}

#[derive(Debug, Clone, Copy)]
struct SeenKey {
    version: Version,
    deleted: bool,
}

/// How a node name maps to its index, and which generation of a node an observer holds.
pub trait Lookup {
    /// The index of the node called `name`, if the simulation has one.
    fn index_of(&self, name: &NodeName) -> Option<NodeIndex>;
    /// The generation of `name` the observer currently holds, if it knows the node.
    fn generation_held(&self, name: &NodeName) -> Option<Generation>;
}

impl InvariantChecker {
    /// A checker keeping at most `max_recorded` violations in full (all are counted).
    pub fn new(max_recorded: usize) -> Self {
        InvariantChecker {
            max_recorded,
            per_key: true,
            ..InvariantChecker::default()
        }
    }

    /// Drops the per-(observer, key) memory, whose size grows with observers × keys ever
    /// written (gigabytes over hours of writes at 1,000 nodes). Checks then run per
    /// (observer, node): a version reported below one reported by an earlier input is a
    /// regression, and a value the owner deleted at a version the observer has already
    /// reported up to is a resurrection (against the owner's history). A per-key
    /// regression inside what one input reports goes unnoticed.
    pub fn without_per_key_tracking(mut self) -> Self {
        self.per_key = false;
        self
    }

    /// Violations recorded in full, in the order they were found.
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// Number of violations of each kind (all of them, recorded in full or not).
    pub fn counts(&self) -> &BTreeMap<ViolationKind, u64> {
        &self.counts
    }

    /// Total number of violations.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// Records a failed check.
    pub fn report(
        &mut self,
        at: Duration,
        kind: ViolationKind,
        node: Option<NodeIndex>,
        description: String,
    ) {
        *self.counts.entry(kind).or_default() += 1;
        if self.violations.len() < self.max_recorded {
            self.violations.push(Violation {
                at,
                kind,
                node,
                description,
            });
        }
    }

    /// Checks one datagram's encoded size against the sender's limit.
    pub fn check_datagram(&mut self, at: Duration, sender: NodeIndex, len: usize, max: usize) {
        if len > max {
            self.report(
                at,
                ViolationKind::OversizedDatagram,
                Some(sender),
                format!("{} sent a {len}-byte datagram (limit {max})", sender.name()),
            );
        }
    }

    /// A node (re)started as `generation`: its earlier reports no longer bind it.
    pub fn node_started(&mut self, node: NodeIndex, generation: Generation) {
        let generations = self.generations.entry(node).or_default();
        if !generations.contains(&generation) {
            generations.push(generation);
        }
        self.observers.remove(&node);
        self.horizons.remove(&node);
    }

    /// A running node moved to `generation` to re-assert itself against a false claim
    /// about it, keeping its state (and what it reported of others).
    pub fn generation_changed(&mut self, node: NodeIndex, generation: Generation) {
        let generations = self.generations.entry(node).or_default();
        if !generations.contains(&generation) {
            generations.push(generation);
        }
    }

    /// Ground truth: `node`'s `generation` wrote `write` at `version`.
    pub fn record_write(
        &mut self,
        at: Duration,
        node: NodeIndex,
        generation: Generation,
        version: Version,
        write: Write,
    ) {
        let writes = self.writes.entry((node, generation)).or_default();
        match writes.get(&version) {
            None => {
                if write.value.is_none() {
                    self.deletions
                        .entry((node, generation))
                        .or_default()
                        .entry(write.key.clone())
                        .or_default()
                        .insert(version);
                }
                writes.insert(version, write);
            }
            Some(earlier) => {
                let description = format!(
                    "{} generation {generation} wrote version {version} twice: {} then {}",
                    node.name(),
                    describe(&earlier.key, earlier.value.as_ref()),
                    describe(&write.key, write.value.as_ref()),
                );
                self.report(at, ViolationKind::VersionReused, Some(node), description);
            }
        }
    }

    /// The write `node`'s `generation` made at `version`, if any.
    pub fn write(
        &self,
        node: NodeIndex,
        generation: Generation,
        version: Version,
    ) -> Option<&Write> {
        self.writes.get(&(node, generation))?.get(&version)
    }

    /// Checks that `observer`'s knowledge of each listed peer generation did not go back
    /// since its last check (see [`ViolationKind::HorizonRegressed`]). A peer it no longer
    /// lists is forgotten: once removed, it may be learnt again from scratch.
    pub fn check_horizons(&mut self, at: Duration, observer: NodeIndex, members: &[Member]) {
        let previous = self.horizons.remove(&observer).unwrap_or_default();
        let mut current = HashMap::with_capacity(members.len());
        for member in members {
            let horizon = member.max_version.max(member.gc_watermark);
            let subject = (member.id.name.clone(), member.id.generation);
            if let Some(&before) = previous.get(&subject)
                && horizon < before
            {
                let description = format!(
                    "{} knew {} generation {} up to version {before}, now only up to {horizon}",
                    observer.name(),
                    member.id.name,
                    member.id.generation,
                );
                self.report(
                    at,
                    ViolationKind::HorizonRegressed,
                    Some(observer),
                    description,
                );
            }
            current.insert(subject, horizon);
        }
        self.horizons.insert(observer, current);
    }

    /// `observer` finished handling one input (a datagram, a timeout, a command): the
    /// versions it reported become the floor for its next inputs.
    pub fn input_done(&mut self, observer: NodeIndex) {
        let Some(track) = self.observers.get_mut(&observer) else {
            return;
        };
        for key in track.touched.drain(..) {
            if let Some(seen) = track.seen.get_mut(&key) {
                seen.max = seen.pending_max;
            }
        }
    }

    /// Checks one event emitted by `observer`. Call [`InvariantChecker::input_done`] after
    /// the events of each input.
    pub fn observe(
        &mut self,
        at: Duration,
        observer: NodeIndex,
        event: &Event,
        lookup: &dyn Lookup,
    ) {
        match event {
            Event::Updates(updates) => {
                for update in updates {
                    let record = Reported {
                        node: &update.node,
                        key: &update.key,
                        version: update.version,
                        value: Some(&update.value),
                    };
                    self.check_record(at, observer, record, lookup);
                }
            }
            Event::Deleted { node, key, version } => {
                let record = Reported {
                    node,
                    key,
                    version: *version,
                    value: None,
                };
                self.check_record(at, observer, record, lookup);
            }
            Event::PeerRestarted { node, generation } => {
                if let Some(subject) = lookup.index_of(node) {
                    self.observers
                        .entry(observer)
                        .or_default()
                        .views
                        .insert(subject, *generation);
                }
            }
            Event::PeersRemoved(nodes) => {
                // Forgotten: if the node is discovered again, its records are reported
                // afresh from the start.
                let track = self.observers.entry(observer).or_default();
                for node in nodes {
                    if let Some(subject) = lookup.index_of(node) {
                        track.views.remove(&subject);
                        track.seen.retain(|(seen, _), _| *seen != subject);
                    }
                }
            }
            // Membership changes carry no records to check.
            _ => {}
        }
    }

    fn check_record(
        &mut self,
        at: Duration,
        observer: NodeIndex,
        record: Reported<'_>,
        lookup: &dyn Lookup,
    ) {
        let what = describe(record.key, record.value);
        let Some(subject) = lookup.index_of(record.node) else {
            let description = format!(
                "{} reported {what} v{} of unknown node {}",
                observer.name(),
                record.version,
                record.node
            );
            self.report(at, ViolationKind::UnknownWrite, Some(observer), description);
            return;
        };
        let Some(generation) = self.generation_seen(observer, subject, record.node, lookup) else {
            return;
        };
        let context = format!(
            "{} reported {what} at v{} of {} (generation {generation})",
            observer.name(),
            record.version,
            record.node
        );
        // Monotonicity and resurrection, against what this observer reported before.
        let track = self.observers.entry(observer).or_default();
        let seen = track.seen.entry((subject, generation)).or_default();
        let previous = seen.keys.get(record.key).copied();
        let mut found = Vec::new();
        match previous {
            Some(last) if record.version <= last.version => {
                if last.deleted && record.value.is_some() {
                    found.push((
                        ViolationKind::DeletedKeyResurrected,
                        format!(
                            "{context} after reporting its deletion at v{}",
                            last.version
                        ),
                    ));
                } else {
                    found.push((
                        ViolationKind::VersionRegressed,
                        format!("{context} after v{} of that key", last.version),
                    ));
                }
            }
            _ if record.version <= seen.max => found.push((
                ViolationKind::VersionRegressed,
                format!("{context} after v{} of that node", seen.max),
            )),
            _ => {}
        }
        if seen.pending_max == seen.max {
            track.touched.push((subject, generation));
        }
        seen.pending_max = seen.pending_max.max(record.version);
        let pending_max = seen.pending_max;
        let newest = previous.is_none_or(|last| record.version > last.version);
        if newest && self.per_key {
            seen.keys.insert(
                record.key.clone(),
                SeenKey {
                    version: record.version,
                    deleted: record.value.is_none(),
                },
            );
        }
        if !self.per_key
            && record.value.is_some()
            && self.deleted_between(subject, generation, record.key, record.version, pending_max)
        {
            found.push((
                ViolationKind::DeletedKeyResurrected,
                format!("{context}, but the owner deleted it later, at or below v{pending_max}"),
            ));
        }
        // Ground truth: the owner made exactly this write.
        match self.write(subject, generation, record.version) {
            Some(write) if write.key == *record.key && write.value.as_ref() == record.value => {}
            Some(write) if write.key == *record.key && write.value.is_none() => found.push((
                ViolationKind::DeletedKeyResurrected,
                format!("{context}, but the owner deleted the key at that version"),
            )),
            // A reset reports a deletion whose tombstone was garbage-collected at the
            // watermark: the owner must have deleted the key after the last version
            // reported and at or below the watermark.
            _ if record.value.is_none()
                && self.deleted_between(
                    subject,
                    generation,
                    record.key,
                    previous.map_or(Version(0), |last| last.version),
                    record.version,
                ) => {}
            Some(write) => found.push((
                ViolationKind::UnknownWrite,
                format!(
                    "{context}, but the owner wrote {} at that version",
                    describe(&write.key, write.value.as_ref())
                ),
            )),
            None => found.push((
                ViolationKind::UnknownWrite,
                format!("{context}, but the owner never wrote that version"),
            )),
        }
        for (kind, description) in found {
            self.report(at, kind, Some(observer), description);
        }
    }

    /// Whether `node`'s `generation` deleted `key` at a version in `(after, through]`.
    fn deleted_between(
        &self,
        node: NodeIndex,
        generation: Generation,
        key: &Key,
        after: Version,
        through: Version,
    ) -> bool {
        if after >= through {
            return false;
        }
        self.deletions
            .get(&(node, generation))
            .and_then(|by_key| by_key.get(key))
            .is_some_and(|versions| {
                versions
                    .range((
                        std::ops::Bound::Excluded(after),
                        std::ops::Bound::Included(through),
                    ))
                    .next()
                    .is_some()
            })
    }

    /// Which generation of `subject` the observer's report is about.
    fn generation_seen(
        &mut self,
        observer: NodeIndex,
        subject: NodeIndex,
        name: &NodeName,
        lookup: &dyn Lookup,
    ) -> Option<Generation> {
        let generations = self.generations.get(&subject)?;
        if let [only] = generations.as_slice() {
            return Some(*only);
        }
        let track = self.observers.entry(observer).or_default();
        if let Some(generation) = track.views.get(&subject) {
            return Some(*generation);
        }
        // Rare (a restarted node, discovered rather than seen restarting): ask the node.
        let generation = lookup.generation_held(name)?;
        track.views.insert(subject, generation);
        Some(generation)
    }
}

/// A record as an observer reported it.
struct Reported<'a> {
    node: &'a NodeName,
    key: &'a Key,
    version: Version,
    value: Option<&'a Bytes>,
}

fn describe(key: &Key, value: Option<&Bytes>) -> String {
    match value {
        Some(value) => format!("{key}={}", String::from_utf8_lossy(value)),
        None => format!("deletion of {key}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use leviathan_gossip_core::Update;

    struct Names;

    impl Lookup for Names {
        fn index_of(&self, name: &NodeName) -> Option<NodeIndex> {
            name.as_str()
                .strip_prefix("node-")
                .and_then(|n| n.parse().ok())
                .map(NodeIndex)
        }
        fn generation_held(&self, _: &NodeName) -> Option<Generation> {
            Some(Generation(1))
        }
    }

    fn key(k: &str) -> Key {
        Key::new(k).unwrap()
    }

    fn update(k: &str, version: u64, value: &'static str) -> Event {
        Event::Updates(vec![Update {
            node: NodeName::new(NodeIndex(1).name()).unwrap(),
            key: key(k),
            value: Bytes::from_static(value.as_bytes()),
            version: Version(version),
        }])
    }

    fn checker() -> InvariantChecker {
        let mut checker = InvariantChecker::new(100);
        let owner = NodeIndex(1);
        checker.node_started(owner, Generation(1));
        let writes = [
            ("a", Some("1")),
            ("b", Some("2")),
            ("a", None),
            ("c", Some("3")),
        ];
        for (version, (k, value)) in writes.into_iter().enumerate() {
            let write = Write {
                key: key(k),
                value: value.map(|v| Bytes::from_static(v.as_bytes())),
            };
            checker.record_write(
                Duration::ZERO,
                owner,
                Generation(1),
                Version(version as u64 + 1),
                write,
            );
        }
        checker
    }

    fn kinds(checker: &InvariantChecker) -> Vec<ViolationKind> {
        checker.violations().iter().map(|v| v.kind).collect()
    }

    #[test]
    fn faithful_reports_pass() {
        let mut checker = checker();
        let observer = NodeIndex(2);
        checker.observe(Duration::ZERO, observer, &update("a", 1, "1"), &Names);
        checker.observe(Duration::ZERO, observer, &update("b", 2, "2"), &Names);
        let deleted = Event::Deleted {
            node: NodeName::new("node-00001").unwrap(),
            key: key("a"),
            version: Version(3),
        };
        checker.observe(Duration::ZERO, observer, &deleted, &Names);
        checker.observe(Duration::ZERO, observer, &update("c", 4, "3"), &Names);
        assert_eq!(kinds(&checker), []);
    }

    #[test]
    fn a_version_going_back_is_caught() {
        let mut checker = checker();
        let observer = NodeIndex(2);
        checker.observe(Duration::ZERO, observer, &update("b", 2, "2"), &Names);
        checker.input_done(observer);
        checker.observe(Duration::ZERO, observer, &update("a", 1, "1"), &Names);
        assert_eq!(kinds(&checker), [ViolationKind::VersionRegressed]);
    }

    #[test]
    fn within_one_input_deletions_may_follow_later_updates() {
        let mut checker = checker();
        let observer = NodeIndex(2);
        checker.observe(Duration::ZERO, observer, &update("a", 1, "1"), &Names);
        checker.observe(Duration::ZERO, observer, &update("b", 2, "2"), &Names);
        checker.input_done(observer);
        // One input applying v3 (delete a) and v4 (set c): Updates come first.
        checker.observe(Duration::ZERO, observer, &update("c", 4, "3"), &Names);
        let deleted = Event::Deleted {
            node: NodeName::new("node-00001").unwrap(),
            key: key("a"),
            version: Version(3),
        };
        checker.observe(Duration::ZERO, observer, &deleted, &Names);
        checker.input_done(observer);
        assert_eq!(kinds(&checker), []);
        // The next input may not go below v4.
        checker.observe(Duration::ZERO, observer, &deleted, &Names);
        assert_eq!(kinds(&checker), [ViolationKind::VersionRegressed]);
    }

    #[test]
    fn a_resurrection_is_caught_both_ways() {
        let mut checker = checker();
        let observer = NodeIndex(2);
        let deleted = Event::Deleted {
            node: NodeName::new("node-00001").unwrap(),
            key: key("a"),
            version: Version(3),
        };
        checker.observe(Duration::ZERO, observer, &deleted, &Names);
        checker.observe(Duration::ZERO, observer, &update("a", 1, "1"), &Names);
        // And a value at the version of the deletion, for an observer that missed it.
        checker.observe(Duration::ZERO, NodeIndex(3), &update("a", 3, "1"), &Names);
        assert_eq!(
            kinds(&checker),
            [
                ViolationKind::DeletedKeyResurrected,
                ViolationKind::DeletedKeyResurrected
            ]
        );
    }

    #[test]
    fn invented_and_reused_versions_are_caught() {
        let mut checker = checker();
        checker.observe(Duration::ZERO, NodeIndex(2), &update("z", 9, "?"), &Names);
        checker.record_write(
            Duration::ZERO,
            NodeIndex(1),
            Generation(1),
            Version(1),
            Write {
                key: key("other"),
                value: None,
            },
        );
        assert_eq!(
            kinds(&checker),
            [ViolationKind::UnknownWrite, ViolationKind::VersionReused]
        );
    }

    fn member(name: &str, generation: u64, max_version: u64, gc_watermark: u64) -> Member {
        Member {
            id: leviathan_gossip_wire::NodeId {
                name: NodeName::new(name).unwrap(),
                address: NodeIndex(1).address(),
                generation: Generation(generation),
            },
            state: leviathan_gossip_core::MemberState::Live,
            phi: None,
            incarnation: leviathan_gossip_wire::Incarnation(1),
            max_version: Version(max_version),
            gc_watermark: Version(gc_watermark),
            key_count: 0,
            is_local: false,
        }
    }

    #[test]
    fn a_horizon_that_goes_back_is_reported_once_per_step() {
        let (observer, at) = (NodeIndex(0), Duration::ZERO);
        let mut checker = InvariantChecker::new(100);
        let peer = "node-00001";
        checker.check_horizons(at, observer, &[member(peer, 1, 5, 0)]);
        // A reset lowers max_version below the watermark it brings: no step back.
        checker.check_horizons(at, observer, &[member(peer, 1, 2, 8)]);
        // Another generation, and a peer no longer listed, start from scratch.
        checker.check_horizons(at, observer, &[member(peer, 2, 1, 0)]);
        checker.check_horizons(at, observer, &[]);
        checker.check_horizons(at, observer, &[member(peer, 2, 0, 0)]);
        assert_eq!(checker.total(), 0, "{:?}", checker.violations());
        checker.check_horizons(at, observer, &[member(peer, 2, 4, 0)]);
        checker.check_horizons(at, observer, &[member(peer, 2, 3, 1)]);
        assert_eq!(
            checker.counts().get(&ViolationKind::HorizonRegressed),
            Some(&1)
        );
        // A restarted observer knows nothing: whatever it lists next is no step back.
        checker.node_started(observer, Generation(2));
        checker.check_horizons(at, observer, &[member(peer, 2, 0, 0)]);
        assert_eq!(checker.total(), 1);
    }
}
