//! Removed incarnations that gossip must not bring back.
//!
//! Each node removes a dead or departed peer on its own clock, so for a while after one
//! node forgets an incarnation its peers still gossip it. Quarantine ignores that second-hand
//! news for a set time; a packet from the peer itself (it is alive after all) or a newer
//! generation (it restarted) ends the quarantine at once.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use leviathan_gossip_wire::{Generation, NodeName};

/// Most incarnations held at once. Beyond it the oldest is released early: memory stays
/// bounded under any churn, at the cost of a lagging peer possibly reviving the oldest
/// removals as zombies that are detected and removed again.
pub const MAX_QUARANTINED: usize = 16_384;

/// Incarnations removed lately, each ignored until its release time.
#[derive(Debug, Clone, Default)]
pub struct Quarantine {
    by_name: HashMap<NodeName, (Generation, Instant)>,
    by_release: BTreeMap<(Instant, NodeName), Generation>,
}

impl Quarantine {
    /// Quarantines `name`'s incarnation `generation` (and older ones) until `release`.
    pub fn insert(&mut self, name: NodeName, generation: Generation, release: Instant) {
        self.lift(&name);
        if self.by_name.len() >= MAX_QUARANTINED
            && let Some(((_, oldest), _)) = self.by_release.pop_first()
        {
            self.by_name.remove(&oldest);
        }
        self.by_release.insert((release, name.clone()), generation);
        self.by_name.insert(name, (generation, release));
    }

    /// Whether news of `name` at `generation` is to be ignored. Generation 0 (a request
    /// placeholder, "I know nothing of it") counts as the quarantined one.
    pub fn holds(&self, name: &NodeName, generation: Generation) -> bool {
        self.by_name
            .get(name)
            .is_some_and(|(quarantined, _)| generation <= *quarantined)
    }

    /// Ends `name`'s quarantine, if any.
    pub fn lift(&mut self, name: &NodeName) {
        if let Some((_, release)) = self.by_name.remove(name) {
            self.by_release.remove(&(release, name.clone()));
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

    #[test]
    fn holds_old_generations_until_released_or_lifted() {
        let start = Instant::now();
        let mut quarantine = Quarantine::default();
        quarantine.insert(name("a"), Generation(5), start + Duration::from_secs(10));
        quarantine.insert(name("b"), Generation(5), start + Duration::from_secs(20));
        assert!(quarantine.holds(&name("a"), Generation(5)));
        assert!(quarantine.holds(&name("a"), Generation(0)));
        assert!(!quarantine.holds(&name("a"), Generation(6)), "a restart");
        quarantine.expire(start + Duration::from_secs(10));
        assert!(!quarantine.holds(&name("a"), Generation(5)));
        assert!(quarantine.holds(&name("b"), Generation(5)));
        quarantine.lift(&name("b"));
        assert!(quarantine.is_empty());
    }

    #[test]
    fn stays_bounded() {
        let start = Instant::now();
        let mut quarantine = Quarantine::default();
        for i in 0..MAX_QUARANTINED + 10 {
            let release = start + Duration::from_millis(i as u64);
            quarantine.insert(name(&format!("n{i}")), Generation(1), release);
        }
        assert_eq!(quarantine.len(), MAX_QUARANTINED);
        assert!(
            !quarantine.holds(&name("n0"), Generation(1)),
            "oldest released"
        );
    }
}
