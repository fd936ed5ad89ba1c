//! This node's own writes, in two phases: [`Node::prepare`](crate::Node::prepare) reserves
//! a version and checks the write, the driver makes it durable (or not, without a store),
//! then [`Node::commit`](crate::Node::commit) consumes the [`PreparedWrite`] and applies it.
//!
//! The version a store records is the version the node applies, by construction: the
//! prepared write carries it, and only `commit` turns it into state. Several writes may be
//! prepared at once (a store committing a group with one fsync); they become visible in
//! version order, each once every write prepared before it is committed or abandoned, so
//! peers never see a version after a later one.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use leviathan_gossip_wire::{Key, NodeName, Version};
use thiserror::Error;

use crate::Node;
use crate::error::WriteError;
use crate::expiry::Expired;

/// A write this node is asked to make to its own keys: the input of
/// [`Node::prepare`](crate::Node::prepare).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Write {
    /// Sets `key` to `value`, with no time to live.
    Set {
        /// The key.
        key: Key,
        /// The value.
        value: Bytes,
    },
    /// Sets `key` to `value`; the node deletes it `ttl` after the write is prepared,
    /// unless it is written again meanwhile.
    SetWithTtl {
        /// The key.
        key: Key,
        /// The value.
        value: Bytes,
        /// How long the value lives.
        ttl: Duration,
    },
    /// Deletes `key` with a tombstone that replicates like a write.
    Delete {
        /// The key.
        key: Key,
    },
    /// Deletes a key whose time to live ran out ([`Output::Expired`](crate::Output)),
    /// if it still holds the write that expired.
    Expire(Expired),
}

impl Write {
    /// The key written.
    pub fn key(&self) -> &Key {
        match self {
            Write::Set { key, .. } | Write::SetWithTtl { key, .. } | Write::Delete { key } => key,
            Write::Expire(expired) => &expired.key,
        }
    }
}

/// A write checked and given its version, not yet applied: make it durable, then hand it
/// to [`Node::commit`](crate::Node::commit) (or to [`Node::abandon`](crate::Node::abandon)
/// if it could not be made durable). Dropping it instead holds back every write prepared
/// after it, which become visible only in version order.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a prepared write is applied only by Node::commit, or released by Node::abandon"]
pub struct PreparedWrite {
    /// The node that prepared it: no other may commit it.
    pub(crate) owner: NodeName,
    pub(crate) key: Key,
    pub(crate) version: Version,
    pub(crate) value: Option<Bytes>,
    pub(crate) ttl: Option<Duration>,
    /// When the key expires, if it was set with a time to live the clock can represent.
    pub(crate) deadline: Option<Instant>,
}

impl PreparedWrite {
    /// The key.
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// The version the write takes: a store records it under this version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The value; `None` for a tombstone (a deletion or an expiry).
    pub fn value(&self) -> Option<&Bytes> {
        self.value.as_ref()
    }

    /// The time to live, for a write made with one: a store records the deadline on its
    /// own clock, so that a node restarted after it deletes the key at once.
    pub fn ttl(&self) -> Option<Duration> {
        self.ttl
    }
}

/// Where a driver makes own writes durable (a data directory), for [`write_ahead`] and
/// [`write_ahead_group`].
pub trait Store {
    /// Why writes could not be recorded.
    type Error;
    /// Records `writes` durably (fsync'd once for all of them, ideally: a group commit),
    /// in order, or fails having recorded none that the next start would restore. Their
    /// versions increase along the slice.
    fn persist(&mut self, writes: &[PreparedWrite]) -> Result<(), Self::Error>;
}

/// A node as its driver holds it: directly, or behind a lock shared with other tasks.
/// [`write_ahead`] reaches the node only through it, so a lock is never held across
/// [`Store::persist`].
pub trait NodeAccess {
    /// Runs `f` on the node (under the lock, if there is one).
    fn with_node<T>(&mut self, f: impl FnOnce(&mut Node) -> T) -> T;
}

impl NodeAccess for Node {
    fn with_node<T>(&mut self, f: impl FnOnce(&mut Node) -> T) -> T {
        f(self)
    }
}

/// Why [`write_ahead`] did not apply a write.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum WriteAheadError<E> {
    /// The node refused the write: nothing was recorded or changed.
    #[error(transparent)]
    Refused(#[from] WriteError),
    /// The store could not record it: the write was abandoned, nothing changed on the node.
    #[error("the store could not record the write: {0}")]
    Store(E),
}

/// The write-ahead sequence for one write: [`write_ahead_group`] with `write` alone.
/// Returns its version (`None`: nothing to write, e.g. a deletion of an unset key).
pub fn write_ahead<S: Store>(
    node: &mut impl NodeAccess,
    store: &mut S,
    write: Write,
    now: Instant,
) -> Result<Option<Version>, WriteAheadError<S::Error>> {
    let mut outcomes =
        write_ahead_group(node, store, [write], now).map_err(WriteAheadError::Store)?;
    match outcomes.pop() {
        Some(outcome) => Ok(outcome?),
        None => Ok(None),
    }
}

