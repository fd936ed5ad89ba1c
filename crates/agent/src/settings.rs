//! An agent's settings, layered and validated.
//!
//! Layers, lowest first: the preset (`--preset`, else the file's `preset`, else
//! `default`), the `--config` TOML file, environment variables, flags. Every error names the
//! field and where its value came from, e.g.
//! `invalid setting `fanout` (from file agent.toml): must be at least 1`.
//!
//! The file holds the library's [`Config`] fields at the top level, plus the agent's own
//! settings either at the top level (`admin`, `preset`, `admin_token_file`, `admin_hosts`)
//! or in an `[agent]` table (those and `log_level`, `log_json`):
//!
//! ```toml
//! name = "node1"
//! listen = "127.0.0.1:3000"
//! seeds = ["127.0.0.1:3000", "127.0.0.1:3003"]
//! gossip_interval = "200ms"
//!
//! [agent]
//! admin = "127.0.0.1:8000"
//! admin_hosts = ["gossip1.internal"]
//! preset = "lan"
//! log_level = "info"
//! ```
//!
//! `admin_hosts` (flag `--admin-host`, repeatable; `LEVIATHAN_GOSSIP_ADMIN_HOSTS`,
//! comma-separated) lists the host names the admin API accepts in `Host` besides IP
//! addresses and `localhost` ([`crate::origin`]); a flag's or the environment's list
//! replaces the file's.
//!
//! Secrets are read from files or the environment only. Keys: `keyring_file` (flag
//! `--keyring-file`), or the keys themselves in `LEVIATHAN_GOSSIP_KEYS`; both are read and
//! checked here, so a bad keyring is a settings error naming the line or list entry (never
//! the key's text). The admin token: `admin_token_file` (flag `--admin-token-file`, also
//! in `[agent]`), or the token itself in `LEVIATHAN_GOSSIP_ADMIN_TOKEN`. For each, the
//! layering is the usual one: a flag's file beats the environment's secret, which beats
//! the settings file's; the variable naming a file and the one holding the secret may not
//! both be set.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::ArgMatches;
use clap::parser::ValueSource;
use leviathan_gossip::keyring::Keyring;
use leviathan_gossip::{Config, Preset};
use serde::Deserialize;
use tracing_subscriber::EnvFilter;

use crate::cli::{AgentArgs, DEFAULT_ADMIN, env};
use crate::token::AdminToken;

/// Everything an agent runs with, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The gossip node's settings.
    pub config: Config,
    /// The preset the config started from.
    pub preset: Preset,
    /// Address of the admin HTTP API.
    pub admin: SocketAddr,
    /// Log filter; `None` means `RUST_LOG`, else `info`.
    pub log_level: Option<String>,
    /// Log JSON lines instead of text.
    pub log_json: bool,
    /// Only check and print the settings (`--check`).
    pub check: bool,
    /// The bearer token every admin API request must carry, if any.
    pub admin_token: Option<AdminToken>,
    /// The file the admin token was read from (`None` without a token, or when it came
    /// from `LEVIATHAN_GOSSIP_ADMIN_TOKEN`).
    pub admin_token_file: Option<PathBuf>,
    /// Host names the admin API accepts in `Host` besides IP addresses and `localhost`,
    /// lower-cased.
    pub admin_hosts: Vec<String>,
    origins: BTreeMap<&'static str, Origin>,
}

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The built-in default or the preset's value.
    Preset(&'static str),
    /// The `--config` file.
    File(PathBuf),
    /// An environment variable.
    Env(&'static str),
    /// A command-line flag.
    Flag(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Preset(preset) => write!(f, "preset {preset}"),
            Origin::File(path) => write!(f, "file {}", path.display()),
            Origin::Env(var) => write!(f, "environment {var}"),
            Origin::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// A setting that cannot work. The agent exits with code 2 before starting anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    /// The offending field as named in files (`fanout`, `gossip_interval`), or `config` for
    /// the file itself.
    pub field: String,
    /// Where the bad value came from, if known.
    pub origin: Option<Origin>,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid setting `{}`", self.field)?;
        if let Some(origin) = &self.origin {
            write!(f, " (from {origin})")?;
        }
        write!(f, ": {}", self.problem)
    }
}

impl std::error::Error for SettingsError {}

impl SettingsError {
    fn new(field: impl Into<String>, origin: Option<Origin>, problem: impl Into<String>) -> Self {
        SettingsError {
            field: field.into(),
            origin,
            problem: problem.into(),
        }
    }
}

/// The agent's own settings in a file, top level or `[agent]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentTable {
    admin: Option<SocketAddr>,
    preset: Option<String>,
    log_level: Option<String>,
    log_json: Option<bool>,
    admin_token_file: Option<PathBuf>,
    admin_hosts: Option<Vec<String>>,
}

/// What a settings file holds, split into the agent's part and the gossip `Config` part.
#[derive(Debug, Default)]
struct FileSettings {
    path: PathBuf,
    agent: AgentTable,
    /// The preset named by `preset`, checked.
    preset: Option<Preset>,
    /// `Config` fields, each already checked to deserialize on its own.
    config: toml::Table,
}

