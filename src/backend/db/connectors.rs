//! Connectors: create, read, list, update, delete, each change one
//! transaction with its audit row and its pending push.

use serde_json::Value;
use tokio_postgres::Transaction;

use super::error::{Conflict, DbError, Entity};
use super::history::write_audit;
use super::model::{
    AuditAction, CONNECTOR_COLUMNS, Connector, ConnectorFields, NewAudit, NewConnector,
    connector_from_row,
};
use super::settle::{begin_write, settle};
use super::{Db, check_id, check_texts, check_version, row_of};

/// Checks what a connector's change sets.
fn check_fields(fields: &ConnectorFields) -> Result<(), DbError> {
    check_texts(&fields.name, &fields.description)?;
    if !fields.settings.is_object() {
        return Err(DbError::invalid("settings", "must be a JSON object"));
    }
    Ok(())
}

/// The connector, locked for the rest of the transaction, checked against
/// the version expected.
pub(super) async fn lock_connector(
    tx: &Transaction<'_>,
    id: &str,
    expected: Option<i64>,
) -> Result<Connector, DbError> {
    let row = row_of(
        tx,
        &format!("SELECT {CONNECTOR_COLUMNS} FROM connectors WHERE id = $1 FOR UPDATE"),
        Entity::Connector,
        id,
    )
    .await?;
    let current = connector_from_row(&row)?;
    check_version(Entity::Connector, id, current.version, expected)?;
    Ok(current)
}

/// The ids of the mappings linked to a connector, in order.
pub(super) async fn links_of(tx: &Transaction<'_>, id: &str) -> Result<Vec<String>, DbError> {
    let rows = tx
        .query(
            "SELECT mapping_id FROM connector_mappings WHERE connector_id = $1 ORDER BY position",
            &[&id],
        )
        .await?;
    rows.iter()
        .map(|r| super::model::column(r, "mapping_id"))
        .collect()
}

impl Db {
    /// Creates a connector (version 1).
    pub async fn create_connector(
        &self,
        actor: &str,
        new: &NewConnector,
    ) -> Result<Connector, DbError> {
        check_id(&new.id)?;
        check_fields(&new.fields)?;
        let mut client = self.client().await?;
        let tx = begin_write(&mut client).await?;
        let f = &new.fields;
        let row = tx
            .query_opt(
                &format!(
                    "INSERT INTO connectors (id, kind, name, description, enabled, settings) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING \
                     RETURNING {CONNECTOR_COLUMNS}"
                ),
                &[
                    &new.id,
                    &new.kind.as_str(),
                    &f.name,
                    &f.description,
                    &f.enabled,
                    &f.settings,
                ],
            )
            .await?
            .ok_or_else(|| {
                DbError::Conflict(Conflict::Exists {
                    entity: Entity::Connector,
                    id: new.id.clone(),
                })
            })?;
        let created = connector_from_row(&row)?;
        write_audit(
            &tx,
            &NewAudit {
                actor,
                action: AuditAction::Create,
                entity: Entity::Connector,
                entity_id: &created.id,
                before: None,
                after: Some(created.snapshot()),
            },
        )
        .await?;
        settle(&tx, actor, std::slice::from_ref(&created.id)).await?;
        tx.commit().await?;
        Ok(created)
    }

    /// One connector.
    pub async fn get_connector(&self, id: &str) -> Result<Connector, DbError> {
        let client = self.client().await?;
        let row = row_of(
            &**client,
            &format!("SELECT {CONNECTOR_COLUMNS} FROM connectors WHERE id = $1"),
            Entity::Connector,
            id,
        )
        .await?;
        connector_from_row(&row)
    }

    /// Every connector, by id.
    pub async fn list_connectors(&self) -> Result<Vec<Connector>, DbError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!("SELECT {CONNECTOR_COLUMNS} FROM connectors ORDER BY id"),
                &[],
            )
            .await?;
        rows.iter().map(connector_from_row).collect()
    }

    /// Sets a connector's name, description, enabled and settings, if it is
    /// still at version `expected` (`None`: whatever its version). The
    /// same values again change nothing (no new version, no audit row, no
    /// push).
    pub async fn update_connector(
        &self,
        actor: &str,
        id: &str,
        expected: Option<i64>,
        fields: &ConnectorFields,
    ) -> Result<Connector, DbError> {
        check_fields(fields)?;
        let mut client = self.client().await?;
        let tx = begin_write(&mut client).await?;
        let before = lock_connector(&tx, id, expected).await?;
        if before.fields == *fields {
            return Ok(before);
        }
        let row = tx
            .query_one(
                &format!(
                    "UPDATE connectors SET name = $2, description = $3, enabled = $4, \
                     settings = $5, version = version + 1, updated_at = now() \
                     WHERE id = $1 RETURNING {CONNECTOR_COLUMNS}"
                ),
                &[
                    &id,
                    &fields.name,
                    &fields.description,
                    &fields.enabled,
                    &fields.settings,
                ],
            )
            .await?;
        let after = connector_from_row(&row)?;
        write_audit(
            &tx,
            &NewAudit {
                actor,
                action: AuditAction::Update,
                entity: Entity::Connector,
                entity_id: id,
                before: Some(before.snapshot()),
                after: Some(after.snapshot()),
            },
        )
        .await?;
        settle(&tx, actor, &[id.to_owned()]).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Deletes a connector, if it is still at version `expected` (`None`:
    /// whatever its version), with its links and its configuration
    /// versions; its key is to be removed (a pending push). The audit row's
    /// `before` holds the connector and its linked mappings.
    pub async fn delete_connector(
        &self,
        actor: &str,
        id: &str,
        expected: Option<i64>,
    ) -> Result<Connector, DbError> {
        let mut client = self.client().await?;
        let tx = begin_write(&mut client).await?;
        let before = lock_connector(&tx, id, expected).await?;
        let links = links_of(&tx, id).await?;
        tx.execute("DELETE FROM connectors WHERE id = $1", &[&id])
            .await?;
        let mut snapshot = before.snapshot();
        if let Value::Object(map) = &mut snapshot {
            map.insert(
                String::from("mappings"),
                Value::Array(links.into_iter().map(Value::String).collect()),
            );
        }
        write_audit(
            &tx,
            &NewAudit {
                actor,
                action: AuditAction::Delete,
                entity: Entity::Connector,
                entity_id: id,
                before: Some(snapshot),
                after: None,
            },
        )
        .await?;
        settle(&tx, actor, &[id.to_owned()]).await?;
        tx.commit().await?;
        Ok(before)
    }
}
