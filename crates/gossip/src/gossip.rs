//! The running node: a [`Gossip`] handle for the application and the task driving the
//! core over UDP.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use leviathan_gossip_core::{
    Event, Expired, Footprint, Member, MemberState, Node, Outputs, Stats, Transmit, Write,
};
#[cfg(feature = "encryption")]
use leviathan_gossip_keyring::{KeyRef, SecretKey};
use leviathan_gossip_wire::{Key, NodeId, Version};
use tokio::net::UdpSocket;
use tokio::sync::{Notify, broadcast, watch};
use tokio::task::{JoinHandle, JoinSet};
use tracing::{Instrument, debug, info_span, trace, warn};

use crate::config::Config;
#[cfg(feature = "durable")]
use crate::durable::Persistence;
#[cfg(feature = "encryption")]
use crate::encryption::{Encryption, EncryptionStatus};
use crate::error::{Error, StartError};
#[cfg(not(feature = "durable"))]
use crate::in_memory::Persistence;
#[cfg(not(feature = "encryption"))]
use crate::plaintext::Encryption;
use crate::rate_limit::RateLimiter;
use crate::seeds::{self, SeedBook, SeedStats};
use crate::subscriptions::{Events, KeyEvents};
use crate::transport::{TransportCounters, TransportStats};
use crate::wall_clock::unix_millis_now;

/// How long after a failed attempt the deletion of an expired key is tried again, when
/// the data directory refused it without poisoning itself.
const EXPIRY_RETRY: Duration = Duration::from_secs(5);
/// How often the members heard from are saved to the data directory (and at shutdown).
const REMEMBER_INTERVAL: Duration = Duration::from_secs(30);

/// A running gossip node. Cheap to share behind an `Arc`; every method takes `&self`.
///
/// Dropping it stops the node without announcing anything; call [`Gossip::leave`] for a
/// graceful departure and [`Gossip::shutdown`] to wait for the task to finish.
#[derive(Debug)]
pub struct Gossip {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    /// The driver task and the seed keeper ([`keep_seeds`]).
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// What the handle and the driver task share.
#[derive(Debug)]
struct Shared {
    node: Mutex<Node>,
    /// Where this node's own writes are made durable, if configured. Its data directory is
    /// locked before `node` and held across a group's fsync, which serialises groups while
    /// the driver task, which only needs `node`, keeps gossiping (it deletes expired keys
    /// through the same path on a blocking thread, see [`Chores::run`]).
    durable: Persistence,
    socket: UdpSocket,
    events: broadcast::Sender<Event>,
    /// The member list as of the latest change of membership, for [`Gossip::watch_members`].
    members: watch::Sender<Vec<Member>>,
    /// The subscription opened at start, until [`Gossip::events`] hands it to the first
    /// subscriber: it holds every event since the node started (up to `event_buffer`), so
    /// none is lost to the race between `start` returning and the application subscribing.
    first_subscription: Mutex<Option<broadcast::Receiver<Event>>>,
    rounds: Mutex<RoundTiming>,
    /// Wakes the driver task to recompute its deadline: a key was given a time to live,
    /// which may be due before the timer the task sleeps on.
    wake: Notify,
    /// Keyring and upgrade phase, around the socket.
    encryption: Mutex<Encryption>,
    transport: TransportCounters,
    /// Allowance of datagrams per source, checked before anything is read.
    limiter: Mutex<RateLimiter>,
    /// Seed names and their addresses, joined and remembered addresses: the core's seed
    /// list is theirs. Locked before `node`.
    seeds: Mutex<SeedBook>,
}

/// How long this node's gossip rounds took: building the round's messages in the core
/// and handing them to the socket, measured by the runtime.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RoundTiming {
    /// Rounds measured.
    pub rounds: u64,
    /// Their total duration.
    pub total: Duration,
    /// The longest one.
    pub max: Duration,
    /// Rounds by duration: `buckets[i]` counts those that took more than
    /// `ROUND_BUCKETS[i - 1]` and at most `ROUND_BUCKETS[i]`; the last, longer ones.
    pub buckets: [u64; ROUND_BUCKETS.len() + 1],
}

