//! The JSON shapes of the admin API, shared by the server ([`crate::http`]) and the client
//! ([`crate::client`]).
//!
//! Values are UTF-8 text as JSON strings and any other bytes as `{"base64": "…"}` (standard
//! alphabet, padded), exactly as in [`leviathan_gossip::json`]'s events.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use leviathan_gossip::keyring::Fingerprint;
use leviathan_gossip::{Gossip, Member};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `GET /v1/members`: every member the node knows, itself included, sorted by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MembersResponse {
    /// The name of the node that answered.
    pub node: String,
    /// The members.
    pub members: Vec<MemberView>,
}

/// One member as the answering node sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberView {
    /// Unique node name.
    pub name: String,
    /// Advertised gossip address (`ip:port`).
    pub address: String,
    /// Incarnation: grows on every restart (start time in ms by default).
    pub generation: u64,
    /// `live`, `suspect`, `dead` or `left`.
    pub state: String,
    /// Current φ of the failure detector; `null` for the answering node itself, for peers
    /// that left, and when infinite.
    pub phi: Option<f64>,
    /// Highest heartbeat known.
    pub incarnation: u64,
    /// Highest version of its key-value map known.
    pub max_version: u64,
    /// Its garbage-collection watermark as known: every tombstone at or below this
    /// version has been dropped (0: none yet).
    #[serde(default)]
    pub gc_watermark: u64,
    /// Number of live keys known.
    pub keys: usize,
    /// Whether this is the answering node.
    pub local: bool,
}

impl From<&Member> for MemberView {
    fn from(member: &Member) -> Self {
        MemberView {
            name: member.id.name.to_string(),
            address: member.id.address.to_string(),
            generation: member.id.generation.0,
            state: member.state.name().to_string(),
            phi: member.phi.filter(|phi| phi.is_finite()),
            incarnation: member.incarnation.0,
            max_version: member.max_version.0,
            gc_watermark: member.gc_watermark.0,
            keys: member.key_count,
            local: member.is_local,
        }
    }
}

/// `GET /v1/kv`: every live key known, sorted by node, then key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntriesResponse {
    /// The entries.
    pub entries: Vec<EntryView>,
}

/// One key of one node: `GET /v1/kv/{node}/{key}` answers one of these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryView {
    /// The key's owner.
    pub node: String,
    /// The key.
    pub key: String,
    /// The value: a string, or `{"base64": "…"}` for bytes that are not UTF-8.
    pub value: Value,
    /// The owner's version of the write.
    pub version: u64,
}

/// `GET /v1/convergence/{node}/{key}`: which version of one key each node holds, to watch
/// a write spread. The nodes are the answering node and the other nodes of its process
/// (the demo's); an agent answers for itself only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConvergenceResponse {
    /// The answering node.
    pub node: String,
    /// The key's owner.
    pub owner: String,
    /// The key.
    pub key: String,
    /// One entry per node, sorted by name.
    pub nodes: Vec<HolderView>,
}

/// The version of a key one node holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HolderView {
    /// The node.
    pub node: String,
    /// The owner's generation as this node knows it: a version counts only within one
    /// generation (a restarted owner counts from 1 again). `None` if it knows no such
    /// member or is down.
    pub generation: Option<u64>,
    /// The version of the key it holds; `None` if it holds none (not yet received,
    /// deleted, or the node is down).
    pub version: Option<u64>,
    /// Whether the node is running.
    pub up: bool,
}

/// `PUT` and `DELETE /v1/kv/{key}`: the version the write took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteResponse {
    /// The answering node, owner of the key.
    pub node: String,
    /// The key.
    pub key: String,
    /// The version of the write (or of the deletion's tombstone).
    pub version: u64,
    /// The time to live the write was given, in milliseconds (a `PUT` with `?ttl=`):
    /// the node deletes the key that long after the write unless it is written again.
    /// Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_ms: Option<u64>,
}

/// `POST /v1/join`: the addresses the node called.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinResponse {
    /// The answering node.
    pub node: String,
    /// How many addresses it called and added to its seeds: every address of each name
    /// that resolved, its own address and repeats left out.
    pub added: usize,
}

