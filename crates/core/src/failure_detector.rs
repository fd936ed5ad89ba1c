//! φ-accrual failure detection (Hayashibara et al., in the Akka flavour).
//!
//! Instead of a binary alive/dead verdict after a fixed timeout, the detector
//! reports a suspicion level φ that grows continuously with the silence of a
//! peer, scaled by how regular its arrivals (here: the answers to this node's
//! probes, see `monitor.rs`) have been so far: φ = 1
//! means a ~10 % chance that declaring the peer dead is a mistake, φ = 2 a
//! ~1 % chance, φ = 8 a ~10⁻⁸ chance. The caller picks the threshold.
//!
//! The detector is a pure state machine: it never reads a clock, so tests and
//! simulations can drive it with synthetic `Instant`s and get identical results.

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
    /// Prior interval between arrivals for a newly watched peer (default 1 s, the
    /// default probe interval), a floor.
    ///
    /// The window of a new peer is seeded as if arrivals came every this
    /// often (or every typical interval between arrivals from the peers
    /// already watched, if longer: see [`PhiAccrualDetector::prior`]) with
    /// σ = estimate / 4, so a peer heard from once is still checked in
    /// bounded time instead of staying live forever. Set it to the probe
    /// interval (`heartbeat_interval`).
    pub first_heartbeat_estimate: Duration,
}

impl Default for PhiConfig {
    fn default() -> Self {
        Self {
            window_size: 100,
            min_std_deviation: Duration::from_millis(100),
            acceptable_pause: Duration::from_secs(1),
            first_heartbeat_estimate: Duration::from_secs(1),
        }
    }
}

/// A failure detector: turns the arrival times of one peer's signs of life into a
/// suspicion level φ.
///
/// Stateless about *which* peers exist: the per-peer statistics ([`Self::Estimate`]) are
/// kept by the caller next to its other per-peer state, one allocation per peer for
/// everything a node knows of it (at 10,000 peers per node, separate maps cost more than
/// the statistics themselves). The source of arrivals — the answers to this node's probes
/// — is the caller's business.
pub trait FailureDetector {
    /// What the detector remembers of one peer.
    type Estimate: Clone + std::fmt::Debug;

    /// Starts tracking a peer first heard from at `at`, with the prior rhythm.
    fn first_arrival(&self, at: Instant) -> Self::Estimate;

    /// A fresh sign of life of the peer arrived at `at`. An arrival stamped before the
    /// previous one (reordered delivery, or a `local_pause` shift) carries no usable
    /// interval and changes nothing. The detector may learn from it across peers (a
    /// prior for peers not seen yet).
    fn arrival(&mut self, estimate: &mut Self::Estimate, at: Instant);

    /// φ at `now`: ≈ 0.0 right after an arrival, growing monotonically with silence;
    /// always finite and never NaN.
    fn phi(&self, estimate: &Self::Estimate, now: Instant) -> f64;

    /// Whether φ at `now` exceeds `threshold`: `phi(..) > threshold`, possibly cheaper.
    fn exceeds(&self, estimate: &Self::Estimate, now: Instant, threshold: f64) -> bool {
        self.phi(estimate, now) > threshold
    }

    /// The local node itself was stalled for `pause` (its timers fired that late).
    ///
    /// That time is treated as if it had not passed for the peer (its last arrival is
    /// shifted forward by `pause`), so a node waking from a GC pause or CPU starvation
    /// does not suspect everyone.
    fn local_pause(&self, estimate: &mut Self::Estimate, pause: Duration);
}

/// φ-accrual detector keeping inter-arrival statistics per peer in constant memory
/// ([`Arrivals`], 24 bytes).
#[derive(Debug, Clone)]
pub struct PhiAccrualDetector {
    config: PhiConfig,
    /// Arrival times are kept as milliseconds since this instant (8 bytes, not 16).
    epoch: Instant,
    window: u16,
    /// A threshold callers use, with its normalised silence (see [`y_at_phi`]), so
    /// `exceeds` needs no cube root per peer.
    usual_threshold: (f64, f64),
    /// Exponentially weighted mean of every interval seen, over all peers (ms): how
    /// often a peer's signs of life typically arrive here. New peers start from it.
    typical_interval_ms: f64,
    /// Intervals above this (ms) are not learnt: an outage is not a rhythm.
    max_interval_ms: f64,
}

