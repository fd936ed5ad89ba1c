//! Random sequences of writes (with and without expiries), deletes, generations,
//! compactions, forgets and restarts, checked against a plain in-memory model.
// Test helpers outside #[test] fns are not covered by clippy.toml's allow-*-in-tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use leviathan_gossip_durable::{DataDir, Expiries, Options, Records, WriteError};
use leviathan_gossip_wire::{ClusterId, Generation, Key, NodeName, Version};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Set(usize, Vec<u8>),
    /// A set with an expiry.
    SetExpiring(usize, Vec<u8>, u64),
    Del(usize),
    /// A write whose version is not above the maximum: must be refused.
    StaleWrite(usize, u64),
    Generation(u64),
    Forget(usize),
    Compact,
    Reopen,
}

const KEYS: [&str; 5] = ["a", "b", "c", "d", "e"];

fn op() -> impl Strategy<Value = Op> {
    let key = 0..KEYS.len();
    prop_oneof![
        4 => (key.clone(), proptest::collection::vec(any::<u8>(), 0..48))
            .prop_map(|(k, v)| Op::Set(k, v)),
        3 => (key.clone(), proptest::collection::vec(any::<u8>(), 0..48), any::<u64>())
            .prop_map(|(k, v, at)| Op::SetExpiring(k, v, at)),
        2 => key.clone().prop_map(Op::Del),
        1 => (key.clone(), 0..4u64).prop_map(|(k, back)| Op::StaleWrite(k, back)),
        2 => (0..2_000u64).prop_map(Op::Generation),
        2 => key.prop_map(Op::Forget),
        1 => Just(Op::Compact),
        2 => Just(Op::Reopen),
    ]
}

fn options() -> impl Strategy<Value = Options> {
    prop_oneof![
        Just(Options::default()),
        (0..1_024u64, 0..4u64).prop_map(|(min, ratio)| Options {
            auto_compact_min_log_bytes: min,
            auto_compact_ratio: ratio,
        }),
    ]
}

/// What the directory must hold.
#[derive(Debug, Default)]
struct Model {
    records: Records,
    expiries: Expiries,
    max_version: Version,
    generation: Option<Generation>,
    /// Tombstones forgotten since the last compaction: a restart may bring them back,
    /// since forgetting reaches the disk only when a compaction (perhaps automatic) runs.
    forgotten: BTreeMap<Key, Version>,
}

impl Model {
    fn check(&self, dir: &DataDir) {
        assert_eq!(dir.records(), &self.records);
        assert_eq!(dir.expiries(), &self.expiries);
        for key in KEYS {
            assert_eq!(dir.expiry(key), self.expiries.get(key).copied(), "{key}");
        }
        assert_eq!(dir.max_version(), self.max_version);
        assert_eq!(dir.generation(), self.generation);
    }

    /// After a restart: everything the model holds, plus possibly forgotten tombstones.
    fn check_reopened(&mut self, dir: &DataDir) {
        // Forgotten tombstones may come back, but never with an expiry.
        assert_eq!(dir.expiries(), &self.expiries);
        assert_eq!(dir.max_version(), self.max_version);
        assert_eq!(dir.generation(), self.generation);
        for (key, record) in &self.records {
            assert_eq!(dir.records().get(key), Some(record), "{key} after reopen");
        }
        for (key, record) in dir.records() {
            if !self.records.contains_key(key) {
                assert_eq!(
                    Some(&record.0),
                    self.forgotten.get(key),
                    "{key} appeared from nowhere"
                );
                assert_eq!(record.1, None);
            }
        }
        self.records = dir.records().clone();
        self.forgotten.clear();
    }
}

fn open(path: &Path, options: &Options) -> DataDir {
    let cluster = ClusterId::new("c").unwrap();
    let node = NodeName::new("n").unwrap();
    DataDir::open_with(path, &cluster, &node, options.clone()).unwrap()
}

fn run(ops: Vec<Op>, options: Options) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path();
    let mut dir = open(path, &options);
    let mut model = Model::default();
    for op in ops {
        match op {
            Op::Set(k, value) => {
                let key = Key::new(KEYS[k]).unwrap();
                let version = Version(model.max_version.0 + 1);
                let value = Some(Bytes::from(value));
                dir.record_write(key.clone(), version, value.clone())
                    .unwrap();
                model.forgotten.remove(&key);
                model.expiries.remove(&key);
                model.records.insert(key, (version, value));
                model.max_version = version;
            }
            Op::SetExpiring(k, value, expires_at) => {
                let key = Key::new(KEYS[k]).unwrap();
                let version = Version(model.max_version.0 + 1);
                let value = Bytes::from(value);
                dir.record_write_expiring(key.clone(), version, value.clone(), expires_at)
                    .unwrap();
                model.forgotten.remove(&key);
                model.expiries.insert(key.clone(), expires_at);
                model.records.insert(key, (version, Some(value)));
                model.max_version = version;
            }
            Op::Del(k) => {
                let key = Key::new(KEYS[k]).unwrap();
                let version = Version(model.max_version.0 + 1);
                dir.record_write(key.clone(), version, None).unwrap();
                model.forgotten.remove(&key);
                model.expiries.remove(&key);
                model.records.insert(key, (version, None));
                model.max_version = version;
            }
            Op::StaleWrite(k, back) => {
                let key = Key::new(KEYS[k]).unwrap();
                let version = Version(model.max_version.0.saturating_sub(back));
                let result = dir.record_write(key, version, Some(Bytes::from_static(b"x")));
                assert!(matches!(result, Err(WriteError::NotIncreasing { .. })));
            }
            Op::Generation(clock) => {
                let expected = model.generation.map_or(clock, |last| clock.max(last.0 + 1));
                assert_eq!(dir.next_generation(clock).unwrap(), Generation(expected));
                model.generation = Some(Generation(expected));
            }
            Op::Forget(k) => {
                let key = Key::new(KEYS[k]).unwrap();
                let tombstone = model
                    .records
                    .get(&key)
                    .filter(|(_, value)| value.is_none())
                    .map(|(version, _)| *version);
                assert_eq!(dir.forget(key.as_str()), tombstone.is_some());
                if let Some(version) = tombstone {
                    model.records.remove(&key);
                    model.forgotten.insert(key, version);
                }
            }
            Op::Compact => {
                dir.compact().unwrap();
                model.forgotten.clear();
            }
            Op::Reopen => {
                drop(dir);
                dir = open(path, &options);
                model.check_reopened(&dir);
            }
        }
        model.check(&dir);
    }
    drop(dir);
    let dir = open(path, &options);
    model.check_reopened(&dir);
    assert_eq!(dir.recovery().torn_bytes_dropped, 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_directory_behaves_like_its_model_across_restarts(
        ops in proptest::collection::vec(op(), 0..40),
        options in options(),
    ) {
        run(ops, options);
    }
}
