//! User-facing configuration: serde-deserializable, validated, with presets.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use leviathan_gossip_core::{ConfigError, NodeConfig, PhiConfig};
use leviathan_gossip_wire::{ClusterId, NodeName};
use serde::{Deserialize, Serialize};

/// Settings of one gossip node.
///
/// Durations are written the humantime way in files (`"1s"`, `"200ms"`). Every field has a
/// default ([`Config::default`], the original library's timings); [`Config::lan`],
/// [`Config::wan`] and [`Config::local`] are presets to start from. [`Config::validate`]
/// names the first bad field. The original's settings map as: `alias` → `name`,
/// `seeds` → `seeds`, `addr`/`port` → `advertise`/`listen`, `gossip_val` →
/// `gossip_interval`, `heartbeat_val` → `heartbeat_interval`, `health_check_val` →
/// `health_check_interval`.
///
/// ```
/// let config: leviathan_gossip::Config = toml::from_str(r#"
///     name = "node1"
///     listen = "127.0.0.1:3000"
///     seeds = ["127.0.0.1:3000", "127.0.0.1:3003"]
///     gossip_interval = "500ms"
/// "#).unwrap();
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Unique node name (the original's `alias`). Default: empty, meaning the advertised
    /// address (`"127.0.0.1:7580"`).
    #[serde(alias = "alias")]
    pub name: String,
    /// Cluster identifier; nodes only talk to nodes with the same one. Default
    /// `"leviathan"`.
    pub cluster_id: String,
    /// UDP address to bind. Default `127.0.0.1:7580`; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Address peers reach this node at, if not `listen` (behind NAT, or when listening on
    /// `0.0.0.0`, where it is required). Default: none.
    pub advertise: Option<SocketAddr>,
    /// Seed addresses (`host:port`) to join through: IP addresses or DNS names (every
    /// address of a name is a seed; names are resolved again every
    /// `seed_refresh_interval`, and one that does not resolve yet is retried, not an
    /// error). Listing the node's own address is fine: it is skipped. Default: none (a
    /// cluster of one until someone calls it, or it joins one with `Gossip::join`).
    pub seeds: Vec<String>,
    /// How often seed names are resolved again, so that a name's new or additional
    /// addresses (a DNS name with several, a Kubernetes headless Service as pods come and
    /// go) become seeds. A name that does not resolve, at start or later, is not an error:
    /// it is retried after 1 s, then after waits doubling up to 60 s (or this interval, if
    /// shorter), with a warning each time. Addresses given as `ip:port` are not resolved.
    /// Default 60 s; must be greater than zero.
    #[serde(with = "humantime_serde")]
    pub seed_refresh_interval: Duration,
    /// Period of gossip rounds. Default 1 s.
    #[serde(with = "humantime_serde")]
    pub gossip_interval: Duration,
    /// How often each watched peer is probed. Default 1 s.
    #[serde(with = "humantime_serde")]
    pub heartbeat_interval: Duration,
    /// Observers watching each node (and peers each node probes). Default 5.
    pub observers: usize,
    /// Distinct observers whose alerts make a node suspect. Default 3; at most `observers`.
    pub corroboration: usize,
    /// Relays asked to probe a silent peer before an alert. Default 3.
    pub indirect_probes: usize,
    /// How long a relay waits for a probe's answer; the observer waits twice that. Default
    /// 500 ms; at most `heartbeat_interval`.
    #[serde(with = "humantime_serde")]
    pub probe_timeout: Duration,
    /// Period of suspicion timeouts and removals. Default 1 s.
    #[serde(with = "humantime_serde")]
    pub health_check_interval: Duration,
    /// Live peers contacted per gossip round. Default 3.
    pub fanout: usize,
    /// Largest protocol packet sent, in bytes. Default 1400. Use the same value
    /// cluster-wide: a longer datagram is dropped unread (a member with a larger value
    /// would not be heard). With a keyring each datagram carries 51 more bytes (header with the
    /// send timestamp, nonce and tag of the sealing): 1451 with the default, 1499 with IPv6
    /// and UDP headers, under a 1500-byte MTU.
    pub max_packet_size: usize,
    /// φ of a watched peer's probe answers at which its observer checks it. Default 8.
    pub phi_threshold: f64,
    /// Probe-answer inter-arrival samples kept per watched peer. Default 100.
    pub phi_window_size: usize,
    /// Floor on the inter-arrival standard deviation. Default 100 ms.
    #[serde(with = "humantime_serde")]
    pub phi_min_std_deviation: Duration,
    /// Extra silence tolerated beyond the mean inter-arrival time. Default 1 s.
    #[serde(with = "humantime_serde")]
    pub phi_acceptable_pause: Duration,
    /// Assumed inter-arrival time of a newly watched peer's answers. Default: none,
    /// meaning `heartbeat_interval`.
    #[serde(with = "humantime_serde")]
    pub phi_first_heartbeat_estimate: Option<Duration>,
    /// Suspect time after which a peer is declared dead, with `corroboration` alerters
    /// (down to a quarter of it with more). Default 30 s.
    #[serde(with = "humantime_serde")]
    pub dead_after: Duration,
    /// Timer lateness taken as a stall of this node and forgiven to peers. Default 500 ms.
    #[serde(with = "humantime_serde")]
    pub local_pause_threshold: Duration,
    /// How long the tombstone of a deleted (or expired) key is kept before garbage
    /// collection drops it; a peer away for longer gets this node's whole state (a reset)
    /// instead of the tombstone. Default 5 min; at least `gossip_interval`.
    #[serde(with = "humantime_serde")]
    pub tombstone_grace: Duration,
    /// How long a dead or departed peer stays listed before it is removed. Default 10 min;
    /// at least `gossip_interval`.
    #[serde(with = "humantime_serde")]
    pub remove_after: Duration,
    /// How long second-hand news of a removed peer is ignored, so peers that have not
    /// removed it yet do not bring it back (the peer itself, or a restart of it, is
    /// welcome at once). Default 15 min; at least `tombstone_grace` and at least
    /// `dead_after + remove_after + 1 min` (see `NodeConfig::quarantine`).
    #[serde(with = "humantime_serde")]
    pub quarantine: Duration,
    /// This incarnation's generation. Default: none, meaning the start time in
    /// milliseconds since the Unix epoch (so a restarted node supersedes its old self).
    /// With a `data_dir`, the generation also always exceeds the previous run's, even if
    /// the clock went back.
    pub generation: Option<u64>,
    /// Directory keeping this node's own keys, versions, generation and the deadlines of
    /// keys written with a time to live across restarts (created if missing). Every `set`,
    /// `set_with_ttl` and `del` is on disk (fsync'd) before it returns, and so is each
    /// expired key's deletion before it is applied; a directory of another node or
    /// cluster, or a corrupt one, is refused at start. Default: none (nothing persisted: a
    /// restarted node starts empty). Feature `durable`.
    #[cfg(feature = "durable")]
    pub data_dir: Option<std::path::PathBuf>,
    /// Events buffered per subscriber before a slow one starts missing them. Default 4096.
    pub event_buffer: usize,
    /// Datagrams a second one source address may make this node read (sustained, and the
    /// burst); beyond it they are dropped unread and counted. Default 1000, far above what
    /// gossip sends (a few a second per peer); 0: no limit.
    pub max_datagrams_per_source: u32,
    /// Most nodes held in state, this one included; news of more is dropped and counted.
    /// Default 65,536.
    pub max_nodes: usize,
    /// Most keys held per node, tombstones included: own writes of a new key beyond it are
    /// refused (`WriteError::TooManyKeys`), peers' deltas beyond it dropped and counted.
    /// Default 10,000.
    pub max_keys_per_node: usize,
    /// Most bytes the state of other nodes may be accounted at (names, keys, values and
    /// the structures holding them; `Footprint::remote_bytes`); deltas beyond it are
    /// dropped and counted. Default 256 MiB; at least 64 KiB.
    pub max_remote_bytes: usize,
    /// Never-seen nodes one sender address may introduce unasked per gossip interval;
    /// answers to this node's own Syns are exempt. Beyond it they are dropped, counted and
    /// learnt later through this node's own exchanges. Default 64.
    pub max_introductions_per_sender: usize,
    /// File holding the keyring that encrypts every datagram: one base64 key (32 bytes)
    /// per line, the first the primary, `#` comments allowed (see
    /// [`leviathan_gossip_keyring`]). Read at start; a missing or malformed file stops the
    /// start with the line named. Default: none (plaintext, unless `keyring` is given).
    /// Feature `encryption`, like the three fields below.
    #[cfg(feature = "encryption")]
    pub keyring_file: Option<std::path::PathBuf>,
    /// The keyring itself, for applications that keep keys elsewhere (never serialized).
    /// Takes precedence over `keyring_file`.
    #[cfg(feature = "encryption")]
    #[serde(skip)]
    pub keyring: Option<leviathan_gossip_keyring::Keyring>,
    /// With a keyring: send datagrams sealed. Default true; false only during phase 1 of
    /// an upgrade from plaintext (see the crate docs).
    #[cfg(feature = "encryption")]
    pub encrypt_outgoing: bool,
    /// With a keyring: also accept plaintext datagrams. Default false; true during an
    /// upgrade from plaintext. Without a keyring plaintext is all there is.
    #[cfg(feature = "encryption")]
    pub accept_plaintext: bool,
}

