//! The JSON shape of events and values, shared by the `peer` example and the agent.
//!
//! Every event is one object with an `"event"` field named as in the original library:
//!
//! ```text
//! {"event":"peers_discover","peers":["node2"]}
//! {"event":"updates","deltas":[{"node":"node2","key":"k2","value":"v2","version":3}]}
//! {"event":"delete","node":"node2","key":"k2","version":4}
//! {"event":"peer_restarted","node":"node2","generation":1732560000000}
//! {"event":"duplicate_name","address":"10.0.0.7:7580","generation":1732560000000}
//! ```
//!
//! Values that are UTF-8 text appear as JSON strings; any other bytes as
//! `{"base64":"…"}` (standard alphabet, padded).

use std::net::SocketAddr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use leviathan_gossip_core::{Event, Update};
use leviathan_gossip_wire::NodeName;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An event as JSON, typed: what the agent prints and streams and its CLI reads back.
/// Serializes to one object whose `"event"` field names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventRecord {
    /// [`Event::PeersDiscovered`].
    #[serde(rename = "peers_discover")]
    PeersDiscover {
        /// The peers' names.
        peers: Vec<String>,
    },
    /// [`Event::PeersSuspected`].
    #[serde(rename = "peers_suspend")]
    PeersSuspend {
        /// The peers' names.
        peers: Vec<String>,
    },
    /// [`Event::PeersRecovered`].
    #[serde(rename = "peers_recover")]
    PeersRecover {
        /// The peers' names.
        peers: Vec<String>,
    },
    /// [`Event::PeersDead`].
    PeersDead {
        /// The peers' names.
        peers: Vec<String>,
    },
    /// [`Event::PeersLeft`].
    PeersLeft {
        /// The peers' names.
        peers: Vec<String>,
    },
    /// [`Event::PeersRemoved`].
    PeersRemoved {
        /// The peers' names.
        peers: Vec<String>,
    },
    /// [`Event::PeerRestarted`].
    PeerRestarted {
        /// The peer.
        node: String,
        /// Its new generation.
        generation: u64,
    },
    /// [`Event::Updates`].
    Updates {
        /// The writes, in the order applied.
        deltas: Vec<UpdateRecord>,
    },
    /// [`Event::Deleted`].
    Delete {
        /// The key's owner.
        node: String,
        /// The key.
        key: String,
        /// The deletion's version.
        version: u64,
    },
    /// [`Event::DuplicateName`].
    DuplicateName {
        /// Where the other process answered.
        address: SocketAddr,
        /// Its generation.
        generation: u64,
    },
    /// Not an engine event: a subscriber fell behind and missed `missed` events (the
    /// agent's event stream says so in its place).
    Lagged {
        /// Events missed.
        missed: u64,
    },
    /// An event this version does not know (from a newer agent), read without its fields.
    #[serde(other)]
    Unknown,
}

/// One write of an [`EventRecord::Updates`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateRecord {
    /// The key's owner.
    pub node: String,
    /// The key.
    pub key: String,
    /// The new value.
    pub value: ValueRecord,
    /// Its version.
    pub version: u64,
}

/// A value as JSON: a string if it is UTF-8, else `{"base64": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ValueRecord {
    /// UTF-8 text.
    Text(String),
    /// Any other bytes.
    Bytes {
        /// Standard base64, padded.
        base64: String,
    },
}

impl EventRecord {
    /// The record as one line of JSON (serializing a record cannot fail: no maps).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl ValueRecord {
    /// The record of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(text) => ValueRecord::Text(text.to_string()),
            Err(_) => ValueRecord::Bytes {
                base64: STANDARD.encode(bytes),
            },
        }
    }

    /// The bytes it stands for; `None` if its base64 is invalid.
    pub fn bytes(&self) -> Option<Vec<u8>> {
        match self {
            ValueRecord::Text(text) => Some(text.as_bytes().to_vec()),
            ValueRecord::Bytes { base64 } => STANDARD.decode(base64).ok(),
        }
    }
}

impl From<&Update> for UpdateRecord {
    fn from(update: &Update) -> Self {
        UpdateRecord {
            node: update.node.as_str().to_string(),
            key: update.key.as_str().to_string(),
            value: ValueRecord::of(&update.value),
            version: update.version.0,
        }
    }
}

