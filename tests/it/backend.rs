//! `alp-connex backend` against a real PostgreSQL and Valkey of the test's
//! own: the binary (migrations at start, `/readyz` through outages of
//! either, the start before PostgreSQL, SIGTERM, a migration that cannot
//! be applied) and the repository (`backend::db`) on a fresh database per
//! test (versions, cascades, the outbox, the audit log, typed errors).

use std::time::Duration;

use alp_connex::backend::config::RawDatabase;
use alp_connex::backend::db::{
    AuditAction, AuditQuery, Conflict, ConnectorFields, ConnectorKind, Db, DbError, Entity,
    MappingFields, NewAudit, NewConnector, NewMapping, latest_schema_version,
};
use serde_json::{Value, json};

use crate::support::{BACKEND_READY, Backend, PostgresGuard, ValkeyGuard};

/// Longest wait for `/readyz` to notice an outage.
const NOTICE: Duration = Duration::from_secs(15);

/// The tables of schema version 1, with refinery's own.
const TABLES_V1: &str = "audit,config_versions,connector_mappings,connectors,mappings,push_outbox,refinery_schema_history";

fn tables(pg: &PostgresGuard, database: &str) -> String {
    pg.psql_in(
        database,
        "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'",
    )
    .trim()
    .to_owned()
}

#[test]
fn the_backend_applies_the_migrations_and_readyz_names_the_schema_version() {
    let pg = PostgresGuard::start();
    let valkey = ValkeyGuard::start();
    let url = pg.create_database("backend");
    let backend = Backend::start(&url, &valkey, &[]);
    let ready = backend.until_ready_is(200, BACKEND_READY);
    assert_eq!(
        ready.json(),
        json!({"status": "ready", "schema_version": 1, "database": "up", "valkey": "up"})
    );
    assert_eq!(ready.header("content-type"), Some("application/json"));
    assert_eq!(latest_schema_version(), 1);
    assert_eq!(tables(&pg, "backend"), TABLES_V1);
    assert_eq!(
        pg.psql_in(
            "backend",
            "SELECT version || ' ' || name FROM refinery_schema_history"
        )
        .trim(),
        "1 initial"
    );
    let applied = backend.log_lines_with("schema migration applied");
    assert_eq!(applied.len(), 1, "{applied:?}");
    assert!(
        applied[0].contains("version=1") && applied[0].contains("name=initial"),
        "{applied:?}"
    );
    // The warning of every start without authentication.
    assert_eq!(
        backend
            .log_lines_with("insecure_no_auth: the API on 127.0.0.1:")
            .len(),
        1,
        "{}",
        backend.log_tail(20)
    );

    let health = backend.get("/healthz");
    assert_eq!(
        (health.status, health.json()),
        (200, json!({"status": "ok"}))
    );
    let missing = backend.get("/api/v1/nothing");
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.header("content-type"),
        Some("application/problem+json")
    );
    let metrics = backend.get("/metrics");
    assert_eq!(metrics.status, 200);
    assert_eq!(
        metrics.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    for line in [
        "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds 1",
        "alp_connex_http_requests_total{route=\"/readyz\",status=\"200\"} 1\n",
        "alp_connex_http_requests_total{route=\"/healthz\",status=\"200\"} ",
        "alp_connex_http_requests_total{route=\"unmatched\",status=\"404\"} 1\n",
    ] {
        assert!(metrics.body.contains(line), "{line} in\n{}", metrics.body);
    }
}

#[test]
fn postgres_stopped_makes_readyz_503_naming_the_database_and_ready_again_when_it_returns() {
    let mut pg = PostgresGuard::start();
    let valkey = ValkeyGuard::start();
    let url = pg.create_database("outage");
    let mut backend = Backend::start(&url, &valkey, &[]);
    backend.until_ready_is(200, BACKEND_READY);
    let pid = backend.pid();

    // The schema on disk first: the test server's commits are not durable
    // across the immediate stop below.
    pg.checkpoint();
    pg.stop();
    let down = backend.until_ready_is(503, NOTICE);
    assert_eq!(
        down.json(),
        json!({"status": "not ready", "schema_version": null, "database": "down", "valkey": "up"})
    );
    assert_eq!(backend.get("/healthz").status, 200, "alive while not ready");

    pg.restart();
    let up = backend.until_ready_is(200, BACKEND_READY);
    assert_eq!(
        up.json(),
        json!({"status": "ready", "schema_version": 1, "database": "up", "valkey": "up"})
    );
    assert!(backend.is_running(), "{}", backend.log_tail(20));
    assert_eq!(backend.pid(), pid, "the same process, never restarted");
}

