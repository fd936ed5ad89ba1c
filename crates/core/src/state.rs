//! The replicated data: every known node's key-value map, as this node knows it.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use bytes::Bytes;
use leviathan_gossip_wire::{
    DigestEntry, Generation, Incarnation, Key, NodeDelta, NodeId, NodeName, NodeStatus, Record,
    Version,
};

use crate::address::PeerAddress;
use crate::health_table::HealthSlot;
use crate::stats::Stats;

/// One key's current version and value (`None`: tombstone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    /// Version of the write.
    pub version: Version,
    /// Value, or `None` for a deletion.
    pub value: Option<Bytes>,
}

/// What this node knows of one node's incarnation.
#[derive(Debug)]
pub struct NodeState {
    // No name: the map holding the entry is keyed by it, and a second copy would cost
    // 16 bytes per (node, peer) pair.
    generation: Generation,
    address: PeerAddress,
    incarnation: Incarnation,
    status: NodeStatus,
    /// Whether a probe sent to `address` was answered: the holder of the address speaks for
    /// this incarnation, so replies to it need not be held to the size of what it sent.
    address_proven: bool,
    max_version: Version,
    /// Tombstones up to this version were collected by the owner. Here, not in
    /// [`Records`]: every digest entry reads it, and the boxed records are a cache miss.
    gc_watermark: Version,
    /// Boxed and absent until the first record: most nodes a large cluster knows hold
    /// few keys, and every node tracks every other, so the empty case must be small.
    records: Option<Box<Records>>,
    /// Where the local judgement of this incarnation's liveness is kept; `None` for the
    /// local node. The judgements sit in a table of their own, which the health check
    /// walks without touching the entries.
    health: Option<HealthSlot>,
}

/// A detached copy: the same incarnation and records, with no place in a health table
/// (a slot belongs to the one entry its table handed it to).
impl Clone for NodeState {
    fn clone(&self) -> Self {
        NodeState {
            generation: self.generation,
            address: self.address.clone(),
            incarnation: self.incarnation,
            status: self.status,
            address_proven: self.address_proven,
            max_version: self.max_version,
            gc_watermark: self.gc_watermark,
            records: self.records.clone(),
            health: None,
        }
    }
}

impl NodeState {
    /// An incarnation known to hold nothing yet.
    pub fn new(id: NodeId, incarnation: Incarnation) -> Self {
        NodeState {
            generation: id.generation,
            address: PeerAddress::from(id.address),
            incarnation,
            status: NodeStatus::Alive,
            address_proven: false,
            max_version: Version(0),
            gc_watermark: Version(0),
            records: None,
            health: None,
        }
    }

    /// Whether the holder of [`NodeState::address`] answered one of this node's probes.
    pub(crate) fn is_address_proven(&self) -> bool {
        self.address_proven
    }

    /// The holder of [`NodeState::address`] answered a probe sent there.
    pub(crate) fn prove_address(&mut self) {
        self.address_proven = true;
    }

    /// The incarnation's identity, under the name the entry is kept under.
    pub fn node_id(&self, name: &NodeName) -> NodeId {
        NodeId {
            name: name.clone(),
            address: self.address.socket_addr(),
            generation: self.generation,
        }
    }
    /// The incarnation.
    pub fn generation(&self) -> Generation {
        self.generation
    }
    /// Where the node said it can be reached.
    pub fn address(&self) -> SocketAddr {
        self.address.socket_addr()
    }
    /// Highest incarnation known.
    pub fn incarnation(&self) -> Incarnation {
        self.incarnation
    }
    /// Announced status.
    pub fn status(&self) -> NodeStatus {
        self.status
    }
    /// Every record up to this version is known.
    pub fn max_version(&self) -> Version {
        self.max_version
    }
    /// A key's current version and value, tombstones included, as the application sees
    /// it: while a reset is in progress, the view from before it.
    pub fn record(&self, key: &str) -> Option<&Versioned> {
        self.visible()?.get(key)
    }
    /// Live (not deleted) keys with their values, as the application sees them.
    pub fn live_records(&self) -> impl Iterator<Item = (&Key, &Versioned)> {
        self.visible()
            .into_iter()
            .flat_map(|by_key| by_key.iter())
            .filter(|(_, v)| v.value.is_some())
    }
    /// Number of records held, tombstones and a pending reset's old view included: what
    /// this node costs in memory.
    pub fn held_record_count(&self) -> usize {
        self.records.as_ref().map_or(0, |records| {
            records.by_key.len() + records.before_reset.as_ref().map_or(0, |old| old.len())
        })
    }

