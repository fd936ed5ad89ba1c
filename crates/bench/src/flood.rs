//! `bench flood`: how much hostile traffic a small cluster takes.
//!
//! Five leviathan-gossip nodes on `127.0.0.1` (the `lan` preset) form a cluster; then one
//! of them is flooded, from many source sockets, with one kind of datagram at a paced rate
//! for a few seconds:
//!
//! * **garbage** — random bytes;
//! * **foreign** — well-formed Syns of another cluster id;
//! * **non-member** — well-formed Syns of this cluster from names that are no member's,
//!   each with an empty digest (the most work a stranger can ask of a node).
//!
//! Meanwhile another node writes a key every 500 ms, and the bench records how long each
//! write takes to reach the flooded node, and whether any node ever holds a live member
//! suspect or dead. The flood rates go up step by step; the report says, for each kind,
//! the highest rate the cluster took without a false suspicion and with every write
//! arriving within a second. Only loopback traffic; nothing is measured at the sender but
//! what it sent.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use leviathan_gossip::wire::{
    ClusterId, Generation, Header, Incarnation, Message, NodeName, Packet, RangeClaims, Syn,
};
use leviathan_gossip::{Config, Gossip, MemberState};
use serde::Serialize;
use tokio::net::UdpSocket;

/// Nodes in the flooded cluster.
pub const NODES: usize = 5;
/// How often the writer writes during a step.
const WRITE_EVERY: Duration = Duration::from_millis(500);
/// A write that takes longer than this to reach the flooded node counts as not spreading.
pub const WRITE_DEADLINE: Duration = Duration::from_secs(1);

/// What floods the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum FloodKind {
    /// Random bytes.
    Garbage,
    /// Well-formed Syns of another cluster.
    Foreign,
    /// Well-formed Syns of this cluster from names that are no member's.
    NonMember,
}

/// One step: a kind at a rate, and what the cluster did meanwhile.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// The kind of datagram.
    pub kind: FloodKind,
    /// The rate asked for, datagrams per second.
    pub target_rate: u64,
    /// The rate the senders achieved, datagrams per second.
    pub sent_rate: f64,
    /// Datagrams the flooded node dropped over the per-source rate limit.
    pub rate_limited: u64,
    /// Datagrams it dropped as malformed, of another cluster, or too long.
    pub refused: u64,
    /// Syns it accepted and answered (non-member flood).
    pub answered: u64,
    /// Times a node held a live member suspect or dead during the step.
    pub false_suspicions: u64,
    /// Writes made during the step.
    pub writes: usize,
    /// Writes that reached the flooded node within [`WRITE_DEADLINE`].
    pub writes_arrived: usize,
    /// The slowest write's time to reach the flooded node, seconds (`None`: one never did).
    pub slowest_write_s: Option<f64>,
    /// Gossip rounds the flooded node ran per second during the step.
    pub rounds_per_s: f64,
}

impl Step {
    /// Whether the cluster took this step: no false suspicion, every write in time.
    pub fn held(&self) -> bool {
        self.false_suspicions == 0 && self.writes_arrived == self.writes
    }
}

/// Settings of a flood run.
#[derive(Debug, Clone, Serialize)]
pub struct FloodSettings {
    /// Kinds of flood, each run through every rate.
    pub kinds: Vec<FloodKind>,
    /// Rates, datagrams per second, in increasing order.
    pub rates: Vec<u64>,
    /// Source sockets the flood comes from.
    pub sources: usize,
    /// How long each step floods.
    pub step: Duration,
}