/// Upper bounds of [`RoundTiming::buckets`]: from 50 µs (a round of a small idle
/// cluster) to 1 s (the default gossip interval: a round that long starves the next).
pub const ROUND_BUCKETS: [Duration; 10] = [
    Duration::from_micros(50),
    Duration::from_micros(100),
    Duration::from_micros(250),
    Duration::from_micros(500),
    Duration::from_millis(1),
    Duration::from_millis(5),
    Duration::from_millis(25),
    Duration::from_millis(100),
    Duration::from_millis(250),
    Duration::from_secs(1),
];

impl RoundTiming {
    /// Counts one round that took `took`.
    pub fn record(&mut self, took: Duration) {
        self.rounds += 1;
        self.total += took;
        self.max = self.max.max(took);
        let bucket = ROUND_BUCKETS.partition_point(|bound| *bound < took);
        if let Some(count) = self.buckets.get_mut(bucket) {
            *count += 1;
        }
    }
}

impl Gossip {
    /// Validates `config`, binds the UDP socket, resolves the seeds and starts gossiping
    /// (the first round calls the seeds at once). Must be called within a tokio runtime.
    ///
    /// A seed name that does not resolve does not stop the start: it is logged (warn),
    /// counted ([`Gossip::seed_stats`]) and retried with backoff, and every name is
    /// resolved again every `seed_refresh_interval`. With a `data_dir`, the members the
    /// previous run heard from last are seeds too, and called at once: a restarted node
    /// rejoins through them when its configured seeds are down.
    pub async fn start(config: Config) -> Result<Gossip, StartError> {
        config.validate()?;
        let node_config = config.node_config()?;
        let socket = UdpSocket::bind(config.listen)
            .await
            .map_err(|source| StartError::Bind {
                address: config.listen,
                source,
            })?;
        let bound = socket.local_addr().map_err(|source| StartError::Bind {
            address: config.listen,
            source,
        })?;
        let advertise = config.advertise.unwrap_or(bound);
        let name = Config {
            advertise: Some(advertise),
            ..config.clone()
        }
        .node_name()?;
        let mut seeds = SeedBook::new(&config.seeds, config.seed_refresh_interval, Instant::now());
        for name in seeds.due(Instant::now()) {
            let outcome = seeds::resolve(&name).await;
            seeds.record(&name, outcome, Instant::now());
        }
        let encryption = Encryption::from_config(&config)?;
        let clock = config.generation.unwrap_or_else(generation_from_clock);
        let (durable, generation) =
            Persistence::open(&config, &node_config.cluster_id, &name, clock)?;
        let identity = NodeId {
            name,
            address: advertise,
            generation,
        };
        let span = info_span!("gossip", node = %identity.name);
        let now = Instant::now();
        let rng_seed = rand::random::<u64>();
        let mut node = Node::new(node_config, identity, seeds.addresses(), now, rng_seed)?;
        // Peers' generations are judged against the clock, not against a generation that
        // `config.generation` may have hand-picked below it.
        node.set_wall_clock(unix_millis_now(), now);
        durable.restore(&mut node, now)?;
        let mut remembered = durable.remembered();
        remembered.retain(|address| *address != advertise);
        if !remembered.is_empty() {
            debug!(members = remembered.len(), "calling the members remembered");
            seeds.add(remembered.iter().copied());
            node.join(remembered);
        }
        let (events, first_subscription) = broadcast::channel(config.event_buffer);
        let (members, _) = watch::channel(node.members(now));
        let shared = Arc::new(Shared {
            node: Mutex::new(node),
            durable,
            socket,
            events,
            members,
            first_subscription: Mutex::new(Some(first_subscription)),
            rounds: Mutex::new(RoundTiming::default()),
            wake: Notify::new(),
            encryption: Mutex::new(encryption),
            transport: TransportCounters::default(),
            limiter: Mutex::new(RateLimiter::new(config.max_datagrams_per_source)),
            seeds: Mutex::new(seeds),
        });
        let (stop, stopped) = watch::channel(false);
        let keeper =
            tokio::spawn(keep_seeds(Arc::clone(&shared), stopped.clone()).instrument(span.clone()));
        let driver = tokio::spawn(drive(Arc::clone(&shared), stopped).instrument(span));
        Ok(Gossip {
            shared,
            stop,
            tasks: Mutex::new(vec![driver, keeper]),
        })
    }

