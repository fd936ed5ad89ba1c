//! Digests: building bounded pages of what this node knows, and comparing a peer's digest
//! with this node's state to learn who is behind on what.

use leviathan_gossip_wire::{
    COUNT_LEN, Digest, DigestEntry, Generation, Incarnation, NodeName, NodeStatus, Version,
    string_len,
};

use crate::quarantine::Quarantine;
use crate::state::{ClusterState, NodeState};

/// Where the next digest page starts. Pages walk the sorted names and wrap around, so
/// every node is covered once per cycle however large the cluster.
#[derive(Debug, Clone, Default)]
pub struct DigestCursor {
    next_start: Option<NodeName>,
}

impl DigestCursor {
    /// The next page: as many entries from the cursor on as fit in `budget` bytes (the
    /// encoded digest, bounds and count included). Advances the cursor past them.
    pub fn next_page(&mut self, state: &ClusterState, budget: usize) -> Digest {
        let start = self.next_start.take();
        let mut used = Digest::empty_len(start.as_ref(), None);
        let mut entries = Vec::new();
        let mut end = None;
        let mut nodes = match &start {
            None => state.range::<NodeName, _>(..),
            Some(start) => state.range(start.clone()..),
        }
        .peekable();
        while let Some((name, node)) = nodes.next() {
            let entry = node.digest_entry(name);
            // If this entry is the page's last, the next name becomes the end bound.
            let end_len = nodes
                .peek()
                .map_or(0, |(next, _)| string_len(next.as_str()));
            if used + entry.encoded_len() + end_len > budget {
                end = Some(name.clone());
                break;
            }
            used += entry.encoded_len();
            entries.push(entry);
        }
        // A page cut short resumes at its end bound; a page that reached the last name
        // wraps to the beginning.
        self.next_start = end.clone();
        Digest {
            start,
            end,
            entries,
        }
    }
}

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
    let ours = match &digest.start {
        None => state.range::<NodeName, _>(..),
        Some(start) => state.range(start.clone()..),
    }
    .take_while(|(name, _)| digest.end.as_ref().is_none_or(|end| *name < end));
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

/// Compares a Syn's news (entries outside its page) with our state, like page entries but
/// with no meaning for the nodes they omit. Entries the page covers, and repeated names,
/// are skipped: a well-formed Syn has neither.
pub fn reconcile_news(
    state: &ClusterState,
    own: &NodeName,
    quarantine: &Quarantine,
    page: &Digest,
    news: &[DigestEntry],
) -> Reconciliation {
    let mut result = Reconciliation::default();
    let mut seen: Vec<&NodeName> = Vec::with_capacity(news.len());
    for entry in news {
        if page.covers(&entry.name) || seen.contains(&&entry.name) {
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
    use leviathan_gossip_wire::{Key, NodeId};

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
    fn pages_cover_every_node_once_per_cycle() {
        let names: Vec<String> = (0..500).map(|i| format!("node-{i:04}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let state = cluster(&refs);
        let mut cursor = DigestCursor::default();
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let page = cursor.next_page(&state, 300);
            assert!(
                page.encoded_len() <= 300,
                "page of {} bytes",
                page.encoded_len()
            );
            assert!(!page.entries.is_empty());
            seen.extend(page.entries.iter().map(|e| e.name.to_string()));
            pages += 1;
            if page.end.is_none() {
                break;
            }
        }
        assert!(pages > 1);
        // Every name once, in the order of names (by their hash).
        let mut expected: Vec<NodeName> = refs.iter().map(|n| NodeName::new(n).unwrap()).collect();
        expected.sort();
        let expected: Vec<String> = expected.iter().map(ToString::to_string).collect();
        assert_eq!(seen, expected);
        // The cycle starts again from the beginning.
        assert_eq!(cursor.next_page(&state, 300).start, None);
    }

    #[test]
    fn omitted_nodes_in_range_are_never_seen_and_outside_range_ignored() {
        let state = cluster(&["a", "b", "c", "d"]);
        // Names in their order: the page covers the second and third.
        let ordered: Vec<&NodeName> = state.keys().collect();
        let own = ordered[0].clone();
        let mut digest = Digest {
            start: Some(ordered[1].clone()),
            end: Some(ordered[3].clone()),
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
        assert_eq!(candidates, [ordered[1], ordered[2]]);
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
