//! The members a node remembers across restarts: the names and addresses of the peers it
//! heard from most recently, so that a restarted node can rejoin through them when its
//! configured seeds are down.
//!
//! # The file ([`MEMBERS_FILE`])
//!
//! UTF-8 text, one item a line, each line ending with `\n`:
//!
//! ```text
//! leviathan-gossip members 1
//! 10.0.0.7:7946 node-7
//! 10.0.0.3:7946 node-3
//! crc32 5d1c0b7a
//! ```
//!
//! * the header, with the format version `1`;
//! * at most [`MAX_REMEMBERED`] members, the most recently heard first: the member's
//!   gossip address (`ip:port`, IPv6 as `[ip]:port`), one space, its node name (the rest
//!   of the line: names may hold spaces but never control characters);
//! * the CRC-32 (IEEE, as in zlib) of every preceding byte of the file, as 8 lowercase hex
//!   digits.
//!
//! The file is a hint, not state: [`read_members`] refuses one with any damage as a
//! whole (the caller starts without it), and [`write_members`] replaces it atomically
//! (temp file, fsync, rename, directory fsync), so a crash leaves the old list or the new.

use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use leviathan_gossip_wire::NodeName;

use crate::files;

/// The file of remembered members in the data directory.
pub const MEMBERS_FILE: &str = "members";
/// Most members remembered; the least recently heard are forgotten first.
pub const MAX_REMEMBERED: usize = 256;

const HEADER: &str = "leviathan-gossip members 1";

/// A peer as remembered: its name and where it was reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RememberedMember {
    /// Its node name.
    pub name: NodeName,
    /// Its gossip address.
    pub address: SocketAddr,
}

/// Why [`read_members`] found no usable list. Nothing on disk was changed.
#[derive(Debug, thiserror::Error)]
pub enum MembersError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS's reason.
        #[source]
        source: io::Error,
    },
    /// The file is damaged or not a members file (the reason names the line).
    #[error("{} is unusable: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// The members remembered in `dir`, the most recently heard first: empty if there is no
/// file. Read it while holding the directory's [`DataDir`](crate::DataDir).
pub fn read_members(dir: &Path) -> Result<Vec<RememberedMember>, MembersError> {
    let path = dir.join(MEMBERS_FILE);
    let bytes = match files::read_optional(&path) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Ok(Vec::new()),
        Err(source) => return Err(MembersError::Io { path, source }),
    };
    decode(&bytes).map_err(|reason| MembersError::Corrupt { path, reason })
}

/// Replaces the members remembered in `dir` with the first [`MAX_REMEMBERED`] of
/// `members` (the most recently heard first), atomically and durably. Write it while
/// holding the directory's [`DataDir`](crate::DataDir). Blocks for two fsyncs.
pub fn write_members(dir: &Path, members: &[RememberedMember]) -> io::Result<()> {
    let text = encode(members);
    files::replace_atomically(dir, MEMBERS_FILE, text.as_bytes()).map_err(|error| {
        io::Error::new(
            error.source.kind(),
            format!("{}: {}", error.path.display(), error.source),
        )
    })
}

/// The list to remember now: `recent` (members heard from now, the most recently heard
/// first), then the members of `older` that share neither name nor address with one
/// before them, without `own` (this node's name), at most [`MAX_REMEMBERED`].
pub fn merge_members(
    recent: impl IntoIterator<Item = RememberedMember>,
    older: &[RememberedMember],
    own: &NodeName,
) -> Vec<RememberedMember> {
    let mut merged: Vec<RememberedMember> = Vec::new();
    for member in recent.into_iter().chain(older.iter().cloned()) {
        if merged.len() == MAX_REMEMBERED {
            break;
        }
        if member.name == *own
            || merged
                .iter()
                .any(|m| m.name == member.name || m.address == member.address)
        {
            continue;
        }
        merged.push(member);
    }
    merged
}

fn encode(members: &[RememberedMember]) -> String {
    let mut text = format!("{HEADER}\n");
    for member in members.iter().take(MAX_REMEMBERED) {
        let _ = writeln!(text, "{} {}", member.address, member.name);
    }
    let crc = crc32fast::hash(text.as_bytes());
    let _ = writeln!(text, "crc32 {crc:08x}");
    text
}

