#!/usr/bin/env python3
"""Property-based fuzzing of the backend's API (schemathesis) against the
OpenAPI document it serves. Run by scripts/fuzz-api (which makes the venv).

Starts a backend of its own (scripts/backend_stack.py: a throw-away
PostgreSQL cluster, valkey-server and `alp-connex backend
--insecure-no-auth` on free 127.0.0.1 ports), seeds it through the API
(a connector of each kind, a mapping linked to the `mqtt` one, a second
configuration version) and Valkey (data points written as a connector
writes them: the image key and the stream entry; a status key), then runs

    schemathesis run http://127.0.0.1:PORT/api/openapi.json
        --checks not_a_server_error,status_code_conformance,
                 content_type_conformance,response_schema_conformance,
                 response_headers_conformance
        --phases examples,coverage,fuzzing,stateful
        --seed S --max-examples N --generation-database none --workers 1

with scripts/fuzz-api.toml (path ids drawn from the seeded entities half
of the time, so that reads and writes reach real rows). The run passes
when schemathesis finds nothing and the backend is still running with no
panic in its log. `GET /api/v1/updates` (an endless event stream) is left
out. The seed and the bound make the run repeat the same requests (one
worker, no example database); `--seed` and `--max-examples` explore
further. Everything is stopped and removed at the end; with a failure the
backend's log and schemathesis' reports stay under .build/fuzz-api/.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from backend_stack import REPO, Stack  # noqa: E402

CONNECTORS = {
    "fuzz-inbound": ("iec104-inbound", {"host": "127.0.0.1", "port": 2404, "common_addresses": [1]}),
    "fuzz-server": ("iec104-server", {"port": 2405, "common_addresses": [1, 101]}),
    "fuzz-mqtt": ("mqtt", {"broker": {"host": "127.0.0.1", "port": 1883}, "silence_timeout": 300}),
}
MAPPING = {
    "id": "fuzz-map", "name": "climate", "description": "substation climate sensors",
    "topic": "sensors/+/climate", "match": {"$.device": "ts-17"},
    "points": [
        {"casdu": 101, "ioa": 1, "type": "M_ME_TF_1", "value": "$.temperature", "time": "$.ts",
         "time_format": "rfc3339", "deadband": {"absolute": 0.1}},
        {"casdu": 101, "ioa": 2, "type": "M_SP_NA_1", "value": "$.door", "map": {"open": True, "closed": False}},
    ],
}
POINTS = 50


def datapoint(casdu, ioa):
    return json.dumps({
        "casdu": casdu, "ioa": ioa, "type_id": 13, "type": "M_ME_NC_1", "value": ioa + 0.5,
        "quality": {"iv": False, "nt": False, "sb": False, "bl": False, "ov": False},
        "cot": 3, "source": "fuzz", "received": "2026-11-29T10:00:00.000Z",
    }, separators=(",", ":"))


def seed(stack):
    for cid, (kind, settings) in CONNECTORS.items():
        stack.api("POST", "/api/v1/connectors", {"id": cid, "kind": kind, "name": cid, "description": "seeded",
                                                 "settings": settings}, expect=201)
    stack.api("POST", "/api/v1/mappings", MAPPING, expect=201)
    stack.api("PUT", "/api/v1/connectors/fuzz-mqtt/mappings", {"mappings": ["fuzz-map"]}, expect=200)
    # A second configuration version of the inbound connector (a diff).
    stack.api("PUT", "/api/v1/connectors/fuzz-inbound",
              {"name": "fuzz-inbound", "description": "seeded", "enabled": True,
               "settings": {"host": "127.0.0.1", "port": 2404, "common_addresses": [1], "t1": 20}}, expect=200)
    # Points as a connector writes them (image key, then the stream entry
    # the backend's index follows), and a live status.
    commands = []
    for casdu in (1, 101):
        for ioa in range(1, POINTS + 1):
            d = datapoint(casdu, ioa)
            commands.append(f"SET process:image:casdu:{casdu}:ioa:{ioa} '{d}'")
            commands.append(f"XADD process:updates * casdu {casdu} ioa {ioa} source fuzz data '{d}'")
    status = json.dumps({"id": "fuzz-inbound", "kind": "iec104-inbound", "version": "0.1.0", "state": "connected",
                         "remote": "127.0.0.1:2404", "since": "2026-11-29T10:00:00.000Z", "last_error": None,
                         "config_error": None, "points_received": 100, "reconnects": 0})
    commands.append(f"SET connectors:fuzz-inbound:status '{status}'")
    stack.valkey_cli(stdin="\n".join(commands) + "\n")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        page = stack.api("GET", f"/api/v1/points?limit={2 * POINTS}", expect=200).json()
        if len(page["points"]) == 2 * POINTS:
            break
        time.sleep(0.05)
    else:
        raise SystemExit("fuzz-api: the seeded points did not show in GET /api/v1/points")


def main():
    ap = argparse.ArgumentParser(description="Property-based fuzzing of the backend's API with schemathesis.")
    ap.add_argument("--binary", default=os.path.join(REPO, "target", "debug", "alp-connex"))
    ap.add_argument("--schemathesis", required=True, help="the schemathesis program of the venv")
    ap.add_argument("--seed", type=int, default=20261129)
    ap.add_argument("--max-examples", type=int, default=100, help="test cases per operation and phase")
    ap.add_argument("--phases", default="examples,coverage,fuzzing,stateful")
    ap.add_argument("--max-time", type=int, help="a time budget instead (fuzzing repeats until it is spent)")
    args = ap.parse_args()
    work = os.path.join(REPO, ".build", "fuzz-api")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    stack = Stack(args.binary, work=work, backend_args=["--insecure-no-auth"])
    ok = False
    try:
        stack.start()
        seed(stack)
        base = f"http://127.0.0.1:{stack.port}"
        cmd = [os.path.abspath(args.schemathesis), "--config-file", os.path.join(REPO, "scripts", "fuzz-api.toml"), "run",
               f"{base}/api/openapi.json",
               "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                           "response_schema_conformance,response_headers_conformance",
               "--phases", args.phases,
               "--seed", str(args.seed), "--max-examples", str(args.max_examples),
               "--generation-database", "none",
               "--workers", "1", "--request-timeout", "10",
               "--exclude-path", "/api/v1/updates",
               "--report", "junit,ndjson", "--report-dir", os.path.join(work, "report"),
               "--no-color"]
        if args.max_time:
            cmd += ["--max-time", str(args.max_time)]
        print("fuzz-api:", " ".join(cmd[1:]).replace(base, "http://127.0.0.1:PORT"), flush=True)
        rc = subprocess.run(cmd, cwd=work, stdin=subprocess.DEVNULL).returncode
        alive = stack.backend.p.poll() is None
        with open(stack.backend.log_path, errors="replace") as f:
            panics = [line for line in f if "panicked" in line]
        if not alive:
            print(f"fuzz-api: the backend ended ({stack.backend.p.returncode}) during the run", file=sys.stderr)
        for line in panics[:5]:
            print(f"fuzz-api: the backend panicked: {line.strip()}", file=sys.stderr)
        ok = rc == 0 and alive and not panics
        if not ok:
            print(f"fuzz-api: FAILED (schemathesis exit {rc}); backend log and reports in {work}", file=sys.stderr)
    finally:
        stack.stop()
    if ok:
        shutil.rmtree(work, ignore_errors=True)
        print("fuzz-api: passed")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
