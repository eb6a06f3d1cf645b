//! A `mosquitto` broker of the test's own on a free loopback port.
//!
//! [`MosquittoGuard::start`] accepts anonymous clients over plain TCP;
//! [`MosquittoOptions`] adds a password file ([`MosquittoGuard::with_password`],
//! made with `mosquitto_passwd`), a TLS listener ([`MosquittoGuard::with_tls`],
//! with a CA, a server certificate for `127.0.0.1`/`localhost` and a client
//! certificate made per guard with the `openssl` CLI) and persistence of
//! sessions across [`MosquittoGuard::restart`], in any combination
//! ([`MosquittoGuard::start_with`]). [`MosquittoGuard::pause`] freezes the
//! broker, so that what clients send stays unread
//! ([`MosquittoGuard::unread_bytes`]) and unacknowledged.
//!
//! As root, mosquitto drops to the `mosquitto` user after reading its
//! configuration: the guard's directory then belongs to that user, and so
//! does every file the broker reads or writes there (password file, keys,
//! certificates, the persistence directory). The log goes to the inherited
//! stderr, opened by the test.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::process::{
    TempDir, accepts, chown_to, find_program, free_port, is_root, log_file, loopback,
    owned_temp_dir, run, send_signal, stop_child, tail, wait_ready,
};

const READY_TIMEOUT: Duration = Duration::from_secs(15);
const START_ATTEMPTS: usize = 3;
/// How long a SIGTERM may take (the broker saves its database on the way out).
const STOP_GRACE: Duration = Duration::from_secs(10);
/// The user mosquitto runs as when started by root.
const BROKER_USER: &str = "mosquitto";

/// Whether a TLS listener asks for client certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCertificates {
    /// `require_certificate false`: the server certificate alone.
    NotRequired,
    /// `require_certificate true`: a client must present a certificate
    /// signed by the guard's CA.
    Required,
}

/// What a [`MosquittoGuard`] starts: anonymous plain TCP unless told
/// otherwise.
#[derive(Debug, Clone, Default)]
pub struct MosquittoOptions {
    credentials: Option<(String, String)>,
    tls: Option<ClientCertificates>,
    persistence: bool,
}

impl MosquittoOptions {
    pub fn new() -> MosquittoOptions {
        MosquittoOptions::default()
    }

    /// `allow_anonymous false` and a password file with this one user.
    pub fn password(mut self, user: &str, password: &str) -> MosquittoOptions {
        self.credentials = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// The listener speaks TLS (and only TLS).
    pub fn tls(mut self, client_certificates: ClientCertificates) -> MosquittoOptions {
        self.tls = Some(client_certificates);
        self
    }

    /// Sessions and their queued messages survive [`MosquittoGuard::restart`]
    /// (`persistence true` in the guard's directory).
    pub fn persistence(mut self) -> MosquittoOptions {
        self.persistence = true;
        self
    }
}

/// The PEM files of a TLS guard, all under its directory.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The CA certificate that signed the other two.
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// A client certificate (extended key usage clientAuth).
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

/// A running broker on 127.0.0.1, stopped and reaped on drop.
#[derive(Debug)]
pub struct MosquittoGuard {
    child: Option<Child>,
    port: u16,
    options: MosquittoOptions,
    tls: Option<TlsFiles>,
    program: PathBuf,
    starts: u32,
    /// Whether the broker is frozen by SIGSTOP.
    paused: bool,
    dir: TempDir,
}

impl MosquittoGuard {
    /// A broker that accepts anonymous clients over plain TCP.
    pub fn start() -> MosquittoGuard {
        MosquittoGuard::start_with(MosquittoOptions::new())
    }

    /// A broker that refuses anonymous clients and accepts `user` with
    /// `password`.
    pub fn with_password(user: &str, password: &str) -> MosquittoGuard {
        MosquittoGuard::start_with(MosquittoOptions::new().password(user, password))
    }

    /// A broker with a TLS listener, anonymous clients allowed.
    pub fn with_tls(client_certificates: ClientCertificates) -> MosquittoGuard {
        MosquittoGuard::start_with(MosquittoOptions::new().tls(client_certificates))
    }

