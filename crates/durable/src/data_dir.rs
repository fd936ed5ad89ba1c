//! The data directory: open and recover it, then record generations and writes durably.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use leviathan_gossip_wire::{ClusterId, Generation, Key, NodeName, Version};
use tracing::{debug, info, warn};

use crate::error::{IdentityField, OpenError, WriteError};
use crate::files::{self, ReplaceError};
use crate::format::{self, Entry, Expiries, FORMAT_VERSION, MAX_RECORD_LEN, Records};

/// The snapshot: the whole state as of the last compaction.
pub const SNAPSHOT_FILE: &str = "snapshot";
/// The log: every generation and write since the snapshot, one fsync'd record each.
pub const LOG_FILE: &str = "log";
/// The lock file: held (`flock`) while a [`DataDir`] is open; holds the holder's pid.
pub const LOCK_FILE: &str = "lock";

/// When the log is compacted into a new snapshot without being asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The log is compacted only once it is larger than this, in bytes. Default 1 MiB:
    /// compaction rewrites the whole state, so a small floor keeps a small state from
    /// being rewritten every few writes. `u64::MAX` turns automatic compaction off.
    pub auto_compact_min_log_bytes: u64,
    /// …and larger than this many times the snapshot. Default 2: the log's replay cost at
    /// open and its disk use stay within a small multiple of the state's size, while each
    /// compaction is paid for by at least twice its size in appends.
    pub auto_compact_ratio: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            auto_compact_min_log_bytes: 1024 * 1024,
            auto_compact_ratio: 2,
        }
    }
}

/// What [`DataDir::open`] found and repaired; worth a log line at start-up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// The directory held no state: it was initialized (and created if missing).
    pub created: bool,
    /// Log records replayed on top of the snapshot.
    pub log_records: usize,
    /// Bytes of a torn final log record that were dropped: an append cut short by a crash,
    /// which was never acknowledged. Zero after a clean shutdown.
    pub torn_bytes_dropped: u64,
    /// A compaction had been interrupted after installing its snapshot; open finished it.
    pub finished_compaction: bool,
    /// The directory held files of this older format version (the oldest found); open
    /// rewrote it in the current [`FORMAT_VERSION`](crate::FORMAT_VERSION) by a compaction
    /// before returning. `None` if it already was current (or was just created). A build
    /// that reads only the older version refuses the directory from now on.
    pub upgraded_from_format: Option<u16>,
}

/// A node's durable local state: its generation and its own keys, versions and values,
/// kept in a data directory so they survive restarts.
///
/// Open it once at start-up, before the node exists ([`DataDir::open`]); it holds the
/// directory's lock until dropped. Then:
///
/// 1. [`next_generation`](DataDir::next_generation) with the clock: the incarnation's
///    generation, durably larger than every earlier one even if the clock went back;
/// 2. [`records`](DataDir::records), [`expiries`](DataDir::expiries) and
///    [`max_version`](DataDir::max_version): the state to restore into the node, so
///    versions continue where the last run stopped and keys written with a TTL still
///    expire when they were due to;
/// 3. [`record_write`](DataDir::record_write) for every `set` and `del`, and
///    [`record_write_expiring`](DataDir::record_write_expiring) for every `set` with a TTL,
///    *before* the write is applied and acknowledged: when it returns `Ok`, the write is on
///    disk;
/// 4. [`forget`](DataDir::forget) for tombstones that garbage collection dropped, and
///    now and then [`compact`](DataDir::compact) (writes also compact automatically).
///
/// Every method that writes fsyncs before returning, so it blocks for the disk's flush
/// latency (about 0.1–10 ms): call it where blocking is acceptable.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    cluster_id: ClusterId,
    node: NodeName,
    options: Options,
    /// Held for the handle's lifetime; the OS releases it when the file closes, crash or not.
    _lock: fs::File,
    /// The log, opened for appending.
    log: fs::File,
    /// Bytes of the log known to be valid and durable: where the next record goes.
    log_len: u64,
    snapshot_len: u64,
    /// Number of the current snapshot/log pair: each compaction takes the next.
    epoch: u64,
    state: State,
    recovery: Recovery,
    /// Set by a failure of unknown durability: no further writes until reopened.
    poisoned: bool,
}