impl Default for Config {
    fn default() -> Self {
        let node = NodeConfig::default();
        Config {
            name: String::new(),
            cluster_id: node.cluster_id.to_string(),
            listen: SocketAddr::from(([127, 0, 0, 1], 7580)),
            advertise: None,
            seeds: Vec::new(),
            seed_refresh_interval: Duration::from_secs(60),
            gossip_interval: node.gossip_interval,
            heartbeat_interval: node.heartbeat_interval,
            observers: node.observers,
            corroboration: node.corroboration,
            indirect_probes: node.indirect_probes,
            probe_timeout: node.probe_timeout,
            health_check_interval: node.health_check_interval,
            fanout: node.fanout,
            max_packet_size: node.max_packet_size,
            phi_threshold: node.phi_threshold,
            phi_window_size: node.phi.window_size,
            phi_min_std_deviation: node.phi.min_std_deviation,
            phi_acceptable_pause: node.phi.acceptable_pause,
            phi_first_heartbeat_estimate: None,
            dead_after: node.dead_after,
            local_pause_threshold: node.local_pause_threshold,
            tombstone_grace: node.tombstone_grace,
            remove_after: node.remove_after,
            quarantine: node.quarantine,
            generation: None,
            #[cfg(feature = "durable")]
            data_dir: None,
            event_buffer: 4096,
            max_datagrams_per_source: 1000,
            max_nodes: node.max_nodes,
            max_keys_per_node: node.max_keys_per_node,
            max_remote_bytes: node.max_remote_bytes,
            max_introductions_per_sender: node.max_introductions_per_sender,
            #[cfg(feature = "encryption")]
            keyring_file: None,
            #[cfg(feature = "encryption")]
            keyring: None,
            #[cfg(feature = "encryption")]
            encrypt_outgoing: true,
            #[cfg(feature = "encryption")]
            accept_plaintext: false,
        }
    }
}

