//! The node's periodic duties as data: one deadline per [`Timer`], re-armed when it fires.

use std::time::{Duration, Instant};

use crate::config::NodeConfig;

/// The node's periodic duties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    HealthCheck,
    Gossip,
}

/// Next deadline of each [`Timer`].
#[derive(Debug, Clone)]
pub(crate) struct Timers {
    health_check: Instant,
    gossip: Instant,
}

impl Timers {
    pub(crate) fn new(now: Instant, config: &NodeConfig) -> Self {
        Timers {
            // Gossip at once: a starting node should call its seeds immediately.
            gossip: now,
            health_check: now + config.health_check_interval,
        }
    }

    pub(crate) fn earliest(&self) -> Instant {
        self.health_check.min(self.gossip)
    }

    /// If `timer` is due at `now`, re-arms it one `interval` later (from `now` if it is
    /// more than an interval late, so a stall does not cause a burst) and returns true.
    pub(crate) fn fire(&mut self, timer: Timer, now: Instant, interval: Duration) -> bool {
        let deadline = match timer {
            Timer::HealthCheck => &mut self.health_check,
            Timer::Gossip => &mut self.gossip,
        };
        if *deadline > now {
            return false;
        }
        let next = *deadline + interval;
        *deadline = if next <= now { now + interval } else { next };
        true
    }
}
