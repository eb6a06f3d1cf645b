//! Bearer tokens checked by `alp_connex::auth::Verifier` against a real
//! OpenID provider on a loopback port (`support::Issuer`): discovery, the
//! JWKS, and the token matrix the backend refuses (none, malformed,
//! expired, not yet valid, wrong issuer, wrong audience, `alg: none`, HS256
//! signed with the public key, a bad signature, an unknown key that the
//! issuer then publishes).

use std::sync::Arc;

use alp_connex::auth::{AuthConfig, AuthError, Principal, Role, RoleNames, Verifier};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::json;

use crate::support::{Issuer, sign};

const AUD: &str = "api://alp-connex";

async fn verifier(issuer: &Issuer) -> Arc<Verifier> {
    Verifier::discover(AuthConfig {
        issuer: issuer.url(),
        audience: AUD.to_owned(),
        roles_claim: String::from("roles"),
        roles: RoleNames::default(),
    })
    .await
    .expect("the issuer discovered")
}

async fn check(v: &Verifier, token: &str) -> Result<Principal, AuthError> {
    v.verify(Some(&format!("Bearer {token}"))).await
}

#[tokio::test]
async fn a_valid_token_gives_the_user_and_the_highest_of_its_roles() {
    let issuer = Issuer::start();
    let v = verifier(&issuer).await;
    let token = issuer.mint(&issuer.claims(AUD, &["ALP.Reader", "ALP.Engineer", "Other"]));
    let p = check(&v, &token).await.expect("valid");
    assert_eq!(p.role, Some(Role::Engineer));
    assert_eq!(p.actor(), "engineer@grid.example");
    assert_eq!(p.object_id.as_deref(), Some("0000-oid"));
    let none = issuer.mint(&issuer.claims(AUD, &["Other"]));
    assert_eq!(check(&v, &none).await.expect("valid").role, None);
    let admin = issuer.mint(&issuer.claims(AUD, &["ALP.Admin"]));
    assert_eq!(
        check(&v, &admin).await.expect("valid").role,
        Some(Role::Admin)
    );
}

#[tokio::test]
async fn every_bad_token_is_refused_with_its_reason() {
    let mut issuer = Issuer::start();
    let v = verifier(&issuer).await;
    let good = issuer.claims(AUD, &["ALP.Reader"]);
    let with = |k: &str, val: serde_json::Value| {
        let mut c = good.clone();
        c[k] = val;
        c
    };
    let now = good["iat"].as_u64().unwrap() + 60;
    let current = issuer.current();
    let unpublished = issuer.new_key();
    let payload = URL_SAFE_NO_PAD.encode(good.to_string());
    let none = format!(
        "{}.{payload}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#)
    );
    let hs256 = sign(
        &EncodingKey::from_secret(&current.public_pem).unwrap(),
        Some(current.kid.clone()),
        Algorithm::HS256,
        &good,
    );
    let valid = issuer.mint(&good);
    let mut parts: Vec<&str> = valid.split('.').collect();
    let other = issuer.mint(&with("sub", json!("someone-else")));
    parts[2] = other.split('.').nth(2).unwrap();
    let bad_signature = parts.join(".");
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("no header", None, "missing"),
        ("not bearer", Some(format!("Basic {valid}")), "malformed"),
        (
            "not a JWT",
            Some(String::from("Bearer abc.def")),
            "malformed",
        ),
        (
            "expired",
            Some(format!(
                "Bearer {}",
                issuer.mint(&with("exp", json!(now - 3600)))
            )),
            "expired",
        ),
        (
            "not yet valid",
            Some(format!(
                "Bearer {}",
                issuer.mint(&with("nbf", json!(now + 3600)))
            )),
            "not_yet_valid",
        ),
        (
            "wrong issuer",
            Some(format!(
                "Bearer {}",
                issuer.mint(&with("iss", json!("https://evil.example")))
            )),
            "issuer",
        ),
        (
            "wrong audience",
            Some(format!(
                "Bearer {}",
                issuer.mint(&with("aud", json!("api://other")))
            )),
            "audience",
        ),
        ("alg none", Some(format!("Bearer {none}")), "algorithm"),
        (
            "HS256 with the public key",
            Some(format!("Bearer {hs256}")),
            "algorithm",
        ),
        (
            "bad signature",
            Some(format!("Bearer {bad_signature}")),
            "signature",
        ),
        (
            "a key the issuer never published",
            Some(format!(
                "Bearer {}",
                sign(
                    &unpublished.signing,
                    Some(unpublished.kid.clone()),
                    Algorithm::RS256,
                    &good
                )
            )),
            "unknown_key",
        ),
    ];
    for (what, header, reason) in cases {
        let got = v.verify(header.as_deref()).await;
        match got {
            Err(e) => assert_eq!(e.reason(), reason, "{what}: {e}"),
            Ok(p) => panic!("{what}: accepted as {p:?}"),
        }
    }
    assert_eq!(
        check(&v, &valid).await.map(|p| p.role),
        Ok(Some(Role::Reader))
    );
}

