//! The web UI's static files (`web/dist`, built by `npm run build`), served
//! by the backend on the API's own origin when `http.ui_dir` is set.
//!
//! - `/assets/…`: the build's files with a content hash in their names,
//!   cached for a year as immutable; one that does not exist is a plain 404
//!   (never the page, which a browser would then try to run as a script).
//! - any other path that is no file of the directory: `index.html`, so that
//!   the single-page app's own routes (`/connectors/mqtt-1`) load on a
//!   reload or from a bookmark (the SPA fallback);
//! - `index.html` and the other files: `Cache-Control: no-cache`, so that a
//!   new build is picked up at once.
//!
//! Every answer carries a Content-Security-Policy without `unsafe-inline`
//! or `unsafe-eval` for scripts: scripts from the origin only, connections
//! to the origin and the OpenID provider (its discovery, keys and token
//! endpoint), frames of the provider and of the origin itself (the silent
//! token renewal), and the UI framed by nothing but itself. Inline style
//! attributes are allowed (the graph library positions its nodes with
//! them); they cannot run code.
//!
//! The files are served by `tower-http`'s `ServeDir` (content types,
//! conditional and range requests, no path outside the directory).

use std::path::Path;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use tower_http::services::{ServeDir, ServeFile};

/// `Cache-Control` of the hashed build files.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of `index.html` and the files without a hash.
pub const REVALIDATE: &str = "no-cache";

/// The origin (`scheme://host[:port]`) of a URL, for the policy; `None`
/// when it has none.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() || authority.contains(['\'', ';', ' ', ',', '"']) {
        return None;
    }
    Some(format!("{}://{}", scheme.to_ascii_lowercase(), authority))
}

/// The Content-Security-Policy of the UI with the provider at `issuer`
/// (`None` without authentication).
pub fn content_security_policy(issuer: Option<&str>) -> String {
    let provider = issuer.and_then(origin_of);
    let with = |base: &str| match &provider {
        Some(p) => format!("{base} {p}"),
        None => base.to_owned(),
    };
    [
        "default-src 'self'".to_owned(),
        "script-src 'self'".to_owned(),
        "style-src 'self' 'unsafe-inline'".to_owned(),
        "img-src 'self' data:".to_owned(),
        "font-src 'self'".to_owned(),
        with("connect-src 'self'"),
        with("frame-src 'self'"),
        "frame-ancestors 'self'".to_owned(),
        "form-action 'self'".to_owned(),
        "base-uri 'self'".to_owned(),
        "object-src 'none'".to_owned(),
    ]
    .join("; ")
}

/// The router serving the UI of `dir` (holding `index.html` and
/// `assets/`), with `csp` on every answer.
pub fn router<S: Clone + Send + Sync + 'static>(dir: &Path, csp: &str) -> Router<S> {
    let csp = HeaderValue::from_str(csp)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'"));
    Router::new()
        .nest_service("/assets", ServeDir::new(dir.join("assets")))
        .fallback_service(ServeDir::new(dir).fallback(ServeFile::new(dir.join("index.html"))))
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            let csp = csp.clone();
            let hashed = request.uri().path().starts_with("/assets/");
            async move { with_headers(next.run(request).await, hashed, csp) }
        }))
}

