#!/usr/bin/env python3
"""Benchmark of the inbound connector against the limit Valkey sets.

Starts its own valkey-server on a free 127.0.0.1 port, then in one run:

1. the limit: what Valkey sustains for the connector's per-point mix (one
   SET of a data point JSON + one XADD with MAXLEN ~), pipelined on one
   connection as the connector writes, measured with valkey-benchmark;
2. throughput: `alp-connex rtu-sim --rate max` (the project's own load
   generator: full ASDUs as fast as the k window allows) feeds the
   connector; points written per second, and the ratio to the limit;
3. latency at 10k points/s: from frame receipt (`received` in the data
   point) to the stream entry (its ID's millisecond time, Valkey's clock on
   the same machine): p50 and p99, in whole milliseconds (both clocks are
   read in ms);
4. the connector's peak RSS (VmHWM) holding 100,000 distinct points.

Only 127.0.0.1 is used. Run: bench/inbound.sh (builds the release binary);
`bench/inbound.sh --only rss` runs the peak RSS measurement alone (likewise
`--only limit`, `throughput` or `latency`; throughput needs the limit).
`--connector PATH` measures another build of the connector (e.g. the
static musl binary of the image) against the same load generator and
Valkey; the load generator stays target/release/alp-connex.
"""

import argparse

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(REPO, "target", "release", "alp-connex")
CONNECTOR = BIN
SAMPLE = json.dumps({
    "casdu": 1, "ioa": 12345, "type_id": 13, "type": "M_ME_NC_1", "value": 230.5,
    "quality": {"iv": False, "nt": False, "sb": False, "bl": False, "ov": False},
    "time": None, "cot": 3, "source": "bench", "received": "2026-11-21T09:15:30.125Z",
}, separators=(",", ":"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(port, *args):
    out = subprocess.run(["valkey-cli", "-h", "127.0.0.1", "-p", str(port), *args],
                         capture_output=True, text=True, timeout=30)
    return out.stdout.strip()


def wait(what, timeout, f):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = f()
        if v:
            return v
        time.sleep(0.05)
    sys.exit(f"bench: {what}: not within {timeout} s")


def status(port, cid):
    try:
        return json.loads(cli(port, "GET", f"connectors:{cid}:status") or "null") or {}
    except json.JSONDecodeError:
        return {}


def benchmark_rps(port, *command, n=300_000):
    """valkey-benchmark of one command, one connection, pipelined."""
    out = subprocess.run(
        ["valkey-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", "1", "-P", "256",
         "-n", str(n), "-r", "100000", "-q", *command],
        capture_output=True, text=True, timeout=600).stdout
    for part in out.replace("\r", "\n").split("\n"):
        if "requests per second" in part:
            return float(part.split(":")[-1].split("requests")[0].strip().split()[-1])
    sys.exit(f"bench: no figure from valkey-benchmark: {out!r}")


class Proc:
    def __init__(self, name, args, log_dir):
        self.log_path = os.path.join(log_dir, name + ".log")
        self.log = open(self.log_path, "w")
        self.p = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()

    def vm_hwm_kib(self):
        with open(f"/proc/{self.p.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return 0


def rtu(log_dir, port, *args):
    p = Proc(f"rtu-sim-{port}", [BIN, "rtu-sim", "--port", str(port), "--log-level", "info", *args], log_dir)
    wait("rtu-sim listening", 20, lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0)
    return p


def inbound(log_dir, cid, vport, rport, *client, env=None):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.Popen([CONNECTOR, "iec104-inbound", "--id", cid, "--log-level", "warning",
                          "client", "--host", "127.0.0.1", "--port", str(rport), *client,
                          "redis", "--host", f"127.0.0.1:{vport}"],
                         stdout=subprocess.DEVNULL, stderr=open(os.path.join(log_dir, cid + ".log"), "w"),
                         stdin=subprocess.DEVNULL, env=e)
    proc = Proc.__new__(Proc)
    proc.p, proc.log, proc.log_path = p, open(os.devnull, "w"), os.path.join(log_dir, cid + ".log")
    return proc


def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, int(round(q * (len(sorted_values) - 1)))))
    return sorted_values[i]


def main():
    ap = argparse.ArgumentParser(description="Benchmark of the inbound connector.")
    ap.add_argument("--only", choices=["limit", "throughput", "latency", "rss"], action="append",
                    help="run only these parts (repeatable; throughput implies limit)")
    ap.add_argument("--connector", metavar="PATH", default=BIN,
                    help="the alp-connex binary whose iec104-inbound is measured (default: the release build)")
    args = ap.parse_args()
    global CONNECTOR
    CONNECTOR = os.path.abspath(args.connector)
    if not os.path.exists(CONNECTOR):
        sys.exit(f"bench: no connector binary at {CONNECTOR}")
    print(f"connector: {CONNECTOR}")
    parts = set(args.only or ["limit", "throughput", "latency", "rss"])
    if "throughput" in parts:
        parts.add("limit")
    if not os.path.exists(BIN):
        sys.exit("bench: build first: cargo build --release")
    work = tempfile.mkdtemp(prefix="alp-bench-")
    vport = free_port()
    valkey = Proc("valkey", ["valkey-server", "--port", str(vport), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", work], work)
    procs = [valkey]
    try:
        wait("valkey", 10, lambda: cli(vport, "PING") == "PONG")

        if "limit" in parts:
            # 1. The limit.
            set_rps = benchmark_rps(vport, "SET", "process:image:casdu:1:ioa:__rand_int__", SAMPLE)
            xadd_rps = benchmark_rps(vport, "XADD", "bench:stream", "MAXLEN", "~", "1000", "*", "casdu", "1",
                                     "ioa", "__rand_int__", "source", "bench", "data", SAMPLE)
            limit = 1.0 / (1.0 / set_rps + 1.0 / xadd_rps)
            print(f"valkey limit (1 connection, pipeline 256): SET {set_rps:,.0f}/s, XADD {xadd_rps:,.0f}/s "
                  f"-> {limit:,.0f} points/s (SET + XADD per point)")
            cli(vport, "FLUSHALL")

        if "throughput" in parts:
            # 2. Throughput.
            rport = free_port()
            # Paced at the limit: the connector should keep up with what Valkey
            # takes (a flood beyond it only measures who gets the two cores).
            procs.append(rtu(work, rport, "--rate", "max", "--asdu", "nc48", "--points", "100000", "-k", "256", "-w", "128",
                             "--load-limit", str(int(limit))))
            # A stream cap large enough that nothing is trimmed: every received
            # point is written with its SET and its XADD (image values of the
            # same point within one pipeline coalesce, last value wins).
            c = inbound(work, "bench-tp", vport, rport, "-k", "256", "-w", "128",
                        env={"ALP_CONNEX_REDIS__STREAM_MAX_LENGTH": "20000000"})
            procs.append(c)
            wait("connector writing", 30, lambda: status(vport, "bench-tp").get("valkey", {}).get("written", 0) > 100_000)
            s0, t0 = status(vport, "bench-tp"), time.monotonic()
            time.sleep(5)
            s1, t1 = status(vport, "bench-tp"), time.monotonic()
            written = (s1["valkey"]["written"] - s0["valkey"]["written"]) / (t1 - t0)
            received = (s1["points_received"] - s0["points_received"]) / (t1 - t0)
            print(f"throughput: received {received:,.0f} points/s, written {written:,.0f} points/s "
                  f"-> ratio to the valkey limit {written / limit:.2f} (target >= 0.9)")
            print(f"  generator paced at {int(limit):,} objects/s; backlog at the end {s1['valkey']['pending']:,} points, "
                  f"stream entries trimmed by the cap {s1['valkey']['trimmed_stream_entries']:,}, dropped by outages "
                  f"{s1['valkey']['dropped_stream_entries']:,}; connector RSS {c.vm_hwm_kib() / 1024:.0f} MiB peak")
            for p in procs[1:]:
                p.stop()
            procs = procs[:1]
            cli(vport, "FLUSHALL")

        if "latency" in parts:
            # 3. Latency at 10k points/s.
            rport = free_port()
            procs.append(rtu(work, rport, "--rate", "10000", "--points", "10000"))
            c = inbound(work, "bench-lat", vport, rport, env={"ALP_CONNEX_REDIS__STREAM_MAX_LENGTH": "200000"})
            procs.append(c)
            wait("connector connected", 30, lambda: status(vport, "bench-lat").get("state") == "connected")
            time.sleep(2)
            start_id = f"{int(time.time() * 1000)}-0"
            time.sleep(10)
            raw = subprocess.run(["valkey-cli", "-h", "127.0.0.1", "-p", str(vport), "--no-raw", "XRANGE",
                                  "process:updates", start_id, "+"], capture_output=True, text=True, timeout=60).stdout
            ids, lat = [], []
            lines = [l.strip() for l in raw.splitlines()]
            # valkey-cli --no-raw prints: N) 1) "id" / 2) 1) "casdu" ... 8) "json"
            entry_ms = None
            for l in lines:
                if '"' not in l:
                    continue
                val = l[l.index('"') + 1:l.rindex('"')]
                if l.split(")")[0].strip().isdigit() and "-" in val and val.replace("-", "").isdigit():
                    entry_ms = int(val.split("-")[0])
                    ids.append(entry_ms)
                elif val.startswith("{") and entry_ms is not None:
                    d = json.loads(val.encode().decode("unicode_escape"))
                    rec = d["received"]
                    t = time.strptime(rec[:19], "%Y-%m-%dT%H:%M:%S")
                    rec_ms = int((time.mktime(t) - time.timezone) * 1000) + int(rec[20:23])
                    lat.append(entry_ms - rec_ms)
            lat.sort()
            rate = len(lat) / 10.0
            print(f"latency at {rate:,.0f} points/s over 10 s ({len(lat):,} entries): frame receipt -> stream entry "
                  f"p50 {percentile(lat, 0.5)} ms, p99 {percentile(lat, 0.99)} ms, max {lat[-1] if lat else 'n/a'} ms "
                  f"(whole ms; target p99 < 2 ms)")
            for p in procs[1:]:
                p.stop()
            procs = procs[:1]
            cli(vport, "FLUSHALL")

        if "rss" in parts:
            # 4. Peak RSS with 100,000 distinct points.
            rport = free_port()
            procs.append(rtu(work, rport, "--rate", "1000", "--points", "100000", "-k", "256", "-w", "128"))
            c = inbound(work, "bench-rss", vport, rport, "-k", "256", "-w", "128")
            procs.append(c)
            wait("the interrogation of 100,000 points (95,000 without the counters)", 120, lambda: status(vport, "bench-rss").get("points_known", 0) >= 95_000)
            time.sleep(5)
            hwm = c.vm_hwm_kib()
            print(f"peak RSS with {status(vport, 'bench-rss').get('points_known', 0):,} distinct points: "
                  f"{hwm / 1024:.1f} MiB (target < 20 MB)")
    finally:
        for p in reversed(procs):
            p.stop()


if __name__ == "__main__":
    main()