/// Weight of one interval in the typical interval: it remembers the last thousand or so
/// arrivals.
const TYPICAL_INTERVAL_WEIGHT: f64 = 1.0 / 1024.0;

impl PhiAccrualDetector {
    /// A detector with the given tuning, counting time from `epoch` (any instant not
    /// after the first arrival it will see; earlier instants count as `epoch`).
    pub fn new(config: PhiConfig, epoch: Instant) -> Self {
        let window = u16::try_from(config.window_size.max(1)).unwrap_or(u16::MAX);
        Self {
            epoch,
            window,
            usual_threshold: (f64::NAN, f64::NAN),
            typical_interval_ms: millis(config.first_heartbeat_estimate),
            max_interval_ms: f64::INFINITY,
            config,
        }
    }

    /// The prior inter-arrival time of a new peer: the configured estimate, or the
    /// typical interval between arrivals from the tracked peers if longer (arrivals
    /// slower than configured would otherwise make every new peer look late).
    pub fn prior(&self) -> Duration {
        let learned = Duration::from_secs_f64(self.typical_interval_ms.max(0.0) / 1000.0);
        self.config.first_heartbeat_estimate.max(learned)
    }

    /// Prepares [`FailureDetector::exceeds`] for `threshold`, the one the caller uses (any
    /// threshold still works, only slower).
    pub fn with_usual_threshold(mut self, threshold: f64) -> Self {
        self.usual_threshold = (threshold, y_at_phi(threshold));
        self
    }

    /// Learns no interval longer than `max` (Cassandra's `MAX_INTERVAL`): after an outage
    /// the peer is judged by its usual rhythm, not by one that counts the outage.
    pub fn with_max_interval(mut self, max: Duration) -> Self {
        self.max_interval_ms = millis(max);
        self
    }

    /// The tuning this detector was built with.
    pub fn config(&self) -> &PhiConfig {
        &self.config
    }

    /// When the last arrival counted (after any `local_pause` shift).
    pub fn last_arrival(&self, estimate: &Arrivals) -> Instant {
        self.epoch + Duration::from_millis(estimate.last_arrival_ms)
    }

    /// `at` in ms since the epoch (0 before it): how callers store instants compactly.
    pub fn millis_since_epoch(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    /// Mean (pause included) and σ of the inter-arrival time, in ms.
    fn distribution(&self, estimate: &Arrivals) -> (f64, f64) {
        let mean = f64::from(estimate.mean_ms) + millis(self.config.acceptable_pause);
        let std = f64::from(estimate.variance_ms2)
            .max(0.0)
            .sqrt()
            .max(millis(self.config.min_std_deviation))
            .max(MIN_STD_MS);
        (mean, std)
    }

    fn silence_ms(&self, estimate: &Arrivals, now: Instant) -> f64 {
        self.millis_since_epoch(now)
            .saturating_sub(estimate.last_arrival_ms) as f64
    }
}

impl FailureDetector for PhiAccrualDetector {
    type Estimate = Arrivals;

    fn first_arrival(&self, at: Instant) -> Arrivals {
        let estimate = millis(self.prior());
        let sigma = estimate / 4.0;
        let mut arrivals = Arrivals {
            last_arrival_ms: self.millis_since_epoch(at),
            mean_ms: 0.0,
            variance_ms2: 0.0,
            samples: 0,
        };
        // Two samples at estimate ± σ give exactly mean = estimate, std = σ.
        arrivals.push(estimate - sigma, self.window);
        arrivals.push(estimate + sigma, self.window);
        arrivals
    }

    fn arrival(&mut self, estimate: &mut Arrivals, at: Instant) {
        let at = self.millis_since_epoch(at);
        // Moving `last_arrival` backwards would only inflate φ spuriously.
        if at >= estimate.last_arrival_ms {
            let interval = (at - estimate.last_arrival_ms) as f64;
            estimate.last_arrival_ms = at;
            if interval > self.max_interval_ms {
                return;
            }
            estimate.push(interval, self.window);
            self.typical_interval_ms +=
                TYPICAL_INTERVAL_WEIGHT * (interval - self.typical_interval_ms);
        }
    }

