//! `/api/v1/mappings`: the MQTT mappings (the contract's `mappings[]`
//! element plus `name` and `description`) and the dry run of one mapping
//! on a sample message through the connector's own engine.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::{ApiError, ApiResult, body, field_problem, gate, if_match, json_ok, with_etag};
use crate::auth::Role;
use crate::backend::db::{Mapping, MappingFields, NewMapping};
use crate::backend::http::Shared;
use crate::backend::policy::mapping_element;
use crate::mqtt::convert::{Context, Outcome};
use crate::mqtt::engine::{Engine, parse_payload};
use crate::mqtt::mapping::MappingConfig;

/// The largest sample payload of a dry run, bytes.
pub const DRY_RUN_MAX_PAYLOAD: usize = 1 << 20;

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/v1/mappings", get(list).post(create))
        .route("/api/v1/mappings/dry-run", post(dry_run))
        .route(
            "/api/v1/mappings/{id}",
            get(read).put(update).delete(remove),
        )
}

/// A mapping as the API shows and takes it: the contract's `mappings[]`
/// element (docs/contract.md) plus `name` and `description`; `version`,
/// `created_at` and `updated_at` are read-only.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MappingDoc {
    /// Its id (1..=64 of `A-Z a-z 0-9 _ . : -`).
    pub id: String,
    /// Display name, 1..=200 characters.
    pub name: String,
    /// At most 2000 characters.
    pub description: Option<String>,
    /// MQTT topic filter (`+`, `#`, `$share/GROUP/…`).
    pub topic: String,
    /// JSONPath → value: the message is used only when every path selects
    /// exactly that value.
    #[serde(rename = "match")]
    #[schema(value_type = Option<Object>)]
    pub match_: Option<Value>,
    /// The points: `casdu`, `ioa`, `type`, `value` (JSONPath), and
    /// optionally `time`, `time_format`, `scale`, `offset`, `deadband`,
    /// `map`, `invert`, `quality`, `silence_timeout`.
    #[schema(value_type = Vec<Object>)]
    pub points: Vec<Value>,
    /// Seconds, 0 = off.
    pub silence_timeout: Option<u64>,
    /// Read-only; the ETag.
    pub version: Option<i64>,
    /// Read-only, RFC 3339.
    pub created_at: Option<String>,
    /// Read-only, RFC 3339.
    pub updated_at: Option<String>,
}

/// The API's fields of a mapping that are not its body.
const OWN_FIELDS: [&str; 6] = [
    "id",
    "name",
    "description",
    "version",
    "created_at",
    "updated_at",
];

/// A stored mapping as the API shows it.
pub fn mapping_out(m: &Mapping) -> Value {
    let mut out = match mapping_element(&m.id, &m.fields.body) {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    out.insert(String::from("name"), json!(m.fields.name));
    out.insert(String::from("description"), json!(m.fields.description));
    out.insert(String::from("version"), json!(m.version));
    out.insert(String::from("created_at"), json!(m.created_at.to_string()));
    out.insert(String::from("updated_at"), json!(m.updated_at.to_string()));
    Value::Object(out)
}

/// A text field of a mapping as given.
fn text_field(map: &Map<String, Value>, field: &str, required: bool) -> Result<String, ApiError> {
    match map.get(field) {
        Some(Value::String(s)) => Ok(s.clone()),
        None if !required => Ok(String::new()),
        None => Err(field_problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            field,
            "missing: a string",
        )),
        Some(_) => Err(field_problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            field,
            "must be a string",
        )),
    }
}

/// A mapping's id (when asked), name, description and body from its API
/// shape.
fn mapping_in(v: Value, want_id: bool) -> Result<(Option<String>, MappingFields), ApiError> {
    let Value::Object(mut map) = v else {
        return Err(field_problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "body",
            "must be a JSON object",
        ));
    };
    let id = if want_id {
        Some(text_field(&map, "id", true)?)
    } else {
        None
    };
    let name = text_field(&map, "name", true)?;
    let description = text_field(&map, "description", false)?;
    for f in OWN_FIELDS {
        map.remove(f);
    }
    Ok((
        id,
        MappingFields {
            name,
            description,
            body: Value::Object(map),
        },
    ))
}

