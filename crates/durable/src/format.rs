//! The byte layout of the snapshot and the log, as specified in the crate docs: encoders,
//! and decoders that trust nothing (any byte string gives a value or a reason, never a
//! panic, never an allocation larger than the input).

use std::collections::BTreeMap;

use bytes::Bytes;
use leviathan_gossip_wire::{Generation, Key, Version};

/// Version of the on-disk format, second field of both files; every file this build
/// writes has it. It also reads the older version 1 (the same layout without expiries)
/// and rewrites such a directory in this version when it opens it. A file of any other
/// version is refused rather than guessed at.
pub const FORMAT_VERSION: u16 = 2;

/// The oldest format version this build reads.
pub(crate) const OLDEST_FORMAT_VERSION: u16 = 1;
/// The first format version whose record bodies may carry an expiry.
const EXPIRY_FORMAT_VERSION: u16 = 2;

/// Largest key plus value of one record, in bytes. Far above what a datagram can carry
/// (at most 65,507 bytes), so every value the runtime accepts fits; a length field above it
/// in a file is damage, and is refused before anything is allocated for it.
pub const MAX_RECORD_LEN: usize = 64 * 1024;

pub(crate) const SNAPSHOT_MAGIC: [u8; 8] = *b"LVGDSNAP";
pub(crate) const LOG_MAGIC: [u8; 8] = *b"LVGDLOG\0";

/// Payload length and checksum in front of every log record.
const FRAME_HEADER_LEN: usize = 8;
/// Largest payload in format version 1: kind, version, key length, tag, value length,
/// then key and value.
const MAX_PAYLOAD_LEN_V1: usize = 1 + 8 + 1 + 1 + 4 + MAX_RECORD_LEN;
/// Largest payload in format version 2: version 1's plus an expiry.
const MAX_PAYLOAD_LEN_V2: usize = MAX_PAYLOAD_LEN_V1 + 8;

const KIND_WRITE: u8 = 1;
const KIND_GENERATION: u8 = 2;
const TAG_TOMBSTONE: u8 = 0;
const TAG_VALUE: u8 = 1;
/// A value with an expiry (format version 2 on).
const TAG_EXPIRING_VALUE: u8 = 2;

/// The node's own records: key → (version, value), `None` for a tombstone.
pub type Records = BTreeMap<Key, (Version, Option<Bytes>)>;

/// Expiry of each record that has one: key → absolute wall-clock time in milliseconds
/// since the Unix epoch. Only live values (never tombstones) have one.
pub type Expiries = BTreeMap<Key, u64>;

/// Why bytes could not be decoded; becomes `OpenError::Corrupt`'s reason.
pub(crate) type Reason = String;

/// The decoded snapshot. Identity fields are kept as found (lossily decoded) so that a
/// foreign file can be named in the error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub format_version: u16,
    pub cluster_id: String,
    pub node: String,
    pub epoch: u64,
    pub generation: Option<Generation>,
    pub max_version: Version,
    pub records: Records,
    pub expiries: Expiries,
}

/// The decoded log header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogHeader {
    pub format_version: u16,
    pub cluster_id: String,
    pub node: String,
    pub epoch: u64,
}

/// One log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    /// A write of one of the node's keys (`value: None`: a delete), with the expiry of a
    /// value written with one.
    Write {
        key: Key,
        version: Version,
        value: Option<Bytes>,
        expires_at: Option<u64>,
    },
    /// A generation handed out by `next_generation`.
    Generation(Generation),
}

/// The valid records of a log and what ends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogScan {
    /// Each record with the byte offset of its frame.
    pub entries: Vec<(usize, Entry)>,
    /// End of the last valid record: where the next append goes.
    pub valid_len: usize,
    /// Bytes after `valid_len`: a torn final record (never acknowledged), dropped.
    pub torn_len: usize,
}

// ----- snapshot -----

