//! Events from the engine to the Node.js event loop, none lost, the loop never blocked.
//!
//! The engine publishes events on a bounded broadcast channel ([`Events`]). A forwarding
//! task on the tokio runtime ([`forward`]) takes each one as soon as it is published and
//! moves it to an unbounded queue; JavaScript pulls them in batches with the promise of
//! `nextEvents()` ([`EventQueue::next_batch`]). No engine thread ever calls JavaScript,
//! and a slow listener never makes the engine drop anything: when JavaScript falls behind,
//! the queue (memory) grows until it catches up. The only way to miss events is for the
//! forwarding task itself to be starved for `event_buffer` events (65,536 by default), in
//! which case the count is delivered as an `events_lost` item instead of silence.

use leviathan_gossip::{Event, Events, RecvError, Update};
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use tokio::sync::{Mutex, mpsc, watch};

/// What the forwarding task queues for JavaScript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// An engine event.
    Event(Event),
    /// The forwarding task fell behind the engine by this many events, which are gone.
    Lost(u64),
}

/// The receiving end of the queue, shared by the `nextEvents()` calls.
#[derive(Debug)]
pub struct EventQueue {
    receiver: Mutex<mpsc::UnboundedReceiver<Item>>,
}

impl EventQueue {
    /// A queue fed by `receiver`.
    pub fn new(receiver: mpsc::UnboundedReceiver<Item>) -> Self {
        EventQueue {
            receiver: Mutex::new(receiver),
        }
    }

    /// Waits for at least one item, then takes up to `limit` (at least one) of those
    /// queued. `None` once the forwarding task ended and everything was taken.
    pub async fn next_batch(&self, limit: usize) -> Option<Vec<Item>> {
        let mut receiver = self.receiver.lock().await;
        let first = receiver.recv().await?;
        let mut batch = vec![first];
        while batch.len() < limit {
            match receiver.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        Some(batch)
    }
}

/// Moves every event of `events` to `queue` until `stop` turns true (then moves what was
/// already published, and ends) or the node's channel closes. Ending drops `queue`'s
/// sender: the queue's reader then gets `None` after the last item.
pub async fn forward(
    mut events: Events,
    queue: mpsc::UnboundedSender<Item>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            biased;
            received = events.recv() => {
                if !pass_on(received, &queue) {
                    return;
                }
            }
            _ = stop.wait_for(|stopped| *stopped) => break,
        }
    }
    // Stopped: the node's tasks have ended, so what is in the channel is all there is.
    loop {
        tokio::select! {
            biased;
            received = events.recv() => {
                if !pass_on(received, &queue) {
                    return;
                }
            }
            () = std::future::ready(()) => return,
        }
    }
}

/// Queues one received event (or the count of missed ones); false when forwarding is over.
fn pass_on(received: Result<Event, RecvError>, queue: &mpsc::UnboundedSender<Item>) -> bool {
    let item = match received {
        Ok(event) => Item::Event(event),
        Err(RecvError::Lagged(missed)) => Item::Lost(missed),
        Err(RecvError::Closed) => return false,
    };
    queue.send(item).is_ok()
}

/// One event as JavaScript receives it from `nextEvents()`; the wrapper (`npm/index.js`)
/// turns it into the original library's `emit(kind, …)` arguments.
#[napi(object)]
pub struct NativeEvent {
    /// `peers_discover`, `peers_suspend`, `peers_recover`, `peers_dead`, `peers_left`,
    /// `peers_removed`, `peer_restarted`, `duplicate_name`, `updates`, `delete`, or
    /// `events_lost`.
    pub kind: String,
    /// The peers' names (the `peers_*` events).
    pub peers: Option<Vec<String>>,
    /// The writes (`updates`).
    pub updates: Option<Vec<NativeUpdate>>,
    /// The peer (`peer_restarted`) or the deleted key's owner (`delete`).
    pub node: Option<String>,
    /// The deleted key (`delete`).
    pub key: Option<String>,
    /// The deletion's version (`delete`).
    pub version: Option<f64>,
    /// The peer's new generation (`peer_restarted`), or the other process's
    /// (`duplicate_name`): milliseconds since the Unix epoch unless configured otherwise.
    pub generation: Option<f64>,
    /// Where another live process answered under this node's name (`duplicate_name`).
    pub address: Option<String>,
    /// How many events were missed (`events_lost`).
    pub missed: Option<f64>,
}

