//! Which wire version to speak to whom, learnt from what peers send, so a cluster can be
//! upgraded one node at a time (`docs/PROTOCOL.md` §3.1).
//!
//! Two rules: a message the oldest version says in full goes in the oldest version, which
//! every node reads (range claims, which it cannot say, only answer range claims, sent by
//! nodes of the current version); a Syn, whose current form an older node cannot read,
//! goes in the current version unless the destination's own Syns came in an older one (then every
//! [`TRY_CURRENT_EVERY`]th Syn still tries the current version, to notice an upgrade), or
//! the destination is a seed that never answered in the current version (then, after
//! [`SEED_SYNS_BEFORE_OLDEST`] such Syns, they alternate, so a new node joins a cluster of
//! older nodes).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;

use leviathan_gossip_wire::{MessageKind, WireVersion};

/// One Syn in this many to a peer heard in an older version goes in the current version.
pub const TRY_CURRENT_EVERY: u8 = 4;

/// Syns to seeds that never answered in the current version before every other one goes
/// in the oldest: a seed not started yet is the common case, an older seed the rare one.
pub const SEED_SYNS_BEFORE_OLDEST: u64 = 4;

/// What this node knows of the versions its peers speak. Bounded: beyond `capacity`
/// addresses it learns nothing more, and speaks the current version to the rest.
#[derive(Debug)]
pub struct WireVersions {
    /// Addresses whose latest Syn came in an older version, with the Syns sent there since.
    older: HashMap<SocketAddr, u8>,
    /// Addresses that spoke the current version in the handshake (kept for seeds only).
    current_seeds: HashSet<SocketAddr>,
    /// Syns sent to seeds not known to speak the current version.
    seed_syns: u64,
    capacity: usize,
}

impl WireVersions {
    /// Knows nothing yet; remembers at most `capacity` addresses of each kind.
    pub fn new(capacity: usize) -> WireVersions {
        WireVersions {
            older: HashMap::new(),
            current_seeds: HashSet::new(),
            seed_syns: 0,
            capacity,
        }
    }

    /// A datagram of `kind` in `version` was accepted from `from`, one of this node's seeds
    /// if `seed`. Only the handshake teaches anything: a node chooses the version of its Syns,
    /// while every node sends its probes in the oldest version.
    pub fn heard(&mut self, from: SocketAddr, kind: MessageKind, version: WireVersion, seed: bool) {
        if !matches!(
            kind,
            MessageKind::Syn | MessageKind::SynAck | MessageKind::Ack
        ) {
            return;
        }
        if version == WireVersion::CURRENT {
            self.older.remove(&from);
            if seed && self.current_seeds.len() < self.capacity {
                self.current_seeds.insert(from);
            }
        } else if kind == MessageKind::Syn {
            self.current_seeds.remove(&from);
            if self.older.len() < self.capacity {
                self.older.entry(from).or_insert(0);
            }
        }
    }

    /// The version of the next Syn to `to`, a seed if `seed`.
    pub fn for_syn(&mut self, to: SocketAddr, seed: bool) -> WireVersion {
        if let Some(sent) = self.older.get_mut(&to) {
            *sent = sent.wrapping_add(1) % TRY_CURRENT_EVERY;
            return if *sent == 0 {
                WireVersion::CURRENT
            } else {
                WireVersion::OLDEST
            };
        }
        if seed && !self.current_seeds.contains(&to) {
            self.seed_syns += 1;
            if self.seed_syns > SEED_SYNS_BEFORE_OLDEST && self.seed_syns.is_multiple_of(2) {
                return WireVersion::OLDEST;
            }
        }
        WireVersion::CURRENT
    }

    /// Addresses known to speak only an older version, for stats.
    pub fn older_peers(&self) -> usize {
        self.older.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn a_peer_whose_syns_come_in_the_oldest_version_gets_mostly_the_oldest_until_it_upgrades() {
        let mut versions = WireVersions::new(16);
        let peer = address(1);
        assert_eq!(versions.for_syn(peer, false), WireVersion::CURRENT);
        versions.heard(peer, MessageKind::Syn, WireVersion::OLDEST, false);
        let sent: Vec<WireVersion> = (0..8).map(|_| versions.for_syn(peer, false)).collect();
        let current = sent.iter().filter(|v| **v == WireVersion::CURRENT).count();
        assert_eq!(current, 2, "one in {TRY_CURRENT_EVERY}: {sent:?}");
        // Its probes in the oldest version teach nothing; one current Syn does.
        versions.heard(peer, MessageKind::Probe, WireVersion::CURRENT, false);
        assert_eq!(versions.older_peers(), 1);
        versions.heard(peer, MessageKind::SynAck, WireVersion::CURRENT, false);
        assert_eq!(versions.older_peers(), 0);
        assert_eq!(versions.for_syn(peer, false), WireVersion::CURRENT);
    }

    #[test]
    fn a_seed_silent_to_the_current_version_gets_both_versions_until_it_answers_in_it() {
        let mut versions = WireVersions::new(16);
        let seed = address(2);
        let sent: Vec<WireVersion> = (0..8).map(|_| versions.for_syn(seed, true)).collect();
        assert!(
            sent[..4].iter().all(|v| *v == WireVersion::CURRENT),
            "{sent:?}"
        );
        assert!(
            sent[4..].contains(&WireVersion::OLDEST) && sent[4..].contains(&WireVersion::CURRENT)
        );
        versions.heard(seed, MessageKind::SynAck, WireVersion::CURRENT, true);
        assert!((0..4).all(|_| versions.for_syn(seed, true) == WireVersion::CURRENT));
    }

    #[test]
    fn it_remembers_no_more_than_its_capacity() {
        let mut versions = WireVersions::new(3);
        for port in 0..100 {
            versions.heard(address(port), MessageKind::Syn, WireVersion::OLDEST, true);
            versions.heard(
                address(port + 1000),
                MessageKind::Ack,
                WireVersion::CURRENT,
                true,
            );
        }
        assert_eq!(versions.older_peers(), 3);
        assert!(versions.current_seeds.len() <= 3);
    }
}
