//! Human-readable output: events as sentences, values shortened, aligned tables.
//!
//! Works on the typed JSON records ([`leviathan_gossip::json::EventRecord`], [`crate::api`]),
//! so the demo (which holds [`leviathan_gossip::Event`]s) and `watch` (which reads JSON)
//! print alike.

use leviathan_gossip::json::{EventRecord, UpdateRecord, ValueRecord};
use serde_json::Value;

use crate::api::{EntryView, KeysResponse, MemberView};

/// Longest value shown in full; longer ones are cut with `…`.
const VALUE_WIDTH: usize = 48;

/// One line per thing an event says, e.g. `discovered node2, node3` or
/// `update node1/k1 = "v1" (v1)`.
pub fn event_lines(event: &EventRecord) -> Vec<String> {
    match event {
        EventRecord::PeersDiscover { peers } => vec![format!("discovered {}", peers.join(", "))],
        EventRecord::PeersSuspend { peers } => vec![format!("suspects {}", peers.join(", "))],
        EventRecord::PeersRecover { peers } => {
            vec![format!("sees {} recovered", peers.join(", "))]
        }
        EventRecord::PeersDead { peers } => vec![format!("declares {} dead", peers.join(", "))],
        EventRecord::PeersLeft { peers } => vec![format!("sees {} leave", peers.join(", "))],
        EventRecord::PeersRemoved { peers } => {
            vec![format!("forgets {} (removed)", peers.join(", "))]
        }
        EventRecord::PeerRestarted { node, generation } => {
            vec![format!("sees {node} restarted (generation {generation})")]
        }
        EventRecord::Updates { deltas } => deltas.iter().map(update_line).collect(),
        EventRecord::Delete { node, key, version } => {
            vec![format!("delete {node}/{key} (v{version})")]
        }
        EventRecord::DuplicateName {
            address,
            generation,
        } => vec![format!(
            "finds another process under its name at {address} (generation {generation}): \
             stop one of the two"
        )],
        EventRecord::Lagged { missed } => vec![format!("missed {missed} events (too slow)")],
        _ => vec!["an event this version does not know".to_string()],
    }
}

fn update_line(update: &UpdateRecord) -> String {
    let shown = match &update.value {
        ValueRecord::Text(text) => format!("{text:?}"),
        ValueRecord::Bytes { base64 } => format!("base64:{base64}"),
    };
    format!(
        "update {}/{} = {} (v{})",
        update.node,
        update.key,
        shorten(&shown, VALUE_WIDTH),
        update.version
    )
}

/// A value for people: text quoted and escaped, binary as `base64:…`, both shortened.
pub fn value(value: &Value) -> String {
    let shown = match value {
        Value::String(text) => format!("{text:?}"),
        Value::Object(object) => match object.get("base64").and_then(Value::as_str) {
            Some(encoded) => format!("base64:{encoded}"),
            None => value.to_string(),
        },
        other => other.to_string(),
    };
    shorten(&shown, VALUE_WIDTH)
}

fn shorten(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut short: String = text.chars().take(width.saturating_sub(1)).collect();
    short.push('…');
    short
}

/// The members as a table: name, address, generation, state, φ, incarnation, keys.
pub fn members_table(members: &[MemberView]) -> String {
    let rows: Vec<Vec<String>> = members
        .iter()
        .map(|m| {
            let name = if m.local {
                format!("{} (self)", m.name)
            } else {
                m.name.clone()
            };
            vec![
                name,
                m.address.clone(),
                m.generation.to_string(),
                m.state.clone(),
                m.phi.map_or_else(|| "-".into(), |phi| format!("{phi:.2}")),
                m.incarnation.to_string(),
                m.keys.to_string(),
            ]
        })
        .collect();
    table(
        &[
            "NAME",
            "ADDRESS",
            "GENERATION",
            "STATE",
            "PHI",
            "INCARNATION",
            "KEYS",
        ],
        &rows,
    )
}

