//! The original library's options (`new Gossip(cfg)`) mapped to the engine's [`Config`].
//!
//! The JavaScript wrapper (`npm/index.js`) checks the types of the options and refuses
//! unknown ones; this module checks their values and builds the engine's settings, and the
//! engine then validates the whole ([`Config::validate`]). Every error names the option.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use leviathan_gossip::{Config, Preset};
use napi_derive::napi;

use crate::error::BindingError;

/// Events buffered for the binding's forwarding task before it is told it missed some.
/// The task moves each event to an unbounded queue as soon as it arrives, so this is only
/// reached if that task is starved for this many events; the engine's default (4096) is
/// raised because a burst of writes can produce that many events at once.
pub const DEFAULT_EVENT_BUFFER: u32 = 65_536;

/// The options of `new Gossip(cfg)`, as the JavaScript wrapper hands them over (types
/// already checked). Durations are in milliseconds.
#[napi(object)]
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NativeConfig {
    /// The node's name (`alias`). Default: `"addr:port"`, the original's peer id.
    pub alias: Option<String>,
    /// Seed addresses, `"host:port"`.
    pub seeds: Vec<String>,
    /// The address peers reach this node at (an IP address). Default `127.0.0.1`.
    pub addr: Option<String>,
    /// The UDP port. Default 7580; 0 picks a free port.
    pub port: Option<f64>,
    /// The IP address to bind, if not `addr` (`0.0.0.0` behind NAT). Extension.
    pub bind: Option<String>,
    /// Timing preset the options apply over: `default` (1 s rounds), `lan`, `wan` or
    /// `local`. Extension; default `default`.
    pub preset: Option<String>,
    /// Gossip period, ms.
    #[napi(js_name = "gossip_val")]
    pub gossip_val: Option<f64>,
    /// Heartbeat (probe) period, ms.
    #[napi(js_name = "heartbeat_val")]
    pub heartbeat_val: Option<f64>,
    /// Health-check period, ms.
    #[napi(js_name = "health_check_val")]
    pub health_check_val: Option<f64>,
    /// φ at which a peer is suspected.
    #[napi(js_name = "phi_threshold")]
    pub phi_threshold: Option<f64>,
    /// Samples in the failure detector's window.
    #[napi(js_name = "val_max_len")]
    pub val_max_len: Option<f64>,
    /// Cluster identifier. Extension.
    #[napi(js_name = "cluster_id")]
    pub cluster_id: Option<String>,
    /// Engine events buffered before the forwarding task misses some. Extension.
    #[napi(js_name = "event_buffer")]
    pub event_buffer: Option<f64>,
}