fn decode(bytes: &[u8]) -> Result<Vec<RememberedMember>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())?;
    let body_len = text
        .trim_end_matches('\n')
        .rfind('\n')
        .map(|i| i + 1)
        .ok_or("no checksum line")?;
    let (body, trailer) = text.split_at(body_len);
    let expected = trailer
        .strip_prefix("crc32 ")
        .and_then(|rest| rest.strip_suffix('\n'))
        .and_then(|hex| u32::from_str_radix(hex, 16).ok())
        .ok_or("the last line is not `crc32 <8 hex digits>`")?;
    let actual = crc32fast::hash(body.as_bytes());
    if actual != expected {
        return Err(format!(
            "checksum mismatch (file says {expected:08x}, content is {actual:08x})"
        ));
    }
    let mut lines = body.lines();
    if lines.next() != Some(HEADER) {
        return Err(format!("the first line is not {HEADER:?}"));
    }
    let mut members = Vec::new();
    for (number, line) in (2..).zip(lines) {
        let bad = |what: &str| format!("line {number}: {what}");
        let (address, name) = line.split_once(' ').ok_or_else(|| bad("no name"))?;
        let address = address.parse().map_err(|_| bad("not an ip:port address"))?;
        let name = NodeName::new(name).map_err(|e| bad(&format!("invalid name: {e}")))?;
        if members.len() == MAX_REMEMBERED {
            return Err(bad("more members than a file holds"));
        }
        members.push(RememberedMember { name, address });
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, port: u16) -> RememberedMember {
        RememberedMember {
            name: NodeName::new(name).unwrap(),
            address: SocketAddr::from(([10, 0, 0, 1], port)),
        }
    }

    #[test]
    fn a_list_round_trips_and_a_missing_file_is_an_empty_list() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_members(dir.path()).unwrap().is_empty());
        let mut members = vec![member("b", 2), member("node with spaces", 3)];
        members.push(RememberedMember {
            name: NodeName::new("v6").unwrap(),
            address: "[::1]:7946".parse().unwrap(),
        });
        write_members(dir.path(), &members).unwrap();
        assert_eq!(read_members(dir.path()).unwrap(), members);
        assert!(!files::temp_path(dir.path(), MEMBERS_FILE).exists());
        let text = std::fs::read_to_string(dir.path().join(MEMBERS_FILE)).unwrap();
        assert!(text.starts_with("leviathan-gossip members 1\n10.0.0.1:2 b\n"));
        write_members(dir.path(), &[]).unwrap();
        assert!(read_members(dir.path()).unwrap().is_empty());
    }

    #[test]
    fn any_damage_refuses_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        write_members(dir.path(), &[member("b", 2), member("c", 3)]).unwrap();
        let path = dir.path().join(MEMBERS_FILE);
        let good = std::fs::read(&path).unwrap();
        let mut cases: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"garbage".to_vec(),
            good[..good.len() - 1].to_vec(),
            good[..good.len() / 2].to_vec(),
            vec![0xff; 40],
        ];
        for offset in 0..good.len() {
            let mut flipped = good.clone();
            flipped[offset] ^= 0x01;
            cases.push(flipped);
        }
        for bytes in cases {
            std::fs::write(&path, &bytes).unwrap();
            let error = read_members(dir.path()).unwrap_err();
            assert!(matches!(error, MembersError::Corrupt { .. }), "{error}");
        }
        // A well-formed file with a bad line, checksummed: refused by the line.
        let body = "leviathan-gossip members 1\nnot-an-address b\n";
        let text = format!("{body}crc32 {:08x}\n", crc32fast::hash(body.as_bytes()));
        std::fs::write(&path, text).unwrap();
        let error = read_members(dir.path()).unwrap_err().to_string();
        assert!(error.contains("line 2"), "{error}");
    }

    #[test]
    fn merging_puts_the_recent_first_drops_repeats_and_self_and_bounds_the_list() {
        let own = NodeName::new("a").unwrap();
        let older = [
            member("b", 2),
            member("c", 3),
            member("d", 4),
            member("a", 1),
        ];
        // b moved to port 12; e took d's old address.
        let recent = [member("b", 12), member("e", 4), member("a", 1)];
        let merged = merge_members(recent, &older, &own);
        assert_eq!(merged, [member("b", 12), member("e", 4), member("c", 3)]);

        let many: Vec<RememberedMember> = (0..300u16)
            .map(|i| member(&format!("n{i}"), 1000 + i))
            .collect();
        let merged = merge_members(many[..10].to_vec(), &many[10..], &own);
        assert_eq!(merged.len(), MAX_REMEMBERED);
        assert_eq!(merged[..], many[..MAX_REMEMBERED]);
        let dir = tempfile::tempdir().unwrap();
        write_members(dir.path(), &many).unwrap();
        assert_eq!(read_members(dir.path()).unwrap(), many[..MAX_REMEMBERED]);
    }
}