/// Key rollover: a token of a key the issuer published after the start is
/// accepted once the JWKS is fetched again (at most every 10 s); unknown
/// key ids do not make the verifier fetch on every request.
#[tokio::test]
async fn a_rotated_key_is_fetched_again_and_unknown_keys_do_not_flood_the_issuer() {
    let mut issuer = Issuer::start();
    let v = verifier(&issuer).await;
    assert_eq!(issuer.jwks_fetches(), 1);
    // Rotated right after the start: within the 10 s the verifier does not
    // fetch again, and says the key is unknown.
    issuer.rotate();
    let token = issuer.mint(&issuer.claims(AUD, &["ALP.Admin"]));
    for _ in 0..20 {
        assert_eq!(
            check(&v, &token).await.map_err(|e| e.reason()),
            Err("unknown_key")
        );
    }
    assert_eq!(issuer.jwks_fetches(), 1, "no fetch storm");
    tokio::time::pause();
    tokio::time::advance(alp_connex::auth::JWKS_REFETCH).await;
    tokio::time::resume();
    let p = check(&v, &token)
        .await
        .expect("accepted after the JWKS is fetched again");
    assert_eq!(p.role, Some(Role::Admin));
    assert_eq!(issuer.jwks_fetches(), 2);
}

/// A withdrawn key: once the JWKS is read again, the tokens of the key the
/// issuer took out are refused, even one verified (and kept) before; an
/// unchanged JWKS changes nothing.
#[tokio::test]
async fn a_key_the_issuer_withdrew_is_refused_after_the_keys_are_read_again() {
    let mut issuer = Issuer::start();
    let v = verifier(&issuer).await;
    let old = issuer.current();
    let token = issuer.mint(&issuer.claims(AUD, &["ALP.Admin"]));
    assert!(check(&v, &token).await.is_ok());
    assert_eq!(v.refresh_keys().await, Ok(false), "unchanged");
    assert!(check(&v, &token).await.is_ok());
    issuer.rotate();
    issuer.withdraw(&old.kid);
    let fetches = issuer.jwks_fetches();
    assert_eq!(v.refresh_keys().await, Ok(true), "changed");
    assert_eq!(issuer.jwks_fetches(), fetches + 1);
    assert_eq!(
        check(&v, &token).await.map_err(|e| e.reason()),
        Err("unknown_key")
    );
    let new = issuer.mint(&issuer.claims(AUD, &["ALP.Reader"]));
    assert_eq!(
        check(&v, &new).await.map(|p| p.role),
        Ok(Some(Role::Reader))
    );
}

#[tokio::test]
async fn an_issuer_whose_discovery_names_another_issuer_is_refused_at_start() {
    let issuer = Issuer::start();
    let e = Verifier::discover(AuthConfig {
        issuer: format!("{}/", issuer.url()),
        audience: AUD.to_owned(),
        roles_claim: String::from("roles"),
        roles: RoleNames::default(),
    })
    .await
    .expect_err("a trailing slash is another issuer");
    assert!(e.to_string().contains("not"), "{e}");
}

/// The gate of the API routes: 401 with the RFC 6750 challenge (no error
/// code without a token, `invalid_token` with a bad one), 403 below the
/// route's role, the principal otherwise; the token never in the answer.
#[tokio::test]
async fn the_api_gate_answers_401_with_the_challenge_403_below_the_role_and_passes_the_rest() {
    use alp_connex::backend::authn::require;
    use axum::http::{HeaderMap, HeaderValue, StatusCode, header};

    let issuer = Issuer::start();
    let v = verifier(&issuer).await;
    let headers = |token: Option<&str>| {
        let mut h = HeaderMap::new();
        if let Some(t) = token {
            h.insert(
                header::AUTHORIZATION,
                HeaderValue::from_str(&format!("Bearer {t}")).unwrap(),
            );
        }
        h
    };
    let body = |r: axum::response::Response| async move {
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    };

    let r = require(&v, &headers(None), Role::Reader).await.unwrap_err();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Bearer");
    assert_eq!(
        r.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );

    let mut expired = issuer.claims(AUD, &["ALP.Admin"]);
    expired["exp"] = json!(expired["iat"].as_u64().unwrap() - 3600);
    let token = issuer.mint(&expired);
    let r = require(&v, &headers(Some(&token)), Role::Reader)
        .await
        .unwrap_err();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.headers()[header::WWW_AUTHENTICATE],
        "Bearer error=\"invalid_token\", error_description=\"expired\""
    );
    let text = body(r).await;
    assert!(
        text.contains("token expired") && !text.contains(&token),
        "{text}"
    );

    let reader = issuer.mint(&issuer.claims(AUD, &["ALP.Reader"]));
    let r = require(&v, &headers(Some(&reader)), Role::Engineer)
        .await
        .unwrap_err();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(body(r).await.contains("role Engineer needed"));
    let p = require(&v, &headers(Some(&reader)), Role::Reader)
        .await
        .unwrap();
    assert_eq!(p.actor(), "engineer@grid.example");
}
