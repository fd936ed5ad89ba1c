//! The admin HTTP API: an axum router over one node, and the server that runs it.
//!
//! | method and path          | answer                                                    |
//! |--------------------------|-----------------------------------------------------------|
//! | `GET /v1/members`        | [`MembersResponse`]                                       |
//! | `GET /v1/kv[?node=N]`    | [`EntriesResponse`]                                       |
//! | `GET /v1/kv/{node}/{key}`| [`EntryView`], or `404` if absent                         |
//! | `GET /v1/convergence/{node}/{key}` | [`ConvergenceResponse`]: the version of the key each node of [`AdminOptions::siblings`] holds |
//! | `PUT /v1/kv/{key}[?ttl=D]`| body = the value's bytes; [`WriteResponse`]              |
//! | `DELETE /v1/kv/{key}`    | [`WriteResponse`], or `404` if the key was not set        |
//! | `GET /v1/events`         | server-sent events, one per event, data = the event JSON  |
//! | `GET /v1/health`         | [`HealthResponse`]; `503` once left or down               |
//! | `POST /v1/leave`         | `202`; the owner of the server then leaves                |
//! | `POST /v1/join`          | body `{"addresses": ["host:port", …]}` (1 to 64): calls them and keeps them as seeds; [`JoinResponse`], `400` if none resolves |
//! | `GET /v1/keys`           | [`KeysResponse`]: the keyring by fingerprint and the phase |
//! | `POST /v1/keys`          | body `{"key": "<base64>"}`: installs it; [`KeyChangeResponse`] |
//! | `PUT /v1/keys/primary`   | body `{"key": "<base64 or fingerprint>"}`: uses it; [`KeyChangeResponse`], `404` if not installed |
//! | `DELETE /v1/keys/{fingerprint}` | removes it; [`KeyChangeResponse`], `404` if not installed, `409` for the primary |
//! | `PUT /v1/encryption`     | body `{"encrypt_outgoing": bool, "accept_plaintext": bool}` (either may be left out): sets the phase; [`KeysResponse`], `409` without a key |
//! | `GET /metrics`           | Prometheus/OpenMetrics text ([`crate::metrics`])          |
//! | `GET /`                  | the cluster page ([`crate::ui`]) if `Accept` lists `text/html`, else the list of endpoints |
//!
//! Every error is a `4xx`/`5xx` with an [`ErrorResponse`] body. Keys and node names are
//! path segments: percent-encode `/`, `%`, `?`, `#` and spaces.
//!
//! **Encryption keys** travel only in request bodies, never in a URL (which proxies and
//! logs keep), and no answer or error repeats one: keys are shown by fingerprint, and a
//! bad `key` gets a `400` that names the field and the problem only.
//!
//! **Web pages.** Before anything else, [`crate::origin`] refuses requests naming an
//! unknown host in `Host` (DNS rebinding; `403`), state-changing requests from another
//! origin (`403`), and `POST`s without `Content-Type: application/json` (`415`), token or
//! no token.
//!
//! **Slow clients.** [`crate::serve`] bounds the time to send a request's headers (10 s)
//! and body (30 s, then `408`) and serves at most 256 connections at once; more wait to be
//! accepted. Event streams are not cut.
//!
//! **Keyring file.** With [`AdminOptions::keyring_file`], each successful key change
//! (`POST /v1/keys`, `PUT /v1/keys/primary`, `DELETE /v1/keys/{fingerprint}`) is written
//! back to the file atomically before the answer ([`crate::keyring_file`]); if that fails
//! the answer is `500`, saying the change was applied in memory but not saved.
//!
//! **Token.** With an [`AdminToken`] ([`AdminServer::start_with_token`]), every request —
//! every endpoint above, `/metrics` and `/v1/health` included, and unknown paths — must
//! carry `Authorization: Bearer <token>`; otherwise the answer is `401` with
//! `WWW-Authenticate: Bearer` and nothing else is done. The token is compared in constant
//! time. The one exception is the cluster page's static files ([`crate::ui::is_page_asset`]),
//! which hold no data: a browser cannot send the token when it navigates, and the page
//! then sends it on every request of its own.
//!
//! `ttl` (a humantime duration such as `30s` or `1h 30m`, or a number of seconds) makes
//! the node delete the key once it has run out, unless it is written again meanwhile
//! ([`Gossip::set_with_ttl`]); a `PUT` without it keeps the key for good.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete as delete_route, get, post, put};
use axum::{Json, Router};
use futures_util::Stream;
use leviathan_gossip::json::EventRecord;
use leviathan_gossip::keyring::{Fingerprint, KeyRef, KeyringError, SecretKey};
use leviathan_gossip::{Error as GossipError, Gossip, MemberState, RecvError, WriteError, json};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::api::{
    ConvergenceResponse, EntriesResponse, EntryView, ErrorResponse, HealthResponse, HolderView,
    JoinResponse, KeyChangeResponse, KeysResponse, MemberView, MembersResponse, WriteResponse,
    keys_response,
};
use crate::keyring_file::{ChangeError, KeyChange, KeyringFile};
use crate::metrics::Metrics;
use crate::origin::{self, AllowedHosts};
use crate::serve::{self, Limits};
use crate::slot::NodeSlot;
use crate::token::{AdminToken, bearer};
use crate::ui;

