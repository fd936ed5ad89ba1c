//! Digests: comparing a peer's digest entries (a page, news, requests) with this node's
//! state to learn who is behind on what.

use leviathan_gossip_wire::{
    COUNT_LEN, Digest, DigestEntry, Generation, Incarnation, NodeName, NodeStatus, Version,
};

use crate::quarantine::Quarantine;
use crate::state::{ClusterState, NodeState};

/// How a peer's knowledge of one node compares with ours, when ours is ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lag {
    /// The peer never saw this incarnation: it gets the node before all others, so
    /// membership spreads even while bulk state is pending.
    NeverSeen,
    /// The peer knows less than our garbage-collection watermark: it may hold values whose
    /// tombstones are gone, so it gets the node's whole state from version 0 (a reset),
    /// which it takes in place of what it had.
    Reset,
    /// The peer misses records of this incarnation.
    Behind,
    /// The peer has every record but an older incarnation or status.
    IncarnationOnly,
}

/// A node whose state the peer lacks, and from which version to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaCandidate {
    /// The node.
    pub name: NodeName,
    /// How far behind the peer is.
    pub lag: Lag,
    /// The peer holds every record up to this version.
    pub from_version: Version,
    /// Number of current records the peer lacks (the scuttle depth); 0 for
    /// [`Lag::NeverSeen`], whose order is random.
    pub missing: usize,
}

/// The outcome of comparing a peer's digest with our state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciliation {
    /// Nodes we are behind on, with how far our knowledge goes (generation 0 and version
    /// 0 for nodes we never saw).
    pub requests: Vec<DigestEntry>,
    /// Nodes the peer is behind on.
    pub candidates: Vec<DeltaCandidate>,
}

/// Compares a digest page with our state: every node of ours inside the page's range that
/// the page omits is unknown to the peer; every entry is compared with our knowledge.
/// `own` is this node's name: we never ask others about ourselves, nor about removed
/// incarnations still in `quarantine`.
pub fn reconcile_page(
    state: &ClusterState,
    own: &NodeName,
    quarantine: &Quarantine,
    digest: &Digest,
) -> Reconciliation {
    let mut result = Reconciliation::default();
    let mut entries = digest.entries.iter().peekable();
    let ours = state.in_range(&digest.range);
    // Both sides are sorted by name: a merge walk. Entries are trusted to be sorted only
    // for efficiency; an unsorted page merely yields extra requests or candidates.
    for (name, node) in ours {
        while let Some(entry) = entries.next_if(|entry| entry.name < *name) {
            request_unknown(&mut result, own, quarantine, entry);
        }
        match entries.next_if(|entry| entry.name == *name) {
            Some(entry) => compare(&mut result, own, node, entry),
            None => result.candidates.push(never_seen(name)),
        }
    }
    for entry in entries {
        request_unknown(&mut result, own, quarantine, entry);
    }
    result
}

/// Compares a Syn's news with our state, like page entries but with no meaning for the
/// nodes they omit. Repeated names are skipped: a well-formed Syn has none.
pub fn reconcile_news(
    state: &ClusterState,
    own: &NodeName,
    quarantine: &Quarantine,
    news: &[DigestEntry],
) -> Reconciliation {
    let mut result = Reconciliation::default();
    let mut seen: Vec<&NodeName> = Vec::with_capacity(news.len());
    for entry in news {
        if seen.contains(&&entry.name) {
            continue;
        }
        seen.push(&entry.name);
        match state.get(&entry.name) {
            Some(node) => compare(&mut result, own, node, entry),
            None => request_unknown(&mut result, own, quarantine, entry),
        }
    }
    result
}

/// Compares the requests of a `SynAck` with our state: which of them can we serve?
pub fn reconcile_requests(state: &ClusterState, requests: &[DigestEntry]) -> Vec<DeltaCandidate> {
    requests
        .iter()
        .filter_map(|entry| {
            let node = state.get(&entry.name)?;
            lag_of(node, entry)
        })
        .collect()
}

fn request_unknown(
    result: &mut Reconciliation,
    own: &NodeName,
    quarantine: &Quarantine,
    entry: &DigestEntry,
) {
    if entry.name == *own
        || !digest_entry_is_coherent(entry)
        || quarantine.holds(&entry.name, entry.generation, entry.incarnation)
    {
        return;
    }
    result.requests.push(DigestEntry {
        name: entry.name.clone(),
        generation: Generation(0),
        incarnation: Incarnation(0),
        max_version: Version(0),
        gc_watermark: Version(0),
        status: NodeStatus::Alive,
    });
}

fn compare(result: &mut Reconciliation, own: &NodeName, node: &NodeState, entry: &DigestEntry) {
    if let Some(candidate) = lag_of(node, entry) {
        result.candidates.push(candidate);
        return;
    }
    let ours = node.generation();
    // A peer past a watermark we lag behind cannot help by itself (only a reset from
    // version 0 can), but asking tells it to send one.
    let peer_ahead = entry.generation > ours
        || (entry.generation == ours
            && (entry.max_version > node.max_version()
                || (entry.gc_watermark > node.gc_watermark()
                    && node.max_version() < entry.gc_watermark)));
    if peer_ahead && entry.name != *own {
        result.requests.push(node.digest_entry(&entry.name));
    }
}