#[utoipa::path(get, path = "/api/v1/mappings", tag = "mappings",
    responses((status = 200, description = "Every mapping, by id", body = [MappingDoc])))]
pub(super) async fn list(State(s): State<Arc<Shared>>, headers: HeaderMap) -> ApiResult {
    gate(&s, &headers, Role::Reader).await?;
    let all = s.db.list_mappings().await?;
    Ok(json_ok(&all.iter().map(mapping_out).collect::<Vec<_>>()))
}

#[utoipa::path(post, path = "/api/v1/mappings", tag = "mappings",
    request_body = MappingDoc,
    responses((status = 201, description = "Created", body = MappingDoc,
        headers(("ETag" = String), ("Location" = String)))))]
pub(super) async fn create(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    bytes: Bytes,
) -> ApiResult {
    let p = gate(&s, &headers, Role::Engineer).await?;
    let (id, fields) = mapping_in(body(&headers, &bytes)?, true)?;
    let new = NewMapping {
        id: id.unwrap_or_default(),
        fields,
    };
    let m = s.db.create_mapping(p.actor(), &new).await?;
    Ok(super::created(
        &format!("/api/v1/mappings/{}", m.id),
        m.version,
        &mapping_out(&m),
    ))
}

#[utoipa::path(get, path = "/api/v1/mappings/{id}", tag = "mappings",
    params(("id" = String, Path, description = "Mapping id")),
    responses((status = 200, body = MappingDoc, headers(("ETag" = String)))))]
pub(super) async fn read(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    gate(&s, &headers, Role::Reader).await?;
    let m = s.db.get_mapping(&id).await?;
    Ok(with_etag(StatusCode::OK, m.version, &mapping_out(&m)))
}

#[utoipa::path(put, path = "/api/v1/mappings/{id}", tag = "mappings",
    params(("id" = String, Path, description = "Mapping id"),
           ("If-Match" = Option<String>, Header, description = "The version read")),
    request_body = MappingDoc,
    responses((status = 200, body = MappingDoc, headers(("ETag" = String)))))]
pub(super) async fn update(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let p = gate(&s, &headers, Role::Engineer).await?;
    let expected = if_match(&headers)?;
    let v: Value = body(&headers, &bytes)?;
    if let Some(given) = v.get("id")
        && given.as_str() != Some(id.as_str())
    {
        return Err(field_problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "id",
            "is the mapping's id in the path and cannot change",
        ));
    }
    let (_, fields) = mapping_in(v, false)?;
    let m =
        s.db.update_mapping(p.actor(), &id, expected, &fields)
            .await?;
    s.push_wake.notify_one();
    Ok(with_etag(StatusCode::OK, m.version, &mapping_out(&m)))
}

#[utoipa::path(delete, path = "/api/v1/mappings/{id}", tag = "mappings",
    params(("id" = String, Path, description = "Mapping id"),
           ("If-Match" = Option<String>, Header, description = "The version read")),
    responses((status = 204, description = "Deleted"),
              (status = 409, description = "Still linked: the problem names the connectors")))]
pub(super) async fn remove(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    let p = gate(&s, &headers, Role::Engineer).await?;
    let expected = if_match(&headers)?;
    s.db.delete_mapping(p.actor(), &id, expected).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A sample message.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Sample {
    /// The topic it arrives on.
    pub topic: String,
    /// The payload: a JSON value, or a string holding the message text as
    /// sent (e.g. `"61.5"` or `"{\"t\": 1}"`).
    #[schema(value_type = Object)]
    pub payload: Value,
}

/// A dry run's input.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DryRunIn {
    /// The mapping (as for `POST /api/v1/mappings`; `id` and `name` may be
    /// left out).
    #[schema(value_type = Object)]
    pub mapping: Value,
    /// The message.
    pub sample: Sample,
}

