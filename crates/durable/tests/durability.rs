//! Behaviour of a data directory across restarts, crashes and damage.
// Test helpers outside #[test] fns are not covered by clippy.toml's allow-*-in-tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::fs;
use std::path::Path;

use bytes::Bytes;
use leviathan_gossip_durable::{
    DataDir, Expiries, FORMAT_VERSION, IdentityField, LOCK_FILE, LOG_FILE, MAX_RECORD_LEN,
    OpenError, Options, OwnWrite, Records, SNAPSHOT_FILE, WriteError,
};
use leviathan_gossip_wire::{ClusterId, Generation, Key, NodeName, Version};
use tempfile::TempDir;

fn cluster() -> ClusterId {
    ClusterId::new("leviathan").unwrap()
}

fn node() -> NodeName {
    NodeName::new("node1").unwrap()
}

fn key(name: &str) -> Key {
    Key::new(name).unwrap()
}

fn value(text: &str) -> Option<Bytes> {
    Some(Bytes::copy_from_slice(text.as_bytes()))
}

fn open(path: &Path) -> DataDir {
    DataDir::open(path, &cluster(), &node()).unwrap()
}

fn no_auto_compaction() -> Options {
    Options {
        auto_compact_min_log_bytes: u64::MAX,
        ..Options::default()
    }
}

fn open_manual(path: &Path) -> Result<DataDir, OpenError> {
    DataDir::open_with(path, &cluster(), &node(), no_auto_compaction())
}

/// Everything a restart must bring back.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Observed {
    records: Records,
    expiries: Expiries,
    max_version: Version,
    generation: Option<Generation>,
}

fn observe(dir: &DataDir) -> Observed {
    let expiries = dir.expiries().clone();
    // expiry() agrees with expiries(), and only live values have one.
    for (key, (_, value)) in dir.records() {
        assert_eq!(dir.expiry(key.as_str()), expiries.get(key).copied());
        if value.is_none() {
            assert_eq!(
                dir.expiry(key.as_str()),
                None,
                "tombstone {key} has an expiry"
            );
        }
    }
    for key in expiries.keys() {
        assert!(dir.records().contains_key(key), "expiry of absent {key}");
    }
    Observed {
        records: dir.records().clone(),
        expiries,
        max_version: dir.max_version(),
        generation: dir.generation(),
    }
}

fn expiries(entries: &[(&str, u64)]) -> Expiries {
    entries
        .iter()
        .map(|&(name, expires_at)| (key(name), expires_at))
        .collect()
}

/// The format version field of a data file.
fn file_format_version(path: &Path) -> u16 {
    let bytes = fs::read(path).unwrap();
    u16::from_le_bytes([bytes[8], bytes[9]])
}

/// The data files (not the lock), to compare before and after a refused open.
fn data_files(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = fs::read_dir(path)
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_name() != LOCK_FILE)
        .map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            (name, fs::read(entry.path()).unwrap())
        })
        .collect();
    files.sort();
    files
}

fn copy_data(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for name in [SNAPSHOT_FILE, LOG_FILE] {
        fs::copy(from.join(name), to.join(name)).unwrap();
    }
}

fn flip_byte(path: &Path, index: usize) {
    let mut bytes = fs::read(path).unwrap();
    bytes[index] ^= 0x20;
    fs::write(path, bytes).unwrap();
}

#[test]
fn state_round_trips_across_reopen() {
    let tmp = TempDir::new().unwrap();
    // Missing parents are created too.
    let path = tmp.path().join("var/lib/data");
    let before = {
        let mut dir = open(&path);
        assert!(dir.recovery().created);
        dir.next_generation(1_000).unwrap();
        dir.record_write(key("a"), Version(1), value("one"))
            .unwrap();
        dir.record_write(key("b"), Version(2), value("two"))
            .unwrap();
        dir.record_write(key("a"), Version(3), None).unwrap();
        dir.record_write(key("c"), Version(7), Some(Bytes::new()))
            .unwrap();
        observe(&dir)
    };
    let dir = open(&path);
    assert_eq!(observe(&dir), before);
    assert!(!dir.recovery().created);
    assert_eq!(dir.recovery().log_records, 5);
    assert_eq!(dir.recovery().torn_bytes_dropped, 0);
    assert_eq!(before.records.get("a"), Some(&(Version(3), None)));
    assert_eq!(before.max_version, Version(7));
}

#[test]
fn generation_grows_even_when_the_clock_goes_back() {
    let tmp = TempDir::new().unwrap();
    let path = tmp.path();
    assert_eq!(open(path).generation(), None);
    assert_eq!(
        open(path).next_generation(5_000).unwrap(),
        Generation(5_000)
    );
    // The clock went back an hour, then stood still.
    assert_eq!(
        open(path).next_generation(1_000).unwrap(),
        Generation(5_001)
    );
    assert_eq!(
        open(path).next_generation(1_000).unwrap(),
        Generation(5_002)
    );
    // The clock moved on past it.
    assert_eq!(
        open(path).next_generation(9_000).unwrap(),
        Generation(9_000)
    );
    let mut dir = open(path);
    assert_eq!(dir.generation(), Some(Generation(9_000)));
    // Twice in one run grows too.
    assert_eq!(dir.next_generation(9_000).unwrap(), Generation(9_001));
    dir.compact().unwrap();
    drop(dir);
    assert_eq!(open(path).next_generation(0).unwrap(), Generation(9_002));
}

