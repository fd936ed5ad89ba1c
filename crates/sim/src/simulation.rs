//! The simulation: N real nodes, one event queue, virtual time.
//!
//! ```text
//!   queue: (time, seq) ─▶ Timer { node, epoch }  → node.handle_timeout(now)   (stale epoch: skip)
//!                       ├▶ Deliver { packet }     → tamper? → node.handle_packet(now)
//!                       └▶ Action                 → crash / restart / leave / stall / write / …
//!                                           (writes: the core's write_ahead, the node's
//!                                            data directory as its store)
//!   after every input:  node.drain(outputs) → expiries issued through write_ahead,
//!                                             collected tombstones forgotten
//!                       transmits           → tap, size check → partition, loss, duplication,
//!                                             latency → enqueue Deliver
//!                       events              → invariant checks → observer, event log
//!                       poll_timeout        → re-arm the node's timer (new epoch)
//! ```
//!
//! Items are taken in batches: those within one lookahead window (just under the
//! network's shortest latency, so no datagram sent in it arrives in it), for distinct
//! nodes, up to the next action. The batch's node inputs run in parallel (`batch.rs`);
//! the steps before them (delivery checks, tamper) and after them (the outputs above)
//! run in queue order. Outputs carry their own input's time.
//!
//! Virtual time is `base + now`, `base` being one real `Instant` taken at construction.
//! Every random draw of the network and every node's RNG seed come from ChaCha8 streams
//! seeded by the simulation's seed; nothing iterates a hash map where the order matters,
//! so a run is a function of its seed and scenario.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use leviathan_gossip_core::{
    ConfigError, Event, Node, NodeConfig, Outputs, PreparedWrite, Store, Transmit,
    Write as OwnWrite, write_ahead,
};
use leviathan_gossip_wire::{Generation, Key, NodeId, NodeName, Packet, WireVersion};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use thiserror::Error;

use crate::batch::{BatchMarks, Job, Workers};
use crate::data_dir::DataDirModel;
use crate::invariants::{InvariantChecker, Lookup, Violation, ViolationKind, Write};
use crate::network::{Delivery, NetworkModel, chance};
use crate::queue::Queue;
use crate::scenario::{Action, NodeIndex, WakeOrder};

/// Largest node count: addresses are `10.x.y.z`, one per index.
pub const MAX_NODES: usize = 1 << 24;

/// Why a simulation could not be built.
#[derive(Debug, Error)]
pub enum SimError {
    /// The node configuration failed `NodeConfig::validate`.
    #[error("invalid node config: {0}")]
    Config(#[from] ConfigError),
    /// A probability of the network model lies outside `[0, 1]`.
    #[error("invalid network model: {0}")]
    Network(String),
    /// Zero nodes, or more than [`MAX_NODES`], or more seeds than nodes.
    #[error("invalid cluster size: {0}")]
    Size(String),
    /// The worker threads could not be started.
    #[error("cannot start the simulation's threads: {0}")]
    Threads(String),
}

/// A run broke at least one invariant. Its `Display` names the seed to replay it with.
#[derive(Debug, Clone, Error)]
pub struct CheckFailure {
    /// The simulation's seed.
    pub seed: u64,
    /// Total number of violations.
    pub total: u64,
    /// The first violations, in the order they were found.
    pub violations: Vec<Violation>,
}

impl fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "seed {}: {} invariant violation(s); the first ones:",
            self.seed, self.total
        )?;
        for violation in self.violations.iter().take(20) {
            writeln!(f, "  {violation}")?;
        }
        Ok(())
    }
}

/// One event a node emitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedEvent {
    /// Virtual time.
    pub at: Duration,
    /// The node that emitted it.
    pub node: NodeIndex,
    /// The emitting node's generation.
    pub generation: Generation,
    /// The event.
    pub event: Event,
}

/// Datagrams one node sent and received, across all its incarnations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Traffic {
    /// Datagrams handed out by `poll_transmit`.
    pub datagrams_sent: u64,
    /// Their encoded bytes.
    pub bytes_sent: u64,
    /// Largest datagram sent, in encoded bytes.
    pub largest_datagram: usize,
    /// Datagrams handed to `handle_packet`.
    pub datagrams_received: u64,
    /// Their encoded bytes.
    pub bytes_received: u64,
}

impl Traffic {
    /// Adds `other`'s counters (the largest datagram is the larger one).
    pub fn add(&mut self, other: &Traffic) {
        self.datagrams_sent += other.datagrams_sent;
        self.bytes_sent += other.bytes_sent;
        self.largest_datagram = self.largest_datagram.max(other.largest_datagram);
        self.datagrams_received += other.datagrams_received;
        self.bytes_received += other.bytes_received;
    }
}

/// What the network and the scenario did, summed over the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct NetworkCounters {
    /// Datagrams delivered to a node.
    pub delivered: u64,
    /// Datagrams dropped by random loss.
    pub lost: u64,
    /// Extra copies created by duplication.
    pub duplicated: u64,
    /// Datagrams dropped by a partition.
    pub cut: u64,
    /// Datagrams dropped because their sender crashed or restarted before delivery.
    pub sender_gone: u64,
    /// Datagrams dropped because the receiver was not running.
    pub receiver_down: u64,
    /// Datagrams to an address no simulated node has.
    pub unknown_address: u64,
    /// Inputs postponed to the end of their node's stall.
    pub postponed: u64,
    /// Writes the node refused (`set`/`delete` returned an error, e.g. after `leave`).
    pub refused_writes: u64,
    /// Actions on a node that was not running (ignored).
    pub ignored_actions: u64,
}

/// How fast the simulation runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Speed {
    /// Virtual time simulated.
    pub simulated: Duration,
    /// Σ over time of the number of running nodes, in seconds.
    pub node_seconds: f64,
    /// Wall-clock time spent inside `run_until`.
    pub wall: Duration,
    /// Queue items processed (timers, deliveries, actions).
    pub steps: u64,
    /// Batches of nodes' inputs that ran on several threads.
    pub parallel_batches: u64,
    /// Inputs that ran in those batches.
    pub parallel_inputs: u64,
}