/// One replicated write: `node` set `key` to `value` at `version`.
#[napi(object)]
pub struct NativeUpdate {
    /// The key's owner.
    pub node: String,
    /// The key.
    pub key: String,
    /// The value, when it is valid UTF-8 (JSON text is): handed over as a string, which
    /// costs JavaScript less than a `Buffer`.
    pub text: Option<String>,
    /// The value's bytes, when they are not valid UTF-8.
    pub bytes: Option<Buffer>,
    /// The owner's version of the write.
    pub version: f64,
}

impl NativeEvent {
    fn new(kind: &str) -> Self {
        NativeEvent {
            kind: kind.to_string(),
            peers: None,
            updates: None,
            node: None,
            key: None,
            version: None,
            generation: None,
            address: None,
            missed: None,
        }
    }
}

impl From<Item> for NativeEvent {
    fn from(item: Item) -> Self {
        let event = match item {
            Item::Lost(missed) => {
                return NativeEvent {
                    missed: Some(as_number(missed)),
                    ..NativeEvent::new("events_lost")
                };
            }
            Item::Event(event) => event,
        };
        let kind = event.name();
        match event {
            Event::PeersDiscovered(peers)
            | Event::PeersSuspected(peers)
            | Event::PeersRecovered(peers)
            | Event::PeersDead(peers)
            | Event::PeersLeft(peers)
            | Event::PeersRemoved(peers) => NativeEvent {
                peers: Some(peers.iter().map(ToString::to_string).collect()),
                ..NativeEvent::new(kind)
            },
            Event::PeerRestarted { node, generation } => NativeEvent {
                node: Some(node.to_string()),
                generation: Some(as_number(generation.0)),
                ..NativeEvent::new(kind)
            },
            Event::Updates(updates) => NativeEvent {
                updates: Some(updates.into_iter().map(NativeUpdate::from).collect()),
                ..NativeEvent::new(kind)
            },
            Event::Deleted { node, key, version } => NativeEvent {
                node: Some(node.to_string()),
                key: Some(key.to_string()),
                version: Some(as_number(version.0)),
                ..NativeEvent::new(kind)
            },
            Event::DuplicateName {
                address,
                generation,
            } => NativeEvent {
                address: Some(address.to_string()),
                generation: Some(as_number(generation.0)),
                ..NativeEvent::new(kind)
            },
            // An event kind newer than this binding: passed on by name, without details.
            _ => NativeEvent::new(kind),
        }
    }
}

impl From<Update> for NativeUpdate {
    fn from(update: Update) -> Self {
        let (text, bytes) = split_value(&update.value);
        NativeUpdate {
            node: update.node.to_string(),
            key: update.key.to_string(),
            text,
            bytes,
            version: as_number(update.version.0),
        }
    }
}

/// A value as text when it is valid UTF-8, else as bytes.
pub fn split_value(value: &[u8]) -> (Option<String>, Option<Buffer>) {
    match std::str::from_utf8(value) {
        Ok(text) => (Some(text.to_string()), None),
        Err(_) => (None, Some(Buffer::from(value.to_vec()))),
    }
}

