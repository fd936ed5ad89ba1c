//! Own writes made durable (feature `durable`): the data directory of
//! [`leviathan_gossip_durable`] behind the core's write-ahead sequence, the state a
//! node restores from it at start, and the members it remembers for rejoining after a
//! restart.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use leviathan_gossip_core::{Node, Versioned, Write};
use leviathan_gossip_durable::{
    DataDir, RememberedMember, merge_members, read_members, write_members,
};
use leviathan_gossip_wire::{ClusterId, Generation, Key, NodeName, Version};
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::error::{Error, StartError};
use crate::group_commit::GroupCommit;
use crate::wall_clock::unix_millis_now;

/// Where this node's own writes are made durable: its data directory, if configured,
/// behind group commit; and the members remembered there.
#[derive(Debug)]
pub(crate) struct Persistence {
    commit: Option<GroupCommit>,
    members: Option<Members>,
}

/// The members file of the data directory, and the list last read or written.
#[derive(Debug)]
struct Members {
    dir: PathBuf,
    own: NodeName,
    saved: Mutex<Vec<RememberedMember>>,
}

impl Persistence {
    /// Opens `config`'s data directory, if it has one, and takes this run's generation from
    /// it (above the previous run's, even if the clock went back); without one the
    /// generation is `clock`.
    pub(crate) fn open(
        config: &Config,
        cluster_id: &ClusterId,
        name: &NodeName,
        clock: u64,
    ) -> Result<(Self, Generation), StartError> {
        let Some(path) = &config.data_dir else {
            let none = Persistence {
                commit: None,
                members: None,
            };
            return Ok((none, Generation(clock)));
        };
        let mut dir = DataDir::open(path, cluster_id, name)?;
        let generation = dir.next_generation(clock).map_err(StartError::Generation)?;
        let saved = match read_members(path) {
            Ok(members) => members,
            Err(error) => {
                warn!(%error, "ignoring the remembered members; starting without them");
                Vec::new()
            }
        };
        let members = Members {
            dir: path.clone(),
            own: name.clone(),
            saved: Mutex::new(saved),
        };
        let persistence = Persistence {
            commit: Some(GroupCommit::new(dir)),
            members: Some(members),
        };
        Ok((persistence, generation))
    }

    /// The addresses of the members remembered from the previous run, the most recently
    /// heard first (none without a data directory).
    pub(crate) fn remembered(&self) -> Vec<SocketAddr> {
        let Some(members) = &self.members else {
            return Vec::new();
        };
        let saved = members.saved.lock().unwrap_or_else(PoisonError::into_inner);
        saved.iter().map(|member| member.address).collect()
    }

    /// Whether there is a data directory to remember members in.
    pub(crate) fn remembers(&self) -> bool {
        self.members.is_some()
    }

    /// Remembers `live` (the members heard from now, the most recently heard first) before
    /// those remembered so far, up to the bound, if that changes the list. Blocks for the
    /// file's fsyncs: call it on the blocking pool. A failure is logged (the file is a
    /// hint; the previous one stays).
    pub(crate) fn remember(&self, live: Vec<(NodeName, SocketAddr)>) {
        let Some(members) = &self.members else {
            return;
        };
        let mut saved = members.saved.lock().unwrap_or_else(PoisonError::into_inner);
        let recent = live
            .into_iter()
            .map(|(name, address)| RememberedMember { name, address });
        let merged = merge_members(recent, &saved, &members.own);
        if merged == *saved {
            return;
        }
        match write_members(&members.dir, &merged) {
            Ok(()) => {
                debug!(members = merged.len(), "remembered members saved");
                *saved = merged;
            }
            Err(error) => warn!(%error, "cannot save the remembered members"),
        }
    }

    /// Loads the data directory's records, if there is one, into a fresh node (see
    /// [`restore`]).
    pub(crate) fn restore(&self, node: &mut Node, now: Instant) -> Result<(), StartError> {
        match &self.commit {
            Some(durable) => restore(node, &durable.dir(), now),
            None => Ok(()),
        }
    }

    /// Applies an own write (see `Gossip::write`): without a data directory to `node` at
    /// once; with one, through the core's write-ahead sequence in the next group commit
    /// ([`GroupCommit`]).
    pub(crate) fn write(
        &self,
        node: &Mutex<Node>,
        write: Write,
        now: Instant,
    ) -> Result<Option<Version>, Error> {
        match &self.commit {
            None => Ok(node
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .write(write, now)?),
            Some(durable) => durable.write(node, write),
        }
    }

    /// Whether writes wait for the data directory's lock and fsync (there is one).
    pub(crate) fn blocks(&self) -> bool {
        self.commit.is_some()
    }

    /// Forgets tombstones garbage collection dropped, in the data directory if there is one.
    pub(crate) fn forget(&self, keys: &[Key]) {
        if let Some(durable) = &self.commit {
            let mut dir = durable.dir();
            for key in keys {
                dir.forget(key.as_str());
            }
        }
    }

    /// Whether a write the data directory refused may succeed if tried again: there is one
    /// and it is not poisoned.
    pub(crate) fn may_retry(&self) -> bool {
        self.commit
            .as_ref()
            .is_some_and(|durable| !durable.dir().is_poisoned())
    }
}

/// Loads the data directory's records (this node's own, from its previous runs) into a
/// fresh node, with the deadlines of those written with a time to live: the wall-clock
/// deadline on disk becomes an [`Instant`] as far from `now` as it is from the wall clock
/// now (`now` itself if it passed, so the key is deleted on the first timeout).
fn restore(node: &mut Node, dir: &DataDir, now: Instant) -> Result<(), StartError> {
    let records = dir.records().iter().map(|(key, (version, value))| {
        let versioned = Versioned {
            version: *version,
            value: value.clone(),
        };
        (key.clone(), versioned)
    });
    node.restore_own_records(records, dir.max_version())?;
    let wall_now = unix_millis_now();
    let mut overdue = 0usize;
    for (key, &expires_at) in dir.expiries() {
        let ahead = Duration::from_millis(expires_at.saturating_sub(wall_now));
        if ahead.is_zero() {
            overdue += 1;
        }
        let Some(deadline) = now.checked_add(ahead) else {
            warn!(%key, expires_at, "expiry too far ahead to schedule; the key is kept");
            continue;
        };
        if !node.restore_expiry(key, deadline) {
            debug!(%key, "expiry of a key that holds no value ignored");
        }
    }
    let recovery = dir.recovery();
    info!(
        path = %dir.path().display(),
        records = dir.records().len(),
        expiring = dir.expiries().len(),
        overdue,
        max_version = dir.max_version().0,
        log_records = recovery.log_records,
        torn_bytes_dropped = recovery.torn_bytes_dropped,
        "restored this node's state from its data directory"
    );
    Ok(())
}