    /// Joins the cluster that `addresses` (`host:port`, IP addresses or DNS names) are
    /// members of: resolves each, adds every address found to the seeds (kept until the
    /// node stops) and calls each at once, as a node's first round calls its seeds; the
    /// seeds are then called like the configured ones. Returns how many addresses were
    /// called (every address of each name that resolved, duplicates and this node's own
    /// address skipped). Names that do not resolve are skipped, with a warning; if none
    /// resolves, or none is given, nothing is joined and the error lists each with the
    /// resolver's reason ([`Error::Join`]). A call succeeds whether or not anybody answers:
    /// watch [`Gossip::members`] or the events for the peers joining.
    pub async fn join(
        &self,
        addresses: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> Result<usize, Error> {
        self.ensure_running()?;
        let names: Vec<String> = addresses
            .into_iter()
            .map(|address| address.as_ref().to_string())
            .collect();
        let (mut resolved, failures) = seeds::resolve_all(&names).await;
        if resolved.is_empty() {
            return Err(Error::Join { failures });
        }
        for failure in &failures {
            warn!(%failure, "cannot resolve an address to join; skipped");
        }
        self.ensure_running()?;
        let own = self.shared.lock().identity().address;
        resolved.retain(|address| *address != own);
        let called = {
            let mut book = self.shared.seed_book();
            book.add(resolved.iter().copied());
            self.shared.lock().join(resolved)
        };
        self.shared.wake.notify_one();
        Ok(called)
    }

    /// How the seed names resolved so far, and how many seed addresses there are.
    pub fn seed_stats(&self) -> SeedStats {
        self.shared.seed_book().stats()
    }

    /// This node's name, advertised address and generation.
    pub fn identity(&self) -> NodeId {
        self.shared.lock().identity().clone()
    }

    /// The UDP address the node is bound to.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.shared.socket.local_addr()
    }

    /// Sets one of this node's keys and returns the write's version; peers receive it by
    /// gossip. Refused with an error (nothing written) if the key is invalid, the value
    /// could never fit a packet (see [`Gossip::max_value_len`]) or the node has left.
    /// With a `data_dir`, the write is on disk when this returns: it blocks for an fsync
    /// (typically a millisecond or less), shared with the writes other threads make at the
    /// same time (group commit). From async code, call it on the blocking pool
    /// (`tokio::task::spawn_blocking`), as the agent does.
    pub fn set(&self, key: impl AsRef<str>, value: impl Into<Bytes>) -> Result<Version, Error> {
        let key = parse_key(key.as_ref())?;
        let value = value.into();
        let written = self.write(Write::Set { key, value })?;
        Ok(written.unwrap_or_else(|| unreachable!("a set always writes")))
    }

    /// Sets one of this node's keys, like [`Gossip::set`], for `ttl`: then this node deletes
    /// it, unless it was written or deleted again meanwhile (a later [`Gossip::set`] keeps
    /// the key with no time to live; a later `set_with_ttl` replaces the deadline).
    ///
    /// Expiry is a delete the owner issues when the deadline passes on its own clock:
    /// peers receive an ordinary write, then an ordinary deletion (a
    /// [`Event::Deleted`] event), and never expire keys on their clocks, so every node
    /// agrees on when the key went whatever their clocks say. The deletion spreads like
    /// any other, within a few gossip rounds of the deadline. A node that is stopped at the
    /// deadline takes the key's value with it, so peers keep it until it comes back (or is
    /// removed as dead).
    ///
    /// With a `data_dir`, the write and its deadline are on disk when this returns, the
    /// deadline as wall-clock time: a node restarted after the deadline deletes the key
    /// as soon as it starts, one restarted before it keeps the key until then. Without a
    /// data directory the deadline lives and dies with the node, like its keys.
    ///
    /// Refused, with nothing written, for the reasons [`Gossip::set`] gives and for a
    /// zero `ttl` or one too large to represent as a deadline
    /// ([`Error::InvalidTtl`]).
    pub fn set_with_ttl(
        &self,
        key: impl AsRef<str>,
        value: impl Into<Bytes>,
        ttl: Duration,
    ) -> Result<Version, Error> {
        let key = parse_key(key.as_ref())?;
        let value = value.into();
        ttl_deadline(ttl, Instant::now())?;
        let written = self.write(Write::SetWithTtl { key, value, ttl })?;
        Ok(written.unwrap_or_else(|| unreachable!("a set always writes")))
    }