    fn phi(&self, estimate: &Arrivals, now: Instant) -> f64 {
        let (mean, std) = self.distribution(estimate);
        phi_of(self.silence_ms(estimate, now), mean, std)
    }

    fn exceeds(&self, estimate: &Arrivals, now: Instant, threshold: f64) -> bool {
        // φ is increasing in the silence: compare the silence with the one at which φ
        // reaches the threshold, without evaluating exp and ln for every peer.
        let (mean, std) = self.distribution(estimate);
        let silence = self.silence_ms(estimate, now);
        let y = match self.usual_threshold {
            (usual, y) if usual == threshold => y,
            _ => y_at_phi(threshold),
        };
        silence > mean + y * std && phi_of(silence, mean, std) > threshold
    }

    fn local_pause(&self, estimate: &mut Arrivals, pause: Duration) {
        let pause = u64::try_from(pause.as_millis()).unwrap_or(u64::MAX);
        estimate.last_arrival_ms = estimate.last_arrival_ms.saturating_add(pause);
    }
}

/// Inter-arrival statistics of one peer (see [`PhiAccrualDetector`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Arrivals {
    /// Last counted arrival, in ms since the detector's epoch.
    last_arrival_ms: u64,
    mean_ms: f32,
    variance_ms2: f32,
    /// Samples folded in (the prior's two included), saturating at the window.
    samples: u16,
}

impl Arrivals {
    /// Last counted arrival, in ms since the detector's epoch
    /// ([`PhiAccrualDetector::millis_since_epoch`]).
    pub fn last_arrival_ms(&self) -> u64 {
        self.last_arrival_ms
    }

    /// Folds in one interval. With weight 1/n for the n-th sample this is the exact
    /// running mean and population variance (Welford); once n reaches the window the
    /// weight stays 1/window, an exponentially weighted average.
    fn push(&mut self, interval_ms: f64, window: u16) {
        self.samples = self.samples.saturating_add(1).min(window);
        let weight = 1.0 / f64::from(self.samples.max(1));
        let mean = f64::from(self.mean_ms);
        let deviation = interval_ms - mean;
        let variance =
            (1.0 - weight) * (f64::from(self.variance_ms2) + weight * deviation * deviation);
        self.mean_ms = (mean + weight * deviation) as f32;
        self.variance_ms2 = variance as f32;
    }
}

/// The normalised silence y at which φ equals `threshold` (a slight underestimate, so
/// `exceeds` may confirm with the exact φ): the real root of
/// y·(1.5976 + 0.070566·y²) = ln(10^threshold − 1), by Cardano's formula.
fn y_at_phi(threshold: f64) -> f64 {
    if threshold <= 0.0 || threshold.is_nan() {
        return f64::NEG_INFINITY;
    }
    let x = threshold * std::f64::consts::LN_10;
    // ln(10^t − 1) = ln(expm1(x)); for large x it is x itself.
    let a = if x > 30.0 { x } else { x.exp_m1().ln() };
    // y³ + p·y + q = 0 with p > 0: exactly one real root.
    let p = 1.5976 / 0.070566;
    let q = -a / 0.070566;
    let root = (q * q / 4.0 + p * p * p / 27.0).sqrt();
    let y = (-q / 2.0 + root).cbrt() + (-q / 2.0 - root).cbrt();
    y - 1e-6 * y.abs().max(1.0)
}

/// Floor on σ (ms) even when the configured minimum is zero: keeps y finite.
const MIN_STD_MS: f64 = 1e-3;

