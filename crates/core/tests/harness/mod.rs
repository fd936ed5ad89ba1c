//! A deterministic in-process network of [`Node`]s: no sockets, no threads, no wall clock.
//!
//! In the spirit of raft-rs's `Network` and quinn's `Pair`, [`Network`] owns every node and
//! every datagram in flight, and advances **virtual time** event by event:
//!
//! ```text
//!   queue: (time, seq) ─▶ Deliver { from, to, bytes }  → node.handle_datagram(now)
//!                       └▶ Timer { node }              → node.handle_timeout(now)
//!                       └▶ Wake { node }               → end of a stall
//!   after every input:  drain poll_transmit → check size, encode, lose/delay, enqueue
//!                       drain poll_event    → per-node event log
//!                       check max versions  → never go back
//!                       re-arm poll_timeout → enqueue a Timer
//! ```
//!
//! Time is `base + elapsed`, where `base` is one real `Instant` taken at construction and
//! `elapsed` only moves forward inside [`Network::run_for`]. Every random choice (message
//! loss, latency, each node's own RNG seed) comes from one ChaCha8 RNG seeded by the test,
//! so a run is reproducible from its seed; every assertion the harness makes names it. To
//! explore other runs of the same scenarios set `HARNESS_SEED_OFFSET=k`: every network then
//! uses its test's seed plus `k`, and failures name that effective seed (replay a failure
//! with the same offset).
//!
//! Nodes are addressed by port: node `p` listens at `127.0.0.1:p` and is named `node-p`
//! (see [`Network::add_named_node`] for other names). Checks made on **every** packet and
//! input, so every test that uses the harness checks them:
//!
//! * each transmit's encoded length is at most the sender's `config().max_packet_size`, and
//!   the encoding is exactly `encoded_len()` bytes and decodes again (the packet travels as
//!   bytes through `handle_datagram`);
//! * per (observer incarnation, node, generation) the `max_version` seen in
//!   `members()` never decreases;
//! * after `handle_timeout` the node's next deadline lies in the future.

#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the harness"
)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use leviathan_gossip_core::{Event, Member, MemberState, Node, NodeConfig};
use leviathan_gossip_wire::{Generation, Key, NodeId, NodeName, Version};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Added to every test's seed: `HARNESS_SEED_OFFSET`, or 0.
fn seed_offset() -> u64 {
    std::env::var("HARNESS_SEED_OFFSET")
        .ok()
        .and_then(|offset| offset.parse().ok())
        .unwrap_or(0)
}

/// The address node `port` listens at.
pub fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The default name of node `port`.
pub fn default_name(port: u16) -> String {
    format!("node-{port}")
}

/// How long a datagram takes from sender to receiver.
#[derive(Debug, Clone, Copy)]
pub enum Latency {
    /// Every datagram takes exactly this long (messages between two nodes stay in order).
    Fixed(Duration),
    /// Uniform in `[min, max]`, drawn per datagram (messages may overtake each other).
    Uniform {
        /// Shortest delay.
        min: Duration,
        /// Longest delay.
        max: Duration,
    },
}

/// Which a waking node handles first after a stall: its overdue timers or the datagrams
/// queued for it. A real runtime may do either, so tests try both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WakeOrder {
    /// `handle_timeout` first, then the backlog of datagrams.
    TimersFirst,
    /// The backlog of datagrams first, then `handle_timeout`.
    MessagesFirst,
}

/// One event a node emitted, with when and as which incarnation.
#[derive(Debug, Clone)]
pub struct LoggedEvent {
    /// Virtual time since the network was created.
    pub at: Duration,
    /// Generation of the emitting node (it changes across restarts).
    pub generation: Generation,
    /// The event.
    pub event: Event,
}

/// The membership event kinds that carry a list of peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// [`Event::PeersDiscovered`].
    Discovered,
    /// [`Event::PeersSuspected`].
    Suspected,
    /// [`Event::PeersRecovered`].
    Recovered,
    /// [`Event::PeersDead`].
    Dead,
    /// [`Event::PeersLeft`].
    Left,
    /// [`Event::PeersRemoved`].
    Removed,
}