    /// Deletes one of this node's keys (a tombstone that replicates). Returns the deletion's
    /// version, or `None` if the key was not set. Durable on return, like [`Gossip::set`].
    pub fn del(&self, key: impl AsRef<str>) -> Result<Option<Version>, Error> {
        let key = parse_key(key.as_ref())?;
        self.write(Write::Delete { key })
    }

    /// Every own write goes through here: without a data directory the node applies it at
    /// once; with one, through the core's write-ahead sequence ([`write_ahead`]) under the
    /// store's lock, which serialises writes so the store sees versions in order. The
    /// task is woken to re-arm its timer (a time to live may bring the deadline closer).
    fn write(&self, write: Write) -> Result<Option<Version>, Error> {
        self.ensure_running()?;
        let written = self.shared.write(write, Instant::now());
        self.shared.wake.notify_one();
        written
    }

    /// Alias of [`Gossip::del`].
    pub fn delete(&self, key: impl AsRef<str>) -> Result<Option<Version>, Error> {
        self.del(key)
    }

    /// The value of `node`'s `key` as known here (`None` if unknown or deleted).
    pub fn get(&self, node: &str, key: &str) -> Option<Bytes> {
        self.shared.lock().get(node, key).cloned()
    }

    /// The version of `node`'s `key` as known here: the original library's `getn`.
    pub fn getn(&self, node: &str, key: &str) -> Option<Version> {
        self.shared.lock().version(node, key)
    }

    /// Alias of [`Gossip::getn`].
    pub fn version(&self, node: &str, key: &str) -> Option<Version> {
        self.getn(node, key)
    }

    /// Every live key of `node` known here, sorted by key.
    pub fn entries(&self, node: &str) -> Vec<(Key, Version, Bytes)> {
        self.shared.lock().entries(node)
    }

    /// Every known member (this node included) with its state and φ, sorted by name.
    pub fn members(&self) -> Vec<Member> {
        self.shared.lock().members(Instant::now())
    }

    /// Largest value [`Gossip::set`] accepts for `key`.
    pub fn max_value_len(&self, key: &str) -> Result<usize, Error> {
        let key = parse_key(key)?;
        Ok(self.shared.lock().max_value_len(&key))
    }

    /// This node's doubt about itself, 0 (healthy) to 8 (Lifeguard's local health score):
    /// raised when not even relays answer its checks, when it is suspected and when it
    /// stalls; above 4 it accuses nobody. A node cut off from the others shows it here
    /// rather than by suspecting them all.
    pub fn local_health(&self) -> u8 {
        self.shared.lock().local_health()
    }

    /// Counters of traffic and dropped input.
    pub fn stats(&self) -> Stats {
        self.shared.lock().stats().clone()
    }

    /// What the node holds in memory, in items (nodes, records, tombstones awaiting
    /// garbage collection, pending expiries, quarantined incarnations): what
    /// `tombstone_grace`, `remove_after` and `quarantine` keep bounded.
    pub fn footprint(&self) -> Footprint {
        self.shared.lock().footprint()
    }

