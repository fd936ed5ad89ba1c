//! The admin HTTP API: an axum router over one node, and the server that runs it.
//!
//! | method and path          | answer                                                    |
//! |--------------------------|-----------------------------------------------------------|
//! | `GET /v1/members`        | [`MembersResponse`]                                       |
//! | `GET /v1/kv[?node=N]`    | [`EntriesResponse`]                                       |
//! | `GET /v1/kv/{node}/{key}`| [`EntryView`], or `404` if absent                         |
//! | `PUT /v1/kv/{key}[?ttl=D]`| body = the value's bytes; [`WriteResponse`]              |
//! | `DELETE /v1/kv/{key}`    | [`WriteResponse`], or `404` if the key was not set        |
//! | `GET /v1/events`         | server-sent events, one per event, data = the event JSON  |
//! | `GET /v1/health`         | [`HealthResponse`]; `503` once left or down               |
//! | `POST /v1/leave`         | `202`; the owner of the server then leaves                |
//! | `GET /metrics`           | Prometheus/OpenMetrics text ([`crate::metrics`])          |
//!
//! Every error is a `4xx`/`5xx` with an [`ErrorResponse`] body. Keys and node names are
//! path segments: percent-encode `/`, `%`, `?`, `#` and spaces.
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
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::Stream;
use leviathan_gossip::{Error as GossipError, Gossip, MemberState, RecvError, WriteError, json};
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::api::{
    EntriesResponse, EntryView, ErrorResponse, HealthResponse, MemberView, MembersResponse,
    WriteResponse,
};
use crate::metrics::Metrics;
use crate::slot::NodeSlot;

/// Largest request body accepted: above any value a datagram can carry.
const MAX_BODY: usize = 64 * 1024;
/// How long [`AdminServer::stop`] waits for requests in flight.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// What every handler shares: the node, the leave request, the closing signal, metrics.
#[derive(Debug, Clone)]
pub struct AdminState {
    slot: NodeSlot,
    leave: Arc<Notify>,
    closing: watch::Receiver<bool>,
    metrics: Arc<Metrics>,
}

/// The router of the admin API over `state`.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/v1/members", get(members))
        .route("/v1/kv", get(entries))
        .route("/v1/kv/{node}/{key}", get(entry))
        .route("/v1/kv/{key}", axum::routing::put(set).delete(delete))
        .route("/v1/events", get(events))
        .route("/v1/health", get(health))
        .route("/v1/leave", post(leave))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
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
    /// Serves the admin API of whatever node `slot` holds on `listener`, in a new task.
    pub fn start(listener: TcpListener, slot: NodeSlot) -> std::io::Result<AdminServer> {
        let address = listener.local_addr()?;
        let (closing, closed) = watch::channel(false);
        let leave = Arc::new(Notify::new());
        let state = AdminState {
            metrics: Arc::new(Metrics::new(slot.clone())),
            slot,
            leave: Arc::clone(&leave),
            closing: closed.clone(),
        };
        let mut shutdown = closed;
        let serve = axum::serve(listener, router(state)).with_graceful_shutdown(async move {
            // A dropped sender also means: stop.
            let _ = shutdown.wait_for(|closing| *closing).await;
        });
        let task = tokio::spawn(async move { serve.await });
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
            GossipError::Write(WriteError::Left) => StatusCode::CONFLICT,
            GossipError::Shutdown => StatusCode::SERVICE_UNAVAILABLE,
            GossipError::Durable { .. } => StatusCode::INTERNAL_SERVER_ERROR,
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

async fn index() -> Json<serde_json::Value> {
    Json(json!({
        "endpoints": [
            "GET /v1/members",
            "GET /v1/kv?node=NODE",
            "GET /v1/kv/{node}/{key}",
            "PUT /v1/kv/{key}?ttl=DURATION",
            "DELETE /v1/kv/{key}",
            "GET /v1/events",
            "GET /v1/health",
            "POST /v1/leave",
            "GET /metrics",
        ]
    }))
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
    let version = match ttl {
        Some(ttl) => node.set_with_ttl(&key, value, ttl)?,
        None => node.set(&key, value)?,
    };
    Ok(Json(WriteResponse {
        node: node.identity().name.to_string(),
        key,
        version: version.0,
        ttl_ms: ttl.map(|ttl| u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)),
    }))
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
    let Some(version) = node.del(&key)? else {
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
                        .data(json::event(&event).to_string()),
                    Err(RecvError::Lagged(missed)) => SseEvent::default()
                        .event("lagged")
                        .data(json!({ "event": "lagged", "missed": missed }).to_string()),
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
        };
        return (StatusCode::SERVICE_UNAVAILABLE, Json(down));
    };
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
    };
    (status, Json(body))
}

async fn leave(State(state): State<AdminState>) -> Result<impl IntoResponse, ApiError> {
    state.node()?;
    state.leave.notify_one();
    Ok((StatusCode::ACCEPTED, Json(json!({ "status": "leaving" }))))
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
