//! Child processes speaking JSON lines: the c104 IEC 104 peers in
//! `tests/peers/` (one JSON object per line on stdout, commands on stdin).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::process::{is_executable, stop_child};

/// How long a peer gets to print `ready` / `open`.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);
const KEPT_LINES: usize = 400;

/// The Python of the venv that `scripts/test` creates (with c104 2.2.1):
/// `$ALP_CONNEX_PYTHON`, else `.build/venv/bin/python` in the repository.
pub fn python() -> PathBuf {
    let path = std::env::var_os("ALP_CONNEX_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".build/venv/bin/python"));
    if !is_executable(&path) {
        panic!(
            "no Python with c104 at {}: run scripts/test, which creates the venv \
             .build/venv with c104==2.2.1 (or set ALP_CONNEX_PYTHON)",
            path.display()
        );
    }
    path
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The directory of the peer scripts.
pub fn peers_dir() -> PathBuf {
    repo_root().join("tests/peers")
}

enum Out {
    Json(Value),
    Text(String),
}

/// A running peer script. Every stdout line is parsed as JSON and kept in
/// [`history`](Self::history); lines that are not JSON are kept apart and
/// shown in failure messages, as is stderr. Killed and reaped on drop.
pub struct Peer {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Out>,
    history: Vec<Value>,
    noise: Vec<String>,
    stderr: Arc<Mutex<VecDeque<String>>>,
}

impl Peer {
    /// Starts `tests/peers/<script>` with the venv Python.
    pub fn spawn(script: &str, args: &[String]) -> Peer {
        let path = peers_dir().join(script);
        Peer::spawn_program(
            &python(),
            &[path.to_string_lossy().into_owned()],
            args,
            script,
        )
    }

    /// Starts any program that speaks JSON lines.
    pub fn spawn_program(program: &Path, pre: &[String], args: &[String], name: &str) -> Peer {
        let mut child = Command::new(program)
            .args(pre)
            .args(args)
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({}): {e}", program.display()));
        let stdout = child.stdout.take().expect("stdout was piped");
        let stderr = child.stderr.take().expect("stderr was piped");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let out = match serde_json::from_str::<Value>(&line) {
                    Ok(v) if v.is_object() => Out::Json(v),
                    _ => Out::Text(line),
                };
                if tx.send(out).is_err() {
                    break;
                }
            }
        });
        let kept = Arc::new(Mutex::new(VecDeque::new()));
        let sink = Arc::clone(&kept);
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let Ok(mut kept) = sink.lock() else { break };
                if kept.len() == KEPT_LINES {
                    kept.pop_front();
                }
                kept.push_back(line);
            }
        });
        Peer {
            name: name.to_owned(),
            stdin: child.stdin.take(),
            child,
            lines: rx,
            history: Vec::new(),
            noise: Vec::new(),
            stderr: kept,
        }
    }

    /// Sends one JSON command line.
    pub fn send(&mut self, cmd: &Value) {
        let stdin = self.stdin.as_mut().expect("stdin is open until quit");
        let mut line = cmd.to_string();
        line.push('\n');
        if let Err(e) = stdin
            .write_all(line.as_bytes())
            .and_then(|()| stdin.flush())
        {
            let report = self.report();
            panic!("{}: cannot send {cmd}: {e}\n{report}", self.name);
        }
    }

    /// Waits for the next line matching `pred`, consuming the lines before it.
    pub fn expect_line(&mut self, pred: impl FnMut(&Value) -> bool, timeout: Duration) -> Value {
        match self.lines_until(pred, timeout).pop() {
            Some(v) => v,
            None => unreachable!("lines_until returns the match last"),
        }
    }

    /// Waits for the next `{"event": event, ...}` line.
    pub fn expect_event(&mut self, event: &str, timeout: Duration) -> Value {
        self.expect_line(|v| v["event"] == event, timeout)
    }

    /// Every line up to and including the next one matching `pred`.
    pub fn lines_until(
        &mut self,
        mut pred: impl FnMut(&Value) -> bool,
        timeout: Duration,
    ) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(Out::Json(v)) => {
                    self.history.push(v.clone());
                    let hit = pred(&v);
                    seen.push(v);
                    if hit {
                        return seen;
                    }
                }
                Ok(Out::Text(t)) => self.noise.push(t),
                Err(RecvTimeoutError::Timeout) => {
                    let report = self.report();
                    panic!(
                        "{}: no matching line within {timeout:?}\n{report}",
                        self.name
                    );
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().ok();
                    let report = self.report();
                    panic!(
                        "{}: exited ({status:?}) before a matching line\n{report}",
                        self.name
                    );
                }
            }
        }
    }

    /// Sends `{"op": op, ...}` and waits for its `{"event":"result"}` line;
    /// panics unless it says ok.
    pub fn op(&mut self, cmd: Value, timeout: Duration) -> Value {
        let op = cmd["op"].clone();
        self.send(&cmd);
        let result = self.expect_line(|v| v["event"] == "result" && v["op"] == op, timeout);
        if result["ok"] != true {
            let report = self.report();
            panic!("{}: {cmd} failed: {result}\n{report}", self.name);
        }
        result
    }

    /// The process id (to freeze it with SIGSTOP in a test).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every JSON line received so far.
    pub fn history(&self) -> &[Value] {
        &self.history
    }

    /// Reads what has arrived without waiting, into the history.
    pub fn drain(&mut self) {
        while let Ok(out) = self.lines.try_recv() {
            match out {
                Out::Json(v) => self.history.push(v),
                Out::Text(t) => self.noise.push(t),
            }
        }
    }

    /// Sends `{"op":"quit"}`, closes stdin and waits (bounded) for the exit.
    pub fn quit(mut self) {
        if self.stdin.is_some() {
            self.send(&json!({"op": "quit"}));
        }
        self.stdin = None;
        // Signal 0 sends nothing: this only waits for the exit, then kills.
        stop_child(&mut self.child, 0, Duration::from_secs(10));
    }

    /// Recent output for failure messages.
    fn report(&self) -> String {
        let recent: Vec<String> = self
            .history
            .iter()
            .rev()
            .take(30)
            .rev()
            .map(Value::to_string)
            .collect();
        let stderr: Vec<String> = self
            .stderr
            .lock()
            .map(|k| k.iter().rev().take(30).rev().cloned().collect())
            .unwrap_or_default();
        format!(
            "--- last stdout lines:\n{}\n--- other stdout:\n{}\n--- stderr:\n{}",
            recent.join("\n"),
            self.noise.join("\n"),
            stderr.join("\n")
        )
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stdin = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `c104_rtu.py --port <port> <args>` and waits for `ready`.
pub fn c104_rtu(port: u16, args: &[&str]) -> Peer {
    let mut all = vec!["--port".to_owned(), port.to_string()];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    let mut peer = Peer::spawn("c104_rtu.py", &all);
    peer.expect_event("ready", START_TIMEOUT);
    peer
}

/// Starts `c104_master.py --host 127.0.0.1 --port <port> <args>` (no wait).
pub fn c104_master(port: u16, args: &[&str]) -> Peer {
    let mut all = vec![
        "--host".to_owned(),
        "127.0.0.1".to_owned(),
        "--port".to_owned(),
        port.to_string(),
    ];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    Peer::spawn("c104_master.py", &all)
}
