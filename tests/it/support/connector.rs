//! A connector binary (`alp-connex iec104-inbound`, `alp-connex mqtt`) as a
//! child process, started with the command line its manual documents
//! (docs/inbound.md, docs/mqtt.md), and the process image it writes, read
//! back in one round trip.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use alp_connex::contract::DataPoint;
use serde_json::Value;

use super::process::POLL;
use super::valkey::ValkeyGuard;

/// Keys per MGET when the image is read.
const MGET_CHUNK: usize = 500;

/// A running connector; SIGTERM (the shutdown path) and reaped on
/// drop. Its log (stderr) is kept for failure messages.
pub struct Connector {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    id: String,
}

impl Connector {
    /// `alp-connex iec104-inbound --id ID client --host 127.0.0.1 --port
    /// PORT redis --host 127.0.0.1:VPORT`, every other setting at its
    /// default unless `env` (`ALP_CONNEX_…` variables) sets it.
    pub fn start(id: &str, rtu_port: u16, valkey: &ValkeyGuard, env: &[(&str, &str)]) -> Connector {
        let port = rtu_port.to_string();
        Self::spawn(
            "iec104-inbound",
            id,
            &[],
            &["client", "--host", "127.0.0.1", "--port", &port],
            &[],
            valkey,
            env,
        )
    }

    /// `alp-connex iec104-inbound --id ID --log-level debug client CLIENT…
    /// redis --host 127.0.0.1:VPORT [--pwd P]`.
    pub fn start_with(
        id: &str,
        valkey: &ValkeyGuard,
        client: &[&str],
        env: &[(&str, &str)],
    ) -> Connector {
        let section: Vec<&str> = std::iter::once("client")
            .chain(client.iter().copied())
            .collect();
        Self::spawn(
            "iec104-inbound",
            id,
            &["--log-level", "debug"],
            &section,
            &[],
            valkey,
            env,
        )
    }

    /// `alp-connex mqtt --id ID --log-level debug GLOBAL… mqtt BROKER…
    /// redis --host 127.0.0.1:VPORT [--pwd P]`.
    pub fn mqtt(
        id: &str,
        valkey: &ValkeyGuard,
        global: &[&str],
        broker: &[&str],
        env: &[(&str, &str)],
    ) -> Connector {
        let mut g = vec!["--log-level", "debug"];
        g.extend(global);
        let section: Vec<&str> = std::iter::once("mqtt")
            .chain(broker.iter().copied())
            .collect();
        Self::spawn("mqtt", id, &g, &section, &[], valkey, env)
    }

    /// [`Connector::start_with`] with more `redis` options.
    pub fn start_with_redis(
        id: &str,
        valkey: &ValkeyGuard,
        client: &[&str],
        redis: &[&str],
    ) -> Connector {
        let section: Vec<&str> = std::iter::once("client")
            .chain(client.iter().copied())
            .collect();
        Self::spawn(
            "iec104-inbound",
            id,
            &["--log-level", "debug"],
            &section,
            redis,
            valkey,
            &[],
        )
    }

    fn spawn(
        role: &str,
        id: &str,
        global: &[&str],
        section: &[&str],
        redis: &[&str],
        valkey: &ValkeyGuard,
        env: &[(&str, &str)],
    ) -> Connector {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_alp-connex"));
        cmd.args([role, "--id", id])
            .args(global)
            .args(section)
            .args(["redis", "--host"])
            .arg(format!("127.0.0.1:{}", valkey.port()));
        if let Some(p) = valkey.password() {
            cmd.args(["--pwd", p]);
        }
        cmd.args(redis)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start alp-connex {role}: {e}"));
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
        Connector {
            child,
            log,
            id: id.to_owned(),
        }
    }

    /// Sends SIGTERM (the shutdown path) and waits up to `timeout` for the
    /// exit.
    pub fn terminate(&mut self, timeout: Duration) -> std::process::ExitStatus {
        super::process::send_signal(self.child.id(), libc::SIGTERM).expect("SIGTERM sent");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(exit) = self.child.try_wait().expect("the connector's exit") {
                return exit;
            }
            assert!(Instant::now() < deadline, "the connector did not end");
            thread::sleep(POLL);
        }
    }

    /// Every log line so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The last `n` log lines, for failure messages.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log();
        log[log.len().saturating_sub(n)..].join("\n")
    }

    /// `connectors:{ID}:status`, `Null` when absent or not JSON.
    pub fn status(&self, valkey: &ValkeyGuard) -> Value {
        valkey
            .command(&["GET", &format!("connectors:{}:status", self.id)])
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or(Value::Null)
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
                    "{what}: not within {timeout:?}\n--- connector log:\n{}",
                    self.log_tail(40)
                );
            }
            thread::sleep(POLL);
        }
    }
}

impl Drop for Connector {
    fn drop(&mut self) {
        super::process::stop_child(&mut self.child, libc::SIGTERM, Duration::from_secs(5));
    }
}

/// The image of each address (`process:image:casdu:{CA}:ioa:{IOA}`), in
/// the order given: `None` where the key is absent or not contract JSON.
pub fn image_points(valkey: &ValkeyGuard, addrs: &[(u16, u32)]) -> Vec<Option<DataPoint>> {
    let mut out = Vec::with_capacity(addrs.len());
    for chunk in addrs.chunks(MGET_CHUNK) {
        let keys: Vec<String> = chunk
            .iter()
            .map(|(ca, ioa)| format!("process:image:casdu:{ca}:ioa:{ioa}"))
            .collect();
        let mut args = vec!["MGET"];
        args.extend(keys.iter().map(String::as_str));
        // One item per line: contract JSON holds no newline, nil is "(nil)".
        let reply = valkey.command(&args).unwrap_or_default();
        let mut items: Vec<Option<DataPoint>> = reply
            .lines()
            .map(|l| DataPoint::from_json(l).ok())
            .collect();
        items.resize(chunk.len(), None);
        out.extend(items);
    }
    out
}
