//! Own writes in two phases: the version a store records is the version applied; writes in
//! flight become visible in version order; a write the store could not record changes
//! nothing; and `write_ahead` is the sequence a driver with a store goes through.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use leviathan_gossip_core::{
    Node, NodeConfig, Output, Outputs, PreparedWrite, Store, Write, WriteAheadError, WriteError,
    write_ahead,
};
use leviathan_gossip_wire::{Generation, Key, NodeId, NodeName, Version};

fn node(name: &str, now: Instant) -> Node {
    let id = NodeId {
        name: NodeName::new(name).unwrap(),
        address: "127.0.0.1:9000".parse().unwrap(),
        generation: Generation(1),
    };
    let config = NodeConfig {
        max_keys_per_node: 3,
        ..NodeConfig::default()
    };
    Node::new(config, id, [], now, 1).unwrap()
}

fn key(k: &str) -> Key {
    Key::new(k).unwrap()
}

fn set(k: &str, v: &'static str) -> Write {
    Write::Set {
        key: key(k),
        value: Bytes::from_static(v.as_bytes()),
    }
}

fn value(node: &Node, k: &str) -> Option<Bytes> {
    node.get(node.identity().name.as_str(), k).cloned()
}

#[test]
fn a_prepared_write_is_applied_only_when_committed_at_its_version() {
    let now = Instant::now();
    let mut node = node("a", now);
    let prepared = node.prepare(set("k", "v"), now).unwrap().unwrap();
    assert_eq!(prepared.version(), Version(1));
    assert_eq!(value(&node, "k"), None, "nothing applied before commit");
    assert_eq!(node.commit(prepared), Ok(Version(1)));
    assert_eq!(value(&node, "k").as_deref(), Some(&b"v"[..]));
    assert_eq!(node.version("a", "k"), Some(Version(1)));
}

#[test]
fn writes_in_flight_become_visible_in_version_order() {
    let now = Instant::now();
    let mut node = node("a", now);
    let first = node.prepare(set("x", "1"), now).unwrap().unwrap();
    let second = node.prepare(set("y", "2"), now).unwrap().unwrap();
    let third = node.prepare(set("x", "3"), now).unwrap().unwrap();
    assert_eq!(
        [first.version(), second.version(), third.version()],
        [Version(1), Version(2), Version(3)]
    );
    assert_eq!(node.commit(third), Ok(Version(3)));
    assert_eq!(node.commit(second), Ok(Version(2)));
    assert_eq!(value(&node, "y"), None, "held back by the first write");
    assert_eq!(value(&node, "x"), None);
    assert_eq!(node.commit(first), Ok(Version(1)));
    assert_eq!(
        value(&node, "x").as_deref(),
        Some(&b"3"[..]),
        "3 applied after 1"
    );
    assert_eq!(node.version("a", "x"), Some(Version(3)));
    assert_eq!(value(&node, "y").as_deref(), Some(&b"2"[..]));
}

#[test]
fn an_abandoned_write_changes_nothing_and_releases_later_ones() {
    let now = Instant::now();
    let mut node = node("a", now);
    let lost = node.prepare(set("x", "lost"), now).unwrap().unwrap();
    let kept = node.prepare(set("y", "kept"), now).unwrap().unwrap();
    assert_eq!(node.commit(kept), Ok(Version(2)));
    node.abandon(lost);
    assert_eq!(value(&node, "x"), None);
    assert_eq!(value(&node, "y").as_deref(), Some(&b"kept"[..]));
    // The skipped version is not reused: the next write is above every version applied.
    assert_eq!(node.set(key("z"), Bytes::from_static(b"z")), Ok(Version(3)));
    // Abandoning the last write in flight gives its version back.
    let undone = node.prepare(set("w", "w"), now).unwrap().unwrap();
    assert_eq!(undone.version(), Version(4));
    node.abandon(undone);
    let again = node
        .prepare(Write::Delete { key: key("z") }, now)
        .unwrap()
        .unwrap();
    assert_eq!(again.version(), Version(4));
    assert_eq!(node.commit(again), Ok(Version(4)));
}

