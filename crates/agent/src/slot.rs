//! The node an admin API serves, swappable: the demo crashes and restarts a node behind a
//! stable admin address, and a request during the gap gets `503` instead of a dead handle.

use std::sync::{Arc, PoisonError, RwLock};

use leviathan_gossip::Gossip;

/// A shared, replaceable reference to a running [`Gossip`] node (or none). Cheap to clone.
///
/// Holders take a short-lived `Arc` per request ([`NodeSlot::current`]), so once the slot is
/// emptied and the node shut down, its UDP socket is released within a request's time.
#[derive(Debug, Clone, Default)]
pub struct NodeSlot(Arc<RwLock<Option<Arc<Gossip>>>>);

impl NodeSlot {
    /// A slot holding `gossip`.
    pub fn new(gossip: Arc<Gossip>) -> Self {
        NodeSlot(Arc::new(RwLock::new(Some(gossip))))
    }

    /// The node now served, if any.
    pub fn current(&self) -> Option<Arc<Gossip>> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Serves `gossip` from now on (or nothing); returns the node served before.
    pub fn replace(&self, gossip: Option<Arc<Gossip>>) -> Option<Arc<Gossip>> {
        let mut slot = self.0.write().unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *slot, gossip)
    }
}
