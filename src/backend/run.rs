//! The backend's main loop: it only wires the parts.
//!
//! ```text
//! settings ─► Db::new (pool, no I/O) ─► bind http.bind:http.port ─► serve app(shared)
//!   task: migrate, tried again with back-off while PostgreSQL is away
//!         (one warning, then quiet) ─► shared.migrated
//!         a migration that fails ─► error, the process stops (status 1)
//!   task: connect Valkey, tried again with back-off (one warning)
//!         ─► shared.valkey (the client reconnects by itself from then on)
//!   task: follow the update stream on a Valkey connection of its own
//!         (image::follow: its XREAD BLOCK would hold back the requests')
//! SIGINT / SIGTERM ─► no new connections, requests under way answered
//!         (at most SHUTDOWN_GRACE) ─► pool and Valkey closed ─► status 0
//! ```
//!
//! Under systemd (`Type=notify`): READY=1 once the socket listens (the
//! API answers from then on; `/readyz` says what it still waits for), a
//! new status line when the schema is applied, the watchdog fed with the
//! state of the database, Valkey and the token issuer, STOPPING=1 at the
//! stop.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

use super::config::{Auth, BackendSettings, OidcSettings};
use super::db::{Db, DbError};
use super::http::{AuthMode, Shared, UiConfig, UiFiles, app_serving_ui};
use super::metrics::Metrics;
use crate::auth::{AuthConfig, JWKS_REFRESH, RoleNames, Verifier};
use crate::connector::{Shutdown, systemd};
use crate::store::{self, StoreConfig};

/// First wait before PostgreSQL or Valkey is tried again.
pub const RETRY_FIRST: Duration = Duration::from_millis(250);
/// Longest wait between two attempts (the wait doubles up to it).
pub const RETRY_MAX: Duration = Duration::from_secs(5);
/// Longest wait for the requests under way after SIGTERM.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Why the backend stopped other than by a signal (already logged).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The pool could not be built.
    #[error("{0}")]
    Database(DbError),
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// The operating system's reason.
        reason: String,
    },
    /// The schema could not be migrated.
    #[error("{0}")]
    Migration(String),
    /// The server failed.
    #[error("the HTTP server failed: {0}")]
    Serve(String),
}

/// The next wait of a back-off.
pub(super) fn next_delay(delay: Duration) -> Duration {
    delay.saturating_mul(2).min(RETRY_MAX)
}