/// Largest request body accepted: above any value a datagram can carry.
const MAX_BODY: usize = 64 * 1024;
/// How long [`AdminServer::stop`] waits for requests in flight.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// What every handler shares: the node, the leave request, the closing signal, metrics,
/// the token requests must carry, the host names accepted, the limits on clients, the
/// keyring file key changes are saved to, the sibling nodes of the convergence view.
#[derive(Debug, Clone)]
pub struct AdminState {
    slot: NodeSlot,
    siblings: Arc<[Sibling]>,
    leave: Arc<Notify>,
    closing: watch::Receiver<bool>,
    metrics: Arc<Metrics>,
    token: Option<Arc<AdminToken>>,
    hosts: Arc<AllowedHosts>,
    limits: Limits,
    keyring_file: Option<KeyringFile>,
}

/// The router of the admin API over `state`.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/", get(index))
        .route(ui::SCRIPT_PATH, get(ui::script))
        .route(ui::STYLE_PATH, get(ui::style))
        .route("/v1/members", get(members))
        .route("/v1/kv", get(entries))
        .route("/v1/kv/{node}/{key}", get(entry))
        .route("/v1/convergence/{node}/{key}", get(convergence))
        .route("/v1/kv/{key}", put(set).delete(delete))
        .route("/v1/events", get(events))
        .route("/v1/health", get(health))
        .route("/v1/leave", post(leave))
        .route("/v1/join", post(join))
        .route("/v1/keys", get(list_keys).post(install_key))
        .route("/v1/keys/primary", put(use_key))
        .route("/v1/keys/{fingerprint}", delete_route(remove_key))
        .route("/v1/encryption", put(set_encryption))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        // Each layer wraps those before it: a request meets the guard against web pages
        // first, then the token check, then its body is read.
        .layer(middleware::from_fn_with_state(
            (state.limits, MAX_BODY),
            serve::read_body,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), authorize))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state.hosts),
            origin::guard,
        ))
        .with_state(state)
}

/// How an admin server runs: who may call it, how long it waits for slow clients, where
/// key changes are saved. The default: no token, no host name but IP addresses and
/// `localhost`, the default [`Limits`], no keyring file.
#[derive(Debug, Clone, Default)]
pub struct AdminOptions {
    /// The bearer token every request must carry (`401` otherwise); none: no
    /// authentication.
    pub token: Option<AdminToken>,
    /// Host names accepted in `Host` besides IP literals and `localhost` (the agent's
    /// `admin_hosts`); see [`crate::origin`].
    pub hosts: Vec<String>,
    /// Bounds on slow and numerous clients.
    pub limits: Limits,
    /// The keyring file that key changes are written back to, if the keys came from one.
    pub keyring_file: Option<KeyringFile>,
    /// Other nodes in the same process whose version of a key
    /// `GET /v1/convergence/{node}/{key}` reports beside this node's (the demo's nodes);
    /// none for an agent, which knows no other node's admin API.
    pub siblings: Vec<Sibling>,
}

/// A node of the same process, named, for the convergence view of the cluster page.
#[derive(Debug, Clone)]
pub struct Sibling {
    /// The node's name.
    pub name: String,
    /// The node, or none while it is down.
    pub slot: NodeSlot,
}

/// A running admin API server.
#[derive(Debug)]
pub struct AdminServer {
    address: SocketAddr,
    leave: Arc<Notify>,
    closing: watch::Sender<bool>,
    task: JoinHandle<std::io::Result<()>>,
}

