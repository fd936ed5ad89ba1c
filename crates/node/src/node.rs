//! The class JavaScript holds: one running gossip node.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use leviathan_gossip::Gossip;
use napi::Either;
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use tokio::sync::{mpsc, watch};

use crate::config::NativeConfig;
use crate::error::BindingError;
use crate::events::{self, EventQueue, NativeEvent, as_number, split_value};

/// Most events one `nextEvents()` call returns: large enough to amortise the crossing into
/// JavaScript, small enough that one batch never holds the event loop for long.
const BATCH_LIMIT: usize = 1024;

/// A running gossip node (`NativeGossip.start(cfg)`), wrapped by `npm/index.js`.
#[napi]
pub struct NativeGossip {
    gossip: Arc<Gossip>,
    queue: Arc<EventQueue>,
    stop_forwarding: watch::Sender<bool>,
}

/// A member as `members()` lists it.
#[napi(object)]
#[derive(Debug)]
pub struct NativeMember {
    /// Its name: the id events carry.
    pub id: String,
    /// Its advertised address, `"addr:port"` (the original library's peer id).
    pub address: String,
    /// Its generation (start time in ms since the Unix epoch, by default).
    pub generation: f64,
    /// `live`, `suspect`, `dead` or `left`.
    pub state: String,
    /// φ of its answers to this node's probes, if this node watches it.
    pub phi: Option<f64>,
    /// Its live keys known here.
    pub keys: u32,
    /// Whether it is this node.
    pub is_local: bool,
}

/// Checks `config` as `start` would, without starting anything: the wrapper calls it in
/// `new Gossip(cfg)` so that a bad option fails there, as in the original.
#[napi]
pub fn check_config(config: NativeConfig) -> napi::Result<()> {
    config.to_config()?;
    Ok(())
}

#[napi]
impl NativeGossip {
    /// Validates `config`, binds the UDP socket and starts the node on the binding's
    /// tokio runtime. Blocks the caller while seed names are resolved (IP addresses need
    /// no resolution). Every event from now on is kept for `nextEvents()`.
    #[napi(factory)]
    pub fn start(config: NativeConfig) -> napi::Result<NativeGossip> {
        let config = config.to_config()?;
        let gossip =
            napi::bindgen_prelude::block_on(Gossip::start(config)).map_err(BindingError::from)?;
        // The first subscription holds every event since the start: none is lost to the
        // time JavaScript takes to attach listeners.
        let subscription = gossip.events();
        let (sender, receiver) = mpsc::unbounded_channel();
        let (stop_forwarding, stopped) = watch::channel(false);
        napi::bindgen_prelude::spawn(events::forward(subscription, sender, stopped));
        Ok(NativeGossip {
            gossip: Arc::new(gossip),
            queue: Arc::new(EventQueue::new(receiver)),
            stop_forwarding,
        })
    }

    /// This node's name: the id its peers' events carry for it.
    #[napi(getter)]
    pub fn id(&self) -> String {
        self.gossip.identity().name.to_string()
    }

    /// This node's advertised address, `"addr:port"`.
    #[napi(getter)]
    pub fn address(&self) -> String {
        self.gossip.identity().address.to_string()
    }

    /// This node's generation.
    #[napi(getter)]
    pub fn generation(&self) -> f64 {
        as_number(self.gossip.identity().generation.0)
    }

    /// Sets one of this node's keys to `value` (JSON text from the wrapper, or raw bytes)
    /// and returns the write's version.
    #[napi]
    pub fn set(&self, key: String, value: Either<String, Buffer>) -> napi::Result<f64> {
        let value = match value {
            Either::A(text) => Bytes::from(text),
            Either::B(bytes) => Bytes::copy_from_slice(&bytes),
        };
        let version = self.gossip.set(key, value).map_err(BindingError::from)?;
        Ok(as_number(version.0))
    }

    /// Deletes one of this node's keys; returns the deletion's version, or `null` if the
    /// key was not set.
    #[napi]
    pub fn del(&self, key: String) -> napi::Result<Option<f64>> {
        let version = self.gossip.del(key).map_err(BindingError::from)?;
        Ok(version.map(|version| as_number(version.0)))
    }

    /// The value of `peer`'s `key` known here (`peer`: a name or `"addr:port"`): a string
    /// if it is valid UTF-8, else a `Buffer`; `null` if unknown or deleted.
    #[napi]
    pub fn get(&self, peer: String, key: String) -> Option<Either<String, Buffer>> {
        let value = self.gossip.get(&peer, &key).or_else(|| {
            let name = self.name_at(&peer)?;
            self.gossip.get(&name, &key)
        })?;
        match split_value(&value) {
            (Some(text), _) => Some(Either::A(text)),
            (None, Some(bytes)) => Some(Either::B(bytes)),
            (None, None) => None,
        }
    }

    /// The version of `peer`'s `key` known here; 0 if unknown (as in the original).
    #[napi]
    pub fn getn(&self, peer: String, key: String) -> f64 {
        let version = self.gossip.getn(&peer, &key).or_else(|| {
            let name = self.name_at(&peer)?;
            self.gossip.getn(&name, &key)
        });
        version.map_or(0.0, |version| as_number(version.0))
    }

    /// Largest value `set` accepts for `key`, in bytes.
    #[napi]
    pub fn max_value_len(&self, key: String) -> napi::Result<u32> {
        let len = self
            .gossip
            .max_value_len(&key)
            .map_err(BindingError::from)?;
        Ok(u32::try_from(len).unwrap_or(u32::MAX))
    }

    /// Every member known, this node included.
    #[napi]
    pub fn members(&self) -> Vec<NativeMember> {
        self.gossip
            .members()
            .into_iter()
            .map(|member| NativeMember {
                id: member.id.name.to_string(),
                address: member.id.address.to_string(),
                generation: as_number(member.id.generation.0),
                state: member.state.name().to_string(),
                phi: member.phi,
                keys: u32::try_from(member.key_count).unwrap_or(u32::MAX),
                is_local: member.is_local,
            })
            .collect()
    }

    /// The next events, at most 1024, waiting for one if none is queued; `null` once the
    /// node stopped and every event was taken.
    #[napi]
    pub async fn next_events(&self) -> napi::Result<Option<Vec<NativeEvent>>> {
        let queue = Arc::clone(&self.queue);
        let batch = queue.next_batch(BATCH_LIMIT).await;
        Ok(batch.map(|items| items.into_iter().map(NativeEvent::from).collect()))
    }

    /// Announces a graceful departure (peers report `peers_left` at once) and stops.
    #[napi]
    pub async fn leave(&self) -> napi::Result<()> {
        let outcome = self.gossip.leave().await;
        self.stop_forwarding.send_replace(true);
        outcome.map_err(|error| BindingError::from(error).into())
    }

    /// Stops without announcing anything (peers will suspect this node). Idempotent.
    #[napi]
    pub async fn stop(&self) -> napi::Result<()> {
        self.gossip.shutdown().await;
        self.stop_forwarding.send_replace(true);
        Ok(())
    }
}

impl NativeGossip {
    /// The name of the member advertising `peer`, if `peer` is an `"addr:port"` address.
    fn name_at(&self, peer: &str) -> Option<String> {
        let address: SocketAddr = peer.parse().ok()?;
        self.gossip
            .members()
            .into_iter()
            .find(|member| member.id.address == address)
            .map(|member| member.id.name.to_string())
    }
}
