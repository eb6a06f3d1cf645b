//! The management API, `/api/v1`: the routes over the repository
//! ([`super::db`]), the process image ([`super::image`]) and the
//! connectors' status keys, each behind the bearer-token gate
//! ([`super::authn`]) with the role it needs; its OpenAPI 3.1 document is
//! generated from these handlers and types ([`openapi`]).
//!
//! ```text
//! request ─► gate(role) ─► 401/403 ─┐
//!              └─► handler ─► Db (one transaction per change; 404/409/412/422/503 from DbError)
//!                         └─► Valkey (status, points, updates)
//!                         └─► 2xx JSON, ETag of the entity ───────────┴─► problem+json for every error
//! ```
//!
//! - `connectors`: connectors, links, effective configuration, versions,
//!   restore, status.
//! - `mappings`: mappings and the dry run through the connector's engine.
//! - `points`: the process image, live updates (SSE), address owners.
//! - `misc`: who am I, the audit log, the kinds' settings, the UI's login
//!   settings.
//!
//! Roles: Reader reads (but the audit log); Engineer changes; Admin
//! restores and reads the audit log. Writes take `If-Match: "<version>"`
//! and answer 412 when the entity moved on.

mod connectors;
mod mappings;
mod misc;
pub mod openapi;
mod points;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tracing::error;

use super::db::{Conflict, DbError};
use super::http::{Shared, problem_with};
use crate::auth::{Principal, Role};

/// The API's routes (the caller adds the state).
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .merge(connectors::routes())
        .merge(mappings::routes())
        .merge(points::routes())
        .merge(misc::routes())
        .merge(openapi::routes())
}

/// An error answer: a problem+json response.
#[derive(Debug)]
pub struct ApiError(Box<Response>);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        *self.0
    }
}

impl From<Response> for ApiError {
    fn from(r: Response) -> Self {
        Self(Box::new(r))
    }
}

/// A handler's result.
pub type ApiResult = Result<Response, ApiError>;

/// A problem with `field` (where there is one).
pub fn field_problem(status: StatusCode, field: &str, detail: &str) -> ApiError {
    let mut extra = Map::new();
    extra.insert(String::from("field"), json!(field));
    ApiError::from(problem_with(status, Some(detail), extra))
}

/// A 404 problem for an entity that does not exist.
pub fn not_found(what: &str) -> ApiError {
    ApiError::from(problem_with(
        StatusCode::NOT_FOUND,
        Some(&format!("{what} does not exist")),
        Map::new(),
    ))
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        let mut extra = Map::new();
        let (status, detail) = match &e {
            DbError::NotFound { .. } => (StatusCode::NOT_FOUND, e.to_string()),
            DbError::Stale { current, .. } => {
                extra.insert(String::from("current_version"), json!(current));
                (StatusCode::PRECONDITION_FAILED, e.to_string())
            }
            DbError::Conflict(c) => {
                if let Conflict::Owner(o) = c {
                    extra.insert(String::from("casdu"), json!(o.casdu));
                    extra.insert(String::from("ioa"), json!(o.ioa));
                    extra.insert(
                        String::from("owners"),
                        json!([
                            {"connector": o.first.connector, "mapping": o.first.mapping},
                            {"connector": o.second.connector, "mapping": o.second.mapping},
                        ]),
                    );
                }
                if let Conflict::InUse { connectors, .. } = c {
                    extra.insert(String::from("connectors"), json!(connectors));
                }
                (StatusCode::CONFLICT, e.to_string())
            }
            DbError::Invalid { field, message } => {
                extra.insert(String::from("field"), json!(field));
                (StatusCode::UNPROCESSABLE_ENTITY, message.clone())
            }
            DbError::Unavailable { reason } => {
                error!("database unavailable: {reason}");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    String::from("the database is not available; try again"),
                )
            }
            DbError::Migration { .. } | DbError::Internal { .. } => {
                error!("{e}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    String::from("internal error (logged)"),
                )
            }
        };
        ApiError::from(problem_with(status, Some(&detail), extra))
    }
}

/// The principal of a request whose role is at least `needed`.
pub async fn gate(
    shared: &Shared,
    headers: &HeaderMap,
    needed: Role,
) -> Result<Principal, ApiError> {
    super::authn::gate(shared, headers, needed)
        .await
        .map_err(ApiError::from)
}

/// The version an `If-Match` header asks for: `None` without one or for
/// `*`; a value that is no version of ours matches nothing (412).
pub fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(None);
    }
    let first = text.split(',').next().unwrap_or_default().trim();
    let tag = first.strip_prefix("W/").unwrap_or(first);
    tag.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .and_then(|t| t.parse::<i64>().ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::from(problem_with(
                StatusCode::PRECONDITION_FAILED,
                Some("If-Match names no version of this resource (an ETag such as \"3\")"),
                Map::new(),
            ))
        })
}

/// A JSON response with the entity's version as its ETag.
pub fn with_etag(status: StatusCode, version: i64, body: &impl serde::Serialize) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

/// A 201 with the new entity, its ETag and its `Location`.
pub fn created(location: &str, version: i64, body: &impl serde::Serialize) -> Response {
    let mut response = with_etag(StatusCode::CREATED, version, body);
    if let Ok(v) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

/// A JSON response.
pub fn json_ok(body: &impl serde::Serialize) -> Response {
    axum::Json(body).into_response()
}

/// A JSON response whose body is already JSON text.
pub fn raw_json(status: StatusCode, text: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], text).into_response()
}

/// A request body parsed as JSON into `T`, or a 400/415/422 problem
/// naming the field serde stopped at.
pub fn body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<T, ApiError> {
    let json_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .is_some_and(|m| m.eq_ignore_ascii_case("application/json") || m.ends_with("+json"));
    if !json_type {
        return Err(ApiError::from(problem_with(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Some("the body must be application/json"),
            Map::new(),
        )));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let parsed: Result<T, _> = serde_path_to_error::deserialize(de);
    parsed.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_data() {
            let field = if path == "." {
                String::from("body")
            } else {
                path
            };
            field_problem(StatusCode::UNPROCESSABLE_ENTITY, &field, &inner.to_string())
        } else {
            ApiError::from(problem_with(
                StatusCode::BAD_REQUEST,
                Some(&format!("the body is not valid JSON: {inner}")),
                Map::new(),
            ))
        }
    })
}

/// A JSON value as an object, for bodies documented as objects.
pub fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
