//! `Packet::decode` on arbitrary bytes: never panics, and an accepted packet is canonical:
//! it re-encodes to exactly the input, and `encoded_len()` is the input's length.
#![no_main]

use leviathan_gossip_wire::Packet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = Packet::decode(data) {
        assert_eq!(
            packet.encoded_len(),
            data.len(),
            "encoded_len of a decoded packet"
        );
        let encoded = packet.encode();
        assert_eq!(
            &encoded[..],
            data,
            "decode accepted a non-canonical encoding"
        );
    }
});
