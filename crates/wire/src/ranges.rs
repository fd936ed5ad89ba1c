//! Ranges of the name order and their fingerprints: what reconciliation compares.
//!
//! Names are ordered by their 64-bit order hash first (see [`NodeName`]), so a hash prefix
//! is a contiguous range of that order, and ranges of equal prefix length hold about equal
//! numbers of nodes. Two nodes reconcile by comparing [`Fingerprint`]s of their digests
//! over such ranges: equal fingerprints end the exchange, unequal ranges split into
//! [`NameRange::SPLIT_BITS`] more bits until they are small enough to list entry by entry
//! (a [`crate::Digest`] page).

use std::iter::Sum;
use std::ops::{Add, Sub};

use crate::identity::{Generation, Incarnation, NodeName, Version};
use crate::message::{Digest, NodeStatus};

/// Every name whose order hash begins with the `bits` high bits `prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NameRange {
    bits: u8,
    prefix: u64,
}

impl NameRange {
    /// The whole order.
    pub const ALL: NameRange = NameRange { bits: 0, prefix: 0 };
    /// The longest prefix: a range of one order hash.
    pub const MAX_BITS: u8 = 64;
    /// Bits a split adds: a range splits into 16 children.
    pub const SPLIT_BITS: u8 = 4;

    /// The range of names whose order hash begins with `prefix`'s low `bits` bits; `None`
    /// if `bits` exceeds 64 or `prefix` has bits above them.
    pub fn new(bits: u8, prefix: u64) -> Option<NameRange> {
        let fits = match bits {
            0 => prefix == 0,
            1..=63 => prefix >> bits == 0,
            64 => true,
            _ => false,
        };
        fits.then_some(NameRange { bits, prefix })
    }

    /// Length of the prefix in bits.
    pub fn bits(&self) -> u8 {
        self.bits
    }

    /// The prefix, in the low [`NameRange::bits`] bits.
    pub fn prefix(&self) -> u64 {
        self.prefix
    }

    /// Whether names with order hash `hash` lie in the range.
    pub fn contains_hash(&self, hash: u64) -> bool {
        self.bits == 0 || hash >> (64 - u32::from(self.bits)) == self.prefix
    }

    /// Whether `name` lies in the range.
    pub fn contains(&self, name: &NodeName) -> bool {
        self.contains_hash(name.order_hash())
    }

    /// Whether every name of `other` lies in this range.
    pub fn covers(&self, other: &NameRange) -> bool {
        other.bits >= self.bits && self.contains_hash(other.first_hash())
    }

    /// The smallest order hash in the range.
    pub fn first_hash(&self) -> u64 {
        match self.bits {
            0 => 0,
            bits => self.prefix << (64 - u32::from(bits)),
        }
    }

    /// The largest order hash in the range.
    pub fn last_hash(&self) -> u64 {
        self.first_hash() | u64::MAX.checked_shr(u32::from(self.bits)).unwrap_or(0)
    }

    /// The ranges this one splits into ([`NameRange::SPLIT_BITS`] more bits, fewer near
    /// the end of the hash), in order; empty for a range of one hash.
    pub fn children(&self) -> impl Iterator<Item = NameRange> + use<> {
        let added = Self::SPLIT_BITS.min(Self::MAX_BITS - self.bits);
        let (bits, prefix) = (self.bits, self.prefix);
        let count = if added == 0 { 0 } else { 1u64 << added };
        (0..count).map(move |child| NameRange {
            bits: bits + added,
            prefix: (prefix << added) | child,
        })
    }
}

/// A digest's fingerprint over a range: how many nodes it holds there and the sum of their
/// entries' hashes. Sums are updated in O(1) as entries change, and two digests that agree
/// on every entry of a range have the same fingerprint there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Fingerprint {
    /// Number of nodes in the range.
    pub count: u64,
    /// Wrapping sum of [`Fingerprint::entry_hash`] over them.
    pub sum: u64,
}

impl Fingerprint {
    /// The fingerprint of a range holding one entry with these fields (those of a
    /// [`crate::DigestEntry`]).
    pub fn of_entry(
        name: &NodeName,
        generation: Generation,
        incarnation: Incarnation,
        max_version: Version,
        gc_watermark: Version,
        status: NodeStatus,
    ) -> Fingerprint {
        Fingerprint {
            count: 1,
            sum: Self::entry_hash(
                name,
                generation,
                incarnation,
                max_version,
                gc_watermark,
                status,
            ),
        }
    }