impl Speed {
    /// Simulated node-seconds per wall-clock second.
    pub fn node_seconds_per_wall_second(&self) -> f64 {
        self.node_seconds / self.wall.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for Speed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:.0} simulated s, {:.0} node-s in {:.1} wall s: {:.0} node-s per wall s, {:.2} M steps/s",
            self.simulated.as_secs_f64(),
            self.node_seconds,
            self.wall.as_secs_f64(),
            self.node_seconds_per_wall_second(),
            self.steps as f64 / self.wall.as_secs_f64().max(1e-9) / 1e6,
        )?;
        if self.parallel_batches > 0 {
            write!(
                f,
                ", {:.0} % of steps in parallel batches (mean {:.1})",
                100.0 * self.parallel_inputs as f64 / self.steps.max(1) as f64,
                self.parallel_inputs as f64 / self.parallel_batches as f64,
            )?;
        }
        Ok(())
    }
}

/// Builds a [`Simulation`]; see [`Simulation::builder`].
#[derive(Debug)]
pub struct SimulationBuilder {
    seed: u64,
    nodes: usize,
    seeds: usize,
    node_config: NodeConfig,
    network: NetworkModel,
    start_spread: Duration,
    encode_packets: bool,
    record_events: bool,
    max_recorded_violations: usize,
    per_key_checks: bool,
    threads: usize,
    initial_nodes: Option<usize>,
    wake_order: WakeOrder,
    check_member_horizons: bool,
    preformed: bool,
}

impl SimulationBuilder {
    /// Number of nodes (default 16).
    pub fn nodes(mut self, nodes: usize) -> Self {
        self.nodes = nodes;
        self
    }

    /// How many of the nodes (the first ones) every node knows as seeds (default 2).
    pub fn seeds(mut self, seeds: usize) -> Self {
        self.seeds = seeds;
        self
    }

    /// Settings of every node (default `NodeConfig::default()`: 1 s gossip and heartbeat).
    pub fn node_config(mut self, config: NodeConfig) -> Self {
        self.node_config = config;
        self
    }

    /// The network (default: 1–5 ms uniform latency, no loss).
    pub fn network(mut self, network: NetworkModel) -> Self {
        self.network = network;
        self
    }

    /// Nodes start at random times in `[0, spread)` (default one gossip interval, so their
    /// rounds are not in lock-step). Zero starts all at time 0.
    pub fn start_spread(mut self, spread: Duration) -> Self {
        self.start_spread = spread;
        self
    }

    /// Round-trips every packet through `encode`/`decode` (slower; checks the codec on
    /// real traffic). Default off: packets travel as values.
    pub fn encode_packets(mut self, encode: bool) -> Self {
        self.encode_packets = encode;
        self
    }

    /// Keeps every event in a log ([`Simulation::events`]). Default off: at large N the log
    /// is large; observe events with [`Simulation::run_until_with`] instead.
    pub fn record_events(mut self, record: bool) -> Self {
        self.record_events = record;
        self
    }

    /// Whether the invariant checks remember every observer's last version of every key
    /// (default) or only per node, for long runs at large N where the per-key memory would
    /// grow to gigabytes (see [`InvariantChecker::without_per_key_tracking`]).
    pub fn per_key_checks(mut self, per_key: bool) -> Self {
        self.per_key_checks = per_key;
        self
    }

    /// How many threads run the nodes (default 1). A run's outcome does not depend on it:
    /// nodes run in parallel only within a window shorter than the network's shortest
    /// latency, and everything else happens in queue order.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Starts from a formed cluster (default off): each initial node, when it starts (over
    /// `start_spread` as usual, so that their timers are not in step), is handed every other
    /// initial node's state (a live member holding no keys) as one oversized Ack would hand
    /// it, as if its join had completed. For measuring a large
    /// cluster at work without first forming it: learning 10,000 members by gossip takes
    /// minutes of simulated time (see the formation experiment), and their memory.
    pub fn preformed(mut self, preformed: bool) -> Self {
        self.preformed = preformed;
        self
    }

    /// How many nodes (the first ones) start by themselves, spread over `start_spread`
    /// (default: all). The others wait for an [`Action::Start`]: nodes that join a running
    /// cluster.
    pub fn initial_nodes(mut self, initial: usize) -> Self {
        self.initial_nodes = Some(initial);
        self
    }

    /// What a node waking from a stall handles first (default
    /// [`WakeOrder::AsPostponed`]).
    pub fn wake_order(mut self, order: WakeOrder) -> Self {
        self.wake_order = order;
        self
    }

    /// Checks, before every input to a node, that its knowledge of each peer's state
    /// (`max(max_version, gc_watermark)` of its `members()` entry for that generation) did
    /// not go back since its previous input ([`ViolationKind::HorizonRegressed`]). This
    /// catches what events alone do not show, such as a reset that leaves a node knowing
    /// less than before. Default off: it lists every node's members on every input, which
    /// costs O(N) per input.
    pub fn check_member_horizons(mut self, check: bool) -> Self {
        self.check_member_horizons = check;
        self
    }

    /// How many violations are kept in full (default 1000; all are counted).
    pub fn max_recorded_violations(mut self, max: usize) -> Self {
        self.max_recorded_violations = max;
        self
    }