/// Bound on |y|: beyond it φ is astronomically large (≈ 3·10¹³) or ≈ 0 anyway,
/// and clamping keeps the cubic in `phi_of` far from overflow.
const MAX_ABS_Y: f64 = 1e5;

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

    /// One peer as a test sees it: the detector, its estimate, the last arrival.
    struct Peer {
        detector: PhiAccrualDetector,
        estimate: Arrivals,
        last: Instant,
    }

    impl Peer {
        fn phi_after(&self, silence: Duration) -> f64 {
            self.detector.phi(&self.estimate, self.last + silence)
        }

        /// First silence (10 ms steps) at which φ exceeds `threshold`.
        fn crossing(&self, threshold: f64) -> Duration {
            (0..100_000u64)
                .map(|t| ms(t * 10))
                .find(|t| self.phi_after(*t) > threshold)
                .unwrap_or(Duration::MAX)
        }
    }

    /// A peer with one heartbeat at each offset (ms), under `config`.
    fn fed_with(config: PhiConfig, offsets_ms: &[u64]) -> Peer {
        let t0 = Instant::now();
        let mut detector = PhiAccrualDetector::new(config, t0);
        let mut estimate = detector.first_arrival(t0 + ms(offsets_ms[0]));
        for off in &offsets_ms[1..] {
            detector.arrival(&mut estimate, t0 + ms(*off));
        }
        let last = t0 + ms(*offsets_ms.last().unwrap());
        Peer {
            detector,
            estimate,
            last,
        }
    }

    fn fed(offsets_ms: &[u64]) -> Peer {
        fed_with(PhiConfig::default(), offsets_ms)
    }

    fn regular(n: u64) -> Peer {
        let offsets: Vec<u64> = (0..n).map(|i| i * 1000).collect();
        fed(&offsets)
    }

    #[test]
    fn regular_one_second_heartbeats_with_defaults() {
        let peer = regular(200);
        assert!(peer.phi_after(Duration::ZERO) < 1e-6);
        let values: Vec<f64> = [1, 2, 3, 5]
            .iter()
            .map(|s| peer.phi_after(SEC * *s))
            .collect();
        println!("phi at 1/2/3/5 s of silence: {values:?}");
        assert!(values.windows(2).all(|w| w.first() < w.get(1)));
        assert!(peer.phi_after(SEC) < 1.0);
        assert!(peer.phi_after(5 * SEC) > 8.0);
        let cross = peer.crossing(8.0);
        println!("regular 1 s arrivals: phi crosses 8 after {cross:?} of silence");
        assert!(cross > 2 * SEC && cross < 10 * SEC);
    }

    #[test]
    fn phi_is_monotone_in_silence() {
        for peer in [regular(1), regular(3), regular(150)] {
            let mut prev = 0.0;
            for t in 0..20_000u64 {
                let p = peer.phi_after(ms(t));
                assert!(p.is_finite() && p >= prev, "t={t} ms phi={p} prev={prev}");
                prev = p;
            }
        }
    }

    #[test]
    fn exceeds_agrees_with_phi_at_every_silence() {
        for peer in [
            regular(1),
            regular(3),
            regular(150),
            fed(&[0, 10, 5000, 5100]),
        ] {
            for threshold in [0.5, 1.0, 3.0, 8.0, 12.0, 50.0] {
                for t in (0..60_000u64).step_by(7) {
                    let now = peer.last + ms(t);
                    let usual = peer.detector.clone().with_usual_threshold(threshold);
                    assert_eq!(
                        usual.exceeds(&peer.estimate, now, threshold),
                        peer.detector.exceeds(&peer.estimate, now, threshold)
                    );
                    assert_eq!(
                        peer.detector.exceeds(&peer.estimate, now, threshold),
                        peer.detector.phi(&peer.estimate, now) > threshold,
                        "threshold {threshold}, silence {t} ms"
                    );
                }
            }
        }
    }

    #[test]
    fn new_peers_start_from_the_typical_interval_when_news_is_slower_than_the_prior() {
        let t0 = Instant::now();
        let mut detector = PhiAccrualDetector::new(PhiConfig::default(), t0);
        assert_eq!(
            detector.prior(),
            PhiConfig::default().first_heartbeat_estimate
        );
        // Heartbeat news of 50 peers every 20 s (a large cluster's paged digests).
        let mut peers: Vec<Arrivals> = (0..50).map(|_| detector.first_arrival(t0)).collect();
        for round in 1..=100u64 {
            for peer in &mut peers {
                detector.arrival(peer, t0 + 20 * SEC * round as u32);
            }
        }
        let prior = detector.prior();
        assert!(prior > 15 * SEC && prior <= 20 * SEC, "prior {prior:?}");
        let now = t0 + 2000 * SEC;
        let newcomer = Peer {
            estimate: detector.first_arrival(now),
            detector: detector.clone(),
            last: now,
        };
        // Not suspected after the 3 s prior would have fired, still suspected in time.
        assert!(newcomer.crossing(8.0) > 30 * SEC);
        assert!(newcomer.crossing(8.0) < 120 * SEC);
        // Fast news never lowers the prior below the configured estimate.
        for round in 1..=5000u64 {
            detector.arrival(&mut peers[0], now + ms(100 * round));
        }
        assert_eq!(
            detector.prior(),
            PhiConfig::default().first_heartbeat_estimate
        );
    }

    #[test]
    fn peer_seen_once_is_suspected_thanks_to_prior() {
        let cross = regular(1).crossing(8.0);
        println!("single observation: phi crosses 8 after {cross:?}");
        assert!(cross > SEC && cross < 10 * SEC);
    }

    #[test]
    fn out_of_order_arrival_pushes_no_interval() {
        let mut peer = regular(5);
        let before = peer.estimate;
        peer.detector.arrival(&mut peer.estimate, peer.last - SEC);
        assert_eq!(peer.estimate, before);
        assert_eq!(peer.detector.last_arrival(&peer.estimate), peer.last);
    }

    #[test]
    fn statistics_are_exact_until_the_window_fills_then_forget_old_samples() {
        let config = PhiConfig {
            window_size: 10,
            first_heartbeat_estimate: SEC,
            ..PhiConfig::default()
        };
        // Prior (750, 1250) then intervals of 1000, 2000, 3000 ms.
        let mut peer = fed_with(config, &[0, 1000, 3000, 6000]);
        let samples = [750.0, 1250.0, 1000.0, 2000.0, 3000.0];
        let mean = samples.iter().sum::<f64>() / 5.0;
        let variance = samples.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / 5.0;
        // f32 storage: relative precision ≈ 1e-7.
        assert!((f64::from(peer.estimate.mean_ms) - mean).abs() < 1e-3);
        assert!((f64::from(peer.estimate.variance_ms2) - variance).abs() / variance < 1e-6);
        // Long after the window filled, a new rhythm dominates the old one.
        for i in 4..200u64 {
            let at = peer.last + ms((i - 3) * 100);
            peer.detector.arrival(&mut peer.estimate, at);
        }
        assert_eq!(peer.estimate.samples, 10);
        let mean = peer.estimate.mean_ms;
        assert!((mean - 100.0).abs() < 1.0, "mean {mean}");
    }

    #[test]
    fn local_pause_keeps_phi_low() {
        let mut peer = regular(20);
        assert!(peer.phi_after(31 * SEC) > 8.0);
        peer.detector.local_pause(&mut peer.estimate, 30 * SEC);
        let phi = peer.phi_after(31 * SEC);
        assert!(phi < 1.0, "phi after local pause = {phi}");
        assert_eq!(
            peer.detector.last_arrival(&peer.estimate),
            peer.last + 30 * SEC
        );
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
        let cross_i = fed(&offsets).crossing(8.0);
        let cross_r = regular(401).crossing(8.0);
        println!("phi > 8 after: regular {cross_r:?}, irregular {cross_i:?}");
        assert!(cross_i > cross_r + ms(500));
    }

    #[test]
    fn extreme_inputs_never_nan() {
        let config = PhiConfig {
            window_size: 10,
            min_std_deviation: Duration::ZERO,
            acceptable_pause: Duration::ZERO,
            first_heartbeat_estimate: Duration::ZERO,
        };
        let peer = fed_with(config, &[0; 20]);
        for silence in [Duration::ZERO, ms(1), SEC, 1_000_000 * SEC] {
            let p = peer.phi_after(silence);
            assert!(p.is_finite() && p >= 0.0, "silence {silence:?}: {p}");
        }
        let peer = regular(100);
        for silence in [Duration::ZERO, 1_000_000 * SEC] {
            let p = peer.phi_after(silence);
            assert!(p.is_finite() && p >= 0.0, "silence {silence:?}: {p}");
        }
        // `now` before the last arrival saturates to zero silence.
        assert!(peer.detector.phi(&peer.estimate, peer.last - SEC) < 1e-6);
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
