//! `/api/v1/connectors`: the connectors, their linked mappings, their
//! effective configuration, its versions and their restore, and their live
//! status.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::{ApiResult, body, field_problem, gate, if_match, json_ok, not_found, with_etag};
use crate::auth::Role;
use crate::backend::db::{Connector, ConnectorFields, ConnectorKind, NewConnector};
use crate::backend::http::Shared;
use crate::store;

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/v1/connectors", get(list).post(create))
        .route(
            "/api/v1/connectors/{id}",
            get(read).put(update).delete(remove),
        )
        .route(
            "/api/v1/connectors/{id}/mappings",
            get(links).put(set_links),
        )
        .route("/api/v1/connectors/{id}/config", get(config))
        .route("/api/v1/connectors/{id}/status", get(status))
        .route("/api/v1/connectors/{id}/versions", get(versions))
        .route("/api/v1/connectors/{id}/versions/{n}", get(version))
        .route(
            "/api/v1/connectors/{id}/versions/{n}/restore",
            post(restore),
        )
        .route("/api/v1/status", get(all_status))
}

/// A connector as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConnectorOut {
    /// Its id (1..=64 of `A-Z a-z 0-9 _ . : -`).
    pub id: String,
    /// Its kind: the role that runs it.
    pub kind: ConnectorKind,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Whether it gets a configuration (a disabled one's key is removed).
    pub enabled: bool,
    /// The kind's managed configuration (docs/contract.md).
    #[schema(value_type = Object)]
    pub settings: Value,
    /// Its version, also its ETag.
    pub version: i64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<&Connector> for ConnectorOut {
    fn from(c: &Connector) -> Self {
        Self {
            id: c.id.clone(),
            kind: c.kind,
            name: c.fields.name.clone(),
            description: c.fields.description.clone(),
            enabled: c.fields.enabled,
            settings: c.fields.settings.clone(),
            version: c.version,
            created_at: c.created_at.to_string(),
            updated_at: c.updated_at.to_string(),
        }
    }
}

fn yes() -> bool {
    true
}

fn empty_object() -> Value {
    json!({})
}

/// A connector to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectorCreate {
    /// Its id (1..=64 of `A-Z a-z 0-9 _ . : -`), the connector's `--id`.
    pub id: String,
    /// Its kind.
    pub kind: ConnectorKind,
    /// Display name, 1..=200 characters.
    pub name: String,
    /// At most 2000 characters.
    #[serde(default)]
    pub description: String,
    /// Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The kind's managed configuration; default `{}`.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub settings: Value,
}

/// A connector's new state. The read-only fields of a connector as read
/// may come along; `id` and `kind` must then be its own.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectorUpdate {
    /// Display name, 1..=200 characters.
    pub name: String,
    /// At most 2000 characters; default empty.
    #[serde(default)]
    pub description: String,
    /// Whether it gets a configuration.
    pub enabled: bool,
    /// The kind's managed configuration.
    #[schema(value_type = Object)]
    pub settings: Value,
    /// Read-only: must be the connector's own.
    pub id: Option<String>,
    /// Read-only: must be the connector's own.
    pub kind: Option<ConnectorKind>,
    /// Read-only, ignored (use `If-Match`).
    #[allow(
        dead_code,
        reason = "accepted so that a connector as read can be sent back"
    )]
    pub version: Option<i64>,
    /// Read-only, ignored.
    #[allow(
        dead_code,
        reason = "accepted so that a connector as read can be sent back"
    )]
    pub created_at: Option<String>,
    /// Read-only, ignored.
    #[allow(
        dead_code,
        reason = "accepted so that a connector as read can be sent back"
    )]
    pub updated_at: Option<String>,
}

/// The mappings linked to an `mqtt` connector, in order.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Links {
    /// Mapping ids.
    pub mappings: Vec<String>,
    /// The connector's version (read-only; use `If-Match`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

/// The state of a connector's push to Valkey.
#[derive(Debug, Serialize, ToSchema)]
pub struct PushState {
    /// Whether the key in Valkey still has to be brought in line.
    pub pending: bool,
    /// Since when (RFC 3339).
    pub since: Option<String>,
    /// Failed attempts.
    pub attempts: i32,
    /// The last attempt's error.
    pub last_error: Option<String>,
}

/// A connector's effective managed configuration.
#[derive(Debug, Serialize, ToSchema)]
pub struct EffectiveConfig {
    /// The connector.
    pub connector: String,
    /// Its configuration version (`null` before the first).
    pub n: Option<i64>,
    /// The configuration (settings, and for `mqtt` the linked mappings).
    #[schema(value_type = Object)]
    pub config: Value,
    /// Whether it is enabled (a disabled connector's key is removed).
    pub enabled: bool,
    /// The push.
    pub push: PushState,
}