impl NativeConfig {
    /// The engine's settings for these options; the error names the first bad option.
    pub fn to_config(&self) -> Result<Config, BindingError> {
        let preset: Preset = match &self.preset {
            Some(preset) => preset.parse().map_err(|_| {
                BindingError::config(
                    "preset",
                    format!("unknown preset {preset:?}; expected default, lan, wan or local"),
                )
            })?,
            None => Preset::Default,
        };
        let mut config = Config::preset(preset);
        let addr = match &self.addr {
            Some(addr) => parse_ip("addr", addr)?,
            None => IpAddr::from([127, 0, 0, 1]),
        };
        let port = match self.port {
            Some(port) => integer("port", port, 0, u64::from(u16::MAX))?,
            None => 7580,
        };
        let port = u16::try_from(port).map_err(|_| BindingError::config("port", "out of range"))?;
        match &self.bind {
            Some(bind) => {
                config.listen = SocketAddr::new(parse_ip("bind", bind)?, port);
                if port == 0 {
                    return Err(BindingError::config(
                        "port",
                        "must be a fixed port (not 0) when bind is set: peers must know it",
                    ));
                }
                config.advertise = Some(SocketAddr::new(addr, port));
            }
            None => config.listen = SocketAddr::new(addr, port),
        }
        if let Some(alias) = &self.alias {
            if alias.is_empty() {
                return Err(BindingError::config(
                    "alias",
                    "must not be empty (leave it out to be named \"addr:port\")",
                ));
            }
            config.name = alias.clone();
        }
        config.seeds = self.seeds.clone();
        if let Some(ms) = self.gossip_val {
            config.gossip_interval = millis("gossip_val", ms)?;
        }
        if let Some(ms) = self.heartbeat_val {
            let heartbeat = millis("heartbeat_val", ms)?;
            config.heartbeat_interval = heartbeat;
            // A probe must be answered before the next one goes out (the engine refuses a
            // longer timeout): shorten the preset's to half the period when needed.
            config.probe_timeout = config
                .probe_timeout
                .min(heartbeat / 2)
                .max(Duration::from_millis(1));
        }
        if let Some(ms) = self.health_check_val {
            let period = millis("health_check_val", ms)?;
            config.health_check_interval = period;
            // A peer is declared dead at a health check: not sooner than one period.
            config.dead_after = config.dead_after.max(period);
        }
        if let Some(phi) = self.phi_threshold {
            if !phi.is_finite() || phi <= 0.0 {
                return Err(BindingError::config(
                    "phi_threshold",
                    format!("{} is not a positive number", js_number(phi)),
                ));
            }
            config.phi_threshold = phi;
        }
        if let Some(len) = self.val_max_len {
            let len = integer("val_max_len", len, 2, 100_000)?;
            config.phi_window_size = usize::try_from(len)
                .map_err(|_| BindingError::config("val_max_len", "out of range"))?;
        }
        if let Some(cluster_id) = &self.cluster_id {
            config.cluster_id = cluster_id.clone();
        }
        let buffer = match self.event_buffer {
            Some(buffer) => integer("event_buffer", buffer, 1, 1 << 24)?,
            None => u64::from(DEFAULT_EVENT_BUFFER),
        };
        config.event_buffer = usize::try_from(buffer)
            .map_err(|_| BindingError::config("event_buffer", "out of range"))?;
        config.validate()?;
        Ok(config)
    }
}

fn parse_ip(option: &str, text: &str) -> Result<IpAddr, BindingError> {
    text.parse().map_err(|_| {
        BindingError::config(
            option,
            format!("{text:?} is not an IP address (such as \"127.0.0.1\")"),
        )
    })
}

/// A duration given in milliseconds: finite, positive, at most a day.
fn millis(option: &str, ms: f64) -> Result<Duration, BindingError> {
    const DAY_MS: f64 = 86_400_000.0;
    if !ms.is_finite() || ms <= 0.0 || ms > DAY_MS {
        return Err(BindingError::config(
            option,
            format!(
                "{} is not a duration in milliseconds between 0 (excluded) and 86400000",
                js_number(ms)
            ),
        ));
    }
    Ok(Duration::from_secs_f64(ms / 1000.0))
}

/// A number as JavaScript prints it (`Infinity`, not Rust's `inf`).
fn js_number(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value.is_infinite() {
        if value > 0.0 { "Infinity" } else { "-Infinity" }.to_string()
    } else {
        value.to_string()
    }
}

