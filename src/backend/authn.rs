//! The bearer-token gate in front of the `/api/v1` routes: a request's
//! `Authorization` header checked by the [`Verifier`] and the role a route
//! needs compared with the token's.
//!
//! ```text
//! request ─► Verifier::verify(Authorization) ─► Err ─► 401, WWW-Authenticate: Bearer error="invalid_token" (none without a token, RFC 6750 3.1)
//!                                          └─► Ok(principal) ─► role below the route's ─► 403
//!                                                                └─► the route, with the principal (the audit's actor)
//! ```
//!
//! Responses are problem+json (RFC 9457) whose detail names the reason
//! (`token expired`, `role Engineer needed`); the token never appears.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

use super::http::{AuthMode, Shared, problem};
use crate::auth::{AuthError, Principal, Role, Verifier};

/// The principal of a request whose token is valid and whose role is at
/// least `needed`, or the 401/403 response to send.
pub async fn require(
    verifier: &Verifier,
    headers: &HeaderMap,
    needed: Role,
) -> Result<Principal, Response> {
    check(verifier, headers, needed).await.map_err(|(_, r)| r)
}

/// The gate of the API routes over the backend's state: without
/// authentication (`--insecure-no-auth`) every request is an Admin's;
/// with it, [`require`], 503 until the issuer was reached, and each refusal
/// counted by reason (`forbidden` for a role too low).
pub async fn gate(
    shared: &Shared,
    headers: &HeaderMap,
    needed: Role,
) -> Result<Principal, Response> {
    let verifier = match &shared.auth {
        AuthMode::Insecure => {
            return Ok(Principal {
                subject: String::from("insecure-no-auth"),
                username: Some(String::from("insecure-no-auth")),
                object_id: None,
                role: Some(Role::Admin),
            });
        }
        AuthMode::Oidc { verifier, .. } => verifier.get(),
    };
    let Some(verifier) = verifier else {
        shared.metrics.auth_failure("issuer_unreachable");
        return Err(problem(
            StatusCode::SERVICE_UNAVAILABLE,
            Some("the token issuer has not been reached yet; try again"),
        ));
    };
    check(verifier, headers, needed)
        .await
        .map_err(|(reason, r)| {
            shared.metrics.auth_failure(reason);
            r
        })
}

/// [`require`] with the reason of a refusal.
async fn check(
    verifier: &Verifier,
    headers: &HeaderMap,
    needed: Role,
) -> Result<Principal, (&'static str, Response)> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|v| {
            v.to_str()
                .map_err(|_| AuthError::Malformed(String::from("not text")))
        })
        .transpose();
    let principal = match authorization {
        Ok(value) => verifier.verify(value).await,
        Err(e) => Err(e),
    }
    .map_err(|e| (e.reason(), unauthorized(&e)))?;
    match principal.role {
        Some(role) if role >= needed => Ok(principal),
        _ => Err((
            "forbidden",
            problem(
                StatusCode::FORBIDDEN,
                Some(&format!("role {needed:?} needed")),
            ),
        )),
    }
}

/// 401 with the challenge of RFC 6750: without an error code when the
/// request had no token, `invalid_token` otherwise.
pub fn unauthorized(e: &AuthError) -> Response {
    let challenge = match e {
        AuthError::Missing => String::from("Bearer"),
        other => format!(
            "Bearer error=\"invalid_token\", error_description=\"{}\"",
            other.reason()
        ),
    };
    let mut response = problem(StatusCode::UNAUTHORIZED, Some(&e.to_string()));
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}
