//! The backend's PostgreSQL side: the connection pool, the schema
//! migrations embedded in the binary, and the repository, the only code
//! that writes SQL. The rest of the backend gets typed operations on
//! [`Db`] and typed errors ([`DbError`]).
//!
//! ```text
//! DatabaseSettings ─► Db::new: deadpool pool over tokio-postgres (NoTls), no I/O yet
//!        Db::migrate: pg_advisory_lock ─► refinery runner (migrations/V*.sql) ─► unlock
//!        Db::schema_version: max(version) of refinery_schema_history
//!
//! API ─► Db::create_connector / update_connector / delete_connector / set_links /
//!        create_mapping / update_mapping / delete_mapping
//!          one transaction each:  the change ─► audit row (before, after)
//!                                             ─► push_outbox row of each connector
//!                                                whose configuration it alters
//! pusher ─► take_pushes ─► (Valkey) ─► push_done(generation) / push_failed
//! ```
//!
//! Every change is one transaction, so a change, its audit row and its
//! pending push are committed together or not at all: a Valkey outage loses
//! no push, a failed change leaves no audit row. Versions are optimistic
//! locks: an update names the version it read and gets
//! [`DbError::Stale`] with the current one when the row moved on.
//!
//! - [`model`]: the rows as typed values.
//! - [`error`]: [`DbError`], mapped from SQLSTATEs and pool errors.
//! - `connectors`, `mappings`, `history` (config versions, audit, outbox):
//!   the operations, as methods of [`Db`].

mod connectors;
pub mod error;
mod history;
mod mappings;
pub mod model;
mod restore;
mod settle;

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use super::config::DatabaseSettings;
use crate::config::common::{id_allowed, is_valid_id};

pub use error::{Conflict, DbError, Entity};
pub use model::{
    AuditAction, AuditEntry, AuditQuery, ConfigVersion, Connector, ConnectorFields, ConnectorKind,
    Mapping, MappingFields, NewAudit, NewConnector, NewMapping, PendingPush,
};
pub use settle::Composed;

mod embedded {
    refinery::embed_migrations!("src/backend/migrations");
}

/// Longest wait for a free connection of the pool.
pub const POOL_WAIT: Duration = Duration::from_secs(5);
/// Longest check of a pooled connection before it is handed out again.
pub const POOL_RECYCLE: Duration = Duration::from_secs(2);
/// The advisory lock held while migrating, so that two backends starting
/// together do not apply the same migration twice.
const MIGRATION_LOCK: i64 = 0x616c_702d_6d69_6772; // "alp-migr"
/// Display names and descriptions, characters.
pub const NAME_MAX_CHARS: usize = 200;
/// Descriptions, characters.
pub const DESCRIPTION_MAX_CHARS: usize = 2000;

/// The newest schema version this binary knows (its last migration).
pub fn latest_schema_version() -> i64 {
    embedded::migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| i64::from(m.version()))
        .max()
        .unwrap_or(0)
}

/// One migration applied by [`Db::migrate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Its version.
    pub version: i64,
    /// Its name (`initial` of `V1__initial.sql`).
    pub name: String,
}

/// The database: a pool of connections and the operations on it. Cheap to
/// clone (the pool is shared).
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    target: String,
}

impl core::fmt::Debug for Db {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Db")
            .field("target", &self.target)
            .field("status", &self.pool.status())
            .finish()
    }
}