    /// Durations of the gossip rounds run so far.
    pub fn round_timing(&self) -> RoundTiming {
        *self
            .shared
            .rounds
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A subscription to this node's events. The first one starts when the node started,
    /// so it hears every event, the first discoveries included, however late it is taken
    /// (up to `event_buffer` events: beyond that it is told how many it missed); every
    /// later one starts from now. Each subscriber buffers up to `event_buffer` events; one
    /// that falls further behind is told how many it missed.
    pub fn events(&self) -> Events {
        let first = self
            .shared
            .first_subscription
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        Events::new(first.unwrap_or_else(|| self.shared.events.subscribe()))
    }

    /// A subscription to the events about keys whose name starts with `prefix`, on every
    /// node: `Updates` of such keys and their `Deleted`. It starts from now (it never takes
    /// the first subscription's backlog: [`Gossip::events`] keeps it), and reports missed
    /// events as [`Events`] does.
    pub fn key_events(&self, prefix: impl Into<String>) -> KeyEvents {
        Events::new(self.shared.events.subscribe()).with_key_prefix(prefix)
    }

    /// The member list ([`Gossip::members`]), renewed whenever membership changes — a
    /// peer discovered, suspected, recovered, dead, departed, removed or restarted — so
    /// `changed().await` wakes on each such change (several at once may come as one). The
    /// φ values are those of the moment of the change; ask [`Gossip::members`] for current
    /// ones. The list starts with this node alone, or with the members it has already met.
    pub fn watch_members(&self) -> watch::Receiver<Vec<Member>> {
        let receiver = self.shared.members.subscribe();
        // Renewed only while watched: start the new watcher from the list as it is now.
        let members = self.shared.lock().members(Instant::now());
        self.shared.members.send_replace(members);
        receiver
    }

    /// Announces a graceful departure to peers (they report `PeersLeft` without waiting
    /// for the failure detector) and stops the node.
    pub async fn leave(&self) -> Result<(), Error> {
        self.ensure_running()?;
        self.shared.lock().leave();
        // A node that left writes nothing: its chores (expiries) are moot.
        let _chores = self.shared.flush().await;
        self.shutdown().await;
        Ok(())
    }

    /// What encryption and the rate limit did to datagrams: sealed, opened, dropped as
    /// unauthenticated or as refused plaintext (feature `encryption`), dropped over a
    /// source's allowance.
    pub fn transport_stats(&self) -> TransportStats {
        self.shared.transport.snapshot()
    }

    /// Stops the node and waits for its task to end. Idempotent.
    pub async fn shutdown(&self) {
        self.stop.send_replace(true);
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        for task in tasks {
            if let Err(error) = task.await {
                warn!(%error, "gossip task ended abnormally");
            }
        }
    }

    /// Whether the node runs: not shut down, and its tasks (the driver and the seed
    /// keeper) still going. A task that ended on its own — a panic — leaves a node that
    /// answers queries from its last state but gossips no more: health checks must say so.
    pub fn is_running(&self) -> bool {
        self.ensure_running().is_ok()
    }

    fn ensure_running(&self) -> Result<(), Error> {
        if *self.stop.borrow() {
            return Err(Error::Shutdown);
        }
        let tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        if tasks.iter().any(JoinHandle::is_finished) {
            return Err(Error::Stopped);
        }
        Ok(())
    }
}

/// The keyring, at runtime (feature `encryption`).
#[cfg(feature = "encryption")]
impl Gossip {
    /// The keyring's keys (by fingerprint, the primary first) and the upgrade phase.
    pub fn encryption(&self) -> EncryptionStatus {
        self.shared.encryption().status()
    }

    /// Installs a key: datagrams sealed with it are accepted from now on. Returns whether
    /// it was new. On a node started without a keyring, the first key starts phase 1 of
    /// an upgrade from plaintext (still sending plaintext, accepting both); see
    /// [`Gossip::set_encryption`]. Rotation: install the new key on every node, then
    /// [`Gossip::use_key`] it on every node, then [`Gossip::remove_key`] the old one.
    pub fn install_key(&self, key: SecretKey) -> bool {
        self.shared.encryption().install(key)
    }

    /// Makes an installed key (given as the key or its fingerprint) the one that seals.
    /// Refused, with the keyring unchanged, if it is not installed.
    pub fn use_key(&self, key: impl Into<KeyRef>) -> Result<(), Error> {
        Ok(self.shared.encryption().use_key(key.into())?)
    }

    /// Removes an installed key; datagrams sealed with it are dropped from now on. Refused,
    /// with the keyring unchanged, for the primary or a key not installed.
    pub fn remove_key(&self, key: impl Into<KeyRef>) -> Result<(), Error> {
        Ok(self.shared.encryption().remove(key.into())?)
    }

    /// Moves through the upgrade from plaintext (with a keyring installed): phase 1
    /// `(false, true)`, phase 2 `(true, true)`, phase 3 `(true, false)`. Each step once
    /// every node has taken the previous one.
    pub fn set_encryption(&self, encrypt_outgoing: bool, accept_plaintext: bool) {
        self.shared
            .encryption()
            .set_phase(encrypt_outgoing, accept_plaintext);
    }
}

impl Drop for Gossip {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

impl Shared {
    /// Applies an own write (see [`Gossip::write`]); also issues expiries.
    fn write(&self, write: Write, now: Instant) -> Result<Option<Version>, Error> {
        self.durable.write(&self.node, write, now)
    }

    fn seed_book(&self) -> MutexGuard<'_, SeedBook> {
        // Every change to it completes before the lock is released.
        self.seeds.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands the seed book's addresses to the core.
    fn update_seeds(&self) {
        let book = self.seed_book();
        self.lock().set_seeds(book.addresses());
    }

