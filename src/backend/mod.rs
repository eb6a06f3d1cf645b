//! The `backend` role: the management API on PostgreSQL, pushing connector
//! configuration through Valkey (docs/backend.md).
//!
//! - [`config`]: the settings; [`run()`]: the main loop wiring the parts.
//! - [`db`]: PostgreSQL, the embedded migrations and the repository, every
//!   change one transaction ending in [`policy`]'s checks (the roles' own
//!   rules, one owner per address), a configuration version and an outbox row.
//! - [`http`], [`api`]: the router, `/healthz` `/readyz` `/metrics`, the
//!   `/api/v1` routes behind the bearer-token gate ([`authn`] over
//!   [`crate::auth`]) and the OpenAPI document; [`metrics`].
//! - `push`: the outbox drained into `SET` + `PUBLISH` of
//!   `connectors:{ID}:config`, the keys reconciled.
//! - [`image`]: the process image's address index and the update stream
//!   fanned out to the SSE clients.
//!
//! ```text
//!             ┌──────────── backend ───────────────────────────────┐
//! HTTP ──────►│ http::app ── /healthz /readyz /metrics /api/v1 (api)│
//!             │     │         push: outbox ─► SET+PUBLISH ──────────┼──► Valkey
//!             │     │         image: SCAN + XREAD ─► pages, SSE ◄───┼─── Valkey
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
