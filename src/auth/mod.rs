//! Bearer tokens of an OpenID Connect provider (Microsoft Entra ID v2 in
//! production), checked as a resource server checks them: the backend
//! never runs a login flow, it only validates the tokens its clients bring.
//!
//! ```text
//! start: GET {issuer}/.well-known/openid-configuration ─► issuer equal? ─► jwks_uri ─► GET JWKS (cached)
//! every JWKS_REFRESH (the backend's task): GET JWKS ─► changed? the new set, the verified tokens forgotten
//! request: Authorization: Bearer <JWT>
//!     ─► header: alg RS256 only (none, HMAC, anything else refused), kid
//!     ─► key of that kid (unknown: the JWKS fetched again, at most every 10 s, so a key rollover needs no restart)
//!     ─► signature, iss exactly, aud, exp and nbf with a leeway of 60 s
//!     ─► the roles claim mapped to the platform role (Reader < Engineer < Admin), the user (preferred_username, oid)
//!     ─► the principal kept with the token's exp (TokenCache): the same token again costs a lookup and the
//!        exp check, not the RSA verification; a new JWKS empties the cache (a withdrawn key's tokens are checked again)
//! ```
//!
//! `jsonwebtoken` (with its pure-Rust crypto) checks the signature and the
//! claims; the discovery document and the JWKS come over `reqwest` with
//! rustls and ring, the one TLS stack of the tree. `openidconnect` would
//! bring login flows the API never runs and a second HTTP stack.
//!
//! Errors are typed ([`AuthError`]) with a short reason for metrics
//! ([`AuthError::reason`]); none of them shows the token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde::Deserialize;
use tokio::sync::RwLock;
use tokio::time::Instant;

/// The leeway on `exp` and `nbf`, seconds (clocks of provider and backend
/// differ a little).
pub const LEEWAY_S: u64 = 60;
/// The shortest interval between two fetches of the JWKS for an unknown
/// key id.
pub const JWKS_REFETCH: Duration = Duration::from_secs(10);
/// How often the backend reads the JWKS again even without an unknown key
/// id ([`Verifier::refresh_keys`]), so that a key the issuer withdrew
/// stops being accepted.
pub const JWKS_REFRESH: Duration = Duration::from_secs(3600);
/// How long a fetch of the discovery document or the JWKS may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest token accepted, octets.
const MAX_TOKEN: usize = 16 * 1024;
/// The most verified tokens kept (with [`MAX_TOKEN`], at most 64 MiB; a
/// real token is 1 to 2 KiB).
const CACHED_TOKENS: usize = 4096;

/// What the platform lets a user do, from the least to the most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Read everything but the audit log.
    Reader,
    /// Configure connectors and mappings.
    Engineer,
    /// Everything, including restores and the audit log.
    Admin,
}

/// The app role names of the provider that map to the platform roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleNames {
    pub reader: String,
    pub engineer: String,
    pub admin: String,
}

impl Default for RoleNames {
    fn default() -> Self {
        Self {
            reader: String::from("ALP.Reader"),
            engineer: String::from("ALP.Engineer"),
            admin: String::from("ALP.Admin"),
        }
    }
}

/// What the tokens are checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// `iss`, exactly (Entra ID v2: `https://login.microsoftonline.com/{tenant}/v2.0`).
    pub issuer: String,
    /// `aud` (e.g. `api://alp-connex`).
    pub audience: String,
    /// The claim holding the app roles (`roles` in Entra ID).
    pub roles_claim: String,
    /// The role names.
    pub roles: RoleNames,
}

/// Who a valid token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// `sub`.
    pub subject: String,
    /// `preferred_username`, when the token has one.
    pub username: Option<String>,
    /// `oid` (Entra ID's object id of the user), when the token has one.
    pub object_id: Option<String>,
    /// The highest platform role of the token's app roles; `None`: none.
    pub role: Option<Role>,
}

impl Principal {
    /// The name the audit log records: the user name, else the object id,
    /// else the subject.
    pub fn actor(&self) -> &str {
        self.username
            .as_deref()
            .or(self.object_id.as_deref())
            .unwrap_or(&self.subject)
    }
}