/// One configuration version, listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionItem {
    /// Its number, from 1.
    pub n: i64,
    /// Who caused it.
    pub actor: String,
    /// RFC 3339.
    pub created_at: String,
}

/// One configuration version with its change against the previous.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionDetail {
    /// Its number.
    pub n: i64,
    /// Who caused it.
    pub actor: String,
    /// RFC 3339.
    pub created_at: String,
    /// The configuration.
    #[schema(value_type = Object)]
    pub config: Value,
    /// The previous version's number (`null` for the first).
    pub previous: Option<i64>,
    /// RFC 6902 JSON Patch from the previous version (from `{}` for the
    /// first).
    #[schema(value_type = Vec<Object>)]
    pub diff: Value,
}

/// A connector's live status, or none.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusItem {
    /// The connector's id.
    pub id: String,
    /// Its kind (from the database, else from its status).
    pub kind: Option<String>,
    /// Its name (managed connectors).
    pub name: Option<String>,
    /// Whether it is enabled (managed connectors).
    pub enabled: Option<bool>,
    /// Whether the backend manages it.
    pub managed: bool,
    /// Its status (docs/contract.md), `null` when it has none (not running).
    #[schema(value_type = Option<Object>)]
    pub status: Option<Value>,
}

#[utoipa::path(get, path = "/api/v1/connectors", tag = "connectors",
    responses((status = 200, description = "Every connector, by id", body = [ConnectorOut])))]
pub(super) async fn list(State(s): State<Arc<Shared>>, headers: HeaderMap) -> ApiResult {
    gate(&s, &headers, Role::Reader).await?;
    let all = s.db.list_connectors().await?;
    Ok(json_ok(
        &all.iter().map(ConnectorOut::from).collect::<Vec<_>>(),
    ))
}

#[utoipa::path(post, path = "/api/v1/connectors", tag = "connectors",
    request_body = ConnectorCreate,
    responses((status = 201, description = "Created", body = ConnectorOut,
        headers(("ETag" = String), ("Location" = String)))))]
pub(super) async fn create(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    bytes: Bytes,
) -> ApiResult {
    let p = gate(&s, &headers, Role::Engineer).await?;
    let c: ConnectorCreate = body(&headers, &bytes)?;
    let new = NewConnector {
        id: c.id,
        kind: c.kind,
        fields: ConnectorFields {
            name: c.name,
            description: c.description,
            enabled: c.enabled,
            settings: c.settings,
        },
    };
    let created = s.db.create_connector(p.actor(), &new).await?;
    s.push_wake.notify_one();
    Ok(super::created(
        &format!("/api/v1/connectors/{}", created.id),
        created.version,
        &ConnectorOut::from(&created),
    ))
}

#[utoipa::path(get, path = "/api/v1/connectors/{id}", tag = "connectors",
    params(("id" = String, Path, description = "Connector id")),
    responses((status = 200, body = ConnectorOut, headers(("ETag" = String)))))]
pub(super) async fn read(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    gate(&s, &headers, Role::Reader).await?;
    let c = s.db.get_connector(&id).await?;
    Ok(with_etag(
        StatusCode::OK,
        c.version,
        &ConnectorOut::from(&c),
    ))
}

#[utoipa::path(put, path = "/api/v1/connectors/{id}", tag = "connectors",
    params(("id" = String, Path, description = "Connector id"),
           ("If-Match" = Option<String>, Header, description = "The version read, e.g. \"3\"")),
    request_body = ConnectorUpdate,
    responses((status = 200, body = ConnectorOut, headers(("ETag" = String)))))]
pub(super) async fn update(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let p = gate(&s, &headers, Role::Engineer).await?;
    let expected = if_match(&headers)?;
    let u: ConnectorUpdate = body(&headers, &bytes)?;
    if u.id.as_ref().is_some_and(|given| *given != id) {
        return Err(field_problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "id",
            "is the connector's id in the path and cannot change",
        ));
    }
    let fields = ConnectorFields {
        name: u.name,
        description: u.description,
        enabled: u.enabled,
        settings: u.settings,
    };
    if let Some(kind) = u.kind {
        let current = s.db.get_connector(&id).await?;
        if current.kind != kind {
            return Err(field_problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "kind",
                &format!("is {} and cannot change", current.kind),
            ));
        }
    }
    let c =
        s.db.update_connector(p.actor(), &id, expected, &fields)
            .await?;
    s.push_wake.notify_one();
    Ok(with_etag(
        StatusCode::OK,
        c.version,
        &ConnectorOut::from(&c),
    ))
}

