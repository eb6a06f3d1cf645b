//! The process image through the API: pages of points in address order,
//! one point, the live updates as Server-Sent Events, and who owns which
//! address.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures::stream;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::broadcast::error::RecvError;
use utoipa::{IntoParams, ToSchema};

use super::connectors::{valkey_client, valkey_error};
use super::{ApiError, ApiResult, field_problem, gate, json_ok, not_found, raw_json};
use crate::auth::Role;
use crate::backend::http::Shared;
use crate::backend::policy::IOA_MAX;
use crate::store;

/// Points per page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 1000;
/// The most points of one page.
pub const MAX_LIMIT: usize = 10_000;
/// How often an idle update stream sends a comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/v1/points", get(points))
        .route("/api/v1/points/{casdu}/{ioa}", get(point))
        .route("/api/v1/updates", get(updates))
        .route("/api/v1/addresses", get(addresses))
}

/// Which points.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PointsQuery {
    /// Only this common address (0..=65535).
    pub casdu: Option<u32>,
    /// Only IOAs from this one (0..=16777215).
    pub ioa_from: Option<u32>,
    /// Only IOAs up to this one (0..=16777215).
    pub ioa_to: Option<u32>,
    /// Points per page, 1..=10000 (default 1000).
    pub limit: Option<usize>,
    /// `next_cursor` of the page before.
    pub cursor: Option<String>,
}

/// A page of the process image.
#[derive(Debug, Serialize, ToSchema)]
pub struct PointsPage {
    /// The data points (docs/contract.md), by common address then IOA.
    #[schema(value_type = Vec<Object>)]
    pub points: Vec<Box<RawValue>>,
    /// The `cursor` of the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

fn casdu_of(v: u32, field: &str) -> Result<u16, ApiError> {
    u16::try_from(v).map_err(|_| {
        field_problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            field,
            &format!("{v}: must be in 0..=65535"),
        )
    })
}

fn ioa_of(v: u32, field: &str) -> Result<u32, ApiError> {
    if v <= IOA_MAX {
        Ok(v)
    } else {
        Err(field_problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            field,
            &format!("{v}: must be in 0..={IOA_MAX}"),
        ))
    }
}

/// `casdu:ioa`.
fn parse_cursor(text: &str) -> Option<(u16, u32)> {
    let (c, i) = text.split_once(':')?;
    let ioa: u32 = i.parse().ok()?;
    (ioa <= IOA_MAX).then_some((c.parse().ok()?, ioa))
}

#[utoipa::path(get, path = "/api/v1/points", tag = "process image", params(PointsQuery),
    responses((status = 200, body = PointsPage)))]
pub(super) async fn points(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<PointsQuery>,
) -> ApiResult {
    gate(&s, &headers, Role::Reader).await?;
    let casdu = q.casdu.map(|c| casdu_of(c, "casdu")).transpose()?;
    let ioa_from = q
        .ioa_from
        .map(|i| ioa_of(i, "ioa_from"))
        .transpose()?
        .unwrap_or(0);
    let ioa_to = q
        .ioa_to
        .map(|i| ioa_of(i, "ioa_to"))
        .transpose()?
        .unwrap_or(IOA_MAX);
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(field_problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "limit",
            &format!("{limit}: must be in 1..={MAX_LIMIT}"),
        ));
    }
    let after = match q.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(parse_cursor(c).ok_or_else(|| {
            field_problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "cursor",
                "must be a next_cursor of this API (CASDU:IOA)",
            )
        })?),
    };
    // Start at the first address the filter can take.
    let after = match (after, casdu) {
        (None, Some(c)) => match (c, ioa_from) {
            (0, 0) => None,
            (c, 0) => Some((c - 1, IOA_MAX)),
            (c, i) => Some((c, i - 1)),
        },
        (a, _) => a,
    };
    let client = valkey_client(&s)?;
    let keep = |&(c, i): &(u16, u32)| {
        casdu.is_none_or(|want| c == want) && (ioa_from..=ioa_to).contains(&i)
    };
    let mut out = Vec::with_capacity(limit.min(s.image.len()));
    let mut cursor = after;
    let mut more;
    // Keys gone since the last scan leave holes: read on until the page is
    // full or the index ends.
    loop {
        let (page, rest) = s.image.page(cursor, limit - out.len(), keep);
        more = rest;
        let Some(last) = page.last().copied() else {
            break;
        };
        cursor = Some(last);
        let keys: Vec<String> = page.iter().map(|&(c, i)| store::image_key(c, i)).collect();
        let values = store::mget_text(client, &keys)
            .await
            .map_err(|e| valkey_error(&e))?;
        let mut gone = Vec::new();
        for (a, v) in page.iter().zip(values) {
            match v.and_then(|t| RawValue::from_string(t).ok()) {
                Some(raw) => out.push(raw),
                None => gone.push(*a),
            }
        }
        s.image.forget(&gone);
        if out.len() == limit || !more {
            break;
        }
    }
    let next_cursor = if more {
        cursor.map(|(c, i)| format!("{c}:{i}"))
    } else {
        None
    };
    Ok(json_ok(&PointsPage {
        points: out,
        next_cursor,
    }))
}

