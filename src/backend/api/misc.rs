//! Who am I, the audit log, the settings of each connector kind (for
//! generated forms) and the web UI's login settings.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::{ApiResult, field_problem, gate, json_ok};
use crate::auth::Role;
use crate::backend::db::{AuditQuery, ConnectorKind};
use crate::backend::http::{AuthMode, Shared, UiConfig};
use crate::config::{RoleSettings, SettingDoc};
use crate::inbound::config::InboundSettings;
use crate::mqtt::config::MqttSettings;
use crate::server::config::Iec104ServerSettings;

/// Audit rows per answer unless `limit` says otherwise.
pub const AUDIT_DEFAULT_LIMIT: i64 = 100;
/// The most audit rows of one answer.
pub const AUDIT_MAX_LIMIT: i64 = 1000;

/// The broker settings an `mqtt` connector takes through its managed
/// configuration (its section `mqtt`, never a secret).
const MQTT_MANAGED_BROKER: [&str; 7] = [
    "host",
    "port",
    "client_id",
    "username",
    "tls",
    "keep_alive",
    "qos",
];

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/v1/me", get(me))
        .route("/api/v1/audit", get(audit))
        .route("/api/v1/kinds", get(kinds))
        .route("/api/ui-config", get(ui_config))
}

/// The caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// The user as the audit log names them.
    pub user: String,
    /// `reader`, `engineer`, `admin`.
    pub role: Option<String>,
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::Reader => "reader",
        Role::Engineer => "engineer",
        Role::Admin => "admin",
    }
}

#[utoipa::path(get, path = "/api/v1/me", tag = "misc",
    responses((status = 200, body = Me)))]
pub(super) async fn me(State(s): State<Arc<Shared>>, headers: HeaderMap) -> ApiResult {
    let p = gate(&s, &headers, Role::Reader).await?;
    Ok(json_ok(&Me {
        user: p.actor().to_owned(),
        role: p.role.map(|r| role_name(r).to_owned()),
    }))
}

/// Which audit rows.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only rows at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Only rows of this user.
    pub actor: Option<String>,
    /// At most this many rows, 1..=1000 (default 100), the newest.
    pub limit: Option<i64>,
}

/// One audit row.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditItem {
    /// Ascending in the order of the changes.
    pub id: i64,
    /// RFC 3339.
    pub at: String,
    /// Who.
    pub actor: String,
    /// `create`, `update`, `delete`, `link`, `restore`.
    pub action: String,
    /// `connector`, `mapping`.
    pub entity: String,
    /// Its id.
    pub entity_id: String,
    /// The entity before (`null` for a creation).
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    /// The entity after (`null` for a deletion).
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "misc", params(AuditParams),
    responses((status = 200, description = "Newest first (Admin only)", body = [AuditItem])))]
pub(super) async fn audit(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<AuditParams>,
) -> ApiResult {
    gate(&s, &headers, Role::Admin).await?;
    let since = q
        .since
        .as_deref()
        .map(|t| {
            t.parse::<jiff::Timestamp>().map_err(|_| {
                field_problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "since",
                    &format!("{t:?}: must be an RFC 3339 time, e.g. 2026-11-29T10:00:00Z"),
                )
            })
        })
        .transpose()?;
    let limit = q.limit.unwrap_or(AUDIT_DEFAULT_LIMIT);
    if !(1..=AUDIT_MAX_LIMIT).contains(&limit) {
        return Err(field_problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "limit",
            &format!("{limit}: must be in 1..={AUDIT_MAX_LIMIT}"),
        ));
    }
    let rows =
        s.db.list_audit(&AuditQuery {
            since,
            actor: q.actor,
            limit: Some(limit),
            newest_first: true,
        })
        .await?;
    Ok(json_ok(
        &rows
            .into_iter()
            .map(|a| AuditItem {
                id: a.id,
                at: a.at.to_string(),
                actor: a.actor,
                action: a.action,
                entity: a.entity,
                entity_id: a.entity_id,
                before: a.before,
                after: a.after,
            })
            .collect::<Vec<_>>(),
    ))
}

/// One managed setting of a connector kind.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KindSetting {
    /// The key in `settings` (`port`, `broker.host`).
    pub key: String,
    /// `string`, `integer`, `number`, `boolean`, `list`, `object`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The role's default (`null`: none).
    #[schema(value_type = Object)]
    pub default: Value,
    /// Lowest value allowed, for numbers.
    pub min: Option<i64>,
    /// Highest value allowed, for numbers.
    pub max: Option<i64>,
    /// The values allowed, where they are few.
    pub values: Option<Vec<String>>,
    /// The role's description, with the range.
    pub doc: String,
}

