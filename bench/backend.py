#!/usr/bin/env python3
"""Benchmark of the backend (`alp-connex backend`, release build) with
authentication on, against its own PostgreSQL and Valkey.

Starts (scripts/backend_stack.py) a throw-away PostgreSQL cluster, a
valkey-server and the backend on free 127.0.0.1 ports, with an OpenID
issuer of its own in this process (discovery and JWKS over HTTP on a free
port, an RSA key made at start; tokens are RS256 with `aud`
`api://alp-connex` and `roles: ["ALP.Admin"]`, PyJWT). Before the backend
starts, Valkey gets 10,000 data points (common addresses 1..=10, IOAs
1..=1000, the contract's JSON); through the API it gets one connector of
each kind. Then:

1. reads: `wrk` (2 threads, --connections, --duration) on an authenticated
   `GET /api/v1/connectors/{id}` and on a 1,000-point page
   `GET /api/v1/points?limit=1000`, each as fast as answers come:
   requests/s and the latency percentiles (target >= 5,000 authenticated
   reads/s), and the backend's CPU time per request (user + system, from
   /proc: what the figure would be on cores of its own);
2. paced: the same two at a fixed 1,000 requests/s (bench/backend.lua
   schedules the requests: wrk2's constant rate without its correction of
   coordinated omission; Debian has no wrk2): the latency percentiles
   (target p99 < 10 ms);
3. fan-out: 100 clients of `GET /api/v1/updates` (this process, counting
   the `event: point` of each), while a writer (a child process) adds
   2,000 entries/s for 10 s to `process:updates` (XADD with `casdu`,
   `ioa`, `source`, `data`, as a connector does): whether every client
   received every update, the backend's RSS (VmRSS at the end, VmHWM) and
   CPU;
4. push: a running `alp-connex iec104-inbound` managed by the backend;
   ten `PUT /api/v1/connectors/{id}` changing its `t1`, each timed from
   sending the PUT to the connector's log line `managed configuration
   applied` (its own time stamp; same clock) (target < 2 s).

wrk and this script run on the same cores as the backend, PostgreSQL and
Valkey: the figures are for all of them sharing the machine. Loopback
only. Run: bench/backend.sh (builds the release binary, installs wrk, the
bench venv with PyJWT and cryptography); `bench/backend.sh --only reads`
runs one part (reads, paced, fanout, push).
"""

import argparse
import base64
import json
import os
import re
import selectors
import shutil
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "scripts"))
from backend_stack import Proc, Stack, free_port, request, wait  # noqa: E402

BIN = os.path.join(REPO, "target", "release", "alp-connex")
LUA = os.path.join(REPO, "bench", "backend.lua")
AUDIENCE = "api://alp-connex"
POINT = ('{"casdu":%d,"ioa":%d,"type_id":13,"type":"M_ME_NC_1","value":%s,'
         '"quality":{"iv":false,"nt":false,"sb":false,"bl":false,"ov":false},'
         '"cot":3,"source":"bench","received":"2026-11-29T10:00:00.000Z"}')
READS_TARGET = 5000
P99_TARGET_MS = 10.0
PUSH_TARGET_S = 2.0
ANSI = re.compile(r"\x1b\[[0-9;]*m")


# ------------------------------------------------------------------ issuer ---

def b64url(n):
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class Issuer:
    """An OpenID issuer on a free loopback port: discovery, JWKS, tokens."""

    def __init__(self):
        import jwt  # noqa: F401 (fails early when the venv lacks it)
        from cryptography.hazmat.primitives.asymmetric import rsa
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = self.key.public_key().public_numbers()
        self.kid = "bench-1"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        jwks = json.dumps({"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
                                     "n": b64url(numbers.n), "e": b64url(numbers.e)}]}).encode()
        discovery = json.dumps({"issuer": self.url, "jwks_uri": f"{self.url}/jwks",
                                "authorization_endpoint": f"{self.url}/authorize",
                                "token_endpoint": f"{self.url}/token",
                                "id_token_signing_alg_values_supported": ["RS256"]}).encode()
        docs = {"/.well-known/openid-configuration": discovery, "/jwks": jwks}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = docs.get(self.path)
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, roles=("ALP.Admin",), lifetime=3600):
        import jwt
        now = int(time.time())
        claims = {"iss": self.url, "aud": AUDIENCE, "sub": "bench-user", "preferred_username": "bench",
                  "roles": list(roles), "iat": now, "nbf": now - 5, "exp": now + lifetime}
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})

    def stop(self):
        self.server.shutdown()


# -------------------------------------------------------------------- seed ---

