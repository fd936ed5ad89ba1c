//! The command line: subcommands, flags and the environment variables behind them.
//!
//! Every agent flag has an environment variable (`LEVIATHAN_GOSSIP_<FLAG>`); a flag wins
//! over its variable, which wins over the `--config` file. Usage errors exit with code 2.
//!
//! Secrets never come from the command line, where any local user reads them in the
//! process list: keys come from a keyring file (`--keyring-file`) or
//! [`env::KEYS`], the admin token from a file (`--admin-token-file`) or [`env::ADMIN_TOKEN`],
//! and a key given to `keys install` or `keys use` from `--key-file`, [`env::KEY`] or
//! stdin. Those variables are read directly, not through clap, so `--help` never shows
//! their values.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use leviathan_gossip::Preset;

/// Default address of the admin HTTP API: loopback only, the port after gossip's 7580.
pub const DEFAULT_ADMIN: &str = "127.0.0.1:7581";

/// Environment variable names, one per agent flag.
pub mod env {
    /// `--config`.
    pub const CONFIG: &str = "LEVIATHAN_GOSSIP_CONFIG";
    /// `--name`.
    pub const NAME: &str = "LEVIATHAN_GOSSIP_NAME";
    /// `--listen`.
    pub const LISTEN: &str = "LEVIATHAN_GOSSIP_LISTEN";
    /// `--advertise`.
    pub const ADVERTISE: &str = "LEVIATHAN_GOSSIP_ADVERTISE";
    /// `--seed`, comma-separated.
    pub const SEEDS: &str = "LEVIATHAN_GOSSIP_SEEDS";
    /// `--cluster-id`.
    pub const CLUSTER_ID: &str = "LEVIATHAN_GOSSIP_CLUSTER_ID";
    /// `--data-dir`.
    pub const DATA_DIR: &str = "LEVIATHAN_GOSSIP_DATA_DIR";
    /// `--admin`, for the agent and for the client subcommands alike.
    pub const ADMIN: &str = "LEVIATHAN_GOSSIP_ADMIN";
    /// `--preset`.
    pub const PRESET: &str = "LEVIATHAN_GOSSIP_PRESET";
    /// `--gossip-interval`.
    pub const GOSSIP_INTERVAL: &str = "LEVIATHAN_GOSSIP_GOSSIP_INTERVAL";
    /// `--heartbeat-interval`.
    pub const HEARTBEAT_INTERVAL: &str = "LEVIATHAN_GOSSIP_HEARTBEAT_INTERVAL";
    /// `--health-check-interval`.
    pub const HEALTH_CHECK_INTERVAL: &str = "LEVIATHAN_GOSSIP_HEALTH_CHECK_INTERVAL";
    /// `--tombstone-grace`.
    pub const TOMBSTONE_GRACE: &str = "LEVIATHAN_GOSSIP_TOMBSTONE_GRACE";
    /// `--remove-after`.
    pub const REMOVE_AFTER: &str = "LEVIATHAN_GOSSIP_REMOVE_AFTER";
    /// `--quarantine`.
    pub const QUARANTINE: &str = "LEVIATHAN_GOSSIP_QUARANTINE";
    /// `--log-level`.
    pub const LOG_LEVEL: &str = "LEVIATHAN_GOSSIP_LOG_LEVEL";
    /// `--log-json`.
    pub const LOG_JSON: &str = "LEVIATHAN_GOSSIP_LOG_JSON";
    /// `--keyring-file`.
    pub const KEYRING_FILE: &str = "LEVIATHAN_GOSSIP_KEYRING_FILE";
    /// The agent's keyring itself (no flag): base64 keys separated by commas or
    /// whitespace, the first the primary.
    pub const KEYS: &str = "LEVIATHAN_GOSSIP_KEYS";
    /// `--encrypt-outgoing`.
    pub const ENCRYPT_OUTGOING: &str = "LEVIATHAN_GOSSIP_ENCRYPT_OUTGOING";
    /// `--accept-plaintext`.
    pub const ACCEPT_PLAINTEXT: &str = "LEVIATHAN_GOSSIP_ACCEPT_PLAINTEXT";
    /// `--admin-token-file`, for the agent and for the client subcommands alike.
    pub const ADMIN_TOKEN_FILE: &str = "LEVIATHAN_GOSSIP_ADMIN_TOKEN_FILE";
    /// `--admin-ca-file` of the client subcommands.
    pub const ADMIN_CA_FILE: &str = "LEVIATHAN_GOSSIP_ADMIN_CA_FILE";
    /// `--admin-host`, comma-separated.
    pub const ADMIN_HOSTS: &str = "LEVIATHAN_GOSSIP_ADMIN_HOSTS";
    /// The admin token itself (no flag), for the agent and the client subcommands alike.
    pub const ADMIN_TOKEN: &str = "LEVIATHAN_GOSSIP_ADMIN_TOKEN";
    /// One key (base64) for `keys install` and `keys use` (no flag; or `--key-file`).
    pub const KEY: &str = "LEVIATHAN_GOSSIP_KEY";
}