impl From<&Event> for EventRecord {
    fn from(event: &Event) -> Self {
        let peers = |peers: &[NodeName]| peers.iter().map(|p| p.as_str().to_string()).collect();
        match event {
            Event::PeersDiscovered(list) => EventRecord::PeersDiscover { peers: peers(list) },
            Event::PeersSuspected(list) => EventRecord::PeersSuspend { peers: peers(list) },
            Event::PeersRecovered(list) => EventRecord::PeersRecover { peers: peers(list) },
            Event::PeersDead(list) => EventRecord::PeersDead { peers: peers(list) },
            Event::PeersLeft(list) => EventRecord::PeersLeft { peers: peers(list) },
            Event::PeersRemoved(list) => EventRecord::PeersRemoved { peers: peers(list) },
            Event::PeerRestarted { node, generation } => EventRecord::PeerRestarted {
                node: node.as_str().to_string(),
                generation: generation.0,
            },
            Event::Updates(updates) => EventRecord::Updates {
                deltas: updates.iter().map(UpdateRecord::from).collect(),
            },
            Event::Deleted { node, key, version } => EventRecord::Delete {
                node: node.as_str().to_string(),
                key: key.as_str().to_string(),
                version: version.0,
            },
            Event::DuplicateName {
                address,
                generation,
            } => EventRecord::DuplicateName {
                address: *address,
                generation: generation.0,
            },
            // An event a newer core adds: known by name only.
            _ => EventRecord::Unknown,
        }
    }
}

/// The JSON object for `event` ([`EventRecord`]'s).
pub fn event(event: &Event) -> Value {
    serde_json::to_value(EventRecord::from(event)).unwrap_or_else(|_| {
        // Only maps with non-string keys fail to serialize; a record has none.
        serde_json::json!({ "event": event.name() })
    })
}

/// A value as JSON: a string if it is UTF-8, else `{"base64": "…"}` ([`ValueRecord`]).
pub fn value(bytes: &[u8]) -> Value {
    match ValueRecord::of(bytes) {
        ValueRecord::Text(text) => Value::String(text),
        ValueRecord::Bytes { base64 } => serde_json::json!({ "base64": base64 }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use leviathan_gossip_core::Update;
    use leviathan_gossip_wire::{Key, Version};

    #[test]
    fn events_have_the_original_names_and_shapes() {
        let node = NodeName::new("node2").unwrap();
        let discovered = event(&Event::PeersDiscovered(vec![node.clone()]));
        assert_eq!(
            discovered.to_string(),
            r#"{"event":"peers_discover","peers":["node2"]}"#
        );
        let updates = event(&Event::Updates(vec![Update {
            node,
            key: Key::new("k2").unwrap(),
            value: Bytes::from_static(b"v2"),
            version: Version(3),
        }]));
        assert_eq!(
            updates.to_string(),
            r#"{"event":"updates","deltas":[{"node":"node2","key":"k2","value":"v2","version":3}]}"#
        );
    }

    #[test]
    fn binary_values_are_base64() {
        assert_eq!(value(&[0xff, 0x00]).to_string(), r#"{"base64":"/wA="}"#);
        let record = ValueRecord::of(&[0xff, 0x00]);
        assert_eq!(record.bytes(), Some(vec![0xff, 0x00]));
    }

    #[test]
    fn records_read_back_as_written_and_unknown_events_are_kept_by_kind() {
        let node = NodeName::new("node2").unwrap();
        for event in [
            Event::PeersSuspected(vec![node.clone()]),
            Event::PeerRestarted {
                node: node.clone(),
                generation: leviathan_gossip_wire::Generation(7),
            },
            Event::DuplicateName {
                address: "10.0.0.7:7580".parse().unwrap(),
                generation: leviathan_gossip_wire::Generation(9),
            },
            Event::Updates(vec![Update {
                node: node.clone(),
                key: Key::new("k").unwrap(),
                value: Bytes::from_static(&[0xff]),
                version: Version(3),
            }]),
        ] {
            let record = EventRecord::from(&event);
            let text = serde_json::to_string(&record).unwrap();
            assert!(
                text.contains(&format!(r#""event":"{}""#, event.name())),
                "{text}"
            );
            let back: EventRecord = serde_json::from_str(&text).unwrap();
            assert_eq!(back, record);
        }
        let newer: EventRecord =
            serde_json::from_str(r#"{"event":"something_new","field":1}"#).unwrap();
        assert_eq!(newer, EventRecord::Unknown);
        let lagged: EventRecord = serde_json::from_str(r#"{"event":"lagged","missed":4}"#).unwrap();
        assert_eq!(lagged, EventRecord::Lagged { missed: 4 });
    }
}