    /// Builds the simulation at virtual time 0, with every node's start scheduled.
    pub fn build(self) -> Result<Simulation, SimError> {
        self.node_config.validate()?;
        self.network.validate().map_err(SimError::Network)?;
        if self.nodes == 0 || self.nodes > MAX_NODES {
            return Err(SimError::Size(format!(
                "{} nodes (allowed: 1..={MAX_NODES})",
                self.nodes
            )));
        }
        if self.seeds > self.nodes {
            return Err(SimError::Size(format!(
                "{} seeds for {} nodes",
                self.seeds, self.nodes
            )));
        }
        let workers = Workers::new(self.threads).map_err(|e| SimError::Threads(e.to_string()))?;
        let lookahead = self.network.lookahead();
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut node_seeds = ChaCha8Rng::seed_from_u64(self.seed);
        node_seeds.set_stream(1);
        let mut slots = Vec::with_capacity(self.nodes);
        let mut by_address = HashMap::with_capacity(self.nodes);
        let mut by_name = HashMap::with_capacity(self.nodes);
        for index in (0..self.nodes).map(NodeIndex) {
            let name = NodeName::new(index.name())
                .map_err(|e| SimError::Size(format!("node name {}: {e}", index.name())))?;
            by_address.insert(index.address(), index);
            by_name.insert(name.clone(), index);
            slots.push(Slot::new(name, index.address()));
        }
        let seeds = (0..self.seeds).map(|i| NodeIndex(i).address()).collect();
        let mut queue = Queue::default();
        let spread = self.start_spread.as_secs_f64();
        let initial = self.initial_nodes.unwrap_or(self.nodes);
        for index in (0..self.nodes).map(NodeIndex) {
            // Drawn for every node, so the initial nodes start when they would in a
            // simulation where all of them do.
            let at = Duration::from_secs_f64(spread * rng.random::<f64>());
            if index.0 < initial {
                queue.push(at, Item::Action(Action::Start(index)));
            }
        }
        Ok(Simulation {
            seed: self.seed,
            base: Instant::now(),
            now: Duration::ZERO,
            queue,
            slots,
            by_address,
            by_name,
            seeds,
            node_config: self.node_config,
            network: self.network,
            groups: None,
            rng,
            node_seeds,
            checker: if self.per_key_checks {
                InvariantChecker::new(self.max_recorded_violations)
            } else {
                InvariantChecker::new(self.max_recorded_violations).without_per_key_tracking()
            },
            encode_packets: self.encode_packets,
            record_events: self.record_events,
            events: Vec::new(),
            counters: NetworkCounters::default(),
            speed: Speed::default(),
            running: 0,
            trace: FNV_OFFSET,
            outputs: Outputs::default(),
            workers,
            lookahead,
            marks: BatchMarks::default(),
            jobs: Vec::new(),
            wake_order: self.wake_order,
            check_member_horizons: self.check_member_horizons,
            preformed_with: self.preformed.then_some(initial),
        })
    }
}

/// A cluster of real [`Node`]s over a modelled network, in virtual time.
///
/// Build one with [`Simulation::builder`], schedule a scenario with [`Simulation::at`] (or
/// the shorthands [`Simulation::crash`], [`Simulation::set`], …), advance it with
/// [`Simulation::run_until`], then look at the nodes ([`Simulation::node`]), the invariant
/// checks ([`Simulation::check`], [`Simulation::check_converged`]) and the counters.
pub struct Simulation {
    seed: u64,
    base: Instant,
    now: Duration,
    queue: Queue<Item>,
    pub(crate) slots: Vec<Slot>,
    by_address: HashMap<SocketAddr, NodeIndex>,
    pub(crate) by_name: HashMap<NodeName, NodeIndex>,
    seeds: Vec<SocketAddr>,
    node_config: NodeConfig,
    network: NetworkModel,
    /// Partition group of each node, while a partition is in force.
    groups: Option<Vec<u32>>,
    rng: ChaCha8Rng,
    node_seeds: ChaCha8Rng,
    checker: InvariantChecker,
    encode_packets: bool,
    record_events: bool,
    events: Vec<TimedEvent>,
    counters: NetworkCounters,
    speed: Speed,
    running: usize,
    trace: u64,
    /// The node outputs being handled, kept to reuse its buffers.
    outputs: Outputs,
    /// Run batches of nodes' inputs in parallel.
    workers: Workers,
    /// No datagram arrives sooner than this after it was sent (a little less than the
    /// network's shortest latency): how far apart inputs of one batch may be.
    lookahead: Duration,
    marks: BatchMarks,
    jobs: Vec<Job>,
    wake_order: WakeOrder,
    check_member_horizons: bool,
    /// Preformed: how many initial nodes each one is handed at its first start.
    preformed_with: Option<usize>,
}

impl fmt::Debug for Simulation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulation")
            .field("seed", &self.seed)
            .field("now", &self.now)
            .field("nodes", &self.slots.len())
            .field("running", &self.running)
            .field("queued", &self.queue.len())
            .field("violations", &self.checker.total())
            .finish_non_exhaustive()
    }
}

/// Everything the simulation keeps about one node index.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) name: NodeName,
    address: SocketAddr,
    pub(crate) node: Option<Node>,
    pub(crate) started: bool,
    pub(crate) left: bool,
    pub(crate) generation: Generation,
    /// Bumped on every start and crash: datagrams from an older incarnation are lost.
    incarnation: u64,
    timer_epoch: u64,
    timer_at: Option<Duration>,
    stalled_until: Duration,
    traffic: Traffic,
    /// What the node's data directory would hold, for restarts with it.
    data_dir: DataDirModel,
}

impl Slot {
    fn new(name: NodeName, address: SocketAddr) -> Self {
        Slot {
            name,
            address,
            node: None,
            started: false,
            left: false,
            generation: Generation(1),
            incarnation: 0,
            timer_epoch: 0,
            timer_at: None,
            stalled_until: Duration::ZERO,
            traffic: Traffic::default(),
            data_dir: DataDirModel::default(),
        }
    }
}

/// A scheduled step.
#[derive(Debug)]
enum Item {
    Timer { node: NodeIndex, epoch: u64 },
    Deliver(Box<InFlight>),
    Action(Action),
}

/// A datagram on its way.
#[derive(Debug)]
struct InFlight {
    from: NodeIndex,
    from_incarnation: u64,
    to: NodeIndex,
    max_size: usize,
    packet: Packet,
    /// The packet's encoded length, measured once when sent (measuring walks every
    /// entry, on the simulation's one sequential thread).
    len: usize,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

impl Simulation {
    /// A builder for a simulation reproducible from `seed`.
    pub fn builder(seed: u64) -> SimulationBuilder {
        let node_config = NodeConfig::default();
        SimulationBuilder {
            seed,
            nodes: 16,
            seeds: 2,
            start_spread: node_config.gossip_interval,
            node_config,
            network: NetworkModel::default(),
            encode_packets: false,
            record_events: false,
            max_recorded_violations: 1000,
            per_key_checks: true,
            threads: 1,
            initial_nodes: None,
            wake_order: WakeOrder::default(),
            check_member_horizons: false,
            preformed: false,
        }
    }

    // ----- scenario -----

