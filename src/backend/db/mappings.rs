//! Mappings and the links of `mqtt` connectors to them: create, read,
//! list, update, delete, set and read the links, each change one
//! transaction with its audit row and the pending pushes of the connectors
//! it alters.

use std::collections::HashSet;

use serde_json::{Value, json};
use tokio_postgres::Transaction;

use super::connectors::{links_of, lock_connector};
use super::error::{Conflict, DbError, Entity};
use super::history::write_audit;
use super::model::{
    AuditAction, ConnectorKind, MAPPING_COLUMNS, Mapping, MappingFields, NewAudit, NewMapping,
    column, mapping_from_row,
};
use super::settle::{begin_write, settle};
use super::{Db, check_id, check_texts, check_version, row_of};
use crate::backend::policy;

/// Checks what a mapping's change sets: its texts, and its body as an
/// `mqtt` connector would check it.
fn check_fields(id: &str, fields: &MappingFields) -> Result<(), DbError> {
    check_texts(&fields.name, &fields.description)?;
    match &fields.body {
        Value::Object(map) if map.contains_key("id") => Err(DbError::invalid(
            "id",
            "is the mapping's own id, not part of its body",
        )),
        Value::Object(_) => policy::check_mapping(&policy::mapping_element(id, &fields.body))
            .map_err(|r| DbError::invalid(r.field, r.message)),
        _ => Err(DbError::invalid("body", "must be a JSON object")),
    }
}

/// The mapping, locked for the rest of the transaction, checked against
/// the version expected.
pub(super) async fn lock_mapping(
    tx: &Transaction<'_>,
    id: &str,
    expected: Option<i64>,
) -> Result<Mapping, DbError> {
    let row = row_of(
        tx,
        &format!("SELECT {MAPPING_COLUMNS} FROM mappings WHERE id = $1 FOR UPDATE"),
        Entity::Mapping,
        id,
    )
    .await?;
    let current = mapping_from_row(&row)?;
    check_version(Entity::Mapping, id, current.version, expected)?;
    Ok(current)
}

/// The connectors linking a mapping, sorted.
pub(super) async fn users_of(tx: &Transaction<'_>, mapping: &str) -> Result<Vec<String>, DbError> {
    let rows = tx
        .query(
            "SELECT connector_id FROM connector_mappings WHERE mapping_id = $1 \
             ORDER BY connector_id",
            &[&mapping],
        )
        .await?;
    rows.iter().map(|r| column(r, "connector_id")).collect()
}

/// Makes `mappings`, in this order, the links of `connector`.
pub(super) async fn replace_links(
    tx: &Transaction<'_>,
    connector: &str,
    mappings: &[String],
) -> Result<(), DbError> {
    tx.execute(
        "DELETE FROM connector_mappings WHERE connector_id = $1",
        &[&connector],
    )
    .await?;
    tx.execute(
        "INSERT INTO connector_mappings (connector_id, mapping_id, position) \
         SELECT $1, m.id, (m.n - 1)::integer FROM unnest($2::text[]) WITH ORDINALITY AS m(id, n)",
        &[&connector, &mappings],
    )
    .await?;
    Ok(())
}

/// The links as the audit log records them.
fn links_snapshot(ids: &[String]) -> Value {
    json!({ "mappings": ids })
}

impl Db {
    /// Creates a mapping (version 1). It alters no connector until linked.
    pub async fn create_mapping(&self, actor: &str, new: &NewMapping) -> Result<Mapping, DbError> {
        check_id(&new.id)?;
        check_fields(&new.id, &new.fields)?;
        let mut client = self.client().await?;
        let tx = begin_write(&mut client).await?;
        let f = &new.fields;
        let row = tx
            .query_opt(
                &format!(
                    "INSERT INTO mappings (id, name, description, body) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (id) DO NOTHING RETURNING {MAPPING_COLUMNS}"
                ),
                &[&new.id, &f.name, &f.description, &f.body],
            )
            .await?
            .ok_or_else(|| {
                DbError::Conflict(Conflict::Exists {
                    entity: Entity::Mapping,
                    id: new.id.clone(),
                })
            })?;
        let created = mapping_from_row(&row)?;
        write_audit(
            &tx,
            &NewAudit {
                actor,
                action: AuditAction::Create,
                entity: Entity::Mapping,
                entity_id: &created.id,
                before: None,
                after: Some(created.snapshot()),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(created)
    }

    /// One mapping.
    pub async fn get_mapping(&self, id: &str) -> Result<Mapping, DbError> {
        let client = self.client().await?;
        let row = row_of(
            &**client,
            &format!("SELECT {MAPPING_COLUMNS} FROM mappings WHERE id = $1"),
            Entity::Mapping,
            id,
        )
        .await?;
        mapping_from_row(&row)
    }

    /// Every mapping, by id.
    pub async fn list_mappings(&self) -> Result<Vec<Mapping>, DbError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!("SELECT {MAPPING_COLUMNS} FROM mappings ORDER BY id"),
                &[],
            )
            .await?;
        rows.iter().map(mapping_from_row).collect()
    }

