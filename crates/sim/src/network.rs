//! The modelled network: how long a datagram takes, whether it arrives, arrives twice, or
//! arrives altered.
//!
//! A [`NetworkModel`] holds one default [`LinkModel`] for every directed link, optional
//! per-link overrides, an optional fault injector ([`NetworkModel::with_tamper`]) and an
//! optional read-only tap on every datagram sent ([`NetworkModel::with_tap`]).
//! Reordering is not a separate knob: it follows from latency jitter, since two datagrams
//! on one link draw independent delays. Partitions, crashes and stalls are not properties
//! of links but of the scenario: see [`crate::Action`].

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use leviathan_gossip_wire::Packet;
use rand::Rng;

use crate::NodeIndex;

/// How long a datagram takes from sender to receiver, drawn per datagram.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Latency {
    /// Every datagram takes exactly this long: datagrams on one link stay in order.
    Constant(Duration),
    /// Uniform in `[min, max]`: datagrams on one link overtake each other when they are
    /// sent less than `max - min` apart.
    Uniform {
        /// Shortest delay.
        min: Duration,
        /// Longest delay.
        max: Duration,
    },
    /// `min` plus an exponentially distributed extra delay of mean `mean_extra`, capped at
    /// `cap` in total: mostly fast, with a long tail (queueing).
    Exponential {
        /// Shortest delay (propagation).
        min: Duration,
        /// Mean of the random part.
        mean_extra: Duration,
        /// Longest delay.
        cap: Duration,
    },
    /// Log-normal with the given median and σ of the underlying normal (0.5 is a
    /// moderate tail, 1.0 a heavy one), capped at `cap`.
    LogNormal {
        /// Median delay.
        median: Duration,
        /// Standard deviation of `ln(delay)`.
        sigma: f64,
        /// Longest delay.
        cap: Duration,
    },
}

impl Default for Latency {
    /// Uniform 1–5 ms: a data centre with some jitter.
    fn default() -> Self {
        Latency::Uniform {
            min: Duration::from_millis(1),
            max: Duration::from_millis(5),
        }
    }
}

impl Latency {
    /// Draws one delay.
    pub fn sample(&self, rng: &mut impl Rng) -> Duration {
        match *self {
            Latency::Constant(delay) => delay,
            Latency::Uniform { min, max } => {
                if max <= min {
                    return min;
                }
                min + (max - min).mul_f64(rng.random::<f64>())
            }
            Latency::Exponential {
                min,
                mean_extra,
                cap,
            } => {
                // Inverse transform; 1 - u lies in (0, 1], so the logarithm is finite.
                let u: f64 = rng.random();
                let extra = -(1.0 - u).ln();
                capped(min.as_secs_f64() + mean_extra.as_secs_f64() * extra, cap)
            }
            Latency::LogNormal { median, sigma, cap } => {
                let normal = standard_normal(rng);
                capped(median.as_secs_f64() * (sigma * normal).exp(), cap)
            }
        }
    }

    /// Shortest delay this distribution can draw.
    pub fn min(&self) -> Duration {
        match *self {
            Latency::Constant(delay) => delay,
            Latency::Uniform { min, max } => min.min(max),
            Latency::Exponential { min, cap, .. } => min.min(cap),
            Latency::LogNormal { .. } => Duration::ZERO,
        }
    }
}

fn capped(seconds: f64, cap: Duration) -> Duration {
    if !seconds.is_finite() || seconds < 0.0 {
        return cap;
    }
    Duration::from_secs_f64(seconds.min(cap.as_secs_f64()))
}

/// A standard normal draw (Box–Muller).
fn standard_normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// What one directed link does to datagrams.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkModel {
    /// Delay distribution.
    pub latency: Latency,
    /// Probability in `[0, 1]` that a datagram is lost.
    pub loss: f64,
    /// Probability in `[0, 1]` that a datagram that is not lost arrives twice (the copy
    /// draws its own delay).
    pub duplicate: f64,
}

impl Default for LinkModel {
    /// [`Latency::default`], no loss, no duplication.
    fn default() -> Self {
        LinkModel {
            latency: Latency::default(),
            loss: 0.0,
            duplicate: 0.0,
        }
    }
}

impl LinkModel {
    /// The default link with `loss` probability of losing each datagram.
    pub fn lossy(loss: f64) -> Self {
        LinkModel {
            loss,
            ..LinkModel::default()
        }
    }

    /// Checks that the probabilities lie in `[0, 1]`.
    pub fn validate(&self) -> Result<(), String> {
        for (name, p) in [("loss", self.loss), ("duplicate", self.duplicate)] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{name} probability {p} is outside [0, 1]"));
            }
        }
        Ok(())
    }
}