impl AdminServer {
    /// Serves the admin API of whatever node `slot` holds on `listener`, in a new task,
    /// without authentication.
    pub fn start(listener: TcpListener, slot: NodeSlot) -> std::io::Result<AdminServer> {
        Self::start_with_token(listener, slot, None)
    }

    /// Like [`AdminServer::start`]; with a `token`, every request must carry
    /// `Authorization: Bearer <token>` (`401` otherwise).
    pub fn start_with_token(
        listener: TcpListener,
        slot: NodeSlot,
        token: Option<AdminToken>,
    ) -> std::io::Result<AdminServer> {
        let options = AdminOptions {
            token,
            ..AdminOptions::default()
        };
        Self::start_with(listener, slot, options)
    }

    /// Like [`AdminServer::start`], with `options`.
    pub fn start_with(
        listener: TcpListener,
        slot: NodeSlot,
        options: AdminOptions,
    ) -> std::io::Result<AdminServer> {
        let address = listener.local_addr()?;
        let (closing, closed) = watch::channel(false);
        let leave = Arc::new(Notify::new());
        let state = AdminState {
            metrics: Arc::new(Metrics::new(slot.clone())),
            slot,
            siblings: options.siblings.into(),
            leave: Arc::clone(&leave),
            closing: closed.clone(),
            token: options.token.map(Arc::new),
            hosts: Arc::new(AllowedHosts::new(&options.hosts)),
            limits: options.limits,
            keyring_file: options.keyring_file,
        };
        let limits = state.limits;
        let task = tokio::spawn(serve::serve(listener, router(state), limits, closed));
        Ok(AdminServer {
            address,
            leave,
            closing,
            task,
        })
    }

    /// The address the API listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Completes when a client called `POST /v1/leave` (at once if one did already).
    pub async fn leave_requested(&self) {
        self.leave.notified().await;
    }

    /// The signal behind [`AdminServer::leave_requested`], for a task of its own.
    pub fn leave_signal(&self) -> Arc<Notify> {
        Arc::clone(&self.leave)
    }

    /// Ends event streams, lets requests in flight finish (up to 2 s), and stops.
    pub async fn stop(self) {
        self.closing.send_replace(true);
        let mut task = self.task;
        match tokio::time::timeout(STOP_GRACE, &mut task).await {
            Ok(Ok(Ok(()))) => debug!("admin API stopped"),
            Ok(Ok(Err(error))) => warn!(%error, "admin API failed"),
            Ok(Err(error)) => warn!(%error, "admin API task failed"),
            Err(_) => {
                debug!("admin API requests still open; closing them");
                task.abort();
            }
        }
    }
}

/// An error answer: a status and `{"error": "…"}`.
#[derive(Debug)]
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(ErrorResponse { error: self.1 })).into_response()
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError(rejection.status(), rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError(rejection.status(), rejection.body_text())
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        ApiError(rejection.status(), rejection.body_text())
    }
}

impl From<GossipError> for ApiError {
    fn from(error: GossipError) -> Self {
        let status = match &error {
            GossipError::InvalidKey { .. } | GossipError::InvalidTtl { .. } => {
                StatusCode::BAD_REQUEST
            }
            GossipError::Write(WriteError::ValueTooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            GossipError::Write(WriteError::TooManyKeys { .. }) => StatusCode::INSUFFICIENT_STORAGE,
            GossipError::Write(WriteError::Left) => StatusCode::CONFLICT,
            GossipError::Shutdown | GossipError::Stopped => StatusCode::SERVICE_UNAVAILABLE,
            GossipError::Join { .. } => StatusCode::BAD_REQUEST,
            GossipError::Keyring(KeyringError::NotInstalled { .. }) => StatusCode::NOT_FOUND,
            GossipError::Keyring(KeyringError::RemovePrimary { .. }) => StatusCode::CONFLICT,
            // The disk, a write the node did not prepare (a bug), or a reason added later.
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, error.to_string())
    }
}

impl AdminState {
    /// The node served, or `503` while there is none (a demo node that crashed).
    fn node(&self) -> Result<Arc<Gossip>, ApiError> {
        self.slot.current().ok_or_else(|| {
            ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                "the node is down".to_string(),
            )
        })
    }
}

/// `GET /`: the cluster page to a browser, the list of endpoints to anyone else.
async fn index(headers: HeaderMap) -> Response {
    let mut response = if ui::wants_html(&headers) {
        ui::page()
    } else {
        endpoints()
    };
    // One path, two answers: caches must key them by `Accept`.
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("accept"));
    response
}