/// `GET /v1/health`: `200` while the node runs, `503` once it left or is down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthResponse {
    /// `ok`, `left` or `down`.
    pub status: String,
    /// The node's name (absent when down).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The node's generation (absent when down).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    /// Members by state, the node itself included.
    #[serde(default)]
    pub members: BTreeMap<String, usize>,
    /// The node's local health score, 0 (healthy) to 8 (it reaches almost nobody; it
    /// accuses nobody above 4). Absent when down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_health: Option<u8>,
}

/// `GET /v1/keys` and `PUT /v1/encryption`: the node's keyring by fingerprint (never the
/// keys) and its encryption phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeysResponse {
    /// The answering node.
    pub node: String,
    /// Installed keys, the primary (which seals) first, then in the order they are tried.
    /// Empty: no keyring, plaintext only.
    pub keys: Vec<KeyView>,
    /// Whether datagrams are sent sealed (always `false` without keys).
    pub encrypt_outgoing: bool,
    /// Whether plaintext datagrams are accepted (always `true` without keys).
    pub accept_plaintext: bool,
}

/// One installed key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyView {
    /// Its public fingerprint: 16 hex digits.
    pub fingerprint: String,
    /// Whether it is the primary, the key that seals.
    pub primary: bool,
}

/// `POST /v1/keys`, `PUT /v1/keys/primary`, `DELETE /v1/keys/{fingerprint}`: the key acted
/// on, whether anything changed, and the keyring afterwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyChangeResponse {
    /// Fingerprint of the key installed, made primary or removed.
    pub fingerprint: String,
    /// `false` when the key was already installed (install) or already the primary (use).
    pub changed: bool,
    /// The keyring and phase after the change.
    #[serde(flatten)]
    pub keyring: KeysResponse,
}

impl KeyChangeResponse {
    /// The answer for a change to `fingerprint` on `node`.
    pub fn new(node: &Gossip, fingerprint: Fingerprint, changed: bool) -> Self {
        KeyChangeResponse {
            fingerprint: fingerprint.to_string(),
            changed,
            keyring: keys_response(node),
        }
    }
}

/// The keyring and phase of `node`.
pub fn keys_response(node: &Gossip) -> KeysResponse {
    let status = node.encryption();
    KeysResponse {
        node: node.identity().name.to_string(),
        keys: status
            .keys
            .iter()
            .enumerate()
            .map(|(index, fingerprint)| KeyView {
                fingerprint: fingerprint.to_string(),
                primary: index == 0,
            })
            .collect(),
        encrypt_outgoing: status.encrypt_outgoing,
        accept_plaintext: status.accept_plaintext,
    }
}

/// The body of every `4xx`/`5xx` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// What went wrong.
    pub error: String,
}

/// The bytes a JSON value stands for: a string's UTF-8, or the decoded `{"base64": "…"}`.
/// `None` for any other shape or bad base64.
pub fn value_bytes(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::String(text) => Some(text.clone().into_bytes()),
        Value::Object(object) if object.len() == 1 => {
            let encoded = object.get("base64")?.as_str()?;
            STANDARD.decode(encoded).ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use leviathan_gossip::json;

    #[test]
    fn values_round_trip_through_json() {
        for bytes in [&b"v1"[..], b"", &[0xff, 0x00, 0x80], "ünïcødé".as_bytes()] {
            assert_eq!(value_bytes(&json::value(bytes)).unwrap(), bytes);
        }
        assert_eq!(value_bytes(&serde_json::json!(3)), None);
        assert_eq!(value_bytes(&serde_json::json!({"base64": "!!"})), None);
    }

    #[test]
    fn health_omits_what_is_unknown() {
        let down = HealthResponse {
            status: "down".into(),
            node: None,
            generation: None,
            members: BTreeMap::new(),
            local_health: None,
        };
        assert_eq!(
            serde_json::to_string(&down).unwrap(),
            r#"{"status":"down","members":{}}"#
        );
    }
}