impl Kind {
    /// The peers `event` names if it is of this kind, else none.
    pub fn peers(self, event: &Event) -> &[NodeName] {
        match (self, event) {
            (Kind::Discovered, Event::PeersDiscovered(peers))
            | (Kind::Suspected, Event::PeersSuspected(peers))
            | (Kind::Recovered, Event::PeersRecovered(peers))
            | (Kind::Dead, Event::PeersDead(peers))
            | (Kind::Left, Event::PeersLeft(peers))
            | (Kind::Removed, Event::PeersRemoved(peers)) => peers,
            _ => &[],
        }
    }
}

/// Counters of what the network did with datagrams.
#[derive(Debug, Clone, Default)]
pub struct Traffic {
    /// Datagrams handed out by `poll_transmit`.
    pub sent: u64,
    /// Datagrams handed to `handle_datagram`.
    pub delivered: u64,
    /// Dropped by the random loss.
    pub lost: u64,
    /// Dropped because sender and receiver were in different partitions at delivery.
    pub cut: u64,
    /// Dropped because the sender or receiver crashed or restarted meanwhile, or no node
    /// listens at the destination.
    pub undeliverable: u64,
    /// Largest datagram sent, in bytes.
    pub largest: usize,
}

/// A scheduled step of the simulation.
#[derive(Debug)]
enum Action {
    /// Hand `bytes` to the node at `to`, if both ends are still the incarnations they were
    /// when it was sent.
    Deliver {
        from: SocketAddr,
        from_epoch: u64,
        to: SocketAddr,
        to_epoch: u64,
        bytes: Bytes,
    },
    /// Call `handle_timeout` on the node at `node` (ignored if stale: the node was
    /// replaced, or re-armed its timer to another deadline meanwhile).
    Timer {
        node: SocketAddr,
        epoch: u64,
        deadline: Instant,
    },
    /// End a stall of the node at `node`.
    Wake {
        node: SocketAddr,
        epoch: u64,
        order: WakeOrder,
    },
}

/// A running node and the harness's bookkeeping about it.
#[derive(Debug)]
struct Host {
    node: Node,
    /// Unique per incarnation in this network: datagrams and timers of a crashed
    /// incarnation never reach its successor.
    epoch: u64,
    /// Deadline of the queued `Timer`, if one is queued.
    timer_at: Option<Instant>,
    /// Set while the node is stalled: its timers are not called and datagrams to it wait.
    stalled: bool,
    backlog: Vec<(SocketAddr, Bytes)>,
}

/// What survives a crash: who the node is and how to start it again.
#[derive(Debug, Clone)]
struct Identity {
    name: NodeName,
    generation: Generation,
    seeds: Vec<SocketAddr>,
}

/// Key of the version record: (observer name, observer generation, node name, node
/// generation).
type VersionKey = (NodeName, u64, NodeName, u64);

/// The simulated network. See the module documentation.
#[derive(Debug)]
pub struct Network {
    seed: u64,
    rng: ChaCha8Rng,
    base: Instant,
    elapsed: Duration,
    config: NodeConfig,
    loss: f64,
    latency: Latency,
    /// Partition group of each listed address; `None` means no partition.
    partition: Option<HashMap<SocketAddr, usize>>,
    queue: BTreeMap<(Duration, u64), Action>,
    next_seq: u64,
    next_epoch: u64,
    hosts: BTreeMap<SocketAddr, Host>,
    identities: BTreeMap<SocketAddr, Identity>,
    logs: BTreeMap<SocketAddr, Vec<LoggedEvent>>,
    max_versions: HashMap<VersionKey, Version>,
    traffic: Traffic,
}

impl Network {
    /// An empty network with default node settings, no loss, and 1–20 ms of latency,
    /// running `seed` (plus `HARNESS_SEED_OFFSET`, see the module documentation).
    pub fn new(seed: u64) -> Self {
        Self::with_config(seed, NodeConfig::default())
    }

    /// An empty network whose nodes use `config`.
    pub fn with_config(seed: u64, config: NodeConfig) -> Self {
        let seed = seed.wrapping_add(seed_offset());
        Network {
            seed,
            rng: ChaCha8Rng::seed_from_u64(seed),
            base: Instant::now(),
            elapsed: Duration::ZERO,
            config,
            loss: 0.0,
            latency: Latency::Uniform {
                min: Duration::from_millis(1),
                max: Duration::from_millis(20),
            },
            partition: None,
            queue: BTreeMap::new(),
            next_seq: 0,
            next_epoch: 0,
            hosts: BTreeMap::new(),
            identities: BTreeMap::new(),
            logs: BTreeMap::new(),
            max_versions: HashMap::new(),
            traffic: Traffic::default(),
        }
    }

