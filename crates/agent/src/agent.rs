//! `leviathan-gossip agent`: one gossip node as a process.
//!
//! Starts the node, prints every event as one JSON line on stdout (the shape of
//! [`leviathan_gossip::json::EventRecord`]), serves the admin API, and on SIGINT, SIGTERM or
//! `POST /v1/leave` announces a graceful leave and exits 0.

use std::sync::Arc;

use leviathan_gossip::json::EventRecord;
use leviathan_gossip::{Events, Gossip, RecvError, StartError};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::Failure;
use crate::http::{AdminOptions, AdminServer};
use crate::keyring_file::KeyringFile;
use crate::logging;
use crate::settings::Settings;
use crate::slot::NodeSlot;

/// Runs the agent until a signal or a leave request; `--check` only prints the settings.
pub async fn run(settings: Settings) -> Result<(), Failure> {
    if settings.check {
        let text = settings.to_toml().map_err(Failure::runtime)?;
        print!("{text}");
        return Ok(());
    }
    logging::init(settings.log_level.as_deref(), settings.log_json, "info");

    let gossip = Gossip::start(settings.config.clone())
        .await
        .map_err(|error| match error {
            StartError::Config(error) => Failure::usage(format!(
                "invalid setting `{}`: {}",
                error.field, error.problem
            )),
            StartError::Keyring { path, reason } => Failure::usage(format!(
                "invalid setting `keyring_file`: {}: {reason}",
                path.display()
            )),
            other => Failure::runtime(other.to_string()),
        })?;
    let gossip = Arc::new(gossip);
    // The first subscription, taken before anything else can subscribe (the admin API's
    // event streams): it holds every event since the node started.
    let events = gossip.events();
    let listener = TcpListener::bind(settings.admin).await.map_err(|error| {
        Failure::runtime(format!(
            "cannot bind the admin API on {}: {error}",
            settings.admin
        ))
    })?;
    if settings.admin_token.is_none() && !settings.admin.ip().is_loopback() {
        warn!(
            admin = %settings.admin,
            "the admin API listens beyond loopback without a token: anyone who reaches it \
             can read state, write keys and change encryption keys; set --admin-token-file"
        );
    }
    // Keys read from a file are written back to it when changed through the API.
    let keyring_file = settings
        .config
        .keyring_file
        .clone()
        .zip(settings.config.keyring.clone())
        .map(|(path, keyring)| KeyringFile::new(path, keyring));
    let options = AdminOptions {
        token: settings.admin_token.clone(),
        hosts: settings.admin_hosts.clone(),
        keyring_file,
        ..AdminOptions::default()
    };
    let admin = AdminServer::start_with(listener, NodeSlot::new(Arc::clone(&gossip)), options)
        .map_err(|error| Failure::runtime(format!("cannot start the admin API: {error}")))?;
    let udp = gossip
        .local_addr()
        .map_or_else(|_| "?".to_string(), |a| a.to_string());
    info!(
        identity = %gossip.identity(),
        gossip = %udp,
        admin = %format!("http://{}", admin.address()),
        page = %format!("http://{}/ (the cluster page, in a browser)", admin.address()),
        admin_token = settings.admin_token.is_some(),
        "agent started"
    );
    let encryption = gossip.encryption();
    if encryption.keys.is_empty() {
        info!("no encryption keys: datagrams are sent and accepted as plaintext");
    } else {
        let keys: Vec<String> = encryption.keys.iter().map(ToString::to_string).collect();
        info!(
            keys = %keys.join(","),
            encrypt_outgoing = encryption.encrypt_outgoing,
            accept_plaintext = encryption.accept_plaintext,
            "encryption on (keys by fingerprint, the primary first)"
        );
    }

    let printer = tokio::spawn(print_events(events));
    let reason = tokio::select! {
        result = tokio::signal::ctrl_c() => match result {
            Ok(()) => "SIGINT",
            Err(error) => return Err(Failure::runtime(format!("cannot watch SIGINT: {error}"))),
        },
        () = terminate() => "SIGTERM",
        () = admin.leave_requested() => "POST /v1/leave",
    };
    info!(reason, "leaving the cluster");
    if let Err(error) = gossip.leave().await {
        warn!(%error, "leave failed");
    }
    admin.stop().await;
    printer.abort();
    info!("left; bye");
    Ok(())
}

/// Writes each event as a JSON line on stdout until the node stops.
async fn print_events(mut events: Events) {
    let mut stdout = tokio::io::stdout();
    loop {
        let line = match events.recv().await {
            Ok(event) => EventRecord::from(&event).to_line(),
            Err(RecvError::Lagged(missed)) => {
                warn!(missed, "stdout is too slow: events missed");
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        let written = async {
            stdout.write_all(line.as_bytes()).await?;
            stdout.write_all(b"\n").await?;
            stdout.flush().await
        };
        if written.await.is_err() {
            // Nobody reads stdout any more (a closed pipe): the agent itself goes on.
            return;
        }
    }
}

#[cfg(unix)]
async fn terminate() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut signal) => {
            signal.recv().await;
        }
        Err(error) => {
            warn!(%error, "cannot watch SIGTERM");
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(not(unix))]
async fn terminate() {
    std::future::pending::<()>().await;
}