    /// Remembers the live peers in the data directory, the most recently heard first
    /// (the lowest φ: heard from the least long ago for their rhythm), on the blocking
    /// pool. Nothing without a data directory.
    async fn remember_members(self: &Arc<Self>) {
        if !self.durable.remembers() {
            return;
        }
        let mut live: Vec<Member> = self
            .lock()
            .members(Instant::now())
            .into_iter()
            .filter(|member| !member.is_local && member.state == MemberState::Live)
            .collect();
        live.sort_by(|a, b| a.phi.unwrap_or(0.0).total_cmp(&b.phi.unwrap_or(0.0)));
        let live = live
            .into_iter()
            .map(|member| (member.id.name, member.id.address))
            .collect();
        let shared = Arc::clone(self);
        if let Err(error) = tokio::task::spawn_blocking(move || shared.durable.remember(live)).await
        {
            warn!(%error, "saving the remembered members failed abnormally");
        }
    }

    fn lock(&self) -> MutexGuard<'_, Node> {
        // The core never panics while holding the lock on remote input; if a caller's
        // panic poisoned it, the state is still consistent (every method is atomic).
        self.node.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record_round(&self, took: Duration) {
        let mut timing = self.rounds.lock().unwrap_or_else(PoisonError::into_inner);
        timing.record(took);
    }

    /// Whether `source` is within its allowance of datagrams (counted when not).
    fn admit(&self, source: SocketAddr) -> bool {
        let mut limiter = self.limiter.lock().unwrap_or_else(PoisonError::into_inner);
        if limiter.admit(source, Instant::now()) {
            return true;
        }
        self.transport
            .rate_limited
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        false
    }

    fn encryption(&self) -> MutexGuard<'_, Encryption> {
        // Every change to it is a single assignment or call: poisoning leaves it whole.
        self.encryption
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    async fn send_all(&self, transmits: Vec<Transmit>) {
        for transmit in transmits {
            let packet = transmit.encode();
            let bytes = self.encryption().outgoing(&packet, &self.transport);
            if let Err(error) = self.socket.send_to(&bytes, transmit.destination).await {
                debug!(destination = %transmit.destination, %error, "send failed");
            }
        }
    }

