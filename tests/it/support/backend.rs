//! `alp-connex backend` as a child process on a free loopback port, and a
//! plain HTTP/1.1 GET to ask it things.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::process::{POLL, free_port, loopback};
use super::valkey::ValkeyGuard;

/// How long a test waits for the backend to be ready.
pub const BACKEND_READY: Duration = Duration::from_secs(30);

/// One HTTP answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` when it is none).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// `GET path` over a new connection (`Connection: close`), or the I/O
/// error (nothing listening).
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<Reply> {
    http(addr, "GET", path, &[], None)
}

/// One request over a new connection (`Connection: close`) with these
/// headers and body (sent as `application/json` unless a header says
/// otherwise), or the I/O error.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> std::io::Result<Reply> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    if let Some(b) = body {
        if !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        {
            head.push_str("Content-Type: application/json\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if let Some(b) = body {
        stream.write_all(b.as_bytes())?;
    }
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no header end in {text:?}")))?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line in {head:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// A chunked body's content.
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

/// A running backend; SIGTERM and reaped on drop. Its log (stderr) is kept.
pub struct Backend {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    port: u16,
}

impl Backend {
    /// `alp-connex backend --id backend --log-level debug --insecure-no-auth
    /// http --bind 127.0.0.1 --port P redis --host 127.0.0.1:V`, the database
    /// URL in `ALP_CONNEX_DATABASE__URL` (the documented place for one that
    /// may hold a password), more variables in `env`.
    pub fn start(database_url: &str, valkey: &ValkeyGuard, env: &[(&str, &str)]) -> Backend {
        let mut backend = Backend::spawn(database_url, valkey, env);
        let deadline = Instant::now() + BACKEND_READY;
        while http_get(backend.addr(), "/healthz").is_err() {
            assert!(
                backend.is_running(),
                "the backend ended at start\n--- backend log:\n{}",
                backend.log_tail(40)
            );
            assert!(
                Instant::now() < deadline,
                "the backend does not listen after {BACKEND_READY:?}\n--- backend log:\n{}",
                backend.log_tail(40)
            );
            thread::sleep(POLL);
        }
        backend
    }

    /// [`Backend::start`] without waiting for it to listen.
    pub fn spawn(database_url: &str, valkey: &ValkeyGuard, env: &[(&str, &str)]) -> Backend {
        Backend::spawn_with(database_url, valkey, None, env)
    }

    /// [`Backend::start`] with tokens of `issuer` (audience
    /// `api://alp-connex`) instead of `--insecure-no-auth`.
    pub fn start_oidc(
        database_url: &str,
        valkey: &ValkeyGuard,
        issuer: &str,
        env: &[(&str, &str)],
    ) -> Backend {
        let mut backend = Backend::spawn_with(database_url, valkey, Some(issuer), env);
        let deadline = Instant::now() + BACKEND_READY;
        while http_get(backend.addr(), "/healthz").is_err() {
            assert!(
                backend.is_running(),
                "the backend ended at start\n{}",
                backend.log_tail(40)
            );
            assert!(
                Instant::now() < deadline,
                "the backend does not listen\n{}",
                backend.log_tail(40)
            );
            thread::sleep(POLL);
        }
        backend
    }

    fn spawn_with(
        database_url: &str,
        valkey: &ValkeyGuard,
        issuer: Option<&str>,
        env: &[(&str, &str)],
    ) -> Backend {
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_alp-connex"));
        cmd.args(["backend", "--id", "backend", "--log-level", "debug"]);
        if issuer.is_none() {
            cmd.arg("--insecure-no-auth");
        }
        cmd.args(["http", "--bind", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .args(["redis", "--host"])
            .arg(format!("127.0.0.1:{}", valkey.port()));
        if let Some(issuer) = issuer {
            cmd.args(["oidc", "--issuer", issuer, "--audience", "api://alp-connex"]);
        }
        cmd.env("ALP_CONNEX_DATABASE__URL", database_url)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start alp-connex backend: {e}"));
        let log = Arc::new(Mutex::new(Vec::new()));
        if let Some(stderr) = child.stderr.take() {
            let sink = Arc::clone(&log);
            thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Ok(mut l) = sink.lock() {
                        l.push(line);
                    }
                }
            });
        }
        Backend { child, log, port }
    }

    pub fn addr(&self) -> SocketAddr {
        loopback(self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A request with a bearer token (if any), a body (if any) and more
    /// headers; panics when the backend does not answer.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if let Some(a) = auth.as_deref() {
            all.push(("Authorization", a));
        }
        let text = body.map(Value::to_string);
        http(self.addr(), method, path, &all, text.as_deref()).unwrap_or_else(|e| {
            panic!(
                "{method} {path}: {e}\n--- backend log:\n{}",
                self.log_tail(40)
            )
        })
    }

    /// `GET path`; panics when the backend does not answer.
    pub fn get(&self, path: &str) -> Reply {
        http_get(self.addr(), path)
            .unwrap_or_else(|e| panic!("GET {path}: {e}\n--- backend log:\n{}", self.log_tail(40)))
    }

    /// Polls `/readyz` until its status is `status`; returns that answer.
    pub fn until_ready_is(&self, status: u16, timeout: Duration) -> Reply {
        let mut last = None;
        self.until(&format!("/readyz answers {status}"), timeout, || {
            let reply = http_get(self.addr(), "/readyz").ok();
            let hit = reply.as_ref().is_some_and(|r| r.status == status);
            last = reply;
            hit
        });
        last.expect("a reply")
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGTERM and waits up to `timeout` for the exit.
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        super::process::send_signal(self.child.id(), libc::SIGTERM).expect("SIGTERM sent");
        self.wait_exit(timeout)
    }

    /// Waits up to `timeout` for the process to end by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(exit) = self.child.try_wait().expect("the backend's exit") {
                return exit;
            }
            assert!(
                Instant::now() < deadline,
                "the backend did not end within {timeout:?}\n{}",
                self.log_tail(40)
            );
            thread::sleep(POLL);
        }
    }

    /// Every log line so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Log lines containing `text`.
    pub fn log_lines_with(&self, text: &str) -> Vec<String> {
        self.log()
            .into_iter()
            .filter(|l| l.contains(text))
            .collect()
    }

    /// The last `n` log lines, for failure messages.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log();
        log[log.len().saturating_sub(n)..].join("\n")
    }

    /// Polls `f` until it holds; panics after `timeout` with the log.
    pub fn until(&self, what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            if f() {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{what}: not within {timeout:?}\n--- backend log:\n{}",
                    self.log_tail(40)
                );
            }
            thread::sleep(POLL);
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        super::process::stop_child(&mut self.child, libc::SIGTERM, Duration::from_secs(15));
    }
}

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    pub event: String,
    pub id: String,
    pub data: String,
}

