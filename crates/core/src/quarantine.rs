//! Removed incarnations that gossip must not bring back.
//!
//! Each node removes a dead or departed peer on its own clock, so for a while after one
//! node forgets an incarnation its peers still gossip it. Quarantine ignores that second-hand
//! news for a set time, unless it proves the peer alive: a packet from the peer itself (its
//! header names it and it comes from the address it advertised: a name alone proves
//! nothing), a newer generation (it restarted), or a newer incarnation than the one it had
//! when removed (only the peer raises its incarnation, to refute a suspicion: it was
//! alive after all).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::Instant;

use leviathan_gossip_wire::{Generation, Incarnation, NodeName};

/// Most incarnations held at once. Beyond it the oldest is released early: memory stays
/// bounded under any churn, at the cost of a lagging peer possibly reviving the oldest
/// removals as zombies that are detected and removed again.
pub const MAX_QUARANTINED: usize = 16_384;

/// Incarnations removed lately, each ignored until its release time.
#[derive(Debug, Clone, Default)]
pub struct Quarantine {
    by_name: HashMap<NodeName, Removed>,
    by_release: BTreeMap<(Instant, NodeName), ()>,
}

/// What was known of a removed incarnation.
#[derive(Debug, Clone, Copy)]
struct Removed {
    generation: Generation,
    incarnation: Incarnation,
    /// Where the incarnation said it could be reached.
    address: SocketAddr,
    release: Instant,
}

impl Quarantine {
    /// Quarantines `name`'s incarnation `generation`, last known at `incarnation` and
    /// reachable at `address`, and older ones, until `release`.
    pub fn insert(
        &mut self,
        name: NodeName,
        generation: Generation,
        incarnation: Incarnation,
        address: SocketAddr,
        release: Instant,
    ) {
        self.lift(&name);
        if self.by_name.len() >= MAX_QUARANTINED
            && let Some(((_, oldest), ())) = self.by_release.pop_first()
        {
            self.by_name.remove(&oldest);
        }
        self.by_release.insert((release, name.clone()), ());
        let removed = Removed {
            generation,
            incarnation,
            address,
            release,
        };
        self.by_name.insert(name, removed);
    }

    /// Whether second-hand news of `name` at `generation` and `incarnation` is to be
    /// ignored: an older or the removed generation, without a newer incarnation that
    /// proves it alive. Generation 0 (a request placeholder) counts as the removed one.
    pub fn holds(&self, name: &NodeName, generation: Generation, incarnation: Incarnation) -> bool {
        self.by_name.get(name).is_some_and(|removed| {
            generation < removed.generation
                || (generation <= removed.generation && incarnation <= removed.incarnation)
        })
    }

    /// Whether `name` is in quarantine at all.
    pub fn contains(&self, name: &NodeName) -> bool {
        self.by_name.contains_key(name)
    }

    /// Ends `name`'s quarantine, if any.
    pub fn lift(&mut self, name: &NodeName) {
        // Called for every delta taken: skip hashing the name when nothing is held.
        if self.by_name.is_empty() {
            return;
        }
        if let Some(removed) = self.by_name.remove(name) {
            self.by_release.remove(&(removed.release, name.clone()));
        }
    }

    /// Ends `name`'s quarantine if a packet naming it as its sender came `from` the address
    /// the removed incarnation advertised: first-hand news. A header's name alone is
    /// anyone's to write. (A peer behind a NAT whose packets come from another address is
    /// not released this way; a restart or a refutation still release it.)
    pub fn lift_if_from(&mut self, name: &NodeName, from: SocketAddr) {
        if self.by_name.is_empty() {
            return;
        }
        if self
            .by_name
            .get(name)
            .is_some_and(|removed| removed.address == from)
        {
            self.lift(name);
        }
    }

    /// Releases every incarnation whose quarantine ended by `now`.
    pub fn expire(&mut self, now: Instant) {
        while let Some(entry) = self.by_release.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((_, name), _) = entry.remove_entry();
            self.by_name.remove(&name);
        }
    }

    /// Number of incarnations in quarantine.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn name(n: &str) -> NodeName {
        NodeName::new(n).unwrap()
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], port))
    }

    #[test]
    fn only_a_packet_from_the_removed_address_lifts_it() {
        let mut quarantine = Quarantine::default();
        let release = Instant::now() + Duration::from_secs(60);
        quarantine.insert(name("a"), Generation(1), Incarnation(1), addr(1), release);
        quarantine.lift_if_from(&name("a"), addr(666));
        assert!(quarantine.contains(&name("a")), "a forged header lifted it");
        quarantine.lift_if_from(&name("a"), addr(1));
        assert!(!quarantine.contains(&name("a")));
    }

    #[test]
    fn holds_old_generations_until_released_or_lifted() {
        let start = Instant::now();
        let mut quarantine = Quarantine::default();
        let hb = Incarnation;
        let at = |s| start + Duration::from_secs(s);
        quarantine.insert(name("a"), Generation(5), hb(40), addr(1), at(10));
        quarantine.insert(name("b"), Generation(5), hb(40), addr(2), at(20));
        assert!(quarantine.holds(&name("a"), Generation(5), hb(40)));
        assert!(quarantine.holds(&name("a"), Generation(0), hb(0)));
        assert!(
            !quarantine.holds(&name("a"), Generation(5), hb(41)),
            "alive: it refuted"
        );
        assert!(
            !quarantine.holds(&name("a"), Generation(6), hb(1)),
            "a restart"
        );
        quarantine.expire(at(10));
        assert!(!quarantine.holds(&name("a"), Generation(5), hb(40)));
        assert!(quarantine.holds(&name("b"), Generation(5), hb(40)));
        quarantine.lift(&name("b"));
        assert!(quarantine.is_empty());
    }

    #[test]
    fn stays_bounded() {
        let start = Instant::now();
        let mut quarantine = Quarantine::default();
        for i in 0..MAX_QUARANTINED + 10 {
            let release = start + Duration::from_millis(i as u64);
            quarantine.insert(
                name(&format!("n{i}")),
                Generation(1),
                Incarnation(1),
                addr(1),
                release,
            );
        }
        assert_eq!(quarantine.len(), MAX_QUARANTINED);
        assert!(!quarantine.contains(&name("n0")), "oldest released");
    }
}