    // ----- settings -----

    /// The seed this run is reproducible from (offset included). Put it in every
    /// assertion message.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Probability in `[0, 1]` that a datagram is lost.
    pub fn set_loss(&mut self, probability: f64) {
        assert!((0.0..=1.0).contains(&probability), "loss {probability}");
        self.loss = probability;
    }

    /// Latency of datagrams sent from now on.
    pub fn set_latency(&mut self, latency: Latency) {
        self.latency = latency;
    }

    /// The settings new nodes get.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    // ----- time -----

    /// The current virtual instant.
    pub fn now(&self) -> Instant {
        self.base + self.elapsed
    }

    /// Virtual time since the network was created.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// Runs every scheduled step up to `elapsed() + duration`, in (time, sequence) order,
    /// then sets the clock to that time.
    pub fn run_for(&mut self, duration: Duration) {
        let end = self.elapsed + duration;
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > end {
                break;
            }
            let ((at, _), action) = entry.remove_entry();
            self.elapsed = at;
            self.step(action);
        }
        self.elapsed = end;
    }

    /// Runs in steps of `step` until `done(self)` holds (checked before the first step and
    /// after each) or `limit` has passed; returns the time it took, or `None` on timeout.
    pub fn run_until(
        &mut self,
        limit: Duration,
        step: Duration,
        mut done: impl FnMut(&Network) -> bool,
    ) -> Option<Duration> {
        let start = self.elapsed;
        loop {
            if done(self) {
                return Some(self.elapsed - start);
            }
            if self.elapsed - start >= limit {
                return None;
            }
            self.run_for(step);
        }
    }

    // ----- membership of the network -----

    /// Starts node `port` (named `node-port`, generation 1) that knows `seeds`.
    pub fn add_node(&mut self, port: u16, seeds: &[u16]) -> SocketAddr {
        self.add_named_node(&default_name(port), port, seeds)
    }

    /// Starts a node called `name` at `127.0.0.1:port`, generation 1, knowing `seeds`.
    pub fn add_named_node(&mut self, name: &str, port: u16, seeds: &[u16]) -> SocketAddr {
        let address = addr(port);
        assert!(
            !self.identities.contains_key(&address),
            "seed {}: port {port} is taken",
            self.seed
        );
        let identity = Identity {
            name: NodeName::new(name).unwrap_or_else(|e| panic!("bad node name {name:?}: {e}")),
            generation: Generation(1),
            seeds: seeds.iter().map(|&p| addr(p)).collect(),
        };
        self.identities.insert(address, identity);
        self.start(address);
        address
    }

    /// Kills node `port`: it is dropped with everything it held; datagrams in flight from
    /// or to it are lost.
    pub fn crash(&mut self, port: u16) {
        let removed = self.hosts.remove(&addr(port));
        assert!(
            removed.is_some(),
            "seed {}: node {port} is not up",
            self.seed
        );
    }

    /// Starts node `port` again after a crash: same name and address, next generation,
    /// empty state.
    pub fn restart(&mut self, port: u16) {
        let address = addr(port);
        assert!(
            !self.hosts.contains_key(&address),
            "seed {}: crash node {port} before restarting it",
            self.seed
        );
        let identity = self
            .identities
            .get_mut(&address)
            .unwrap_or_else(|| panic!("node {port} was never added"));
        identity.generation = Generation(identity.generation.0 + 1);
        self.start(address);
    }

    /// Whether node `port` is running.
    pub fn is_up(&self, port: u16) -> bool {
        self.hosts.contains_key(&addr(port))
    }

    /// Ports of the running nodes, ascending.
    pub fn ports(&self) -> Vec<u16> {
        self.hosts.keys().map(SocketAddr::port).collect()
    }

    /// Name of node `port` (running or not).
    pub fn name(&self, port: u16) -> String {
        self.identities
            .get(&addr(port))
            .map(|identity| identity.name.to_string())
            .unwrap_or_else(|| panic!("node {port} was never added"))
    }

    /// Current generation of node `port` (running or not).
    pub fn generation(&self, port: u16) -> Generation {
        self.identities
            .get(&addr(port))
            .map(|identity| identity.generation)
            .unwrap_or_else(|| panic!("node {port} was never added"))
    }

    // ----- faults -----

    /// Splits the network: nodes in the same group talk, others do not; every node listed
    /// in no group forms one more group. Applies to datagrams already in flight too.
    pub fn partition(&mut self, groups: &[&[u16]]) {
        let mut map = HashMap::new();
        for (index, group) in groups.iter().enumerate() {
            for &port in *group {
                map.insert(addr(port), index);
            }
        }
        self.partition = Some(map);
    }

    /// Ends any partition.
    pub fn heal(&mut self) {
        self.partition = None;
    }

    /// Freezes node `port` for `duration` (a GC pause, a suspended VM): its timers are not
    /// called and datagrams to it wait; on waking it handles them in `order`.
    pub fn stall(&mut self, port: u16, duration: Duration, order: WakeOrder) {
        let address = addr(port);
        let host = self.host_mut(address);
        host.stalled = true;
        let epoch = host.epoch;
        self.schedule(
            self.elapsed + duration,
            Action::Wake {
                node: address,
                epoch,
                order,
            },
        );
    }

    // ----- commands and queries on one node -----

    /// The running node `port`.
    pub fn node(&self, port: u16) -> &Node {
        self.hosts
            .get(&addr(port))
            .map(|host| &host.node)
            .unwrap_or_else(|| panic!("seed {}: node {port} is not up", self.seed))
    }

    /// Runs a command on node `port` at the current time, then sends what it produced.
    pub fn with_node<T>(&mut self, port: u16, command: impl FnOnce(&mut Node) -> T) -> T {
        let address = addr(port);
        let result = command(&mut self.host_mut(address).node);
        self.after_input(address);
        result
    }

    /// `set` on node `port`; panics if refused.
    pub fn set(&mut self, port: u16, key: &str, value: &str) -> Version {
        let seed = self.seed;
        let key = Key::new(key).unwrap_or_else(|e| panic!("bad key {key:?}: {e}"));
        let value = Bytes::copy_from_slice(value.as_bytes());
        self.with_node(port, |node| node.set(key, value))
            .unwrap_or_else(|e| panic!("seed {seed}: set on node {port} refused: {e}"))
    }

    /// `delete` on node `port`; panics if refused.
    pub fn delete(&mut self, port: u16, key: &str) -> Option<Version> {
        let seed = self.seed;
        let key = Key::new(key).unwrap_or_else(|e| panic!("bad key {key:?}: {e}"));
        self.with_node(port, |node| node.delete(&key))
            .unwrap_or_else(|e| panic!("seed {seed}: delete on node {port} refused: {e}"))
    }

    /// `leave` on node `port`.
    pub fn leave(&mut self, port: u16) {
        self.with_node(port, Node::leave);
    }

    /// Node `port`'s view of the cluster now.
    pub fn members(&self, port: u16) -> Vec<Member> {
        self.node(port).members(self.now())
    }

    /// Node `observer`'s view of node `about`'s state, if it knows it.
    pub fn member_state(&self, observer: u16, about: u16) -> Option<MemberState> {
        let name = self.name(about);
        self.members(observer)
            .into_iter()
            .find(|member| member.id.name.as_str() == name)
            .map(|member| member.state)
    }

    /// Node `observer`'s value of node `owner`'s `key`, as text.
    pub fn get(&self, observer: u16, owner: u16, key: &str) -> Option<String> {
        self.node(observer)
            .get(&self.name(owner), key)
            .map(|value| String::from_utf8_lossy(value).into_owned())
    }

    // ----- what happened -----

    /// Every event node `port` emitted, across restarts, oldest first.
    pub fn events(&self, port: u16) -> &[LoggedEvent] {
        self.logs.get(&addr(port)).map_or(&[], Vec::as_slice)
    }

    /// When node `observer` emitted a `kind` event naming node `about`, oldest first.
    pub fn times(&self, observer: u16, kind: Kind, about: u16) -> Vec<Duration> {
        let name = self.name(about);
        self.events(observer)
            .iter()
            .filter(|logged| {
                kind.peers(&logged.event)
                    .iter()
                    .any(|peer| peer.as_str() == name)
            })
            .map(|logged| logged.at)
            .collect()
    }

    /// First time at or after `after` that `observer` emitted a `kind` event about `about`.
    pub fn first_time(
        &self,
        observer: u16,
        kind: Kind,
        about: u16,
        after: Duration,
    ) -> Option<Duration> {
        self.times(observer, kind, about)
            .into_iter()
            .find(|at| *at >= after)
    }

    /// Names of the peers node `observer` emitted `kind` events about (with repeats).
    pub fn peers_named(&self, observer: u16, kind: Kind) -> Vec<String> {
        self.events(observer)
            .iter()
            .flat_map(|logged| kind.peers(&logged.event))
            .map(NodeName::to_string)
            .collect()
    }

    /// Highest `max_version` observer `port` (current incarnation) has seen of `node`'s
    /// `generation`.
    pub fn max_version_seen(&self, port: u16, node: &str, generation: Generation) -> Version {
        let observer = self.node(port).identity();
        let Ok(node) = NodeName::new(node) else {
            return Version::default();
        };
        let key = (
            observer.name.clone(),
            observer.generation.0,
            node,
            generation.0,
        );
        self.max_versions.get(&key).copied().unwrap_or_default()
    }

    /// What the network did with datagrams so far.
    pub fn traffic(&self) -> &Traffic {
        &self.traffic
    }

    // ----- the engine -----

    fn host_mut(&mut self, address: SocketAddr) -> &mut Host {
        let seed = self.seed;
        self.hosts
            .get_mut(&address)
            .unwrap_or_else(|| panic!("seed {seed}: node {address} is not up"))
    }

    fn schedule(&mut self, at: Duration, action: Action) {
        self.queue.insert((at, self.next_seq), action);
        self.next_seq += 1;
    }

    /// Creates the node for `address`'s current identity and lets it act at once.
    fn start(&mut self, address: SocketAddr) {
        let identity = self.identities.get(&address).cloned();
        let Some(identity) = identity else {
            panic!("node {address} was never added");
        };
        let id = NodeId {
            name: identity.name,
            address,
            generation: identity.generation,
        };
        let node = Node::new(
            self.config.clone(),
            id,
            identity.seeds,
            self.now(),
            self.rng.random(),
        )
        .unwrap_or_else(|e| panic!("seed {}: invalid node config: {e}", self.seed));
        self.next_epoch += 1;
        let host = Host {
            node,
            epoch: self.next_epoch,
            timer_at: None,
            stalled: false,
            backlog: Vec::new(),
        };
        self.hosts.insert(address, host);
        self.after_input(address);
    }

    fn step(&mut self, action: Action) {
        match action {
            Action::Deliver {
                from,
                from_epoch,
                to,
                to_epoch,
                bytes,
            } => {
                let from_alive = self.hosts.get(&from).is_some_and(|h| h.epoch == from_epoch);
                let Some(host) = self.hosts.get_mut(&to).filter(|h| h.epoch == to_epoch) else {
                    self.traffic.undeliverable += 1;
                    return;
                };
                if !from_alive {
                    self.traffic.undeliverable += 1;
                } else if self
                    .partition
                    .as_ref()
                    .is_some_and(|groups| groups.get(&from) != groups.get(&to))
                {
                    self.traffic.cut += 1;
                } else if host.stalled {
                    host.backlog.push((from, bytes));
                } else {
                    self.deliver(from, to, &bytes);
                }
            }
            Action::Timer {
                node,
                epoch,
                deadline,
            } => {
                let Some(host) = self.hosts.get_mut(&node) else {
                    return;
                };
                if host.epoch != epoch || host.stalled || host.timer_at != Some(deadline) {
                    return; // stale: replaced, stalled (Wake re-arms), or re-armed elsewhere
                }
                self.fire_timer(node);
            }
            Action::Wake { node, epoch, order } => {
                let Some(host) = self.hosts.get_mut(&node).filter(|h| h.epoch == epoch) else {
                    return;
                };
                host.stalled = false;
                host.timer_at = None;
                let backlog = std::mem::take(&mut host.backlog);
                if order == WakeOrder::TimersFirst {
                    self.fire_timer(node);
                }
                for (from, bytes) in backlog {
                    self.deliver(from, node, &bytes);
                }
                if order == WakeOrder::MessagesFirst {
                    self.fire_timer(node);
                }
            }
        }
    }

    fn fire_timer(&mut self, address: SocketAddr) {
        let now = self.now();
        let seed = self.seed;
        let host = self.host_mut(address);
        host.timer_at = None;
        host.node.handle_timeout(now);
        let next = host.node.poll_timeout();
        assert!(
            next > now,
            "seed {seed}: {address} re-armed its timer at {next:?}, not after now {now:?}"
        );
        self.after_input(address);
    }

    fn deliver(&mut self, from: SocketAddr, to: SocketAddr, bytes: &Bytes) {
        let now = self.now();
        let seed = self.seed;
        let host = self.host_mut(to);
        let malformed = host.node.stats().dropped_malformed;
        host.node.handle_datagram(from, bytes, now);
        assert_eq!(
            host.node.stats().dropped_malformed,
            malformed,
            "seed {seed}: {to} could not decode a datagram {from} encoded"
        );
        self.traffic.delivered += 1;
        self.after_input(to);
    }

    /// Drains what node `address` produced after an input: datagrams into the queue,
    /// events into its log; checks versions; queues its next timer.
    fn after_input(&mut self, address: SocketAddr) {
        let now = self.now();
        let seed = self.seed;
        let elapsed = self.elapsed;
        let Some(host) = self.hosts.get_mut(&address) else {
            return;
        };
        let epoch = host.epoch;
        let node = &mut host.node;
        let max = node.config().max_packet_size;
        let generation = node.identity().generation;
        // The owner issues its expiries as deletions, as a runtime does.
        while let Some(expired) = node.poll_expired() {
            node.expire(&expired)
                .unwrap_or_else(|e| panic!("seed {seed}: {address} refused an expiry: {e}"));
        }
        while node.poll_collected().is_some() {}
        let mut outgoing = Vec::new();
        while let Some(transmit) = node.poll_transmit() {
            let len = transmit.packet.encoded_len();
            assert!(
                len <= max,
                "seed {seed}: {address} sent a {len}-byte {} to {}, over max_packet_size {max}",
                transmit.packet.message.kind().name(),
                transmit.destination,
            );
            let bytes = transmit.packet.encode();
            assert_eq!(bytes.len(), len, "seed {seed}: encoded_len is not exact");
            outgoing.push((transmit.destination, bytes));
        }
        let log = self.logs.entry(address).or_default();
        while let Some(event) = node.poll_event() {
            log.push(LoggedEvent {
                at: elapsed,
                generation,
                event,
            });
        }
        let observer = node.identity().clone();
        for member in node.members(now) {
            let key = (
                observer.name.clone(),
                observer.generation.0,
                member.id.name.clone(),
                member.id.generation.0,
            );
            // A reset may lower max_version below the watermark it brings; how far the
            // knowledge is trustworthy never goes back.
            let horizon = member.max_version.max(member.gc_watermark);
            let seen = self.max_versions.entry(key).or_default();
            assert!(
                horizon >= *seen,
                "seed {seed}: {observer} saw {}'s horizon go back from {} to {}",
                member.id,
                seen,
                horizon
            );
            *seen = horizon;
        }
        let deadline = node.poll_timeout();
        if !host.stalled && host.timer_at != Some(deadline) {
            host.timer_at = Some(deadline);
            // A deadline already past (a node woken from a stall) runs next.
            let at = deadline.saturating_duration_since(self.base).max(elapsed);
            self.schedule(
                at,
                Action::Timer {
                    node: address,
                    epoch,
                    deadline,
                },
            );
        }
        for (destination, bytes) in outgoing {
            self.send(address, epoch, destination, bytes);
        }
    }

    fn send(&mut self, from: SocketAddr, from_epoch: u64, to: SocketAddr, bytes: Bytes) {
        self.traffic.sent += 1;
        self.traffic.largest = self.traffic.largest.max(bytes.len());
        if self.loss > 0.0 && self.rng.random_bool(self.loss) {
            self.traffic.lost += 1;
            return;
        }
        let Some(to_epoch) = self.hosts.get(&to).map(|host| host.epoch) else {
            self.traffic.undeliverable += 1;
            return;
        };
        let delay = match self.latency {
            Latency::Fixed(delay) => delay,
            Latency::Uniform { min, max } => self.rng.random_range(min..=max),
        };
        self.schedule(
            self.elapsed + delay,
            Action::Deliver {
                from,
                from_epoch,
                to,
                to_epoch,
                bytes,
            },
        );
    }
}