/// A client of an event stream over plain HTTP/1.1 (chunked).
pub struct SseClient {
    pub status: u16,
    reader: BufReader<TcpStream>,
}

impl SseClient {
    /// `GET path` with a bearer token; returns once the head is read.
    pub fn open(addr: SocketAddr, path: &str, token: &str) -> SseClient {
        let mut stream =
            TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
        )
        .expect("request");
        let mut reader = BufReader::new(stream);
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut status = 0;
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) => break,
                Ok(_) => {
                    if status == 0 {
                        status = line
                            .split_whitespace()
                            .nth(1)
                            .and_then(|s| s.parse().ok())
                            .unwrap_or(0);
                    } else if line == "\r\n" {
                        break;
                    }
                }
                Err(_) => assert!(Instant::now() < deadline, "no response head"),
            }
        }
        SseClient { status, reader }
    }

    /// The next `n` events (comments and chunk sizes skipped), waiting at
    /// most `timeout`.
    pub fn events(&mut self, n: usize, timeout: Duration) -> Vec<SseEvent> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        let mut current = SseEvent::default();
        let mut partial = String::new();
        while out.len() < n {
            assert!(
                Instant::now() < deadline,
                "{} of {n} events within {timeout:?}: {out:?}",
                out.len()
            );
            match self.reader.read_line(&mut partial) {
                Ok(0) => panic!("the stream ended after {out:?}"),
                Ok(_) if partial.ends_with('\n') => {
                    let line = std::mem::take(&mut partial);
                    let line = line.trim_end_matches(['\r', '\n']);
                    if let Some(v) = line.strip_prefix("event:") {
                        current.event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("id:") {
                        current.id = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        current.data = v.trim().to_owned();
                    } else if line.is_empty() && !current.event.is_empty() {
                        out.push(std::mem::take(&mut current));
                    }
                }
                Ok(_) | Err(_) => {}
            }
        }
        out
    }
}