/// Why a request is not authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("no bearer token")]
    Missing,
    /// Not `Bearer <JWT>`, or not a JWT.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// An algorithm other than RS256 (`none`, HMAC, …).
    #[error("algorithm {0} is not accepted (RS256 only)")]
    Algorithm(String),
    /// No key of the issuer has the token's key id (after a fresh JWKS).
    #[error("unknown signing key {0:?}")]
    UnknownKey(String),
    /// The signature does not verify.
    #[error("bad signature")]
    Signature,
    /// `exp` has passed.
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("token not yet valid")]
    NotYetValid,
    /// `iss` is not the configured issuer.
    #[error("wrong issuer")]
    Issuer,
    /// `aud` does not name this API.
    #[error("wrong audience")]
    Audience,
    /// A required claim is missing or of the wrong form.
    #[error("bad claims: {0}")]
    Claims(String),
    /// The issuer's keys could not be fetched.
    #[error("the issuer's keys are not available: {0}")]
    Unavailable(String),
}

impl AuthError {
    /// A short name for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed(_) => "malformed",
            Self::Algorithm(_) => "algorithm",
            Self::UnknownKey(_) => "unknown_key",
            Self::Signature => "signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::Issuer => "issuer",
            Self::Audience => "audience",
            Self::Claims(_) => "claims",
            Self::Unavailable(_) => "unavailable",
        }
    }
}

/// Why the issuer could not be used at start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    #[error("{url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("the discovery document names issuer {found:?}, not {expected:?}")]
    IssuerMismatch { expected: String, found: String },
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

/// The keys of the issuer and when they were fetched.
struct Keys {
    set: JwkSet,
    fetched: Instant,
}

/// Checks bearer tokens of one issuer.
pub struct Verifier {
    config: AuthConfig,
    http: reqwest::Client,
    jwks_uri: String,
    keys: RwLock<Keys>,
    verified: TokenCache,
}

/// Tokens whose signature and claims were verified, with who they speak
/// for and their `exp`, keyed by the whole token (the same octets, the
/// same signature: nothing is trusted that was not verified). Only the
/// time is checked again. Bounded: when full, the expired ones go, and if
/// none has, all.
#[derive(Default)]
struct TokenCache {
    entries: Mutex<HashMap<String, (Principal, u64)>>,
}

impl TokenCache {
    /// The principal of `token` if it was verified and its `exp` (with the
    /// leeway) has not passed at `now` (Unix seconds); an expired one is
    /// dropped and refused.
    fn get(&self, token: &str, now: u64) -> Option<Result<Principal, AuthError>> {
        let mut entries = self.entries.lock().ok()?;
        let (principal, exp) = entries.get(token)?;
        if exp.saturating_add(LEEWAY_S) < now {
            entries.remove(token);
            return Some(Err(AuthError::Expired));
        }
        Some(Ok(principal.clone()))
    }

    fn put(&self, token: &str, principal: &Principal, exp: u64, now: u64) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= CACHED_TOKENS {
            entries.retain(|_, (_, exp)| exp.saturating_add(LEEWAY_S) >= now);
            if entries.len() >= CACHED_TOKENS {
                entries.clear();
            }
        }
        entries.insert(token.to_owned(), (principal.clone(), exp));
    }

    fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}

/// Now, Unix seconds.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.config.issuer)
            .field("jwks_uri", &self.jwks_uri)
            .finish()
    }
}

/// The HTTP client of the discovery and the JWKS: rustls with ring and the
/// system's trust store.
fn http_client() -> Result<reqwest::Client, String> {
    let tls = crate::mqtt::tls::client_config(&crate::mqtt::config::TlsSettings {
        ca_file: None,
        client: None,
    })?;
    reqwest::Client::builder()
        .use_preconfigured_tls((*tls).clone())
        .timeout(FETCH_TIMEOUT)
        .build()
        .map_err(|e| e.to_string())
}

async fn fetch<T: for<'de> Deserialize<'de>>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, DiscoveryError> {
    let fail = |reason: String| DiscoveryError::Fetch {
        url: url.to_owned(),
        reason,
    };
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|e| fail(e.to_string()))?;
    if !response.status().is_success() {
        return Err(fail(format!("HTTP {}", response.status())));
    }
    response.json::<T>().await.map_err(|e| fail(e.to_string()))
}

