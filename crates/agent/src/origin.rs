//! The admin API's guard against web pages: a page the operator opens must not be able
//! to drive the API (cross-site request forgery) nor read it (DNS rebinding).
//!
//! A browser lets any page send a "simple" request to any address — a `POST` whose
//! `Content-Type` is `text/plain`, a form type or none — without asking the server first;
//! it only hides the answer. And a page whose own host name an attacker re-points at
//! 127.0.0.1 (DNS rebinding) may read the answers too, as they are then same-origin for
//! the browser, but it still names the attacker's host in `Host`. So, on every request,
//! before the token check:
//!
//! 1. **`Host`** must be an IP literal (IPv4, or IPv6 in brackets), `localhost`, or a
//!    name of [`AllowedHosts`] (the agent's `admin_hosts`), compared case-insensitively,
//!    the port ignored; otherwise `403`. A request without `Host` passes: no browser
//!    sends one.
//! 2. A **state-changing** request (any method but `GET`, `HEAD`, `OPTIONS`) is refused
//!    with `403` if it carries `Sec-Fetch-Site: cross-site`, or an `Origin` other than
//!    `http://<Host>` or `https://<Host>` (`Origin: null` included).
//! 3. A **`POST`** must say `Content-Type: application/json` (the media type in any case,
//!    parameters such as `; charset=utf-8` allowed), which a page can send only after a
//!    CORS preflight that this API never answers; otherwise `415`. `PUT` and `DELETE` are
//!    never simple requests: browsers always preflight them.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::debug;

use crate::api::ErrorResponse;

/// Longest part of a refused header value repeated in an answer.
const SHOWN: usize = 100;

/// The host names accepted in `Host` besides IP literals and `localhost`, lower-cased.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts(Vec<String>);

impl AllowedHosts {
    /// The names in `names` (compared without regard to case).
    pub fn new<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        AllowedHosts(
            names
                .into_iter()
                .map(|name| name.as_ref().to_ascii_lowercase())
                .collect(),
        )
    }

    /// Whether a `Host` header value names this server: `host[:port]` where host is an
    /// IPv4 address, a bracketed IPv6 address, `localhost` or an allowed name.
    pub fn accepts(&self, host: &str) -> bool {
        let Some(name) = host_name(host) else {
            return false;
        };
        if let Some(inner) = name.strip_prefix('[') {
            return inner
                .strip_suffix(']')
                .is_some_and(|ip| ip.parse::<Ipv6Addr>().is_ok());
        }
        name.parse::<Ipv4Addr>().is_ok()
            || name.eq_ignore_ascii_case("localhost")
            || self
                .0
                .iter()
                .any(|allowed| name.eq_ignore_ascii_case(allowed))
    }
}

