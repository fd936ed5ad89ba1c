//! The leviathan-gossip side: N [`Gossip`] runtime nodes.
//!
//! Bytes are counted by the node itself: [`leviathan_gossip::Stats::bytes_sent`] adds each
//! packet's `encoded_len()` when the core hands it out, and the runtime sends exactly
//! `packet.encode()` (of that length; the wire crate's property tests assert the
//! equality) as one datagram with `send_to`. So `bytes_sent` is the UDP payload bytes
//! and `messages_sent` the datagrams, the same quantities the chitchat side counts (see
//! [`crate::counting`]); the test at the bottom of this file checks it on a real socket.
//! The one difference: leviathan counts a packet when it is queued, chitchat's counter
//! when `send_to` succeeded, which differs only for failed sends (none on an idle
//! loopback).

use std::net::SocketAddr;

use leviathan_gossip::{Config, Gossip, MemberState};

use crate::settings::Settings;
use crate::system::{System, Traffic, node_name, start_offset};

/// A running leviathan-gossip cluster.
#[derive(Debug)]
pub struct Leviathan {
    /// `None` once crashed or stopped.
    nodes: Vec<Option<Gossip>>,
    names: Vec<String>,
    /// Traffic of the nodes that were stopped, at their stop.
    stopped_traffic: Traffic,
}

/// The configuration of node `index`: the `lan` preset (fanout 3, 1400-byte packets,
/// φ window 100, 100 ms minimum deviation, 1 s acceptable pause), with the run's gossip
/// interval and φ threshold. Probe and health-check periods equal the gossip interval,
/// because chitchat increments its heartbeat and re-evaluates liveness every round; a
/// relay waits half a probe interval. chitchat's `initial_interval` is 3 gossip
/// intervals.
pub fn config(settings: &Settings, index: usize, addresses: &[SocketAddr]) -> Config {
    Config {
        name: node_name(index),
        cluster_id: "leviathan-bench".to_string(),
        listen: addresses
            .get(index)
            .copied()
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
        seeds: addresses.iter().take(2).map(ToString::to_string).collect(),
        gossip_interval: settings.gossip_interval,
        heartbeat_interval: settings.gossip_interval,
        probe_timeout: settings.gossip_interval / 2,
        health_check_interval: settings.gossip_interval,
        phi_threshold: settings.phi_threshold,
        ..Config::lan()
    }
}

fn traffic_of(node: &Gossip) -> Traffic {
    let stats = node.stats();
    Traffic {
        bytes: stats.bytes_sent.total(),
        datagrams: stats.messages_sent.total(),
    }
}

impl Leviathan {
    fn node(&self, index: usize) -> Option<&Gossip> {
        self.nodes.get(index).and_then(Option::as_ref)
    }

    fn state_of(&self, observer: usize, target: usize) -> Option<Option<MemberState>> {
        let node = self.node(observer)?;
        let name = self.names.get(target)?;
        Some(
            node.members()
                .into_iter()
                .find(|member| member.id.name.as_str() == name)
                .map(|member| member.state),
        )
    }
}

impl System for Leviathan {
    const NAME: &'static str = "leviathan";

    async fn start(settings: &Settings, addresses: &[SocketAddr]) -> anyhow::Result<Self> {
        let mut nodes = Vec::with_capacity(addresses.len());
        let mut names = Vec::with_capacity(addresses.len());
        let first = tokio::time::Instant::now();
        for index in 0..addresses.len() {
            tokio::time::sleep_until(first + start_offset(settings, index)).await;
            let config = config(settings, index, addresses);
            names.push(config.name.clone());
            let node = Gossip::start(config)
                .await
                .map_err(|error| anyhow::anyhow!("starting {}: {error}", node_name(index)))?;
            nodes.push(Some(node));
        }
        Ok(Leviathan {
            nodes,
            names,
            stopped_traffic: Traffic::default(),
        })
    }

    async fn live_count(&self, observer: usize) -> Option<usize> {
        let node = self.node(observer)?;
        Some(
            node.members()
                .iter()
                .filter(|member| member.state == MemberState::Live)
                .count(),
        )
    }

    async fn is_live(&self, observer: usize, target: usize) -> Option<bool> {
        self.state_of(observer, target)
            .map(|state| state == Some(MemberState::Live))
    }

    async fn write(&self, writer: usize, key: &str, value: &str) -> anyhow::Result<()> {
        let node = self
            .node(writer)
            .ok_or_else(|| anyhow::anyhow!("node {writer} is not running"))?;
        node.set(key, value.to_string())?;
        Ok(())
    }

    async fn read(&self, observer: usize, writer: usize, key: &str) -> Option<String> {
        let node = self.node(observer)?;
        let value = node.get(self.names.get(writer)?, key)?;
        Some(String::from_utf8_lossy(&value).into_owned())
    }

    fn traffic(&self) -> Traffic {
        self.nodes
            .iter()
            .flatten()
            .map(traffic_of)
            .fold(self.stopped_traffic, |sum, traffic| sum + traffic)
    }

    async fn crash(&mut self, node: usize) -> anyhow::Result<()> {
        let gossip = self
            .nodes
            .get_mut(node)
            .and_then(Option::take)
            .ok_or_else(|| anyhow::anyhow!("node {node} is not running"))?;
        // `shutdown` stops the node's task and waits for it; unlike `leave` it sends
        // nothing. Dropping the handle then closes the socket.
        gossip.shutdown().await;
        self.stopped_traffic = self.stopped_traffic + traffic_of(&gossip);
        drop(gossip);
        Ok(())
    }

    async fn stop(mut self) {
        for gossip in self.nodes.iter_mut().filter_map(Option::take) {
            gossip.shutdown().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// The counters equal what reaches a real socket: one Syn to a silent seed.
    #[tokio::test]
    async fn bytes_sent_is_the_udp_payload() {
        let seed = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let seed_address = seed.local_addr().unwrap();
        let node = Gossip::start(Config {
            name: "counted".into(),
            listen: "127.0.0.1:0".parse().unwrap(),
            seeds: vec![seed_address.to_string()],
            // One round at start, the next far away.
            gossip_interval: Duration::from_secs(30),
            ..Config::lan()
        })
        .await
        .unwrap();
        let mut buffer = vec![0u8; 65_536];
        let (len, _) = tokio::time::timeout(Duration::from_secs(5), seed.recv_from(&mut buffer))
            .await
            .unwrap()
            .unwrap();
        let traffic = traffic_of(&node);
        assert_eq!(traffic.datagrams, 1);
        assert_eq!(traffic.bytes, len as u64);
        node.shutdown().await;
    }
}