    /// The records the application sees: the view from before a reset in progress, else
    /// the current records.
    fn visible(&self) -> Option<&HashMap<Key, Versioned>> {
        let records = self.records.as_deref()?;
        Some(records.before_reset.as_ref().unwrap_or(&records.by_key))
    }
    /// Bytes this incarnation's entry is accounted at: its fixed size, and the keys and
    /// values it holds with the structures that index them (see [`record_bytes`]),
    /// tombstones and a pending reset's old view included. Not the entry's name, which
    /// the map holding it keys it by.
    pub fn held_bytes(&self) -> usize {
        let records = self.records.as_deref().map_or(0, |records| {
            std::mem::size_of::<Records>().saturating_add(records.bytes)
        });
        std::mem::size_of::<NodeState>().saturating_add(records)
    }

    /// The most [`NodeState::held_bytes`] would grow by if `delta` were merged: every
    /// record newer than what is held, counted at its full size when it starts a reset
    /// (the old view stays until the reset completes), else at what it adds over the
    /// record it replaces. Never less than the true growth.
    pub fn growth_in_bytes(&self, delta: &NodeDelta) -> usize {
        let resets = delta.from_version == Version(0) && delta.gc_watermark > self.gc_watermark();
        let newer = delta
            .records
            .iter()
            .filter(|record| resets || record.version > self.max_version);
        let mut growth = if self.records.is_none() {
            std::mem::size_of::<Records>()
        } else {
            0
        };
        for record in newer {
            let size = record_bytes(&record.key, record.value.as_ref());
            let replaced = if resets {
                0
            } else {
                self.record_held(record.key.as_str())
                    .map_or(0, |held| record_bytes(&record.key, held.value.as_ref()))
            };
            growth = growth.saturating_add(size.saturating_sub(replaced));
        }
        growth
    }

    /// Number of live keys.
    pub fn live_key_count(&self) -> usize {
        self.live_records().count()
    }

    /// Tombstones up to this version have been garbage-collected by the owner: a replica
    /// that knows less than it cannot be brought up to date by a delta.
    pub fn gc_watermark(&self) -> Version {
        self.gc_watermark
    }

    /// Whether a reset is under way: the watermark is above `max_version`, so records
    /// between them are still to come (the reset was cut into several packets).
    pub fn is_resetting(&self) -> bool {
        self.max_version < self.gc_watermark()
    }

    /// How far this node's knowledge is trustworthy: every record it holds is current as
    /// of at least this version (`max_version`, or the watermark during a reset).
    pub fn horizon(&self) -> Version {
        self.max_version.max(self.gc_watermark())
    }

    /// Drops every tombstone at or below `through` and raises the watermark to it. Only
    /// sound when `max_version >= through` (every record up to it is known, so no value
    /// held can be older than a collected tombstone); otherwise nothing changes. Returns
    /// the keys whose tombstones were dropped.
    pub fn collect_tombstones(&mut self, through: Version) -> Vec<Key> {
        if through <= self.gc_watermark() || self.max_version < through {
            return Vec::new();
        }
        self.gc_watermark = through;
        let records = self.records.get_or_insert_with(Box::default);
        let collected: Vec<(Version, Key)> = records
            .by_version
            .range(..=through)
            .filter(|(_, key)| records.by_key.get(*key).is_some_and(|v| v.value.is_none()))
            .map(|(version, key)| (*version, key.clone()))
            .collect();
        for (version, key) in &collected {
            records.by_version.remove(version);
            if let Some(removed) = records.by_key.remove(key) {
                records.bytes = records
                    .bytes
                    .saturating_sub(record_bytes(key, removed.value.as_ref()));
            }
        }
        collected.into_iter().map(|(_, key)| key).collect()
    }

