//! Wire version 4's handshake bodies, spoken to nodes not yet upgraded. Layout:
//! `docs/PROTOCOL.md` §3.1.
//!
//! Version 4 differs from the current version only in the three handshake messages: its
//! `Syn` carries one digest page bounded by two names instead of range claims, its `SynAck`
//! has no range claims, its `Ack` neither ranges nor requests. A page bounded by names
//! becomes, on decoding, the aligned hash-prefix ranges that lie strictly inside its
//! bounds (a page each, so "the sender does not know this node" keeps its meaning) plus
//! its entries outside them as news; a current `Syn` holding one page becomes, on
//! encoding, the interval from its first entry to its last, which travels as news.

use bytes::BytesMut;

use super::{
    DecodeError, Digest, DigestEntry, Header, Message, MessageKind, NodeDelta, NodeName, Reader,
    Syn, SynAck, deltas_len, entries_len, put_count, put_deltas, put_entries, put_rumors,
    put_string, rumors_len, string_len,
};
use crate::message::Ack;
use crate::ranges::{NameRange, RangeClaims};
use crate::version::WireVersion;

/// Encoded size of `message`'s body in version 4.
pub(super) fn body_len(header: &Header, message: &Message) -> usize {
    match message {
        Message::Syn(syn) => {
            let page = Interval::of(header, syn);
            optional_name_len(page.start)
                + optional_name_len(page.end)
                + entries_len(page.entries)
                + entries_len(&syn.news)
                + page.moved.map_or(0, DigestEntry::encoded_len)
                + rumors_len(&syn.rumors)
        }
        Message::SynAck(synack) => entries_len(&synack.requests) + deltas_len(&synack.deltas),
        Message::Ack(ack) => deltas_len(&ack.deltas),
        other => other.body_len(),
    }
}

/// Writes `message`'s body in version 4 if it differs from the current one; `false` for
/// the kinds both versions encode alike.
pub(super) fn encode_body(header: &Header, message: &Message, buf: &mut BytesMut) -> bool {
    match message {
        Message::Syn(syn) => {
            let page = Interval::of(header, syn);
            put_optional_name(buf, page.start);
            put_optional_name(buf, page.end);
            put_entries(buf, page.entries);
            put_count(buf, syn.news.len() + usize::from(page.moved.is_some()));
            for entry in syn.news.iter().chain(page.moved) {
                entry.encode(buf);
            }
            put_rumors(buf, &syn.rumors);
        }
        Message::SynAck(synack) => {
            put_entries(buf, &synack.requests);
            put_deltas(buf, &synack.deltas);
        }
        Message::Ack(ack) => put_deltas(buf, &ack.deltas),
        _ => return false,
    }
    true
}

/// Reads a version-4 body of the kinds that differ; `None` for a current-version packet
/// or a kind both versions encode alike.
pub(super) fn decode_body(
    version: WireVersion,
    kind: u8,
    reader: &mut Reader<'_>,
) -> Result<Option<Message>, DecodeError> {
    if version != WireVersion::V4 {
        return Ok(None);
    }
    Ok(Some(match kind {
        k if k == MessageKind::Syn as u8 => {
            let start = reader.optional_name("digest start")?;
            let end = reader.optional_name("digest end")?;
            let entries =
                reader.list("digest entries", DigestEntry::MIN_LEN, DigestEntry::decode)?;
            let mut news = reader.list("news", DigestEntry::MIN_LEN, DigestEntry::decode)?;
            let rumors = reader.rumors()?;
            let (pages, outside) = pages_within(start.as_ref(), end.as_ref(), entries);
            news.extend(outside);
            Message::Syn(Syn {
                ranges: RangeClaims {
                    summaries: Vec::new(),
                    pages,
                },
                news,
                rumors,
            })
        }
        k if k == MessageKind::SynAck as u8 => Message::SynAck(SynAck {
            ranges: RangeClaims::default(),
            requests: reader.list("requests", DigestEntry::MIN_LEN, DigestEntry::decode)?,
            deltas: reader.list("deltas", NodeDelta::MIN_LEN, NodeDelta::decode)?,
        }),
        k if k == MessageKind::Ack as u8 => Message::Ack(Ack::with_deltas(reader.list(
            "deltas",
            NodeDelta::MIN_LEN,
            NodeDelta::decode,
        )?)),
        _ => return Ok(None),
    }))
}

/// A current `Syn`'s first page as version 4 bounds it: every node the sender lists in
/// `[start, end)`, which holds exactly `entries` (the sender knows no other name there),
/// and the page's last entry, `moved` to the news because the bound excludes it.
struct Interval<'a> {
    start: Option<&'a NodeName>,
    end: Option<&'a NodeName>,
    entries: &'a [DigestEntry],
    moved: Option<&'a DigestEntry>,
}