fn with_headers(mut r: Response, hashed: bool, csp: HeaderValue) -> Response {
    let ok = r.status().is_success() || r.status() == StatusCode::NOT_MODIFIED;
    let h = r.headers_mut();
    if hashed && ok {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    } else {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(REVALIDATE));
    }
    h.insert(header::CONTENT_SECURITY_POLICY, csp);
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    r
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use axum::body::Body;
    use tower::ServiceExt;

    use super::*;

    struct Dist(PathBuf);

    impl Drop for Dist {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn dist() -> Dist {
        let dir = std::env::temp_dir().join(format!(
            "alp-connex-ui-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(dir.join("assets")).unwrap();
        std::fs::write(dir.join("index.html"), "<!doctype html><title>ui</title>").unwrap();
        std::fs::write(dir.join("favicon.svg"), "<svg/>").unwrap();
        std::fs::write(dir.join("assets/index-abc123.js"), "console.log(1)").unwrap();
        Dist(dir)
    }

    async fn get(
        router: Router,
        path: &str,
    ) -> (
        StatusCode,
        Option<String>,
        Option<String>,
        Option<String>,
        String,
    ) {
        let r = router
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let h = |name: header::HeaderName| {
            r.headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let (status, ct, cc, csp) = (
            r.status(),
            h(header::CONTENT_TYPE),
            h(header::CACHE_CONTROL),
            h(header::CONTENT_SECURITY_POLICY),
        );
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        (
            status,
            ct,
            cc,
            csp,
            String::from_utf8_lossy(&body).into_owned(),
        )
    }

    #[tokio::test]
    async fn hashed_assets_are_cached_as_immutable() {
        let d = dist();
        let (status, ct, cc, csp, body) = get(
            router(&d.0, "default-src 'self'"),
            "/assets/index-abc123.js",
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(ct.as_deref(), Some("text/javascript"));
        assert_eq!(cc.as_deref(), Some(IMMUTABLE));
        assert_eq!(csp.as_deref(), Some("default-src 'self'"));
        assert_eq!(body, "console.log(1)");
    }

    #[tokio::test]
    async fn a_missing_asset_is_a_404_not_the_page() {
        let d = dist();
        let (status, _, cc, _, body) = get(router(&d.0, "x"), "/assets/gone-000.js").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_ne!(cc.as_deref(), Some(IMMUTABLE));
        assert!(!body.contains("<title>ui</title>"));
    }

    #[tokio::test]
    async fn a_route_of_the_app_gets_the_page_revalidated_every_time() {
        let d = dist();
        for path in ["/", "/connectors/mqtt-1", "/points?casdu=101"] {
            let (status, ct, cc, csp, body) = get(router(&d.0, "default-src 'self'"), path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(ct.as_deref(), Some("text/html"), "{path}");
            assert_eq!(cc.as_deref(), Some(REVALIDATE), "{path}");
            assert_eq!(csp.as_deref(), Some("default-src 'self'"), "{path}");
            assert_eq!(body, "<!doctype html><title>ui</title>", "{path}");
        }
        let (status, ct, cc, _, _) = get(router(&d.0, "x"), "/favicon.svg").await;
        assert_eq!(
            (status, ct.as_deref(), cc.as_deref()),
            (StatusCode::OK, Some("image/svg+xml"), Some(REVALIDATE))
        );
    }

    #[tokio::test]
    async fn no_path_leads_out_of_the_directory() {
        let d = dist();
        let secret =
            d.0.parent()
                .unwrap()
                .join(format!("alp-connex-ui-secret-{}", std::process::id()));
        std::fs::write(&secret, "secret").unwrap();
        let name = secret.file_name().unwrap().to_str().unwrap().to_owned();
        for path in [
            format!("/../{name}"),
            format!("/assets/../../{name}"),
            format!("/%2e%2e/{name}"),
        ] {
            let (_, _, _, _, body) = get(router(&d.0, "x"), &path).await;
            assert_ne!(body, "secret", "{path}");
        }
        let _ = std::fs::remove_file(secret);
    }

    #[test]
    fn the_policy_allows_scripts_from_the_origin_only_and_names_the_provider() {
        let csp = content_security_policy(Some(
            "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0",
        ));
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(!csp.contains("script-src 'self' 'unsafe"), "{csp}");
        assert!(!csp.contains("unsafe-eval"), "{csp}");
        assert!(
            csp.contains("connect-src 'self' https://login.microsoftonline.com;"),
            "{csp}"
        );
        assert!(
            csp.contains("frame-src 'self' https://login.microsoftonline.com;"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'self'"), "{csp}");
        let local = content_security_policy(Some("http://127.0.0.1:9090"));
        assert!(
            local.contains("connect-src 'self' http://127.0.0.1:9090;"),
            "{local}"
        );
        let none = content_security_policy(None);
        assert!(none.contains("connect-src 'self';"), "{none}");
        assert!(
            content_security_policy(Some("https://x'; script-src *"))
                .contains("connect-src 'self';")
        );
    }
}