    /// Starts replacing this incarnation's records by a reset from a peer whose watermark
    /// is `watermark`: anything held may predate a collected tombstone, so it all goes. The
    /// application keeps seeing the old records until the reset completes
    /// ([`NodeState::finish_reset`]); a reset that restarts keeps the oldest view.
    pub fn begin_reset(&mut self, watermark: Version) {
        self.max_version = Version(0);
        self.gc_watermark = watermark;
        if self.records.is_none() && watermark == Version(0) {
            return;
        }
        let records = self.records.get_or_insert_with(Box::default);
        let old = std::mem::take(&mut records.by_key);
        if records.before_reset.is_none() && !old.is_empty() {
            records.before_reset = Some(old);
        } else {
            records.bytes = records.bytes.saturating_sub(map_bytes(&old));
        }
        records.by_version.clear();
    }

    /// Ends a reset whose records have all arrived (`max_version` reached the watermark):
    /// the application's view switches to the new records. Returns what changed for the
    /// application, as records in key order (`value: None`: the key is gone, at its
    /// tombstone's version or, if collected, the watermark's). `None` while no reset
    /// awaits completion.
    pub fn finish_reset(&mut self) -> Option<Vec<Record>> {
        if self.is_resetting() {
            return None;
        }
        let watermark = self.gc_watermark;
        let records = self.records.as_deref_mut()?;
        let old = records.before_reset.take()?;
        records.bytes = records.bytes.saturating_sub(map_bytes(&old));
        let mut changes: Vec<Record> = Vec::new();
        for (key, versioned) in &records.by_key {
            let unchanged = old.get(key).is_some_and(|o| o.version == versioned.version);
            if !unchanged && versioned.value.is_some() {
                changes.push(Record {
                    key: key.clone(),
                    version: versioned.version,
                    value: versioned.value.clone(),
                });
            }
        }
        for (key, versioned) in old.iter() {
            if versioned.value.is_none() {
                continue;
            }
            match records.by_key.get(key) {
                Some(now) if now.value.is_some() => {}
                now => changes.push(Record {
                    key: key.clone(),
                    version: now.map_or(watermark, |tombstone| tombstone.version),
                    value: None,
                }),
            }
        }
        changes.sort_by(|a, b| a.key.cmp(&b.key));
        Some(changes)
    }

    /// Where the local judgement of the incarnation's liveness is kept (`None`: the local
    /// node itself).
    pub(crate) fn health_slot(&self) -> Option<&HealthSlot> {
        self.health.as_ref()
    }

    /// Keeps this incarnation's health in `slot`; returns the slot it had.
    pub(crate) fn set_health_slot(&mut self, slot: Option<HealthSlot>) -> Option<HealthSlot> {
        std::mem::replace(&mut self.health, slot)
    }

    /// The digest entry of this incarnation of `name`.
    pub fn digest_entry(&self, name: &NodeName) -> DigestEntry {
        DigestEntry {
            name: name.clone(),
            generation: self.generation,
            incarnation: self.incarnation,
            max_version: self.max_version,
            gc_watermark: self.gc_watermark(),
            status: self.status,
        }
    }

    /// Raises the incarnation; returns whether it grew.
    pub fn observe_incarnation(&mut self, incarnation: Incarnation) -> bool {
        if incarnation <= self.incarnation {
            return false;
        }
        self.incarnation = incarnation;
        true
    }

    /// Raises the status (it only moves Alive → Left); returns whether it changed.
    pub fn observe_status(&mut self, status: NodeStatus) -> bool {
        if status <= self.status {
            return false;
        }
        self.status = status;
        true
    }

