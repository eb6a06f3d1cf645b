#!/usr/bin/env python3
"""Benchmark of the MQTT connector against the limits measured in the same run.

Starts its own valkey-server and mosquitto on free 127.0.0.1 ports, then:

1. the limits: what Valkey sustains for the connector's per-point mix (SET
   of the data point + XADD, pipelined on one connection, valkey-benchmark)
   and what a bare subscriber (mosquitto_sub) receives through the same
   broker from the same publisher (`alp-connex mqtt-sim --rate 0`), QoS 0
   and QoS 1;
2. throughput: `alp-connex mqtt-sim --rate 0` (as fast as the broker takes
   it) -> mosquitto -> `alp-connex mqtt` -> Valkey, QoS 0 and QoS 1:
   messages/s and points/s the connector writes, and the ratio to the lower
   limit (target >= 0.9);
3. for scale, a naive bridge (paho-mqtt + redis-py, one pipeline per
   message) on the same load;
4. latency at 5,000 messages/s: from the sensor's time stamp (set by
   mqtt-sim when it publishes, the point's `time`) to the stream entry (its
   ID's millisecond time, Valkey's clock on the same machine): p50 and p99
   in whole milliseconds (target p99 < 5 ms);
5. the connector's peak RSS (VmHWM) with 100,000 mapped points over 10,000
   mappings, every point written once (target < 40 MB);
6. the criterion bench of the mapping engine (`cargo bench --bench
   mapping`): messages/s for one mapping and with 10,000 topic filters.

Only 127.0.0.1 is used. Run: bench/mqtt.sh (builds the release binary and
the bench venv); `bench/mqtt.sh --only rss` runs one part (limit,
throughput, naive, latency, rss, engine; throughput and naive need limit).
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(REPO, "target", "release", "alp-connex")
SAMPLE = json.dumps({
    "casdu": 101, "ioa": 1, "type_id": 36, "type": "M_ME_TF_1", "value": 21.5,
    "quality": {"iv": False, "nt": False, "sb": False, "bl": False, "ov": False},
    "time": "2026-11-29T10:00:00.250Z", "time_invalid": False, "summer_time": False,
    "cot": 3, "source": "bench", "received": "2026-11-29T10:00:00.251Z",
}, separators=(",", ":"))
STATIONS = 10
# Points per message of each sensor kind of mqtt-sim, as mapped below.
KINDS = {"climate": 2, "door": 1, "transformer": 3, "gis": 3}
SENSORS = {"climate": ["ts-1", "ts-2"], "door": ["dc-1"], "transformer": ["tr-1"], "gis": ["sf6-1"]}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def cli(port, *args):
    out = subprocess.run(["valkey-cli", "-h", "127.0.0.1", "-p", str(port), *args],
                         capture_output=True, text=True, timeout=60)
    return out.stdout.strip()


def wait(what, timeout, f):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = f()
        if v:
            return v
        time.sleep(0.02)
    sys.exit(f"bench: {what}: not within {timeout} s")


def status(port, cid):
    try:
        return json.loads(cli(port, "GET", f"connectors:{cid}:status") or "null") or {}
    except json.JSONDecodeError:
        return {}


def benchmark_rps(port, *command, n=300_000):
    out = subprocess.run(
        ["valkey-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", "1", "-P", "256",
         "-n", str(n), "-r", "100000", "-q", *command],
        capture_output=True, text=True, timeout=600).stdout
    for part in out.replace("\r", "\n").split("\n"):
        if "requests per second" in part:
            return float(part.split(":")[-1].split("requests")[0].strip().split()[-1])
    sys.exit(f"bench: no figure from valkey-benchmark: {out!r}")


class Proc:
    def __init__(self, name, args, log_dir, stdout=None, env=None):
        self.log_path = os.path.join(log_dir, name + ".log")
        self.log = open(self.log_path, "w")
        self.p = subprocess.Popen(args, stdout=stdout or self.log, stderr=self.log,
                                  stdin=subprocess.DEVNULL, env=env)

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


def mapping_config():
    """Every value of every mqtt-sim sensor of STATIONS stations, timed
    types with the sensor's time stamp, no deadband: every message writes
    all its points."""
    fmt = {"climate": "rfc3339", "door": "rfc3339", "transformer": "unix_ms", "gis": "unix_s"}
    values = {"climate": ["temperature", "humidity"], "door": ["door"],
              "transformer": ["oil_temperature", "winding_temperature", "load"],
              "gis": ["sf6_density", "sf6_pressure", "alarm"]}
    mappings = []
    for s in range(1, STATIONS + 1):
        station = f"ss-{s:02d}"
        ioa = 1
        for kind, sensors in SENSORS.items():
            for sensor in sensors:
                points = []
                for v in values[kind]:
                    p = {"casdu": 100 + s, "ioa": ioa, "value": f"$.{v}", "time": "$.ts",
                         "time_format": fmt[kind]}
                    if v == "door":
                        p.update(type="M_SP_TB_1", map={"open": True, "closed": False})
                    elif v == "alarm":
                        p.update(type="M_SP_TB_1")
                    else:
                        p.update(type="M_ME_TF_1")
                    points.append(p)
                    ioa += 1
                mappings.append({"id": f"{station}-{sensor}", "topic": f"substations/{station}/{kind}/{sensor}",
                                 "points": points})
    return {"mappings": mappings}


def points_per_message():
    per_station = sum(KINDS[k] * len(s) for k, s in SENSORS.items())
    messages = sum(len(s) for s in SENSORS.values())
    return per_station / messages


def sim(work, mport, *args, name="mqtt-sim"):
    return Proc(name, [BIN, "mqtt-sim", "--host", "127.0.0.1", "--port", str(mport),
                       "--stations", str(STATIONS), "--log-level", "warning", *args],
                work, stdout=subprocess.PIPE)


def sim_result(p):
    out, _ = p.p.communicate(timeout=600)
    p.log.close()
    for line in out.decode().splitlines():
        if line.startswith("published="):
            return dict(kv.split("=", 1) for kv in line.split())
    sys.exit(f"bench: no result line from mqtt-sim: {out!r} (log {p.log_path})")


def connector(work, cid, vport, mport, qos, extra_env=None):
    env = dict(os.environ)
    env["ALP_CONNEX_REDIS__STREAM_MAX_LENGTH"] = "20000000"
    env.update(extra_env or {})
    return Proc(cid, [BIN, "mqtt", "--id", cid, "--log-level", "warning", "mqtt", "--host", "127.0.0.1",
                      "--port", str(mport), "--qos", str(qos), "--client-id", f"{cid}-{time.time_ns()}",
                      "redis", "--host", f"127.0.0.1:{vport}"], work, env=env)


def set_config(vport, cid, config):
    key = f"connectors:{cid}:config"
    # -x: the value from stdin (10,000 mappings are beyond an argument's size).
    subprocess.run(["valkey-cli", "-h", "127.0.0.1", "-p", str(vport), "-x", "SET", key],
                   input=json.dumps(config), capture_output=True, text=True, timeout=60, check=True)


def bare_subscriber(work, mport, qos, n):
    """mosquitto_sub receiving n messages of a full-rate mqtt-sim."""
    sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(mport), "-q", str(qos),
                            "-t", "substations/#", "-C", str(n)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # the subscription is made before the publisher starts
    t0 = time.monotonic()
    p = sim(work, mport, "--rate", "0", "--qos", str(qos), "--count", str(n), name=f"sim-bare-{qos}")
    sub.wait(600)
    elapsed = time.monotonic() - t0
    sim_result(p)
    return n / elapsed


def throughput(work, vport, mport, qos, n):
    cid = f"bench-q{qos}"
    set_config(vport, cid, mapping_config())
    c = connector(work, cid, vport, mport, qos)
    wait("connector subscribed", 30, lambda: status(vport, cid).get("subscriptions_granted", 0) > 0
         and status(vport, cid).get("subscriptions_granted") == status(vport, cid).get("subscriptions"))
    t0 = time.monotonic()
    p = sim(work, mport, "--rate", "0", "--qos", str(qos), "--count", str(n), name=f"sim-tp-{qos}")
    res = sim_result(p)
    published = int(res["published"])
    # Until every message is received and its points written (QoS 0 may lose
    # some at the broker when the connector falls behind: then the count
    # stops short; the wait ends when nothing moves for 2 s).
    last, still = -1, time.monotonic()
    while True:
        s = status(vport, cid)
        got = s.get("messages_received", 0)
        pending = s.get("valkey", {}).get("pending", 1)
        if got >= published and pending == 0:
            break
        if got != last:
            last, still = got, time.monotonic()
        elif time.monotonic() - still > 3:
            break
        time.sleep(0.05)
    # The status is written every 500 ms at most: take the end from the
    # connector's own counter, the time from the publisher's start.
    elapsed = time.monotonic() - t0 - 0.25
    s = status(vport, cid)
    msgs = s.get("messages_received", 0)
    written = s.get("valkey", {}).get("written", 0)
    hwm = c.vm_hwm_kib()
    c.stop()
    return msgs / elapsed, written / elapsed, published, msgs, hwm


NAIVE = r'''
import json, sys, time
import paho.mqtt.client as mqtt
import redis
host, mport, vport, qos, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
conf = json.loads(sys.stdin.read())
by_topic = {m["topic"]: m["points"] for m in conf["mappings"]}
r = redis.Redis(host=host, port=vport)
count = 0
def select(doc, path):
    return doc.get(path[2:])
def on_message(client, userdata, msg):
    global count
    doc = json.loads(msg.payload)
    pipe = r.pipeline(transaction=False)
    for p in by_topic.get(msg.topic, []):
        v = select(doc, p["value"])
        point = json.dumps({"casdu": p["casdu"], "ioa": p["ioa"], "type": p["type"], "value": v,
                            "cot": 3, "source": "naive", "time": doc.get("ts")})
        pipe.set(f"process:image:casdu:{p['casdu']}:ioa:{p['ioa']}", point)
        pipe.xadd("process:updates", {"casdu": p["casdu"], "ioa": p["ioa"], "source": "naive", "data": point},
                  maxlen=1000, approximate=True)
    pipe.execute()
    count += 1
    if count >= n:
        client.disconnect()
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="naive-bridge")
c.on_message = on_message
c.on_connect = lambda client, u, f, rc, p=None: client.subscribe("substations/#", qos)
c.connect(host, mport)
print("ready", flush=True)
c.loop_forever()
'''


def naive(work, vport, mport, qos, n, python):
    b = subprocess.Popen([python, "-c", NAIVE, "127.0.0.1", str(mport), str(vport), str(qos), str(n)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    b.stdin.write(json.dumps(mapping_config()))
    b.stdin.close()
    b.stdout.readline()
    time.sleep(0.5)
    t0 = time.monotonic()
    p = sim(work, mport, "--rate", "0", "--qos", str(qos), "--count", str(n), name=f"sim-naive-{qos}")
    sim_result(p)
    try:
        b.wait(600)
    except subprocess.TimeoutExpired:
        b.kill()
    return n / (time.monotonic() - t0)


def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, int(round(q * (len(sorted_values) - 1)))))
    return sorted_values[i]


def stream_latencies(vport, start_id):
    """(entry ms - point time ms) of every entry after start_id."""
    lat = []
    cursor = start_id
    while True:
        raw = subprocess.run(["valkey-cli", "-h", "127.0.0.1", "-p", str(vport), "--json", "XRANGE",
                              "process:updates", f"({cursor}", "+", "COUNT", "10000"],
                             capture_output=True, text=True, timeout=120).stdout
        entries = json.loads(raw or "[]")
        if not entries:
            return lat
        for entry_id, fields in entries:
            cursor = entry_id
            kv = dict(zip(fields[0::2], fields[1::2])) if isinstance(fields, list) else fields
            d = json.loads(kv["data"] if "data" in kv else kv.get("json", "{}"))
            t = d.get("time")
            if not t:
                continue
            t_ms = int(time.mktime(time.strptime(t[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone) * 1000 + int(t[20:23])
            lat.append(int(entry_id.split("-")[0]) - t_ms)


def main():
    ap = argparse.ArgumentParser(description="Benchmark of the MQTT connector.")
    ap.add_argument("--only", choices=["limit", "throughput", "naive", "latency", "rss", "engine"],
                    action="append", help="run only these parts (repeatable)")
    ap.add_argument("--messages", type=int, default=200_000, help="messages per throughput run")
    ap.add_argument("--python", default=os.path.join(REPO, ".build", "bench-venv", "bin", "python"),
                    help="the python with paho-mqtt and redis for the naive bridge")
    args = ap.parse_args()
    parts = set(args.only or ["limit", "throughput", "naive", "latency", "rss", "engine"])
    if parts & {"throughput", "naive"}:
        parts.add("limit")
    if not os.path.exists(BIN):
        sys.exit("bench: build first: cargo build --release")
    print(f"machine: {os.cpu_count()} cores; {args.messages:,} messages per run, {STATIONS} stations, "
          f"{points_per_message():.2f} points per message")
    work = tempfile.mkdtemp(prefix="alp-bench-mqtt-")
    os.chmod(work, 0o755)
    vport, mport = free_port(), free_port()
    valkey = Proc("valkey", ["valkey-server", "--port", str(vport), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", work], work)
    conf = os.path.join(work, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(f"listener {mport} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                "max_queued_messages 1000000\nmax_inflight_messages 100\nlog_dest stderr\nlog_type error\n")
    broker = Proc("mosquitto", ["mosquitto", "-c", conf], work)
    procs = [valkey, broker]
    try:
        wait("valkey", 10, lambda: cli(vport, "PING") == "PONG")
        wait("mosquitto", 10, lambda: listening(mport))
        ppm = points_per_message()
        limits = {}
        if "limit" in parts:
            set_rps = benchmark_rps(vport, "SET", "process:image:casdu:101:ioa:__rand_int__", SAMPLE)
            xadd_rps = benchmark_rps(vport, "XADD", "bench:stream", "MAXLEN", "~", "1000", "*", "casdu", "101",
                                     "ioa", "__rand_int__", "source", "bench", "data", SAMPLE)
            vlimit = 1.0 / (1.0 / set_rps + 1.0 / xadd_rps)
            print(f"valkey limit (1 connection, pipeline 256): SET {set_rps:,.0f}/s, XADD {xadd_rps:,.0f}/s "
                  f"-> {vlimit:,.0f} points/s = {vlimit / ppm:,.0f} messages/s")
            cli(vport, "FLUSHALL")
            for qos in (0, 1):
                bare = bare_subscriber(work, mport, qos, args.messages)
                limits[qos] = min(bare, vlimit / ppm)
                print(f"bare subscriber (mosquitto_sub) QoS {qos}: {bare:,.0f} messages/s "
                      f"-> lower limit {limits[qos]:,.0f} messages/s")
        if "throughput" in parts:
            for qos in (0, 1):
                mps, pps, published, got, hwm = throughput(work, vport, mport, qos, args.messages)
                print(f"connector QoS {qos}: {mps:,.0f} messages/s, {pps:,.0f} points/s written "
                      f"({got:,} of {published:,} messages) -> ratio to the lower limit {mps / limits[qos]:.2f} "
                      f"(target >= 0.9); RSS peak {hwm / 1024:.1f} MiB")
                cli(vport, "FLUSHALL")
        if "naive" in parts:
            if not os.path.exists(args.python):
                print(f"naive bridge: skipped ({args.python} missing; bench/mqtt.sh makes it)")
            else:
                for qos in (0, 1):
                    n = min(args.messages, 50_000)
                    r = naive(work, vport, mport, qos, n, args.python)
                    print(f"naive bridge (paho-mqtt + redis-py, a pipeline per message) QoS {qos}: {r:,.0f} messages/s "
                          f"-> ratio to the lower limit {r / limits[qos]:.2f}")
                    cli(vport, "FLUSHALL")
        if "latency" in parts:
            cid = "bench-lat"
            set_config(vport, cid, mapping_config())
            c = connector(work, cid, vport, mport, 1)
            procs.append(c)
            wait("connector subscribed", 30, lambda: status(vport, cid).get("subscriptions_granted", 0) > 0)
            p = sim(work, mport, "--rate", "5000", "--qos", "1", "--count", "60000", name="sim-lat")
            procs.append(p)
            time.sleep(2)
            start_id = f"{int(time.time() * 1000)}-0"
            time.sleep(10)
            lat = sorted(stream_latencies(vport, start_id))
            print(f"latency at {len(lat) / ppm / 10:,.0f} messages/s over 10 s ({len(lat):,} timed points): sensor "
                  f"time stamp -> stream entry p50 {percentile(lat, 0.5)} ms, p99 {percentile(lat, 0.99)} ms, "
                  f"max {lat[-1] if lat else 'n/a'} ms (whole ms; target p99 < 5 ms)")
            for q in (p, c):
                q.stop()
                procs.remove(q)
            cli(vport, "FLUSHALL")
        if "rss" in parts:
            cid = "bench-rss"
            mappings = [{"id": f"m{i}", "topic": f"bench/{i}", "points": [
                {"casdu": 1 + i // 1000, "ioa": 1 + (i % 1000) * 10 + j, "type": "M_ME_NC_1", "value": f"$.v{j}"}
                for j in range(10)]} for i in range(10_000)]
            set_config(vport, cid, {"mappings": mappings})
            c = connector(work, cid, vport, mport, 1)
            procs.append(c)
            wait("connector subscribed to 10,000 filters", 60,
                 lambda: status(vport, cid).get("subscriptions_granted", 0) == 10_000)
            payload = json.dumps({f"v{j}": j + 0.5 for j in range(10)})
            # One message per topic, over one raw MQTT connection.
            publish_raw(mport, [(f"bench/{i}", payload) for i in range(10_000)])
            wait("100,000 points known", 120, lambda: status(vport, cid).get("points_known", 0) >= 100_000)
            time.sleep(2)
            hwm = c.vm_hwm_kib()
            print(f"peak RSS with {status(vport, cid).get('points_known', 0):,} points over 10,000 mappings: "
                  f"{hwm / 1024:.1f} MiB (target < 40 MB)")
            c.stop()
            procs.remove(c)
    finally:
        for p in reversed(procs):
            p.stop()
        shutil.rmtree(work, ignore_errors=True)
    if "engine" in parts:
        print("mapping engine (criterion, cargo bench --bench mapping):", flush=True)
        out = subprocess.run(["cargo", "bench", "--quiet", "--bench", "mapping"], cwd=REPO,
                             capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.strip():
                print("  " + line)


def publish_raw(port, messages):
    """MQTT 3.1.1 CONNECT and QoS 0 PUBLISHes over one socket, then
    DISCONNECT: enough for loading a broker from the bench."""
    def remaining(n):
        out = bytearray()
        while True:
            b = n % 128
            n //= 128
            out.append(b | (0x80 if n else 0))
            if not n:
                return bytes(out)

    def utf8(s):
        b = s.encode()
        return len(b).to_bytes(2, "big") + b

    with socket.create_connection(("127.0.0.1", port)) as s:
        body = utf8("MQTT") + bytes([4, 2]) + (60).to_bytes(2, "big") + utf8(f"bench-raw-{os.getpid()}")
        s.sendall(bytes([0x10]) + remaining(len(body)) + body)
        if s.recv(4)[:1] != b"\x20":
            sys.exit("bench: the broker refused the raw publisher")
        buf = bytearray()
        for topic, payload in messages:
            body = utf8(topic) + payload.encode()
            buf += bytes([0x30]) + remaining(len(body)) + body
        s.sendall(bytes(buf) + b"\xe0\x00")


if __name__ == "__main__":
    main()