/// A named starting point for [`Config`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// [`Config::default`]: the original library's 1 s timings.
    Default,
    /// [`Config::lan`].
    Lan,
    /// [`Config::wan`].
    Wan,
    /// [`Config::local`].
    Local,
}

impl FromStr for Preset {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s {
            "default" => Ok(Preset::Default),
            "lan" => Ok(Preset::Lan),
            "wan" => Ok(Preset::Wan),
            "local" => Ok(Preset::Local),
            other => Err(ConfigError::new(
                "preset",
                format!("unknown preset {other:?}; expected default, lan, wan or local"),
            )),
        }
    }
}

impl Config {
    /// The settings of `preset`.
    pub fn preset(preset: Preset) -> Self {
        match preset {
            Preset::Default => Config::default(),
            Preset::Lan => Config::lan(),
            Preset::Wan => Config::wan(),
            Preset::Local => Config::local(),
        }
    }

    /// One data centre: rounds every 200 ms, probes every 500 ms answered within a
    /// 500 ms acceptable pause (probe answers are regular; gossiped heartbeats needed 1 s);
    /// a crashed node is suspected within about 2 s, declared dead after 15 s (less with
    /// more alerters).
    pub fn lan() -> Self {
        Config {
            gossip_interval: Duration::from_millis(200),
            heartbeat_interval: Duration::from_millis(500),
            probe_timeout: Duration::from_millis(250),
            phi_acceptable_pause: Duration::from_millis(500),
            health_check_interval: Duration::from_millis(500),
            dead_after: Duration::from_secs(15),
            ..Config::default()
        }
    }

