//! Restarts of known nodes: believed at once, or — for a node held live — once the node
//! itself confirms the new generation (the bookkeeping is in `restart_claims.rs`).

use std::net::SocketAddr;
use std::time::Instant;

use leviathan_gossip_wire::{Header, Message, NodeDelta, NodeTag, Probe, Version};
use tracing::info;

use super::{Node, is_routable};
use crate::event::EventBatch;
use crate::member::MemberState;
use crate::restart_claims::Confirmation;
use crate::state::NodeState;

impl Node {
    /// A newer generation of a known node: a restart, believed at once unless the node is
    /// held for live, whose own word is asked for first (see `restart_claims.rs`).
    pub(super) fn adopt_restart(
        &mut self,
        delta: &NodeDelta,
        now: Instant,
        batch: &mut EventBatch,
    ) {
        let name = &delta.node.name;
        let live = self
            .state
            .get(name)
            .and_then(NodeState::health_slot)
            .and_then(|slot| self.membership.health().state(slot))
            == Some(MemberState::Live);
        // What adoption would refuse anyway is refused (and counted) there, unprobed.
        let adoptable = self.horizon.admits(delta.node.generation, now)
            && is_routable(delta.node.address)
            && delta.from_version == Version(0);
        if !live || !adoptable {
            return self.adopt_incarnation(delta, None, now, batch);
        }
        self.stats.unconfirmed_restarts += 1;
        let sequence = self.rng_sequence();
        let timeout = self.config.probe_timeout;
        if self.restart_claims.ask(delta, sequence, timeout, now) {
            let probe = Probe {
                sequence,
                target: NodeTag::of(name),
                rumors: Vec::new(),
            };
            self.send(delta.node.address, Message::Probe(probe));
        }
    }

    /// The answer to a probe sent to confirm a live member's restart: adopts the new
    /// generation if the member runs it.
    pub(super) fn on_restart_confirmation(
        &mut self,
        from: SocketAddr,
        header: &Header,
        sequence: u64,
        now: Instant,
        batch: &mut EventBatch,
    ) {
        let answer =
            self.restart_claims
                .answered(sequence, from, &header.sender, header.generation, now);
        match answer {
            Some(Confirmation::Confirmed(delta)) => {
                let still_newer = self
                    .state
                    .get(&delta.node.name)
                    .is_some_and(|known| delta.node.generation > known.generation());
                if still_newer {
                    self.adopt_incarnation(&delta, None, now, batch);
                }
            }
            Some(Confirmation::Refuted) => {
                info!(node = %self.identity.name, peer = %header.sender, "false claim of a peer's restart: refuted by the peer");
                self.stats.refuted_restarts += 1;
            }
            Some(Confirmation::Outdated) | None => {}
        }
    }
}
