//! Without the `durable` feature: own writes live in memory only, and a restarted node
//! starts empty. The same calls as `durable::Persistence`, so the runtime drives either
//! alike.

use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use leviathan_gossip_core::{Node, Write};
use leviathan_gossip_wire::{ClusterId, Generation, Key, NodeName, Version};

use crate::config::Config;
use crate::error::{Error, StartError};

/// Nowhere to persist: every write is applied to the node at once.
#[derive(Debug)]
pub(crate) struct Persistence;

impl Persistence {
    /// Nothing to open: the generation is `clock`.
    pub(crate) fn open(
        _config: &Config,
        _cluster_id: &ClusterId,
        _name: &NodeName,
        clock: u64,
    ) -> Result<(Self, Generation), StartError> {
        Ok((Persistence, Generation(clock)))
    }

    /// Nothing to restore.
    pub(crate) fn restore(&self, _node: &mut Node, _now: Instant) -> Result<(), StartError> {
        Ok(())
    }

    /// Applies an own write to `node` at once.
    pub(crate) fn write(
        &self,
        node: &Mutex<Node>,
        write: Write,
        now: Instant,
    ) -> Result<Option<Version>, Error> {
        Ok(node
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .write(write, now)?)
    }

    /// Writes never wait for a disk.
    pub(crate) fn blocks(&self) -> bool {
        false
    }

    /// No members remembered from an earlier run.
    pub(crate) fn remembered(&self) -> Vec<SocketAddr> {
        Vec::new()
    }

    /// Nowhere to remember members.
    pub(crate) fn remembers(&self) -> bool {
        false
    }

    /// Nowhere to remember members.
    pub(crate) fn remember(&self, _live: Vec<(NodeName, SocketAddr)>) {}

    /// Nothing to forget.
    pub(crate) fn forget(&self, _keys: &[Key]) {}

    /// A write is only refused by the node, and that does not change by trying again.
    pub(crate) fn may_retry(&self) -> bool {
        false
    }
}