/// A point the message did not write, and why.
#[derive(Debug, Serialize, ToSchema)]
pub struct DryRunError {
    /// The point's common address (`null` for an error of the message).
    pub casdu: Option<u16>,
    /// The point's information object address.
    pub ioa: Option<u32>,
    /// `payload` (not JSON, too large), `conversion` (the point's last
    /// value would be kept with `iv` set), `unselected` (the value path
    /// selected nothing: the point is left unchanged).
    pub kind: String,
    /// The connector's own words.
    pub error: String,
}

/// What the message would do.
#[derive(Debug, Serialize, ToSchema)]
pub struct DryRunOut {
    /// Whether the topic matches the mapping's filter.
    pub topic_matched: bool,
    /// Whether the message is used (topic and `match` conditions).
    pub matched: bool,
    /// The data points it writes (the contract's JSON; `source` is
    /// `dry-run`).
    #[schema(value_type = Vec<Object>)]
    pub points: Vec<Value>,
    /// The points it does not write.
    pub errors: Vec<DryRunError>,
}

#[utoipa::path(post, path = "/api/v1/mappings/dry-run", tag = "mappings",
    request_body = DryRunIn,
    responses((status = 200, body = DryRunOut),
              (status = 422, description = "The mapping is invalid: the problem names the field")))]
pub(super) async fn dry_run(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    bytes: Bytes,
) -> ApiResult {
    gate(&s, &headers, Role::Engineer).await?;
    let input: DryRunIn = body(&headers, &bytes)?;
    let Value::Object(mut mapping) = input.mapping else {
        return Err(field_problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "mapping",
            "must be a JSON object",
        ));
    };
    let id = match mapping.get("id") {
        Some(Value::String(id)) => id.clone(),
        _ => String::from("dry-run"),
    };
    for f in OWN_FIELDS {
        mapping.remove(f);
    }
    let element = mapping_element(&id, &Value::Object(mapping));
    let config = MappingConfig::from_value(json!({ "mappings": [element] })).map_err(|e| {
        let field = e
            .place
            .strip_prefix("mappings[0].")
            .map_or_else(|| String::from("mapping"), |rest| format!("mapping.{rest}"));
        field_problem(StatusCode::UNPROCESSABLE_ENTITY, &field, &e.message)
    })?;
    let engine = Engine::new(config);
    let mut out = DryRunOut {
        topic_matched: false,
        matched: false,
        points: Vec::new(),
        errors: Vec::new(),
    };
    let routed = engine.mappings_for(&input.sample.topic);
    if routed.is_empty() {
        return Ok(json_ok(&out));
    }
    out.topic_matched = true;
    let bytes = match &input.sample.payload {
        Value::String(text) => text.clone().into_bytes(),
        other => other.to_string().into_bytes(),
    };
    let payload = match parse_payload(&bytes, DRY_RUN_MAX_PAYLOAD) {
        Ok(v) => v,
        Err(e) => {
            out.errors.push(DryRunError {
                casdu: None,
                ioa: None,
                kind: String::from("payload"),
                error: e.to_string(),
            });
            return Ok(json_ok(&out));
        }
    };
    let ctx = Context {
        source: Arc::from("dry-run"),
        received_ms: jiff::Timestamp::now().as_millisecond(),
    };
    for result in engine.handle_mappings(&routed, &payload, &ctx) {
        out.matched |= result.matched;
        for (p, outcome) in result.points {
            let address = engine
                .config()
                .mappings
                .get(result.mapping)
                .and_then(|m| m.points.get(p))
                .map(|p| (p.casdu, p.ioa));
            match outcome {
                Outcome::Write { point, .. } => {
                    if let Ok(v) = serde_json::from_str::<Value>(&point.to_json()) {
                        out.points.push(v);
                    }
                }
                Outcome::Invalid { reason } => out.errors.push(DryRunError {
                    casdu: address.map(|a| a.0),
                    ioa: address.map(|a| a.1),
                    kind: String::from("conversion"),
                    error: reason,
                }),
                Outcome::Unselected { reason } => out.errors.push(DryRunError {
                    casdu: address.map(|a| a.0),
                    ioa: address.map(|a| a.1),
                    kind: String::from("unselected"),
                    error: reason,
                }),
            }
        }
    }
    Ok(json_ok(&out))
}
