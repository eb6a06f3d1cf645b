"""Shared pieces of the c104 peer scripts: JSON-line output, value and time
conversions between the JSON protocol and c104 objects, and a small APDU
header parser used to report what actually crossed the wire.

The JSON protocol uses the wire's own numbers: `quality` is the raw quality
bits as transmitted (QDS, SIQ/DIQ without the value bits, BCR's IV/CA/CY
bits without the sequence number, SEP/SPE/OCI's quality byte), `time_ms` is
unix milliseconds UTC, bitstrings are the unsigned 32-bit value (first wire
octet least significant).
"""

import datetime
import json
import sys
import threading

import c104

UTC = datetime.timezone.utc

_out_lock = threading.Lock()


def emit(obj):
    """Print one JSON object as one line on stdout, flushed."""
    line = json.dumps(obj, separators=(",", ":"), sort_keys=False)
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def log(msg):
    """Diagnostics go to stderr, never into the JSON stream."""
    with _out_lock:
        sys.stderr.write(str(msg) + "\n")
        sys.stderr.flush()


# Monitor types c104 2.2.1 can serve and receive (Station.add_point accepts
# them). c104 has no CP24Time2a types (M_*_TA_1, M_ME_TB_1, M_ME_TC_1,
# M_EP_TA/TB/TC_1, all excluded from IEC 104 anyway) and no M_EI_NA_1 point.
SUPPORTED_MONITOR_TYPES = [
    "M_SP_NA_1", "M_SP_TB_1",
    "M_DP_NA_1", "M_DP_TB_1",
    "M_ST_NA_1", "M_ST_TB_1",
    "M_BO_NA_1", "M_BO_TB_1",
    "M_ME_NA_1", "M_ME_TD_1", "M_ME_ND_1",
    "M_ME_NB_1", "M_ME_TE_1",
    "M_ME_NC_1", "M_ME_TF_1",
    "M_IT_NA_1", "M_IT_TB_1",
    "M_PS_NA_1",
    "M_EP_TD_1", "M_EP_TE_1", "M_EP_TF_1",
]

TYPE_NAMES = {int(t.value): name for name, t in c104.Type.__members__.items()}
SUPPORTED_MONITOR_TYPE_IDS = {int(getattr(c104.Type, n).value) for n in SUPPORTED_MONITOR_TYPES}
COT_NAMES = {int(c.value): name for name, c in c104.Cot.__members__.items()}

U_FRAMES = {
    0x07: "STARTDT_ACT", 0x0B: "STARTDT_CON",
    0x13: "STOPDT_ACT", 0x23: "STOPDT_CON",
    0x43: "TESTFR_ACT", 0x83: "TESTFR_CON",
}


def type_name(type_id):
    return TYPE_NAMES.get(type_id, "TYPE_%d" % type_id)


def ms_to_datetime(time_ms):
    if time_ms is None:
        return None
    return datetime.datetime.fromtimestamp(time_ms / 1000.0, tz=UTC)


