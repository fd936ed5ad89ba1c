//! Durable local state of a leviathan-gossip node: its **generation** and its **own keys,
//! versions and values** survive a restart in a data directory.
//!
//! Without it a restarted node starts empty with the clock as its generation: its keys are
//! gone, and a clock that went back gives a generation peers take for an old incarnation.
//! With it:
//!
//! * generations strictly grow across restarts whatever the clock does
//!   ([`DataDir::next_generation`]);
//! * a `set` or `del` acknowledged to the application is on disk: a crash at any moment
//!   loses none ([`DataDir::record_write`] returns only after fsync);
//! * a key set with a TTL keeps its expiry, an absolute wall-clock time, across restarts
//!   ([`DataDir::record_write_expiring`], [`DataDir::expiries`]);
//! * a damaged, foreign or unknown data file is refused with an error that names it,
//!   never silently replaced ([`OpenError`]).
//!
//! # Using it
//!
//! ```
//! use bytes::Bytes;
//! use leviathan_gossip_durable::DataDir;
//! use leviathan_gossip_wire::{ClusterId, Key, NodeName, Version};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let tmp = tempfile::tempdir()?;
//! # let path = tmp.path().join("node1");
//! let cluster = ClusterId::new("leviathan")?;
//! let name = NodeName::new("node1")?;
//!
//! // First run: an empty directory is initialized.
//! let mut dir = DataDir::open(&path, &cluster, &name)?;
//! let generation = dir.next_generation(1_700_000_000_000)?;
//! dir.record_write(Key::new("color")?, Version(1), Some(Bytes::from("blue")))?; // durable now
//! dir.record_write(Key::new("color")?, Version(2), None)?;                      // a delete
//! // A set with a TTL of one minute: its expiry is in milliseconds since the Unix epoch.
//! let expires_at = 1_700_000_000_000 + 60_000;
//! dir.record_write_expiring(Key::new("lease")?, Version(3), Bytes::from("me"), expires_at)?;
//! drop(dir); // releases the directory's lock
//!
//! // Next run, with a clock that went back an hour: the state is back, the generation grows.
//! let mut dir = DataDir::open(&path, &cluster, &name)?;
//! assert!(dir.next_generation(1_700_000_000_000 - 3_600_000)? > generation);
//! assert_eq!(dir.max_version(), Version(3));
//! assert_eq!(dir.records().get("color"), Some(&(Version(2), None)));
//! assert_eq!(dir.expiry("lease"), Some(expires_at)); // its deadline came back too
//! assert_eq!(dir.expiry("color"), None);
//! # Ok(())
//! # }
//! ```
//!
//! The runtime opens the directory before it builds the node, takes the generation from
//! it, restores [`DataDir::records`] into the node with their versions (so the version
//! counter continues above [`DataDir::max_version`]) and re-arms the TTL of each key in
//! [`DataDir::expiries`], and calls [`DataDir::record_write`] (or
//! [`DataDir::record_write_expiring`] for a `set` with a TTL) for each local write
//! *before* applying and acknowledging it. Expiries are only stored here: deleting a key
//! when it is due is the runtime's job, done like any delete. [`DataDir`]'s docs list the
//! calls in order.
//!
//! # Design: an fsync'd log and an atomically replaced snapshot
//!
//! The directory holds three files: [`SNAPSHOT_FILE`] (the whole state as of the last
//! compaction), [`LOG_FILE`] (every generation and write since, appended and fsync'd one
//! record at a time) and [`LOCK_FILE`]. The state is the snapshot with the log replayed over
//! it. [`DataDir::compact`] — automatic once the log outgrows a multiple of the snapshot
//! ([`Options`]) — writes a new snapshot to a temp file, fsyncs it, renames it over the old
//! one, fsyncs the directory, and then replaces the log with an empty one the same way.
//!
//! Why not an embedded store such as redb or sled? The state is small (one node's keys,
//! each bounded by a datagram) and written one record at a time, which a log does with one
//! `write` and one `fdatasync`; what matters is *exactly* when data is durable and *exactly*
//! what happens to damaged bytes. A log we own makes both explicit and testable — the tests
//! cut the log at every byte offset and check that each crash recovers a prefix of the
//! acknowledged writes — and refuses damage with the file and byte offset instead of a
//! store's generic error or its own repair policy. It also adds no dependency beyond a
//! CRC, and no format that a dependency upgrade could change under the data.
//!
//! Beside them, [`MEMBERS_FILE`] holds the peers the node heard from most recently (a
//! hint for rejoining after a restart, not state: a damaged one is ignored, see
//! [`read_members`] for its format).
//!
//! # Crash safety
//!
//! * **A write is acknowledged only after `fdatasync`** of the log. A crash before that may
//!   leave a *torn final record*: the one append in flight, cut short or partly zero-filled.
//!   Open drops it (it was never acknowledged) and reports it in
//!   [`Recovery::torn_bytes_dropped`]. A damaged record is taken as torn only if it could be
//!   the last append: at most one maximum record's length ([`MAX_RECORD_LEN`] plus 31
//!   bytes; plus 23 in a format version 1 log) remains to the end of the file, and no valid
//!   record ends at the end of the file after it. Damage anywhere else is
//!   [`OpenError::Corrupt`].
//! * **Files are replaced atomically** (temp file, fsync, rename, directory fsync), so a
//!   crash leaves the old file or the new, whole. Initialization writes the log before the
//!   snapshot, so a directory without a snapshot holds no state.
//! * **Each compaction numbers its snapshot and log** (the *epoch*). A crash between
//!   installing the new snapshot and replacing the log leaves the new snapshot beside the
//!   previous epoch's log, every record of which the snapshot already holds; open recognizes
//!   it and finishes the compaction. Any other pairing is refused.
//! * **A failed write leaves the log ending with a whole record**: it is cut back and
//!   reported as [`WriteError::Io`] (nothing changed), or, after a failed fsync, when that
//!   cannot be known, the handle refuses further writes ([`WriteError::Indeterminate`]).
//! * **One process at a time**: [`DataDir::open`] takes an OS lock on [`LOCK_FILE`]
//!   (`flock`), released when the handle is dropped or the process dies.
//!
//! # Byte layout (format version 2)
//!
//! Integers are little-endian. CRC-32 is the IEEE 802.3 polynomial (as in zlib and
//! gzip). Names (`cluster id`, `node name`, `key`) are UTF-8, 1 to 128 bytes, preceded by
//! their length in one byte, and must be valid wire names.
//!
//! **Snapshot** ([`SNAPSHOT_FILE`]):
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `LVGDSNAP` |
//! | 2 | format version, `2` |
//! | 1 + n | cluster id |
//! | 1 + n | node name |
//! | 8 | epoch: number of the compaction that wrote it (0 at initialization) |
//! | 1 | `1` if a generation was ever handed out, else `0` |
//! | 8 | that generation (0 if none) |
//! | 8 | max version: the highest version ever recorded |
//! | 4 | record count |
//! | … | records in strictly ascending key order, each a *record body* (below) with a version of 1 to max version |
//! | 4 | CRC-32 of every preceding byte of the file |
//!
//! **Log** ([`LOG_FILE`]): a header, then frames.
//!
//! | bytes | header field |
//! |---|---|
//! | 8 | magic `LVGDLOG\0` |
//! | 2 | format version, `2` |
//! | 1 + n | cluster id |
//! | 1 + n | node name |
//! | 8 | epoch: equal to the snapshot's (or one less after an interrupted compaction) |
//! | 4 | CRC-32 of the preceding header bytes |
//!
//! | bytes | frame field |
//! |---|---|
//! | 4 | payload length L, 1 to [`MAX_RECORD_LEN`] + 23 |
//! | 4 | CRC-32 of the length field's 4 bytes followed by the payload |
//! | L | payload: kind `1` (write) then a record body; or kind `2` (generation) then the generation (8) |
//!
//! **Record body**:
//!
//! | bytes | field |
//! |---|---|
//! | 8 | version |
//! | 1 + n | key |
//! | 1 | tag: `0` tombstone (nothing follows); `1` value; `2` value with an expiry |
//! | 8 | only with tag `2`: the expiry, milliseconds since the Unix epoch (any value) |
//! | 4 + v | not with tag `0`: value length v, then the value (key + value at most [`MAX_RECORD_LEN`]) |
//!
//! A record's expiry lasts as long as the record: a later write of the key replaces it
//! (tag `1` or `0` leaves the key without one).
//!
//! In the log, write versions strictly increase and exceed the snapshot's max version,
//! and generations strictly increase and exceed the snapshot's; a file that breaks any
//! rule here is refused.
//!
//! **Format version 1** is the same layout without expiries: format version field `1`,
//! no tag `2` (it is refused there), so log payloads are at most [`MAX_RECORD_LEN`] + 15
//! bytes. It is read as records without expiries. Open rewrites a directory holding a
//! version 1 file in version 2 at once, by a compaction, before accepting writes (reported
//! in [`Recovery::upgraded_from_format`]), so no log mixes versions; from then on a build
//! that reads only version 1 refuses the directory by its version. A log's version is its
//! snapshot's, or older only in the stale log of an interrupted upgrade; any other pairing,
//! and any other version, is refused.

mod data_dir;
mod error;
mod files;
mod format;
mod members;

pub use data_dir::{DataDir, LOCK_FILE, LOG_FILE, Options, OwnWrite, Recovery, SNAPSHOT_FILE};
pub use error::{IdentityField, OpenError, WriteError};
pub use format::{Expiries, FORMAT_VERSION, MAX_RECORD_LEN, Records};
pub use members::{
    MAX_REMEMBERED, MEMBERS_FILE, MembersError, RememberedMember, merge_members, read_members,
    write_members,
};