/// Where and when a datagram is being delivered, for a [`Tamper`] hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Virtual time of the delivery.
    pub at: Duration,
    /// Sender.
    pub from: NodeIndex,
    /// Receiver.
    pub to: NodeIndex,
}

/// A fault injector: may alter any packet just before it is delivered. Used by tests to
/// show that the invariant checks catch a broken protocol rule (a lowered version, a stale
/// record replayed after a delete, an oversized datagram). With a tamper installed, every
/// delivered packet's size is checked again after it ran.
pub type Tamper = Box<dyn FnMut(&Delivery, &mut Packet)>;

/// A network tap: sees every datagram a node hands to the network — its virtual send time,
/// its sender and the packet — before loss, partitions or a [`Tamper`] act on it, and
/// cannot change it. Used by experiments to measure, from outside the nodes, what they
/// say to each other. Called in send order on the simulation's one sequential thread, so
/// what it records is as deterministic as the run.
pub type Tap = Box<dyn FnMut(Duration, NodeIndex, &Packet)>;

/// The whole network: a default link, per-link overrides, per-node loss, an optional
/// fault injector and an optional tap.
#[derive(Default)]
pub struct NetworkModel {
    /// Model of every link without an override.
    pub link: LinkModel,
    overrides: BTreeMap<(NodeIndex, NodeIndex), LinkModel>,
    /// Loss at a node's own interface, on top of its links' (a flaky host: Rapid's "1 % of
    /// the nodes lose 80 % of their packets" in a few entries, not 2N link overrides each).
    node_loss: BTreeMap<NodeIndex, f64>,
    tamper: Option<Tamper>,
    tap: Option<Tap>,
}

impl fmt::Debug for NetworkModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetworkModel")
            .field("link", &self.link)
            .field("overrides", &self.overrides)
            .field("node_loss", &self.node_loss)
            .field("tamper", &self.tamper.is_some())
            .field("tap", &self.tap.is_some())
            .finish()
    }
}

impl NetworkModel {
    /// Every link behaves as `link`.
    pub fn new(link: LinkModel) -> Self {
        NetworkModel {
            link,
            ..NetworkModel::default()
        }
    }

    /// Overrides the directed link `from → to`.
    pub fn with_link(mut self, from: NodeIndex, to: NodeIndex, link: LinkModel) -> Self {
        self.overrides.insert((from, to), link);
        self
    }

    /// Makes `node` lose `loss` of the datagrams it sends and of those it receives, on top
    /// of its links' loss (0 removes it).
    pub fn with_node_loss(mut self, node: NodeIndex, loss: f64) -> Self {
        self.set_node_loss(node, loss);
        self
    }

    /// As [`NetworkModel::with_node_loss`], on a running simulation
    /// ([`crate::Action::SetNodeLoss`]).
    pub(crate) fn set_node_loss(&mut self, node: NodeIndex, loss: f64) {
        if loss > 0.0 {
            self.node_loss.insert(node, loss);
        } else {
            self.node_loss.remove(&node);
        }
    }

    /// Overrides the directed link `from → to` (`None`: back to the default) on a running
    /// simulation ([`crate::Action::SetLinkBetween`]).
    pub(crate) fn set_link_between(
        &mut self,
        from: NodeIndex,
        to: NodeIndex,
        link: Option<LinkModel>,
    ) {
        match link {
            Some(link) => self.overrides.insert((from, to), link),
            None => self.overrides.remove(&(from, to)),
        };
    }

    /// The probability that a datagram `from → to` is lost: its link's loss, and each
    /// end's own, independently. Exactly the link's loss when neither end has any, so a
    /// run without per-node loss draws what it always drew.
    pub fn loss(&self, from: NodeIndex, to: NodeIndex) -> f64 {
        let link = self.link(from, to).loss;
        let ends = [from, to].map(|node| self.node_loss.get(&node).copied().unwrap_or(0.0));
        if ends == [0.0, 0.0] {
            return link;
        }
        1.0 - (1.0 - link) * (1.0 - ends[0]) * (1.0 - ends[1])
    }

    /// Installs a fault injector called on every datagram about to be delivered.
    pub fn with_tamper(mut self, tamper: impl FnMut(&Delivery, &mut Packet) + 'static) -> Self {
        self.tamper = Some(Box::new(tamper));
        self
    }

    /// Installs a read-only tap called on every datagram a node sends.
    pub fn with_tap(mut self, tap: impl FnMut(Duration, NodeIndex, &Packet) + 'static) -> Self {
        self.tap = Some(Box::new(tap));
        self
    }

    /// The model of the directed link `from → to`.
    pub fn link(&self, from: NodeIndex, to: NodeIndex) -> &LinkModel {
        self.overrides.get(&(from, to)).unwrap_or(&self.link)
    }