#[test]
fn a_schema_gone_behind_the_backend_makes_readyz_503_outdated() {
    let pg = PostgresGuard::start();
    let valkey = ValkeyGuard::start();
    let url = pg.create_database("replaced");
    let backend = Backend::start(&url, &valkey, &[]);
    backend.until_ready_is(200, BACKEND_READY);
    pg.psql_in("replaced", "DROP TABLE refinery_schema_history");
    let outdated = backend.until_ready_is(503, NOTICE);
    assert_eq!(
        outdated.json(),
        json!({"status": "not ready", "schema_version": null, "database": "outdated", "valkey": "up"})
    );
}

#[test]
fn a_backend_started_while_postgres_is_down_retries_warning_once_and_becomes_ready() {
    let mut pg = PostgresGuard::start();
    let valkey = ValkeyGuard::start();
    let url = pg.create_database("late");
    pg.checkpoint();
    pg.stop();
    let backend = Backend::start(&url, &valkey, &[]);
    let down = backend.until_ready_is(503, NOTICE);
    assert_eq!(down.json()["database"], "down");
    // Attempts go on (logged at debug), the warning is given once.
    backend.until("two more attempts", NOTICE, || {
        backend
            .log_lines_with("PostgreSQL still not available")
            .len()
            >= 2
    });
    assert_eq!(
        backend.log_lines_with("PostgreSQL is not available").len(),
        1,
        "{}",
        backend.log_tail(20)
    );

    pg.restart();
    let up = backend.until_ready_is(200, BACKEND_READY);
    assert_eq!(up.json()["schema_version"], 1);
    assert_eq!(tables(&pg, "late"), TABLES_V1);
    assert_eq!(
        backend.log_lines_with("PostgreSQL is not available").len(),
        1
    );
}

#[test]
fn valkey_stopped_makes_readyz_503_naming_valkey_and_ready_again_when_it_returns() {
    let pg = PostgresGuard::start();
    let mut valkey = ValkeyGuard::start();
    let url = pg.create_database("valkey_outage");
    let backend = Backend::start(&url, &valkey, &[]);
    backend.until_ready_is(200, BACKEND_READY);

    valkey.stop();
    let down = backend.until_ready_is(503, NOTICE);
    assert_eq!(
        down.json(),
        json!({"status": "not ready", "schema_version": 1, "database": "up", "valkey": "down"})
    );
    valkey.restart();
    backend.until_ready_is(200, BACKEND_READY);
}

#[test]
fn sigterm_stops_the_backend_with_status_0_and_a_second_start_applies_no_migration_again() {
    let pg = PostgresGuard::start();
    let valkey = ValkeyGuard::start();
    let url = pg.create_database("twice");
    let mut first = Backend::start(&url, &valkey, &[]);
    first.until_ready_is(200, BACKEND_READY);
    let exit = first.terminate(Duration::from_secs(15));
    assert_eq!(exit.code(), Some(0), "{}", first.log_tail(20));
    assert_eq!(first.log_lines_with("backend stopped").len(), 1);

    let second = Backend::start(&url, &valkey, &[]);
    let ready = second.until_ready_is(200, BACKEND_READY);
    assert_eq!(ready.json()["schema_version"], 1);
    second.until("database ready logged", NOTICE, || {
        !second.log_lines_with("database ready").is_empty()
    });
    assert!(
        second.log_lines_with("schema migration applied").is_empty(),
        "{}",
        second.log_tail(20)
    );
}

