//! Without the `encryption` feature: every datagram is sent and accepted as it is. The
//! same calls as `encryption::Encryption`, so the runtime drives either alike.

use std::borrow::Cow;

use crate::config::Config;
use crate::error::StartError;
use crate::transport::TransportCounters;

/// No keyring: datagrams pass through unchanged.
#[derive(Debug)]
pub(crate) struct Encryption;

impl Encryption {
    /// Nothing is sealed: a datagram is at most `max_packet_size` long.
    pub(crate) const OVERHEAD: usize = 0;

    /// Plaintext, whatever `config` says (it has no encryption settings without the feature).
    pub(crate) fn from_config(_config: &Config) -> Result<Self, StartError> {
        Ok(Encryption)
    }

    /// The packet as it is.
    pub(crate) fn outgoing<'a>(
        &self,
        packet: &'a [u8],
        _counters: &TransportCounters,
    ) -> Cow<'a, [u8]> {
        Cow::Borrowed(packet)
    }

    /// The datagram as it is: the core's decoder drops (and counts) what is not a packet,
    /// sealed datagrams included.
    pub(crate) fn incoming<'a>(
        &self,
        datagram: &'a [u8],
        _counters: &TransportCounters,
    ) -> Option<Cow<'a, [u8]>> {
        Some(Cow::Borrowed(datagram))
    }
}