    pub fn start_with(options: MosquittoOptions) -> MosquittoGuard {
        let dir = if is_root() {
            owned_temp_dir("mosquitto", BROKER_USER)
        } else {
            TempDir::new("mosquitto")
        };
        let mut guard = MosquittoGuard {
            child: None,
            port: 0,
            tls: None,
            program: find_program("mosquitto", &[]),
            starts: 0,
            paused: false,
            dir,
            options,
        };
        if let Some((user, password)) = guard.options.credentials.clone() {
            guard.write_password_file(&user, &password);
        }
        if guard.options.tls.is_some() {
            guard.tls = Some(make_certificates(&guard.dir.path().join("tls")));
        }
        if guard.options.persistence {
            let data = guard.data_dir();
            fs::create_dir(&data).unwrap_or_else(|e| panic!("create {}: {e}", data.display()));
            give_to_broker(&data, 0o700);
        }
        // A free port can be taken between free_port() and the bind: retry.
        for attempt in 1..=START_ATTEMPTS {
            guard.port = free_port();
            if guard.spawn_and_wait().is_ok() {
                return guard;
            }
            if attempt == START_ATTEMPTS {
                panic!(
                    "mosquitto exited during start-up {START_ATTEMPTS} times; log:\n{}",
                    tail(&guard.log_path(), 40)
                );
            }
        }
        unreachable!("the loop returns or panics")
    }

    fn password_file(&self) -> PathBuf {
        self.dir.path().join("passwd")
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir
            .path()
            .join(format!("mosquitto-{}.log", self.starts))
    }

    /// `mosquitto_passwd -b -c`: the file holds the user and a salted hash.
    fn write_password_file(&self, user: &str, password: &str) {
        let file = self.password_file();
        run(Command::new(find_program("mosquitto_passwd", &[]))
            .args(["-b", "-c"])
            .arg(&file)
            .args([user, password]));
        give_to_broker(&file, 0o600);
    }

    fn config(&self) -> String {
        let mut conf = format!("listener {} 127.0.0.1\n", self.port);
        match &self.options.credentials {
            Some(_) => {
                conf += "allow_anonymous false\n";
                conf += &format!("password_file {}\n", self.password_file().display());
            }
            None => conf += "allow_anonymous true\n",
        }
        if let (Some(files), Some(client_certificates)) = (&self.tls, self.options.tls) {
            conf += &format!(
                "cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate {}\n",
                files.ca.display(),
                files.server_cert.display(),
                files.server_key.display(),
                client_certificates == ClientCertificates::Required,
            );
        }
        if self.options.persistence {
            // The location must end in a slash; a SIGTERM saves as well.
            conf += &format!(
                "persistence true\npersistence_location {}/\nautosave_interval 5\n",
                self.data_dir().display()
            );
        } else {
            conf += "persistence false\n";
        }
        conf += "log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n";
        conf
    }

    fn spawn_and_wait(&mut self) -> Result<(), ()> {
        self.starts += 1;
        let conf = self.dir.path().join("mosquitto.conf");
        // No `user` line: as root, mosquitto drops to `mosquitto` after
        // reading this file.
        fs::write(&conf, self.config()).unwrap_or_else(|e| panic!("write {}: {e}", conf.display()));
        let log = self.log_path();
        let (out, err) = log_file(&log);
        let mut child = Command::new(&self.program)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.program.display()));
        let port = self.port;
        match wait_ready("mosquitto", &mut child, &log, READY_TIMEOUT, || {
            accepts(port)
        }) {
            Ok(()) => {
                self.child = Some(child);
                Ok(())
            }
            Err(_) => {
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

    /// `mqtt://127.0.0.1:port`, or `mqtts://` for a TLS listener.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "mqtts" } else { "mqtt" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The user and password of [`MosquittoOptions::password`].
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.options
            .credentials
            .as_ref()
            .map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// The certificates and keys of a TLS guard; panics for a plain one.
    pub fn tls_files(&self) -> &TlsFiles {
        self.tls
            .as_ref()
            .expect("a guard started with MosquittoOptions::tls")
    }

    /// The CA certificate (PEM) that signed the broker's certificate.
    pub fn ca_file(&self) -> &Path {
        &self.tls_files().ca
    }

    /// The client certificate (PEM) signed by [`Self::ca_file`].
    pub fn client_cert(&self) -> &Path {
        &self.tls_files().client_cert
    }

    /// The client certificate's key (PEM).
    pub fn client_key(&self) -> &Path {
        &self.tls_files().client_key
    }

    /// The broker's log so far, over every start.
    pub fn log(&self) -> String {
        (1..=self.starts)
            .map(|n| {
                fs::read_to_string(self.dir.path().join(format!("mosquitto-{n}.log")))
                    .unwrap_or_default()
            })
            .collect()
    }

    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Stops the broker gracefully (SIGTERM: with persistence it saves its
    /// database) and reaps it. The port stays this guard's for
    /// [`restart`](Self::restart). A paused broker gets SIGTERM before
    /// SIGCONT, so it ends without reading what clients sent meanwhile.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if std::mem::take(&mut self.paused) {
                let _ = send_signal(child.id(), libc::SIGTERM);
                stop_child(&mut child, libc::SIGCONT, STOP_GRACE);
            } else {
                stop_child(&mut child, libc::SIGTERM, STOP_GRACE);
            }
        }
    }

