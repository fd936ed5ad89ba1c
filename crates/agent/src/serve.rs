//! Serving the admin router on a TCP listener, bounded against slow and numerous clients
//! (slowloris): a client has [`Limits::header_timeout`] to send a request's headers (and
//! an idle connection is closed after as long), [`Limits::body_timeout`] to send its body,
//! and at most [`Limits::max_connections`] connections are served at once.
//!
//! Beyond the cap, new connections **wait**: they are not accepted until a served one
//! closes, so they sit in the kernel's listen backlog (and a client that gives up meanwhile
//! costs nothing). Answers are not bounded in time: an event stream (`GET /v1/events`)
//! lasts as long as its client reads it.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tracing::{debug, warn};

use crate::api::ErrorResponse;

/// Bounds on what clients can hold of an admin server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest wait for a request's headers, from the connection's start or the end of the
    /// previous answer: a connection that sends no whole header in time (idle ones
    /// included) is closed. Default 10 s.
    pub header_timeout: Duration,
    /// Longest wait for a whole request body once its headers arrived: past it the answer
    /// is `408` and the connection is closed. Default 30 s; bodies are at most 64 KiB.
    pub body_timeout: Duration,
    /// Most connections served at once; more wait to be accepted. Default 256. Each
    /// event stream holds one.
    pub max_connections: NonZeroUsize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_connections: NonZeroUsize::MIN.saturating_add(255),
        }
    }
}

/// How long to pause accepting after an accept error (out of file descriptors, say).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `app` on `listener` within `limits` until `closing` turns true (or its sender is
/// dropped); then stops accepting, asks every connection to close after its request in
/// flight, and returns once all have.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    mut closing: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.get()));
    let mut connections = JoinSet::new();
    loop {
        // A permit first: beyond the cap, connections are not even accepted.
        let permit = tokio::select! {
            () = closed(&mut closing) => break,
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                // Never closed; stop serving rather than spin if it were.
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            () = closed(&mut closing) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    warn!(%error, "admin API cannot accept a connection");
                    drop(permit);
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        while connections.try_join_next().is_some() {}
        connections.spawn(connection(
            stream,
            app.clone(),
            limits,
            closing.clone(),
            permit,
        ));
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// Completes once `closing` is true or its sender dropped (which also means: stop).
async fn closed(closing: &mut watch::Receiver<bool>) {
    let _ = closing.wait_for(|closing| *closing).await;
}

/// Serves one connection, holding `_permit` until it closes.
async fn connection(
    stream: TcpStream,
    app: Router,
    limits: Limits,
    mut closing: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let connection = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app));
    let mut connection = std::pin::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = closed(&mut closing) => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        // A client that was too slow, or went away: its business.
        debug!(%error, "admin connection closed");
    }
}

/// Reads the request's body (at most `limit` bytes) within [`Limits::body_timeout`]
/// before the handler runs: `408` and the connection closed past it, `413` beyond the
/// limit.
pub(crate) async fn read_body(
    State((limits, limit)): State<(Limits, usize)>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let read = tokio::time::timeout(limits.body_timeout, Limited::new(body, limit).collect());
    let refuse = |status: StatusCode, problem: String| {
        (status, axum::Json(ErrorResponse { error: problem })).into_response()
    };
    match read.await {
        Ok(Ok(collected)) => {
            let body = Body::from(collected.to_bytes());
            next.run(Request::from_parts(parts, body)).await
        }
        Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than {limit} bytes"),
        ),
        Ok(Err(error)) => refuse(
            StatusCode::BAD_REQUEST,
            format!("cannot read the request body: {error}"),
        ),
        Err(_) => {
            let mut response = refuse(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {}",
                    humantime::format_duration(limits.body_timeout)
                ),
            );
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
    }
}