    /// Owner-side write: takes the next version. Returns it.
    pub fn write(&mut self, key: Key, value: Option<Bytes>) -> Version {
        let version = Version(self.max_version.0.saturating_add(1));
        self.write_at(key, value, version);
        version
    }

    /// Owner-side write at `version`, reserved by the owner above every version it applied
    /// (versions it abandoned are skipped).
    pub fn write_at(&mut self, key: Key, value: Option<Bytes>, version: Version) {
        debug_assert!(version > self.max_version, "own versions only grow");
        self.insert(key, Versioned { version, value });
        self.max_version = self.max_version.max(version);
    }

    /// Owner-side restore from durable storage: the records keep their versions and the
    /// next write takes `max_version + 1`. The caller checked that no version exceeds
    /// `max_version`; of two records of one key the higher version wins.
    pub fn restore(
        &mut self,
        records: impl IntoIterator<Item = (Key, Versioned)>,
        max_version: Version,
    ) {
        for (key, versioned) in records {
            if self
                .record(key.as_str())
                .is_none_or(|old| old.version < versioned.version)
            {
                self.insert(key, versioned);
            }
        }
        self.max_version = self.max_version.max(max_version);
    }

    /// Replica-side merge of a delta of the same incarnation. Returns the records that
    /// were new, in version order. Refuses (state unchanged) a delta that starts above what
    /// this node holds, or whose versions do not strictly increase from `from_version`:
    /// applying either could skip a record for good.
    pub fn apply(&mut self, delta: &NodeDelta) -> Result<Vec<Record>, InvalidDelta> {
        if delta.from_version > self.max_version {
            return Err(InvalidDelta::Gap);
        }
        check_order(delta)?;
        let mut applied = Vec::new();
        for record in &delta.records {
            // Records at or below max_version are known already (or superseded).
            if record.version <= self.max_version {
                continue;
            }
            self.insert(
                record.key.clone(),
                Versioned {
                    version: record.version,
                    value: record.value.clone(),
                },
            );
            self.max_version = record.version;
            applied.push(record.clone());
        }
        // The sender had nothing more up to `to_version`: its last versions were
        // collected tombstones.
        self.max_version = self.max_version.max(delta.to_version);
        Ok(applied)
    }

    /// Whether applying `delta` would leave this node holding more than `max_keys` keys
    /// (tombstones included): for refusing deltas beyond a limit before anything changes.
    pub fn would_exceed_keys(&self, delta: &NodeDelta, max_keys: usize) -> bool {
        let held = self
            .records
            .as_ref()
            .map_or(0, |records| records.by_key.len());
        let newer = delta
            .records
            .iter()
            .filter(|record| record.version > self.max_version);
        // Counting every newer record as a new key bounds the result from above, and
        // nearly every delta is far under the limit: the exact count, a map lookup per
        // record, is only needed near it.
        if held.saturating_add(newer.clone().count()) <= max_keys {
            return false;
        }
        let new_keys = newer
            .filter(|record| self.record_held(record.key.as_str()).is_none())
            .count();
        held.saturating_add(new_keys) > max_keys
    }

    /// The current record of `key` (not the application's view during a reset).
    fn record_held(&self, key: &str) -> Option<&Versioned> {
        self.records.as_ref()?.by_key.get(key)
    }

    /// Whether the application sees the records from before a reset in progress (so
    /// records applied now are not yet news to it).
    pub fn hides_applied_records(&self) -> bool {
        self.records
            .as_ref()
            .is_some_and(|records| records.before_reset.is_some())
    }

