//! The end of every change, in its transaction: the effective managed
//! configuration of each connector the change touched is composed again
//! from the rows, checked ([`crate::backend::policy`]: the role's own
//! rules, one owner per address), recorded as a new configuration version
//! when it differs from the last, and marked to be pushed.
//!
//! ```text
//! begin_write ─ pg_advisory_xact_lock(WRITE_LOCK): changes one after another
//!   └─ the change (rows, audit) ─► settle(changed):
//!        load every connector, its links and the linked mappings ─► compose
//!        ─► settings shape of the changed ─► conflicts over the enabled ones (409)
//!        ─► the role's check of the changed (422) ─► config_versions (n+1 when different)
//!        ─► push_outbox
//! ```
//!
//! Changes are serialised by one transaction-scoped advisory lock: the
//! owner check reads every connector, so two changes that are each fine
//! alone cannot both commit a second owner. Writes are rare; reads never
//! take the lock.

use std::collections::HashMap;

use serde_json::Value;
use tokio_postgres::Transaction;

use super::error::{Conflict, DbError};
use super::history::enqueue_push;
use super::model::{CONNECTOR_COLUMNS, ConfigVersion, Connector, column, connector_from_row};
use super::{Db, Object};
use crate::backend::policy::{self, Claim, Refused};

/// The advisory lock every change holds until its commit.
const WRITE_LOCK: i64 = 0x616c_702d_7772_6974; // "alp-writ"

/// A transaction holding the write lock.
pub(super) async fn begin_write(
    client: &mut Object,
) -> Result<deadpool_postgres::Transaction<'_>, DbError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
        .await?;
    Ok(tx)
}

/// A connector with its links and its effective configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Composed {
    /// The connector.
    pub connector: Connector,
    /// The ids of its linked mappings, in order.
    pub links: Vec<String>,
    /// Its effective managed configuration.
    pub config: Value,
}

/// Every connector composed, by id.
async fn compose_all(
    client: &impl tokio_postgres::GenericClient,
) -> Result<Vec<Composed>, DbError> {
    let connectors = client
        .query(
            &format!("SELECT {CONNECTOR_COLUMNS} FROM connectors ORDER BY id"),
            &[],
        )
        .await?;
    let links = client
        .query(
            "SELECT l.connector_id, l.mapping_id, m.body FROM connector_mappings l \
             JOIN mappings m ON m.id = l.mapping_id ORDER BY l.connector_id, l.position",
            &[],
        )
        .await?;
    let mut linked: HashMap<String, Vec<(String, Value)>> = HashMap::new();
    for row in &links {
        let connector: String = column(row, "connector_id")?;
        linked
            .entry(connector)
            .or_default()
            .push((column(row, "mapping_id")?, column(row, "body")?));
    }
    connectors
        .iter()
        .map(|row| {
            let connector = connector_from_row(row)?;
            let mappings = linked.remove(&connector.id).unwrap_or_default();
            let config = policy::compose(connector.kind, &connector.fields.settings, &mappings);
            Ok(Composed {
                links: mappings.into_iter().map(|(id, _)| id).collect(),
                connector,
                config,
            })
        })
        .collect()
}

/// The claims of every enabled connector.
fn all_claims(all: &[Composed]) -> Vec<Claim> {
    all.iter()
        .filter(|c| c.connector.fields.enabled)
        .flat_map(|c| policy::claims(c.connector.kind, &c.connector.id, &c.config))
        .collect()
}

fn invalid(r: Refused) -> DbError {
    DbError::Invalid {
        field: r.field,
        message: r.message,
    }
}

/// Checks, versions and marks for pushing the connectors in `changed`
/// (deleted ones only get their push, which removes their key).
pub(super) async fn settle(
    tx: &Transaction<'_>,
    actor: &str,
    changed: &[String],
) -> Result<(), DbError> {
    let all = compose_all(tx).await?;
    let touched: Vec<&Composed> = all
        .iter()
        .filter(|c| changed.contains(&c.connector.id))
        .collect();
    for c in &touched {
        policy::check_settings_shape(c.connector.kind, &c.connector.fields.settings)
            .map_err(invalid)?;
    }
    if let Some(conflict) = policy::conflicts(&all_claims(&all), changed) {
        return Err(DbError::Conflict(Conflict::Owner(Box::new(conflict))));
    }
    for c in &touched {
        policy::check(c.connector.kind, &c.connector.id, &c.config, &c.links).map_err(invalid)?;
        record_version(tx, &c.connector.id, &c.config, actor).await?;
    }
    let mut ids: Vec<&String> = changed.iter().collect();
    ids.sort();
    ids.dedup();
    for id in ids {
        enqueue_push(tx, id).await?;
    }
    Ok(())
}

/// Appends `config` as the connector's next version unless it equals the
/// last one.
async fn record_version(
    tx: &Transaction<'_>,
    connector: &str,
    config: &Value,
    actor: &str,
) -> Result<(), DbError> {
    let last = tx
        .query_opt(
            "SELECT config FROM config_versions WHERE connector_id = $1 ORDER BY n DESC LIMIT 1",
            &[&connector],
        )
        .await?;
    if let Some(row) = last {
        let last: Value = column(&row, "config")?;
        if last == *config {
            return Ok(());
        }
    }
    tx.execute(
        "INSERT INTO config_versions (connector_id, n, config, actor) \
         SELECT $1, COALESCE(max(n), 0) + 1, $2, $3 FROM config_versions WHERE connector_id = $1",
        &[&connector, config, &actor],
    )
    .await?;
    Ok(())
}

impl Db {
    /// Every connector with its links and effective configuration, by id.
    pub async fn composed(&self) -> Result<Vec<Composed>, DbError> {
        let client = self.client().await?;
        compose_all(&**client).await
    }

    /// Who owns which addresses: the claims of every enabled connector,
    /// ordered by address.
    pub async fn addresses(&self) -> Result<Vec<Claim>, DbError> {
        let mut claims = all_claims(&self.composed().await?);
        claims.sort();
        Ok(claims)
    }

    /// The last configuration version of a connector, if any.
    pub async fn last_config_version(
        &self,
        connector: &str,
    ) -> Result<Option<ConfigVersion>, DbError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT connector_id, n, config, actor, created_at FROM config_versions \
                 WHERE connector_id = $1 ORDER BY n DESC LIMIT 1",
                &[&connector],
            )
            .await?;
        row.as_ref()
            .map(super::model::config_version_from_row)
            .transpose()
    }

    /// What a connector's key in Valkey is to hold: its last configuration
    /// version when it exists and is enabled, `None` (no key) otherwise.
    pub async fn push_target(&self, connector: &str) -> Result<Option<Value>, DbError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT v.config FROM connectors c JOIN config_versions v ON v.connector_id = c.id \
                 WHERE c.id = $1 AND c.enabled ORDER BY v.n DESC LIMIT 1",
                &[&connector],
            )
            .await?;
        row.as_ref().map(|r| column(r, "config")).transpose()
    }

    /// The ids of every connector (the reconciliation's list).
    pub async fn connector_ids(&self) -> Result<Vec<String>, DbError> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT id FROM connectors ORDER BY id", &[])
            .await?;
        rows.iter().map(|r| column(r, "id")).collect()
    }
}
