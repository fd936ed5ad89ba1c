//! How much work one source can make this node do: a token bucket per source address,
//! checked before a datagram is opened or parsed.
//!
//! A healthy peer sends a few datagrams a second (a handshake is three), so the default
//! allowance is far above anything gossip needs and only a flood runs into it. The table
//! of sources is bounded: when it is full, the source heard from least recently is
//! forgotten (it starts again with a full bucket, which costs an attacker nothing it did
//! not already have).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

/// Most sources tracked at once.
const MAX_SOURCES: usize = 4096;

/// Token buckets per source address.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    /// Datagrams per second each source may send, sustained; also the burst.
    per_second: f64,
    buckets: HashMap<SocketAddr, Bucket>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl RateLimiter {
    /// A limiter allowing `per_second` datagrams a second per source (0: no limit).
    pub(crate) fn new(per_second: u32) -> Self {
        RateLimiter {
            per_second: f64::from(per_second),
            buckets: HashMap::new(),
        }
    }

    /// Whether a datagram from `source` at `now` is within its allowance (and takes a
    /// token if so).
    pub(crate) fn admit(&mut self, source: SocketAddr, now: Instant) -> bool {
        if self.per_second <= 0.0 {
            return true;
        }
        if !self.buckets.contains_key(&source) && self.buckets.len() >= MAX_SOURCES {
            self.forget_stalest();
        }
        let full = self.per_second;
        let bucket = self.buckets.entry(source).or_insert(Bucket {
            tokens: full,
            refilled: now,
        });
        let elapsed = now.saturating_duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * full).min(full);
        bucket.refilled = now;
        if bucket.tokens < 1.0 {
            return false;
        }
        bucket.tokens -= 1.0;
        true
    }

    fn forget_stalest(&mut self) {
        let stalest = self
            .buckets
            .iter()
            .min_by_key(|(_, bucket)| bucket.refilled)
            .map(|(source, _)| *source);
        if let Some(source) = stalest {
            self.buckets.remove(&source);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_source_gets_its_burst_then_its_rate() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(10);
        let source: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let other: SocketAddr = "127.0.0.1:2".parse().unwrap();
        let admitted = (0..100).filter(|_| limiter.admit(source, start)).count();
        assert_eq!(admitted, 10);
        assert!(limiter.admit(other, start), "sources are independent");
        let later = start + Duration::from_millis(500);
        let admitted = (0..100).filter(|_| limiter.admit(source, later)).count();
        assert_eq!(admitted, 5);
    }

    #[test]
    fn the_table_of_sources_stays_bounded() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(1);
        for port in 0..(MAX_SOURCES as u16 + 100) {
            let source = SocketAddr::from(([10, 0, 0, 1], port));
            assert!(limiter.admit(source, start + Duration::from_millis(u64::from(port))));
        }
        assert_eq!(limiter.buckets.len(), MAX_SOURCES);
    }

    #[test]
    fn zero_means_no_limit() {
        let mut limiter = RateLimiter::new(0);
        let source: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert!((0..10_000).all(|_| limiter.admit(source, Instant::now())));
    }
}