#[test]
fn a_foreign_cluster_or_node_is_refused_and_left_alone() {
    let tmp = TempDir::new().unwrap();
    let path = tmp.path();
    {
        let mut dir = open(path);
        dir.record_write(key("k"), Version(1), value("v")).unwrap();
    }
    let files = data_files(path);

    let other_cluster = ClusterId::new("other").unwrap();
    match DataDir::open(path, &other_cluster, &node()) {
        Err(OpenError::Foreign {
            field: IdentityField::ClusterId,
            expected,
            found,
            ..
        }) => assert_eq!((expected.as_str(), found.as_str()), ("other", "leviathan")),
        other => panic!("expected a foreign cluster id, got {other:?}"),
    }
    let other_node = NodeName::new("node2").unwrap();
    let error = DataDir::open(path, &cluster(), &other_node).unwrap_err();
    assert!(
        matches!(
            &error,
            OpenError::Foreign {
                field: IdentityField::NodeName,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("node name \"node1\""), "{error}");

    assert_eq!(data_files(path), files);
    assert_eq!(open(path).records().len(), 1);
}

#[test]
fn a_flipped_snapshot_byte_is_refused_and_left_alone() {
    let tmp = TempDir::new().unwrap();
    let path = tmp.path();
    {
        let mut dir = open(path);
        dir.next_generation(1).unwrap();
        for version in 1..=5 {
            dir.record_write(
                key(&format!("k{version}")),
                Version(version),
                value("value"),
            )
            .unwrap();
        }
        dir.compact().unwrap();
    }
    let pristine = fs::read(path.join(SNAPSHOT_FILE)).unwrap();
    for index in (0..pristine.len()).step_by(7).chain([pristine.len() - 1]) {
        fs::write(path.join(SNAPSHOT_FILE), &pristine).unwrap();
        flip_byte(&path.join(SNAPSHOT_FILE), index);
        let files = data_files(path);
        match open_manual(path) {
            Err(OpenError::Corrupt { path: at, .. }) => assert!(at.ends_with(SNAPSHOT_FILE)),
            other => panic!("flip at {index}: expected Corrupt, got {other:?}"),
        }
        assert_eq!(data_files(path), files, "flip at {index} changed the files");
    }
    fs::write(path.join(SNAPSHOT_FILE), &pristine).unwrap();
    assert_eq!(open(path).records().len(), 5);
}

#[test]
fn files_that_are_not_ours_are_refused_by_name() {
    let tmp = TempDir::new().unwrap();
    let path = tmp.path();
    drop(open(path));
    fs::write(path.join(SNAPSHOT_FILE), b"{\"some\": \"json\"}").unwrap();
    let error = open_manual(path).unwrap_err();
    assert!(error.to_string().contains("bad magic"), "{error}");

    // A snapshot of a later format version.
    let tmp = TempDir::new().unwrap();
    let path = tmp.path();
    drop(open(path));
    let mut bytes = fs::read(path.join(SNAPSHOT_FILE)).unwrap();
    bytes[8] = 9;
    fs::write(path.join(SNAPSHOT_FILE), &bytes).unwrap();
    let error = open_manual(path).unwrap_err();
    assert!(error.to_string().contains("format version 9"), "{error}");
}

#[test]
fn missing_or_mismatched_files_are_refused() {
    let tmp = TempDir::new().unwrap();
    let path = tmp.path();
    {
        let mut dir = open(path);
        dir.record_write(key("k"), Version(1), value("v")).unwrap();
    }
    // Snapshot without its log.
    let log = fs::read(path.join(LOG_FILE)).unwrap();
    fs::remove_file(path.join(LOG_FILE)).unwrap();
    assert!(matches!(open_manual(path), Err(OpenError::Corrupt { .. })));
    fs::write(path.join(LOG_FILE), &log).unwrap();

    // Log with records but no snapshot: never re-initialized over.
    let snapshot = fs::read(path.join(SNAPSHOT_FILE)).unwrap();
    fs::remove_file(path.join(SNAPSHOT_FILE)).unwrap();
    let error = open_manual(path).unwrap_err();
    assert!(matches!(error, OpenError::Corrupt { .. }), "{error:?}");
    assert_eq!(fs::read(path.join(LOG_FILE)).unwrap(), log);
    fs::write(path.join(SNAPSHOT_FILE), &snapshot).unwrap();

    // A snapshot from before a compaction beside the log written after it.
    let old = tmp.path().join("old");
    copy_data(path, &old);
    open(path).compact().unwrap();
    fs::copy(old.join(SNAPSHOT_FILE), path.join(SNAPSHOT_FILE)).unwrap();
    let error = open_manual(path).unwrap_err();
    assert!(error.to_string().contains("epoch"), "{error}");
}

#[test]
fn leftover_temp_files_are_removed() {
    let tmp = TempDir::new().unwrap();
    let path = tmp.path();
    drop(open(path));
    fs::write(path.join("snapshot.tmp"), b"half a snapshot").unwrap();
    fs::write(path.join("log.tmp"), b"half a log").unwrap();
    drop(open(path));
    let names: Vec<String> = data_files(path).into_iter().map(|(name, _)| name).collect();
    assert_eq!(names, [LOG_FILE, SNAPSHOT_FILE]);
}

#[test]
fn a_second_open_is_refused_while_the_first_lives() {
    let tmp = TempDir::new().unwrap();
    let path = tmp.path();
    let first = open(path);
    match DataDir::open(path, &cluster(), &node()) {
        Err(OpenError::Locked { holder, .. }) => assert_eq!(holder, Some(std::process::id())),
        other => panic!("expected Locked, got {other:?}"),
    }
    drop(first);
    drop(open(path));
}

#[test]
fn refused_writes_change_nothing() {
    let tmp = TempDir::new().unwrap();
    let path = tmp.path();
    let mut dir = open(path);
    dir.record_write(key("k"), Version(5), value("v")).unwrap();
    let before = observe(&dir);
    for version in [0, 4, 5] {
        assert!(matches!(
            dir.record_write(key("k"), Version(version), value("w")),
            Err(WriteError::NotIncreasing { .. })
        ));
    }
    let big = Bytes::from(vec![0; MAX_RECORD_LEN]);
    assert!(matches!(
        dir.record_write(key("k"), Version(6), Some(big)),
        Err(WriteError::TooLarge { .. })
    ));
    assert_eq!(observe(&dir), before);
    drop(dir);
    assert_eq!(observe(&open(path)), before);
}

#[test]
fn a_torn_final_record_is_dropped_and_earlier_writes_kept() {
    let tmp = TempDir::new().unwrap();
    let path = tmp.path();
    let (acknowledged, log_len) = {
        let mut dir = open(path);
        dir.record_write(key("a"), Version(1), value("one"))
            .unwrap();
        dir.record_write(key("b"), Version(2), value("two"))
            .unwrap();
        let acknowledged = observe(&dir);
        let log_len = fs::metadata(path.join(LOG_FILE)).unwrap().len();
        dir.record_write(key("c"), Version(3), value("three"))
            .unwrap();
        (acknowledged, log_len)
    };
    // The crash came in the middle of the third append.
    let log = fs::OpenOptions::new()
        .write(true)
        .open(path.join(LOG_FILE))
        .unwrap();
    log.set_len(log_len + 11).unwrap();
    drop(log);

    let mut dir = open(path);
    assert_eq!(observe(&dir), acknowledged);
    assert_eq!(dir.recovery().torn_bytes_dropped, 11);
    assert_eq!(fs::metadata(path.join(LOG_FILE)).unwrap().len(), log_len);
    // Appends continue after the last whole record.
    dir.record_write(key("c"), Version(3), value("again"))
        .unwrap();
    let expected = observe(&dir);
    drop(dir);
    let dir = open(path);
    assert_eq!(observe(&dir), expected);
    assert_eq!(dir.recovery().torn_bytes_dropped, 0);
}

#[test]
fn damage_before_the_final_record_is_refused() {
    let tmp = TempDir::new().unwrap();
    let path = tmp.path();
    let last_start = {
        let mut dir = open_manual(path).unwrap();
        dir.next_generation(42).unwrap();
        for version in 1..=6 {
            let value = (version % 3 != 0).then(|| Bytes::from(vec![b'x'; version as usize]));
            dir.record_write(key(&format!("k{}", version % 4)), Version(version), value)
                .unwrap();
        }
        let last_start = fs::metadata(path.join(LOG_FILE)).unwrap().len() as usize;
        dir.record_write(key("last"), Version(7), value("final"))
            .unwrap();
        last_start
    };
    let pristine = fs::read(path.join(LOG_FILE)).unwrap();
    for index in 0..pristine.len() {
        fs::write(path.join(LOG_FILE), &pristine).unwrap();
        flip_byte(&path.join(LOG_FILE), index);
        let result = open_manual(path);
        if index < last_start {
            assert!(
                matches!(result, Err(OpenError::Corrupt { .. })),
                "flip at {index}: {result:?}"
            );
        } else {
            // Damage in the final record looks like a torn append: dropped, not refused.
            let dir = result.unwrap();
            assert!(!dir.records().contains_key("last"));
            assert_eq!(dir.max_version(), Version(6));
        }
    }
}

/// One step of the crash simulation's workload.
#[derive(Debug, Clone)]
enum Op {
    Generation(u64),
    Set(&'static str, Version, &'static str),
    /// A set with an expiry (milliseconds since the Unix epoch).
    SetExpiring(&'static str, Version, &'static str, u64),
    Del(&'static str, Version),
}

fn apply(dir: &mut DataDir, op: &Op) {
    match op {
        Op::Generation(clock) => {
            dir.next_generation(*clock).unwrap();
        }
        Op::Set(name, version, text) => dir.record_write(key(name), *version, value(text)).unwrap(),
        Op::SetExpiring(name, version, text, expires_at) => dir
            .record_write_expiring(
                key(name),
                *version,
                Bytes::copy_from_slice(text.as_bytes()),
                *expires_at,
            )
            .unwrap(),
        Op::Del(name, version) => dir.record_write(key(name), *version, None).unwrap(),
    }
}

/// Cuts the log at every byte offset, as a crash in the middle of any append could, and
/// checks that each reopen recovers exactly the writes acknowledged before the cut:
/// never fewer, never a mix, never an error. Then does the same with the cut-off part
/// zero-filled instead, as a file system that extends the size before the data lands can.
#[test]
fn a_crash_at_any_byte_recovers_exactly_a_prefix_of_acknowledged_writes() {
    let ops = [
        Op::Generation(1_000),
        Op::Set("alpha", Version(2), "first"),
        Op::SetExpiring("ttl", Version(3), "", 1_700_000_000_000),
        Op::Set("beta", Version(4), ""),
        Op::SetExpiring("alpha", Version(5), "second value, a little longer", 0),
        Op::Del("beta", Version(6)),
        Op::Generation(900),
        Op::Set("gamma", Version(10), "g"),
        Op::SetExpiring("gamma", Version(11), "g again", u64::MAX),
        Op::Del("alpha", Version(12)),
        Op::Set("ttl", Version(13), "kept, expiry cleared"),
        Op::SetExpiring("beta", Version(14), "back", 1_700_000_000_001),
    ];
    let tmp = TempDir::new().unwrap();
    let source = tmp.path().join("source");
    // A compacted snapshot underneath, so recovery replays onto real state.
    let mut dir = open_manual(&source).unwrap();
    dir.record_write_expiring(key("base"), Version(1), Bytes::from("snapshot"), 4_242)
        .unwrap();
    dir.compact().unwrap();
    let header_len = fs::metadata(source.join(LOG_FILE)).unwrap().len() as usize;
    // boundaries[i]: log length once i ops are acknowledged; states[i]: the state then.
    let mut boundaries = vec![header_len];
    let mut states = vec![observe(&dir)];
    for op in &ops {
        apply(&mut dir, op);
        boundaries.push(fs::metadata(source.join(LOG_FILE)).unwrap().len() as usize);
        states.push(observe(&dir));
    }
    drop(dir);
    let log = fs::read(source.join(LOG_FILE)).unwrap();
    assert_eq!(log.len(), *boundaries.last().unwrap());

    for zero_fill in [false, true] {
        for cut in header_len..=log.len() {
            let mut bytes = log[..cut].to_vec();
            if zero_fill && cut < log.len() {
                let next = boundaries.iter().find(|&&end| end > cut).unwrap();
                bytes.resize(*next, 0);
            }
            // The whole records that survived; zero-filling may happen to restore the
            // intended bytes of the last one (a generation's high bytes are zeros).
            let acknowledged = boundaries
                .iter()
                .rposition(|&end| end <= bytes.len() && bytes[..end] == log[..end])
                .unwrap();
            let target = tmp.path().join(format!("cut-{zero_fill}-{cut}"));
            copy_data(&source, &target);
            fs::write(target.join(LOG_FILE), &bytes).unwrap();
            let dir = open_manual(&target).unwrap_or_else(|error| {
                panic!("cut at {cut} (zero fill {zero_fill}) refused: {error}")
            });
            assert_eq!(
                observe(&dir),
                states[acknowledged],
                "cut at {cut} (zero fill {zero_fill})"
            );
            assert_eq!(
                dir.recovery().torn_bytes_dropped as usize,
                bytes.len() - boundaries[acknowledged]
            );
            drop(dir);
            fs::remove_dir_all(&target).unwrap();
        }
    }
}

#[test]
fn compaction_preserves_state_and_drops_forgotten_tombstones() {
    let tmp = TempDir::new().unwrap();
    let path = tmp.path();
    let mut dir = open_manual(path).unwrap();
    dir.next_generation(77).unwrap();
    dir.record_write(key("live"), Version(1), value("v"))
        .unwrap();
    dir.record_write(key("gone"), Version(2), value("x"))
        .unwrap();
    dir.record_write(key("gone"), Version(3), None).unwrap();
    dir.record_write(key("dead"), Version(4), None).unwrap();
    assert!(!dir.forget("live"), "a live value is never forgotten");
    assert!(dir.forget("gone"));
    assert!(!dir.forget("absent"));
    let expected = observe(&dir);
    dir.compact().unwrap();
    assert_eq!(observe(&dir), expected);
    let header_only = fs::metadata(path.join(LOG_FILE)).unwrap().len();
    drop(dir);

    let mut dir = open(path);
    assert_eq!(observe(&dir), expected);
    assert_eq!(dir.recovery().log_records, 0);
    assert!(!dir.records().contains_key("gone"));
    assert_eq!(
        dir.max_version(),
        Version(4),
        "max version outlives forgotten tombstones"
    );
    // And the log starts again from its header.
    dir.record_write(key("new"), Version(5), value("n"))
        .unwrap();
    assert!(fs::metadata(path.join(LOG_FILE)).unwrap().len() > header_only);
}

#[test]
fn a_forgotten_tombstone_comes_back_only_until_compaction() {
    let tmp = TempDir::new().unwrap();
    let path = tmp.path();
    {
        let mut dir = open(path);
        dir.record_write(key("k"), Version(1), None).unwrap();
        assert!(dir.forget("k"));
    }
    let mut dir = open(path);
    assert_eq!(dir.records().get("k"), Some(&(Version(1), None)));
    assert!(dir.forget("k"));
    dir.compact().unwrap();
    drop(dir);
    assert!(open(path).records().is_empty());
}

#[test]
fn an_interrupted_compaction_is_finished_on_open() {
    let tmp = TempDir::new().unwrap();
    let path = tmp.path().join("data");
    let before = tmp.path().join("before");
    let mut dir = open_manual(&path).unwrap();
    dir.next_generation(10).unwrap();
    dir.record_write(key("a"), Version(1), value("1")).unwrap();
    dir.record_write(key("b"), Version(2), None).unwrap();
    assert!(dir.forget("b"));
    let expected = observe(&dir);
    copy_data(&path, &before);
    dir.compact().unwrap();
    drop(dir);
    // The crash came after the new snapshot was installed, before the log was replaced.
    fs::copy(before.join(LOG_FILE), path.join(LOG_FILE)).unwrap();

    let mut dir = open_manual(&path).unwrap();
    assert!(dir.recovery().finished_compaction);
    assert_eq!(
        observe(&dir),
        expected,
        "the forgotten tombstone stays forgotten"
    );
    dir.record_write(key("c"), Version(3), value("3")).unwrap();
    let expected = observe(&dir);
    drop(dir);
    let dir = open_manual(&path).unwrap();
    assert!(!dir.recovery().finished_compaction);
    assert_eq!(observe(&dir), expected);
}

#[test]
fn automatic_compaction_bounds_the_log() {
    let tmp = TempDir::new().unwrap();
    let path = tmp.path();
    let options = Options {
        auto_compact_min_log_bytes: 512,
        auto_compact_ratio: 2,
    };
    let mut dir = DataDir::open_with(path, &cluster(), &node(), options.clone()).unwrap();
    for version in 1..=400u64 {
        let name = format!("k{}", version % 5);
        dir.record_write(key(&name), Version(version), value(&"v".repeat(20)))
            .unwrap();
        let log = fs::metadata(path.join(LOG_FILE)).unwrap().len();
        let snapshot = fs::metadata(path.join(SNAPSHOT_FILE)).unwrap().len();
        assert!(
            log <= (2 * snapshot).max(512) + 64,
            "log {log} vs snapshot {snapshot}"
        );
    }
    let expected = observe(&dir);
    drop(dir);
    let dir = DataDir::open_with(path, &cluster(), &node(), options).unwrap();
    assert_eq!(observe(&dir), expected);
    assert!(dir.recovery().log_records < 400);
}

#[test]
fn an_expiry_survives_reopen_via_the_log() {
    let tmp = TempDir::new().unwrap();
    let path = tmp.path();
    let before = {
        let mut dir = open_manual(path).unwrap();
        dir.next_generation(1).unwrap();
        dir.record_write_expiring(
            key("lease"),
            Version(1),
            Bytes::from("me"),
            1_700_000_060_000,
        )
        .unwrap();
        dir.record_write(key("plain"), Version(2), value("v"))
            .unwrap();
        dir.record_write_expiring(key("due"), Version(3), Bytes::new(), 0)
            .unwrap();
        assert_eq!(dir.expiry("lease"), Some(1_700_000_060_000));
        assert_eq!(dir.expiry("plain"), None);
        assert_eq!(dir.expiry("absent"), None);
        observe(&dir)
    };
    assert_eq!(
        before.expiries,
        expiries(&[("due", 0), ("lease", 1_700_000_060_000)])
    );
    assert_eq!(
        before.records.get("lease"),
        Some(&(Version(1), value("me")))
    );
    let dir = open_manual(path).unwrap();
    assert_eq!(dir.recovery().log_records, 4);
    assert_eq!(observe(&dir), before);
}

#[test]
fn an_expiry_survives_compaction_and_reopen_via_the_snapshot() {
    let tmp = TempDir::new().unwrap();
    let path = tmp.path();
    let mut dir = open_manual(path).unwrap();
    dir.record_write_expiring(key("a"), Version(1), Bytes::from("1"), 111)
        .unwrap();
    dir.record_write(key("b"), Version(2), value("2")).unwrap();
    dir.record_write_expiring(key("c"), Version(3), Bytes::from("3"), u64::MAX)
        .unwrap();
    let expected = observe(&dir);
    dir.compact().unwrap();
    assert_eq!(observe(&dir), expected);
    drop(dir);

    let mut dir = open_manual(path).unwrap();
    assert_eq!(dir.recovery().log_records, 0, "all from the snapshot");
    assert_eq!(observe(&dir), expected);
    assert_eq!(dir.expiries(), &expiries(&[("a", 111), ("c", u64::MAX)]));
    // Snapshot and log together: the log's write replaces the snapshot's expiry.
    dir.record_write_expiring(key("a"), Version(4), Bytes::from("1'"), 222)
        .unwrap();
    let expected = observe(&dir);
    drop(dir);
    let dir = open_manual(path).unwrap();
    assert_eq!(observe(&dir), expected);
    assert_eq!(dir.expiry("a"), Some(222));

    // And with automatic compaction after every write.
    let path = tmp.path().join("auto");
    let options = Options {
        auto_compact_min_log_bytes: 0,
        auto_compact_ratio: 0,
    };
    let mut dir = DataDir::open_with(&path, &cluster(), &node(), options.clone()).unwrap();
    for version in 1..=20u64 {
        let name = format!("k{}", version % 4);
        if version % 3 == 0 {
            dir.record_write(key(&name), Version(version), value("plain"))
                .unwrap();
        } else {
            dir.record_write_expiring(key(&name), Version(version), Bytes::from("t"), version)
                .unwrap();
        }
    }
    let expected = observe(&dir);
    assert!(!expected.expiries.is_empty());
    drop(dir);
    let dir = DataDir::open_with(&path, &cluster(), &node(), options).unwrap();
    assert_eq!(dir.recovery().log_records, 0);
    assert_eq!(observe(&dir), expected);
}

#[test]
fn overwriting_or_deleting_a_key_clears_its_expiry() {
    let tmp = TempDir::new().unwrap();
    let path = tmp.path();
    let mut dir = open_manual(path).unwrap();
    for (version, name) in [
        (1, "overwritten"),
        (2, "deleted"),
        (3, "renewed"),
        (4, "kept"),
    ] {
        dir.record_write_expiring(key(name), Version(version), Bytes::from("v"), 1_000)
            .unwrap();
    }
    // Compacted, so the expiries being cleared come from the snapshot.
    dir.compact().unwrap();
    dir.record_write(key("overwritten"), Version(5), value("no ttl"))
        .unwrap();
    dir.record_write(key("deleted"), Version(6), None).unwrap();
    dir.record_write_expiring(key("renewed"), Version(7), Bytes::from("v"), 2_000)
        .unwrap();
    let expected = expiries(&[("kept", 1_000), ("renewed", 2_000)]);
    assert_eq!(dir.expiries(), &expected);
    assert_eq!(dir.expiry("overwritten"), None);
    assert_eq!(dir.expiry("deleted"), None);
    let before = observe(&dir);
    drop(dir);

    // Through the log.
    let mut dir = open_manual(path).unwrap();
    assert_eq!(observe(&dir), before);
    // Through a snapshot.
    dir.compact().unwrap();
    drop(dir);
    let mut dir = open_manual(path).unwrap();
    assert_eq!(observe(&dir), before);

    // A key deleted after an expiring write, then forgotten, and written again plainly.
    dir.record_write_expiring(key("again"), Version(8), Bytes::from("v"), 3_000)
        .unwrap();
    dir.record_write(key("again"), Version(9), None).unwrap();
    assert!(dir.forget("again"));
    assert!(
        !dir.forget("kept"),
        "a live value with an expiry is not forgotten"
    );
    assert_eq!(dir.expiries(), &expected);
    dir.compact().unwrap();
    dir.record_write(key("again"), Version(10), value("plain"))
        .unwrap();
    let before = observe(&dir);
    assert_eq!(before.expiries, expected);
    drop(dir);
    assert_eq!(observe(&open_manual(path).unwrap()), before);
}

#[test]
fn an_interrupted_compaction_keeps_expiries() {
    let tmp = TempDir::new().unwrap();
    let path = tmp.path().join("data");
    let before = tmp.path().join("before");
    let mut dir = open_manual(&path).unwrap();
    dir.record_write_expiring(key("a"), Version(1), Bytes::from("1"), 10)
        .unwrap();
    dir.record_write_expiring(key("b"), Version(2), Bytes::from("2"), 20)
        .unwrap();
    dir.record_write(key("b"), Version(3), None).unwrap();
    let expected = observe(&dir);
    copy_data(&path, &before);
    dir.compact().unwrap();
    drop(dir);
    fs::copy(before.join(LOG_FILE), path.join(LOG_FILE)).unwrap();

    let dir = open_manual(&path).unwrap();
    assert!(dir.recovery().finished_compaction);
    assert_eq!(observe(&dir), expected);
    assert_eq!(dir.expiries(), &expiries(&[("a", 10)]));
}

#[test]
fn expiring_writes_are_checked_like_plain_ones() {
    let tmp = TempDir::new().unwrap();
    let path = tmp.path();
    let mut dir = open(path);
    dir.record_write_expiring(key("k"), Version(5), Bytes::from("v"), 7)
        .unwrap();
    let before = observe(&dir);
    assert!(matches!(
        dir.record_write_expiring(key("k"), Version(5), Bytes::from("w"), 8),
        Err(WriteError::NotIncreasing { .. })
    ));
    let big = Bytes::from(vec![0; MAX_RECORD_LEN]);
    assert!(matches!(
        dir.record_write_expiring(key("k"), Version(6), big, 8),
        Err(WriteError::TooLarge { .. })
    ));
    // The largest record that fits, with an expiry, is written and read back.
    let largest = Bytes::from(vec![1; MAX_RECORD_LEN - 1]);
    assert_eq!(observe(&dir), before);
    dir.record_write_expiring(key("k"), Version(6), largest.clone(), 9)
        .unwrap();
    drop(dir);
    let dir = open(path);
    assert_eq!(dir.records().get("k"), Some(&(Version(6), Some(largest))));
    assert_eq!(dir.expiry("k"), Some(9));
}

// ----- format version 1 -----

/// Format version 1, written from its spec (the crate's docs), independently of the
/// crate's encoder.
mod v1 {
    use bytes::Bytes;

    fn name(out: &mut Vec<u8>, name: &str) {
        out.push(name.len() as u8);
        out.extend_from_slice(name.as_bytes());
    }

    pub fn record(out: &mut Vec<u8>, key: &str, version: u64, value: Option<&[u8]>) {
        out.extend_from_slice(&version.to_le_bytes());
        name(out, key);
        match value {
            None => out.push(0),
            Some(value) => {
                out.push(1);
                out.extend_from_slice(&(value.len() as u32).to_le_bytes());
                out.extend_from_slice(value);
            }
        }
    }

    pub fn snapshot(
        epoch: u64,
        generation: Option<u64>,
        max_version: u64,
        records: &[(&str, u64, Option<&[u8]>)],
    ) -> Vec<u8> {
        let mut out = b"LVGDSNAP".to_vec();
        out.extend_from_slice(&1u16.to_le_bytes());
        name(&mut out, "leviathan");
        name(&mut out, "node1");
        out.extend_from_slice(&epoch.to_le_bytes());
        out.push(u8::from(generation.is_some()));
        out.extend_from_slice(&generation.unwrap_or(0).to_le_bytes());
        out.extend_from_slice(&max_version.to_le_bytes());
        out.extend_from_slice(&(records.len() as u32).to_le_bytes());
        for &(key, version, value) in records {
            record(&mut out, key, version, value);
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    pub fn log_header(epoch: u64) -> Vec<u8> {
        let mut out = b"LVGDLOG\0".to_vec();
        out.extend_from_slice(&1u16.to_le_bytes());
        name(&mut out, "leviathan");
        name(&mut out, "node1");
        out.extend_from_slice(&epoch.to_le_bytes());
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    fn frame(payload: &[u8]) -> Vec<u8> {
        let len = (payload.len() as u32).to_le_bytes();
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&len);
        hasher.update(payload);
        let mut out = len.to_vec();
        out.extend_from_slice(&hasher.finalize().to_le_bytes());
        out.extend_from_slice(payload);
        out
    }

    pub fn write(key: &str, version: u64, value: Option<&[u8]>) -> Vec<u8> {
        let mut payload = vec![1];
        record(&mut payload, key, version, value);
        frame(&payload)
    }

    pub fn generation(generation: u64) -> Vec<u8> {
        let mut payload = vec![2];
        payload.extend_from_slice(&generation.to_le_bytes());
        frame(&payload)
    }

    pub fn value(text: &str) -> Option<Bytes> {
        Some(Bytes::copy_from_slice(text.as_bytes()))
    }
}

/// A version 1 directory at epoch 3: a snapshot with two records and a log with a
/// generation, an overwrite, a delete and a new key. Returns the log's frame boundaries.
fn write_v1_dir(path: &Path) -> Vec<usize> {
    fs::create_dir_all(path).unwrap();
    let snapshot = v1::snapshot(
        3,
        Some(500),
        4,
        &[("a", 2, Some(b"one")), ("b", 4, Some(b"")), ("c", 3, None)],
    );
    fs::write(path.join(SNAPSHOT_FILE), snapshot).unwrap();
    let mut log = v1::log_header(3);
    let mut boundaries = vec![log.len()];
    for frame in [
        v1::generation(600),
        v1::write("a", 5, Some(b"uno")),
        v1::write("b", 6, None),
        v1::write("d", 9, Some(b"four")),
    ] {
        log.extend(frame);
        boundaries.push(log.len());
    }
    fs::write(path.join(LOG_FILE), log).unwrap();
    boundaries
}

/// The state of [`write_v1_dir`], with the first `applied` log records replayed.
fn v1_state(applied: usize) -> Observed {
    let mut records = Records::new();
    records.insert(key("a"), (Version(2), v1::value("one")));
    records.insert(key("b"), (Version(4), v1::value("")));
    records.insert(key("c"), (Version(3), None));
    let mut state = Observed {
        records,
        expiries: Expiries::new(),
        max_version: Version(4),
        generation: Some(Generation(500)),
    };
    if applied >= 1 {
        state.generation = Some(Generation(600));
    }
    let writes = [
        ("a", 5, v1::value("uno")),
        ("b", 6, None),
        ("d", 9, v1::value("four")),
    ];
    for (name, version, value) in writes.into_iter().take(applied.saturating_sub(1)) {
        state.records.insert(key(name), (Version(version), value));
        state.max_version = Version(version);
    }
    state
}

#[test]
fn a_version_1_directory_opens_without_expiries_and_is_upgraded() {
    let tmp = TempDir::new().unwrap();
    let path = tmp.path();
    write_v1_dir(path);

    let mut dir = open_manual(path).unwrap();
    assert_eq!(dir.recovery().upgraded_from_format, Some(1));
    assert_eq!(dir.recovery().log_records, 4);
    assert!(!dir.recovery().finished_compaction);
    assert_eq!(observe(&dir), v1_state(4));
    assert!(dir.expiries().is_empty());
    // Rewritten before open returned: both files are of the current version, the log
    // holds only its header.
    assert_eq!(FORMAT_VERSION, 2);
    assert_eq!(file_format_version(&path.join(SNAPSHOT_FILE)), 2);
    assert_eq!(file_format_version(&path.join(LOG_FILE)), 2);
    let header_only = fs::metadata(path.join(LOG_FILE)).unwrap().len();

    // Writes, plain and expiring, go into a version 2 log.
    dir.record_write_expiring(key("c"), Version(10), Bytes::from("ttl"), 123_456)
        .unwrap();
    dir.record_write(key("e"), Version(11), value("plain"))
        .unwrap();
    assert!(fs::metadata(path.join(LOG_FILE)).unwrap().len() > header_only);
    let expected = observe(&dir);
    drop(dir);

    let dir = open_manual(path).unwrap();
    assert_eq!(dir.recovery().upgraded_from_format, None);
    assert_eq!(dir.recovery().log_records, 2);
    assert_eq!(observe(&dir), expected);
    assert_eq!(dir.expiries(), &expiries(&[("c", 123_456)]));
}

#[test]
fn an_empty_version_1_directory_is_upgraded() {
    let tmp = TempDir::new().unwrap();
    let path = tmp.path();
    fs::write(path.join(SNAPSHOT_FILE), v1::snapshot(0, None, 0, &[])).unwrap();
    fs::write(path.join(LOG_FILE), v1::log_header(0)).unwrap();
    let mut dir = open(path);
    assert!(!dir.recovery().created);
    assert_eq!(dir.recovery().upgraded_from_format, Some(1));
    assert!(dir.records().is_empty());
    assert_eq!(dir.generation(), None);
    dir.record_write_expiring(key("k"), Version(1), Bytes::from("v"), 5)
        .unwrap();
    drop(dir);
    assert_eq!(open(path).expiry("k"), Some(5));

    // A version 1 initialization cut short (log, no snapshot) is initialized afresh.
    let tmp = TempDir::new().unwrap();
    let path = tmp.path();
    fs::write(path.join(LOG_FILE), v1::log_header(0)).unwrap();
    let dir = open(path);
    assert!(dir.recovery().created);
    assert_eq!(file_format_version(&path.join(LOG_FILE)), 2);
    assert_eq!(file_format_version(&path.join(SNAPSHOT_FILE)), 2);
}

/// A crash at any byte of a version 1 log's last appends (the previous build's), then an
/// open by this build: each cut recovers exactly a prefix, and the upgrade leaves a
/// directory that reopens to the same state.
#[test]
fn a_version_1_log_cut_at_any_byte_is_recovered_and_upgraded() {
    let tmp = TempDir::new().unwrap();
    let source = tmp.path().join("source");
    let boundaries = write_v1_dir(&source);
    let log = fs::read(source.join(LOG_FILE)).unwrap();
    for cut in boundaries[0]..=log.len() {
        let target = tmp.path().join(format!("cut-{cut}"));
        copy_data(&source, &target);
        fs::write(target.join(LOG_FILE), &log[..cut]).unwrap();
        let acknowledged = boundaries.iter().rposition(|&end| end <= cut).unwrap();
        let dir =
            open_manual(&target).unwrap_or_else(|error| panic!("cut at {cut} refused: {error}"));
        assert_eq!(observe(&dir), v1_state(acknowledged), "cut at {cut}");
        assert_eq!(
            dir.recovery().torn_bytes_dropped as usize,
            cut - boundaries[acknowledged]
        );
        assert_eq!(dir.recovery().upgraded_from_format, Some(1));
        drop(dir);
        let dir = open_manual(&target).unwrap();
        assert_eq!(
            observe(&dir),
            v1_state(acknowledged),
            "cut at {cut}, reopened"
        );
        assert_eq!(dir.recovery().torn_bytes_dropped, 0);
        assert_eq!(dir.recovery().upgraded_from_format, None);
        drop(dir);
        fs::remove_dir_all(&target).unwrap();
    }
}

#[test]
fn an_interrupted_upgrade_is_finished_on_open() {
    let tmp = TempDir::new().unwrap();
    let path = tmp.path().join("data");
    let before = tmp.path().join("before");
    write_v1_dir(&path);
    copy_data(&path, &before);
    drop(open_manual(&path).unwrap());
    // The crash came after the version 2 snapshot was installed, before the log was
    // replaced: the stale log is still of version 1.
    fs::copy(before.join(LOG_FILE), path.join(LOG_FILE)).unwrap();
    assert_eq!(file_format_version(&path.join(LOG_FILE)), 1);

    let dir = open_manual(&path).unwrap();
    assert!(dir.recovery().finished_compaction);
    assert_eq!(dir.recovery().upgraded_from_format, Some(1));
    assert_eq!(observe(&dir), v1_state(4));
    drop(dir);
    let dir = open_manual(&path).unwrap();
    assert!(!dir.recovery().finished_compaction);
    assert_eq!(observe(&dir), v1_state(4));
}

#[test]
fn mismatched_or_unknown_format_versions_are_refused() {
    let tmp = TempDir::new().unwrap();
    // A version 1 snapshot beside a version 2 log of the same epoch: never written so.
    let path = tmp.path().join("v1-snapshot");
    drop(open(&path));
    fs::write(path.join(SNAPSHOT_FILE), v1::snapshot(0, None, 0, &[])).unwrap();
    let files = data_files(&path);
    let error = open_manual(&path).unwrap_err();
    assert!(matches!(error, OpenError::Corrupt { .. }), "{error:?}");
    assert!(
        error.to_string().contains("log format version 2"),
        "{error}"
    );
    assert_eq!(data_files(&path), files);

    // A version 2 snapshot beside a version 1 log of the same epoch (not a stale one).
    let path = tmp.path().join("v1-log");
    drop(open(&path));
    fs::write(path.join(LOG_FILE), v1::log_header(0)).unwrap();
    let error = open_manual(&path).unwrap_err();
    assert!(
        error.to_string().contains("log format version 1"),
        "{error}"
    );

    // A log of a later version.
    let path = tmp.path().join("v3-log");
    drop(open(&path));
    let mut header = v1::log_header(0);
    header[8] = 3;
    let covered = header.len() - 4;
    let crc = crc32fast::hash(&header[..covered]);
    header[covered..].copy_from_slice(&crc.to_le_bytes());
    fs::write(path.join(LOG_FILE), header).unwrap();
    let error = open_manual(&path).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("format version 3; this build reads versions 1 to 2"),
        "{error}"
    );

    // An expiry in a version 1 file: version 1 had none.
    let path = tmp.path().join("v1-expiry");
    write_v1_dir(&path);
    let mut log = fs::read(path.join(LOG_FILE)).unwrap();
    let mut payload = vec![1];
    v1::record(&mut payload, "z", 10, Some(b"x"));
    payload[1 + 8 + 2] = 2; // the value tag, after kind, version and key "z"
    payload.splice(1 + 8 + 2 + 1..1 + 8 + 2 + 1, 7u64.to_le_bytes());
    let len = (payload.len() as u32).to_le_bytes();
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&len);
    hasher.update(&payload);
    log.extend_from_slice(&len);
    log.extend_from_slice(&hasher.finalize().to_le_bytes());
    log.extend_from_slice(&payload);
    fs::write(path.join(LOG_FILE), log).unwrap();
    let error = open_manual(&path).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("bad value tag 2 for format version 1"),
        "{error}"
    );
}

fn own_write(name: &str, version: u64, text: Option<&str>) -> OwnWrite {
    OwnWrite {
        key: key(name),
        version: Version(version),
        value: text.and_then(value),
        expires_at_unix_ms: None,
    }
}

#[test]
fn a_group_of_writes_is_recorded_whole_or_not_at_all() {
    let tmp = TempDir::new().unwrap();
    let mut dir = open(tmp.path());
    let group = [
        own_write("a", 1, Some("1")),
        own_write("b", 2, Some("2")),
        own_write("a", 3, None),
    ];
    dir.record_writes(&group).unwrap();
    assert_eq!(dir.max_version(), Version(3));
    // Versions out of order inside a group, or not above what is recorded: refused whole.
    let unordered = [own_write("c", 5, Some("5")), own_write("d", 4, Some("4"))];
    assert!(matches!(
        dir.record_writes(&unordered),
        Err(WriteError::NotIncreasing { .. })
    ));
    let stale = [own_write("e", 6, Some("6")), own_write("f", 3, Some("3"))];
    assert!(dir.record_writes(&stale).is_err());
    assert_eq!(dir.max_version(), Version(3));
    drop(dir);
    let dir = open(tmp.path());
    assert_eq!(dir.max_version(), Version(3));
    let held: Vec<(String, u64, bool)> = dir
        .records()
        .iter()
        .map(|(key, (version, value))| (key.to_string(), version.0, value.is_some()))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        held,
        [("a".to_string(), 3, false), ("b".to_string(), 2, true)]
    );
}
