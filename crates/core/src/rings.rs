//! Who watches whom: every node is watched by its successors on `K` hash rings.
//!
//! Each ring orders the members by a hash of their name mixed with the ring's number, so
//! the rings are independent pseudo-random orders that every member computes alike from
//! the member list alone. A node's *observers* are its successors on the rings (at most
//! `K` distinct nodes); conversely a node watches its *subjects*, its predecessors on the
//! rings. Every node watches at most `K` others and is watched by at most `K`, whatever N:
//! failure detection costs O(K) per node (Rapid, USENIX ATC 2018, uses the same rings).
//!
//! A node keeps only its predecessor on each ring, so its upkeep is O(K) per member that
//! arrives, and O(N·K) hashes (microseconds at N = 10,000) only when one of its subjects
//! leaves the rings.

use leviathan_gossip_wire::NodeName;

/// A node's subjects, kept up to date as members join and leave the rings.
#[derive(Debug, Clone)]
pub(crate) struct Rings {
    own: NodeName,
    rings: Vec<Ring>,
}

/// This node's place on one ring.
#[derive(Debug, Clone)]
struct Ring {
    number: usize,
    /// This node's position.
    position: u64,
    /// The nearest predecessor: its distance back from this node, and its name.
    predecessor: Option<(u64, NodeName)>,
}

impl Ring {
    /// Takes `name` as predecessor if it is nearer than the one held; returns whether.
    fn offer(&mut self, name: &NodeName) -> bool {
        let distance = distance_back(self.position, position(name, self.number));
        let nearer = self
            .predecessor
            .as_ref()
            .is_none_or(|(best, best_name)| (distance, name) < (*best, best_name));
        if nearer {
            self.predecessor = Some((distance, name.clone()));
        }
        nearer
    }
}

impl Rings {
    /// `count` rings on which `own` has no neighbour yet.
    pub(crate) fn new(own: NodeName, count: usize) -> Self {
        Rings {
            rings: (0..count)
                .map(|number| Ring {
                    number,
                    position: position(&own, number),
                    predecessor: None,
                })
                .collect(),
            own,
        }
    }

    /// `name` joined the rings (a member that may be watched). Returns whether it became
    /// one of this node's subjects.
    pub(crate) fn add(&mut self, name: &NodeName) -> bool {
        if *name == self.own {
            return false;
        }
        let mut became = false;
        for ring in &mut self.rings {
            became |= ring.offer(name);
        }
        became
    }

    /// `name` left the rings (dead, departed or removed). Returns whether it was a subject:
    /// then the caller must [`Rings::rescan`] the members still on the rings.
    pub(crate) fn remove(&mut self, name: &NodeName) -> bool {
        let mut was = false;
        for ring in &mut self.rings {
            if ring
                .predecessor
                .as_ref()
                .is_some_and(|(_, held)| held == name)
            {
                ring.predecessor = None;
                was = true;
            }
        }
        was
    }

    /// Finds the predecessor of every ring that has none, among `members` (this node among
    /// them or not).
    pub(crate) fn rescan<'a>(&mut self, members: impl Iterator<Item = &'a NodeName> + Clone) {
        let mut empty: Vec<&mut Ring> = self
            .rings
            .iter_mut()
            .filter(|ring| ring.predecessor.is_none())
            .collect();
        if empty.is_empty() {
            return;
        }
        for name in members.filter(|name| **name != self.own) {
            for ring in &mut empty {
                ring.offer(name);
            }
        }
    }

    /// The nodes this node watches, without duplicates, in ring order.
    pub(crate) fn subjects(&self) -> Vec<NodeName> {
        let mut subjects: Vec<NodeName> = Vec::with_capacity(self.rings.len());
        for (_, name) in self
            .rings
            .iter()
            .filter_map(|ring| ring.predecessor.as_ref())
        {
            if !subjects.contains(name) {
                subjects.push(name.clone());
            }
        }
        subjects
    }
}

/// The distinct observers of `subject` among `members` on `count` rings: its successor on
/// each ring. O(N·K): for the rare question "how many observers can vouch for this node".
pub(crate) fn observers_of<'a>(
    subject: &NodeName,
    members: impl Iterator<Item = &'a NodeName> + Clone,
    count: usize,
) -> Vec<NodeName> {
    // Per ring: the subject's position, and its nearest successor so far.
    let mut successors: Vec<(u64, Option<(u64, &NodeName)>)> = (0..count)
        .map(|ring| (position(subject, ring), None))
        .collect();
    for name in members.filter(|name| *name != subject) {
        for (ring, (subject_position, slot)) in successors.iter_mut().enumerate() {
            // A successor of the subject is a node the subject is a predecessor of.
            let distance = distance_back(position(name, ring), *subject_position);
            if slot
                .as_ref()
                .is_none_or(|(best, best_name)| (distance, name) < (*best, *best_name))
            {
                *slot = Some((distance, name));
            }
        }
    }
    let mut observers: Vec<NodeName> = Vec::with_capacity(count);
    for (_, name) in successors.into_iter().filter_map(|(_, slot)| slot) {
        if !observers.contains(name) {
            observers.push(name.clone());
        }
    }
    observers
}