impl DataDir {
    /// Opens the data directory at `path` for the node `node` of cluster `cluster_id`
    /// with default [`Options`]: creates and initializes it if it holds no state, takes its
    /// lock, and recovers the state (snapshot plus log).
    ///
    /// Refuses, changing nothing, a directory held by another handle
    /// ([`OpenError::Locked`]), another cluster's or node's state
    /// ([`OpenError::Foreign`]), and any damaged, unknown or inconsistent file
    /// ([`OpenError::Corrupt`]). The one thing repaired is a torn final log record, which
    /// a crash in the middle of an append leaves and which was never acknowledged: it is
    /// cut off (and reported in [`DataDir::recovery`]).
    pub fn open(
        path: impl AsRef<Path>,
        cluster_id: &ClusterId,
        node: &NodeName,
    ) -> Result<DataDir, OpenError> {
        Self::open_with(path, cluster_id, node, Options::default())
    }

    /// [`DataDir::open`] with explicit [`Options`].
    pub fn open_with(
        path: impl AsRef<Path>,
        cluster_id: &ClusterId,
        node: &NodeName,
        options: Options,
    ) -> Result<DataDir, OpenError> {
        let dir = path.as_ref().to_path_buf();
        files::create_dir_durably(&dir).map_err(io_error(&dir))?;
        let lock = files::lock(&dir, &dir.join(LOCK_FILE))?;
        // A crash during an atomic replacement leaves its temp file; it never held
        // anything that the real file does not.
        for name in [SNAPSHOT_FILE, LOG_FILE, crate::MEMBERS_FILE] {
            let temp = files::temp_path(&dir, name);
            match fs::remove_file(&temp) {
                Err(error) if error.kind() != io::ErrorKind::NotFound => {
                    return Err(io_error(&temp)(error));
                }
                _ => {}
            }
        }
        let snapshot_path = dir.join(SNAPSHOT_FILE);
        let log_path = dir.join(LOG_FILE);
        let snapshot_bytes =
            files::read_optional(&snapshot_path).map_err(io_error(&snapshot_path))?;
        let log_bytes = files::read_optional(&log_path).map_err(io_error(&log_path))?;
        let handle = Handle {
            dir,
            cluster_id,
            node,
            options,
            lock,
        };
        match snapshot_bytes {
            None => handle.create(log_bytes.as_deref()),
            Some(snapshot_bytes) => handle.recover(&snapshot_bytes, log_bytes.as_deref()),
        }
    }

    /// Takes this incarnation's generation: `clock_millis` (milliseconds since the Unix
    /// epoch, by convention), or one more than the last generation handed out if the clock
    /// is not past it — so generations strictly grow across restarts even when the clock
    /// went back or jumped. Durable (fsync'd) when it returns.
    ///
    /// Call it once per start, before the node announces itself.
    pub fn next_generation(&mut self, clock_millis: u64) -> Result<Generation, WriteError> {
        self.check_writable()?;
        let floor = match self.state.generation {
            None => 0,
            Some(last) => last
                .0
                .checked_add(1)
                .ok_or(WriteError::GenerationExhausted)?,
        };
        let generation = Generation(clock_millis.max(floor));
        self.append(&format::encode_generation(generation))?;
        self.state.generation = Some(generation);
        debug!(path = %self.path.display(), %generation, "generation persisted");
        self.compact_if_due();
        Ok(generation)
    }

    /// Records one of the node's own writes: `value` for a `set`, `None` (a tombstone) for a
    /// `del`. Durable (fsync'd) when it returns `Ok`, so the caller may then apply and
    /// acknowledge the write; on `Err` it must do neither. The key has no expiry afterwards,
    /// whatever it had before (see [`record_write_expiring`](DataDir::record_write_expiring)).
    ///
    /// `version` must be above every version recorded so far ([`DataDir::max_version`]);
    /// key plus value may be at most [`MAX_RECORD_LEN`] bytes. Either refusal changes
    /// nothing. May compact the log afterwards (see [`Options`]); a failure of that
    /// compaction does not undo the write, and is logged (a later write reports it if the
    /// handle had to be poisoned).
    pub fn record_write(
        &mut self,
        key: Key,
        version: Version,
        value: Option<Bytes>,
    ) -> Result<(), WriteError> {
        self.write_record(key, version, value, None)
    }

