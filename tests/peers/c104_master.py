#!/usr/bin/env python3
"""A real IEC 104 controlling station (SCADA master) for tests: c104.Client
driven by JSON-line commands on stdin, reporting JSON-line events on stdout.

    c104_master.py --host 127.0.0.1 --port P [--ca 1 ...] [--no-gi]
                   [--k 12] [--w 8] [--t1 15] [--command-timeout-ms 10000]

On every (re)open it sends a station interrogation to each --ca unless
--no-gi is given.

stdin, one JSON object per line, each answered by
{"event":"result","op":..,"ok":bool} once its answer is on the wire (ACT_TERM
for gi and counter_interrogation, ACT_CON for clock_sync and test, the data
with COT 5 for read; ok false on a negative answer or after
--command-timeout-ms):
    {"op":"gi","ca":1[,"qoi":20]}        also prints {"event":"gi_done","ca":1,"ok":..}
    {"op":"read","ca":1,"ioa":100[,"type":"M_ME_NC_1"]}
    {"op":"clock_sync","ca":1}
    {"op":"test","ca":1}
    {"op":"counter_interrogation","ca":1}
    {"op":"quit"}                        (also on end of stdin)

stdout events:
    {"event":"open"} / {"event":"closed","state":..}   link up / lost
    {"event":"state","state":..}          every other c104 connection state
    {"event":"point","ca":..,"ioa":..,"type":"M_ME_TF_1","wire_type":"M_ME_TF_1",
        "value":..,"quality":<raw bits>,"time_ms":<ms or null>,"cot":<int>,"sq":bool,...}
        "type" is the type c104 keeps for the point (the one it first came
        in); "wire_type" the type identification of the ASDU that carried
        this object
    {"event":"response","type":"C_IC_NA_1","cot":7,"negative":false,"ca":1,..}
        every non-monitor I frame received (ACT_CON, ACT_TERM, ...)
    {"event":"unsupported","type":..,"ca":..,"ioa":..,"n":..}
        monitor ASDUs of a type c104 cannot decode
    {"event":"mismatched","type":"M_ME_NA_1","type_id":9,"ca":..,"ioa":..,"cot":..,
        "point_type":"M_ME_ND_1"}
        an object of a type other than the one its point first came in: c104
        drops it ("Mismatched TypeID"), no point event follows
    {"event":"incomplete","missing":n}
        c104 announced objects on the wire that never reached a point callback

    {"event":"u_frame","frame":"TESTFR_CON"}   every U frame received

    {"event":"gi_done","ca":1,"ok":bool} / {"event":"ci_done",...}
        the ACT_TERM (or a negative ACT_CON) of an interrogation

Ordering: c104 runs point callbacks and raw-frame callbacks on two threads.
The script merges them back, so points, response, gi_done, ci_done and
result lines come out in wire order.
"""

import argparse
import json
import queue
import sys
import threading
import time

import c104

from peer_common import (
    SUPPORTED_MONITOR_TYPE_IDS,
    emit,
    info_to_json,
    log,
    object_ioas,
    parse_apdu,
    type_name,
)

BARRIER_TIMEOUT_S = 5.0


