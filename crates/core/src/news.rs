//! News: nodes whose state changed lately, advertised in every Syn beside the digest page.
//!
//! A digest page covers a slice of the sorted names; in a cluster of thousands, the slice
//! that holds a freshly written node comes round only every N / page-size exchanges, so
//! anti-entropy alone spreads a write in O(N) rounds. News entries make the change itself
//! travel like a rumour: every node that learns it advertises it in its next Syns, for a
//! number of sends that grows with log N (memberlist's retransmit rule), so it reaches
//! everyone in O(log N) rounds while the pages remain the backstop that repairs whatever a
//! rumour missed.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use leviathan_gossip_wire::NodeName;

/// Sends per news item for each decimal digit of the cluster size: with fanout f a rumour
/// sent `mult · ⌈log10(N+1)⌉` times leaves a fraction ≈ N^(−mult·f/ln 10) of nodes
/// uninformed.
const RETRANSMIT_MULT: u32 = 4;
/// Most items queued; beyond it the most-sent ones are dropped (the pages repair them).
const MAX_QUEUED: usize = 256;

/// Changed nodes still to be advertised, least-sent (then newest) first.
#[derive(Debug, Clone, Default)]
pub struct NewsQueue {
    /// `(sends, age)` of each queued node; `age` decreases with every change, so a
    /// smaller age is a newer change (and no two are equal).
    by_name: HashMap<NodeName, (u32, u64)>,
    order: BTreeMap<(u32, u64), NodeName>,
    next_age: u64,
}

impl NewsQueue {
    /// Queues (or re-queues, with its sends reset) a node whose state changed.
    pub fn changed(&mut self, name: &NodeName) {
        let age = u64::MAX - self.next_age;
        self.next_age = self.next_age.wrapping_add(1);
        // One lookup for both cases: a large cluster's formation queues thousands of
        // discoveries a second.
        match self.by_name.entry(name.clone()) {
            Entry::Occupied(mut queued) => {
                let before = std::mem::replace(queued.get_mut(), (0, age));
                let name = self.order.remove(&before).unwrap_or_else(|| name.clone());
                self.order.insert((0, age), name);
            }
            Entry::Vacant(vacant) => {
                vacant.insert((0, age));
                self.order.insert((0, age), name.clone());
            }
        }
        while self.order.len() > MAX_QUEUED {
            let Some((_, dropped)) = self.order.pop_last() else {
                break;
            };
            self.by_name.remove(&dropped);
        }
    }

    /// Stops advertising `name` (it was removed or replaced).
    pub fn forget(&mut self, name: &NodeName) {
        if let Some(queued) = self.by_name.remove(name) {
            self.order.remove(&queued);
        }
    }

    /// The least-sent items in order, for as long as `take` accepts them; each accepted
    /// one counts as sent once and leaves the queue after its last send, for a cluster
    /// of `cluster_size` nodes.
    pub fn send(&mut self, cluster_size: usize, mut take: impl FnMut(&NodeName) -> bool) {
        let limit = retransmit_limit(cluster_size);
        let mut sent = Vec::new();
        for (queued, name) in &self.order {
            if !take(name) {
                break;
            }
            sent.push(*queued);
        }
        for (sends, age) in sent {
            let Some(name) = self.order.remove(&(sends, age)) else {
                continue;
            };
            if sends + 1 >= limit {
                self.by_name.remove(&name);
            } else {
                if let Some(queued) = self.by_name.get_mut(&name) {
                    *queued = (sends + 1, age);
                }
                self.order.insert((sends + 1, age), name);
            }
        }
    }

    /// The queued items, least-sent (then newest) first, without counting a send.
    pub fn peek(&self) -> impl Iterator<Item = &NodeName> {
        self.order.values()
    }

    /// Number of queued items.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// Sends per item: `RETRANSMIT_MULT · ⌈log10(N + 1)⌉`.
fn retransmit_limit(cluster_size: usize) -> u32 {
    let target = cluster_size as u128 + 1;
    let mut digits = 0;
    let mut power = 1u128;
    while power < target {
        power *= 10;
        digits += 1;
    }
    RETRANSMIT_MULT * digits.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: u32) -> NodeName {
        NodeName::new(format!("n{n}")).unwrap()
    }

    fn sent(queue: &mut NewsQueue, size: usize, at_most: usize) -> Vec<String> {
        let mut taken = Vec::new();
        queue.send(size, |name| {
            if taken.len() == at_most {
                return false;
            }
            taken.push(name.to_string());
            true
        });
        taken
    }

    #[test]
    fn least_sent_then_newest_first_and_gone_after_the_limit() {
        let mut queue = NewsQueue::default();
        queue.changed(&name(1));
        queue.changed(&name(2));
        assert_eq!(sent(&mut queue, 9, 1), ["n2"]);
        assert_eq!(sent(&mut queue, 9, 1), ["n1"]);
        queue.changed(&name(3));
        assert_eq!(sent(&mut queue, 9, 3), ["n3", "n2", "n1"]);
        // N = 9: 4 sends each. n1 and n2 have 2 so far, n3 has 1.
        for _ in 0..2 {
            sent(&mut queue, 9, 3);
        }
        assert_eq!(sent(&mut queue, 9, 3), ["n3"]);
        assert!(queue.is_empty());
    }

    #[test]
    fn a_new_change_resets_the_sends() {
        let mut queue = NewsQueue::default();
        queue.changed(&name(1));
        queue.changed(&name(2));
        sent(&mut queue, 9, 2);
        sent(&mut queue, 9, 2);
        queue.changed(&name(1));
        assert_eq!(sent(&mut queue, 9, 1), ["n1"]);
        assert_eq!(queue.len(), 2);
    }

    #[test]
    fn the_queue_is_bounded() {
        let mut queue = NewsQueue::default();
        for n in 0..(MAX_QUEUED as u32 + 100) {
            queue.changed(&name(n));
        }
        assert_eq!(queue.len(), MAX_QUEUED);
        // The newest survive.
        assert_eq!(sent(&mut queue, 9, 1), [format!("n{}", MAX_QUEUED + 99)]);
    }

    #[test]
    fn the_limit_grows_with_log_n() {
        assert_eq!(retransmit_limit(1), 4);
        assert_eq!(retransmit_limit(9), 4);
        assert_eq!(retransmit_limit(10), 8);
        assert_eq!(retransmit_limit(1_000), 16);
        assert_eq!(retransmit_limit(10_000), 20);
    }
}