/// Runs every kind at every rate against one cluster; a kind stops at the first rate it
/// does not hold (higher ones would not either).
pub async fn run(settings: &FloodSettings) -> anyhow::Result<Vec<Step>> {
    let nodes = start_cluster().await?;
    let target = nodes.first().ok_or_else(|| anyhow::anyhow!("no nodes"))?;
    let writer = nodes.get(1).ok_or_else(|| anyhow::anyhow!("no writer"))?;
    let address = target.local_addr()?;
    let mut steps = Vec::new();
    let mut written = 0u64;
    for &kind in &settings.kinds {
        for &rate in &settings.rates {
            eprintln!("flood: {kind:?} at {rate} datagrams/s…");
            let step = flood_step(
                &nodes,
                target,
                writer,
                address,
                kind,
                rate,
                settings,
                &mut written,
            )
            .await?;
            let held = step.held();
            steps.push(step);
            // Let the cluster settle before the next step.
            tokio::time::sleep(Duration::from_secs(2)).await;
            if !held {
                break;
            }
        }
    }
    for node in &nodes {
        node.shutdown().await;
    }
    Ok(steps)
}

async fn start_cluster() -> anyhow::Result<Vec<Gossip>> {
    let config = |name: String, seeds: Vec<String>| Config {
        name,
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        seeds,
        ..Config::lan()
    };
    let first = Gossip::start(config("flood-0".into(), Vec::new())).await?;
    let seed = first.local_addr()?.to_string();
    let mut nodes = vec![first];
    for i in 1..NODES {
        nodes.push(Gossip::start(config(format!("flood-{i}"), vec![seed.clone()])).await?);
    }
    let start = Instant::now();
    while !all_live(&nodes) {
        if start.elapsed() > Duration::from_secs(30) {
            anyhow::bail!("the cluster did not form in 30 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(nodes)
}

fn all_live(nodes: &[Gossip]) -> bool {
    nodes.iter().all(|node| {
        let members = node.members();
        members.len() == NODES && members.iter().all(|m| m.state == MemberState::Live)
    })
}

#[allow(clippy::too_many_arguments)]
async fn flood_step(
    nodes: &[Gossip],
    target: &Gossip,
    writer: &Gossip,
    address: SocketAddr,
    kind: FloodKind,
    rate: u64,
    settings: &FloodSettings,
    written: &mut u64,
) -> anyhow::Result<Step> {
    let transport_before = target.transport_stats();
    let stats_before = target.stats();
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let per_source = (rate as f64 / settings.sources.max(1) as f64).max(1.0);
    let cluster_id = Config::lan().cluster_id;
    let mut senders = Vec::new();
    for source in 0..settings.sources {
        let socket = UdpSocket::bind("127.0.0.1:0").await?;
        let datagram = datagram(kind, &cluster_id, source)?;
        let (stop, sent) = (Arc::clone(&stop), Arc::clone(&sent));
        senders.push(tokio::spawn(async move {
            // Paced every 10 ms: whatever the elapsed time allows, so a rate holds without
            // a timer per datagram (a sender that cannot keep up shows in the sent rate).
            let started = Instant::now();
            let mut mine = 0u64;
            let mut ticker = tokio::time::interval(Duration::from_millis(10));
            while !stop.load(Ordering::Relaxed) {
                ticker.tick().await;
                let allowed = (started.elapsed().as_secs_f64() * per_source) as u64;
                while mine < allowed {
                    if socket.send_to(&datagram, address).await.is_ok() {
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                    mine += 1;
                }
            }
        }));
    }

    let started = Instant::now();
    let mut false_suspicions = 0;
    // Write i of this step holds the number `first + i`; the flooded node holding number k
    // has every write up to k (a newer value replaces an older one).
    let first = *written + 1;
    let mut written_at: Vec<Instant> = Vec::new();
    let mut arrivals: Vec<Option<Duration>> = Vec::new();
    let mut next_write = Instant::now();
    let owner = writer.identity().name.to_string();
    let observe = |arrivals: &mut Vec<Option<Duration>>, written_at: &[Instant]| {
        let held = target
            .get(&owner, "flood-probe")
            .and_then(|value| String::from_utf8_lossy(&value).parse::<u64>().ok());
        if let Some(k) = held {
            for (i, (arrival, at)) in arrivals.iter_mut().zip(written_at).enumerate() {
                if first + i as u64 <= k {
                    arrival.get_or_insert(at.elapsed());
                }
            }
        }
    };
    while started.elapsed() < settings.step {
        if Instant::now() >= next_write {
            *written += 1;
            writer.set("flood-probe", written.to_string())?;
            written_at.push(Instant::now());
            arrivals.push(None);
            next_write += WRITE_EVERY;
        }
        observe(&mut arrivals, &written_at);
        for node in nodes {
            false_suspicions += node
                .members()
                .iter()
                .filter(|m| matches!(m.state, MemberState::Suspect | MemberState::Dead))
                .count() as u64;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        sender.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    // Writes still in flight get a last second to arrive.
    let deadline = Instant::now() + WRITE_DEADLINE;
    while Instant::now() < deadline && arrivals.iter().any(Option::is_none) {
        observe(&mut arrivals, &written_at);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let transport = target.transport_stats();
    let stats = target.stats();
    let refused = (stats.dropped_malformed - stats_before.dropped_malformed)
        + (stats.dropped_foreign_cluster - stats_before.dropped_foreign_cluster)
        + (transport.dropped_oversized - transport_before.dropped_oversized);
    let writes_arrived = arrivals
        .iter()
        .filter(|arrival| arrival.is_some_and(|at| at <= WRITE_DEADLINE))
        .count();
    let slowest_write_s = arrivals
        .iter()
        .map(|arrival| arrival.map(|at| at.as_secs_f64()))
        .try_fold(0.0f64, |slowest, at| at.map(|at| slowest.max(at)));
    Ok(Step {
        kind,
        target_rate: rate,
        sent_rate: sent.load(Ordering::Relaxed) as f64 / elapsed,
        rate_limited: transport.dropped_rate_limited - transport_before.dropped_rate_limited,
        refused,
        answered: stats.messages_sent.synack - stats_before.messages_sent.synack,
        false_suspicions,
        writes: arrivals.len(),
        writes_arrived,
        slowest_write_s,
        rounds_per_s: (stats.gossip_rounds - stats_before.gossip_rounds) as f64 / elapsed,
    })
}

/// The datagram source number `source` sends over and over.
fn datagram(kind: FloodKind, cluster_id: &str, source: usize) -> anyhow::Result<Vec<u8>> {
    let syn = |cluster: &str| -> anyhow::Result<Vec<u8>> {
        Ok(Packet {
            header: Header {
                cluster_id: ClusterId::new(cluster)?,
                sender: NodeName::new(format!("intruder-{source}"))?,
                generation: Generation(1),
                incarnation: Incarnation(0),
            },
            message: Message::Syn(Syn {
                ranges: RangeClaims::default(),
                news: Vec::new(),
                rumors: Vec::new(),
            }),
        }
        .encode()
        .to_vec())
    };
    match kind {
        FloodKind::Garbage => {
            // Bytes that vary by source, not a valid packet (no magic).
            Ok((0..64u8)
                .map(|i| i.wrapping_mul(31).wrapping_add(source as u8))
                .collect())
        }
        FloodKind::Foreign => syn("another-cluster"),
        FloodKind::NonMember => syn(cluster_id),
    }
}

/// The report's table.
pub fn render(steps: &[Step]) -> String {
    let mut out = String::from(
        "| flood | asked / sent (datagrams/s) | rate-limited | refused | answered | false suspicions | writes in time | slowest write | rounds/s |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for step in steps {
        out.push_str(&format!(
            "| {:?} | {} / {:.0} | {} | {} | {} | {} | {} of {} | {} | {:.1} |\n",
            step.kind,
            step.target_rate,
            step.sent_rate,
            step.rate_limited,
            step.refused,
            step.answered,
            step.false_suspicions,
            step.writes_arrived,
            step.writes,
            step.slowest_write_s
                .map_or_else(|| "never".to_string(), |s| format!("{s:.3} s")),
            step.rounds_per_s,
        ));
    }
    out
}
