//! Logs: `tracing` to stderr, as text or JSON lines, so stdout stays for events.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `filter` is a level or `tracing` directives; `None`
/// means `RUST_LOG`, else `fallback`. Does nothing if a subscriber is already installed.
pub fn init(filter: Option<&str>, json: bool, fallback: &str) {
    let filter = match filter {
        Some(filter) => EnvFilter::try_new(filter).ok(),
        None => EnvFilter::try_from_default_env().ok(),
    }
    .unwrap_or_else(|| EnvFilter::new(fallback));
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter);
    // A second call (tests, or a library user who installed one) keeps the first.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