    /// Sets a mapping's name, description and body, if it is still at
    /// version `expected` (`None`: whatever its version); every connector
    /// linking it gets a pending push. The same values again change
    /// nothing.
    pub async fn update_mapping(
        &self,
        actor: &str,
        id: &str,
        expected: Option<i64>,
        fields: &MappingFields,
    ) -> Result<Mapping, DbError> {
        check_fields(id, fields)?;
        let mut client = self.client().await?;
        let tx = begin_write(&mut client).await?;
        let before = lock_mapping(&tx, id, expected).await?;
        if before.fields == *fields {
            return Ok(before);
        }
        let row = tx
            .query_one(
                &format!(
                    "UPDATE mappings SET name = $2, description = $3, body = $4, \
                     version = version + 1, updated_at = now() \
                     WHERE id = $1 RETURNING {MAPPING_COLUMNS}"
                ),
                &[&id, &fields.name, &fields.description, &fields.body],
            )
            .await?;
        let after = mapping_from_row(&row)?;
        write_audit(
            &tx,
            &NewAudit {
                actor,
                action: AuditAction::Update,
                entity: Entity::Mapping,
                entity_id: id,
                before: Some(before.snapshot()),
                after: Some(after.snapshot()),
            },
        )
        .await?;
        settle(&tx, actor, &users_of(&tx, id).await?).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Deletes a mapping, if it is still at version `expected` (`None`:
    /// whatever its version) and no connector links it
    /// ([`Conflict::InUse`] names those that do).
    pub async fn delete_mapping(
        &self,
        actor: &str,
        id: &str,
        expected: Option<i64>,
    ) -> Result<Mapping, DbError> {
        let mut client = self.client().await?;
        let tx = begin_write(&mut client).await?;
        let before = lock_mapping(&tx, id, expected).await?;
        let users = users_of(&tx, id).await?;
        if !users.is_empty() {
            return Err(DbError::Conflict(Conflict::InUse {
                mapping: id.to_owned(),
                connectors: users,
            }));
        }
        tx.execute("DELETE FROM mappings WHERE id = $1", &[&id])
            .await?;
        write_audit(
            &tx,
            &NewAudit {
                actor,
                action: AuditAction::Delete,
                entity: Entity::Mapping,
                entity_id: id,
                before: Some(before.snapshot()),
                after: None,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(before)
    }

    /// The ids of the mappings linked to a connector, in order.
    pub async fn get_links(&self, connector: &str) -> Result<Vec<String>, DbError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let exists = tx
            .query_opt("SELECT 1 FROM connectors WHERE id = $1", &[&connector])
            .await?;
        if exists.is_none() {
            return Err(DbError::NotFound {
                entity: Entity::Connector,
                id: connector.to_owned(),
            });
        }
        let links = links_of(&tx, connector).await?;
        tx.commit().await?;
        Ok(links)
    }

    /// Links an `mqtt` connector to exactly these mappings, in this order,
    /// if it is still at version `expected` (`None`: whatever its version).
    /// A change makes the connector's version one more, writes an audit
    /// row (action `link`) and a pending push; the same list again changes
    /// nothing. Returns the links and the connector's version.
    pub async fn set_links(
        &self,
        actor: &str,
        connector: &str,
        expected: Option<i64>,
        mappings: &[String],
    ) -> Result<(Vec<String>, i64), DbError> {
        let mut seen = HashSet::with_capacity(mappings.len());
        for (i, id) in mappings.iter().enumerate() {
            if !seen.insert(id.as_str()) {
                return Err(DbError::invalid(
                    format!("mappings[{i}]"),
                    format!("{id:?} is listed twice"),
                ));
            }
        }
        let mut client = self.client().await?;
        let tx = begin_write(&mut client).await?;
        let current = lock_connector(&tx, connector, expected).await?;
        if current.kind != ConnectorKind::Mqtt {
            return Err(DbError::invalid(
                "mappings",
                format!(
                    "only mqtt connectors have mappings; {connector:?} is {}",
                    current.kind
                ),
            ));
        }
        let before = links_of(&tx, connector).await?;
        if before == mappings {
            return Ok((before, current.version));
        }
        // The mappings are locked against deletion until the commit.
        let found: HashSet<String> = tx
            .query(
                "SELECT id FROM mappings WHERE id = ANY($1) FOR SHARE",
                &[&mappings],
            )
            .await?
            .iter()
            .map(|r| column(r, "id"))
            .collect::<Result<_, _>>()?;
        if let Some((i, id)) = mappings
            .iter()
            .enumerate()
            .find(|(_, m)| !found.contains(*m))
        {
            return Err(DbError::invalid(
                format!("mappings[{i}]"),
                format!("no mapping {id:?}"),
            ));
        }
        replace_links(&tx, connector, mappings).await?;
        let row = tx
            .query_one(
                "UPDATE connectors SET version = version + 1, updated_at = now() \
                 WHERE id = $1 RETURNING version",
                &[&connector],
            )
            .await?;
        let version: i64 = column(&row, "version")?;
        write_audit(
            &tx,
            &NewAudit {
                actor,
                action: AuditAction::Link,
                entity: Entity::Connector,
                entity_id: connector,
                before: Some(links_snapshot(&before)),
                after: Some(links_snapshot(mappings)),
            },
        )
        .await?;
        settle(&tx, actor, &[connector.to_owned()]).await?;
        tx.commit().await?;
        Ok((mappings.to_vec(), version))
    }
}
