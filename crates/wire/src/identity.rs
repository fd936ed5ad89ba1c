//! The protocol's vocabulary: who a node is and how its state is numbered.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::error::InvalidName;
pub use crate::node_name::NodeName;

/// Longest node name, key or cluster id in bytes. The wire could carry 255; 128 keeps the
/// worst-case digest entry and delta header small enough that a 1 KiB packet always makes
/// progress.
pub const MAX_NAME_LEN: usize = 128;

/// Defines a cheaply clonable, validated string newtype.
macro_rules! bounded_string {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Validates `value`: 1 to [`MAX_NAME_LEN`] bytes of UTF-8, no control characters.
            pub fn new(value: impl AsRef<str>) -> Result<Self, InvalidName> {
                let value = value.as_ref();
                validate(value)?;
                Ok(Self(Arc::from(value)))
            }

            /// The string itself.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&*self.0, f)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<&str> for $name {
            type Error = InvalidName;
            fn try_from(value: &str) -> Result<Self, InvalidName> {
                Self::new(value)
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidName;
            fn try_from(value: String) -> Result<Self, InvalidName> {
                Self::new(value)
            }
        }
    };
}

bounded_string!(
    /// A user key in a node's key-value map.
    Key
);
bounded_string!(
    /// The cluster's identifier: packets carrying another one are dropped, so two clusters
    /// sharing a network never merge by accident.
    ClusterId
);

/// Checks a name, key or cluster id: 1 to [`MAX_NAME_LEN`] bytes, no control characters.
pub(crate) fn validate(value: &str) -> Result<(), InvalidName> {
    if value.is_empty() {
        return Err(InvalidName::Empty);
    }
    if value.len() > MAX_NAME_LEN {
        return Err(InvalidName::TooLong(value.len()));
    }
    if value.chars().any(char::is_control) {
        return Err(InvalidName::ControlCharacter);
    }
    Ok(())
}

/// Incarnation of a node: grows on every restart, so the new incarnation's state supersedes
/// the old one as soon as peers see it. By convention the start time in milliseconds since
/// the Unix epoch, bumped past the previous value when the clock went backwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Generation(pub u64);

/// Per-(node, generation) write counter. Every local write (set or delete) takes the next
/// version, so versions are unique and increasing per key; replicas apply only newer ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Version(pub u64);

/// Per-(node, generation) liveness counter, bumped every heartbeat interval by its owner.
/// Kept apart from versions and user keys: it feeds the failure detector, not the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Incarnation(pub u64);

macro_rules! display_inner {
    ($($name:ident),*) => {$(
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    )*};
}
display_inner!(Generation, Version, Incarnation);

/// A node's full identity: name, the address peers reach it at, and its incarnation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeId {
    /// Unique name in the cluster.
    pub name: NodeName,
    /// Advertised address: where peers send datagrams.
    pub address: SocketAddr,
    /// Incarnation; a larger one supersedes the node's older state.
    pub generation: Generation,
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}#{}", self.name, self.address, self.generation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_validated() {
        assert_eq!(Key::new(""), Err(InvalidName::Empty));
        assert_eq!(Key::new("a\nb"), Err(InvalidName::ControlCharacter));
        assert_eq!(Key::new("x".repeat(129)), Err(InvalidName::TooLong(129)));
        assert_eq!(Key::new("k1").map(|k| k.to_string()), Ok("k1".to_string()));
    }

    #[test]
    fn keys_order_bytewise() {
        let mut keys: Vec<Key> = ["b", "a", "ab", "B"]
            .iter()
            .filter_map(|s| Key::new(s).ok())
            .collect();
        keys.sort();
        let sorted: Vec<&str> = keys.iter().map(Key::as_str).collect();
        assert_eq!(sorted, ["B", "a", "ab", "b"]);
    }
}