    /// Records a `set` with a TTL: like [`record_write`](DataDir::record_write) with a live
    /// `value` (same checks, durable when it returns `Ok`), and the key's expiry,
    /// `expires_at_unix_ms`: an absolute wall-clock time in milliseconds since the Unix
    /// epoch, when the owner is to delete the key. It is only stored and reported back
    /// ([`DataDir::expiries`]), never acted on here: deleting the key when it is due (with
    /// [`record_write`](DataDir::record_write) and `None`) is the caller's job, and a time
    /// already past is accepted (the key is due at once).
    ///
    /// The expiry lasts as long as this record: a later write or delete of the key clears
    /// it unless it sets a new one.
    pub fn record_write_expiring(
        &mut self,
        key: Key,
        version: Version,
        value: Bytes,
        expires_at_unix_ms: u64,
    ) -> Result<(), WriteError> {
        self.write_record(key, version, Some(value), Some(expires_at_unix_ms))
    }

    /// Records several of the node's own writes with one fsync (a group commit): all or
    /// none. Each is as [`record_write`](DataDir::record_write) (`expires_at_unix_ms` as
    /// [`record_write_expiring`](DataDir::record_write_expiring), only with a value), and
    /// their versions must increase along the slice, above every version recorded so far.
    /// A refusal of any changes nothing; durable when it returns `Ok`.
    pub fn record_writes(&mut self, writes: &[OwnWrite]) -> Result<(), WriteError> {
        self.check_writable()?;
        if writes.is_empty() {
            return Ok(());
        }
        let mut max_version = self.state.max_version;
        for write in writes {
            if write.version <= max_version {
                return Err(WriteError::NotIncreasing {
                    version: write.version,
                    max_version,
                });
            }
            max_version = write.version;
            let len = write.key.as_str().len() + write.value.as_ref().map_or(0, Bytes::len);
            if len > MAX_RECORD_LEN {
                return Err(WriteError::TooLarge {
                    len,
                    max: MAX_RECORD_LEN,
                });
            }
        }
        let mut frames = Vec::new();
        for write in writes {
            let expires_at = write.expires_at_unix_ms.filter(|_| write.value.is_some());
            frames.extend_from_slice(&format::encode_write(
                &write.key,
                write.version,
                write.value.as_ref(),
                expires_at,
            ));
        }
        self.append(&frames)?;
        for write in writes {
            let expires_at = write.expires_at_unix_ms.filter(|_| write.value.is_some());
            let value = write.value.clone();
            self.state
                .set(write.key.clone(), write.version, value, expires_at);
        }
        self.compact_if_due();
        Ok(())
    }

    /// [`record_write`](DataDir::record_write) and
    /// [`record_write_expiring`](DataDir::record_write_expiring): `expires_at` only with a
    /// value.
    fn write_record(
        &mut self,
        key: Key,
        version: Version,
        value: Option<Bytes>,
        expires_at: Option<u64>,
    ) -> Result<(), WriteError> {
        let write = OwnWrite {
            key,
            version,
            value,
            expires_at_unix_ms: expires_at,
        };
        self.record_writes(std::slice::from_ref(&write))
    }

    /// Drops the tombstone of `key`, once garbage collection no longer needs it. Returns
    /// whether there was one; a live value is never dropped (delete it first).
    ///
    /// In memory only: the next [`compact`](DataDir::compact) removes it from disk. A
    /// crash before then brings the tombstone back, which is harmless (it deletes a key
    /// that is already gone, and is collected again).
    pub fn forget(&mut self, key: &str) -> bool {
        let is_tombstone = self
            .state
            .records
            .get(key)
            .is_some_and(|(_, value)| value.is_none());
        if is_tombstone {
            self.state.records.remove(key);
            // A tombstone has no expiry; removed anyway so none can outlive its record.
            self.state.expiries.remove(key);
        }
        is_tombstone
    }

