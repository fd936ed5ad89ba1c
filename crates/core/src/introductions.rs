//! How many never-seen nodes each sender may introduce unasked.
//!
//! Without a limit, one datagram of invented nodes fills the state up to `max_nodes`,
//! and the invented nodes crowd real peers out of gossip target selection until they are
//! declared dead and removed, minutes later. Nodes in an answer to a Syn this node sent
//! are asked for (a joiner's roster) and not counted here; every other introduction
//! takes a token from its sender address's bucket, which refills at
//! `max_introductions_per_sender` per gossip interval. A cluster member introduces
//! itself and the few nodes it learnt since it last talked to this node; an invented
//! roster stops at the burst.
//!
//! The table of buckets is bounded: full buckets are forgotten (a fresh one is the
//! same), and while [`MAX_SENDERS`] senders are draining theirs, a further sender gets
//! nothing, so forged source addresses cannot multiply the allowance without bound.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Senders whose buckets are remembered, at most.
pub(crate) const MAX_SENDERS: usize = 256;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

/// Per sender address, the introductions it may still make.
#[derive(Debug, Clone)]
pub(crate) struct Introductions {
    burst: f64,
    interval: Duration,
    buckets: HashMap<SocketAddr, Bucket>,
}

impl Introductions {
    /// Buckets of `burst` tokens, refilled at `burst` per `interval`.
    pub(crate) fn new(burst: usize, interval: Duration) -> Self {
        Introductions {
            burst: burst as f64,
            interval,
            buckets: HashMap::new(),
        }
    }

    /// Whether `from` may introduce one more node now; takes its token if so.
    pub(crate) fn admit(&mut self, from: SocketAddr, now: Instant) -> bool {
        if !self.buckets.contains_key(&from) && self.buckets.len() >= MAX_SENDERS {
            self.forget_full(now);
        }
        let (burst, interval) = (self.burst, self.interval);
        let len = self.buckets.len();
        let bucket = match self.buckets.get_mut(&from) {
            Some(bucket) => bucket,
            None if len >= MAX_SENDERS => return false,
            None => self.buckets.entry(from).or_insert(Bucket {
                tokens: burst,
                refilled: now,
            }),
        };
        refill(bucket, burst, interval, now);
        if bucket.tokens < 1.0 {
            return false;
        }
        bucket.tokens -= 1.0;
        true
    }

    fn forget_full(&mut self, now: Instant) {
        let (burst, interval) = (self.burst, self.interval);
        self.buckets.retain(|_, bucket| {
            refill(bucket, burst, interval, now);
            bucket.tokens < burst
        });
    }
}

fn refill(bucket: &mut Bucket, burst: f64, interval: Duration, now: Instant) {
    let elapsed = now.saturating_duration_since(bucket.refilled);
    let earned = burst * elapsed.as_secs_f64() / interval.as_secs_f64().max(f64::EPSILON);
    bucket.tokens = (bucket.tokens + earned).min(burst);
    bucket.refilled = now.max(bucket.refilled);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn address(port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], port))
    }

    #[test]
    fn a_sender_gets_its_burst_then_the_refill_rate() {
        let now = Instant::now();
        let mut introductions = Introductions::new(4, Duration::from_secs(1));
        let admitted = (0..10)
            .filter(|_| introductions.admit(address(1), now))
            .count();
        assert_eq!(admitted, 4);
        // Another sender has a bucket of its own.
        assert!(introductions.admit(address(2), now));
        // Half an interval earns half the burst.
        let later = now + Duration::from_millis(500);
        let admitted = (0..10)
            .filter(|_| introductions.admit(address(1), later))
            .count();
        assert_eq!(admitted, 2);
    }

    #[test]
    fn forged_source_addresses_cannot_multiply_the_allowance_without_bound() {
        let now = Instant::now();
        let mut introductions = Introductions::new(2, Duration::from_secs(1));
        let admitted = (0..(MAX_SENDERS as u16 * 4))
            .flat_map(|port| [port, port])
            .filter(|port| introductions.admit(address(*port), now))
            .count();
        assert_eq!(admitted, MAX_SENDERS * 2);
        // Once their buckets are full again, the senders are forgotten and others admitted.
        let later = now + Duration::from_secs(1);
        assert!(introductions.admit(address(u16::MAX), later));
    }
}