#[utoipa::path(delete, path = "/api/v1/connectors/{id}", tag = "connectors",
    params(("id" = String, Path, description = "Connector id"),
           ("If-Match" = Option<String>, Header, description = "The version read")),
    responses((status = 204, description = "Deleted; its key in Valkey is removed")))]
pub(super) async fn remove(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    let p = gate(&s, &headers, Role::Engineer).await?;
    let expected = if_match(&headers)?;
    s.db.delete_connector(p.actor(), &id, expected).await?;
    s.push_wake.notify_one();
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(get, path = "/api/v1/connectors/{id}/mappings", tag = "connectors",
    params(("id" = String, Path, description = "Connector id")),
    responses((status = 200, body = Links, headers(("ETag" = String)))))]
pub(super) async fn links(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    gate(&s, &headers, Role::Reader).await?;
    let c = s.db.get_connector(&id).await?;
    let mappings = s.db.get_links(&id).await?;
    Ok(with_etag(
        StatusCode::OK,
        c.version,
        &Links {
            mappings,
            version: Some(c.version),
        },
    ))
}

#[utoipa::path(put, path = "/api/v1/connectors/{id}/mappings", tag = "connectors",
    params(("id" = String, Path, description = "Connector id"),
           ("If-Match" = Option<String>, Header, description = "The connector's version read")),
    request_body = Links,
    responses((status = 200, body = Links, headers(("ETag" = String)))))]
pub(super) async fn set_links(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let p = gate(&s, &headers, Role::Engineer).await?;
    let expected = if_match(&headers)?;
    let l: Links = body(&headers, &bytes)?;
    let (mappings, version) =
        s.db.set_links(p.actor(), &id, expected, &l.mappings)
            .await?;
    s.push_wake.notify_one();
    Ok(with_etag(
        StatusCode::OK,
        version,
        &Links {
            mappings,
            version: Some(version),
        },
    ))
}

#[utoipa::path(get, path = "/api/v1/connectors/{id}/config", tag = "connectors",
    params(("id" = String, Path, description = "Connector id")),
    responses((status = 200, body = EffectiveConfig)))]
pub(super) async fn config(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    gate(&s, &headers, Role::Reader).await?;
    let c = s.db.get_connector(&id).await?;
    let last = s.db.last_config_version(&id).await?;
    let pending = s.db.pending_push(&id).await?;
    Ok(json_ok(&EffectiveConfig {
        connector: id,
        n: last.as_ref().map(|v| v.n),
        config: last.map_or_else(|| json!({}), |v| v.config),
        enabled: c.fields.enabled,
        push: PushState {
            pending: pending.is_some(),
            since: pending.as_ref().map(|p| p.since.to_string()),
            attempts: pending.as_ref().map_or(0, |p| p.attempts),
            last_error: pending.and_then(|p| p.last_error),
        },
    }))
}

/// A Valkey client, or 503.
pub(super) fn valkey_client(s: &Shared) -> Result<&store::StoreClient, super::ApiError> {
    s.valkey.get().ok_or_else(|| {
        super::ApiError::from(crate::backend::http::problem(
            StatusCode::SERVICE_UNAVAILABLE,
            Some("Valkey has not been reached yet; try again"),
        ))
    })
}

/// A Valkey error as a 503 problem (logged).
pub(super) fn valkey_error(e: &store::StoreError) -> super::ApiError {
    tracing::warn!("Valkey: {e}");
    super::ApiError::from(crate::backend::http::problem(
        StatusCode::SERVICE_UNAVAILABLE,
        Some("Valkey is not available; try again"),
    ))
}

#[utoipa::path(get, path = "/api/v1/connectors/{id}/status", tag = "status",
    params(("id" = String, Path, description = "Connector id")),
    responses((status = 200, description = "The status JSON as the connector wrote it (docs/contract.md)", body = Object),
              (status = 404, description = "No status: the connector is not running")))]
pub(super) async fn status(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    gate(&s, &headers, Role::Reader).await?;
    let client = valkey_client(&s)?;
    let text = store::get_text(client, &store::status_key(&id))
        .await
        .map_err(|e| valkey_error(&e))?;
    match text.and_then(|t| serde_json::from_str::<Value>(&t).ok()) {
        Some(v @ Value::Object(_)) => Ok(json_ok(&v)),
        _ => Err(not_found(&format!("a status of connector {id:?}"))),
    }
}

