#!/usr/bin/env python3
"""A real IEC 104 controlled station (RTU) for tests: c104.Server driven by
JSON-line commands on stdin, reporting JSON-line events on stdout.

    c104_rtu.py --port P [--host 127.0.0.1] [--ca 1 ...] [--k 12] [--w 8]
                [--t0 10] [--t1 15] [--t2 10] [--t3 20] [--report-sent]
                [--load FILE]

--load FILE: JSON lines, each {"ca":1,"points":[...]} as for the add op,
applied before the server listens (no result events): a master that
connects at once finds every point in place.

stdin, one JSON object per line:
    {"op":"add","ca":1,"points":[{"ioa":100,"type":"M_ME_TF_1","value":1.5,
        "quality":0,"time_ms":1795000000000}]}       add or update points
    {"op":"transmit","cause":"SPONTANEOUS","ca":1,"ioas":[100,101],
        "batch":30,"timeout_s":5}                     send in paced batches
    {"op":"quit"}                                     (also on end of stdin)

stdout events:
    {"event":"ready","port":P}                once listening
    {"event":"result","op":..,"ok":bool,...}  one per op
    {"event":"transmitted","ca":..,"cause":..,"requested":n,"queued":n,
        "on_wire":n,"ok":bool}                per transmit; on_wire counts the
                                              objects seen leaving in I frames
    {"event":"connected","ip":..} / {"event":"disconnected","open":n}
    {"event":"connections","open":n,"active":n}  on every change
    {"event":"command","type":"C_IC_NA_1","type_id":100,"cot":6,"ca":1,
        "ioa":0,"qualifier":20,...}           every I frame received
    {"event":"u_frame","frame":"STARTDT_ACT"} every U frame received
    {"event":"unexpected","cause":..,...}     what c104 refused
    {"event":"sent",...}                      every I frame sent (--report-sent)

Extra point fields: "transient" (M_ST), "sequence" (M_IT), "changed" (M_PS),
"elapsed_ms" (M_EP_TD_1), "duration_ms" (M_EP_TE_1, M_EP_TF_1).
"""

import argparse
import json
import sys
import threading
import time

import c104

from peer_common import (
    SUPPORTED_MONITOR_TYPES,
    build_info,
    cp56_to_ms,
    emit,
    log,
    parse_apdu,
)


