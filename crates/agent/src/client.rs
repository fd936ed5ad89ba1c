//! A client of the admin API over HTTP/1.1 or HTTPS (reqwest with rustls), for the CLI's
//! subcommands and for tests.
//!
//! ```no_run
//! # async fn run() -> Result<(), leviathan_gossip_agent::client::ClientError> {
//! use leviathan_gossip_agent::client::AdminClient;
//!
//! let agent = AdminClient::new("127.0.0.1:7581")?;
//! let written = agent.set("k1", b"v1".to_vec()).await?;
//! let entry = agent.get(&written.node, "k1").await?;
//! println!("{entry:?}");
//! # Ok(()) }
//! ```
//!
//! An agent behind a TLS-terminating proxy is reached at `https://host:port`; a private
//! certificate authority is added with [`AdminClient::with_ca_certificate`].

use std::fmt;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use eventsource_stream::{EventStreamError, Eventsource};
use futures_util::{Stream, StreamExt};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
pub use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use leviathan_gossip::json::EventRecord;
use leviathan_gossip::keyring::{Fingerprint, SecretKey};

use crate::api::{
    EntriesResponse, EntryView, ErrorResponse, HealthResponse, JoinResponse, KeyChangeResponse,
    KeysResponse, MembersResponse, WriteResponse,
};
use crate::token::AdminToken;

/// Longest wait to connect and for a whole answer (not for `watch`).
const TIMEOUT: Duration = Duration::from_secs(10);

/// Why a call failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientError {
    /// The admin address is not `host:port`, `http://host:port` or `https://host:port`.
    Address {
        /// The address given.
        address: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The client could not be set up (a CA certificate that does not parse, no TLS
    /// backend).
    Setup(String),
    /// No connection could be made to the agent (TLS handshakes included).
    Connect {
        /// The admin address tried.
        address: String,
        /// The reason.
        source: reqwest::Error,
    },
    /// The agent did not answer in time.
    Timeout {
        /// The admin address.
        address: String,
    },
    /// The HTTP exchange failed midway.
    Http(reqwest::Error),
    /// The agent answered with an error status.
    Api {
        /// The status.
        status: StatusCode,
        /// The `error` of its JSON body (or the body itself).
        message: String,
    },
    /// The answer was not the JSON expected.
    Decode(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Address { address, problem } => {
                write!(f, "invalid admin address {address:?}: {problem}")
            }
            ClientError::Setup(problem) => write!(f, "cannot set up the client: {problem}"),
            ClientError::Connect { address, source } => {
                write!(f, "cannot reach the agent at {address}: {}", chain(source))
            }
            ClientError::Timeout { address } => {
                write!(f, "the agent at {address} did not answer in time")
            }
            ClientError::Http(error) => write!(f, "HTTP exchange failed: {}", chain(error)),
            ClientError::Api { status, message } => write!(f, "{message} ({status})"),
            ClientError::Decode(problem) => write!(f, "unexpected answer: {problem}"),
        }
    }
}

/// An error and its sources, `: `-separated (reqwest's own message leaves out why a
/// connection or handshake failed).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl std::error::Error for ClientError {}

/// The admin API of one agent.
#[derive(Debug, Clone)]
pub struct AdminClient {
    /// `http://host:port` or `https://host:port`, without a trailing `/`.
    base: String,
    /// The `host:port` called.
    address: String,
    token: Option<AdminToken>,
    http: reqwest::Client,
}

