//! The cluster page: a live view of the cluster served by the admin API at `/` to browsers.
//!
//! Three static files — `ui/index.html`, `ui/app.js`, `ui/app.css`, plain HTML, JavaScript
//! and CSS with no framework — are compiled into the binary ([`include_str!`]): no build
//! step, no CDN, the page works offline. `GET /` answers the page to a request whose
//! `Accept` lists `text/html` ([`wants_html`]: what a browser sends when it navigates) and
//! the JSON list of endpoints to everything else (scripts, `curl`).
//!
//! **The token.** A browser cannot add `Authorization` to a navigation, so the page and its
//! two assets ([`is_page_asset`]) are served without the admin token: they are the same
//! constant bytes for everyone and hold no cluster data. Every request the page then makes
//! for data (members, keys, the event stream) or to write goes to the API under its usual
//! rules: with a token, the page asks for it once, keeps it in the tab's `sessionStorage`
//! and sends it as `Authorization: Bearer <token>`. The event stream is read with
//! `fetch` rather than `EventSource`, which cannot send that header.
//!
//! **Web pages.** The page passes [`crate::origin`]'s guard because it is same-origin, not
//! by any exception: its `PUT`s and `DELETE`s carry the browser's `Origin`, which names the
//! `Host` they are sent to. The page's answers carry a `Content-Security-Policy` that lets
//! it run its own script and style only (`'self'`), connect to its own origin only, and
//! never be framed; the script inserts remote text (names, keys, values) with
//! `textContent` only.

use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};

/// The page.
const INDEX_HTML: &str = include_str!("ui/index.html");
/// Its script.
const APP_JS: &str = include_str!("ui/app.js");
/// Its style sheet.
const APP_CSS: &str = include_str!("ui/app.css");

/// Path of the page's script.
pub const SCRIPT_PATH: &str = "/ui/app.js";
/// Path of the page's style sheet.
pub const STYLE_PATH: &str = "/ui/app.css";

/// The page's `Content-Security-Policy`: its own script, style and connections only, images
/// from `data:` URLs at most, no plugins, no frames, no forms posted elsewhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// Whether a request's `Accept` header asks for HTML: it lists `text/html` (or
/// `application/xhtml+xml`) with a non-zero quality. `*/*` alone does not count, so
/// `curl` and scripts keep the JSON endpoint index.
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let media = parts.next().unwrap_or("").trim();
            let html = media.eq_ignore_ascii_case("text/html")
                || media.eq_ignore_ascii_case("application/xhtml+xml");
            html && parts.all(|parameter| !is_zero_quality(parameter))
        })
}

/// Whether a request is for the page or one of its assets, which are served without the
/// admin token: a `GET` or `HEAD` of `/` that [`wants_html`], of [`SCRIPT_PATH`] or of
/// [`STYLE_PATH`].
pub fn is_page_asset(method: &Method, path: &str, headers: &HeaderMap) -> bool {
    if !matches!(*method, Method::GET | Method::HEAD) {
        return false;
    }
    match path {
        "/" => wants_html(headers),
        SCRIPT_PATH | STYLE_PATH => true,
        _ => false,
    }
}

/// The page, with its security headers.
pub fn page() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

/// `GET /ui/app.js`.
pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

/// `GET /ui/app.css`.
pub async fn style() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        // A new binary may serve new assets under the same paths: always revalidate.
        (header::CACHE_CONTROL, "no-cache"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Whether an `Accept` parameter is `q=0` (any spelling of zero).
fn is_zero_quality(parameter: &str) -> bool {
    let Some((name, value)) = parameter.split_once('=') else {
        return false;
    };
    name.trim().eq_ignore_ascii_case("q")
        && value
            .trim()
            .parse::<f32>()
            .is_ok_and(|quality| quality <= 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn browsers_get_html_and_scripts_get_json() {
        let chrome = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,\
                      image/webp,*/*;q=0.8";
        assert!(wants_html(&accept(chrome)));
        assert!(wants_html(&accept("TEXT/HTML")));
        for other in [
            "*/*",
            "application/json",
            "text/html;q=0",
            "text/html; q=0.0",
            "text/htmlx",
            "",
        ] {
            assert!(!wants_html(&accept(other)), "{other}");
        }
        assert!(!wants_html(&HeaderMap::new()));
    }

    #[test]
    fn only_the_page_and_its_assets_skip_the_token() {
        let html = accept("text/html");
        assert!(is_page_asset(&Method::GET, "/", &html));
        assert!(is_page_asset(&Method::HEAD, "/", &html));
        assert!(!is_page_asset(&Method::GET, "/", &accept("*/*")));
        assert!(is_page_asset(&Method::GET, SCRIPT_PATH, &HeaderMap::new()));
        assert!(is_page_asset(&Method::GET, STYLE_PATH, &HeaderMap::new()));
        assert!(!is_page_asset(&Method::POST, "/", &html));
        for path in ["/v1/members", "/ui/", "/ui/other.js", "/metrics"] {
            assert!(!is_page_asset(&Method::GET, path, &html), "{path}");
        }
    }

    #[test]
    fn the_page_loads_only_its_own_assets_and_sets_its_policy() {
        let response = page();
        let csp = response
            .headers()
            .get(header::CONTENT_SECURITY_POLICY)
            .unwrap()
            .to_str()
            .unwrap();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(INDEX_HTML.contains(&format!("src=\"{SCRIPT_PATH}\"")));
        assert!(INDEX_HTML.contains(&format!("href=\"{STYLE_PATH}\"")));
        // No remote text reaches the DOM as markup: the script never uses innerHTML.
        assert!(!APP_JS.contains("innerHTML"));
        assert!(!APP_JS.contains("insertAdjacentHTML"));
        assert!(!INDEX_HTML.contains("http://") && !INDEX_HTML.contains("https://"));
    }
}
