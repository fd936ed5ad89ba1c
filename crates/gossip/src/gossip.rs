//! The running node: a [`Gossip`] handle for the application and the task driving the
//! core over UDP.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use leviathan_gossip_core::state::Versioned;
use leviathan_gossip_core::{Event, Member, Node, Stats, Transmit};
use leviathan_gossip_durable::DataDir;
use leviathan_gossip_wire::{Generation, Key, NodeId, Version};
use tokio::net::UdpSocket;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tracing::{Instrument, debug, info, info_span, trace, warn};

use crate::config::Config;
use crate::error::{Error, RecvError, StartError};

/// Largest datagram the receive buffer takes: the largest UDP payload.
const RECEIVE_BUFFER: usize = 65_536;

/// A running gossip node. Cheap to share behind an `Arc`; every method takes `&self`.
///
/// Dropping it stops the node without announcing anything; call [`Gossip::leave`] for a
/// graceful departure and [`Gossip::shutdown`] to wait for the task to finish.
#[derive(Debug)]
pub struct Gossip {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// What the handle and the driver task share.
#[derive(Debug)]
struct Shared {
    node: Mutex<Node>,
    /// Where this node's own writes are made durable, if configured. Locked before `node`
    /// and held across the fsync, which serialises writes while the driver task, which
    /// only needs `node`, keeps gossiping.
    durable: Option<Mutex<DataDir>>,
    socket: UdpSocket,
    events: broadcast::Sender<Event>,
    rounds: Mutex<RoundTiming>,
}

/// How long this node's gossip rounds took: building the round's messages in the core
/// and handing them to the socket, measured by the runtime.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundTiming {
    /// Rounds measured.
    pub rounds: u64,
    /// Their total duration.
    pub total: Duration,
    /// The longest one.
    pub max: Duration,
}

impl Gossip {
    /// Validates `config`, binds the UDP socket, resolves the seeds and starts gossiping
    /// (the first round calls the seeds at once). Must be called within a tokio runtime.
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
        let seeds = resolve_seeds(&config.seeds).await?;
        let clock = config.generation.unwrap_or_else(generation_from_clock);
        let mut durable = match &config.data_dir {
            Some(path) => Some(DataDir::open(path, &node_config.cluster_id, &name)?),
            None => None,
        };
        let generation = match &mut durable {
            Some(dir) => dir.next_generation(clock).map_err(StartError::Generation)?,
            None => Generation(clock),
        };
        let identity = NodeId {
            name,
            address: advertise,
            generation,
        };
        let span = info_span!("gossip", node = %identity.name);
        let now = Instant::now();
        let rng_seed = rand::random::<u64>();
        let mut node = Node::new(node_config, identity, seeds, now, rng_seed)?;
        if let Some(dir) = &durable {
            restore(&mut node, dir)?;
        }
        let (events, _) = broadcast::channel(config.event_buffer);
        let shared = Arc::new(Shared {
            node: Mutex::new(node),
            durable: durable.map(Mutex::new),
            socket,
            events,
            rounds: Mutex::new(RoundTiming::default()),
        });
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(drive(Arc::clone(&shared), stopped).instrument(span));
        Ok(Gossip {
            shared,
            stop,
            task: Mutex::new(Some(task)),
        })
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
    /// With a `data_dir`, the write is on disk when this returns (it blocks for the
    /// fsync, typically a millisecond or a few).
    pub fn set(&self, key: impl AsRef<str>, value: impl Into<Bytes>) -> Result<Version, Error> {
        let key = parse_key(key.as_ref())?;
        self.ensure_running()?;
        let value = value.into();
        let Some(durable) = &self.shared.durable else {
            return Ok(self.shared.lock().set(key, value)?);
        };
        let mut store = durable.lock().unwrap_or_else(PoisonError::into_inner);
        let version = self.shared.lock().prepare_set(&key, &value)?;
        store
            .record_write(key.clone(), version, Some(value.clone()))
            .map_err(durable_error)?;
        let written = self.shared.lock().set(key, value)?;
        debug_assert_eq!(
            written, version,
            "writes are serialised by the store's lock"
        );
        Ok(written)
    }

