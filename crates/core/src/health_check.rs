//! The periodic health check's rules.
//!
//! Suspicion itself comes from corroborated alerts (`membership.rs`), not from a clock; a
//! check changes a peer only when one of its deadlines passes: the suspicion timeout
//! (suspect → dead), `remove_after` dead or departed (removal). The peers' health itself
//! is kept in the [`crate::health_table::HealthTable`].

use std::time::Duration;

use crate::config::NodeConfig;
use crate::member::{Health, MemberState};

/// Suspicions in a streak from which a dead peer's refutations revive it only after a
/// hold-off.
pub(crate) const FLAPPING: u8 = 2;

/// What a check does to one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing is due.
    Unchanged,
    /// Suspect for the suspicion timeout: suspect → dead.
    Dead,
    /// Dead or departed for `remove_after`: to be removed.
    Expired,
    /// Dead after flapping, refuted meanwhile, and its hold-off is over: dead → live.
    Revived,
}

/// The rules of the health check.
#[derive(Debug, Clone)]
pub(crate) struct HealthCheck {
    dead_after_ms: u64,
    remove_after_ms: u64,
    corroboration: usize,
    observers: usize,
}

impl HealthCheck {
    /// The rules of `config`.
    pub(crate) fn new(config: &NodeConfig) -> Self {
        HealthCheck {
            dead_after_ms: millis(config.dead_after),
            remove_after_ms: millis(config.remove_after),
            corroboration: config.corroboration,
            observers: config.observers,
        }
    }

    /// Judges one peer, accused by `alerters` observers, at `now_ms` and applies the
    /// transition, if any.
    pub(crate) fn judge(&self, health: &mut Health, alerters: usize, now_ms: u64) -> Verdict {
        let since = now_ms.saturating_sub(health.since_ms);
        let verdict = match health.state {
            MemberState::Live => Verdict::Unchanged,
            MemberState::Suspect if since >= self.suspicion_timeout_ms(alerters) => Verdict::Dead,
            MemberState::Dead if health.revival_due && since >= self.hold_off_ms(health.flaps) => {
                Verdict::Revived
            }
            MemberState::Dead | MemberState::Left if since >= self.remove_after_ms => {
                Verdict::Expired
            }
            _ => Verdict::Unchanged,
        };
        match verdict {
            Verdict::Dead => {
                health.state = MemberState::Dead;
                health.since_ms = now_ms;
            }
            Verdict::Revived => {
                health.state = MemberState::Live;
                health.since_ms = now_ms;
                health.refuted_ms = now_ms;
                health.revival_due = false;
            }
            Verdict::Unchanged | Verdict::Expired => {}
        }
        verdict
    }

    /// How long a peer declared dead after `flaps` suspicions in a streak stays dead
    /// whatever it says (route-flap damping): `dead_after` for the first streak that
    /// reaches [`FLAPPING`], doubling with every further suspicion, never past removal.
    pub(crate) fn hold_off_ms(&self, flaps: u8) -> u64 {
        let doublings = u32::from(flaps.saturating_sub(FLAPPING)).min(16);
        self.dead_after_ms
            .saturating_mul(1 << doublings)
            .min(self.remove_after_ms)
    }

    /// How long a peer stays suspect before it is declared dead: `dead_after` with just
    /// enough alerters, shrinking (Lifeguard's rule, logarithmically) to a quarter of it
    /// as every one of its observers confirms.
    pub(crate) fn suspicion_timeout_ms(&self, alerters: usize) -> u64 {
        let max = self.dead_after_ms as f64;
        let min = max / 4.0;
        let extra = alerters.saturating_sub(self.corroboration) as f64;
        let possible = self.observers.saturating_sub(self.corroboration).max(1) as f64;
        let shrink = ((extra + 1.0).ln() / (possible + 1.0).ln()).min(1.0);
        (max - (max - min) * shrink).max(min) as u64
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_confirmations_shorten_the_suspicion_but_never_below_a_quarter() {
        let rules = HealthCheck::new(&NodeConfig::default());
        let full = rules.suspicion_timeout_ms(rules.corroboration);
        assert_eq!(full, millis(NodeConfig::default().dead_after));
        let mut previous = full;
        for alerters in rules.corroboration + 1..=rules.observers + 3 {
            let timeout = rules.suspicion_timeout_ms(alerters);
            assert!(
                timeout <= previous && timeout >= full / 4,
                "{alerters}: {timeout}"
            );
            previous = timeout;
        }
        assert_eq!(rules.suspicion_timeout_ms(rules.observers), full / 4);
    }
}