    /// Across data centres: slower rounds, a higher threshold and more tolerated pause,
    /// smaller packets to stay clear of tunnel MTUs.
    pub fn wan() -> Self {
        Config {
            gossip_interval: Duration::from_secs(1),
            heartbeat_interval: Duration::from_secs(2),
            probe_timeout: Duration::from_secs(1),
            health_check_interval: Duration::from_secs(2),
            phi_threshold: 12.0,
            phi_acceptable_pause: Duration::from_secs(3),
            dead_after: Duration::from_secs(60),
            max_packet_size: 1200,
            ..Config::default()
        }
    }

    /// One machine (demos, tests): 100 ms rounds and probes, dead after 5 s; tombstones
    /// kept 30 s, dead or departed peers removed after 1 min (quarantined 3 min), so a
    /// session on one machine shows the whole life cycle.
    pub fn local() -> Self {
        Config {
            gossip_interval: Duration::from_millis(100),
            heartbeat_interval: Duration::from_millis(100),
            probe_timeout: Duration::from_millis(50),
            health_check_interval: Duration::from_millis(100),
            phi_min_std_deviation: Duration::from_millis(50),
            phi_acceptable_pause: Duration::from_millis(500),
            dead_after: Duration::from_secs(5),
            local_pause_threshold: Duration::from_millis(300),
            tombstone_grace: Duration::from_secs(30),
            remove_after: Duration::from_secs(60),
            quarantine: Duration::from_secs(180),
            ..Config::default()
        }
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.node_name()?;
        self.node_config()?;
        if self.listen.ip().is_unspecified() && self.advertise.is_none() {
            return Err(ConfigError::new(
                "advertise",
                format!(
                    "must be set when listen ({}) is an unspecified address",
                    self.listen
                ),
            ));
        }
        let unroutable = |a: &SocketAddr| {
            let broadcast = matches!(a.ip(), std::net::IpAddr::V4(v4) if v4.is_broadcast());
            a.ip().is_unspecified() || a.ip().is_multicast() || broadcast || a.port() == 0
        };
        // Peers refuse such an address (docs/PROTOCOL.md §6.2): say so here, not by silence.
        if self.advertise.as_ref().is_some_and(unroutable) {
            return Err(ConfigError::new(
                "advertise",
                "must be a concrete address with a port peers can reach",
            ));
        }
        for seed in &self.seeds {
            if seed.rsplit_once(':').is_none_or(|(host, port)| {
                host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0)
            }) {
                return Err(ConfigError::new(
                    "seeds",
                    format!("{seed:?} is not a host:port address"),
                ));
            }
        }
        if self.seed_refresh_interval.is_zero() {
            return Err(ConfigError::new(
                "seed_refresh_interval",
                "must be greater than zero",
            ));
        }
        if self.event_buffer == 0 {
            return Err(ConfigError::new("event_buffer", "must be at least 1"));
        }
        Ok(())
    }

    /// The protocol settings for the core.
    pub fn node_config(&self) -> Result<NodeConfig, ConfigError> {
        let cluster_id = ClusterId::new(&self.cluster_id)
            .map_err(|e| ConfigError::new("cluster_id", e.to_string()))?;
        let config = NodeConfig {
            cluster_id,
            gossip_interval: self.gossip_interval,
            heartbeat_interval: self.heartbeat_interval,
            observers: self.observers,
            corroboration: self.corroboration,
            indirect_probes: self.indirect_probes,
            probe_timeout: self.probe_timeout,
            health_check_interval: self.health_check_interval,
            fanout: self.fanout,
            max_packet_size: self.max_packet_size,
            phi_threshold: self.phi_threshold,
            phi: PhiConfig {
                window_size: self.phi_window_size,
                min_std_deviation: self.phi_min_std_deviation,
                acceptable_pause: self.phi_acceptable_pause,
                first_heartbeat_estimate: self
                    .phi_first_heartbeat_estimate
                    .unwrap_or(self.heartbeat_interval),
            },
            dead_after: self.dead_after,
            local_pause_threshold: self.local_pause_threshold,
            tombstone_grace: self.tombstone_grace,
            remove_after: self.remove_after,
            quarantine: self.quarantine,
            max_nodes: self.max_nodes,
            max_keys_per_node: self.max_keys_per_node,
            max_remote_bytes: self.max_remote_bytes,
            max_introductions_per_sender: self.max_introductions_per_sender,
        };
        config.validate()?;
        Ok(config)
    }

    /// The node's name: `name`, or the advertised address when `name` is empty.
    pub fn node_name(&self) -> Result<NodeName, ConfigError> {
        let name = if self.name.is_empty() {
            self.advertise.unwrap_or(self.listen).to_string()
        } else {
            self.name.clone()
        };
        NodeName::new(&name).map_err(|e| ConfigError::new("name", format!("{name:?} {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid() {
        for preset in ["default", "lan", "wan", "local"] {
            let config = Config::preset(preset.parse().unwrap());
            assert_eq!(config.validate(), Ok(()), "{preset}");
        }
        assert!("fast".parse::<Preset>().is_err());
    }

    #[test]
    fn bad_fields_are_named() {
        let cases: [(&str, &str); 13] = [
            ("seed_refresh_interval = \"0s\"", "seed_refresh_interval"),
            ("advertise = \"224.0.0.1:7580\"", "advertise"),
            ("advertise = \"255.255.255.255:7580\"", "advertise"),
            ("fanout = 0", "fanout"),
            ("max_packet_size = 10", "max_packet_size"),
            ("listen = \"0.0.0.0:1\"", "advertise"),
            ("seeds = [\"nohost\"]", "seeds"),
            ("cluster_id = \"\"", "cluster_id"),
            ("gossip_interval = \"0s\"", "gossip_interval"),
            ("phi_threshold = -1.0", "phi_threshold"),
            ("tombstone_grace = \"10ms\"", "tombstone_grace"),
            ("remove_after = \"0s\"", "remove_after"),
            (
                "tombstone_grace = \"10m\"\nquarantine = \"5m\"",
                "quarantine",
            ),
        ];
        for (toml_text, field) in cases {
            let config: Config = toml::from_str(toml_text).unwrap();
            assert_eq!(
                config.validate().map_err(|e| e.field),
                Err(field),
                "{toml_text}"
            );
        }
    }

    #[test]
    fn unknown_fields_and_bad_durations_fail_to_parse() {
        assert!(toml::from_str::<Config>("fanuot = 3").is_err());
        assert!(toml::from_str::<Config>("gossip_interval = \"soon\"").is_err());
        let config: Config = toml::from_str("alias = \"n1\"").unwrap();
        assert_eq!(config.name, "n1");
    }

    #[test]
    fn name_defaults_to_the_advertised_address() {
        let config = Config {
            advertise: Some("10.0.0.1:7000".parse().unwrap()),
            ..Config::default()
        };
        assert_eq!(config.node_name().unwrap().as_str(), "10.0.0.1:7000");
    }
}
