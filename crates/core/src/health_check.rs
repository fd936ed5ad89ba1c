//! The periodic health check's rules, and the census of peers by state.
//!
//! A check changes a peer only when one of its deadlines passes: φ reaching the threshold
//! (live → suspect), `dead_after` of suspicion (suspect → dead), `remove_after` dead or
//! departed (removal). The census of live and unreachable peers is kept up to date by
//! every change, so the gossip round can draw its targets by rank without counting the
//! peers first or copying their addresses: it walks them only as far as the highest rank
//! drawn (three quarters of them, on average, at fanout 3).

use std::time::{Duration, Instant};

use crate::config::NodeConfig;
use crate::failure_detector::{FailureDetector, PhiAccrualDetector};
use crate::membership::{Health, MemberState};

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

/// How many peers are in each class the gossip round draws from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Census {
    /// Live peers.
    pub(crate) live: usize,
    /// Suspect and dead peers.
    pub(crate) unreachable: usize,
}

impl Census {
    /// Counts `state` in.
    pub(crate) fn add(&mut self, state: Option<MemberState>) {
        match state {
            Some(MemberState::Live) => self.live += 1,
            Some(MemberState::Suspect | MemberState::Dead) => self.unreachable += 1,
            Some(MemberState::Left) | None => {}
        }
    }

    /// Counts `state` out.
    fn remove(&mut self, state: Option<MemberState>) {
        match state {
            Some(MemberState::Live) => self.live = self.live.saturating_sub(1),
            Some(MemberState::Suspect | MemberState::Dead) => {
                self.unreachable = self.unreachable.saturating_sub(1);
            }
            Some(MemberState::Left) | None => {}
        }
    }
}

/// The rules of the health check, and the census of peers by state.
///
/// Every change of a peer's health outside a check must be reported ([`Self::changed`],
/// [`Self::removed`]); debug builds verify the census every gossip round.
#[derive(Debug, Clone)]
pub(crate) struct HealthCheck {
    phi_threshold: f64,
    dead_after_ms: u64,
    remove_after_ms: u64,
    census: Census,
}

impl HealthCheck {
    /// The rules of `config`, and no peers.
    pub(crate) fn new(config: &NodeConfig) -> Self {
        HealthCheck {
            phi_threshold: config.phi_threshold,
            dead_after_ms: millis(config.dead_after),
            remove_after_ms: millis(config.remove_after),
            census: Census::default(),
        }
    }

    /// How many peers are live, and how many suspect or dead.
    pub(crate) fn census(&self) -> Census {
        self.census
    }

    /// A peer's health changed outside a check (an arrival, a departure, a new
    /// incarnation) from `previous` (`None`: no health, or no such peer) to `now`.
    pub(crate) fn changed(&mut self, previous: Option<MemberState>, now: MemberState) {
        self.census.remove(previous);
        self.census.add(Some(now));
    }

    /// A peer in `state` is no longer tracked (removed, or replaced by an incarnation
    /// without health).
    pub(crate) fn removed(&mut self, state: Option<MemberState>) {
        self.census.remove(state);
    }

    /// Judges one peer at `now` and applies the transition, if any.
    pub(crate) fn judge(
        &mut self,
        detector: &PhiAccrualDetector,
        health: &mut Health,
        now: Instant,
        now_ms: u64,
    ) -> Verdict {
        let verdict = self.verdict(detector, health, now, now_ms);
        match verdict {
            Verdict::Suspected => {
                self.census.remove(Some(MemberState::Live));
                self.census.add(Some(MemberState::Suspect));
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
