//! The backend's HTTP side: the router ([`app`]) over the shared state
//! ([`Shared`]), kept apart from the socket ([`super::run`]) so that tests
//! drive it with `oneshot`.
//!
//! Routes so far, none needing a token:
//!
//! - `GET /healthz`: 200 `{"status":"ok"}` while the process runs;
//! - `GET /readyz`: 200 `{"status":"ready","schema_version":N,"database":"up","valkey":"up"}`
//!   when PostgreSQL answers with the schema migrated and Valkey answers
//!   `PING`; else 503 with `"status":"not ready"` and `database` `down`,
//!   `migrating` or `outdated`, `valkey` `down`;
//! - `GET /metrics`: the Prometheus text format ([`super::metrics`]).
//!
//! With `http.ui_dir` set, every other path is the web UI ([`super::ui`]);
//! an unknown path under `/api/`, and without the UI any other path, is
//! 404 `application/problem+json` (RFC 9457). Every
//! answer is counted by route and status; bodies are limited to
//! `http.max_body`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde::Serialize;
use serde_json::json;
use tracing::Instrument;

use super::db::{Db, latest_schema_version};
use super::metrics::{self, Metrics};
use crate::store::{self, StoreClient};

/// Longest wait for PostgreSQL's answer in `/readyz`.
pub const READY_DATABASE_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest wait for Valkey's `PING` in `/readyz`.
pub const READY_VALKEY_TIMEOUT: Duration = Duration::from_secs(1);

/// How the API authenticates.
#[derive(Debug)]
pub enum AuthMode {
    /// Bearer tokens of an OpenID Connect issuer: the verifier once the
    /// issuer was reached, and what the web UI needs to log in.
    Oidc {
        /// Set once the discovery document and the keys were read.
        verifier: OnceLock<Arc<crate::auth::Verifier>>,
        /// The web UI's login settings (`GET /api/ui-config`).
        ui: UiConfig,
    },
    /// None (`--insecure-no-auth`, loopback only): every caller is Admin.
    Insecure,
}

/// The web UI's login settings, served at `GET /api/ui-config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UiConfig {
    /// The issuer (authority) to log in at; `null` without authentication.
    pub issuer: Option<String>,
    /// The UI's client id at the issuer.
    pub client_id: Option<String>,
    /// The scopes to ask for.
    pub scope: Option<String>,
    /// The resource indicator (RFC 8707) to ask the token for, where the
    /// issuer needs one.
    pub resource: Option<String>,
}

/// What every request handler shares.
#[derive(Debug)]
pub struct Shared {
    /// The database.
    pub db: Db,
    /// The Valkey connection, once made (it reconnects by itself after).
    pub valkey: OnceLock<StoreClient>,
    /// Whether this process has applied the schema migrations.
    pub migrated: AtomicBool,
    /// The counters of `/metrics`.
    pub metrics: Metrics,
    /// Notified after every committed change: the pusher looks at once.
    pub push_wake: tokio::sync::Notify,
    /// The index of the process image and the live updates.
    pub image: super::image::Image,
    /// How callers are authenticated.
    pub auth: AuthMode,
}

impl Shared {
    /// The state before the database and Valkey are reached.
    pub fn new(db: Db, metrics: Metrics, auth: AuthMode) -> Self {
        Self {
            db,
            valkey: OnceLock::new(),
            migrated: AtomicBool::new(false),
            metrics,
            push_wake: tokio::sync::Notify::new(),
            image: super::image::Image::new(),
            auth,
        }
    }
}

/// The router of the backend over `shared`; request bodies are limited to
/// `max_body` bytes.
pub fn app(shared: Arc<Shared>, max_body: usize) -> Router {
    app_serving_ui(shared, max_body, None)
}

/// The web UI a backend serves: the directory of the build and the
/// Content-Security-Policy of its pages ([`super::ui`]).
#[derive(Debug, Clone)]
pub struct UiFiles {
    /// `http.ui_dir`.
    pub dir: std::path::PathBuf,
    /// The policy, naming the OpenID provider.
    pub csp: String,
}

/// [`app`], and with `ui` the web UI on every path that is not the API's:
/// an unknown path under `/api/` stays a 404 problem.
pub fn app_serving_ui(shared: Arc<Shared>, max_body: usize, ui: Option<&UiFiles>) -> Router {
    let routes = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .merge(super::api::router());
    let routes = match ui {
        Some(ui) => routes
            .route("/api/{*rest}", any(not_found))
            .merge(super::ui::router(&ui.dir, &ui.csp)),
        None => routes.fallback(not_found),
    };
    routes
        .layer(middleware::from_fn_with_state(shared.clone(), observe))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(shared)
}

