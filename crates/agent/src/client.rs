//! A client of the admin API over plain HTTP/1.1 (hyper, one connection per call).
//!
//! ```no_run
//! # async fn run() -> Result<(), leviathan_gossip_agent::client::ClientError> {
//! use leviathan_gossip_agent::client::AdminClient;
//!
//! let agent = AdminClient::new("127.0.0.1:7947");
//! let written = agent.set("k1", b"v1".to_vec()).await?;
//! let entry = agent.get(&written.node, "k1").await?;
//! println!("{entry:?}");
//! # Ok(()) }
//! ```

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
pub use hyper::{Method, StatusCode};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::net::TcpStream;

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
pub enum ClientError {
    /// No connection could be made to the agent.
    Connect {
        /// The admin address tried.
        address: String,
        /// The reason.
        source: std::io::Error,
    },
    /// The agent did not answer in time.
    Timeout {
        /// The admin address.
        address: String,
    },
    /// The HTTP exchange failed midway.
    Http(hyper::Error),
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
            ClientError::Connect { address, source } => {
                write!(f, "cannot reach the agent at {address}: {source}")
            }
            ClientError::Timeout { address } => {
                write!(f, "the agent at {address} did not answer in time")
            }
            ClientError::Http(error) => write!(f, "HTTP exchange failed: {error}"),
            ClientError::Api { status, message } => write!(f, "{message} ({status})"),
            ClientError::Decode(problem) => write!(f, "unexpected answer: {problem}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// The admin API of one agent.
#[derive(Debug, Clone)]
pub struct AdminClient {
    address: String,
    token: Option<AdminToken>,
}

impl AdminClient {
    /// A client of the agent at `admin` (`host:port`, or `http://host:port`).
    pub fn new(admin: &str) -> Self {
        let address = admin
            .trim()
            .trim_start_matches("http://")
            .trim_end_matches('/');
        AdminClient {
            address: address.to_string(),
            token: None,
        }
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
            body: response.into_body(),
            buffer: Vec::new(),
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

    /// Sends one request on a new connection; the answer's body is still to be read.
    async fn send(
        &self,
        method: Method,
        path: String,
        body: Bytes,
    ) -> Result<Response<Incoming>, ClientError> {
        let connect = TcpStream::connect(self.address.as_str());
        let stream = tokio::time::timeout(TIMEOUT, connect)
            .await
            .map_err(|_| ClientError::Timeout {
                address: self.address.clone(),
            })?
            .map_err(|source| ClientError::Connect {
                address: self.address.clone(),
                source,
            })?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(ClientError::Http)?;
        // Drives the connection; ends when the answer is read and the sender dropped.
        tokio::spawn(async move {
            let _ = connection.await;
        });
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
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, self.address.as_str());
        if let Some(content_type) = content_type {
            request = request.header(hyper::header::CONTENT_TYPE, content_type);
        }
        if let Some(token) = &self.token {
            request = request.header(hyper::header::AUTHORIZATION, token.header_value());
        }
        let request = request
            .body(Full::new(body))
            .map_err(|error| ClientError::Decode(format!("bad request: {error}")))?;
        sender
            .send_request(request)
            .await
            .map_err(ClientError::Http)
    }
}

/// A key named for [`AdminClient::use_key`]: the key itself, or its fingerprint.
#[derive(Debug, Clone, Copy)]
pub enum KeyName<'a> {
    /// The key (sent in the request body).
    Key(&'a SecretKey),
    /// Its fingerprint.
    Fingerprint(Fingerprint),
}

/// The server-sent events of `GET /v1/events`, each the event's JSON object.
#[derive(Debug)]
pub struct EventStream {
    body: Incoming,
    buffer: Vec<u8>,
}

impl EventStream {
    /// The next event; `None` when the agent closed the stream (it left or stopped).
    pub async fn next(&mut self) -> Result<Option<Value>, ClientError> {
        loop {
            if let Some(event) = self.take_event()? {
                return Ok(Some(event));
            }
            let Some(frame) = self.body.frame().await else {
                return Ok(None);
            };
            if let Ok(data) = frame.map_err(ClientError::Http)?.into_data() {
                self.buffer.extend_from_slice(&data);
            }
        }
    }

    /// Takes the first complete event out of the buffer (skipping keep-alive comments).
    fn take_event(&mut self) -> Result<Option<Value>, ClientError> {
        while let Some(end) = find(&self.buffer, b"\n\n") {
            let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
            let text = String::from_utf8_lossy(&block);
            let data: Vec<&str> = text
                .lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .map(|data| data.strip_prefix(' ').unwrap_or(data))
                .collect();
            if data.is_empty() {
                continue;
            }
            let event = serde_json::from_str(&data.join("\n"))
                .map_err(|e| ClientError::Decode(format!("event: {e}")))?;
            return Ok(Some(event));
        }
        Ok(None)
    }
}

/// Percent-encodes one path or query segment: everything but `A-Z a-z 0-9 - . _ ~`.
pub fn encode_segment(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

async fn collect(response: Response<Incoming>) -> Result<Bytes, ClientError> {
    Ok(response
        .into_body()
        .collect()
        .await
        .map_err(ClientError::Http)?
        .to_bytes())
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

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
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
        assert_eq!(
            AdminClient::new("http://127.0.0.1:7947/").address(),
            "127.0.0.1:7947"
        );
    }

    #[test]
    fn api_errors_carry_the_json_message() {
        let error = api_error(StatusCode::NOT_FOUND, br#"{"error":"no key"}"#);
        assert_eq!(error.to_string(), "no key (404 Not Found)");
        let error = api_error(StatusCode::BAD_GATEWAY, b"plain\n");
        assert_eq!(error.to_string(), "plain (502 Bad Gateway)");
    }
}
