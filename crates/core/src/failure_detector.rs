//! φ-accrual failure detection (Hayashibara et al., in the Akka flavour).
//!
//! Instead of a binary alive/dead verdict after a fixed timeout, the detector
//! reports a suspicion level φ that grows continuously with the silence of a
//! peer, scaled by how regular that peer's heartbeats have been so far: φ = 1
//! means a ~10 % chance that declaring the peer dead is a mistake, φ = 2 a
//! ~1 % chance, φ = 8 a ~10⁻⁸ chance. The caller picks the threshold.
//!
//! The detector is a pure state machine: it never reads a clock, so tests and
//! simulations can drive it with synthetic `Instant`s and get identical results.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Tuning of the φ-accrual detector.
#[derive(Debug, Clone, PartialEq)]
pub struct PhiConfig {
    /// Memory of the inter-arrival statistics, in samples (default 100).
    ///
    /// Until a peer has this many samples, all weigh equally (the exact mean
    /// and variance); afterwards each new sample weighs 1/`window_size` and
    /// older ones fade exponentially — a sliding window's behaviour in
    /// constant memory per peer, which matters when every node tracks
    /// thousands of peers. Larger gives a steadier estimate that adapts more
    /// slowly when a peer's rhythm changes; 0 is treated as 1.
    pub window_size: usize,
    /// Floor on the standard deviation of inter-arrival times (default 100 ms).
    ///
    /// A perfectly regular peer would otherwise have σ ≈ 0 and look dead after
    /// a single slightly late heartbeat. Raise it on jittery networks.
    pub min_std_deviation: Duration,
    /// Extra silence tolerated on top of the mean interval (default 1 s).
    ///
    /// Absorbs GC pauses, gossip fan-out jitter and transient loss without
    /// raising φ; raise it if peers are falsely suspected during known stalls.
    pub acceptable_pause: Duration,
    /// Prior heartbeat interval for a newly seen peer (default 3 s).
    ///
    /// The window of a new peer is seeded as if heartbeats came every this
    /// often with σ = estimate / 4, so a peer heard from once is still
    /// suspected in bounded time instead of staying live forever. With gossiped
    /// heartbeats, news of a peer arrives less regularly than its heartbeat
    /// interval, most of all while a large cluster forms: about three heartbeat
    /// intervals avoids suspecting new peers in a 300-node cluster where one
    /// interval caused thousands of false suspicions during formation.
    pub first_heartbeat_estimate: Duration,
}

impl Default for PhiConfig {
    fn default() -> Self {
        Self {
            window_size: 100,
            min_std_deviation: Duration::from_millis(100),
            acceptable_pause: Duration::from_secs(1),
            first_heartbeat_estimate: Duration::from_secs(3),
        }
    }
}

/// What the detector is fed: "peer P's heartbeat counter was seen at value H at time `at`".
///
/// Generic over the peer key type so the source of heartbeats (gossiped
/// digests today, direct probes later) can change without touching callers.
pub trait FailureDetector<P> {
    /// Records that `peer` was observed with heartbeat counter `heartbeat` at `at`.
    ///
    /// Only an increase of the counter counts as an arrival; an equal or lower
    /// counter is ignored (returns false). The first observation of a peer
    /// starts tracking it (returns true) with the prior window. Returns whether
    /// this was counted as an arrival.
    fn observe(&mut self, peer: &P, heartbeat: u64, at: Instant) -> bool;

    /// φ of `peer` at `now`, or `None` if the peer is not tracked.
    ///
    /// ≈ 0.0 right after an arrival, growing monotonically with silence; always
    /// finite and never NaN.
    fn phi(&self, peer: &P, now: Instant) -> Option<f64>;

    /// Stops tracking `peer` (it left, was removed, or restarted with a new
    /// generation and must start afresh).
    fn forget(&mut self, peer: &P);

    /// The local node itself was stalled for `pause` (its timers fired that late).
    ///
    /// That time is treated as if it had not passed for every peer (each
    /// peer's last arrival is shifted forward by `pause`), so a node waking
    /// from a GC pause or CPU starvation does not suspect everyone.
    fn local_pause(&mut self, pause: Duration);
}

/// φ-accrual detector keeping inter-arrival statistics per peer in constant memory.
#[derive(Debug, Clone)]
pub struct PhiAccrualDetector<P> {
    config: PhiConfig,
    peers: HashMap<P, PeerState>,
}

impl<P: Eq + Hash + Clone> PhiAccrualDetector<P> {
    /// Creates an empty detector with the given tuning.
    pub fn new(config: PhiConfig) -> Self {
        Self {
            config,
            peers: HashMap::new(),
        }
    }

    /// The tuning this detector was built with.
    pub fn config(&self) -> &PhiConfig {
        &self.config
    }