/// Encodes a snapshot in the current format: header, records in key order (each live
/// value with its entry in `expiries`, if any), checksum.
pub(crate) fn encode_snapshot(
    cluster_id: &str,
    node: &str,
    epoch: u64,
    generation: Option<Generation>,
    max_version: Version,
    records: &Records,
    expiries: &Expiries,
) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&SNAPSHOT_MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    put_identity(&mut out, cluster_id, node);
    out.extend_from_slice(&epoch.to_le_bytes());
    out.push(u8::from(generation.is_some()));
    out.extend_from_slice(&generation.map_or(0, |g| g.0).to_le_bytes());
    out.extend_from_slice(&max_version.0.to_le_bytes());
    // Bounded by memory long before u32: each record holds at least a one-byte key.
    out.extend_from_slice(&(records.len() as u32).to_le_bytes());
    for (key, (version, value)) in records {
        put_record(
            &mut out,
            key,
            *version,
            value.as_ref(),
            expiries.get(key).copied(),
        );
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Decodes a whole snapshot file.
pub(crate) fn decode_snapshot(bytes: &[u8]) -> Result<Snapshot, Reason> {
    let mut reader = Reader::new(bytes);
    let format_version = check_magic_and_version(&mut reader, &SNAPSHOT_MAGIC, "snapshot")?;
    let body_len = bytes
        .len()
        .checked_sub(4)
        .ok_or_else(|| "truncated: no room for the checksum".to_string())?;
    let (body, crc) = bytes.split_at(body_len);
    if crc32fast::hash(body) != u32::from_le_bytes(array(crc)?) {
        return Err("checksum mismatch: the file was damaged after it was written".into());
    }
    let mut reader = Reader {
        bytes: body,
        pos: reader.pos,
    };
    let (cluster_id, node) = reader.identity()?;
    let epoch = reader.u64("epoch")?;
    let has_generation = reader.u8("generation flag")?;
    let generation = reader.u64("generation")?;
    let generation = match has_generation {
        0 => None,
        1 => Some(Generation(generation)),
        other => return Err(format!("bad generation flag {other}")),
    };
    let max_version = Version(reader.u64("max version")?);
    let count = reader.u32("record count")?;
    let mut records = Records::new();
    let mut expiries = Expiries::new();
    let mut previous: Option<Key> = None;
    for index in 0..count {
        let RecordBody {
            key,
            version,
            value,
            expires_at,
        } = reader.record(format_version)?;
        if previous.as_ref().is_some_and(|p| *p >= key) {
            return Err(format!("record {index} ({key}) is out of key order"));
        }
        if version.0 == 0 || version > max_version {
            return Err(format!(
                "record {index} ({key}) has version {version}, outside 1..={max_version}"
            ));
        }
        previous = Some(key.clone());
        if let Some(expires_at) = expires_at {
            expiries.insert(key.clone(), expires_at);
        }
        records.insert(key, (version, value));
    }
    if reader.pos != body.len() {
        return Err(format!(
            "{} unexpected bytes after the records",
            body.len() - reader.pos
        ));
    }
    Ok(Snapshot {
        format_version,
        cluster_id,
        node,
        epoch,
        generation,
        max_version,
        records,
        expiries,
    })
}

// ----- log -----

/// Encodes a log header in the current format.
pub(crate) fn encode_log_header(cluster_id: &str, node: &str, epoch: u64) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&LOG_MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    put_identity(&mut out, cluster_id, node);
    out.extend_from_slice(&epoch.to_le_bytes());
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Decodes the log header at the start of `bytes`; returns it and its length.
pub(crate) fn decode_log_header(bytes: &[u8]) -> Result<(LogHeader, usize), Reason> {
    let mut reader = Reader::new(bytes);
    let format_version = check_magic_and_version(&mut reader, &LOG_MAGIC, "log")?;
    let (cluster_id, node) = reader.identity()?;
    let epoch = reader.u64("epoch")?;
    let covered = reader.pos;
    let crc = reader.u32("header checksum")?;
    let computed = bytes.get(..covered).map(crc32fast::hash);
    if computed != Some(crc) {
        return Err("header checksum mismatch".into());
    }
    let header = LogHeader {
        format_version,
        cluster_id,
        node,
        epoch,
    };
    Ok((header, reader.pos))
}

/// Frames a write record in the current format. `expires_at` is written only with a value.
pub(crate) fn encode_write(
    key: &Key,
    version: Version,
    value: Option<&Bytes>,
    expires_at: Option<u64>,
) -> Vec<u8> {
    frame(|out| {
        out.push(KIND_WRITE);
        put_record(out, key, version, value, expires_at);
    })
}

/// Frames a generation record.
pub(crate) fn encode_generation(generation: Generation) -> Vec<u8> {
    frame(|out| {
        out.push(KIND_GENERATION);
        out.extend_from_slice(&generation.0.to_le_bytes());
    })
}

/// Reads the records of a log of format version `format_version` (from its header) from
/// `start` (just past the header) to the end.
///
/// A record that fails its checksum or is incomplete is a *torn final record*, dropped,
/// only if it could be the last append cut short by a crash: at most one maximum frame
/// ([`max_frame_len`]) remains from it to the end of the file, and no valid record ends
/// exactly at the end of the file after it (damage in the middle of a log always leaves the
/// log's real last record there). Anything else is refused: damage before the tail, and a
/// record whose checksum holds but whose content is not well-formed.
pub(crate) fn scan_log(bytes: &[u8], start: usize, format_version: u16) -> Result<LogScan, Reason> {
    let max_payload = max_payload_len(format_version);
    let mut entries = Vec::new();
    let mut pos = start;
    while pos < bytes.len() {
        let Some((payload, end)) = frame_at(bytes, pos, max_payload) else {
            let remaining = bytes.len() - pos;
            if remaining > max_frame_len(format_version) {
                return Err(format!(
                    "damaged record at byte {pos}, {remaining} bytes before the end of the \
                     file: too far from the end to be a torn final append"
                ));
            }
            if let Some(next) = valid_frame_ending_at_eof(bytes, pos, max_payload) {
                return Err(format!(
                    "damaged record at byte {pos} followed by a valid record at byte {next}: \
                     not a torn final append"
                ));
            }
            return Ok(LogScan {
                entries,
                valid_len: pos,
                torn_len: remaining,
            });
        };
        let entry = decode_entry(payload, format_version)
            .map_err(|reason| format!("record at byte {pos}: {reason}"))?;
        entries.push((pos, entry));
        pos = end;
    }
    Ok(LogScan {
        entries,
        valid_len: pos,
        torn_len: 0,
    })
}

/// Largest payload of a log record in format version `format_version`.
fn max_payload_len(format_version: u16) -> usize {
    if format_version >= EXPIRY_FORMAT_VERSION {
        MAX_PAYLOAD_LEN_V2
    } else {
        MAX_PAYLOAD_LEN_V1
    }
}

/// Largest log record with its frame header in format version `format_version`: the most
/// a torn final append can leave.
pub(crate) fn max_frame_len(format_version: u16) -> usize {
    FRAME_HEADER_LEN + max_payload_len(format_version)
}

/// The payload and end of a complete, checksum-valid frame at `pos`.
fn frame_at(bytes: &[u8], pos: usize, max_payload: usize) -> Option<(&[u8], usize)> {
    let header_end = pos.checked_add(FRAME_HEADER_LEN)?;
    let header = bytes.get(pos..header_end)?;
    let (len_bytes, crc_bytes) = header.split_at(4);
    let len = u32::from_le_bytes(array(len_bytes).ok()?) as usize;
    if len == 0 || len > max_payload {
        return None;
    }
    let end = header_end.checked_add(len)?;
    let payload = bytes.get(header_end..end)?;
    let crc = u32::from_le_bytes(array(crc_bytes).ok()?);
    (frame_crc(len_bytes, payload) == crc).then_some((payload, end))
}

/// The start of a valid frame after `pos` that ends exactly at the end of `bytes`.
fn valid_frame_ending_at_eof(bytes: &[u8], pos: usize, max_payload: usize) -> Option<usize> {
    let last_start = bytes.len().checked_sub(FRAME_HEADER_LEN + 1)?;
    (pos.saturating_add(1)..=last_start).find(|&start| {
        // Cheap length test first: only one length can end a frame at `start` at EOF.
        let wanted = bytes.len() - start - FRAME_HEADER_LEN;
        let len = bytes
            .get(start..start + 4)
            .and_then(|b| array(b).ok())
            .map(u32::from_le_bytes);
        len.is_some_and(|len| len as usize == wanted)
            && frame_at(bytes, start, max_payload).is_some()
    })
}

fn decode_entry(payload: &[u8], format_version: u16) -> Result<Entry, Reason> {
    let mut reader = Reader::new(payload);
    let entry = match reader.u8("record kind")? {
        KIND_WRITE => {
            let RecordBody {
                key,
                version,
                value,
                expires_at,
            } = reader.record(format_version)?;
            Entry::Write {
                key,
                version,
                value,
                expires_at,
            }
        }
        KIND_GENERATION => Entry::Generation(Generation(reader.u64("generation")?)),
        other => return Err(format!("unknown record kind {other}")),
    };
    if reader.pos != payload.len() {
        return Err(format!(
            "{} unexpected bytes after the record",
            payload.len() - reader.pos
        ));
    }
    Ok(entry)
}

/// Builds `[length][crc][payload]` around what `payload` writes.
fn frame(payload: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = vec![0; FRAME_HEADER_LEN];
    payload(&mut out);
    let body = out.split_off(FRAME_HEADER_LEN);
    // Callers bound records by MAX_RECORD_LEN, so the payload fits in u32.
    let len = (body.len() as u32).to_le_bytes();
    let crc = frame_crc(&len, &body);
    out.clear();
    out.extend_from_slice(&len);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// The frame checksum covers the length too, so a damaged length is caught.
fn frame_crc(len: &[u8], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(len);
    hasher.update(payload);
    hasher.finalize()
}

// ----- shared pieces -----

fn put_identity(out: &mut Vec<u8>, cluster_id: &str, node: &str) {
    // Both are validated wire names: at most MAX_NAME_LEN (128) bytes.
    for name in [cluster_id, node] {
        out.push(name.len() as u8);
        out.extend_from_slice(name.as_bytes());
    }
}

/// Writes a record body; a tombstone never carries an expiry.
fn put_record(
    out: &mut Vec<u8>,
    key: &Key,
    version: Version,
    value: Option<&Bytes>,
    expires_at: Option<u64>,
) {
    out.extend_from_slice(&version.0.to_le_bytes());
    // A Key is at most MAX_NAME_LEN (128) bytes.
    out.push(key.as_str().len() as u8);
    out.extend_from_slice(key.as_str().as_bytes());
    let Some(value) = value else {
        out.push(TAG_TOMBSTONE);
        return;
    };
    match expires_at {
        None => out.push(TAG_VALUE),
        Some(expires_at) => {
            out.push(TAG_EXPIRING_VALUE);
            out.extend_from_slice(&expires_at.to_le_bytes());
        }
    }
    // Bounded by MAX_RECORD_LEN by the writer.
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(value);
}

/// Checks the magic and returns the format version, which must be one this build reads.
fn check_magic_and_version(
    reader: &mut Reader<'_>,
    magic: &[u8; 8],
    what: &str,
) -> Result<u16, Reason> {
    if reader.take(8, "magic").ok() != Some(magic.as_slice()) {
        return Err(format!("not a leviathan-gossip {what} file (bad magic)"));
    }
    let version = reader.u16("format version")?;
    if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err(format!(
            "format version {version}; this build reads versions \
             {OLDEST_FORMAT_VERSION} to {FORMAT_VERSION} only"
        ));
    }
    Ok(version)
}

fn array<const N: usize>(bytes: &[u8]) -> Result<[u8; N], Reason> {
    bytes
        .try_into()
        .map_err(|_| format!("expected {N} bytes, found {}", bytes.len()))
}

/// A decoded record body.
struct RecordBody {
    key: Key,
    version: Version,
    value: Option<Bytes>,
    expires_at: Option<u64>,
}

/// A cursor over untrusted bytes: every read is bounds-checked.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    fn take(&mut self, len: usize, what: &str) -> Result<&'a [u8], Reason> {
        let slice = self
            .pos
            .checked_add(len)
            .and_then(|end| self.bytes.get(self.pos..end))
            .ok_or_else(|| format!("truncated {what} at byte {}", self.pos))?;
        self.pos += len;
        Ok(slice)
    }

    fn u8(&mut self, what: &str) -> Result<u8, Reason> {
        Ok(u8::from_le_bytes(array(self.take(1, what)?)?))
    }

    fn u16(&mut self, what: &str) -> Result<u16, Reason> {
        Ok(u16::from_le_bytes(array(self.take(2, what)?)?))
    }

    fn u32(&mut self, what: &str) -> Result<u32, Reason> {
        Ok(u32::from_le_bytes(array(self.take(4, what)?)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, Reason> {
        Ok(u64::from_le_bytes(array(self.take(8, what)?)?))
    }

    /// A one-byte length and that many bytes.
    fn short_bytes(&mut self, what: &str) -> Result<&'a [u8], Reason> {
        let len = self.u8(what)?;
        self.take(usize::from(len), what)
    }

    fn identity(&mut self) -> Result<(String, String), Reason> {
        let cluster_id = String::from_utf8_lossy(self.short_bytes("cluster id")?).into_owned();
        let node = String::from_utf8_lossy(self.short_bytes("node name")?).into_owned();
        Ok((cluster_id, node))
    }

    /// A record body of format version `format_version`.
    fn record(&mut self, format_version: u16) -> Result<RecordBody, Reason> {
        let version = Version(self.u64("version")?);
        let key_bytes = self.short_bytes("key")?;
        let key = std::str::from_utf8(key_bytes)
            .ok()
            .and_then(|key| Key::new(key).ok())
            .ok_or_else(|| format!("invalid key {:?}", String::from_utf8_lossy(key_bytes)))?;
        let expires_at = match self.u8("value tag")? {
            TAG_TOMBSTONE => {
                return Ok(RecordBody {
                    key,
                    version,
                    value: None,
                    expires_at: None,
                });
            }
            TAG_VALUE => None,
            TAG_EXPIRING_VALUE if format_version >= EXPIRY_FORMAT_VERSION => {
                Some(self.u64("expiry")?)
            }
            other => {
                return Err(format!(
                    "bad value tag {other} for format version {format_version}"
                ));
            }
        };
        let len = self.u32("value length")? as usize;
        if key_bytes.len().saturating_add(len) > MAX_RECORD_LEN {
            return Err(format!(
                "value of {key} is {len} bytes, above the {MAX_RECORD_LEN}-byte limit"
            ));
        }
        let value = Some(Bytes::copy_from_slice(self.take(len, "value")?));
        Ok(RecordBody {
            key,
            version,
            value,
            expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> Key {
        Key::new(name).unwrap()
    }

    fn sample_records() -> Records {
        let mut records = Records::new();
        records.insert(key("a"), (Version(3), Some(Bytes::from_static(b"one"))));
        records.insert(key("b"), (Version(5), None));
        records.insert(key("c"), (Version(4), Some(Bytes::new())));
        records.insert(key("d"), (Version(6), Some(Bytes::from_static(b"ttl"))));
        records
    }

    fn sample_expiries() -> Expiries {
        let mut expiries = Expiries::new();
        expiries.insert(key("a"), 1_700_000_000_000);
        expiries.insert(key("d"), u64::MAX);
        expiries
    }

    /// Rewrites the format version field of a whole snapshot and fixes its checksum.
    fn snapshot_as_version(bytes: &[u8], version: u16) -> Vec<u8> {
        let mut bytes = bytes[..bytes.len() - 4].to_vec();
        bytes[8..10].copy_from_slice(&version.to_le_bytes());
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// Rewrites the format version field of a log header (followed by `rest`).
    fn log_header_as_version(header: &[u8], version: u16) -> Vec<u8> {
        let mut bytes = header[..header.len() - 4].to_vec();
        bytes[8..10].copy_from_slice(&version.to_le_bytes());
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        bytes
    }

    #[test]
    fn snapshot_round_trips_with_expiries() {
        let records = sample_records();
        let expiries = sample_expiries();
        let bytes = encode_snapshot(
            "cl",
            "n1",
            7,
            Some(Generation(99)),
            Version(6),
            &records,
            &expiries,
        );
        let snapshot = decode_snapshot(&bytes).unwrap();
        assert_eq!(
            snapshot,
            Snapshot {
                format_version: FORMAT_VERSION,
                cluster_id: "cl".into(),
                node: "n1".into(),
                epoch: 7,
                generation: Some(Generation(99)),
                max_version: Version(6),
                records,
                expiries,
            }
        );
    }

    #[test]
    fn a_tombstone_never_carries_an_expiry() {
        let mut records = Records::new();
        records.insert(key("b"), (Version(1), None));
        let mut expiries = Expiries::new();
        expiries.insert(key("b"), 5);
        let with = encode_snapshot("cl", "n1", 0, None, Version(1), &records, &expiries);
        let without = encode_snapshot("cl", "n1", 0, None, Version(1), &records, &Expiries::new());
        assert_eq!(with, without);
        assert!(decode_snapshot(&with).unwrap().expiries.is_empty());
        assert_eq!(
            encode_write(&key("b"), Version(1), None, Some(5)),
            encode_write(&key("b"), Version(1), None, None)
        );
    }

    #[test]
    fn every_damaged_snapshot_byte_is_refused() {
        let bytes = encode_snapshot(
            "cl",
            "n1",
            1,
            None,
            Version(6),
            &sample_records(),
            &sample_expiries(),
        );
        for index in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[index] ^= 0x10;
            assert!(
                decode_snapshot(&damaged).is_err(),
                "flip at {index} accepted"
            );
        }
        for len in 0..bytes.len() {
            assert!(
                decode_snapshot(&bytes[..len]).is_err(),
                "cut at {len} accepted"
            );
        }
    }

    #[test]
    fn snapshot_refuses_another_format_version_by_name() {
        let bytes = encode_snapshot(
            "cl",
            "n1",
            0,
            None,
            Version(0),
            &Records::new(),
            &Expiries::new(),
        );
        for version in [0, 3, 0x0100] {
            let reason = decode_snapshot(&snapshot_as_version(&bytes, version)).unwrap_err();
            assert!(
                reason.contains(&format!("format version {version};")),
                "{reason}"
            );
            assert!(reason.contains("versions 1 to 2"), "{reason}");
        }
    }

    #[test]
    fn a_version_1_snapshot_reads_as_records_without_expiries() {
        // Without expiries, version 2's layout is version 1's but for the version field.
        let records = sample_records();
        let v2 = encode_snapshot("cl", "n1", 3, None, Version(6), &records, &Expiries::new());
        let snapshot = decode_snapshot(&snapshot_as_version(&v2, 1)).unwrap();
        assert_eq!(snapshot.format_version, 1);
        assert_eq!(snapshot.records, records);
        assert!(snapshot.expiries.is_empty());

        // Tag 2 did not exist in version 1.
        let v2 = encode_snapshot(
            "cl",
            "n1",
            3,
            None,
            Version(6),
            &records,
            &sample_expiries(),
        );
        let reason = decode_snapshot(&snapshot_as_version(&v2, 1)).unwrap_err();
        assert!(
            reason.contains("bad value tag 2 for format version 1"),
            "{reason}"
        );
    }

    #[test]
    fn log_header_round_trips_and_checks_itself() {
        let bytes = encode_log_header("cl", "n1", 42);
        let (header, len) = decode_log_header(&bytes).unwrap();
        assert_eq!(len, bytes.len());
        assert_eq!(
            header,
            LogHeader {
                format_version: FORMAT_VERSION,
                cluster_id: "cl".into(),
                node: "n1".into(),
                epoch: 42
            }
        );
        let mut damaged = bytes.clone();
        damaged[len - 5] ^= 1;
        assert!(decode_log_header(&damaged).is_err());

        let (header, _) = decode_log_header(&log_header_as_version(&bytes, 1)).unwrap();
        assert_eq!(header.format_version, 1);
        let reason = decode_log_header(&log_header_as_version(&bytes, 3)).unwrap_err();
        assert!(reason.contains("format version 3;"), "{reason}");
    }

    fn encode_entry(entry: &Entry) -> Vec<u8> {
        match entry {
            Entry::Generation(g) => encode_generation(*g),
            Entry::Write {
                key,
                version,
                value,
                expires_at,
            } => encode_write(key, *version, value.as_ref(), *expires_at),
        }
    }

    #[test]
    fn log_records_round_trip() {
        let mut log = encode_log_header("cl", "n1", 0);
        let start = log.len();
        let entries = [
            Entry::Generation(Generation(1_000)),
            Entry::Write {
                key: key("k"),
                version: Version(1),
                value: Some(Bytes::from_static(b"v")),
                expires_at: None,
            },
            Entry::Write {
                key: key("t"),
                version: Version(2),
                value: Some(Bytes::from_static(b"ttl")),
                expires_at: Some(1_700_000_000_000),
            },
            Entry::Write {
                key: key("z"),
                version: Version(3),
                value: Some(Bytes::new()),
                expires_at: Some(0),
            },
            Entry::Write {
                key: key("k"),
                version: Version(4),
                value: None,
                expires_at: None,
            },
        ];
        let mut offsets = Vec::new();
        for entry in &entries {
            offsets.push(log.len());
            log.extend(encode_entry(entry));
        }
        let scan = scan_log(&log, start, FORMAT_VERSION).unwrap();
        let expected: Vec<_> = offsets.into_iter().zip(entries).collect();
        assert_eq!(scan.entries, expected);
        assert_eq!((scan.valid_len, scan.torn_len), (log.len(), 0));
    }

    #[test]
    fn a_version_1_log_reads_without_expiries_and_refuses_them() {
        let plain = encode_write(&key("k"), Version(1), Some(&Bytes::from_static(b"v")), None);
        let scan = scan_log(&plain, 0, 1).unwrap();
        assert_eq!(scan.entries.len(), 1);
        let expiring = encode_write(
            &key("k"),
            Version(1),
            Some(&Bytes::from_static(b"v")),
            Some(9),
        );
        let reason = scan_log(&expiring, 0, 1).unwrap_err();
        assert!(
            reason.contains("bad value tag 2 for format version 1"),
            "{reason}"
        );
    }

    #[test]
    fn the_largest_record_fits_its_version_and_no_more() {
        let key = key("k");
        let value = Bytes::from(vec![7; MAX_RECORD_LEN - 1]);
        let frame = encode_write(&key, Version(1), Some(&value), Some(1));
        assert_eq!(frame.len(), max_frame_len(2));
        assert_eq!(scan_log(&frame, 0, 2).unwrap().entries.len(), 1);
        let frame = encode_write(&key, Version(1), Some(&value), None);
        assert_eq!(frame.len(), max_frame_len(1));
        assert_eq!(scan_log(&frame, 0, 1).unwrap().entries.len(), 1);
        // Version 2's largest record is longer than any version 1 append: in a version 1
        // log its length field is damage, too far from the end to be a torn append.
        let frame = encode_write(&key, Version(1), Some(&value), Some(1));
        assert!(scan_log(&frame, 0, 1).is_err());
    }

    #[test]
    fn a_zero_filled_tail_is_torn_not_corrupt() {
        // Some file systems extend the size before the data reaches the disk.
        for expires_at in [None, Some(1_234)] {
            let mut log = encode_write(
                &key("k"),
                Version(1),
                Some(&Bytes::from_static(b"v")),
                expires_at,
            );
            let whole = log.len();
            log.extend(vec![0; 40]);
            let scan = scan_log(&log, 0, FORMAT_VERSION).unwrap();
            assert_eq!((scan.valid_len, scan.torn_len), (whole, 40));
        }
    }

    #[test]
    fn damage_followed_by_a_valid_record_is_corrupt() {
        let first = encode_write(
            &key("a"),
            Version(1),
            Some(&Bytes::from_static(b"x")),
            Some(77),
        );
        let second = encode_write(&key("b"), Version(2), None, None);
        for index in 0..first.len() {
            let mut log = first.clone();
            log[index] ^= 0x01;
            log.extend_from_slice(&second);
            assert!(
                scan_log(&log, 0, FORMAT_VERSION).is_err(),
                "flip at {index} taken as torn"
            );
        }
    }

    #[test]
    fn a_huge_length_allocates_nothing_and_is_refused_mid_log() {
        for version in [1, 2] {
            let mut log = vec![0xff; 4];
            log.extend(vec![0; max_frame_len(version) + 10]);
            assert!(scan_log(&log, 0, version).is_err());
        }
    }

    #[test]
    fn a_valid_checksum_over_bad_content_is_corrupt() {
        let log = frame(|out| out.push(9));
        let reason = scan_log(&log, 0, FORMAT_VERSION).unwrap_err();
        assert!(reason.contains("unknown record kind 9"), "{reason}");
    }
}
