//! How far ahead of this node's clock a generation may be and still be believed.
//!
//! A generation is, by convention, its incarnation's start time in milliseconds since the
//! Unix epoch. A claim far beyond the local clock cannot come from a real restart: it is
//! forged or corrupt, and believing it is harmful for good — this node would re-assert
//! itself above it, and a forged incarnation of a peer there could never be superseded
//! (generations are `u64`: nothing is above 2^64 − 1). So claims more than
//! [`MAX_GENERATION_AHEAD`] ahead of the clock are refused, as Cassandra refuses
//! generations more than a year ahead.
//!
//! The core has no clock of its own. The horizon's origin is this node's generation at
//! start (its start time, by the convention), or the wall clock the driver reports with
//! [`crate::Node::set_wall_clock`], whichever is later, advanced by the `now` of each
//! input. It never follows a generation taken to refute a claim, so a stream of claims
//! each just below the horizon cannot push it forward.

use std::time::{Duration, Instant};

use leviathan_gossip_wire::Generation;

/// How far ahead of the local clock a generation may be: one year, as Cassandra's
/// `MAX_GENERATION_DIFFERENCE`. Clocks of a cluster's hosts differ by far less; a claim
/// beyond it is refused and counted in
/// [`Stats::ignored_implausible_generations`](crate::Stats::ignored_implausible_generations).
pub const MAX_GENERATION_AHEAD: Duration = Duration::from_secs(365 * 24 * 3600);

/// The largest believable generation, as a function of `now`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GenerationHorizon {
    /// The wall clock, in milliseconds since the Unix epoch, at `origin`.
    origin_millis: u64,
    origin: Instant,
}

impl GenerationHorizon {
    /// A horizon whose clock read `generation` at `now`: a node's own start generation.
    pub(crate) fn new(generation: Generation, now: Instant) -> Self {
        GenerationHorizon {
            origin_millis: generation.0,
            origin: now,
        }
    }

    /// Takes the driver's wall clock, `unix_millis` at `now`, if it is ahead of what the
    /// horizon holds (a hand-picked generation below the clock, for instance). A clock
    /// behind it changes nothing: the horizon never moves back.
    pub(crate) fn set_wall_clock(&mut self, unix_millis: u64, now: Instant) {
        if unix_millis > self.clock_millis(now) {
            self.origin_millis = unix_millis;
            self.origin = now;
        }
    }

    /// Whether `generation` is at most [`MAX_GENERATION_AHEAD`] ahead of the clock at
    /// `now`. Computed without overflow: nothing beyond `u64` is admitted.
    pub(crate) fn admits(&self, generation: Generation, now: Instant) -> bool {
        let ahead = duration_millis(MAX_GENERATION_AHEAD);
        self.clock_millis(now)
            .checked_add(ahead)
            .is_none_or(|horizon| generation.0 <= horizon)
            // A horizon past u64::MAX would admit u64::MAX itself: keep one above every
            // admitted generation, so a re-assertion never saturates.
            && generation.0 < u64::MAX
    }

    /// The clock at `now`, in milliseconds since the Unix epoch (saturating far in the
    /// future, where nothing is admitted anyway).
    fn clock_millis(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.origin);
        self.origin_millis.saturating_add(duration_millis(elapsed))
    }
}

fn duration_millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const YEAR_MS: u64 = 365 * 24 * 3600 * 1000;

    #[test]
    fn admits_up_to_a_year_ahead_of_the_clock_as_it_advances() {
        let start = Instant::now();
        let horizon = GenerationHorizon::new(Generation(1_000), start);
        assert!(horizon.admits(Generation(1_000 + YEAR_MS), start));
        assert!(!horizon.admits(Generation(1_001 + YEAR_MS), start));
        let later = start + Duration::from_secs(1);
        assert!(horizon.admits(Generation(2_000 + YEAR_MS), later));
        assert!(!horizon.admits(Generation(2_001 + YEAR_MS), later));
    }

    #[test]
    fn never_admits_the_largest_generation_even_when_the_horizon_overflows() {
        let start = Instant::now();
        let horizon = GenerationHorizon::new(Generation(u64::MAX - 5), start);
        assert!(horizon.admits(Generation(u64::MAX - 1), start));
        assert!(!horizon.admits(Generation(u64::MAX), start));
    }

    #[test]
    fn the_wall_clock_moves_the_origin_forward_only() {
        let start = Instant::now();
        let mut horizon = GenerationHorizon::new(Generation(5_000), start);
        horizon.set_wall_clock(1_000, start);
        assert!(!horizon.admits(Generation(5_001 + YEAR_MS), start));
        horizon.set_wall_clock(9_000, start);
        assert!(horizon.admits(Generation(9_000 + YEAR_MS), start));
        assert!(!horizon.admits(Generation(9_001 + YEAR_MS), start));
    }
}