class Master:
    def __init__(self, args):
        self.args = args
        self.client = c104.Client(tick_rate_ms=args.tick_ms, command_timeout_ms=args.command_timeout_ms)
        self.conn = self.client.add_connection(ip=args.host, port=args.port, init=c104.Init.NONE)
        if self.conn is None:
            raise SystemExit("cannot add connection")
        params = self.conn.protocol_parameters
        for name, value in (
            ("send_window_size", args.k), ("receive_window_size", args.w),
            ("connection_timeout", args.t0), ("message_timeout", args.t1),
            ("confirm_interval", args.t2), ("keep_alive_interval", args.t3),
        ):
            if value is not None:
                setattr(params, name, value)
        for ca in self.cas():
            self.conn.add_station(common_address=ca)

        # Ordering: c104 runs raw-frame callbacks and point callbacks on two
        # threads, each in wire order. Merge the two streams back into one.
        self.lock = threading.Lock()
        self.announced = 0  # monitor objects seen in raw frames
        self.printed = 0  # point events printed
        self.held_frames = []  # (objects before it, deadline, event)
        self.held_points = []  # (index, deadline, event)
        self.points_seen = 0
        # The type each point was created with, (ca, ioa) -> type id, in
        # wire order: c104 creates a point with the type of the first object
        # for its address and drops later objects of another type.
        self.point_types = {}

        # Answer frames (commands' confirmations, read answers) for the ops.
        self.frames = []
        self.frames_cond = threading.Condition()

        self.ops = queue.Queue()
        self.muted_since = None

        self.client.on_new_station(callable=self.cl_on_new_station)
        self.client.on_new_point(callable=self.cl_on_new_point)
        self.conn.on_receive_raw(callable=self.con_on_receive_raw)
        self.conn.on_state_change(callable=self.con_on_state_change)

    def cas(self):
        return self.args.ca or [1]

    # --- ordered output ---

    def emit_frame_event(self, ev):
        """Queue an event that belongs after every monitor object announced
        so far (raw-frame thread, or an op that just returned)."""
        with self.lock:
            self.held_frames.append((self.announced, time.monotonic() + BARRIER_TIMEOUT_S, ev))
            self._release(time.monotonic())

    def _release(self, now, force=False):
        # Called with self.lock held. A frame event waits for the points
        # before it; a point waits until its frame has been announced.
        while True:
            if self.held_frames and self.held_frames[0][0] <= self.printed:
                emit(self.held_frames.pop(0)[2])
            elif self.held_points and self.held_points[0][0] < self.announced:
                emit(self.held_points.pop(0)[2])
                self.printed += 1
            elif self.held_frames and (force or now >= self.held_frames[0][1]):
                # Objects on the wire that never reached a point callback.
                target = self.held_frames[0][0]
                missing = target - self.printed
                emit({"event": "incomplete", "missing": missing})
                self.printed = target
                self.points_seen += missing
                self.held_points = [(i + missing, d, e) for (i, d, e) in self.held_points]
            elif self.held_points and (force or now >= self.held_points[0][1]):
                # A point callback for an object no raw frame announced.
                self.announced = max(self.announced, self.held_points[0][0] + 1)
            else:
                return

    # --- c104 callbacks: names and annotations must match c104's own ---

    def cl_on_new_station(self, client: c104.Client, connection: c104.Connection, common_address: int) -> None:
        connection.add_station(common_address=common_address)

    def cl_on_new_point(self, client: c104.Client, station: c104.Station, io_address: int, point_type: c104.Type) -> None:
        point = station.add_point(io_address=io_address, type=point_type)
        if point is not None:
            point.on_receive(callable=self.on_point)

    def on_point(self, point: c104.Point, previous_info: c104.Information, message: c104.IncomingMessage) -> c104.ResponseState:
        try:
            tname = point.type.name
            ev = {"event": "point", "ca": message.common_address, "ioa": point.io_address, "type": tname,
                  "wire_type": message.type.name}
            ev.update(info_to_json(tname, point.info))
            ev["cot"] = int(message.cot.value)
            ev["sq"] = bool(message.is_sequence)
            if message.is_test:
                ev["test"] = True
            if message.is_negative:
                ev["negative"] = True
            if message.originator_address:
                ev["oa"] = message.originator_address
        except Exception as e:  # never lose the count
            ev = {"event": "point_error", "ioa": point.io_address, "error": repr(e)}
        with self.lock:
            self.held_points.append((self.points_seen, time.monotonic() + BARRIER_TIMEOUT_S, ev))
            self.points_seen += 1
            self._release(time.monotonic())
        return c104.ResponseState.SUCCESS

    def con_on_receive_raw(self, connection: c104.Connection, data: bytes) -> None:
        f = parse_apdu(data)
        if f["kind"] == "U":
            emit({"event": "u_frame", "frame": f["frame"]})
            return
        if f["kind"] != "I":
            return
        if f["type_id"] < 45:  # monitor direction
            if f["type_id"] in SUPPORTED_MONITOR_TYPE_IDS:
                ioas = object_ioas(f)
                mismatched = []
                with self.lock:
                    if ioas is None:
                        self.announced += f["n"]
                    else:
                        for ioa in ioas:
                            known = self.point_types.setdefault((f["ca"], ioa), f["type_id"])
                            if known == f["type_id"]:
                                self.announced += 1
                            else:
                                mismatched.append((ioa, known))
                    self._release(time.monotonic())
                for ioa, known in mismatched:
                    self.emit_frame_event({"event": "mismatched", "type": f["type"], "type_id": f["type_id"],
                                           "ca": f["ca"], "ioa": ioa, "cot": f["cot"],
                                           "point_type": type_name(known)})
            else:
                self.emit_frame_event({"event": "unsupported", "type": f["type"], "type_id": f["type_id"],
                                       "ca": f["ca"], "ioa": f.get("ioa"), "n": f["n"], "cot": f["cot"]})
            if f["cot"] == 5:  # answers a read
                self.add_frame(f)
            return
        ev = {"event": "response"}
        for key in ("type", "type_id", "cot", "negative", "test", "oa", "ca", "ioa"):
            if key in f:
                ev[key] = f[key]
        elements = f.get("elements", b"")
        if f["type"] in ("C_IC_NA_1", "C_CI_NA_1") and elements:
            ev["qualifier"] = elements[0]
        self.emit_frame_event(ev)
        # The end of an interrogation, in wire order: ACT_TERM, or a negative
        # ACT_CON (no ACT_TERM follows).
        done = {"C_IC_NA_1": "gi_done", "C_CI_NA_1": "ci_done"}.get(f["type"])
        if done and (f["cot"] == 10 or (f["cot"] == 7 and f["negative"])):
            self.emit_frame_event({"event": done, "ca": f["ca"], "ok": f["cot"] == 10 and not f["negative"]})
        self.add_frame(f)

    def add_frame(self, f):
        f.pop("elements", None)
        with self.frames_cond:
            self.frames.append(f)
            self.frames_cond.notify_all()

    def con_on_state_change(self, connection: c104.Connection, state: c104.ConnectionState) -> None:
        if state == c104.ConnectionState.OPEN:
            self.muted_since = None
            emit({"event": "open"})
            if not self.args.no_gi:
                for ca in self.cas():
                    self.ops.put({"op": "gi", "ca": ca, "auto": True})
        elif state == c104.ConnectionState.OPEN_MUTED:
            self.muted_since = time.monotonic()
            emit({"event": "state", "state": state.name})
        else:
            self.muted_since = None
            emit({"event": "state", "state": state.name})
            if state in (c104.ConnectionState.CLOSED, c104.ConnectionState.CLOSED_AWAIT_RECONNECT):
                emit({"event": "closed", "state": state.name})

    # --- ops ---

    # Each op sends with c104 and then waits for the answer on the wire:
    # c104's own wait can miss an answer that arrives before it starts
    # waiting (then it reports failure after command_timeout_ms).

    def mark(self):
        with self.frames_cond:
            return len(self.frames)

    def wait_frame(self, start, match):
        """First answer frame from index `start` on for which `match` gives
        True/False; None after the command timeout."""
        deadline = time.monotonic() + self.args.command_timeout_ms / 1000.0
        with self.frames_cond:
            while True:
                for f in self.frames[start:]:
                    verdict = match(f)
                    if verdict is not None:
                        return verdict
                start = len(self.frames)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.frames_cond.wait(left)

    @staticmethod
    def confirmation(type_name, ca, final_cot):
        def match(f):
            if f["type"] != type_name or (ca != 0xFFFF and f["ca"] != ca):
                return None
            if f["negative"] or 44 <= f["cot"] <= 47:
                return False
            return True if f["cot"] == final_cot else None
        return match

    def finish(self, sent, start, match, extra):
        if not sent:
            extra["error"] = "c104 did not send the command"
            return False, extra
        verdict = self.wait_frame(start, match)
        if verdict is None:
            extra["error"] = "no answer within %d ms" % self.args.command_timeout_ms
            return False, extra
        return verdict, extra

    def op_gi(self, cmd):
        ca = int(cmd.get("ca", self.cas()[0]))
        qoi = c104.Qoi.STATION
        if "qoi" in cmd:
            qoi = next(q for q in c104.Qoi.__members__.values() if int(q.value) == int(cmd["qoi"]))
        start = self.mark()
        sent = self.conn.interrogation(common_address=ca, cause=c104.Cot.ACTIVATION, qualifier=qoi,
                                       wait_for_response=False)
        return self.finish(sent, start, self.confirmation("C_IC_NA_1", ca, 10), {"ca": ca})

    def op_counter_interrogation(self, cmd):
        ca = int(cmd.get("ca", self.cas()[0]))
        start = self.mark()
        sent = self.conn.counter_interrogation(common_address=ca, wait_for_response=False)
        return self.finish(sent, start, self.confirmation("C_CI_NA_1", ca, 10), {"ca": ca})

    def op_clock_sync(self, cmd):
        ca = int(cmd.get("ca", self.cas()[0]))
        start = self.mark()
        sent = self.conn.clock_sync(common_address=ca, wait_for_response=False)
        return self.finish(sent, start, self.confirmation("C_CS_NA_1", ca, 7), {"ca": ca})

    def op_test(self, cmd):
        ca = int(cmd.get("ca", self.cas()[0]))
        with_time = bool(cmd.get("with_time", True))
        start = self.mark()
        sent = self.conn.test(common_address=ca, with_time=with_time, wait_for_response=False)
        type_name = "C_TS_TA_1" if with_time else "C_TS_NA_1"
        return self.finish(sent, start, self.confirmation(type_name, ca, 7), {"ca": ca})

    def op_read(self, cmd):
        ca = int(cmd.get("ca", self.cas()[0]))
        ioa = int(cmd["ioa"])
        station = self.conn.get_station(common_address=ca) or self.conn.add_station(common_address=ca)
        point = station.get_point(io_address=ioa)
        if point is None:
            if "type" not in cmd:
                raise ValueError("IOA %d not seen yet: give its \"type\"" % ioa)
            c104_type = getattr(c104.Type, cmd["type"])
            point = station.add_point(io_address=ioa, type=c104_type)
            point.on_receive(callable=self.on_point)
            with self.lock:
                self.point_types.setdefault((ca, ioa), int(c104_type.value))

        def match(f):
            if f["ca"] != ca or f.get("ioa") != ioa:
                return None
            if f["type_id"] < 45 and f["cot"] == 5:
                return True
            if f["type"] == "C_RD_NA_1" and (f["negative"] or 44 <= f["cot"] <= 47):
                return False
            return None

        start = self.mark()
        # Point.read() always waits for c104's own confirmation: run it aside.
        threading.Thread(target=point.read, daemon=True).start()
        return self.finish(True, start, match, {"ca": ca, "ioa": ioa})

    # --- loops ---

    def read_stdin(self):
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            try:
                cmd = json.loads(line)
            except ValueError as e:
                emit({"event": "result", "op": None, "ok": False, "error": "bad json: %s" % e})
                continue
            self.ops.put(cmd)
            if cmd.get("op") == "quit":
                return
        self.ops.put({"op": "quit"})

    def housekeeping(self, stop):
        """Resend STARTDT when c104 stays muted (it sometimes does after a
        (re)connect), and release held events whose points never came."""
        while not stop.wait(0.1):
            since = self.muted_since
            if since is not None and time.monotonic() - since > 0.5:
                self.muted_since = time.monotonic()
                self.conn.unmute()
            with self.lock:
                self._release(time.monotonic())

    def run(self):
        stop = threading.Event()
        threading.Thread(target=self.housekeeping, args=(stop,), daemon=True).start()
        threading.Thread(target=self.read_stdin, daemon=True).start()
        self.client.start()
        try:
            while True:
                cmd = self.ops.get()
                op = cmd.get("op")
                if op == "quit":
                    break
                handler = getattr(self, "op_%s" % op, None)
                if handler is None:
                    emit({"event": "result", "op": op, "ok": False, "error": "unknown op"})
                    continue
                try:
                    ok, extra = handler(cmd)
                    ev = {"event": "result", "op": op, "ok": bool(ok)}
                    ev.update(extra)
                    if cmd.get("auto"):
                        ev["auto"] = True
                    self.emit_frame_event(ev)
                except Exception as e:
                    log("op %s failed: %r" % (op, e))
                    self.emit_frame_event({"event": "result", "op": op, "ok": False, "error": str(e)})
        finally:
            stop.set()
            with self.lock:
                self._release(time.monotonic(), force=True)
            self.client.stop()
            emit({"event": "bye"})
        return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", type=int, action="append", help="station common address (repeatable; default 1)")
    ap.add_argument("--no-gi", action="store_true", help="no station interrogation on open")
    ap.add_argument("--k", type=int)
    ap.add_argument("--w", type=int)
    ap.add_argument("--t0", type=int)
    ap.add_argument("--t1", type=int)
    ap.add_argument("--t2", type=int)
    ap.add_argument("--t3", type=int)
    ap.add_argument("--tick-ms", type=int, default=50, help=">= 50")
    ap.add_argument("--command-timeout-ms", type=int, default=10000)
    args = ap.parse_args()
    return Master(args).run()


if __name__ == "__main__":
    sys.exit(main())