/// `leviathan-gossip`: a coordinator-free gossip cluster node, its client and a demo.
#[derive(Debug, Parser)]
#[command(
    name = "leviathan-gossip",
    version,
    arg_required_else_help = true,
    after_help = "New here? `leviathan-gossip demo` starts a 4-node cluster on this machine \
                  and tells its story in about 15 seconds."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one gossip node: events as JSON lines on stdout, logs on stderr, an admin HTTP API.
    Agent(Box<AgentArgs>),
    /// Start a small cluster in this process and show discovery, replication, a crash,
    /// its suspicion and the restart; exits by itself.
    Demo(DemoArgs),
    /// Talk to a running agent's admin API.
    #[command(flatten)]
    Client(ClientCommand),
}

/// Flags of `leviathan-gossip agent`. Unset ones come from the environment, then the
/// `--config` file, then the preset.
#[derive(Debug, Clone, Default, Args)]
pub struct AgentArgs {
    /// TOML file of settings: the library's `Config` fields, `preset`, `admin` and an
    /// optional `[agent]` table (`admin`, `preset`, `log_level`, `log_json`,
    /// `admin_token_file`, `admin_hosts`).
    #[arg(long, short = 'c', env = env::CONFIG, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Unique node name [default: the advertised address].
    #[arg(long, env = env::NAME)]
    pub name: Option<String>,
    /// UDP address to gossip on [default: 127.0.0.1:7580].
    #[arg(long, env = env::LISTEN, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Address peers reach this node at, if not --listen (required with 0.0.0.0).
    #[arg(long, env = env::ADVERTISE, value_name = "ADDR")]
    pub advertise: Option<SocketAddr>,
    /// Seed address to join through (repeatable; comma-separated in the environment).
    #[arg(long = "seed", env = env::SEEDS, value_delimiter = ',', value_name = "HOST:PORT")]
    pub seeds: Option<Vec<String>>,
    /// Cluster identifier; only nodes with the same one talk [default: leviathan].
    #[arg(long, env = env::CLUSTER_ID, value_name = "ID")]
    pub cluster_id: Option<String>,
    /// Directory keeping this node's own keys and generation across restarts; every write
    /// is on disk before it is acknowledged [default: none, nothing persisted].
    #[arg(long, env = env::DATA_DIR, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address of the admin HTTP API [default: 127.0.0.1:7581].
    #[arg(long, env = env::ADMIN, value_name = "ADDR")]
    pub admin: Option<SocketAddr>,
    /// Timing preset to start from: default (1 s rounds), lan, wan or local [default: default].
    #[arg(long, env = env::PRESET, value_name = "PRESET")]
    pub preset: Option<Preset>,
    /// Period of gossip rounds, e.g. 200ms [default: from the preset].
    #[arg(long, env = env::GOSSIP_INTERVAL, value_parser = parse_duration, value_name = "DURATION")]
    pub gossip_interval: Option<Duration>,
    /// How often each watched peer is probed, e.g. 500ms [default: from the preset].
    #[arg(long, env = env::HEARTBEAT_INTERVAL, value_parser = parse_duration, value_name = "DURATION")]
    pub heartbeat_interval: Option<Duration>,
    /// Period of failure-detector checks, e.g. 500ms [default: from the preset].
    #[arg(long, env = env::HEALTH_CHECK_INTERVAL, value_parser = parse_duration, value_name = "DURATION")]
    pub health_check_interval: Option<Duration>,
    /// How long the tombstone of a deleted or expired key is kept before garbage
    /// collection drops it, e.g. 5m; at least the gossip interval [default: from the preset].
    #[arg(long, env = env::TOMBSTONE_GRACE, value_parser = parse_duration, value_name = "DURATION")]
    pub tombstone_grace: Option<Duration>,
    /// How long a dead or departed peer stays listed before it is removed, e.g. 10m; at
    /// least the gossip interval [default: from the preset].
    #[arg(long, env = env::REMOVE_AFTER, value_parser = parse_duration, value_name = "DURATION")]
    pub remove_after: Option<Duration>,
    /// How long second-hand news of a removed peer is ignored, e.g. 10m; at least
    /// --tombstone-grace [default: from the preset].
    #[arg(long, env = env::QUARANTINE, value_parser = parse_duration, value_name = "DURATION")]
    pub quarantine: Option<Duration>,
    /// Log filter: a level (error, warn, info, debug, trace) or `tracing` directives
    /// [default: $RUST_LOG, else info].
    #[arg(long, env = env::LOG_LEVEL, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Log JSON lines on stderr instead of text.
    #[arg(long, env = env::LOG_JSON, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub log_json: Option<bool>,
    /// Keyring file: one base64 key per line, the first the primary, `#` comments; every
    /// datagram is then sealed and authenticated. Or the keys themselves in
    /// $LEVIATHAN_GOSSIP_KEYS (comma-separated) [default: none, plaintext].
    #[arg(long, env = env::KEYRING_FILE, value_name = "FILE")]
    pub keyring_file: Option<PathBuf>,
    /// With keys: send datagrams sealed; false only in phase 1 of an upgrade from
    /// plaintext [default: true].
    #[arg(long, env = env::ENCRYPT_OUTGOING, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub encrypt_outgoing: Option<bool>,
    /// With keys: also accept plaintext datagrams, during an upgrade from plaintext
    /// [default: false].
    #[arg(long, env = env::ACCEPT_PLAINTEXT, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub accept_plaintext: Option<bool>,
    /// File holding the admin API's bearer token: every admin request must then carry
    /// `Authorization: Bearer <token>`. Or the token itself in
    /// $LEVIATHAN_GOSSIP_ADMIN_TOKEN [default: none, no authentication].
    #[arg(long, env = env::ADMIN_TOKEN_FILE, value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// Host name the admin API is reached by, accepted in requests' `Host` header besides
    /// IP addresses and localhost, which are always accepted; others are refused against
    /// DNS rebinding (repeatable; comma-separated in the environment) [default: none].
    #[arg(long = "admin-host", env = env::ADMIN_HOSTS, value_delimiter = ',', value_name = "NAME")]
    pub admin_hosts: Option<Vec<String>>,
    /// Check the settings, print the effective ones as TOML and exit (0 if valid, 2 if not).
    #[arg(long)]
    pub check: bool,
}

