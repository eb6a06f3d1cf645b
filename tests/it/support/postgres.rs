//! A throw-away PostgreSQL cluster of the test's own on a free loopback port.
//!
//! `initdb` into a temp dir, then `postgres` listening on 127.0.0.1 with its
//! unix socket in the same dir. PostgreSQL refuses to run as root, so when the
//! tests run as root both run as the `postgres` system user (created by the
//! Debian package) through `setpriv`, in a temp dir that user owns.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::process::{
    TempDir, chown_to, find_program, free_port, is_executable, is_root, log_file, owned_temp_dir,
    run, stop_child, tail, wait_ready,
};

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const START_ATTEMPTS: usize = 3;
const SUPERUSER: &str = "postgres";

/// A running PostgreSQL server, stopped (immediate shutdown) and removed on
/// drop. Authentication is `trust` for the superuser `postgres`.
#[derive(Debug)]
pub struct PostgresGuard {
    child: Option<Child>,
    port: u16,
    bin: PathBuf,
    dir: TempDir,
    run_as: Option<String>,
}

impl PostgresGuard {
    pub fn start() -> PostgresGuard {
        let bin = server_bin_dir();
        let run_as = is_root().then(|| SUPERUSER.to_owned());
        let dir = match &run_as {
            Some(user) => owned_temp_dir("postgres", user),
            None => TempDir::new("postgres"),
        };
        let mut guard = PostgresGuard {
            child: None,
            port: 0,
            bin,
            dir,
            run_as,
        };
        guard.initdb();
        for attempt in 1..=START_ATTEMPTS {
            guard.port = free_port();
            if guard.spawn_and_wait() {
                return guard;
            }
            if attempt == START_ATTEMPTS {
                panic!(
                    "postgres exited during start-up {START_ATTEMPTS} times; log:\n{}",
                    tail(&guard.log_path(), 40)
                );
            }
        }
        unreachable!("the loop returns or panics")
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn socket_dir(&self) -> PathBuf {
        self.dir.path().join("sock")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// A command for a server program, run as the owner of the cluster.
    fn server_command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new(find_program("setpriv", &[]));
                c.args(["--reuid", user, "--regid", user, "--init-groups", "--"])
                    .arg(path);
                c
            }
            None => Command::new(path),
        };
        // initdb and postgres look at the working directory; root's home
        // may not be readable by `postgres`.
        cmd.current_dir(self.dir.path()).stdin(Stdio::null());
        cmd
    }

    fn initdb(&self) {
        let log = self.dir.path().join("initdb.log");
        let (out, err) = log_file(&log);
        let status = self
            .server_command("initdb")
            .arg("-D")
            .arg(self.data_dir())
            .args([
                "-U",
                SUPERUSER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .stdout(out)
            .stderr(err)
            .status()
            .unwrap_or_else(|e| panic!("cannot run initdb: {e}"));
        if !status.success() {
            panic!("initdb failed ({status}):\n{}", tail(&log, 40));
        }
        fs::create_dir_all(self.socket_dir()).expect("create the socket dir");
        if let Some(user) = &self.run_as {
            chown_to(&self.socket_dir(), user);
        }
    }

    fn spawn_and_wait(&mut self) -> bool {
        let log = self.log_path();
        let (out, err) = log_file(&log);
        let mut child = self
            .server_command("postgres")
            .arg("-D")
            .arg(self.data_dir())
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!(
                "unix_socket_directories={}",
                self.socket_dir().display()
            ))
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off"])
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start postgres: {e}"));
        let isready = self.bin.join("pg_isready");
        let port = self.port.to_string();
        let result = wait_ready("postgres", &mut child, &log, READY_TIMEOUT, || {
            Command::new(&isready)
                .args([
                    "-q",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port,
                    "-U",
                    SUPERUSER,
                    "-t",
                    "1",
                ])
                .stdin(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        });
        match result {
            Ok(()) => {
                self.child = Some(child);
                true
            }
            Err(_) => {
                let _ = child.wait();
                false
            }
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        super::process::loopback(self.port)
    }

    /// `postgres://postgres@127.0.0.1:port/postgres`.
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    /// The URL of another database on this server.
    pub fn url_for(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates a database (a fresh schema per test) and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        self.psql(&format!("CREATE DATABASE \"{name}\""));
        self.url_for(name)
    }

    /// Runs SQL through `psql` (unaligned, tuples only) and returns stdout.
    pub fn psql(&self, sql: &str) -> String {
        self.psql_in("postgres", sql)
    }

    /// [`psql`](Self::psql) in another database of this server.
    pub fn psql_in(&self, database: &str, sql: &str) -> String {
        let psql = find_program("psql", std::slice::from_ref(&self.bin));
        run(Command::new(psql)
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-d", &self.url_for(database)])
            .args(["-c", sql])
            .stdin(Stdio::null()))
    }

    /// Starts the stopped server again on the same port, with its data.
    /// The test server runs with `fsync` and `synchronous_commit` off and
    /// [`stop`](Self::stop) is an immediate shutdown (a crash): what was
    /// committed just before may be lost; a [`checkpoint`](Self::checkpoint)
    /// before the stop keeps it.
    pub fn restart(&mut self) {
        self.stop();
        if !self.spawn_and_wait() {
            panic!(
                "postgres did not come back on port {}; log:\n{}",
                self.port,
                tail(&self.log_path(), 40)
            );
        }
    }

    /// Writes everything committed so far to disk (`CHECKPOINT`).
    pub fn checkpoint(&self) {
        self.psql("CHECKPOINT");
    }

    /// Stops the server (immediate shutdown) and reaps it. The port stays
    /// this guard's for [`restart`](Self::restart).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, libc::SIGQUIT, Duration::from_secs(10));
        }
    }
}

impl Drop for PostgresGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The directory of PostgreSQL's server programs: `$ALP_CONNEX_PG_BIN`
/// (exported by scripts/test), else the newest /usr/lib/postgresql/*/bin.
fn server_bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ALP_CONNEX_PG_BIN") {
        let dir = PathBuf::from(dir);
        if is_executable(&dir.join("initdb")) {
            return dir;
        }
        panic!(
            "ALP_CONNEX_PG_BIN={} has no initdb: run scripts/test",
            dir.display()
        );
    }
    let mut found: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            is_executable(&bin.join("initdb")).then_some((version, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => bin,
        None => find_program("initdb", &[])
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| panic!("no PostgreSQL server programs: run scripts/test")),
    }
}