    /// Schedules `action` at virtual time `at` (at the current time if `at` has passed),
    /// after anything already scheduled for that instant.
    pub fn at(&mut self, at: Duration, action: Action) {
        self.queue.push(at.max(self.now), Item::Action(action));
    }

    /// Schedules a crash of `node` at `at`.
    pub fn crash(&mut self, at: Duration, node: NodeIndex) {
        self.at(at, Action::Crash(node));
    }

    /// Schedules a restart of `node` (new generation) at `at`.
    pub fn restart(&mut self, at: Duration, node: NodeIndex) {
        self.at(at, Action::Restart(node));
    }

    /// Schedules a restart of `node` with its data directory (new generation, own keys
    /// restored) at `at`.
    pub fn restart_with_data(&mut self, at: Duration, node: NodeIndex) {
        self.at(at, Action::RestartWithData(node));
    }

    /// Schedules a graceful leave of `node` at `at`.
    pub fn leave(&mut self, at: Duration, node: NodeIndex) {
        self.at(at, Action::Leave(node));
    }

    /// Schedules a stall of `node` from `at` for `duration`.
    pub fn stall(&mut self, at: Duration, node: NodeIndex, duration: Duration) {
        self.at(at, Action::Stall { node, duration });
    }

    /// Schedules a partition into `groups` from `start` until `end`.
    pub fn partition(&mut self, start: Duration, end: Duration, groups: Vec<Vec<NodeIndex>>) {
        self.at(start, Action::Partition(groups));
        self.at(end, Action::Heal);
    }

    /// Schedules `node` to set `key` to `value` at `at`.
    pub fn set(&mut self, at: Duration, node: NodeIndex, key: Key, value: impl Into<Bytes>) {
        let value = value.into();
        self.at(at, Action::Set { node, key, value });
    }

    /// Schedules `node` to set `key` to `value` for `ttl` at `at`.
    pub fn set_with_ttl(
        &mut self,
        at: Duration,
        node: NodeIndex,
        key: Key,
        value: impl Into<Bytes>,
        ttl: Duration,
    ) {
        let value = value.into();
        self.at(
            at,
            Action::SetWithTtl {
                node,
                key,
                value,
                ttl,
            },
        );
    }

    /// Schedules `node` to delete `key` at `at`.
    pub fn delete(&mut self, at: Duration, node: NodeIndex, key: Key) {
        self.at(at, Action::Delete { node, key });
    }

    // ----- running -----

    /// Processes everything scheduled up to `until`, then sets the clock to `until`.
    pub fn run_until(&mut self, until: Duration) {
        self.run_until_with(until, &mut |_| {});
    }

    /// Advances the clock by `duration`.
    pub fn run_for(&mut self, duration: Duration) {
        self.run_until(self.now + duration);
    }

    /// Like [`Simulation::run_until`], handing every event any node emits to `observer`
    /// (after the invariant checks saw it).
    pub fn run_until_with(&mut self, until: Duration, observer: &mut dyn FnMut(&TimedEvent)) {
        let wall = Instant::now();
        while self.queue.peek_at().is_some_and(|at| at <= until) {
            self.run_batch(until, observer);
        }
        self.advance_to(until);
        self.speed.wall += wall.elapsed();
    }

    /// Takes the items of one lookahead window from the queue, in order, up to the first
    /// action or the first second input of a node already in the batch; runs the nodes'
    /// inputs (in parallel), then hands out their outputs in queue order. An action runs
    /// alone.
    fn run_batch(&mut self, until: Duration, observer: &mut dyn FnMut(&TimedEvent)) {
        let mut jobs = std::mem::take(&mut self.jobs);
        self.marks.next_batch(self.slots.len());
        // The window opens at the first input that makes a job (dropped datagrams and
        // stale timers before it make none).
        let mut window_end = Duration::MAX;
        while let Some((at, item)) = self.queue.peek() {
            let target = match item {
                Item::Timer { node, .. } => Some(*node),
                Item::Deliver(flight) => Some(flight.to),
                Item::Action(_) => None,
            };
            if at > until
                || (!jobs.is_empty() && (at >= window_end || target.is_none()))
                || target.is_some_and(|node| self.marks.contains(node))
            {
                break;
            }
            let Some((at, item)) = self.queue.pop() else {
                break;
            };
            self.advance_to(at);
            self.speed.steps += 1;
            let job = match item {
                Item::Timer { node, epoch } => {
                    self.mix(at, 1, node);
                    self.prepare_timer(at, node, epoch)
                }
                Item::Deliver(flight) => {
                    self.mix(at, 2, flight.to);
                    self.prepare_delivery(at, flight)
                }
                Item::Action(action) => {
                    self.mix(at, 3, action.node().unwrap_or(NodeIndex(usize::MAX)));
                    self.apply(action, observer);
                    break;
                }
            };
            if let Some(job) = job {
                if jobs.is_empty() {
                    window_end = job.at.saturating_add(self.lookahead);
                }
                self.marks.insert(job.index);
                jobs.push(job);
            }
        }
        // Only now: while the batch was gathered, deliveries checked their senders' slots.
        for job in &mut jobs {
            job.node = self
                .slots
                .get_mut(job.index.0)
                .and_then(|slot| slot.node.take());
        }
        if self.workers.run(&mut jobs, self.base) {
            self.speed.parallel_batches += 1;
            self.speed.parallel_inputs += jobs.len() as u64;
        }
        let latest = self.now;
        for mut job in jobs.drain(..) {
            if let Some(slot) = self.slots.get_mut(job.index.0) {
                debug_assert!(slot.node.is_none(), "two jobs for one node in a batch");
                slot.node = job.node.take();
            }
            // Outputs are stamped with their own input's time, which may lie a little
            // before the latest input of the batch.
            self.now = job.at;
            self.after_input(job.index, job.after_timeout, observer);
        }
        self.now = latest;
        self.jobs = jobs;
    }

    fn advance_to(&mut self, at: Duration) {
        if at <= self.now {
            return;
        }
        let step = at - self.now;
        self.speed.simulated += step;
        self.speed.node_seconds += self.running as f64 * step.as_secs_f64();
        self.now = at;
    }