impl Settings {
    /// Layers preset, file, environment and flags. `matches` (the `agent` subcommand's clap
    /// matches) tell a flag from an environment variable; without them values in `args` are
    /// reported as flags. The secrets clap does not read (`LEVIATHAN_GOSSIP_KEYS`,
    /// `LEVIATHAN_GOSSIP_ADMIN_TOKEN`) come from the process environment.
    pub fn resolve(
        args: &AgentArgs,
        matches: Option<&ArgMatches>,
    ) -> Result<Settings, SettingsError> {
        Self::resolve_with_env(args, matches, &|name| std::env::var_os(name))
    }

    /// [`Settings::resolve`] with `environment` in place of the process environment for
    /// the variables clap does not read.
    pub fn resolve_with_env(
        args: &AgentArgs,
        matches: Option<&ArgMatches>,
        environment: &dyn Fn(&str) -> Option<OsString>,
    ) -> Result<Settings, SettingsError> {
        let source = |id: &str, flag: &'static str, var: &'static str| match matches
            .and_then(|m| m.value_source(id))
        {
            Some(ValueSource::EnvVariable) => Origin::Env(var),
            _ => Origin::Flag(flag),
        };
        let file = match &args.config {
            Some(path) => FileSettings::load(path, source("config", "--config", env::CONFIG))?,
            None => FileSettings::default(),
        };
        let file_origin = || Origin::File(file.path.clone());

        let preset = args.preset.or(file.preset).unwrap_or(Preset::Default);
        let mut origins = BTreeMap::new();

        let mut table = toml::Table::try_from(Config::preset(preset))
            .map_err(|e| SettingsError::new("preset", None, e.to_string()))?;
        for (key, value) in &file.config {
            table.insert(key.clone(), value.clone());
            if let Some(field) = CONFIG_FIELDS.iter().find(|field| *field == key) {
                origins.insert(*field, file_origin());
            }
        }
        let mut config: Config =
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| {
                    SettingsError::new("config", Some(file_origin()), e.message())
                })?;

