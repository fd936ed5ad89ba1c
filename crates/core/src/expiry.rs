//! Deadlines of this node's keys written with a time to live.
//!
//! Expiry is a delete the owner issues: replicas never expire anything on their own clocks,
//! so every node agrees on when a key went (its tombstone's version) whatever their clocks.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use leviathan_gossip_wire::{Key, Version};

/// A key written with a time to live whose deadline has passed: the owner should delete
/// it, unless it was written again since (its version moved on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    /// The key.
    pub key: Key,
    /// The version of the write that set the deadline.
    pub version: Version,
}

/// Pending deadlines, at most one per key: a later write of the key replaces or cancels it.
#[derive(Debug, Clone, Default)]
pub struct Expiries {
    by_key: HashMap<Key, (Instant, Version)>,
    by_deadline: BTreeMap<(Instant, Version), Key>,
}

impl Expiries {
    /// Records that `key`'s write at `version` expires at `deadline` (replacing any
    /// earlier deadline of the key).
    pub fn insert(&mut self, key: Key, version: Version, deadline: Instant) {
        self.cancel(&key);
        self.by_deadline.insert((deadline, version), key.clone());
        self.by_key.insert(key, (deadline, version));
    }

    /// Forgets `key`'s deadline (it was written again without one, or deleted).
    pub fn cancel(&mut self, key: &Key) {
        if let Some(slot) = self.by_key.remove(key) {
            self.by_deadline.remove(&slot);
        }
    }

    /// The earliest deadline, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.by_deadline
            .keys()
            .next()
            .map(|(deadline, _)| *deadline)
    }

    /// Removes and returns every write whose deadline is at or before `now`, earliest first.
    pub fn take_due(&mut self, now: Instant) -> Vec<Expired> {
        let mut due = Vec::new();
        while let Some(entry) = self.by_deadline.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((_, version), key) = entry.remove_entry();
            self.by_key.remove(&key);
            due.push(Expired { key, version });
        }
        due
    }

    /// Number of pending deadlines.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether there are none.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_rewrite_replaces_the_deadline_and_due_keys_come_out_in_order() {
        let start = Instant::now();
        let key = |k: &str| Key::new(k).unwrap();
        let at = |s: u64| start + Duration::from_secs(s);
        let mut expiries = Expiries::default();
        expiries.insert(key("a"), Version(1), at(10));
        expiries.insert(key("b"), Version(2), at(5));
        expiries.insert(key("a"), Version(3), at(20));
        expiries.insert(key("c"), Version(4), at(1));
        expiries.cancel(&key("c"));
        assert_eq!(expiries.next_deadline(), Some(at(5)));
        assert_eq!(
            expiries.take_due(at(15)),
            [Expired {
                key: key("b"),
                version: Version(2)
            }]
        );
        assert_eq!(expiries.take_due(at(20)).len(), 1);
        assert!(expiries.is_empty());
    }
}
