//! The node's periodic duties as data: one deadline per [`Timer`], re-armed when it fires.

use std::time::{Duration, Instant};

use crate::config::NodeConfig;

/// The node's periodic duties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    Heartbeat,
    HealthCheck,
    Gossip,
}

/// Next deadline of each [`Timer`].
#[derive(Debug, Clone)]
pub(crate) struct Timers {
    heartbeat: Instant,
    health_check: Instant,
    gossip: Instant,
}

impl Timers {
    pub(crate) fn new(now: Instant, config: &NodeConfig) -> Self {
        Timers {
            // Gossip at once: a starting node should call its seeds immediately.
            gossip: now,
            heartbeat: now + config.heartbeat_interval,
            health_check: now + config.health_check_interval,
        }
    }

    pub(crate) fn earliest(&self) -> Instant {
        self.heartbeat.min(self.health_check).min(self.gossip)
    }

    /// If `timer` is due at `now`, re-arms it one `interval` later (from `now` if it is
    /// more than an interval late, so a stall does not cause a burst) and returns true.
    pub(crate) fn fire(&mut self, timer: Timer, now: Instant, interval: Duration) -> bool {
        let deadline = match timer {
            Timer::Heartbeat => &mut self.heartbeat,
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