impl AdminClient {
    /// A client of the agent at `admin`: `host:port` or `http://host:port` (plain HTTP),
    /// or `https://host:port` (through a TLS-terminating proxy, trusting the web's public
    /// certificate authorities; see [`AdminClient::with_ca_certificate`]).
    pub fn new(admin: &str) -> Result<Self, ClientError> {
        let admin = admin.trim().trim_end_matches('/');
        let invalid = |problem: &str| ClientError::Address {
            address: admin.to_string(),
            problem: problem.to_string(),
        };
        let (scheme, address) = match admin.split_once("://") {
            Some(("http", address)) => ("http", address),
            Some(("https", address)) => ("https", address),
            Some((scheme, _)) => {
                return Err(invalid(&format!("scheme {scheme:?} is not http or https")));
            }
            None => ("http", admin),
        };
        let port = address
            .rsplit_once(':')
            .map(|(host, port)| (host, port.parse::<u16>()));
        if address.contains(['/', '?', '#', '@'])
            || !matches!(port, Some((host, Ok(_))) if !host.is_empty())
        {
            return Err(invalid("expected host:port, without a path"));
        }
        Ok(AdminClient {
            base: format!("{scheme}://{address}"),
            address: address.to_string(),
            token: None,
            http: http_client(None)?,
        })
    }