#[test]
fn a_write_prepared_by_another_node_is_refused() {
    let now = Instant::now();
    let mut a = node("a", now);
    let mut b = node("b", now);
    let foreign = b.prepare(set("k", "v"), now).unwrap().unwrap();
    let _own = a.prepare(set("k", "mine"), now).unwrap().unwrap();
    assert_eq!(
        a.commit(foreign),
        Err(WriteError::NotPrepared {
            version: Version(1)
        })
    );
    assert_eq!(value(&a, "k"), None);
}

#[test]
fn writes_in_flight_count_toward_the_key_limit_and_leave_refuses_their_commit() {
    let now = Instant::now();
    let mut node = node("a", now);
    let held: Vec<PreparedWrite> = ["a", "b", "c"]
        .into_iter()
        .map(|k| node.prepare(set(k, "v"), now).unwrap().unwrap())
        .collect();
    assert_eq!(
        node.prepare(set("d", "v"), now),
        Err(WriteError::TooManyKeys { max: 3 })
    );
    node.leave();
    for write in held {
        assert_eq!(node.commit(write), Err(WriteError::Left));
    }
    assert_eq!(value(&node, "a"), None);
    assert_eq!(node.prepare(set("a", "v"), now), Err(WriteError::Left));
}

#[test]
fn deleting_an_unset_key_or_expiring_a_rewritten_one_writes_nothing() {
    let now = Instant::now();
    let mut node = node("a", now);
    assert_eq!(node.prepare(Write::Delete { key: key("k") }, now), Ok(None));
    let ttl = Duration::from_secs(1);
    let write = Write::SetWithTtl {
        key: key("k"),
        value: Bytes::from_static(b"v"),
        ttl,
    };
    assert_eq!(node.write(write, now), Ok(Some(Version(1))));
    node.handle_timeout(now + ttl);
    let mut outputs = Outputs::default();
    node.drain(&mut outputs);
    let [expired] = &outputs.expired[..] else {
        panic!("expected one expiry, got {:?}", outputs.expired);
    };
    node.set(key("k"), Bytes::from_static(b"again")).unwrap();
    let expiry = Write::Expire(expired.clone());
    assert_eq!(node.prepare(expiry, now + ttl), Ok(None));
    assert_eq!(value(&node, "k").as_deref(), Some(&b"again"[..]));
}

#[test]
fn expiries_come_out_of_poll_before_datagrams_and_events() {
    let now = Instant::now();
    let mut node = node("a", now);
    let ttl = Duration::from_millis(10);
    node.set_with_ttl(key("k"), Bytes::from_static(b"v"), ttl, now)
        .unwrap();
    node.handle_timeout(now + Duration::from_secs(5));
    assert!(matches!(node.poll(), Some(Output::Expired(_))));
}

/// A store that records what it was given, or fails every write.
#[derive(Default)]
struct Recorder {
    records: Vec<(Key, Version, Option<Bytes>)>,
    failing: bool,
}

impl Store for Recorder {
    type Error = &'static str;

    fn persist(&mut self, writes: &[PreparedWrite]) -> Result<(), Self::Error> {
        if self.failing {
            return Err("disk full");
        }
        for write in writes {
            let record = (write.key().clone(), write.version(), write.value().cloned());
            self.records.push(record);
        }
        Ok(())
    }
}

#[test]
fn write_ahead_records_then_applies_and_a_store_failure_changes_nothing() {
    let now = Instant::now();
    let mut node = node("a", now);
    let mut store = Recorder::default();
    assert_eq!(
        write_ahead(&mut node, &mut store, set("k", "v"), now),
        Ok(Some(Version(1)))
    );
    assert_eq!(
        write_ahead(&mut node, &mut store, Write::Delete { key: key("k") }, now),
        Ok(Some(Version(2)))
    );
    assert_eq!(
        store.records,
        [
            (key("k"), Version(1), Some(Bytes::from_static(b"v"))),
            (key("k"), Version(2), None)
        ]
    );
    store.failing = true;
    assert_eq!(
        write_ahead(&mut node, &mut store, set("k", "w"), now),
        Err(WriteAheadError::Store("disk full"))
    );
    assert_eq!(value(&node, "k"), None, "the failed write was not applied");
    store.failing = false;
    assert_eq!(
        write_ahead(&mut node, &mut store, set("k", "w"), now),
        Ok(Some(Version(3))),
        "the failed write's version was given back"
    );
    let too_many = ["x", "y", "z"]
        .into_iter()
        .map(|k| write_ahead(&mut node, &mut store, set(k, "v"), now))
        .last();
    assert_eq!(
        too_many,
        Some(Err(WriteAheadError::Refused(WriteError::TooManyKeys {
            max: 3
        })))
    );
    assert_eq!(store.records.len(), 5, "a refused write is not recorded");
}

