//! The `backend` role: the management API on PostgreSQL, pushing connector
//! configuration through Valkey (docs/backend.md).
//!
//! Built so far: the settings ([`config`]), the database with its embedded
//! migrations and the repository ([`db`]), the HTTP server with the health
//! and metrics endpoints ([`http`], [`metrics`]) and the main loop
//! ([`run()`]), and the bearer-token gate the API routes will sit behind
//! ([`authn`], over [`crate::auth`]). The API routes, the push to Valkey
//! and the update stream come on top of these.
//!
//! ```text
//!             ┌──────────── backend ───────────────────────────────┐
//! HTTP ──────►│ http::app ── /healthz /readyz /metrics             │
//!             │     │                                               │
//!             │     ├── db::Db ── pool (tokio-postgres, NoTls) ─────┼──► PostgreSQL
//!             │     │     repository: connectors, mappings, links,  │     (schema by refinery)
//!             │     │     config versions, audit, push outbox       │
//!             │     └── store::StoreClient (PING) ──────────────────┼──► Valkey
//!             └─────────────────────────────────────────────────────┘
//! ```

pub mod api;
pub mod authn;
pub mod config;
pub mod db;
pub mod http;
pub mod image;
pub mod metrics;
pub mod policy;
mod push;
mod run;

pub use run::{RETRY_FIRST, RETRY_MAX, RunError, SHUTDOWN_GRACE, run};