    /// Current records with a version above `after`, in version order.
    pub fn records_after(&self, after: Version) -> impl Iterator<Item = Record> + '_ {
        let records = self.records.as_deref();
        let above = after.0.checked_add(1);
        records
            .zip(above)
            .into_iter()
            .flat_map(|(records, start)| records.by_version.range(Version(start)..))
            .filter_map(move |(version, key)| {
                records?.by_key.get(key).map(|versioned| Record {
                    key: key.clone(),
                    version: *version,
                    value: versioned.value.clone(),
                })
            })
    }

    /// Number of current records above `after` (how far behind a peer at `after` is).
    pub fn records_after_count(&self, after: Version) -> usize {
        after
            .0
            .checked_add(1)
            .zip(self.records.as_deref())
            .map_or(0, |(start, records)| {
                records.by_version.range(Version(start)..).count()
            })
    }

    /// Merges a delta of a known incarnation's records under the garbage-collection rules, and
    /// returns what changed for the application:
    ///
    /// * a reset ends with a complete delta (all of its sender's records) that reaches the
    ///   watermark: only then is a key missing from the new records known to be gone;
    /// * a delta above our watermark teaches us a newer one: if we hold every record up to
    ///   it, we drop our tombstones below it; if not, we may hold values whose tombstones are
    ///   gone, so only a reset (a delta from version 0) is taken, in place of all we held;
    /// * while a reset is under way, only deltas from peers at its watermark or beyond are
    ///   taken: a peer below it may relay values a collected tombstone replaced.
    pub(crate) fn merge_records(
        &mut self,
        delta: &NodeDelta,
        limits: RecordLimits,
        stats: &mut Stats,
    ) -> Result<Vec<Record>, InvalidDelta> {
        let node = self;
        check_order(delta)?;
        // A reset replaces what is held, so only its own records count against the limit.
        let resets = delta.from_version == Version(0) && delta.gc_watermark > node.gc_watermark();
        let over_limit = if resets {
            delta.records.len() > limits.max_keys
        } else {
            node.would_exceed_keys(delta, limits.max_keys)
        };
        if over_limit {
            stats.dropped_over_limit += 1;
            return Ok(Vec::new());
        }
        if node.growth_in_bytes(delta) > limits.bytes_left {
            stats.dropped_over_budget += 1;
            return Ok(Vec::new());
        }
        let ours = node.gc_watermark();
        if delta.gc_watermark > ours {
            if node.max_version() >= delta.gc_watermark {
                let collected = node.collect_tombstones(delta.gc_watermark);
                stats.tombstones_collected += collected.len() as u64;
            } else if delta.from_version == Version(0) {
                stats.resets_received += 1;
                node.begin_reset(delta.gc_watermark);
            } else {
                stats.dropped_below_watermark += 1;
                return Ok(Vec::new());
            }
        } else if delta.gc_watermark < ours && node.is_resetting() {
            stats.dropped_below_watermark += 1;
            return Ok(Vec::new());
        }
        let hidden = node.hides_applied_records();
        let applied = node.apply(delta)?;
        if hidden {
            // The application still sees the records from before the reset: what changed for
            // it is known once the reset completes, when a delta holding all its sender's
            // records arrives (a cut one may leave out a rewritten key, not a deleted one).
            if delta.complete {
                return Ok(node.finish_reset().unwrap_or_default());
            }
            return Ok(Vec::new());
        }
        Ok(applied)
    }

    fn insert(&mut self, key: Key, versioned: Versioned) {
        let version = versioned.version;
        let records = self.records.get_or_insert_with(Box::default);
        records.bytes = records
            .bytes
            .saturating_add(record_bytes(&key, versioned.value.as_ref()));
        if let Some(old) = records.by_key.insert(key.clone(), versioned) {
            records.by_version.remove(&old.version);
            records.bytes = records
                .bytes
                .saturating_sub(record_bytes(&key, old.value.as_ref()));
        }
        records.by_version.insert(version, key);
    }
}

/// The limits a peer's delta is held to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordLimits {
    /// Most keys one node may hold (`max_keys_per_node`).
    pub(crate) max_keys: usize,
    /// Bytes the state of other nodes may still grow by (`max_remote_bytes` less what
    /// it holds).
    pub(crate) bytes_left: usize,
}

/// What a digest entry or a packet header tells about a peer's incarnation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IncarnationFact {
    pub(crate) generation: Generation,
    pub(crate) incarnation: Incarnation,
    /// Only digest entries carry a status and a watermark.
    pub(crate) status: Option<NodeStatus>,
    pub(crate) gc_watermark: Option<Version>,
}