/// Flags of `leviathan-gossip demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Number of nodes (2 to 32); nodes 1 and N are the seeds.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(2..=32))]
    pub nodes: u16,
    /// Timing preset of the nodes: local (100 ms rounds) or lan (200 ms rounds).
    #[arg(long, default_value = "local")]
    pub preset: Preset,
    /// Pause between the acts of the story, to read it and poke the admin APIs.
    #[arg(long, default_value = "3s", value_parser = parse_duration, value_name = "DURATION")]
    pub pause: Duration,
    /// Longest wait for any one step (convergence, suspicion, recovery) before giving up.
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub step_timeout: Duration,
    /// Keep the cluster running after the story, until Ctrl-C.
    #[arg(long)]
    pub forever: bool,
    /// Log filter for the nodes' logs on stderr.
    #[arg(long, value_name = "FILTER", default_value = "warn")]
    pub log_level: String,
}

/// The client subcommands: each makes one call to an agent's admin API.
#[derive(Debug, Clone, Subcommand)]
pub enum ClientCommand {
    /// List the members the agent knows: name, address, generation, state, φ, incarnation.
    Members(ClientArgs),
    /// List every key the agent knows, of every node (or of --node).
    Kv {
        /// Connection and output.
        #[command(flatten)]
        client: ClientArgs,
        /// Only this node's keys.
        #[arg(long)]
        node: Option<String>,
    },
    /// Print NODE's value of KEY as the agent knows it (exit 1 if absent).
    Get {
        /// Connection and output.
        #[command(flatten)]
        client: ClientArgs,
        /// The key's owner.
        node: String,
        /// The key.
        key: String,
    },
    /// Set one of the agent's own keys; VALUE omitted reads it from stdin (binary is fine).
    Set {
        /// Connection and output.
        #[command(flatten)]
        client: ClientArgs,
        /// Time to live, e.g. 30s or 1h: the agent deletes the key once it has run out,
        /// unless it is set again meanwhile [default: kept until deleted].
        #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
        ttl: Option<Duration>,
        /// The key.
        key: String,
        /// The value (UTF-8 text); omit to read bytes from stdin.
        value: Option<String>,
    },
    /// Delete one of the agent's own keys (exit 1 if it was not set).
    Del {
        /// Connection and output.
        #[command(flatten)]
        client: ClientArgs,
        /// The key.
        key: String,
    },
    /// Print the agent's events as they happen, until it stops or Ctrl-C.
    Watch(ClientArgs),
    /// Make the agent announce a graceful leave and exit.
    Leave(ClientArgs),
    /// Make the agent join the cluster of ADDR (host:port, IP or DNS name): it calls each
    /// address at once and keeps it as a seed.
    Join {
        /// Connection and output.
        #[command(flatten)]
        client: ClientArgs,
        /// Addresses of members to join through.
        #[arg(required = true, value_name = "ADDR")]
        addresses: Vec<String>,
    },
    /// List, install, use or remove the agent's encryption keys, or generate a new one.
    Keys {
        /// What to do with the keys.
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Move the agent through the upgrade from plaintext: phase 1 `--encrypt-outgoing
    /// false --accept-plaintext true`, phase 2 `true true`, phase 3 `true false`.
    Encryption {
        /// Connection and output.
        #[command(flatten)]
        client: ClientArgs,
        /// Send datagrams sealed [default: unchanged].
        #[arg(long, value_name = "BOOL")]
        encrypt_outgoing: Option<bool>,
        /// Accept plaintext datagrams too [default: unchanged].
        #[arg(long, value_name = "BOOL")]
        accept_plaintext: Option<bool>,
    },
}

/// `leviathan-gossip keys …`. A key is never taken from the command line: `install` and
/// `use` read it from `--key-file`, else $LEVIATHAN_GOSSIP_KEY, else stdin.
#[derive(Debug, Clone, Subcommand)]
pub enum KeysCommand {
    /// List the agent's keys by fingerprint, the primary first, and its encryption phase.
    List(ClientArgs),
    /// Install a key: the agent opens datagrams sealed with it from now on (its first key
    /// starts phase 1 of an upgrade from plaintext).
    Install {
        /// Connection and output.
        #[command(flatten)]
        client: ClientArgs,
        /// File holding the key (base64, `#` comments allowed) [default:
        /// $LEVIATHAN_GOSSIP_KEY, else stdin].
        #[arg(long, value_name = "FILE")]
        key_file: Option<PathBuf>,
    },
    /// Make an installed key the primary, the one that seals.
    Use {
        /// Connection and output.
        #[command(flatten)]
        client: ClientArgs,
        /// The key's fingerprint (16 hex digits, as `keys list` shows it), or `-` (or
        /// nothing) to read the key from --key-file, $LEVIATHAN_GOSSIP_KEY or stdin.
        #[arg(value_name = "FINGERPRINT|-")]
        key: Option<String>,
        /// File holding the key (base64), instead of a fingerprint.
        #[arg(long, value_name = "FILE")]
        key_file: Option<PathBuf>,
    },
    /// Remove an installed key other than the primary: datagrams sealed with it are
    /// dropped from now on.
    Remove {
        /// Connection and output.
        #[command(flatten)]
        client: ClientArgs,
        /// The key's fingerprint (16 hex digits).
        #[arg(value_name = "FINGERPRINT")]
        fingerprint: String,
    },
    /// Print a new random key (base64) on stdout, its fingerprint on stderr; no agent
    /// involved. Keep it in a file only its owner reads.
    Generate,
}

/// Flags every client subcommand takes.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The agent's admin address: `host:port` or `http://host:port`, or
    /// `https://host:port` through a TLS-terminating proxy.
    #[arg(long, env = env::ADMIN, default_value = DEFAULT_ADMIN, value_name = "ADDR")]
    pub admin: String,
    /// PEM file of a certificate authority to trust for an `https://` admin address,
    /// besides the public ones [default: none].
    #[arg(long, env = env::ADMIN_CA_FILE, value_name = "FILE")]
    pub admin_ca_file: Option<PathBuf>,
    /// Print the API's JSON instead of tables and text.
    #[arg(long)]
    pub json: bool,
    /// File holding the agent's admin token, sent as `Authorization: Bearer` [default:
    /// $LEVIATHAN_GOSSIP_ADMIN_TOKEN, else none].
    #[arg(long, env = env::ADMIN_TOKEN_FILE, value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,
}