    /// The node's timer, unless it was re-armed or the node stopped since; postponed to
    /// the end of a stall.
    fn prepare_timer(&mut self, now: Duration, index: NodeIndex, epoch: u64) -> Option<Job> {
        let slot = self.slots.get_mut(index.0)?;
        if slot.timer_epoch != epoch || slot.node.is_none() {
            return None;
        }
        if slot.stalled_until > now {
            let until = slot.stalled_until;
            slot.timer_at = Some(until);
            self.counters.postponed += 1;
            self.queue.push(until, Item::Timer { node: index, epoch });
            return None;
        }
        slot.timer_at = None;
        self.check_horizons(now, index);
        Some(Job::timeout(now, index))
    }

    /// The datagram's arrival, unless the network or the scenario drops it; postponed to
    /// the end of the receiver's stall.
    fn prepare_delivery(&mut self, now: Duration, flight: Box<InFlight>) -> Option<Job> {
        let sender_alive = self
            .slots
            .get(flight.from.0)
            .is_some_and(|slot| slot.incarnation == flight.from_incarnation && slot.node.is_some());
        if !sender_alive {
            self.counters.sender_gone += 1;
            return None;
        }
        if self.is_cut(flight.from, flight.to) {
            self.counters.cut += 1;
            return None;
        }
        let Some(slot) = self.slots.get_mut(flight.to.0) else {
            self.counters.unknown_address += 1;
            return None;
        };
        if slot.node.is_none() {
            self.counters.receiver_down += 1;
            return None;
        }
        if slot.stalled_until > now {
            let until = slot.stalled_until;
            let receiver = flight.to;
            self.counters.postponed += 1;
            self.queue.push(until, Item::Deliver(flight));
            // Queued after this datagram, the overdue timer runs after the whole backlog.
            if self.wake_order == WakeOrder::MessagesFirst && slot.timer_at == Some(until) {
                slot.timer_epoch += 1;
                let epoch = slot.timer_epoch;
                self.queue.push(
                    until,
                    Item::Timer {
                        node: receiver,
                        epoch,
                    },
                );
            }
            return None;
        }
        let InFlight {
            from,
            to,
            max_size,
            mut packet,
            mut len,
            ..
        } = *flight;
        let delivery = Delivery { at: now, from, to };
        if self.network.tamper(&delivery, &mut packet) {
            let tampered = packet.encoded_len();
            if tampered != len {
                self.checker.check_datagram(now, from, tampered, max_size);
                len = tampered;
            }
        }
        let slot = self.slots.get_mut(to.0)?;
        let len = len as u64;
        slot.traffic.datagrams_received += 1;
        slot.traffic.bytes_received += len;
        self.counters.delivered += 1;
        self.check_horizons(now, to);
        Some(Job::packet(now, to, from.address(), packet))
    }

    fn apply(&mut self, action: Action, observer: &mut dyn FnMut(&TimedEvent)) {
        let now = self.now;
        if let Some(index) = action.node() {
            let Some(slot) = self.slots.get(index.0) else {
                self.counters.ignored_actions += 1;
                return;
            };
            if action.waits_for_stall() && slot.stalled_until > now {
                let until = slot.stalled_until;
                self.counters.postponed += 1;
                self.queue.push(until, Item::Action(action));
                return;
            }
        }
        match action {
            Action::Start(index) => {
                if self.slots.get(index.0).is_some_and(|slot| !slot.started) {
                    self.start(index, observer);
                } else {
                    self.counters.ignored_actions += 1;
                }
            }
            Action::Crash(index) => {
                if !self.stop(index) {
                    self.counters.ignored_actions += 1;
                }
            }
            Action::Restart(index)
            | Action::RestartWithData(index)
            | Action::RestartSameGeneration(index) => {
                let bump = !matches!(action, Action::RestartSameGeneration(_));
                let keep_data = matches!(action, Action::RestartWithData(_));
                self.stop(index);
                if let Some(slot) = self.slots.get_mut(index.0) {
                    if bump {
                        slot.generation = Generation(slot.generation.0.saturating_add(1));
                    }
                    if !keep_data {
                        slot.data_dir = DataDirModel::default();
                    }
                }
                self.start(index, observer);
            }
            Action::Leave(index) => {
                let Some(node) = self.running_node_mut(index) else {
                    self.counters.ignored_actions += 1;
                    return;
                };
                node.leave();
                if let Some(slot) = self.slots.get_mut(index.0) {
                    slot.left = true;
                }
                self.after_input(index, false, observer);
            }
            Action::Stall { node, duration } => match self.slots.get_mut(node.0) {
                Some(slot) if slot.node.is_some() => {
                    slot.stalled_until = slot.stalled_until.max(now + duration);
                    let until = slot.stalled_until;
                    // Queued before any datagram the stall postpones, a timer due during
                    // the stall runs first when it ends.
                    if self.wake_order == WakeOrder::TimersFirst
                        && slot.timer_at.is_some_and(|at| at <= until)
                    {
                        slot.timer_epoch += 1;
                        slot.timer_at = Some(until);
                        let epoch = slot.timer_epoch;
                        self.queue.push(until, Item::Timer { node, epoch });
                    }
                }
                _ => self.counters.ignored_actions += 1,
            },
            Action::Partition(groups) => {
                let mut of = vec![0u32; self.slots.len()];
                for (group, members) in groups.iter().enumerate() {
                    for member in members {
                        if let Some(slot) = of.get_mut(member.0) {
                            *slot = u32::try_from(group + 1).unwrap_or(u32::MAX);
                        }
                    }
                }
                self.groups = Some(of);
            }
            Action::Heal => self.groups = None,
            Action::SetLink(link) => {
                self.network.link = link;
                self.lookahead = self.network.lookahead();
            }
            Action::SetLinkBetween { from, to, link } => {
                self.network.set_link_between(from, to, link);
                self.lookahead = self.network.lookahead();
            }
            Action::SetNodeLoss { node, loss } => self.network.set_node_loss(node, loss),
            Action::Set { node, key, value } => {
                let write = OwnWrite::Set {
                    key,
                    value: value.clone(),
                };
                self.write(node, write, Some(value), observer);
            }
            Action::SetWithTtl {
                node,
                key,
                value,
                ttl,
            } => {
                let write = OwnWrite::SetWithTtl {
                    key,
                    value: value.clone(),
                    ttl,
                };
                self.write(node, write, Some(value), observer);
            }
            Action::Delete { node, key } => {
                self.write(node, OwnWrite::Delete { key }, None, observer)
            }
        }
    }

