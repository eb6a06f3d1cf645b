//! The API's answers that come before the database: a router over a state
//! whose PostgreSQL is a closed port (any question to it would be a 503).

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::backend::http::app;
use crate::backend::http::tests::unreachable_state;

async fn call(method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path);
    let body = match body {
        Some(v) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let response = app(unreachable_state(), 1 << 20)
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn a_path_id_no_entity_can_have_is_a_404_without_asking_the_database() {
    let settings = json!({"name": "x", "enabled": true, "settings": {}});
    for (method, path, body, detail) in [
        (
            Method::GET,
            "/api/v1/connectors/a%00b",
            None,
            "connector \"a\\0b\" does not exist",
        ),
        (
            Method::PUT,
            "/api/v1/connectors/a%00b",
            Some(settings),
            "connector \"a\\0b\" does not exist",
        ),
        (
            Method::DELETE,
            "/api/v1/connectors/a%00b",
            None,
            "connector \"a\\0b\" does not exist",
        ),
        (
            Method::GET,
            "/api/v1/connectors/a%00b/versions/1",
            None,
            "connector \"a\\0b\" does not exist",
        ),
        (
            Method::GET,
            "/api/v1/mappings/a%00b",
            None,
            "mapping \"a\\0b\" does not exist",
        ),
        (
            Method::GET,
            "/api/v1/mappings/a%20b",
            None,
            "mapping \"a b\" does not exist",
        ),
    ] {
        let (status, problem) = call(method.clone(), path, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {problem}");
        assert_eq!(problem["detail"], json!(detail), "{method} {path}");
    }
}

#[tokio::test]
async fn a_nul_character_in_a_connector_s_settings_is_a_422_naming_its_place() {
    let (status, problem) = call(
        Method::POST,
        "/api/v1/connectors",
        Some(json!({"id": "m", "kind": "mqtt", "name": "m", "settings": {"broker": {"host": "a\u{0}b"}}})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["field"], json!("settings.broker.host"));
    assert_eq!(problem["detail"], json!("must not contain a NUL character"));
}

#[tokio::test]
async fn an_audit_actor_with_a_nul_character_is_a_422_naming_actor() {
    let (status, problem) = call(Method::GET, "/api/v1/audit?actor=a%00b", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["field"], json!("actor"));
}