    /// Trusts the certificate authority (or authorities) in `pem`, a PEM file's contents,
    /// besides the public ones: for an agent behind a proxy with a private CA.
    pub fn with_ca_certificate(mut self, pem: &[u8]) -> Result<Self, ClientError> {
        let certificates = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| ClientError::Setup(format!("CA certificate: {}", chain(&e))))?;
        if certificates.is_empty() {
            return Err(ClientError::Setup(
                "CA certificate: no PEM certificate found".into(),
            ));
        }
        self.http = http_client(Some(certificates))?;
        Ok(self)
    }

    /// Sends `token` as `Authorization: Bearer <token>` with every request (none: no
    /// header).
    #[must_use]
    pub fn with_token(mut self, token: Option<AdminToken>) -> Self {
        self.token = token;
        self
    }

    /// The `host:port` called.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// `GET /v1/members`.
    pub async fn members(&self) -> Result<MembersResponse, ClientError> {
        self.json(Method::GET, "/v1/members".into(), Bytes::new())
            .await
    }

    /// `GET /v1/kv`, or only `node`'s keys.
    pub async fn entries(&self, node: Option<&str>) -> Result<EntriesResponse, ClientError> {
        let path = match node {
            Some(node) => format!("/v1/kv?node={}", encode_segment(node)),
            None => "/v1/kv".to_string(),
        };
        self.json(Method::GET, path, Bytes::new()).await
    }

    /// `GET /v1/kv/{node}/{key}`; `None` if the agent knows no such key.
    pub async fn get(&self, node: &str, key: &str) -> Result<Option<EntryView>, ClientError> {
        let path = format!("/v1/kv/{}/{}", encode_segment(node), encode_segment(key));
        not_found_as_none(self.json(Method::GET, path, Bytes::new()).await)
    }

    /// `PUT /v1/kv/{key}`: sets one of the agent's keys.
    pub async fn set(
        &self,
        key: &str,
        value: impl Into<Bytes>,
    ) -> Result<WriteResponse, ClientError> {
        let path = format!("/v1/kv/{}", encode_segment(key));
        self.json(Method::PUT, path, value.into()).await
    }

    /// `PUT /v1/kv/{key}?ttl=…`: sets one of the agent's keys, which it deletes once `ttl`
    /// has run out unless the key is written again meanwhile.
    pub async fn set_with_ttl(
        &self,
        key: &str,
        value: impl Into<Bytes>,
        ttl: Duration,
    ) -> Result<WriteResponse, ClientError> {
        let ttl = humantime::format_duration(ttl).to_string();
        let path = format!(
            "/v1/kv/{}?ttl={}",
            encode_segment(key),
            encode_segment(&ttl)
        );
        self.json(Method::PUT, path, value.into()).await
    }

    /// `DELETE /v1/kv/{key}`; `None` if the key was not set.
    pub async fn del(&self, key: &str) -> Result<Option<WriteResponse>, ClientError> {
        let path = format!("/v1/kv/{}", encode_segment(key));
        not_found_as_none(self.json(Method::DELETE, path, Bytes::new()).await)
    }

    /// `GET /v1/health`: the answer whether `200` or `503`.
    pub async fn health(&self) -> Result<HealthResponse, ClientError> {
        let response = self
            .send(Method::GET, "/v1/health".into(), Bytes::new())
            .await?;
        let status = response.status();
        let body = collect(response).await?;
        if status != StatusCode::OK && status != StatusCode::SERVICE_UNAVAILABLE {
            return Err(api_error(status, &body));
        }
        decode(&body)
    }

    /// `POST /v1/leave`: the agent leaves the cluster and exits.
    pub async fn leave(&self) -> Result<(), ClientError> {
        let _: Value = self
            .json(Method::POST, "/v1/leave".into(), Bytes::new())
            .await?;
        Ok(())
    }

    /// `POST /v1/join`: makes the agent call `addresses` (`host:port`) and keep them as
    /// seeds.
    pub async fn join(&self, addresses: &[String]) -> Result<JoinResponse, ClientError> {
        let body = serde_json::json!({ "addresses": addresses }).to_string();
        self.json(Method::POST, "/v1/join".into(), Bytes::from(body))
            .await
    }

    /// `GET /v1/keys`: the keyring by fingerprint and the encryption phase.
    pub async fn keys(&self) -> Result<KeysResponse, ClientError> {
        self.json(Method::GET, "/v1/keys".into(), Bytes::new())
            .await
    }

    /// `POST /v1/keys`: installs `key` (sent in the body).
    pub async fn install_key(&self, key: &SecretKey) -> Result<KeyChangeResponse, ClientError> {
        let body = serde_json::json!({ "key": key.to_base64() }).to_string();
        self.json(Method::POST, "/v1/keys".into(), Bytes::from(body))
            .await
    }

    /// `PUT /v1/keys/primary`: makes the installed key named by `key` (a base64 key or a
    /// fingerprint, sent in the body) the primary.
    pub async fn use_key(&self, key: KeyName<'_>) -> Result<KeyChangeResponse, ClientError> {
        let key = match key {
            KeyName::Key(key) => key.to_base64(),
            KeyName::Fingerprint(fingerprint) => fingerprint.to_string(),
        };
        let body = serde_json::json!({ "key": key }).to_string();
        self.json(Method::PUT, "/v1/keys/primary".into(), Bytes::from(body))
            .await
    }

    /// `DELETE /v1/keys/{fingerprint}`: removes an installed key other than the primary.
    pub async fn remove_key(
        &self,
        fingerprint: &Fingerprint,
    ) -> Result<KeyChangeResponse, ClientError> {
        self.json(
            Method::DELETE,
            format!("/v1/keys/{fingerprint}"),
            Bytes::new(),
        )
        .await
    }

    /// `PUT /v1/encryption`: moves through the upgrade phases; `None` leaves a setting as
    /// it is.
    pub async fn set_encryption(
        &self,
        encrypt_outgoing: Option<bool>,
        accept_plaintext: Option<bool>,
    ) -> Result<KeysResponse, ClientError> {
        let mut body = serde_json::Map::new();
        if let Some(value) = encrypt_outgoing {
            body.insert("encrypt_outgoing".into(), value.into());
        }
        if let Some(value) = accept_plaintext {
            body.insert("accept_plaintext".into(), value.into());
        }
        let body = Value::Object(body).to_string();
        self.json(Method::PUT, "/v1/encryption".into(), Bytes::from(body))
            .await
    }

    /// `GET /metrics`: the OpenMetrics text.
    pub async fn metrics(&self) -> Result<String, ClientError> {
        let response = self
            .send(Method::GET, "/metrics".into(), Bytes::new())
            .await?;
        let status = response.status();
        let body = collect(response).await?;
        if !status.is_success() {
            return Err(api_error(status, &body));
        }
        String::from_utf8(body.to_vec()).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// `GET /v1/events`: the agent's events as they happen, without a time limit.
    pub async fn watch(&self) -> Result<EventStream, ClientError> {
        let response = self
            .send(Method::GET, "/v1/events".into(), Bytes::new())
            .await?;
        let status = response.status();
        if !status.is_success() {
            let body = collect(response).await?;
            return Err(api_error(status, &body));
        }
        Ok(EventStream {
            events: Box::pin(response.bytes_stream().eventsource()),
        })
    }

    /// Any request: the status and body of the answer, whatever the status.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: impl Into<Bytes>,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let exchange = async {
            let response = self.send(method, path.to_string(), body.into()).await?;
            let status = response.status();
            Ok((status, collect(response).await?))
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| ClientError::Timeout {
                address: self.address.clone(),
            })?
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: String,
        body: Bytes,
    ) -> Result<T, ClientError> {
        let exchange = async {
            let response = self.send(method, path, body).await?;
            let status = response.status();
            let body = collect(response).await?;
            if !status.is_success() {
                return Err(api_error(status, &body));
            }
            decode(&body)
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| ClientError::Timeout {
                address: self.address.clone(),
            })?
    }

    /// Sends one request; the answer's body is still to be read.
    async fn send(
        &self,
        method: Method,
        path: String,
        body: Bytes,
    ) -> Result<reqwest::Response, ClientError> {
        // JSON on every POST (the agent refuses the content types a web page may send
        // unasked), the raw value on `PUT /v1/kv/…`, JSON on the other PUTs.
        let content_type = match method {
            Method::POST => Some("application/json"),
            Method::PUT if path.starts_with("/v1/kv/") => Some("application/octet-stream"),
            Method::PUT => Some("application/json"),
            _ => None,
        };
        // `Host` is the address as given: an IP literal, `localhost` or a name the agent
        // lists in its `admin_hosts`.
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header(reqwest::header::CONTENT_TYPE, content_type);
        }
        if let Some(token) = &self.token {
            request = request.header(reqwest::header::AUTHORIZATION, token.header_value());
        }
        request.send().await.map_err(|error| self.failure(error))
    }

    fn failure(&self, error: reqwest::Error) -> ClientError {
        if error.is_timeout() {
            ClientError::Timeout {
                address: self.address.clone(),
            }
        } else if error.is_connect() {
            ClientError::Connect {
                address: self.address.clone(),
                source: error,
            }
        } else {
            ClientError::Http(error)
        }
    }
}

