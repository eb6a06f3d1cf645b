#!/usr/bin/env python3
"""End-to-end check of an `alp-connex iec104-server` started by any command
(in a container, under qemu-aarch64): a Valkey process image served to a
real SCADA master (c104, tests/peers/c104_master.py).

    serve.py --valkey-port V --port P [--health CMD] -- SERVER-COMMAND...

1. writes three points of station 1 into the image of the Valkey on
   127.0.0.1:V (floats at IOAs 1..3, as a connector writes them);
2. starts SERVER-COMMAND (which must serve that Valkey on 127.0.0.1:P) and
   waits until P accepts connections;
3. a c104 master interrogates station 1: the three values must come back;
4. one value changed in Valkey (image SET + stream XADD) must reach the
   master spontaneously (cause 3);
5. with --health CMD: CMD (e.g. `podman exec NAME alp-connex healthcheck`)
   must exit 0;
6. SIGTERM to the command; it must end with status 0.

Prints one line `e2e ok: …` or exits 1 naming the step that failed.
"""

import argparse
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
MASTER = os.path.join(REPO, "tests", "peers", "c104_master.py")
VALUES = {1: 1.5, 2: 2.5, 3: 3.5}
NEW = 42.25


LOG = None


def fail(step, detail=""):
    if LOG and os.path.exists(LOG):
        with open(LOG) as f:
            sys.stderr.write("".join(f.readlines()[-30:]))
    sys.exit(f"e2e failed: {step}{': ' + detail if detail else ''}")


def cli(port, *args):
    out = subprocess.run(["valkey-cli", "-h", "127.0.0.1", "-p", str(port), *args],
                         capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        fail(f"valkey-cli {args[0]}", out.stderr.strip())
    return out.stdout.strip()


def point(ioa, value):
    return json.dumps({
        "casdu": 1, "ioa": ioa, "type_id": 13, "type": "M_ME_NC_1", "value": value,
        "quality": {"iv": False, "nt": False, "sb": False, "bl": False, "ov": False},
        "time": None, "cot": 3, "source": "e2e", "received": "2026-11-29T12:00:00.000Z",
    }, separators=(",", ":"))


def wait(what, timeout, f):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if f():
            return
        time.sleep(0.1)
    fail(what, f"not within {timeout} s")


def accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--valkey-port", type=int, required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--health", help="a command that must exit 0 while the server runs")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--log", help="file for the server's output (shown when the check fails)")
    ap.add_argument("command", nargs="+")
    a = ap.parse_args()
    global LOG
    LOG = a.log

    for ioa, v in VALUES.items():
        cli(a.valkey_port, "SET", f"process:image:casdu:1:ioa:{ioa}", point(ioa, v))

    started = time.monotonic()
    log = open(a.log, "w") if a.log else subprocess.DEVNULL
    server = subprocess.Popen(a.command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    master = None
    try:
        def listening():
            if server.poll() is not None:
                fail("the server", f"exited with {server.returncode} before it listened")
            return accepts(a.port)

        wait("the server listening", a.timeout, listening)
        listening = time.monotonic() - started
        master = subprocess.Popen([sys.executable, MASTER, "--host", "127.0.0.1", "--port", str(a.port),
                                   "--ca", "1", "--no-gi"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

        def event(pred, timeout):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                line = master.stdout.readline()
                if not line:
                    fail("the c104 master", "ended")
                v = json.loads(line)
                if pred(v):
                    return v
            fail("an event of the c104 master", "timed out")

        event(lambda v: v.get("event") == "open", a.timeout)
        master.stdin.write(json.dumps({"op": "gi", "ca": 1}) + "\n")
        master.stdin.flush()
        got = {}
        while True:
            v = event(lambda v: v.get("event") in ("point", "gi_done"), a.timeout)
            if v["event"] == "gi_done":
                if not v.get("ok"):
                    fail("the interrogation", json.dumps(v))
                break
            if v.get("cot") == 20:
                got[v["ioa"]] = v["value"]
        if got != VALUES:
            fail("the interrogation's values", f"{got} != {VALUES}")

        t0 = time.monotonic()
        cli(a.valkey_port, "SET", "process:image:casdu:1:ioa:2", point(2, NEW))
        cli(a.valkey_port, "XADD", "process:updates", "*", "casdu", "1", "ioa", "2", "source", "e2e",
            "data", point(2, NEW))
        v = event(lambda v: v.get("event") == "point" and v.get("ioa") == 2 and v.get("cot") == 3, a.timeout)
        if v["value"] != NEW:
            fail("the spontaneous update", json.dumps(v))
        update_ms = (time.monotonic() - t0) * 1000

        health = ""
        if a.health:
            h = subprocess.run(shlex.split(a.health), capture_output=True, text=True, timeout=30)
            if h.returncode != 0:
                fail("the health check", f"exit {h.returncode}: {h.stdout.strip()} {h.stderr.strip()}")
            health = f"; healthcheck: {h.stdout.strip()}"

        master.stdin.write(json.dumps({"op": "quit"}) + "\n")
        master.stdin.flush()
        master.wait(timeout=10)
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=30)
        if code != 0:
            fail("the server's exit after SIGTERM", str(code))
        print(f"e2e ok: listening after {listening:.1f} s, interrogation of 3 points, "
              f"spontaneous update in {update_ms:.0f} ms, exit 0 on SIGTERM{health}")
    finally:
        for p in (master, server):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


if __name__ == "__main__":
    main()
