//! Every peer's health in one dense table, and the census of peers by state.
//!
//! The health check visits every peer each interval, and a node of a 10,000-node cluster
//! keeps 10,000 peers: walking them in a B-tree of full peer entries chased 1.2 KB tree
//! nodes through memory for 32 bytes of health each. Here the health of each peer (with
//! its name) sits in a flat array that the check streams through, and the peer's entry
//! keeps only its [`HealthSlot`]. Slots of removed peers are reused.
//!
//! Every change of a peer's state goes through the table, which keeps the census of live
//! and unreachable peers up to date, so the gossip round can draw its targets by rank
//! without counting the peers first.

use std::num::NonZeroU32;

use leviathan_gossip_wire::NodeName;

use crate::member::{Health, MemberState};

/// How many peers are in each class the gossip round draws from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Census {
    /// Live peers.
    pub(crate) live: usize,
    /// Suspect and dead peers.
    pub(crate) unreachable: usize,
}

impl Census {
    /// Counts `state` in.
    fn add(&mut self, state: MemberState) {
        match state {
            MemberState::Live => self.live += 1,
            MemberState::Suspect | MemberState::Dead => self.unreachable += 1,
            MemberState::Left => {}
        }
    }

    /// Counts `state` out.
    fn remove(&mut self, state: MemberState) {
        match state {
            MemberState::Live => self.live = self.live.saturating_sub(1),
            MemberState::Suspect | MemberState::Dead => {
                self.unreachable = self.unreachable.saturating_sub(1);
            }
            MemberState::Left => {}
        }
    }

    fn change(&mut self, before: MemberState, after: MemberState) {
        if before != after {
            self.remove(before);
            self.add(after);
        }
    }
}

/// Where a peer's health is kept in its node's [`HealthTable`]. Only the table hands
/// them out, and a peer's entry holds its own until the table takes it back. The index
/// plus one, so that an absent slot costs no extra bytes in every peer's entry.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct HealthSlot(NonZeroU32);

impl HealthSlot {
    fn new(index: u32) -> Option<Self> {
        NonZeroU32::new(index.checked_add(1)?).map(HealthSlot)
    }

    fn index(&self) -> usize {
        (self.0.get() - 1) as usize
    }
}

/// A tracked peer: its name (for events, and to find its entry) and its health.
#[derive(Debug)]
struct Tracked {
    name: NodeName,
    health: Health,
}

/// The health of every tracked peer, densely, with the census of their states.
#[derive(Debug, Default)]
pub(crate) struct HealthTable {
    slots: Vec<Option<Tracked>>,
    /// Empty slots, reused before the table grows.
    free: Vec<u32>,
    census: Census,
}

impl HealthTable {
    /// Starts tracking `name` with `health`; `None` only past `u32::MAX - 1` peers (a
    /// node tracks at most `max_nodes`).
    pub(crate) fn track(&mut self, name: NodeName, health: Health) -> Option<HealthSlot> {
        let (slot, index) = match self.free.pop() {
            Some(index) => (HealthSlot::new(index)?, index as usize),
            None => {
                let index = u32::try_from(self.slots.len()).ok()?;
                self.slots.push(None);
                (HealthSlot::new(index)?, index as usize)
            }
        };
        let cell = self.slots.get_mut(index)?;
        self.census.add(health.state);
        *cell = Some(Tracked { name, health });
        Some(slot)
    }

    /// Stops tracking the peer in `slot`; returns the health it had.
    pub(crate) fn untrack(&mut self, slot: HealthSlot) -> Option<Health> {
        let tracked = self.slots.get_mut(slot.index())?.take()?;
        self.census.remove(tracked.health.state);
        self.free.push(u32::try_from(slot.index()).ok()?);
        Some(tracked.health)
    }

    /// The health in `slot`.
    pub(crate) fn health(&self, slot: &HealthSlot) -> Option<&Health> {
        Some(&self.slots.get(slot.index())?.as_ref()?.health)
    }

    /// Changes the health in `slot` with `change`, keeping the census in step.
    pub(crate) fn update<R>(
        &mut self,
        slot: &HealthSlot,
        change: impl FnOnce(&mut Health) -> R,
    ) -> Option<R> {
        let tracked = self.slots.get_mut(slot.index())?.as_mut()?;
        let before = tracked.health.state;
        let result = change(&mut tracked.health);
        self.census.change(before, tracked.health.state);
        Some(result)
    }

    /// Changes every tracked peer's health with `change`, in table order, keeping the
    /// census in step: one pass through contiguous memory.
    pub(crate) fn update_all(&mut self, mut change: impl FnMut(&NodeName, &mut Health)) {
        for tracked in self.slots.iter_mut().flatten() {
            let before = tracked.health.state;
            change(&tracked.name, &mut tracked.health);
            self.census.change(before, tracked.health.state);
        }
    }

    /// How many tracked peers are live, and how many suspect or dead.
    pub(crate) fn census(&self) -> Census {
        self.census
    }

    /// The census counted afresh (what [`Self::census`] keeps up to date).
    pub(crate) fn recount(&self) -> Census {
        let mut census = Census::default();
        for tracked in self.slots.iter().flatten() {
            census.add(tracked.health.state);
        }
        census
    }

    /// Slots held, in use or free: the most peers tracked at once so far.
    pub(crate) fn slots(&self) -> usize {
        self.slots.len()
    }

    /// The names of the tracked peers, in table order.
    pub(crate) fn names(&self) -> impl Iterator<Item = &NodeName> {
        self.slots.iter().flatten().map(|tracked| &tracked.name)
    }

