"""A backend of its own for scripts and benchmarks: a throw-away PostgreSQL
cluster, a valkey-server and `alp-connex backend`, each on a free
127.0.0.1 port, stopped and removed again by `Stack.stop()`.

Used by scripts/fuzz_api.py (the API fuzzing of scripts/test) and
bench/backend.py. PostgreSQL is made as tests/it/support/postgres.rs makes
it: `initdb` into a directory of its own (owned by the `postgres` user and
run as that user through `setpriv` when this runs as root, since PostgreSQL
refuses to run as root), trust authentication for `postgres`, listening on
127.0.0.1 with its socket in the same directory, fsync off.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait(what, timeout, f, proc=None):
    """Polls f until it returns something true; exits naming `what` (and
    the process's log when it ended) after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = f()
        if v:
            return v
        if proc is not None and proc.p.poll() is not None:
            raise SystemExit(f"{what}: {proc.name} ended ({proc.p.returncode}); its log:\n{proc.tail()}")
        time.sleep(0.05)
    tail = f"; log of {proc.name}:\n{proc.tail()}" if proc is not None else ""
    raise SystemExit(f"{what}: not within {timeout} s{tail}")


def pg_bin():
    """PostgreSQL's server programs: $ALP_CONNEX_PG_BIN, else the newest
    /usr/lib/postgresql/*/bin."""
    d = os.environ.get("ALP_CONNEX_PG_BIN")
    if d:
        return d
    versions = sorted((int(v) for v in os.listdir("/usr/lib/postgresql") if v.isdigit()), reverse=True)
    for v in versions:
        d = f"/usr/lib/postgresql/{v}/bin"
        if os.access(os.path.join(d, "initdb"), os.X_OK):
            return d
    raise SystemExit("no PostgreSQL server programs under /usr/lib/postgresql/*/bin: run scripts/test --setup-only")


class Proc:
    """A child process with its stdout and stderr in a log file."""

    def __init__(self, name, args, log_dir, env=None, stdout=None, cwd=None):
        self.name = name
        self.log_path = os.path.join(log_dir, name + ".log")
        self.log = open(self.log_path, "w")
        self.p = subprocess.Popen(args, stdout=stdout or self.log, stderr=self.log,
                                  stdin=subprocess.DEVNULL, env=env, cwd=cwd)

    def tail(self, n=40):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()

    def status_kib(self, field):
        """A field of /proc/PID/status in KiB (VmRSS, VmHWM); 0 when gone."""
        try:
            with open(f"/proc/{self.p.pid}/status") as f:
                for line in f:
                    if line.startswith(field + ":"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0


class Reply:
    """An answer: status (0 when none came), headers by lower-case name, body."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body or b"null")


def request(port, method, path, body=None, headers=None, timeout=10):
    """One HTTP request to 127.0.0.1:port; the reply whatever its status."""
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Reply(r.status, {k.lower(): v for k, v in r.headers.items()}, r.read())
    except urllib.error.HTTPError as e:
        return Reply(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())
    except (urllib.error.URLError, ConnectionError, socket.timeout):
        return Reply(0, {}, b"")


class Stack:
    """PostgreSQL, Valkey and the backend under `work` (a new temp dir
    under .build when None): `start()`, then `stop()` in any case."""

    def __init__(self, binary, work=None, backend_args=(), backend_sections=(), backend_env=None,
                 log_level="info", valkey_args=()):
        os.makedirs(os.path.join(REPO, ".build"), exist_ok=True)
        self.work = work or tempfile.mkdtemp(prefix="stack-", dir=os.path.join(REPO, ".build"))
        os.chmod(self.work, 0o755)
        self.binary = binary
        self.procs = []
        self.run_as = "postgres" if os.geteuid() == 0 else None
        self.pg_port = free_port()
        self.valkey_port = free_port()
        self.port = free_port()
        self.backend_args = backend_args
        self.backend_sections = backend_sections
        self.backend_env = backend_env
        self.log_level = log_level
        self.valkey_args = valkey_args
        # A bearer token for api() (a backend with authentication).
        self.token = None

    def start(self, before_backend=None):
        """Starts the three (`before_backend()` runs once Valkey answers);
        on an error the caller's stop() ends what runs."""
        self._start_postgres()
        self.valkey = self._add(Proc("valkey", ["valkey-server", "--bind", "127.0.0.1", "--port", str(self.valkey_port),
                                                "--save", "", "--appendonly", "no", "--dir", self.work,
                                                *self.valkey_args], self.work))
        wait("valkey-server answers PING", 10, lambda: self.valkey_cli("PING") == "PONG", self.valkey)
        if before_backend is not None:
            before_backend()
        env = dict(os.environ)
        env["ALP_CONNEX_DATABASE__URL"] = f"postgres://postgres@127.0.0.1:{self.pg_port}/postgres"
        env.update(self.backend_env or {})
        self.backend = self._add(Proc("backend", [
            self.binary, "backend", "--id", "backend", "--log-level", self.log_level, *self.backend_args,
            "http", "--bind", "127.0.0.1", "--port", str(self.port),
            "redis", "--host", f"127.0.0.1:{self.valkey_port}", *self.backend_sections], self.work, env=env))
        wait("the backend is ready (/readyz 200)", 60,
             lambda: request(self.port, "GET", "/readyz").status == 200, self.backend)

    def _add(self, p):
        self.procs.append(p)
        return p

    def _pg_cmd(self, program, *args):
        cmd = [os.path.join(pg_bin(), program), *args]
        if self.run_as:
            cmd = ["setpriv", "--reuid", self.run_as, "--regid", self.run_as, "--init-groups", "--", *cmd]
        return cmd

    def _start_postgres(self):
        if self.run_as:
            # The postgres user must reach its directory: a clone under a
            # private directory (mktemp -d is 0700) would not let it in, so
            # its cluster lives in a directory of its own under the system's
            # temporary directory, removed by remove().
            self.pg_root = tempfile.mkdtemp(prefix="alp-connex-pg-")
            os.chmod(self.pg_root, 0o755)
            pg = os.path.join(self.pg_root, "pg")
        else:
            pg = os.path.join(self.work, "pg")
        os.makedirs(os.path.join(pg, "sock"))
        if self.run_as:
            shutil.chown(pg, self.run_as, self.run_as)
            shutil.chown(os.path.join(pg, "sock"), self.run_as, self.run_as)
        out = subprocess.run(self._pg_cmd("initdb", "-D", os.path.join(pg, "data"), "-U", "postgres", "-A", "trust",
                                          "-E", "UTF8", "--locale=C", "--no-sync"),
                             cwd=pg, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if out.returncode != 0:
            raise SystemExit(f"initdb failed:\n{out.stdout}{out.stderr}")
        self.postgres = self._add(Proc("postgres", self._pg_cmd(
            "postgres", "-D", os.path.join(pg, "data"), "-p", str(self.pg_port),
            "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={os.path.join(pg, 'sock')}",
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"), self.work, cwd=pg))
        isready = os.path.join(pg_bin(), "pg_isready")
        wait("PostgreSQL accepts connections", 30, lambda: subprocess.run(
            [isready, "-q", "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "postgres", "-t", "1"],
            stdin=subprocess.DEVNULL).returncode == 0, self.postgres)

    def valkey_cli(self, *args, stdin=None):
        out = subprocess.run(["valkey-cli", "-h", "127.0.0.1", "-p", str(self.valkey_port), *args],
                             input=stdin, capture_output=True, text=True, timeout=120)
        return out.stdout.strip()

    def api(self, method, path, body=None, headers=None, expect=None):
        """A request to the backend (with `self.token`, if any); exits when
        the status is not `expect`."""
        headers = dict(headers or {})
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        r = request(self.port, method, path, body, headers)
        if expect is not None and r.status != expect:
            raise SystemExit(f"{method} {path}: {r.status} (wanted {expect}): {r.body[:500]!r}\n"
                             f"backend log:\n{self.backend.tail()}")
        return r

    def stop(self):
        for p in reversed(self.procs):
            # An immediate shutdown of PostgreSQL (its data is thrown away).
            p.stop(signal.SIGQUIT if p is getattr(self, "postgres", None) else signal.SIGTERM)
        self.procs.clear()
        if getattr(self, "pg_root", None):
            shutil.rmtree(self.pg_root, ignore_errors=True)
            self.pg_root = None

    def remove(self):
        shutil.rmtree(self.work, ignore_errors=True)
        if getattr(self, "pg_root", None):
            shutil.rmtree(self.pg_root, ignore_errors=True)
