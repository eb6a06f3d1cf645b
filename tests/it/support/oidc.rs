//! An OpenID provider of the tests' own on a free loopback port: it serves
//! the discovery document and the JWKS over HTTP and mints tokens signed
//! with RSA keys made at test time (`openssl genpkey`), so that the token
//! checks run against a real issuer over a real socket. Keys can be rotated
//! (the JWKS then holds the new key too) and kept unpublished (a token
//! signed with a key the issuer never showed).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::process::{TempDir, free_port, run};

/// One RSA key: its id, its signing key, its public PEM.
#[derive(Clone)]
pub struct Key {
    pub kid: String,
    pub signing: EncodingKey,
    pub public_pem: Vec<u8>,
    jwk: Jwk,
}

struct State {
    /// The keys the JWKS shows.
    published: Vec<Key>,
    /// The key tokens are signed with.
    current: Key,
}

/// A running issuer; stopped on drop.
pub struct Issuer {
    port: u16,
    state: Arc<Mutex<State>>,
    jwks_fetches: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    dir: TempDir,
    made: u32,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Issuer {
    pub fn start() -> Issuer {
        let dir = TempDir::new("oidc");
        let first = make_key(&dir, "k1");
        let state = Arc::new(Mutex::new(State {
            published: vec![first.clone()],
            current: first,
        }));
        let listener = TcpListener::bind(("127.0.0.1", free_port())).expect("bind the issuer");
        let port = listener.local_addr().expect("address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let jwks_fetches = Arc::new(AtomicU64::new(0));
        let thread = {
            let (state, stop, fetches) = (state.clone(), stop.clone(), jwks_fetches.clone());
            std::thread::spawn(move || serve(listener, port, &state, &stop, &fetches))
        };
        Issuer {
            port,
            state,
            jwks_fetches,
            stop,
            thread: Some(thread),
            dir,
            made: 1,
        }
    }

    /// `http://127.0.0.1:PORT`: the `iss` of its tokens.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// How often the JWKS was fetched.
    pub fn jwks_fetches(&self) -> u64 {
        self.jwks_fetches.load(Ordering::SeqCst)
    }

    /// The usual claims of a user token for `audience` with `roles`, valid
    /// from a minute ago for an hour.
    pub fn claims(&self, audience: &str, roles: &[&str]) -> Value {
        json!({"iss": self.url(), "aud": audience, "sub": "user-1",
            "preferred_username": "engineer@grid.example", "oid": "0000-oid",
            "roles": roles, "iat": now() - 60, "nbf": now() - 60, "exp": now() + 3600})
    }

    /// A token of `claims` signed RS256 with the current key.
    pub fn mint(&self, claims: &Value) -> String {
        let key = self.current();
        sign(
            &key.signing,
            Some(key.kid.clone()),
            Algorithm::RS256,
            claims,
        )
    }

    /// The key tokens are signed with now.
    pub fn current(&self) -> Key {
        self.state.lock().expect("issuer state").current.clone()
    }

    /// A new key, published in the JWKS beside the old ones and used for
    /// the tokens from now on.
    pub fn rotate(&mut self) -> Key {
        let key = self.new_key();
        let mut s = self.state.lock().expect("issuer state");
        s.published.push(key.clone());
        s.current = key.clone();
        key
    }

    /// Takes the key `kid` out of the JWKS (a withdrawn key).
    pub fn withdraw(&mut self, kid: &str) {
        let mut s = self.state.lock().expect("issuer state");
        s.published.retain(|k| k.kid != kid);
    }

    /// A key the issuer never publishes.
    pub fn new_key(&mut self) -> Key {
        self.made += 1;
        make_key(&self.dir, &format!("k{}", self.made))
    }
}

/// `claims` signed with `key` under `alg`, naming `kid`.
pub fn sign(key: &EncodingKey, kid: Option<String>, alg: Algorithm, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid;
    jsonwebtoken::encode(&header, claims, key).expect("a token")
}

impl Drop for Issuer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the blocking accept, which then sees `stop`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn make_key(dir: &TempDir, kid: &str) -> Key {
    let private = dir.path().join(format!("{kid}.pem"));
    let der = dir.path().join(format!("{kid}.der"));
    let public = dir.path().join(format!("{kid}.pub.pem"));
    run(Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&private));
    // PKCS#1 DER, what jsonwebtoken reads without its PEM feature.
    run(Command::new("openssl")
        .args(["rsa", "-traditional", "-outform", "DER", "-in"])
        .arg(&private)
        .arg("-out")
        .arg(&der));
    run(Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&private)
        .arg("-out")
        .arg(&public));
    let signing = EncodingKey::from_rsa_der(&std::fs::read(&der).expect("the private key"));
    let mut jwk = Jwk::from_encoding_key(&signing, Algorithm::RS256).expect("its JWK");
    jwk.common.key_id = Some(kid.to_owned());
    Key {
        kid: kid.to_owned(),
        signing,
        public_pem: std::fs::read(&public).expect("the public key"),
        jwk,
    }
}

/// Answers HTTP/1.1 GETs, one per connection, until `stop`.
fn serve(
    listener: TcpListener,
    port: u16,
    state: &Mutex<State>,
    stop: &AtomicBool,
    fetches: &AtomicU64,
) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        if let Ok(stream) = stream {
            answer(stream, port, state, fetches);
        }
    }
}

fn answer(stream: TcpStream, port: u16, state: &Mutex<State>, fetches: &AtomicU64) {
    let mut reader = BufReader::new(&stream);
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    // Skip the headers.
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let path = request.split_whitespace().nth(1).unwrap_or("");
    let issuer = format!("http://127.0.0.1:{port}");
    let (status, body) = match path {
        "/.well-known/openid-configuration" => (
            "200 OK",
            json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks"),
                "authorization_endpoint": format!("{issuer}/auth"),
                "token_endpoint": format!("{issuer}/token"),
                "id_token_signing_alg_values_supported": ["RS256"]})
            .to_string(),
        ),
        "/jwks" => {
            fetches.fetch_add(1, Ordering::SeqCst);
            let keys: Vec<Jwk> = state
                .lock()
                .map(|s| s.published.iter().map(|k| k.jwk.clone()).collect())
                .unwrap_or_default();
            (
                "200 OK",
                serde_json::to_string(&JwkSet { keys }).unwrap_or_default(),
            )
        }
        _ => ("404 Not Found", String::from("{}")),
    };
    let mut out = &stream;
    let _ = write!(
        out,
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}