/// [`observers_of`] remembered per subject while the members on the rings stay the same:
/// a node asks it every health check for each node accused by too few observers, and at
/// N = 10,000 each answer costs 50,000 hashes.
#[derive(Debug, Clone, Default)]
pub(crate) struct ObserverCache {
    known: std::collections::HashMap<NodeName, Vec<NodeName>>,
}

impl ObserverCache {
    /// The members on the rings changed: every answer is stale.
    pub(crate) fn invalidate(&mut self) {
        self.known.clear();
    }

    /// The observers of `subject` among `members`, computed once while they stay the same.
    pub(crate) fn observers_of<'a>(
        &mut self,
        subject: &NodeName,
        members: impl Iterator<Item = &'a NodeName> + Clone,
        count: usize,
    ) -> &[NodeName] {
        self.known
            .entry(subject.clone())
            .or_insert_with(|| observers_of(subject, members, count))
    }

    /// Forgets the subjects `keep` rejects.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&NodeName) -> bool) {
        self.known.retain(|name, _| keep(name));
    }
}

/// Where `name` sits on ring `ring`: its fixed name hash mixed with the ring number
/// (SplitMix64's finaliser), so the rings are independent orders.
fn position(name: &NodeName, ring: usize) -> u64 {
    let mut x = name
        .order_hash()
        .wrapping_add((ring as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// How far back from `from` (going against the ring's direction) `to` lies: the smallest
/// distance is the nearest predecessor. A node at the same position is a full turn away.
fn distance_back(from: u64, to: u64) -> u64 {
    match from.wrapping_sub(to) {
        0 => u64::MAX,
        distance => distance,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(count: usize) -> Vec<NodeName> {
        (0..count)
            .map(|i| NodeName::new(format!("node-{i:05}")).unwrap())
            .collect()
    }

    fn rings_of(own: &NodeName, members: &[NodeName], count: usize) -> Rings {
        let mut rings = Rings::new(own.clone(), count);
        for name in members {
            rings.add(name);
        }
        rings
    }

    #[test]
    fn every_node_watches_and_is_watched_by_a_few_and_the_views_agree() {
        let members = names(1_000);
        let k = 5;
        let mut watched_by = std::collections::HashMap::<NodeName, usize>::new();
        for own in &members {
            let subjects = rings_of(own, &members, k).subjects();
            assert!(!subjects.is_empty() && subjects.len() <= k);
            for subject in subjects {
                // Whom I watch, I am an observer of, as the subject's observers say.
                assert!(observers_of(&subject, members.iter(), k).contains(own));
                *watched_by.entry(subject).or_default() += 1;
            }
        }
        assert_eq!(watched_by.len(), members.len(), "every node is watched");
        let most = watched_by.values().copied().max().unwrap();
        assert!(
            most <= k,
            "a node is watched by at most K observers: {most}"
        );
        let mean = watched_by.values().sum::<usize>() as f64 / members.len() as f64;
        assert!(mean > 0.9 * k as f64, "rings rarely coincide: mean {mean}");
    }

    #[test]
    fn upkeep_after_removals_equals_a_fresh_computation() {
        let mut members = names(200);
        let own = members[7].clone();
        let mut rings = rings_of(&own, &members, 6);
        // Remove every current subject, several times over, rescanning as a node must.
        for _ in 0..5 {
            for subject in rings.subjects() {
                members.retain(|name| *name != subject);
                assert!(rings.remove(&subject));
                rings.rescan(members.iter());
            }
            let fresh = rings_of(&own, &members, 6);
            assert_eq!(rings.subjects(), fresh.subjects());
        }
        // Removing a node that is no subject changes nothing and needs no rescan.
        let bystander = members
            .iter()
            .find(|name| **name != own && !rings.subjects().contains(name))
            .unwrap()
            .clone();
        assert!(!rings.remove(&bystander));
    }

    #[test]
    fn small_clusters_watch_everyone_else() {
        let members = names(3);
        let rings = rings_of(&members[0], &members, 6);
        let mut subjects = rings.subjects();
        subjects.sort();
        assert_eq!(subjects, members[1..].to_vec());
        let alone = rings_of(&members[0], &members[..1], 6);
        assert!(alone.subjects().is_empty());
    }
}