/// Whether (and how far) a peer at `entry` is behind our knowledge of `node`.
fn lag_of(node: &NodeState, entry: &DigestEntry) -> Option<DeltaCandidate> {
    let ours = node.generation();
    if entry.generation < ours {
        return Some(never_seen(&entry.name));
    }
    if entry.generation > ours {
        return None;
    }
    if node.gc_watermark() > entry.gc_watermark && entry.max_version < node.gc_watermark() {
        return Some(DeltaCandidate {
            name: entry.name.clone(),
            lag: Lag::Reset,
            from_version: Version(0),
            missing: node.records_after_count(Version(0)),
        });
    }
    // Our records are current as of our horizon; a peer resetting to a higher watermark
    // must not take records that a tombstone it never saw may have replaced.
    if entry.max_version < node.max_version() && node.horizon() >= entry.gc_watermark {
        return Some(DeltaCandidate {
            name: entry.name.clone(),
            lag: Lag::Behind,
            from_version: entry.max_version,
            missing: node.records_after_count(entry.max_version),
        });
    }
    let news = entry.incarnation < node.incarnation()
        || entry.status < node.status()
        || entry.gc_watermark < node.gc_watermark();
    news.then(|| DeltaCandidate {
        name: entry.name.clone(),
        lag: Lag::IncarnationOnly,
        from_version: entry.max_version.min(node.max_version()),
        missing: 0,
    })
}

fn never_seen(name: &NodeName) -> DeltaCandidate {
    DeltaCandidate {
        name: name.clone(),
        lag: Lag::NeverSeen,
        from_version: Version(0),
        // Never-seen nodes are sent in random order, not by depth: counting their records
        // would cost a scan per node of a large cluster to send the few that fit.
        missing: 0,
    }
}

/// An entry claiming a generation of 0 is a request placeholder, not knowledge.
fn digest_entry_is_coherent(entry: &DigestEntry) -> bool {
    entry.generation.0 > 0
}

/// Encoded size of the requests list holding `entries`.
pub fn requests_len(entries: &[DigestEntry]) -> usize {
    COUNT_LEN + entries.iter().map(DigestEntry::encoded_len).sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use leviathan_gossip_wire::{Key, NameRange, NodeId};

    fn cluster(names: &[&str]) -> ClusterState {
        names
            .iter()
            .map(|name| {
                let name = NodeName::new(name).unwrap();
                let mut node = NodeState::new(
                    NodeId {
                        name: name.clone(),
                        address: "127.0.0.1:1".parse().unwrap(),
                        generation: Generation(7),
                    },
                    Incarnation(1),
                );
                node.write(Key::new("k").unwrap(), Some(Bytes::from_static(b"v")));
                (name, node)
            })
            .collect()
    }

    #[test]
    fn omitted_nodes_in_range_are_never_seen_and_outside_range_ignored() {
        let state = cluster(&["a", "b", "c", "d"]);
        // A range holding some of the names but not all.
        let range = (1..=8)
            .flat_map(|bits| {
                let ordered: Vec<&NodeName> = state.keys().collect();
                let prefix = ordered[1].order_hash() >> (64 - bits);
                NameRange::new(bits, prefix)
            })
            .find(|range| state.keys().filter(|name| range.contains(name)).count() < 4)
            .unwrap();
        let inside: Vec<&NodeName> = state.keys().filter(|name| range.contains(name)).collect();
        let own = state
            .keys()
            .find(|name| !range.contains(name))
            .unwrap()
            .clone();
        let mut digest = Digest {
            range,
            entries: Vec::new(),
        };
        let unknown = (0..)
            .filter_map(|i| NodeName::new(format!("x{i}")).ok())
            .find(|name| digest.covers(name))
            .unwrap();
        digest.entries = vec![DigestEntry {
            name: unknown.clone(),
            generation: Generation(3),
            incarnation: Incarnation(0),
            max_version: Version(4),
            gc_watermark: Version(0),
            status: NodeStatus::Alive,
        }];
        let result = reconcile_page(&state, &own, &Quarantine::default(), &digest);
        let candidates: Vec<&NodeName> = result.candidates.iter().map(|c| &c.name).collect();
        assert_eq!(candidates, inside);
        assert!(result.candidates.iter().all(|c| c.lag == Lag::NeverSeen));
        assert_eq!(result.requests.len(), 1);
        assert_eq!(result.requests[0].name, unknown);
        assert_eq!(result.requests[0].generation, Generation(0));
    }

    #[test]
    fn lag_follows_generation_then_version_then_incarnation() {
        let state = cluster(&["a"]);
        let name = NodeName::new("a").unwrap();
        let node = &state[&name];
        let mut entry = node.digest_entry(&name);
        assert_eq!(lag_of(node, &entry), None);
        entry.incarnation = Incarnation(0);
        assert_eq!(
            lag_of(node, &entry).map(|c| c.lag),
            Some(Lag::IncarnationOnly)
        );
        entry.max_version = Version(0);
        assert_eq!(lag_of(node, &entry).map(|c| c.lag), Some(Lag::Behind));
        entry.generation = Generation(6);
        assert_eq!(lag_of(node, &entry).map(|c| c.lag), Some(Lag::NeverSeen));
        entry.generation = Generation(8);
        assert_eq!(lag_of(node, &entry), None);
    }
}