    /// Writes the whole state as a new snapshot and starts an empty log, so the log's
    /// replay at open and its disk use shrink, and forgotten tombstones leave the disk.
    ///
    /// Crash-safe at every step: the snapshot replaces the old one atomically (temp file,
    /// fsync, rename, directory fsync) before the log is replaced the same way, and an
    /// open that finds the new snapshot beside the old log finishes the job.
    pub fn compact(&mut self) -> Result<(), WriteError> {
        self.check_writable()?;
        let epoch = self.epoch.saturating_add(1);
        let snapshot = format::encode_snapshot(
            self.cluster_id.as_str(),
            self.node.as_str(),
            epoch,
            self.state.generation,
            self.state.max_version,
            &self.state.records,
            &self.state.expiries,
        );
        if let Err(error) = files::replace_atomically(&self.path, SNAPSHOT_FILE, &snapshot) {
            if !error.renamed {
                return Err(WriteError::Io {
                    path: error.path,
                    source: error.source,
                });
            }
            return Err(self.poison(error.path, error.source));
        }
        // From here on the new snapshot holds everything; the old log is stale.
        self.epoch = epoch;
        self.snapshot_len = snapshot.len() as u64;
        let header = format::encode_log_header(self.cluster_id.as_str(), self.node.as_str(), epoch);
        let log_path = self.path.join(LOG_FILE);
        let replaced = files::replace_atomically(&self.path, LOG_FILE, &header)
            .map_err(|ReplaceError { path, source, .. }| (path, source))
            .and_then(|()| files::open_append(&log_path).map_err(|source| (log_path, source)));
        match replaced {
            Ok(log) => {
                self.log = log;
                self.log_len = header.len() as u64;
            }
            // Appending to the old log now would write where the next open does not look.
            Err((path, source)) => return Err(self.poison(path, source)),
        }
        debug!(
            path = %self.path.display(),
            epoch,
            snapshot_bytes = self.snapshot_len,
            records = self.state.records.len(),
            "compacted"
        );
        Ok(())
    }

    /// The node's own records: key → (version, value), `None` for a tombstone (kept until
    /// [`forget`](DataDir::forget)). Recovered at open, then kept up to date by
    /// [`record_write`](DataDir::record_write).
    pub fn records(&self) -> &Records {
        &self.state.records
    }

    /// Expiry of each key whose current record is a live value written with
    /// [`record_write_expiring`](DataDir::record_write_expiring): key → milliseconds since
    /// the Unix epoch. Keys written since without an expiry, deleted or forgotten have
    /// none. Recovered at open, then kept up to date by the writes.
    pub fn expiries(&self) -> &Expiries {
        &self.state.expiries
    }

    /// The expiry of `key` (milliseconds since the Unix epoch), if its current record is
    /// a live value written with one: [`expiries`](DataDir::expiries) for one key.
    pub fn expiry(&self, key: &str) -> Option<u64> {
        self.state.expiries.get(key).copied()
    }

    /// The highest version ever recorded (zero if none), forgotten tombstones included:
    /// the node's version counter continues above it.
    pub fn max_version(&self) -> Version {
        self.state.max_version
    }

    /// The last generation handed out by [`next_generation`](DataDir::next_generation),
    /// in this run or an earlier one; `None` if never.
    pub fn generation(&self) -> Option<Generation> {
        self.state.generation
    }