/// A counter as a JavaScript number: exact up to 2^53 (versions count writes, generations
/// are milliseconds since 1970: both far below it).
#[allow(clippy::cast_precision_loss)]
pub fn as_number(value: u64) -> f64 {
    value as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use leviathan_gossip::{Config, Gossip, Key, NodeName, Version};

    fn name(text: &str) -> NodeName {
        NodeName::new(text).unwrap_or_else(|error| panic!("{error}"))
    }

    #[test]
    fn events_keep_their_details() {
        let peers = NativeEvent::from(Item::Event(Event::PeersSuspected(vec![
            name("a"),
            name("b"),
        ])));
        assert_eq!(peers.kind, "peers_suspend");
        assert_eq!(peers.peers, Some(vec!["a".to_string(), "b".to_string()]));

        let updates = NativeEvent::from(Item::Event(Event::Updates(vec![Update {
            node: name("a"),
            key: Key::new("k").unwrap_or_else(|error| panic!("{error}")),
            value: bytes::Bytes::from_static(b"[1]"),
            version: Version(7),
        }])));
        assert_eq!(updates.kind, "updates");
        let update = updates.updates.as_deref().and_then(<[NativeUpdate]>::first);
        let update = update.unwrap_or_else(|| panic!("no update"));
        assert_eq!(
            (update.node.as_str(), update.key.as_str(), update.version),
            ("a", "k", 7.0)
        );
        assert_eq!(update.text.as_deref(), Some("[1]"));
        assert!(update.bytes.is_none());
        let (text, bytes) = split_value(&[0xff, 0]);
        assert!(text.is_none());
        assert_eq!(bytes.as_deref(), Some(&[0xff, 0][..]));

        let deleted = NativeEvent::from(Item::Event(Event::Deleted {
            node: name("a"),
            key: Key::new("k").unwrap_or_else(|error| panic!("{error}")),
            version: Version(8),
        }));
        assert_eq!(deleted.kind, "delete");
        assert_eq!(deleted.version, Some(8.0));

        let duplicate = NativeEvent::from(Item::Event(Event::DuplicateName {
            address: std::net::SocketAddr::from(([127, 0, 0, 1], 7580)),
            generation: leviathan_gossip::Generation(9),
        }));
        assert_eq!(duplicate.kind, "duplicate_name");
        assert_eq!(
            (duplicate.address.as_deref(), duplicate.generation),
            (Some("127.0.0.1:7580"), Some(9.0))
        );

        let lost = NativeEvent::from(Item::Lost(3));
        assert_eq!(
            (lost.kind.as_str(), lost.missed),
            ("events_lost", Some(3.0))
        );
    }

    /// Every event a node publishes reaches the queue, those published before anybody
    /// read the queue included, and the queue ends after the node stops.
    #[tokio::test]
    async fn forwarding_loses_nothing_and_ends_after_stop() {
        let node = |name: &str| Config {
            name: name.into(),
            listen: "127.0.0.1:0".parse().unwrap_or_else(|_| unreachable!()),
            ..Config::local()
        };
        let a = Gossip::start(node("a"))
            .await
            .unwrap_or_else(|error| panic!("{error}"));
        let address = a.local_addr().unwrap_or_else(|error| panic!("{error}"));
        let b = Gossip::start(Config {
            seeds: vec![address.to_string()],
            ..node("b")
        })
        .await
        .unwrap_or_else(|error| panic!("{error}"));
        let (sender, receiver) = mpsc::unbounded_channel();
        let (stop, stopped) = watch::channel(false);
        let forwarder = tokio::spawn(forward(b.events(), sender, stopped));
        const WRITES: u64 = 2_000;
        for i in 0..WRITES {
            a.set(format!("k{}", i % 50), i.to_string())
                .unwrap_or_else(|error| panic!("{error}"));
        }
        let queue = EventQueue::new(receiver);
        let mut versions = Vec::new();
        let mut discovered = false;
        while !versions.contains(&WRITES) {
            let batch =
                tokio::time::timeout(std::time::Duration::from_secs(20), queue.next_batch(100))
                    .await
                    .unwrap_or_else(|_| panic!("only {} updates arrived", versions.len()))
                    .unwrap_or_else(|| panic!("the queue ended early"));
            assert!(!batch.is_empty() && batch.len() <= 100);
            for item in batch {
                match item {
                    Item::Event(Event::PeersDiscovered(peers)) => {
                        discovered |= peers.contains(&name("a"))
                    }
                    Item::Event(Event::Updates(updates)) => {
                        versions.extend(updates.iter().map(|update| update.version.0));
                    }
                    Item::Lost(missed) => panic!("missed {missed} events"),
                    Item::Event(_) => {}
                }
            }
        }
        // Only the latest write of each key need travel, but what arrives is in order.
        assert!(discovered, "the first event, a discovery, was kept");
        assert!(versions.windows(2).all(|pair| pair.first() < pair.last()));
        assert_eq!(versions.last().copied(), Some(WRITES));
        b.shutdown().await;
        stop.send_replace(true);
        forwarder.await.unwrap_or_else(|error| panic!("{error}"));
        while let Some(batch) = queue.next_batch(1000).await {
            assert!(!batch.is_empty());
        }
        a.shutdown().await;
    }
}