/// Entries as a table: node, key, version, value.
pub fn entries_table(entries: &[EntryView]) -> String {
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.node.clone(),
                e.key.clone(),
                e.version.to_string(),
                value(&e.value),
            ]
        })
        .collect();
    table(&["NODE", "KEY", "VERSION", "VALUE"], &rows)
}

/// The keyring as a table (fingerprint, primary), then the encryption phase.
pub fn keys_text(keys: &KeysResponse) -> String {
    let rows: Vec<Vec<String>> = keys
        .keys
        .iter()
        .map(|key| {
            let primary = if key.primary { "yes" } else { "no" };
            vec![key.fingerprint.clone(), primary.to_string()]
        })
        .collect();
    let mut text = if rows.is_empty() {
        String::from("no keys installed\n")
    } else {
        table(&["FINGERPRINT", "PRIMARY"], &rows)
    };
    text.push_str(&format!("encryption: {}\n", phase(keys)));
    text
}

/// The encryption phase in words, e.g. `required: sends sealed, accepts sealed only
/// (encrypt_outgoing=true accept_plaintext=false)`.
pub fn phase(keys: &KeysResponse) -> String {
    let words = match (
        keys.keys.is_empty(),
        keys.encrypt_outgoing,
        keys.accept_plaintext,
    ) {
        (true, _, _) => "off: sends and accepts plaintext (no key installed)",
        (false, false, true) => "upgrade phase 1: sends plaintext, accepts sealed and plaintext",
        (false, true, true) => "upgrade phase 2: sends sealed, accepts sealed and plaintext",
        (false, true, false) => "required: sends sealed, accepts sealed only",
        (false, false, false) => "broken: sends plaintext but accepts sealed only",
    };
    format!(
        "{words} (encrypt_outgoing={} accept_plaintext={})",
        keys.encrypt_outgoing, keys.accept_plaintext
    )
}

/// Left-aligned columns two spaces apart, a header row first; every line ends in `\n`.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| (*h).to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_read_as_sentences() {
        let cases = [
            (
                json!({"event":"peers_discover","peers":["node2","node3"]}),
                "discovered node2, node3",
            ),
            (
                json!({"event":"peers_suspend","peers":["node2"]}),
                "suspects node2",
            ),
            (
                json!({"event":"peers_removed","peers":["node2","node3"]}),
                "forgets node2, node3 (removed)",
            ),
            (
                json!({"event":"peer_restarted","node":"node2","generation":7}),
                "sees node2 restarted (generation 7)",
            ),
            (
                json!({"event":"delete","node":"node1","key":"k1","version":4}),
                "delete node1/k1 (v4)",
            ),
            (
                json!({"event":"lagged","missed":3}),
                "missed 3 events (too slow)",
            ),
        ];
        for (event, line) in cases {
            let record: EventRecord = serde_json::from_value(event).unwrap();
            assert_eq!(event_lines(&record), [line]);
        }
        let updates = json!({"event":"updates","deltas":[
            {"node":"node1","key":"k1","value":"v1","version":1},
            {"node":"node1","key":"bin","value":{"base64":"/wA="},"version":2},
        ]});
        let updates: EventRecord = serde_json::from_value(updates).unwrap();
        assert_eq!(
            event_lines(&updates),
            [
                "update node1/k1 = \"v1\" (v1)",
                "update node1/bin = base64:/wA= (v2)"
            ]
        );
    }

    #[test]
    fn long_values_are_shortened() {
        let shown = value(&json!("x".repeat(100)));
        assert_eq!(shown.chars().count(), VALUE_WIDTH);
        assert!(shown.ends_with('…'));
        assert_eq!(value(&json!("a\nb")), "\"a\\nb\"");
    }

    #[test]
    fn tables_align() {
        let text = table(
            &["A", "BB"],
            &[vec!["long".into(), "x".into()], vec!["s".into(), "".into()]],
        );
        assert_eq!(text, "A     BB\nlong  x\ns\n");
    }
}
