//! The wire versions this build speaks: its own and the one before, so a cluster can be
//! upgraded one node at a time (`docs/OPERATIONS.md`, "Upgrades").

use std::fmt;

use crate::message::Message;

/// A version of the packet format, the byte after the magic.
///
/// A node decodes every version listed here and answers a packet in the version it came
/// in; [`crate::Packet::decode`] turns an older version's packet into the current version's
/// types. Encoding in an older version leaves out what it cannot say:
///
/// * **Version 4** has no range claims: its `Syn` carries one digest page bounded by two
///   names (so a `Syn` to a version-4 peer must hold exactly one page, of which the page's
///   last entry travels as news), its `SynAck` only requests and deltas, its `Ack` only
///   deltas. Every other message is the same in both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WireVersion {
    /// Failure-detection messages and rumours; digest pages bounded by names (commit
    /// 5c22f9a).
    V4,
    /// Reconciliation by range fingerprints (commit 05d0d67).
    V5,
}

impl WireVersion {
    /// The version this build speaks to peers that speak it too.
    pub const CURRENT: WireVersion = WireVersion::V5;
    /// The oldest version this build still speaks: every node of the current or the
    /// previous release reads it.
    pub const OLDEST: WireVersion = WireVersion::V4;
    /// Every version this build speaks, oldest first.
    pub const ALL: [WireVersion; 2] = [WireVersion::V4, WireVersion::V5];

    /// The version byte.
    pub const fn byte(self) -> u8 {
        match self {
            WireVersion::V4 => 4,
            WireVersion::V5 => 5,
        }
    }

    /// The version a byte names, if this build speaks it.
    pub fn from_byte(byte: u8) -> Option<WireVersion> {
        WireVersion::ALL
            .into_iter()
            .find(|version| version.byte() == byte)
    }
}

impl Message {
    /// Whether `version` encodes this message without leaving anything out, so a node of
    /// any version it is sent to reads what the current version would have said.
    pub fn fits_version(&self, version: WireVersion) -> bool {
        match (version, self) {
            (WireVersion::V5, _) => true,
            (WireVersion::V4, Message::Syn(_)) => false,
            (WireVersion::V4, Message::SynAck(synack)) => synack.ranges.is_empty(),
            (WireVersion::V4, Message::Ack(ack)) => {
                ack.ranges.is_empty() && ack.requests.is_empty()
            }
            (
                WireVersion::V4,
                Message::Probe(_) | Message::ProbeAck(_) | Message::ProbeRequest(_),
            ) => true,
        }
    }
}

impl fmt::Display for WireVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.byte().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_version_round_trips_through_its_byte_and_nothing_else_is_spoken() {
        for version in WireVersion::ALL {
            assert_eq!(WireVersion::from_byte(version.byte()), Some(version));
        }
        assert_eq!(WireVersion::from_byte(3), None);
        assert_eq!(WireVersion::from_byte(6), None);
        assert!(WireVersion::OLDEST < WireVersion::CURRENT);
    }
}