fn endpoints() -> Response {
    Json(json!({
        "page": "GET / with Accept: text/html: the cluster page",
        "endpoints": [
            "GET /v1/members",
            "GET /v1/kv?node=NODE",
            "GET /v1/kv/{node}/{key}",
            "GET /v1/convergence/{node}/{key}",
            "PUT /v1/kv/{key}?ttl=DURATION",
            "DELETE /v1/kv/{key}",
            "GET /v1/events",
            "GET /v1/health",
            "POST /v1/leave",
            "POST /v1/join",
            "GET /v1/keys",
            "POST /v1/keys",
            "PUT /v1/keys/primary",
            "DELETE /v1/keys/{fingerprint}",
            "PUT /v1/encryption",
            "GET /metrics",
        ]
    }))
    .into_response()
}

async fn members(State(state): State<AdminState>) -> Result<Json<MembersResponse>, ApiError> {
    let node = state.node()?;
    Ok(Json(MembersResponse {
        node: node.identity().name.to_string(),
        members: node.members().iter().map(MemberView::from).collect(),
    }))
}

/// Query of `GET /v1/kv`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntriesQuery {
    node: Option<String>,
}

async fn entries(
    State(state): State<AdminState>,
    query: Result<Query<EntriesQuery>, QueryRejection>,
) -> Result<Json<EntriesResponse>, ApiError> {
    let Query(query) = query?;
    let node = state.node()?;
    let owners: Vec<String> = match query.node {
        Some(owner) => vec![owner],
        None => node
            .members()
            .iter()
            .map(|m| m.id.name.to_string())
            .collect(),
    };
    let entries = owners
        .iter()
        .flat_map(|owner| {
            node.entries(owner)
                .into_iter()
                .map(move |(key, version, value)| EntryView {
                    node: owner.clone(),
                    key: key.to_string(),
                    value: json::value(&value),
                    version: version.0,
                })
        })
        .collect();
    Ok(Json(EntriesResponse { entries }))
}

async fn entry(
    State(state): State<AdminState>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<EntryView>, ApiError> {
    let Path((owner, key)) = path?;
    let node = state.node()?;
    // Value and version under two lock acquisitions: a write in between is harmless, as
    // the pair read second is never older than the first.
    let found = node.get(&owner, &key).zip(node.getn(&owner, &key));
    let Some((value, version)) = found else {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no key {key:?} of node {owner:?} is known here"),
        ));
    };
    Ok(Json(EntryView {
        node: owner,
        key,
        value: json::value(&value),
        version: version.0,
    }))
}

async fn convergence(
    State(state): State<AdminState>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<ConvergenceResponse>, ApiError> {
    let Path((owner, key)) = path?;
    let node = state.node()?;
    let name = node.identity().name.to_string();
    let holder = |holder: String, gossip: Option<Arc<Gossip>>| {
        let running = gossip.filter(|gossip| gossip.is_running());
        HolderView {
            generation: running.as_ref().and_then(|gossip| {
                gossip
                    .members()
                    .iter()
                    .find(|member| member.id.name.as_str() == owner)
                    .map(|member| member.id.generation.0)
            }),
            version: running
                .as_ref()
                .and_then(|gossip| gossip.getn(&owner, &key))
                .map(|version| version.0),
            up: running.is_some(),
            node: holder,
        }
    };
    let mut nodes = vec![holder(name.clone(), Some(node))];
    nodes.extend(
        state
            .siblings
            .iter()
            .filter(|sibling| sibling.name != name)
            .map(|sibling| holder(sibling.name.clone(), sibling.slot.current())),
    );
    nodes.sort_by(|a, b| a.node.cmp(&b.node));
    Ok(Json(ConvergenceResponse {
        node: name,
        owner,
        key,
        nodes,
    }))
}

/// Query of `PUT /v1/kv/{key}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetQuery {
    ttl: Option<String>,
}

async fn set(
    State(state): State<AdminState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<SetQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<WriteResponse>, ApiError> {
    let Path(key) = path?;
    let Query(query) = query?;
    let ttl = query.ttl.as_deref().map(parse_ttl).transpose()?;
    let value = body?;
    let node = state.node()?;
    let written = {
        let (node, key) = (Arc::clone(&node), key.clone());
        off_the_runtime(move || match ttl {
            Some(ttl) => node.set_with_ttl(&key, value, ttl),
            None => node.set(&key, value),
        })
    };
    let version = written.await??;
    Ok(Json(WriteResponse {
        node: node.identity().name.to_string(),
        key,
        version: version.0,
        ttl_ms: ttl.map(|ttl| u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)),
    }))
}