/// The header carrying a request's id, taken from the request when it has
/// a usable one, else made; always sent back.
pub const REQUEST_ID: &str = "x-request-id";

/// The longest error body turned into a problem's detail, bytes.
const ERROR_BODY_MAX: usize = 4096;

/// A request id given by the caller, if usable: 1..=64 of `A-Z a-z 0-9 . _ -`.
fn given_request_id(request: &Request) -> Option<String> {
    let v = request.headers().get(REQUEST_ID)?.to_str().ok()?;
    let ok = (1..=64).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    ok.then(|| v.to_owned())
}

/// A new request id: this process's start and a counter, 16 hex digits.
fn new_request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static BASE: OnceLock<u64> = OnceLock::new();
    let base = *BASE.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() << 32)
            .unwrap_or(0)
    });
    format!(
        "{:016x}",
        base.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed))
    )
}

/// Every request: its id (header and log span), its answer counted and
/// timed by matched route, an error answer that is no problem+json yet
/// (a rejection of axum: 400, 404, 405, 413, 415, 422) made one, and one
/// log line (debug for the health and metrics endpoints).
async fn observe(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let id = given_request_id(&request).unwrap_or_else(new_request_id);
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(metrics::UNMATCHED, MatchedPath::as_str)
        .to_owned();
    let method = request.method().clone();
    let span = tracing::info_span!("request", id = %id);
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    // A JSON error body is ours already (a problem, or /readyz's 503).
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| {
            v.as_bytes().starts_with(b"application/problem+json")
                || v.as_bytes().starts_with(b"application/json")
        });
    if (status.is_client_error() || status.is_server_error()) && !is_json {
        let bytes = axum::body::to_bytes(std::mem::take(response.body_mut()), ERROR_BODY_MAX)
            .await
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        let detail = text.trim();
        let allow = response.headers().get(header::ALLOW).cloned();
        response = problem(status, (!detail.is_empty()).then_some(detail));
        if let Some(allow) = allow {
            response.headers_mut().insert(header::ALLOW, allow);
        }
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, v);
    }
    let took = started.elapsed();
    shared.metrics.request(&route, status.as_u16());
    shared.metrics.duration(&route, took);
    let _entered = span.enter();
    let ms = took.as_secs_f64() * 1000.0;
    if matches!(route.as_str(), "/healthz" | "/readyz" | "/metrics") {
        tracing::debug!(%method, %route, status = status.as_u16(), ms, "request answered");
    } else {
        tracing::info!(%method, %route, status = status.as_u16(), ms, "request answered");
    }
    response
}

/// The process runs.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
}

#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process runs", body = Health)))]
pub(crate) async fn healthz() -> impl IntoResponse {
    axum::Json(json!({"status": "ok"}))
}

/// The body of `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready` or `not ready`.
    pub status: &'static str,
    /// The schema version applied, when the database answers.
    pub schema_version: Option<i64>,
    /// `up`; `migrating` (reached, the schema not applied yet); `outdated`
    /// (reached, its schema older than this binary's although it was
    /// applied: another database behind the address; a restart of the
    /// backend migrates it); `down`.
    pub database: &'static str,
    /// `up` or `down`.
    pub valkey: &'static str,
}

async fn database_state(shared: &Shared) -> (&'static str, Option<i64>) {
    if !shared.migrated.load(Ordering::Acquire) {
        let reached = tokio::time::timeout(READY_DATABASE_TIMEOUT, shared.db.ping()).await;
        return match reached {
            Ok(Ok(())) => ("migrating", None),
            _ => ("down", None),
        };
    }
    match tokio::time::timeout(READY_DATABASE_TIMEOUT, shared.db.schema_version()).await {
        Ok(Ok(Some(version))) if version >= latest_schema_version() => ("up", Some(version)),
        // The schema was there and is gone or older: another database
        // behind the same address (a restore, a failover to an empty one).
        Ok(Ok(version)) => ("outdated", version),
        _ => ("down", None),
    }
}

async fn valkey_state(shared: &Shared) -> &'static str {
    match shared.valkey.get() {
        Some(client) => match store::ping(client, READY_VALKEY_TIMEOUT).await {
            Ok(()) => "up",
            Err(_) => "down",
        },
        None => "down",
    }
}

#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "PostgreSQL (schema migrated) and Valkey answer", body = Readiness),
              (status = 503, description = "Not ready: which part is not", body = Readiness)))]
pub(crate) async fn readyz(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let ((database, schema_version), valkey) =
        tokio::join!(database_state(&shared), valkey_state(&shared));
    let ready = database == "up" && valkey == "up";
    let body = Readiness {
        status: if ready { "ready" } else { "not ready" },
        schema_version,
        database,
        valkey,
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body))
}

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String)))]
pub(crate) async fn metrics_text(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        shared.metrics.render(),
    )
}