    /// Number of tracked peers.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether no peer is tracked.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// Last arrival time of `peer` (after any `local_pause` shift), if tracked.
    pub fn last_arrival(&self, peer: &P) -> Option<Instant> {
        self.peers.get(peer).map(|s| s.last_arrival)
    }

    /// Iterates over the tracked peers, in no particular order.
    pub fn peers(&self) -> impl Iterator<Item = &P> {
        self.peers.keys()
    }

    fn window(&self) -> u32 {
        u32::try_from(self.config.window_size.max(1)).unwrap_or(u32::MAX)
    }
}

impl<P: Eq + Hash + Clone> FailureDetector<P> for PhiAccrualDetector<P> {
    fn observe(&mut self, peer: &P, heartbeat: u64, at: Instant) -> bool {
        let window = self.window();
        let Some(state) = self.peers.get_mut(peer) else {
            let state = PeerState::with_prior(heartbeat, at, &self.config, window);
            self.peers.insert(peer.clone(), state);
            return true;
        };
        if heartbeat <= state.heartbeat {
            return false;
        }
        state.heartbeat = heartbeat;
        // An arrival stamped before the last one (reordered delivery, or a
        // `local_pause` shift) carries no usable interval; moving
        // `last_arrival` backwards would only inflate φ spuriously.
        if at >= state.last_arrival {
            state.push(millis(at.duration_since(state.last_arrival)), window);
            state.last_arrival = at;
        }
        true
    }

    fn phi(&self, peer: &P, now: Instant) -> Option<f64> {
        let state = self.peers.get(peer)?;
        let elapsed = millis(now.saturating_duration_since(state.last_arrival));
        let mean = state.mean_ms + millis(self.config.acceptable_pause);
        let std = state
            .variance_ms2
            .max(0.0)
            .sqrt()
            .max(millis(self.config.min_std_deviation))
            .max(MIN_STD_MS);
        Some(phi_of(elapsed, mean, std))
    }

    fn forget(&mut self, peer: &P) {
        self.peers.remove(peer);
    }

    fn local_pause(&mut self, pause: Duration) {
        for state in self.peers.values_mut() {
            if let Some(shifted) = state.last_arrival.checked_add(pause) {
                state.last_arrival = shifted;
            }
        }
    }
}

/// Floor on σ (ms) even when the configured minimum is zero: keeps y finite.
const MIN_STD_MS: f64 = 1e-3;

/// Bound on |y|: beyond it φ is astronomically large (≈ 3·10¹³) or ≈ 0 anyway,
/// and clamping keeps the cubic in `phi_of` far from overflow.
const MAX_ABS_Y: f64 = 1e5;

/// Per-peer heartbeat statistics: a constant 48 bytes or so, whatever the window.
#[derive(Debug, Clone)]
struct PeerState {
    heartbeat: u64,
    last_arrival: Instant,
    /// Samples folded in (the prior's two included), saturating at the window.
    samples: u32,
    mean_ms: f64,
    variance_ms2: f64,
}

impl PeerState {
    fn with_prior(heartbeat: u64, at: Instant, config: &PhiConfig, window: u32) -> Self {
        let estimate = millis(config.first_heartbeat_estimate);
        let sigma = estimate / 4.0;
        let mut state = Self {
            heartbeat,
            last_arrival: at,
            samples: 0,
            mean_ms: 0.0,
            variance_ms2: 0.0,
        };
        // Two samples at estimate ± σ give exactly mean = estimate, std = σ.
        state.push(estimate - sigma, window);
        state.push(estimate + sigma, window);
        state
    }

