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

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use leviathan_gossip_core::Event;
use leviathan_gossip_wire::NodeName;
use serde_json::{Value, json};

/// The JSON object for `event`.
pub fn event(event: &Event) -> Value {
    let name = event.name();
    let peers = |peers: &[NodeName]| json!({ "event": name, "peers": names(peers) });
    match event {
        Event::PeersDiscovered(list)
        | Event::PeersSuspected(list)
        | Event::PeersRecovered(list)
        | Event::PeersDead(list)
        | Event::PeersLeft(list)
        | Event::PeersRemoved(list) => peers(list),
        Event::PeerRestarted { node, generation } => {
            json!({ "event": name, "node": node.as_str(), "generation": generation.0 })
        }
        Event::Updates(updates) => {
            let deltas: Vec<Value> = updates
                .iter()
                .map(|update| {
                    json!({
                        "node": update.node.as_str(),
                        "key": update.key.as_str(),
                        "value": value(&update.value),
                        "version": update.version.0,
                    })
                })
                .collect();
            json!({ "event": name, "deltas": deltas })
        }
        Event::Deleted { node, key, version } => {
            json!({ "event": name, "node": node.as_str(), "key": key.as_str(), "version": version.0 })
        }
        Event::DuplicateName {
            address,
            generation,
        } => {
            json!({ "event": name, "address": address.to_string(), "generation": generation.0 })
        }
        // An event a newer core adds: named, so a consumer can at least see it.
        _ => json!({ "event": name }),
    }
}

/// A value as JSON: a string if it is UTF-8, else `{"base64": "…"}`.
pub fn value(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(text) => Value::String(text.to_string()),
        Err(_) => json!({ "base64": STANDARD.encode(bytes) }),
    }
}

fn names(peers: &[NodeName]) -> Vec<&str> {
    peers.iter().map(NodeName::as_str).collect()
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
    }
}
