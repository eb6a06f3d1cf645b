//! The OpenAPI 3.1 document of the API, generated from the handlers'
//! annotations and the request and response types (utoipa), served at
//! `GET /api/openapi.json` without a token.
//!
//! Every `/api/v1` operation gets the bearer security requirement and a
//! `default` problem+json response (RFC 9457), so that every status the
//! API can answer (400, 401, 403, 404, 409, 412, 413, 415, 422, 503) is
//! described.

use std::sync::{Arc, LazyLock};

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use serde::Serialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

use super::{connectors, mappings, misc, points};
use crate::backend::http::{self, Shared};

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/api/openapi.json", get(document))
}

/// An RFC 9457 problem.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The status's reason phrase.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What is wrong, in words.
    pub detail: Option<String>,
    /// The field it is about (`settings.port`, `points[0].ioa`).
    pub field: Option<String>,
    /// For 412: the version the entity is at.
    pub current_version: Option<i64>,
    /// For a 409 of two owners: the address.
    pub casdu: Option<u16>,
    /// For a 409 of two owners: the address.
    pub ioa: Option<u32>,
    /// For a 409 of two owners: both (`connector`, `mapping`).
    #[schema(value_type = Option<Vec<Object>>)]
    pub owners: Option<Vec<serde_json::Value>>,
    /// For a 409 of a mapping in use: the connectors linking it.
    pub connectors: Option<Vec<String>>,
}

struct Defaults;

impl Modify for Defaults {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        let problem = ResponseBuilder::new()
            .description("An error, as application/problem+json (RFC 9457)")
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                        "Problem",
                    ))))
                    .build(),
            )
            .build();
        for (path, item) in doc.paths.paths.iter_mut() {
            let secured = path.starts_with("/api/v1/");
            for op in [
                item.get.as_mut(),
                item.put.as_mut(),
                item.post.as_mut(),
                item.delete.as_mut(),
            ]
            .into_iter()
            .flatten()
            {
                op.responses
                    .responses
                    .entry(String::from("default"))
                    .or_insert_with(|| RefOr::T(problem.clone()));
                if secured {
                    op.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
                        "bearer",
                        Vec::<String>::new(),
                    )]);
                }
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "alp-connex management API",
        description = "Connectors, MQTT mappings, their configuration pushed through Valkey, the process image and the audit log. Every /api/v1 request needs a bearer token (OpenID Connect, Microsoft Entra ID).",
    ),
    paths(
        connectors::list, connectors::create, connectors::read, connectors::update, connectors::remove,
        connectors::links, connectors::set_links, connectors::config, connectors::status,
        connectors::all_status, connectors::versions, connectors::version, connectors::restore,
        mappings::list, mappings::create, mappings::read, mappings::update, mappings::remove,
        mappings::dry_run,
        points::points, points::point, points::updates, points::addresses,
        misc::me, misc::audit, misc::kinds, misc::ui_config,
        http::healthz, http::readyz, http::metrics_text,
    ),
    components(schemas(Problem)),
    modifiers(&Defaults),
)]
struct ApiDoc;

/// The document as served.
pub fn document_json() -> &'static str {
    static TEXT: LazyLock<String> = LazyLock::new(|| {
        let mut doc = ApiDoc::openapi();
        doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
        doc.to_json().unwrap_or_else(|_| String::from("{}"))
    });
    &TEXT
}

async fn document() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document_json(),
    )
}