        let mut set = |field: &'static str, origin: Origin| {
            origins.insert(field, origin);
        };
        if let Some(name) = &args.name {
            config.name.clone_from(name);
            set("name", source("name", "--name", env::NAME));
        }
        if let Some(listen) = args.listen {
            config.listen = listen;
            set("listen", source("listen", "--listen", env::LISTEN));
        }
        if let Some(advertise) = args.advertise {
            config.advertise = Some(advertise);
            set(
                "advertise",
                source("advertise", "--advertise", env::ADVERTISE),
            );
        }
        if let Some(seeds) = &args.seeds {
            config.seeds = seeds
                .iter()
                .map(|seed| seed.trim().to_string())
                .filter(|seed| !seed.is_empty())
                .collect();
            set("seeds", source("seeds", "--seed", env::SEEDS));
        }
        if let Some(cluster_id) = &args.cluster_id {
            config.cluster_id.clone_from(cluster_id);
            set(
                "cluster_id",
                source("cluster_id", "--cluster-id", env::CLUSTER_ID),
            );
        }
        if let Some(data_dir) = &args.data_dir {
            config.data_dir = Some(data_dir.clone());
            set("data_dir", source("data_dir", "--data-dir", env::DATA_DIR));
        }
        let durations = [
            (
                args.gossip_interval,
                &mut config.gossip_interval,
                "gossip_interval",
                "--gossip-interval",
                env::GOSSIP_INTERVAL,
            ),
            (
                args.heartbeat_interval,
                &mut config.heartbeat_interval,
                "heartbeat_interval",
                "--heartbeat-interval",
                env::HEARTBEAT_INTERVAL,
            ),
            (
                args.health_check_interval,
                &mut config.health_check_interval,
                "health_check_interval",
                "--health-check-interval",
                env::HEALTH_CHECK_INTERVAL,
            ),
            (
                args.tombstone_grace,
                &mut config.tombstone_grace,
                "tombstone_grace",
                "--tombstone-grace",
                env::TOMBSTONE_GRACE,
            ),
            (
                args.remove_after,
                &mut config.remove_after,
                "remove_after",
                "--remove-after",
                env::REMOVE_AFTER,
            ),
            (
                args.quarantine,
                &mut config.quarantine,
                "quarantine",
                "--quarantine",
                env::QUARANTINE,
            ),
        ];
        for (value, field, name, flag, var) in durations {
            if let Some(value) = value {
                *field = value;
                set(name, source(name, flag, var));
            }
        }
        let switches = [
            (
                args.encrypt_outgoing,
                &mut config.encrypt_outgoing,
                "encrypt_outgoing",
                "--encrypt-outgoing",
                env::ENCRYPT_OUTGOING,
            ),
            (
                args.accept_plaintext,
                &mut config.accept_plaintext,
                "accept_plaintext",
                "--accept-plaintext",
                env::ACCEPT_PLAINTEXT,
            ),
        ];
        for (value, field, name, flag, var) in switches {
            if let Some(value) = value {
                *field = value;
                set(name, source(name, flag, var));
            }
        }
        if let Some(path) = &args.keyring_file {
            config.keyring_file = Some(path.clone());
            set(
                "keyring_file",
                source("keyring_file", "--keyring-file", env::KEYRING_FILE),
            );
        }
        load_keyring(&mut config, &mut origins, environment)?;

        // Name the origin only of a value someone set: a preset value that clashes with a
        // set one (`advertise` with `listen = 0.0.0.0:…`) is explained by the problem text.
        config.validate().map_err(|e| {
            SettingsError::new(e.field, origins.get(e.field).cloned(), e.problem.clone())
        })?;

        let token_file = match &args.admin_token_file {
            Some(path) => Some((
                path.clone(),
                source(
                    "admin_token_file",
                    "--admin-token-file",
                    env::ADMIN_TOKEN_FILE,
                ),
            )),
            None => file
                .agent
                .admin_token_file
                .clone()
                .map(|path| (path, file_origin())),
        };
        let (admin_token, admin_token_file) = load_admin_token(token_file, environment)?;

        let admin_hosts = match (&args.admin_hosts, &file.agent.admin_hosts) {
            (Some(names), _) => Some((
                names,
                source("admin_hosts", "--admin-host", env::ADMIN_HOSTS),
            )),
            (None, Some(names)) => Some((names, file_origin())),
            (None, None) => None,
        };
        let admin_hosts = match admin_hosts {
            Some((names, origin)) => {
                let names = host_names(names, &origin)?;
                origins.insert("admin_hosts", origin);
                names
            }
            None => Vec::new(),
        };

        let admin = args.admin.or(file.agent.admin);
        let admin = match admin {
            Some(admin) => admin,
            None => DEFAULT_ADMIN
                .parse()
                .map_err(|_| SettingsError::new("admin", None, "bad built-in default"))?,
        };
        let (log_level, log_level_origin) = match (&args.log_level, &file.agent.log_level) {
            (Some(level), _) => (
                Some(level.clone()),
                Some(source("log_level", "--log-level", env::LOG_LEVEL)),
            ),
            (None, Some(level)) => (Some(level.clone()), Some(file_origin())),
            (None, None) => (None, None),
        };
        if let Some(level) = &log_level {
            EnvFilter::try_new(level)
                .map_err(|e| SettingsError::new("log_level", log_level_origin, e.to_string()))?;
        }
        Ok(Settings {
            config,
            preset,
            admin,
            log_level,
            log_json: args.log_json.or(file.agent.log_json).unwrap_or(false),
            check: args.check,
            admin_token,
            admin_token_file,
            admin_hosts,
            origins,
        })
    }

    /// Where `field`'s value came from (the preset when nothing overrode it).
    pub fn origin(&self, field: &str) -> Origin {
        self.origins
            .get(field)
            .cloned()
            .unwrap_or(Origin::Preset(preset_name(self.preset)))
    }

    /// The effective settings as a TOML file that reproduces them (for `--check`).
    pub fn to_toml(&self) -> Result<String, String> {
        let mut table = toml::Table::try_from(&self.config).map_err(|e| e.to_string())?;
        let mut agent = toml::Table::new();
        agent.insert("admin".into(), self.admin.to_string().into());
        if let Some(level) = &self.log_level {
            agent.insert("log_level".into(), level.clone().into());
        }
        agent.insert("log_json".into(), self.log_json.into());
        if let Some(path) = &self.admin_token_file {
            let path = path.to_str().ok_or("admin_token_file is not UTF-8")?;
            agent.insert("admin_token_file".into(), path.into());
        }
        if !self.admin_hosts.is_empty() {
            agent.insert("admin_hosts".into(), self.admin_hosts.clone().into());
        }
        table.insert("agent".into(), agent.into());
        toml::to_string(&table).map_err(|e| e.to_string())
    }
}

impl FileSettings {
    fn load(path: &Path, origin: Origin) -> Result<FileSettings, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            SettingsError::new(
                "config",
                Some(origin.clone()),
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        Self::parse(path, &text)
    }

    fn parse(path: &Path, text: &str) -> Result<FileSettings, SettingsError> {
        let origin = Origin::File(path.to_path_buf());
        let mut table: toml::Table = toml::from_str(text)
            .map_err(|e| SettingsError::new("config", Some(origin.clone()), e.to_string()))?;
        let mut agent = match table.remove("agent") {
            Some(value) => value.try_into::<AgentTable>().map_err(|e| {
                SettingsError::new("agent", Some(origin.clone()), e.message().to_string())
            })?,
            None => AgentTable::default(),
        };
        top_level(&mut agent.admin, "admin", table.remove("admin"), &origin)?;
        top_level(&mut agent.preset, "preset", table.remove("preset"), &origin)?;
        top_level(
            &mut agent.admin_token_file,
            "admin_token_file",
            table.remove("admin_token_file"),
            &origin,
        )?;
        top_level(
            &mut agent.admin_hosts,
            "admin_hosts",
            table.remove("admin_hosts"),
            &origin,
        )?;
        let preset = agent
            .preset
            .as_deref()
            .map(str::parse::<Preset>)
            .transpose()
            .map_err(|e| SettingsError::new("preset", Some(origin.clone()), e.problem))?;
        // Check each gossip field alone, so that an error names it.
        for (key, value) in &table {
            let single = toml::Table::from_iter([(key.clone(), value.clone())]);
            toml::Value::Table(single)
                .try_into::<Config>()
                .map_err(|e| SettingsError::new(key.clone(), Some(origin.clone()), e.message()))?;
        }
        Ok(FileSettings {
            path: path.to_path_buf(),
            agent,
            preset,
            config: table,
        })
    }
}