/// Runs a durable write on tokio's blocking pool: with a data directory it waits for an
/// fsync (its group's), which must not hold up a runtime thread serving other requests.
async fn off_the_runtime<T: Send + 'static>(
    write: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(write).await.map_err(|error| {
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the write did not complete: {error}"),
        )
    })
}

/// A `ttl` query value: a humantime duration (`30s`, `1h 30m`) or a number of seconds.
fn parse_ttl(text: &str) -> Result<Duration, ApiError> {
    let text = text.trim();
    let parsed = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|error| error.to_string())
    } else {
        humantime::parse_duration(text).map_err(|error| error.to_string())
    };
    parsed.map_err(|problem| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!(
                "invalid ttl {text:?}: {problem} (expected e.g. 30s, 5m or a number of seconds)"
            ),
        )
    })
}

async fn delete(
    State(state): State<AdminState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<WriteResponse>, ApiError> {
    let Path(key) = path?;
    let node = state.node()?;
    let deleted = {
        let (node, key) = (Arc::clone(&node), key.clone());
        off_the_runtime(move || node.del(&key))
    };
    let Some(version) = deleted.await?? else {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("key {key:?} is not set on this node"),
        ));
    };
    Ok(Json(WriteResponse {
        node: node.identity().name.to_string(),
        key,
        version: version.0,
        ttl_ms: None,
    }))
}