def seed_points(stack):
    lines = [f"SET process:image:casdu:{c}:ioa:{i} '{POINT % (c, i, i + 0.5)}'"
             for c in range(1, 11) for i in range(1, 1001)]
    stack.valkey_cli(stdin="\n".join(lines) + "\n")
    n = int(stack.valkey_cli("DBSIZE") or 0)
    if n != 10_000:
        raise SystemExit(f"bench: {n} keys in Valkey after seeding, not 10,000")


def seed_connectors(stack, inbound_port):
    for cid, kind, settings in [
        ("bench-inbound", "iec104-inbound", {"host": "127.0.0.1", "port": inbound_port, "t1": 15,
                                             "reconnect_interval_s": 30}),
        ("bench-server", "iec104-server", {"port": 2405, "common_addresses": [1]}),
        ("bench-mqtt", "mqtt", {"broker": {"host": "127.0.0.1", "port": 1883}}),
    ]:
        stack.api("POST", "/api/v1/connectors", {"id": cid, "kind": kind, "name": cid, "settings": settings},
                  expect=201)


# --------------------------------------------------------------------- wrk ---

def wrk(stack, path, token, threads, connections, seconds, rate=0):
    env = dict(os.environ, WRK_TOKEN=token, WRK_THREADS=str(threads), WRK_RATE=str(rate))
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
                          "--timeout", "5s", "-s", LUA, f"http://127.0.0.1:{stack.port}{path}"],
                         capture_output=True, text=True, env=env, timeout=seconds + 60)
    for line in reversed(out.stdout.splitlines()):
        if line.startswith("{"):
            r = json.loads(line)
            r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
            r["errors"] = r["non_2xx"] + r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["timeouts"]
            return r
    raise SystemExit(f"bench: no result from wrk: {out.stdout!r} {out.stderr!r}")


def ms(us):
    return us / 1000.0


def describe(r):
    return (f"p50 {ms(r['p50_us']):.2f} ms, p90 {ms(r['p90_us']):.2f} ms, p99 {ms(r['p99_us']):.2f} ms, "
            f"p99.9 {ms(r['p999_us']):.2f} ms, max {ms(r['max_us']):.1f} ms; {r['errors']} errors")


# ------------------------------------------------------------------ fan-out ---

WRITER = r'''
import socket, sys, time, threading
port, rate, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
point = sys.argv[4]
s = socket.create_connection(("127.0.0.1", port))
def drain():
    while s.recv(65536):
        pass
threading.Thread(target=drain, daemon=True).start()
def cmd(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out
total = int(rate * seconds)
t0 = time.monotonic()
sent = 0
while sent < total:
    due = min(total, int((time.monotonic() - t0) * rate) + 1)
    if due > sent:
        buf = bytearray()
        for n in range(sent, due):
            casdu, ioa = 1 + n % 10, 1 + n % 1000
            buf += cmd("XADD", "process:updates", "*", "casdu", str(casdu), "ioa", str(ioa), "source", "bench",
                       "data", point % (casdu, ioa, f"{n}.5"))
        s.sendall(bytes(buf))
        sent = due
    time.sleep(0.002)
print(sent, time.monotonic() - t0, flush=True)
'''

MARK = b"event: point\n"
LAGGED = b"event: lagged\n"


class SseClient:
    def __init__(self, port, token):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall((f"GET /api/v1/updates HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                           f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n").encode())
        self.sock.setblocking(False)
        self.head = b""
        self.status = None
        self.tail = b""
        self.points = 0
        self.lagged = 0

    def feed(self, data):
        if self.status is None:
            self.head += data
            if b"\r\n\r\n" not in self.head:
                return
            head, data = self.head.split(b"\r\n\r\n", 1)
            self.status = int(head.split(b" ", 2)[1])
        buf = self.tail + data
        self.points += buf.count(MARK)
        self.lagged += buf.count(LAGGED)
        keep = len(MARK) - 1
        self.tail = buf[-keep:] if len(buf) > keep else buf


