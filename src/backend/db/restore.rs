//! Setting a connector back to one of its configuration versions: its
//! settings, and for `mqtt` its links and the linked mappings' bodies as
//! they were in that version (a mapping since deleted is created again, one
//! since changed is changed back, which every connector linking it gets
//! too). One transaction, one audit row per entity changed.

use serde_json::{Map, Value};

use super::Db;
use super::connectors::{links_of, lock_connector};
use super::error::{DbError, Entity};
use super::history::write_audit;
use super::mappings::{replace_links, users_of};
use super::model::{
    AuditAction, CONNECTOR_COLUMNS, Connector, ConnectorKind, MAPPING_COLUMNS, NewAudit, column,
    connector_from_row, mapping_from_row,
};
use super::settle::{begin_write, settle};

/// A connector's snapshot with its links, for the audit log.
fn with_links(c: &Connector, links: &[String]) -> Value {
    let mut snapshot = c.snapshot();
    if let Value::Object(map) = &mut snapshot {
        map.insert(
            String::from("mappings"),
            Value::Array(links.iter().cloned().map(Value::String).collect()),
        );
    }
    snapshot
}

impl Db {
    /// Sets connector `id` back to its configuration version `n`, if it is
    /// still at version `expected` (`None`: whatever its version). The
    /// result is a new configuration version equal to `n`.
    pub async fn restore_version(
        &self,
        actor: &str,
        id: &str,
        n: i64,
        expected: Option<i64>,
    ) -> Result<Connector, DbError> {
        let mut client = self.client().await?;
        let tx = begin_write(&mut client).await?;
        let before = lock_connector(&tx, id, expected).await?;
        let links_before = links_of(&tx, id).await?;
        let row = tx
            .query_opt(
                "SELECT config FROM config_versions WHERE connector_id = $1 AND n = $2",
                &[&id, &n],
            )
            .await?
            .ok_or_else(|| DbError::NotFound {
                entity: Entity::ConfigVersion,
                id: format!("{id}/{n}"),
            })?;
        let config: Value = column(&row, "config")?;
        let mut settings: Map<String, Value> = match config {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let mut changed = vec![id.to_owned()];
        let mut links = Vec::new();
        if before.kind == ConnectorKind::Mqtt {
            let elements = match settings.remove("mappings") {
                Some(Value::Array(a)) => a,
                _ => Vec::new(),
            };
            for element in elements {
                let Value::Object(mut body) = element else {
                    continue;
                };
                let Some(Value::String(mapping)) = body.remove("id") else {
                    continue;
                };
                let body = Value::Object(body);
                let current = tx
                    .query_opt(
                        &format!("SELECT {MAPPING_COLUMNS} FROM mappings WHERE id = $1 FOR UPDATE"),
                        &[&mapping],
                    )
                    .await?;
                match current {
                    None => {
                        let row = tx
                            .query_one(
                                &format!(
                                    "INSERT INTO mappings (id, name, body) VALUES ($1, $1, $2) \
                                     RETURNING {MAPPING_COLUMNS}"
                                ),
                                &[&mapping, &body],
                            )
                            .await?;
                        let created = mapping_from_row(&row)?;
                        write_audit(
                            &tx,
                            &NewAudit {
                                actor,
                                action: AuditAction::Restore,
                                entity: Entity::Mapping,
                                entity_id: &mapping,
                                before: None,
                                after: Some(created.snapshot()),
                            },
                        )
                        .await?;
                    }
                    Some(row) => {
                        let was = mapping_from_row(&row)?;
                        if was.fields.body != body {
                            let row = tx
                                .query_one(
                                    &format!(
                                        "UPDATE mappings SET body = $2, version = version + 1, \
                                         updated_at = now() WHERE id = $1 RETURNING {MAPPING_COLUMNS}"
                                    ),
                                    &[&mapping, &body],
                                )
                                .await?;
                            let now = mapping_from_row(&row)?;
                            write_audit(
                                &tx,
                                &NewAudit {
                                    actor,
                                    action: AuditAction::Restore,
                                    entity: Entity::Mapping,
                                    entity_id: &mapping,
                                    before: Some(was.snapshot()),
                                    after: Some(now.snapshot()),
                                },
                            )
                            .await?;
                            changed.extend(users_of(&tx, &mapping).await?);
                        }
                    }
                }
                links.push(mapping);
            }
            replace_links(&tx, id, &links).await?;
        }
        let settings = Value::Object(settings);
        let row = tx
            .query_one(
                &format!(
                    "UPDATE connectors SET settings = $2, version = version + 1, updated_at = now() \
                     WHERE id = $1 RETURNING {CONNECTOR_COLUMNS}"
                ),
                &[&id, &settings],
            )
            .await?;
        let after = connector_from_row(&row)?;
        let links_after = links_of(&tx, id).await?;
        let mut after_snapshot = with_links(&after, &links_after);
        if let Value::Object(map) = &mut after_snapshot {
            map.insert(String::from("restored_from"), Value::from(n));
        }
        write_audit(
            &tx,
            &NewAudit {
                actor,
                action: AuditAction::Restore,
                entity: Entity::Connector,
                entity_id: id,
                before: Some(with_links(&before, &links_before)),
                after: Some(after_snapshot),
            },
        )
        .await?;
        changed.sort();
        changed.dedup();
        settle(&tx, actor, &changed).await?;
        tx.commit().await?;
        Ok(after)
    }
}