#[test]
fn a_migration_history_that_differs_from_the_binary_stops_the_backend_with_status_1() {
    let pg = PostgresGuard::start();
    let valkey = ValkeyGuard::start();
    pg.create_database("diverged");
    // Version 1 recorded with another checksum: not this binary's schema.
    pg.psql_in(
        "diverged",
        "CREATE TABLE refinery_schema_history (version int4 PRIMARY KEY, name varchar(255), \
         applied_on varchar(255), checksum varchar(255)); \
         INSERT INTO refinery_schema_history VALUES (1, 'initial', '2026-01-01T00:00:00Z', '1')",
    );
    let mut backend = Backend::spawn(&pg.url_for("diverged"), &valkey, &[]);
    let exit = backend.wait_exit(BACKEND_READY);
    assert_eq!(exit.code(), Some(1), "{}", backend.log_tail(20));
    let failed = backend.log_lines_with("the schema migrations failed");
    assert_eq!(failed.len(), 1, "{}", backend.log_tail(20));
    assert!(failed[0].contains("ERROR"), "{failed:?}");
    assert_eq!(
        tables(&pg, "diverged"),
        "refinery_schema_history",
        "nothing applied"
    );
}

// --- the repository, against a fresh database per test ---

/// The pool of a new database of `pg`, migrated.
async fn migrated(pg: &PostgresGuard, name: &str) -> Db {
    let url = pg.create_database(name);
    let settings = RawDatabase {
        url: Some(url),
        connect_timeout_s: 2,
        ..RawDatabase::default()
    }
    .resolve("it")
    .unwrap();
    let db = Db::new(&settings).unwrap();
    let applied = db.migrate().await.unwrap();
    assert_eq!(applied.len(), 1);
    assert_eq!(db.schema_version().await.unwrap(), Some(1));
    db
}

fn fields(name: &str, settings: Value) -> ConnectorFields {
    ConnectorFields {
        name: name.into(),
        description: String::new(),
        enabled: true,
        settings,
    }
}

fn connector(id: &str, kind: ConnectorKind) -> NewConnector {
    NewConnector {
        id: id.into(),
        kind,
        fields: fields(id, json!({})),
    }
}

fn mapping(id: &str, topic: &str) -> NewMapping {
    NewMapping {
        id: id.into(),
        fields: MappingFields {
            name: id.into(),
            description: String::new(),
            // No points: a mapping linked to several connectors owns no
            // address twice.
            body: json!({"topic": topic, "points": []}),
        },
    }
}

/// Pending pushes as `(connector, generation)`.
async fn pending(db: &Db) -> Vec<(String, i64)> {
    db.take_pushes(100)
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.connector_id, p.generation))
        .collect()
}

/// Audit rows as `(action, entity, entity_id)`.
async fn audit_trail(db: &Db) -> Vec<(String, String, String)> {
    db.list_audit(&AuditQuery::default())
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.action, a.entity, a.entity_id))
        .collect()
}

