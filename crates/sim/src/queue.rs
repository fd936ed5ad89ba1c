//! The event queue: a min-heap of (time, sequence number, item). The sequence number makes
//! the order of simultaneous items the order they were scheduled in, so runs are
//! deterministic.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::time::Duration;

/// Items ordered by (time, insertion order).
#[derive(Debug)]
pub(crate) struct Queue<T> {
    heap: BinaryHeap<Reverse<Entry<T>>>,
    next_seq: u64,
}

#[derive(Debug)]
struct Entry<T> {
    at: Duration,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl<T> Eq for Entry<T> {}

impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue {
            heap: BinaryHeap::new(),
            next_seq: 0,
        }
    }
}

impl<T> Queue<T> {
    /// Schedules `item` at `at`, after everything already scheduled at `at`.
    pub(crate) fn push(&mut self, at: Duration, item: T) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Reverse(Entry { at, seq, item }));
    }

    /// Time of the earliest item.
    pub(crate) fn peek_at(&self) -> Option<Duration> {
        self.heap.peek().map(|Reverse(entry)| entry.at)
    }

    /// The earliest item and its time.
    pub(crate) fn peek(&self) -> Option<(Duration, &T)> {
        self.heap
            .peek()
            .map(|Reverse(entry)| (entry.at, &entry.item))
    }

    /// Removes the earliest item.
    pub(crate) fn pop(&mut self) -> Option<(Duration, T)> {
        self.heap.pop().map(|Reverse(entry)| (entry.at, entry.item))
    }

    /// Number of items scheduled.
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simultaneous_items_keep_insertion_order() {
        let mut queue = Queue::default();
        let t = Duration::from_millis;
        queue.push(t(5), "late");
        queue.push(t(1), "first");
        queue.push(t(1), "second");
        queue.push(t(3), "middle");
        let order: Vec<&str> = std::iter::from_fn(|| queue.pop().map(|(_, item)| item)).collect();
        assert_eq!(order, ["first", "second", "middle", "late"]);
    }
}
