//! A chitchat [`Transport`] that counts what it sends: chitchat's own UDP transport
//! behind a wrapper.
//!
//! chitchat's [`Socket::send`] serializes the envelope and sends it with one `send_to`
//! per message, and its [`SendOutcome::num_bytes_sent`] is what `send_to` returned: the
//! UDP payload length of that datagram. The wrapper adds that number and one datagram
//! per successful send, so its counts mean exactly what leviathan's `bytes_sent` and
//! `messages_sent` mean (UDP payload bytes, datagrams); the test below checks the byte
//! count against what a raw socket receives.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use chitchat::ChitchatEnvelope;
use chitchat::transport::{RecvOutcome, SendOutcome, Socket, Transport, UdpTransport};

use crate::system::Traffic;

/// Sent-traffic counters of one node, shared between its socket and the benchmark.
#[derive(Debug, Default)]
pub struct TrafficCounters {
    bytes: AtomicU64,
    datagrams: AtomicU64,
}

impl TrafficCounters {
    /// Counts one datagram of `bytes` payload bytes.
    pub fn record(&self, bytes: usize) {
        self.bytes
            .fetch_add(u64::try_from(bytes).unwrap_or(u64::MAX), Ordering::Relaxed);
        self.datagrams.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts so far.
    pub fn read(&self) -> Traffic {
        Traffic {
            bytes: self.bytes.load(Ordering::Relaxed),
            datagrams: self.datagrams.load(Ordering::Relaxed),
        }
    }
}

/// chitchat's [`UdpTransport`], counting sent datagrams into shared counters.
#[derive(Debug, Default, Clone)]
pub struct CountingUdpTransport {
    counters: Arc<TrafficCounters>,
}

impl CountingUdpTransport {
    /// A transport whose sockets count into `counters`.
    pub fn new(counters: Arc<TrafficCounters>) -> Self {
        CountingUdpTransport { counters }
    }

    /// The counters this transport's sockets add to.
    pub fn counters(&self) -> &Arc<TrafficCounters> {
        &self.counters
    }
}

#[async_trait]
impl Transport for CountingUdpTransport {
    async fn open(&self, listen_addr: SocketAddr) -> anyhow::Result<Box<dyn Socket>> {
        let inner = UdpTransport.open(listen_addr).await?;
        Ok(Box::new(CountingSocket {
            inner,
            counters: Arc::clone(&self.counters),
        }))
    }
}

/// A socket forwarding to chitchat's UDP socket and counting successful sends.
struct CountingSocket {
    inner: Box<dyn Socket>,
    counters: Arc<TrafficCounters>,
}

#[async_trait]
impl Socket for CountingSocket {
    fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        self.inner.local_addr()
    }

    async fn send(
        &mut self,
        to: SocketAddr,
        envelope: ChitchatEnvelope,
    ) -> anyhow::Result<SendOutcome> {
        let outcome = self.inner.send(to, envelope).await?;
        self.counters.record(outcome.num_bytes_sent);
        Ok(outcome)
    }

    /// Cancel-safe because the inner socket's `recv` is (chitchat selects on it).
    async fn recv(&mut self) -> anyhow::Result<RecvOutcome> {
        self.inner.recv().await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chitchat::{ChitchatConfig, ChitchatId, FailureDetectorConfig, spawn_chitchat};

    use super::*;

    /// The counters equal what reaches a real socket: one Syn to a silent seed.
    #[tokio::test]
    async fn counted_bytes_are_the_udp_payload() {
        let seed = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let seed_address = seed.local_addr().unwrap();
        let listen = crate::system::reserve_addresses(1).unwrap()[0];
        let transport = CountingUdpTransport::default();
        let config = ChitchatConfig {
            chitchat_id: ChitchatId::new("counted", 1, listen),
            cluster_id: "count-test".into(),
            // One round at start (tokio intervals tick at once), the next far away.
            gossip_interval: Duration::from_secs(30),
            listen_addr: listen,
            seed_nodes: vec![seed_address.to_string()],
            failure_detector_config: FailureDetectorConfig::default(),
            marked_for_deletion_grace_period: Duration::from_secs(3600),
            catchup_callback: None,
            extra_liveness_predicate: None,
            protocol_version: chitchat::ProtocolVersion::V0,
        };
        let handle = spawn_chitchat(config, Vec::new(), &transport)
            .await
            .unwrap();
        let mut buffer = vec![0u8; 65_536];
        let (len, _) = tokio::time::timeout(Duration::from_secs(5), seed.recv_from(&mut buffer))
            .await
            .unwrap()
            .unwrap();
        let traffic = transport.counters().read();
        assert_eq!(traffic.datagrams, 1);
        assert_eq!(traffic.bytes, len as u64);
        handle.shutdown().await.unwrap();
    }
}
