//! What the backend keeps besides the entities: the configurations pushed
//! to each connector (`config_versions`), the audit log (`audit`) and the
//! pushes still to make (`push_outbox`).

use serde_json::Value;
use tokio_postgres::Transaction;

use super::Db;
use super::error::{DbError, Entity};
use super::model::{
    AuditEntry, AuditQuery, ConfigVersion, NewAudit, PendingPush, audit_from_row, column,
    config_version_from_row, pending_from_row,
};

/// Writes one audit row in the change's transaction; returns its id.
pub(super) async fn write_audit(tx: &Transaction<'_>, a: &NewAudit<'_>) -> Result<i64, DbError> {
    let row = tx
        .query_one(
            "INSERT INTO audit (actor, action, entity, entity_id, before, after) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[
                &a.actor,
                &a.action.as_str(),
                &a.entity.as_str(),
                &a.entity_id,
                &a.before,
                &a.after,
            ],
        )
        .await?;
    column(&row, "id")
}

/// Marks a connector's key as to be pushed, in the change's transaction: a
/// new row, or one more generation of a pending one (its `since` and
/// attempts kept).
pub(super) async fn enqueue_push(tx: &Transaction<'_>, connector: &str) -> Result<(), DbError> {
    tx.execute(
        "INSERT INTO push_outbox (connector_id) VALUES ($1) \
         ON CONFLICT (connector_id) DO UPDATE SET generation = push_outbox.generation + 1",
        &[&connector],
    )
    .await?;
    Ok(())
}

const CONFIG_VERSION_COLUMNS: &str = "connector_id, n, config, actor, created_at";
const AUDIT_COLUMNS: &str = "id, at, actor, action, entity, entity_id, before, after";
const PENDING_COLUMNS: &str = "connector_id, generation, since, attempts, last_error";

impl Db {
    /// Records the effective managed configuration pushed to a connector,
    /// numbered one more than the last.
    pub async fn append_config_version(
        &self,
        connector: &str,
        config: &Value,
        actor: &str,
    ) -> Result<ConfigVersion, DbError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // The connector's row lock orders two appends of one connector.
        let locked = tx
            .query_opt(
                "SELECT 1 FROM connectors WHERE id = $1 FOR UPDATE",
                &[&connector],
            )
            .await?;
        if locked.is_none() {
            return Err(DbError::NotFound {
                entity: Entity::Connector,
                id: connector.to_owned(),
            });
        }
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO config_versions (connector_id, n, config, actor) \
                     SELECT $1, COALESCE(max(n), 0) + 1, $2, $3 FROM config_versions \
                     WHERE connector_id = $1 RETURNING {CONFIG_VERSION_COLUMNS}"
                ),
                &[&connector, config, &actor],
            )
            .await?;
        let version = config_version_from_row(&row)?;
        tx.commit().await?;
        Ok(version)
    }

    /// One configuration pushed to a connector.
    pub async fn get_config_version(
        &self,
        connector: &str,
        n: i64,
    ) -> Result<ConfigVersion, DbError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT {CONFIG_VERSION_COLUMNS} FROM config_versions \
                     WHERE connector_id = $1 AND n = $2"
                ),
                &[&connector, &n],
            )
            .await?
            .ok_or_else(|| DbError::NotFound {
                entity: Entity::ConfigVersion,
                id: format!("{connector}/{n}"),
            })?;
        config_version_from_row(&row)
    }

    /// Every configuration pushed to a connector, the newest first.
    pub async fn list_config_versions(
        &self,
        connector: &str,
    ) -> Result<Vec<ConfigVersion>, DbError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {CONFIG_VERSION_COLUMNS} FROM config_versions \
                     WHERE connector_id = $1 ORDER BY n DESC"
                ),
                &[&connector],
            )
            .await?;
        rows.iter().map(config_version_from_row).collect()
    }

    /// Writes one audit row of its own (for an action that changes no
    /// entity); the changes write theirs in their own transaction.
    pub async fn append_audit(&self, entry: &NewAudit<'_>) -> Result<i64, DbError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let id = write_audit(&tx, entry).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The audit rows asked for, the oldest first (the newest first when
    /// the query says so).
    pub async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, DbError> {
        let since = query
            .since
            .map(std::time::SystemTime::try_from)
            .transpose()
            .map_err(|e| DbError::invalid("since", format!("out of range: {e}")))?;
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {AUDIT_COLUMNS} FROM audit \
                     WHERE ($1::timestamptz IS NULL OR at >= $1) AND ($2::text IS NULL OR actor = $2) \
                     ORDER BY id {} LIMIT $3",
                    if query.newest_first { "DESC" } else { "ASC" }
                ),
                &[&since, &query.actor, &query.limit],
            )
            .await?;
        rows.iter().map(audit_from_row).collect()
    }

    /// Marks a connector's key as to be pushed (the reconciliation at
    /// start, a restore) outside a change.
    pub async fn enqueue_push(&self, connector: &str) -> Result<(), DbError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        enqueue_push(&tx, connector).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Up to `limit` pending pushes, the longest waiting first. They stay
    /// pending until [`Db::push_done`].
    pub async fn take_pushes(&self, limit: i64) -> Result<Vec<PendingPush>, DbError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {PENDING_COLUMNS} FROM push_outbox \
                     ORDER BY since, connector_id LIMIT $1"
                ),
                &[&limit],
            )
            .await?;
        rows.iter().map(pending_from_row).collect()
    }

    /// Ends a pending push made for `generation`; a change since (a higher
    /// generation) keeps it pending. Returns whether it ended.
    pub async fn push_done(&self, connector: &str, generation: i64) -> Result<bool, DbError> {
        let client = self.client().await?;
        let n = client
            .execute(
                "DELETE FROM push_outbox WHERE connector_id = $1 AND generation = $2",
                &[&connector, &generation],
            )
            .await?;
        Ok(n == 1)
    }

    /// Records a failed attempt of a pending push.
    pub async fn push_failed(&self, connector: &str, error: &str) -> Result<(), DbError> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE push_outbox SET attempts = attempts + 1, last_error = $2 \
                 WHERE connector_id = $1",
                &[&connector, &error],
            )
            .await?;
        Ok(())
    }

    /// How many pushes are pending.
    pub async fn pending_pushes(&self) -> Result<i64, DbError> {
        let client = self.client().await?;
        let row = client
            .query_one("SELECT count(*) AS n FROM push_outbox", &[])
            .await?;
        column(&row, "n")
    }

    /// The pending push of a connector, if any.
    pub async fn pending_push(&self, connector: &str) -> Result<Option<PendingPush>, DbError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {PENDING_COLUMNS} FROM push_outbox WHERE connector_id = $1"),
                &[&connector],
            )
            .await?;
        row.as_ref().map(pending_from_row).transpose()
    }
}