/// An RFC 9457 problem response.
pub fn problem(status: StatusCode, detail: Option<&str>) -> Response {
    problem_with(status, detail, serde_json::Map::new())
}

/// An RFC 9457 problem response with extension members (`field`,
/// `owners`, `current_version`).
pub fn problem_with(
    status: StatusCode,
    detail: Option<&str>,
    extra: serde_json::Map<String, serde_json::Value>,
) -> Response {
    let mut body = json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
    });
    if let Some(map) = body.as_object_mut() {
        if let Some(detail) = detail {
            map.insert(String::from("detail"), json!(detail));
        }
        map.extend(extra);
    }
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

async fn not_found() -> Response {
    problem(StatusCode::NOT_FOUND, Some("no such resource"))
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::UNIX_EPOCH;

    use axum::body::Body;
    use tower::ServiceExt;

    use super::*;
    use crate::backend::config::RawDatabase;

    /// A state whose database is a closed loopback port: never reached
    /// (the API's tests use it too).
    pub(crate) fn unreachable_state() -> Arc<Shared> {
        let raw = RawDatabase {
            port: Some(1),
            connect_timeout_s: 1,
            ..RawDatabase::default()
        };
        let db = Db::new(&raw.resolve("test").unwrap()).unwrap();
        Arc::new(Shared::new(
            db,
            Metrics::new(UNIX_EPOCH),
            AuthMode::Insecure,
        ))
    }

    async fn get(app: Router, path: &str) -> (StatusCode, String, String) {
        let response = app
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            content_type,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    #[tokio::test]
    async fn with_the_ui_an_app_route_gets_the_page_and_an_unknown_api_path_a_problem() {
        let dir = std::env::temp_dir().join(format!("alp-connex-http-ui-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("assets")).unwrap();
        std::fs::write(dir.join("index.html"), "<!doctype html><title>ui</title>").unwrap();
        let ui = UiFiles {
            dir: dir.clone(),
            csp: String::from("default-src 'self'"),
        };
        let app = || app_serving_ui(unreachable_state(), 1024, Some(&ui));
        let (status, content_type, body) = get(app(), "/connectors/mqtt-1").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type, "text/html");
        assert_eq!(body, "<!doctype html><title>ui</title>");
        let (status, content_type, _) = get(app(), "/api/v1/nope").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(content_type, "application/problem+json");
        let (status, _, body) = get(app(), "/healthz").await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, "{\"status\":\"ok\"}")
        );
        let (status, content_type, _) = get(app(), "/api/ui-config").await;
        assert_eq!(
            (status, content_type.as_str()),
            (StatusCode::OK, "application/json")
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn healthz_answers_200_whatever_the_database() {
        let state = unreachable_state();
        let (status, content_type, body) = get(app(state, 1024), "/healthz").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type, "application/json");
        assert_eq!(body, "{\"status\":\"ok\"}");
    }

    #[tokio::test]
    async fn readyz_is_503_naming_the_database_and_valkey_down() {
        let state = unreachable_state();
        let (status, _, body) = get(app(state, 1024), "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            body,
            "{\"status\":\"not ready\",\"schema_version\":null,\"database\":\"down\",\"valkey\":\"down\"}"
        );
    }

    #[tokio::test]
    async fn an_unknown_path_is_a_404_problem_counted_as_unmatched() {
        let state = unreachable_state();
        let (status, content_type, body) = get(app(state.clone(), 1024), "/nope/123").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(content_type, "application/problem+json");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            v,
            json!({"type": "about:blank", "title": "Not Found", "status": 404, "detail": "no such resource"})
        );
        assert_eq!(state.metrics.requests(metrics::UNMATCHED, 404), 1);
        assert_eq!(state.metrics.requests("/nope/123", 404), 0);
    }

    #[tokio::test]
    async fn metrics_count_requests_by_matched_route_and_status() {
        let state = unreachable_state();
        for _ in 0..2 {
            get(app(state.clone(), 1024), "/healthz").await;
        }
        get(app(state.clone(), 1024), "/readyz").await;
        let (status, content_type, body) = get(app(state.clone(), 1024), "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type, metrics::CONTENT_TYPE);
        assert!(
            body.contains("alp_connex_http_requests_total{route=\"/healthz\",status=\"200\"} 2\n"),
            "{body}"
        );
        assert!(
            body.contains("alp_connex_http_requests_total{route=\"/readyz\",status=\"503\"} 1\n"),
            "{body}"
        );
        assert!(body.contains("\nprocess_start_time_seconds "), "{body}");
    }
}
