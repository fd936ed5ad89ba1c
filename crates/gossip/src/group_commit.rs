//! Group commit (feature `durable`): own writes that arrive while a group is being made
//! durable wait, and go together in the next group, with one fsync for all of them.
//!
//! No thread of its own: the first writer to find no group in progress leads — it takes
//! every write waiting, runs the core's write-ahead sequence for them at once
//! ([`write_ahead_group`]) under the data directory's lock, and hands each writer its
//! outcome; the others wait on a condition variable. A lone writer pays one fsync, as
//! before; `n` concurrent writers pay about one fsync per group instead of `n`.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use leviathan_gossip_core::{Node, NodeAccess, PreparedWrite, Store, Write, write_ahead_group};
use leviathan_gossip_durable::{DataDir, OwnWrite};
use leviathan_gossip_wire::Version;

use crate::error::Error;
use crate::wall_clock::unix_millis_now;

/// A data directory and the writes waiting for it.
#[derive(Debug)]
pub(crate) struct GroupCommit {
    dir: Mutex<DataDir>,
    queue: Mutex<Queue>,
    group_done: Condvar,
}

/// Writes waiting for the next group, and outcomes not yet collected by their writers.
#[derive(Debug, Default)]
struct Queue {
    waiting: Vec<(u64, Write)>,
    outcomes: HashMap<u64, Result<Option<Version>, Error>>,
    /// Whether a leader is making a group durable now.
    committing: bool,
    next_ticket: u64,
}

impl GroupCommit {
    pub(crate) fn new(dir: DataDir) -> Self {
        GroupCommit {
            dir: Mutex::new(dir),
            queue: Mutex::new(Queue::default()),
            group_done: Condvar::new(),
        }
    }

    /// The data directory, locked: no group is made durable while it is held.
    pub(crate) fn dir(&self) -> MutexGuard<'_, DataDir> {
        self.dir.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes `write` durable in the next group, then applies it to `node`; blocks until
    /// then. Returns its version (`None`: nothing to write).
    pub(crate) fn write(&self, node: &Mutex<Node>, write: Write) -> Result<Option<Version>, Error> {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let ticket = queue.next_ticket;
        queue.next_ticket += 1;
        queue.waiting.push((ticket, write));
        loop {
            if let Some(outcome) = queue.outcomes.remove(&ticket) {
                return outcome;
            }
            if queue.committing {
                queue = self
                    .group_done
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            queue.committing = true;
            let group = std::mem::take(&mut queue.waiting);
            drop(queue);
            let outcomes = self.commit(node, group);
            queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            queue.committing = false;
            queue.outcomes.extend(outcomes);
            self.group_done.notify_all();
        }
    }

    /// Runs the write-ahead sequence for one group: each write's outcome by its ticket.
    fn commit(
        &self,
        node: &Mutex<Node>,
        group: Vec<(u64, Write)>,
    ) -> Vec<(u64, Result<Option<Version>, Error>)> {
        let (tickets, writes): (Vec<u64>, Vec<Write>) = group.into_iter().unzip();
        let mut dir = self.dir();
        let mut node = LockedNode(node);
        let outcomes = write_ahead_group(
            &mut node,
            &mut DataDirStore(&mut dir),
            writes,
            Instant::now(),
        );
        match outcomes {
            Ok(outcomes) => tickets
                .into_iter()
                .zip(
                    outcomes
                        .into_iter()
                        .map(|outcome| outcome.map_err(Error::Write)),
                )
                .collect(),
            Err(error) => {
                let error = Error::Durable {
                    reason: error.to_string(),
                };
                tickets
                    .into_iter()
                    .map(|ticket| (ticket, Err(error.clone())))
                    .collect()
            }
        }
    }
}

/// The node behind the runtime's lock, for the write-ahead sequence: locked for each step,
/// never across the store's fsync.
struct LockedNode<'a>(&'a Mutex<Node>);

impl NodeAccess for LockedNode<'_> {
    fn with_node<T>(&mut self, f: impl FnOnce(&mut Node) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The data directory as the core's [`Store`]: a group is one append and one fsync; a
/// write with a time to live records its deadline on the wall clock, so a node restarted
/// after it deletes the key at once.
struct DataDirStore<'a>(&'a mut DataDir);

impl Store for DataDirStore<'_> {
    type Error = leviathan_gossip_durable::WriteError;

    fn persist(&mut self, writes: &[PreparedWrite]) -> Result<(), Self::Error> {
        let now = unix_millis_now();
        let records: Vec<OwnWrite> = writes
            .iter()
            .map(|write| OwnWrite {
                key: write.key().clone(),
                version: write.version(),
                value: write.value().cloned(),
                // Rounded up to the millisecond: never before the in-memory deadline,
                // which was taken earlier. The ttl was checked to be representable.
                expires_at_unix_ms: write.ttl().map(|ttl| {
                    let millis = u64::try_from(ttl.as_nanos().div_ceil(1_000_000));
                    now.saturating_add(millis.unwrap_or(u64::MAX))
                }),
            })
            .collect();
        self.0.record_writes(&records)
    }
}