    /// Drains the core ([`Node::drain`]): sends its datagrams and publishes its events,
    /// outside the lock; returns its chores (expiries to issue, tombstones the store may
    /// forget) for the task to run. A generation the node took to re-assert itself is not
    /// recorded in the data directory: it was derived from a claim nobody verified (a
    /// forged one must not outlive the process).
    async fn flush(self: &Arc<Self>) -> Chores {
        let mut outputs = Outputs::default();
        self.lock().drain(&mut outputs);
        let Outputs {
            transmits,
            events,
            expired,
            collected,
            reasserted,
            ..
        } = outputs;
        if let Some(generation) = reasserted {
            debug!(
                generation = generation.0,
                "re-asserted under a new generation"
            );
        }
        self.send_all(transmits).await;
        let membership_changed = events
            .iter()
            .any(|event| !matches!(event, Event::Updates(_) | Event::Deleted { .. }));
        // The list costs O(N) to build: only for someone watching (a new watcher gets a
        // fresh one, see `Gossip::watch_members`).
        if membership_changed && self.members.receiver_count() > 0 {
            let members = self.lock().members(Instant::now());
            self.members.send_replace(members);
        }
        for event in events {
            trace!(event = event.name(), "event");
            // No subscriber is not an error: events are for whoever listens.
            let _ = self.events.send(event);
        }
        Chores { expired, collected }
    }
}

/// The node's task: feeds datagrams and timeouts to the core, sends what it queues, and
/// deletes the keys whose time to live ran out.
///
/// Without a data directory an expired key is deleted at once, under the node's lock.
/// With one, the deletion must be on disk first: that fsync (and waiting for the store's
/// lock, which a `set` may hold across its own) runs on tokio's blocking pool
/// (`spawn_blocking`, which works on current-thread and multi-thread runtimes alike), so
/// this task keeps gossiping meanwhile. Those jobs are waited for before the task ends, so
/// the data directory is released when [`Gossip::shutdown`] returns.
async fn drive(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    // One byte more than the longest datagram a member sends: a datagram that fills the
    // buffer was longer (the rest is cut off by the socket), and is dropped unread.
    let longest = shared.lock().config().max_packet_size + Encryption::OVERHEAD;
    let mut buffer = vec![0u8; longest + 1];
    let mut round_started = None;
    let mut housekeeping = JoinSet::new();
    loop {
        let deadline = shared.lock().poll_timeout();
        tokio::select! {
            biased;
            _ = stop.wait_for(|stopped| *stopped) => break,
            // Due timers before datagrams: a flood must not starve the rounds and probes.
            () = tokio::time::sleep_until(deadline.into()) => {
                let started = Instant::now();
                let mut node = shared.lock();
                let rounds_before = node.stats().gossip_rounds;
                node.handle_timeout(started);
                if node.stats().gossip_rounds > rounds_before {
                    round_started = Some(started);
                }
            }
            received = shared.socket.recv_from(&mut buffer) => match received {
                Ok((len, from)) => {
                    let datagram = buffer.get(..len).unwrap_or_default();
                    if !shared.admit(from) {
                        continue;
                    }
                    if len > longest {
                        shared.transport.oversized.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        continue;
                    }
                    let packet = shared.encryption().incoming(datagram, &shared.transport);
                    if let Some(packet) = packet {
                        shared.lock().handle_datagram(from, &packet, Instant::now());
                    }
                }
                // ICMP errors from earlier sends (a peer's port closed) surface here on
                // some platforms; they say nothing about this socket.
                Err(error) => trace!(%error, "receive error"),
            },
            () = shared.wake.notified() => {}
        }
        let chores = shared.flush().await;
        if !chores.is_empty() {
            let shared = Arc::clone(&shared);
            if shared.durable.blocks() {
                housekeeping.spawn_blocking(move || chores.run(&shared));
            } else {
                chores.run(&shared);
            }
        }
        if let Some(started) = round_started.take() {
            shared.record_round(started.elapsed());
        }
        while let Some(done) = housekeeping.try_join_next() {
            report_housekeeping(done);
        }
    }
    while let Some(done) = housekeeping.join_next().await {
        report_housekeeping(done);
    }
    debug!("gossip task stopped");
}

/// The seed keeper, a task beside the driver that ends with it: resolves the seed names
/// when due (names that failed, after their backoff; all of them every
/// `seed_refresh_interval`) and hands the addresses to the core; with a data directory,
/// remembers the live members every [`REMEMBER_INTERVAL`] and once more when the node
/// stops.
async fn keep_seeds(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut next_save = Instant::now() + REMEMBER_INTERVAL;
    'keeping: loop {
        let resolve_at = shared.seed_book().next_deadline();
        let save_at = shared.durable.remembers().then_some(next_save);
        let wake = resolve_at.into_iter().chain(save_at).min();
        tokio::select! {
            biased;
            _ = stop.wait_for(|stopped| *stopped) => break,
            () = sleep_until(wake) => {}
        }
        if save_at.is_some_and(|at| at <= Instant::now()) {
            shared.remember_members().await;
            next_save = Instant::now() + REMEMBER_INTERVAL;
        }
        let due = shared.seed_book().due(Instant::now());
        for name in &due {
            let outcome = tokio::select! {
                biased;
                _ = stop.wait_for(|stopped| *stopped) => break 'keeping,
                outcome = seeds::resolve(name) => outcome,
            };
            shared.seed_book().record(name, outcome, Instant::now());
        }
        if !due.is_empty() {
            shared.update_seeds();
        }
    }
    shared.remember_members().await;
}

/// Sleeps until `deadline`, or forever if there is none.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => std::future::pending().await,
    }
}

fn report_housekeeping(done: Result<(), tokio::task::JoinError>) {
    if let Err(error) = done {
        warn!(%error, "deleting expired keys failed abnormally");
    }
}

/// What the core left for the runtime after a timeout: keys whose time to live ran out,
/// and own tombstones garbage collection dropped.
#[derive(Debug)]
struct Chores {
    expired: Vec<Expired>,
    collected: Vec<Key>,
}

impl Chores {
    fn is_empty(&self) -> bool {
        self.expired.is_empty() && self.collected.is_empty()
    }

