//! What a measured system must offer, so that one piece of code measures both.

use std::future::Future;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use serde::Serialize;

use crate::settings::Settings;

/// A cluster of N nodes of one gossip system, running in this process. Nodes are
/// addressed by index `0..N`; indices 0 and 1 are the seeds.
///
/// Every query reads one node's own view (what its application would see), never a
/// global truth.
pub trait System: Sized {
    /// Short name for reports.
    const NAME: &'static str;

    /// Starts one node per address (the first two are the seeds of all), configured from
    /// `settings`, node `i` at [`start_offset`]`(settings, i)` after the first. Returns
    /// once every node is running, not when they have formed.
    fn start(
        settings: &Settings,
        addresses: &[SocketAddr],
    ) -> impl Future<Output = anyhow::Result<Self>>;

    /// How many nodes (itself included) `observer` currently reports live; `None` if
    /// `observer` is stopped.
    fn live_count(&self, observer: usize) -> impl Future<Output = Option<usize>>;

    /// Whether `observer` currently reports `target` live (false if it does not know it;
    /// `None` if `observer` is stopped).
    fn is_live(&self, observer: usize, target: usize) -> impl Future<Output = Option<bool>>;

    /// `writer` sets one of its own keys.
    fn write(
        &self,
        writer: usize,
        key: &str,
        value: &str,
    ) -> impl Future<Output = anyhow::Result<()>>;

    /// The value of `writer`'s `key` as `observer` knows it.
    fn read(
        &self,
        observer: usize,
        writer: usize,
        key: &str,
    ) -> impl Future<Output = Option<String>>;

    /// Traffic sent so far, summed over every node started (a stopped node's counters
    /// are frozen at its stop).
    fn traffic(&self) -> Traffic;

    /// Stops `node` abruptly: its task ends and its socket closes, with no leave
    /// announced, as if the process had crashed.
    fn crash(&mut self, node: usize) -> impl Future<Output = anyhow::Result<()>>;

    /// Stops every node that is still running.
    fn stop(self) -> impl Future<Output = ()>;
}

/// Sent-traffic counters: UDP payload bytes and datagrams.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Traffic {
    /// UDP payload bytes (what `send_to` carries; no IP/UDP headers).
    pub bytes: u64,
    /// Datagrams.
    pub datagrams: u64,
}

impl Traffic {
    /// Counters accumulated since `earlier`.
    pub fn since(self, earlier: Traffic) -> Traffic {
        Traffic {
            bytes: self.bytes.saturating_sub(earlier.bytes),
            datagrams: self.datagrams.saturating_sub(earlier.datagrams),
        }
    }
}

impl std::ops::Add for Traffic {
    type Output = Traffic;
    fn add(self, other: Traffic) -> Traffic {
        Traffic {
            bytes: self.bytes.saturating_add(other.bytes),
            datagrams: self.datagrams.saturating_add(other.datagrams),
        }
    }
}

/// When node `index` starts, after the first: evenly spread over `settings.stagger`.
pub fn start_offset(settings: &Settings, index: usize) -> Duration {
    let nodes = settings.nodes.max(1) as f64;
    settings.stagger.mul_f64(index as f64 / nodes)
}

/// The name of node `index` in both systems: `node1`, `node2`, …
pub fn node_name(index: usize) -> String {
    format!("node{}", index + 1)
}

/// `count` distinct free UDP addresses on 127.0.0.1: all are bound at once (so they
/// differ), then released for the nodes to bind. Both systems need their addresses
/// before starting (the seeds' to configure every node, and chitchat its own to name
/// itself). Another process could take a port in between; on a quiet machine it does
/// not, and a node's start then fails with a clear error rather than measuring wrong.
pub fn reserve_addresses(count: usize) -> anyhow::Result<Vec<SocketAddr>> {
    let sockets = (0..count)
        .map(|_| UdpSocket::bind(("127.0.0.1", 0)))
        .collect::<Result<Vec<_>, _>>()?;
    let addresses = sockets
        .iter()
        .map(UdpSocket::local_addr)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(addresses)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_addresses_are_distinct_loopback_ports() {
        let addresses = reserve_addresses(20).unwrap();
        let mut ports: Vec<u16> = addresses.iter().map(SocketAddr::port).collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 20);
        assert!(addresses.iter().all(|a| a.ip().is_loopback()));
    }

    #[test]
    fn starts_spread_evenly_over_the_stagger() {
        let settings = Settings::new(4);
        let offsets: Vec<u128> = (0..4)
            .map(|i| start_offset(&settings, i).as_millis())
            .collect();
        assert_eq!(offsets, [0, 50, 100, 150]);
    }

    #[test]
    fn traffic_differences_saturate() {
        let a = Traffic {
            bytes: 10,
            datagrams: 2,
        };
        let b = Traffic {
            bytes: 25,
            datagrams: 3,
        };
        assert_eq!(
            b.since(a),
            Traffic {
                bytes: 15,
                datagrams: 1
            }
        );
        assert_eq!(a.since(b), Traffic::default());
        assert_eq!(
            a + b,
            Traffic {
                bytes: 35,
                datagrams: 5
            }
        );
    }
}