fn row(action: &str, entity: &str, id: &str) -> (String, String, String) {
    (action.into(), entity.into(), id.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_update_at_a_stale_version_is_refused_with_the_current_one() {
    let pg = PostgresGuard::start();
    let db = migrated(&pg, "stale").await;
    let created = db
        .create_connector("alice", &connector("rtu-a", ConnectorKind::Iec104Inbound))
        .await
        .unwrap();
    assert_eq!(created.version, 1);
    assert_eq!(created.created_at, created.updated_at);

    let bob = fields("RTU A", json!({"host": "10.0.0.5", "port": 2404}));
    let updated = db
        .update_connector("bob", "rtu-a", Some(1), &bob)
        .await
        .unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.fields, bob);
    assert!(updated.updated_at >= created.updated_at);

    // Carol read version 1 too: her write is refused, nothing changes.
    let carol = fields("RTU A (carol)", json!({"host": "10.0.0.6"}));
    let e = db
        .update_connector("carol", "rtu-a", Some(1), &carol)
        .await
        .unwrap_err();
    assert_eq!(
        e,
        DbError::Stale {
            entity: Entity::Connector,
            id: "rtu-a".into(),
            current: 2
        }
    );
    assert_eq!(db.get_connector("rtu-a").await.unwrap(), updated);
    let e = db
        .delete_connector("carol", "rtu-a", Some(1))
        .await
        .unwrap_err();
    assert!(matches!(e, DbError::Stale { current: 2, .. }), "{e:?}");
    assert_eq!(
        audit_trail(&db).await,
        [
            row("create", "connector", "rtu-a"),
            row("update", "connector", "rtu-a")
        ],
        "a refused change writes no audit row"
    );

    // The same values again are no change: no version, no audit row.
    let again = db
        .update_connector("bob", "rtu-a", Some(2), &bob)
        .await
        .unwrap();
    assert_eq!(again.version, 2);
    assert_eq!(audit_trail(&db).await.len(), 2);
    // Without a version expected, the write is unconditional.
    let forced = db
        .update_connector("carol", "rtu-a", None, &carol)
        .await
        .unwrap();
    assert_eq!(forced.version, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_writes_one_audit_row_with_before_and_after() {
    let pg = PostgresGuard::start();
    let db = migrated(&pg, "audit").await;
    let c = db
        .create_connector("alice", &connector("mqtt-1", ConnectorKind::Mqtt))
        .await
        .unwrap();
    let m = db
        .create_mapping("alice", &mapping("climate", "s/+/climate"))
        .await
        .unwrap();
    let new_fields = fields("MQTT 1", json!({"silence_timeout": 60}));
    let c2 = db
        .update_connector("bob", "mqtt-1", Some(c.version), &new_fields)
        .await
        .unwrap();
    let (links, v) = db
        .set_links("bob", "mqtt-1", Some(c2.version), &["climate".into()])
        .await
        .unwrap();
    assert_eq!((links.as_slice(), v), (&["climate".to_owned()][..], 3));
    let mut body = m.fields.clone();
    body.body["topic"] = json!("s/+/climate/#");
    let m2 = db
        .update_mapping("carol", "climate", Some(1), &body)
        .await
        .unwrap();
    let deleted = db
        .delete_connector("carol", "mqtt-1", Some(3))
        .await
        .unwrap();
    assert_eq!(deleted.version, 3);
    db.delete_mapping("carol", "climate", Some(2))
        .await
        .unwrap();

    let rows = db.list_audit(&AuditQuery::default()).await.unwrap();
    let shape: Vec<_> = rows
        .iter()
        .map(|a| {
            (
                a.actor.as_str(),
                a.action.as_str(),
                a.entity.as_str(),
                a.entity_id.as_str(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            ("alice", "create", "connector", "mqtt-1"),
            ("alice", "create", "mapping", "climate"),
            ("bob", "update", "connector", "mqtt-1"),
            ("bob", "link", "connector", "mqtt-1"),
            ("carol", "update", "mapping", "climate"),
            ("carol", "delete", "connector", "mqtt-1"),
            ("carol", "delete", "mapping", "climate"),
        ]
    );
    assert!(
        rows.windows(2)
            .all(|w| w[0].id < w[1].id && w[0].at <= w[1].at)
    );
    let c_json = json!({"id": "mqtt-1", "kind": "mqtt", "name": "mqtt-1", "description": "",
                        "enabled": true, "settings": {}, "version": 1});
    assert_eq!(
        (&rows[0].before, &rows[0].after),
        (&None, &Some(c_json.clone()))
    );
    assert_eq!(rows[1].after, Some(m.snapshot()));
    assert_eq!(
        (&rows[2].before, &rows[2].after),
        (&Some(c_json), &Some(c2.snapshot()))
    );
    assert_eq!(
        rows[2].after.as_ref().unwrap()["settings"]["silence_timeout"],
        60
    );
    assert_eq!(
        (&rows[3].before, &rows[3].after),
        (
            &Some(json!({"mappings": []})),
            &Some(json!({"mappings": ["climate"]}))
        )
    );
    assert_eq!(
        (&rows[4].before, &rows[4].after),
        (&Some(m.snapshot()), &Some(m2.snapshot()))
    );
    let mut last = deleted.snapshot();
    last["mappings"] = json!(["climate"]);
    assert_eq!((&rows[5].before, &rows[5].after), (&Some(last), &None));
    assert_eq!(
        (&rows[6].before, &rows[6].after),
        (&Some(m2.snapshot()), &None)
    );

    // Filters: by actor, by time; an entry of its own.
    let bobs = db
        .list_audit(&AuditQuery {
            actor: Some("bob".into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(bobs.len(), 2);
    let later = db
        .list_audit(&AuditQuery {
            since: Some(rows[6].at),
            limit: Some(1),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(later.len(), 1);
    assert!(later[0].at >= rows[6].at);
    let id = db
        .append_audit(&NewAudit {
            actor: "dave",
            action: AuditAction::Update,
            entity: Entity::Connector,
            entity_id: "gone",
            before: None,
            after: Some(json!({"note": 1})),
        })
        .await
        .unwrap();
    assert!(id > rows[6].id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_connector_cascades_to_its_links_and_versions_while_a_linked_mapping_is_kept() {
    let pg = PostgresGuard::start();
    let db = migrated(&pg, "cascade").await;
    db.create_connector("a", &connector("mqtt-1", ConnectorKind::Mqtt))
        .await
        .unwrap();
    db.create_connector("a", &connector("mqtt-2", ConnectorKind::Mqtt))
        .await
        .unwrap();
    for (id, topic) in [("m1", "a/#"), ("m2", "b/#")] {
        db.create_mapping("a", &mapping(id, topic)).await.unwrap();
    }
    db.set_links("a", "mqtt-1", Some(1), &["m2".into(), "m1".into()])
        .await
        .unwrap();
    db.set_links("a", "mqtt-2", Some(1), &["m1".into()])
        .await
        .unwrap();
    assert_eq!(
        db.get_links("mqtt-1").await.unwrap(),
        ["m2", "m1"],
        "in order"
    );
    let v1 = db
        .append_config_version("mqtt-1", &json!({"mappings": []}), "a")
        .await
        .unwrap();
    let v2 = db
        .append_config_version("mqtt-1", &json!({"mappings": [1]}), "b")
        .await
        .unwrap();
    // Creating the connector (version 1) and linking it (2) recorded its
    // configurations already.
    assert_eq!((v1.n, v2.n), (3, 4));
    assert_eq!(db.get_config_version("mqtt-1", 3).await.unwrap(), v1);
    let versions = db.list_config_versions("mqtt-1").await.unwrap();
    assert_eq!(versions[..2], [v2.clone(), v1.clone()], "newest first");
    assert_eq!(
        versions.iter().map(|v| v.n).collect::<Vec<_>>(),
        [4, 3, 2, 1]
    );

    // A mapping in use is refused naming every connector that links it.
    let e = db.delete_mapping("a", "m1", None).await.unwrap_err();
    assert_eq!(
        e,
        DbError::Conflict(Conflict::InUse {
            mapping: "m1".into(),
            connectors: vec!["mqtt-1".into(), "mqtt-2".into()]
        })
    );
    assert_eq!(db.get_mapping("m1").await.unwrap().version, 1);

    db.delete_connector("a", "mqtt-1", None).await.unwrap();
    let count = |sql: &str| pg.psql_in("cascade", sql).trim().to_owned();
    assert_eq!(
        count("SELECT count(*) FROM connector_mappings WHERE connector_id = 'mqtt-1'"),
        "0"
    );
    assert_eq!(
        count("SELECT count(*) FROM config_versions WHERE connector_id = 'mqtt-1'"),
        "0"
    );
    assert_eq!(count("SELECT count(*) FROM mappings"), "2", "mappings stay");
    assert_eq!(
        db.get_connector("mqtt-1").await.unwrap_err(),
        DbError::NotFound {
            entity: Entity::Connector,
            id: "mqtt-1".into()
        }
    );
    // m2 is free now, m1 still linked to mqtt-2.
    db.delete_mapping("a", "m2", Some(1)).await.unwrap();
    assert!(matches!(
        db.delete_mapping("a", "m1", None).await,
        Err(DbError::Conflict(Conflict::InUse { .. }))
    ));
    // The schema refuses it too (RESTRICT), whatever the code does: a
    // deletion that went through would raise and fail psql.
    pg.psql_in(
        "cascade",
        "DO $$ BEGIN DELETE FROM mappings WHERE id = 'm1'; RAISE EXCEPTION 'm1 was deleted'; \
         EXCEPTION WHEN foreign_key_violation THEN NULL; END $$",
    );
    assert_eq!(count("SELECT count(*) FROM mappings WHERE id = 'm1'"), "1");
    db.set_links("a", "mqtt-2", None, &[]).await.unwrap();
    db.delete_mapping("a", "m1", None).await.unwrap();
    assert_eq!(count("SELECT count(*) FROM mappings"), "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outbox_row_is_committed_with_the_change_and_gone_after_done() {
    let pg = PostgresGuard::start();
    let db = migrated(&pg, "outbox").await;
    assert!(pending(&db).await.is_empty());
    db.create_connector("a", &connector("rtu-a", ConnectorKind::Iec104Inbound))
        .await
        .unwrap();
    assert_eq!(pending(&db).await, [("rtu-a".to_owned(), 1)]);

    // A second change before the push: the same row, one generation more.
    db.update_connector("a", "rtu-a", Some(1), &fields("x", json!({"port": 2405})))
        .await
        .unwrap();
    let taken = db.take_pushes(10).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!((taken[0].generation, taken[0].attempts), (2, 0));
    db.push_failed("rtu-a", "Valkey away").await.unwrap();
    let taken = db.take_pushes(10).await.unwrap();
    assert_eq!(
        (taken[0].attempts, taken[0].last_error.as_deref()),
        (1, Some("Valkey away"))
    );
    // A push made for generation 1 does not end the one due for 2.
    assert!(!db.push_done("rtu-a", 1).await.unwrap());
    assert_eq!(pending(&db).await, [("rtu-a".to_owned(), 2)]);
    assert!(db.push_done("rtu-a", 2).await.unwrap());
    assert!(pending(&db).await.is_empty());

    // A refused change leaves no pending push.
    let e = db
        .update_connector("a", "rtu-a", Some(1), &fields("y", json!({})))
        .await
        .unwrap_err();
    assert!(matches!(e, DbError::Stale { .. }));
    let e = db
        .create_connector("a", &connector("rtu-a", ConnectorKind::Mqtt))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        DbError::Conflict(Conflict::Exists {
            entity: Entity::Connector,
            id: "rtu-a".into()
        })
    );
    assert!(pending(&db).await.is_empty());

    // A deleted connector's key is still to be removed.
    db.delete_connector("a", "rtu-a", None).await.unwrap();
    assert_eq!(pending(&db).await, [("rtu-a".to_owned(), 1)]);
    assert!(db.push_done("rtu-a", 1).await.unwrap());

    // A mapping's change is due to every connector linking it, only those.
    for id in ["mqtt-1", "mqtt-2", "mqtt-3"] {
        db.create_connector("a", &connector(id, ConnectorKind::Mqtt))
            .await
            .unwrap();
    }
    db.create_mapping("a", &mapping("m", "t/#")).await.unwrap();
    db.set_links("a", "mqtt-1", None, &["m".into()])
        .await
        .unwrap();
    db.set_links("a", "mqtt-3", None, &["m".into()])
        .await
        .unwrap();
    for p in db.take_pushes(10).await.unwrap() {
        assert!(db.push_done(&p.connector_id, p.generation).await.unwrap());
    }
    let mut changed = mapping("m", "t/+/x").fields;
    changed.name = "m2".into();
    db.update_mapping("a", "m", Some(1), &changed)
        .await
        .unwrap();
    let mut due = pending(&db).await;
    due.sort();
    assert_eq!(due, [("mqtt-1".to_owned(), 1), ("mqtt-3".to_owned(), 1)]);
    // Reconciliation enqueues without a change.
    db.enqueue_push("mqtt-2").await.unwrap();
    assert_eq!(pending(&db).await.len(), 3);
}

fn is_invalid(e: &DbError, field: &str) -> bool {
    matches!(e, DbError::Invalid { field: f, .. } if f == field)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repository_errors_are_typed_and_name_the_field() {
    let mut pg = PostgresGuard::start();
    let db = migrated(&pg, "errors").await;
    let not_found = |entity, id: &str| DbError::NotFound {
        entity,
        id: id.into(),
    };
    assert_eq!(
        db.get_connector("nope").await.unwrap_err(),
        not_found(Entity::Connector, "nope")
    );
    assert_eq!(
        db.update_connector("a", "nope", None, &fields("x", json!({})))
            .await
            .unwrap_err(),
        not_found(Entity::Connector, "nope")
    );
    assert_eq!(
        db.delete_mapping("a", "nope", Some(1)).await.unwrap_err(),
        not_found(Entity::Mapping, "nope")
    );
    assert_eq!(
        db.get_links("nope").await.unwrap_err(),
        not_found(Entity::Connector, "nope")
    );
    assert_eq!(
        db.get_config_version("nope", 1).await.unwrap_err(),
        not_found(Entity::ConfigVersion, "nope/1")
    );
    assert_eq!(
        db.append_config_version("nope", &json!({}), "a")
            .await
            .unwrap_err(),
        not_found(Entity::Connector, "nope")
    );

    let bad_id = NewConnector {
        id: "has space".into(),
        ..connector("x", ConnectorKind::Mqtt)
    };
    let e = db.create_connector("a", &bad_id).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "id: \"has space\": must be 1..=64 characters of A-Z a-z 0-9 _ . : -"
    );
    let long = connector(&"x".repeat(65), ConnectorKind::Mqtt);
    assert!(is_invalid(
        &db.create_connector("a", &long).await.unwrap_err(),
        "id"
    ));
    let mut unnamed = connector("ok", ConnectorKind::Mqtt);
    unnamed.fields.name.clear();
    assert!(is_invalid(
        &db.create_connector("a", &unnamed).await.unwrap_err(),
        "name"
    ));
    let mut listy = connector("ok", ConnectorKind::Mqtt);
    listy.fields.settings = json!([1]);
    assert!(is_invalid(
        &db.create_connector("a", &listy).await.unwrap_err(),
        "settings"
    ));
    let mut with_id = mapping("m", "t");
    with_id.fields.body["id"] = json!("other");
    assert!(is_invalid(
        &db.create_mapping("a", &with_id).await.unwrap_err(),
        "id"
    ));

    db.create_connector("a", &connector("rtu", ConnectorKind::Iec104Inbound))
        .await
        .unwrap();
    db.create_connector("a", &connector("mqtt", ConnectorKind::Mqtt))
        .await
        .unwrap();
    db.create_mapping("a", &mapping("m", "t")).await.unwrap();
    let e = db
        .set_links("a", "rtu", None, &["m".into()])
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "mappings: only mqtt connectors have mappings; \"rtu\" is iec104-inbound"
    );
    let e = db
        .set_links("a", "mqtt", None, &["m".into(), "ghost".into()])
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "mappings[1]: no mapping \"ghost\"");
    let e = db
        .set_links("a", "mqtt", None, &["m".into(), "m".into()])
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "mappings[1]: \"m\" is listed twice");
    assert!(
        db.get_links("mqtt").await.unwrap().is_empty(),
        "nothing linked"
    );
    assert_eq!(
        db.create_mapping("a", &mapping("m", "t"))
            .await
            .unwrap_err(),
        DbError::Conflict(Conflict::Exists {
            entity: Entity::Mapping,
            id: "m".into()
        })
    );

    // The database away: Unavailable, whatever the operation.
    pg.checkpoint();
    pg.stop();
    for result in [
        db.get_connector("rtu").await.map(|_| ()),
        db.list_mappings().await.map(|_| ()),
        db.create_mapping("a", &mapping("n", "t")).await.map(|_| ()),
        db.ping().await,
    ] {
        assert!(
            matches!(result, Err(DbError::Unavailable { .. })),
            "{result:?}"
        );
    }
    pg.restart();
    assert_eq!(
        db.list_connectors().await.unwrap().len(),
        2,
        "back by itself"
    );
}
