//! Answering a peer's range fingerprints: where digests differ, narrow the range down.
//!
//! A peer's [`RangeSummary`] says how its digest looks over a range of the name order. If
//! ours looks the same, nothing is said. Otherwise the range is answered with what moves
//! the exchange closest to the differing nodes:
//!
//! * our page of the range (every entry), when we hold few nodes there or the range is
//!   one hash wide: the peer can then tell what each side lacks;
//! * our own summary of the same range, when the peer holds few there and we do not: the
//!   peer answers with its page, which costs less than ours;
//! * else the summaries of the range's 16 children, one level closer.
//!
//! Each answer is narrower than the claim it answers, or a page, so an exchange ends after
//! at most 16 splits whatever a peer claims.

use leviathan_gossip_wire::{Digest, NameRange, RangeClaims, RangeSummary};

use crate::state::ClusterState;

/// A range with at most this many nodes on one side is listed rather than split: a page
/// of 16 entries (about 300 bytes) costs about what the 16 children's summaries do.
pub const PAGE_ENTRIES: u64 = 16;

/// Our answer to `summaries` in at most `budget` bytes of encoded claims (counts
/// included). Summaries are answered from index `start` on, wrapping, so that when the
/// budget cannot hold every answer, not always the same ranges wait.
pub fn answer_summaries(
    state: &ClusterState,
    summaries: &[RangeSummary],
    budget: usize,
    start: usize,
) -> RangeClaims {
    let mut answer = RangeClaims::default();
    let mut used = RangeClaims::EMPTY_LEN;
    let start = if summaries.is_empty() {
        0
    } else {
        start % summaries.len()
    };
    let (before, after) = summaries.split_at(start);
    for theirs in after.iter().chain(before) {
        let ours = state.fingerprint(&theirs.range);
        if ours == theirs.fingerprint {
            continue;
        }
        let listable = ours.count <= PAGE_ENTRIES || theirs.range.bits() == NameRange::MAX_BITS;
        if listable {
            let page = page_of(state, theirs.range);
            if used + page.encoded_len() <= budget {
                used += page.encoded_len();
                answer.pages.push(page);
                continue;
            }
            if theirs.range.bits() == NameRange::MAX_BITS {
                // One hash wide and too large to list: only names crafted to collide do
                // that; nothing narrower exists.
                continue;
            }
        }
        if theirs.fingerprint.count <= PAGE_ENTRIES && !listable {
            let echo = RangeSummary {
                range: theirs.range,
                fingerprint: ours,
            };
            if used + echo.encoded_len() <= budget {
                used += echo.encoded_len();
                answer.summaries.push(echo);
            }
            continue;
        }
        // As many children as fit: each is a claim of its own, and those left out are
        // compared in a later round.
        for range in theirs.range.children() {
            let child = RangeSummary {
                range,
                fingerprint: state.fingerprint(&range),
            };
            if used + child.encoded_len() > budget {
                break;
            }
            used += child.encoded_len();
            answer.summaries.push(child);
        }
    }
    answer
}

/// Our page of `range`: every node we know there, in name order.
pub fn page_of(state: &ClusterState, range: NameRange) -> Digest {
    Digest {
        range,
        entries: state
            .in_range(&range)
            .map(|(name, node)| node.digest_entry(name))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use leviathan_gossip_wire::{Generation, Incarnation, Key, NodeId, NodeName};

    use crate::state::NodeState;

    fn cluster(count: usize) -> ClusterState {
        (0..count)
            .map(|i| {
                let name = NodeName::new(format!("node-{i}")).unwrap();
                let node = NodeState::new(
                    NodeId {
                        name: name.clone(),
                        address: "127.0.0.1:1".parse().unwrap(),
                        generation: Generation(9),
                    },
                    Incarnation(1),
                );
                (name, node)
            })
            .collect()
    }

    /// Plays both sides of an exchange about ranges only, `a` opening with its root
    /// summary; returns the pages each side ends up listing and the steps taken.
    fn descend(a: &ClusterState, b: &ClusterState) -> (Vec<Digest>, usize) {
        let mut claims = RangeClaims {
            summaries: vec![RangeSummary {
                range: NameRange::ALL,
                fingerprint: a.fingerprint(&NameRange::ALL),
            }],
            pages: Vec::new(),
        };
        let mut pages = Vec::new();
        let mut steps = 0;
        let sides = [b, a];
        while !claims.summaries.is_empty() {
            let answering = sides[steps % 2];
            claims = answer_summaries(answering, &claims.summaries, 1_400, 0);
            pages.extend(claims.pages.iter().cloned());
            steps += 1;
            assert!(steps <= 20, "no end in sight");
        }
        (pages, steps)
    }

    #[test]
    fn equal_digests_need_no_answer() {
        let (a, b) = (cluster(1_000), cluster(1_000));
        let (pages, steps) = descend(&a, &b);
        assert!(pages.is_empty());
        assert_eq!(steps, 1);
    }

    #[test]
    fn one_difference_among_thousands_is_found_in_a_few_small_steps() {
        let a = cluster(10_000);
        let mut b = cluster(10_000);
        let changed = NodeName::new("node-4321").unwrap();
        b.get_mut(&changed)
            .unwrap()
            .write(Key::new("k").unwrap(), Some(Bytes::from_static(b"v")));
        let (pages, steps) = descend(&a, &b);
        // Root, then 4-, 8- and 12-bit ranges (about 2.4 nodes each at 10,000): a page.
        assert!(steps <= 5, "{steps} steps");
        assert_eq!(pages.len(), 1);
        assert!(pages[0].covers(&changed));
        assert!(pages[0].entries.len() <= PAGE_ENTRIES as usize);
    }

    #[test]
    fn a_peer_that_knows_nothing_is_asked_for_its_page_at_once() {
        let a = cluster(1);
        let b = cluster(5_000);
        let answer = answer_summaries(
            &b,
            &[RangeSummary {
                range: NameRange::ALL,
                fingerprint: a.fingerprint(&NameRange::ALL),
            }],
            1_400,
            0,
        );
        assert_eq!(answer.summaries.len(), 1);
        assert_eq!(answer.summaries[0].range, NameRange::ALL);
        let pages = answer_summaries(&a, &answer.summaries, 1_400, 0).pages;
        assert_eq!(pages.len(), 1);
        assert_eq!(pages[0].entries.len(), 1);
    }

    #[test]
    fn answers_stay_within_the_budget() {
        let a = cluster(3);
        let b = cluster(2_000);
        let summaries: Vec<RangeSummary> = NameRange::ALL
            .children()
            .flat_map(|child| child.children().collect::<Vec<_>>())
            .map(|range| RangeSummary {
                range,
                fingerprint: a.fingerprint(&range),
            })
            .collect();
        for budget in [4, 50, 300, 1_400] {
            let answer = answer_summaries(&b, &summaries, budget, 7);
            assert!(answer.encoded_len() <= budget.max(RangeClaims::EMPTY_LEN));
        }
    }
}
