//! Where a node looks for its cluster: the configured seed names, resolved at start and
//! again every `seed_refresh_interval` (a name that does not resolve is retried with
//! exponential backoff, never fatal), plus the addresses joined at run time and the
//! members remembered from an earlier run. The union is the core's seed list.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tracing::{info, warn};

/// First retry of a name that did not resolve (or sooner if the refresh interval is shorter).
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Longest wait between retries of a name that does not resolve (or the refresh interval,
/// if shorter).
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// How the configured seed names fared, from [`crate::Gossip::seed_stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeedStats {
    /// Seeds configured as names (`host:port` with a host that is not an IP address).
    pub names: usize,
    /// Of those, how many have never resolved (no address known for them yet).
    pub unresolved: usize,
    /// Successful resolutions of names, at start, on retries and on refreshes.
    pub resolutions: u64,
    /// Failed resolutions of names: each is followed by a warning in the log and a retry
    /// after a backoff (1 s doubling to 60 s).
    pub resolution_failures: u64,
    /// Addresses in the node's seed list now: resolved names, address literals, addresses
    /// joined at run time and members remembered from an earlier run.
    pub addresses: usize,
}

/// The seed names and what they resolve to, when each is next resolved, and the addresses
/// that do not come from a name.
#[derive(Debug)]
pub(crate) struct SeedBook {
    names: Vec<SeedName>,
    /// Address literals from the configuration, joined and remembered addresses: kept
    /// whatever the names resolve to.
    fixed: Vec<SocketAddr>,
    refresh: Duration,
    resolutions: u64,
    failures: u64,
}

#[derive(Debug)]
struct SeedName {
    name: String,
    /// The latest successful resolution; kept through failed ones (a DNS hiccup does
    /// not make the node forget where its cluster was).
    addresses: Vec<SocketAddr>,
    next: Instant,
    /// The wait after the next failure.
    backoff: Duration,
}

impl SeedBook {
    /// The configured `seeds`: address literals are taken as they are, names are due for
    /// resolution at `now`.
    pub(crate) fn new(seeds: &[String], refresh: Duration, now: Instant) -> SeedBook {
        let mut book = SeedBook {
            names: Vec::new(),
            fixed: Vec::new(),
            refresh,
            resolutions: 0,
            failures: 0,
        };
        for seed in seeds {
            match seed.parse::<SocketAddr>() {
                Ok(address) => book.fixed.push(address),
                Err(_) if book.names.iter().any(|n| n.name == *seed) => {}
                Err(_) => book.names.push(SeedName {
                    name: seed.clone(),
                    addresses: Vec::new(),
                    next: now,
                    backoff: book.first_backoff(),
                }),
            }
        }
        book
    }

    /// Names whose resolution is due at `now`.
    pub(crate) fn due(&self, now: Instant) -> Vec<String> {
        self.names
            .iter()
            .filter(|name| name.next <= now)
            .map(|name| name.name.clone())
            .collect()
    }

    /// When the next name is due, if there are names.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.names.iter().map(|name| name.next).min()
    }

    /// Records the outcome of resolving `name` at `now`: on success its addresses are
    /// replaced and it is due again after the refresh interval; on failure its addresses
    /// are kept, a warning is logged, and it is due again after its backoff, which then
    /// doubles up to its cap.
    pub(crate) fn record(
        &mut self,
        name: &str,
        outcome: Result<Vec<SocketAddr>, String>,
        now: Instant,
    ) {
        let first_backoff = self.first_backoff();
        let max_backoff = self.max_backoff();
        let refresh = self.refresh;
        let Some(seed) = self.names.iter_mut().find(|seed| seed.name == name) else {
            return;
        };
        match outcome {
            Ok(mut addresses) if !addresses.is_empty() => {
                self.resolutions += 1;
                addresses.sort();
                addresses.dedup();
                if seed.backoff > first_backoff || seed.addresses != addresses {
                    info!(seed = name, ?addresses, "seed resolved");
                }
                seed.addresses = addresses;
                seed.backoff = first_backoff;
                seed.next = now + refresh;
            }
            outcome => {
                self.failures += 1;
                let reason = outcome.err().unwrap_or_else(|| "no address".to_string());
                warn!(
                    seed = name,
                    %reason,
                    retry_in = ?seed.backoff,
                    known_addresses = seed.addresses.len(),
                    "cannot resolve seed; retrying"
                );
                seed.next = now + seed.backoff;
                seed.backoff = (seed.backoff * 2).min(max_backoff);
            }
        }
    }

    /// Adds addresses that do not come from a name (joined, remembered).
    pub(crate) fn add(&mut self, addresses: impl IntoIterator<Item = SocketAddr>) {
        for address in addresses {
            if !self.fixed.contains(&address) {
                self.fixed.push(address);
            }
        }
    }

    /// Every address: the fixed ones and what each name resolved to last.
    pub(crate) fn addresses(&self) -> Vec<SocketAddr> {
        let mut all: Vec<SocketAddr> = self
            .fixed
            .iter()
            .chain(self.names.iter().flat_map(|name| &name.addresses))
            .copied()
            .collect();
        all.sort();
        all.dedup();
        all
    }

    pub(crate) fn stats(&self) -> SeedStats {
        SeedStats {
            names: self.names.len(),
            unresolved: self
                .names
                .iter()
                .filter(|name| name.addresses.is_empty())
                .count(),
            resolutions: self.resolutions,
            resolution_failures: self.failures,
            addresses: self.addresses().len(),
        }
    }

    fn first_backoff(&self) -> Duration {
        FIRST_BACKOFF.min(self.refresh)
    }

    fn max_backoff(&self) -> Duration {
        MAX_BACKOFF.min(self.refresh).max(self.first_backoff())
    }
}