/// A reqwest client with rustls, trusting the public authorities and `extra_roots`.
fn http_client(
    extra_roots: Option<Vec<reqwest::Certificate>>,
) -> Result<reqwest::Client, ClientError> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(TIMEOUT)
        .use_rustls_tls()
        // The agent is called directly: a proxy set for the web must not see its token.
        .no_proxy();
    for root in extra_roots.into_iter().flatten() {
        builder = builder.add_root_certificate(root);
    }
    builder.build().map_err(|e| ClientError::Setup(chain(&e)))
}

/// A key named for [`AdminClient::use_key`]: the key itself, or its fingerprint.
#[derive(Debug, Clone, Copy)]
pub enum KeyName<'a> {
    /// The key (sent in the request body).
    Key(&'a SecretKey),
    /// Its fingerprint.
    Fingerprint(Fingerprint),
}

/// The server-sent events of `GET /v1/events`, each read as an [`EventRecord`].
pub struct EventStream {
    events: Pin<
        Box<
            dyn Stream<Item = Result<eventsource_stream::Event, EventStreamError<reqwest::Error>>>
                + Send,
        >,
    >,
}

impl fmt::Debug for EventStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStream").finish_non_exhaustive()
    }
}

impl EventStream {
    /// The next event; `None` when the agent closed the stream (it left or stopped). An
    /// event kind a newer agent added is [`EventRecord::Unknown`].
    pub async fn next(&mut self) -> Result<Option<EventRecord>, ClientError> {
        Ok(self.next_line().await?.map(|(record, _)| record))
    }

    /// The next event and its JSON as the agent sent it, which keeps the fields of an event
    /// kind this client does not know (for `watch --json`).
    pub async fn next_line(&mut self) -> Result<Option<(EventRecord, String)>, ClientError> {
        while let Some(event) = self.events.next().await {
            let event = event.map_err(|error| match error {
                EventStreamError::Transport(error) => ClientError::Http(error),
                other => ClientError::Decode(format!("event stream: {other}")),
            })?;
            // Keep-alive comments and events without data carry nothing.
            if event.data.is_empty() {
                continue;
            }
            let value = serde_json::from_str(&event.data)
                .map_err(|e| ClientError::Decode(format!("event: {e}")))?;
            return Ok(Some((value, event.data)));
        }
        Ok(None)
    }
}