def datetime_to_ms(dt):
    """c104 hands received time tags back as naive datetimes holding UTC."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(round(dt.timestamp() * 1000))


def cp56_to_ms(b):
    """Decode a 7-octet CP56Time2a (read as UTC) into unix milliseconds."""
    if len(b) < 7:
        return None
    ms = b[0] | (b[1] << 8)
    minute = b[2] & 0x3F
    hour = b[3] & 0x1F
    day = b[4] & 0x1F
    month = b[5] & 0x0F
    year = 2000 + (b[6] & 0x7F)
    try:
        dt = datetime.datetime(year, month, day, hour, minute, ms // 1000, (ms % 1000) * 1000, tzinfo=UTC)
    except ValueError:
        return None
    return int(round(dt.timestamp() * 1000))


# c104 2.2.1 names the BCR bits the other way round from the wire: when it
# sends, its value 0x20 goes out as 0x40 (CA) and 0x40 as 0x20 (CY); when it
# receives, it keeps the wire bits. Swap on the way out only.
def _swap_ca_cy(q):
    return (q & 0x80) | ((q & 0x20) << 1) | ((q & 0x40) >> 1)


def build_info(type_name_, p):
    """A c104 Information object for one JSON point of the given type."""
    value = p.get("value")
    q = int(p.get("quality", 0))
    t = ms_to_datetime(p.get("time_ms"))
    quality = c104.Quality(q & 0xF9)  # OV, EI, BL, SB, NT, IV
    kind = type_name_[2:4]
    sub = type_name_[6]  # M_ME_NA_1 -> "A"
    # Positional arguments: the keyword names in c104's .pyi stubs do not
    # always match the compiled module (StepInfo, ProtectionCircuitInfo).
    if kind == "SP":
        return c104.SingleInfo(bool(value), quality, t)
    if kind == "DP":
        return c104.DoubleInfo(c104.Double(int(value)), quality, t)
    if kind == "ST":
        return c104.StepInfo(c104.Int7(int(value)), bool(p.get("transient", False)), quality, t)
    if kind == "BO":
        return c104.BinaryInfo(c104.Byte32(int(value).to_bytes(4, "little")), quality, t)
    if kind == "ME" and sub in "AD":
        return c104.NormalizedInfo(c104.NormalizedFloat(float(value)), quality, t)
    if kind == "ME" and sub in "BE":
        return c104.ScaledInfo(c104.Int16(int(value)), quality, t)
    if kind == "ME" and sub in "CF":
        return c104.ShortInfo(float(value), quality, t)
    if kind == "IT":
        bcq = c104.BinaryCounterQuality(_swap_ca_cy(q & 0xE0))
        return c104.BinaryCounterInfo(int(value), c104.UInt5(int(p.get("sequence", 0))), bcq, t)
    if kind == "PS":
        return c104.StatusAndChanged(c104.PackedSingle(int(value)), c104.PackedSingle(int(p.get("changed", 0))), quality, t)
    if type_name_ == "M_EP_TD_1":
        return c104.ProtectionEventInfo(c104.EventState(int(value)), c104.UInt16(int(p.get("elapsed_ms", 0))), quality, t)
    if type_name_ == "M_EP_TE_1":
        return c104.ProtectionStartInfo(c104.StartEvents(int(value)), c104.UInt16(int(p.get("duration_ms", 0))), quality, t)
    if type_name_ == "M_EP_TF_1":
        return c104.ProtectionCircuitInfo(c104.OutputCircuits(int(value)), c104.UInt16(int(p.get("duration_ms", 0))), quality, t)
    raise ValueError("type %s is not served by c104" % type_name_)


def info_to_json(type_name_, info):
    """The JSON fields (value, quality, time_ms and extras) of a received point."""
    kind = type_name_[2:4]
    sub = type_name_[6]  # M_ME_NA_1 -> "A"
    out = {}
    v = info.value
    if kind == "SP":
        out["value"] = bool(v)
    elif kind in ("DP",):
        out["value"] = int(v.value)
    elif kind == "ST":
        out["value"] = int(v)
        out["transient"] = bool(info.transient)
    elif kind == "BO":
        out["value"] = int.from_bytes(bytes(v), "little")
    elif kind == "ME" and sub in "AD":
        out["value"] = float(v)
    elif kind == "ME" and sub in "BE":
        out["value"] = int(v)
    elif kind == "ME" and sub in "CF":
        out["value"] = float(v)
    elif kind == "IT":
        out["value"] = int(info.counter)
        out["sequence"] = int(info.sequence)
    elif kind == "PS":
        out["value"] = int(info.status.value)
        out["changed"] = int(info.changed.value)
    elif type_name_ == "M_EP_TD_1":
        out["value"] = int(info.state.value)
        out["elapsed_ms"] = int(info.elapsed_ms)
    elif type_name_ == "M_EP_TE_1":
        out["value"] = int(info.events.value)
        out["duration_ms"] = int(info.relay_duration_ms)
    elif type_name_ == "M_EP_TF_1":
        out["value"] = int(info.circuits.value)
        out["duration_ms"] = int(info.relay_operating_ms)
    else:
        out["value"] = repr(v)
    quality = info.quality
    out["quality"] = int(quality.value) if quality is not None else 0
    out["time_ms"] = datetime_to_ms(info.recorded_at)
    return out


def parse_apdu(data):
    """Split one raw APDU into a dict: kind I/S/U, and for I frames the ASDU
    header (type, sq, n, cot, negative, test, oa, ca, ioa) and element bytes.
    Assumes the IEC 104 default sizes (COT 2, CA 2, IOA 3 octets)."""
    if len(data) < 6 or data[0] != 0x68:
        return {"kind": "?", "raw": data.hex()}
    c1 = data[2]
    if c1 & 0x01 == 0:
        asdu = data[6:]
        if len(asdu) < 6:
            return {"kind": "I", "raw": data.hex()}
        type_id = asdu[0]
        vsq = asdu[1]
        cot = asdu[2]
        out = {
            "kind": "I",
            "type_id": type_id,
            "type": type_name(type_id),
            "sq": bool(vsq & 0x80),
            "n": vsq & 0x7F,
            "cot": cot & 0x3F,
            "negative": bool(cot & 0x40),
            "test": bool(cot & 0x80),
            "oa": asdu[3],
            "ca": asdu[4] | (asdu[5] << 8),
        }
        if len(asdu) >= 9:
            out["ioa"] = asdu[6] | (asdu[7] << 8) | (asdu[8] << 16)
            out["elements"] = asdu[9:]
        return out
    if c1 & 0x03 == 0x01:
        return {"kind": "S", "recv_seq": (data[4] | (data[5] << 8)) >> 1}
    return {"kind": "U", "frame": U_FRAMES.get(c1, "U_0x%02x" % c1)}


# Octets of one information element (without its address) of each monitor
# type c104 decodes.
ELEMENT_SIZES = {
    1: 1, 3: 1, 5: 2, 7: 5, 9: 3, 11: 3, 13: 5, 15: 5, 20: 5, 21: 2,
    30: 8, 31: 8, 32: 9, 33: 12, 34: 10, 35: 10, 36: 12, 37: 12,
    38: 10, 39: 11, 40: 11,
}


def object_ioas(f):
    """The information object addresses of a parsed monitor I frame (SQ=0:
    each object's own, SQ=1: counting up from the first); None when the
    type's element size is not known or the octets do not add up."""
    size = ELEMENT_SIZES.get(f.get("type_id"))
    if size is None or "ioa" not in f:
        return None
    n, first, rest = f["n"], f["ioa"], f.get("elements", b"")
    if f["sq"]:
        return [first + i for i in range(n)] if len(rest) == n * size else None
    if len(rest) != size + (n - 1) * (3 + size):
        return None
    ioas = [first]
    at = size
    for _ in range(n - 1):
        ioas.append(rest[at] | (rest[at + 1] << 8) | (rest[at + 2] << 16))
        at += 3 + size
    return ioas