impl Verifier {
    /// Reads the issuer's discovery document (its `issuer` must be the
    /// configured one exactly) and its JWKS.
    pub async fn discover(config: AuthConfig) -> Result<Arc<Verifier>, DiscoveryError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            config.issuer.trim_end_matches('/')
        );
        let http = http_client().map_err(|reason| DiscoveryError::Fetch {
            url: url.clone(),
            reason,
        })?;
        let discovery: Discovery = fetch(&http, &url).await?;
        if discovery.issuer != config.issuer {
            return Err(DiscoveryError::IssuerMismatch {
                expected: config.issuer,
                found: discovery.issuer,
            });
        }
        let set: JwkSet = fetch(&http, &discovery.jwks_uri).await?;
        Ok(Arc::new(Verifier {
            config,
            http,
            jwks_uri: discovery.jwks_uri,
            keys: RwLock::new(Keys {
                set,
                fetched: Instant::now(),
            }),
            verified: TokenCache::default(),
        }))
    }

    /// Checks the value of an `Authorization` header.
    pub async fn verify(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        let header = authorization.ok_or(AuthError::Missing)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or_else(|| AuthError::Malformed(String::from("not a Bearer token")))?;
        if token.len() > MAX_TOKEN {
            return Err(AuthError::Malformed(format!(
                "longer than {MAX_TOKEN} octets"
            )));
        }
        let now = unix_now();
        if let Some(known) = self.verified.get(token, now) {
            return known;
        }
        let (alg, kid) = header_of(token)?;
        if alg != "RS256" {
            return Err(AuthError::Algorithm(alg));
        }
        let kid = kid.ok_or_else(|| AuthError::Malformed(String::from("no key id (kid)")))?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.leeway = LEEWAY_S;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = decode::<serde_json::Value>(token, &key, &validation).map_err(from_jwt)?;
        let principal = self.principal(&data.claims);
        if let Some(exp) = data.claims.get("exp").and_then(serde_json::Value::as_u64) {
            self.verified.put(token, &principal, exp, now);
        }
        Ok(principal)
    }

    /// Reads the issuer's JWKS again. When it changed (a key added or
    /// withdrawn), the new set replaces the old and the verified tokens
    /// are forgotten, so that a withdrawn key's tokens are refused from
    /// now on; `Ok(true)` then. On an error the keys are kept.
    pub async fn refresh_keys(&self) -> Result<bool, AuthError> {
        let set: JwkSet = fetch(&self.http, &self.jwks_uri)
            .await
            .map_err(|e| AuthError::Unavailable(e.to_string()))?;
        let mut keys = self.keys.write().await;
        keys.fetched = Instant::now();
        if keys.set == set {
            return Ok(false);
        }
        keys.set = set;
        self.verified.clear();
        Ok(true)
    }

    /// The decoding key of `kid`; an unknown one fetches the JWKS again
    /// (at most every [`JWKS_REFETCH`]).
    async fn key(&self, kid: &str) -> Result<DecodingKey, AuthError> {
        if let Some(k) = find(&self.keys.read().await.set, kid)? {
            return Ok(k);
        }
        let mut keys = self.keys.write().await;
        if let Some(k) = find(&keys.set, kid)? {
            return Ok(k);
        }
        if keys.fetched.elapsed() < JWKS_REFETCH {
            return Err(AuthError::UnknownKey(kid.to_owned()));
        }
        keys.fetched = Instant::now();
        let set: JwkSet = fetch(&self.http, &self.jwks_uri)
            .await
            .map_err(|e| AuthError::Unavailable(e.to_string()))?;
        keys.set = set;
        self.verified.clear();
        find(&keys.set, kid)?.ok_or_else(|| AuthError::UnknownKey(kid.to_owned()))
    }

    fn principal(&self, claims: &serde_json::Value) -> Principal {
        let text = |name: &str| claims.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        let names = &self.config.roles;
        let role = claims
            .get(&self.config.roles_claim)
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str())
            .filter_map(|r| {
                if r == names.admin {
                    Some(Role::Admin)
                } else if r == names.engineer {
                    Some(Role::Engineer)
                } else if r == names.reader {
                    Some(Role::Reader)
                } else {
                    None
                }
            })
            .max();
        Principal {
            subject: text("sub").unwrap_or_default(),
            username: text("preferred_username"),
            object_id: text("oid"),
            role,
        }
    }
}

/// The key of `kid` in `set`, if it has one; a key of that id that is not
/// an RSA key is refused.
fn find(set: &JwkSet, kid: &str) -> Result<Option<DecodingKey>, AuthError> {
    let Some(jwk) = set
        .keys
        .iter()
        .find(|k: &&Jwk| k.common.key_id.as_deref() == Some(kid))
    else {
        return Ok(None);
    };
    DecodingKey::from_jwk(jwk)
        .map(Some)
        .map_err(|e| AuthError::Unavailable(format!("key {kid:?} of the issuer: {e}")))
}

/// The `alg` and `kid` of a token's header, read without trusting it.
fn header_of(token: &str) -> Result<(String, Option<String>), AuthError> {
    let malformed = |why: &str| AuthError::Malformed(why.to_owned());
    let mut parts = token.split('.');
    let (Some(head), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("not three dot-separated parts"));
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(head)
        .map_err(|_| malformed("header not base64url"))?;
    #[derive(Deserialize)]
    struct Head {
        alg: Option<String>,
        kid: Option<String>,
    }
    let h: Head = serde_json::from_slice(&bytes).map_err(|_| malformed("header not JSON"))?;
    Ok((h.alg.unwrap_or_default(), h.kid))
}