/// Takes a top-level shorthand for an `[agent]` setting; giving both is an error.
fn top_level<T: for<'de> Deserialize<'de>>(
    slot: &mut Option<T>,
    field: &'static str,
    value: Option<toml::Value>,
    origin: &Origin,
) -> Result<(), SettingsError> {
    let Some(value) = value else {
        return Ok(());
    };
    if slot.is_some() {
        return Err(SettingsError::new(
            field,
            Some(origin.clone()),
            "given both at the top level and in [agent]; keep one",
        ));
    }
    let value = value
        .try_into::<T>()
        .map_err(|e| SettingsError::new(field, Some(origin.clone()), e.message()))?;
    *slot = Some(value);
    Ok(())
}

/// Reads the keyring into `config.keyring`: from `LEVIATHAN_GOSSIP_KEYS`, or from
/// `keyring_file` (a flag's file wins over the variable, the variable over the settings
/// file's). Checks the phase: sending plaintext while refusing it cannot work.
fn load_keyring(
    config: &mut Config,
    origins: &mut BTreeMap<&'static str, Origin>,
    environment: &dyn Fn(&str) -> Option<OsString>,
) -> Result<(), SettingsError> {
    let keys = env_text(environment, env::KEYS, "keyring")?;
    let file_origin = origins.get("keyring_file").cloned();
    let from_env = match (&keys, &file_origin) {
        (None, _) | (Some(_), Some(Origin::Flag(_))) => false,
        (Some(_), Some(Origin::Env(var))) => {
            return Err(SettingsError::new(
                "keyring_file",
                Some(Origin::Env(var)),
                format!("both {var} and {} are set; keep one of them", env::KEYS),
            ));
        }
        (Some(_), _) => true,
    };
    if let (true, Some(keys)) = (from_env, &keys) {
        let origin = Origin::Env(env::KEYS);
        let keyring = Keyring::from_env_value(keys)
            .map_err(|e| SettingsError::new("keyring", Some(origin.clone()), e.to_string()))?;
        config.keyring = Some(keyring);
        config.keyring_file = None;
        origins.remove("keyring_file");
        origins.insert("keyring", origin);
    } else if let Some(path) = &config.keyring_file {
        let error =
            |problem: String| SettingsError::new("keyring_file", file_origin.clone(), problem);
        let contents = std::fs::read_to_string(path)
            .map_err(|e| error(format!("cannot read {}: {e}", path.display())))?;
        let keyring = Keyring::from_file_contents(&contents)
            .map_err(|e| error(format!("{}: {e}", path.display())))?;
        config.keyring = Some(keyring);
    }
    if config.keyring.is_some() && !config.encrypt_outgoing && !config.accept_plaintext {
        return Err(SettingsError::new(
            "encrypt_outgoing",
            origins.get("encrypt_outgoing").cloned(),
            "false while accept_plaintext is false too: the node would send plaintext that \
             its peers in the same phase refuse; set encrypt_outgoing = true, or \
             accept_plaintext = true during an upgrade from plaintext",
        ));
    }
    Ok(())
}

/// The admin token: from `file` if it came from a flag, else from
/// `LEVIATHAN_GOSSIP_ADMIN_TOKEN`, else from `file` (environment or settings file). Returns
/// the token and the file it was read from.
fn load_admin_token(
    file: Option<(PathBuf, Origin)>,
    environment: &dyn Fn(&str) -> Option<OsString>,
) -> Result<(Option<AdminToken>, Option<PathBuf>), SettingsError> {
    let token = env_text(environment, env::ADMIN_TOKEN, "admin_token")?;
    let from_env = match (&token, &file) {
        (None, _) | (Some(_), Some((_, Origin::Flag(_)))) => false,
        (Some(_), Some((_, Origin::Env(var)))) => {
            return Err(SettingsError::new(
                "admin_token_file",
                Some(Origin::Env(var)),
                format!(
                    "both {var} and {} are set; keep one of them",
                    env::ADMIN_TOKEN
                ),
            ));
        }
        (Some(_), _) => true,
    };
    if let (true, Some(token)) = (from_env, &token) {
        let token = AdminToken::parse(token).map_err(|e| {
            SettingsError::new(
                "admin_token",
                Some(Origin::Env(env::ADMIN_TOKEN)),
                e.to_string(),
            )
        })?;
        return Ok((Some(token), None));
    }
    let Some((path, origin)) = file else {
        return Ok((None, None));
    };
    let token = AdminToken::from_file(&path)
        .map_err(|e| SettingsError::new("admin_token_file", Some(origin), e.to_string()))?;
    Ok((Some(token), Some(path)))
}