/// What [`encode_segment`] escapes: everything but `A-Z a-z 0-9 - . _ ~` (RFC 3986's
/// unreserved characters).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one path or query segment: everything but `A-Z a-z 0-9 - . _ ~`.
pub fn encode_segment(text: &str) -> String {
    utf8_percent_encode(text, SEGMENT).to_string()
}

async fn collect(response: reqwest::Response) -> Result<Bytes, ClientError> {
    response.bytes().await.map_err(ClientError::Http)
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(body).map_err(|e| ClientError::Decode(e.to_string()))
}

fn api_error(status: StatusCode, body: &[u8]) -> ClientError {
    let message = serde_json::from_slice::<ErrorResponse>(body)
        .map(|e| e.error)
        .unwrap_or_else(|_| String::from_utf8_lossy(body).trim().to_string());
    ClientError::Api { status, message }
}

fn not_found_as_none<T>(result: Result<T, ClientError>) -> Result<Option<T>, ClientError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(ClientError::Api {
            status: StatusCode::NOT_FOUND,
            ..
        }) => Ok(None),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(encode_segment("k1"), "k1");
        assert_eq!(encode_segment("a/b c%?#"), "a%2Fb%20c%25%3F%23");
        assert_eq!(encode_segment("é"), "%C3%A9");
    }

    #[test]
    fn admin_addresses_may_carry_a_scheme() {
        let plain = AdminClient::new("http://127.0.0.1:7581/").unwrap();
        assert_eq!(plain.address(), "127.0.0.1:7581");
        assert_eq!(plain.base, "http://127.0.0.1:7581");
        let bare = AdminClient::new("127.0.0.1:7581").unwrap();
        assert_eq!(bare.base, "http://127.0.0.1:7581");
        let tls = AdminClient::new("https://admin.example:443").unwrap();
        assert_eq!(tls.base, "https://admin.example:443");
        for bad in [
            "ftp://127.0.0.1:1",
            "http://",
            "127.0.0.1:1/v1",
            "user@host:1",
        ] {
            let error = AdminClient::new(bad).unwrap_err();
            assert!(
                matches!(error, ClientError::Address { .. }),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn a_ca_file_without_a_certificate_is_refused() {
        let client = AdminClient::new("https://127.0.0.1:1").unwrap();
        let error = client
            .with_ca_certificate(b"not a certificate")
            .unwrap_err();
        assert!(matches!(error, ClientError::Setup(_)), "{error}");
    }

    #[tokio::test]
    async fn an_event_of_a_kind_this_client_does_not_know_keeps_its_line() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let newer = r#"{"event":"from_a_newer_agent","detail":7}"#;
        let known = r#"{"event":"peers_discover","peers":["n2"]}"#;
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = vec![0; 4096];
            let _ = socket.read(&mut request).await.unwrap();
            let body = format!("data: {newer}\n\n: keep-alive\n\ndata: {known}\n\n");
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(response.as_bytes()).await.unwrap();
        });
        let client = AdminClient::new(&address.to_string()).unwrap();
        let mut stream = client.watch().await.unwrap();
        let (record, line) = stream.next_line().await.unwrap().unwrap();
        assert_eq!(record, EventRecord::Unknown);
        assert_eq!(
            line, newer,
            "the line as the agent sent it, fields included"
        );
        let record = stream.next().await.unwrap().unwrap();
        assert_eq!(record.to_line(), known);
        assert!(stream.next().await.unwrap().is_none(), "the stream ended");
        server.await.unwrap();
    }

    #[test]
    fn api_errors_carry_the_json_message() {
        let error = api_error(StatusCode::NOT_FOUND, br#"{"error":"no key"}"#);
        assert_eq!(error.to_string(), "no key (404 Not Found)");
        let error = api_error(StatusCode::BAD_GATEWAY, b"plain\n");
        assert_eq!(error.to_string(), "plain (502 Bad Gateway)");
    }
}