#[utoipa::path(get, path = "/api/v1/points/{casdu}/{ioa}", tag = "process image",
    params(("casdu" = u16, Path, description = "Common address, 0..=65535"),
           ("ioa" = u32, Path, description = "Information object address, 0..=16777215")),
    responses((status = 200, description = "The data point (docs/contract.md)", body = Object),
              (status = 404, description = "No such point in the image")))]
pub(super) async fn point(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((casdu, ioa)): Path<(String, String)>,
) -> ApiResult {
    gate(&s, &headers, Role::Reader).await?;
    let address = casdu
        .parse::<u16>()
        .ok()
        .zip(ioa.parse::<u32>().ok().filter(|i| *i <= IOA_MAX));
    let Some((c, i)) = address else {
        return Err(not_found(&format!(
            "point {casdu}/{ioa} (casdu 0..=65535, ioa 0..={IOA_MAX})"
        )));
    };
    let client = valkey_client(&s)?;
    let text = store::get_text(client, &store::image_key(c, i))
        .await
        .map_err(|e| valkey_error(&e))?;
    match text.filter(|t| serde_json::from_str::<&RawValue>(t).is_ok()) {
        Some(t) => Ok(raw_json(StatusCode::OK, t)),
        None => Err(not_found(&format!("point {c}/{i}"))),
    }
}

/// Which updates.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UpdatesQuery {
    /// Only this common address (0..=65535).
    pub casdu: Option<u32>,
}

/// Counts an open update stream while it lives.
struct Client(Arc<Shared>);

impl Drop for Client {
    fn drop(&mut self) {
        self.0.metrics.sse_clients.fetch_sub(1, Ordering::Relaxed);
    }
}

#[utoipa::path(get, path = "/api/v1/updates", tag = "process image", params(UpdatesQuery),
    responses((status = 200, description = "text/event-stream: `event: point` with the stream entry id and the data point JSON; `event: lagged` with `{\"missed\": N}` when the client was too slow", content_type = "text/event-stream", body = String)))]
pub(super) async fn updates(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<UpdatesQuery>,
) -> ApiResult {
    gate(&s, &headers, Role::Reader).await?;
    let casdu = q.casdu.map(|c| casdu_of(c, "casdu")).transpose()?;
    let rx = s.image.subscribe();
    s.metrics.sse_clients.fetch_add(1, Ordering::Relaxed);
    let guard = Client(s.clone());
    let events = stream::unfold((rx, guard), move |(mut rx, guard)| async move {
        loop {
            match rx.recv().await {
                Ok(u) => {
                    if casdu.is_some_and(|c| c != u.casdu) {
                        continue;
                    }
                    let e = Event::default()
                        .event("point")
                        .id(u.id.clone())
                        .data(u.data.clone());
                    return Some((Ok::<Event, Infallible>(e), (rx, guard)));
                }
                Err(RecvError::Lagged(n)) => {
                    guard.0.metrics.sse_lagged.fetch_add(n, Ordering::Relaxed);
                    let e = Event::default()
                        .event("lagged")
                        .data(format!("{{\"missed\":{n}}}"));
                    return Some((Ok(e), (rx, guard)));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}

/// Addresses a connector owns.
#[derive(Debug, Serialize, ToSchema)]
pub struct Owner {
    /// Common address.
    pub casdu: u16,
    /// First IOA.
    pub ioa_from: u32,
    /// Last IOA (inclusive).
    pub ioa_to: u32,
    /// The connector writing them.
    pub connector: String,
    /// The mapping (`mqtt`); `null` for an inbound connector's whole
    /// station.
    pub mapping: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/addresses", tag = "process image",
    responses((status = 200, description = "Who owns which addresses, by address (enabled connectors)", body = [Owner])))]
pub(super) async fn addresses(State(s): State<Arc<Shared>>, headers: HeaderMap) -> ApiResult {
    gate(&s, &headers, Role::Reader).await?;
    let claims = s.db.addresses().await?;
    Ok(json_ok(
        &claims
            .into_iter()
            .map(|c| Owner {
                casdu: c.casdu,
                ioa_from: c.ioa_from,
                ioa_to: c.ioa_to,
                connector: c.connector,
                mapping: c.mapping,
            })
            .collect::<Vec<_>>(),
    ))
}