    /// An own write of `index` (`value`: what it writes, `None` for a tombstone), through
    /// the core's write-ahead sequence with the node's data directory as the store, as the
    /// runtime makes it; books the ground truth if it was applied, a counter if not.
    fn write(
        &mut self,
        index: NodeIndex,
        write: OwnWrite,
        value: Option<Bytes>,
        observer: &mut dyn FnMut(&TimedEvent),
    ) {
        let now = self.now;
        let key = write.key().clone();
        let Some(slot) = self.slots.get_mut(index.0) else {
            self.counters.ignored_actions += 1;
            return;
        };
        let Some(node) = slot.node.as_mut() else {
            self.counters.ignored_actions += 1;
            return;
        };
        let mut store = SimStore {
            dir: &mut slot.data_dir,
            now,
        };
        match write_ahead(node, &mut store, write, self.base + now) {
            Ok(Some(version)) => {
                let generation = slot.generation;
                let write = Write { key, value };
                self.checker
                    .record_write(now, index, generation, version, write);
                self.after_input(index, false, observer);
            }
            // Nothing to write: a deletion of a key that holds no value.
            Ok(None) => {}
            Err(_) => self.counters.refused_writes += 1,
        }
    }

    /// Starts (or restarts) `index` with its slot's current generation.
    fn start(&mut self, index: NodeIndex, observer: &mut dyn FnMut(&TimedEvent)) {
        let instant = self.base + self.now;
        let rng_seed = self.node_seeds.random::<u64>();
        let Some(slot) = self.slots.get_mut(index.0) else {
            return;
        };
        let identity = NodeId {
            name: slot.name.clone(),
            address: slot.address,
            generation: slot.generation,
        };
        let seeds = self.seeds.iter().copied();
        // The config was validated when the simulation was built.
        let Ok(mut node) = Node::new(self.node_config.clone(), identity, seeds, instant, rng_seed)
        else {
            self.counters.ignored_actions += 1;
            return;
        };
        let restored = slot.data_dir.restore_into(&mut node, self.base);
        let first_start = !slot.started && slot.incarnation == 0;
        if let Some(initial) = self.preformed_with.filter(|_| first_start) {
            preform(&mut node, index, &self.slots, initial, instant);
        }
        let Some(slot) = self.slots.get_mut(index.0) else {
            return;
        };
        slot.node = Some(node);
        slot.started = true;
        slot.left = false;
        slot.incarnation += 1;
        slot.stalled_until = Duration::ZERO;
        let generation = slot.generation;
        self.running += 1;
        self.checker.node_started(index, generation);
        for (key, version, value) in restored {
            let write = Write { key, value };
            self.checker
                .record_write(self.now, index, generation, version, write);
        }
        self.after_input(index, false, observer);
    }

    /// Drops `index`'s node; returns whether it was running.
    fn stop(&mut self, index: NodeIndex) -> bool {
        let Some(slot) = self.slots.get_mut(index.0) else {
            return false;
        };
        if slot.node.take().is_none() {
            return false;
        }
        slot.incarnation += 1;
        slot.timer_epoch += 1;
        slot.timer_at = None;
        slot.stalled_until = Duration::ZERO;
        self.running -= 1;
        true
    }

    /// After any input to `index`: send its datagrams, check and hand out its events,
    /// re-arm its timer.
    fn after_input(
        &mut self,
        index: NodeIndex,
        after_timeout: bool,
        observer: &mut dyn FnMut(&TimedEvent),
    ) {
        let now = self.now;
        let instant = self.base + now;
        let mut outputs = std::mem::take(&mut self.outputs);
        let Some(slot) = self.slots.get_mut(index.0) else {
            return;
        };
        let generation = slot.generation;
        let Some(node) = slot.node.as_mut() else {
            self.outputs = outputs;
            return;
        };
        node.drain(&mut outputs);
        // The owner issues its expiries as deletions, through the same write-ahead
        // sequence as every write, and its data directory forgets collected tombstones.
        for expired in outputs.expired.drain(..) {
            let key = expired.key.clone();
            let mut store = SimStore {
                dir: &mut slot.data_dir,
                now,
            };
            let expiry = OwnWrite::Expire(expired);
            if let Ok(Some(version)) = write_ahead(node, &mut store, expiry, instant) {
                let write = Write { key, value: None };
                self.checker
                    .record_write(now, index, generation, version, write);
            }
        }
        for key in outputs.collected.drain(..) {
            slot.data_dir.forget(&key);
        }
        // A node that re-asserted itself under a new generation republishes its records
        // there: they are that generation's ground truth.
        if let Some(new) = outputs.reasserted.take() {
            slot.generation = new;
            self.checker.generation_changed(index, new);
            for (key, version, value) in slot.data_dir.records() {
                let write = Write {
                    key: key.clone(),
                    value: value.cloned(),
                };
                self.checker.record_write(now, index, new, version, write);
            }
        }
        let generation = slot.generation;
        let max_size = node.config().max_packet_size;
        for event in outputs.events.drain(..) {
            let lookup = NodeLookup {
                by_name: &self.by_name,
                node,
                now: instant,
            };
            self.checker.observe(now, index, &event, &lookup);
            self.trace = mix(self.trace, event_tag(&event));
            let timed = TimedEvent {
                at: now,
                node: index,
                generation,
                event,
            };
            observer(&timed);
            if self.record_events {
                self.events.push(timed);
            }
        }
        self.checker.input_done(index);
        // Re-arm the timer if its deadline moved.
        let deadline = node.poll_timeout().saturating_duration_since(self.base);
        let mut at = deadline.max(now);
        if after_timeout && deadline <= now {
            self.checker.report(
                now,
                ViolationKind::StuckTimer,
                Some(index),
                format!("next deadline {deadline:?} is not after now {now:?}"),
            );
            at = now + Duration::from_millis(1);
        }
        if slot.timer_at != Some(at) {
            slot.timer_epoch += 1;
            slot.timer_at = Some(at);
            let epoch = slot.timer_epoch;
            self.queue.push(at, Item::Timer { node: index, epoch });
        }
        let mut transmits = std::mem::take(&mut outputs.transmits);
        self.outputs = outputs;
        for transmit in transmits.drain(..) {
            self.send(index, transmit, max_size);
        }
        self.outputs.transmits = transmits;
    }

