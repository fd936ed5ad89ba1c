//! Answering a peer's range fingerprints: where digests differ, narrow the range down.
//!
//! A peer's [`RangeSummary`] says how its digest looks over a range of the name order. If
//! ours looks the same, nothing is said. Otherwise the range is answered with what moves
//! the exchange closest to the differing nodes:
//!
//! * our page of the range (every entry), when we hold few nodes there (16, or 48 when
//!   the peer holds twice as many) or the range is one hash wide: the peer can then tell
//!   what each side lacks;
//! * our own summary of the same range, when the peer holds few there by that rule and we
//!   do not: the peer answers with its page, which costs less than ours;
//! * else the summaries of the range's 16 children, one level closer.
//!
//! Each answer is narrower than the claim it answers, or a page, so an exchange ends after
//! at most 16 splits whatever a peer claims.

use std::collections::HashSet;

use leviathan_gossip_wire::{
    Digest, DigestEntry, Fingerprint, NameRange, NodeName, RangeClaims, RangeSummary,
};

use crate::cluster_state::fingerprint_of;
use crate::state::ClusterState;

/// A range with at most this many nodes on one side is listed rather than split: a page
/// of 16 entries (about 300 bytes) costs about what the 16 children's summaries do.
pub const PAGE_ENTRIES: u64 = 16;

/// A side with at most this many nodes in a range where the other holds twice as many or
/// more lists it too (about 1 KB): the other side lacks much there — a joiner does
/// everywhere — and a page ends the descent at once, with the never-seen nodes in reach.
pub const OUTNUMBERED_PAGE_ENTRIES: u64 = 48;

/// Whether the side holding `mine` nodes in a range, against `other`'s, lists it.
fn lists(mine: u64, other: u64) -> bool {
    mine <= PAGE_ENTRIES || (mine <= OUTNUMBERED_PAGE_ENTRIES && other >= mine.saturating_mul(2))
}

/// Our answer to `summaries` in at most `budget` bytes of encoded claims (counts
/// included). Summaries are answered from index `start` on, and a split's children from
/// child `start` on (both modulo their number, wrapping), so that when the budget cannot
/// hold every answer, not always the same ranges wait: callers pass a random `start`.
pub fn answer_summaries(
    state: &ClusterState,
    summaries: &[RangeSummary],
    budget: usize,
    start: usize,
) -> RangeClaims {
    let mut answer = RangeClaims::default();
    let mut used = RangeClaims::EMPTY_LEN;
    let first_summary = start % summaries.len().max(1);
    let (before, after) = summaries.split_at(first_summary);
    for theirs in after.iter().chain(before) {
        let ours = state.fingerprint(&theirs.range);
        if ours == theirs.fingerprint {
            continue;
        }
        let listable = lists(ours.count, theirs.fingerprint.count)
            || theirs.range.bits() == NameRange::MAX_BITS;
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
        if lists(theirs.fingerprint.count, ours.count) && !listable {
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
        // As many children as fit, from a varying one on: each is a claim of its own, and
        // those left out are compared in a later round.
        let children: Vec<NameRange> = theirs.range.children().collect();
        let first_child = start % children.len().max(1);
        let (before, after) = children.split_at(first_child);
        for &range in after.iter().chain(before) {
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

/// Whether `theirs` is what our fingerprint over its range would be if our entries for
/// the nodes `news` names were the peer's: then the news alone explains the difference,
/// and comparing it (as every news entry is) leaves nothing for ranges to find. A write
/// in flight makes every digest differ until it has spread; this keeps each exchange
/// meanwhile from descending to it. Repeated names count once.
pub fn explained_by_news(
    state: &ClusterState,
    theirs: &RangeSummary,
    news: &[DigestEntry],
) -> bool {
    let mut expected = state.fingerprint(&theirs.range);
    // A set: a peer's Syn may repeat names on purpose, and each summary walks the news.
    let mut seen: HashSet<&NodeName> = HashSet::with_capacity(news.len());
    for entry in news {
        if !theirs.range.contains(&entry.name) || !seen.insert(&entry.name) {
            continue;
        }
        if let Some(node) = state.get(&entry.name) {
            expected = expected - fingerprint_of(&entry.name, node);
        }
        let claimed = Fingerprint::of_entry(
            &entry.name,
            entry.generation,
            entry.incarnation,
            entry.max_version,
            entry.gc_watermark,
            entry.status,
        );
        expected = expected + claimed;
    }
    expected == theirs.fingerprint
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
    fn a_difference_the_news_names_needs_no_descent_but_another_does() {
        let a = cluster(1_000);
        let mut b = cluster(1_000);
        let written = NodeName::new("node-7").unwrap();
        b.get_mut(&written)
            .unwrap()
            .write(Key::new("k").unwrap(), Some(Bytes::from_static(b"v")));
        let news = [b[&written].digest_entry(&written)];
        let summary = RangeSummary {
            range: NameRange::ALL,
            fingerprint: b.fingerprint(&NameRange::ALL),
        };
        assert!(explained_by_news(&a, &summary, &news));
        let other = NodeName::new("node-8").unwrap();
        b.get_mut(&other)
            .unwrap()
            .write(Key::new("k").unwrap(), None);
        let summary = RangeSummary {
            range: NameRange::ALL,
            fingerprint: b.fingerprint(&NameRange::ALL),
        };
        assert!(!explained_by_news(&a, &summary, &news));
    }

    #[test]
    fn a_split_cut_short_by_the_budget_leaves_out_other_children_each_time() {
        let a = cluster(100);
        let b = cluster(2_000);
        let root = [RangeSummary {
            range: NameRange::ALL,
            fingerprint: a.fingerprint(&NameRange::ALL),
        }];
        let mut answered = std::collections::BTreeSet::new();
        for start in 0..16 {
            // Room for about half of the 16 children.
            let answer = answer_summaries(&b, &root[..], 100, start);
            assert!(answer.summaries.len() < 16);
            answered.extend(answer.summaries.iter().map(|s| s.range.prefix()));
        }
        assert_eq!(answered.len(), 16, "children never answered: {answered:?}");
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