    /// The tracked peers on the rings: live ones. A suspect leaves the rings, so its
    /// subjects pass to the next observers at once (a partition's far side may hold all of
    /// a node's observers); those that watched it keep watching it (see
    /// [`Health::stays_watched`]).
    pub(crate) fn watchable(&self) -> impl Iterator<Item = &NodeName> + Clone {
        self.slots
            .iter()
            .flatten()
            .filter(|tracked| tracked.health.state == MemberState::Live)
            .map(|tracked| &tracked.name)
    }

    /// Whether the peer in `slot` is on the rings (see [`Self::watchable`]).
    pub(crate) fn is_on_rings(&self, slot: &HealthSlot) -> bool {
        self.state(slot) == Some(MemberState::Live)
    }

    /// Whether the peer in `slot`, off the rings, stays watched by those that watched it.
    pub(crate) fn stays_watched(&self, slot: &HealthSlot) -> bool {
        self.health(slot).is_some_and(Health::stays_watched)
    }

    /// The state of the peer in `slot`.
    pub(crate) fn state(&self, slot: &HealthSlot) -> Option<MemberState> {
        self.health(slot).map(|health| health.state)
    }

    /// The name tracked in `slot`.
    pub(crate) fn name(&self, slot: &HealthSlot) -> Option<&NodeName> {
        Some(&self.slots.get(slot.index())?.as_ref()?.name)
    }

    /// The live peers at `live_ranks` (distinct ranks among the live peers in table
    /// order; in the order given), and the unreachable peer at `unreachable_rank`. Walks
    /// the table only as far as the highest rank asked for.
    pub(crate) fn at_ranks(
        &self,
        live_ranks: &[usize],
        unreachable_rank: Option<usize>,
    ) -> (Vec<&NodeName>, Option<&NodeName>) {
        let mut live: Vec<Option<&NodeName>> = vec![None; live_ranks.len()];
        let mut unreachable = None;
        let mut missing = live_ranks.len() + usize::from(unreachable_rank.is_some());
        let (mut live_seen, mut unreachable_seen) = (0, 0);
        for tracked in self.slots.iter().flatten() {
            if missing == 0 {
                break;
            }
            match tracked.health.state {
                MemberState::Live => {
                    if let Some(found) = live_ranks.iter().position(|rank| *rank == live_seen)
                        && let Some(name) = live.get_mut(found)
                    {
                        *name = Some(&tracked.name);
                        missing -= 1;
                    }
                    live_seen += 1;
                }
                MemberState::Suspect | MemberState::Dead => {
                    if unreachable_rank == Some(unreachable_seen) {
                        unreachable = Some(&tracked.name);
                        missing -= 1;
                    }
                    unreachable_seen += 1;
                }
                MemberState::Left => {}
            }
        }
        (live.into_iter().flatten().collect(), unreachable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(state: MemberState) -> Health {
        Health::new(state, 0)
    }

    fn name(name: &str) -> NodeName {
        NodeName::new(name).unwrap()
    }

    #[test]
    fn the_census_follows_every_change_and_slots_are_reused() {
        let mut table = HealthTable::default();
        let a = table.track(name("a"), health(MemberState::Live)).unwrap();
        let b = table.track(name("b"), health(MemberState::Live)).unwrap();
        let c = table.track(name("c"), health(MemberState::Left)).unwrap();
        assert_eq!(
            table.census(),
            Census {
                live: 2,
                unreachable: 0
            }
        );
        table.update(&b, |h| h.state = MemberState::Suspect);
        assert_eq!(
            table.census(),
            Census {
                live: 1,
                unreachable: 1
            }
        );
        table.update_all(|_, h| {
            if h.state == MemberState::Suspect {
                h.state = MemberState::Dead;
            } else if h.state == MemberState::Live {
                h.state = MemberState::Suspect;
            }
        });
        assert_eq!(
            table.census(),
            Census {
                live: 0,
                unreachable: 2
            }
        );
        assert_eq!(
            table.untrack(a).map(|h| h.state),
            Some(MemberState::Suspect)
        );
        assert_eq!(
            table.census(),
            Census {
                live: 0,
                unreachable: 1
            }
        );
        let d = table.track(name("d"), health(MemberState::Live)).unwrap();
        assert_eq!(d, HealthSlot::new(0).unwrap(), "the freed slot is reused");
        assert_eq!(table.slots(), 3);
        assert_eq!(table.name(&d), Some(&name("d")));
        assert_eq!(table.health(&c).map(|h| h.state), Some(MemberState::Left));
        assert_eq!(table.census(), table.recount());
        assert_eq!(table.names().count(), 3);
    }

    #[test]
    fn ranks_count_live_and_unreachable_peers_apart_in_table_order() {
        let mut table = HealthTable::default();
        let peers = [
            ("a", MemberState::Live),
            ("b", MemberState::Suspect),
            ("c", MemberState::Live),
            ("d", MemberState::Left),
            ("e", MemberState::Dead),
            ("f", MemberState::Live),
        ];
        for (peer, state) in peers {
            table.track(name(peer), health(state));
        }
        let (live, unreachable) = table.at_ranks(&[2, 0], Some(1));
        assert_eq!(live, [&name("f"), &name("a")]);
        assert_eq!(unreachable, Some(&name("e")));
        let (live, unreachable) = table.at_ranks(&[1], None);
        assert_eq!(live, [&name("c")]);
        assert_eq!(unreachable, None);
    }
}
