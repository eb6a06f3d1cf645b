//! A `valkey-server` of the test's own on a free loopback port.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::process::{
    TempDir, find_program, free_port, log_file, loopback, stop_child, tail, wait_ready,
};

const READY_TIMEOUT: Duration = Duration::from_secs(15);
const START_ATTEMPTS: usize = 3;

/// A running `valkey-server` (no persistence, bound to 127.0.0.1), stopped
/// and reaped on drop.
#[derive(Debug)]
pub struct ValkeyGuard {
    child: Option<Child>,
    port: u16,
    password: Option<String>,
    /// Further `valkey-server` arguments (cluster mode).
    extra_args: Vec<String>,
    dir: TempDir,
    program: PathBuf,
    starts: u32,
}

impl ValkeyGuard {
    /// Starts a server without a password.
    pub fn start() -> ValkeyGuard {
        ValkeyGuard::launch(None)
    }

    /// Starts a server that requires `password` (`requirepass`).
    pub fn start_with_password(password: &str) -> ValkeyGuard {
        ValkeyGuard::launch(Some(password.to_owned()))
    }

    /// Starts a server without a password, with further arguments.
    pub fn start_with_args(args: &[String]) -> ValkeyGuard {
        ValkeyGuard::launch_with(None, args.to_vec())
    }

    fn launch(password: Option<String>) -> ValkeyGuard {
        ValkeyGuard::launch_with(password, Vec::new())
    }

    fn launch_with(password: Option<String>, extra_args: Vec<String>) -> ValkeyGuard {
        let mut guard = ValkeyGuard {
            child: None,
            port: 0,
            password,
            extra_args,
            dir: TempDir::new("valkey"),
            program: find_program("valkey-server", &[]),
            starts: 0,
        };
        // A free port can be taken between free_port() and the bind: retry.
        for attempt in 1..=START_ATTEMPTS {
            guard.port = free_port();
            if guard.spawn_and_wait().is_ok() {
                return guard;
            }
            if attempt == START_ATTEMPTS {
                panic!(
                    "valkey-server exited during start-up {START_ATTEMPTS} times; last log:\n{}",
                    tail(&guard.log_path(), 40)
                );
            }
        }
        unreachable!("the loop returns or panics")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join(format!("valkey-{}.log", self.starts))
    }

    fn spawn_and_wait(&mut self) -> Result<(), ()> {
        self.starts += 1;
        let log = self.log_path();
        let (out, err) = log_file(&log);
        let mut cmd = Command::new(&self.program);
        cmd.arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(["--daemonize", "no"])
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        if let Some(password) = &self.password {
            cmd.arg("--requirepass").arg(password);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.program.display()));
        let addr = self.addr();
        let password = self.password.clone();
        let result = wait_ready("valkey-server", &mut child, &log, READY_TIMEOUT, || {
            ping(addr, password.as_deref())
        });
        match result {
            Ok(()) => {
                self.child = Some(child);
                Ok(())
            }
            Err(_status) => {
                let _ = child.wait();
                Err(())
            }
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        loopback(self.port)
    }

    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// `redis://[:password@]127.0.0.1:port` (the scheme Valkey clients accept).
    pub fn url(&self) -> String {
        match &self.password {
            Some(p) => format!("redis://:{p}@127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Kills the server (an outage, not a clean shutdown) and reaps it. The
    /// port stays this guard's for [`restart`](Self::restart).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, libc::SIGKILL, Duration::from_secs(5));
        }
    }

    /// Starts the server again on the same port (empty: nothing persists).
    pub fn restart(&mut self) {
        self.stop();
        if self.spawn_and_wait().is_err() {
            panic!(
                "valkey-server did not come back on port {}; log:\n{}",
                self.port,
                tail(&self.log_path(), 40)
            );
        }
    }

    /// Sends one command over RESP and returns the reply rendered as text:
    /// `+OK` -> `OK`, `:3` -> `3`, bulk -> its bytes, nil -> `(nil)`, an
    /// error -> `Err`.
    pub fn command(&self, args: &[&str]) -> io::Result<String> {
        let mut stream = connect(self.addr())?;
        if let Some(p) = &self.password {
            expect_ok(&mut stream, &["AUTH", p])?;
        }
        request(&mut stream, args)
    }

    /// Runs `valkey-cli` against this server and returns its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let program = find_program("valkey-cli", &[]);
        let mut cmd = Command::new(program);
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string()]);
        if let Some(p) = &self.password {
            cmd.env("REDISCLI_AUTH", p);
        }
        cmd.args(args);
        super::process::run(&mut cmd)
    }
}

impl Drop for ValkeyGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    Ok(stream)
}

/// Whether the server at `addr` answers PING with PONG (after AUTH).
fn ping(addr: SocketAddr, password: Option<&str>) -> bool {
    let Ok(mut stream) = connect(addr) else {
        return false;
    };
    if let Some(p) = password
        && expect_ok(&mut stream, &["AUTH", p]).is_err()
    {
        return false;
    }
    matches!(request(&mut stream, &["PING"]).as_deref(), Ok("PONG"))
}

fn expect_ok(stream: &mut TcpStream, args: &[&str]) -> io::Result<()> {
    match request(stream, args)?.as_str() {
        "OK" => Ok(()),
        other => Err(io::Error::other(format!("{} answered {other}", args[0]))),
    }
}

/// Writes one RESP array command and reads one reply.
pub(crate) fn request(stream: &mut TcpStream, args: &[&str]) -> io::Result<String> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    stream.write_all(&out)?;
    let mut reader = BufReader::new(stream);
    read_reply(&mut reader)
}

fn read_reply(reader: &mut impl BufRead) -> io::Result<String> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    let line = line.trim_end_matches(['\r', '\n']);
    let (kind, rest) = line.split_at(line.len().min(1));
    match kind {
        "+" | ":" => Ok(rest.to_owned()),
        "-" => Err(io::Error::other(rest.to_owned())),
        "$" => {
            let len: i64 = rest
                .parse()
                .map_err(|_| io::Error::other(format!("bad bulk length {rest:?}")))?;
            let Ok(len) = usize::try_from(len) else {
                return Ok("(nil)".to_owned());
            };
            let mut buf = vec![0; len + 2];
            reader.read_exact(&mut buf)?;
            buf.truncate(len);
            Ok(String::from_utf8_lossy(&buf).into_owned())
        }
        "*" => {
            let n: i64 = rest
                .parse()
                .map_err(|_| io::Error::other(format!("bad array length {rest:?}")))?;
            let mut items = Vec::new();
            for _ in 0..n.max(0) {
                items.push(read_reply(reader)?);
            }
            Ok(items.join("\n"))
        }
        _ => Err(io::Error::other(format!("unexpected reply {line:?}"))),
    }
}
