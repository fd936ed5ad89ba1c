//! The vocabulary of membership: a peer's state, this node's judgement of it, and the
//! snapshots `members()` and `peer_counts()` hand out. The rules that move peers between
//! states are in `membership.rs`.

use std::fmt;

use leviathan_gossip_wire::{Incarnation, NodeId, Version};

/// A peer's state, from this node's point of view.
///
/// ```text
///   Live ──corroborated alerts──▶ Suspect ──suspicion timeout──▶ Dead
///    ▲                               │                            │
///    └──── refuted (newer incarnation) or restarted ──────────────┘
///   any ──announced leave──▶ Left    (a new generation makes it Live again)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MemberState {
    /// No corroborated alert against its current incarnation.
    Live,
    /// Enough of its observers found it unreachable (`corroboration` of them, or all it
    /// has when fewer can vouch), and it has not refuted them.
    Suspect,
    /// Suspect for the suspicion timeout (`dead_after`, shorter with more alerters).
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

/// How many peers a node lists, and in which state: kept up to date as they change, so
/// reading it costs nothing, unlike [`crate::Node::members`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerCounts {
    /// Peers listed, whatever their state (removed ones no longer count).
    pub known: usize,
    /// Peers seen as live.
    pub live: usize,
    /// Peers suspected or dead.
    pub unreachable: usize,
}

/// A snapshot of one cluster member, for `members()`.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// Name, address and generation.
    pub id: NodeId,
    /// Live, suspect, dead or left. The local node is always live (or left after `leave`).
    pub state: MemberState,
    /// φ of the acks to this node's probes, for the peers it watches (`None` for the
    /// others, which its own observers watch, for the local node and for peers that left).
    pub phi: Option<f64>,
    /// Highest incarnation known (raised by the peer itself to refute a suspicion).
    pub incarnation: Incarnation,
    /// Every record of its key-value map up to this version is known (during a reset,
    /// how far the reset got).
    pub max_version: Version,
    /// Its tombstones up to this version were garbage-collected: a peer knowing less gets a
    /// reset. `max(max_version, gc_watermark)` never goes back for one incarnation.
    pub gc_watermark: Version,
    /// Number of live keys known.
    pub key_count: usize,
    /// Whether this is the local node.
    pub is_local: bool,
}

/// This node's judgement of one peer incarnation's liveness: local, never gossiped. Kept
/// in the node's health table, in a slot the peer's [`crate::state::NodeState`] points
/// to; a new incarnation gets a fresh one. 32 bytes, as every node keeps one per peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Health {
    pub(crate) state: MemberState,
    /// Suspicions in the current flapping streak: each one that follows a refutation by
    /// less than `dead_after` continues the streak (0: no streak).
    pub(crate) flaps: u8,
    /// When the peer entered `state`, in ms since the membership's epoch.
    pub(crate) since_ms: u64,
    /// When the streak's first suspicion began (meaningful while `flaps > 0`).
    pub(crate) streak_since_ms: u64,
    /// When the peer last refuted a suspicion.
    pub(crate) refuted_ms: u64,
    /// A dead peer that flapped refuted during its hold-off: it is live again once the
    /// hold-off ends.
    pub(crate) revival_due: bool,
}

impl Health {
    /// Whether the observers that watched the peer keep watching it off the rings: while
    /// it is suspect (their probes carry the accusation, and its answers or silence tell
    /// whether it flaps), and while dead after flapping (their alerts hold it off, see
    /// `membership.rs`).
    pub(crate) fn stays_watched(&self) -> bool {
        match self.state {
            MemberState::Suspect => true,
            MemberState::Dead => self.flaps >= crate::health_check::FLAPPING,
            MemberState::Live | MemberState::Left => false,
        }
    }

    /// A peer in `state` from `since_ms` on, with no history.
    pub(crate) fn new(state: MemberState, since_ms: u64) -> Self {
        Health {
            state,
            flaps: 0,
            since_ms,
            streak_since_ms: 0,
            refuted_ms: 0,
            revival_due: false,
        }
    }
}