/// Lets a request through only if it passes the three checks of the module doc.
pub async fn guard(
    State(hosts): State<Arc<AllowedHosts>>,
    request: Request,
    next: Next,
) -> Response {
    match check(&hosts, request.method(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err((status, problem)) => {
            // The path is not logged: it could hold a key put in a URL by mistake.
            debug!(method = %request.method(), %status, "admin request refused by the guard");
            (status, Json(ErrorResponse { error: problem })).into_response()
        }
    }
}

/// The refusal of a request, if any: its status and message.
fn check(
    hosts: &AllowedHosts,
    method: &Method,
    headers: &HeaderMap,
) -> Result<(), (StatusCode, String)> {
    let forbidden = |problem: String| (StatusCode::FORBIDDEN, problem);
    let host = match headers.get(header::HOST).map(|value| value.to_str()) {
        None => None,
        Some(Ok(host)) => Some(host),
        Some(Err(_)) => return Err(forbidden("the Host header is not ASCII".into())),
    };
    if let Some(host) = host
        && !hosts.accepts(host)
    {
        let name = host_name(host).unwrap_or(host);
        return Err(forbidden(format!(
            "unknown host {:?}: this API answers requests for IP addresses, localhost and \
             the names in the agent's `admin_hosts` setting only (a guard against DNS \
             rebinding); if the agent is reached by this name, add it to `admin_hosts` \
             (--admin-host, LEVIATHAN_GOSSIP_ADMIN_HOSTS or `admin_hosts` in [agent])",
            shown(name)
        )));
    }
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let fetch_site = text(headers, &HeaderName::from_static("sec-fetch-site"));
    if fetch_site.is_some_and(|site| site.trim().eq_ignore_ascii_case("cross-site")) {
        return Err(forbidden(
            "cross-site request refused (Sec-Fetch-Site: cross-site): a web page may not \
             change this agent"
                .into(),
        ));
    }
    if let Some(origin) = text(headers, &header::ORIGIN) {
        let same = host.is_some_and(|host| {
            ["http://", "https://"].iter().any(|scheme| {
                origin.len() == scheme.len() + host.len()
                    && origin
                        .get(..scheme.len())
                        .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
                    && origin
                        .get(scheme.len()..)
                        .is_some_and(|h| h.eq_ignore_ascii_case(host))
            })
        });
        if !same {
            return Err(forbidden(format!(
                "cross-origin request refused: Origin {:?} is not this server's \
                 (http:// or https:// and the Host header); a web page may not change this \
                 agent",
                shown(origin)
            )));
        }
    }
    if *method == Method::POST && !is_json(text(headers, &header::CONTENT_TYPE)) {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "a POST must carry `Content-Type: application/json` (with a JSON body; `{}` \
             where none is needed): the content types a web page may send without asking \
             first are refused"
                .into(),
        ));
    }
    Ok(())
}

/// The host part of a `Host` value: `name`, or `[v6]` with its brackets, without the
/// port; `None` if the value is malformed (empty, a bad port, an unbracketed `:`).
fn host_name(host: &str) -> Option<&str> {
    let host = host.trim();
    let (name, port) = if host.starts_with('[') {
        let end = host.find(']')?;
        let (name, rest) = host.split_at_checked(end + 1)?;
        match rest {
            "" => (name, None),
            rest => (name, Some(rest.strip_prefix(':')?)),
        }
    } else {
        match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    let port_ok =
        port.is_none_or(|port| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()));
    (!name.is_empty() && port_ok).then_some(name)
}

/// Whether a `Content-Type` value's media type is `application/json`.
fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// A header's value as text, if present and ASCII.
fn text<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// At most [`SHOWN`] characters of `text`.
fn shown(text: &str) -> String {
    text.chars().take(SHOWN).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_lose_their_port() {
        assert_eq!(host_name("a.example:80"), Some("a.example"));
        assert_eq!(host_name("a.example"), Some("a.example"));
        assert_eq!(host_name("[::1]:7581"), Some("[::1]"));
        assert_eq!(host_name("[::1]"), Some("[::1]"));
        assert_eq!(host_name("[::1]x"), None);
        assert_eq!(host_name("::1"), None);
        assert_eq!(host_name("a:"), None);
        assert_eq!(host_name(":80"), None);
        assert_eq!(host_name(""), None);
    }

    #[test]
    fn ip_literals_localhost_and_listed_names_are_accepted() {
        let hosts = AllowedHosts::new(["Admin.Example"]);
        for host in [
            "127.0.0.1",
            "10.1.2.3:7581",
            "[::1]:7581",
            "[fe80::1]",
            "localhost",
            "LOCALHOST:1",
            "admin.example",
            "ADMIN.example:7581",
        ] {
            assert!(hosts.accepts(host), "{host}");
        }
        for host in [
            "evil.example",
            "127.0.0.1.evil.example",
            "localhost.evil.example",
            "admin.example.evil",
            "[evil.example]",
            "::1",
            "127.1",
            "",
        ] {
            assert!(!hosts.accepts(host), "{host}");
        }
    }

    #[test]
    fn only_the_json_media_type_is_json() {
        assert!(is_json(Some("application/json")));
        assert!(is_json(Some("Application/JSON ; charset=utf-8")));
        for other in [
            "text/plain",
            "application/jsonx",
            "application/x-www-form-urlencoded",
            "",
        ] {
            assert!(!is_json(Some(other)), "{other}");
        }
        assert!(!is_json(None));
    }
}