    /// Folds in one interval. With weight 1/n for the n-th sample this is the
    /// exact running mean and population variance (Welford); once n reaches the
    /// window the weight stays 1/window, an exponentially weighted average.
    fn push(&mut self, interval_ms: f64, window: u32) {
        self.samples = self.samples.saturating_add(1).min(window);
        let weight = 1.0 / f64::from(self.samples.max(1));
        let deviation = interval_ms - self.mean_ms;
        self.mean_ms += weight * deviation;
        self.variance_ms2 = (1.0 - weight) * (self.variance_ms2 + weight * deviation * deviation);
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// φ for `elapsed` ms of silence given the (already adjusted) mean and σ.
///
/// With e = exp(−a), a = y·(1.5976 + 0.070566·y²), both of Akka's branches,
/// −log10(e/(1+e)) and −log10(1 − 1/(1+e)), are algebraically equal to
/// log10(1 + exp(a)). Evaluating that softplus in log space avoids the
/// overflow of `exp` for very negative y and the `log10(0) = −∞` for very
/// large y, and is monotone in `elapsed` because a is increasing in y.
fn phi_of(elapsed: f64, mean: f64, std: f64) -> f64 {
    // NaN cannot arise from finite Durations, but must never leak out.
    let y = ((elapsed - mean) / std).clamp(-MAX_ABS_Y, MAX_ABS_Y);
    let y = if y.is_nan() { 0.0 } else { y };
    let a = y * (1.5976 + 0.070566 * y * y);
    let softplus = if a > 0.0 {
        a + (-a).exp().ln_1p()
    } else {
        a.exp().ln_1p()
    };
    softplus / std::f64::consts::LN_10
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Detector tracking peer 1, with one heartbeat at each offset (ms).
    fn fed(offsets_ms: &[u64]) -> (PhiAccrualDetector<u32>, Instant) {
        let mut d = PhiAccrualDetector::new(PhiConfig::default());
        let t0 = Instant::now();
        for (i, off) in offsets_ms.iter().enumerate() {
            d.observe(&1, i as u64 + 1, t0 + ms(*off));
        }
        let last = offsets_ms.last().copied().unwrap_or(0);
        (d, t0 + ms(last))
    }

    fn regular(n: u64) -> (PhiAccrualDetector<u32>, Instant) {
        let offsets: Vec<u64> = (0..n).map(|i| i * 1000).collect();
        fed(&offsets)
    }

    fn phi_at(d: &PhiAccrualDetector<u32>, last: Instant, silence: Duration) -> f64 {
        d.phi(&1, last + silence).unwrap_or(f64::NAN)
    }

    /// First silence (10 ms steps) at which φ exceeds `threshold`.
    fn crossing(d: &PhiAccrualDetector<u32>, last: Instant, threshold: f64) -> Duration {
        (0..100_000u64)
            .map(ms)
            .map(|t| t * 10)
            .find(|t| phi_at(d, last, *t) > threshold)
            .unwrap_or(Duration::MAX)
    }

    #[test]
    fn regular_one_second_heartbeats_with_defaults() {
        let (d, last) = regular(200);
        assert!(phi_at(&d, last, Duration::ZERO) < 1e-6);
        let values: Vec<f64> = [1, 2, 3, 5]
            .iter()
            .map(|s| phi_at(&d, last, SEC * *s))
            .collect();
        println!("phi at 1/2/3/5 s of silence: {values:?}");
        assert!(values.windows(2).all(|w| w.first() < w.get(1)));
        assert!(phi_at(&d, last, SEC) < 1.0);
        assert!(phi_at(&d, last, 5 * SEC) > 8.0);
        let cross = crossing(&d, last, 8.0);
        println!("regular 1 s heartbeats: phi crosses 8 after {cross:?} of silence");
        assert!(cross > 2 * SEC && cross < 10 * SEC);
    }

    #[test]
    fn phi_is_monotone_in_silence() {
        for (d, last) in [regular(1), regular(3), regular(150)] {
            let mut prev = 0.0;
            for t in 0..20_000u64 {
                let p = phi_at(&d, last, ms(t));
                assert!(p.is_finite() && p >= prev, "t={t} ms phi={p} prev={prev}");
                prev = p;
            }
        }
    }

    #[test]
    fn peer_seen_once_is_suspected_thanks_to_prior() {
        let (d, last) = regular(1);
        let cross = crossing(&d, last, 8.0);
        println!("single observation: phi crosses 8 after {cross:?}");
        assert!(cross > SEC && cross < 10 * SEC);
    }

    #[test]
    fn equal_or_lower_heartbeats_are_ignored() {
        let mut d = PhiAccrualDetector::new(PhiConfig::default());
        let t0 = Instant::now();
        assert!(d.observe(&7u32, 5, t0));
        assert!(!d.observe(&7, 5, t0 + SEC));
        assert!(!d.observe(&7, 3, t0 + 2 * SEC));
        assert_eq!(d.last_arrival(&7), Some(t0));
        assert!(d.observe(&7, 6, t0 + 3 * SEC));
        assert_eq!(d.last_arrival(&7), Some(t0 + 3 * SEC));
    }

    #[test]
    fn out_of_order_arrival_counts_but_pushes_no_interval() {
        let (mut d, last) = regular(5);
        let samples = d.peers.get(&1).map(|s| (s.samples, s.mean_ms.to_bits()));
        assert!(d.observe(&1, 10, last - SEC));
        assert_eq!(
            d.peers.get(&1).map(|s| (s.samples, s.mean_ms.to_bits())),
            samples
        );
        assert_eq!(d.last_arrival(&1), Some(last));
        assert!(!d.observe(&1, 10, last + SEC));
    }

    #[test]
    fn statistics_are_exact_until_the_window_fills_then_forget_old_samples() {
        let config = PhiConfig {
            window_size: 10,
            first_heartbeat_estimate: SEC,
            ..PhiConfig::default()
        };
        let mut d = PhiAccrualDetector::new(config);
        let t0 = Instant::now();
        // Prior (750, 1250) then intervals of 1000, 2000, 3000 ms.
        for (heartbeat, at) in [(0u64, 0u64), (1, 1000), (2, 3000), (3, 6000)] {
            d.observe(&1u32, heartbeat, t0 + ms(at));
        }
        let samples = [750.0, 1250.0, 1000.0, 2000.0, 3000.0];
        let mean = samples.iter().sum::<f64>() / 5.0;
        let variance = samples.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / 5.0;
        let state = d.peers.get(&1).unwrap();
        assert!((state.mean_ms - mean).abs() < 1e-9);
        assert!((state.variance_ms2 - variance).abs() < 1e-6);
        // Long after the window filled, a new rhythm dominates the old one.
        for i in 4..200u64 {
            d.observe(&1u32, i, t0 + ms(6000 + (i - 3) * 100));
        }
        let state = d.peers.get(&1).unwrap();
        assert_eq!(state.samples, 10);
        assert!(
            (state.mean_ms - 100.0).abs() < 1.0,
            "mean {}",
            state.mean_ms
        );
    }

    #[test]
    fn local_pause_keeps_phi_low() {
        let (mut d, last) = regular(20);
        let now = last + 31 * SEC;
        assert!(d.phi(&1, now).unwrap_or(0.0) > 8.0);
        d.local_pause(30 * SEC);
        let phi = d.phi(&1, now).unwrap_or(f64::MAX);
        assert!(phi < 1.0, "phi after local pause = {phi}");
        assert_eq!(d.last_arrival(&1), Some(last + 30 * SEC));
    }

    #[test]
    fn irregular_heartbeats_get_more_tolerance() {
        // Fixed-seed LCG (Numerical Recipes constants): deterministic jitter
        // of ±400 ms around 1 s without an RNG dependency.
        let mut seed: u64 = 0x5eed;
        let mut offsets = vec![0u64];
        let mut at = 0u64;
        // Enough samples for the prior to have faded from both detectors.
        for _ in 0..400 {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223) % (1 << 32);
            at += 600 + (seed >> 16) % 801;
            offsets.push(at);
        }
        let (irregular, last_i) = fed(&offsets);
        let (regular, last_r) = regular(401);
        let cross_i = crossing(&irregular, last_i, 8.0);
        let cross_r = crossing(&regular, last_r, 8.0);
        println!("phi > 8 after: regular {cross_r:?}, irregular {cross_i:?}");
        assert!(cross_i > cross_r + ms(500));
    }

    #[test]
    fn forget_stops_tracking() {
        let (mut d, last) = regular(3);
        assert_eq!(d.len(), 1);
        d.forget(&1);
        assert!(d.is_empty());
        assert_eq!(d.phi(&1, last), None);
        assert_eq!(d.last_arrival(&1), None);
        assert!(d.observe(&1, 1, last));
    }

    #[test]
    fn extreme_inputs_never_nan() {
        let mut d = PhiAccrualDetector::new(PhiConfig {
            window_size: 10,
            min_std_deviation: Duration::ZERO,
            acceptable_pause: Duration::ZERO,
            first_heartbeat_estimate: Duration::ZERO,
        });
        let t0 = Instant::now();
        for i in 0..20u64 {
            d.observe(&1u32, i, t0);
        }
        for silence in [Duration::ZERO, ms(1), SEC, 1_000_000 * SEC] {
            let p = d.phi(&1, t0 + silence).unwrap_or(f64::NAN);
            assert!(p.is_finite() && p >= 0.0, "silence {silence:?}: {p}");
        }
        let (d, last) = regular(100);
        for silence in [Duration::ZERO, 1_000_000 * SEC] {
            let p = phi_at(&d, last, silence);
            assert!(p.is_finite() && p >= 0.0, "silence {silence:?}: {p}");
        }
        // `now` before the last arrival saturates to zero silence.
        assert!(d.phi(&1, last - SEC).is_some_and(|p| p < 1e-6));
    }

    #[test]
    fn matches_akka_formula_in_normal_range() {
        for y10 in -60..=60 {
            let y = f64::from(y10) / 10.0;
            let e = (-y * (1.5976 + 0.070566 * y * y)).exp();
            let akka = if y > 0.0 {
                -(e / (1.0 + e)).log10()
            } else {
                -(1.0 - 1.0 / (1.0 + e)).log10()
            };
            let ours = phi_of(1000.0 + y * 100.0, 1000.0, 100.0);
            assert!((akka - ours).abs() <= 1e-9 * akka.max(1.0), "y={y}");
        }
    }
}