impl IncarnationFact {
    pub(crate) fn from_entry(entry: &DigestEntry) -> Self {
        IncarnationFact {
            generation: entry.generation,
            incarnation: entry.incarnation,
            status: Some(entry.status),
            gc_watermark: Some(entry.gc_watermark),
        }
    }
}

/// A node's current records, indexed by key and by version.
#[derive(Debug, Clone, Default)]
struct Records {
    by_key: HashMap<Key, Versioned>,
    /// The key holding each current version, so "every record above version v in version
    /// order" is a range scan when building deltas.
    by_version: BTreeMap<Version, Key>,
    /// During a reset, the records the application saw before it, until it completes.
    before_reset: Option<HashMap<Key, Versioned>>,
    /// [`record_bytes`] of every record in `by_key` and `before_reset`, kept up to date
    /// by every change so the remote state's byte budget is checked in O(1).
    bytes: usize,
}

/// Bytes a record is accounted at: its key and value, plus the fixed size of its entries
/// in the by-key and by-version indexes (allocator slack and hash-table spare capacity
/// not counted).
pub fn record_bytes(key: &Key, value: Option<&Bytes>) -> usize {
    let fixed = std::mem::size_of::<(Key, Versioned)>() + std::mem::size_of::<(Version, Key)>();
    fixed
        .saturating_add(key.as_str().len())
        .saturating_add(value.map_or(0, Bytes::len))
}

fn map_bytes(records: &HashMap<Key, Versioned>) -> usize {
    records
        .iter()
        .map(|(key, versioned)| record_bytes(key, versioned.value.as_ref()))
        .fold(0, usize::saturating_add)
}

/// Checks that a delta's versions strictly increase from its `from_version` and end at or
/// below its `to_version`, which is below the largest version.
pub fn check_order(delta: &NodeDelta) -> Result<(), InvalidDelta> {
    let mut previous = delta.from_version;
    for record in &delta.records {
        if record.version <= previous {
            return Err(InvalidDelta::Unordered);
        }
        previous = record.version;
    }
    // The largest version cannot be relayed from version 0 (its distance from the last
    // version does not fit the wire's encoding), and no owner reaches it: refused.
    if delta.to_version < previous || delta.to_version == Version(u64::MAX) {
        return Err(InvalidDelta::Unordered);
    }
    Ok(())
}

/// Why a delta was refused; nothing changed. Remote peers can trigger both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidDelta {
    /// It starts above the versions held: applying it would leave a gap.
    Gap,
    /// Its record versions do not strictly increase from its `from_version`.
    Unordered,
}

pub use crate::cluster_state::ClusterState;

#[cfg(test)]
mod tests {
    use super::*;
    use leviathan_gossip_wire::Generation;

    fn node() -> NodeState {
        NodeState::new(
            NodeId {
                name: NodeName::new("n").unwrap(),
                address: "127.0.0.1:1".parse().unwrap(),
                generation: Generation(1),
            },
            Incarnation(0),
        )
    }

    fn key(k: &str) -> Key {
        Key::new(k).unwrap()
    }

    #[test]
    fn a_peer_entry_stays_small() {
        // Every node keeps one per peer: at 10,000 nodes each byte here is 100 MB of a
        // simulation, 10 kB of a node. (The peer's health, 48 bytes with its name, is in
        // the health table.)
        let size = std::mem::size_of::<NodeState>();
        assert!(size <= 64, "NodeState is {size} bytes");
    }

    #[test]
    fn overwritten_versions_leave_the_index() {
        let mut state = node();
        state.write(key("a"), Some(Bytes::from_static(b"1")));
        state.write(key("b"), Some(Bytes::from_static(b"2")));
        state.write(key("a"), None);
        let versions: Vec<u64> = state
            .records_after(Version(0))
            .map(|r| r.version.0)
            .collect();
        assert_eq!(versions, [2, 3]);
        assert_eq!(state.records_after_count(Version(2)), 1);
        assert_eq!(state.live_key_count(), 1);
    }