impl Db {
    /// The pool of the settings; connects to nothing yet.
    pub fn new(settings: &DatabaseSettings) -> Result<Self, DbError> {
        let manager = Manager::from_config(
            settings.connection.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(settings.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(settings.connect_timeout))
            .recycle_timeout(Some(POOL_RECYCLE))
            .build()
            .map_err(DbError::internal)?;
        Ok(Self {
            pool,
            target: settings.target(),
        })
    }

    /// `host:port` of the server, for messages.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// A connection of the pool.
    async fn client(&self) -> Result<Object, DbError> {
        Ok(self.pool.get().await?)
    }

    /// Whether the server answers (`SELECT 1`).
    pub async fn ping(&self) -> Result<(), DbError> {
        self.client().await?.simple_query("SELECT 1").await?;
        Ok(())
    }

    /// Applies the migrations not applied yet, holding an advisory lock
    /// meanwhile; returns those applied now.
    pub async fn migrate(&self) -> Result<Vec<Applied>, DbError> {
        let mut object = self.client().await?;
        let client: &mut tokio_postgres::Client = &mut object;
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        let result = embedded::migrations::runner().run_async(client).await;
        // The lock ends with the session anyway; an unlock that fails
        // (connection lost) leaves nothing held.
        let _ = client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .await;
        let report = result.map_err(migration_error)?;
        Ok(report
            .applied_migrations()
            .iter()
            .map(|m| Applied {
                version: i64::from(m.version()),
                name: m.name().to_owned(),
            })
            .collect())
    }

    /// The schema version applied (`None` before the first migration).
    pub async fn schema_version(&self) -> Result<Option<i64>, DbError> {
        let client = self.client().await?;
        let exists = client
            .query_one(
                "SELECT to_regclass('refinery_schema_history') IS NOT NULL AS present",
                &[],
            )
            .await?;
        if !model::column::<bool>(&exists, "present")? {
            return Ok(None);
        }
        let row = client
            .query_one(
                "SELECT max(version)::bigint AS version FROM refinery_schema_history",
                &[],
            )
            .await?;
        model::column(&row, "version")
    }

    /// Closes the pool: connections in use are closed when given back.
    pub fn close(&self) {
        self.pool.close();
    }
}

/// A refinery error: the database going away is [`DbError::Unavailable`]
/// (tried again), anything else a [`DbError::Migration`].
fn migration_error(e: refinery::Error) -> DbError {
    if let refinery::error::Kind::Connection(_, source) = e.kind()
        && let Some(pg) = source.downcast_ref::<tokio_postgres::Error>()
        && let unavailable @ DbError::Unavailable { .. } = error::classify(pg)
    {
        return unavailable;
    }
    DbError::Migration {
        reason: e.to_string(),
    }
}

/// The row `sql` selects with `id` as `$1`, or [`DbError::NotFound`].
async fn row_of(
    client: &impl tokio_postgres::GenericClient,
    sql: &str,
    entity: Entity,
    id: &str,
) -> Result<tokio_postgres::Row, DbError> {
    client
        .query_opt(sql, &[&id])
        .await?
        .ok_or_else(|| DbError::NotFound {
            entity,
            id: id.to_owned(),
        })
}

/// [`DbError::Stale`] when the entity is not at the version `expected`
/// (`None`: any version will do).
fn check_version(
    entity: Entity,
    id: &str,
    current: i64,
    expected: Option<i64>,
) -> Result<(), DbError> {
    match expected {
        Some(v) if v != current => Err(DbError::Stale {
            entity,
            id: id.to_owned(),
            current,
        }),
        _ => Ok(()),
    }
}

/// Checks an entity id against the contract's rule.
fn check_id(id: &str) -> Result<(), DbError> {
    if is_valid_id(id) {
        Ok(())
    } else {
        Err(DbError::invalid(
            "id",
            format!("{id:?}: must be {}", id_allowed()),
        ))
    }
}

/// Checks a display name and a description (PostgreSQL's text takes no
/// NUL character).
fn check_texts(name: &str, description: &str) -> Result<(), DbError> {
    for (field, text) in [("name", name), ("description", description)] {
        if text.contains('\0') {
            return Err(DbError::invalid(field, "must not contain a NUL character"));
        }
    }
    let chars = name.chars().count();
    if chars == 0 || chars > NAME_MAX_CHARS {
        return Err(DbError::invalid(
            "name",
            format!("must be 1..={NAME_MAX_CHARS} characters, not {chars}"),
        ));
    }
    let chars = description.chars().count();
    if chars > DESCRIPTION_MAX_CHARS {
        return Err(DbError::invalid(
            "description",
            format!("must be at most {DESCRIPTION_MAX_CHARS} characters, not {chars}"),
        ));
    }
    Ok(())
}
