//! The periodic health check's rules.
//!
//! A check changes a peer only when one of its deadlines passes: φ reaching the threshold
//! (live → suspect), `dead_after` of suspicion (suspect → dead), `remove_after` dead or
//! departed (removal). The peers' health itself is kept in the
//! [`crate::health_table::HealthTable`].

use std::time::{Duration, Instant};

use crate::config::NodeConfig;
use crate::failure_detector::{FailureDetector, PhiAccrualDetector};
use crate::member::{Health, MemberState};

/// What a check does to one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing is due.
    Unchanged,
    /// φ crossed the threshold: live → suspect.
    Suspected,
    /// Suspect for `dead_after`: suspect → dead.
    Dead,
    /// Dead or departed for `remove_after`: to be removed.
    Expired,
}

/// The rules of the health check.
#[derive(Debug, Clone)]
pub(crate) struct HealthCheck {
    phi_threshold: f64,
    dead_after_ms: u64,
    remove_after_ms: u64,
}

impl HealthCheck {
    /// The rules of `config`.
    pub(crate) fn new(config: &NodeConfig) -> Self {
        HealthCheck {
            phi_threshold: config.phi_threshold,
            dead_after_ms: millis(config.dead_after),
            remove_after_ms: millis(config.remove_after),
        }
    }

    /// Judges one peer at `now` and applies the transition, if any.
    pub(crate) fn judge(
        &self,
        detector: &PhiAccrualDetector,
        health: &mut Health,
        now: Instant,
        now_ms: u64,
    ) -> Verdict {
        let verdict = self.verdict(detector, health, now, now_ms);
        match verdict {
            Verdict::Suspected => {
                health.state = MemberState::Suspect;
                let after = now_ms.saturating_sub(health.arrivals.last_arrival_ms());
                health.suspected_after_ms = u32::try_from(after).unwrap_or(u32::MAX);
            }
            Verdict::Dead => health.state = MemberState::Dead,
            Verdict::Unchanged | Verdict::Expired => {}
        }
        verdict
    }

    /// What a check at `now` would do to `health`, without doing it.
    fn verdict(
        &self,
        detector: &PhiAccrualDetector,
        health: &Health,
        now: Instant,
        now_ms: u64,
    ) -> Verdict {
        let last = health.arrivals.last_arrival_ms();
        match health.state {
            MemberState::Live => {
                if detector.exceeds(&health.arrivals, now, self.phi_threshold) {
                    Verdict::Suspected
                } else {
                    Verdict::Unchanged
                }
            }
            MemberState::Suspect => {
                if now_ms.saturating_sub(self.suspected_ms(health)) >= self.dead_after_ms {
                    Verdict::Dead
                } else {
                    Verdict::Unchanged
                }
            }
            MemberState::Dead | MemberState::Left => {
                let since = match health.state {
                    MemberState::Dead => self.dead_ms(health),
                    _ => last,
                };
                if now_ms.saturating_sub(since) >= self.remove_after_ms {
                    Verdict::Expired
                } else {
                    Verdict::Unchanged
                }
            }
        }
    }

    /// When a suspect (or dead) peer was suspected.
    fn suspected_ms(&self, health: &Health) -> u64 {
        health
            .arrivals
            .last_arrival_ms()
            .saturating_add(u64::from(health.suspected_after_ms))
    }

    /// When a dead peer was declared dead.
    fn dead_ms(&self, health: &Health) -> u64 {
        self.suspected_ms(health).saturating_add(self.dead_after_ms)
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