    /// Forgets collected tombstones in the data directory, and deletes each expired key
    /// through the same path as [`Gossip::del`] ([`Shared::write`]). With a data
    /// directory this blocks on its lock and fsync: the task runs it on tokio's blocking
    /// pool.
    ///
    /// If the directory refuses the tombstone, the key stays, here and on peers: the
    /// failure is logged (warn), and the deletion tried again [`EXPIRY_RETRY`] later
    /// unless the directory is poisoned (it then refuses every write until the node
    /// restarts, and the restarted node deletes the key at once: its deadline is on disk).
    fn run(self, shared: &Shared) {
        shared.durable.forget(&self.collected);
        for expired in self.expired {
            match shared.write(Write::Expire(expired.clone()), Instant::now()) {
                Ok(Some(version)) => {
                    debug!(key = %expired.key, version = version.0, "expired");
                }
                // Written again or deleted since the deadline passed.
                Ok(None) => {}
                // The node left: it accepts no writes, expiries included.
                Err(Error::Write(error)) => debug!(key = %expired.key, %error, "not expired"),
                Err(error) => {
                    let retry = shared.durable.may_retry();
                    warn!(
                        key = %expired.key,
                        %error,
                        retry_in = ?retry.then_some(EXPIRY_RETRY),
                        "cannot record the expiry of a key in the data directory; the key \
                         stays until the deletion succeeds (or the node restarts, if never)"
                    );
                    if retry {
                        retry_expiry(shared, &expired);
                    }
                }
            }
        }
    }
}

/// Arms `expired`'s deadline again, [`EXPIRY_RETRY`] from now, if the key still holds the
/// write that expired.
fn retry_expiry(shared: &Shared, expired: &Expired) {
    let mut node = shared.lock();
    let own = node.identity().name.clone();
    if node.version(own.as_str(), expired.key.as_str()) != Some(expired.version) {
        return;
    }
    if let Some(deadline) = Instant::now().checked_add(EXPIRY_RETRY) {
        node.restore_expiry(&expired.key, deadline);
    }
    drop(node);
    shared.wake.notify_one();
}

/// The wall-clock deadline, in milliseconds since the Unix epoch, of a time to live of
/// `ttl` from `now`; refused if `ttl` is zero or the deadline cannot be represented.
fn ttl_deadline(ttl: Duration, now: Instant) -> Result<u64, Error> {
    let invalid = |reason: &'static str| Error::InvalidTtl { ttl, reason };
    if ttl.is_zero() {
        return Err(invalid("must be greater than zero"));
    }
    if now.checked_add(ttl).is_none() {
        return Err(invalid("too large: the deadline cannot be represented"));
    }
    // Rounded up to the millisecond: never before the in-memory deadline.
    let millis = u64::try_from(ttl.as_nanos().div_ceil(1_000_000))
        .map_err(|_| invalid("too large: the deadline cannot be represented"))?;
    unix_millis_now()
        .checked_add(millis)
        .ok_or_else(|| invalid("too large: the deadline cannot be represented"))
}

fn parse_key(key: &str) -> Result<Key, Error> {
    Key::new(key).map_err(|reason| Error::InvalidKey {
        key: key.to_string(),
        reason,
    })
}

/// Start time in milliseconds since the Unix epoch: a restarted node gets a larger
/// generation than its previous run unless the clock went back.
fn generation_from_clock() -> u64 {
    unix_millis_now().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A driver task that dies (here: aborted, as a panic would end it) makes the node
    /// report it is not running and refuse writes, instead of accepting writes no peer
    /// will ever receive.
    #[tokio::test]
    async fn a_dead_task_is_reported_and_writes_fail() {
        let gossip = Gossip::start(Config {
            name: "doomed".into(),
            listen: "127.0.0.1:0".parse().unwrap_or_else(|_| unreachable!()),
            ..Config::local()
        })
        .await
        .unwrap_or_else(|error| panic!("start: {error}"));
        assert!(gossip.is_running());
        assert!(gossip.set("k", "v").is_ok());
        let driver = gossip
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .first()
            .map(JoinHandle::abort_handle);
        if let Some(driver) = driver {
            driver.abort();
        }
        let start = Instant::now();
        while gossip.is_running() {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "the abort never took"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(gossip.set("k", "w"), Err(Error::Stopped));
        gossip.shutdown().await;
        assert_eq!(gossip.set("k", "w"), Err(Error::Shutdown));
    }
}