    /// The 64-bit hash of one digest entry, part of the protocol: every field is absorbed,
    /// the name by its bytes (two names of equal order hash still differ), each absorption
    /// followed by SplitMix64's finaliser.
    pub fn entry_hash(
        name: &NodeName,
        generation: Generation,
        incarnation: Incarnation,
        max_version: Version,
        gc_watermark: Version,
        status: NodeStatus,
    ) -> u64 {
        let mut hash = absorb(0, name.order_hash());
        for chunk in name.as_str().as_bytes().chunks(8) {
            let mut word = [0u8; 8];
            for (slot, byte) in word.iter_mut().zip(chunk) {
                *slot = *byte;
            }
            hash = absorb(hash, u64::from_le_bytes(word));
        }
        hash = absorb(hash, name.as_str().len() as u64);
        for field in [
            generation.0,
            incarnation.0,
            max_version.0,
            gc_watermark.0,
            status as u64,
        ] {
            hash = absorb(hash, field);
        }
        hash
    }
}

/// The fingerprint of the union of two disjoint sets of entries (or of a set with an entry
/// added).
impl Add for Fingerprint {
    type Output = Fingerprint;

    fn add(self, other: Fingerprint) -> Fingerprint {
        Fingerprint {
            count: self.count.wrapping_add(other.count),
            sum: self.sum.wrapping_add(other.sum),
        }
    }
}

/// The fingerprint with `other`'s entries taken out.
impl Sub for Fingerprint {
    type Output = Fingerprint;

    fn sub(self, other: Fingerprint) -> Fingerprint {
        Fingerprint {
            count: self.count.wrapping_sub(other.count),
            sum: self.sum.wrapping_sub(other.sum),
        }
    }
}

impl Sum for Fingerprint {
    fn sum<I: Iterator<Item = Fingerprint>>(iter: I) -> Fingerprint {
        iter.fold(Fingerprint::default(), Add::add)
    }
}

fn absorb(hash: u64, value: u64) -> u64 {
    let mut x = (hash ^ value).wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// "My digest over this range has this fingerprint": the receiver compares its own and,
/// where they differ, answers with the range's children or its page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RangeSummary {
    /// The range.
    pub range: NameRange,
    /// The sender's fingerprint over it.
    pub fingerprint: Fingerprint,
}

/// What one side of an exchange says about name ranges.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RangeClaims {
    /// Ranges the sender summarises by fingerprint.
    pub summaries: Vec<RangeSummary>,
    /// Ranges the sender lists entry by entry.
    pub pages: Vec<Digest>,
}

impl RangeClaims {
    /// Whether there is no claim.
    pub fn is_empty(&self) -> bool {
        self.summaries.is_empty() && self.pages.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_partition_their_parent() {
        for parent in [
            NameRange::ALL,
            NameRange::new(4, 0xa).unwrap(),
            NameRange::new(62, 3).unwrap(),
        ] {
            let children: Vec<NameRange> = parent.children().collect();
            assert!(!children.is_empty());
            assert_eq!(children[0].first_hash(), parent.first_hash());
            assert_eq!(children[children.len() - 1].last_hash(), parent.last_hash());
            for pair in children.windows(2) {
                assert_eq!(pair[0].last_hash() + 1, pair[1].first_hash());
            }
            assert!(children.iter().all(|child| parent.covers(child)));
        }
        assert_eq!(NameRange::new(64, 7).unwrap().children().count(), 0);
    }

    #[test]
    fn prefixes_longer_than_their_bits_are_refused() {
        assert!(NameRange::new(0, 1).is_none());
        assert!(NameRange::new(4, 16).is_none());
        assert!(NameRange::new(65, 0).is_none());
        assert!(NameRange::new(4, 15).is_some());
    }

    #[test]
    fn a_hash_lies_in_exactly_one_child() {
        let hash = 0x1234_5678_9abc_def0;
        let range = NameRange::new(8, 0x12).unwrap();
        assert!(range.contains_hash(hash));
        assert_eq!(
            range.children().filter(|c| c.contains_hash(hash)).count(),
            1
        );
    }

    #[test]
    fn every_field_changes_the_entry_hash() {
        let name = NodeName::new("node-1").unwrap();
        let base = (Generation(5), Incarnation(1), Version(9), Version(2));
        let hash = |g, i, v, w, s| Fingerprint::entry_hash(&name, g, i, v, w, s);
        let reference = hash(base.0, base.1, base.2, base.3, NodeStatus::Alive);
        assert_ne!(
            reference,
            hash(Generation(6), base.1, base.2, base.3, NodeStatus::Alive)
        );
        assert_ne!(
            reference,
            hash(base.0, Incarnation(2), base.2, base.3, NodeStatus::Alive)
        );
        assert_ne!(
            reference,
            hash(base.0, base.1, Version(10), base.3, NodeStatus::Alive)
        );
        assert_ne!(
            reference,
            hash(base.0, base.1, base.2, Version(3), NodeStatus::Alive)
        );
        assert_ne!(
            reference,
            hash(base.0, base.1, base.2, base.3, NodeStatus::Left)
        );
        let other = NodeName::new("node-2").unwrap();
        assert_ne!(
            reference,
            Fingerprint::entry_hash(&other, base.0, base.1, base.2, base.3, NodeStatus::Alive)
        );
    }
}