/// Resolves `host:port` to its addresses (every address of a DNS name); the error is
/// the resolver's reason.
pub(crate) async fn resolve(seed: &str) -> Result<Vec<SocketAddr>, String> {
    match tokio::net::lookup_host(seed).await {
        Ok(addresses) => Ok(addresses.collect()),
        Err(error) => Err(error.to_string()),
    }
}

/// Resolves each of `names`, returning the addresses found and, for each name that did
/// not resolve, the name and the reason.
pub(crate) async fn resolve_all<S: AsRef<str>>(
    names: impl IntoIterator<Item = S>,
) -> (Vec<SocketAddr>, Vec<String>) {
    let mut addresses = Vec::new();
    let mut failed = Vec::new();
    for name in names {
        let name = name.as_ref();
        match resolve(name).await {
            Ok(found) if !found.is_empty() => addresses.extend(found),
            Ok(_) => failed.push(format!("{name}: no address")),
            Err(reason) => failed.push(format!("{name}: {reason}")),
        }
    }
    (addresses, failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], port))
    }

    /// Drives the book as the resolver task does, over virtual time, with `resolver` in
    /// place of DNS; returns the times at which `name` was resolved.
    fn run(
        book: &mut SeedBook,
        start: Instant,
        until: Duration,
        mut resolver: impl FnMut(&str, Duration) -> Result<Vec<SocketAddr>, String>,
    ) -> Vec<Duration> {
        let mut attempts = Vec::new();
        while let Some(next) = book.next_deadline() {
            if next > start + until {
                break;
            }
            for name in book.due(next) {
                let at = next - start;
                attempts.push(at);
                let outcome = resolver(&name, at);
                book.record(&name, outcome, next);
            }
        }
        attempts
    }

    fn secs(list: &[u64]) -> Vec<Duration> {
        list.iter().map(|s| Duration::from_secs(*s)).collect()
    }

    #[test]
    fn literals_are_addresses_at_once_and_names_are_due_at_start() {
        let now = Instant::now();
        let seeds = ["10.0.0.1:1".to_string(), "db.invalid:7".to_string()];
        let book = SeedBook::new(&seeds, Duration::from_secs(60), now);
        assert_eq!(book.addresses(), [address(1)]);
        assert_eq!(book.due(now), ["db.invalid:7"]);
        assert_eq!(book.stats().names, 1);
        assert_eq!(book.stats().unresolved, 1);
    }

    #[test]
    fn a_name_that_does_not_resolve_is_retried_with_doubling_backoff_up_to_a_minute() {
        let now = Instant::now();
        let mut book = SeedBook::new(&["seed.invalid:7".into()], Duration::from_secs(60), now);
        let attempts = run(&mut book, now, Duration::from_secs(300), |_, _| {
            Err("not found".into())
        });
        assert_eq!(
            attempts,
            secs(&[0, 1, 3, 7, 15, 31, 63, 123, 183, 243]),
            "1, 2, 4, 8, 16, 32 s, then every 60 s"
        );
        assert_eq!(book.stats().resolution_failures, 10);
        assert_eq!(book.stats().unresolved, 1);
        assert!(book.addresses().is_empty());
    }

    #[test]
    fn a_name_that_resolves_late_is_then_refreshed_and_keeps_its_addresses_through_failures() {
        let now = Instant::now();
        let mut book = SeedBook::new(&["seed.local:7".into()], Duration::from_secs(60), now);
        // Fails until 5 s, resolves to two addresses from then until 100 s, then one, and
        // fails again from 200 s.
        let attempts = run(&mut book, now, Duration::from_secs(200), |_, at| {
            match at.as_secs() {
                0..5 => Err("not yet".into()),
                5..100 => Ok(vec![address(2), address(1)]),
                100..200 => Ok(vec![address(3)]),
                _ => Err("gone".into()),
            }
        });
        assert_eq!(attempts, secs(&[0, 1, 3, 7, 67, 127, 187]));
        assert_eq!(book.addresses(), [address(3)]);
        let attempts = run(&mut book, now, Duration::from_secs(249), |_, _| {
            Err("gone".into())
        });
        assert_eq!(attempts, secs(&[247, 248]), "backoff starts over at 1 s");
        assert_eq!(book.addresses(), [address(3)], "kept through failures");
        let stats = book.stats();
        assert_eq!((stats.resolutions, stats.resolution_failures), (4, 5));
        assert_eq!(stats.unresolved, 0);
    }

    #[test]
    fn backoff_is_capped_by_a_short_refresh_interval() {
        let now = Instant::now();
        let refresh = Duration::from_millis(200);
        let mut book = SeedBook::new(&["seed.invalid:7".into()], refresh, now);
        let attempts = run(&mut book, now, Duration::from_millis(700), |_, _| {
            Err("no".into())
        });
        let millis: Vec<u128> = attempts.iter().map(Duration::as_millis).collect();
        assert_eq!(millis, [0, 200, 400, 600]);
    }

    #[test]
    fn fixed_addresses_stay_whatever_the_names_resolve_to() {
        let now = Instant::now();
        let mut book = SeedBook::new(&["seed.local:7".into()], Duration::from_secs(60), now);
        book.add([address(9), address(9), address(8)]);
        book.record("seed.local:7", Ok(vec![address(1)]), now);
        assert_eq!(book.addresses(), [address(1), address(8), address(9)]);
        book.record("seed.local:7", Ok(vec![address(2)]), now);
        assert_eq!(book.addresses(), [address(2), address(8), address(9)]);
        assert_eq!(book.stats().addresses, 3);
    }
}