/// An integer within `min..=max`.
fn integer(option: &str, value: f64, min: u64, max: u64) -> Result<u64, BindingError> {
    let out_of_range = || {
        BindingError::config(
            option,
            format!(
                "{} is not an integer between {min} and {max}",
                js_number(value)
            ),
        )
    };
    if !value.is_finite() || value.fract() != 0.0 || value < 0.0 {
        return Err(out_of_range());
    }
    // Finite, whole and non-negative: the conversion is exact below 2^53, saturating above.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let whole = value as u64;
    if !(min..=max).contains(&whole) {
        return Err(out_of_range());
    }
    Ok(whole)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn option_of(config: NativeConfig) -> String {
        match config.to_config() {
            Err(BindingError::Config { option, .. }) => option,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn the_original_example_maps_to_the_engine() {
        let config = NativeConfig {
            alias: Some("node#01".into()),
            seeds: vec!["127.0.0.1:3000".into(), "127.0.0.1:3003".into()],
            addr: Some("127.0.0.1".into()),
            port: Some(3000.0),
            gossip_val: Some(1000.0),
            heartbeat_val: Some(1000.0),
            health_check_val: Some(10_000.0),
            ..NativeConfig::default()
        }
        .to_config()
        .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(config.name, "node#01");
        assert_eq!(config.listen, SocketAddr::from(([127, 0, 0, 1], 3000)));
        assert_eq!(config.advertise, None);
        assert_eq!(config.gossip_interval, Duration::from_secs(1));
        assert_eq!(config.heartbeat_interval, Duration::from_secs(1));
        assert_eq!(config.health_check_interval, Duration::from_secs(10));
        assert!(config.dead_after >= Duration::from_secs(10));
        assert_eq!(config.seeds.len(), 2);
        assert_eq!(config.event_buffer, 65_536);
    }

    #[test]
    fn short_heartbeats_shorten_the_probe_timeout() {
        let config = NativeConfig {
            heartbeat_val: Some(100.0),
            ..NativeConfig::default()
        }
        .to_config()
        .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(config.probe_timeout, Duration::from_millis(50));
    }

    #[test]
    fn bind_listens_there_and_advertises_addr() {
        let config = NativeConfig {
            addr: Some("10.1.2.3".into()),
            bind: Some("0.0.0.0".into()),
            port: Some(4000.0),
            ..NativeConfig::default()
        }
        .to_config()
        .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(config.listen, SocketAddr::from(([0, 0, 0, 0], 4000)));
        assert_eq!(
            config.advertise,
            Some(SocketAddr::from(([10, 1, 2, 3], 4000)))
        );
    }

    #[test]
    fn bad_options_are_named() {
        let cases = [
            (
                NativeConfig {
                    port: Some(70_000.0),
                    ..NativeConfig::default()
                },
                "port",
            ),
            (
                NativeConfig {
                    port: Some(1.5),
                    ..NativeConfig::default()
                },
                "port",
            ),
            (
                NativeConfig {
                    addr: Some("localhost".into()),
                    ..NativeConfig::default()
                },
                "addr",
            ),
            (
                NativeConfig {
                    gossip_val: Some(0.0),
                    ..NativeConfig::default()
                },
                "gossip_val",
            ),
            (
                NativeConfig {
                    gossip_val: Some(f64::NAN),
                    ..NativeConfig::default()
                },
                "gossip_val",
            ),
            (
                NativeConfig {
                    heartbeat_val: Some(-5.0),
                    ..NativeConfig::default()
                },
                "heartbeat_val",
            ),
            (
                NativeConfig {
                    health_check_val: Some(f64::INFINITY),
                    ..NativeConfig::default()
                },
                "health_check_val",
            ),
            (
                NativeConfig {
                    phi_threshold: Some(0.0),
                    ..NativeConfig::default()
                },
                "phi_threshold",
            ),
            (
                NativeConfig {
                    val_max_len: Some(1.0),
                    ..NativeConfig::default()
                },
                "val_max_len",
            ),
            (
                NativeConfig {
                    seeds: vec!["nohost".into()],
                    ..NativeConfig::default()
                },
                "seeds",
            ),
            (
                NativeConfig {
                    alias: Some(String::new()),
                    ..NativeConfig::default()
                },
                "alias",
            ),
            (
                NativeConfig {
                    alias: Some("a\u{0}b".into()),
                    ..NativeConfig::default()
                },
                "alias",
            ),
            (
                NativeConfig {
                    preset: Some("fast".into()),
                    ..NativeConfig::default()
                },
                "preset",
            ),
            (
                NativeConfig {
                    cluster_id: Some(String::new()),
                    ..NativeConfig::default()
                },
                "cluster_id",
            ),
            (
                NativeConfig {
                    bind: Some("0.0.0.0".into()),
                    port: Some(0.0),
                    ..NativeConfig::default()
                },
                "port",
            ),
            (
                NativeConfig {
                    event_buffer: Some(0.0),
                    ..NativeConfig::default()
                },
                "event_buffer",
            ),
        ];
        for (config, option) in cases {
            let debug = format!("{config:?}");
            assert_eq!(option_of(config), option, "{debug}");
        }
    }
}
