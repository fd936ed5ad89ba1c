//! Building deltas that fit a byte budget, in scuttle-depth order.

use leviathan_gossip_wire::{COUNT_LEN, NodeDelta, Record};
use rand::Rng;
use rand::seq::SliceRandom;

use crate::digest::{DeltaCandidate, Lag};
use crate::state::ClusterState;

/// Smallest useful room left for another delta (a header with short names); below it the
/// builder stops looking.
const MIN_DELTA_LEN: usize = 24;
/// Candidates in a row whose delta header no longer fits before the builder gives up:
/// scanning thousands of candidates for one with a shorter name is not worth the time.
const MAX_MISFITS: usize = 8;

/// Orders candidates: nodes the peer never saw first (shuffled, so peers joining at once
/// learn different nodes first), then the most-behind nodes (scuttle depth), then nodes
/// whose incarnation or status alone is newer.
pub fn order_candidates(candidates: &mut [DeltaCandidate], rng: &mut impl Rng) {
    candidates.shuffle(rng);
    // Stable sort keeps the shuffle among equals.
    candidates.sort_by(|a, b| {
        a.lag.cmp(&b.lag).then_with(|| match a.lag {
            Lag::NeverSeen => std::cmp::Ordering::Equal,
            Lag::Reset | Lag::Behind | Lag::IncarnationOnly => b.missing.cmp(&a.missing),
        })
    });
}

/// Builds deltas for ordered `candidates` whose encoding (the `u16` count included) takes
/// at most `budget` bytes. Each node's records go in version order and stop where the
/// budget does, so every delta is a valid prefix of what the peer lacks; a delta that
/// holds them all says it reaches our `max_version` (beyond its last record when our last
/// versions were collected tombstones). A [`Lag::IncarnationOnly`] candidate gets a delta
/// without records.
pub fn build_deltas(
    state: &ClusterState,
    candidates: &[DeltaCandidate],
    budget: usize,
) -> Vec<NodeDelta> {
    let mut remaining = budget.saturating_sub(COUNT_LEN);
    let mut deltas = Vec::new();
    let mut misfits = 0;
    for candidate in candidates {
        if remaining < MIN_DELTA_LEN || misfits >= MAX_MISFITS {
            break;
        }
        let Some(node) = state.get(&candidate.name) else {
            continue;
        };
        let mut delta = NodeDelta {
            node: node.node_id(&candidate.name),
            incarnation: node.incarnation(),
            status: node.status(),
            gc_watermark: node.gc_watermark(),
            from_version: candidate.from_version,
            records: Vec::new(),
            to_version: candidate.from_version,
            complete: false,
        };
        let mut used = delta.header_len();
        if used > remaining {
            misfits += 1;
            continue;
        }
        misfits = 0;
        let mut complete = true;
        if candidate.lag != Lag::IncarnationOnly {
            for record in node.records_after(candidate.from_version) {
                let len = record.encoded_len();
                if used + len > remaining {
                    complete = false;
                    break;
                }
                used += len;
                delta.records.push(record);
            }
        }
        delta.to_version = delta.last_version();
        if complete && candidate.lag != Lag::IncarnationOnly {
            // Saying so may take a longer varint (its distance from the last version);
            // when it does not fit, the peer simply asks again.
            let last = delta.last_version();
            let reach = node.max_version().max(last);
            let bare = |to_version, complete| NodeDelta {
                node: delta.node.clone(),
                from_version: last,
                records: Vec::new(),
                to_version,
                complete,
                ..delta
            };
            let extra = bare(reach, true)
                .header_len()
                .saturating_sub(bare(last, false).header_len());
            if used + extra <= remaining {
                used += extra;
                delta.to_version = reach;
                delta.complete = true;
            }
        }
        remaining -= used;
        deltas.push(delta);
    }
    deltas
}

/// Encoded size of the largest record a node could ever send for `key` with a value of
/// `value_len` bytes, for refusing writes that could never be gossiped.
pub fn worst_case_record_len(key: &leviathan_gossip_wire::Key, value_len: usize) -> usize {
    Record::encoded_len_for(
        key,
        leviathan_gossip_wire::Version(u64::MAX),
        Some(value_len),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::NodeState;
    use bytes::Bytes;
    use leviathan_gossip_wire::{Generation, Incarnation, Key, NodeId, NodeName, Version};
    use rand::SeedableRng;

    fn state_with(records: usize) -> ClusterState {
        let name = NodeName::new("owner").unwrap();
        let mut node = NodeState::new(
            NodeId {
                name: name.clone(),
                address: "127.0.0.1:1".parse().unwrap(),
                generation: Generation(1),
            },
            Incarnation(9),
        );
        for i in 0..records {
            node.write(
                Key::new(format!("key-{i}")).unwrap(),
                Some(Bytes::from(vec![0u8; 50])),
            );
        }
        [(name, node)].into_iter().collect()
    }

    #[test]
    fn a_truncated_delta_is_a_gap_free_prefix_within_budget() {
        let state = state_with(100);
        let candidate = DeltaCandidate {
            name: NodeName::new("owner").unwrap(),
            lag: Lag::Behind,
            from_version: Version(10),
            missing: 90,
        };
        for budget in [40, 100, 500, 1000, 5000] {
            let deltas = build_deltas(&state, std::slice::from_ref(&candidate), budget);
            let len = COUNT_LEN + deltas.iter().map(NodeDelta::encoded_len).sum::<usize>();
            assert!(len <= budget, "{len} > {budget}");
            for delta in deltas {
                let versions: Vec<u64> = delta.records.iter().map(|r| r.version.0).collect();
                let expected: Vec<u64> = (11..11 + versions.len() as u64).collect();
                assert_eq!(versions, expected);
            }
        }
    }

    #[test]
    fn never_seen_nodes_come_first_then_the_most_behind() {
        let candidate = |name: &str, lag, missing| DeltaCandidate {
            name: NodeName::new(name).unwrap(),
            lag,
            from_version: Version(0),
            missing,
        };
        let mut candidates = vec![
            candidate("hb", Lag::IncarnationOnly, 0),
            candidate("little", Lag::Behind, 1),
            candidate("new", Lag::NeverSeen, 0),
            candidate("much", Lag::Behind, 50),
        ];
        order_candidates(
            &mut candidates,
            &mut rand_chacha::ChaCha8Rng::seed_from_u64(1),
        );
        let names: Vec<&str> = candidates.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["new", "much", "little", "hb"]);
    }
}
