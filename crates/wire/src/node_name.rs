//! Node names, and the order reconciliation divides into ranges.
//!
//! Every node keeps its peers sorted by name, and reconciliation compares ranges of that
//! order (hash prefixes: see `ranges.rs`). A
//! node of a large cluster looks peers up by name thousands of times a second, and each
//! step of a search compares two names: with the name's bytes behind a pointer, nearly
//! every comparison was a cache miss. So names are ordered by a fixed 64-bit hash of their
//! bytes first, kept beside the pointer, and by the bytes only when the hashes are equal.
//! The hash is part of the protocol (every node must order names alike): FNV-1a over the
//! UTF-8 bytes, then the MurmurHash3 64-bit finaliser, so that names differing in one
//! character land far apart.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::error::InvalidName;
use crate::identity::validate;

/// A node's name (the seed's `alias`): unique in the cluster, how nodes are addressed.
///
/// Cheap to clone (a reference count). Ordered by [`NodeName::order_hash`], then by bytes:
/// not alphabetically; sort by [`NodeName::as_str`] to display names in alphabetical
/// order.
#[derive(Clone)]
pub struct NodeName {
    order_hash: u64,
    // A thin pointer, so that the name stays 16 bytes with its hash inline: every node
    // stores one per peer, twice.
    text: Arc<Box<str>>,
}

impl NodeName {
    /// Validates `value`: 1 to [`crate::MAX_NAME_LEN`] bytes of UTF-8, no control
    /// characters.
    pub fn new(value: impl AsRef<str>) -> Result<Self, InvalidName> {
        let value = value.as_ref();
        validate(value)?;
        Ok(NodeName {
            order_hash: order_hash(value),
            text: Arc::new(Box::from(value)),
        })
    }

    /// The string itself.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Not a name: a search bound that sorts before every name whose order hash is
    /// `order_hash` or more, and after every name whose hash is less, for range searches
    /// over maps keyed by name. It is empty, so it never decodes from, nor should it be
    /// put on, the wire.
    pub fn search_bound(order_hash: u64) -> Self {
        NodeName {
            order_hash,
            text: Arc::new(Box::from("")),
        }
    }

    /// The hash names are ordered by first (see the module documentation).
    pub fn order_hash(&self) -> u64 {
        self.order_hash
    }
}

/// FNV-1a over `text`'s bytes, then MurmurHash3's finaliser.
fn order_hash(text: &str) -> u64 {
    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = FNV_OFFSET;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

impl PartialEq for NodeName {
    fn eq(&self, other: &Self) -> bool {
        self.order_hash == other.order_hash
            && (Arc::ptr_eq(&self.text, &other.text) || self.text == other.text)
    }
}

impl Eq for NodeName {}

impl Ord for NodeName {
    fn cmp(&self, other: &Self) -> Ordering {
        self.order_hash.cmp(&other.order_hash).then_with(|| {
            if Arc::ptr_eq(&self.text, &other.text) {
                Ordering::Equal
            } else {
                self.text.cmp(&other.text)
            }
        })
    }
}

impl PartialOrd for NodeName {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Hashes the bytes, not the order hash: that one is fixed and public, so names chosen to
/// collide in it would collide in every hash map too.
impl Hash for NodeName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl AsRef<str> for NodeName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl TryFrom<&str> for NodeName {
    type Error = InvalidName;
    fn try_from(value: &str) -> Result<Self, InvalidName> {
        Self::new(value)
    }
}

impl TryFrom<String> for NodeName {
    type Error = InvalidName;
    fn try_from(value: String) -> Result<Self, InvalidName> {
        Self::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> NodeName {
        NodeName::new(text).unwrap()
    }

    #[test]
    fn names_are_validated() {
        assert_eq!(NodeName::new(""), Err(InvalidName::Empty));
        assert_eq!(NodeName::new("a\nb"), Err(InvalidName::ControlCharacter));
        assert_eq!(
            NodeName::new("x".repeat(129)),
            Err(InvalidName::TooLong(129))
        );
        assert!(NodeName::new("x".repeat(128)).is_ok());
    }

    #[test]
    fn the_order_hash_is_fixed() {
        // Part of the protocol: a change here splits a mixed-version cluster's pages.
        // Computed independently of this code.
        assert_eq!(order_hash("a"), 0x82a2_a958_a9be_ce5b);
        assert_eq!(order_hash("node-00001"), 0x2c46_00a5_4d47_6997);
        assert_ne!(order_hash("node-00001"), order_hash("node-00002"));
    }

    #[test]
    fn names_order_by_hash_then_bytes_and_equal_names_are_equal() {
        let texts = ["b", "a", "ab", "B", "node-1", "node-2"];
        let mut names: Vec<NodeName> = texts.iter().map(|t| name(t)).collect();
        names.sort();
        for pair in names.windows(2) {
            assert!(pair[0].order_hash() <= pair[1].order_hash());
            assert!(pair[0] < pair[1]);
        }
        let a = name("a");
        assert_eq!(a, name("a"));
        assert_eq!(a.cmp(&name("a")), Ordering::Equal);
        assert_ne!(a, name("b"));
        assert_eq!(std::mem::size_of::<NodeName>(), 16);
    }

    #[test]
    fn equal_hashes_fall_back_to_the_bytes() {
        let a = NodeName {
            order_hash: 7,
            text: Arc::new(Box::from("a")),
        };
        let b = NodeName {
            order_hash: 7,
            text: Arc::new(Box::from("b")),
        };
        assert!(a < b);
        assert_ne!(a, b);
    }
}
