//! Every known node, in name order, with fingerprints of the digest kept up to date.
//!
//! Reconciliation asks "what is my digest's fingerprint over this range?" a few times per
//! message; answering by walking the nodes would cost O(N) per round. So the map keeps
//! the fingerprints of the whole order and of every 4- and 8-bit hash prefix (273 sums),
//! updated on every change through [`NodeMut`], the only way to change a node in place:
//! a range of up to 8 bits is read in O(1), a narrower one (about N / 256 nodes) by walking
//! it.

use std::collections::BTreeMap;
use std::collections::btree_map::Range;
use std::ops::{Bound, Deref, DerefMut};

use leviathan_gossip_wire::{Fingerprint, NameRange, NodeName};

use crate::state::NodeState;

/// Every known node, in name order ([`NodeName`]: by hash, then bytes), and its digest's
/// fingerprints. Reads go through `Deref` to the map; changes through [`ClusterState::insert`],
/// [`ClusterState::remove`] and [`ClusterState::get_mut`], which keep the fingerprints true.
#[derive(Debug, Clone, Default)]
pub struct ClusterState {
    nodes: BTreeMap<NodeName, NodeState>,
    index: FingerprintIndex,
    /// [`entry_bytes`] of every node, kept with the fingerprints.
    bytes: usize,
}

impl ClusterState {
    /// Adds or replaces `name`'s state; returns the state replaced.
    pub fn insert(&mut self, name: NodeName, node: NodeState) -> Option<NodeState> {
        self.index
            .add(name.order_hash(), fingerprint_of(&name, &node));
        self.bytes = self.bytes.saturating_add(entry_bytes(&name, &node));
        let previous = self.nodes.insert(name.clone(), node);
        if let Some(previous) = &previous {
            self.index
                .remove(name.order_hash(), fingerprint_of(&name, previous));
            self.bytes = self.bytes.saturating_sub(entry_bytes(&name, previous));
        }
        previous
    }

    /// Removes `name`'s state.
    pub fn remove(&mut self, name: &NodeName) -> Option<NodeState> {
        let removed = self.nodes.remove(name)?;
        self.index
            .remove(name.order_hash(), fingerprint_of(name, &removed));
        self.bytes = self.bytes.saturating_sub(entry_bytes(name, &removed));
        Some(removed)
    }

    /// `name`'s state, to change in place; the fingerprints follow when the guard drops.
    pub fn get_mut(&mut self, name: &NodeName) -> Option<NodeMut<'_>> {
        let node = self.nodes.get_mut(name)?;
        Some(NodeMut {
            before: fingerprint_of(name, node),
            bytes_before: node.held_bytes(),
            name: name.clone(),
            node,
            index: &mut self.index,
            bytes: &mut self.bytes,
        })
    }

    /// Bytes every node's entry is accounted at ([`entry_bytes`]), this node's included.
    pub fn held_bytes(&self) -> usize {
        self.bytes
    }

    /// The digest's fingerprint over `range`.
    pub fn fingerprint(&self, range: &NameRange) -> Fingerprint {
        self.index.fingerprint(range).unwrap_or_else(|| {
            self.in_range(range)
                .map(|(name, node)| fingerprint_of(name, node))
                .sum()
        })
    }

    /// The nodes in `range`, in name order.
    pub fn in_range(&self, range: &NameRange) -> Range<'_, NodeName, NodeState> {
        let start = Bound::Included(NodeName::search_bound(range.first_hash()));
        let end = match range.last_hash().checked_add(1) {
            Some(next) => Bound::Excluded(NodeName::search_bound(next)),
            None => Bound::Unbounded,
        };
        self.nodes.range((start, end))
    }
}

impl Deref for ClusterState {
    type Target = BTreeMap<NodeName, NodeState>;

    fn deref(&self) -> &Self::Target {
        &self.nodes
    }
}

impl FromIterator<(NodeName, NodeState)> for ClusterState {
    fn from_iter<I: IntoIterator<Item = (NodeName, NodeState)>>(iter: I) -> Self {
        let mut state = ClusterState::default();
        for (name, node) in iter {
            state.insert(name, node);
        }
        state
    }
}

/// A node's state borrowed for change: when dropped, the digest's fingerprints take the
/// change in.
pub struct NodeMut<'a> {
    name: NodeName,
    before: Fingerprint,
    bytes_before: usize,
    node: &'a mut NodeState,
    index: &'a mut FingerprintIndex,
    bytes: &'a mut usize,
}

impl Deref for NodeMut<'_> {
    type Target = NodeState;

    fn deref(&self) -> &NodeState {
        self.node
    }
}

impl DerefMut for NodeMut<'_> {
    fn deref_mut(&mut self) -> &mut NodeState {
        self.node
    }
}

impl Drop for NodeMut<'_> {
    fn drop(&mut self) {
        let after = fingerprint_of(&self.name, self.node);
        if after != self.before {
            let hash = self.name.order_hash();
            self.index.remove(hash, self.before);
            self.index.add(hash, after);
        }
        let bytes_after = self.node.held_bytes();
        if bytes_after != self.bytes_before {
            *self.bytes = self
                .bytes
                .saturating_sub(self.bytes_before)
                .saturating_add(bytes_after);
        }
    }
}

/// Bytes `name`'s entry is accounted at: its name and [`NodeState::held_bytes`].
pub fn entry_bytes(name: &NodeName, node: &NodeState) -> usize {
    node.held_bytes()
        .saturating_add(std::mem::size_of::<NodeName>())
        .saturating_add(name.as_str().len())
}

/// The fingerprint of `name`'s digest entry.
pub fn fingerprint_of(name: &NodeName, node: &NodeState) -> Fingerprint {
    Fingerprint::of_entry(
        name,
        node.generation(),
        node.incarnation(),
        node.max_version(),
        node.gc_watermark(),
        node.status(),
    )
}