/// Parses a humantime duration (`100ms`, `1s`, `2m 30s`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|error| format!("{error} (expected e.g. 200ms, 1s)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("leviathan-gossip").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn agent_flags_parse() {
        let cli = parse(&[
            "agent",
            "--name",
            "n1",
            "--listen",
            "127.0.0.1:3000",
            "--seed",
            "127.0.0.1:3000",
            "--seed",
            "127.0.0.1:3001,127.0.0.1:3002",
            "--preset",
            "lan",
            "--gossip-interval",
            "250ms",
            "--tombstone-grace",
            "2m",
            "--remove-after",
            "3m",
            "--quarantine",
            "4m",
            "--log-json",
        ])
        .unwrap();
        let Command::Agent(args) = cli.command else {
            panic!("not the agent");
        };
        assert_eq!(args.name.as_deref(), Some("n1"));
        assert_eq!(args.seeds.unwrap().len(), 3);
        assert_eq!(args.preset, Some(Preset::Lan));
        assert_eq!(args.gossip_interval, Some(Duration::from_millis(250)));
        assert_eq!(args.tombstone_grace, Some(Duration::from_secs(120)));
        assert_eq!(args.remove_after, Some(Duration::from_secs(180)));
        assert_eq!(args.quarantine, Some(Duration::from_secs(240)));
        assert_eq!(args.log_json, Some(true));
    }

    #[test]
    fn bad_flags_are_usage_errors() {
        for args in [
            &["agent", "--gossip-interval", "soon"][..],
            &["agent", "--listen", "nowhere"],
            &["agent", "--preset", "fast"],
            &["demo", "--nodes", "1"],
            &["get", "node1"],
            &["frobnicate"],
        ] {
            let error = parse(args).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn client_subcommands_parse() {
        let cli = parse(&["get", "--admin", "127.0.0.1:9000", "--json", "n1", "k1"]).unwrap();
        let Command::Client(ClientCommand::Get { client, node, key }) = cli.command else {
            panic!("not get");
        };
        assert_eq!(
            (
                client.admin.as_str(),
                client.json,
                node.as_str(),
                key.as_str()
            ),
            ("127.0.0.1:9000", true, "n1", "k1")
        );
        let cli = parse(&["set", "k1"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Client(ClientCommand::Set {
                value: None,
                ttl: None,
                ..
            })
        ));
        let cli = parse(&["set", "--ttl", "1m 30s", "k1", "v1"]).unwrap();
        let Command::Client(ClientCommand::Set { ttl, value, .. }) = cli.command else {
            panic!("not set");
        };
        assert_eq!(ttl, Some(Duration::from_secs(90)));
        assert_eq!(value.as_deref(), Some("v1"));
        assert_eq!(
            parse(&["set", "--ttl", "soon", "k1"])
                .unwrap_err()
                .exit_code(),
            2
        );
    }

    #[test]
    fn keys_and_encryption_subcommands_parse() {
        let cli = parse(&[
            "keys",
            "install",
            "--key-file",
            "/k",
            "--admin",
            "127.0.0.1:1",
        ])
        .unwrap();
        let Command::Client(ClientCommand::Keys {
            command: KeysCommand::Install { key_file, client },
        }) = cli.command
        else {
            panic!("not keys install");
        };
        assert_eq!(key_file, Some(PathBuf::from("/k")));
        assert_eq!(client.admin, "127.0.0.1:1");
        let cli = parse(&["keys", "use", "0011223344556677"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Client(ClientCommand::Keys {
                command: KeysCommand::Use { key: Some(_), .. }
            })
        ));
        for args in [
            &["keys", "list", "--json"][..],
            &["keys", "use", "-"],
            &["keys", "use", "--key-file", "/k"],
            &["keys", "remove", "0011223344556677"],
            &["keys", "generate"],
            &[
                "encryption",
                "--encrypt-outgoing",
                "true",
                "--accept-plaintext",
                "false",
            ],
            &["members", "--admin-token-file", "/token"],
        ] {
            parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        }
        for args in [
            &["keys"][..],
            &["keys", "remove"],
            &["keys", "install", "--key", "x"],
            &["encryption", "--encrypt-outgoing", "maybe"],
            &["agent", "--admin-token", "x"],
            &["agent", "--keys", "x"],
        ] {
            assert_eq!(parse(args).unwrap_err().exit_code(), 2, "{args:?}");
        }
        let cli = parse(&[
            "agent",
            "--keyring-file",
            "/k",
            "--accept-plaintext",
            "--encrypt-outgoing",
            "false",
        ])
        .unwrap();
        let Command::Agent(args) = cli.command else {
            panic!("not the agent");
        };
        assert_eq!(args.keyring_file, Some(PathBuf::from("/k")));
        assert_eq!(
            (args.encrypt_outgoing, args.accept_plaintext),
            (Some(false), Some(true))
        );
    }
}
