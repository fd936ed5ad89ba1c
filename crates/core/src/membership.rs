//! Who is live: the state of every peer as the failure detector and announcements see it.

use std::fmt;
use std::time::Instant;

use leviathan_gossip_wire::{Heartbeat, NodeId, Version};

/// A peer's state, from this node's point of view.
///
/// ```text
///   Live ──φ > threshold──▶ Suspect ──dead_after──▶ Dead
///    ▲                        │                      │
///    └──── fresh heartbeat ───┴──────────────────────┘
///   any ──announced leave──▶ Left    (a new generation makes it Live again)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberState {
    /// Heartbeats arrive as expected.
    Live,
    /// Heartbeats are late enough that φ crossed the threshold.
    Suspect,
    /// Suspect for longer than `dead_after`.
    Dead,
    /// Announced a graceful leave.
    Left,
}

impl MemberState {
    /// Lower-case name, as used in JSON and metrics.
    pub fn name(self) -> &'static str {
        match self {
            MemberState::Live => "live",
            MemberState::Suspect => "suspect",
            MemberState::Dead => "dead",
            MemberState::Left => "left",
        }
    }
}

impl fmt::Display for MemberState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A snapshot of one cluster member, for `members()`.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// Name, address and generation.
    pub id: NodeId,
    /// Live, suspect, dead or left. The local node is always live (or left after `leave`).
    pub state: MemberState,
    /// Current φ (`None` for the local node and for peers that left).
    pub phi: Option<f64>,
    /// Highest heartbeat known.
    pub heartbeat: Heartbeat,
    /// Highest version known of its key-value map.
    pub max_version: Version,
    /// Number of live keys known.
    pub key_count: usize,
    /// Whether this is the local node.
    pub is_local: bool,
}

/// Liveness bookkeeping of one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Liveness {
    pub(crate) state: MemberState,
    /// When the peer entered its current state.
    pub(crate) since: Instant,
}