mod model {
    //! Random interleavings of prepare, commit and abandon against a model: what the node
    //! shows is exactly the committed writes no unresolved earlier write holds back, in
    //! version order, and the versions it shows never go back.

    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        /// Prepare a set (`Some(value)`) or a delete of key `key % 4`.
        Prepare { key: u8, value: Option<u8> },
        /// Commit the `n % len`-th write in flight.
        Commit(usize),
        /// Abandon the `n % len`-th write in flight.
        Abandon(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (any::<u8>(), proptest::option::of(any::<u8>()))
                .prop_map(|(key, value)| Op::Prepare { key, value }),
            any::<usize>().prop_map(Op::Commit),
            any::<usize>().prop_map(Op::Abandon),
        ]
    }

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Fate {
        InFlight,
        Committed,
        Abandoned,
    }

    proptest! {
        #[test]
        fn the_node_shows_exactly_the_committed_prefix(ops in proptest::collection::vec(op(), 1..60)) {
            let now = Instant::now();
            let mut node = node("a", now);
            let mut in_flight: Vec<PreparedWrite> = Vec::new();
            // Every write ever prepared, by version: its key, value and fate.
            let mut history: BTreeMap<Version, (Key, Option<Bytes>, Fate)> = BTreeMap::new();
            let mut shown: BTreeMap<Key, Version> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Prepare { key: k, value: v } => {
                        let k = key(&format!("k{}", k % 4));
                        let write = match v {
                            Some(v) => Write::Set { key: k.clone(), value: Bytes::from(vec![v]) },
                            None => Write::Delete { key: k.clone() },
                        };
                        if let Ok(Some(prepared)) = node.prepare(write, now) {
                            let value = prepared.value().cloned();
                            // Above every version applied or in flight; abandoned ones
                            // above all others may be given out again.
                            prop_assert!(
                                history.iter().all(|(v, (_, _, fate))| *v < prepared.version()
                                    || *fate == Fate::Abandoned),
                                "a version was handed out twice or below another"
                            );
                            history.insert(prepared.version(), (k, value, Fate::InFlight));
                            in_flight.push(prepared);
                        }
                    }
                    Op::Commit(n) | Op::Abandon(n) if !in_flight.is_empty() => {
                        let write = in_flight.remove(n % in_flight.len());
                        let version = write.version();
                        let fate = if matches!(op, Op::Commit(_)) {
                            prop_assert_eq!(node.commit(write), Ok(version));
                            Fate::Committed
                        } else {
                            node.abandon(write);
                            Fate::Abandoned
                        };
                        if let Some(entry) = history.get_mut(&version) {
                            entry.2 = fate;
                        }
                    }
                    Op::Commit(_) | Op::Abandon(_) => {}
                }
                // The model: committed writes up to the first one still in flight.
                let mut expected: BTreeMap<Key, (Version, Option<Bytes>)> = BTreeMap::new();
                for (version, (k, value, fate)) in &history {
                    match fate {
                        Fate::InFlight => break,
                        Fate::Abandoned => {}
                        Fate::Committed => {
                            expected.insert(k.clone(), (*version, value.clone()));
                        }
                    }
                }
                for i in 0..4 {
                    let k = key(&format!("k{i}"));
                    let want = expected.get(&k);
                    // `version` reports live values only, as `get` does.
                    let live = want.filter(|(_, value)| value.is_some());
                    prop_assert_eq!(node.version("a", k.as_str()), live.map(|(v, _)| *v));
                    prop_assert_eq!(
                        value(&node, k.as_str()),
                        want.and_then(|(_, value)| value.clone())
                    );
                    if let Some(version) = node.version("a", k.as_str()) {
                        let before = shown.insert(k.clone(), version);
                        prop_assert!(before.is_none_or(|b| b <= version), "a version went back");
                    }
                }
            }
        }
    }
}