fn from_jwt(e: jsonwebtoken::errors::Error) -> AuthError {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::InvalidSignature => AuthError::Signature,
        K::ExpiredSignature => AuthError::Expired,
        K::ImmatureSignature => AuthError::NotYetValid,
        K::InvalidIssuer => AuthError::Issuer,
        K::InvalidAudience => AuthError::Audience,
        K::MissingRequiredClaim(c) => AuthError::Claims(format!("no {c}")),
        K::InvalidClaimFormat(c) => AuthError::Claims(format!("{c} of the wrong form")),
        K::InvalidAlgorithm => AuthError::Algorithm(String::from("(mismatch)")),
        K::InvalidToken | K::Base64(_) | K::Json(_) | K::Utf8(_) => {
            AuthError::Malformed(e.to_string())
        }
        _ => AuthError::Malformed(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn the_header_is_read_without_trusting_it_and_anything_not_a_jwt_is_malformed() {
        let t = format!("{}.{}.sig", b64(r#"{"alg":"none","typ":"JWT"}"#), b64("{}"));
        assert_eq!(header_of(&t), Ok((String::from("none"), None)));
        let t = format!("{}.{}.sig", b64(r#"{"alg":"RS256","kid":"k1"}"#), b64("{}"));
        assert_eq!(
            header_of(&t),
            Ok((String::from("RS256"), Some(String::from("k1"))))
        );
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "!!!.b.c",
            &format!("{}.b.c", b64("[1]")),
        ] {
            assert!(
                matches!(header_of(bad), Err(AuthError::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_actor_is_the_user_name_else_the_object_id_else_the_subject() {
        let mut p = Principal {
            subject: "s".into(),
            username: Some("u@x".into()),
            object_id: Some("o".into()),
            role: None,
        };
        assert_eq!(p.actor(), "u@x");
        p.username = None;
        assert_eq!(p.actor(), "o");
        p.object_id = None;
        assert_eq!(p.actor(), "s");
    }

    fn principal(name: &str) -> Principal {
        Principal {
            subject: name.into(),
            username: None,
            object_id: None,
            role: Some(Role::Reader),
        }
    }

    #[test]
    fn a_verified_token_is_known_until_its_exp_and_the_leeway_and_then_refused() {
        let cache = TokenCache::default();
        assert_eq!(cache.get("t1", 1000), None);
        cache.put("t1", &principal("a"), 1000, 900);
        assert_eq!(cache.get("t1", 1000), Some(Ok(principal("a"))));
        assert_eq!(cache.get("t1", 1000 + LEEWAY_S), Some(Ok(principal("a"))));
        assert_eq!(
            cache.get("t1", 1001 + LEEWAY_S),
            Some(Err(AuthError::Expired))
        );
        // Dropped once expired: a later look-up verifies the token again.
        assert_eq!(cache.get("t1", 1000), None);
        // Another token, even one differing in a single octet, is not known.
        cache.put("t2", &principal("b"), 1000, 900);
        assert_eq!(cache.get("t3", 900), None);
        cache.clear();
        assert_eq!(cache.get("t2", 900), None);
    }

    #[test]
    fn a_full_cache_drops_the_expired_tokens_first_and_else_everything() {
        let cache = TokenCache::default();
        for i in 0..CACHED_TOKENS {
            // Every other token expired by now = 2000.
            let exp = if i % 2 == 0 { 100 } else { 5000 };
            cache.put(&format!("t{i}"), &principal("a"), exp, 50);
        }
        cache.put("new", &principal("n"), 5000, 2000);
        assert_eq!(cache.get("new", 2000), Some(Ok(principal("n"))));
        assert_eq!(cache.get("t1", 2000), Some(Ok(principal("a"))));
        assert_eq!(cache.get("t0", 50), None, "expired ones dropped");
        let kept = cache.entries.lock().map(|e| e.len()).unwrap_or(0);
        assert_eq!(kept, CACHED_TOKENS / 2 + 1);
        for i in 0..CACHED_TOKENS {
            cache.put(&format!("u{i}"), &principal("a"), 5000, 2000);
        }
        let kept = cache.entries.lock().map(|e| e.len()).unwrap_or(0);
        assert!(kept < CACHED_TOKENS, "{kept}");
    }

    #[test]
    fn roles_are_ordered_reader_engineer_admin() {
        assert!(Role::Reader < Role::Engineer && Role::Engineer < Role::Admin);
    }
}