    /// Deletes one of this node's keys (a tombstone that replicates). Returns the deletion's
    /// version, or `None` if the key was not set. Durable on return, like [`Gossip::set`].
    pub fn del(&self, key: impl AsRef<str>) -> Result<Option<Version>, Error> {
        let key = parse_key(key.as_ref())?;
        self.ensure_running()?;
        let Some(durable) = &self.shared.durable else {
            return Ok(self.shared.lock().delete(&key)?);
        };
        let mut store = durable.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(version) = self.shared.lock().prepare_delete(&key)? else {
            return Ok(None);
        };
        store
            .record_write(key.clone(), version, None)
            .map_err(durable_error)?;
        let written = self.shared.lock().delete(&key)?;
        debug_assert_eq!(
            written,
            Some(version),
            "writes are serialised by the store's lock"
        );
        Ok(written)
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

    /// Counters of traffic and dropped input.
    pub fn stats(&self) -> Stats {
        self.shared.lock().stats().clone()
    }

    /// Durations of the gossip rounds run so far.
    pub fn round_timing(&self) -> RoundTiming {
        *self
            .shared
            .rounds
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A new subscription to this node's events, from now on. Each subscriber buffers up
    /// to `event_buffer` events; one that falls further behind is told how many it missed.
    pub fn events(&self) -> Events {
        Events(self.shared.events.subscribe())
    }

    /// Announces a graceful departure to peers (they report `PeersLeft` without waiting
    /// for the failure detector) and stops the node.
    pub async fn leave(&self) -> Result<(), Error> {
        self.ensure_running()?;
        let transmits = {
            let mut node = self.shared.lock();
            node.leave();
            drain_transmits(&mut node)
        };
        self.shared.send_all(transmits).await;
        self.shutdown().await;
        Ok(())
    }

    /// Stops the node and waits for its task to end. Idempotent.
    pub async fn shutdown(&self) {
        self.stop.send_replace(true);
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task
            && let Err(error) = task.await
        {
            warn!(%error, "gossip task ended abnormally");
        }
    }

    fn ensure_running(&self) -> Result<(), Error> {
        if *self.stop.borrow() {
            return Err(Error::Shutdown);
        }
        Ok(())
    }
}

impl Drop for Gossip {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

/// A subscription to a node's [`Event`]s.
#[derive(Debug)]
pub struct Events(broadcast::Receiver<Event>);

impl Events {
    /// The next event. Fails with [`RecvError::Lagged`] (then continues with newer
    /// events) if this subscriber fell behind, and [`RecvError::Closed`] after shutdown.
    pub async fn recv(&mut self) -> Result<Event, RecvError> {
        self.0.recv().await.map_err(|error| match error {
            broadcast::error::RecvError::Lagged(missed) => RecvError::Lagged(missed),
            broadcast::error::RecvError::Closed => RecvError::Closed,
        })
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Node> {
        // The core never panics while holding the lock on remote input; if a caller's
        // panic poisoned it, the state is still consistent (every method is atomic).
        self.node.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record_round(&self, took: Duration) {
        let mut timing = self.rounds.lock().unwrap_or_else(PoisonError::into_inner);
        timing.rounds += 1;
        timing.total += took;
        timing.max = timing.max.max(took);
    }

    async fn send_all(&self, transmits: Vec<Transmit>) {
        for transmit in transmits {
            let bytes = transmit.packet.encode();
            if let Err(error) = self.socket.send_to(&bytes, transmit.destination).await {
                debug!(destination = %transmit.destination, %error, "send failed");
            }
        }
    }

    /// Sends what the core queued and publishes its events, outside the lock.
    async fn flush(&self) {
        let (transmits, events) = {
            let mut node = self.lock();
            let transmits = drain_transmits(&mut node);
            let events: Vec<Event> = std::iter::from_fn(|| node.poll_event()).collect();
            (transmits, events)
        };
        self.send_all(transmits).await;
        for event in events {
            trace!(event = event.name(), "event");
            // No subscriber is not an error: events are for whoever listens.
            let _ = self.events.send(event);
        }
    }
}

fn drain_transmits(node: &mut Node) -> Vec<Transmit> {
    std::iter::from_fn(|| node.poll_transmit()).collect()
}

/// The node's task: feeds datagrams and timeouts to the core, sends what it queues.
async fn drive(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut buffer = vec![0u8; RECEIVE_BUFFER];
    let mut round_started = None;
    loop {
        let deadline = shared.lock().poll_timeout();
        tokio::select! {
            biased;
            _ = stop.wait_for(|stopped| *stopped) => break,
            received = shared.socket.recv_from(&mut buffer) => match received {
                Ok((len, from)) => {
                    let datagram = buffer.get(..len).unwrap_or_default();
                    shared.lock().handle_datagram(from, datagram, Instant::now());
                }
                // ICMP errors from earlier sends (a peer's port closed) surface here on
                // some platforms; they say nothing about this socket.
                Err(error) => trace!(%error, "receive error"),
            },
            () = tokio::time::sleep_until(deadline.into()) => {
                let started = Instant::now();
                let mut node = shared.lock();
                let rounds_before = node.stats().gossip_rounds;
                node.handle_timeout(started);
                if node.stats().gossip_rounds > rounds_before {
                    round_started = Some(started);
                }
            }
        }
        shared.flush().await;
        if let Some(started) = round_started.take() {
            shared.record_round(started.elapsed());
        }
    }
    debug!("gossip task stopped");
}

async fn resolve_seeds(seeds: &[String]) -> Result<Vec<SocketAddr>, StartError> {
    let mut addresses = Vec::new();
    for seed in seeds {
        let resolved = tokio::net::lookup_host(seed.as_str())
            .await
            .map_err(|error| StartError::ResolveSeed {
                seed: seed.clone(),
                reason: error.to_string(),
            })?;
        addresses.extend(resolved);
    }
    Ok(addresses)
}

/// Loads the data directory's records (this node's own, from its previous runs) into a
/// fresh node.
fn restore(node: &mut Node, dir: &DataDir) -> Result<(), StartError> {
    let records = dir.records().iter().map(|(key, (version, value))| {
        let versioned = Versioned {
            version: *version,
            value: value.clone(),
        };
        (key.clone(), versioned)
    });
    node.restore_own_records(records, dir.max_version())?;
    let recovery = dir.recovery();
    info!(
        path = %dir.path().display(),
        records = dir.records().len(),
        max_version = dir.max_version().0,
        log_records = recovery.log_records,
        torn_bytes_dropped = recovery.torn_bytes_dropped,
        "restored this node's state from its data directory"
    );
    Ok(())
}

fn durable_error(error: leviathan_gossip_durable::WriteError) -> Error {
    Error::Durable {
        reason: error.to_string(),
    }
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
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
        .max(1)
}
