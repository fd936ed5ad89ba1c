//! Errors of the binding, turned into JavaScript `Error`s with the same message.

use leviathan_gossip::{ConfigError, StartError};
use thiserror::Error;

/// Why a call from JavaScript failed. Each becomes an `Error` whose message is this
/// error's text; none leaves the node's state changed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BindingError {
    /// An option of `new Gossip(cfg)` is invalid: `option` is its name as the JavaScript
    /// caller wrote it (`gossip_val`, `seeds`, …), or the engine's setting that the option
    /// (or the preset) set. Nothing was started.
    #[error("invalid option {option}: {problem}")]
    Config {
        /// The option, as named in `cfg`.
        option: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The node could not start (the port is taken, …). Nothing was started.
    #[error("cannot start the gossip node: {0}")]
    Start(#[source] StartError),
    /// A call on a running node failed (invalid key, value too large, the node stopped).
    /// Nothing was written.
    #[error(transparent)]
    Call(#[from] leviathan_gossip::Error),
    /// `run` was called on a node that was already started.
    #[error("the gossip node was already started (run may be called once)")]
    AlreadyStarted,
    /// A method that needs a running node was called before `run`.
    #[error("the gossip node is not started: call run() first")]
    NotStarted,
}

impl BindingError {
    /// A configuration error about `option`.
    pub fn config(option: impl Into<String>, problem: impl Into<String>) -> Self {
        BindingError::Config {
            option: option.into(),
            problem: problem.into(),
        }
    }
}

impl From<StartError> for BindingError {
    fn from(error: StartError) -> Self {
        match error {
            StartError::Config(error) => error.into(),
            other => BindingError::Start(other),
        }
    }
}

impl From<ConfigError> for BindingError {
    /// Names the option the way `cfg` does where one maps to the engine's field.
    fn from(error: ConfigError) -> Self {
        BindingError::config(option_name(error.field), error.problem)
    }
}

impl From<BindingError> for napi::Error {
    fn from(error: BindingError) -> Self {
        let status = match error {
            BindingError::Config { .. } => napi::Status::InvalidArg,
            _ => napi::Status::GenericFailure,
        };
        napi::Error::new(status, error.to_string())
    }
}

/// The `cfg` option that sets the engine's `field`, or the field itself (set by the
/// preset) when no option does.
pub fn option_name(field: &str) -> String {
    let option = match field {
        "name" => "alias",
        "listen" => "addr/port",
        "advertise" => "addr",
        "gossip_interval" => "gossip_val",
        "heartbeat_interval" => "heartbeat_val",
        "health_check_interval" => "health_check_val",
        "phi.window_size" | "phi_window_size" => "val_max_len",
        "seeds" | "cluster_id" | "event_buffer" | "phi_threshold" => field,
        other => return format!("{other} (engine setting, from the preset)"),
    };
    option.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_fields_are_named_as_in_cfg() {
        let error = BindingError::from(ConfigError::new("gossip_interval", "must be positive"));
        assert_eq!(
            error.to_string(),
            "invalid option gossip_val: must be positive"
        );
        assert_eq!(option_name("phi.window_size"), "val_max_len");
        assert_eq!(option_name("name"), "alias");
        assert!(option_name("tombstone_grace").starts_with("tombstone_grace"));
    }

    #[test]
    fn config_errors_are_invalid_arguments() {
        let error = napi::Error::from(BindingError::config("port", "too large"));
        assert_eq!(error.status, napi::Status::InvalidArg);
        assert_eq!(error.reason, "invalid option port: too large");
    }
}
