//! The rows of the backend's schema as typed values: what the repository
//! takes ([`NewConnector`], [`ConnectorFields`], [`NewMapping`],
//! [`MappingFields`], [`NewAudit`]) and gives back ([`Connector`],
//! [`Mapping`], [`ConfigVersion`], [`AuditEntry`], [`PendingPush`]).

use core::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_postgres::Row;
use tokio_postgres::types::FromSql;

use super::error::{DbError, Entity};

/// The kind of a connector: the role that runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum ConnectorKind {
    /// `alp-connex iec104-inbound`.
    #[serde(rename = "iec104-inbound")]
    Iec104Inbound,
    /// `alp-connex iec104-server`.
    #[serde(rename = "iec104-server")]
    Iec104Server,
    /// `alp-connex mqtt`.
    #[serde(rename = "mqtt")]
    Mqtt,
}

impl ConnectorKind {
    /// Every kind, as named in the API and the schema.
    pub const NAMES: [&'static str; 3] = ["iec104-inbound", "iec104-server", "mqtt"];

    /// The kind's name (the role's subcommand).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Iec104Inbound => "iec104-inbound",
            Self::Iec104Server => "iec104-server",
            Self::Mqtt => "mqtt",
        }
    }
}

impl fmt::Display for ConnectorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ConnectorKind {
    type Err = DbError;

    fn from_str(s: &str) -> Result<Self, DbError> {
        match s {
            "iec104-inbound" => Ok(Self::Iec104Inbound),
            "iec104-server" => Ok(Self::Iec104Server),
            "mqtt" => Ok(Self::Mqtt),
            other => Err(DbError::invalid(
                "kind",
                format!(
                    "{other:?} is no connector kind; allowed: {}",
                    Self::NAMES.join(", ")
                ),
            )),
        }
    }
}

/// What a change of a connector sets (its kind and id stay).
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectorFields {
    /// Display name, 1..=200 characters.
    pub name: String,
    /// Free text, at most 2000 characters.
    pub description: String,
    /// Whether the connector gets a configuration (a disabled one's key is
    /// removed).
    pub enabled: bool,
    /// The kind's managed configuration, a JSON object.
    pub settings: Value,
}

/// A connector to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewConnector {
    /// Its id (the contract's rule, 1..=64 of A-Z a-z 0-9 _ . : -).
    pub id: String,
    /// Its kind.
    pub kind: ConnectorKind,
    /// The rest.
    pub fields: ConnectorFields,
}

/// A connector as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Connector {
    /// Its id.
    pub id: String,
    /// Its kind.
    pub kind: ConnectorKind,
    /// Name, description, enabled, settings.
    pub fields: ConnectorFields,
    /// Its version (the ETag): 1 at creation, one more at every change of
    /// the connector or its links.
    pub version: i64,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

impl Connector {
    /// The connector as the audit log records it.
    pub fn snapshot(&self) -> Value {
        json!({
            "id": self.id,
            "kind": self.kind.as_str(),
            "name": self.fields.name,
            "description": self.fields.description,
            "enabled": self.fields.enabled,
            "settings": self.fields.settings,
            "version": self.version,
        })
    }
}

/// What a change of a mapping sets.
#[derive(Debug, Clone, PartialEq)]
pub struct MappingFields {
    /// Display name, 1..=200 characters.
    pub name: String,
    /// Free text, at most 2000 characters.
    pub description: String,
    /// The contract's `mappings[]` element without `id`: a JSON object.
    pub body: Value,
}

/// A mapping to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMapping {
    /// Its id (the contract's rule).
    pub id: String,
    /// The rest.
    pub fields: MappingFields,
}

/// A mapping as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    /// Its id.
    pub id: String,
    /// Name, description, body.
    pub fields: MappingFields,
    /// Its version (the ETag).
    pub version: i64,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

impl Mapping {
    /// The mapping as the audit log records it.
    pub fn snapshot(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.fields.name,
            "description": self.fields.description,
            "body": self.fields.body,
            "version": self.version,
        })
    }
}

/// One effective managed configuration pushed to a connector.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigVersion {
    /// The connector.
    pub connector_id: String,
    /// Its number, from 1 per connector.
    pub n: i64,
    /// The configuration as pushed.
    pub config: Value,
    /// Who caused it.
    pub actor: String,
    /// When.
    pub created_at: Timestamp,
}

/// What the audit log records of a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    /// An entity was created.
    Create,
    /// An entity was changed.
    Update,
    /// An entity was deleted.
    Delete,
    /// A connector's mappings were linked anew.
    Link,
    /// A connector was set back to one of its configuration versions.
    Restore,
}

impl AuditAction {
    /// The name stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Link => "link",
            Self::Restore => "restore",
        }
    }
}