    /// What opening found and repaired.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a write failed with unknown durability ([`WriteError::Indeterminate`]):
    /// every later write is refused until the directory is reopened.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    fn check_writable(&self) -> Result<(), WriteError> {
        if self.poisoned {
            return Err(WriteError::Poisoned);
        }
        Ok(())
    }

    /// Appends framed records and fsyncs them once. On failure the log is left ending with a
    /// whole record: rolled back ([`WriteError::Io`]) or, if that cannot be known,
    /// the handle is poisoned ([`WriteError::Indeterminate`]).
    fn append(&mut self, frame: &[u8]) -> Result<(), WriteError> {
        let path = self.path.join(LOG_FILE);
        if let Err(source) = self.log.write_all(frame) {
            // Remove whatever part of the record reached the file.
            let rolled_back = self
                .log
                .set_len(self.log_len)
                .and_then(|()| self.log.sync_data());
            return Err(match rolled_back {
                Ok(()) => WriteError::Io { path, source },
                Err(_) => self.poison(path, source),
            });
        }
        if let Err(source) = self.log.sync_data() {
            // After a failed fsync the kernel may have dropped the dirty pages and a later
            // fsync may "succeed" without them, so nothing unsynced can be trusted. Cut the
            // record off as a best effort so it is less likely to reappear after a restart.
            let _ = self.log.set_len(self.log_len);
            return Err(self.poison(path, source));
        }
        self.log_len += frame.len() as u64;
        Ok(())
    }

    fn poison(&mut self, path: PathBuf, source: io::Error) -> WriteError {
        warn!(
            path = %path.display(),
            error = %source,
            "data directory write failed with unknown durability; writes refused until reopened"
        );
        self.poisoned = true;
        WriteError::Indeterminate { path, source }
    }

    fn compact_if_due(&mut self) {
        let threshold = self
            .snapshot_len
            .saturating_mul(self.options.auto_compact_ratio)
            .max(self.options.auto_compact_min_log_bytes);
        if self.log_len <= threshold {
            return;
        }
        if let Err(error) = self.compact() {
            warn!(path = %self.path.display(), %error, "automatic compaction failed");
        }
    }
}

/// One of the node's own writes, for [`DataDir::record_writes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnWrite {
    /// The key written.
    pub key: Key,
    /// Its version: above every version recorded before it.
    pub version: Version,
    /// The value; `None` for a tombstone.
    pub value: Option<Bytes>,
    /// For a value with a time to live: when the owner is to delete it, in milliseconds
    /// since the Unix epoch (see [`DataDir::record_write_expiring`]).
    pub expires_at_unix_ms: Option<u64>,
}

/// The node's state as recovered and maintained.
#[derive(Debug, Clone, Default)]
struct State {
    generation: Option<Generation>,
    max_version: Version,
    records: Records,
    /// Invariant: a key is here only if its record in `records` is a live value.
    expiries: Expiries,
}

impl State {
    /// Applies one log record. In the log of the current snapshot every record must be
    /// newer than the state (anything else means the files do not belong together). In
    /// a stale log (left by an interrupted compaction) records the snapshot already holds
    /// are skipped. Returns whether the record was applied.
    fn apply(&mut self, entry: Entry, stale: bool) -> Result<bool, String> {
        match entry {
            Entry::Write {
                key,
                version,
                value,
                expires_at,
            } => {
                if version <= self.max_version {
                    return if stale {
                        Ok(false)
                    } else {
                        Err(format!(
                            "version {version} of {key} is not above the state's {}",
                            self.max_version
                        ))
                    };
                }
                self.set(key, version, value, expires_at);
            }
            Entry::Generation(generation) => {
                if let Some(current) = self.generation.filter(|current| generation <= *current) {
                    return if stale {
                        Ok(false)
                    } else {
                        Err(format!(
                            "generation {generation} is not above the state's {current}"
                        ))
                    };
                }
                self.generation = Some(generation);
            }
        }
        Ok(true)
    }

    /// Makes `key`'s record the one given (a version already checked to be the highest),
    /// replacing its expiry: `expires_at` counts only with a value.
    fn set(&mut self, key: Key, version: Version, value: Option<Bytes>, expires_at: Option<u64>) {
        match expires_at.filter(|_| value.is_some()) {
            Some(expires_at) => self.expiries.insert(key.clone(), expires_at),
            None => self.expiries.remove(&key),
        };
        self.records.insert(key, (version, value));
        self.max_version = version;
    }
}

/// What open knows before the state is read.
struct Handle<'a> {
    dir: PathBuf,
    cluster_id: &'a ClusterId,
    node: &'a NodeName,
    options: Options,
    lock: fs::File,
}