/// The names of `admin_hosts`, trimmed and lower-cased, empty entries dropped. Each must
/// be a DNS name: dot-separated labels of letters, digits and `-`, without a port.
fn host_names(names: &[String], origin: &Origin) -> Result<Vec<String>, SettingsError> {
    let mut valid = Vec::new();
    for name in names
        .iter()
        .map(|name| name.trim())
        .filter(|name| !name.is_empty())
    {
        let label_ok = |label: &str| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if name.len() > 253 || !name.split('.').all(label_ok) {
            return Err(SettingsError::new(
                "admin_hosts",
                Some(origin.clone()),
                format!(
                    "{:?} is not a host name: letters, digits, `-` and `.` only, without a \
                     scheme or port (IP addresses and localhost are accepted without being \
                     listed)",
                    name.chars().take(100).collect::<String>()
                ),
            ));
        }
        valid.push(name.to_ascii_lowercase());
    }
    Ok(valid)
}

/// The value of environment variable `var`, if set; `field` names it in the error if it
/// is not UTF-8.
fn env_text(
    environment: &dyn Fn(&str) -> Option<OsString>,
    var: &'static str,
    field: &'static str,
) -> Result<Option<String>, SettingsError> {
    environment(var)
        .map(|value| {
            value.into_string().map_err(|_| {
                SettingsError::new(field, Some(Origin::Env(var)), "the value is not UTF-8")
            })
        })
        .transpose()
}

/// The library `Config` fields, as named in files.
const CONFIG_FIELDS: [&str; 36] = [
    "name",
    "cluster_id",
    "listen",
    "advertise",
    "seeds",
    "seed_refresh_interval",
    "gossip_interval",
    "heartbeat_interval",
    "observers",
    "corroboration",
    "indirect_probes",
    "probe_timeout",
    "health_check_interval",
    "fanout",
    "max_packet_size",
    "phi_threshold",
    "phi_window_size",
    "phi_min_std_deviation",
    "phi_acceptable_pause",
    "phi_first_heartbeat_estimate",
    "dead_after",
    "local_pause_threshold",
    "tombstone_grace",
    "remove_after",
    "quarantine",
    "generation",
    "data_dir",
    "event_buffer",
    "max_datagrams_per_source",
    "max_nodes",
    "max_keys_per_node",
    "max_remote_bytes",
    "max_introductions_per_sender",
    "keyring_file",
    "encrypt_outgoing",
    "accept_plaintext",
];