/// Sums over the whole order (level 0) and every 4-bit (level 1) and 8-bit (level 2) hash
/// prefix.
#[derive(Debug, Clone)]
struct FingerprintIndex {
    levels: [Vec<Fingerprint>; 3],
}

impl Default for FingerprintIndex {
    fn default() -> Self {
        FingerprintIndex {
            levels: [0u32, 4, 8].map(|bits| vec![Fingerprint::default(); 1 << bits]),
        }
    }
}

impl FingerprintIndex {
    const LEVEL_BITS: [u8; 3] = [0, 4, 8];

    fn add(&mut self, hash: u64, fingerprint: Fingerprint) {
        self.update(hash, |cell| cell + fingerprint);
    }

    fn remove(&mut self, hash: u64, fingerprint: Fingerprint) {
        self.update(hash, |cell| cell - fingerprint);
    }

    fn update(&mut self, hash: u64, change: impl Fn(Fingerprint) -> Fingerprint) {
        for (cells, bits) in self.levels.iter_mut().zip(Self::LEVEL_BITS) {
            let index = if bits == 0 {
                0
            } else {
                (hash >> (64 - u32::from(bits))) as usize
            };
            if let Some(cell) = cells.get_mut(index) {
                *cell = change(*cell);
            }
        }
    }

    /// The fingerprint over `range` if it is no narrower than 8 bits: the cells of the
    /// first level at least as narrow that it spans (one, unless its bits are not a
    /// multiple of 4).
    fn fingerprint(&self, range: &NameRange) -> Option<Fingerprint> {
        let (cells, level_bits) = self
            .levels
            .iter()
            .zip(Self::LEVEL_BITS)
            .find(|(_, bits)| *bits >= range.bits())?;
        let shift = u32::from(level_bits - range.bits());
        let first = usize::try_from(range.prefix() << shift).ok()?;
        let count = 1usize << shift;
        Some(cells.get(first..first + count)?.iter().copied().sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use leviathan_gossip_wire::{Generation, Incarnation, Key, NodeId};

    fn node(name: &str) -> (NodeName, NodeState) {
        let name = NodeName::new(name).unwrap();
        let node = NodeState::new(
            NodeId {
                name: name.clone(),
                address: "127.0.0.1:1".parse().unwrap(),
                generation: Generation(3),
            },
            Incarnation(1),
        );
        (name, node)
    }

    fn walked(state: &ClusterState, range: &NameRange) -> Fingerprint {
        state
            .in_range(range)
            .map(|(name, node)| fingerprint_of(name, node))
            .sum()
    }

    fn ranges_to_check(state: &ClusterState) -> Vec<NameRange> {
        let mut ranges = vec![NameRange::ALL];
        for (name, _) in state.iter().take(20) {
            for bits in [1, 3, 4, 6, 8, 9, 12, 64] {
                let prefix = name.order_hash() >> (64 - bits);
                ranges.push(NameRange::new(bits, prefix).unwrap());
            }
        }
        ranges
    }

    #[test]
    fn kept_fingerprints_equal_those_walked_after_every_kind_of_change() {
        let mut state: ClusterState = (0..300).map(|i| node(&format!("n{i}"))).collect();
        let check = |state: &ClusterState| {
            for range in ranges_to_check(state) {
                assert_eq!(
                    state.fingerprint(&range),
                    walked(state, &range),
                    "{range:?}"
                );
            }
            assert_eq!(state.fingerprint(&NameRange::ALL).count, state.len() as u64);
            let walked_bytes: usize = state.iter().map(|(n, node)| entry_bytes(n, node)).sum();
            assert_eq!(state.held_bytes(), walked_bytes);
        };
        check(&state);
        for i in (0..300).step_by(7) {
            let name = NodeName::new(format!("n{i}")).unwrap();
            let mut node = state.get_mut(&name).unwrap();
            node.write(Key::new("k").unwrap(), Some(Bytes::from_static(b"v")));
            node.observe_incarnation(Incarnation(5));
        }
        check(&state);
        for i in (0..300).step_by(5) {
            state.remove(&NodeName::new(format!("n{i}")).unwrap());
        }
        let (name, replacement) = node("n1");
        state.insert(name, replacement);
        check(&state);
    }

    #[test]
    fn equal_digests_have_equal_fingerprints_and_one_change_shows() {
        let a: ClusterState = (0..50).map(|i| node(&format!("n{i}"))).collect();
        let mut b: ClusterState = (0..50).rev().map(|i| node(&format!("n{i}"))).collect();
        assert_eq!(
            a.fingerprint(&NameRange::ALL),
            b.fingerprint(&NameRange::ALL)
        );
        let name = NodeName::new("n17").unwrap();
        b.get_mut(&name)
            .unwrap()
            .write(Key::new("k").unwrap(), None);
        assert_ne!(
            a.fingerprint(&NameRange::ALL),
            b.fingerprint(&NameRange::ALL)
        );
        let differing: Vec<NameRange> = NameRange::ALL
            .children()
            .filter(|range| a.fingerprint(range) != b.fingerprint(range))
            .collect();
        assert_eq!(differing.len(), 1);
        assert!(differing[0].contains(&name));
    }

    #[test]
    fn ranges_hold_exactly_the_names_of_their_prefix() {
        let state: ClusterState = (0..200).map(|i| node(&format!("n{i}"))).collect();
        for range in NameRange::ALL.children() {
            let inside: Vec<&NodeName> = state.in_range(&range).map(|(name, _)| name).collect();
            let expected: Vec<&NodeName> = state.keys().filter(|n| range.contains(n)).collect();
            assert_eq!(inside, expected);
        }
    }
}
