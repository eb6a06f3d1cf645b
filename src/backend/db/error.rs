//! The repository's one error type ([`DbError`]): what the API maps to a
//! status (404, 412, 409, 503, 422, 500), with the entity, the id and the
//! current version where they matter. A database or pool error becomes one
//! of these by its SQLSTATE or its kind; internal detail stays in
//! [`DbError::Internal`], for the log only.

use core::fmt;

use tokio_postgres::error::SqlState;

use crate::backend::policy::{Claim, OwnerConflict};

/// What a repository operation is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Entity {
    /// A connector (`connectors`).
    Connector,
    /// A mapping (`mappings`).
    Mapping,
    /// A configuration pushed to a connector (`config_versions`).
    ConfigVersion,
}

impl Entity {
    /// The name stored in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connector => "connector",
            Self::Mapping => "mapping",
            Self::ConfigVersion => "config_version",
        }
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a change cannot be made in the state the database is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// An entity with that id exists already.
    Exists {
        /// What was to be created.
        entity: Entity,
        /// Its id.
        id: String,
    },
    /// A mapping still linked to connectors cannot be deleted.
    InUse {
        /// The mapping.
        mapping: String,
        /// The connectors linking it, sorted.
        connectors: Vec<String>,
    },
    /// The change would give an address a second owner (the contract's
    /// "one owner per address").
    Owner(Box<OwnerConflict>),
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exists { entity, id } => write!(f, "{entity} {id:?} exists already"),
            Self::InUse {
                mapping,
                connectors,
            } => write!(
                f,
                "mapping {mapping:?} is linked to {}: unlink it first",
                connectors
                    .iter()
                    .map(|c| format!("{c:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Self::Owner(c) => write!(
                f,
                "casdu {} ioa {} would have two owners: {} and {}",
                c.casdu,
                c.ioa,
                owner_text(&c.first),
                owner_text(&c.second)
            ),
        }
    }
}

/// `connector "q" (mapping "m")`, `connector "rtu" (its whole station)`.
fn owner_text(c: &Claim) -> String {
    match &c.mapping {
        Some(m) => format!("connector {:?} (mapping {m:?})", c.connector),
        None => format!("connector {:?} (its whole station)", c.connector),
    }
}

/// A repository operation that did not happen. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DbError {
    /// No such entity.
    #[error("{entity} {id:?} does not exist")]
    NotFound {
        /// What was looked for.
        entity: Entity,
        /// Its id (`connector/n` for a configuration version).
        id: String,
    },
    /// The entity changed since the version the caller holds.
    #[error("{entity} {id:?} is at version {current}, not at the version expected")]
    Stale {
        /// What was to be changed.
        entity: Entity,
        /// Its id.
        id: String,
        /// Its version now.
        current: i64,
    },
    /// The change contradicts what is there.
    #[error("{0}")]
    Conflict(Conflict),
    /// PostgreSQL cannot be reached, is shutting down, or has no
    /// connection left: the same call may succeed later.
    #[error("the database is not available: {reason}")]
    Unavailable {
        /// The client's or the server's reason.
        reason: String,
    },
    /// A value the schema does not take.
    #[error("{field}: {message}")]
    Invalid {
        /// The field, as the API names it (`id`, `mappings[2]`).
        field: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// The schema migrations could not be applied.
    #[error("the schema migrations failed: {reason}")]
    Migration {
        /// refinery's or the server's reason.
        reason: String,
    },
    /// Anything else (a query that does not fit the schema): a fault of
    /// the backend, logged, never shown to a client.
    #[error("database error{}: {reason}", code.as_ref().map(|c| format!(" {c}")).unwrap_or_default())]
    Internal {
        /// The SQLSTATE, if the server gave one.
        code: Option<String>,
        /// The server's or the client's message.
        reason: String,
    },
}

impl DbError {
    /// A [`DbError::Invalid`].
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A [`DbError::Internal`] without a SQLSTATE.
    pub(super) fn internal(reason: impl fmt::Display) -> Self {
        Self::Internal {
            code: None,
            reason: reason.to_string(),
        }
    }
}

/// SQLSTATEs that say the server is away or cannot serve now: connection
/// exceptions (class 08), shutdown (57P01..57P03), no connection slot left
/// (53300).
fn is_unavailable(code: &SqlState) -> bool {
    code.code().starts_with("08")
        || [
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::TOO_MANY_CONNECTIONS,
        ]
        .contains(code)
}

impl From<tokio_postgres::Error> for DbError {
    fn from(e: tokio_postgres::Error) -> Self {
        classify(&e)
    }
}

/// The [`DbError`] of a tokio-postgres error: by its SQLSTATE when the
/// server answered, else by whether the connection broke.
pub(super) fn classify(e: &tokio_postgres::Error) -> DbError {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        if is_unavailable(code) {
            return DbError::Unavailable {
                reason: db.message().to_owned(),
            };
        }
        if *code == SqlState::CHECK_VIOLATION || code.code().starts_with("22") {
            return DbError::Invalid {
                field: db.constraint().unwrap_or("value").to_owned(),
                message: db.message().to_owned(),
            };
        }
        return DbError::Internal {
            code: Some(code.code().to_owned()),
            reason: db.message().to_owned(),
        };
    }
    // No answer of the server: the connection is closed or broke.
    let io = std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>());
    if e.is_closed() || io {
        return DbError::Unavailable {
            reason: e.to_string(),
        };
    }
    DbError::Internal {
        code: None,
        reason: e.to_string(),
    }
}

impl From<deadpool_postgres::PoolError> for DbError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        use deadpool_postgres::PoolError;
        match e {
            PoolError::Backend(e) => {
                // A failed connect has no SQLSTATE (refused, timed out, DNS)
                // or an unavailable one; an authentication failure (28xxx)
                // or an unknown database (3D000) is a fault of the
                // settings, which may be fixed while the backend waits.
                match Self::from(e) {
                    Self::Internal { code, reason } => Self::Unavailable {
                        reason: match code {
                            Some(c) => format!("{reason} (SQLSTATE {c})"),
                            None => reason,
                        },
                    },
                    other => other,
                }
            }
            PoolError::Timeout(kind) => Self::Unavailable {
                reason: format!("no database connection in time ({kind:?})"),
            },
            PoolError::Closed => Self::Unavailable {
                reason: String::from("the connection pool is closed"),
            },
            other => Self::internal(other),
        }
    }
}