def metric(stack, name):
    text = request(stack.port, "GET", "/metrics").body.decode(errors="replace")
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fanout(stack, token, clients_n, rate, seconds):
    clients = [SseClient(stack.port, token) for _ in range(clients_n)]
    sel = selectors.DefaultSelector()
    for c in clients:
        sel.register(c.sock, selectors.EVENT_READ, c)

    def pump(timeout):
        for key, _ in sel.select(timeout):
            c = key.data
            try:
                data = c.sock.recv(1 << 17)
            except BlockingIOError:
                continue
            if data:
                c.feed(data)
            else:
                sel.unregister(c.sock)

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pump(0.05)
        if all(c.status is not None for c in clients) and metric(stack, "alp_connex_sse_clients") == clients_n:
            break
    else:
        raise SystemExit(f"bench: {clients_n} update streams not open within 30 s")
    refused = [c.status for c in clients if c.status != 200]
    if refused:
        raise SystemExit(f"bench: update streams refused: {refused[:5]}")
    rss_before = stack.backend.status_kib("VmRSS")
    cpu0 = cpu_seconds(stack.backend.p.pid)
    t0 = time.monotonic()
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(stack.valkey_port), str(rate), str(seconds),
                               POINT], stdout=subprocess.PIPE, text=True)
    rss_peak = rss_before
    while writer.poll() is None:
        pump(0.05)
        rss_peak = max(rss_peak, stack.backend.status_kib("VmRSS"))
    sent, took = writer.communicate()[0].split()
    sent, took = int(sent), float(took)
    # Until every client has every update, or nothing moves for 3 s.
    last, still = -1, time.monotonic()
    while True:
        pump(0.05)
        got = sum(c.points for c in clients)
        if all(c.points >= sent for c in clients):
            break
        if got != last:
            last, still = got, time.monotonic()
        elif time.monotonic() - still > 3:
            break
    elapsed = time.monotonic() - t0
    cpu = cpu_seconds(stack.backend.p.pid) - cpu0
    rss_peak = max(rss_peak, stack.backend.status_kib("VmRSS"))
    rss_end = stack.backend.status_kib("VmRSS")
    for c in clients:
        c.sock.close()
    return {"sent": sent, "took": took, "elapsed": elapsed, "cpu": cpu,
            "min": min(c.points for c in clients), "max": max(c.points for c in clients),
            "complete": sum(1 for c in clients if c.points == sent), "lagged": sum(c.lagged for c in clients),
            "rss_before": rss_before, "rss_peak": rss_peak, "rss_end": rss_end,
            "hwm": stack.backend.status_kib("VmHWM")}


# -------------------------------------------------------------------- push ---

def applied_times(path):
    """The time stamps (seconds since the epoch) of the connector's
    `managed configuration applied` lines."""
    out = []
    with open(path, errors="replace") as f:
        for line in f:
            line = ANSI.sub("", line)
            if "managed configuration applied" in line:
                out.append(datetime.fromisoformat(line.split()[0]).timestamp())
    return out


def push(binary, stack, work, inbound_port, rounds):
    c = Proc("inbound", [binary, "iec104-inbound", "--id", "bench-inbound", "client", "--host", "127.0.0.1",
                         "--port", str(inbound_port), "redis", "--host", f"127.0.0.1:{stack.valkey_port}"], work)
    try:
        wait("the inbound connector applies its pushed configuration", 30,
             lambda: applied_times(c.log_path), c)
        times = []
        for n in range(rounds):
            before = len(applied_times(c.log_path))
            cur = stack.api("GET", "/api/v1/connectors/bench-inbound", expect=200)
            body = cur.json()
            body["settings"]["t1"] = 16 + n % 10
            t_sent = time.time()
            stack.api("PUT", "/api/v1/connectors/bench-inbound",
                      {k: body[k] for k in ("name", "description", "enabled", "settings")},
                      headers={"If-Match": cur.headers.get("etag", "*")}, expect=200)
            seen = wait("the change applied by the connector", 10,
                        lambda: (lambda t: t[before:] if len(t) > before else None)(applied_times(c.log_path)), c)
            times.append(seen[0] - t_sent)
            time.sleep(0.2)
        return sorted(times)
    finally:
        c.stop()


# -------------------------------------------------------------------- main ---