fn preset_name(preset: Preset) -> &'static str {
    match preset {
        Preset::Default => "default",
        Preset::Lan => "lan",
        Preset::Wan => "wan",
        Preset::Local => "local",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn file(text: &str) -> Result<FileSettings, SettingsError> {
        FileSettings::parse(Path::new("agent.toml"), text)
    }

    fn resolve_with_file(text: &str, args: AgentArgs) -> Result<Settings, SettingsError> {
        let dir = std::env::temp_dir().join(format!(
            "leviathan-gossip-settings-{}-{:x}",
            std::process::id(),
            fnv1a(text)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("agent.toml");
        std::fs::write(&path, text).unwrap();
        let result = Settings::resolve(
            &AgentArgs {
                config: Some(path.clone()),
                ..args
            },
            None,
        );
        let _ = std::fs::remove_dir_all(dir);
        result
    }

    fn fnv1a(text: &str) -> u64 {
        text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        })
    }

    #[test]
    fn nothing_given_is_the_default_preset() {
        let settings = Settings::resolve(&AgentArgs::default(), None).unwrap();
        assert_eq!(settings.config, Config::default());
        assert_eq!(settings.admin.to_string(), DEFAULT_ADMIN);
        assert_eq!(settings.origin("fanout"), Origin::Preset("default"));
        assert!(!settings.log_json);
    }

    #[test]
    fn the_file_overrides_the_preset_and_flags_override_the_file() {
        let text = r#"
            preset = "local"
            name = "from-file"
            fanout = 5
            gossip_interval = "300ms"
            [agent]
            admin = "127.0.0.1:9100"
            log_json = true
        "#;
        let settings = resolve_with_file(
            text,
            AgentArgs {
                name: Some("from-flag".into()),
                ..AgentArgs::default()
            },
        )
        .unwrap();
        assert_eq!(settings.preset, Preset::Local);
        assert_eq!(settings.config.name, "from-flag");
        assert_eq!(settings.config.fanout, 5);
        assert_eq!(settings.config.gossip_interval, Duration::from_millis(300));
        assert_eq!(
            settings.config.heartbeat_interval,
            Config::local().heartbeat_interval
        );
        assert_eq!(settings.admin.port(), 9100);
        assert!(settings.log_json);
        assert_eq!(settings.origin("name"), Origin::Flag("--name"));
        assert!(matches!(settings.origin("fanout"), Origin::File(_)));
        assert_eq!(settings.origin("dead_after"), Origin::Preset("local"));
    }

    #[test]
    fn a_preset_flag_beats_the_files_preset() {
        let settings = resolve_with_file(
            "preset = \"wan\"",
            AgentArgs {
                preset: Some(Preset::Lan),
                ..AgentArgs::default()
            },
        )
        .unwrap();
        assert_eq!(settings.config, Config::lan());
    }

    #[test]
    fn file_errors_name_the_field() {
        let cases = [
            ("fanuot = 3", "fanuot"),
            ("gossip_interval = \"soon\"", "gossip_interval"),
            ("fanout = \"three\"", "fanout"),
            ("listen = \"nowhere\"", "listen"),
            ("preset = \"fast\"", "preset"),
            ("admin = 7", "admin"),
            ("[agent]\nadmn = \"127.0.0.1:1\"", "agent"),
            (
                "admin = \"127.0.0.1:1\"\n[agent]\nadmin = \"127.0.0.1:2\"",
                "admin",
            ),
            ("name = ", "config"),
        ];
        for (text, field) in cases {
            let Err(error) = file(text) else {
                panic!("{text:?} was accepted");
            };
            assert_eq!(error.field, field, "{text}: {error}");
        }
    }

    #[test]
    fn invalid_values_name_the_field_and_its_origin() {
        let error = resolve_with_file("fanout = 0", AgentArgs::default()).unwrap_err();
        assert_eq!(error.field, "fanout");
        assert!(matches!(error.origin, Some(Origin::File(_))));
        assert!(
            error
                .to_string()
                .starts_with("invalid setting `fanout` (from file ")
        );

        let error = Settings::resolve(
            &AgentArgs {
                gossip_interval: Some(Duration::ZERO),
                ..AgentArgs::default()
            },
            None,
        )
        .unwrap_err();
        assert_eq!(error.field, "gossip_interval");
        assert_eq!(error.origin, Some(Origin::Flag("--gossip-interval")));

        let error = Settings::resolve(
            &AgentArgs {
                log_level: Some("info,[=".into()),
                ..AgentArgs::default()
            },
            None,
        )
        .unwrap_err();
        assert_eq!(error.field, "log_level");

        let error = Settings::resolve(
            &AgentArgs {
                config: Some(PathBuf::from("/nonexistent/agent.toml")),
                ..AgentArgs::default()
            },
            None,
        )
        .unwrap_err();
        assert_eq!(error.field, "config");
    }

    #[test]
    fn config_fields_lists_every_field_of_the_library_config() {
        let every_option_set = Config {
            advertise: Some("127.0.0.1:1".parse().unwrap()),
            phi_first_heartbeat_estimate: Some(Duration::from_secs(1)),
            generation: Some(1),
            data_dir: Some(PathBuf::from("/tmp")),
            keyring_file: Some(PathBuf::from("/tmp/keyring")),
            ..Config::default()
        };
        let table = toml::Table::try_from(every_option_set).unwrap();
        let fields: Vec<&str> = table.keys().map(String::as_str).collect();
        let mut listed = CONFIG_FIELDS.to_vec();
        listed.sort_unstable();
        assert_eq!(fields, listed);
    }

    #[test]
    fn garbage_collection_settings_layer_and_are_validated_together() {
        let settings = resolve_with_file(
            "tombstone_grace = \"1m\"\nremove_after = \"2m\"",
            AgentArgs {
                quarantine: Some(Duration::from_secs(240)),
                ..AgentArgs::default()
            },
        )
        .unwrap();
        assert_eq!(settings.config.tombstone_grace, Duration::from_secs(60));
        assert_eq!(settings.config.remove_after, Duration::from_secs(120));
        assert_eq!(settings.config.quarantine, Duration::from_secs(240));
        assert!(matches!(
            settings.origin("tombstone_grace"),
            Origin::File(_)
        ));
        assert_eq!(settings.origin("quarantine"), Origin::Flag("--quarantine"));

        let error = resolve_with_file(
            "tombstone_grace = \"10m\"",
            AgentArgs {
                quarantine: Some(Duration::from_secs(60)),
                ..AgentArgs::default()
            },
        )
        .unwrap_err();
        assert_eq!(error.field, "quarantine");
        assert_eq!(error.origin, Some(Origin::Flag("--quarantine")));
        assert!(error.problem.contains("tombstone_grace"), "{error}");

        let error = Settings::resolve(
            &AgentArgs {
                remove_after: Some(Duration::from_millis(10)),
                ..AgentArgs::default()
            },
            None,
        )
        .unwrap_err();
        assert_eq!(error.field, "remove_after");
        assert_eq!(error.origin, Some(Origin::Flag("--remove-after")));

        let error =
            resolve_with_file("tombstone_grace = \"0s\"", AgentArgs::default()).unwrap_err();
        assert_eq!(error.field, "tombstone_grace");
        assert!(matches!(error.origin, Some(Origin::File(_))));
    }

    /// A scratch directory for files the settings read, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(label: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!(
                "leviathan-gossip-settings-{}-{label}",
                std::process::id()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        fn file(&self, name: &str, contents: &str) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, contents).unwrap();
            path
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn with_env(args: &AgentArgs, vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let vars: BTreeMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| ((*k).to_string(), OsString::from(*v)))
            .collect();
        Settings::resolve_with_env(args, None, &|name| vars.get(name).cloned())
    }

    const KEY_A: &str = "tJHh4n7ZVapeLWuCYPURpPMTYOb95FFurI4tMI/1T3A=";
    const KEY_B: &str = "IfWGV4BAO1ON8GsEk1KBtxxlKGTtahWbRwkkhGgDj90=";

    #[test]
    fn keys_come_from_the_environment_or_a_keyring_file() {
        let settings = with_env(
            &AgentArgs::default(),
            &[(env::KEYS, &format!("{KEY_A}, {KEY_B}"))],
        )
        .unwrap();
        let keyring = settings.config.keyring.as_ref().unwrap();
        assert_eq!(keyring.len(), 2);
        assert_eq!(keyring.primary().to_base64(), KEY_A);
        assert_eq!(settings.origin("keyring"), Origin::Env(env::KEYS));

        let scratch = Scratch::new("keyring");
        let path = scratch.file("keyring", &format!("# cluster key\n{KEY_B}\n"));
        let args = AgentArgs {
            keyring_file: Some(path.clone()),
            ..AgentArgs::default()
        };
        let settings = with_env(&args, &[]).unwrap();
        let keyring = settings.config.keyring.as_ref().unwrap();
        assert_eq!(keyring.primary().to_base64(), KEY_B);
        assert_eq!(settings.config.keyring_file.as_ref(), Some(&path));
        assert!(settings.config.encrypt_outgoing && !settings.config.accept_plaintext);
        // A flag's file wins over the environment's keys.
        let settings = with_env(&args, &[(env::KEYS, KEY_A)]).unwrap();
        assert_eq!(
            settings.config.keyring.unwrap().primary().to_base64(),
            KEY_B
        );
        // The environment's keys win over the settings file's keyring_file.
        let text = format!("keyring_file = {:?}", path.to_str().unwrap());
        let settings = resolve_with_file(&text, AgentArgs::default()).unwrap();
        assert_eq!(
            settings.config.keyring.unwrap().primary().to_base64(),
            KEY_B
        );
        let dir = std::env::temp_dir().join(format!(
            "leviathan-gossip-settings-{}-layers",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("agent.toml");
        std::fs::write(&config, &text).unwrap();
        let settings = with_env(
            &AgentArgs {
                config: Some(config),
                ..AgentArgs::default()
            },
            &[(env::KEYS, KEY_A)],
        )
        .unwrap();
        let _ = std::fs::remove_dir_all(dir);
        assert_eq!(
            settings.config.keyring.unwrap().primary().to_base64(),
            KEY_A
        );
        assert_eq!(settings.config.keyring_file, None);
    }

    #[test]
    fn key_errors_name_the_field_and_place_but_never_the_key() {
        let typo = "tJHh4n7ZVapeLWuCYPURpPMTYOb95FFurI4tMI/1T3A";
        let error = with_env(
            &AgentArgs::default(),
            &[(env::KEYS, &format!("{KEY_A},{typo}"))],
        )
        .unwrap_err();
        assert_eq!(error.field, "keyring");
        assert_eq!(error.origin, Some(Origin::Env(env::KEYS)));
        let text = error.to_string();
        assert!(text.contains(env::KEYS) && text.contains("key 2"), "{text}");
        assert!(!text.contains(typo) && !text.contains(KEY_A), "{text}");

        let error = with_env(&AgentArgs::default(), &[(env::KEYS, " , ")]).unwrap_err();
        assert_eq!(error.field, "keyring");

        let scratch = Scratch::new("bad-keyring");
        let path = scratch.file("keyring", &format!("{KEY_A}\n\n{typo}\n"));
        let args = AgentArgs {
            keyring_file: Some(path),
            ..AgentArgs::default()
        };
        let error = with_env(&args, &[]).unwrap_err();
        assert_eq!(error.field, "keyring_file");
        assert_eq!(error.origin, Some(Origin::Flag("--keyring-file")));
        assert!(error.problem.contains("line 3"), "{error}");
        assert!(!error.to_string().contains(typo), "{error}");

        let args = AgentArgs {
            keyring_file: Some(PathBuf::from("/nonexistent/keyring")),
            ..AgentArgs::default()
        };
        assert_eq!(with_env(&args, &[]).unwrap_err().field, "keyring_file");

        let error = with_env(
            &AgentArgs {
                encrypt_outgoing: Some(false),
                ..AgentArgs::default()
            },
            &[(env::KEYS, KEY_A)],
        )
        .unwrap_err();
        assert_eq!(error.field, "encrypt_outgoing");
        assert_eq!(error.origin, Some(Origin::Flag("--encrypt-outgoing")));
        let phase1 = with_env(
            &AgentArgs {
                encrypt_outgoing: Some(false),
                accept_plaintext: Some(true),
                ..AgentArgs::default()
            },
            &[(env::KEYS, KEY_A)],
        )
        .unwrap();
        assert!(!phase1.config.encrypt_outgoing && phase1.config.accept_plaintext);
    }

    #[test]
    fn the_admin_token_comes_from_a_file_or_the_environment() {
        let scratch = Scratch::new("token");
        let path = scratch.file("token", "s3cr3t-token\n");
        let args = AgentArgs {
            admin_token_file: Some(path.clone()),
            ..AgentArgs::default()
        };
        let settings = with_env(&args, &[]).unwrap();
        let token = settings.admin_token.as_ref().unwrap();
        assert!(token.matches(b"s3cr3t-token"));
        assert_eq!(settings.admin_token_file.as_ref(), Some(&path));
        let toml = settings.to_toml().unwrap();
        assert!(
            toml.contains("admin_token_file") && !toml.contains("s3cr3t"),
            "{toml}"
        );
        assert!(!format!("{settings:?}").contains("s3cr3t"));

        let settings = with_env(&AgentArgs::default(), &[(env::ADMIN_TOKEN, "from-env")]).unwrap();
        assert!(settings.admin_token.unwrap().matches(b"from-env"));
        assert_eq!(settings.admin_token_file, None);

        let error =
            with_env(&AgentArgs::default(), &[(env::ADMIN_TOKEN, "two words")]).unwrap_err();
        assert_eq!(error.field, "admin_token");
        assert!(!error.to_string().contains("two words"), "{error}");
        let empty = scratch.file("empty", "\n");
        let error = with_env(
            &AgentArgs {
                admin_token_file: Some(empty),
                ..AgentArgs::default()
            },
            &[],
        )
        .unwrap_err();
        assert_eq!(error.field, "admin_token_file");
        assert!(error.problem.contains("empty"), "{error}");

        let error = file(&format!(
            "admin_token_file = {:?}\n[agent]\nadmin_token_file = \"x\"",
            path.to_str().unwrap()
        ))
        .unwrap_err();
        assert_eq!(error.field, "admin_token_file");
        let settings = resolve_with_file(
            &format!("[agent]\nadmin_token_file = {:?}", path.to_str().unwrap()),
            AgentArgs::default(),
        )
        .unwrap();
        assert!(settings.admin_token.unwrap().matches(b"s3cr3t-token"));
    }

    #[test]
    fn admin_hosts_layer_and_are_validated() {
        assert!(
            Settings::resolve(&AgentArgs::default(), None)
                .unwrap()
                .admin_hosts
                .is_empty()
        );
        let settings = resolve_with_file(
            "[agent]\nadmin_hosts = [\"Gossip1.Internal\", \" \"]",
            AgentArgs::default(),
        )
        .unwrap();
        assert_eq!(settings.admin_hosts, ["gossip1.internal"]);
        assert!(matches!(settings.origin("admin_hosts"), Origin::File(_)));
        let settings =
            resolve_with_file("admin_hosts = [\"top.level\"]", AgentArgs::default()).unwrap();
        assert_eq!(settings.admin_hosts, ["top.level"]);
        let settings = resolve_with_file(
            "[agent]\nadmin_hosts = [\"from.file\"]",
            AgentArgs {
                admin_hosts: Some(vec!["from.flag".into(), "b".into()]),
                ..AgentArgs::default()
            },
        )
        .unwrap();
        assert_eq!(settings.admin_hosts, ["from.flag", "b"]);
        assert_eq!(settings.origin("admin_hosts"), Origin::Flag("--admin-host"));
        let again = resolve_with_file(&settings.to_toml().unwrap(), AgentArgs::default()).unwrap();
        assert_eq!(again.admin_hosts, settings.admin_hosts);

        for bad in [
            "http://a.example",
            "a.example:80",
            "a..b",
            "*.example",
            "a b",
        ] {
            let error = Settings::resolve(
                &AgentArgs {
                    admin_hosts: Some(vec!["good.example".into(), bad.into()]),
                    ..AgentArgs::default()
                },
                None,
            )
            .unwrap_err();
            assert_eq!(error.field, "admin_hosts", "{bad}");
            assert_eq!(error.origin, Some(Origin::Flag("--admin-host")));
            assert!(error.problem.contains(bad), "{error}");
        }
        let error = resolve_with_file(
            "admin_hosts = [\"a\"]\n[agent]\nadmin_hosts = [\"b\"]",
            AgentArgs::default(),
        )
        .unwrap_err();
        assert_eq!(error.field, "admin_hosts");
        let error =
            resolve_with_file("[agent]\nadmin_hosts = \"a\"", AgentArgs::default()).unwrap_err();
        assert_eq!(error.field, "agent");
    }

    #[test]
    fn check_output_reads_back_as_the_same_settings() {
        let settings = Settings::resolve(
            &AgentArgs {
                name: Some("n1".into()),
                seeds: Some(vec!["127.0.0.1:1".into(), " ".into()]),
                preset: Some(Preset::Local),
                ..AgentArgs::default()
            },
            None,
        )
        .unwrap();
        assert_eq!(settings.config.seeds, ["127.0.0.1:1"]);
        let text = settings.to_toml().unwrap();
        let again = resolve_with_file(&text, AgentArgs::default()).unwrap();
        assert_eq!(again.config, settings.config);
        assert_eq!(again.admin, settings.admin);
    }
}