impl<'a> Interval<'a> {
    fn of(header: &'a Header, syn: &'a Syn) -> Interval<'a> {
        // Summaries and later pages cannot be said; a Syn with no page claims nothing (an
        // empty interval at the sender's own name).
        let empty = Interval {
            start: Some(&header.sender),
            end: Some(&header.sender),
            entries: &[],
            moved: None,
        };
        let Some(page) = syn.ranges.pages.first() else {
            return empty;
        };
        if page.range == NameRange::ALL {
            return Interval {
                start: None,
                end: None,
                entries: &page.entries,
                moved: None,
            };
        }
        match page.entries.split_last() {
            Some((last, listed)) => Interval {
                start: Some(listed.first().map_or(&last.name, |first| &first.name)),
                end: Some(&last.name),
                entries: listed,
                moved: Some(last),
            },
            None => empty,
        }
    }
}

/// The aligned hash-prefix ranges strictly inside `[start, end)` (names whose order hash
/// equals a bound's are left to the entries), each as a page of `entries`, and the
/// entries no page covers.
fn pages_within(
    start: Option<&NodeName>,
    end: Option<&NodeName>,
    entries: Vec<DigestEntry>,
) -> (Vec<Digest>, Vec<DigestEntry>) {
    let low = match start {
        None => Some(0),
        Some(name) => name.order_hash().checked_add(1),
    };
    let high = match end {
        None => Some(u64::MAX),
        Some(name) => name.order_hash().checked_sub(1),
    };
    let ranges = match (low, high) {
        (Some(low), Some(high)) if low <= high => aligned_ranges(low, high),
        _ => Vec::new(),
    };
    let mut pages: Vec<Digest> = ranges
        .into_iter()
        .map(|range| Digest {
            range,
            entries: Vec::new(),
        })
        .collect();
    let mut outside = Vec::new();
    for entry in entries {
        let hash = entry.name.order_hash();
        let index = pages
            .partition_point(|page| page.range.first_hash() <= hash)
            .checked_sub(1);
        match index.and_then(|index| pages.get_mut(index)) {
            Some(page) if page.range.contains_hash(hash) => page.entries.push(entry),
            _ => outside.push(entry),
        }
    }
    (pages, outside)
}

/// The fewest aligned ranges (a hash prefix each) that together hold exactly the hashes
/// `low..=high`, in order: at most two per prefix length.
fn aligned_ranges(mut low: u64, high: u64) -> Vec<NameRange> {
    let mut ranges = Vec::new();
    loop {
        // The largest block starting at `low` that is aligned and ends by `high`.
        let aligned = if low == 0 { 64 } else { low.trailing_zeros() };
        let fits = match (high - low).checked_add(1) {
            Some(len) => 63 - len.leading_zeros(),
            None => 64,
        };
        let size_bits = aligned.min(fits);
        let bits = 64 - size_bits;
        let prefix = low.checked_shr(size_bits).unwrap_or(0);
        if let Some(range) = u8::try_from(bits)
            .ok()
            .and_then(|bits| NameRange::new(bits, prefix))
        {
            ranges.push(range);
        }
        let last = low | (1u64.checked_shl(size_bits).unwrap_or(0).wrapping_sub(1));
        if last >= high {
            return ranges;
        }
        low = last + 1;
    }
}

fn optional_name_len(name: Option<&NodeName>) -> usize {
    1 + name.map_or(0, |name| string_len(name.as_str()))
}

fn put_optional_name(buf: &mut BytesMut, name: Option<&NodeName>) {
    use bytes::BufMut;
    match name {
        None => buf.put_u8(0),
        Some(name) => {
            buf.put_u8(1);
            put_string(buf, name.as_str());
        }
    }
}

impl Reader<'_> {
    fn optional_name(&mut self, field: &'static str) -> Result<Option<NodeName>, DecodeError> {
        match self.u8(field)? {
            0 => Ok(None),
            1 => self.string(field, |s| NodeName::new(s)).map(Some),
            value => Err(DecodeError::InvalidTag { field, value }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_ranges_hold_exactly_the_hashes_between_their_bounds() {
        let cases = [
            (0, u64::MAX),
            (1, u64::MAX),
            (0, u64::MAX - 1),
            (5, 5),
            (7, 1 << 40),
            (u64::MAX, u64::MAX),
            (0x1234_5678_9abc_def0, 0xfedc_ba98_7654_3210),
        ];
        for (low, high) in cases {
            let ranges = aligned_ranges(low, high);
            assert!(
                ranges.len() <= 128,
                "{low}..={high}: {} ranges",
                ranges.len()
            );
            let mut next = Some(low);
            for range in &ranges {
                assert_eq!(
                    Some(range.first_hash()),
                    next,
                    "{low}..={high}: gap or overlap"
                );
                next = range.last_hash().checked_add(1);
            }
            assert_eq!(ranges.last().map(NameRange::last_hash), Some(high));
        }
        assert_eq!(aligned_ranges(0, u64::MAX), vec![NameRange::ALL]);
    }
}
