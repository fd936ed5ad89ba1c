//! `Packet::decode_versioned` on arbitrary bytes: never panics, and an accepted packet is
//! canonical in its wire version: it re-encodes in that version to exactly the input, and
//! `encoded_len_as` is the input's length. A version-4 Syn, whose page bounded by names
//! becomes hash-prefix ranges, need only re-encode to a packet that decodes again.
#![no_main]

use leviathan_gossip_wire::{Message, Packet, WireVersion};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((packet, version)) = Packet::decode_versioned(data) {
        let encoded = packet.encode_as(version);
        assert_eq!(
            packet.encoded_len_as(version),
            encoded.len(),
            "encoded_len_as differs from the encoding"
        );
        if version == WireVersion::CURRENT || !matches!(packet.message, Message::Syn(_)) {
            assert_eq!(&encoded[..], data, "decode accepted a non-canonical encoding");
        } else {
            assert!(
                Packet::decode_versioned(&encoded).is_ok(),
                "a re-encoded version-{version} Syn does not decode"
            );
        }
    }
});