impl Handle<'_> {
    /// No snapshot: a new directory, or one whose initialization a crash interrupted.
    fn create(self, log_bytes: Option<&[u8]>) -> Result<DataDir, OpenError> {
        let log_path = self.dir.join(LOG_FILE);
        if let Some(bytes) = log_bytes {
            let (header, header_len) =
                format::decode_log_header(bytes).map_err(corrupt(&log_path))?;
            self.check_identity(&log_path, &header.cluster_id, &header.node)?;
            // Initialization writes the log, then the snapshot; compaction never deletes
            // the snapshot. So only an empty first log may lack one.
            if header.epoch != 0 || bytes.len() > header_len {
                return Err(OpenError::Corrupt {
                    path: self.dir.join(SNAPSHOT_FILE),
                    reason: format!(
                        "missing, while the log holds state (epoch {}, {} bytes of records)",
                        header.epoch,
                        bytes.len() - header_len
                    ),
                });
            }
        }
        // The snapshot goes last: its presence marks the directory initialized.
        let header = format::encode_log_header(self.cluster_id.as_str(), self.node.as_str(), 0);
        files::replace_atomically(&self.dir, LOG_FILE, &header).map_err(replace_error)?;
        let state = State::default();
        let snapshot = format::encode_snapshot(
            self.cluster_id.as_str(),
            self.node.as_str(),
            0,
            state.generation,
            state.max_version,
            &state.records,
            &state.expiries,
        );
        files::replace_atomically(&self.dir, SNAPSHOT_FILE, &snapshot).map_err(replace_error)?;
        let log = files::open_append(&log_path).map_err(io_error(&log_path))?;
        info!(path = %self.dir.display(), "initialized data directory");
        let recovery = Recovery {
            created: true,
            ..Recovery::default()
        };
        Ok(self.finish(log, header.len(), snapshot.len(), 0, state, recovery))
    }

    /// Reads the snapshot, replays the log over it, and repairs what a crash may leave:
    /// a torn final record, an interrupted compaction. Rewrites files of an older format
    /// version in the current one.
    fn recover(
        self,
        snapshot_bytes: &[u8],
        log_bytes: Option<&[u8]>,
    ) -> Result<DataDir, OpenError> {
        let snapshot_path = self.dir.join(SNAPSHOT_FILE);
        let log_path = self.dir.join(LOG_FILE);
        let snapshot = format::decode_snapshot(snapshot_bytes).map_err(corrupt(&snapshot_path))?;
        self.check_identity(&snapshot_path, &snapshot.cluster_id, &snapshot.node)?;
        let log_bytes = log_bytes.ok_or_else(|| OpenError::Corrupt {
            path: log_path.clone(),
            reason: "missing: writes since the snapshot would be lost".into(),
        })?;
        let (header, header_len) =
            format::decode_log_header(log_bytes).map_err(corrupt(&log_path))?;
        self.check_identity(&log_path, &header.cluster_id, &header.node)?;
        let stale = if header.epoch == snapshot.epoch {
            false
        } else if header.epoch.checked_add(1) == Some(snapshot.epoch) {
            true
        } else {
            return Err(OpenError::Corrupt {
                path: log_path,
                reason: format!(
                    "log epoch {} does not belong to snapshot epoch {}",
                    header.epoch, snapshot.epoch
                ),
            });
        };
        // Files are upgraded together, snapshot first (by a compaction), so a log has its
        // snapshot's format version, or an older one only if it is the stale log of an
        // interrupted upgrade.
        let log_version = header.format_version;
        let snapshot_version = snapshot.format_version;
        if log_version != snapshot_version && !(stale && log_version < snapshot_version) {
            return Err(OpenError::Corrupt {
                path: log_path,
                reason: format!(
                    "log format version {log_version} (epoch {}) does not belong to snapshot \
                     format version {snapshot_version} (epoch {})",
                    header.epoch, snapshot.epoch
                ),
            });
        }
        // An older format is upgraded now, before any write, rather than by the next
        // compaction: appending current-format records to an older log would give a file
        // whose header's version no longer describes all of its records, which an older
        // build would then misread as damage instead of refusing it by version. Rewriting
        // keeps every file wholly of the version its header names.
        let oldest_version = log_version.min(snapshot_version);
        let upgrade = (oldest_version < FORMAT_VERSION).then_some(oldest_version);
        let scan =
            format::scan_log(log_bytes, header_len, log_version).map_err(corrupt(&log_path))?;
        let mut state = State {
            generation: snapshot.generation,
            max_version: snapshot.max_version,
            records: snapshot.records,
            expiries: snapshot.expiries,
        };
        let mut replayed = 0;
        for (offset, entry) in scan.entries {
            let applied = state
                .apply(entry, stale)
                .map_err(|reason| OpenError::Corrupt {
                    path: log_path.clone(),
                    reason: format!("record at byte {offset}: {reason}"),
                })?;
            replayed += usize::from(applied);
        }
        let log = files::open_append(&log_path).map_err(io_error(&log_path))?;
        let recovery = Recovery {
            created: false,
            log_records: replayed,
            torn_bytes_dropped: scan.torn_len as u64,
            finished_compaction: stale,
            upgraded_from_format: upgrade,
        };
        let dir = self.dir.clone();
        let mut data_dir = self.finish(
            log,
            scan.valid_len,
            snapshot_bytes.len(),
            snapshot.epoch,
            state,
            recovery,
        );
        if scan.torn_len > 0 {
            warn!(
                path = %log_path.display(),
                offset = scan.valid_len,
                bytes = scan.torn_len,
                "dropping a torn final log record (an append cut short by a crash, never acknowledged)"
            );
        }
        if stale || upgrade.is_some() {
            if stale {
                info!(path = %dir.display(), "finishing a compaction interrupted by a crash");
            }
            if let Some(from) = upgrade {
                info!(
                    path = %dir.display(),
                    from,
                    to = FORMAT_VERSION,
                    "rewriting the data directory in the current format"
                );
            }
            // Replaces the log too, torn tail included.
            data_dir
                .compact()
                .map_err(|error| write_to_open_error(error, &dir))?;
        } else if scan.torn_len > 0 {
            data_dir
                .log
                .set_len(data_dir.log_len)
                .and_then(|()| data_dir.log.sync_data())
                .map_err(io_error(&log_path))?;
        }
        info!(
            path = %dir.display(),
            records = data_dir.state.records.len(),
            max_version = %data_dir.state.max_version,
            generation = ?data_dir.state.generation.map(|g| g.0),
            replayed,
            "recovered data directory"
        );
        Ok(data_dir)
    }

    fn check_identity(&self, path: &Path, cluster_id: &str, node: &str) -> Result<(), OpenError> {
        let checks = [
            (
                IdentityField::ClusterId,
                self.cluster_id.as_str(),
                cluster_id,
            ),
            (IdentityField::NodeName, self.node.as_str(), node),
        ];
        for (field, expected, found) in checks {
            if expected != found {
                return Err(OpenError::Foreign {
                    path: path.to_path_buf(),
                    field,
                    expected: expected.to_string(),
                    found: found.to_string(),
                });
            }
        }
        Ok(())
    }

    fn finish(
        self,
        log: fs::File,
        log_len: usize,
        snapshot_len: usize,
        epoch: u64,
        state: State,
        recovery: Recovery,
    ) -> DataDir {
        DataDir {
            path: self.dir,
            cluster_id: self.cluster_id.clone(),
            node: self.node.clone(),
            options: self.options,
            _lock: self.lock,
            log,
            log_len: log_len as u64,
            snapshot_len: snapshot_len as u64,
            epoch,
            state,
            recovery,
            poisoned: false,
        }
    }
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> OpenError + '_ {
    move |source| OpenError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn corrupt(path: &Path) -> impl FnOnce(String) -> OpenError + '_ {
    move |reason| OpenError::Corrupt {
        path: path.to_path_buf(),
        reason,
    }
}

fn replace_error(error: ReplaceError) -> OpenError {
    OpenError::Io {
        path: error.path,
        source: error.source,
    }
}

/// A compaction run by open can only fail with I/O errors.
fn write_to_open_error(error: WriteError, dir: &Path) -> OpenError {
    match error {
        WriteError::Io { path, source } | WriteError::Indeterminate { path, source } => {
            OpenError::Io { path, source }
        }
        other => OpenError::Io {
            path: dir.to_path_buf(),
            source: io::Error::other(other.to_string()),
        },
    }
}
