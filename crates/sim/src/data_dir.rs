//! A node's data directory, modelled: what `crates/durable` would hold for it, so a
//! scenario can restart a node with its own keys ([`crate::Action::RestartWithData`]) or
//! without ([`crate::Action::Restart`]).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use leviathan_gossip_core::Node;
use leviathan_gossip_core::Versioned;
use leviathan_gossip_wire::{Key, Version};

/// The node's own records as its data directory keeps them: every write, tombstones until
/// garbage collection drops them, deadlines of keys written with a time to live.
#[derive(Debug, Clone, Default)]
pub(crate) struct DataDirModel {
    records: BTreeMap<Key, (Version, Option<Bytes>)>,
    /// Virtual-time deadlines of live keys written with a TTL.
    deadlines: BTreeMap<Key, Duration>,
    max_version: Version,
}

impl DataDirModel {
    /// A write the node acknowledged: `value` (`None` for a deletion), expiring at
    /// `deadline` if given.
    pub(crate) fn record(
        &mut self,
        key: Key,
        version: Version,
        value: Option<Bytes>,
        deadline: Option<Duration>,
    ) {
        match deadline {
            Some(deadline) if value.is_some() => {
                self.deadlines.insert(key.clone(), deadline);
            }
            _ => {
                self.deadlines.remove(&key);
            }
        }
        self.records.insert(key, (version, value));
        self.max_version = self.max_version.max(version);
    }

    /// The records held: key, version, value (`None`: tombstone).
    pub(crate) fn records(&self) -> impl Iterator<Item = (&Key, Version, Option<&Bytes>)> {
        self.records
            .iter()
            .map(|(key, (version, value))| (key, *version, value.as_ref()))
    }

    /// Garbage collection dropped `key`'s tombstone.
    pub(crate) fn forget(&mut self, key: &Key) {
        if self
            .records
            .get(key)
            .is_some_and(|(_, value)| value.is_none())
        {
            self.records.remove(key);
        }
    }

    /// Loads the directory into a node that just started; returns the records restored
    /// (the ground truth of the new generation).
    pub(crate) fn restore_into(
        &self,
        node: &mut Node,
        base: Instant,
    ) -> Vec<(Key, Version, Option<Bytes>)> {
        let records = self.records.iter().map(|(key, (version, value))| {
            let versioned = Versioned {
                version: *version,
                value: value.clone(),
            };
            (key.clone(), versioned)
        });
        if node.restore_own_records(records, self.max_version).is_err() {
            return Vec::new();
        }
        for (key, deadline) in &self.deadlines {
            node.restore_expiry(key, base + *deadline);
        }
        self.records
            .iter()
            .map(|(key, (version, value))| (key.clone(), *version, value.clone()))
            .collect()
    }
}