    /// Puts one datagram on the network.
    fn send(&mut self, from: NodeIndex, transmit: Transmit, max_size: usize) {
        let now = self.now;
        let Transmit {
            destination,
            mut packet,
            wire_version,
        } = transmit;
        let len = packet.encoded_len_as(wire_version);
        self.network.tap(now, from, &packet);
        let Some(slot) = self.slots.get_mut(from.0) else {
            return;
        };
        slot.traffic.datagrams_sent += 1;
        slot.traffic.bytes_sent += len as u64;
        slot.traffic.largest_datagram = slot.traffic.largest_datagram.max(len);
        let from_incarnation = slot.incarnation;
        self.checker.check_datagram(now, from, len, max_size);
        // What an older version cannot say is lost on the way, as on a real network (every
        // node here speaks the current version too, so the answer is in that).
        if !packet.message.fits_version(wire_version) || self.encode_packets {
            match self.round_trip(from, &packet, wire_version, len) {
                Some(decoded) => packet = decoded,
                None => return,
            }
        }
        let Some(&to) = self.by_address.get(&destination) else {
            self.counters.unknown_address += 1;
            return;
        };
        if self.is_cut(from, to) {
            self.counters.cut += 1;
            return;
        }
        let link = *self.network.link(from, to);
        if chance(&mut self.rng, self.network.loss(from, to)) {
            self.counters.lost += 1;
            return;
        }
        if chance(&mut self.rng, link.duplicate) {
            self.counters.duplicated += 1;
            let delay = link.latency.sample(&mut self.rng);
            let copy = InFlight {
                from,
                from_incarnation,
                to,
                max_size,
                packet: packet.clone(),
                len,
            };
            self.queue.push(now + delay, Item::Deliver(Box::new(copy)));
        }
        let delay = link.latency.sample(&mut self.rng);
        let flight = InFlight {
            from,
            from_incarnation,
            to,
            max_size,
            packet,
            len,
        };
        self.queue
            .push(now + delay, Item::Deliver(Box::new(flight)));
    }

    /// Encodes `packet` in `version` and decodes it; `None` (and a violation) if that
    /// changes more than the version leaves out.
    fn round_trip(
        &mut self,
        from: NodeIndex,
        packet: &Packet,
        version: WireVersion,
        len: usize,
    ) -> Option<Packet> {
        let bytes = packet.encode_as(version);
        let lossless = packet.message.fits_version(version);
        let problem = match Packet::decode_versioned(&bytes) {
            Ok((decoded, decoded_version))
                if (!lossless || decoded == *packet)
                    && decoded_version == version
                    && bytes.len() == len =>
            {
                return Some(decoded);
            }
            Ok(_) if bytes.len() != len => {
                format!("encoded {} bytes, encoded_len() said {len}", bytes.len())
            }
            Ok(_) => "decodes to a different packet".to_owned(),
            Err(error) => format!("does not decode: {error}"),
        };
        let description = format!(
            "{} sent a {:?} that {problem}",
            from.name(),
            packet.message.kind()
        );
        self.checker.report(
            self.now,
            ViolationKind::CodecMismatch,
            Some(from),
            description,
        );
        None
    }

    fn is_cut(&self, a: NodeIndex, b: NodeIndex) -> bool {
        self.groups
            .as_ref()
            .is_some_and(|groups| groups.get(a.0) != groups.get(b.0))
    }

    /// With [`SimulationBuilder::check_member_horizons`]: compares what `index` knows of
    /// each peer now (after its previous input) with what it knew before that input.
    fn check_horizons(&mut self, now: Duration, index: NodeIndex) {
        if !self.check_member_horizons {
            return;
        }
        let Some(node) = self.slots.get(index.0).and_then(|slot| slot.node.as_ref()) else {
            return;
        };
        let members = node.members(self.base + now);
        self.checker.check_horizons(now, index, &members);
    }

    fn running_node_mut(&mut self, index: NodeIndex) -> Option<&mut Node> {
        self.slots.get_mut(index.0)?.node.as_mut()
    }

    fn mix(&mut self, at: Duration, tag: u64, node: NodeIndex) {
        self.trace = mix(self.trace, at.as_nanos() as u64);
        self.trace = mix(self.trace, tag << 56 ^ node.0 as u64);
    }

    // ----- queries -----

    /// The seed this run is reproducible from. Put it in every assertion message.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Virtual time since the start.
    pub fn now(&self) -> Duration {
        self.now
    }

    /// The `Instant` nodes were last handed (`base + now`).
    pub fn instant(&self) -> Instant {
        self.base + self.now
    }

    /// Number of node indices (running or not).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the simulation has no nodes (never: the builder refuses 0).
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Every node index.
    pub fn indices(&self) -> impl Iterator<Item = NodeIndex> + use<> {
        (0..self.slots.len()).map(NodeIndex)
    }

    /// The node at `index`, if it is running.
    pub fn node(&self, index: NodeIndex) -> Option<&Node> {
        self.slots.get(index.0)?.node.as_ref()
    }

    /// The name of `index`.
    pub fn name(&self, index: NodeIndex) -> Option<&NodeName> {
        self.slots.get(index.0).map(|slot| &slot.name)
    }

    /// The index of the node called `name`.
    pub fn index_of(&self, name: &str) -> Option<NodeIndex> {
        self.by_name.get(&NodeName::new(name).ok()?).copied()
    }

    /// Whether `index` is running (it may have left).
    pub fn is_running(&self, index: NodeIndex) -> bool {
        self.node(index).is_some()
    }

    /// Whether `index` was ever started.
    pub fn was_started(&self, index: NodeIndex) -> bool {
        self.slots.get(index.0).is_some_and(|slot| slot.started)
    }

    /// Whether `index`'s current incarnation announced a leave.
    pub fn has_left(&self, index: NodeIndex) -> bool {
        self.slots.get(index.0).is_some_and(|slot| slot.left)
    }