/// Runs the backend until SIGINT or SIGTERM.
pub async fn run(settings: BackendSettings) -> Result<(), RunError> {
    let started = SystemTime::now();
    let db = Db::new(&settings.database).map_err(|e| {
        error!("{e}");
        RunError::Database(e)
    })?;
    let addr = settings.listen();
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        let e = RunError::Listen {
            addr,
            reason: e.to_string(),
        };
        error!("{e}");
        e
    })?;
    let auth = match &settings.auth {
        Auth::InsecureNoAuth => {
            warn!(
                "the API runs WITHOUT authentication (--insecure-no-auth): every caller is an Admin; for a local test only"
            );
            AuthMode::Insecure
        }
        Auth::Oidc(o) => AuthMode::Oidc {
            verifier: std::sync::OnceLock::new(),
            ui: UiConfig {
                issuer: Some(o.issuer.clone()),
                client_id: Some(o.ui_client_id.clone()),
                scope: Some(o.ui_scope.clone()),
                resource: o.ui_resource.clone(),
            },
        },
    };
    let shared = Arc::new(Shared::new(db.clone(), Metrics::new(started), auth));
    info!(
        listen = %addr,
        database = %db.target(),
        valkey = %format!("{}:{}", settings.redis.host, settings.redis.port),
        "backend started"
    );
    let (fatal_tx, fatal_rx) = watch::channel::<Option<String>>(None);
    let database_task = tokio::spawn(prepare_database(shared.clone(), fatal_tx));
    let push_task = tokio::spawn(super::push::run(shared.clone()));
    let issuer_task = match &settings.auth {
        Auth::Oidc(o) => Some(tokio::spawn(discover_issuer(shared.clone(), (**o).clone()))),
        Auth::InsecureNoAuth => None,
    };
    let valkey_config = StoreConfig::from_settings(&settings.redis, &settings.id);
    let image_task = tokio::spawn(super::image::follow(
        shared.clone(),
        valkey_config.clone(),
        settings.redis.in_stream.clone(),
    ));
    let valkey_task = tokio::spawn(connect_valkey(shared.clone(), valkey_config));

    let shutdown = Shutdown::on_signal();
    let stop = {
        let requested = stop_requested(shutdown.clone(), fatal_rx.clone());
        async move {
            requested.await;
            systemd::stopping();
        }
    };
    let ui = settings.http.ui_dir.as_ref().map(|dir| UiFiles {
        dir: dir.clone(),
        csp: super::ui::content_security_policy(match &settings.auth {
            Auth::Oidc(o) => Some(o.issuer.as_str()),
            Auth::InsecureNoAuth => None,
        }),
    });
    if let Some(ui) = &ui {
        info!(ui_dir = %ui.dir.display(), "serving the web UI");
    }
    let router = app_serving_ui(shared.clone(), settings.http.max_body, ui.as_ref());
    systemd::ready(&format!("listening on {addr}"));
    let _watchdog = {
        let shared = shared.clone();
        systemd::watchdog_with(move || state_line(addr, &shared))
    };
    let server = axum::serve(listener, router).with_graceful_shutdown(stop);
    let grace = async {
        stop_requested(shutdown, fatal_rx.clone()).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    let served = tokio::select! {
        served = server => served.map_err(|e| RunError::Serve(e.to_string())),
        () = grace => {
            warn!("requests still under way {SHUTDOWN_GRACE:?} after the stop: ended");
            Ok(())
        }
    };

    database_task.abort();
    valkey_task.abort();
    push_task.abort();
    if let Some(t) = issuer_task {
        t.abort();
    }
    image_task.abort();
    if let Some(client) = shared.valkey.get() {
        client.quit().await;
    }
    db.close();
    let fatal = fatal_rx.borrow().clone();
    match (served, fatal) {
        (Err(e), _) => {
            error!("{e}");
            Err(e)
        }
        (Ok(()), Some(reason)) => Err(RunError::Migration(reason)),
        (Ok(()), None) => {
            info!("backend stopped");
            Ok(())
        }
    }
}

/// The status line systemd shows: what the backend has and still waits
/// for, from what its tasks have set (no I/O: the watchdog's tick).
fn state_line(addr: std::net::SocketAddr, shared: &Shared) -> String {
    let database = if shared.migrated.load(Ordering::Acquire) {
        "schema applied"
    } else {
        "waiting for PostgreSQL"
    };
    let valkey = if shared.valkey.get().is_some() {
        "Valkey connected"
    } else {
        "waiting for Valkey"
    };
    let issuer = match &shared.auth {
        AuthMode::Oidc { verifier, .. } if verifier.get().is_none() => {
            "; waiting for the token issuer"
        }
        _ => "",
    };
    format!("listening on {addr}; {database}; {valkey}{issuer}")
}

/// Resolves on SIGINT or SIGTERM, or when a fatal error was reported (a
/// database task that ended without one reports nothing).
async fn stop_requested(mut shutdown: Shutdown, mut fatal: watch::Receiver<Option<String>>) {
    let reported = async move {
        if fatal.wait_for(Option::is_some).await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = shutdown.requested() => {}
        () = reported => {}
    }
}