    /// How long the simulation may run nodes independently: a little less than the
    /// shortest latency any link can draw (rounding of a drawn delay may shave a
    /// nanosecond off it). Zero when some link can deliver at once.
    pub fn lookahead(&self) -> Duration {
        let shortest = self
            .overrides
            .values()
            .map(|link| link.latency.min())
            .fold(self.link.latency.min(), Duration::min);
        shortest.saturating_sub(Duration::from_micros(1))
    }

    /// Checks every link's and node's probabilities.
    pub fn validate(&self) -> Result<(), String> {
        self.link.validate()?;
        for (node, loss) in &self.node_loss {
            if !(0.0..=1.0).contains(loss) {
                return Err(format!(
                    "node {node}: loss probability {loss} is outside [0, 1]"
                ));
            }
        }
        for ((from, to), link) in &self.overrides {
            link.validate()
                .map_err(|problem| format!("link {from} → {to}: {problem}"))?;
        }
        Ok(())
    }

    /// Lets the fault injector, if any, alter `packet`; returns whether one ran.
    pub(crate) fn tamper(&mut self, delivery: &Delivery, packet: &mut Packet) -> bool {
        let Some(tamper) = self.tamper.as_mut() else {
            return false;
        };
        tamper(delivery, packet);
        true
    }

    /// Shows the tap, if any, a datagram `from` sent at `at`.
    pub(crate) fn tap(&mut self, at: Duration, from: NodeIndex, packet: &Packet) {
        if let Some(tap) = self.tap.as_mut() {
            tap(at, from, packet);
        }
    }
}

/// `true` with probability `p` (`p` outside `[0, 1]` acts as the nearest bound; NaN as 0).
pub(crate) fn chance(rng: &mut impl Rng, p: f64) -> bool {
    p > 0.0 && rng.random::<f64>() < p
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn draws_stay_within_bounds() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let ms = Duration::from_millis;
        let cases = [
            (Latency::Constant(ms(3)), ms(3), ms(3)),
            (
                Latency::Uniform {
                    min: ms(1),
                    max: ms(5),
                },
                ms(1),
                ms(5),
            ),
            (
                Latency::Exponential {
                    min: ms(1),
                    mean_extra: ms(10),
                    cap: ms(200),
                },
                ms(1),
                ms(200),
            ),
            (
                Latency::LogNormal {
                    median: ms(5),
                    sigma: 1.0,
                    cap: ms(500),
                },
                Duration::ZERO,
                ms(500),
            ),
        ];
        for (latency, low, high) in cases {
            for _ in 0..10_000 {
                let d = latency.sample(&mut rng);
                assert!(d >= low && d <= high, "{latency:?} drew {d:?}");
            }
        }
    }

    #[test]
    fn lognormal_median_is_close() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let latency = Latency::LogNormal {
            median: Duration::from_millis(10),
            sigma: 0.5,
            cap: Duration::from_secs(1),
        };
        let mut draws: Vec<Duration> = (0..10_001).map(|_| latency.sample(&mut rng)).collect();
        draws.sort();
        let median = draws[5000].as_secs_f64() * 1000.0;
        assert!((9.0..11.0).contains(&median), "median {median} ms");
    }

    #[test]
    fn a_flaky_node_loses_on_top_of_its_links_and_others_are_untouched() {
        let (a, b, c) = (NodeIndex(0), NodeIndex(1), NodeIndex(2));
        let network = NetworkModel::new(LinkModel::lossy(0.1)).with_node_loss(c, 0.8);
        assert_eq!(network.loss(a, b), 0.1, "exactly the link's loss");
        let expected = 1.0 - 0.9 * 0.2;
        assert!((network.loss(a, c) - expected).abs() < 1e-12);
        assert!((network.loss(c, a) - expected).abs() < 1e-12);
        let mut network = network.with_link(a, b, LinkModel::lossy(1.0));
        assert_eq!(network.loss(a, b), 1.0, "one way cut");
        assert_eq!(network.loss(b, a), 0.1, "the other way works");
        network.set_node_loss(c, 0.0);
        network.set_link_between(a, b, None);
        assert_eq!(network.loss(a, c), 0.1);
        assert_eq!(network.loss(a, b), 0.1);
        assert!(
            NetworkModel::default()
                .with_node_loss(a, 1.5)
                .validate()
                .is_err()
        );
    }

    #[test]
    fn probabilities_are_validated() {
        assert!(LinkModel::lossy(0.3).validate().is_ok());
        assert!(LinkModel::lossy(1.5).validate().is_err());
        assert!(!chance(&mut ChaCha8Rng::seed_from_u64(3), f64::NAN));
    }
}
