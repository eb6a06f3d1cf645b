//! Processes, programs, temporary directories and ports shared by the guards.

use std::fs;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often readiness probes and exit checks are polled.
pub(crate) const POLL: Duration = Duration::from_millis(20);

/// A TCP port on 127.0.0.1 that was free a moment ago (bound, then released).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    listener
        .local_addr()
        .expect("local address of a bound listener")
        .port()
}

/// `127.0.0.1:port`.
pub(crate) fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// Whether something accepts TCP connections on `127.0.0.1:port`.
pub(crate) fn accepts(port: u16) -> bool {
    TcpStream::connect_timeout(&loopback(port), Duration::from_millis(200)).is_ok()
}

/// A directory of its own under the system temp directory, removed on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `alp-connex-<label>-<pid>-<n>-<nanos>` under `std::env::temp_dir()`.
    pub fn new(label: &str) -> TempDir {
        TempDir::new_in(&std::env::temp_dir(), label)
    }

    /// Same, under `base`.
    pub fn new_in(base: &Path, label: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        for _ in 0..100 {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let path = base.join(format!(
                "alp-connex-{label}-{}-{n}-{nanos}",
                std::process::id()
            ));
            match fs::create_dir(&path) {
                Ok(()) => return TempDir { path },
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => panic!("cannot create temp dir {}: {e}", path.display()),
            }
        }
        panic!("no unique temp dir name under {}", base.display());
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Finds an installed program: first on `PATH`, then in `extra_dirs`
/// (Debian keeps daemons in /usr/sbin, PostgreSQL's server programs in
/// /usr/lib/postgresql/<version>/bin). Panics naming `scripts/test`.
pub fn find_program(name: &str, extra_dirs: &[PathBuf]) -> PathBuf {
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let standard = [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ]
    .map(PathBuf::from);
    path_dirs
        .iter()
        .chain(extra_dirs)
        .chain(standard.iter())
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed: run scripts/test, which installs valkey, \
                 postgresql, mosquitto and the c104 venv before running the tests"
            )
        })
}

pub(crate) fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Whether this process runs as root.
pub(crate) fn is_root() -> bool {
    sys::effective_uid() == 0
}

/// Sends `signal` to process `pid` (kill(2)); signal 0 only checks that it
/// exists. Meant for the tests' own children not yet reaped, whose pid
/// cannot have been reused.
pub fn send_signal(pid: u32, signal: libc::c_int) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("pid {pid}")))?;
    sys::kill(pid, signal)
}

/// The two system calls the tests make through libc: the only unsafe code
/// of the tests.
#[allow(unsafe_code, reason = "kill(2) and geteuid(2) have no safe std form")]
mod sys {
    use std::io;

    pub(super) fn kill(pid: libc::pid_t, signal: libc::c_int) -> io::Result<()> {
        // SAFETY: kill(2) takes two integers and touches no memory of ours.
        match unsafe { libc::kill(pid, signal) } {
            0 => Ok(()),
            _ => Err(io::Error::last_os_error()),
        }
    }

    pub(super) fn effective_uid() -> libc::uid_t {
        // SAFETY: geteuid has no preconditions and cannot fail.
        unsafe { libc::geteuid() }
    }
}

/// The last `lines` lines of a log file, for failure messages.
pub(crate) fn tail(path: &Path, lines: usize) -> String {
    match fs::read_to_string(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(no log at {}: {e})", path.display()),
    }
}

/// Polls `ready` until it returns true. Panics with `log`'s tail when the
/// deadline passes or the child exits first.
pub(crate) fn wait_ready(
    what: &str,
    child: &mut Child,
    log: &Path,
    timeout: Duration,
    mut ready: impl FnMut() -> bool,
) -> Result<(), ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if ready() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(status);
        }
        if Instant::now() >= deadline {
            panic!(
                "{what} not ready after {timeout:?}; log {}:\n{}",
                log.display(),
                tail(log, 40)
            );
        }
        thread::sleep(POLL);
    }
}

/// Sends `signal`, waits up to `grace` for the child to exit, then kills it;
/// always reaps it.
pub(crate) fn stop_child(child: &mut Child, signal: libc::c_int, grace: Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    // Our own child, not reaped yet, so the pid cannot have been reused. A
    // failure shows as the child not exiting, which the kill below handles.
    let _ = send_signal(child.id(), signal);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        thread::sleep(POLL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A log file for a child's stdout and stderr.
pub(crate) fn log_file(path: &Path) -> (fs::File, fs::File) {
    let out = fs::File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    let err = out
        .try_clone()
        .unwrap_or_else(|e| panic!("clone {}: {e}", path.display()));
    (out, err)
}

/// Runs a short command to completion, returning stdout; panics with its
/// output when it fails.
pub(crate) fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    if !out.status.success() {
        panic!(
            "{cmd:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A temp dir owned by `user` (a server that drops to that user writes
/// there), under a base that user can traverse: the system temp dir, or
/// /tmp when that one is closed to others.
pub(crate) fn owned_temp_dir(label: &str, user: &str) -> TempDir {
    use std::os::unix::fs::PermissionsExt;
    let base = std::env::temp_dir();
    let traversable = fs::metadata(&base)
        .map(|m| m.permissions().mode() & 0o001 != 0)
        .unwrap_or(false);
    let base = if traversable {
        base
    } else {
        PathBuf::from("/tmp")
    };
    let dir = TempDir::new_in(&base, label);
    chown_to(dir.path(), user);
    dir
}

/// Gives `path` to the system user `user` (and its group).
pub(crate) fn chown_to(path: &Path, user: &str) {
    let (uid, gid) = lookup_user(user).unwrap_or_else(|| {
        panic!("no system user `{user}` (its Debian package creates it): run scripts/test")
    });
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {} to {user}: {e}", path.display()));
}

/// uid and gid of a user, from /etc/passwd.
fn lookup_user(user: &str) -> Option<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next()? != user {
            return None;
        }
        let _password = fields.next()?;
        let uid = fields.next()?.parse().ok()?;
        let gid = fields.next()?.parse().ok()?;
        Some((uid, gid))
    })
}
