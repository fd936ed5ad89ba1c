//! News: nodes whose state changed lately, advertised in every Syn beside the digest's
//! fingerprint.
//!
//! Reconciliation finds a difference only once two nodes compare, and a write spread by
//! pull alone would take about log₂ N + ln N rounds. News entries make the change itself
//! travel like a rumour: every node that learns it advertises it in its next Syns, for a
//! number of sends that grows with log N (memberlist's retransmit rule), so it reaches
//! everyone in O(log N) rounds while reconciliation remains the backstop that repairs
//! whatever a rumour missed.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};

use leviathan_gossip_wire::NodeName;

/// Sends per news item for each decimal digit of the cluster size: with fanout f a rumour
/// sent `mult · ⌈log10(N+1)⌉` times leaves a fraction ≈ N^(−mult·f/ln 10) of nodes
/// uninformed.
const RETRANSMIT_MULT: u32 = 4;
/// Most items queued; beyond it the most-sent ones are dropped (reconciliation repairs
/// them).
const MAX_QUEUED: usize = 256;

/// Changed nodes still to be advertised, least-sent (then newest) first.
///
/// A change always goes first (no sends yet, newest) and the item dropped for it is always
/// the last, so the queue is a deque sorted by urgency: while a large cluster forms, a node
/// queues thousands of discoveries a second, each at a cost of O(1) besides one hash
/// lookup. Only sends and re-queued changes move items within it.
#[derive(Debug, Clone, Default)]
pub struct NewsQueue {
    /// Queued items, most urgent first: by sends, then newest.
    order: VecDeque<Item>,
    /// The key of each queued node's item in `order`.
    by_name: HashMap<NodeName, Urgency>,
    next_age: u64,
}

/// How urgent an item is: fewer sends first, then a smaller age. Ages decrease with every
/// change, so a smaller age is a newer change, and no two are equal.
type Urgency = (u32, u64);

#[derive(Debug, Clone)]
struct Item {
    sends: u32,
    age: u64,
    name: NodeName,
}

impl Item {
    fn urgency(&self) -> Urgency {
        (self.sends, self.age)
    }
}

impl NewsQueue {
    /// Queues (or re-queues, with its sends reset) a node whose state changed.
    pub fn changed(&mut self, name: &NodeName) {
        let age = u64::MAX - self.next_age;
        self.next_age = self.next_age.wrapping_add(1);
        let name = match self.by_name.entry(name.clone()) {
            Entry::Occupied(mut queued) => {
                let before = std::mem::replace(queued.get_mut(), (0, age));
                let name = queued.key().clone();
                self.take(before);
                name
            }
            Entry::Vacant(vacant) => {
                let name = vacant.key().clone();
                vacant.insert((0, age));
                name
            }
        };
        // No sends and the newest age: more urgent than every queued item.
        self.order.push_front(Item {
            sends: 0,
            age,
            name,
        });
        while self.order.len() > MAX_QUEUED {
            let Some(dropped) = self.order.pop_back() else {
                break;
            };
            self.by_name.remove(&dropped.name);
        }
    }

    /// Stops advertising `name` (it was removed or replaced).
    pub fn forget(&mut self, name: &NodeName) {
        if let Some(queued) = self.by_name.remove(name) {
            self.take(queued);
        }
    }

    /// The least-sent items in order, for as long as `take` accepts them; each accepted
    /// one counts as sent once and leaves the queue after its last send, for a cluster
    /// of `cluster_size` nodes.
    pub fn send(&mut self, cluster_size: usize, mut take: impl FnMut(&NodeName) -> bool) {
        let limit = retransmit_limit(cluster_size);
        let accepted = self
            .order
            .iter()
            .take_while(|item| take(&item.name))
            .count();
        if accepted == 0 {
            return;
        }
        let mut sent: Vec<Item> = Vec::with_capacity(accepted);
        for mut item in self.order.drain(..accepted) {
            item.sends += 1;
            if item.sends >= limit {
                self.by_name.remove(&item.name);
            } else {
                if let Some(queued) = self.by_name.get_mut(&item.name) {
                    *queued = item.urgency();
                }
                sent.push(item);
            }
        }
        // Both runs are sorted by urgency (the sent ones kept their order): merge them.
        let rest = std::mem::take(&mut self.order);
        let mut merged = VecDeque::with_capacity(rest.len() + sent.len());
        let mut sent = sent.into_iter().peekable();
        let mut rest = rest.into_iter().peekable();
        loop {
            let next = match (sent.peek(), rest.peek()) {
                (Some(a), Some(b)) if a.urgency() < b.urgency() => sent.next(),
                (_, Some(_)) => rest.next(),
                (Some(_), None) => sent.next(),
                (None, None) => break,
            };
            merged.extend(next);
        }
        self.order = merged;
    }

    /// Removes the item of urgency `urgency` from the order.
    fn take(&mut self, urgency: Urgency) {
        if let Ok(at) = self
            .order
            .binary_search_by(|item| item.urgency().cmp(&urgency))
        {
            self.order.remove(at);
        }
    }

    /// The queued items, least-sent (then newest) first, without counting a send.
    pub fn peek(&self) -> impl Iterator<Item = &NodeName> {
        self.order.iter().map(|item| &item.name)
    }

    /// Number of queued items.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether nothing is queued.
    #[cfg(test)]
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
    fn the_queue_behaves_like_a_sorted_list_of_its_items() {
        use rand::{Rng, SeedableRng};
        // The model: every queued (sends, age, name), sorted, rebuilt from scratch.
        let mut model: Vec<(u32, u64, String)> = Vec::new();
        let mut queue = NewsQueue::default();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let size = 9; // 4 sends per item
        for step in 0u64..20_000 {
            let n = rng.random_range(0..300u32);
            match rng.random_range(0..10) {
                0..=6 => {
                    queue.changed(&name(n));
                    model.retain(|(_, _, m)| *m != format!("n{n}"));
                    model.push((0, u64::MAX - step, format!("n{n}")));
                    model.sort();
                    model.truncate(MAX_QUEUED);
                }
                7 => {
                    queue.forget(&name(n));
                    model.retain(|(_, _, m)| *m != format!("n{n}"));
                }
                _ => {
                    let at_most = rng.random_range(0..20);
                    let taken = sent(&mut queue, size, at_most);
                    let expected: Vec<String> = model
                        .iter()
                        .take(at_most)
                        .map(|(_, _, m)| m.clone())
                        .collect();
                    assert_eq!(taken, expected, "step {step}");
                    for item in model.iter_mut().take(at_most) {
                        item.0 += 1;
                    }
                    model.retain(|(sends, _, _)| *sends < 4);
                    model.sort();
                }
            }
            // Ages in the model count steps, the queue's count changes: compare orders.
            let names: Vec<String> = queue.peek().map(ToString::to_string).collect();
            let expected: Vec<String> = model.iter().map(|(_, _, m)| m.clone()).collect();
            assert_eq!(names, expected, "step {step}");
        }
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