def main():
    ap = argparse.ArgumentParser(description="Benchmark of the backend.")
    ap.add_argument("--only", choices=["reads", "paced", "fanout", "push"], action="append",
                    help="run only these parts (repeatable)")
    ap.add_argument("--duration", type=int, default=10, help="seconds of each wrk run")
    ap.add_argument("--connections", type=int, default=32, help="wrk connections as fast as answers come")
    ap.add_argument("--rate", type=int, default=1000, help="requests/s of the paced runs")
    ap.add_argument("--sse-clients", type=int, default=100)
    ap.add_argument("--sse-rate", type=int, default=2000, help="updates/s written to the stream")
    ap.add_argument("--sse-seconds", type=int, default=10)
    ap.add_argument("--push-rounds", type=int, default=10)
    ap.add_argument("--binary", default=BIN, help="the alp-connex to run (default: the release build)")
    args = ap.parse_args()
    parts = set(args.only or ["reads", "paced", "fanout", "push"])
    binary = args.binary
    if not os.path.exists(binary):
        raise SystemExit("bench: build first: cargo build --release")
    if shutil.which("wrk") is None and parts & {"reads", "paced"}:
        raise SystemExit("bench: wrk is missing (bench/backend.sh installs it)")
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.1f} at the start; "
          f"backend, PostgreSQL, Valkey, wrk and the clients share them")
    issuer = Issuer()
    stack = Stack(binary, backend_sections=["oidc", "--issuer", issuer.url, "--audience", AUDIENCE])
    inbound_port = free_port()  # nothing listens: the connector keeps trying
    try:
        stack.start(before_backend=lambda: seed_points(stack))
        token = issuer.token()
        stack.token = token
        wait("the backend reached the issuer", 30,
             lambda: request(stack.port, "GET", "/api/v1/me", headers={"Authorization": f"Bearer {token}"}
                             ).status == 200, stack.backend)
        seed_connectors(stack, inbound_port)
        page = stack.api("GET", "/api/v1/points?limit=1000", expect=200)
        npoints = len(page.json()["points"])
        if npoints != 1000:
            raise SystemExit(f"bench: the first page holds {npoints} points, not 1,000")
        print(f"backend up: RSS {stack.backend.status_kib('VmRSS') / 1024:.1f} MiB with 10,000 points indexed; "
              f"a 1,000-point page is {len(page.body) / 1024:.0f} KiB")
        targets = [("GET /api/v1/connectors/{id}", "/api/v1/connectors/bench-inbound"),
                   ("GET /api/v1/points?limit=1000", "/api/v1/points?limit=1000")]
        if "reads" in parts:
            for name, path in targets:
                cpu0 = cpu_seconds(stack.backend.p.pid)
                r = wrk(stack, path, token, 2, args.connections, args.duration)
                cpu_us = (cpu_seconds(stack.backend.p.pid) - cpu0) / max(1, r["requests"]) * 1e6
                line = (f"{name}, authenticated, as fast as answered (wrk 2 threads, {args.connections} connections, "
                        f"{args.duration} s): {r['rps']:,.0f} requests/s")
                if "connectors" in path:
                    line += f" -> ratio to the target 5,000/s {r['rps'] / READS_TARGET:.2f}"
                else:
                    line += f" ({r['rps'] * 1000:,.0f} points/s)"
                print(f"{line}; {describe(r)}; backend CPU {cpu_us:.0f} µs per request")
        if "paced" in parts:
            for name, path in targets:
                connections = 50 if "points" in path else 20
                r = wrk(stack, path, token, 2, connections, args.duration, rate=args.rate)
                print(f"{name}, authenticated, paced at {args.rate:,}/s (wrk 2 threads, {connections} connections, "
                      f"{args.duration} s, {r['rps']:,.0f}/s achieved): {describe(r)} -> p99 ratio to the "
                      f"target 10 ms {ms(r['p99_us']) / P99_TARGET_MS:.2f}")
        if "fanout" in parts:
            f = fanout(stack, token, args.sse_clients, args.sse_rate, args.sse_seconds)
            print(f"fan-out: {args.sse_clients} clients of GET /api/v1/updates, {f['sent']:,} updates written in "
                  f"{f['took']:.1f} s ({f['sent'] / f['took']:,.0f}/s): {f['complete']} of {args.sse_clients} "
                  f"clients received every update (fewest {f['min']:,}, most {f['max']:,}; {f['lagged']} lagged "
                  f"events); {f['sent'] * args.sse_clients / f['elapsed']:,.0f} events/s delivered; backend CPU "
                  f"{f['cpu'] / f['elapsed'] * 100:.0f}% of a core; RSS {f['rss_before'] / 1024:.1f} MiB before, "
                  f"{f['rss_peak'] / 1024:.1f} MiB at most during, {f['rss_end'] / 1024:.1f} MiB after "
                  f"(VmHWM {f['hwm'] / 1024:.1f} MiB)")
        if "push" in parts:
            times = push(binary, stack, stack.work, inbound_port, args.push_rounds)
            med = times[len(times) // 2]
            print(f"PUT /api/v1/connectors/{{id}} -> a running iec104-inbound applies it ({len(times)} changes): "
                  f"median {med * 1000:.0f} ms, max {times[-1] * 1000:.0f} ms -> ratio of the max to the target "
                  f"2 s {times[-1] / PUSH_TARGET_S:.3f}")
        print(f"backend RSS at the end: {stack.backend.status_kib('VmRSS') / 1024:.1f} MiB "
              f"(VmHWM {stack.backend.status_kib('VmHWM') / 1024:.1f} MiB)")
    finally:
        stack.stop()
        issuer.stop()
        stack.remove()


if __name__ == "__main__":
    main()