async fn events(
    State(state): State<AdminState>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    // Subscribe and let go of the node: the stream holds only the subscription, so it
    // ends when the node is dropped (a demo crash) or the server closes.
    let subscription = state.node()?.events();
    let stream = futures_util::stream::unfold(
        (subscription, state.closing),
        |(mut subscription, mut closing)| async move {
            let event = tokio::select! {
                _ = closing.wait_for(|closing| *closing) => return None,
                received = subscription.recv() => match received {
                    Ok(event) => SseEvent::default()
                        .event(event.name())
                        .data(EventRecord::from(&event).to_line()),
                    Err(RecvError::Lagged(missed)) => SseEvent::default()
                        .event("lagged")
                        .data(EventRecord::Lagged { missed }.to_line()),
                    Err(RecvError::Closed) => return None,
                },
            };
            Some((Ok(event), (subscription, closing)))
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

async fn health(State(state): State<AdminState>) -> (StatusCode, Json<HealthResponse>) {
    let Some(node) = state.slot.current() else {
        let down = HealthResponse {
            status: "down".into(),
            node: None,
            generation: None,
            members: Default::default(),
            local_health: None,
        };
        return (StatusCode::SERVICE_UNAVAILABLE, Json(down));
    };
    if !node.is_running() {
        // Its gossip task is gone: it answers from a frozen state and reaches no peer.
        let stopped = HealthResponse {
            status: "stopped".into(),
            node: Some(node.identity().name.to_string()),
            generation: Some(node.identity().generation.0),
            members: Default::default(),
            local_health: None,
        };
        return (StatusCode::SERVICE_UNAVAILABLE, Json(stopped));
    }
    let members = node.members();
    let mut by_state = std::collections::BTreeMap::new();
    for state in [
        MemberState::Live,
        MemberState::Suspect,
        MemberState::Dead,
        MemberState::Left,
    ] {
        let count = members.iter().filter(|m| m.state == state).count();
        by_state.insert(state.name().to_string(), count);
    }
    let left = members
        .iter()
        .any(|m| m.is_local && m.state == MemberState::Left);
    let identity = node.identity();
    let (status, text) = if left {
        (StatusCode::SERVICE_UNAVAILABLE, "left")
    } else {
        (StatusCode::OK, "ok")
    };
    let body = HealthResponse {
        status: text.into(),
        node: Some(identity.name.to_string()),
        generation: Some(identity.generation.0),
        members: by_state,
        local_health: Some(node.local_health()),
    };
    (status, Json(body))
}

async fn leave(State(state): State<AdminState>) -> Result<impl IntoResponse, ApiError> {
    state.node()?;
    state.leave.notify_one();
    Ok((StatusCode::ACCEPTED, Json(json!({ "status": "leaving" }))))
}

/// Most addresses one `POST /v1/join` may name: each may take a DNS lookup.
const MAX_JOIN_ADDRESSES: usize = 64;

async fn join(
    State(state): State<AdminState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<JoinResponse>, ApiError> {
    let mut fields = json_object(body, &["addresses"])?;
    let bad = |problem: &str| ApiError(StatusCode::BAD_REQUEST, problem.to_string());
    let Some(Value::Array(items)) = fields.remove("addresses") else {
        return Err(bad("`addresses` must be an array of \"host:port\" strings"));
    };
    if items.is_empty() || items.len() > MAX_JOIN_ADDRESSES {
        return Err(bad(&format!(
            "`addresses` must hold 1 to {MAX_JOIN_ADDRESSES} addresses"
        )));
    }
    let addresses = items
        .into_iter()
        .map(|item| match item {
            Value::String(address) => Ok(address),
            _ => Err(bad("`addresses` must be an array of \"host:port\" strings")),
        })
        .collect::<Result<Vec<String>, ApiError>>()?;
    let node = state.node()?;
    let added = node.join(addresses).await?;
    Ok(Json(JoinResponse {
        node: node.identity().name.to_string(),
        added,
    }))
}

async fn metrics(State(state): State<AdminState>) -> Result<Response, ApiError> {
    let text = state.metrics.encode().map_err(|error| {
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode metrics: {error}"),
        )
    })?;
    Ok(([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response())
}

/// Lets a request through only with the token, if the server has one.
async fn authorize(State(state): State<AdminState>, request: Request, next: Next) -> Response {
    let Some(token) = &state.token else {
        return next.run(request).await;
    };
    // The page's constant files: a browser navigating cannot send the token.
    if ui::is_page_asset(request.method(), request.uri().path(), request.headers()) {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| bearer(value.as_bytes()));
    let problem = match presented {
        Some(credentials) if token.matches(credentials) => return next.run(request).await,
        Some(_) => "wrong admin token",
        None => {
            "this agent requires its admin token: send `Authorization: Bearer <token>` \
             (the client subcommands: --admin-token-file or LEVIATHAN_GOSSIP_ADMIN_TOKEN)"
        }
    };
    // The path is not logged: it could hold a key put in a URL by mistake.
    debug!(method = %request.method(), problem, "admin request refused");
    let mut response = ApiError(StatusCode::UNAUTHORIZED, problem.to_string()).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"leviathan-gossip\""),
    );
    response
}

async fn list_keys(State(state): State<AdminState>) -> Result<Json<KeysResponse>, ApiError> {
    let node = state.node()?;
    Ok(Json(keys_response(&node)))
}

async fn install_key(
    State(state): State<AdminState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<KeyChangeResponse>, ApiError> {
    let mut fields = json_object(body, &["key"])?;
    let key = required_string(&mut fields, "key")?;
    let key = SecretKey::from_base64(&key).map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("invalid `key` (not repeated here): {e}"),
        )
    })?;
    let node = state.node()?;
    let fingerprint = key.fingerprint();
    let changed = change_keys(&state, &node, KeyChange::Install(key)).await?;
    Ok(Json(KeyChangeResponse::new(&node, fingerprint, changed)))
}

async fn use_key(
    State(state): State<AdminState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<KeyChangeResponse>, ApiError> {
    let mut fields = json_object(body, &["key"])?;
    let key = required_string(&mut fields, "key")?;
    let key: KeyRef = key.parse().map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!(
                "invalid `key` (not repeated here): neither a fingerprint (16 hex digits) nor \
                 a base64 key: {e}"
            ),
        )
    })?;
    let node = state.node()?;
    let fingerprint = key.fingerprint();
    let changed = change_keys(&state, &node, KeyChange::Use(key)).await?;
    Ok(Json(KeyChangeResponse::new(&node, fingerprint, changed)))
}

async fn remove_key(
    State(state): State<AdminState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<KeyChangeResponse>, ApiError> {
    // Never echo the segment: it could be a key put in the URL by mistake.
    let not_a_fingerprint = |problem: &str| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!(
                "the path must end in a key's fingerprint (16 hex digits, as GET /v1/keys \
                 lists it){problem}"
            ),
        )
    };
    let Ok(Path(segment)) = path else {
        return Err(not_a_fingerprint(""));
    };
    let fingerprint: Fingerprint = match segment.parse() {
        Ok(fingerprint) => fingerprint,
        Err(_) if SecretKey::from_base64(&segment).is_ok() => {
            return Err(not_a_fingerprint(
                "; this looks like a key itself: keys never go in a URL, which logs and \
                 proxies keep, so treat this one as exposed",
            ));
        }
        Err(_) => return Err(not_a_fingerprint("")),
    };
    let node = state.node()?;
    let changed = change_keys(&state, &node, KeyChange::Remove(fingerprint)).await?;
    Ok(Json(KeyChangeResponse::new(&node, fingerprint, changed)))
}

