//! This node's doubt about itself (Lifeguard's local health multiplier).
//!
//! A node that misses its own acks, finds itself suspected or wakes from a stall is more
//! likely the broken one than its peers are. Each such sign raises a score; every probe
//! answered in time lowers it. The score stretches the time this node waits for answers
//! before it raises an alert, and above half its range the node accuses nobody until it
//! recovers: a node that reaches no one must not declare everyone dead.

/// Lifeguard's local health score, 0 (healthy) to [`LocalHealth::MAX`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LocalHealth {
    score: u8,
}

impl LocalHealth {
    /// The highest score (memberlist's default awareness range, 0 to 8).
    pub(crate) const MAX: u8 = 8;

    /// A sign that this node is the problem: a check failed without a single relay's
    /// answer, it was suspected, or its timers fired late.
    pub(crate) fn raise(&mut self) {
        self.score = (self.score + 1).min(Self::MAX);
    }

    /// A probe answered in time: this node can reach others.
    pub(crate) fn lower(&mut self) {
        self.score = self.score.saturating_sub(1);
    }

    /// The current score.
    pub(crate) fn score(self) -> u8 {
        self.score
    }

    /// How much longer than usual this node waits for answers: `1 + score`.
    pub(crate) fn multiplier(self) -> u32 {
        1 + u32::from(self.score)
    }

    /// Whether this node's own evidence is trusted enough to accuse a peer.
    pub(crate) fn may_accuse(self) -> bool {
        self.score <= Self::MAX / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_that_reaches_no_one_stops_accusing_and_recovers_as_acks_return() {
        let mut health = LocalHealth::default();
        assert!(health.may_accuse());
        for _ in 0..20 {
            health.raise();
        }
        assert_eq!(health.score(), LocalHealth::MAX);
        assert_eq!(health.multiplier(), 9);
        assert!(!health.may_accuse());
        for _ in 0..4 {
            health.lower();
        }
        assert!(health.may_accuse());
        for _ in 0..20 {
            health.lower();
        }
        assert_eq!(health, LocalHealth::default());
    }
}