/// An audit row to write.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAudit<'a> {
    /// Who (the token's user).
    pub actor: &'a str,
    /// What was done.
    pub action: AuditAction,
    /// To what.
    pub entity: Entity,
    /// Its id.
    pub entity_id: &'a str,
    /// The entity before (`None` for a creation).
    pub before: Option<Value>,
    /// The entity after (`None` for a deletion).
    pub after: Option<Value>,
}

/// An audit row as stored. Action and entity are the stored names (a
/// later schema may add some).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// Its number, ascending in the order of the changes.
    pub id: i64,
    /// When (the start of the change's transaction).
    pub at: Timestamp,
    /// Who.
    pub actor: String,
    /// What was done (`create`, `update`, `delete`, `link`).
    pub action: String,
    /// To what (`connector`, `mapping`).
    pub entity: String,
    /// Its id.
    pub entity_id: String,
    /// The entity before.
    pub before: Option<Value>,
    /// The entity after.
    pub after: Option<Value>,
}

/// Which audit rows to read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AuditQuery {
    /// Only rows at or after this time.
    pub since: Option<Timestamp>,
    /// Only rows of this actor.
    pub actor: Option<String>,
    /// At most this many rows; `None`: every one.
    pub limit: Option<i64>,
    /// The newest first (the last `limit` rows) instead of the oldest.
    pub newest_first: bool,
}

/// A connector whose key in Valkey is still to be brought in line with the
/// database.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingPush {
    /// The connector (it may be deleted: then its key is to be removed).
    pub connector_id: String,
    /// Changes counted since the push became due; give it back to
    /// [`super::Db::push_done`].
    pub generation: i64,
    /// When the push became due.
    pub since: Timestamp,
    /// Failed attempts so far.
    pub attempts: i32,
    /// The last attempt's error.
    pub last_error: Option<String>,
}

/// A column of a row, or [`DbError::Internal`] naming it.
pub(super) fn column<'a, T: FromSql<'a>>(row: &'a Row, name: &str) -> Result<T, DbError> {
    row.try_get(name)
        .map_err(|e| DbError::internal(format!("column {name}: {e}")))
}

/// A `timestamptz` column.
pub(super) fn timestamp(row: &Row, name: &str) -> Result<Timestamp, DbError> {
    let t: SystemTime = column(row, name)?;
    Timestamp::try_from(t).map_err(|e| DbError::internal(format!("column {name}: {e}")))
}

/// The columns of [`Connector`], in the order of [`connector_from_row`].
pub(super) const CONNECTOR_COLUMNS: &str =
    "id, kind, name, description, enabled, settings, version, created_at, updated_at";

pub(super) fn connector_from_row(row: &Row) -> Result<Connector, DbError> {
    let kind: &str = column(row, "kind")?;
    Ok(Connector {
        id: column(row, "id")?,
        kind: kind.parse()?,
        fields: ConnectorFields {
            name: column(row, "name")?,
            description: column(row, "description")?,
            enabled: column(row, "enabled")?,
            settings: column(row, "settings")?,
        },
        version: column(row, "version")?,
        created_at: timestamp(row, "created_at")?,
        updated_at: timestamp(row, "updated_at")?,
    })
}

/// The columns of [`Mapping`], in the order of [`mapping_from_row`].
pub(super) const MAPPING_COLUMNS: &str =
    "id, name, description, body, version, created_at, updated_at";

pub(super) fn mapping_from_row(row: &Row) -> Result<Mapping, DbError> {
    Ok(Mapping {
        id: column(row, "id")?,
        fields: MappingFields {
            name: column(row, "name")?,
            description: column(row, "description")?,
            body: column(row, "body")?,
        },
        version: column(row, "version")?,
        created_at: timestamp(row, "created_at")?,
        updated_at: timestamp(row, "updated_at")?,
    })
}

pub(super) fn config_version_from_row(row: &Row) -> Result<ConfigVersion, DbError> {
    Ok(ConfigVersion {
        connector_id: column(row, "connector_id")?,
        n: column(row, "n")?,
        config: column(row, "config")?,
        actor: column(row, "actor")?,
        created_at: timestamp(row, "created_at")?,
    })
}

pub(super) fn audit_from_row(row: &Row) -> Result<AuditEntry, DbError> {
    Ok(AuditEntry {
        id: column(row, "id")?,
        at: timestamp(row, "at")?,
        actor: column(row, "actor")?,
        action: column(row, "action")?,
        entity: column(row, "entity")?,
        entity_id: column(row, "entity_id")?,
        before: column(row, "before")?,
        after: column(row, "after")?,
    })
}

pub(super) fn pending_from_row(row: &Row) -> Result<PendingPush, DbError> {
    Ok(PendingPush {
        connector_id: column(row, "connector_id")?,
        generation: column(row, "generation")?,
        since: timestamp(row, "since")?,
        attempts: column(row, "attempts")?,
        last_error: column(row, "last_error")?,
    })
}