    #[test]
    fn a_delta_with_a_gap_is_refused_and_changes_nothing() {
        let mut owner = node();
        for i in 0..5 {
            owner.write(key(&format!("k{i}")), Some(Bytes::new()));
        }
        let mut replica = node();
        let delta = NodeDelta {
            node: owner.node_id(&NodeName::new("n").unwrap()),
            incarnation: Incarnation(0),
            status: NodeStatus::Alive,
            gc_watermark: Version(0),
            from_version: Version(3),
            records: owner.records_after(Version(3)).collect(),
            to_version: Version(5),
            complete: true,
        };
        assert_eq!(replica.apply(&delta), Err(InvalidDelta::Gap));
        assert_eq!(replica.max_version(), Version(0));
        let full = NodeDelta {
            from_version: Version(0),
            records: owner.records_after(Version(0)).take(2).collect(),
            to_version: Version(2),
            complete: false,
            ..delta
        };
        assert_eq!(replica.apply(&full).map(|r| r.len()), Ok(2));
        assert_eq!(replica.max_version(), Version(2));
        // Re-applying changes nothing: versions never go back.
        assert_eq!(replica.apply(&full).map(|r| r.len()), Ok(0));
        let mut unordered = full.clone();
        unordered.records.reverse();
        assert_eq!(replica.apply(&unordered), Err(InvalidDelta::Unordered));
    }

    #[test]
    fn a_reset_in_two_parts_keeps_the_old_view_until_it_completes() {
        // The owner: a, b, c set; b deleted; c rewritten; d set; then b's tombstone (v5)
        // collected, so the watermark is 5 and the current records are a@1, c@4, d@6.
        let mut owner = node();
        owner.write(key("a"), Some(Bytes::from_static(b"1")));
        owner.write(key("b"), Some(Bytes::from_static(b"2")));
        owner.write(key("c"), Some(Bytes::from_static(b"3")));
        owner.write(key("c"), Some(Bytes::from_static(b"3'")));
        owner.write(key("b"), None);
        owner.write(key("d"), Some(Bytes::from_static(b"4")));
        assert_eq!(owner.collect_tombstones(Version(5)), [key("b")]);
        assert_eq!(owner.records_after_count(Version(0)), 3);

        // A replica that stopped at version 3: it holds a, b and the first c.
        let mut replica = node();
        let first = NodeDelta {
            node: owner.node_id(&NodeName::new("n").unwrap()),
            incarnation: Incarnation(0),
            status: NodeStatus::Alive,
            gc_watermark: Version(0),
            from_version: Version(0),
            records: vec![
                Record {
                    key: key("a"),
                    version: Version(1),
                    value: Some(Bytes::from_static(b"1")),
                },
                Record {
                    key: key("b"),
                    version: Version(2),
                    value: Some(Bytes::from_static(b"2")),
                },
                Record {
                    key: key("c"),
                    version: Version(3),
                    value: Some(Bytes::from_static(b"3")),
                },
            ],
            to_version: Version(3),
            complete: true,
        };
        replica.apply(&first).unwrap();

        // The reset arrives in two parts: a@1 and c@4, then d@6 reaching version 6.
        let reset: Vec<Record> = owner.records_after(Version(0)).collect();
        replica.begin_reset(Version(5));
        let part = |records: &[Record], from: u64, to: u64| NodeDelta {
            gc_watermark: Version(5),
            from_version: Version(from),
            records: records.to_vec(),
            to_version: Version(to),
            complete: to == 6,
            ..first.clone()
        };
        replica.apply(&part(&reset[..2], 0, 4)).unwrap();
        assert!(replica.is_resetting());
        assert_eq!(replica.finish_reset(), None);
        // Meanwhile the application still sees the old view, b included.
        assert!(replica.record("b").is_some_and(|r| r.value.is_some()));
        assert_eq!(replica.horizon(), Version(5));

        replica.apply(&part(&reset[2..], 4, 6)).unwrap();
        let changes = replica.finish_reset().unwrap();
        let summary: Vec<(&str, u64, bool)> = changes
            .iter()
            .map(|r| (r.key.as_str(), r.version.0, r.value.is_some()))
            .collect();
        // b went (at the watermark: its tombstone is gone), c and d changed, a did not.
        assert_eq!(summary, [("b", 5, false), ("c", 4, true), ("d", 6, true)]);
        assert_eq!(replica.record("b").map(|r| r.version), None);
        assert_eq!(replica.max_version(), Version(6));
        assert_eq!(replica.live_key_count(), 3);
        assert_eq!(replica.finish_reset(), None, "reported once");
    }
}

