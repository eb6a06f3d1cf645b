//! `alp-connex healthcheck` against running roles: a connector judged by
//! its status key in a real Valkey, the backend by its `/readyz`, with the
//! role's settings read from the same sources as the role (command line,
//! `ALP_CONNEX_*`).

use std::process::Command;
use std::time::{Duration, Instant};

use crate::interop::T;
use crate::server::Server;
use crate::support::{
    BACKEND_READY, Backend, Connector, PostgresGuard, ValkeyGuard, c104_rtu, free_port,
};

/// `alp-connex healthcheck ARGS` with only `env` of the `ALP_CONNEX_*`
/// variables: its exit code and its stdout.
fn healthcheck(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alp-connex"));
    for (name, _) in std::env::vars() {
        if name.starts_with("ALP_CONNEX_") {
            cmd.env_remove(name);
        }
    }
    let out = cmd
        .arg("healthcheck")
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("healthcheck runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Polls the healthcheck until its exit code is `code`; its last output.
fn until_health(args: &[&str], env: &[(&str, &str)], code: i32) -> String {
    let deadline = Instant::now() + T;
    loop {
        let (got, out) = healthcheck(args, env);
        if got == Some(code) {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "healthcheck {args:?} exits {got:?}, not {code}, after {T:?}: {out}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn assert_one_line(out: &str, start: &str) {
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.starts_with(start),
        "{out:?} does not start with {start:?}"
    );
}

#[test]
fn an_inbound_connector_is_healthy_while_connected_and_unhealthy_once_its_rtu_is_gone_or_it_stopped()
 {
    let valkey = ValkeyGuard::start();
    let port = free_port();
    let rtu = c104_rtu(port, &["--ca", "1"]);
    let mut c = Connector::start("hc-in", port, &valkey, &[]);
    c.until("connected", T, || c.status(&valkey)["state"] == "connected");
    let vhost = format!("127.0.0.1:{}", valkey.port());
    let p = port.to_string();
    // The role's own command line, after `healthcheck`.
    let args = [
        "iec104-inbound",
        "--id",
        "hc-in",
        "client",
        "--host",
        "127.0.0.1",
        "--port",
        &p,
        "redis",
        "--host",
        &vhost,
    ];
    let out = until_health(&args, &[], 0);
    assert_one_line(
        &out,
        &format!("healthy: iec104-inbound hc-in: connected to 127.0.0.1:{port} since "),
    );
    // The same settings from the environment instead.
    let env = [
        ("ALP_CONNEX_ID", "hc-in"),
        ("ALP_CONNEX_REDIS__HOST", &vhost),
    ];
    let (code, out) = healthcheck(&["iec104-inbound"], &env);
    assert_eq!(code, Some(0), "{out}");

    rtu.quit();
    let out = until_health(&args, &[], 1);
    assert_one_line(&out, "unhealthy: iec104-inbound hc-in: ");
    assert!(
        out.contains("disconnected since") || out.contains("connecting since"),
        "{out}"
    );

    let exit = c.terminate(T);
    assert!(exit.success());
    let (code, out) = healthcheck(&args, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert_one_line(&out, "unhealthy: iec104-inbound hc-in: stopped since ");

    let (code, out) = healthcheck(
        &[
            "iec104-inbound",
            "--id",
            "nobody",
            "redis",
            "--host",
            &vhost,
        ],
        &[],
    );
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(
        out,
        format!(
            "unhealthy: iec104-inbound nobody: no status in Valkey at {vhost} (not running, or its status not written for 15 s)\n"
        )
    );
}

#[test]
fn a_status_key_not_refreshed_for_over_10_s_is_unhealthy() {
    let valkey = ValkeyGuard::start();
    // Written as a connector writes it, 15 s to live, but 4 s left: 11 s old.
    let status = r#"{"id":"old","kind":"mqtt","state":"connected","since":"S","remote":"b:1883","config_error":null}"#;
    valkey
        .command(&["SET", "connectors:old:status", status, "PX", "4000"])
        .expect("SET");
    let vhost = format!("127.0.0.1:{}", valkey.port());
    let (code, out) = healthcheck(&["mqtt", "--id", "old", "redis", "--host", &vhost], &[]);
    assert_eq!(code, Some(1), "{out}");
    assert_one_line(&out, "unhealthy: mqtt old: status written 1");
    assert!(out.trim_end().ends_with("s ago, more than 10 s"), "{out}");
}

#[test]
fn an_iec104_server_is_healthy_while_it_listens_and_follows_valkey() {
    let valkey = ValkeyGuard::start();
    let server = Server::start(&valkey, &[]);
    let vhost = format!("127.0.0.1:{}", valkey.port());
    let out = until_health(
        &["iec104-server", "--id", "srv", "redis", "--host", &vhost],
        &[],
        0,
    );
    assert_one_line(
        &out,
        &format!(
            "healthy: iec104-server srv: listening on 127.0.0.1:{}, 0 master(s) connected; status written ",
            server.port
        ),
    );
}

#[test]
fn the_backend_is_healthy_while_readyz_answers_200() {
    let pg = PostgresGuard::start();
    let mut valkey = ValkeyGuard::start();
    let url = pg.create_database("health");
    let backend = Backend::start(&url, &valkey, &[]);
    backend.until_ready_is(200, BACKEND_READY);
    let port = backend.addr().port().to_string();
    let vhost = format!("127.0.0.1:{}", valkey.port());
    let args = [
        "backend",
        "--id",
        "backend",
        "--insecure-no-auth",
        "http",
        "--bind",
        "127.0.0.1",
        "--port",
        &port,
        "redis",
        "--host",
        &vhost,
    ];
    let env = [("ALP_CONNEX_DATABASE__URL", url.as_str())];
    let (code, out) = healthcheck(&args, &env);
    assert_eq!(code, Some(0), "{out}");
    assert_one_line(
        &out,
        &format!("healthy: backend http://127.0.0.1:{port}/readyz: 200 {{\"status\":\"ready\","),
    );
    valkey.stop();
    let out = until_health(&args, &env, 1);
    assert_one_line(
        &out,
        &format!("unhealthy: backend http://127.0.0.1:{port}/readyz: 503 "),
    );
    assert!(out.contains("\"valkey\":\"down\""), "{out}");
}

#[test]
fn settings_that_cannot_be_read_are_unhealthy_with_exit_1_not_docker_s_reserved_2() {
    let (code, out) = healthcheck(
        &["iec104-inbound", "--id", "a", "client", "--port", "70000"],
        &[],
    );
    assert_eq!(code, Some(1));
    assert_eq!(
        out,
        "unhealthy: iec104-inbound: configuration: client.port = 70000: must be in 1..=65535\n"
    );
}

/// The notifications `alp-connex` sends to a notify socket of the test's
/// own, as systemd would receive them (`Type=notify`, `WatchdogSec=`).
struct NotifySocket {
    socket: std::os::unix::net::UnixDatagram,
    dir: crate::support::TempDir,
}

impl NotifySocket {
    fn new() -> NotifySocket {
        let dir = crate::support::TempDir::new("notify");
        let socket = std::os::unix::net::UnixDatagram::bind(dir.path().join("notify"))
            .expect("a notify socket");
        socket.set_read_timeout(Some(T)).expect("timeout");
        NotifySocket { socket, dir }
    }

    fn path(&self) -> String {
        self.dir.path().join("notify").display().to_string()
    }

    fn next(&self) -> String {
        let mut buf = [0u8; 1024];
        let n = self.socket.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

#[test]
fn under_systemd_the_server_reports_ready_feeds_the_watchdog_and_says_it_stops() {
    let valkey = ValkeyGuard::start();
    let notify = NotifySocket::new();
    let port = free_port();
    let path = notify.path();
    let mut child = Command::new(env!("CARGO_BIN_EXE_alp-connex"))
        .args([
            "iec104-server",
            "--id",
            "sd",
            "server",
            "--bind",
            "127.0.0.1",
        ])
        .args(["--port", &port.to_string()])
        .args(["redis", "--host", &format!("127.0.0.1:{}", valkey.port())])
        .env("NOTIFY_SOCKET", &path)
        .env("WATCHDOG_USEC", "400000")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start alp-connex iec104-server");
    assert_eq!(
        notify.next(),
        format!("READY=1\nSTATUS=listening on 127.0.0.1:{port}\n")
    );
    // At half the watchdog interval, with the state as the status line.
    let started = Instant::now();
    for _ in 0..3 {
        let fed = notify.next();
        assert!(
            fed.starts_with("WATCHDOG=1\nSTATUS=listening since "),
            "{fed:?}"
        );
    }
    assert!(
        started.elapsed() >= Duration::from_millis(350),
        "{:?}",
        started.elapsed()
    );
    crate::support::send_signal(child.id(), libc::SIGTERM).expect("SIGTERM");
    let mut last = notify.next();
    while last.starts_with("WATCHDOG=1") {
        last = notify.next();
    }
    assert_eq!(last, "STOPPING=1\n");
    assert!(child.wait().expect("the exit").success());
}

#[test]
fn under_systemd_the_backend_reports_ready_feeds_the_watchdog_with_its_state_and_says_it_stops() {
    let pg = PostgresGuard::start();
    let valkey = ValkeyGuard::start();
    let url = pg.create_database("notify");
    let notify = NotifySocket::new();
    let path = notify.path();
    let mut backend = Backend::spawn(
        &url,
        &valkey,
        &[("NOTIFY_SOCKET", &path), ("WATCHDOG_USEC", "400000")],
    );
    let addr = backend.addr();
    assert_eq!(
        notify.next(),
        format!("READY=1\nSTATUS=listening on {addr}\n")
    );
    // Ready means listening: the API answers at once.
    assert_eq!(backend.get("/healthz").status, 200);
    // The watchdog is fed with what the backend has and waits for, until
    // the schema is applied and Valkey connected.
    let want =
        format!("WATCHDOG=1\nSTATUS=listening on {addr}; schema applied; Valkey connected\n");
    let mut seen = Vec::new();
    loop {
        let n = notify.next();
        if n == want {
            break;
        }
        assert!(
            n.starts_with("WATCHDOG=1\nSTATUS=listening on ")
                || n.starts_with("STATUS=schema version "),
            "{n:?}"
        );
        seen.push(n);
        assert!(seen.len() < 100, "{seen:?}\n{}", backend.log_tail(20));
    }
    crate::support::send_signal(backend.pid(), libc::SIGTERM).expect("SIGTERM");
    let mut last = notify.next();
    while last.starts_with("WATCHDOG=1") || last.starts_with("STATUS=") {
        last = notify.next();
    }
    assert_eq!(last, "STOPPING=1\n");
    assert!(backend.wait_exit(T).success(), "{}", backend.log_tail(20));
}
