//! A `mosquitto` broker of the test's own on a free loopback port.

use std::fs;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::process::{
    TempDir, accepts, find_program, free_port, log_file, loopback, stop_child, tail, wait_ready,
};

const READY_TIMEOUT: Duration = Duration::from_secs(15);
const START_ATTEMPTS: usize = 3;

/// A running broker that accepts anonymous MQTT clients on 127.0.0.1,
/// stopped and reaped on drop.
#[derive(Debug)]
pub struct MosquittoGuard {
    child: Option<Child>,
    port: u16,
    dir: TempDir,
}

impl MosquittoGuard {
    pub fn start() -> MosquittoGuard {
        let program = find_program("mosquitto", &[]);
        let dir = TempDir::new("mosquitto");
        let log = dir.path().join("mosquitto.log");
        for attempt in 1..=START_ATTEMPTS {
            let port = free_port();
            let conf = dir.path().join("mosquitto.conf");
            // No `user` line: as root, mosquitto drops to the `mosquitto`
            // user after reading this file; the log goes to the inherited
            // stderr, so nothing needs to be writable by that user.
            fs::write(
                &conf,
                format!(
                    "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
                     log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n"
                ),
            )
            .unwrap_or_else(|e| panic!("write {}: {e}", conf.display()));
            let (out, err) = log_file(&log);
            let mut child = Command::new(&program)
                .arg("-c")
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
            match wait_ready("mosquitto", &mut child, &log, READY_TIMEOUT, || {
                accepts(port)
            }) {
                Ok(()) => {
                    return MosquittoGuard {
                        child: Some(child),
                        port,
                        dir,
                    };
                }
                Err(_) => {
                    let _ = child.wait();
                    if attempt == START_ATTEMPTS {
                        panic!(
                            "mosquitto exited during start-up {START_ATTEMPTS} times; log:\n{}",
                            tail(&log, 40)
                        );
                    }
                }
            }
        }
        unreachable!("the loop returns or panics")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        loopback(self.port)
    }

    /// `mqtt://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// The broker's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("mosquitto.log")
    }

    /// Stops the broker and reaps it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, libc::SIGTERM, Duration::from_secs(5));
        }
    }
}

impl Drop for MosquittoGuard {
    fn drop(&mut self) {
        self.stop();
    }
}
