//! The client subcommands: one admin API call each, printed as tables and text, or as the
//! API's JSON with `--json`. A missing key (`get`, `del`) and any API error exit with 1.

use std::time::Duration;

use serde::Serialize;
use tokio::io::AsyncReadExt;

use crate::Failure;
use crate::api::value_bytes;
use crate::cli::{ClientArgs, ClientCommand};
use crate::client::{AdminClient, ClientError};
use crate::render;

/// Runs one client subcommand against the agent named by its `--admin`.
pub async fn run(command: ClientCommand) -> Result<(), Failure> {
    match command {
        ClientCommand::Members(args) => {
            let members = client(&args).members().await.map_err(failed)?;
            print_as(&args, &members, || render::members_table(&members.members))
        }
        ClientCommand::Kv { client: args, node } => {
            let entries = client(&args)
                .entries(node.as_deref())
                .await
                .map_err(failed)?;
            print_as(&args, &entries, || render::entries_table(&entries.entries))
        }
        ClientCommand::Get {
            client: args,
            node,
            key,
        } => {
            let Some(entry) = client(&args).get(&node, &key).await.map_err(failed)? else {
                return Err(Failure::runtime(format!(
                    "no key {key:?} of node {node:?} is known at {}",
                    args.admin
                )));
            };
            if args.json {
                return print_json(&entry);
            }
            let bytes = value_bytes(&entry.value).unwrap_or_default();
            match String::from_utf8(bytes) {
                Ok(text) => emit(format!("{text}\n").as_bytes()),
                // Other bytes raw, so that `get … > file` gives back what was set.
                Err(raw) => emit(raw.as_bytes()),
            }
        }
        ClientCommand::Set {
            client: args,
            key,
            value,
            ttl,
        } => {
            let value = match value {
                Some(text) => text.into_bytes(),
                None => read_stdin().await?,
            };
            let agent = client(&args);
            let written = match ttl {
                Some(ttl) => agent.set_with_ttl(&key, value, ttl).await,
                None => agent.set(&key, value).await,
            }
            .map_err(failed)?;
            print_as(&args, &written, || {
                let expiry = written.ttl_ms.map_or_else(String::new, |ms| {
                    let ttl = humantime::format_duration(Duration::from_millis(ms));
                    format!(" (expires in {ttl})")
                });
                format!(
                    "{}/{} = v{}{expiry}\n",
                    written.node, written.key, written.version
                )
            })
        }
        ClientCommand::Del { client: args, key } => {
            let Some(deleted) = client(&args).del(&key).await.map_err(failed)? else {
                return Err(Failure::runtime(format!(
                    "key {key:?} is not set on the agent at {}",
                    args.admin
                )));
            };
            print_as(&args, &deleted, || {
                format!(
                    "deleted {}/{} (v{})\n",
                    deleted.node, deleted.key, deleted.version
                )
            })
        }
        ClientCommand::Watch(args) => watch(&args).await,
        ClientCommand::Leave(args) => {
            client(&args).leave().await.map_err(failed)?;
            print_as(&args, &serde_json::json!({ "status": "leaving" }), || {
                format!("the agent at {} is leaving\n", args.admin)
            })
        }
    }
}

/// Prints events until the agent closes the stream (or Ctrl-C).
async fn watch(args: &ClientArgs) -> Result<(), Failure> {
    let mut stream = client(args).watch().await.map_err(failed)?;
    if !args.json {
        eprintln!("watching {} (Ctrl-C to stop)", args.admin);
    }
    loop {
        let next = tokio::select! {
            next = stream.next() => next.map_err(failed)?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let Some(event) = next else {
            if !args.json {
                eprintln!("the agent closed the stream");
            }
            return Ok(());
        };
        let text = if args.json {
            format!("{event}\n")
        } else {
            render::event_lines(&event)
                .iter()
                .map(|line| format!("{line}\n"))
                .collect()
        };
        match write_stdout(text.as_bytes()) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(error) => return Err(Failure::runtime(format!("cannot write stdout: {error}"))),
        }
    }
}

fn client(args: &ClientArgs) -> AdminClient {
    AdminClient::new(&args.admin)
}

fn failed(error: ClientError) -> Failure {
    Failure::runtime(error.to_string())
}

fn print_as<T: Serialize>(
    args: &ClientArgs,
    value: &T,
    human: impl FnOnce() -> String,
) -> Result<(), Failure> {
    if args.json {
        return print_json(value);
    }
    emit(human().as_bytes())
}

fn print_json<T: Serialize>(value: &T) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::runtime(format!("cannot encode JSON: {e}")))?;
    emit(format!("{text}\n").as_bytes())
}

/// Writes to stdout; a reader that went away (`| head`) ends the command quietly.
fn emit(bytes: &[u8]) -> Result<(), Failure> {
    match write_stdout(bytes) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(error) => Err(Failure::runtime(format!("cannot write stdout: {error}"))),
    }
}

async fn read_stdin() -> Result<Vec<u8>, Failure> {
    let mut value = Vec::new();
    tokio::io::stdin()
        .read_to_end(&mut value)
        .await
        .map_err(|e| Failure::runtime(format!("cannot read the value from stdin: {e}")))?;
    Ok(value)
}

fn write_stdout(bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(bytes)?;
    stdout.flush()
}