/// A connector kind and its managed settings.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Kind {
    /// The kind.
    pub kind: ConnectorKind,
    /// Its managed settings (for `mqtt` without `mappings`, which come
    /// from the links).
    pub settings: Vec<KindSetting>,
}

fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
        _ => "string",
    }
}

/// The first `A..=B` of a description.
fn range_of(doc: &str) -> (Option<i64>, Option<i64>) {
    for word in doc.split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')') {
        let word = word.trim_end_matches(['.', ';', ':']);
        if let Some((a, b)) = word.split_once("..=")
            && let (Ok(a), Ok(b)) = (a.parse::<i64>(), b.parse::<i64>())
        {
            return (Some(a), Some(b));
        }
    }
    (None, None)
}

/// The words after "one of " in a description, up to the full stop.
fn values_of(doc: &str) -> Option<Vec<String>> {
    let rest = doc.split_once("one of ")?.1;
    let list = rest.split('.').next()?;
    let values: Vec<String> = list
        .split(',')
        .map(|v| v.trim().trim_matches('"').to_owned())
        .filter(|v| !v.is_empty() && !v.contains(' '))
        .collect();
    (values.len() >= 2).then_some(values)
}

/// The managed settings of role `S`: its managed keys with the docs and
/// defaults of the settings they set.
fn settings_of<S: RoleSettings>(managed: &[(String, String)]) -> Vec<KindSetting> {
    let defaults = serde_json::to_value(S::Raw::default()).unwrap_or(Value::Null);
    let docs: Vec<SettingDoc> = S::setting_docs();
    managed
        .iter()
        .filter_map(|(key, path)| {
            let doc = docs.iter().find(|d| d.key == path)?;
            let default = path
                .split('.')
                .try_fold(&defaults, |v, part| v.get(part))
                .cloned()
                .unwrap_or(Value::Null);
            let kind = if default.is_null() {
                if range_of(&doc.doc).0.is_some() {
                    "integer"
                } else {
                    "string"
                }
            } else {
                type_of(&default)
            };
            let (min, max) = range_of(&doc.doc);
            Some(KindSetting {
                key: key.clone(),
                kind: kind.to_owned(),
                default,
                min,
                max,
                values: values_of(&doc.doc),
                doc: doc.doc.clone(),
            })
        })
        .collect()
}

fn pairs(keys: &[(&str, &str)]) -> Vec<(String, String)> {
    keys.iter()
        .map(|(k, p)| ((*k).to_owned(), (*p).to_owned()))
        .collect()
}

/// Every connector kind with its managed settings.
pub fn kinds_list() -> Vec<Kind> {
    let mut mqtt: Vec<(String, String)> = pairs(MqttSettings::MANAGED_KEYS)
        .into_iter()
        .filter(|(k, _)| k != "mappings" && k != "broker")
        .collect();
    mqtt.extend(
        MQTT_MANAGED_BROKER
            .iter()
            .map(|f| (format!("broker.{f}"), format!("mqtt.{f}"))),
    );
    vec![
        Kind {
            kind: ConnectorKind::Iec104Inbound,
            settings: settings_of::<InboundSettings>(&pairs(InboundSettings::MANAGED_KEYS)),
        },
        Kind {
            kind: ConnectorKind::Iec104Server,
            settings: settings_of::<Iec104ServerSettings>(&pairs(
                Iec104ServerSettings::MANAGED_KEYS,
            )),
        },
        Kind {
            kind: ConnectorKind::Mqtt,
            settings: settings_of::<MqttSettings>(&mqtt),
        },
    ]
}

#[utoipa::path(get, path = "/api/v1/kinds", tag = "misc",
    responses((status = 200, description = "Each connector kind's managed settings, for generated forms", body = [Kind])))]
pub(super) async fn kinds(State(s): State<Arc<Shared>>, headers: HeaderMap) -> ApiResult {
    gate(&s, &headers, Role::Reader).await?;
    Ok(json_ok(&kinds_list()))
}

#[utoipa::path(get, path = "/api/ui-config", tag = "misc", security(()),
    responses((status = 200, description = "The web UI's login settings (no token needed)", body = UiConfig)))]
pub(super) async fn ui_config(State(s): State<Arc<Shared>>) -> ApiResult {
    let ui = match &s.auth {
        AuthMode::Oidc { ui, .. } => ui.clone(),
        AuthMode::Insecure => UiConfig {
            issuer: None,
            client_id: None,
            scope: None,
            resource: None,
        },
    };
    Ok(json_ok(&ui))
}