/// The write-ahead sequence every driver with a store goes through, the only one: prepare
/// each of `writes` on the node, record those it accepted in `store` at once (one fsync
/// for the group), then commit them — or abandon them all if the store failed (`Err`: the
/// node is unchanged). On success, one outcome per write, in order: its version, `None`
/// if there was nothing to write, or why the node refused it (nothing recorded for it).
/// The caller serialises groups to one store (holding its lock across this call), so the
/// store sees versions in increasing order.
pub fn write_ahead_group<S: Store>(
    node: &mut impl NodeAccess,
    store: &mut S,
    writes: impl IntoIterator<Item = Write>,
    now: Instant,
) -> Result<Vec<Result<Option<Version>, WriteError>>, S::Error> {
    let mut prepared = Vec::new();
    // Per write: its outcome, or `Ok(Some(_))` as a placeholder for a prepared one.
    let outcomes: Vec<Result<Option<Version>, WriteError>> = node.with_node(|node| {
        writes
            .into_iter()
            .map(|write| {
                let prepared_write = node.prepare(write, now)?;
                Ok(prepared_write.map(|write| {
                    let version = write.version;
                    prepared.push(write);
                    version
                }))
            })
            .collect()
    });
    if prepared.is_empty() {
        return Ok(outcomes);
    }
    if let Err(error) = store.persist(&prepared) {
        node.with_node(|node| {
            for write in prepared {
                node.abandon(write);
            }
        });
        return Err(error);
    }
    let committed: Vec<Result<Version, WriteError>> = node.with_node(|node| {
        prepared
            .into_iter()
            .map(|write| node.commit(write))
            .collect()
    });
    let mut committed = committed.into_iter();
    Ok(outcomes
        .into_iter()
        .map(|outcome| match outcome {
            Ok(Some(_)) => committed.next().map_or(Ok(None), |result| result.map(Some)),
            other => other,
        })
        .collect())
}

/// Versions reserved by prepared writes, and the commits waiting for earlier ones.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    /// Per reserved version: `None` while prepared, the write once committed (it waits for
    /// every lower version to be committed or abandoned).
    writes: BTreeMap<Version, Option<PreparedWrite>>,
}

impl InFlight {
    /// The version a write prepared now takes: one above every version applied or
    /// reserved.
    pub(crate) fn next_version(&self, max_applied: Version) -> Version {
        let reserved = self
            .writes
            .keys()
            .next_back()
            .copied()
            .unwrap_or(Version(0));
        Version(max_applied.max(reserved).0.saturating_add(1))
    }

    /// Writes prepared and not yet applied.
    pub(crate) fn len(&self) -> usize {
        self.writes.len()
    }

    pub(crate) fn reserve(&mut self, version: Version) {
        self.writes.insert(version, None);
    }

    /// Whether `version` is reserved and not yet committed.
    pub(crate) fn is_reserved(&self, version: Version) -> bool {
        matches!(self.writes.get(&version), Some(None))
    }

    /// Marks `write` committed: it is applied when no lower version is in flight.
    pub(crate) fn commit(&mut self, write: PreparedWrite) {
        self.writes.insert(write.version, Some(write));
    }

    /// Releases `version`'s reservation, which is then skipped (versions need not be
    /// contiguous: deltas carry ranges).
    pub(crate) fn abandon(&mut self, version: Version) {
        self.writes.remove(&version);
    }

    /// The committed writes no earlier write holds back, lowest version first.
    pub(crate) fn take_ready(&mut self) -> Vec<PreparedWrite> {
        let mut ready = Vec::new();
        while let Some(entry) = self.writes.first_entry() {
            if entry.get().is_none() {
                break;
            }
            if let Some(write) = entry.remove() {
                ready.push(write);
            }
        }
        ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepared(version: u64) -> PreparedWrite {
        PreparedWrite {
            owner: NodeName::new("owner").unwrap_or_else(|_| unreachable!()),
            key: Key::new(format!("k{version}")).unwrap_or_else(|_| unreachable!()),
            version: Version(version),
            value: None,
            ttl: None,
            deadline: None,
        }
    }

    #[test]
    fn commits_are_released_in_version_order() {
        let mut in_flight = InFlight::default();
        for version in 1..=3 {
            assert_eq!(in_flight.next_version(Version(0)), Version(version));
            in_flight.reserve(Version(version));
        }
        in_flight.commit(prepared(3));
        in_flight.commit(prepared(2));
        assert!(
            in_flight.take_ready().is_empty(),
            "version 1 holds them back"
        );
        in_flight.abandon(Version(1));
        let ready: Vec<Version> = in_flight.take_ready().iter().map(|w| w.version).collect();
        assert_eq!(ready, [Version(2), Version(3)]);
        assert_eq!(in_flight.len(), 0);
        assert_eq!(in_flight.next_version(Version(3)), Version(4));
    }
}