/// Applies the migrations, trying again while PostgreSQL is away (one
/// warning, then debug lines); a migration that fails is fatal.
async fn prepare_database(shared: Arc<Shared>, fatal: watch::Sender<Option<String>>) {
    let mut delay = RETRY_FIRST;
    let mut warned = false;
    loop {
        match shared.db.migrate().await {
            Ok(applied) => {
                for m in &applied {
                    info!(version = m.version, name = %m.name, "schema migration applied");
                }
                let version = shared.db.schema_version().await.ok().flatten();
                shared.migrated.store(true, Ordering::Release);
                systemd::status(&format!(
                    "schema version {} applied",
                    version.unwrap_or_default()
                ));
                info!(
                    database = %shared.db.target(),
                    schema_version = version.unwrap_or_default(),
                    "database ready"
                );
                return;
            }
            Err(DbError::Unavailable { reason }) => {
                if warned {
                    debug!(database = %shared.db.target(), "PostgreSQL still not available: {reason}");
                } else {
                    warn!(
                        database = %shared.db.target(),
                        "PostgreSQL is not available ({reason}); trying again until it is"
                    );
                    warned = true;
                }
                tokio::time::sleep(delay).await;
                delay = next_delay(delay);
            }
            Err(e) => {
                error!(database = %shared.db.target(), "{e}");
                let _ = fatal.send(Some(e.to_string()));
                return;
            }
        }
    }
}

/// Reads the issuer's discovery document and keys, trying again while it
/// is away (one warning); until then the API answers 503.
async fn discover_issuer(shared: Arc<Shared>, oidc: OidcSettings) {
    let AuthMode::Oidc { verifier, .. } = &shared.auth else {
        return;
    };
    let config = AuthConfig {
        issuer: oidc.issuer.clone(),
        audience: oidc.audience.clone(),
        roles_claim: oidc.roles_claim.clone(),
        roles: RoleNames {
            reader: oidc.reader_role.clone(),
            engineer: oidc.engineer_role.clone(),
            admin: oidc.admin_role.clone(),
        },
    };
    let mut delay = RETRY_FIRST;
    let mut warned = false;
    loop {
        match Verifier::discover(config.clone()).await {
            Ok(v) => {
                info!(issuer = %oidc.issuer, "token issuer reached");
                let _ = verifier.set(v.clone());
                refresh_keys(&v).await;
                return;
            }
            Err(e) => {
                if warned {
                    debug!("token issuer still not reachable: {e}");
                } else {
                    warn!("{e}; the API answers 503 until the issuer is reached");
                    warned = true;
                }
                tokio::time::sleep(delay).await;
                delay = next_delay(delay);
            }
        }
    }
}

/// Reads the issuer's keys again every [`JWKS_REFRESH`] (a withdrawn key
/// stops being accepted); a failure keeps the keys and is tried at the
/// next turn.
async fn refresh_keys(verifier: &Verifier) {
    loop {
        tokio::time::sleep(JWKS_REFRESH).await;
        match verifier.refresh_keys().await {
            Ok(true) => info!("the issuer's signing keys changed: read again"),
            Ok(false) => debug!("the issuer's signing keys are unchanged"),
            Err(e) => warn!("{e}; the keys read before are kept"),
        }
    }
}

/// Connects to Valkey, trying again while it is away (one warning).
async fn connect_valkey(shared: Arc<Shared>, config: StoreConfig) {
    let mut delay = RETRY_FIRST;
    let mut warned = false;
    loop {
        match store::connect(&config).await {
            Ok(client) => {
                info!(valkey = %config.addr(), "Valkey connected");
                let _ = shared.valkey.set(client);
                return;
            }
            Err(e) => {
                if warned {
                    debug!("Valkey still not available: {e}");
                } else {
                    warn!("{e}; trying again until it answers");
                    warned = true;
                }
                tokio::time::sleep(delay).await;
                delay = next_delay(delay);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_back_off_doubles_up_to_its_cap() {
        let mut d = RETRY_FIRST;
        let mut waits = Vec::new();
        for _ in 0..7 {
            waits.push(d.as_millis());
            d = next_delay(d);
        }
        assert_eq!(waits, [250, 500, 1000, 2000, 4000, 5000, 5000]);
    }
}