class Rtu:
    def __init__(self, args):
        self.args = args
        self.server = c104.Server(ip=args.host, port=args.port, tick_rate_ms=args.tick_ms,
                                  max_connections=args.max_connections)
        params = self.server.protocol_parameters
        for name, value in (
            ("send_window_size", args.k), ("receive_window_size", args.w),
            ("connection_timeout", args.t0), ("message_timeout", args.t1),
            ("confirm_interval", args.t2), ("keep_alive_interval", args.t3),
        ):
            if value is not None:
                setattr(params, name, value)
        self.stations = {}
        for ca in args.ca or [1]:
            self.station(ca)

        # Objects that left in I frames, per (ca, type id, cot).
        self.wire = {}
        self.wire_cond = threading.Condition()

        self.server.on_connect(callable=self.sv_on_connect)
        self.server.on_receive_raw(callable=self.sv_on_receive_raw)
        self.server.on_send_raw(callable=self.sv_on_send_raw)
        self.server.on_unexpected_message(callable=self.sv_on_unexpected_message)

    def station(self, ca):
        st = self.stations.get(ca)
        if st is None:
            st = self.server.add_station(common_address=ca)
            if st is None:
                raise ValueError("cannot add station %d" % ca)
            self.stations[ca] = st
        return st

    # --- c104 callbacks: names and annotations must match c104's own ---

    def sv_on_connect(self, server: c104.Server, ip: str) -> bool:
        emit({"event": "connected", "ip": ip})
        return True

    def sv_on_receive_raw(self, server: c104.Server, data: bytes) -> None:
        f = parse_apdu(data)
        if f["kind"] == "U":
            emit({"event": "u_frame", "frame": f["frame"]})
            return
        if f["kind"] != "I":
            return
        ev = {"event": "command"}
        for key in ("type", "type_id", "cot", "negative", "test", "oa", "ca", "ioa", "sq", "n"):
            if key in f:
                ev[key] = f[key]
        elements = f.get("elements", b"")
        if f["type"] in ("C_IC_NA_1", "C_CI_NA_1", "C_RP_NA_1") and elements:
            ev["qualifier"] = elements[0]
        if f["type"] in ("C_CS_NA_1",):
            ev["time_ms"] = cp56_to_ms(elements[:7])
        if f["type"] == "C_TS_TA_1" and len(elements) >= 9:
            ev["tsc"] = elements[0] | (elements[1] << 8)
            ev["time_ms"] = cp56_to_ms(elements[2:9])
        ev["raw"] = data.hex()
        emit(ev)

    def sv_on_send_raw(self, server: c104.Server, data: bytes) -> None:
        f = parse_apdu(data)
        if f["kind"] != "I":
            return
        key = (f["ca"], f["type_id"], f["cot"])
        with self.wire_cond:
            self.wire[key] = self.wire.get(key, 0) + f["n"]
            self.wire_cond.notify_all()
        if self.args.report_sent:
            emit({"event": "sent", "type": f["type"], "type_id": f["type_id"], "cot": f["cot"],
                  "negative": f["negative"], "ca": f["ca"], "ioa": f.get("ioa"), "sq": f["sq"],
                  "n": f["n"], "raw": data.hex()})

    def sv_on_unexpected_message(self, server: c104.Server, message: c104.IncomingMessage, cause: c104.Umc) -> None:
        emit({"event": "unexpected", "cause": cause.name, "type": message.type.name,
              "ca": message.common_address, "ioa": message.io_address,
              "cot": int(message.cot.value)})

    # --- ops ---

    def op_add(self, cmd):
        st = self.station(int(cmd.get("ca", self.default_ca())))
        count = 0
        for p in cmd.get("points", []):
            tname = p["type"]
            if tname not in SUPPORTED_MONITOR_TYPES:
                raise ValueError("type %s is not served by c104 2.2.1" % tname)
            ioa = int(p["ioa"])
            point = st.get_point(io_address=ioa)
            if point is not None and point.type.name != tname:
                raise ValueError("IOA %d already has type %s" % (ioa, point.type.name))
            if point is None:
                point = st.add_point(io_address=ioa, type=getattr(c104.Type, tname))
                if point is None:
                    raise ValueError("cannot add IOA %d" % ioa)
            point.info = build_info(tname, p)
            count += 1
        return {"count": count}

    def wire_count(self, key):
        with self.wire_cond:
            return self.wire.get(key, 0)

    def op_transmit(self, cmd):
        ca = int(cmd.get("ca", self.default_ca()))
        st = self.station(ca)
        cause = getattr(c104.Cot, cmd.get("cause", "SPONTANEOUS"))
        cot = int(cause.value)
        size = max(1, min(int(cmd.get("batch", 30)), 127))
        timeout_s = float(cmd.get("timeout_s", 5.0))
        points = []
        for ioa in cmd.get("ioas", []):
            point = st.get_point(io_address=int(ioa))
            if point is None:
                raise ValueError("no point at CA %d IOA %d" % (ca, ioa))
            points.append(point)
        # Runs of one type, cut into batches of at most `size` points.
        batches = []
        for point in points:
            if batches and batches[-1][0].type == point.type and len(batches[-1]) < size:
                batches[-1].append(point)
            else:
                batches.append([point])
        queued = 0
        on_wire = 0
        refused = []
        for batch in batches:
            key = (ca, int(batch[0].type.value), cot)
            before = self.wire_count(key)
            if not self.server.transmit_batch(c104.Batch(cause=cause, points=batch)):
                refused.extend(p.io_address for p in batch)
                continue
            queued += len(batch)
            # Pace by what leaves: wait until c104 has put the whole batch
            # into I frames before handing it the next one.
            deadline = time.monotonic() + timeout_s
            with self.wire_cond:
                while self.wire.get(key, 0) - before < len(batch):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self.wire_cond.wait(left)
                on_wire += min(self.wire.get(key, 0) - before, len(batch))
        ev = {"event": "transmitted", "ca": ca, "cause": cause.name, "requested": len(points),
              "queued": queued, "on_wire": on_wire, "batches": len(batches),
              "ok": on_wire == len(points)}
        if refused:
            ev["refused_ioas"] = refused
        emit(ev)
        return {"on_wire": on_wire}

    def default_ca(self):
        return (self.args.ca or [1])[0]

    def watch_connections(self, stop):
        """c104 has no disconnect callback: report changes of its counters."""
        last = (0, 0)
        while not stop.wait(0.05):
            now = (self.server.open_connection_count, self.server.active_connection_count)
            if now != last:
                if now[0] < last[0]:
                    emit({"event": "disconnected", "open": now[0]})
                emit({"event": "connections", "open": now[0], "active": now[1]})
                last = now

    def load(self, path):
        """Adds the points of every line of `path` (see --load)."""
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    self.op_add(json.loads(line))

    def run(self):
        if self.args.load:
            try:
                self.load(self.args.load)
            except Exception as e:
                emit({"event": "error", "error": "--load %s: %s" % (self.args.load, e)})
                return 1
        self.server.start()
        if not self.server.is_running:
            emit({"event": "error", "error": "server did not start"})
            return 1
        emit({"event": "ready", "port": self.args.port})
        stop = threading.Event()
        watcher = threading.Thread(target=self.watch_connections, args=(stop,), daemon=True)
        watcher.start()
        try:
            for line in sys.stdin:
                line = line.strip()
                if not line:
                    continue
                try:
                    cmd = json.loads(line)
                    op = cmd.get("op")
                except ValueError as e:
                    emit({"event": "result", "op": None, "ok": False, "error": "bad json: %s" % e})
                    continue
                if op == "quit":
                    break
                handler = getattr(self, "op_%s" % op, None)
                if handler is None:
                    emit({"event": "result", "op": op, "ok": False, "error": "unknown op"})
                    continue
                try:
                    extra = handler(cmd) or {}
                    ev = {"event": "result", "op": op, "ok": True}
                    ev.update(extra)
                    emit(ev)
                except Exception as e:  # report, keep serving
                    log("op %s failed: %r" % (op, e))
                    emit({"event": "result", "op": op, "ok": False, "error": str(e)})
        finally:
            stop.set()
            self.server.stop()
            emit({"event": "bye"})
        return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", type=int, action="append", help="station common address (repeatable; default 1)")
    ap.add_argument("--k", type=int)
    ap.add_argument("--w", type=int)
    ap.add_argument("--t0", type=int)
    ap.add_argument("--t1", type=int)
    ap.add_argument("--t2", type=int)
    ap.add_argument("--t3", type=int)
    ap.add_argument("--tick-ms", type=int, default=50, help="c104 sends queued ASDUs once per tick (>= 50)")
    ap.add_argument("--max-connections", type=int, default=0)
    ap.add_argument("--report-sent", action="store_true", help="emit a 'sent' event per I frame sent")
    ap.add_argument("--load", help="JSON lines of points to add before listening (see above)")
    args = ap.parse_args()
    return Rtu(args).run()


if __name__ == "__main__":
    sys.exit(main())