#[utoipa::path(get, path = "/api/v1/status", tag = "status",
    responses((status = 200, description = "Every managed connector and every connector with a status key", body = [StatusItem])))]
pub(super) async fn all_status(State(s): State<Arc<Shared>>, headers: HeaderMap) -> ApiResult {
    gate(&s, &headers, Role::Reader).await?;
    let client = valkey_client(&s)?;
    let managed = s.db.list_connectors().await?;
    let keys = store::image::scan_keys(client, "connectors:*:status")
        .await
        .map_err(|e| valkey_error(&e))?;
    let mut ids: Vec<String> = managed.iter().map(|c| c.id.clone()).collect();
    for k in &keys {
        if let Some(id) = k
            .strip_prefix("connectors:")
            .and_then(|k| k.strip_suffix(":status"))
            && !ids.iter().any(|i| i == id)
        {
            ids.push(id.to_owned());
        }
    }
    ids.sort();
    let status_keys: Vec<String> = ids.iter().map(|id| store::status_key(id)).collect();
    let values = store::mget_text(client, &status_keys)
        .await
        .map_err(|e| valkey_error(&e))?;
    let items: Vec<StatusItem> = ids
        .into_iter()
        .zip(values)
        .map(|(id, v)| {
            let status = v
                .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                .filter(Value::is_object);
            let c = managed.iter().find(|c| c.id == id);
            StatusItem {
                kind: c.map(|c| c.kind.as_str().to_owned()).or_else(|| {
                    status
                        .as_ref()
                        .and_then(|s| s.get("kind"))
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                }),
                name: c.map(|c| c.fields.name.clone()),
                enabled: c.map(|c| c.fields.enabled),
                managed: c.is_some(),
                status,
                id,
            }
        })
        .collect();
    Ok(json_ok(&items))
}

#[utoipa::path(get, path = "/api/v1/connectors/{id}/versions", tag = "versions",
    params(("id" = String, Path, description = "Connector id")),
    responses((status = 200, description = "Newest first", body = [VersionItem])))]
pub(super) async fn versions(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    gate(&s, &headers, Role::Reader).await?;
    s.db.get_connector(&id).await?;
    let all = s.db.list_config_versions(&id).await?;
    Ok(json_ok(
        &all.iter()
            .map(|v| VersionItem {
                n: v.n,
                actor: v.actor.clone(),
                created_at: v.created_at.to_string(),
            })
            .collect::<Vec<_>>(),
    ))
}

/// A version number of the path: a positive whole number, else 404.
fn version_number(id: &str, n: &str) -> Result<i64, super::ApiError> {
    n.parse::<i64>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| not_found(&format!("version {n:?} of connector {id:?}")))
}

#[utoipa::path(get, path = "/api/v1/connectors/{id}/versions/{n}", tag = "versions",
    params(("id" = String, Path, description = "Connector id"), ("n" = i64, Path, description = "Version, from 1")),
    responses((status = 200, body = VersionDetail)))]
pub(super) async fn version(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((id, n)): Path<(String, String)>,
) -> ApiResult {
    gate(&s, &headers, Role::Reader).await?;
    let n = version_number(&id, &n)?;
    let v = s.db.get_config_version(&id, n).await?;
    let previous = if n > 1 {
        s.db.get_config_version(&id, n - 1).await.ok()
    } else {
        None
    };
    let before = previous
        .as_ref()
        .map_or_else(|| json!({}), |p| p.config.clone());
    let diff = serde_json::to_value(json_patch::diff(&before, &v.config)).unwrap_or(json!([]));
    Ok(json_ok(&VersionDetail {
        n: v.n,
        actor: v.actor,
        created_at: v.created_at.to_string(),
        config: v.config,
        previous: previous.map(|p| p.n),
        diff,
    }))
}

#[utoipa::path(post, path = "/api/v1/connectors/{id}/versions/{n}/restore", tag = "versions",
    params(("id" = String, Path, description = "Connector id"), ("n" = i64, Path, description = "Version, from 1"),
           ("If-Match" = Option<String>, Header, description = "The connector's version read")),
    responses((status = 200, description = "The connector as restored (Admin only)", body = ConnectorOut, headers(("ETag" = String)))))]
pub(super) async fn restore(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((id, n)): Path<(String, String)>,
) -> ApiResult {
    let p = gate(&s, &headers, Role::Admin).await?;
    let expected = if_match(&headers)?;
    let n = version_number(&id, &n)?;
    let c = s.db.restore_version(p.actor(), &id, n, expected).await?;
    s.push_wake.notify_one();
    Ok(with_etag(
        StatusCode::OK,
        c.version,
        &ConnectorOut::from(&c),
    ))
}