    /// Whether `index` is stalled now.
    pub fn is_stalled(&self, index: NodeIndex) -> bool {
        self.slots
            .get(index.0)
            .is_some_and(|slot| slot.stalled_until > self.now)
    }

    /// The current (or, if stopped, last) generation of `index`.
    pub fn generation(&self, index: NodeIndex) -> Generation {
        self.slots
            .get(index.0)
            .map_or(Generation(0), |slot| slot.generation)
    }

    /// Running nodes that have not left, in index order.
    pub fn live_nodes(&self) -> Vec<NodeIndex> {
        self.indices()
            .filter(|&i| self.is_running(i) && !self.has_left(i))
            .collect()
    }

    /// Number of running nodes.
    pub fn running(&self) -> usize {
        self.running
    }

    /// The settings every node runs with.
    pub fn node_config(&self) -> &NodeConfig {
        &self.node_config
    }

    /// Datagrams `index` sent and received, over all its incarnations.
    pub fn traffic(&self, index: NodeIndex) -> Traffic {
        self.slots
            .get(index.0)
            .map_or_else(Traffic::default, |slot| slot.traffic)
    }

    /// Traffic summed over every node.
    pub fn total_traffic(&self) -> Traffic {
        let mut total = Traffic::default();
        for slot in &self.slots {
            total.add(&slot.traffic);
        }
        total
    }

    /// What the network and scenario did.
    pub fn counters(&self) -> &NetworkCounters {
        &self.counters
    }

    /// How fast the simulation ran so far.
    pub fn speed(&self) -> Speed {
        self.speed
    }

    /// The invariant checker, with the ground truth of every write.
    pub fn checker(&self) -> &InvariantChecker {
        &self.checker
    }

    /// Violations recorded so far.
    pub fn violations(&self) -> &[Violation] {
        self.checker.violations()
    }

    /// `Ok` if no invariant was violated; otherwise the violations and the seed.
    pub fn check(&self) -> Result<(), CheckFailure> {
        let total = self.checker.total();
        if total == 0 {
            return Ok(());
        }
        Err(CheckFailure {
            seed: self.seed,
            total,
            violations: self.checker.violations().to_vec(),
        })
    }

    /// The event log (empty unless built with `record_events(true)`).
    pub fn events(&self) -> &[TimedEvent] {
        &self.events
    }

    /// Takes the event log recorded so far.
    pub fn take_events(&mut self) -> Vec<TimedEvent> {
        std::mem::take(&mut self.events)
    }

    /// A hash of every step processed (time, kind, node) and every event's kind: equal
    /// for equal runs, and a cheap way to compare two runs.
    pub fn trace_hash(&self) -> u64 {
        self.trace
    }
}

/// Resolves names for the checker, and the generation an observer holds.
struct NodeLookup<'a> {
    by_name: &'a HashMap<NodeName, NodeIndex>,
    node: &'a Node,
    now: Instant,
}

impl Lookup for NodeLookup<'_> {
    fn index_of(&self, name: &NodeName) -> Option<NodeIndex> {
        self.by_name.get(name).copied()
    }

    fn generation_held(&self, name: &NodeName) -> Option<Generation> {
        self.node
            .members(self.now)
            .into_iter()
            .find(|member| member.id.name == *name)
            .map(|member| member.id.generation)
    }
}

fn mix(hash: u64, value: u64) -> u64 {
    (hash ^ value).wrapping_mul(FNV_PRIME)
}

fn event_tag(event: &Event) -> u64 {
    let (kind, len) = match event {
        Event::PeersDiscovered(peers) => (1, peers.len()),
        Event::PeersSuspected(peers) => (2, peers.len()),
        Event::PeersRecovered(peers) => (3, peers.len()),
        Event::PeersDead(peers) => (4, peers.len()),
        Event::PeersLeft(peers) => (5, peers.len()),
        Event::PeerRestarted { generation, .. } => (6, generation.0 as usize),
        Event::Updates(updates) => (7, updates.len()),
        Event::Deleted { version, .. } => (8, version.0 as usize),
        Event::PeersRemoved(peers) => (9, peers.len()),
        _ => (0, 0),
    };
    kind << 56 ^ len as u64
}

/// A node's data directory as the core's [`Store`]: records each write before the node
/// applies it, with a time to live's deadline in virtual time.
struct SimStore<'a> {
    dir: &'a mut DataDirModel,
    now: Duration,
}

impl Store for SimStore<'_> {
    type Error = std::convert::Infallible;

    fn persist(&mut self, writes: &[PreparedWrite]) -> Result<(), Self::Error> {
        for write in writes {
            let deadline = write.ttl().map(|ttl| self.now + ttl);
            let value = write.value().cloned();
            self.dir
                .record(write.key().clone(), write.version(), value, deadline);
        }
        Ok(())
    }
}

/// Hands `node` (at `index`) the state of every other one of the first `initial` slots: a
/// live member of generation 1 holding no keys, in one oversized Ack (never encoded, so
/// not held to the packet size) from the next slot, as a completed join would leave it.
fn preform(node: &mut Node, index: NodeIndex, slots: &[Slot], initial: usize, now: Instant) {
    use leviathan_gossip_wire::{
        Ack, Header, Incarnation, Message, NodeDelta, NodeStatus, Version,
    };
    let deltas: Vec<NodeDelta> = slots
        .iter()
        .take(initial)
        .enumerate()
        .filter(|(i, _)| *i != index.0)
        .map(|(_, slot)| NodeDelta {
            node: NodeId {
                name: slot.name.clone(),
                address: slot.address,
                generation: slot.generation,
            },
            incarnation: Incarnation(0),
            status: NodeStatus::Alive,
            gc_watermark: Version(0),
            from_version: Version(0),
            to_version: Version(0),
            complete: true,
            records: Vec::new(),
        })
        .collect();
    let Some(sender) = slots
        .get((index.0 + 1) % initial.max(1))
        .filter(|_| initial > 1)
    else {
        return;
    };
    let packet = Packet {
        header: Header {
            cluster_id: node.config().cluster_id.clone(),
            sender: sender.name.clone(),
            generation: sender.generation,
            incarnation: Incarnation(0),
        },
        message: Message::Ack(Ack::with_deltas(deltas)),
    };
    node.handle_packet(sender.address, packet, now);
}