#[cfg(test)]
mod byte_accounting {
    use super::*;
    use leviathan_gossip_wire::Generation;
    use proptest::prelude::*;

    /// What the records are accounted at, counted afresh.
    fn recounted(node: &NodeState) -> usize {
        let records = node.records.as_deref().map_or(0, |records| {
            let old = records.before_reset.as_ref().map_or(0, map_bytes);
            std::mem::size_of::<Records>() + map_bytes(&records.by_key) + old
        });
        std::mem::size_of::<NodeState>() + records
    }

    fn delta(from: u64, watermark: u64, records: &[(u8, u64, Option<usize>)]) -> NodeDelta {
        let mut version = from;
        let records: Vec<Record> = records
            .iter()
            .map(|(key, step, len)| {
                version += step.max(&1);
                Record {
                    key: Key::new(format!("k{key}")).unwrap(),
                    version: Version(version),
                    value: len.map(|len| Bytes::from(vec![b'v'; len])),
                }
            })
            .collect();
        NodeDelta {
            node: NodeId {
                name: NodeName::new("n").unwrap(),
                address: "127.0.0.1:1".parse().unwrap(),
                generation: Generation(1),
            },
            incarnation: Incarnation(0),
            status: NodeStatus::Alive,
            gc_watermark: Version(watermark),
            from_version: Version(from),
            to_version: Version(version),
            complete: true,
            records,
        }
    }

    proptest! {
        /// The byte count kept through writes, merges, resets and collection equals a
        /// fresh count, and a merge never grows it by more than `growth_in_bytes` said.
        #[test]
        fn the_kept_byte_count_equals_a_fresh_one(
            steps in proptest::collection::vec(
                (0..5u8, proptest::collection::vec((0..6u8, 1..3u64, proptest::option::of(0..300usize)), 0..6)),
                1..40,
            ),
        ) {
            let mut node = NodeState::new(
                NodeId {
                    name: NodeName::new("n").unwrap(),
                    address: "127.0.0.1:1".parse().unwrap(),
                    generation: Generation(1),
                },
                Incarnation(0),
            );
            let limits = RecordLimits { max_keys: 100, bytes_left: usize::MAX };
            let mut stats = Stats::default();
            for (kind, records) in steps {
                let before = node.held_bytes();
                match kind {
                    0 => {
                        let delta = delta(node.max_version().0, node.gc_watermark().0, &records);
                        let bound = node.growth_in_bytes(&delta);
                        let _ = node.merge_records(&delta, limits, &mut stats);
                        prop_assert!(node.held_bytes() <= before + bound);
                    }
                    1 => {
                        // A reset from a peer with a newer watermark.
                        let watermark = node.horizon().0 + 2;
                        let delta = delta(0, watermark, &records);
                        let bound = node.growth_in_bytes(&delta);
                        let _ = node.merge_records(&delta, limits, &mut stats);
                        prop_assert!(node.held_bytes() <= before + bound);
                    }
                    2 => {
                        node.collect_tombstones(node.max_version());
                    }
                    3 => {
                        for (key, _, len) in &records {
                            let value = len.map(|len| Bytes::from(vec![b'w'; len]));
                            node.write(Key::new(format!("k{key}")).unwrap(), value);
                        }
                    }
                    _ => {
                        let _ = node.finish_reset();
                    }
                }
                prop_assert_eq!(node.held_bytes(), recounted(&node));
            }
        }
    }
}
