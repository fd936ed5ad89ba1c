//! The client subcommands: one admin API call each, printed as tables and text, or as the
//! API's JSON with `--json`. A missing key (`get`, `del`) and any API error exit with 1; a
//! bad key, fingerprint or token given to the command exits with 2.
//!
//! The admin token comes from `--admin-token-file` (or `LEVIATHAN_GOSSIP_ADMIN_TOKEN_FILE`),
//! else `LEVIATHAN_GOSSIP_ADMIN_TOKEN`. An encryption key for `keys install` and `keys use`
//! comes from `--key-file`, else `LEVIATHAN_GOSSIP_KEY`, else stdin: never from an
//! argument, which other local users see in the process list.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use leviathan_gossip::keyring::{Fingerprint, Keyring, SecretKey};
use serde::Serialize;
use tokio::io::AsyncReadExt;

use crate::Failure;
use crate::api::value_bytes;
use crate::cli::{ClientArgs, ClientCommand, KeysCommand, env};
use crate::client::{AdminClient, ClientError, KeyName};
use crate::render;
use crate::token::AdminToken;

/// Runs one client subcommand against the agent named by its `--admin`.
pub async fn run(command: ClientCommand) -> Result<(), Failure> {
    match command {
        ClientCommand::Members(args) => {
            let members = client(&args)?.members().await.map_err(failed)?;
            print_as(&args, &members, || render::members_table(&members.members))
        }
        ClientCommand::Kv { client: args, node } => {
            let entries = client(&args)?
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
            let Some(entry) = client(&args)?.get(&node, &key).await.map_err(failed)? else {
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
                None => read_stdin("the value").await?,
            };
            let agent = client(&args)?;
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
            let Some(deleted) = client(&args)?.del(&key).await.map_err(failed)? else {
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
            client(&args)?.leave().await.map_err(failed)?;
            print_as(&args, &serde_json::json!({ "status": "leaving" }), || {
                format!("the agent at {} is leaving\n", args.admin)
            })
        }
        ClientCommand::Join {
            client: args,
            addresses,
        } => {
            let joined = client(&args)?.join(&addresses).await.map_err(failed)?;
            print_as(&args, &joined, || {
                format!(
                    "{} is joining through {} address{}\n",
                    joined.node,
                    joined.added,
                    if joined.added == 1 { "" } else { "es" }
                )
            })
        }
        ClientCommand::Keys { command } => keys(command).await,
        ClientCommand::Encryption {
            client: args,
            encrypt_outgoing,
            accept_plaintext,
        } => {
            if encrypt_outgoing.is_none() && accept_plaintext.is_none() {
                return Err(Failure::usage(
                    "give --encrypt-outgoing BOOL, --accept-plaintext BOOL or both",
                ));
            }
            let keys = client(&args)?
                .set_encryption(encrypt_outgoing, accept_plaintext)
                .await
                .map_err(failed)?;
            print_as(&args, &keys, || {
                format!("{}: {}\n", keys.node, render::phase(&keys))
            })
        }
    }
}

/// `keys list|install|use|remove|generate`.
async fn keys(command: KeysCommand) -> Result<(), Failure> {
    match command {
        KeysCommand::List(args) => {
            let keys = client(&args)?.keys().await.map_err(failed)?;
            print_as(&args, &keys, || render::keys_text(&keys))
        }
        KeysCommand::Install {
            client: args,
            key_file,
        } => {
            let agent = client(&args)?;
            let key = read_key(key_file.as_deref()).await?;
            let done = agent.install_key(&key).await.map_err(failed)?;
            print_as(&args, &done, || {
                let what = if done.changed {
                    "installed key"
                } else {
                    "already had key"
                };
                let node = &done.keyring.node;
                format!("{node}: {what} {}\n", done.fingerprint)
            })
        }
        KeysCommand::Use {
            client: args,
            key,
            key_file,
        } => {
            let agent = client(&args)?;
            let done = match key.as_deref() {
                Some(text) if text != "-" => {
                    if key_file.is_some() {
                        return Err(Failure::usage(
                            "give either a fingerprint or --key-file, not both",
                        ));
                    }
                    let fingerprint = fingerprint_argument(text, "use")?;
                    agent.use_key(KeyName::Fingerprint(fingerprint)).await
                }
                _ => {
                    let key = read_key(key_file.as_deref()).await?;
                    agent.use_key(KeyName::Key(&key)).await
                }
            }
            .map_err(failed)?;
            print_as(&args, &done, || {
                let what = if done.changed {
                    "is now the primary"
                } else {
                    "was already the primary"
                };
                let node = &done.keyring.node;
                format!("{node}: key {} {what}\n", done.fingerprint)
            })
        }
        KeysCommand::Remove {
            client: args,
            fingerprint,
        } => {
            let agent = client(&args)?;
            let fingerprint = fingerprint_argument(&fingerprint, "remove")?;
            let done = agent.remove_key(&fingerprint).await.map_err(failed)?;
            print_as(&args, &done, || {
                let node = &done.keyring.node;
                format!("{node}: removed key {}\n", done.fingerprint)
            })
        }
        KeysCommand::Generate => {
            let key = random_key()?;
            emit(format!("{}\n", key.to_base64()).as_bytes())?;
            eprintln!("fingerprint {}", key.fingerprint());
            Ok(())
        }
    }
}

/// A fingerprint given as an argument. Anything else is refused without being repeated:
/// it may be a key typed where a fingerprint belongs.
fn fingerprint_argument(text: &str, command: &str) -> Result<Fingerprint, Failure> {
    text.parse().map_err(|_| {
        let exposed = if SecretKey::from_base64(text).is_ok() {
            " It looks like a key itself: keys never go on the command line, where other \
             local users see them in the process list; consider that key exposed and rotate it."
        } else {
            ""
        };
        let source = if command == "use" {
            " To name the key by its value, give `-` and the key in --key-file, \
             LEVIATHAN_GOSSIP_KEY or stdin."
        } else {
            ""
        };
        Failure::usage(format!(
            "`keys {command}` takes a key's fingerprint, 16 hex digits as `keys list` shows \
             it (the argument is not repeated here).{source}{exposed}"
        ))
    })
}

/// The key for `keys install` and `keys use`: from `key_file`, else
/// `LEVIATHAN_GOSSIP_KEY`, else stdin. Errors name the source, never the key.
async fn read_key(key_file: Option<&Path>) -> Result<SecretKey, Failure> {
    if let Some(path) = key_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::usage(format!("cannot read --key-file {}: {e}", path.display()))
        })?;
        return one_key(&text).map_err(|problem| {
            Failure::usage(format!(
                "invalid key in --key-file {}: {problem}",
                path.display()
            ))
        });
    }
    if let Some(value) = std::env::var_os(env::KEY) {
        let text = value
            .into_string()
            .map_err(|_| Failure::usage(format!("{} is not UTF-8", env::KEY)))?;
        return SecretKey::from_base64(&text)
            .map_err(|e| Failure::usage(format!("invalid key in {}: {e}", env::KEY)));
    }
    if std::io::stdin().is_terminal() {
        eprintln!("paste the key (base64), then Enter and Ctrl-D:");
    }
    let bytes = read_stdin("the key").await?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Failure::usage("invalid key on stdin: not UTF-8 text"))?;
    one_key(&text).map_err(|problem| Failure::usage(format!("invalid key on stdin: {problem}")))
}