    /// Freezes the broker (SIGSTOP): connections stay open, nothing is
    /// read or answered, until [`stop`](Self::stop) or
    /// [`restart`](Self::restart).
    pub fn pause(&mut self) {
        if let Some(child) = &self.child {
            send_signal(child.id(), libc::SIGSTOP).expect("SIGSTOP to mosquitto");
            self.paused = true;
        }
    }

    /// Bytes that clients have sent to the broker's port and it has not
    /// read yet (the receive queues of its established IPv4 connections,
    /// from /proc/net/tcp).
    pub fn unread_bytes(&self) -> u64 {
        let table = fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
        let port = format!(":{:04X}", self.port);
        table
            .lines()
            .skip(1)
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let (local, state, queues) = (fields.get(1)?, fields.get(3)?, fields.get(4)?);
                let established = *state == "01";
                let rx = queues.split_once(':')?.1;
                (local.ends_with(&port) && established)
                    .then(|| u64::from_str_radix(rx, 16).ok())
                    .flatten()
            })
            .sum()
    }

    /// Stops the broker gracefully and starts it again on the same port with
    /// the same configuration; returns once it accepts connections.
    pub fn restart(&mut self) {
        self.stop();
        if self.spawn_and_wait().is_err() {
            panic!(
                "mosquitto did not come back on port {}; log:\n{}",
                self.port,
                tail(&self.log_path(), 40)
            );
        }
    }
}

impl Drop for MosquittoGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// As root, hands `path` to the broker's user with `mode`; otherwise the
/// broker runs as this user and only the mode is set.
fn give_to_broker(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    if is_root() {
        chown_to(path, BROKER_USER);
    }
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// A CA, a server certificate for `localhost` and `127.0.0.1` and a client
/// certificate, P-256 keys, valid for two days, made in `dir` with the
/// `openssl` CLI. X.509 v3 with the extensions a strict verifier (webpki)
/// asks for: CA basic constraints, subject alternative names, extended key
/// usages.
fn make_certificates(dir: &Path) -> TlsFiles {
    fs::create_dir(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    give_to_broker(dir, 0o755);
    let openssl = find_program("openssl", &[]);
    let files = TlsFiles {
        ca: dir.join("ca.crt"),
        server_cert: dir.join("server.crt"),
        server_key: dir.join("server.key"),
        client_cert: dir.join("client.crt"),
        client_key: dir.join("client.key"),
    };
    let ca_key = dir.join("ca.key");
    let ca_conf = dir.join("ca.cnf");
    write_file(
        &ca_conf,
        "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = alp-connex test CA\n\
         [ext]\nbasicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\n\
         subjectKeyIdentifier = hash\n",
    );
    run(Command::new(&openssl)
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .arg("-keyout")
        .arg(&ca_key)
        .arg("-out")
        .arg(&files.ca)
        .arg("-config")
        .arg(&ca_conf)
        .args(["-extensions", "ext"]));
    let leaf = |name: &str, cn: &str, extensions: &str, serial: &str, cert: &Path, key: &Path| {
        let conf = dir.join(format!("{name}.cnf"));
        write_file(
            &conf,
            &format!(
                "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = {cn}\n[ext]\n\
                 basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\n\
                 subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n{extensions}"
            ),
        );
        let csr = dir.join(format!("{name}.csr"));
        run(Command::new(&openssl)
            .args(["req", "-new", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes"])
            .arg("-keyout")
            .arg(key)
            .arg("-out")
            .arg(&csr)
            .arg("-config")
            .arg(&conf));
        run(Command::new(&openssl)
            .args(["x509", "-req", "-days", "2", "-set_serial", serial])
            .arg("-in")
            .arg(&csr)
            .arg("-CA")
            .arg(&files.ca)
            .arg("-CAkey")
            .arg(&ca_key)
            .arg("-out")
            .arg(cert)
            .arg("-extfile")
            .arg(&conf)
            .args(["-extensions", "ext"]));
    };
    leaf(
        "server",
        "localhost",
        "extendedKeyUsage = serverAuth\nsubjectAltName = DNS:localhost, IP:127.0.0.1\n",
        "2",
        &files.server_cert,
        &files.server_key,
    );
    leaf(
        "client",
        "alp-connex test client",
        "extendedKeyUsage = clientAuth\n",
        "3",
        &files.client_cert,
        &files.client_key,
    );
    give_to_broker(&files.ca, 0o644);
    give_to_broker(&files.server_cert, 0o644);
    give_to_broker(&files.server_key, 0o600);
    files
}

fn write_file(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