/// Applies `change` to `node` and, if the keys came from a keyring file, writes them back
/// to it: `500` if that fails, the change applied in memory all the same.
async fn change_keys(
    state: &AdminState,
    node: &Gossip,
    change: KeyChange,
) -> Result<bool, ApiError> {
    let Some(file) = &state.keyring_file else {
        return Ok(change.apply(node)?);
    };
    match file.change(node, change).await {
        Ok(changed) => Ok(changed),
        Err(ChangeError::Refused(error)) => Err(error.into()),
        Err(ChangeError::NotSaved(problem)) => {
            warn!(
                path = %file.path().display(),
                problem,
                "a key change was applied in memory but not saved to the keyring file"
            );
            Err(ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "the key change was applied in memory but not saved to the keyring file \
                     ({problem}): a restart would bring back the keys the file holds; fix \
                     the file and repeat the change (which then saves every key)"
                ),
            ))
        }
    }
}

async fn set_encryption(
    State(state): State<AdminState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<KeysResponse>, ApiError> {
    let mut fields = json_object(body, &["encrypt_outgoing", "accept_plaintext"])?;
    let encrypt_outgoing = optional_bool(&mut fields, "encrypt_outgoing")?;
    let accept_plaintext = optional_bool(&mut fields, "accept_plaintext")?;
    if encrypt_outgoing.is_none() && accept_plaintext.is_none() {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "give `encrypt_outgoing`, `accept_plaintext` or both (booleans)".into(),
        ));
    }
    let node = state.node()?;
    let current = node.encryption();
    if current.keys.is_empty() {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "no key is installed: install one first (POST /v1/keys), which starts phase 1 \
             (plaintext sent, both accepted)"
                .into(),
        ));
    }
    let encrypt_outgoing = encrypt_outgoing.unwrap_or(current.encrypt_outgoing);
    let accept_plaintext = accept_plaintext.unwrap_or(current.accept_plaintext);
    if !encrypt_outgoing && !accept_plaintext {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "`encrypt_outgoing` false with `accept_plaintext` false: the node would send \
             plaintext that its peers in the same phase refuse"
                .into(),
        ));
    }
    node.set_encryption(encrypt_outgoing, accept_plaintext);
    Ok(Json(keys_response(&node)))
}

/// The body as a JSON object with no fields but `allowed`. Errors never repeat values.
fn json_object(
    body: Result<Bytes, BytesRejection>,
    allowed: &[&str],
) -> Result<Map<String, Value>, ApiError> {
    let body = body?;
    let example = allowed
        .iter()
        .map(|field| format!("\"{field}\": …"))
        .collect::<Vec<_>>()
        .join(", ");
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&body) else {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("the body must be a JSON object: {{{example}}}"),
        ));
    };
    if let Some(unknown) = fields
        .keys()
        .find(|field| !allowed.contains(&field.as_str()))
    {
        // A field name is named only if it looks like one, not like a misplaced secret.
        let shown = if unknown.len() <= 32
            && unknown.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        {
            format!("`{unknown}`")
        } else {
            "a field".to_string()
        };
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("unknown field: {shown}; expected {{{example}}}"),
        ));
    }
    Ok(fields)
}

fn required_string(fields: &mut Map<String, Value>, field: &str) -> Result<String, ApiError> {
    match fields.remove(field) {
        Some(Value::String(text)) => Ok(text),
        Some(_) => Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("`{field}` must be a string"),
        )),
        None => Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("missing field `{field}`"),
        )),
    }
}

fn optional_bool(fields: &mut Map<String, Value>, field: &str) -> Result<Option<bool>, ApiError> {
    match fields.remove(field) {
        None => Ok(None),
        Some(Value::Bool(value)) => Ok(Some(value)),
        Some(_) => Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("`{field}` must be true or false"),
        )),
    }
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        format!("no such endpoint: {method} {}; see GET /", uri.path()),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}", uri.path()),
    )
}