/// Exactly one key in the keyring file format (comments and blank lines allowed).
fn one_key(text: &str) -> Result<SecretKey, String> {
    let keyring = Keyring::from_file_contents(text).map_err(|e| e.to_string())?;
    if keyring.len() != 1 {
        return Err(format!("{} keys found; give exactly one", keyring.len()));
    }
    Ok(keyring.primary().clone())
}

/// A new key from the operating system's random generator (`getrandom`).
fn random_key() -> Result<SecretKey, Failure> {
    let mut bytes = [0u8; leviathan_gossip::keyring::KEY_LEN];
    getrandom::fill(&mut bytes).map_err(|e| {
        Failure::runtime(format!(
            "the operating system's random generator failed: {e}"
        ))
    })?;
    let key = SecretKey::from_bytes(bytes);
    bytes.fill(0);
    std::hint::black_box(&bytes);
    Ok(key)
}

/// Prints events until the agent closes the stream (or Ctrl-C).
async fn watch(args: &ClientArgs) -> Result<(), Failure> {
    let mut stream = client(args)?.watch().await.map_err(failed)?;
    if !args.json {
        eprintln!("watching {} (Ctrl-C to stop)", args.admin);
    }
    loop {
        let next = tokio::select! {
            next = stream.next_line() => next.map_err(failed)?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let Some((event, line)) = next else {
            if !args.json {
                eprintln!("the agent closed the stream");
            }
            return Ok(());
        };
        // As the agent sent it: an event kind this client does not know keeps its fields.
        let text = if args.json {
            format!("{line}\n")
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

/// A client of the agent at `--admin`, with the token from `--admin-token-file` (or its
/// variable), else `LEVIATHAN_GOSSIP_ADMIN_TOKEN`.
fn client(args: &ClientArgs) -> Result<AdminClient, Failure> {
    let token =
        match &args.admin_token_file {
            Some(path) => Some(
                AdminToken::from_file(path)
                    .map_err(|e| Failure::usage(format!("invalid --admin-token-file: {e}")))?,
            ),
            None => match std::env::var_os(env::ADMIN_TOKEN) {
                None => None,
                Some(value) => {
                    let text = value.into_string().map_err(|_| {
                        Failure::usage(format!("{} is not UTF-8", env::ADMIN_TOKEN))
                    })?;
                    Some(AdminToken::parse(&text).map_err(|e| {
                        Failure::usage(format!("invalid {}: {e}", env::ADMIN_TOKEN))
                    })?)
                }
            },
        };
    let client = AdminClient::new(&args.admin)
        .map_err(|e| Failure::usage(format!("invalid --admin: {e}")))?;
    let client = match &args.admin_ca_file {
        None => client,
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| {
                Failure::usage(format!(
                    "cannot read --admin-ca-file {}: {e}",
                    path.display()
                ))
            })?;
            client
                .with_ca_certificate(&pem)
                .map_err(|e| Failure::usage(format!("invalid --admin-ca-file: {e}")))?
        }
    };
    Ok(client.with_token(token))
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

async fn read_stdin(what: &str) -> Result<Vec<u8>, Failure> {
    let mut value = Vec::new();
    tokio::io::stdin()
        .read_to_end(&mut value)
        .await
        .map_err(|e| Failure::runtime(format!("cannot read {what} from stdin: {e}")))?;
    Ok(value)
}

fn write_stdout(bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(bytes)?;
    stdout.flush()
}
